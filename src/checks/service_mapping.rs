//! `service-mapping`: the target group maps to a Kubernetes Service that exists.
//!
//! Without the Service, none of the Kubernetes checks can run; a target group whose Service is
//! gone (deleted, renamed, wrong binding) keeps failing health checks forever. The finding lists
//! every way that was tried (ARCHITECTURE.md, "Mapping").

use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;
use crate::snapshot::Fetched;

pub const CHECK: Check = Check {
    id: CheckId::SERVICE_MAPPING,
    section: "—",
    layer: Layer::Mapping,
    verifies: "the target group maps to a Service that exists; lists every way tried",
    needs: "TargetGroupBindings, TG/LB tags, services",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    Ok(judge(ctx))
}

fn judge(ctx: &View) -> Finding {
    let res = &ctx.snap.resolution;
    let evidence =
        json!({"cluster": res.cluster, "clusterSource": res.cluster_source, "attempts": res.attempts, "kubernetes": ctx.snap.kube.source});
    let Some(svc) = &res.service else {
        // Nothing mapped. If the cluster could not be read at all, that is missing evidence.
        let kube = &ctx.snap.kube;
        if let (Err(why), None) = (kube.target_group_bindings.get(), kube.all_services.ok()) {
            let at = kube.source.as_deref().map(|s| format!(" [{s}]")).unwrap_or_default();
            return Finding::unknown(ID, format!("cannot read the cluster to map the target group{at}: {why}")).evidence(evidence);
        }
        let tried: Vec<String> = res.attempts.iter().map(|a| format!("{}: {}", a.method, a.outcome)).collect();
        return Finding::fail(
            ID,
            "Target group maps to no Service",
            format!("No Kubernetes Service stands behind this target group. Tried {}.", tried.join("; ")),
        )
        .evidence(evidence)
        .remediation(vec![
            "List the bindings and check which one should name this target group: kubectl get targetgroupbindings -A -o wide".into(),
            format!(
                "If the Service was deleted, delete the orphaned target group or bind it again: aws elbv2 describe-tags --resource-arns {}",
                ctx.snap.request.target_group_arn
            ),
        ])
        .explains(ctx.unhealthy_ids());
    };
    let port = svc.port.as_ref().map(|p| format!(":{p}")).unwrap_or_default();
    let bindings: Vec<String> = (ctx.snap.kube.target_group_bindings.ok().into_iter().flatten())
        .filter(|b| b.target_group_arn == ctx.snap.request.target_group_arn)
        .map(|b| format!("{}/{} → Service {}:{}", b.namespace, b.name, b.service_name, b.service_port))
        .collect();
    match &ctx.snap.kube.service {
        // Several bindings on one target group: the controller registers each one's endpoints
        // into it, so targets of a Service nobody meant answer this group's health check.
        Fetched::Ok(_) if bindings.len() > 1 => Finding::warn(
            ID,
            format!("{} TargetGroupBindings share this target group", bindings.len()),
            format!(
                "Mapped to Service {}/{}{port}, but {} bind the same target group ({}): the controller registers the endpoints of each, so one Service's pods can fail another's health check. Keep one binding per target group.",
                svc.namespace,
                svc.name,
                bindings.len(),
                bindings.join(", ")
            ),
        )
        .evidence(json!({"bindings": bindings, "mapping": evidence}))
        .remediation(vec![format!(
            "kubectl get targetgroupbindings -A -o wide | grep {}",
            ctx.snap.request.target_group_arn.rsplit('/').nth(1).unwrap_or("")
        )]),
        Fetched::Ok(_) => Finding::pass(
            ID,
            format!("Mapped to Service {}/{}{port}", svc.namespace, svc.name),
            format!("Resolved by {} to Service {}/{}{port}.", svc.resolved_by, svc.namespace, svc.name),
        )
        .evidence(evidence),
        Fetched::Failed(m) if m.error.contains("NotFound") || m.error.contains("not found") => Finding::fail(
            ID,
            format!("Service {}/{} does not exist", svc.namespace, svc.name),
            format!(
                "The target group is bound (by {}) to Service {}/{}, which does not exist; nothing can serve its targets.",
                svc.resolved_by, svc.namespace, svc.name
            ),
        )
        .evidence(evidence)
        .remediation(vec![
            format!("kubectl get service {} -n {}", svc.name, svc.namespace),
            format!(
                "Fix the binding's serviceRef or recreate the Service: kubectl get targetgroupbindings -n {} -o yaml",
                svc.namespace
            ),
        ])
        .explains(ctx.unhealthy_ids()),
        other => Finding::unknown(
            ID,
            format!(
                "mapped to {}/{} but the Service could not be read: {}",
                svc.namespace,
                svc.name,
                other.get().err().unwrap_or_default()
            ),
        )
        .evidence(evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn resolved_and_existing_service_passes_and_says_how() {
        let snap = SnapshotB::instance().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass);
        assert!(f.detail.contains("target-group-binding"), "{}", f.detail);
    }

    #[test]
    fn two_bindings_on_one_target_group_warn_naming_both() {
        // GIVEN a second binding in another namespace naming the same target group
        let mut b = SnapshotB::instance();
        if let crate::snapshot::Fetched::Ok(list) = &mut b.kube().target_group_bindings {
            list.push(binding("other", TG_ARN, "api", crate::snapshot::PortRef::Number(8080)));
        }
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN it warns, listing every binding, instead of silently taking the first
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.evidence["bindings"].as_array().unwrap().len(), 2);
        assert!(f.detail.contains("other/k8s-api → Service api:8080"), "{}", f.detail);
    }

    #[test]
    fn unmapped_target_group_fails_listing_every_attempt() {
        // GIVEN a resolution that tried bindings and tags and found nothing
        let snap = SnapshotB::instance().unmapped().build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails, names the attempts and explains every unhealthy target
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("target-group-binding") && f.detail.contains("tags"),
            "{}",
            f.detail
        );
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }

    #[test]
    fn bound_service_that_does_not_exist_fails() {
        let snap = SnapshotB::instance().service_missing().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.title.contains("does not exist"));
    }

    #[test]
    fn unreachable_cluster_is_unknown_not_fail() {
        let snap = SnapshotB::instance().cluster_unreachable().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.detail.contains("connection refused"), "{}", f.detail);
    }
}
