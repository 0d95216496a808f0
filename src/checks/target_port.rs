//! `target-port` (article §5): traffic sent to the Service port reaches a port the pods listen on.
//!
//! The Service port's `targetPort` (a number, or a name looked up in each pod's containerPorts)
//! must match a containerPort of every selected pod; instance targets must be registered on the
//! Service's NodePort; an explicit health-check port must be one something serves.

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use crate::snapshot::{pod_name, ServiceShape};
use super::health::serving_problems;
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;

pub const CHECK: Check = Check {
    id: CheckId::TARGET_PORT,
    section: "§5",
    layer: Layer::Ports,
    verifies: "targetPort (number or name) matches a containerPort; instance targets on the NodePort (a NodePort that changed under the in-tree provider: pinned back), never for pods all on Fargate (ip targets); explicit health-check port served",
    needs: "service, pods",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let svc = ctx.need_service()?;
    if ctx.service_shape() == Some(ServiceShape::ExternalName) {
        return Err(ctx.skipped("ExternalName Service: it has no ports to forward"));
    }
    ctx.need_pods()?;
    Ok(judge(ctx, svc))
}

fn judge(ctx: &View, svc: &Service) -> Finding {
    let (ns, name) = ctx.service_name();
    let all_ports: &[ServicePort] = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or(&[]);
    // A port's index in the Service's own list, which a JSON patch addresses.
    let index_of = |p: &ServicePort| all_ports.iter().position(|x| x.port == p.port && x.protocol == p.protocol).unwrap_or(0);
    let ports: Vec<&ServicePort> = match ctx.service_port() {
        Some(p) => vec![p],
        None => all_ports.iter().collect(),
    };
    if ports.is_empty() {
        return Finding::fail(ID, "Service has no ports", format!("Service {ns}/{name} declares no ports.")).explains(ctx.unhealthy_ids());
    }
    let mut problems: Vec<(String, Vec<String>, Vec<String>)> = Vec::new(); // (sentence, explains, fixes)
    let mut resolved: Vec<Value> = Vec::new();

    // Instance targets are EC2 instances: pods on Fargate nodes (no instance behind them) can
    // only be ip targets. The controller leaves Fargate nodes out of instance target groups
    // (aws-load-balancer-controller#1129), so such a group stays empty (#2133, the EKS user
    // guide: "set the target type to ip" for Fargate).
    if let Some(p) = fargate_only(ctx) {
        problems.push(p);
    }
    // Instance targets receive traffic on the NodePort.
    if ctx.target_type() == Some("instance") {
        let p = ports[0];
        match p.node_port {
            None => problems.push((
                format!(
                    "the target group has instance targets but Service {ns}/{name} (type {}) has no NodePort",
                    svc.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP")
                ),
                ctx.unhealthy_ids(),
                vec![format!(
                    "kubectl patch service {name} -n {ns} -p '{{\"spec\":{{\"type\":\"NodePort\"}}}}'   # or use ip targets"
                )],
            )),
            Some(np) => {
                let wrong: Vec<String> = ctx
                    .unhealthy()
                    .iter()
                    .filter(|t| t.port.is_some_and(|tp| tp != np))
                    .map(|t| t.id.clone())
                    .collect();
                if !wrong.is_empty() {
                    let tp = ctx.unhealthy().iter().find_map(|t| t.port).unwrap_or_default();
                    let bound = ctx.snap.resolution.service.as_ref().is_some_and(|s| s.resolved_by == crate::mapping::BY_BINDING);
                    // Without a binding, the in-tree provider (or the cloud controller) owns the
                    // target group, and a target group's port cannot change: when it fails to make
                    // one on the new NodePort (istio#28856: DuplicateTargetGroupName), the NLB
                    // keeps checking the old one. Pinning the Service back to that NodePort is the
                    // workaround users confirmed (istio#31418); the API server refuses it if
                    // another Service took the port, so it cannot steal one.
                    let failed = ctx
                        .events()
                        .iter()
                        .find(|e| e.reason == "SyncLoadBalancerFailed" || e.reason == "UpdateLoadBalancerFailed")
                        .map(|e| format!("; the provider reports: {} {:?}", e.reason, e.message.chars().take(200).collect::<String>()))
                        .unwrap_or_default();
                    let index = index_of(p);
                    let fix = if bound {
                        format!("kubectl describe targetgroupbindings -n {ns}   # the controller should re-register on NodePort {np}")
                    } else {
                        format!(
                            "kubectl patch service {} -n {} --type json -p '[{{\"op\":\"replace\",\"path\":\"/spec/ports/{index}/nodePort\",\"value\":{tp}}}]'   # back to the NodePort the target group checks",
                            crate::shell::quote(&name),
                            crate::shell::quote(&ns)
                        )
                    };
                    problems.push((
                        format!(
                            "{} targets are registered on port {tp} but the Service's NodePort is {np} (the NodePort changed{}){failed}",
                            wrong.len(),
                            if bound { "; the controller re-registers targets on the new one" } else { "; a target group's port cannot change" }
                        ),
                        wrong,
                        vec![fix],
                    ));
                }
            }
        }
    }

    // targetPort against the selected pods' containerPorts.
    for p in &ports {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        let shown = match &target {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => s.clone(),
        };
        let mut bad: Vec<&Pod> = Vec::new();
        let mut found = Vec::new();
        for pod in &ctx.selected {
            match resolve(pod, &target) {
                Resolved::Port(n) => found.push(n),
                Resolved::Undeclared => {}
                Resolved::Missing => bad.push(pod),
            }
        }
        found.sort();
        found.dedup();
        resolved.push(json!({"port": p.port, "name": p.name, "targetPort": shown, "nodePort": p.node_port, "containerPorts": found, "podsWithout": bad.iter().map(|p| pod_name(p)).collect::<Vec<_>>()}));
        if !bad.is_empty() {
            let declared: Vec<String> = bad
                .iter()
                .flat_map(|p| container_ports(p))
                .map(|(n, port)| n.map(|n| format!("{n}:{port}")).unwrap_or(port.to_string()))
                .collect();
            let explains = if bad.len() == ctx.selected.len() {
                ctx.unhealthy_ids()
            } else if ctx.is_ip() {
                ctx.targets_of_pods(&bad)
            } else {
                vec![]
            };
            let fix_value = match (&target, declared.first()) {
                (IntOrString::String(_), Some(d)) => d.split(':').next().unwrap_or(d).to_string(),
                (_, Some(d)) => d.rsplit(':').next().unwrap_or(d).to_string(),
                _ => "<containerPort>".into(),
            };
            let fix_json = fix_value
                .parse::<i32>()
                .map(|n| n.to_string())
                .unwrap_or(format!("\"{fix_value}\""));
            problems.push((
                format!(
                    "Service port {} sends to targetPort {shown}, which {} of {} pods do not declare (they declare {})",
                    p.port,
                    bad.len(),
                    ctx.selected.len(),
                    if declared.is_empty() { "nothing".into() } else { declared.join(", ") }
                ),
                explains,
                vec![format!(
                    "kubectl patch service {name} -n {ns} --type json -p '[{{\"op\":\"replace\",\"path\":\"/spec/ports/{}/targetPort\",\"value\":{fix_json}}}]'",
                    index_of(p)
                )],
            ));
        }
    }

    // An explicit health-check port must be one something serves. When an annotation chose it,
    // the annotation check explains the targets (that is where the fix goes).
    if let Ok(tg) = &ctx.tg {
        let port = tg.health_check.port.as_deref().unwrap_or("traffic-port");
        let annotated = ctx
            .requested_health_check()
            .is_some_and(|(_, spec, _)| spec.port.annotated().is_some());
        for p in serving_problems(ctx, "TCP", port, "/").into_iter().filter(|p| p.setting == "port") {
            if annotated {
                problems.push((
                    format!("{} (set by an annotation: see the annotation checks)", p.sentence),
                    vec![],
                    vec![],
                ));
            } else {
                // A Gateway's group is set from its TargetGroupConfiguration: fix it there.
                match ctx.gateway_setting("healthCheckPort", json!("traffic-port")) {
                    Some(g) => problems.push((format!("{} (set by {})", p.sentence, g.source), p.targets, g.fix.into_iter().collect())),
                    None => problems.push((
                        p.sentence,
                        p.targets,
                        vec![format!(
                            "aws elbv2 modify-target-group --target-group-arn {} --health-check-port traffic-port",
                            tg.arn
                        )],
                    )),
                }
            }
        }
    }

    let evidence = json!({"servicePorts": resolved, "healthCheckPort": ctx.tg.as_ref().ok().and_then(|t| t.health_check.port.clone())});
    if problems.is_empty() {
        if ctx.selected.is_empty() {
            return Finding::skipped(
                ID,
                "the Service's selector matches no pods, so there are no containerPorts to compare (see selector-match)",
            )
            .evidence(evidence);
        }
        return Finding::pass(
            ID,
            "Ports line up",
            format!(
                "Service {ns}/{name} forwards to a port every selected pod declares (or that is not declared, which cannot be checked)."
            ),
        )
        .evidence(evidence);
    }
    let sentence: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
    let explains: Vec<String> = problems.iter().flat_map(|p| p.1.clone()).collect();
    Finding::fail(ID, "Port mismatch", format!("{}.", super::capitalise(&sentence.join("; "))))
        .evidence(evidence)
        .remediation(problems.into_iter().flat_map(|p| p.2).collect())
        .explains(explains)
}

