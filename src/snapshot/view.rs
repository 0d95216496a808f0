//! The snapshot's shared queries: the target group, its targets, the Service, its selected pods,
//! and the lookups between them (a pod by IP, a target's node, the Service port). Computed once
//! per diagnosis; read by the checks, the diagnosis and the health probe alike. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Service, ServicePort};

use super::{EndpointsView, EventView, Fetched, PortRef, Snapshot, TargetGroup, TargetHealth};

pub struct View<'a> {
    pub snap: &'a Snapshot,
    pub tg: Result<&'a TargetGroup, String>,
    pub targets: Result<&'a [TargetHealth], String>,
    /// The Service, or why there is none (unmapped, not found, API failure).
    pub service: Result<&'a Service, String>,
    /// Every pod of the Service's namespace.
    pub pods: Result<&'a [Pod], String>,
    /// Pods of the namespace that the Service's selector matches (empty without a selector).
    pub selected: Vec<&'a Pod>,
}

impl<'a> View<'a> {
    pub fn new(snap: &'a Snapshot) -> Self {
        let service = match (&snap.resolution.service, &snap.kube.service) {
            (None, _) => Err("the target group is not mapped to a Service (see service-mapping)".to_string()),
            (Some(_), Fetched::Ok(s)) => Ok(s),
            (Some(r), other) => Err(format!(
                "Service {}/{}: {}",
                r.namespace,
                r.name,
                other.get().err().unwrap_or_default()
            )),
        };
        let pods = snap.kube.pods.get().map(Vec::as_slice);
        let selected = match (&service, &pods) {
            (Ok(svc), Ok(pods)) => match selector(svc) {
                Some(sel) if !sel.is_empty() => {
                    let ns = svc.metadata.namespace.as_deref();
                    pods.iter()
                        .filter(|p| p.metadata.namespace.as_deref() == ns && labels_match(sel, p))
                        .collect()
                }
                _ => vec![],
            },
            _ => vec![],
        };
        View {
            snap,
            tg: snap.aws.target_group.get(),
            targets: snap.aws.target_health.get().map(Vec::as_slice),
            service,
            pods,
            selected,
        }
    }

