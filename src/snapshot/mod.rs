//! The snapshot: every piece of evidence one diagnosis is based on, as plain serde data.
//!
//! `collect` fills it; the checks only read it. Saved with `--save-snapshot` and read back by
//! `replay`, it gives the same diagnosis byte for byte. A failed API call is stored as
//! [`Fetched::Failed`] naming the API and the IAM action / RBAC permission, so the checks that
//! needed it can say `unknown` and why.
//!
//! ```text
//!  TargetGroup ──targets──► TargetHealth (id, port, state, reason)
//!      │ loadBalancerArns         │ ip ──────────────► Pod.status.podIP
//!      ▼                          │ instance id ─────► Node.spec.providerID
//!  LoadBalancer ─► Listener       ▼
//!                          Resolution ─► Service ─selector─► Pods ─► Events
//!                                          └──────────────► Endpoints (ready / not ready)
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::{Deserialize, Serialize};

use crate::trigger::Request;

mod cluster;
mod ec2;
mod place;
mod probe;
mod transition;
mod view;
pub use cluster::*;
pub use ec2::*;
pub use place::Place;
pub use probe::*;
pub use transition::{node_leaving, Transition};
pub use view::*;

/// Bumped when a field changes meaning; `replay` refuses other versions.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Why bytes are not a snapshot this version can replay.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshotVersion {found} is not {SNAPSHOT_VERSION}, the only version this eks-lb-doctor replays; use the eks-lb-doctor that saved it")]
    Version { found: String },
    #[error("it is not a snapshot: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads a saved snapshot: its `snapshotVersion` first (a snapshot of another version is refused
/// by name, not half-read), then the rest.
pub fn from_json(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Versioned {
        snapshot_version: serde_json::Value,
    }
    let v: Versioned = serde_json::from_slice(bytes)?;
    if v.snapshot_version != serde_json::Value::from(SNAPSHOT_VERSION) {
        return Err(SnapshotError::Version {
            found: v.snapshot_version.to_string(),
        });
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub snapshot_version: u32,
    pub collected_at: String,
    /// How far back before the alarm (or the run) changes are looked for, in minutes.
    #[serde(default = "default_changes_window")]
    pub changes_window_minutes: u32,
    pub request: Request,
    pub resolution: Resolution,
    pub aws: AwsEvidence,
    pub kube: KubeEvidence,
    /// The health probe (off unless PROBE_MODE / --probe asks for it).
    #[serde(default)]
    pub probe: Fetched<ProbeRun>,
}

fn default_changes_window() -> u32 {
    60
}

/// One piece of evidence: collected, failed (and why), or deliberately not collected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Fetched<T> {
    Ok(T),
    Failed(Missing),
    NotCollected { reason: String },
}

/// Why a piece of evidence is missing: the API, the permission it needs, and the error seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    pub api: String,
    pub permission: String,
    pub error: String,
}

impl Missing {
    /// The sentence a finding uses when it reports `unknown` for lack of this evidence.
    pub fn explain(&self) -> String {
        format!("{} failed ({}): {}", self.api, self.permission, self.error)
    }
}

/// Evidence a snapshot from an older version does not have.
impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched::not_collected("not collected by the version that made this snapshot")
    }
}

impl<T> Fetched<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Fetched::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// The value, or the sentence explaining why there is none.
    pub fn get(&self) -> Result<&T, String> {
        match self {
            Fetched::Ok(v) => Ok(v),
            Fetched::Failed(m) => Err(m.explain()),
            Fetched::NotCollected { reason } => Err(format!("not collected: {reason}")),
        }
    }

    pub fn not_collected(reason: impl Into<String>) -> Self {
        Fetched::NotCollected { reason: reason.into() }
    }
}

// ---------------------------------------------------------------- AWS

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AwsEvidence {
    pub target_group: Fetched<TargetGroup>,
    pub target_health: Fetched<Vec<TargetHealth>>,
    pub target_group_tags: Fetched<BTreeMap<String, String>>,
    pub load_balancers: Fetched<Vec<LoadBalancer>>,
    /// Tags per load balancer ARN.
    pub load_balancer_tags: Fetched<BTreeMap<String, BTreeMap<String, String>>>,
    pub listeners: Fetched<Vec<Listener>>,
    /// DescribeTargetGroupAttributes (proxy protocol, deregistration delay, …).
    #[serde(default)]
    pub target_group_attributes: Fetched<BTreeMap<String, String>>,
    /// EC2: instances, ENIs, security groups, subnets, NACLs, routes, VPCs.
    #[serde(default)]
    pub network: NetworkEvidence,
    /// CloudTrail's write events on the resources above, in the window before the alarm.
    #[serde(default)]
    pub cloudtrail: Fetched<Vec<AwsChange>>,
}

