//! Cluster-level evidence: the AWS Load Balancer Controller and kube-proxy.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::Fetched;

/// The label the controller's Helm chart and manifests put on its Deployment and pods: what
/// `collect` selects by and what the `lb-controller` check names when nothing carries it.
pub const CONTROLLER_LABEL: &str = "app.kubernetes.io/name=aws-load-balancer-controller";

/// The AWS Load Balancer Controller: its Deployment(s), pods and recent error log lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Controller {
    pub deployments: Vec<Deployment>,
    pub pods: Vec<Pod>,
    /// Error lines of each controller pod's recent log (pods/log), or why they could not be read.
    pub logs: Fetched<Vec<PodLog>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodLog {
    pub pod: String,
    pub lines: Vec<String>,
}

/// kube-proxy: its DaemonSet and pods (kube-system).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct KubeProxy {
    pub daemonset: Option<DaemonSet>,
    pub pods: Vec<Pod>,
}