    pub fn target_type(&self) -> Option<&'a str> {
        self.tg.as_ref().ok().map(|t| t.target_type.as_str())
    }

    pub fn is_ip(&self) -> bool {
        self.target_type() == Some("ip")
    }

    pub fn unhealthy(&self) -> Vec<&'a TargetHealth> {
        self.targets
            .as_ref()
            .map(|t| t.iter().filter(|t| t.is_unhealthy()).collect())
            .unwrap_or_default()
    }

    /// With a binding that shares this target group between clusters
    /// (`spec.multiClusterTargetGroup`), the registered targets that are not this cluster's:
    /// instance targets that are no Node here, ip targets that are no address of this
    /// Service's endpoints or of a pod in its namespace. Each cluster's controller registers and
    /// deregisters only its own (aws-load-balancer-controller v3.5.0,
    /// pkg/targetgroupbinding/multicluster_manager.go, which tracks them in the ConfigMap
    /// `aws-lbc-targets-<binding>`), so those are judged in their own cluster. `None` when the
    /// group is not shared, or when what this cluster owns cannot be known.
    pub fn other_clusters(&self) -> Option<std::collections::BTreeSet<&'a str>> {
        let shared = (self.snap.kube.target_group_bindings.ok().into_iter().flatten())
            .any(|b| b.multi_cluster && b.target_group_arn == self.snap.request.target_group_arn);
        if !shared {
            return None;
        }
        let targets = self.targets.as_ref().ok()?;
        // This cluster's addresses (ip targets) or instances (instance targets), gathered once.
        let ours: std::collections::BTreeSet<&str> = if self.is_ip() {
            let endpoints = self.endpoints().ok()?.addresses.iter().map(|a| a.ip.as_str());
            let pods = (self.pods.as_ref().ok()?.iter()).filter_map(|p| p.status.as_ref()?.pod_ip.as_deref());
            endpoints.chain(pods).collect()
        } else {
            (self.snap.kube.nodes.ok()?.iter())
                .filter_map(|n| n.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next())
                .collect()
        };
        let others = (targets.iter()).map(|t| t.id.as_str()).filter(|id| !ours.contains(id)).collect();
        Some(others)
    }

    /// In a group bound here without `multiClusterTargetGroup`: registered ip targets that are
    /// no pod or endpoint of ours but an address of an instance that is no node of this cluster
    /// (another cluster's pods, or a hand registration), as (target, instance). Their ENI says
    /// so, where an address that is nowhere is merely stale.
    pub fn foreign_ip_targets(&self) -> Vec<(&'a str, &'a str)> {
        if !self.is_ip() || self.other_clusters().is_some() {
            return vec![];
        }
        let (Ok(targets), Some(enis), Some(nodes)) = (
            self.targets.as_ref(),
            self.snap.aws.network.target_interfaces.ok(),
            self.snap.kube.nodes.ok(),
        ) else {
            return vec![];
        };
        let ours: std::collections::BTreeSet<&str> = (nodes.iter())
            .filter_map(|n| n.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next())
            .collect();
        let ip_of_ours = |ip: &str| self.pod_by_ip(ip).is_some() || self.endpoints().is_ok_and(|e| e.addresses.iter().any(|a| a.ip == ip));
        (targets.iter())
            .filter(|t| !ip_of_ours(&t.id))
            .filter_map(|t| {
                let eni = enis
                    .iter()
                    .find(|e| e.private_ips.contains(&t.id) || e.ipv6_addresses.contains(&t.id))?;
                let instance = eni.instance_id.as_deref().filter(|i| !ours.contains(i))?;
                Some((t.id.as_str(), instance))
            })
            .collect()
    }

    pub fn unhealthy_ids(&self) -> Vec<String> {
        self.unhealthy().iter().map(|t| t.id.clone()).collect()
    }

    pub fn endpoints(&self) -> Result<&'a EndpointsView, String> {
        self.snap.kube.endpoints.get()
    }

    pub fn events(&self) -> &'a [EventView] {
        self.snap.kube.events.ok().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn pod_by_ip(&self, ip: &str) -> Option<&'a Pod> {
        let pods = self.pods.as_ref().ok()?;
        pods.iter()
            .find(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_deref()) == Some(ip))
    }

    /// The Node whose providerID (`aws:///zone/i-…`) ends with this instance id.
    pub fn node_by_instance(&self, instance: &str) -> Option<&'a Node> {
        let nodes = self.snap.kube.nodes.ok()?;
        nodes.iter().find(|n| {
            n.spec
                .as_ref()
                .and_then(|s| s.provider_id.as_deref())
                .is_some_and(|p| p.rsplit('/').next() == Some(instance))
        })
    }

    /// The unhealthy targets a set of pods stands behind: ip targets by pod IP; instance
    /// targets by the pods' nodes.
    pub fn targets_of_pods(&self, pods: &[&Pod]) -> Vec<String> {
        let unhealthy = self.unhealthy();
        if self.is_ip() {
            let ips: Vec<&str> = pods.iter().filter_map(|p| pod_ip(p)).collect();
            unhealthy
                .iter()
                .filter(|t| ips.contains(&t.id.as_str()))
                .map(|t| t.id.clone())
                .collect()
        } else {
            let nodes: Vec<&str> = pods.iter().filter_map(|p| p.spec.as_ref()?.node_name.as_deref()).collect();
            unhealthy
                .iter()
                .filter(|t| {
                    self.node_by_instance(&t.id)
                        .and_then(|n| n.metadata.name.as_deref())
                        .is_some_and(|n| nodes.contains(&n))
                })
                .map(|t| t.id.clone())
                .collect()
        }
    }

    /// The Service port the target group sends traffic to, when it can be told.
    pub fn service_port(&self) -> Option<&'a ServicePort> {
        let svc = self.service.as_ref().ok()?;
        let ports = svc.spec.as_ref()?.ports.as_deref()?;
        let wanted = self.snap.resolution.service.as_ref().and_then(|r| r.port.as_ref());
        match wanted {
            Some(PortRef::Number(n)) => ports.iter().find(|p| p.port == *n),
            Some(PortRef::Name(n)) => ports.iter().find(|p| p.name.as_deref() == Some(n)),
            None if self.target_type() == Some("instance") => {
                let target_port = self.targets.as_ref().ok()?.iter().find_map(|t| t.port);
                ports.iter().find(|p| p.node_port.is_some() && p.node_port == target_port)
            }
            None => None,
        }
        .or(if ports.len() == 1 { ports.first() } else { None })
    }

    /// Kind of Service for checks that only apply to some: `ExternalName`, headless, selector-less.
    pub fn service_shape(&self) -> Option<ServiceShape> {
        let svc = self.service.as_ref().ok()?;
        let spec = svc.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Some(ServiceShape::ExternalName);
        }
        if selector(svc).is_none_or(|s| s.is_empty()) {
            return Some(ServiceShape::NoSelector);
        }
        if spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
            return Some(ServiceShape::Headless);
        }
        Some(ServiceShape::Normal)
    }

    /// Pods of the Service's namespace (the collection lists one namespace; fixtures may hold more).
    pub fn pods_in_namespace(&self) -> Vec<&'a Pod> {
        let ns = self.snap.resolution.service.as_ref().map(|r| r.namespace.as_str());
        self.pods
            .as_ref()
            .map(|p| p.iter().filter(|p| p.metadata.namespace.as_deref() == ns).collect())
            .unwrap_or_default()
    }

    pub fn service_name(&self) -> (String, String) {
        match &self.snap.resolution.service {
            Some(r) => (r.namespace.clone(), r.name.clone()),
            None => (String::new(), String::new()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceShape {
    Normal,
    Headless,
    ExternalName,
    NoSelector,
}

pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec.as_ref()?.selector.as_ref()
}

pub fn labels(pod: &Pod) -> Option<&BTreeMap<String, String>> {
    pod.metadata.labels.as_ref()
}

pub fn labels_match(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let l = labels(pod);
    selector.iter().all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
}

pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("?")
}

pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.pod_ip.as_deref()
}

