//! `traffic-policy` (article §4): `externalTrafficPolicy: Local` with instance targets.
//!
//! With Local, a node answers on the NodePort only when it runs a ready pod of the Service; the
//! load balancer health-checks every registered node, so nodes without such a pod fail by
//! design. This says whether that explains the unhealthy targets exactly, and gives both fixes.

use std::collections::BTreeSet;

use serde_json::json;

use crate::snapshot::pod_ready;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{TargetHealth, View};

pub const CHECK: Check = Check {
    id: CheckId::TRAFFIC_POLICY,
    section: "§4",
    layer: Layer::Policy,
    verifies: "`externalTrafficPolicy: Local` with instance targets: nodes without a ready local pod fail by design; says whether that explains exactly the unhealthy targets; both fixes",
    needs: "service, pods→nodes, targets",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let svc = ctx.need_service()?;
    let policy = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        .unwrap_or("Cluster");
    if policy != "Local" {
        return Ok(ctx.pass(
            format!("externalTrafficPolicy {policy}"),
            format!("With {policy}, every node forwards the NodePort to any ready pod."),
        ));
    }
    if ctx.is_ip() {
        return Err(ctx.skipped("ip targets reach the pods directly; externalTrafficPolicy does not apply"));
    }
    let targets = ctx.need_targets()?;
    ctx.need_pods()?;
    Ok(judge(ctx, targets))
}

/// `externalTrafficPolicy: Local` with instance targets: which nodes lack a ready local pod.
fn judge(ctx: &View, targets: &[TargetHealth]) -> Finding {
    let pod_nodes: BTreeSet<&str> = ctx
        .selected
        .iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| p.spec.as_ref()?.node_name.as_deref())
        .collect();
    let mut without = Vec::new();
    let mut unknown = Vec::new();
    for t in targets {
        match ctx.node_by_instance(&t.id).and_then(|n| n.metadata.name.as_deref()) {
            Some(n) if !pod_nodes.contains(n) => without.push((t.id.clone(), n.to_string())),
            Some(_) => {}
            None => unknown.push(t.id.clone()),
        }
    }
    let unhealthy: BTreeSet<String> = ctx.unhealthy_ids().into_iter().collect();
    let without_ids: BTreeSet<String> = without.iter().map(|(t, _)| t.clone()).collect();
    let explains: Vec<String> = unhealthy.intersection(&without_ids).cloned().collect();
    let evidence = json!({
        "policy": "Local", "nodesWithReadyPods": pod_nodes,
        "targetsWithoutLocalPod": without.iter().map(|(t, n)| json!({"target": t, "node": n})).collect::<Vec<_>>(),
        "targetsWithoutNode": unknown,
        "explainsExactly": unhealthy == without_ids,
    });
    let (ns, name) = ctx.service_name();
    if explains.is_empty() {
        return Finding::pass(
            ID,
            "Local policy, pods on every unhealthy node",
            "externalTrafficPolicy is Local, but every node behind an unhealthy target runs a ready pod.",
        )
        .evidence(evidence);
    }
    let exactly = if unhealthy == without_ids {
        "This explains exactly the unhealthy targets.".to_string()
    } else {
        format!("This explains {} of the {} unhealthy targets.", explains.len(), unhealthy.len())
    };
    let nodes: Vec<&str> = without
        .iter()
        .filter(|(t, _)| unhealthy.contains(t))
        .map(|(_, n)| n.as_str())
        .collect();
    Finding::fail(
        ID,
        "Local traffic policy: nodes without pods fail by design",
        format!(
            "Service {ns}/{name} has externalTrafficPolicy Local and {} of {} nodes run no ready pod ({}), so they fail health checks by design. {exactly}",
            without.len(),
            targets.len(),
            nodes.join(", ")
        ),
    )
    .evidence(evidence)
    .remediation(vec![
        format!("kubectl patch service {name} -n {ns} -p '{{\"spec\":{{\"externalTrafficPolicy\":\"Cluster\"}}}}'   # any node forwards (loses the client IP)"),
        ip_targets(ctx, &name, &ns),
    ])
    .explains(explains)
}

/// The other choice: keep Local (and the client address) with ip targets, which reach the pods
/// directly; an exact command where the controller reads the target type, in words for the
/// in-tree provider (no ip targets) or a hand-made group.
fn ip_targets(ctx: &View, name: &str, ns: &str) -> String {
    match ctx.controller_target_type_key() {
        Some(key) => format!(
            "kubectl annotate service {} -n {} {key}=ip --overwrite   # or keep Local with ip targets: they reach the pods directly (a new target group)",
            crate::shell::quote(name),
            crate::shell::quote(ns)
        ),
        None => "or keep Local and use ip targets (they reach the pods directly): with the AWS Load Balancer Controller, the Service annotation alb.ingress.kubernetes.io/target-type: ip (an NLB: service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn cluster_policy_passes() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Pass);
    }

    #[test]
    fn local_policy_with_pod_on_one_node_explains_exactly_the_other() {
        // GIVEN Local policy, one ready pod on node-a only, and i-0bbb (node-b) unhealthy
        let snap = SnapshotB::instance()
            .local_policy()
            .pods(vec![PodB::new("default", "alb-instance-1")
                .labels(&[("app", "alb-instance")])
                .node("node-a")
                .ip("192.168.10.11")
                .ready()
                .build()])
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert_eq!(f.evidence["explainsExactly"], true);
        assert!(f.detail.contains("This explains exactly the unhealthy targets."), "{}", f.detail);
        assert!(f.remediation[0].contains(r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#));
    }

    #[test]
    fn local_policy_with_ip_targets_is_skipped() {
        let snap = SnapshotB::ip().local_policy().build();
        assert_eq!(CHECK.on(&snap).status, Status::Skipped);
    }
}
