//! Collection: every read (with `publish` and `remediate`, the only I/O). It gathers evidence
//! along the data dependencies, concurrently, and returns a [`Snapshot`]:
//!
//! ```text
//! round 1  DescribeTargetGroups ‖ DescribeTargetHealth ‖ DescribeTags(TG) ‖ TargetGroupAttributes
//!          ‖ TargetGroupBindings ‖ Nodes ‖ IngressClasses ‖ the controller ‖ kube-proxy
//!            └─ map by binding, then by the target group's tags
//! round 2  DescribeLoadBalancers ‖ DescribeListeners ‖ DescribeTags(LBs)            ─┐ concurrent
//!          DescribeInstances ‖ DescribeNetworkInterfaces ‖ Subnets ‖ NACLs ‖ Routes  │ when already
//!            ‖ Vpcs ‖ SecurityGroups (read by VPC)                                   │ mapped
//! round 3  Service ‖ Pods (waiting on the Service's selector) ‖ Endpoints ‖ Events  ─┘
//!            (unmapped: legacy LB tags, then Services by NodePort / Endpoints by IP, then round 3)
//! last     the health probe (off unless asked), which needs the rest
//! ```
//! Failed calls are stored as data (`Fetched::Failed`), so one denied API never stops the rest.

pub mod access;
pub mod aws;
pub mod changes;
pub mod cloudtrail;
pub mod discover;
pub mod ec2;
pub mod eks;
pub mod gateway;
pub mod kube;
pub mod namespace;
pub mod probe;
pub mod shared;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2 as elbv2;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::IngressClass;
use tracing::{info, instrument};

pub use self::kube::KubeAccess;
use crate::error::Result;
use crate::mapping::{self, Step};
use crate::snapshot::*;
use crate::trigger::Request;

/// The clients one diagnosis uses.
pub struct Clients {
    pub elbv2: elbv2::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub kube: KubeAccess,
    /// Collection stops here (the Lambda's deadline less the time publishing needs): whatever
    /// has not answered by then becomes `unknown`, and the diagnosis is still published.
    pub deadline: Option<tokio::time::Instant>,
    /// The cluster `kube` reads, when it was chosen by name (EKS access); `None` with a
    /// kubeconfig, and the cluster is then reported from the tags collected here, in the same order.
    pub cluster: Option<mapping::ClusterChoice>,
    /// CloudTrail in the target group's region, and the minutes before `until` (epoch seconds:
    /// the alarm's transition, else now) to look back; `None`: AWS changes are not looked for.
    pub cloudtrail: Option<(crate::aws_json::JsonApi, i64, u32)>,
    /// What the pass's diagnoses read once between them (a fresh one for a diagnosis alone),
    /// and where this diagnosis reads: its account and region, its cluster.
    pub shared: Arc<shared::Shared>,
    pub aws_scope: String,
    pub kube_scope: String,
}

impl Clients {
    /// An AWS read shared by the pass: `what` names the call, `key` its input.
    async fn aws_once<T, Fut>(&self, what: &str, key: &[String], read: impl FnOnce() -> Fut) -> T
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = T>,
    {
        self.shared.once(aws_key(&self.aws_scope, what, key), read).await
    }

    /// A Kubernetes read shared by the pass (`key`: its namespace or name, if any).
    async fn kube_once<T: Clone + Send + Sync + 'static>(
        &self,
        what: &str,
        key: &str,
        read: impl Future<Output = Fetched<T>>,
    ) -> Fetched<T> {
        let read = Box::pin(read);
        self.shared.once(kube_key(&self.kube_scope, what, key), || read).await
    }
}

/// Where a diagnosis reads AWS: its account and region (a pass never shares across them).
pub fn aws_scope(req: &Request) -> String {
    format!("{}:{}", req.account, req.region)
}

/// Which cluster a diagnosis reads: the access's source and the cluster chosen by name.
pub fn kube_scope(kube: &KubeAccess, cluster: Option<&mapping::ClusterChoice>) -> String {
    format!(
        "{}|{}",
        kube.source().unwrap_or_default(),
        cluster.map(|c| c.name.as_str()).unwrap_or("")
    )
}

/// The key of a Kubernetes read in a pass.
pub fn kube_key(kube_scope: &str, what: &str, key: &str) -> String {
    format!("kube|{kube_scope}|{what}|{key}")
}