/// One CloudTrail event that changed what a health check meets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AwsChange {
    /// RFC 3339.
    pub at: String,
    /// The API called (`RevokeSecurityGroupIngress`, `ModifyTargetGroup`, …).
    pub event: String,
    /// The resource it was looked up by (a group id, a target group ARN, …).
    pub resource: String,
    pub by: Option<String>,
    /// Its `requestParameters`, as recorded (clipped).
    pub request: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
    pub protocol: Option<String>,
    /// HTTP1, HTTP2 or GRPC (application load balancers).
    #[serde(default)]
    pub protocol_version: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: Option<String>,
    pub load_balancer_arns: Vec<String>,
    pub health_check: HealthCheck,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: Option<String>,
    /// `traffic-port` or a port number, as the API gives it.
    pub port: Option<String>,
    pub path: Option<String>,
    /// HTTP success codes ("200", "200-299") or gRPC codes.
    pub matcher: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub healthy_threshold: Option<i32>,
    pub unhealthy_threshold: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
    pub health_check_port: Option<String>,
    /// initial | healthy | unhealthy | unused | draining | unavailable
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

impl TargetHealth {
    /// Targets that fail health checks or cannot receive traffic (what the alarm counts,
    /// plus `unused`/`unavailable`, which hide a broken registration).
    pub fn is_unhealthy(&self) -> bool {
        matches!(self.state.as_str(), "unhealthy" | "unused" | "unavailable")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    /// `application`, `network` or `gateway`.
    pub kind: String,
    pub scheme: Option<String>,
    pub vpc_id: Option<String>,
    pub dns_name: Option<String>,
    pub security_groups: Vec<String>,
    pub zones: Vec<LbZone>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LbZone {
    pub zone: String,
    pub subnet_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: Option<i32>,
    pub protocol: Option<String>,
}

// ---------------------------------------------------------------- Kubernetes

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeEvidence {
    /// Where the Kubernetes evidence came from (kubeconfig path or context), for the report.
    pub source: Option<String>,
    pub target_group_bindings: Fetched<Vec<TargetGroupBinding>>,
    /// All Services, collected only when the target group must be matched by data (ARCHITECTURE.md, "Mapping", step 4).
    pub all_services: Fetched<Vec<Service>>,
    /// All endpoints, collected only to match ip targets by data.
    pub all_endpoints: Fetched<Vec<EndpointsView>>,
    pub service: Fetched<Service>,
    /// Every pod of the Service's namespace (selector-match needs the ones that do not match).
    pub pods: Fetched<Vec<Pod>>,
    pub endpoints: Fetched<EndpointsView>,
    /// Events of the Service, its endpoints and its namespace's pods.
    pub events: Fetched<Vec<EventView>>,
    pub nodes: Fetched<Vec<Node>>,
    /// Ingresses of the Service's namespace (the ALB's configuration lives in their annotations).
    #[serde(default)]
    pub ingresses: Fetched<Vec<Ingress>>,
    #[serde(default)]
    pub ingress_classes: Fetched<Vec<IngressClass>>,
    /// The controller's Gateway API TargetGroupConfigurations of the Service's namespace (read
    /// only for a target group a Gateway made).
    #[serde(default)]
    pub target_group_configs: Fetched<Vec<TargetGroupConfigView>>,
    /// The Gateway API objects behind a Gateway's target group (not collected for others).
    #[serde(default)]
    pub gateway: Fetched<GatewayView>,
    /// ReplicaSets of the Service's namespace: the rollouts of "what changed".
    #[serde(default)]
    pub replica_sets: Fetched<Vec<ReplicaSetView>>,
    #[serde(default)]
    pub controller: Fetched<Controller>,
    #[serde(default)]
    pub kube_proxy: Fetched<KubeProxy>,
    /// Deployments of the Service's namespace, as their rollout status: whether a rollout
    /// explains unhealthy targets for now.
    #[serde(default)]
    pub rollouts: Fetched<Vec<RolloutView>>,
}

/// The parts of an `elbv2.k8s.aws/v1beta1` TargetGroupBinding the mapping needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBinding {
    pub namespace: String,
    pub name: String,
    pub target_group_arn: String,
    pub service_name: String,
    pub service_port: PortRef,
    pub target_type: Option<String>,
    /// `spec.multiClusterTargetGroup`: the group is shared with other clusters' controllers,
    /// each registering and deregistering only its own targets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_cluster: bool,
    /// An EKS Auto Mode binding (`eks.amazonaws.com/v1`), not the controller's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_mode: bool,
    /// Who last changed its spec or metadata, and when ("what changed").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_edit: Option<Edit>,
}

/// The latest edit of an object, from its managedFields (status updates by controllers are not
/// edits).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Edit {
    /// RFC 3339.
    pub at: String,
    pub by: Option<String>,
}

impl Edit {
    pub fn latest(fields: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry]) -> Option<Edit> {
        (fields.iter())
            .filter(|f| f.subresource.as_deref().is_none_or(str::is_empty))
            .filter_map(|f| {
                Some(Edit {
                    at: f.time.as_ref()?.0.to_string(),
                    by: f.manager.clone(),
                })
            })
            .max_by(|a, b| a.at.cmp(&b.at))
    }
}

