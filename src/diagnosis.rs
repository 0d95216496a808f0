//! The diagnosis: the verdict, every finding, and the targets (ARCHITECTURE.md, "Contracts", schemaVersion 1).
//! Built from a snapshot and the findings; pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::checks::{self, CheckId, Finding, Status};
use crate::snapshot::{PortRef, Snapshot, View};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub schema_version: u32,
    pub target_group: TargetGroupInfo,
    pub cluster: Option<String>,
    pub service: Option<ServiceInfo>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub targets: Vec<TargetInfo>,
    /// Additive (schemaVersion 1): rollouts and Service edits in the window before the alarm
    /// (`changes::recent`), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_changes: Vec<crate::changes::Change>,
    /// Additive (schemaVersion 1): the console page of the function's log stream for this run,
    /// on Lambda.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_logs: Option<String>,
    /// Additive (schemaVersion 1): why AWS changes (CloudTrail) are not known, when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_changes_unknown: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupInfo {
    pub arn: String,
    pub name: String,
    pub target_type: Option<String>,
    pub protocol: Option<String>,
    pub health_check: Option<HealthCheckInfo>,
    /// Additive (schemaVersion 1): the load balancers in front of it, for console links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckInfo {
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    /// The Service port number (a port name resolved through the Service when possible).
    pub port: Option<PortRef>,
    pub resolved_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictStatus {
    Healthy,
    Problem,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub status: VerdictStatus,
    pub root_cause: Option<CheckId>,
    pub summary: String,
    /// Additive (schemaVersion 1): set when what the alarm saw is a passing state (targets
    /// registering or draining), with when it should settle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    pub id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
    /// `namespace/name` of the pod behind the target (ip targets), if known.
    pub pod: Option<String>,
    pub node: Option<String>,
}

impl Diagnosis {
    /// Runs the catalogue over the snapshot and ranks the verdict.
    pub fn from_snapshot(snap: &Snapshot) -> Diagnosis {
        let ctx = View::new(snap);
        let findings = checks::run(&ctx);
        let changes = crate::changes::recent(snap);
        let tg = ctx.tg.as_ref().ok();
        Diagnosis {
            schema_version: SCHEMA_VERSION,
            target_group: TargetGroupInfo {
                arn: snap.request.target_group_arn.clone(),
                name: tg
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| name_from_arn(&snap.request.target_group_arn)),
                target_type: tg.map(|t| t.target_type.clone()),
                protocol: tg.and_then(|t| t.protocol.clone()),
                health_check: tg.map(|t| HealthCheckInfo {
                    protocol: t.health_check.protocol.clone(),
                    port: t.health_check.port.clone(),
                    path: t.health_check.path.clone(),
                    matcher: t.health_check.matcher.clone(),
                }),
                load_balancer_arns: tg.map(|t| t.load_balancer_arns.clone()).unwrap_or_default(),
            },
            cluster: snap.resolution.cluster.clone().or_else(|| snap.request.cluster.clone()),
            service: snap.resolution.service.as_ref().map(|s| ServiceInfo {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                port: ctx.service_port().map(|p| PortRef::Number(p.port)).or_else(|| s.port.clone()),
                resolved_by: s.resolved_by.clone(),
            }),
            verdict: with_fitting_change(verdict(&ctx, &findings), &changes),
            targets: targets(&ctx),
            findings,
            recent_changes: changes,
            function_logs: None,
            aws_changes_unknown: crate::changes::aws_unknown(snap),
        }
    }

    /// CLI exit code: 0 nothing wrong found, 1 problems found (inconclusive counts: targets are unhealthy).
    pub fn exit_code(&self) -> i32 {
        match self.verdict.status {
            VerdictStatus::Healthy => 0,
            _ => 1,
        }
    }

    /// The finding of a check, looked up by id: a diagnosis read from elsewhere (older, edited)
    /// may lack one.
    /// How many checks lacked the evidence to decide.
    pub fn unknown_findings(&self) -> usize {
        self.findings.iter().filter(|f| f.status == crate::checks::Status::Unknown).count()
    }

    pub fn finding(&self, id: CheckId) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == id)
    }

    pub fn finding_mut(&mut self, id: CheckId) -> Option<&mut Finding> {
        self.findings.iter_mut().find(|f| f.check == id)
    }
}

/// The parts of a pod template whose change can make each root cause. A Service edit is listed
/// among the changes but never cited: what it changed is not known.
fn fits(root: CheckId) -> &'static [&'static str] {
    match root {
        CheckId::SELECTOR_MATCH => &["labels"],
        CheckId::TARGET_PORT => &["ports"],
        CheckId::HEALTH_CHECK_CONFIG => &["readinessProbe", "ports", "target-group"],
        CheckId::POD_STATUS => &["image", "livenessProbe", "readinessProbe", "resources"],
        CheckId::ENDPOINTS => &["readinessProbe", "labels", "targets"],
        CheckId::SECURITY_GROUPS => &["security-group"],
        CheckId::NETWORK_ACLS => &["network-acl"],
        CheckId::ROUTE_TABLES => &["route-table"],
        CheckId::TARGET_HEALTH => &["target-group", "targets"],
        _ => &[],
    }
}

/// A root cause that a recent change fits is said to follow it: "the health-check path changed
/// four minutes before the alarm" is what the engineer asks first. Nothing is claimed otherwise.
fn with_fitting_change(mut v: Verdict, changes: &[crate::changes::Change]) -> Verdict {
    let Some(root) = v.root_cause else { return v };
    let fit = changes.iter().find(|c| c.touches.iter().any(|t| fits(root).contains(&t.as_str())));
    if let Some(c) = fit {
        v.summary.push_str(&format!(" It follows a change: {}.", c.sentence()));
    }
    v
}

