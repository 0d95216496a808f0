//! `selector-match` (article §2): the Service's selector matches pods.
//!
//! A selector that matches nothing leaves the Service without endpoints, so every health check
//! fails. The article's own example: the Service selects `app=alb-instance-1` while the pods say
//! `app=alb-instance`. When nothing matches, this check finds the nearest pods, names the label
//! that differs, and writes the patch.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{json, Map, Value};

use crate::snapshot::{labels, pod_name, selector, workload_of, ServiceShape};
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{EventView, View};

pub const CHECK: Check = Check {
    id: CheckId::SELECTOR_MATCH,
    section: "§2",
    layer: Layer::Selector,
    verifies: "the selector matches pods; else the nearest pods, the differing label, the patch",
    needs: "service, pods in namespace",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let svc = ctx.need_service()?;
    ctx.need_pods()?;
    match ctx.service_shape() {
        Some(ServiceShape::ExternalName) => Err(ctx.skipped("ExternalName Service: it selects no pods")),
        Some(ServiceShape::NoSelector) => Err(ctx.skipped("the Service has no selector: its endpoints are managed by hand")),
        _ => Ok(judge(ctx, svc)),
    }
}

fn judge(ctx: &View, svc: &Service) -> Finding {
    let sel = selector(svc).cloned().unwrap_or_default();
    let (ns, name) = ctx.service_name();
    let shown = show(&sel);
    if !ctx.selected.is_empty() {
        return Finding::pass(
            ID,
            format!("Selector matches {} pods", ctx.selected.len()),
            format!("Selector {shown} matches {} pods in {ns}.", ctx.selected.len()),
        )
        .evidence(json!({"selector": sel, "matchingPods": ctx.selected.iter().map(|p| pod_name(p)).collect::<Vec<_>>()}));
    }
    let candidates = ctx.pods_in_namespace();
    let absent = absence(ctx, &ns);
    if candidates.is_empty() {
        let (why, mut fixes) = absent.unwrap_or_default();
        fixes.extend([
            format!("kubectl get deployments,statefulsets -n {ns}"),
            format!("kubectl get pods -A -l {}", show_plain(&sel)),
        ]);
        return Finding::fail(
            ID,
            format!("No pods in namespace {ns}"),
            format!("Selector {shown} matches nothing: namespace {ns} has no pods at all (scaled to zero, or deployed elsewhere).{why}"),
        )
        .evidence(json!({"selector": sel, "podsInNamespace": 0, "failedCreate": failed_creates(ctx)}))
        .remediation(fixes)
        .explains(ctx.unhealthy_ids());
    }
    let nearest = nearest(&sel, &candidates);
    let Some(&best) = nearest.first() else {
        return Finding::unknown(ID, "no pod to compare the selector with");
    };
    let best_labels = labels(best).cloned().unwrap_or_default();
    let group: Vec<&Pod> = candidates
        .iter()
        .copied()
        .filter(|p| sel.keys().all(|k| labels(p).and_then(|l| l.get(k)) == best_labels.get(k)))
        .collect();
    let differences: Vec<Value> = sel
        .iter()
        .filter(|(k, v)| best_labels.get(*k) != Some(v))
        .map(|(k, v)| json!({"label": k, "service": v, "pods": best_labels.get(k)}))
        .collect();
    let diff_text: Vec<String> = sel
        .iter()
        .filter(|(k, v)| best_labels.get(*k) != Some(v))
        .map(|(k, v)| match best_labels.get(k) {
            Some(pv) => format!("the Service wants {k}={v}, the pods have {k}={pv}"),
            None => format!("the Service wants {k}={v}, the pods have no {k} label"),
        })
        .collect();
    let workload = workload_of(best);
    let nearest_json = json!({"workload": workload, "pods": group.iter().map(|p| pod_name(p)).collect::<Vec<_>>(), "labels": best_labels});
    // A selector patch points the Service at other pods: printed only when they plausibly are the
    // workload it means. Otherwise it could send traffic to an unrelated workload.
    if !plausibly_meant(&sel, &best_labels, &workload, &name) {
        return Finding::fail(
            ID,
            "Selector matches no pods",
            format!(
                "Selector {shown} of Service {ns}/{name} matches none of the {} pods in {ns}, and no workload there comes close: the nearest, {workload}, differs ({}). No patch is proposed: check which workload this Service should expose (scaled to zero, deleted, or deployed under other labels).",
                candidates.len(),
                diff_text.join("; ")
            ) + absent.as_ref().map_or("", |a| a.0.as_str()),
        )
        .evidence(json!({"selector": sel, "podsInNamespace": candidates.len(), "nearest": nearest_json, "differences": differences, "patchProposed": false, "failedCreate": failed_creates(ctx)}))
        .remediation(
            absent
                .map(|a| a.1)
                .unwrap_or_default()
                .into_iter()
                .chain([
                    format!("kubectl get deployments,statefulsets,daemonsets -n {ns} -o wide"),
                    format!("kubectl get pods -A -l {}", show_plain(&sel)),
                ])
                .collect(),
        )
        .explains(ctx.unhealthy_ids());
    }
    // The patch: make the selector say what the nearest pods say (null removes a key they lack).
    let mut patch = Map::new();
    for (k, v) in &sel {
        match best_labels.get(k) {
            Some(pv) if pv != v => {
                patch.insert(k.clone(), Value::String(pv.clone()));
            }
            None => {
                patch.insert(k.clone(), Value::Null);
            }
            _ => {}
        }
    }
    let patch = json!({"spec": {"selector": patch}}).to_string();
    Finding::fail(
        ID,
        "Selector matches no pods",
        format!(
            "Selector {shown} of Service {ns}/{name} matches none of the {} pods in {ns}; the nearest are {} pods of {workload}: {}.",
            candidates.len(),
            group.len(),
            diff_text.join("; ")
        ),
    )
    .evidence(json!({
        "selector": sel,
        "podsInNamespace": candidates.len(),
        "nearest": nearest_json,
        "differences": differences,
    }))
    .remediation(vec![
        format!("kubectl patch service {name} -n {ns} --type merge -p '{patch}'"),
        format!("or, if the Service is right, relabel the pod template: kubectl edit {workload} -n {ns}"),
    ])
    .explains(ctx.unhealthy_ids())
}

