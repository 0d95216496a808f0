//! `pod-status` (article §1): the pods behind the Service are Running with every container ready.
//!
//! A pod that is not ready is removed from the endpoints, so the load balancer's health checks
//! to it (ip targets) or through its node (instance targets, when no other pod is ready) fail.
//! Names the container state that explains it (CrashLoopBackOff, ImagePullBackOff, OOMKilled,
//! unschedulable) and the readiness-probe failure message from the pod's events.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::snapshot::{pod_name, pod_ready, workload_of, ServiceShape};
use crate::snapshot::gate_blocked;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;

pub const CHECK: Check = Check {
    id: CheckId::POD_STATUS,
    section: "§1",
    layer: Layer::Pods,
    verifies: "selected pods Running and ready; CrashLoopBackOff, ImagePullBackOff, OOMKilled, unschedulable, restarts, Warning events (probe failures, back-offs)",
    needs: "pods, events",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;
/// Restarts above this are worth a warning even when the pod is ready now.
const RESTART_WARN: i32 = 3;
/// Warning events quoted per pod.
const MAX_EVENTS: usize = 3;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_service()?;
    ctx.need_pods()?;
    match ctx.service_shape() {
        Some(ServiceShape::ExternalName) => return Err(ctx.skipped("ExternalName Service: it has no pods")),
        Some(ServiceShape::NoSelector) => {
            return Err(ctx.skipped("the Service has no selector: its endpoints are managed by hand, not by pods"))
        }
        _ => {}
    }
    if ctx.selected.is_empty() {
        return Err(ctx.skipped("the Service's selector matches no pods (see selector-match)"));
    }
    Ok(judge(ctx))
}

fn judge(ctx: &View) -> Finding {
    let (ns, _) = ctx.service_name();
    let reports: Vec<PodReport> = ctx.selected.iter().map(|p| PodReport::of(p, ctx)).collect();
    // Pods held back only by their load-balancer readiness gate wait on the load balancer;
    // readiness-gates reports them.
    let gated: Vec<&str> = ctx.selected.iter().filter(|p| gate_blocked(p)).map(|p| pod_name(p)).collect();
    let not_ready: Vec<&PodReport> = reports.iter().filter(|r| !r.ready && !gated.contains(&r.name.as_str())).collect();
    let evidence = json!({"pods": reports.iter().map(PodReport::json).collect::<Vec<_>>(), "waitingOnReadinessGate": gated});
    if not_ready.is_empty() && !gated.is_empty() {
        return Finding::warn(
            ID,
            format!("{} pods wait on their readiness gate", gated.len()),
            format!(
                "{} pods have ready containers but wait on their target-health readiness gate: {} (see readiness-gates).",
                gated.len(),
                gated.join(", ")
            ),
        )
        .evidence(evidence);
    }
    if not_ready.is_empty() {
        let restarting: Vec<&PodReport> = reports
            .iter()
            .filter(|r| r.restarts > RESTART_WARN || r.problems.iter().any(|p| p.contains("OOMKilled")))
            .collect();
        if let Some(r) = restarting.first() {
            return Finding::warn(
                ID,
                "Pods ready but restarting",
                format!(
                    "All {} pods are ready, but {} restarted {} times ({}).",
                    reports.len(),
                    r.name,
                    r.restarts,
                    r.problems.join("; ")
                ),
            )
            .evidence(evidence)
            .remediation(vec![format!("kubectl logs {} -n {ns} --previous", r.name)]);
        }
        return Finding::pass(
            ID,
            format!("{} pods running and ready", reports.len()),
            format!(
                "All {} pods selected by the Service are Running with every container ready.",
                reports.len()
            ),
        )
        .evidence(evidence);
    }
    let not_ready_pods: Vec<&Pod> = ctx.selected.iter().copied().filter(|p| !pod_ready(p) && !gate_blocked(p)).collect();
    // ip targets are the pods themselves; instance targets only fail for this when no pod at
    // all is ready (with Cluster policy a node forwards to any ready pod).
    let explains = if ctx.is_ip() {
        ctx.targets_of_pods(&not_ready_pods)
    } else if not_ready.len() == reports.len() {
        ctx.unhealthy_ids()
    } else {
        vec![]
    };
    let first = not_ready[0];
    let lines: Vec<String> = not_ready.iter().map(|r| format!("{}: {}", r.name, r.problems.join("; "))).collect();
    Finding::fail(
        ID,
        format!("{} of {} pods not ready", not_ready.len(), reports.len()),
        format!(
            "{} of {} pods behind the Service are not ready: {}.",
            not_ready.len(),
            reports.len(),
            lines.join(" | ")
        ),
    )
    .evidence(evidence)
    .remediation(remediation(first, &ns))
    .explains(explains)
}

