//! `target-health`: which targets are unhealthy and why, each ELB reason code explained.
//!
//! Mostly this is the symptom the alarm reports, and the verdict looks for the check that
//! explains it. Some reason codes are causes in themselves (a stopped instance, a target not
//! registered, a zone not enabled): those targets are explained here, last in causal order, so a
//! more specific check that explains them too wins. Source: all sections of the article.

use std::collections::BTreeMap;

use serde_json::json;

use super::health::answered_5xx;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{TargetHealth, View};

pub const CHECK: Check = Check {
    id: CheckId::TARGET_HEALTH,
    section: "all",
    layer: Layer::Symptom,
    verifies: "which targets are unhealthy and why, each ELB reason code explained; reason codes that are causes in themselves (Target.InvalidState, NotRegistered, NotInUse, …) and 5xx answers (the application reports itself unhealthy: its logs)",
    needs: "DescribeTargetGroups, DescribeTargetHealth",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

/// Reason codes that name their own cause; the rest (Timeout, ResponseCodeMismatch,
/// FailedHealthChecks) are symptoms other checks must explain.
const SELF_EXPLAINING: [&str; 7] = [
    "Target.InvalidState",
    "Target.NotRegistered",
    "Target.NotInUse",
    "Target.IpUnusable",
    "Target.DeregistrationInProgress",
    "Target.HealthCheckDisabled",
    "Elb.InternalError",
];

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let targets = ctx.need_targets()?;
    Ok(judge(ctx, targets))
}

fn judge(ctx: &View, targets: &[TargetHealth]) -> Finding {
    let tg_name = ctx.tg.as_ref().map(|t| t.name.as_str()).unwrap_or("the target group");
    if targets.is_empty() {
        return Finding::fail(
            ID,
            "No targets registered",
            format!("{tg_name} has no registered targets, so the load balancer has nowhere to send traffic."),
        )
        .remediation(vec![
            "Check that the TargetGroupBinding exists and the AWS Load Balancer Controller is running: kubectl get targetgroupbindings -A"
                .into(),
        ]);
    }
    let mut by_reason: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut transitional = 0;
    for t in targets {
        if t.is_unhealthy() {
            by_reason
                .entry(t.reason.clone().unwrap_or_else(|| t.state.clone()))
                .or_default()
                .push(&t.id);
        } else if t.state != "healthy" {
            transitional += 1;
        }
    }
    let unhealthy: usize = by_reason.values().map(Vec::len).sum();
    // A mismatch whose codes are all 5xx is the application reporting itself unhealthy.
    let meaning = |reason: &str, ids: &[&str]| {
        let app_says_unhealthy = reason == "Target.ResponseCodeMismatch"
            && ids.iter().all(|id| {
                (targets.iter().find(|t| t.id == *id)).is_some_and(|t| answered_5xx(t.description.as_deref()))
            });
        if app_says_unhealthy {
            APP_UNHEALTHY
        } else {
            explain(reason)
        }
    };
    let reasons: Vec<_> = by_reason
        .iter()
        .map(|(reason, ids)| json!({"reason": reason, "meaning": meaning(reason, ids), "count": ids.len(), "targets": ids}))
        .collect();
    let evidence = json!({"registered": targets.len(), "unhealthy": unhealthy, "reasons": reasons});
    if unhealthy == 0 {
        let f = if transitional > 0 {
            Finding::warn(
                ID,
                "Targets in transition",
                format!(
                    "{transitional} of {} targets are initial or draining; none is unhealthy.",
                    targets.len()
                ),
            )
        } else {
            Finding::pass(
                ID,
                "All targets healthy",
                format!("All {} targets of {tg_name} pass their health checks.", targets.len()),
            )
        };
        return f.evidence(evidence);
    }
    // A target answering its health check with a 5xx explains itself too: the path exists and
    // the application says it is unhealthy (a deep check of a dependency, an overload). The
    // fix is in the application: its logs, not the load balancer's settings.
    let app_5xx: Vec<&TargetHealth> = (targets.iter())
        .filter(|t| t.is_unhealthy() && t.reason.as_deref() == Some("Target.ResponseCodeMismatch"))
        .filter(|t| answered_5xx(t.description.as_deref()))
        .collect();
    let mut explains: Vec<String> = by_reason
        .iter()
        .filter(|(r, _)| SELF_EXPLAINING.contains(&r.as_str()))
        .flat_map(|(_, ids)| ids.iter().map(|s| s.to_string()))
        .collect();
    explains.extend(app_5xx.iter().map(|t| t.id.clone()));
    let mut fixes = vec![format!(
        "aws elbv2 describe-target-health --target-group-arn {} --query 'TargetHealthDescriptions[?TargetHealth.State!=`healthy`]'",
        ctx.snap.request.target_group_arn
    )];
    fixes.extend(logs_of(ctx, &app_5xx));
    let summary: Vec<String> = by_reason.iter().map(|(r, ids)| format!("{r} ({})", ids.len())).collect();
    // The meaning worth reading first: a reason that is its own cause, else the commonest.
    let lead = by_reason
        .iter()
        .find(|(r, _)| SELF_EXPLAINING.contains(&r.as_str()))
        .or_else(|| by_reason.iter().max_by_key(|(_, ids)| ids.len()))
        .map(|(r, ids)| meaning(r, ids))
        .unwrap_or_default();
    Finding::fail(
        ID,
        format!("{unhealthy} of {} targets unhealthy", targets.len()),
        format!(
            "{unhealthy} of {} targets of {tg_name} fail: {} — {lead}",
            targets.len(),
            summary.join(", ")
        ),
    )
    .evidence(evidence)
    .remediation(fixes)
    .explains(explains)
}