/// Warnings of workloads that cannot create their pods (quota, admission webhooks, pod
/// security): why a selector can match nothing while nothing is wrong with it.
fn failed_creates<'a>(ctx: &View<'a>) -> Vec<&'a EventView> {
    ctx.events()
        .iter()
        .filter(|e| e.event_type == "Warning" && e.reason == "FailedCreate")
        // Printed into a command below: only workload kinds, and names Kubernetes would accept.
        .filter(|e| ["ReplicaSet", "StatefulSet", "DaemonSet", "Deployment"].contains(&e.kind.as_str()))
        .filter(|e| !e.name.is_empty() && e.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
        .collect()
}

/// The sentence and the commands for workloads that cannot create pods, if any.
fn absence(ctx: &View, ns: &str) -> Option<(String, Vec<String>)> {
    let events = failed_creates(ctx);
    let first = events.first()?;
    let sentence = format!(
        " Pods cannot be created in {ns}: {} {} reports FailedCreate ({}×): {:?}.",
        first.kind,
        first.name,
        first.count,
        first.message.chars().take(300).collect::<String>()
    );
    let fixes = events
        .iter()
        .map(|e| format!("kubectl describe {} {} -n {ns}", e.kind.to_lowercase(), e.name))
        .collect();
    Some((sentence, fixes))
}

/// Whether the nearest pods plausibly are the workload the Service means, so that pointing the
/// selector at them is safe to print: their workload carries the Service's name; or most of the
/// selector's labels equal theirs; or every value that differs is a near-typo of theirs
/// (`alb-instance-1` vs `alb-instance`) and something matches or is a typo at all (a patch that
/// only removes keys must leave at least one equal label, never an empty selector).
fn plausibly_meant(sel: &BTreeMap<String, String>, pods: &BTreeMap<String, String>, workload: &str, service: &str) -> bool {
    let equal = sel.iter().filter(|(k, v)| pods.get(*k) == Some(v)).count();
    let changed: Vec<(&String, &String)> = sel
        .iter()
        .filter_map(|(k, v)| pods.get(k).filter(|pv| *pv != v).map(|pv| (v, pv)))
        .collect();
    let typos = changed
        .iter()
        .all(|(v, pv)| levenshtein(pv, v) <= (pv.len().max(v.len()) / 3).max(2));
    workload.rsplit('/').next() == Some(service) || 2 * equal > sel.len() || (typos && (equal > 0 || !changed.is_empty()))
}

/// Pods ordered by how close their labels come to the selector: most keys equal, then most keys
/// present, then the most similar values (`alb-instance` is near `alb-instance-1`), then name.
fn nearest<'a>(sel: &BTreeMap<String, String>, pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let score = |p: &Pod| {
        let l = labels(p);
        let (mut equal, mut present, mut similar) = (0usize, 0usize, 0usize);
        for (k, v) in sel {
            if let Some(pv) = l.and_then(|l| l.get(k)) {
                present += 1;
                if pv == v {
                    equal += 1;
                }
                similar += 1000 - (1000 * levenshtein(pv, v) / pv.len().max(v.len()).max(1));
            }
        }
        (equal, present, similar)
    };
    let mut v = pods.to_vec();
    v.sort_by(|a, b| score(b).cmp(&score(a)).then_with(|| pod_name(a).cmp(pod_name(b))));
    v
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn show(sel: &BTreeMap<String, String>) -> String {
    format!("`{}`", show_plain(sel))
}