/// The key of an AWS read in a pass: where (account and region), what call, on what.
pub fn aws_key(aws_scope: &str, what: &str, key: &[String]) -> String {
    format!("aws|{aws_scope}|{what}|{}", key.join(","))
}

/// `ids` sorted and unique: one key for one set, whatever order the targets came in.
pub(crate) fn key_of(ids: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = ids.iter().collect();
    set.into_iter().cloned().collect()
}

/// A piece of evidence, or `Failed` when it did not arrive before the deadline.
async fn bound<T>(deadline: Option<tokio::time::Instant>, api: &str, fut: impl Future<Output = Fetched<T>>) -> Fetched<T> {
    match deadline {
        None => fut.await,
        Some(at) => tokio::time::timeout_at(at, fut).await.unwrap_or_else(|_| {
            Fetched::Failed(Missing {
                api: api.into(),
                permission: "time".into(),
                error: "not answered before the invocation's deadline".into(),
            })
        }),
    }
}

/// Runs a Kubernetes call, or records why the cluster could not be asked.
async fn kube_call<'a, T, F, Fut>(access: &'a KubeAccess, deadline: Option<tokio::time::Instant>, f: F) -> Fetched<T>
where
    F: FnOnce(&'a ::kube::Client) -> Fut,
    Fut: Future<Output = Fetched<T>>,
{
    match access {
        KubeAccess::Client { client, .. } => bound(deadline, "Kubernetes API", f(client)).await,
        KubeAccess::Unavailable(reason) => Fetched::not_collected(reason.clone()),
    }
}

/// Records one mapping attempt; returns the Service when it was found.
fn attempt(res: &mut Resolution, method: &str, step: Step) -> Option<ServiceRef> {
    match step {
        Step::Found(s) => {
            res.attempts.push(Attempt {
                method: method.into(),
                outcome: format!("found {}/{}", s.namespace, s.name),
            });
            Some(s)
        }
        Step::Miss(why) => {
            res.attempts.push(Attempt {
                method: method.into(),
                outcome: why,
            });
            None
        }
        Step::NeedServices { .. } => unreachable!("completed before recording"),
    }
}

fn step_or_miss<T>(f: &Fetched<T>, step: impl FnOnce(&T) -> Step) -> Step {
    match f.get() {
        Ok(v) => step(v),
        Err(why) => Step::Miss(why),
    }
}

struct ServiceEvidence {
    service: Fetched<Service>,
    pods: Fetched<Vec<Pod>>,
    endpoints: Fetched<EndpointsView>,
    events: Fetched<Vec<EventView>>,
    ingresses: Fetched<Vec<k8s_openapi::api::networking::v1::Ingress>>,
    rollouts: Fetched<Vec<crate::snapshot::RolloutView>>,
    target_group_configs: Fetched<Vec<crate::snapshot::TargetGroupConfigView>>,
    gateway: Fetched<crate::snapshot::GatewayView>,
    replica_sets: Fetched<Vec<crate::snapshot::ReplicaSetView>>,
}

/// Does a Gateway own this target group (its tags)? Then its health check comes from
/// TargetGroupConfigurations and the Gateway's configuration, read in the Service's round.
fn gateway_made(tags: &Fetched<std::collections::BTreeMap<String, String>>) -> Option<crate::gateway::GatewayTag> {
    tags.ok().and_then(crate::gateway::tag)
}

async fn service_round(clients: &Clients, svc: &ServiceRef, gateway: Option<crate::gateway::GatewayTag>, changes: bool) -> ServiceEvidence {
    let (access, deadline) = (&clients.kube, clients.deadline);
    let (ns, name) = (svc.namespace.as_str(), svc.name.as_str());
    use futures::FutureExt;
    // The pods wait for the Service's selector (fetched at the same time) to know which to keep whole.
    let service = kube_call(access, deadline, |c| kube::service(c, ns, name)).shared();
    let selector = service.clone().map(|s| s.ok().and_then(|s| s.spec.as_ref()?.selector.clone()));
    let not_gateway = "the target group was not made for a Gateway";
    let configs = async {
        match gateway {
            Some(_) => {
                let read = kube_call(access, deadline, |c| kube::target_group_configs(c, ns));
                clients.kube_once("targetgroupconfigurations", ns, read).await
            }
            None => Fetched::not_collected(not_gateway),
        }
    };
    let gateway_objects = async {
        match &gateway {
            Some(tag) => kube_call(access, deadline, |c| self::gateway::gateway(c, tag, ns)).await,
            None => Fetched::not_collected(not_gateway),
        }
    };
    let replica_sets = async {
        match changes {
            true => {
                let read = kube_call(access, deadline, |c| self::changes::replica_sets(c, ns));
                clients.kube_once("replicasets", ns, read).await
            }
            false => Fetched::not_collected("CHANGES_WINDOW_MINUTES=0: recent changes are not looked for"),
        }
    };
    // In a pass, the namespace's Services, pods and endpoints are listed once for all its
    // diagnoses (`namespace`); alone, only this Service's are read.
    let pass = clients.shared.is_pass();
    let service = async {
        match pass {
            false => service.await,
            true => {
                let read = kube_call(access, deadline, |c| self::namespace::services(c, ns));
                self::namespace::service(&clients.kube_once("services+edits", ns, read).await, ns, name)
            }
        }
    };
    let pods = async {
        match pass {
            false => kube_call(access, deadline, |c| kube::pods(c, ns, selector)).await,
            true => {
                let read = kube_call(access, deadline, |c| kube::namespace_pods(c, ns));
                clients.kube_once("pods", ns, read).await
            }
        }
    };
    let endpoints = async {
        match pass {
            false => kube_call(access, deadline, |c| kube::endpoints(c, ns, name)).await,
            true => {
                let read = kube_call(access, deadline, |c| self::namespace::endpoints(c, ns));
                self::namespace::endpoints_of(&clients.kube_once("endpoints-of-namespace", ns, read).await, ns, name)
            }
        }
    };
    let (service, pods, endpoints, events, ingresses, target_group_configs, gateway, replica_sets) = tokio::join!(
        service,
        pods,
        endpoints,
        clients.kube_once("events", ns, kube_call(access, deadline, |c| kube::events(c, ns))),
        clients.kube_once("ingresses", ns, kube_call(access, deadline, |c| kube::ingresses(c, ns))),
        configs,
        gateway_objects,
        replica_sets,
    );
    // Rollout status matters only for an unhealthy ip target whose pod is gone or waits on its
    // readiness gate (snapshot/transition.rs): read it then, and only then (one more round trip
    // in that case; none in the common one).
    let rollouts = Fetched::not_collected("no unhealthy target's pod is gone or waiting on its gate");
    ServiceEvidence {
        service,
        pods,
        endpoints,
        events,
        ingresses,
        rollouts,
        target_group_configs,
        gateway,
        replica_sets,
    }
}

/// The namespace whose Deployments to read: when an unhealthy ip target has no pod any more, or
/// its pod waits on its readiness gate, a rollout may explain it.
fn needs_rollouts(first: &First, evidence: &ServiceEvidence) -> Option<String> {
    let tg = first.target_group.ok()?;
    let pods = evidence.pods.ok()?;
    let ns = evidence.service.ok()?.metadata.namespace.clone()?;
    let unhealthy = first.target_health.ok()?.iter().filter(|t| t.is_unhealthy());
    let pod_of = |ip: &str| {
        pods.iter()
            .find(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_deref()) == Some(ip))
    };
    (tg.target_type == "ip")
        .then_some(())
        .and_then(|_| {
            unhealthy
                .into_iter()
                .find(|t| pod_of(&t.id).is_none_or(crate::snapshot::gate_blocked))
        })
        .map(|_| ns)
}

