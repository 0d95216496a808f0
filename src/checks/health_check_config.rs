//! `health-check-config` (article §9): the target group's health-check settings make sense for
//! the app: protocol against what the pod serves, path against its readinessProbe and what the
//! path answered, success codes, timeout shorter than the interval, thresholds, proxy protocol.
//!
//! Problems with a setting an annotation chose are explained by the annotation checks (that is
//! where the fix goes); this check explains the ones that come from defaults or from a target
//! group configured by hand.

use serde_json::json;

use super::health::serving_problems;
use super::{Check, CheckId, Finding, Layer, Scope, capitalise};
use crate::snapshot::{TargetGroup, View};

pub const CHECK: Check = Check {
    id: CheckId::HEALTH_CHECK_CONFIG,
    section: "§9",
    layer: Layer::Config,
    verifies: "the target group's health check fits the app: path vs the pods' readinessProbe and the codes the path answered, protocol vs what the port says it speaks (appProtocol, container or Service port name: HTTP to a TLS port gets the backend protocol, no path), timeout below the interval and not stricter than the Ready pods' own probe of the same path, valid success codes, proxy protocol with HTTP checks (on a separate health port: check the traffic port), a UDP target group probed (over TCP) where only UDP is served; the fix goes where the controller reads it (an annotation) for the groups it reconciles; explains what defaults or hand-made target groups cause",
    needs: "TG config, pods",
    reasons: &["Target.ResponseCodeMismatch", "Target.FailedHealthChecks", "Target.Timeout"],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let tg = ctx.need_target_group()?;
    Ok(judge(ctx, tg))
}

