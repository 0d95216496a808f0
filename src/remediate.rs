//! Opt-in remediation: the one write eks-lb-doctor can make. Only `kube-proxy` for now — the
//! article's §11 fix, `kubectl rollout restart daemonset/kube-proxy -n kube-system` — and only
//! when enabled (`--remediate kube-proxy`, `REMEDIATE=kube-proxy`) *and* the `kube-proxy` check
//! failed. A dry run asks the API server to validate the same patch without persisting it.
//! The write permission lives in its own optional RBAC role (`infra/rbac-remediate-kube-proxy.yaml`).

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

use crate::checks::{CheckId, Status};
use crate::collect::KubeAccess;
use crate::config::Remediation;
use crate::diagnosis::Diagnosis;
use crate::publish::ledger::{self, Claim, Ledger};
use crate::snapshot::Snapshot;
use crate::trigger::Request;

/// A restart stamped less than this long ago is still rolling or just failed to help: another
/// one would only churn the nodes.
const COOLDOWN_MINUTES: i64 = 15;

/// Why the kube-proxy restart must not run now, if it must not. Pure: the diagnosis, the
/// snapshot's DaemonSet and the clock decide.
pub fn refusal(d: &Diagnosis, snap: &Snapshot, req: &Request, r: &Remediation, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    if r.on_alarm_only && req.alarm.is_none() {
        return Some("remediation runs only for a request an alarm triggered, not a manual one".into());
    }
    // A restart replaces pods that exist; it cannot create one the DaemonSet does not place.
    let nodes = d
        .finding(CheckId::KUBE_PROXY)
        .map(|f| f.evidence["unhealthyNodes"].clone())
        .unwrap_or_default();
    let restartable = nodes
        .as_array()
        .is_some_and(|n| n.iter().any(|n| n["kubeProxy"].as_str().is_some_and(|w| w.ends_with(" not ready"))));
    if !restartable {
        return Some(
            "no unhealthy node has a kube-proxy pod to restart (a missing pod is the DaemonSet's placement: nodeSelector, tolerations)"
                .into(),
        );
    }
    let ds = snap.kube.kube_proxy.ok().and_then(|k| k.daemonset.as_ref())?;
    let restarted = (ds.spec.as_ref())
        .and_then(|s| {
            s.template
                .metadata
                .as_ref()?
                .annotations
                .as_ref()?
                .get("kubectl.kubernetes.io/restartedAt")
                .cloned()
        })
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok());
    if let Some(at) = restarted.filter(|at| now.signed_duration_since(*at) < chrono::Duration::minutes(COOLDOWN_MINUTES)) {
        return Some(format!(
            "kube-proxy was restarted at {at}, less than {COOLDOWN_MINUTES} minutes ago"
        ));
    }
    // Pods of the newest template still being rolled out (what `kubectl rollout status` waits on).
    let updating =
        (ds.status.as_ref()).is_some_and(|s| s.updated_number_scheduled.unwrap_or(s.desired_number_scheduled) < s.desired_number_scheduled);
    if updating {
        return Some("a rollout of daemonset kube-system/kube-proxy is in progress".into());
    }
    None
}