fn unmapped_round() -> ServiceEvidence {
    let reason = "the target group is not mapped to a Service";
    ServiceEvidence {
        service: Fetched::not_collected(reason),
        pods: Fetched::not_collected(reason),
        endpoints: Fetched::not_collected(reason),
        events: Fetched::not_collected(reason),
        ingresses: Fetched::not_collected(reason),
        rollouts: Fetched::not_collected(reason),
        target_group_configs: Fetched::not_collected(reason),
        gateway: Fetched::not_collected(reason),
        replica_sets: Fetched::not_collected(reason),
    }
}

/// Collects every piece of evidence for one request: round 1, the mapping that round 1 allows,
/// then the AWS network and the Service's evidence at once (or, unmapped, the mapping by data
/// first), then the probe. Each round is its own boxed future: small stack frames.
#[instrument(skip_all, fields(target_group = %req.target_group_arn))]
pub async fn collect(clients: &Clients, req: &Request, config: &crate::Config) -> Result<Snapshot> {
    let first = Box::pin(round_one(clients, req)).await?;
    let mut res = Resolution::default();
    let mut lookups = Lookups::default();
    let early = Box::pin(map_early(clients, req, &first, &mut res, &mut lookups)).await;
    let ((aws, cloudtrail), evidence) = match early {
        // Already mapped: the AWS side and the Service are independent.
        Some(svc) => {
            let evidence = Box::pin(service_round(
                clients,
                &svc,
                gateway_made(&first.target_group_tags),
                config.changes_window.0 > 0,
            ));
            res.service = Some(svc.clone());
            // CloudTrail follows the network round (it looks up the resources found there),
            // beside the Service's reads.
            let aws = async {
                let aws = Box::pin(aws_round(clients, &first)).await;
                let trail = Box::pin(cloudtrail_round(clients, &first, &aws)).await;
                (aws, trail)
            };
            tokio::join!(aws, evidence)
        }
        None => {
            let aws = Box::pin(aws_round(clients, &first)).await;
            let trail = Box::pin(cloudtrail_round(clients, &first, &aws));
            let mapped = Box::pin(map_by_data(clients, &first, &aws, &mut res, &mut lookups));
            let (trail, service) = tokio::join!(trail, mapped);
            res.service = service;
            let evidence = match &res.service {
                Some(svc) => {
                    Box::pin(service_round(
                        clients,
                        svc,
                        gateway_made(&first.target_group_tags),
                        config.changes_window.0 > 0,
                    ))
                    .await
                }
                None => unmapped_round(),
            };
            ((aws, trail), evidence)
        }
    };

    // The cluster actually read when access chose it by name; else the documented order.
    let cluster = clients.cluster.clone().or_else(|| {
        mapping::resolve_cluster(
            req.cluster.as_deref(),
            first.target_group_tags.ok(),
            aws.load_balancer_tags.ok(),
            config.default_cluster.as_deref(),
        )
    });
    (res.cluster, res.cluster_source) = cluster.map(|c| (Some(c.name), Some(c.source))).unwrap_or_default();
    let service = res
        .service
        .as_ref()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .unwrap_or_else(|| "none".into());
    info!(service, cluster = res.cluster.as_deref().unwrap_or("unknown"), "collected");

    let rollouts = match needs_rollouts(&first, &evidence) {
        Some(ns) => {
            let read = kube_call(&clients.kube, clients.deadline, |c| kube::rollouts(c, &ns));
            clients.kube_once("deployments", &ns, read).await
        }
        None => evidence.rollouts,
    };
    let mut snapshot = Snapshot {
        snapshot_version: SNAPSHOT_VERSION,
        collected_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        changes_window_minutes: config.changes_window.0,
        request: req.clone(),
        resolution: res,
        aws: AwsEvidence {
            target_group: first.target_group,
            target_health: first.target_health,
            target_group_tags: first.target_group_tags,
            load_balancers: aws.load_balancers,
            load_balancer_tags: aws.load_balancer_tags,
            listeners: aws.listeners,
            target_group_attributes: first.target_group_attributes,
            network: aws.network,
            cloudtrail,
        },
        kube: KubeEvidence {
            source: clients.kube.source(),
            target_group_bindings: first.bindings,
            all_services: lookups.all_services,
            all_endpoints: lookups.all_endpoints,
            service: evidence.service,
            pods: evidence.pods,
            endpoints: evidence.endpoints,
            events: evidence.events,
            nodes: first.nodes,
            ingresses: evidence.ingresses,
            target_group_configs: evidence.target_group_configs,
            gateway: evidence.gateway,
            replica_sets: evidence.replica_sets,
            ingress_classes: first.ingress_classes,
            controller: first.controller,
            kube_proxy: first.kube_proxy,
            rollouts,
        },
        probe: Fetched::not_collected("the probe is off"),
    };
    // The probe needs the rest of the evidence (addresses, pods, nodes): it runs last.
    snapshot.probe = bound(clients.deadline, "health probe", probe::run(config.probe, &clients.kube, &snapshot)).await;
    Ok(snapshot)
}

