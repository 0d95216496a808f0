//! Test fixtures: small builders for snapshots and the Kubernetes objects in them
//! (`SnapshotB::article().build()`). Test-only; never compiled into the binaries.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Node, NodeCondition,
    NodeSpec, NodeStatus, Pod, PodCondition, PodSpec, PodStatus, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::snapshot::*;
use crate::trigger::Request;

pub const TG_ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-default-albinsta-6f3b2c1d0e/0123456789abcdef";

pub fn target(id: &str, port: i32, state: &str) -> TargetHealth {
    TargetHealth {
        id: id.into(),
        port: Some(port),
        state: state.into(),
        ..Default::default()
    }
}

pub fn target_r(id: &str, port: i32, state: &str, reason: &str) -> TargetHealth {
    TargetHealth {
        reason: Some(reason.into()),
        description: Some(format!("{reason} description")),
        ..target(id, port, state)
    }
}

pub fn binding(ns: &str, arn: &str, svc: &str, port: PortRef) -> TargetGroupBinding {
    TargetGroupBinding {
        namespace: ns.into(),
        name: format!("k8s-{svc}"),
        target_group_arn: arn.into(),
        service_name: svc.into(),
        service_port: port,
        target_type: None,
    }
}

pub fn endpoints(ns: &str, svc: &str, addrs: &[(&str, bool)]) -> EndpointsView {
    EndpointsView {
        namespace: ns.into(),
        service: svc.into(),
        source: "endpoints/v1".into(),
        addresses: addrs
            .iter()
            .map(|(ip, ready)| EndpointAddress {
                ip: ip.to_string(),
                ready: *ready,
                pod: None,
                node: None,
            })
            .collect(),
        ports: vec![],
    }
}

pub fn event(kind: &str, name: &str, reason: &str, message: &str) -> EventView {
    EventView {
        kind: kind.into(),
        name: name.into(),
        namespace: "shop".into(),
        event_type: "Warning".into(),
        reason: reason.into(),
        message: message.into(),
        count: 4,
        last_seen: None,
    }
}

pub fn node(name: &str, instance: &str, zone: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("aws:///{zone}/{instance}")),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// A ready AWS Load Balancer Controller: Deployment (2/2) and two pods in kube-system, no error logs.
pub fn controller() -> Controller {
    use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    let labels = BTreeMap::from([("app.kubernetes.io/name".to_string(), "aws-load-balancer-controller".to_string())]);
    Controller {
        deployments: vec![Deployment {
            metadata: ObjectMeta {
                namespace: Some("kube-system".into()),
                name: Some("aws-load-balancer-controller".into()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                selector: LabelSelector {
                    match_labels: Some(labels),
                    ..Default::default()
                },
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                replicas: Some(2),
                ready_replicas: Some(2),
                available_replicas: Some(2),
                updated_replicas: Some(2),
                ..Default::default()
            }),
        }],
        pods: vec![PodB::new("kube-system", "aws-load-balancer-controller-7d9c-abcde").ready().build()],
        logs: Fetched::Ok(vec![PodLog {
            pod: "aws-load-balancer-controller-7d9c-abcde".into(),
            lines: vec![],
        }]),
    }
}

/// kube-proxy ready on node-a and node-b.
pub fn kube_proxy() -> KubeProxy {
    use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
    KubeProxy {
        daemonset: Some(DaemonSet {
            metadata: ObjectMeta {
                namespace: Some("kube-system".into()),
                name: Some("kube-proxy".into()),
                ..Default::default()
            },
            spec: None,
            status: Some(DaemonSetStatus {
                desired_number_scheduled: 2,
                number_ready: 2,
                updated_number_scheduled: Some(2),
                number_available: Some(2),
                current_number_scheduled: 2,
                number_misscheduled: 0,
                ..Default::default()
            }),
        }),
        pods: vec![
            PodB::new("kube-system", "kube-proxy-aaaaa")
                .labels(&[("k8s-app", "kube-proxy")])
                .node("node-a")
                .ready()
                .build(),
            PodB::new("kube-system", "kube-proxy-bbbbb")
                .labels(&[("k8s-app", "kube-proxy")])
                .node("node-b")
                .ready()
                .build(),
        ],
    }
}