/// The root cause is the failing check that explains the most unhealthy targets; ties go to
/// the earlier check in causal order (ARCHITECTURE.md, "Verdict"). While targets are unhealthy, a
/// failing check that explains none of them is no root cause (a controller log line, a rollout's
/// readiness gates): the verdict is then inconclusive and names it. `target-health` is a
/// candidate only for the targets whose reason code is a cause in itself (a stopped instance).
fn verdict(ctx: &View, findings: &[Finding]) -> Verdict {
    let failing: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Fail && (f.check != CheckId::TARGET_HEALTH || !f.explains.is_empty()))
        .collect();
    // Unhealthy targets expected to heal by themselves (a node leaving, a pod replaced) are set
    // apart: no root cause is named for them, and a fix would be wrong. A weak transition (a new
    // pod waiting on its gate) yields to a failing check that explains the target, other than
    // the two that restate the symptom (the load balancer's reason code; the gate waiting on it).
    let by_checks: BTreeSet<&str> = (failing.iter())
        .filter(|f| ![CheckId::TARGET_HEALTH, CheckId::READINESS_GATES].contains(&f.check))
        .flat_map(|f| f.explains.iter().map(String::as_str))
        .collect();
    let transitions: BTreeMap<String, crate::snapshot::Transition> = (ctx.in_transition().into_iter())
        .filter(|(id, t)| t.strong || !by_checks.contains(id.as_str()))
        .collect();
    let in_transition = transient_unhealthy(&transitions);
    // A group shared between clusters: only this cluster's targets are judged here.
    let others = ctx.other_clusters().unwrap_or_default();
    let others_unhealthy = ctx.unhealthy().iter().filter(|t| others.contains(t.id.as_str())).count();
    let all_unhealthy = ctx.unhealthy().len() - others_unhealthy;
    // Unhealthy target id → its reason code, built once: candidates are compared many times.
    let unhealthy_reasons: BTreeMap<&str, Option<&str>> = (ctx.unhealthy().into_iter())
        .filter(|t| !transitions.contains_key(&t.id) && !others.contains(t.id.as_str()))
        .map(|t| (t.id.as_str(), t.reason.as_deref()))
        .collect();
    let unhealthy_ids: BTreeSet<&str> = unhealthy_reasons.keys().copied().collect();
    let unhealthy = unhealthy_ids.len();
    let total = ctx.targets.as_ref().map(|t| t.len()).unwrap_or(0) - others.len();
    let explained = |f: &Finding| f.explains.iter().filter(|id| unhealthy_ids.contains(id.as_str())).count();
    // Of those, how many fail with a reason code this kind of cause produces (a blocked port
    // times out; it does not answer 404): breaks ties before the causal order.
    let fitting = |f: &Finding| match f.check.check().map(|c| c.reasons) {
        None | Some([]) => explained(f),
        Some(reasons) => (f.explains.iter())
            .filter(|id| {
                unhealthy_reasons
                    .get(id.as_str())
                    .copied()
                    .flatten()
                    .is_some_and(|r| reasons.contains(&r))
            })
            .count(),
    };
    let symptom = if ctx.targets.is_err() {
        "Target health is unknown".to_string()
    } else if total == 0 {
        "No targets are registered".to_string()
    } else if !others.is_empty() {
        format!(
            "{all_unhealthy} of {total} targets of this cluster unhealthy ({} more, {others_unhealthy} of them unhealthy, are other clusters' in this shared group (multiClusterTargetGroup) and are judged there{})",
            others.len(),
            if ctx.is_ip() { "; a stale target of ours would look the same: the controller's ConfigMap aws-lbc-targets-<binding> lists ours" } else { "" }
        )
    } else {
        format!("{all_unhealthy} of {total} targets unhealthy")
    };
    if let (0, Some(why)) = (unhealthy, &in_transition) {
        return Verdict {
            status: VerdictStatus::Inconclusive,
            root_cause: None,
            summary: format!(
                "{symptom}; {why} Run again after that if {} still unhealthy.",
                if transitions.len() == 1 { "it is" } else { "they are" }
            ),
            transient: Some(why.clone()),
        };
    }
    if unhealthy == 0 && in_transition.is_none() && others_unhealthy > 0 {
        return Verdict {
            status: VerdictStatus::Inconclusive,
            root_cause: None,
            summary: format!(
                "{symptom}; this cluster's targets are healthy: diagnose the unhealthy ones in the cluster that registered them."
            ),
            transient: None,
        };
    }
    let note = in_transition.as_ref().map(|w| format!(" Also {w}")).unwrap_or_default();
    let root = failing
        .iter()
        .copied()
        // With no unhealthy target to explain (none registered, health unknown), any failing
        // check may be the cause (a controller that cannot register targets).
        .filter(|f| unhealthy == 0 || explained(f) > 0)
        .max_by_key(|f| {
            (
                // A fault healthy targets share (and pass with) is demoted below the rest.
                f.shared_by_healthy.is_empty(),
                explained(f),
                fitting(f),
                std::cmp::Reverse(
                    f.check
                        .check()
                        .map_or((checks::Layer::Symptom, usize::MAX), |c| c.causal_position()),
                ),
            )
        });
    if let Some(root) = root {
        // Unhealthy targets the root cause leaves unexplained are named, not hidden.
        let by_root: BTreeSet<&str> = root.explains.iter().map(String::as_str).collect();
        let rest: BTreeSet<&str> = unhealthy_ids.difference(&by_root).copied().collect();
        // Other failing checks that explain some of those: contributing causes.
        let mut contributing: Vec<CheckId> = failing
            .iter()
            .filter(|f| f.check != root.check && f.explains.iter().any(|e| rest.contains(e.as_str())))
            .map(|f| f.check)
            .collect();
        // target-health's own reason codes are the symptom a more specific check names.
        if contributing.len() > 1 {
            contributing.retain(|c| *c != CheckId::TARGET_HEALTH);
        }
        let by = match contributing.as_slice() {
            [] => String::new(),
            c => format!(" (contributing: {})", c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")),
        };
        let rest = match rest.len() {
            0 => String::new(),
            n => format!(
                " It does not explain {n} other unhealthy target{}: {}{by}.",
                if n == 1 { "" } else { "s" },
                shown(&rest.iter().copied().collect::<Vec<_>>())
            ),
        };
        let shared = match root.shared_by_healthy.as_slice() {
            [] => String::new(),
            ids => format!(
                " Caution: healthy targets show the same fault ({}), so it may not be why these fail.",
                shown(&ids.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        };
        return Verdict {
            status: VerdictStatus::Problem,
            root_cause: Some(root.check),
            summary: format!(
                "{symptom}; root cause {}: {}{rest}{shared}{note}",
                root.check,
                first_sentence(&root.detail)
            ),
            transient: in_transition,
        };
    }
    if unhealthy > 0 && !failing.is_empty() {
        let names: Vec<&str> = failing.iter().map(|f| f.check.as_str()).collect();
        return Verdict {
            status: VerdictStatus::Inconclusive,
            root_cause: None,
            summary: format!(
                "{symptom}; failing checks explain none of them ({}): no root cause is named.{note}",
                names.join(", ")
            ),
            transient: in_transition,
        };
    }
    let unknown: Vec<&str> = findings
        .iter()
        .filter(|f| f.status == Status::Unknown)
        .map(|f| f.check.as_str())
        .collect();
    if unhealthy > 0 || total == 0 || ctx.targets.is_err() {
        let missing = if unknown.is_empty() {
            String::new()
        } else {
            format!(" (without evidence: {})", unknown.join(", "))
        };
        return Verdict {
            status: VerdictStatus::Inconclusive,
            root_cause: None,
            summary: format!("{symptom} and no check found the cause{missing}.{note}"),
            transient: in_transition,
        };
    }
    // Nothing unhealthy, but not all healthy either: an alarm during registration or draining.
    if let Some(why) = transient(ctx) {
        return Verdict {
            status: VerdictStatus::Healthy,
            root_cause: None,
            summary: format!("No target is unhealthy and no check failed; {why}"),
            transient: Some(why),
        };
    }
    Verdict {
        status: VerdictStatus::Healthy,
        root_cause: None,
        summary: format!("All {total} targets healthy; no check failed."),
        transient: None,
    }
}

/// The unhealthy targets in transition, grouped by when they heal: "transient: 2 unhealthy
/// targets are expected to heal: 10.0.1.5 (pod web-1 is terminating) … (deregistered within …)."
fn transient_unhealthy(transitions: &BTreeMap<String, crate::snapshot::Transition>) -> Option<String> {
    if transitions.is_empty() {
        return None;
    }
    let mut by_heal: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (id, t) in transitions {
        by_heal.entry(t.heals.as_str()).or_default().push(format!("{id} ({})", t.why));
    }
    let groups: Vec<String> = by_heal
        .into_iter()
        .map(|(heals, ids)| {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            format!("{}: {heals}", shown(&refs))
        })
        .collect();
    let n = transitions.len();
    Some(format!(
        "transient: {n} unhealthy target{} expected to heal by {}: {}.",
        if n == 1 { " is" } else { "s are" },
        if n == 1 { "itself" } else { "themselves" },
        groups.join("; ")
    ))
}

/// Targets registering (`initial`) or leaving (`draining`): a passing state, with when it
/// settles. A new target needs `healthy threshold` passing checks `interval` apart; a draining
/// one leaves after the target group's deregistration delay (AWS default 300 s).
fn transient(ctx: &View) -> Option<String> {
    let targets = ctx.targets.as_ref().ok()?;
    let count = |state: &str| targets.iter().filter(|t| t.state == state).count();
    let (initial, draining) = (count("initial"), count("draining"));
    if initial + draining == 0 {
        return None;
    }
    let mut parts = Vec::new();
    if initial > 0 {
        let when = (ctx.healthy_after_seconds())
            .map(|s| format!(", healthy after about {s} s of passing checks"))
            .unwrap_or_default();
        parts.push(format!("{initial} registering (initial{when})"));
    }
    if draining > 0 {
        let delay = ctx.deregistration_delay();
        parts.push(format!("{draining} draining (gone within the {delay} s deregistration delay)"));
    }
    Some(format!(
        "transient: {} of {} targets are in transition, {}; expected to heal by itself.",
        initial + draining,
        targets.len(),
        parts.join(", ")
    ))
}

fn targets(ctx: &View) -> Vec<TargetInfo> {
    let Ok(targets) = &ctx.targets else {
        return vec![];
    };
    targets
        .iter()
        .map(|t| {
            let pod = if ctx.is_ip() { ctx.pod_by_ip(&t.id) } else { None };
            let node = match pod {
                Some(p) => p.spec.as_ref().and_then(|s| s.node_name.clone()),
                None => ctx.node_by_instance(&t.id).and_then(|n| n.metadata.name.clone()),
            };
            // A Node's providerID is aws:///ZONE/INSTANCE: a zone when the API gave none.
            let zone = t.availability_zone.clone().or_else(|| {
                let node = ctx.snap.kube.nodes.ok()?.iter().find(|n| n.metadata.name == node)?;
                let provider = node.spec.as_ref()?.provider_id.as_deref()?;
                provider.strip_prefix("aws:///")?.split('/').next().map(str::to_string)
            });
            TargetInfo {
                id: t.id.clone(),
                port: t.port,
                availability_zone: zone,
                state: t.state.clone(),
                reason: t.reason.clone(),
                description: t.description.clone(),
                pod: pod.map(|p| {
                    format!(
                        "{}/{}",
                        p.metadata.namespace.as_deref().unwrap_or(""),
                        p.metadata.name.as_deref().unwrap_or("")
                    )
                }),
                node,
            }
        })
        .collect()
}

/// At most five ids, then how many more.
fn shown(ids: &[&str]) -> String {
    let mut out = ids.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > 5 {
        out.push_str(&format!(" and {} more", ids.len() - 5));
    }
    out
}

pub fn name_from_arn(arn: &str) -> String {
    arn.split('/').nth(1).unwrap_or(arn).to_string()
}

fn first_sentence(s: &str) -> String {
    let end = s.find(". ").map(|i| i + 1).unwrap_or(s.len());
    let mut out = s[..end].to_string();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    #[test]
    fn only_a_change_that_fits_the_root_cause_is_cited() {
        // GIVEN the article (selector-match) and a rollout of its workload 5 minutes before the run
        let rollout = |labels: &[(&str, &str)], image: &str| crate::snapshot::ReplicaSetView {
            name: "alb-instance-6cc5cd9b9".into(),
            deployment: Some("alb-instance".into()),
            revision: Some(2),
            created_at: Some("2026-11-27T08:55:00Z".into()),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            containers: vec![crate::snapshot::ContainerTemplate {
                name: "app".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
        };
        let previous = |image: &str| crate::snapshot::ReplicaSetView {
            name: "alb-instance-5f6d7c8b9".into(),
            revision: Some(1),
            created_at: Some("2026-11-20T08:00:00Z".into()),
            ..rollout(&[("app", "alb-instance-1")], image)
        };
        let diagnose = |sets: Vec<crate::snapshot::ReplicaSetView>| {
            let mut b = SnapshotB::article();
            b.kube().replica_sets = Fetched::Ok(sets);
            Diagnosis::from_snapshot(&b.build())
        };
        // WHEN the rollout changed only the image THEN it is listed but not cited
        let d = diagnose(vec![previous("app:1"), rollout(&[("app", "alb-instance-1")], "app:2")]);
        assert_eq!(d.recent_changes.len(), 1);
        assert!(!d.verdict.summary.contains("It follows a change"), "{}", d.verdict.summary);
        // WHEN it changed the pod labels THEN the selector mismatch is said to follow it
        let d = diagnose(vec![previous("app:1"), rollout(&[("app", "alb-instance")], "app:1")]);
        assert!(
            d.verdict.summary.ends_with(
                "It follows a change: deployment/alb-instance revision 2, 5 minutes before this run: pod label app=alb-instance (was alb-instance-1)."
            ),
            "{}",
            d.verdict.summary
        );
    }

    /// Instance targets, Cluster policy: i-0bbb times out, and one of two pods crash-loops (the
    /// other still serves every node, so pod-status explains no target).
    fn one_of_two_pods_down_and_i_0bbb_timing_out() -> SnapshotB {
        SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .pods(vec![
                PodB::new("default", "a")
                    .labels(&[("app", "alb-instance")])
                    .container_port(80, Some("http"))
                    .node("node-a")
                    .ip("192.168.10.11")
                    .ready()
                    .build(),
                PodB::new("default", "b")
                    .labels(&[("app", "alb-instance")])
                    .container_port(80, Some("http"))
                    .node("node-b")
                    .waiting("CrashLoopBackOff")
                    .build(),
            ])
    }

    #[test]
    fn article_root_cause_is_selector_match_over_endpoints_by_causal_order() {
        // GIVEN the article's snapshot: selector-match and endpoints both explain both targets
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        // THEN selector-match wins the tie (earlier in causal order)
        assert_eq!(d.verdict.status, VerdictStatus::Problem);
        assert_eq!(d.verdict.root_cause, Some(CheckId::SELECTOR_MATCH));
        assert_eq!(d.finding(CheckId::ENDPOINTS).unwrap().status, Status::Fail);
        assert!(
            d.verdict
                .summary
                .starts_with("2 of 2 targets unhealthy; root cause selector-match: Selector `app=alb-instance-1`"),
            "{}",
            d.verdict.summary
        );
    }

    #[test]
    fn check_explaining_more_targets_beats_causal_order() {
        // GIVEN ip targets: web-2 crash-looping (explains 1) and a stale target (explains 1 more for endpoints)
        let snap = SnapshotB::ip()
            .targets(vec![
                target_r("10.0.2.11", 8080, "unhealthy", "Target.Timeout"),
                target_r("192.168.9.9", 8080, "unhealthy", "Target.Timeout"),
            ])
            .pods(vec![
                PodB::new("shop", "web-1").labels(&[("app", "web")]).ip("10.0.1.10").ready().build(),
                PodB::new("shop", "web-2")
                    .labels(&[("app", "web")])
                    .ip("10.0.2.11")
                    .waiting("CrashLoopBackOff")
                    .build(),
            ])
            .endpoints(endpoints("shop", "web", &[("10.0.1.10", true), ("10.0.2.11", false)]))
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        // THEN endpoints (stale + not ready = 2) outranks pod-status (1)
        assert_eq!(d.verdict.root_cause, Some(CheckId::ENDPOINTS));
    }

    #[test]
    fn unhealthy_targets_with_no_failing_check_is_inconclusive_naming_unknowns() {
        let snap = SnapshotB::ip().pods_denied().build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(d.verdict.status, VerdictStatus::Inconclusive);
        assert!(
            d.verdict
                .summary
                .contains("without evidence: pod-status, selector-match, target-port"),
            "{}",
            d.verdict.summary
        );
        assert_eq!(d.exit_code(), 1);
    }

    #[test]
    fn stopped_instance_with_nothing_else_wrong_is_explained_by_target_health() {
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unused", "Target.InvalidState"),
            ])
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(d.verdict.root_cause, Some(CheckId::TARGET_HEALTH));
        assert!(d.verdict.summary.contains("Target.InvalidState"), "{}", d.verdict.summary);
    }

    #[test]
    fn network_failure_explaining_a_target_beats_a_partial_pod_failure() {
        // GIVEN i-0bbb blocked by a NACL, and one of two pods crash-looping (instance targets,
        // Cluster policy: the other pod still serves every node)
        let snap = one_of_two_pods_down_and_i_0bbb_timing_out()
            .nacl("acl-b", "subnet-b", vec![nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, true)])
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        // THEN pod-status fails too, but the NACL explains the unhealthy target
        assert_eq!(d.finding(CheckId::POD_STATUS).unwrap().status, Status::Fail);
        assert_eq!(d.verdict.root_cause, Some(CheckId::NETWORK_ACLS));
    }

    #[test]
    fn local_policy_wins_a_tie_with_security_groups_by_causal_order() {
        // GIVEN Local policy with the only pod on node-a, and node-b's group lacking the ALB rule
        let snap = SnapshotB::instance()
            .local_policy()
            .pods(vec![PodB::new("default", "a")
                .labels(&[("app", "alb-instance")])
                .container_port(80, Some("http"))
                .node("node-a")
                .ip("192.168.10.11")
                .ready()
                .build()])
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .add_group(crate::snapshot::SecurityGroup {
                id: "sg-b".into(),
                ..Default::default()
            })
            .instance_groups("i-0bbb", &["sg-b"])
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(d.finding(CheckId::SECURITY_GROUPS).unwrap().status, Status::Fail);
        assert_eq!(d.verdict.root_cause, Some(CheckId::TRAFFIC_POLICY));
    }

    #[test]
    fn selector_explaining_all_beats_a_zone_problem_explaining_one() {
        let snap = SnapshotB::article().lb_zones(&[("us-east-1a", "subnet-lb-a")]).build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(d.finding(CheckId::AVAILABILITY_ZONES).unwrap().status, Status::Fail);
        assert_eq!(d.verdict.root_cause, Some(CheckId::SELECTOR_MATCH));
    }

    #[test]
    fn stopped_instance_is_explained_by_nodes_before_target_health() {
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unused", "Target.InvalidState"),
            ])
            .instance_state("i-0bbb", "stopped")
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(d.verdict.root_cause, Some(CheckId::NODES));
    }

    #[test]
    fn node_without_a_local_pod_whose_forwarded_check_is_dropped_is_security_groups() {
        // GIVEN the only ready pod on node-a, i-0bbb (node-b) timing out, and a node group
        // without its node-to-node rule
        let snap = one_of_two_pods_down_and_i_0bbb_timing_out()
            .sg("sg-node", |g| g.ingress.retain(|r| !r.groups.contains(&"sg-node".to_string())))
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN security-groups explains i-0bbb by the second hop, with the node-to-node rule to add
        assert_eq!(d.verdict.root_cause, Some(CheckId::SECURITY_GROUPS), "{}", d.verdict.summary);
        let f = d.finding(CheckId::SECURITY_GROUPS).unwrap();
        assert!(
            f.detail.contains("kube-proxy forwards their health check to a pod on node-a"),
            "{}",
            f.detail
        );
        assert_eq!(
            f.remediation,
            ["aws ec2 authorize-security-group-ingress --group-id sg-node --protocol tcp --port 80 --source-group sg-node"]
        );
    }

    #[test]
    fn failing_check_that_explains_no_unhealthy_target_is_not_the_root_cause() {
        // GIVEN instance targets (Cluster policy) where i-0bbb times out, and one of two pods
        // crash-loops: the other pod still serves every node, so pod-status explains nothing
        let snap = one_of_two_pods_down_and_i_0bbb_timing_out().build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN pod-status still fails, but it is not named as the cause: inconclusive, naming it
        assert_eq!(d.finding(CheckId::POD_STATUS).unwrap().status, Status::Fail);
        assert_eq!((d.verdict.status, d.verdict.root_cause), (VerdictStatus::Inconclusive, None));
        assert!(
            d.verdict.summary.contains("failing checks explain none of them (pod-status)"),
            "{}",
            d.verdict.summary
        );
    }

    #[test]
    fn unhealthy_targets_the_root_cause_leaves_unexplained_are_named() {
        // GIVEN a stopped instance (explained by nodes) and another target timing out for no
        // reason any check finds
        let snap = SnapshotB::instance()
            .targets(vec![
                target_r("i-0aaa", 32663, "unhealthy", "Target.Timeout"),
                target_r("i-0bbb", 32663, "unused", "Target.InvalidState"),
            ])
            .instance_state("i-0bbb", "stopped")
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN nodes is the root cause, and the summary names the target it does not explain
        assert_eq!(d.verdict.root_cause, Some(CheckId::NODES));
        assert!(
            d.verdict.summary.ends_with("It does not explain 1 other unhealthy target: i-0aaa."),
            "{}",
            d.verdict.summary
        );
    }

    #[test]
    fn targets_in_transition_are_transient_not_all_healthy() {
        // GIVEN one healthy target, one registering and one draining (an ALARM mid-rollout)
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target("i-0bbb", 32663, "initial"),
                target("i-0ccc", 32663, "draining"),
            ])
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN nothing is called a problem, the summary does not claim all healthy, and the
        // additive field says it is transient and why
        assert_eq!(d.verdict.status, VerdictStatus::Healthy);
        assert!(!d.verdict.summary.contains("All 3 targets healthy"), "{}", d.verdict.summary);
        let why = d.verdict.transient.as_deref().unwrap();
        assert!(why.starts_with("transient: 2 of 3 targets are in transition"), "{why}");
        assert!(why.contains("1 registering (initial") && why.contains("1 draining"), "{why}");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["verdict"]["transient"], why);
    }

    #[test]
    fn unhealthy_target_on_a_node_karpenter_is_removing_is_transient_not_a_root_cause() {
        // GIVEN i-0bbb unhealthy on node-b, which Karpenter is disrupting; i-0aaa healthy
        let mut b = SnapshotB::instance().targets(vec![
            target("i-0aaa", 32663, "healthy"),
            target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
        ]);
        b.kube().nodes = Fetched::Ok(vec![
            node("node-a", "i-0aaa", "us-east-1a"),
            tainted(node("node-b", "i-0bbb", "us-east-1b"), "karpenter.sh/disrupted"),
        ]);
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&b.build());
        // THEN no root cause (no fix to paste), and the verdict says why it heals and by when
        assert_eq!((d.verdict.status, d.verdict.root_cause), (VerdictStatus::Inconclusive, None));
        let why = d.verdict.transient.as_deref().expect("verdict.transient");
        assert!(why.contains("i-0bbb (node node-b is being disrupted by Karpenter"), "{why}");
        assert!(why.contains("deregistered within the 300 s deregistration delay"), "{why}");
        assert!(d.verdict.summary.contains("Run again after that"), "{}", d.verdict.summary);
    }

    /// ip targets in a group shared between clusters: ours are 10.0.1.10 (healthy) and 10.0.2.11,
    /// the other cluster's 10.9.1.20 and 10.9.2.21, with the given states.
    fn shared_group(ours_b: &str, theirs: &str) -> crate::snapshot::Snapshot {
        let t = |id: &str, state: &str| match state {
            "healthy" => target(id, 8080, "healthy"),
            _ => target_r(id, 8080, "unhealthy", "Target.Timeout"),
        };
        let mut b = SnapshotB::ip().targets(vec![
            t("10.0.1.10", "healthy"),
            t("10.0.2.11", ours_b),
            t("10.9.1.20", theirs),
            t("10.9.2.21", theirs),
        ]);
        if let Fetched::Ok(bindings) = &mut b.kube().target_group_bindings {
            bindings.iter_mut().for_each(|x| x.multi_cluster = true);
        }
        b.build()
    }

    #[test]
    fn another_clusters_unhealthy_targets_in_a_shared_group_are_judged_there_not_here() {
        // GIVEN a shared group (multiClusterTargetGroup) whose other cluster's targets time out,
        // while both of ours are healthy
        let d = Diagnosis::from_snapshot(&shared_group("healthy", "unhealthy"));
        // THEN no root cause is named here, nothing is called stale, and the summary says where to look
        assert_eq!(
            (d.verdict.status, d.verdict.root_cause),
            (VerdictStatus::Inconclusive, None),
            "{}",
            d.verdict.summary
        );
        assert!(
            d.verdict.summary.contains("0 of 2 targets of this cluster unhealthy"),
            "{}",
            d.verdict.summary
        );
        assert!(
            d.verdict
                .summary
                .contains("diagnose the unhealthy ones in the cluster that registered them"),
            "{}",
            d.verdict.summary
        );
        let endpoints = d.finding(CheckId::ENDPOINTS).unwrap();
        assert_ne!(endpoints.status, crate::checks::Status::Fail, "{endpoints:?}");
        assert_eq!(
            endpoints.evidence["otherClusterTargets"],
            serde_json::json!(["10.9.1.20", "10.9.2.21"])
        );
    }

    #[test]
    fn our_failing_target_in_a_shared_group_is_diagnosed_alone_while_theirs_are_healthy() {
        // GIVEN ours 10.0.2.11 times out on its own; the other cluster's targets are healthy
        let d = Diagnosis::from_snapshot(&shared_group("unhealthy", "healthy"));
        // THEN the symptom counts this cluster's targets only, and the others are not stale
        assert!(
            d.verdict
                .summary
                .starts_with("1 of 2 targets of this cluster unhealthy (2 more, 0 of them unhealthy"),
            "{}",
            d.verdict.summary
        );
        assert_ne!(d.verdict.root_cause, Some(CheckId::ENDPOINTS), "{}", d.verdict.summary);
        // AND without the flag, the same unknown addresses are stale targets of ours
        let mut snap = shared_group("unhealthy", "unhealthy");
        if let Fetched::Ok(bindings) = &mut snap.kube.target_group_bindings {
            bindings.iter_mut().for_each(|x| x.multi_cluster = false);
        }
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!(
            d.finding(CheckId::ENDPOINTS).unwrap().evidence["staleTargets"],
            serde_json::json!(["10.9.1.20", "10.9.2.21"])
        );
    }

    #[test]
    fn a_real_cause_of_other_targets_is_still_named_and_the_transient_target_noted() {
        // GIVEN web-2 terminating (its target unhealthy) and web-3 crash-looping (unhealthy too)
        let pods = vec![
            PodB::new("shop", "web-1")
                .labels(&[("app", "web")])
                .ip("10.0.1.10")
                .node("node-a")
                .ready()
                .build(),
            PodB::new("shop", "web-2")
                .labels(&[("app", "web")])
                .ip("10.0.2.11")
                .node("node-b")
                .ready()
                .terminating()
                .build(),
            PodB::new("shop", "web-3")
                .labels(&[("app", "web")])
                .ip("10.0.2.12")
                .node("node-b")
                .waiting("CrashLoopBackOff")
                .build(),
        ];
        let snap = SnapshotB::ip()
            .pods(pods)
            .targets(vec![
                target("10.0.1.10", 8080, "healthy"),
                target_r("10.0.2.11", 8080, "unhealthy", "Target.FailedHealthChecks"),
                target_r("10.0.2.12", 8080, "unhealthy", "Target.FailedHealthChecks"),
            ])
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN the crash loop is the root cause, and the terminating pod's target is transient,
        // not "unexplained"
        assert_eq!(d.verdict.root_cause, Some(CheckId::POD_STATUS), "{}", d.verdict.summary);
        let why = d.verdict.transient.as_deref().expect("verdict.transient");
        assert!(why.contains("10.0.2.11 (pod web-2 is terminating)"), "{why}");
        assert!(!d.verdict.summary.contains("does not explain"), "{}", d.verdict.summary);
    }

    /// Pods of Deployment `web` (ReplicaSet web-5d8f7), and a target whose pod is gone.
    fn pod_gone_during(rollout_state: Option<crate::snapshot::RolloutView>) -> Diagnosis {
        let pod = |name: &str, ip: &str| {
            PodB::new("shop", name)
                .labels(&[("app", "web"), ("pod-template-hash", "5d8f7")])
                .owner("ReplicaSet", "web-5d8f7")
                .container_port(8080, Some("http"))
                .ip(ip)
                .node("node-a")
                .ready()
                .build()
        };
        let mut b = SnapshotB::ip().pods(vec![pod("web-5d8f7-a", "10.0.1.10")]).targets(vec![
            target("10.0.1.10", 8080, "healthy"),
            target_r("10.0.2.99", 8080, "unhealthy", "Target.FailedHealthChecks"),
        ]);
        b.kube().rollouts = Fetched::Ok(rollout_state.into_iter().collect());
        Diagnosis::from_snapshot(&b.build())
    }

    #[test]
    fn target_of_a_pod_replaced_by_a_progressing_rollout_is_transient() {
        // GIVEN deployment/web mid-rollout (2 of 3 updated) and a target whose pod is gone
        let d = pod_gone_during(Some(rollout("web", 3, 2, "ReplicaSetUpdated")));
        // THEN transient, naming the rollout's revision and progress
        let why = d.verdict.transient.as_deref().expect("verdict.transient");
        assert!(
            why.contains("its pod is gone, replaced by the rollout (deployment/web revision 7: 2 of 3 updated, 1 unavailable)"),
            "{why}"
        );
        assert_eq!(d.verdict.root_cause, None, "{}", d.verdict.summary);
    }

    #[test]
    fn a_stalled_rollout_or_none_at_all_is_not_transient() {
        // GIVEN the same vanished pod, with the rollout past its progress deadline, or no rollout
        for state in [Some(rollout("web", 3, 2, "ProgressDeadlineExceeded")), None] {
            let d = pod_gone_during(state.clone());
            // THEN nothing is called transient: a stale target is a fault to report
            assert_eq!(d.verdict.transient, None, "{state:?}: {}", d.verdict.summary);
        }
    }

    /// web-2 is a new pod of a progressing rollout, its containers ready, held by its gate;
    /// its target fails with `reason` and `description`.
    fn new_pod_behind_its_gate(reason: &str, description: &str) -> Diagnosis {
        let pod = |name: &str, ip: &str| {
            PodB::new("shop", name)
                .labels(&[("app", "web"), ("pod-template-hash", "5d8f7")])
                .owner("ReplicaSet", "web-5d8f7")
                .container_port(8080, Some("http"))
                .ip(ip)
                .node("node-a")
        };
        let mut t = target_r("10.0.2.11", 8080, "unhealthy", reason);
        t.description = Some(description.into());
        let mut b = SnapshotB::ip()
            .pods(vec![
                pod("web-5d8f7-a", "10.0.1.10").ready().build(),
                pod("web-5d8f7-b", "10.0.2.11")
                    .gate("k8s-shop-web-0123456789", "False", "Target.FailedHealthChecks")
                    .held_by_gate()
                    .build(),
            ])
            .targets(vec![target("10.0.1.10", 8080, "healthy"), t]);
        b.kube().rollouts = Fetched::Ok(vec![rollout("web", 2, 1, "ReplicaSetUpdated")]);
        Diagnosis::from_snapshot(&b.build())
    }

    #[test]
    fn new_pod_waiting_on_its_gate_mid_rollout_is_transient() {
        // GIVEN a new pod's target failing its first checks, nothing else failing on it
        let d = new_pod_behind_its_gate("Target.FailedHealthChecks", "Health checks failed");
        // THEN transient, healing after healthy threshold × interval
        let why = d.verdict.transient.as_deref().unwrap_or_else(|| panic!("{}", d.verdict.summary));
        assert!(why.contains("new pod web-5d8f7-b of the rollout"), "{why}");
        assert!(why.contains("healthy after about"), "{why}");
    }

    #[test]
    fn new_pod_whose_health_check_path_404s_is_not_excused_by_the_rollout() {
        // GIVEN the same new pod, but its target answers 404 (the new revision lacks the path)
        let d = new_pod_behind_its_gate("Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]");
        // THEN the failing check is the root cause; the rollout would stall, not heal
        assert!(d.verdict.root_cause.is_some(), "{}", d.verdict.summary);
        assert_eq!(d.verdict.transient, None, "{}", d.verdict.summary);
    }

    #[test]
    fn a_settled_verdict_has_no_transient_field() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        assert!(serde_json::to_value(&d).unwrap()["verdict"].get("transient").is_none());
    }

    #[test]
    fn a_cause_that_fits_the_reason_code_beats_an_earlier_one_that_does_not() {
        // GIVEN i-0bbb answering the check with a wrong code (ResponseCodeMismatch), a NACL on
        // its subnet that would block it, and the target group checking a path the pods do not serve
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
            ])
            .nacl("acl-b", "subnet-b", vec![nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, true)])
            .health_check(|h| h.path = Some("/nothing-here".into()))
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        let nacl = d.finding(CheckId::NETWORK_ACLS).unwrap();
        let config = d.finding(CheckId::HEALTH_CHECK_CONFIG).unwrap();
        // THEN both explain it, and the answer with a wrong code points at the configuration,
        // not at a network that would have made the check time out
        assert_eq!(nacl.explains, vec!["i-0bbb"]);
        assert_eq!(config.explains, vec!["i-0bbb"]);
        assert_eq!(d.verdict.root_cause, Some(CheckId::HEALTH_CHECK_CONFIG), "{}", d.verdict.summary);
    }

    #[test]
    fn a_fault_the_healthy_targets_share_is_demoted_below_one_they_do_not() {
        // GIVEN both instances carrying only a group without the ALB rule (i-0aaa healthy,
        // i-0bbb unhealthy), and node-b NotReady
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .add_group(crate::snapshot::SecurityGroup {
                id: "sg-b".into(),
                ..Default::default()
            })
            .instance_groups("i-0aaa", &["sg-b"])
            .instance_groups("i-0bbb", &["sg-b"])
            .node_not_ready("node-b")
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN security-groups fails but the healthy i-0aaa shares its fault: nodes is the cause
        let sg = d.finding(CheckId::SECURITY_GROUPS).unwrap();
        assert_eq!(
            (sg.status, sg.explains.clone(), sg.shared_by_healthy.clone()),
            (Status::Fail, vec!["i-0bbb".to_string()], vec!["i-0aaa".to_string()])
        );
        assert_eq!(d.verdict.root_cause, Some(CheckId::NODES), "{}", d.verdict.summary);
    }

    #[test]
    fn with_two_faults_the_named_cause_lists_the_other_as_contributing() {
        // GIVEN two faults on different targets: i-0aaa's instance is stopped (nodes), and
        // i-0bbb answers a health-check path the pods do not serve (health-check-config)
        let snap = SnapshotB::instance()
            .targets(vec![
                target_r("i-0aaa", 32663, "unused", "Target.InvalidState"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
            ])
            .instance_state("i-0aaa", "stopped")
            .health_check(|h| h.path = Some("/nothing-here".into()))
            .build();
        // WHEN diagnosed
        let d = Diagnosis::from_snapshot(&snap);
        // THEN (one target each, both fit) the earlier layer is named, the other is contributing
        assert_eq!(d.verdict.root_cause, Some(CheckId::NODES), "{}", d.verdict.summary);
        assert!(
            d.verdict
                .summary
                .ends_with("It does not explain 1 other unhealthy target: i-0bbb (contributing: health-check-config)."),
            "{}",
            d.verdict.summary
        );
    }

    #[test]
    fn all_healthy_is_healthy_with_exit_zero() {
        let snap = SnapshotB::ip()
            .targets(vec![target("10.0.1.10", 8080, "healthy"), target("10.0.2.11", 8080, "healthy")])
            .build();
        let d = Diagnosis::from_snapshot(&snap);
        assert_eq!((d.verdict.status, d.exit_code()), (VerdictStatus::Healthy, 0));
    }

    #[test]
    fn findings_hold_every_catalogue_check_once_in_order() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        let ids: Vec<CheckId> = d.findings.iter().map(|f| f.check).collect();
        let expected: Vec<CheckId> = checks::CATALOGUE.iter().map(|s| s.id).collect();
        assert_eq!(ids, expected);
        assert!(d.finding(CheckId::HEALTH_PROBE).unwrap().detail.starts_with("the probe is off"));
    }

    #[test]
    fn targets_carry_pod_node_and_zone() {
        let d = Diagnosis::from_snapshot(&SnapshotB::ip().build());
        assert_eq!(d.targets[1].pod.as_deref(), Some("shop/web-2"));
        assert_eq!(d.targets[1].node.as_deref(), Some("node-b"));
        assert_eq!(d.targets[1].availability_zone.as_deref(), Some("us-east-1b"));
        let d = Diagnosis::from_snapshot(&SnapshotB::instance().build());
        assert_eq!((d.targets[0].node.as_deref(), d.targets[0].pod.as_deref()), (Some("node-a"), None));
    }
}