/// Runs the enabled remediations whose check failed, and records each outcome (or why it did
/// not run) in that finding's evidence and detail.
pub async fn run(kube: &KubeAccess, d: &mut Diagnosis, snap: &Snapshot, req: &Request, r: &Remediation, ledger: Option<&Ledger>) {
    if !r.kube_proxy || d.finding(CheckId::KUBE_PROXY).map(|f| f.status) != Some(Status::Fail) {
        return;
    }
    if let Some(why) = refusal(d, snap, req, r, chrono::Utc::now()) {
        return skipped(d, why);
    }
    // At most once per alarm transition: a retried invocation must not restart kube-proxy again.
    let entry = match (ledger, req.alarm.as_ref().and_then(crate::trigger::Alarm::transition)) {
        (Some(l), Some(t)) => Some((l, ledger::key(&t, &req.target_group_arn, "remediation"))),
        _ => None,
    };
    if let Some((l, k)) = &entry {
        match l.claim(k, std::time::SystemTime::now() + ledger::CLAIM_WITHOUT_DEADLINE).await {
            Ok(Claim::Granted) => {}
            Ok(Claim::Taken) => return skipped(d, "it already ran for this alarm transition (delivery ledger)".into()),
            Err(e) => {
                return skipped(
                    d,
                    format!("the delivery ledger could not tell whether it already ran for this alarm transition ({e})"),
                )
            }
        }
    }
    let outcome = match kube {
        KubeAccess::Client { client, .. } => restart_kube_proxy(client, r.dry_run).await,
        KubeAccess::Unavailable(why) => Err(format!("no cluster access: {why}")),
    };
    let Some(finding) = d.finding_mut(CheckId::KUBE_PROXY) else {
        return;
    };
    let (sentence, ok) = match &outcome {
        Ok(at) if r.dry_run => (
            format!(" Dry run: the restart of daemonset kube-system/kube-proxy was validated by the API server and not applied ({at})."),
            true,
        ),
        Ok(at) => (format!(" Remediated: daemonset kube-system/kube-proxy restarted at {at}."), true),
        Err(e) => (format!(" Remediation failed: {e}."), false),
    };
    finding.detail.push_str(&sentence);
    finding.evidence["remediation"] = json!({"action": "rollout restart daemonset/kube-proxy -n kube-system", "dryRun": r.dry_run, "ok": ok, "result": outcome.as_ref().map_or_else(|e| e.clone(), |a| a.clone())});
    // Recorded as done whatever the outcome: a failed restart is for a person, not a retry.
    if let Some((l, k)) = &entry {
        if let Err(e) = l.settle(k, true).await {
            tracing::warn!(error = %e, "could not record the remediation");
        }
    }
}

fn skipped(d: &mut Diagnosis, why: String) {
    info!(reason = %why, "kube-proxy remediation skipped");
    if let Some(finding) = d.finding_mut(CheckId::KUBE_PROXY) {
        finding.detail.push_str(&format!(" Remediation skipped: {why}."));
        finding.evidence["remediation"] = json!({"action": "rollout restart daemonset/kube-proxy -n kube-system", "skipped": why});
    }
}

