//! `nodes`: the nodes behind unhealthy targets are Ready in Kubernetes and running in EC2.
//!
//! A NotReady node keeps its instance registered but its kube-proxy and pods stop answering; a
//! stopped or terminated instance cannot answer at all. Either explains its targets.

use serde::Serialize;
use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{TargetHealth, View};

pub const CHECK: Check = Check {
    id: CheckId::NODES,
    section: "—",
    layer: Layer::Network,
    verifies: "the nodes of unhealthy targets are Ready, their instances running",
    needs: "nodes, DescribeInstances",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

/// A target whose node is NotReady or whose instance is not running: a row of the evidence.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BrokenNode {
    target: String,
    node: Option<String>,
    instance: Option<String>,
    /// The node's Ready condition status ("False", "Unknown").
    ready: Option<String>,
    instance_state: Option<String>,
    problems: Vec<String>,
}

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_some_targets()?;
    Ok(judge(ctx, ctx.targets_to_check()))
}

fn judge(ctx: &View, targets: Vec<&TargetHealth>) -> Finding {
    let mut bad: Vec<BrokenNode> = Vec::new();
    let mut explains = Vec::new();
    let mut fixes = Vec::new();
    let mut seen = 0;
    let mut missing = Vec::new();
    for t in &targets {
        let place = ctx.place(t);
        let node = ctx.node_of(t);
        let instance_id = place
            .instance
            .clone()
            .or_else(|| node.and_then(|n| n.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next().map(str::to_string)));
        let instance = instance_id
            .as_deref()
            .and_then(|id| ctx.instances().ok()?.iter().find(|i| i.id == id));
        if node.is_none() && instance.is_none() {
            missing.push(t.id.clone());
            continue;
        }
        seen += 1;
        let ready = node.and_then(|n| n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").cloned());
        let node_ok = ready.as_ref().is_none_or(|c| c.status == "True");
        let inst_ok = instance.is_none_or(|i| i.state == "running");
        if node_ok && inst_ok {
            continue;
        }
        let name = node.and_then(|n| n.metadata.name.clone());
        let mut why = Vec::new();
        if let Some(c) = ready.as_ref().filter(|_| !node_ok) {
            why.push(format!(
                "node {} is NotReady ({}: {})",
                name.as_deref().unwrap_or("?"),
                c.reason.as_deref().unwrap_or("?"),
                c.message.as_deref().unwrap_or("")
            ));
            fixes.push(format!("kubectl describe node {}", name.as_deref().unwrap_or("?")));
        }
        if let Some(i) = instance.filter(|_| !inst_ok) {
            why.push(format!("instance {} is {}", i.id, i.state));
            fixes.push(match i.state.as_str() {
                "stopped" => format!(
                    "aws ec2 start-instances --instance-ids {}   # or let the node group replace it",
                    i.id
                ),
                // Terminated or shutting down: scale-in, consolidation or a spot interruption is
                // expected to heal (the node group replaces it, the controller deregisters it);
                // deleting the Node by hand is never the first step. Read why it went.
                _ => format!(
                    "aws ec2 describe-instances --instance-ids {} --query 'Reservations[].Instances[].[State.Name,StateReason.Message]'   # scale-in or spot: the node group replaces it",
                    i.id
                ),
            });
        }
        bad.push(BrokenNode {
            target: t.id.clone(),
            node: name,
            instance: instance.map(|i| i.id.clone()),
            ready: ready.map(|c| c.status),
            instance_state: instance.map(|i| i.state.clone()),
            problems: why,
        });
        if t.is_unhealthy() {
            explains.push(t.id.clone());
        }
    }
    let evidence = json!({"nodes": bad, "withoutNode": missing});
    if !bad.is_empty() {
        let sentences: Vec<&str> = bad.iter().flat_map(|b| b.problems.iter().map(String::as_str)).collect();
        fixes.dedup();
        return Finding::fail(
            ID,
            format!("{} targets on broken nodes", bad.len()),
            format!("{}.", sentences.join("; ")),
        )
        .evidence(evidence)
        .remediation(fixes)
        .explains(explains);
    }
    if seen == 0 {
        // Both sources are missing: name both.
        let why: Vec<String> = [
            ctx.snap.kube.nodes.get().err().map(|e| format!("Kubernetes nodes: {e}")),
            ctx.instances().err().map(|e| format!("instances: {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let why = if why.is_empty() {
            "no node or instance found for the targets".to_string()
        } else {
            why.join("; ")
        };
        return Finding::unknown(ID, why).evidence(evidence);
    }
    Finding::pass(
        ID,
        "Nodes ready",
        format!("The nodes of {seen} targets are Ready and their instances running."),
    )
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn ready_nodes_pass() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Pass);
    }

    #[test]
    fn not_ready_node_fails_its_target_with_the_kubelet_message() {
        let snap = SnapshotB::instance().node_not_ready("node-b").build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert!(
            f.detail.contains("node node-b is NotReady (KubeletNotReady: PLEG is not healthy)"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn stopped_instance_fails_with_start_command() {
        let snap = SnapshotB::instance().instance_state("i-0aaa", "stopped").build();
        let f = CHECK.on(&snap);
        assert_eq!(f.explains, vec!["i-0aaa"]);
        assert!(f.remediation[0].starts_with("aws ec2 start-instances --instance-ids i-0aaa"));
    }

    #[test]
    fn terminated_instance_is_read_about_never_deleted_by_hand() {
        // GIVEN a node whose instance was terminated (scale-in, consolidation, spot)
        let snap = SnapshotB::instance().instance_state("i-0aaa", "terminated").build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails with a read-only next step, not `kubectl delete node`
        assert_eq!(f.status, Status::Fail);
        assert!(f.remediation.iter().all(|r| !r.contains("delete")), "{:?}", f.remediation);
        assert!(f.remediation[0].starts_with("aws ec2 describe-instances --instance-ids i-0aaa"), "{:?}", f.remediation);
    }

    #[test]
    fn ip_target_reaches_its_node_through_the_pod() {
        let snap = SnapshotB::ip().node_not_ready("node-b").build();
        let f = CHECK.on(&snap);
        assert_eq!(f.explains, vec!["10.0.2.11"]);
    }
}