/// Round 1: everything that needs only the target group's ARN.
struct First {
    target_group: Fetched<TargetGroup>,
    target_health: Fetched<Vec<TargetHealth>>,
    target_group_tags: Fetched<BTreeMap<String, String>>,
    target_group_attributes: Fetched<BTreeMap<String, String>>,
    bindings: Fetched<Vec<TargetGroupBinding>>,
    nodes: Fetched<Vec<Node>>,
    ingress_classes: Fetched<Vec<IngressClass>>,
    controller: Fetched<Controller>,
    kube_proxy: Fetched<KubeProxy>,
}

async fn round_one(clients: &Clients, req: &Request) -> Result<First> {
    let (elb, access, deadline) = (&clients.elbv2, &clients.kube, clients.deadline);
    let arn = req.target_group_arn.as_str();
    let tg_arns = [arn.to_string()];
    // A pass may have read the description already (`discover::prime_groups`).
    let primed: Option<Fetched<TargetGroup>> = clients.shared.get(&aws_key(&clients.aws_scope, "DescribeTargetGroups", &tg_arns));
    let (tg, target_health, tg_tags, target_group_attributes, bindings, nodes, (ingress_classes, controller, kube_proxy)) = tokio::join!(
        async {
            if let Some(tg) = primed {
                return Ok(tg);
            }
            match deadline {
                None => aws::target_group(elb, arn, &req.region).await,
                Some(at) => tokio::time::timeout_at(at, aws::target_group(elb, arn, &req.region))
                    .await
                    .unwrap_or_else(|_| {
                        Ok(Fetched::Failed(Missing {
                            api: "DescribeTargetGroups".into(),
                            permission: "time".into(),
                            error: "not answered before the invocation's deadline".into(),
                        }))
                    }),
            }
        },
        // (A scan has read these already for every group: `discover::prime`.)
        clients.aws_once("DescribeTargetHealth", &tg_arns, || bound(
            deadline,
            "DescribeTargetHealth",
            aws::target_health(elb, arn)
        )),
        clients.aws_once("DescribeTags", &tg_arns, || bound(
            deadline,
            "DescribeTags",
            aws::tags(elb, &tg_arns)
        )),
        bound(deadline, "DescribeTargetGroupAttributes", aws::target_group_attributes(elb, arn)),
        // Cluster-wide pieces, independent of the Service: read once per pass.
        clients.kube_once("targetgroupbindings", "", kube_call(access, deadline, kube::target_group_bindings)),
        clients.kube_once("nodes", "", kube_call(access, deadline, kube::nodes)),
        async {
            tokio::join!(
                clients.kube_once("ingressclasses", "", kube_call(access, deadline, kube::ingress_classes)),
                clients.kube_once("controller", "", kube_call(access, deadline, kube::controller)),
                clients.kube_once("kube-proxy", "", kube_call(access, deadline, kube::kube_proxy)),
            )
        },
    );
    let target_group_tags = match tg_tags {
        Fetched::Ok(mut m) => Fetched::Ok(m.remove(arn).unwrap_or_default()),
        Fetched::Failed(m) => Fetched::Failed(m),
        Fetched::NotCollected { reason } => Fetched::NotCollected { reason },
    };
    Ok(First {
        target_group: tg?,
        target_health,
        target_group_tags,
        target_group_attributes,
        bindings,
        nodes,
        ingress_classes,
        controller,
        kube_proxy,
    })
}

