//! The check catalogue (`CHECKS.md`): one file per check, each a pure function of the
//! [`Snapshot`] returning exactly one [`Finding`]. Checks never touch the network.
//!
//! Adding a check: add its [`CheckId`] (ids are stable, never renamed), its file, and a line in
//! [`run`]. Catalogue order is the order of `findings` in the diagnosis.

mod availability_zones;
mod context;
mod endpoints;
mod health;
mod health_check_config;
mod health_probe;
mod ingress_annotations;
mod kube_proxy;
pub mod lb_controller;
mod network_acls;
mod nodes;
mod place;
mod pod_status;
mod readiness_gates;
mod route_tables;
mod security_groups;
mod selector_match;
mod service_annotations;
mod service_mapping;
mod target_health;
mod target_port;
mod traffic_policy;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use context::Context;

use crate::snapshot::Snapshot;

/// Every check in the catalogue, in catalogue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    TargetHealth,
    ServiceMapping,
    PodStatus,
    SelectorMatch,
    Endpoints,
    TargetPort,
    TrafficPolicy,
    SecurityGroups,
    NetworkAcls,
    RouteTables,
    AvailabilityZones,
    HealthCheckConfig,
    HealthProbe,
    IngressAnnotations,
    ServiceAnnotations,
    LbController,
    ReadinessGates,
    KubeProxy,
    Nodes,
}

pub struct Spec {
    pub id: CheckId,
    /// Section of the source article (seeds/), or "—".
    pub section: &'static str,
    pub verifies: &'static str,
    pub needs: &'static str,
    /// Position in the causal order used to break ties between root-cause candidates
    /// (mapping → pods → selector → endpoints → ports → policy → network → config → controller →
    /// kube-proxy; target-health's self-explaining reason codes last).
    pub causal_rank: u8,
    pub implemented: bool,
}

const fn spec(id: CheckId, section: &'static str, causal_rank: u8, implemented: bool, verifies: &'static str, needs: &'static str) -> Spec {
    Spec {
        id,
        section,
        verifies,
        needs,
        causal_rank,
        implemented,
    }
}

pub const CATALOGUE: [Spec; 19] = [
    spec(CheckId::TargetHealth, "all", 19, true, "which targets are unhealthy and why, each ELB reason code explained", "DescribeTargetGroups, DescribeTargetHealth"),
    spec(CheckId::ServiceMapping, "—", 1, true, "the target group maps to a Kubernetes Service (binding, tags, legacy tags, data match)", "TargetGroupBindings, TG/LB tags, services"),
    spec(CheckId::PodStatus, "§1", 2, true, "pods behind the service are Running with all containers ready (CrashLoopBackOff, ImagePullBackOff, OOMKilled, restarts, readiness-probe failures)", "pods, events"),
    spec(CheckId::SelectorMatch, "§2", 3, true, "the service selector matches pods; otherwise the nearest pods, the differing label and the patch", "service, pods in namespace"),
    spec(CheckId::Endpoints, "§3", 4, true, "the service has ready endpoints; for ip targets, endpoint IPs vs registered targets", "Endpoints / EndpointSlices, target health"),
    spec(CheckId::TargetPort, "§5", 5, true, "the service targetPort (number or name) matches a containerPort; the health-check port resolves", "service, pods"),
    spec(CheckId::TrafficPolicy, "§4", 6, true, "externalTrafficPolicy Local with instance targets: nodes without a ready local pod fail by design", "service, pods, nodes, targets"),
    spec(CheckId::SecurityGroups, "§4", 7, true, "the targets' security groups allow the load balancer on the health-check and traffic ports", "DescribeLoadBalancers, DescribeInstances, DescribeSecurityGroups, DescribeNetworkInterfaces"),
    spec(CheckId::NetworkAcls, "§10", 8, true, "NACLs allow the health check in and the ephemeral-port return traffic", "DescribeNetworkAcls, DescribeSubnets"),
    spec(CheckId::RouteTables, "§10", 9, true, "route tables hold the local route for every VPC CIDR in use", "DescribeRouteTables, DescribeVpcs"),
    spec(CheckId::AvailabilityZones, "—", 10, true, "every target's zone is enabled on the load balancer", "LB zones, targets"),
    spec(CheckId::HealthCheckConfig, "§9", 12, true, "health-check settings are sane for the app (protocol, path, matcher, timeout)", "TG config, pods"),
    spec(CheckId::HealthProbe, "§9", 13, true, "repeats the health check against unhealthy targets (off by default)", "network reach or pods/proxy"),
    spec(CheckId::IngressAnnotations, "§7", 14, true, "alb.ingress.kubernetes.io/* health-check annotations agree with the TG and the app", "ingresses, events"),
    spec(CheckId::ServiceAnnotations, "§8", 15, true, "service.beta.kubernetes.io/aws-load-balancer-* annotations are valid and agree with the TG", "service, events"),
    spec(CheckId::LbController, "§6", 16, true, "the AWS Load Balancer Controller is ready and its logs/events show no permission errors", "deployment, pods/log, events"),
    spec(CheckId::ReadinessGates, "—", 17, true, "target-health.elbv2.k8s.aws readiness gates report each pod's ELB reason", "pods"),
    spec(CheckId::KubeProxy, "§11", 18, true, "kube-proxy is ready on the nodes of unhealthy targets", "daemonset, pods"),
    spec(CheckId::Nodes, "—", 11, true, "nodes of unhealthy targets are Ready and running", "nodes, DescribeInstances"),
];

