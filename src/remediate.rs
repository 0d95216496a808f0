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

/// Runs the enabled remediations whose check failed, and records each outcome in that
/// finding's evidence and detail.
pub async fn run(kube: &KubeAccess, d: &mut Diagnosis, r: &Remediation) {
    if !r.kube_proxy || d.finding(CheckId::KUBE_PROXY).map(|f| f.status) != Some(Status::Fail) {
        return;
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

    #[test]
    fn parses_the_list_and_rejects_unknown_names() {
        assert_eq!(
            Remediation::parse("kube-proxy", true).unwrap(),
            Remediation {
                kube_proxy: true,
                dry_run: true
            }
        );
        assert_eq!(Remediation::parse("", false).unwrap(), Remediation::default());
        assert!(Remediation::parse("kube-proxy,reboot-nodes", false)
            .unwrap_err()
            .contains("unknown remediation \"reboot-nodes\""));
    }
}