fn show_plain(sel: &BTreeMap<String, String>) -> String {
    sel.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn article_example_names_the_differing_label_and_the_patch() {
        // GIVEN the article's Service selecting app=alb-instance-1, pods labelled app=alb-instance,
        // and an unrelated nginx pod in the same namespace
        let snap = SnapshotB::article().build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails, points at the alb-instance pods and patches the selector to their label
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail
                .contains("the Service wants app=alb-instance-1, the pods have app=alb-instance"),
            "{}",
            f.detail
        );
        assert_eq!(f.evidence["nearest"]["workload"], "deployment/alb-instance");
        assert_eq!(
            f.remediation[0],
            r#"kubectl patch service alb-instance -n default --type merge -p '{"spec":{"selector":{"app":"alb-instance"}}}'"#
        );
        assert_eq!(f.explains.len(), 2);
    }

    #[test]
    fn selector_key_missing_on_pods_is_removed_by_the_patch() {
        let snap = SnapshotB::ip()
            .service(
                ServiceB::new("shop", "web")
                    .selector(&[("app", "web"), ("tier", "front")])
                    .port(80, 8080)
                    .build(),
            )
            .build();
        let f = CHECK.on(&snap);
        assert!(f.detail.contains("the pods have no tier label"), "{}", f.detail);
        assert!(
            f.remediation[0].contains(r#"{"spec":{"selector":{"tier":null}}}"#),
            "{}",
            f.remediation[0]
        );
    }

    #[test]
    fn unrelated_nearest_pods_get_no_selector_patch() {
        // GIVEN Service shop/checkout selecting app=payments, while the namespace only runs the
        // web pods (app=web): another workload, not a typo
        let snap = SnapshotB::ip()
            .service(
                ServiceB::new("shop", "checkout")
                    .selector(&[("app", "payments")])
                    .port(80, 8080)
                    .build(),
            )
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails (nothing is selected) but proposes no patch towards the web pods
        assert_eq!(f.status, Status::Fail);
        assert!(f.remediation.iter().all(|r| !r.contains("kubectl patch")), "{:?}", f.remediation);
        assert_eq!(f.evidence["patchProposed"], false);
        assert!(f.detail.contains("No patch is proposed"), "{}", f.detail);
    }

    #[test]
    fn a_patch_is_plausible_only_for_typos_removals_beside_a_match_or_the_named_workload() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let plausible = |sel, pods, workload| plausibly_meant(&m(sel), &m(pods), workload, "svc");
        // the article's typo
        assert!(plausible(&[("app", "alb-instance-1")], &[("app", "alb-instance")], "deployment/x"));
        // a key the pods lack, beside one that matches
        assert!(plausible(&[("app", "web"), ("tier", "front")], &[("app", "web")], "deployment/x"));
        // the workload carries the Service's name
        assert!(plausible(&[("app", "a")], &[("app", "zzzzzz")], "deployment/svc"));
        // another workload, or a patch that would empty the selector
        assert!(!plausible(&[("app", "payments")], &[("app", "web")], "deployment/web"));
        assert!(!plausible(&[("app", "payments"), ("tier", "front")], &[("app", "web"), ("tier", "front")], "deployment/web"));
        assert!(!plausible(&[("app", "web")], &[], "pod/x"));
    }

    #[test]
    fn workload_that_cannot_create_pods_is_named_with_its_event() {
        // GIVEN no pods in the namespace and a ReplicaSet refused by a quota
        let snap = SnapshotB::ip()
            .pods(vec![])
            .events(vec![event(
                "ReplicaSet",
                "web-7d9f",
                "FailedCreate",
                "Error creating: pods \"web-7d9f-x\" is forbidden: exceeded quota: compute",
            )])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the finding quotes why no pod exists and points at the ReplicaSet, no patch
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("ReplicaSet web-7d9f reports FailedCreate"), "{}", f.detail);
        assert!(f.detail.contains("exceeded quota: compute"), "{}", f.detail);
        assert_eq!(f.remediation[0], "kubectl describe replicaset web-7d9f -n shop");
        assert!(f.remediation.iter().all(|r| !r.contains("kubectl patch")));
    }

    #[test]
    fn empty_namespace_fails_saying_so() {
        let snap = SnapshotB::ip().pods(vec![]).build();
        let f = CHECK.on(&snap);
        assert_eq!((f.status, f.title.as_str()), (Status::Fail, "No pods in namespace shop"));
    }

    #[test]
    fn matching_pods_pass_and_are_listed() {
        let snap = SnapshotB::ip().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.evidence["matchingPods"], json!(["web-1", "web-2"]));
    }

    #[test]
    fn headless_service_is_checked_like_any_other() {
        let snap = SnapshotB::ip()
            .service(
                ServiceB::new("shop", "web")
                    .selector(&[("app", "web")])
                    .port(80, 8080)
                    .headless()
                    .build(),
            )
            .build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn pods_list_denied_is_unknown() {
        let snap = SnapshotB::ip().pods_denied().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("list pods"), "{}", f.detail);
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("alb-instance", "alb-instance-1"), 2);
        assert_eq!(levenshtein("", "ab"), 2);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