impl CheckId {
    pub fn spec(self) -> &'static Spec {
        CATALOGUE.iter().find(|s| s.id == self).expect("every CheckId is in the catalogue")
    }

    /// The stable kebab-case id.
    pub fn as_str(self) -> &'static str {
        ID_STRINGS[self as usize]
    }
}

/// Same spelling as the serde names (a test keeps them together).
const ID_STRINGS: [&str; 19] = [
    "target-health",
    "service-mapping",
    "pod-status",
    "selector-match",
    "endpoints",
    "target-port",
    "traffic-policy",
    "security-groups",
    "network-acls",
    "route-tables",
    "availability-zones",
    "health-check-config",
    "health-probe",
    "ingress-annotations",
    "service-annotations",
    "lb-controller",
    "readiness-gates",
    "kube-proxy",
    "nodes",
];

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Unknown,
    Skipped,
}

/// One check's result, as the diagnosis JSON carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: CheckId,
    pub status: Status,
    pub title: String,
    pub detail: String,
    pub evidence: Value,
    pub remediation: Vec<String>,
    /// Ids of the unhealthy targets this failure explains; ranks root-cause candidates.
    #[serde(skip)]
    pub explains: Vec<String>,
}

impl Finding {
    pub fn new(check: CheckId, status: Status, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            check,
            status,
            title: title.into(),
            detail: detail.into(),
            evidence: Value::Object(Default::default()),
            remediation: vec![],
            explains: vec![],
        }
    }
    pub fn pass(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Pass, title, detail)
    }
    pub fn fail(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Fail, title, detail)
    }
    pub fn warn(check: CheckId, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(check, Status::Warn, title, detail)
    }
    /// Evidence missing: `why` names the API or permission.
    pub fn unknown(check: CheckId, why: impl Into<String>) -> Self {
        Self::new(check, Status::Unknown, "Not enough evidence", why)
    }
    /// Does not apply here: `why` says why.
    pub fn skipped(check: CheckId, why: impl Into<String>) -> Self {
        Self::new(check, Status::Skipped, "Skipped", why)
    }
    pub fn evidence(mut self, evidence: Value) -> Self {
        self.evidence = evidence;
        self
    }
    pub fn remediation(mut self, steps: Vec<String>) -> Self {
        self.remediation = steps;
        self
    }
    pub fn explains(mut self, targets: Vec<String>) -> Self {
        self.explains = targets;
        self
    }
}

/// "the timeout…" → "The timeout…": details are sentences.
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Runs the whole catalogue over a snapshot: one finding per check, in catalogue order.
pub fn run(snapshot: &Snapshot) -> Vec<Finding> {
    let ctx = Context::new(snapshot);
    CATALOGUE
        .iter()
        .map(|spec| match spec.id {
            CheckId::TargetHealth => target_health::check(&ctx),
            CheckId::ServiceMapping => service_mapping::check(&ctx),
            CheckId::PodStatus => pod_status::check(&ctx),
            CheckId::SelectorMatch => selector_match::check(&ctx),
            CheckId::Endpoints => endpoints::check(&ctx),
            CheckId::TargetPort => target_port::check(&ctx),
            CheckId::TrafficPolicy => traffic_policy::check(&ctx),
            CheckId::SecurityGroups => security_groups::check(&ctx),
            CheckId::NetworkAcls => network_acls::check(&ctx),
            CheckId::RouteTables => route_tables::check(&ctx),
            CheckId::AvailabilityZones => availability_zones::check(&ctx),
            CheckId::Nodes => nodes::check(&ctx),
            CheckId::HealthCheckConfig => health_check_config::check(&ctx),
            CheckId::IngressAnnotations => ingress_annotations::check(&ctx),
            CheckId::ServiceAnnotations => service_annotations::check(&ctx),
            CheckId::LbController => lb_controller::check(&ctx),
            CheckId::ReadinessGates => readiness_gates::check(&ctx),
            CheckId::KubeProxy => kube_proxy::check(&ctx),
            CheckId::HealthProbe => health_probe::check(&ctx),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_lists_every_id_once_in_declaration_order() {
        for (i, spec) in CATALOGUE.iter().enumerate() {
            assert_eq!(spec.id as usize, i, "{} out of order", spec.id);
            assert_eq!(serde_json::to_value(spec.id).unwrap(), Value::String(ID_STRINGS[i].into()));
        }
    }
}