/// What the mapping read cluster-wide, kept in the snapshot as its evidence.
struct Lookups {
    all_services: Fetched<Vec<Service>>,
    all_endpoints: Fetched<Vec<EndpointsView>>,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups {
            all_services: Fetched::not_collected("the target group was mapped without them"),
            all_endpoints: Fetched::not_collected("the target group was mapped without them"),
        }
    }
}

/// Mapping steps 1 and 2 (ARCHITECTURE.md, "Mapping"), which need only round-1 evidence: the
/// binding, then the target group's tags.
async fn map_early(clients: &Clients, req: &Request, first: &First, res: &mut Resolution, lookups: &mut Lookups) -> Option<ServiceRef> {
    let arn = req.target_group_arn.as_str();
    let found = attempt(
        res,
        mapping::BY_BINDING,
        step_or_miss(&first.bindings, |b| mapping::by_binding(arn, b)),
    );
    if found.is_some() {
        return found;
    }
    let step = match step_or_miss(&first.target_group_tags, mapping::by_tags) {
        Step::NeedServices { namespace, rest, port } => {
            let read = kube_call(&clients.kube, clients.deadline, |c| kube::services(c, Some(&namespace)));
            lookups.all_services = clients.kube_once("services", &namespace, read).await;
            step_or_miss(&lookups.all_services, |s| mapping::ingress_service(&namespace, &rest, &port, s))
        }
        other => other,
    };
    attempt(res, mapping::BY_TAGS, step)
}