enum Resolved {
    Port(i32),
    /// A container of the pod declares no containerPorts: the number cannot be checked.
    Undeclared,
    Missing,
}

fn resolve(pod: &Pod, target: &IntOrString) -> Resolved {
    let ports = container_ports(pod);
    match target {
        IntOrString::String(name) => ports
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name))
            .map(|(_, p)| Resolved::Port(*p))
            .unwrap_or(Resolved::Missing),
        IntOrString::Int(n) if ports.iter().any(|(_, p)| p == n) => Resolved::Port(*n),
        // A numeric targetPort works without a declared containerPort (the declaration is
        // informational): a container that declares none may be the one listening, as with an
        // app beside a sidecar that declares its own ports. Only when every container declares
        // ports and none is this one is it a mismatch.
        IntOrString::Int(_) if has_undeclared_container(pod) => Resolved::Undeclared,
        IntOrString::Int(_) => Resolved::Missing,
    }
}

fn has_undeclared_container(pod: &Pod) -> bool {
    crate::snapshot::serving_containers(pod).any(|c| c.ports.as_ref().is_none_or(|p| p.is_empty()))
}

fn container_ports(pod: &Pod) -> Vec<(Option<String>, i32)> {
    crate::snapshot::serving_containers(pod)
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| (p.name.clone(), p.container_port))
        .collect()
}