/// What `kubectl rollout restart` does: stamp the pod template, so every pod is replaced.
async fn restart_kube_proxy(client: &kube::Client, dry_run: bool) -> Result<String, String> {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
    let pp = PatchParams {
        dry_run,
        ..Default::default()
    };
    match api.patch("kube-proxy", &pp, &Patch::Merge(&patch)).await {
        Ok(_) => {
            info!(dry_run, "restarted daemonset kube-system/kube-proxy");
            Ok(at)
        }
        Err(e) => {
            let m = crate::collect::kube::missing("patch", "daemonsets.apps", &e);
            warn!(error = %m.error, "kube-proxy restart failed");
            Err(format!("{} ({}; see infra/rbac-remediate-kube-proxy.yaml)", m.error, m.permission))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    /// The instance fixture with kube-proxy crash-looping on node-b (its target unhealthy), the
    /// DaemonSet's template stamped `restarted` minutes ago (or never), and an alarm or not.
    fn case(restarted: Option<i64>, alarm: bool, pod_on_b: bool) -> (Diagnosis, Snapshot, Request) {
        let mut snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .build();
        let now = chrono::Utc::now();
        if let crate::snapshot::Fetched::Ok(kp) = &mut snap.kube.kube_proxy {
            if pod_on_b {
                for p in kp
                    .pods
                    .iter_mut()
                    .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-b"))
                {
                    for c in p.status.as_mut().unwrap().conditions.iter_mut().flatten() {
                        c.status = "False".into();
                    }
                }
            } else {
                kp.pods
                    .retain(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some("node-b"));
            }
            if let (Some(m), Some(ds)) = (restarted, kp.daemonset.as_mut()) {
                let at = (now - chrono::Duration::minutes(m)).to_rfc3339();
                let t = ds
                    .spec
                    .get_or_insert_with(Default::default)
                    .template
                    .metadata
                    .get_or_insert_with(Default::default);
                t.annotations
                    .get_or_insert_with(Default::default)
                    .insert("kubectl.kubernetes.io/restartedAt".into(), at);
            }
        }
        let mut req = snap.request.clone();
        if !alarm {
            req.alarm = None;
        } else if req.alarm.is_none() {
            req.alarm = Some(crate::trigger::Alarm {
                name: "unhealthy-hosts".into(),
                arn: None,
                state: "ALARM".into(),
                reason: None,
                via: "eventbridge".into(),
                changed_at: None,
            });
        }
        (Diagnosis::from_snapshot(&snap), snap, req)
    }

    fn from_env() -> Remediation {
        Remediation {
            kube_proxy: true,
            dry_run: false,
            on_alarm_only: true,
        }
    }

    #[test]
    fn restart_runs_for_an_alarm_with_a_pod_to_restart_and_no_recent_restart() {
        let (d, snap, req) = case(None, true, true);
        assert_eq!(
            d.finding(CheckId::KUBE_PROXY).unwrap().status,
            Status::Fail,
            "{:?}",
            d.finding(CheckId::KUBE_PROXY)
        );
        assert_eq!(refusal(&d, &snap, &req, &from_env(), chrono::Utc::now()), None);
        let (d, snap, req) = case(Some(60), true, true);
        assert_eq!(
            refusal(&d, &snap, &req, &from_env(), chrono::Utc::now()),
            None,
            "an hour-old restart is no cooldown"
        );
    }

    /// Each refusal, named for the rule that makes it.
    #[test]
    fn restart_is_refused_when_it_cannot_help_or_was_not_asked_for_by_an_alarm() {
        let now = chrono::Utc::now();
        let (d, snap, req) = case(None, false, true);
        assert!(refusal(&d, &snap, &req, &from_env(), now)
            .unwrap()
            .contains("only for a request an alarm triggered"));
        // an explicit --remediate acts on a manual request
        let explicit = Remediation {
            on_alarm_only: false,
            ..from_env()
        };
        assert_eq!(refusal(&d, &snap, &req, &explicit, now), None);
        let (d, snap, req) = case(Some(5), true, true);
        assert!(refusal(&d, &snap, &req, &from_env(), now)
            .unwrap()
            .contains("less than 15 minutes ago"));
        let (d, snap, req) = case(None, true, false);
        assert!(refusal(&d, &snap, &req, &from_env(), now)
            .unwrap()
            .contains("no unhealthy node has a kube-proxy pod to restart"));
        // while the DaemonSet's newest template is still rolling out
        let (d, mut snap, req) = case(None, true, true);
        if let crate::snapshot::Fetched::Ok(kp) = &mut snap.kube.kube_proxy {
            let st = kp.daemonset.as_mut().unwrap().status.get_or_insert_with(Default::default);
            st.desired_number_scheduled = 3;
            st.updated_number_scheduled = Some(1);
        }
        assert!(refusal(&d, &snap, &req, &from_env(), now).unwrap().contains("rollout"));
    }

    #[test]
    fn parses_the_list_and_rejects_unknown_names() {
        assert_eq!(
            Remediation::parse("kube-proxy", true).unwrap(),
            Remediation {
                kube_proxy: true,
                dry_run: true,
                on_alarm_only: false
            }
        );
        assert_eq!(Remediation::parse("", false).unwrap(), Remediation::default());
        assert!(Remediation::parse("kube-proxy,reboot-nodes", false)
            .unwrap_err()
            .contains("unknown remediation \"reboot-nodes\""));
    }
}
