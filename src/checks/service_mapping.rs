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
    verifies: "the target group maps to a Service that exists; lists every way tried; one binding per target group, and no registered instance that is not a node of this cluster (another cluster's controller fighting over the group)",
    needs: "TargetGroupBindings, TG/LB tags, services, nodes, DescribeInstances",
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
    if let (Fetched::Ok(_), Some(f)) = (&ctx.snap.kube.service, foreign_targets(ctx, svc, &bindings)) {
        let foreign = f.evidence.clone();
        return f.evidence(json!({"bindings": bindings, "mapping": evidence, "foreign": foreign}));
    }
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
        Fetched::Ok(_) => {
            let shared = match ctx.other_clusters() {
                Some(others) => format!(
                    " The group is shared with other clusters (multiClusterTargetGroup): {} of its targets are theirs, judged there.",
                    others.len()
                ),
                None => String::new(),
            };
            let (via, gateway) = through_gateway(ctx);
            Finding::pass(
                ID,
                format!("Mapped to Service {}/{}{port}", svc.namespace, svc.name),
                format!("Resolved by {} to Service {}/{}{port}{via}.{shared}", svc.resolved_by, svc.namespace, svc.name),
            )
            .evidence(match gateway {
                serde_json::Value::Null => evidence,
                g => {
                    let mut e = evidence;
                    e["gateway"] = g;
                    e
                }
            })
        }
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

/// Instance targets that are no Node of this cluster while a binding here owns the group: another
/// cluster's controller (or a hand registration) registers into it, and each controller
/// deregisters what it does not own, so targets come and go. The group's cluster tag is quoted
/// when it names another cluster. Needs the nodes and the instances (a target whose instance
/// is not running is `nodes`' to explain, not this).
fn foreign_targets(ctx: &View, svc: &crate::snapshot::ServiceRef, bindings: &[String]) -> Option<Finding> {
    // Shared on purpose (`multiClusterTargetGroup`): the other clusters' targets are theirs.
    if bindings.is_empty() || ctx.other_clusters().is_some() {
        return None;
    }
    if ctx.is_ip() {
        return foreign_ip_targets(ctx, svc);
    }
    let nodes = ctx.snap.kube.nodes.ok()?;
    let instances = ctx.instances().ok()?;
    if nodes.is_empty() {
        return None;
    }
    let targets = ctx.targets.as_ref().ok()?;
    let foreign: Vec<&crate::snapshot::TargetHealth> = (targets.iter())
        .filter(|t| ctx.node_by_instance(&t.id).is_none())
        .filter(|t| instances.iter().any(|i| i.id == t.id && i.state == "running"))
        .collect();
    if foreign.is_empty() {
        return None;
    }
    let ours = ctx.snap.resolution.cluster.as_deref().unwrap_or("?");
    let tagged = (ctx.snap.aws.target_group_tags.ok())
        .and_then(|t| t.get("elbv2.k8s.aws/cluster"))
        .filter(|c| c.as_str() != ours);
    let ids: Vec<&str> = foreign.iter().map(|t| t.id.as_str()).collect();
    let unhealthy: Vec<String> = foreign.iter().filter(|t| t.is_unhealthy()).map(|t| t.id.clone()).collect();
    let tag = tagged
        .map(|c| format!(" The target group is tagged for cluster {c:?} (elbv2.k8s.aws/cluster)."))
        .unwrap_or_default();
    let title = format!("{} registered instance{} not nodes of cluster {ours}", ids.len(), if ids.len() == 1 { " is" } else { "s are" });
    let detail = format!(
        "Bound here to Service {}/{}, yet {} {} registered in this target group and no Node of cluster {ours}: another cluster's controller (or a hand registration) puts targets here, and each controller deregisters what it does not own.{tag} Keep one binding per target group, in one cluster.",
        svc.namespace,
        svc.name,
        ids.join(", "),
        if ids.len() == 1 { "is" } else { "are" }
    );
    let arn = &ctx.snap.request.target_group_arn;
    let fixes = vec![
        format!("aws elbv2 describe-tags --resource-arns {arn}   # which cluster and stack created the group"),
        format!("kubectl get targetgroupbindings -A -o wide | grep {}   # in each cluster", arn.rsplit('/').nth(1).unwrap_or("")),
    ];
    let f = if unhealthy.is_empty() { Finding::warn(ID, title, detail) } else { Finding::fail(ID, title, detail) };
    Some(f.evidence(json!({"targets": ids, "taggedCluster": tagged})).remediation(fixes).explains(unhealthy))
}