pub fn readiness(path: &str) -> k8s_openapi::api::core::v1::Probe {
    use k8s_openapi::api::core::v1::{HTTPGetAction, Probe};
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(80),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn sg_rule(proto: &str, from: i32, to: i32, cidrs: &[&str], groups: &[&str]) -> SgRule {
    SgRule {
        protocol: proto.into(),
        from_port: Some(from),
        to_port: Some(to),
        cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn nacl_entry(n: i32, action: &str, proto: &str, cidr: &str, ports: Option<(i32, i32)>, egress: bool) -> NaclEntry {
    NaclEntry {
        rule_number: n,
        protocol: proto.into(),
        action: action.into(),
        egress,
        cidr: Some(cidr.into()),
        port_from: ports.map(|p| p.0),
        port_to: ports.map(|p| p.1),
    }
}

pub fn route(dest: &str, target: &str) -> Route {
    Route {
        destination: dest.into(),
        target: target.into(),
        state: if target == "blackhole" { "blackhole" } else { "active" }.into(),
    }
}

pub const LB_ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/k8s-default-albinsta/0a1b2c3d4e5f6a7b";

/// One VPC 10.0.0.0/16: node subnets a (10.0.1.0/24, us-east-1a) and b (10.0.2.0/24, us-east-1b),
/// load balancer subnets (10.0.101.0/24, 10.0.102.0/24); node instances i-0aaa and i-0bbb with
/// group sg-node (NodePorts and 8080 from sg-alb, tagged for cluster demo); the default NACL
/// allowing everything; one main route table with the local route.
fn network(ip_targets: bool) -> NetworkEvidence {
    let instance = |id: &str, zone: &str, subnet: &str, ip: &str, pod_ip: &str| Instance {
        id: id.into(),
        state: "running".into(),
        availability_zone: Some(zone.into()),
        subnet_id: Some(subnet.into()),
        vpc_id: Some("vpc-0a1b2c3d".into()),
        private_ip: Some(ip.into()),
        interfaces: vec![NetworkInterface {
            id: format!("eni-{}", &id[2..]),
            subnet_id: Some(subnet.into()),
            availability_zone: Some(zone.into()),
            interface_type: Some("interface".into()),
            device_index: Some(0),
            instance_id: Some(id.into()),
            groups: vec!["sg-node".into()],
            private_ips: if ip_targets {
                vec![ip.into(), pod_ip.into()]
            } else {
                vec![ip.into()]
            },
        }],
    };
    let subnet = |id: &str, zone: &str, cidr: &str| Subnet {
        id: id.into(),
        vpc_id: "vpc-0a1b2c3d".into(),
        availability_zone: zone.into(),
        cidr: cidr.into(),
    };
    NetworkEvidence {
        instances: Fetched::Ok(vec![
            instance("i-0aaa", "us-east-1a", "subnet-a", "10.0.1.5", "10.0.1.10"),
            instance("i-0bbb", "us-east-1b", "subnet-b", "10.0.2.5", "10.0.2.11"),
        ]),
        target_interfaces: if ip_targets {
            Fetched::Ok(vec![])
        } else {
            Fetched::not_collected("no ip targets")
        },
        security_groups: Fetched::Ok(vec![
            SecurityGroup {
                id: "sg-alb".into(),
                name: "k8s-alb".into(),
                vpc_id: Some("vpc-0a1b2c3d".into()),
                ..Default::default()
            },
            SecurityGroup {
                id: "sg-node".into(),
                name: "eks-nodes".into(),
                vpc_id: Some("vpc-0a1b2c3d".into()),
                tags: BTreeMap::from([("kubernetes.io/cluster/demo".into(), "owned".into())]),
                ingress: vec![
                    sg_rule("tcp", 30000, 32767, &[], &["sg-alb"]),
                    sg_rule("tcp", 8080, 8080, &[], &["sg-alb"]),
                ],
                egress: vec![sg_rule("-1", -1, -1, &["0.0.0.0/0"], &[])],
            },
        ]),
        subnets: Fetched::Ok(vec![
            subnet("subnet-a", "us-east-1a", "10.0.1.0/24"),
            subnet("subnet-b", "us-east-1b", "10.0.2.0/24"),
            subnet("subnet-c", "us-east-1c", "10.0.3.0/24"),
            subnet("subnet-lb-a", "us-east-1a", "10.0.101.0/24"),
            subnet("subnet-lb-b", "us-east-1b", "10.0.102.0/24"),
        ]),
        network_acls: Fetched::Ok(vec![NetworkAcl {
            id: "acl-default".into(),
            vpc_id: "vpc-0a1b2c3d".into(),
            is_default: true,
            subnet_ids: vec![
                "subnet-a".into(),
                "subnet-b".into(),
                "subnet-c".into(),
                "subnet-lb-a".into(),
                "subnet-lb-b".into(),
            ],
            entries: vec![
                nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, false),
                nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, true),
                nacl_entry(32767, "deny", "-1", "0.0.0.0/0", None, false),
                nacl_entry(32767, "deny", "-1", "0.0.0.0/0", None, true),
            ],
        }]),
        route_tables: Fetched::Ok(vec![RouteTable {
            id: "rtb-main".into(),
            vpc_id: "vpc-0a1b2c3d".into(),
            main: true,
            subnet_ids: vec![],
            routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "igw-1")],
        }]),
        vpcs: Fetched::Ok(vec![Vpc {
            id: "vpc-0a1b2c3d".into(),
            cidrs: vec!["10.0.0.0/16".into()],
        }]),
    }
}