/// What one pod's status says, in words.
struct PodReport {
    name: String,
    workload: String,
    node: Option<String>,
    phase: String,
    ready: bool,
    restarts: i32,
    problems: Vec<String>,
}

impl PodReport {
    fn of(pod: &Pod, ctx: &View) -> Self {
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into());
        let mut problems = Vec::new();
        if pod.metadata.deletion_timestamp.is_some() {
            problems.push("terminating".to_string());
        }
        let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        if let Some(c) = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False") {
            problems.push(format!(
                "not scheduled ({}: {})",
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message.as_deref().unwrap_or("")
            ));
        } else if phase != "Running" {
            problems.push(format!("phase {phase}"));
        }
        let mut restarts = 0;
        for cs in status.and_then(|s| s.container_statuses.as_deref()).unwrap_or(&[]) {
            restarts += cs.restart_count;
            let state = cs.state.as_ref();
            if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or("Waiting");
                problems.push(format!(
                    "container {} {reason}{}",
                    cs.name,
                    w.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                ));
            } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                problems.push(format!(
                    "container {} terminated ({}, exit {})",
                    cs.name,
                    t.reason.as_deref().unwrap_or("?"),
                    t.exit_code
                ));
            } else if !cs.ready {
                problems.push(format!("container {} not ready", cs.name));
            }
            if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                if t.reason.as_deref() == Some("OOMKilled") || cs.restart_count > 0 {
                    problems.push(format!(
                        "container {} last terminated {} (exit {}), {} restarts",
                        cs.name,
                        t.reason.as_deref().unwrap_or("?"),
                        t.exit_code,
                        cs.restart_count
                    ));
                }
            }
        }
        let name = pod_name(pod).to_string();
        // Probe failures, back-offs and mount errors are only in the pod's Warning events
        // (the newest few; the list is sorted oldest first).
        let warnings: Vec<_> = ctx
            .events()
            .iter()
            .filter(|e| e.kind == "Pod" && e.name == name && e.event_type == "Warning")
            .collect();
        for e in warnings.iter().rev().take(MAX_EVENTS).rev() {
            problems.push(format!("{}: {} (x{})", e.reason, e.message.trim(), e.count.max(1)));
        }
        let ready = crate::snapshot::pod_ready(pod) && pod.metadata.deletion_timestamp.is_none();
        if !ready && problems.is_empty() {
            problems.push("Ready condition is not True".into());
        }
        PodReport {
            workload: workload_of(pod),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            name,
            phase,
            ready,
            restarts,
            problems,
        }
    }

    fn json(&self) -> Value {
        json!({"name": self.name, "workload": self.workload, "node": self.node, "phase": self.phase, "ready": self.ready, "restarts": self.restarts, "problems": self.problems})
    }
}