/// Ip targets held by an instance that is no node of this cluster, in a group bound here
/// without `multiClusterTargetGroup`. Each controller deregisters every target it does not own
/// unless the binding says the group is shared (the controller's TargetGroupBinding docs,
/// "MultiCluster Target Group"), so the two fight: targets come and go.
fn foreign_ip_targets(ctx: &View, svc: &crate::snapshot::ServiceRef) -> Option<Finding> {
    let foreign = ctx.foreign_ip_targets();
    if foreign.is_empty() {
        return None;
    }
    let ours = ctx.snap.resolution.cluster.as_deref().unwrap_or("?");
    let ids: Vec<&str> = foreign.iter().map(|(ip, _)| *ip).collect();
    let instances: std::collections::BTreeSet<&str> = foreign.iter().map(|(_, i)| *i).collect();
    let instances: Vec<&str> = instances.into_iter().collect();
    let unhealthy: Vec<String> = (ctx.unhealthy().iter()).filter(|t| ids.contains(&t.id.as_str())).map(|t| t.id.clone()).collect();
    let title = format!("{} registered targets belong to instances outside cluster {ours}", ids.len());
    let detail = format!(
        "Bound here to Service {}/{} without multiClusterTargetGroup, yet {} {} registered in this target group as addresses of {}, no Node of cluster {ours}: another cluster's controller (or a hand registration) puts targets here, and each controller deregisters what it does not own, so targets keep being deregistered and registered again. If the group is shared on purpose (a blue/green cluster upgrade), set spec.multiClusterTargetGroup: true on the binding in every cluster; otherwise keep one binding, in one cluster.",
        svc.namespace,
        svc.name,
        ids.join(", "),
        if ids.len() == 1 { "is" } else { "are" },
        instances.join(", ")
    );
    let arn = &ctx.snap.request.target_group_arn;
    let fixes = vec![
        format!("aws ec2 describe-instances --instance-ids {} --query 'Reservations[].Instances[].Tags'   # which cluster runs them", instances.join(" ")),
        format!("kubectl get targetgroupbindings -A -o wide | grep {}   # in each cluster", arn.rsplit('/').nth(1).unwrap_or("")),
    ];
    let f = if unhealthy.is_empty() { Finding::warn(ID, title, detail) } else { Finding::fail(ID, title, detail) };
    Some(f.evidence(json!({"targets": ids, "instances": instances})).remediation(fixes).explains(unhealthy))
}

/// For a Gateway's target group: ", the backend of HTTPRoute NS/NAME of Gateway NS/GW", and the
/// Gateway objects read (or why not), as the mapping's evidence.
fn through_gateway(ctx: &View) -> (String, serde_json::Value) {
    match &ctx.snap.kube.gateway {
        Fetched::Ok(g) => {
            let route = g.route.as_ref().map(|r| format!("{r} of ")).unwrap_or_default();
            let class = g.class.as_deref().map(|c| format!(" (class {c})")).unwrap_or_default();
            (format!(", the backend of {route}Gateway {}/{}{class}", g.namespace, g.name), json!(g))
        }
        Fetched::Failed(m) => (String::new(), json!({"unknown": m.explain()})),
        Fetched::NotCollected { .. } => (String::new(), serde_json::Value::Null),
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
    fn instance_of_another_cluster_registered_here_fails_explaining_only_it() {
        // GIVEN a third registered instance, running, that is no Node here; tagged for "blue"
        let mut b = SnapshotB::instance().targets(vec![
            target("i-0aaa", 32663, "healthy"),
            target("i-0bbb", 32663, "healthy"),
            target_r("i-0ccc", 32663, "unhealthy", "Target.Timeout"),
        ]);
        if let crate::snapshot::Fetched::Ok(list) = &mut b.aws().network.instances {
            let mut other = list[0].clone();
            other.id = "i-0ccc".into();
            list.push(other);
        }
        b.aws().target_group_tags = crate::snapshot::Fetched::Ok([("elbv2.k8s.aws/cluster".to_string(), "blue".to_string())].into());
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN it fails for i-0ccc alone, quoting the other cluster, with read-only steps
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(f.explains, vec!["i-0ccc"]);
        assert!(f.detail.contains("tagged for cluster \"blue\""), "{}", f.detail);
        assert!(f.remediation.iter().all(|r| r.starts_with("aws elbv2 describe-tags") || r.starts_with("kubectl get")));
    }

    #[test]
    fn instance_that_is_not_running_is_left_to_the_nodes_check() {
        // GIVEN the extra instance is stopped
        let mut b = SnapshotB::instance().targets(vec![target_r("i-0ccc", 32663, "unhealthy", "Target.InvalidState")]);
        if let crate::snapshot::Fetched::Ok(list) = &mut b.aws().network.instances {
            let mut other = list[0].clone();
            other.id = "i-0ccc".into();
            other.state = "stopped".into();
            list.push(other);
        }
        // THEN not claimed as another cluster's
        assert_eq!(CHECK.on(&b.build()).status, Status::Pass);
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