fn denied(api: &str, permission: &str) -> Missing {
    Missing {
        api: api.into(),
        permission: permission.into(),
        error: "AccessDenied: not authorized".into(),
    }
}

// ------------------------------------------------------------------ Service

pub struct ServiceB(Service);

impl ServiceB {
    pub fn new(ns: &str, name: &str) -> Self {
        ServiceB(Service {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                ports: Some(vec![]),
                ..Default::default()
            }),
            status: None,
        })
    }
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.as_mut().unwrap()
    }
    pub fn selector(mut self, labels: &[(&str, &str)]) -> Self {
        self.spec().selector = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        self
    }
    pub fn port(mut self, port: i32, target: i32) -> Self {
        self.spec().ports.get_or_insert_with(Vec::new).push(ServicePort {
            port,
            target_port: Some(IntOrString::Int(target)),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
        self
    }
    pub fn named_target(mut self, port: i32, name: &str) -> Self {
        self.spec().ports.get_or_insert_with(Vec::new).push(ServicePort {
            port,
            target_port: Some(IntOrString::String(name.into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
        self
    }
    pub fn node_port(mut self, port: i32, node_port: i32) -> Self {
        self.spec().type_ = Some("NodePort".into());
        self.spec().ports.get_or_insert_with(Vec::new).push(ServicePort {
            name: Some("http".into()),
            port,
            target_port: Some(IntOrString::Int(port)),
            node_port: Some(node_port),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
        self
    }
    pub fn headless(mut self) -> Self {
        self.spec().cluster_ip = Some("None".into());
        self
    }
    pub fn external_name(mut self, host: &str) -> Self {
        self.spec().type_ = Some("ExternalName".into());
        self.spec().external_name = Some(host.into());
        self
    }
    pub fn build(self) -> Service {
        self.0
    }
}

// ------------------------------------------------------------------ Pod

pub struct PodB(Pod);

impl PodB {
    /// A scheduled pod with one container `app` declaring `http:8080`, no status yet.
    pub fn new(ns: &str, name: &str) -> Self {
        PodB(Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("http".into()),
                        container_port: 8080,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        })
    }
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.as_mut().unwrap()
    }
    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.status().pod_ip = Some(ip.into());
        self
    }
    pub fn node(mut self, node: &str) -> Self {
        self.0.spec.as_mut().unwrap().node_name = Some(node.into());
        self
    }
    pub fn container_port(mut self, port: i32, name: Option<&str>) -> Self {
        self.0.spec.as_mut().unwrap().containers[0].ports = Some(vec![ContainerPort {
            name: name.map(String::from),
            container_port: port,
            ..Default::default()
        }]);
        self
    }
    pub fn no_ports(mut self) -> Self {
        self.0.spec.as_mut().unwrap().containers[0].ports = None;
        self
    }
    pub fn owner(mut self, kind: &str, name: &str) -> Self {
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            kind: kind.into(),
            name: name.into(),
            controller: Some(true),
            api_version: "apps/v1".into(),
            uid: "u".into(),
            ..Default::default()
        }]);
        self
    }
    fn running(mut self, ready: bool, state: ContainerState) -> Self {
        let s = self.status();
        s.phase = Some("Running".into());
        let gates: Vec<PodCondition> = s
            .conditions
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_.starts_with("target-health"))
            .collect();
        let flag = if ready { "True" } else { "False" };
        s.conditions = Some(
            [
                PodCondition {
                    type_: "Ready".into(),
                    status: flag.into(),
                    ..Default::default()
                },
                PodCondition {
                    type_: "ContainersReady".into(),
                    status: flag.into(),
                    ..Default::default()
                },
            ]
            .into_iter()
            .chain(gates)
            .collect(),
        );
        s.container_statuses = Some(vec![ContainerStatus {
            name: "app".into(),
            ready,
            state: Some(state),
            image: "app:1".into(),
            image_id: String::new(),
            ..Default::default()
        }]);
        self
    }
    pub fn ready(self) -> Self {
        self.running(true, ContainerState::default())
    }
    pub fn not_ready(self) -> Self {
        self.running(false, ContainerState::default())
    }
    pub fn waiting(self, reason: &str) -> Self {
        let state = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..Default::default()
        };
        self.running(false, state)
    }
    /// A `target-health.elbv2.k8s.aws/<tg>` readiness gate with its condition.
    pub fn gate(mut self, tg: &str, status: &str, reason: &str) -> Self {
        let gate = format!("target-health.elbv2.k8s.aws/{tg}");
        self.0.spec.as_mut().unwrap().readiness_gates = Some(vec![k8s_openapi::api::core::v1::PodReadinessGate {
            condition_type: gate.clone(),
        }]);
        self.status().conditions.get_or_insert_with(Vec::new).push(PodCondition {
            type_: gate,
            status: status.into(),
            reason: Some(reason.into()),
            ..Default::default()
        });
        self
    }
    /// Containers ready, pod not Ready: held back by a readiness gate.
    pub fn held_by_gate(self) -> Self {
        let mut b = self.ready();
        for c in b.status().conditions.iter_mut().flatten() {
            if c.type_ == "Ready" {
                c.status = "False".into();
            }
        }
        b
    }
    pub fn restarts(mut self, n: i32) -> Self {
        for c in self.status().container_statuses.iter_mut().flatten() {
            c.restart_count = n;
        }
        self
    }
    pub fn oom_killed(mut self) -> Self {
        for c in self.status().container_statuses.iter_mut().flatten() {
            c.restart_count += 1;
            c.last_state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    reason: Some("OOMKilled".into()),
                    exit_code: 137,
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        self
    }
    pub fn unscheduled(mut self, message: &str) -> Self {
        self.status().conditions = Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            message: Some(message.into()),
            ..Default::default()
        }]);
        self
    }
    pub fn build(self) -> Pod {
        self.0
    }
}

