//! Targets in transition: why an unhealthy target is expected to heal by itself (its node is
//! being removed, its pod is terminating or was replaced by a rollout). Pure; `diagnosis` reads it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::{workload_of, RolloutView, View};

/// Why one unhealthy target is expected to heal, and by when.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// "node ip-10-0-1-5 is being disrupted by Karpenter (taint karpenter.sh/disrupted)".
    pub why: String,
    /// "deregistered within the 300 s deregistration delay".
    pub heals: String,
    /// A strong transition (the node or pod is going away) holds whatever else fails on the
    /// target; a weak one (a new pod waiting for its readiness gate) only when no failing
    /// check explains the target, since a new revision that fails its health check also waits.
    pub strong: bool,
}

/// Why a Node is leaving, from the taints the tools that remove nodes put on it. The controller
/// deregisters instance targets of nodes tainted by the Cluster Autoscaler or Karpenter
/// (aws-load-balancer-controller v3.5.0, pkg/backend/endpoint_utils.go,
/// IsNodeSuitableAsTrafficProxy); the Node Termination Handler cordons and drains first.
pub fn node_leaving(node: &Node) -> Option<String> {
    let taints = node.spec.as_ref()?.taints.as_ref()?;
    taints.iter().find_map(|t| {
        let by = match t.key.as_str() {
            "ToBeDeletedByClusterAutoscaler" => "marked for scale-in by the Cluster Autoscaler".to_string(),
            "karpenter.sh/disrupted" => "being disrupted by Karpenter (consolidation, drift, expiry or interruption)".to_string(),
            "karpenter.sh/disruption" if t.value.as_deref() == Some("disrupting") => {
                "being disrupted by Karpenter (consolidation, drift, expiry or interruption)".to_string()
            }
            k if k.starts_with("aws-node-termination-handler/") => {
                let event = &k["aws-node-termination-handler/".len()..];
                let event = if event == "spot-itn" { "Spot interruption" } else { event };
                format!("being drained by the AWS Node Termination Handler ({event})")
            }
            _ => return None,
        };
        Some(format!("{by}, taint {}", t.key))
    })
}

impl View<'_> {
    /// The unhealthy targets expected to heal by themselves, by target id.
    pub fn in_transition(&self) -> BTreeMap<String, Transition> {
        let leaves = format!("deregistered within the {} s deregistration delay", self.deregistration_delay());
        let rollouts: Vec<&RolloutView> = self.snap.kube.rollouts.ok().into_iter().flatten().collect();
        // The rollout under way of the workload the Service's pods belong to, if any.
        let rollout = self.selected.iter().find_map(|p| {
            let name = workload_of(p);
            let name = name.strip_prefix("deployment/")?;
            rollouts.iter().find(|r| r.name == name && r.in_progress()).copied()
        });
        let mut out = BTreeMap::new();
        for t in self.unhealthy() {
            let node = self.node_of(t);
            let name = node.and_then(|n| n.metadata.name.clone()).unwrap_or_default();
            let instance_state = (!self.is_ip())
                .then(|| self.instance(&t.id))
                .flatten()
                .map(|i| i.state.as_str())
                .filter(|s| ["shutting-down", "stopping"].contains(s));
            let transition = if let Some(by) = node.and_then(node_leaving) {
                Some(Transition {
                    why: format!("node {name} is {by}"),
                    heals: leaves.clone(),
                    strong: true,
                })
            } else if let Some(state) = instance_state {
                Some(Transition {
                    why: format!("instance {} is {state}", t.id),
                    heals: leaves.clone(),
                    strong: true,
                })
            } else if self.is_ip() {
                match self.pod_by_ip(&t.id) {
                    Some(p) if p.metadata.deletion_timestamp.is_some() => Some(Transition {
                        why: format!("pod {} is terminating", p.metadata.name.as_deref().unwrap_or("?")),
                        heals: leaves.clone(),
                        strong: true,
                    }),
                    Some(p) if super::gate_blocked(p) => rollout.map(|r| Transition {
                        why: format!(
                            "new pod {} of the rollout ({}) waits for its readiness gate",
                            p.metadata.name.as_deref().unwrap_or("?"),
                            r.describe()
                        ),
                        heals: self.healthy_after(),
                        strong: false,
                    }),
                    None => rollout.map(|r| Transition {
                        why: format!("its pod is gone, replaced by the rollout ({})", r.describe()),
                        heals: leaves.clone(),
                        strong: true,
                    }),
                    Some(_) => None,
                }
            } else {
                None
            };
            if let Some(tr) = transition {
                out.insert(t.id.clone(), tr);
            }
        }
        out
    }

    /// When a target registering now turns healthy: healthy threshold × interval.
    pub fn healthy_after(&self) -> String {
        match self.healthy_after_seconds() {
            Some(s) => format!("healthy after about {s} s of passing checks"),
            None => "healthy once it passes the healthy threshold of checks".into(),
        }
    }

    /// Seconds of passing checks a registering target needs: healthy threshold × interval.
    pub fn healthy_after_seconds(&self) -> Option<i32> {
        let h = &self.tg.as_ref().ok()?.health_check;
        Some(h.interval_seconds? * h.healthy_threshold?)
    }

    /// The target group's deregistration delay in seconds (AWS's default 300 when unread).
    pub fn deregistration_delay(&self) -> String {
        (self.snap.aws.target_group_attributes.ok())
            .and_then(|a| a.get("deregistration_delay.timeout_seconds").cloned())
            .unwrap_or_else(|| "300".into())
    }
}