fn judge(ctx: &View, tg: &TargetGroup) -> Finding {
    let hc = &tg.health_check;
    let evidence =
        json!({"healthCheck": hc, "readinessPaths": ctx.readiness_paths(), "attributes": ctx.snap.aws.target_group_attributes.ok()});
    if !hc.enabled {
        return Finding::warn(
            ID,
            "Health checks disabled",
            "Health checks are disabled on the target group: every target counts as healthy.",
        )
        .evidence(evidence);
    }
    let protocol = hc.protocol.clone().unwrap_or_else(|| "HTTP".into());
    let port = hc.port.clone().unwrap_or_else(|| "traffic-port".into());
    let path = hc.path.clone().unwrap_or_else(|| "/".into());
    let requested = ctx.requested_health_check().map(|(_, spec, _)| spec);
    let annotated = |setting: &str| {
        requested.as_ref().is_some_and(|s| match setting {
            "path" => s.path.annotated().is_some(),
            "port" => s.port.annotated().is_some(),
            _ => s.protocol.annotated().is_some(),
        })
    };
    let mut problems: Vec<String> = Vec::new();
    let mut explains: Vec<String> = Vec::new();
    let mut fixes: Vec<String> = Vec::new();
    let mut config_problems = 0;
    // A UDP group probed over TCP where only UDP is served (health::udp_unprobed).
    if let Some((sentence, targets, fix)) = crate::checks::health::udp_unprobed(ctx, tg, &protocol, &port) {
        problems.push(sentence);
        explains.extend(targets);
        fixes.extend(fix);
        config_problems += 1;
    }
    if ctx.service.is_ok() {
        // The port is target-port's to judge; path and protocol are judged here.
        for p in serving_problems(ctx, &protocol, &port, &path)
            .into_iter()
            .filter(|p| p.setting != "port")
        {
            if annotated(p.setting) {
                problems.push(format!("{} (set by an annotation: see the annotation checks)", p.sentence));
                continue;
            }
            explains.extend(p.targets.clone());
            let (flag, field) = match p.setting {
                "path" => ("--health-check-path", "healthCheckPath"),
                "port" => ("--health-check-port", "healthCheckPort"),
                _ => ("--health-check-protocol", "healthCheckProtocol"),
            };
            // A Gateway's group is set from its TargetGroupConfiguration: fix it there.
            let gateway = p.suggestion.as_deref().and_then(|v| ctx.gateway_setting(field, json!(v)));
            match (gateway, &p.suggestion) {
                (Some(g), _) => {
                    fixes.extend(g.fix);
                    problems.push(format!("{} (set by {})", p.sentence, g.source));
                }
                (None, Some(v)) => match controller_fix(ctx, p.setting, v) {
                    Some((fix, from)) => {
                        fixes.push(fix);
                        problems.push(format!("{} (the controller sets it from {from}: a change on the target group would be reverted)", p.sentence));
                    }
                    None => {
                        fixes.push(format!("aws elbv2 modify-target-group --target-group-arn {} {flag} {v}", tg.arn));
                        problems.push(p.sentence);
                    }
                },
                (None, None) => problems.push(p.sentence),
            }
            config_problems += 1;
        }
    }
    // An ALB needs the timeout below the interval; an NLB's TCP check may take the whole interval.
    let nlb = ctx.lb_kind() == Some("network");
    if let (Some(t), Some(i)) = (hc.timeout_seconds, hc.interval_seconds) {
        if t > i || (t == i && !nlb) {
            let timeout = (i - 1).max(2);
            match ctx.gateway_setting("healthCheckTimeout", json!(timeout)) {
                Some(g) => {
                    problems.push(format!("the timeout ({t}s) is not shorter than the interval ({i}s) (set by {})", g.source));
                    fixes.extend(g.fix);
                }
                None => {
                    problems.push(format!("the timeout ({t}s) is not shorter than the interval ({i}s)"));
                    fixes.push(format!(
                        "aws elbv2 modify-target-group --target-group-arn {} --health-check-timeout-seconds {timeout}",
                        tg.arn
                    ));
                }
            }
            config_problems += 1;
        }
    }
    if let Some((sentence, targets, allowed)) = crate::checks::health::stricter_than_readiness(ctx, &protocol, &path, hc.timeout_seconds) {
        problems.push(sentence);
        explains.extend(targets);
        // Give the check the probe's time; an ALB needs the interval above the timeout.
        let interval = hc.interval_seconds.filter(|i| *i > allowed);
        match controller_fix(ctx, "timeout-seconds", &allowed.to_string()) {
            Some((fix, _)) => {
                fixes.push(fix);
                if interval.is_none() {
                    fixes.extend(controller_fix(ctx, "interval-seconds", &(allowed + 5).to_string()).map(|(f, _)| f));
                }
            }
            None => fixes.push(format!(
                "aws elbv2 modify-target-group --target-group-arn {} --health-check-timeout-seconds {allowed}{}",
                tg.arn,
                if interval.is_none() { format!(" --health-check-interval-seconds {}", allowed + 5) } else { String::new() }
            )),
        }
        config_problems += 1;
    }
    if let Some(m) = hc
        .matcher
        .as_deref()
        .filter(|m| protocol.starts_with("HTTP") && crate::matcher::parse(m).is_none())
    {
        problems.push(format!("the success codes {m:?} are not a valid matcher"));
        config_problems += 1;
    }
    let proxy = ctx
        .snap
        .aws
        .target_group_attributes
        .ok()
        .and_then(|a| a.get("proxy_protocol_v2.enabled"))
        .is_some_and(|v| v == "true");
    // AWS adds the PROXY v2 header to health-check connections too ("After you enable proxy
    // protocol, the proxy protocol header is also included in health check connections from the
    // load balancer", NLB guide, "Proxy protocol"). A target that does not parse it answers the
    // check with an error or resets it. The fix is on the application (or the attribute, if the
    // application was never meant to get the header); a TCP health check would only hide it.
    // A TCP check succeeds on the handshake alone, so only HTTP(S) checks are rejected this way.
    let http_check = protocol.to_uppercase().starts_with("HTTP");
    let rejected: Vec<String> = ctx
        .unhealthy()
        .iter()
        .filter(|t| t.reason.as_deref() != Some("Target.Timeout"))
        .map(|t| t.id.clone())
        .collect();
    if proxy && http_check && !rejected.is_empty() {
        match separate_health_port(ctx, &port, &rejected) {
            // The header also goes to a health-check port of its own, often another server in the
            // pod (ingress-nginx's controller on 10254, Envoy's admin port) that never parses it,
            // while the traffic port does (ingress-nginx#10982: /healthz on the traffic port
            // passed with proxy protocol on). Checking the traffic port tests what clients reach;
            // turning the header off would break the client addresses the traffic port expects.
            Some((checked, traffic)) => {
                problems.push(format!(
                    "proxy protocol v2 is on, so every {protocol} health check starts with a PROXY header, also on port {checked}, which is not the traffic port ({traffic}): \
                     a separate health server there rejects the header ({} failing), whatever the traffic port accepts",
                    rejected.len()
                ));
                let fix = controller_fix(ctx, "port", "traffic-port").map(|(f, _)| f).unwrap_or_else(|| {
                    format!("aws elbv2 modify-target-group --target-group-arn {} --health-check-port traffic-port", tg.arn)
                });
                fixes.push(fix);
                if path != "/" {
                    fixes.push(format!("(the path {path} must then answer on the traffic port as well)"));
                }
            }
            None => {
                problems.push(format!(
                    "proxy protocol v2 is on, so every {protocol} health check starts with a PROXY header: targets whose server does not expect it reject the check ({} failing)",
                    rejected.len()
                ));
                fixes.push(
                    "Make the application accept PROXY protocol v2 on this port (nginx: listen … proxy_protocol; Envoy: the proxy_protocol listener filter)"
                        .to_string(),
                );
                fixes.push(format!(
                    "Only if the application was never meant to receive it: aws elbv2 modify-target-group-attributes --target-group-arn {} --attributes Key=proxy_protocol_v2.enabled,Value=false",
                    tg.arn
                ));
            }
        }
        explains.extend(rejected);
        config_problems += 1;
    }
    if config_problems > 0 {
        return Finding::fail(
            ID,
            "Health check does not fit the app",
            format!("{}.", capitalise(&problems.join("; "))),
        )
        .evidence(evidence)
        .remediation(fixes)
        .explains(explains);
    }
    if !problems.is_empty() {
        return Finding::warn(
            ID,
            "Health check set by annotations does not fit",
            format!("{}.", capitalise(&problems.join("; "))),
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        "Health check settings sane",
        format!(
            "{protocol} {port} {}, timeout {}s every {}s.",
            if protocol.starts_with("HTTP") { path.as_str() } else { "" },
            opt(hc.timeout_seconds),
            opt(hc.interval_seconds)
        ),
    )
    .evidence(evidence)
}

/// Where to change a health-check `setting` (`path`, `protocol`) of a group the Load Balancer
/// Controller reconciles from an Ingress or an NLB Service: an annotation on the Service, and
/// what the controller reads it from. The controller rewrites the group from its model at every
/// reconcile, so a change on the group itself is reverted. On the Service rather than the
/// Ingress: annotations on a Service take precedence over the Ingress's for that Service's
/// target group (controller docs, "Ingress annotations"), so only this group changes. `None`
/// for a group nothing reconciles (hand-made, a binding alone) or the in-tree provider's.
fn controller_fix(ctx: &View, setting: &str, value: &str) -> Option<(String, String)> {
    use crate::annotations::NlbOwner;
    use crate::checks::health::Origin;
    let (origin, _, _) = ctx.requested_health_check()?;
    let (prefix, from) = match origin {
        // The health check's protocol follows the backend protocol unless set apart; a port that
        // speaks TLS needs both (HTTPS traffic too), so the backend protocol is what changes
        // (controller docs, "healthcheck-protocol": defaults to backend-protocol).
        Origin::Ingress(i) if setting == "protocol" => (
            "alb.ingress.kubernetes.io/backend-",
            format!("Ingress {}", i.metadata.name.as_deref().unwrap_or_default()),
        ),
        Origin::Ingress(i) => (
            "alb.ingress.kubernetes.io/healthcheck-",
            format!("Ingress {}", i.metadata.name.as_deref().unwrap_or_default()),
        ),
        Origin::Nlb(NlbOwner::Controller | NlbOwner::AutoMode) => ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-", "the Service".to_string()),
        Origin::Nlb(NlbOwner::Legacy) => return None,
    };
    // The NLB Service annotations drop the unit: healthcheck-timeout, healthcheck-interval.
    let setting = if prefix.starts_with("service.") { setting.trim_end_matches("-seconds") } else { setting };
    let (ns, name) = ctx.service_name();
    let fix = format!(
        "kubectl annotate service {} -n {} {prefix}{setting}={} --overwrite",
        crate::shell::quote(&name),
        crate::shell::quote(&ns),
        crate::shell::quote(value)
    );
    Some((fix, from))
}

/// The health-check port, when it is a number other than the port the failing targets take
/// traffic on (their registered port): (checked, traffic).
fn separate_health_port(ctx: &View, port: &str, failing: &[String]) -> Option<(i32, i32)> {
    let checked: i32 = port.parse().ok()?;
    let traffic = ctx
        .unhealthy()
        .iter()
        .filter(|t| failing.contains(&t.id))
        .find_map(|t| t.port)?;
    (checked != traffic).then_some((checked, traffic))
}

fn opt(v: Option<i32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::{Fetched, GatewayView, LoadBalancerConfigView, RouteConfigView, RouteRef, TargetGroupConfigView};
    use serde_json::json;

    fn with_probe(mut b: SnapshotB, path: &str) -> SnapshotB {
        if let Fetched::Ok(pods) = &mut b.kube().pods {
            for p in pods.iter_mut() {
                p.spec.as_mut().unwrap().containers[0].readiness_probe = Some(readiness(path));
            }
        }
        b
    }

    /// The 404 case below on a target group a Gateway made (its tags), the pods ready on
    /// /healthz, with these TargetGroupConfigurations and Gateway objects.
    fn gateway_404(configs: Vec<TargetGroupConfigView>, gateway: Option<GatewayView>) -> Finding {
        let mut b = SnapshotB::ip().targets(vec![{
            let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
            t.description = Some("Health checks failed with these codes: [404]".into());
            t
        }]);
        b.aws().target_group_tags = Fetched::Ok([("gateway.k8s.aws.alb/stack".to_string(), "infra/gw".to_string())].into());
        b.kube().target_group_configs = Fetched::Ok(configs);
        b.kube().gateway = gateway.map_or_else(|| Fetched::not_collected("test"), Fetched::Ok);
        CHECK.on(&with_probe(b, "/healthz").build())
    }

    fn tgc(name: &str, target: Option<&str>, default: Option<serde_json::Value>, routes: Vec<RouteConfigView>) -> TargetGroupConfigView {
        TargetGroupConfigView {
            namespace: "shop".into(),
            name: name.into(),
            target_name: target.map(str::to_string),
            default_health_check: default,
            routes,
        }
    }

    fn web_route_entry(health_check: serde_json::Value) -> RouteConfigView {
        RouteConfigView { kind: "HTTPRoute".into(), namespace: "shop".into(), name: "web".into(), health_check: Some(health_check) }
    }

    fn gateway_with_route(load_balancer_configs: Vec<LoadBalancerConfigView>, default_configs: Vec<TargetGroupConfigView>) -> GatewayView {
        GatewayView {
            namespace: "infra".into(),
            name: "gw".into(),
            route: Some(RouteRef { kind: "HTTPRoute".into(), namespace: "shop".into(), name: "web".into() }),
            load_balancer_configs,
            default_configs,
            ..Default::default()
        }
    }

    #[test]
    fn gateway_group_without_configuration_gets_one_for_its_service() {
        // GIVEN a Gateway's group with no TargetGroupConfiguration for the Service (nor a Gateway default)
        // WHEN checked
        let f = gateway_404(vec![], Some(gateway_with_route(vec![], vec![])));
        // THEN the path is the controller's default, and a configuration for the Service sets it
        assert!(f.detail.contains("set by the controller's default: no TargetGroupConfiguration sets a health check for Service shop/web)"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("printf '%s' '{\"apiVersion\":\"gateway.k8s.aws/v1\""), "{:?}", f.remediation);
        assert!(f.remediation[0].ends_with("| kubectl apply -f -") && f.remediation[0].contains("\"healthCheckConfig\":{\"healthCheckPath\":\"/healthz\"}"));
        assert!(f.remediation.iter().all(|r| !r.contains("modify-target-group")));
    }

    #[test]
    fn gateway_group_route_entry_is_edited_only_for_its_own_route() {
        // GIVEN a TargetGroupConfiguration with a default and an entry for route HTTPRoute shop/web
        let config = tgc("web-tgc", Some("web"), Some(json!({"healthCheckPath": "/"})), vec![web_route_entry(json!({"healthCheckPath": "/"}))]);
        // WHEN the group is that route's
        let f = gateway_404(vec![config.clone()], Some(gateway_with_route(vec![], vec![])));
        // THEN the entry is named and edited
        assert!(f.detail.contains("spec.routeConfigurations (route HTTPRoute/shop/web).targetGroupProps.healthCheckConfig.healthCheckPath"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("kubectl edit targetgroupconfiguration web-tgc -n shop"), "{:?}", f.remediation);
        // WHEN the group is another route's THEN the default is named and patched
        let mut other = gateway_with_route(vec![], vec![]);
        other.route.as_mut().unwrap().name = "api".into();
        let f = gateway_404(vec![config.clone()], Some(other));
        assert!(f.detail.contains("TargetGroupConfiguration shop/web-tgc, spec.defaultConfiguration.healthCheckConfig.healthCheckPath"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("kubectl patch targetgroupconfiguration web-tgc -n shop --type merge"), "{:?}", f.remediation);
        // WHEN the route is not known THEN the default is named, with the doubt said
        let f = gateway_404(vec![config], None);
        assert!(f.detail.contains("the route is not known: an entry of spec.routeConfigurations may apply instead"), "{}", f.detail);
    }

    #[test]
    fn gateway_route_entry_without_the_field_leaves_it_to_the_controller_default() {
        // GIVEN the route's entry sets only the interval: its healthCheckConfig replaces the default's whole
        let config = tgc("web-tgc", Some("web"), Some(json!({"healthCheckPath": "/healthz"})), vec![web_route_entry(json!({"healthCheckInterval": 10}))]);
        // WHEN checked
        let f = gateway_404(vec![config], Some(gateway_with_route(vec![], vec![])));
        // THEN the path is the controller's default, and the entry is where to set it
        assert!(f.detail.contains("set by the controller's default: TargetGroupConfiguration shop/web-tgc, spec.routeConfigurations (route HTTPRoute/shop/web).targetGroupProps.healthCheckConfig.healthCheckPath is not set, and that healthCheckConfig is taken whole"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("kubectl edit targetgroupconfiguration web-tgc -n shop"), "{:?}", f.remediation);
    }

    #[test]
    fn gateway_shared_default_is_overridden_for_this_service_alone() {
        // GIVEN the path comes from the default TargetGroupConfiguration the Gateway's LoadBalancerConfiguration names
        let lbc = LoadBalancerConfigView {
            namespace: "infra".into(),
            name: "gw-config".into(),
            level: "Gateway".into(),
            default_target_group_config: Some("gw-defaults".into()),
            ..Default::default()
        };
        let mut defaults = tgc("gw-defaults", None, Some(json!({"healthCheckPath": "/", "healthCheckInterval": 10})), vec![]);
        defaults.namespace = "infra".into();
        // WHEN checked, with no configuration of the Service's own
        let f = gateway_404(vec![], Some(gateway_with_route(vec![lbc.clone()], vec![defaults.clone()])));
        // THEN the shared default is named, and a configuration for this Service carries its other fields along
        assert!(f.detail.contains("TargetGroupConfiguration infra/gw-defaults, spec.defaultConfiguration.healthCheckConfig.healthCheckPath, the default that LoadBalancerConfiguration infra/gw-config (the Gateway's) gives every Service of the Gateway"), "{}", f.detail);
        assert!(f.remediation[0].contains("\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"}"), "{:?}", f.remediation);
        assert!(f.remediation[0].contains("\"healthCheckConfig\":{\"healthCheckPath\":\"/healthz\",\"healthCheckInterval\":10}"), "{:?}", f.remediation);
        assert!(f.remediation.iter().all(|r| !r.contains("gw-defaults")), "the shared default is not edited: {:?}", f.remediation);
        // WHEN the Service has a configuration without a health check THEN that one is patched with the whole block
        let own = tgc("web-tgc", Some("web"), None, vec![]);
        let f = gateway_404(vec![own], Some(gateway_with_route(vec![lbc], vec![defaults])));
        assert!(f.remediation[0].starts_with("kubectl patch targetgroupconfiguration web-tgc -n shop --type merge -p"), "{:?}", f.remediation);
        assert!(f.remediation[0].contains("{\"healthCheckPath\":\"/healthz\",\"healthCheckInterval\":10}"), "{:?}", f.remediation);
    }

    #[test]
    fn gateway_configurations_unreadable_give_no_fix_on_the_group() {
        // GIVEN the TargetGroupConfigurations could not be read
        let mut b = SnapshotB::ip().targets(vec![{
            let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
            t.description = Some("Health checks failed with these codes: [404]".into());
            t
        }]);
        b.aws().target_group_tags = Fetched::Ok([("gateway.k8s.aws.alb/stack".to_string(), "infra/gw".to_string())].into());
        b.kube().target_group_configs = Fetched::Failed(crate::snapshot::Missing {
            api: "list targetgroupconfigurations.gateway.k8s.aws".into(),
            permission: "targetgroupconfigurations.gateway.k8s.aws: list".into(),
            error: "Forbidden (403)".into(),
        });
        // WHEN checked
        let f = CHECK.on(&with_probe(b, "/healthz").build());
        // THEN the source is unknown, said with the permission, and no fix on the group (it would be reverted)
        assert!(f.detail.contains("set by unknown: the TargetGroupConfigurations that set it could not be read"), "{}", f.detail);
        assert!(f.remediation.iter().all(|r| !r.contains("modify-target-group")), "{:?}", f.remediation);
    }

    /// The instance fixture as a UDP Service behind a UDP target group with the default TCP check
    /// on the traffic port; `tcp_port` adds a named TCP port to the Service.
    fn udp(tcp_port: bool) -> crate::snapshot::Snapshot {
        let mut snap = SnapshotB::instance().build();
        if let Fetched::Ok(tg) = &mut snap.aws.target_group {
            tg.protocol = Some("UDP".into());
            (tg.health_check.protocol, tg.health_check.port) = (Some("TCP".into()), Some("traffic-port".into()));
        }
        if let Fetched::Ok(svc) = &mut snap.kube.service {
            let ports = svc.spec.as_mut().unwrap().ports.as_mut().unwrap();
            ports[0].protocol = Some("UDP".into());
            if tcp_port {
                ports.push(k8s_openapi::api::core::v1::ServicePort {
                    name: Some("metrics".into()),
                    port: 9153,
                    node_port: Some(31000),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                });
            }
        }
        snap
    }

    #[test]
    fn udp_group_probed_over_tcp_where_only_udp_is_served_fails() {
        // GIVEN a UDP Service with a TCP metrics port, behind a UDP group checked over TCP on the UDP NodePort
        let f = CHECK.on(&udp(true));
        // THEN it fails naming UDP and the port, and points the check at the TCP port by name
        assert_eq!(f.status, Status::Fail, "{}", f.detail);
        assert!(f.detail.contains("forwards UDP") && f.detail.contains("port 32663"), "{}", f.detail);
        assert_eq!(
            f.remediation,
            ["kubectl annotate service alb-instance -n default service.beta.kubernetes.io/aws-load-balancer-healthcheck-port=metrics --overwrite"]
        );
        // AND without any TCP port the fix says to serve one first
        let f = CHECK.on(&udp(false));
        assert!(f.remediation[0].starts_with("Serve a TCP (or HTTP) health endpoint"), "{:?}", f.remediation);
    }

    #[test]
    fn udp_group_checked_on_a_tcp_node_port_passes() {
        // GIVEN the same, its check already on the TCP port's NodePort
        let mut snap = udp(true);
        if let Fetched::Ok(tg) = &mut snap.aws.target_group {
            tg.health_check.port = Some("31000".into());
        }
        // THEN nothing to say about UDP
        let f = CHECK.on(&snap);
        assert!(!f.detail.contains("forwards UDP"), "{}", f.detail);
    }

    #[test]
    fn sane_settings_pass() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Pass);
    }

    #[test]
    fn default_path_answering_404_while_readiness_uses_healthz_fails_with_modify_command() {
        // GIVEN no annotations, the TG checks "/" and gets 404; the pods are ready on /healthz
        let b = SnapshotB::ip().targets(vec![target("10.0.1.10", 8080, "healthy"), {
            let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
            t.description = Some("Health checks failed with these codes: [404]".into());
            t
        }]);
        let f = CHECK.on(&with_probe(b, "/healthz").build());
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(
            f.detail
                .starts_with("The health check asks / (it answers 404), while the pods' readinessProbe uses /healthz"),
            "{}",
            f.detail
        );
        assert_eq!(
            f.remediation,
            vec![format!(
                "aws elbv2 modify-target-group --target-group-arn {TG_ARN} --health-check-path /healthz"
            )]
        );
        assert_eq!(f.explains, vec!["10.0.2.11"]);
    }

    #[test]
    fn path_answering_503_is_not_blamed_on_the_path() {
        // GIVEN the same shape, but "/" answers 503: the application says it is unhealthy
        let b = SnapshotB::ip().targets(vec![target("10.0.1.10", 8080, "healthy"), {
            let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
            t.description = Some("Health checks failed with these codes: [503]".into());
            t
        }]);
        // WHEN checked
        let f = CHECK.on(&with_probe(b, "/healthz").build());
        // THEN no path change is proposed (it would hide a failing application)
        assert_ne!(f.status, Status::Fail, "{f:?}");
        assert!(f.remediation.iter().all(|r| !r.contains("--health-check-path")), "{:?}", f.remediation);
    }

    /// The 404 target group of `default_path_answering_404…`, pods probed as `probe` sets.
    fn answering_404(probe: impl Fn(&mut k8s_openapi::api::core::v1::PodSpec)) -> crate::snapshot::Snapshot {
        let mut b = SnapshotB::ip().targets(vec![target("10.0.1.10", 8080, "healthy"), {
            let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
            t.description = Some("Health checks failed with these codes: [404]".into());
            t
        }]);
        if let Fetched::Ok(pods) = &mut b.kube().pods {
            for p in pods.iter_mut() {
                probe(p.spec.as_mut().unwrap());
            }
        }
        b.build()
    }

    #[test]
    fn probe_of_a_management_port_is_not_proposed_as_the_health_check_path() {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        // GIVEN pods whose readinessProbe asks /ready on the admin port 9090, not the traffic port
        let snap = answering_404(|spec| {
            spec.containers[0].readiness_probe = Some(readiness_on("/ready", IntOrString::Int(9090)));
        });
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the 404 is still reported, but /ready is not offered for the traffic port
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("which the pods do not answer with a success code"), "{}", f.detail);
        assert!(f.remediation.iter().all(|r| !r.contains("--health-check-path")), "{:?}", f.remediation);
    }

    #[test]
    fn istio_rewritten_probe_is_traced_back_to_the_applications_own_path() {
        use k8s_openapi::api::core::v1::{Container, EnvVar};
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        // GIVEN Istio rewrote the app's probe to its agent (15020) and recorded the original
        let snap = answering_404(|spec| {
            spec.containers[0].readiness_probe =
                Some(readiness_on("/app-health/app/readyz", IntOrString::Int(15020)));
            spec.containers.push(Container {
                name: "istio-proxy".into(),
                env: Some(vec![EnvVar {
                    name: "ISTIO_KUBE_APP_PROBERS".into(),
                    value: Some(r#"{"/app-health/app/readyz":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"timeoutSeconds":1}}"#.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        });
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the application's own path is proposed, never the agent's
        assert_eq!(
            f.remediation,
            vec![format!("aws elbv2 modify-target-group --target-group-arn {TG_ARN} --health-check-path /healthz")]
        );
    }

    #[test]
    fn probe_path_with_shell_characters_never_reaches_a_command() {
        // GIVEN a readinessProbe path that is not a plain URL path (tenant input)
        let snap = answering_404(|spec| {
            spec.containers[0].readiness_probe = Some(readiness("/ready;curl${IFS}evil"));
        });
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it is not printed in a fix
        assert!(f.remediation.iter().all(|r| !r.contains("evil")), "{:?}", f.remediation);
    }

    proptest::proptest! {
        /// Whatever a pod spec's readinessProbe path holds, a printed path change is one command
        /// of exactly the intended words, the path one word that is a plain URL path.
        #[test]
        fn tenant_probe_paths_never_add_a_word_to_the_fix(path in proptest::prelude::any::<String>()) {
            let snap = answering_404(|spec| spec.containers[0].readiness_probe = Some(readiness(&path)));
            for fix in CHECK.on(&snap).remediation.iter().filter(|f| f.contains("--health-check-path")) {
                let words = crate::shell::split(fix).expect("one plain command");
                proptest::prop_assert_eq!(words.len(), 7, "{:?}", words);
                proptest::prop_assert_eq!(&words[6], &path);
                proptest::prop_assert!(super::super::health::safe_path(&words[6]));
            }
        }
    }

    #[test]
    fn annotated_path_problem_is_left_to_the_annotation_check() {
        let b = SnapshotB::instance()
            .ingress(alb_ingress(
                "default",
                "alb-instance",
                &[("alb.ingress.kubernetes.io/healthcheck-path", "/healthz")],
            ))
            .health_check(|h| h.path = Some("/healthz".into()))
            .targets(vec![target_r("i-0aaa", 32663, "unhealthy", "Target.ResponseCodeMismatch")]);
        let f = CHECK.on(&with_probe(b, "/ready").build());
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.explains.is_empty());
    }

    #[test]
    fn https_check_on_an_http_port_fails() {
        let snap = SnapshotB::ip()
            .health_check(|h| h.protocol = Some("HTTPS".into()))
            .service(
                ServiceB::new("shop", "web")
                    .selector(&[("app", "web")])
                    .named_target(80, "http")
                    .build(),
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(
            f.detail.contains("The health check speaks HTTPS to a port named \"http\""),
            "{}",
            f.detail
        );
    }

    #[test]
    fn timeout_not_below_interval_and_proxy_protocol_rejected_fail_without_a_tcp_switch() {
        // GIVEN proxy protocol v2 on, the checks answered with errors, and timeout = interval
        let mut snap = SnapshotB::instance()
            .health_check(|h| {
                h.timeout_seconds = Some(10);
                h.interval_seconds = Some(10);
            })
            .targets(vec![
                target_r("i-0aaa", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
            ])
            .build();
        snap.aws.target_group_attributes = Fetched::Ok([("proxy_protocol_v2.enabled".to_string(), "true".to_string())].into());
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("the timeout (10s) is not shorter than the interval (10s)"),
            "{}",
            f.detail
        );
        // THEN the PROXY header on the checks is named, the fix is the application's, and the
        // health check is never switched to TCP (which would hide the fault)
        assert!(
            f.detail
                .contains("proxy protocol v2 is on, so every HTTP health check starts with a PROXY header"),
            "{}",
            f.detail
        );
        assert!(f.remediation.iter().any(|r| r.contains("accept PROXY protocol v2")), "{:?}", f.remediation);
        assert!(f.remediation.iter().all(|r| !r.contains("--health-check-protocol TCP")), "{:?}", f.remediation);
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }
}

#[cfg(test)]
mod incident_rule_tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    /// `SnapshotB::ip()` (10.0.2.11 timing out), its pods probed on / with `timeout` seconds.
    fn timing_out_with_probe_timeout(timeout: Option<i32>) -> Finding {
        let mut b = SnapshotB::ip().health_check(|h| {
            h.path = Some("/".into());
            h.timeout_seconds = Some(5);
            h.interval_seconds = Some(15);
        });
        if let Fetched::Ok(pods) = &mut b.kube().pods {
            for p in pods.iter_mut() {
                let mut probe = readiness("/");
                probe.timeout_seconds = timeout;
                p.spec.as_mut().unwrap().containers[0].readiness_probe = Some(probe);
            }
        }
        CHECK.on(&b.build())
    }

    #[test]
    fn timeout_shorter_than_the_ready_pods_probe_names_both_and_gets_the_probes_timeout() {
        // GIVEN a target timing out at 5s whose Ready pod's readinessProbe on the same path allows 10s
        // WHEN checked
        let f = timing_out_with_probe_timeout(Some(10));
        // THEN the check is stricter than readiness, and the fix is the probe's timeout
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("gives the pods 5s") && f.detail.contains("gives them 10s") && f.detail.contains("10.0.2.11"), "{}", f.detail);
        assert_eq!(f.remediation, vec![format!("aws elbv2 modify-target-group --target-group-arn {TG_ARN} --health-check-timeout-seconds 10")]);
    }

    #[test]
    fn probe_no_more_tolerant_than_the_check_blames_no_timing() {
        // GIVEN the same, the probe allowing the kubelet's default 1s
        // WHEN checked THEN no timing problem is claimed
        let f = timing_out_with_probe_timeout(None);
        assert!(!f.detail.contains("stricter than the application's own readiness"), "{}", f.detail);
    }

    #[test]
    fn proxy_protocol_on_a_separate_health_port_moves_the_check_and_keeps_the_header() {
        // GIVEN proxy protocol on, an HTTP check on 10254 while the targets take traffic on 8080, rejected
        let mut b = SnapshotB::ip()
            .targets(vec![target_r("10.0.2.11", 8080, "unhealthy", "Target.FailedHealthChecks")])
            .health_check(|h| {
                h.port = Some("10254".into());
                h.path = Some("/healthz".into());
            });
        b.aws().target_group_attributes = Fetched::Ok([("proxy_protocol_v2.enabled".to_string(), "true".to_string())].into());
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN the separate port is named, the check goes to the traffic port, the header stays on
        assert!(f.detail.contains("also on port 10254, which is not the traffic port (8080)"), "{}", f.detail);
        assert_eq!(f.remediation[0], format!("aws elbv2 modify-target-group --target-group-arn {TG_ARN} --health-check-port traffic-port"));
        assert!(f.remediation.iter().all(|r| !r.contains("proxy_protocol_v2.enabled,Value=false")), "{:?}", f.remediation);
    }
}