/// A ReplicaSet of the Service's namespace, as far as a rollout's change shows in it: its
/// Deployment and revision, when it was made, and the parts of its pod template a health check
/// depends on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetView {
    pub name: String,
    pub deployment: Option<String>,
    /// `deployment.kubernetes.io/revision`.
    pub revision: Option<i64>,
    /// RFC 3339, as the API server set it.
    pub created_at: Option<String>,
    /// The pod template's labels, without `pod-template-hash`.
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerTemplate>,
}

/// One container of a pod template: what a rollout can change that targets feel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerTemplate {
    pub name: String,
    pub image: Option<String>,
    /// `NAME:PORT/PROTOCOL` or `PORT/PROTOCOL`.
    pub ports: Vec<String>,
    pub readiness_probe: Option<serde_json::Value>,
    pub liveness_probe: Option<serde_json::Value>,
    pub resources: Option<serde_json::Value>,
}

/// A `gateway.k8s.aws` TargetGroupConfiguration: the Service it configures, and the health
/// checks it sets by default and per route (their `healthCheckConfig` objects, as written).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetGroupConfigView {
    pub namespace: String,
    pub name: String,
    /// `spec.targetReference.name` (a Service unless `kind` says otherwise); none for a default
    /// configuration that a LoadBalancerConfiguration names.
    pub target_name: Option<String>,
    pub default_health_check: Option<serde_json::Value>,
    /// `spec.routeConfigurations`, in order.
    pub routes: Vec<RouteConfigView>,
}

/// One `spec.routeConfigurations` entry: its `routeIdentifier` (empty parts match any) and the
/// `healthCheckConfig` of its `targetGroupProps`, if it sets one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteConfigView {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub health_check: Option<serde_json::Value>,
}

/// A Gateway API route, as the controller's tags and the API name it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for RouteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The Gateway a target group was made for (its `gateway.k8s.aws.*` tags), its route, and the
/// LoadBalancerConfigurations (the Gateway's and its GatewayClass's) with the default
/// TargetGroupConfigurations they name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayView {
    pub namespace: String,
    pub name: String,
    pub class: Option<String>,
    /// The route whose backend is this target group's Service, when it was found.
    pub route: Option<RouteRef>,
    pub load_balancer_configs: Vec<LoadBalancerConfigView>,
    /// The TargetGroupConfigurations named by `load_balancer_configs`' defaults.
    pub default_configs: Vec<TargetGroupConfigView>,
    /// What could not be read (the API and why), so a source left unknown can say so.
    pub unread: Vec<String>,
    /// The latest edits of the Gateway and of the route ("what changed").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_edit: Option<Edit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_edit: Option<Edit>,
}

/// A `gateway.k8s.aws` LoadBalancerConfiguration, as far as it shapes target groups.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerConfigView {
    pub namespace: String,
    pub name: String,
    /// `Gateway` (its `spec.infrastructure.parametersRef`) or `GatewayClass` (`spec.parametersRef`).
    pub level: String,
    /// `spec.mergingMode` (`prefer-gateway-class`, the default, or `prefer-gateway`).
    pub merging_mode: Option<String>,
    /// `spec.defaultTargetGroupConfiguration.name`, in this configuration's namespace.
    pub default_target_group_config: Option<String>,
    pub manage_backend_security_group_rules: Option<bool>,
}

/// A Service port as referenced from outside: by number or by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PortRef {
    Number(i32),
    Name(String),
}

impl Default for PortRef {
    fn default() -> Self {
        PortRef::Number(0)
    }
}

impl PortRef {
    /// Parses the `:port` part of a controller tag: a number or a port name.
    pub fn parse(s: &str) -> PortRef {
        s.parse().map(PortRef::Number).unwrap_or_else(|_| PortRef::Name(s.to_string()))
    }
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(s) => f.write_str(s),
        }
    }
}

/// Endpoints of one Service, from EndpointSlices (discovery.k8s.io/v1) or core/v1 Endpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointsView {
    pub namespace: String,
    pub service: String,
    /// `endpointslices/v1` or `endpoints/v1`.
    pub source: String,
    pub addresses: Vec<EndpointAddress>,
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    pub ip: String,
    pub ready: bool,
    pub pod: Option<String>,
    pub node: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    pub name: Option<String>,
    pub port: i32,
    pub protocol: Option<String>,
}

/// A Kubernetes Event, reduced to what a person reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Normal or Warning.
    pub event_type: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub last_seen: Option<String>,
}

// ---------------------------------------------------------------- mapping outcome

/// How the target group was mapped to a Service (ARCHITECTURE.md, "Mapping"), with every attempt recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    pub cluster: Option<String>,
    /// request | tag elbv2.k8s.aws/cluster | legacy tag | config
    pub cluster_source: Option<String>,
    pub service: Option<ServiceRef>,
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub port: Option<PortRef>,
    pub resolved_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub method: String,
    pub outcome: String,
}