/// Mapping steps 3 and 4, after round 2: the load balancer's legacy tags, then the data
/// (Services by NodePort for instance targets, endpoints by IP for ip targets).
async fn map_by_data(clients: &Clients, first: &First, aws: &AwsRound, res: &mut Resolution, lookups: &mut Lookups) -> Option<ServiceRef> {
    let found = attempt(
        res,
        mapping::BY_LEGACY_TAGS,
        step_or_miss(&aws.load_balancer_tags, mapping::by_legacy_tags),
    );
    if found.is_some() {
        return found;
    }
    let (access, deadline) = (&clients.kube, clients.deadline);
    let targets = first.target_health.ok().cloned().unwrap_or_default();
    if first.target_group.ok().is_some_and(|t| t.target_type == "ip") {
        lookups.all_endpoints = clients
            .kube_once("endpoints", "*", kube_call(access, deadline, kube::all_endpoints))
            .await;
        attempt(
            res,
            mapping::BY_ENDPOINT_IPS,
            step_or_miss(&lookups.all_endpoints, |e| mapping::by_endpoint_ips(&targets, e)),
        )
    } else {
        lookups.all_services = clients
            .kube_once("services", "*", kube_call(access, deadline, |c| kube::services(c, None)))
            .await;
        attempt(
            res,
            mapping::BY_NODE_PORT,
            step_or_miss(&lookups.all_services, |s| mapping::by_node_port(&targets, s)),
        )
    }
}

/// Round 2, AWS side: the load balancer, and the EC2 network around the targets.
struct AwsRound {
    load_balancers: Fetched<Vec<LoadBalancer>>,
    listeners: Fetched<Vec<Listener>>,
    load_balancer_tags: Fetched<BTreeMap<String, BTreeMap<String, String>>>,
    network: NetworkEvidence,
}

async fn aws_round(clients: &Clients, first: &First) -> AwsRound {
    let (elb, deadline) = (&clients.elbv2, clients.deadline);
    let lb_arns = first.target_group.ok().map(|t| t.load_balancer_arns.clone()).unwrap_or_default();
    let lbs = key_of(&lb_arns);
    // Load balancers in front of several target groups (an Ingress group's ALB) are read once.
    let lb_round = async {
        tokio::join!(
            clients.aws_once("DescribeLoadBalancers", &lbs, || bound(
                deadline,
                "DescribeLoadBalancers",
                aws::load_balancers(elb, &lb_arns)
            )),
            clients.aws_once("DescribeListeners", &lbs, || bound(
                deadline,
                "DescribeListeners",
                aws::listeners(elb, &lb_arns)
            )),
            clients.aws_once("DescribeTags", &lbs, || async {
                if lb_arns.is_empty() {
                    Fetched::not_collected("the target group is not attached to a load balancer")
                } else {
                    bound(deadline, "DescribeTags", aws::tags(elb, &lb_arns)).await
                }
            }),
        )
    };
    let ((load_balancers, listeners, load_balancer_tags), network) = tokio::join!(lb_round, Box::pin(network_round(clients, first)));
    // Groups outside the VPC (referenced by id only) are rare; read them only when the VPC is unknown.
    let network = match network.security_groups {
        Fetched::NotCollected { .. } => NetworkEvidence {
            security_groups: bound(
                deadline,
                "DescribeSecurityGroups",
                ec2::security_groups(
                    &clients.ec2,
                    group_ids(&load_balancers, &network.instances, &network.target_interfaces),
                ),
            )
            .await,
            ..network
        },
        _ => network,
    };
    // Prefix lists named by the rules of the groups that matter (a sequential step, taken only
    // when some rule names one: the rules must be read first).
    let relevant: BTreeSet<String> = group_ids(&load_balancers, &network.instances, &network.target_interfaces)
        .into_iter()
        .collect();
    let lists: Vec<String> = (network.security_groups.ok().into_iter().flatten())
        .filter(|g| relevant.contains(&g.id))
        .flat_map(|g| g.ingress.iter().chain(&g.egress))
        .flat_map(|r| r.prefix_lists.iter().cloned())
        .collect();
    let lists = key_of(&lists);
    let network = NetworkEvidence {
        prefix_lists: clients
            .aws_once("GetManagedPrefixListEntries", &lists.clone(), || {
                bound(deadline, "GetManagedPrefixListEntries", ec2::prefix_lists(&clients.ec2, lists))
            })
            .await,
        ..network
    };
    AwsRound {
        load_balancers,
        listeners,
        load_balancer_tags,
        network,
    }
}