// ------------------------------------------------------------------ Snapshot

pub struct SnapshotB(Snapshot);

impl SnapshotB {
    fn base(
        target_type: &str,
        port: i32,
        targets: Vec<TargetHealth>,
        svc: Service,
        pods: Vec<Pod>,
        eps: EndpointsView,
        bound: ServiceRef,
    ) -> Self {
        let tg = TargetGroup {
            arn: TG_ARN.into(),
            name: "k8s-default-albinsta-6f3b2c1d0e".into(),
            target_type: target_type.into(),
            protocol: Some("HTTP".into()),
            protocol_version: Some("HTTP1".into()),
            port: Some(port),
            vpc_id: Some("vpc-0a1b2c3d".into()),
            load_balancer_arns: vec![
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/k8s-default-albinsta/0a1b2c3d4e5f6a7b".into(),
            ],
            health_check: HealthCheck {
                enabled: true,
                protocol: Some("HTTP".into()),
                port: Some("traffic-port".into()),
                path: Some("/".into()),
                matcher: Some("200".into()),
                interval_seconds: Some(15),
                timeout_seconds: Some(5),
                healthy_threshold: Some(2),
                unhealthy_threshold: Some(2),
            },
        };
        let bindings = vec![binding(
            &bound.namespace,
            TG_ARN,
            &bound.name,
            bound.port.clone().unwrap_or_default(),
        )];
        SnapshotB(Snapshot {
            snapshot_version: SNAPSHOT_VERSION,
            collected_at: "2026-11-27T09:00:00Z".into(),
            request: Request {
                target_group_arn: TG_ARN.into(),
                region: "us-east-1".into(),
                account: "111122223333".into(),
                cluster: None,
                alarm: None,
                publish: false,
            },
            resolution: Resolution {
                cluster: Some("demo".into()),
                cluster_source: Some("tag elbv2.k8s.aws/cluster".into()),
                service: Some(bound),
                attempts: vec![Attempt {
                    method: "target-group-binding".into(),
                    outcome: "found".into(),
                }],
            },
            aws: AwsEvidence {
                target_group: Fetched::Ok(tg),
                target_health: Fetched::Ok(targets),
                target_group_tags: Fetched::Ok(BTreeMap::from([("elbv2.k8s.aws/cluster".into(), "demo".into())])),
                load_balancers: Fetched::Ok(vec![LoadBalancer {
                    arn: LB_ARN.into(),
                    name: "k8s-default-albinsta".into(),
                    kind: "application".into(),
                    scheme: Some("internet-facing".into()),
                    vpc_id: Some("vpc-0a1b2c3d".into()),
                    dns_name: None,
                    security_groups: vec!["sg-alb".into()],
                    zones: vec![
                        LbZone {
                            zone: "us-east-1a".into(),
                            subnet_id: Some("subnet-lb-a".into()),
                        },
                        LbZone {
                            zone: "us-east-1b".into(),
                            subnet_id: Some("subnet-lb-b".into()),
                        },
                    ],
                }]),
                load_balancer_tags: Fetched::not_collected("fixture"),
                listeners: Fetched::not_collected("fixture"),
                network: network(target_type == "ip"),
                target_group_attributes: Fetched::Ok(BTreeMap::new()),
            },
            kube: KubeEvidence {
                source: Some("kubeconfig".into()),
                target_group_bindings: Fetched::Ok(bindings),
                all_services: Fetched::not_collected("mapped by binding"),
                all_endpoints: Fetched::not_collected("mapped by binding"),
                service: Fetched::Ok(svc),
                pods: Fetched::Ok(pods),
                endpoints: Fetched::Ok(eps),
                events: Fetched::Ok(vec![]),
                nodes: Fetched::Ok(vec![node("node-a", "i-0aaa", "us-east-1a"), node("node-b", "i-0bbb", "us-east-1b")]),
                ingresses: Fetched::Ok(vec![]),
                ingress_classes: Fetched::Ok(vec![]),
                controller: Fetched::Ok(controller()),
                kube_proxy: Fetched::Ok(kube_proxy()),
            },
            probe: Fetched::not_collected("the probe is off"),
        })
    }