/// `kubectl logs` of what answered 5xx: the pod of each ip target, the workload behind instance
/// targets (at most three lines). Names come from the API server (DNS labels), safe to print.
fn logs_of(ctx: &View, targets: &[&TargetHealth]) -> Vec<String> {
    let (ns, _) = ctx.service_name();
    let mut out: Vec<String> = if ctx.is_ip() {
        (targets.iter())
            .filter_map(|t| ctx.pod_by_ip(&t.id))
            .filter_map(|p| p.metadata.name.clone())
            .map(|p| format!("kubectl logs {p} -n {ns} --tail=200   # why it answers the health check with a 5xx"))
            .collect()
    } else if targets.is_empty() {
        vec![]
    } else {
        (ctx.selected.iter())
            .map(|p| crate::snapshot::workload_of(p))
            .map(|w| format!("kubectl logs {w} -n {ns} --tail=200   # why it answers the health check with a 5xx"))
            .collect()
    };
    out.dedup();
    out.truncate(3);
    out
}

/// What a ResponseCodeMismatch of only 5xx answers means: the path exists and the application
/// says it is unhealthy.
const APP_UNHEALTHY: &str = "The application answered the health check with a 5xx: it reports itself unhealthy (often a deep check of a dependency such as a database); read its logs rather than changing the path.";

