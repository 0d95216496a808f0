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

/// The controller's Deployments among those carrying its label: the ones in `kube-system` (where
/// the Helm chart and the EKS add-on install it, and where tenants cannot create objects) when
/// there are any; only a controller installed elsewhere is taken from another namespace.
pub fn controller_deployments(mut found: Vec<Deployment>) -> Vec<Deployment> {
    if found.iter().any(|d| d.metadata.namespace.as_deref() == Some("kube-system")) {
        found.retain(|d| d.metadata.namespace.as_deref() == Some("kube-system"));
    }
    found
}

/// The pods that belong to one of `deployments`, in its namespace: only these speak for the
/// controller. A pod that merely carries the controller's label (any namespace can make one)
/// is not read.
pub fn owned_pods(pods: Vec<Pod>, deployments: &[Deployment]) -> Vec<Pod> {
    pods.into_iter()
        .filter(|p| {
            deployments.iter().any(|d| {
                d.metadata.namespace == p.metadata.namespace
                    && super::workload_of(p) == format!("deployment/{}", d.metadata.name.as_deref().unwrap_or(""))
            })
        })
        .collect()
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

/// A Deployment of the Service's namespace, as much of it as says whether a rollout is under
/// way (`kubectl rollout status` reads the same fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RolloutView {
    pub name: String,
    /// `deployment.kubernetes.io/revision`.
    pub revision: Option<String>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    /// Wanted replicas (`spec.replicas`).
    pub replicas: i32,
    /// Pods of every revision (`status.replicas`): above `replicas` while old pods remain.
    pub current: i32,
    pub updated: i32,
    pub ready: i32,
    pub unavailable: i32,
    /// The `Progressing` condition.
    pub progressing: Option<ConditionView>,
    pub progress_deadline_seconds: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConditionView {
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl RolloutView {
    pub fn from_deployment(d: &Deployment) -> RolloutView {
        let spec = d.spec.as_ref();
        let status = d.status.as_ref();
        let progressing = (status.and_then(|s| s.conditions.as_ref()).into_iter().flatten())
            .find(|c| c.type_ == "Progressing")
            .map(|c| ConditionView {
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            });
        RolloutView {
            name: d.metadata.name.clone().unwrap_or_default(),
            revision: (d.metadata.annotations.as_ref()).and_then(|a| a.get("deployment.kubernetes.io/revision").cloned()),
            generation: d.metadata.generation,
            observed_generation: status.and_then(|s| s.observed_generation),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            current: status.and_then(|s| s.replicas).unwrap_or(0),
            updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            unavailable: status.and_then(|s| s.unavailable_replicas).unwrap_or(0),
            progressing,
            progress_deadline_seconds: spec.and_then(|s| s.progress_deadline_seconds),
        }
    }

    /// The rollout stopped making progress: `Progressing=False`, `ProgressDeadlineExceeded`.
    pub fn stalled(&self) -> bool {
        self.progressing
            .as_ref()
            .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    }

    /// A rollout under way and still progressing: the controller has not seen the newest spec,
    /// or not every pod is of the new revision, or old pods remain, or new ones are unavailable.
    /// A Deployment without a status (never reconciled) says nothing: not in progress.
    pub fn in_progress(&self) -> bool {
        let Some(observed) = self.observed_generation else { return false };
        let unseen = self.generation.is_some_and(|g| observed < g);
        !self.stalled() && (unseen || self.updated < self.replicas || self.current > self.replicas || self.unavailable > 0)
    }

    /// One line of evidence: `deployment/web revision 7: 2 of 3 updated, 1 unavailable`.
    pub fn describe(&self) -> String {
        format!(
            "deployment/{} revision {}: {} of {} updated, {} unavailable",
            self.name,
            self.revision.as_deref().unwrap_or("?"),
            self.updated,
            self.replicas,
            self.unavailable
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        generation: i64,
        observed: Option<i64>,
        replicas: i32,
        updated: i32,
        current: i32,
        unavailable: i32,
        reason: &str,
    ) -> RolloutView {
        RolloutView {
            name: "web".into(),
            generation: Some(generation),
            observed_generation: observed,
            replicas,
            updated,
            current,
            unavailable,
            progressing: Some(ConditionView {
                status: if reason == "ProgressDeadlineExceeded" { "False" } else { "True" }.into(),
                reason: Some(reason.into()),
                message: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_labelled_deployment_in_a_tenant_namespace_does_not_stand_for_the_controller() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let d = |ns: &str| Deployment {
            metadata: ObjectMeta {
                name: Some("aws-load-balancer-controller".into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let kept: Vec<String> = controller_deployments(vec![d("shop"), d("kube-system")])
            .into_iter()
            .filter_map(|d| d.metadata.namespace)
            .collect();
        assert_eq!(kept, ["kube-system"]);
        // installed elsewhere (no kube-system one): taken as found
        assert_eq!(controller_deployments(vec![d("lbc")]).len(), 1);
    }

    #[test]
    fn only_pods_of_the_controllers_deployment_speak_for_it() {
        use crate::fixtures::PodB;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let deployment = Deployment {
            metadata: ObjectMeta {
                name: Some("aws-load-balancer-controller".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let pod = |ns: &str, name: &str, rs: &str| {
            PodB::new(ns, name)
                .labels(&[
                    ("app.kubernetes.io/name", "aws-load-balancer-controller"),
                    ("pod-template-hash", "6b7f9c"),
                ])
                .owner("ReplicaSet", rs)
                .build()
        };
        let pods = vec![
            pod(
                "kube-system",
                "aws-load-balancer-controller-6b7f9c-x2x9v",
                "aws-load-balancer-controller-6b7f9c",
            ),
            // the label in a tenant's namespace, or on another workload: not the controller
            pod(
                "shop",
                "aws-load-balancer-controller-6b7f9c-evil1",
                "aws-load-balancer-controller-6b7f9c",
            ),
            pod("kube-system", "impostor-6b7f9c-evil2", "impostor-6b7f9c"),
        ];
        let kept: Vec<String> = owned_pods(pods, &[deployment])
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(kept, ["aws-load-balancer-controller-6b7f9c-x2x9v"]);
    }

    /// (what, rollout, in progress?)
    #[test]
    fn rollout_in_progress_table() {
        for (what, r, want) in [
            ("settled", view(3, Some(3), 3, 3, 3, 0, "NewReplicaSetAvailable"), false),
            (
                "new spec not yet seen",
                view(4, Some(3), 3, 3, 3, 0, "NewReplicaSetAvailable"),
                true,
            ),
            ("1 of 3 updated", view(3, Some(3), 3, 1, 4, 1, "ReplicaSetUpdated"), true),
            ("old pods remain", view(3, Some(3), 3, 3, 4, 0, "ReplicaSetUpdated"), true),
            ("new pods unavailable", view(3, Some(3), 3, 3, 3, 2, "ReplicaSetUpdated"), true),
            (
                "stalled past its deadline",
                view(3, Some(3), 3, 1, 4, 1, "ProgressDeadlineExceeded"),
                false,
            ),
            ("never reconciled (no status)", view(1, None, 3, 0, 0, 0, ""), false),
        ] {
            assert_eq!(r.in_progress(), want, "{what}");
        }
    }
}