    fn alb_pod(name: &str, ip: &str, node: &str) -> Pod {
        PodB::new("default", name)
            .labels(&[("app", "alb-instance"), ("pod-template-hash", "6cc5cd9b9")])
            .owner("ReplicaSet", "alb-instance-6cc5cd9b9")
            .container_port(80, Some("http"))
            .ip(ip)
            .node(node)
            .ready()
            .build()
    }

    /// NodePort Service default/alb-instance (80 → 80, NodePort 32663) with two ready pods and
    /// two instance targets failing with Target.Timeout.
    pub fn instance() -> Self {
        Self::base(
            "instance",
            32663,
            vec![
                target_r("i-0aaa", 32663, "unhealthy", "Target.Timeout"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ],
            ServiceB::new("default", "alb-instance")
                .selector(&[("app", "alb-instance")])
                .node_port(80, 32663)
                .build(),
            vec![
                Self::alb_pod("alb-instance-6cc5cd9b9-prnxw", "192.168.10.11", "node-a"),
                Self::alb_pod("alb-instance-6cc5cd9b9-x7k2p", "192.168.20.12", "node-b"),
            ],
            endpoints("default", "alb-instance", &[("192.168.10.11", true), ("192.168.20.12", true)]),
            ServiceRef {
                namespace: "default".into(),
                name: "alb-instance".into(),
                port: Some(PortRef::Number(80)),
                resolved_by: "target-group-binding".into(),
            },
        )
    }

    /// The source article's example: the Service selects `app=alb-instance-1`, the pods say
    /// `app=alb-instance`, so there are no endpoints; an unrelated nginx pod shares the namespace.
    pub fn article() -> Self {
        let mut b = Self::instance()
            .service(
                ServiceB::new("default", "alb-instance")
                    .selector(&[("app", "alb-instance-1")])
                    .node_port(80, 32663)
                    .build(),
            )
            .endpoints(endpoints("default", "alb-instance", &[]));
        if let Fetched::Ok(pods) = &mut b.0.kube.pods {
            pods.push(
                PodB::new("default", "nginx-7d4f8-abcde")
                    .labels(&[("app", "nginx")])
                    .ip("192.168.10.40")
                    .ready()
                    .build(),
            );
        }
        b
    }

    /// ClusterIP Service shop/web (80 → 8080) with pods web-1/web-2 declaring http:8080, and ip
    /// targets: 10.0.1.10 healthy, 10.0.2.11 unhealthy (Target.Timeout).
    pub fn ip() -> Self {
        Self::base(
            "ip",
            8080,
            vec![
                target("10.0.1.10", 8080, "healthy"),
                target_r("10.0.2.11", 8080, "unhealthy", "Target.Timeout"),
            ],
            ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 8080).build(),
            vec![
                PodB::new("shop", "web-1")
                    .labels(&[("app", "web")])
                    .ip("10.0.1.10")
                    .node("node-a")
                    .ready()
                    .build(),
                PodB::new("shop", "web-2")
                    .labels(&[("app", "web")])
                    .ip("10.0.2.11")
                    .node("node-b")
                    .ready()
                    .build(),
            ],
            endpoints("shop", "web", &[("10.0.1.10", true), ("10.0.2.11", true)]),
            ServiceRef {
                namespace: "shop".into(),
                name: "web".into(),
                port: Some(PortRef::Number(80)),
                resolved_by: "target-group-binding".into(),
            },
        )
    }

