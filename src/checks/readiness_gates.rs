//! `readiness-gates`: pods with `target-health.elbv2.k8s.aws/*` readiness gates, each gate's
//! condition and the ELB reason code in it, linked to the pod's target.
//!
//! With readiness gates a pod only becomes Ready once its load-balancer target is healthy. A pod
//! whose containers are ready but whose gate is not waits on the load balancer: the gate's reason
//! (Target.Timeout, Target.ResponseCodeMismatch, …) says why, and a missing condition means the
//! controller never reconciled the binding.

use serde_json::{json, Value};

use crate::snapshot::{pod_ip, pod_name};
use crate::snapshot::gate_blocked;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;

pub const CHECK: Check = Check {
    id: CheckId::READINESS_GATES,
    section: "—",
    layer: Layer::Controller,
    verifies: "pods with `target-health.elbv2.k8s.aws/*` readiness gates: each gate's ELB reason code, linked to the pod's target; pods held back only by their gate",
    needs: "pods",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;
const GATE: &str = "target-health.elbv2.k8s.aws/";

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_service()?;
    ctx.need_pods()?;
    Ok(judge(ctx))
}

fn judge(ctx: &View) -> Finding {
    let mut gated: Vec<Value> = Vec::new();
    let mut blocked = Vec::new();
    for p in &ctx.selected {
        let gates: Vec<&str> = p
            .spec
            .iter()
            .flat_map(|s| s.readiness_gates.iter().flatten())
            .map(|g| g.condition_type.as_str())
            .filter(|c| c.starts_with(GATE))
            .collect();
        for gate in gates {
            let cond = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == gate));
            let target = pod_ip(p).map(str::to_string);
            gated.push(json!({
                "pod": pod_name(p), "gate": gate, "target": target,
                "status": cond.map(|c| c.status.clone()).unwrap_or_else(|| "missing".into()),
                "reason": cond.and_then(|c| c.reason.clone()), "message": cond.and_then(|c| c.message.clone()),
            }));
            if gate_blocked(p) && cond.is_none_or(|c| c.status != "True") {
                blocked.push((
                    p,
                    cond.and_then(|c| c.reason.clone())
                        .unwrap_or_else(|| "condition missing: the controller has not reconciled the binding".into()),
                ));
            }
        }
    }
    if gated.is_empty() {
        return Finding::skipped(ID, "no selected pod uses a target-health.elbv2.k8s.aws readiness gate");
    }
    let evidence = json!({"gates": gated});
    if blocked.is_empty() {
        return Finding::pass(
            ID,
            "Readiness gates met",
            format!("{} pods' readiness gates report their targets healthy.", gated.len()),
        )
        .evidence(evidence);
    }
    let pods: Vec<&k8s_openapi::api::core::v1::Pod> = blocked.iter().map(|(p, _)| **p).collect();
    let explains = ctx.targets_of_pods(&pods);
    let list: Vec<String> = blocked.iter().map(|(p, r)| format!("{} ({r})", pod_name(p))).collect();
    let (ns, _) = ctx.service_name();
    Finding::fail(
        ID,
        format!("{} pods wait on their readiness gate", blocked.len()),
        format!("Their containers are ready, but the load balancer does not report their targets healthy: {}.", list.join(", ")),
    )
    .evidence(evidence)
    .remediation(vec![
        format!("kubectl get pods -n {ns} -o custom-columns=NAME:.metadata.name,GATES:.status.conditions[?(@.type=~\"target-health.*\")].reason"),
        format!("aws elbv2 describe-target-health --target-group-arn {}", ctx.snap.request.target_group_arn),
    ])
    .explains(explains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn no_gates_is_skipped() {
        assert_eq!(CHECK.on(&SnapshotB::ip().build()).status, Status::Skipped);
    }

    #[test]
    fn pod_held_back_by_its_gate_reports_the_elb_reason_and_its_target() {
        let snap = SnapshotB::ip()
            .pods(vec![
                PodB::new("shop", "web-1")
                    .labels(&[("app", "web")])
                    .ip("10.0.1.10")
                    .gate("k8s-web-tg", "True", "Target.Healthy")
                    .ready()
                    .build(),
                PodB::new("shop", "web-2")
                    .labels(&[("app", "web")])
                    .ip("10.0.2.11")
                    .gate("k8s-web-tg", "False", "Target.Timeout")
                    .held_by_gate()
                    .build(),
            ])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("web-2 (Target.Timeout)"), "{}", f.detail);
        assert_eq!(f.explains, vec!["10.0.2.11"]);
        assert_eq!(f.evidence["gates"][0]["reason"], "Target.Healthy");
    }
}