fn remediation(r: &PodReport, ns: &str) -> Vec<String> {
    let all = r.problems.join(" ");
    let mut steps = Vec::new();
    if all.contains("CrashLoopBackOff") || all.contains("Error") {
        steps.push(format!("kubectl logs {} -n {ns} --previous", r.name));
    }
    if all.contains("ImagePullBackOff") || all.contains("ErrImagePull") {
        steps.push(format!(
            "kubectl describe pod {} -n {ns}   # check the image name, tag and registry credentials",
            r.name
        ));
    }
    if all.contains("OOMKilled") {
        steps.push(format!(
            "kubectl set resources {} -n {ns} --limits=memory=<more>   # the container was OOMKilled",
            r.workload
        ));
    }
    if all.contains("not scheduled") {
        steps.push(format!(
            "kubectl describe pod {} -n {ns}   # see why no node fits (resources, taints, affinity)",
            r.name
        ));
    }
    if all.contains("probe failed") {
        steps.push(format!(
            "kubectl describe pod {} -n {ns}   # compare the readinessProbe path/port with what the app serves",
            r.name
        ));
    }
    steps.push(format!("kubectl get pods -n {ns} -o wide"));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn all_selected_pods_ready_passes() {
        let snap = SnapshotB::ip().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn crash_looping_pod_fails_only_its_ip_target_with_logs_command() {
        // GIVEN two pods behind ip targets, one crash-looping
        let snap = SnapshotB::ip()
            .pods(vec![
                PodB::new("shop", "web-1").labels(&[("app", "web")]).ip("10.0.1.10").ready().build(),
                PodB::new("shop", "web-2")
                    .labels(&[("app", "web")])
                    .ip("10.0.2.11")
                    .waiting("CrashLoopBackOff")
                    .restarts(7)
                    .build(),
            ])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails naming the state, explains only that pod's target, and offers the logs
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("web-2: container app CrashLoopBackOff"), "{}", f.detail);
        assert_eq!(f.explains, vec!["10.0.2.11"]);
        assert!(f.remediation[0].contains("kubectl logs web-2 -n shop --previous"));
    }

    #[test]
    fn readiness_probe_failure_message_comes_from_events() {
        let snap = SnapshotB::ip()
            .pods(vec![PodB::new("shop", "web-1")
                .labels(&[("app", "web")])
                .ip("10.0.1.10")
                .not_ready()
                .build()])
            .events(vec![event(
                "Pod",
                "web-1",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("Readiness probe failed: HTTP probe failed with statuscode: 503"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn pod_not_yet_scheduled_is_named_with_scheduler_message() {
        let snap = SnapshotB::ip()
            .pods(vec![PodB::new("shop", "web-1")
                .labels(&[("app", "web")])
                .unscheduled("0/3 nodes are available: 3 Insufficient cpu.")
                .build()])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail
                .contains("not scheduled (Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.)"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn oom_killed_container_names_its_deployment_in_the_fix() {
        let snap = SnapshotB::instance()
            .pods(vec![PodB::new("default", "alb-instance-6cc5cd9b9-prnxw")
                .labels(&[("app", "alb-instance"), ("pod-template-hash", "6cc5cd9b9")])
                .owner("ReplicaSet", "alb-instance-6cc5cd9b9")
                .waiting("CrashLoopBackOff")
                .oom_killed()
                .build()])
            .build();
        let f = CHECK.on(&snap);
        assert!(
            f.remediation
                .iter()
                .any(|r| r.contains("kubectl set resources deployment/alb-instance -n default")),
            "{:?}",
            f.remediation
        );
        // instance targets and no ready pod at all: every unhealthy target is explained
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }

    #[test]
    fn pods_held_by_their_readiness_gate_warn_and_explain_nothing() {
        let snap = SnapshotB::ip()
            .pods(vec![PodB::new("shop", "web-1")
                .labels(&[("app", "web")])
                .ip("10.0.1.10")
                .gate("tg", "False", "Target.Timeout")
                .held_by_gate()
                .build()])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.explains.is_empty());
        assert!(f.detail.contains("see readiness-gates"));
    }

    #[test]
    fn pods_of_other_namespaces_are_not_behind_the_service() {
        // GIVEN a crash-looping pod with the same labels in another namespace
        let snap = SnapshotB::ip()
            .pods(vec![
                PodB::new("shop", "web-1").labels(&[("app", "web")]).ip("10.0.1.10").ready().build(),
                PodB::new("other", "web-x")
                    .labels(&[("app", "web")])
                    .waiting("CrashLoopBackOff")
                    .build(),
            ])
            .build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn external_name_and_selectorless_services_are_skipped_with_reason() {
        let ext = SnapshotB::ip()
            .service(ServiceB::new("shop", "web").external_name("db.example.com").build())
            .build();
        let f = CHECK.on(&ext);
        assert_eq!((f.status, f.detail.contains("ExternalName")), (Status::Skipped, true));
        let manual = SnapshotB::ip().service(ServiceB::new("shop", "web").port(80, 8080).build()).build();
        let f = CHECK.on(&manual);
        assert_eq!((f.status, f.detail.contains("no selector")), (Status::Skipped, true));
    }
}