/// An instance target group whose Service's pods all run on Fargate nodes: (sentence, explains,
/// fixes), the fix being the target type, where the controller reads it.
fn fargate_only(ctx: &View) -> Option<(String, Vec<String>, Vec<String>)> {
    if ctx.target_type() != Some("instance") || ctx.selected.is_empty() {
        return None;
    }
    let nodes = ctx.snap.kube.nodes.ok()?;
    let fargate = |name: &str| {
        nodes.iter().any(|n| {
            n.metadata.name.as_deref() == Some(name)
                && n.metadata.labels.as_ref().and_then(|l| l.get("eks.amazonaws.com/compute-type")).map(String::as_str) == Some("fargate")
        })
    };
    let on: Vec<&str> = ctx.selected.iter().filter_map(|p| p.spec.as_ref()?.node_name.as_deref()).collect();
    if on.len() != ctx.selected.len() || !on.iter().all(|n| fargate(n)) {
        return None;
    }
    let (ns, name) = ctx.service_name();
    use super::health::{ALB_TARGET_TYPE, NLB_TARGET_TYPE};
    let key = if ctx.lb_kind() == Some("network") { NLB_TARGET_TYPE } else { ALB_TARGET_TYPE };
    Some((
        format!(
            "the target group takes instance targets, and every pod of Service {ns}/{name} runs on a Fargate node ({}): Fargate nodes are no EC2 instances, so none can be registered; Fargate pods are reached as ip targets",
            on.join(", ")
        ),
        ctx.unhealthy_ids(),
        vec![format!(
            "kubectl annotate service {} -n {} {key}=ip --overwrite   # the controller makes a new ip target group (a Service of type ClusterIP suffices)",
            crate::shell::quote(&name),
            crate::shell::quote(&ns)
        )],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn numeric_target_port_beside_a_sidecar_with_ports_is_not_a_mismatch() {
        // GIVEN targetPort 8080, an app container that declares no ports and a sidecar declaring 15090
        let pods = ["web-1", "web-2"]
            .iter()
            .map(|n| {
                PodB::new("shop", n)
                    .labels(&[("app", "web")])
                    .no_ports()
                    .sidecar("istio-proxy", 15090)
                    .ready()
                    .build()
            })
            .collect();
        let snap = SnapshotB::ip()
            .service(ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 8080).build())
            .pods(pods)
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the sidecar's port does not make the pods "bad": the number cannot be checked
        assert_ne!(f.status, Status::Fail, "{}", f.detail);
        assert!(f.explains.is_empty());
    }

    #[test]
    fn named_target_port_resolves_per_pod() {
        // GIVEN targetPort "http" and pods declaring http:8080
        let snap = SnapshotB::ip()
            .service(
                ServiceB::new("shop", "web")
                    .selector(&[("app", "web")])
                    .named_target(80, "http")
                    .build(),
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert_eq!(f.evidence["servicePorts"][0]["containerPorts"], json!([8080]));
    }

    #[test]
    fn named_target_port_missing_on_pods_fails_with_json_patch() {
        let snap = SnapshotB::ip()
            .service(
                ServiceB::new("shop", "web")
                    .selector(&[("app", "web")])
                    .named_target(80, "web")
                    .build(),
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail
                .contains("targetPort web, which 2 of 2 pods do not declare (they declare http:8080, http:8080)"),
            "{}",
            f.detail
        );
        assert!(
            f.remediation[0].contains(r#""path":"/spec/ports/0/targetPort","value":"http""#),
            "{}",
            f.remediation[0]
        );
        assert_eq!(f.explains.len(), 1);
    }

    #[test]
    fn numeric_target_port_not_declared_fails_and_patch_uses_the_declared_port() {
        // GIVEN a Service forwarding to 80 while pods declare 8080
        let snap = SnapshotB::ip()
            .service(ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 80).build())
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.remediation[0].contains(r#""value":8080"#), "{}", f.remediation[0]);
    }

    #[test]
    fn native_sidecar_declaring_the_traffic_port_counts_and_an_ordinary_init_container_does_not() {
        // GIVEN the Service sends to 15001, which only an init container declares (the app 8080)
        let pods = |native: bool| {
            vec![PodB::new("shop", "web-2")
                .labels(&[("app", "web")])
                .container_port(8080, Some("http"))
                .init_container("proxy", 15001, native)
                .ip("10.0.2.11")
                .node("node-b")
                .ready()
                .build()]
        };
        let svc = || ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 15001).build();
        // WHEN it is a native sidecar (restartPolicy: Always) THEN it serves the port
        let f = CHECK.on(&SnapshotB::ip().service(svc()).pods(pods(true)).build());
        assert_eq!(f.status, Status::Pass, "{f:?}");
        // WHEN it is an ordinary init container THEN nothing serves 15001 once the app runs
        let f = CHECK.on(&SnapshotB::ip().service(svc()).pods(pods(false)).build());
        assert_eq!(f.status, Status::Fail, "{f:?}");
    }

    #[test]
    fn several_service_ports_check_the_one_the_target_group_uses() {
        // GIVEN port 80 → 8080 (declared) and 9090 → 9999 (not declared), TG bound to port 80
        let svc = ServiceB::new("shop", "web")
            .selector(&[("app", "web")])
            .port(80, 8080)
            .port(9090, 9999)
            .build();
        let snap = SnapshotB::ip().service(svc).build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn pods_without_declared_ports_cannot_be_checked_and_pass() {
        let snap = SnapshotB::ip()
            .pods(vec![PodB::new("shop", "web-1")
                .labels(&[("app", "web")])
                .no_ports()
                .ip("10.0.1.10")
                .ready()
                .build()])
            .service(ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 3000).build())
            .build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn instance_targets_on_an_old_node_port_fail() {
        let snap = SnapshotB::instance()
            .targets(vec![target_r("i-0aaa", 31000, "unhealthy", "Target.Timeout")])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("registered on port 31000 but the Service's NodePort is 32663"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn instance_targets_with_cluster_ip_service_fail() {
        let snap = SnapshotB::instance()
            .service(
                ServiceB::new("default", "alb-instance")
                    .selector(&[("app", "alb-instance")])
                    .port(80, 80)
                    .build(),
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("has no NodePort"), "{}", f.detail);
    }

    #[test]
    fn explicit_health_check_port_nothing_declares_fails() {
        let snap = SnapshotB::ip().health_check_port("9000").build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("probes port 9000"), "{}", f.detail);
    }

    #[test]
    fn no_selected_pods_is_skipped() {
        let snap = SnapshotB::ip().pods(vec![]).build();
        assert_eq!(CHECK.on(&snap).status, Status::Skipped);
    }
}

#[cfg(test)]
mod incident_rule_tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    #[test]
    fn instance_targets_for_pods_all_on_fargate_get_the_ip_target_type() {
        // GIVEN the instance fixture, its nodes Fargate nodes, no target registered
        let mut b = SnapshotB::instance().targets(vec![]);
        let fargate = |name: &str| {
            let mut n = node(name, &format!("fargate-{name}"), "us-east-1a");
            n.metadata.labels = Some([("eks.amazonaws.com/compute-type".to_string(), "fargate".to_string())].into());
            n
        };
        b.kube().nodes = Fetched::Ok(vec![fargate("node-a"), fargate("node-b")]);
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN the Fargate nodes are named and the fix is the target type on the Service
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("runs on a Fargate node (node-a, node-b)"), "{}", f.detail);
        assert_eq!(
            f.remediation[0],
            "kubectl annotate service alb-instance -n default alb.ingress.kubernetes.io/target-type=ip --overwrite   # the controller makes a new ip target group (a Service of type ClusterIP suffices)"
        );
    }

    #[test]
    fn pods_on_ec2_nodes_are_not_a_fargate_problem() {
        // GIVEN the instance fixture on ordinary nodes WHEN checked THEN nothing about Fargate
        let f = CHECK.on(&SnapshotB::instance().build());
        assert!(!f.detail.contains("Fargate"), "{}", f.detail);
    }

    #[test]
    fn pinned_node_port_patches_the_services_own_index_of_the_port() {
        // GIVEN a Service whose mapped port (80) is its second, targets on an old NodePort, in-tree provider
        let svc = ServiceB::new("default", "alb-instance")
            .selector(&[("app", "alb-instance")])
            .node_port(8443, 31443)
            .node_port(80, 32663)
            .build();
        let b = SnapshotB::instance()
            .service(svc)
            .targets(vec![target_r("i-0aaa", 31000, "unhealthy", "Target.FailedHealthChecks")])
            .resolved_by(crate::mapping::BY_LEGACY_TAGS);
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN the patch addresses port 80 where the Service lists it (index 1), never the first port
        assert!(f.remediation[0].contains("\"path\":\"/spec/ports/1/nodePort\",\"value\":31000"), "{:?}", f.remediation);
    }

    #[test]
    fn old_node_port_under_the_in_tree_provider_is_pinned_back_not_re_registered() {
        // GIVEN targets on 31000 while the Service's NodePort is 32663, found by the in-tree provider's tags
        let b = SnapshotB::instance()
            .targets(vec![target_r("i-0aaa", 31000, "unhealthy", "Target.FailedHealthChecks")])
            .events(vec![event("Service", "alb-instance", "SyncLoadBalancerFailed", "Error syncing load balancer: DuplicateTargetGroupName")])
            .resolved_by(crate::mapping::BY_LEGACY_TAGS);
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN both ports and the provider's error are said, and the fix pins the NodePort back
        assert!(f.detail.contains("registered on port 31000") && f.detail.contains("NodePort is 32663") && f.detail.contains("DuplicateTargetGroupName"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("kubectl patch service alb-instance -n default --type json"), "{:?}", f.remediation);
        assert!(f.remediation[0].contains("\"path\":\"/spec/ports/0/nodePort\",\"value\":31000"), "{:?}", f.remediation);
    }
}