/// The EC2 network of the targets, read by VPC (batched, never per target); without a VPC, only
/// the instances and ENIs, and the security groups are left for `aws_round` to read by id.
async fn network_round(clients: &Clients, first: &First) -> NetworkEvidence {
    let (ec2c, deadline) = (&clients.ec2, clients.deadline);
    let (tg, health) = (first.target_group.ok(), first.target_health.ok());
    let instance_ids = instance_ids(tg, health, first.nodes.ok());
    let target_ips: Vec<String> = match (tg, health) {
        (Some(tg), Some(t)) if tg.target_type == "ip" => t.iter().map(|t| t.id.clone()).collect(),
        _ => vec![],
    };
    // An NLB's own addresses (a TCP/UDP/TLS target group's load balancer): they are the source
    // of its health checks when it has no security groups. An ALB always has groups.
    let nlb = tg.is_some_and(|t| !matches!(t.protocol.as_deref(), Some("HTTP" | "HTTPS") | None));
    let lb_arns = if nlb {
        tg.map(|t| t.load_balancer_arns.clone()).unwrap_or_default()
    } else {
        vec![]
    };
    let (lbs, ids) = (key_of(&lb_arns), key_of(&instance_ids));
    let lb_interfaces = clients.aws_once("DescribeNetworkInterfaces", &lbs, || {
        bound(deadline, "DescribeNetworkInterfaces", ec2::lb_interfaces(ec2c, &lb_arns))
    });
    // The nodes behind a pass's ip target groups are the same instances: read once.
    let instances = clients.aws_once("DescribeInstances", &ids, || {
        bound(deadline, "DescribeInstances", ec2::instances(ec2c, instance_ids))
    });
    let vpc = tg.and_then(|t| t.vpc_id.as_deref());
    let target_interfaces = bound(deadline, "DescribeNetworkInterfaces", ec2::interfaces_by_ip(ec2c, vpc, target_ips));
    let Some(v) = vpc else {
        let why = "the target group (and so its VPC) is unknown";
        let (instances, target_interfaces, lb_interfaces) = tokio::join!(instances, target_interfaces, lb_interfaces);
        return NetworkEvidence {
            instances,
            target_interfaces,
            lb_interfaces,
            security_groups: Fetched::not_collected(why),
            subnets: Fetched::not_collected(why),
            network_acls: Fetched::not_collected(why),
            route_tables: Fetched::not_collected(why),
            vpcs: Fetched::not_collected(why),
            prefix_lists: Fetched::not_collected(why),
        };
    };
    // All at once: the instances and ENIs beside the VPC's subnets, ACLs, routes and groups
    // (the VPC's, read once per pass).
    let vpc_key = [v.to_string()];
    let (instances, target_interfaces, lb_interfaces, subnets, network_acls, route_tables, vpcs, security_groups) = tokio::join!(
        instances,
        target_interfaces,
        lb_interfaces,
        clients.aws_once("DescribeSubnets", &vpc_key, || bound(
            deadline,
            "DescribeSubnets",
            ec2::subnets(ec2c, v)
        )),
        clients.aws_once("DescribeNetworkAcls", &vpc_key, || bound(
            deadline,
            "DescribeNetworkAcls",
            ec2::network_acls(ec2c, v)
        )),
        clients.aws_once("DescribeRouteTables", &vpc_key, || bound(
            deadline,
            "DescribeRouteTables",
            ec2::route_tables(ec2c, v)
        )),
        clients.aws_once("DescribeVpcs", &vpc_key, || bound(deadline, "DescribeVpcs", ec2::vpcs(ec2c, v))),
        clients.aws_once("DescribeSecurityGroups", &vpc_key, || {
            bound(deadline, "DescribeSecurityGroups", ec2::security_groups_of_vpc(ec2c, v))
        }),
    );
    NetworkEvidence {
        instances,
        target_interfaces,
        security_groups,
        subnets,
        network_acls,
        route_tables,
        vpcs,
        prefix_lists: Fetched::not_collected("read after the security groups"),
        lb_interfaces,
    }
}

