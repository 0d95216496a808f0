//! `endpoints` (article §3): the Service has ready endpoints, and for ip targets the registered
//! targets are exactly the ready endpoint IPs.
//!
//! No ready endpoint means nothing behind the NodePort or the pod IPs can answer. With ip
//! targets, a registered IP that is no longer an endpoint (stale target) or is a not-ready one
//! fails its health checks; a ready endpoint that is not registered gets no traffic.

use serde_json::json;

use crate::snapshot::ServiceShape;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{EndpointsView, View};
use crate::snapshot::EndpointAddress;

pub const CHECK: Check = Check {
    id: CheckId::ENDPOINTS,
    section: "§3",
    layer: Layer::Endpoints,
    verifies: "ready endpoints exist; for ip targets, stale targets, not-ready targets, unregistered endpoints",
    needs: "Endpoints / EndpointSlices, target health",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_service()?;
    if ctx.service_shape() == Some(ServiceShape::ExternalName) {
        return Err(ctx.skipped("ExternalName Service: it has no endpoints"));
    }
    let eps = ctx.endpoints().map_err(|why| ctx.unknown(why))?;
    Ok(judge(ctx, eps))
}

fn judge(ctx: &View, eps: &EndpointsView) -> Finding {
    let (ns, name) = ctx.service_name();
    let ready: Vec<&EndpointAddress> = eps.addresses.iter().filter(|a| a.ready).collect();
    let not_ready: Vec<&EndpointAddress> = eps.addresses.iter().filter(|a| !a.ready).collect();
    let show = |a: &[&EndpointAddress]| {
        a.iter()
            .map(|a| format!("{}{}", a.ip, a.pod.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let mut evidence = json!({"source": eps.source, "ready": show(&ready), "notReady": show(&not_ready)});

    if ready.is_empty() {
        let detail = if not_ready.is_empty() {
            format!("Service {ns}/{name} has no endpoints at all: no pod is selected, so nothing can answer the health check.")
        } else {
            format!(
                "Service {ns}/{name} has {} endpoints and none is ready: {}.",
                not_ready.len(),
                show(&not_ready).join(", ")
            )
        };
        // Ready pods that are selected yet absent: the targetPort does not resolve in them, which
        // target-port explains; the missing endpoints are its consequence, not the cause.
        let ready_pods = ctx.selected.iter().filter(|p| crate::snapshot::pod_ready(p)).count();
        // Pods whose containers are ready but whose load-balancer readiness gate is not: they
        // wait on the load balancer (readiness-gates), they do not cause it.
        let gated = ctx.selected.iter().filter(|p| crate::snapshot::gate_blocked(p)).count();
        if gated > 0 && ready_pods == 0 {
            let detail = format!("{detail} All {gated} selected pods wait on their target-health readiness gate (see readiness-gates).");
            return Finding::fail(ID, "No ready endpoints", detail)
                .evidence(evidence)
                .remediation(vec![format!("kubectl get endpoints {name} -n {ns}")]);
        }
        if ready_pods > 0 {
            let detail = format!(
                "{detail} Yet {ready_pods} selected pods are ready: the Service's targetPort does not resolve in them (see target-port)."
            );
            return Finding::fail(ID, "No ready endpoints", detail).evidence(evidence).remediation(vec![
                format!("kubectl get endpoints {name} -n {ns}"),
                format!("kubectl get service {name} -n {ns} -o jsonpath='{{.spec.ports}}'"),
            ]);
        }
        let mut fix = vec![
            format!("kubectl get endpoints {name} -n {ns}"),
            format!("kubectl describe service {name} -n {ns}"),
        ];
        if ctx.service_shape() == Some(ServiceShape::NoSelector) {
            fix.push(format!(
                "The Service has no selector: create its Endpoints object by hand, or add a selector: kubectl edit service {name} -n {ns}"
            ));
        }
        return Finding::fail(ID, "No ready endpoints", detail)
            .evidence(evidence)
            .remediation(fix)
            .explains(ctx.unhealthy_ids());
    }

    if ctx.is_ip() {
        if let Ok(targets) = &ctx.targets {
            // In a group shared between clusters, the others' targets are not stale here; nor
            // are another cluster's, bound without the flag (service-mapping names that fight).
            let mut others = ctx.other_clusters().unwrap_or_default();
            others.extend(ctx.foreign_ip_targets().into_iter().map(|(ip, _)| ip));
            let stale: Vec<String> = ctx
                .unhealthy()
                .iter()
                .filter(|t| !eps.addresses.iter().any(|a| a.ip == t.id) && !others.contains(t.id.as_str()))
                .map(|t| t.id.clone())
                .collect();
            if !others.is_empty() {
                evidence["otherClusterTargets"] = json!(others);
            }
            let unready: Vec<String> = ctx
                .unhealthy()
                .iter()
                .filter(|t| not_ready.iter().any(|a| a.ip == t.id))
                // a pod held back by its readiness gate waits on the load balancer (readiness-gates)
                .filter(|t| !ctx.pod_by_ip(&t.id).is_some_and(crate::snapshot::gate_blocked))
                .map(|t| t.id.clone())
                .collect();
            let unregistered: Vec<String> = ready
                .iter()
                .filter(|a| !targets.iter().any(|t| t.id == a.ip))
                .map(|a| a.ip.clone())
                .collect();
            evidence["staleTargets"] = json!(stale);
            evidence["notReadyTargets"] = json!(unready);
            evidence["unregisteredEndpoints"] = json!(unregistered);
            if !stale.is_empty() || !unready.is_empty() {
                let mut parts = Vec::new();
                if !stale.is_empty() {
                    parts.push(format!(
                        "{} registered targets are not endpoints of {ns}/{name} any more (stale: {})",
                        stale.len(),
                        stale.join(", ")
                    ));
                }
                if !unready.is_empty() {
                    parts.push(format!(
                        "{} targets are not-ready endpoints ({})",
                        unready.len(),
                        unready.join(", ")
                    ));
                }
                let explains: Vec<String> = stale.iter().chain(&unready).cloned().collect();
                return Finding::fail(ID, "Targets do not match ready endpoints", format!("{}.", parts.join("; ")))
                    .evidence(evidence)
                    .remediation(vec![
                        format!("kubectl get endpoints {name} -n {ns} -o wide"),
                        format!(
                            "kubectl describe targetgroupbindings -n {ns}   # the controller deregisters stale targets; check its events"
                        ),
                    ])
                    .explains(explains);
            }
            if !unregistered.is_empty() {
                return Finding::warn(
                    ID,
                    "Ready endpoints not registered",
                    format!(
                        "{} ready endpoints are not registered in the target group ({}); the controller has not caught up.",
                        unregistered.len(),
                        unregistered.join(", ")
                    ),
                )
                .evidence(evidence);
            }
        }
    }
    if !not_ready.is_empty() {
        return Finding::warn(
            ID,
            format!("{} of {} endpoints ready", ready.len(), eps.addresses.len()),
            format!(
                "{} endpoints of {ns}/{name} are not ready: {}.",
                not_ready.len(),
                show(&not_ready).join(", ")
            ),
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        format!("{} ready endpoints", ready.len()),
        format!("Service {ns}/{name} has {} ready endpoints ({}).", ready.len(), eps.source),
    )
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn no_endpoints_fails_explaining_every_unhealthy_target() {
        let snap = SnapshotB::article().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("no endpoints at all"), "{}", f.detail);
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }

    #[test]
    fn no_endpoints_despite_ready_selected_pods_defers_to_target_port() {
        // GIVEN ready pods the selector matches, but an empty endpoints object (named port unresolved)
        let snap = SnapshotB::instance().endpoints(endpoints("default", "alb-instance", &[])).build();
        let f = CHECK.on(&snap);
        // THEN it fails but explains nothing, pointing at target-port
        assert_eq!(f.status, Status::Fail);
        assert!(f.explains.is_empty());
        assert!(f.detail.contains("see target-port"), "{}", f.detail);
    }

    #[test]
    fn partly_ready_endpoints_warn_for_instance_targets() {
        let snap = SnapshotB::instance()
            .endpoints(endpoints("default", "alb-instance", &[("10.0.1.10", true), ("10.0.2.11", false)]))
            .build();
        let f = CHECK.on(&snap);
        assert_eq!((f.status, f.title.as_str()), (Status::Warn, "1 of 2 endpoints ready"));
    }

    #[test]
    fn stale_and_not_ready_ip_targets_fail_only_those_targets() {
        // GIVEN three unhealthy ip targets: one stale, one not-ready endpoint; one healthy target
        let snap = SnapshotB::ip()
            .targets(vec![
                target("10.0.1.10", 8080, "healthy"),
                target_r("10.0.2.11", 8080, "unhealthy", "Target.Timeout"),
                target_r("192.168.9.99", 8080, "unhealthy", "Target.Timeout"),
            ])
            .endpoints(endpoints("shop", "web", &[("10.0.1.10", true), ("10.0.2.11", false)]))
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence["staleTargets"], json!(["192.168.9.99"]));
        assert_eq!(f.evidence["notReadyTargets"], json!(["10.0.2.11"]));
        assert_eq!(f.explains, vec!["10.0.2.11", "192.168.9.99"]);
    }

    #[test]
    fn ready_endpoint_missing_from_target_group_warns() {
        let snap = SnapshotB::ip()
            .targets(vec![target("10.0.1.10", 8080, "healthy")])
            .endpoints(endpoints("shop", "web", &[("10.0.1.10", true), ("10.0.2.11", true)]))
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.evidence["unregisteredEndpoints"], json!(["10.0.2.11"]));
    }

    #[test]
    fn selectorless_service_without_endpoints_says_to_create_them() {
        let snap = SnapshotB::ip()
            .service(ServiceB::new("shop", "web").port(80, 8080).build())
            .endpoints(endpoints("shop", "web", &[]))
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.remediation.iter().any(|r| r.contains("no selector")));
    }

    #[test]
    fn endpoints_api_denied_is_unknown_naming_the_permission() {
        let snap = SnapshotB::ip().endpoints_denied().build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("list endpoints"), "{}", f.detail);
    }
}
