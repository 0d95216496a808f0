//! `kube-proxy` (article §11): the kube-proxy DaemonSet is fully rolled out and ready, and its
//! pod runs and is ready on the node behind each unhealthy instance target.
//!
//! With instance targets the load balancer reaches a NodePort, which only kube-proxy's rules
//! forward to the pods; a node whose kube-proxy is down drops the health check. The fix the
//! article gives: `kubectl rollout restart daemonset/kube-proxy -n kube-system` (run by
//! eks-lb-doctor only with `--remediate kube-proxy`).

use serde_json::json;

use crate::snapshot::pod_ready;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{KubeProxy, View};

pub const CHECK: Check = Check {
    id: CheckId::KUBE_PROXY,
    section: "§11",
    layer: Layer::KubeProxy,
    verifies: "the kube-proxy DaemonSet is rolled out and ready, and its pod is ready on the node of each unhealthy instance target (not on EKS Auto Mode nodes, which run it in the node); opt-in restart",
    needs: "daemonset, pods",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;
pub const RESTART: &str = "kubectl rollout restart daemonset/kube-proxy -n kube-system";

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    if ctx.is_ip() {
        return Err(ctx.skipped("ip targets reach the pods directly, without kube-proxy"));
    }
    let kp = ctx.snap.kube.kube_proxy.get().map_err(|why| ctx.unknown(why))?;
    Ok(judge(ctx, kp))
}

fn judge(ctx: &View, kp: &KubeProxy) -> Finding {
    // EKS Auto Mode nodes run kube-proxy in the node itself: no pod to find or restart there.
    let on_auto_nodes = |t: &&crate::snapshot::TargetHealth| ctx.node_by_instance(&t.id).is_some_and(super::automode::auto_mode_node);
    let unhealthy = ctx.unhealthy();
    if !unhealthy.is_empty() && unhealthy.iter().all(on_auto_nodes) {
        return Finding::skipped(
            ID,
            "the unhealthy targets are EKS Auto Mode nodes, which run kube-proxy as part of the node, not as a pod",
        );
    }
    let Some(ds) = &kp.daemonset else {
        return Finding::warn(
            ID,
            "No kube-proxy DaemonSet",
            "kube-system has no kube-proxy DaemonSet: the cluster may use a replacement (Cilium, …); check that it serves NodePorts.",
        );
    };
    let st = ds.status.as_ref();
    let (desired, ready, updated) = (
        st.map(|s| s.desired_number_scheduled).unwrap_or(0),
        st.map(|s| s.number_ready).unwrap_or(0),
        st.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
    );
    let mut broken = Vec::new();
    for t in unhealthy.iter().filter(|t| !on_auto_nodes(t)) {
        let Some(node) = ctx.node_by_instance(&t.id).and_then(|n| n.metadata.name.as_deref()) else {
            continue;
        };
        let pod = kp
            .pods
            .iter()
            .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node));
        match pod {
            Some(p) if pod_ready(p) => {}
            Some(p) => broken.push((
                t.id.clone(),
                node.to_string(),
                format!("{} not ready", p.metadata.name.as_deref().unwrap_or("kube-proxy")),
            )),
            None => broken.push((t.id.clone(), node.to_string(), "no kube-proxy pod".into())),
        }
    }
    let evidence = json!({
        "daemonset": {"desired": desired, "ready": ready, "updated": updated},
        "unhealthyNodes": broken.iter().map(|(t, n, w)| json!({"target": t, "node": n, "kubeProxy": w})).collect::<Vec<_>>(),
    });
    if !broken.is_empty() {
        let list: Vec<String> = broken.iter().map(|(_, n, w)| format!("{n}: {w}")).collect();
        return Finding::fail(
            ID,
            "kube-proxy down on unhealthy nodes",
            format!(
                "kube-proxy is not serving on the nodes of unhealthy targets ({}); DaemonSet {ready}/{desired} ready, {updated} updated.",
                list.join(", ")
            ),
        )
        .evidence(evidence)
        .remediation(vec![
            RESTART.into(),
            "kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide".into(),
        ])
        .explains(broken.into_iter().map(|(t, _, _)| t));
    }
    if ready < desired || updated < desired {
        return Finding::warn(
            ID,
            "kube-proxy partly ready",
            format!("DaemonSet kube-proxy: {ready}/{desired} ready, {updated} updated; the nodes of unhealthy targets are served."),
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        "kube-proxy ready",
        format!("DaemonSet kube-proxy: {ready}/{desired} ready and updated."),
    )
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    #[test]
    fn ready_kube_proxy_passes_and_ip_targets_skip() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Pass);
        assert_eq!(CHECK.on(&SnapshotB::ip().build()).status, Status::Skipped);
    }

    #[test]
    fn auto_mode_nodes_have_no_kube_proxy_pod_and_are_not_failed_for_it() {
        // GIVEN instance targets on EKS Auto Mode nodes: no kube-proxy DaemonSet, no pods
        let mut b = SnapshotB::instance();
        if let Fetched::Ok(nodes) = &mut b.kube().nodes {
            for n in nodes.iter_mut() {
                n.metadata.labels = Some([("eks.amazonaws.com/compute-type".to_string(), "auto".to_string())].into());
            }
        }
        b.kube().kube_proxy = Fetched::Ok(KubeProxy { daemonset: None, pods: vec![] });
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN skipped, saying why, and never a restart to paste
        assert_eq!(f.status, Status::Skipped, "{f:?}");
        assert!(f.detail.contains("EKS Auto Mode"), "{}", f.detail);
        assert!(f.remediation.is_empty());
    }

    #[test]
    fn kube_proxy_not_ready_on_the_unhealthy_node_fails_with_the_restart() {
        let mut b = SnapshotB::instance().targets(vec![
            target("i-0aaa", 32663, "healthy"),
            target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
        ]);
        if let Fetched::Ok(kp) = &mut b.kube().kube_proxy {
            kp.pods[1] = PodB::new("kube-system", "kube-proxy-bbbbb")
                .labels(&[("k8s-app", "kube-proxy")])
                .node("node-b")
                .waiting("CrashLoopBackOff")
                .build();
            kp.daemonset.as_mut().unwrap().status.as_mut().unwrap().number_ready = 1;
        }
        let f = CHECK.on(&b.build());
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert!(f.detail.contains("node-b: kube-proxy-bbbbb not ready"), "{}", f.detail);
        assert_eq!(f.remediation[0], RESTART);
    }
}