/// The containers that serve while the pod runs: the regular ones and native sidecars (init
/// containers with `restartPolicy: Always`, stable in Kubernetes 1.33, "Sidecar Containers" in
/// the Kubernetes docs: they keep running beside the app and may own the traffic port).
pub fn serving_containers(pod: &Pod) -> impl Iterator<Item = &k8s_openapi::api::core::v1::Container> {
    pod.spec.iter().flat_map(|s| {
        s.containers
            .iter()
            .chain((s.init_containers.iter().flatten()).filter(|c| c.restart_policy.as_deref() == Some("Always")))
    })
}

pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Pods held back only by an unmet `target-health.elbv2.k8s.aws` readiness gate: their
/// containers are ready, the pod is not. They wait on the load balancer, they do not cause it.
pub fn gate_blocked(p: &Pod) -> bool {
    let gated = p
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .is_some_and(|g| g.iter().any(|g| g.condition_type.starts_with("target-health.elbv2.k8s.aws/")));
    let containers_ready = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "ContainersReady" && c.status == "True"));
    gated && containers_ready && !pod_ready(p)
}

/// `deployment/NAME`, `statefulset/NAME`, … the workload that owns a pod, for `kubectl` commands.
/// A ReplicaSet named `NAME-<pod-template-hash>` belongs to Deployment `NAME`.
pub fn workload_of(pod: &Pod) -> String {
    let owner = pod
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|o| o.controller == Some(true)).or(o.first()));
    match owner {
        Some(o) if o.kind == "ReplicaSet" => {
            let hash = labels(pod).and_then(|l| l.get("pod-template-hash"));
            match hash.and_then(|h| o.name.strip_suffix(&format!("-{h}"))) {
                Some(deploy) => format!("deployment/{deploy}"),
                None => format!("replicaset/{}", o.name),
            }
        }
        Some(o) => format!("{}/{}", o.kind.to_lowercase(), o.name),
        None => format!("pod/{}", pod_name(pod)),
    }
}