/// CloudTrail's write events on the resources the evidence names, when asked for.
async fn cloudtrail_round(clients: &Clients, first: &First, aws: &AwsRound) -> Fetched<Vec<crate::snapshot::AwsChange>> {
    let Some((api, until, minutes)) = &clients.cloudtrail else {
        return Fetched::not_collected("AWS changes are not looked for (CHANGES_WINDOW_MINUTES=0 or CLOUDTRAIL_CHANGES=off)");
    };
    let resources = trail_resources(first, aws, clients.shared.is_pass());
    let since = until - i64::from(*minutes) * 60;
    // (One pass shares the first diagnosis's window: its alarms fired within the same minutes.)
    let scope = clients.aws_scope.clone();
    bound(
        clients.deadline,
        "LookupEvents",
        cloudtrail::changes(api, &clients.shared, &scope, &resources, since, *until),
    )
    .await
}

/// What to look up, most telling first: the target group, its load balancers, then the
/// targets' security groups, their subnets' network ACLs and route tables. In a pass of many
/// target groups, the shared ones (groups, ACLs, routes) come first: they are what a storm has
/// in common, and the pass's lookups are few. Never more than `cloudtrail::MAX_RESOURCES` (two
/// lookups a second is CloudTrail's limit).
fn trail_resources(first: &First, aws: &AwsRound, shared_first: bool) -> Vec<String> {
    let own: Vec<String> = (first.target_group.ok().into_iter())
        .flat_map(|tg| std::iter::once(tg.arn.clone()).chain(tg.load_balancer_arns.iter().cloned()))
        .collect();
    let n = &aws.network;
    let instances = n.instances.ok().into_iter().flatten();
    let enis = (n.target_interfaces.ok().into_iter().flatten()).chain(instances.filter_map(|i| i.primary_interface()));
    let (mut shared, mut subnets) = (Vec::new(), Vec::new());
    for e in enis {
        shared.extend(e.groups.iter().cloned());
        subnets.extend(e.subnet_id.clone());
    }
    let acls = (n.network_acls.ok().into_iter().flatten()).filter(|a| a.subnet_ids.iter().any(|s| subnets.contains(s)));
    shared.extend(acls.map(|a| a.id.clone()));
    let tables = (n.route_tables.ok().into_iter().flatten()).filter(|t| t.subnet_ids.iter().any(|s| subnets.contains(s)));
    shared.extend(tables.map(|t| t.id.clone()));
    let ordered = match shared_first {
        true => shared.into_iter().chain(own).collect::<Vec<_>>(),
        false => own.into_iter().chain(shared).collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for r in ordered {
        if !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    }
    out.truncate(cloudtrail::MAX_RESOURCES);
    out
}

/// Instances to describe: the instance targets, or for ip targets the cluster's nodes (their
/// ENIs carry the pods' IPs and security groups).
fn instance_ids(
    tg: Option<&TargetGroup>,
    targets: Option<&Vec<TargetHealth>>,
    nodes: Option<&Vec<k8s_openapi::api::core::v1::Node>>,
) -> Vec<String> {
    match tg.map(|t| t.target_type.as_str()) {
        Some("instance") => targets
            .into_iter()
            .flatten()
            .filter(|t| t.id.starts_with("i-"))
            .map(|t| t.id.clone())
            .collect(),
        Some("ip") => nodes
            .into_iter()
            .flatten()
            .filter_map(|n| n.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next().map(str::to_string))
            .filter(|id| id.starts_with("i-"))
            .collect(),
        _ => vec![],
    }
}

/// Every security group a check may need: the load balancer's and the targets' ENIs'.
fn group_ids(lbs: &Fetched<Vec<LoadBalancer>>, instances: &Fetched<Vec<Instance>>, enis: &Fetched<Vec<NetworkInterface>>) -> Vec<String> {
    let lb = lbs.ok().into_iter().flatten().flat_map(|l| l.security_groups.iter().cloned());
    let inst = instances
        .ok()
        .into_iter()
        .flatten()
        .flat_map(|i| i.interfaces.iter())
        .flat_map(|n| n.groups.iter().cloned());
    let eni = enis.ok().into_iter().flatten().flat_map(|n| n.groups.iter().cloned());
    lb.chain(inst).chain(eni).collect()
}