    pub fn targets(mut self, t: Vec<TargetHealth>) -> Self {
        self.0.aws.target_health = Fetched::Ok(t);
        self
    }
    pub fn service(mut self, s: Service) -> Self {
        self.0.kube.service = Fetched::Ok(s);
        self
    }
    pub fn pods(mut self, p: Vec<Pod>) -> Self {
        self.0.kube.pods = Fetched::Ok(p);
        self
    }
    pub fn endpoints(mut self, e: EndpointsView) -> Self {
        self.0.kube.endpoints = Fetched::Ok(e);
        self
    }
    pub fn events(mut self, e: Vec<EventView>) -> Self {
        self.0.kube.events = Fetched::Ok(e);
        self
    }
    pub fn health_check_port(mut self, port: &str) -> Self {
        if let Fetched::Ok(tg) = &mut self.0.aws.target_group {
            tg.health_check.port = Some(port.into());
        }
        self
    }
    pub fn unmapped(mut self) -> Self {
        self.0.resolution.service = None;
        self.0.resolution.attempts = vec![
            Attempt {
                method: "target-group-binding".into(),
                outcome: "none of the 1 TargetGroupBindings names this target group".into(),
            },
            Attempt {
                method: "tags".into(),
                outcome: "no service.k8s.aws/resource tag".into(),
            },
        ];
        let reason = "the target group is not mapped to a Service";
        self.0.kube.service = Fetched::not_collected(reason);
        self.0.kube.pods = Fetched::not_collected(reason);
        self.0.kube.endpoints = Fetched::not_collected(reason);
        self.0.kube.all_services = Fetched::Ok(vec![]);
        self
    }
    pub fn service_missing(mut self) -> Self {
        self.0.kube.service = Fetched::Failed(Missing {
            api: "get services".into(),
            permission: "get services".into(),
            error: "NotFound: services \"alb-instance\" not found".into(),
        });
        self
    }
    pub fn cluster_unreachable(mut self) -> Self {
        let m = Missing {
            api: "list targetgroupbindings".into(),
            permission: "list targetgroupbindings.elbv2.k8s.aws".into(),
            error: "connection refused (127.0.0.1:6443)".into(),
        };
        self.0.resolution.service = None;
        self.0.kube.target_group_bindings = Fetched::Failed(m.clone());
        self.0.kube.all_services = Fetched::Failed(m);
        self
    }
    pub fn target_health_denied(mut self) -> Self {
        self.0.aws.target_health = Fetched::Failed(denied("DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth"));
        self
    }
    pub fn pods_denied(mut self) -> Self {
        self.0.kube.pods = Fetched::Failed(denied("list pods", "list pods (RBAC)"));
        self
    }
    pub fn endpoints_denied(mut self) -> Self {
        self.0.kube.endpoints = Fetched::Failed(denied("list endpoints", "list endpoints (RBAC)"));
        self
    }
    pub fn network(&mut self) -> &mut NetworkEvidence {
        &mut self.0.aws.network
    }
    pub fn lb(&mut self) -> &mut LoadBalancer {
        match &mut self.0.aws.load_balancers {
            Fetched::Ok(lbs) => &mut lbs[0],
            _ => panic!("fixture load balancer"),
        }
    }
    /// Runs `f` on one security group of the fixture.
    pub fn sg(mut self, id: &str, f: impl FnOnce(&mut SecurityGroup)) -> Self {
        if let Fetched::Ok(groups) = &mut self.network().security_groups {
            f(groups.iter_mut().find(|g| g.id == id).expect("fixture group"));
        }
        self
    }
    /// Adds a group and puts it (instead of sg-node) on one instance's ENI.
    pub fn instance_groups(mut self, instance: &str, groups: &[&str]) -> Self {
        if let Fetched::Ok(list) = &mut self.network().instances {
            let i = list.iter_mut().find(|i| i.id == instance).expect("fixture instance");
            i.interfaces[0].groups = groups.iter().map(|s| s.to_string()).collect();
        }
        self
    }
    pub fn add_group(mut self, g: SecurityGroup) -> Self {
        if let Fetched::Ok(list) = &mut self.network().security_groups {
            list.push(g);
        }
        self
    }
    pub fn instance_state(mut self, instance: &str, state: &str) -> Self {
        if let Fetched::Ok(list) = &mut self.network().instances {
            list.iter_mut().find(|i| i.id == instance).expect("fixture instance").state = state.into();
        }
        self
    }
    pub fn node_not_ready(mut self, name: &str) -> Self {
        if let Fetched::Ok(nodes) = &mut self.0.kube.nodes {
            let n = nodes
                .iter_mut()
                .find(|n| n.metadata.name.as_deref() == Some(name))
                .expect("fixture node");
            n.status.as_mut().unwrap().conditions.as_mut().unwrap()[0] = NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                reason: Some("KubeletNotReady".into()),
                message: Some("PLEG is not healthy".into()),
                ..Default::default()
            };
        }
        self
    }
    /// A custom NACL on one subnet.
    pub fn nacl(mut self, id: &str, subnet: &str, entries: Vec<NaclEntry>) -> Self {
        if let Fetched::Ok(acls) = &mut self.network().network_acls {
            for a in acls.iter_mut() {
                a.subnet_ids.retain(|s| s != subnet);
            }
            acls.push(NetworkAcl {
                id: id.into(),
                vpc_id: "vpc-0a1b2c3d".into(),
                is_default: false,
                subnet_ids: vec![subnet.into()],
                entries,
            });
        }
        self
    }
    /// A route table of its own for one subnet.
    pub fn route_table(mut self, id: &str, subnet: &str, routes: Vec<Route>) -> Self {
        if let Fetched::Ok(tables) = &mut self.network().route_tables {
            tables.push(RouteTable {
                id: id.into(),
                vpc_id: "vpc-0a1b2c3d".into(),
                main: false,
                subnet_ids: vec![subnet.into()],
                routes,
            });
        }
        self
    }
    pub fn lb_zones(mut self, zones: &[(&str, &str)]) -> Self {
        self.lb().zones = zones
            .iter()
            .map(|(z, s)| LbZone {
                zone: z.to_string(),
                subnet_id: Some(s.to_string()),
            })
            .collect();
        self
    }
    pub fn local_policy(mut self) -> Self {
        if let Fetched::Ok(svc) = &mut self.0.kube.service {
            svc.spec.as_mut().unwrap().external_traffic_policy = Some("Local".into());
        }
        self
    }
    pub fn ec2_denied(mut self, api: &str) -> Self {
        let m = denied(api, &format!("ec2:{api}"));
        let n = self.network();
        match api {
            "DescribeInstances" => n.instances = Fetched::Failed(m),
            "DescribeSecurityGroups" => n.security_groups = Fetched::Failed(m),
            "DescribeNetworkAcls" => n.network_acls = Fetched::Failed(m),
            "DescribeRouteTables" => n.route_tables = Fetched::Failed(m),
            "DescribeSubnets" => n.subnets = Fetched::Failed(m),
            "DescribeVpcs" => n.vpcs = Fetched::Failed(m),
            other => panic!("no fixture for {other}"),
        }
        self
    }
    pub fn kube(&mut self) -> &mut KubeEvidence {
        &mut self.0.kube
    }
    pub fn ingress(mut self, i: k8s_openapi::api::networking::v1::Ingress) -> Self {
        if let Fetched::Ok(list) = &mut self.0.kube.ingresses {
            list.push(i);
        }
        self
    }
    pub fn service_annotations(mut self, a: &[(&str, &str)]) -> Self {
        if let Fetched::Ok(svc) = &mut self.0.kube.service {
            svc.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .extend(a.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        self
    }
    pub fn health_check(mut self, f: impl FnOnce(&mut HealthCheck)) -> Self {
        if let Fetched::Ok(tg) = &mut self.0.aws.target_group {
            f(&mut tg.health_check);
        }
        self
    }
    pub fn probe(mut self, results: Vec<ProbeResult>) -> Self {
        self.0.probe = Fetched::Ok(ProbeRun {
            mode: "direct".into(),
            origin: "directly".into(),
            cap: 20,
            unhealthy_total: results.iter().filter(|r| !r.healthy_in_elb).count(),
            results,
        });
        self
    }
    pub fn build(self) -> Snapshot {
        self.0
    }
}

/// An ALB Ingress `front` in `ns` routing to `svc`, with annotations.
pub fn alb_ingress(ns: &str, svc: &str, annotations: &[(&str, &str)]) -> k8s_openapi::api::networking::v1::Ingress {
    use k8s_openapi::api::networking::v1::{
        HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec, ServiceBackendPort,
    };
    Ingress {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some("front".into()),
            annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: Some("alb".into()),
            rules: Some(vec![IngressRule {
                host: None,
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: svc.into(),
                                port: Some(ServiceBackendPort {
                                    number: Some(80),
                                    name: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        status: None,
    }
}