/// What an ELB reason code means for the person debugging it.
pub fn explain(reason: &str) -> &'static str {
    match reason {
        "Target.Timeout" => {
            "Nothing answered the health check in time: a security group or NACL drops it, or the pod is not listening on the port."
        }
        "Target.ResponseCodeMismatch" => {
            "The target answered with a status code outside the success codes: check the health-check path and matcher."
        }
        "Target.FailedHealthChecks" => {
            "Health-check connections failed (NLB): nothing accepts connections on the port, or the network drops them."
        }
        "Target.NotRegistered" => "The target is not registered: the controller or the TargetGroupBinding did not register it.",
        "Target.NotInUse" => "The target's zone is not enabled on the load balancer, or the target group is not used by a listener.",
        "Target.InvalidState" => "The instance is stopped or terminated.",
        "Target.IpUnusable" => "The IP is in use by a load balancer or is otherwise unusable as a target.",
        "Target.DeregistrationInProgress" => "The target is being deregistered.",
        "Target.HealthCheckDisabled" => "Health checks are disabled for the target group.",
        "Elb.InitialHealthChecking" => "The first health checks are still running.",
        "Elb.InternalError" => "The load balancer hit an internal error: retry, then contact AWS Support.",
        "Elb.RegistrationInProgress" => "The target is still being registered.",
        _ => "See the target's description for details.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn groups_unhealthy_targets_by_reason_with_meaning() {
        // GIVEN two timeouts, one mismatch and one healthy target
        let snap = SnapshotB::instance()
            .targets(vec![
                target_r("i-1", 32663, "unhealthy", "Target.Timeout"),
                target_r("i-2", 32663, "unhealthy", "Target.Timeout"),
                target_r("i-3", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
                target("i-4", 32663, "healthy"),
            ])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails with each reason counted and explained
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence["unhealthy"], 3);
        assert_eq!(f.evidence["reasons"][1]["reason"], "Target.Timeout");
        assert_eq!(f.evidence["reasons"][1]["targets"], json!(["i-1", "i-2"]));
        assert!(f.evidence["reasons"][0]["meaning"].as_str().unwrap().contains("status code"));
    }

    #[test]
    fn only_self_explaining_reasons_are_explained_here() {
        // GIVEN a stopped instance and a timeout
        let snap = SnapshotB::instance()
            .targets(vec![
                target_r("i-1", 32663, "unused", "Target.InvalidState"),
                target_r("i-2", 32663, "unhealthy", "Target.Timeout"),
            ])
            .build();
        // THEN only the stopped instance is explained by its reason code
        assert_eq!(CHECK.on(&snap).explains, vec!["i-1"]);
    }

    #[test]
    fn all_healthy_passes() {
        let snap = SnapshotB::instance().targets(vec![target("i-1", 32663, "healthy")]).build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn no_registered_targets_fails() {
        let snap = SnapshotB::instance().targets(vec![]).build();
        let f = CHECK.on(&snap);
        assert_eq!((f.status, f.title.as_str()), (Status::Fail, "No targets registered"));
    }

    #[test]
    fn describe_target_health_denied_is_unknown_naming_the_permission() {
        let snap = SnapshotB::instance().target_health_denied().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("elasticloadbalancing:DescribeTargetHealth"), "{}", f.detail);
    }

    #[test]
    fn mismatch_with_only_5xx_answers_is_the_application_reporting_unhealthy() {
        // GIVEN targets whose health check answered 503
        let mut t = target_r("i-1", 32663, "unhealthy", "Target.ResponseCodeMismatch");
        t.description = Some("Health checks failed with these codes: [503]".into());
        let snap = SnapshotB::instance().targets(vec![t]).build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the meaning says the application reports itself unhealthy, not "check the path"
        assert!(f.detail.contains("reports itself unhealthy"), "{}", f.detail);
        assert!(!f.detail.contains("check the health-check path"), "{}", f.detail);
        // AND the target is explained here, with the workload's logs to read
        assert_eq!(f.explains, vec!["i-1"]);
        assert!(
            f.remediation.contains(&"kubectl logs deployment/alb-instance -n default --tail=200   # why it answers the health check with a 5xx".to_string()),
            "{:?}",
            f.remediation
        );
    }

    #[test]
    fn ip_target_answering_502_names_its_pods_logs() {
        let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
        t.description = Some("Health checks failed with these codes: [502]".into());
        let f = CHECK.on(&SnapshotB::ip().targets(vec![t]).build());
        assert_eq!(f.remediation[1], "kubectl logs web-2 -n shop --tail=200   # why it answers the health check with a 5xx");
    }
}
