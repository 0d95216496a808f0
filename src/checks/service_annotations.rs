//! `service-annotations` (article §8): the `service.beta.kubernetes.io/aws-load-balancer-*`
//! annotations of a `type: LoadBalancer` Service are valid, applied to its NLB's target group,
//! and can work against the pods; says whether the controller or the legacy provider owns it.

use k8s_openapi::api::core::v1::Service;
use serde_json::json;

use super::health::{judge_annotations, AnnotationJudgement, Origin};
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;
use crate::annotations::{NlbOwner, NLB};

pub const CHECK: Check = Check {
    id: CheckId::SERVICE_ANNOTATIONS,
    section: "§8",
    layer: Layer::Config,
    verifies: "the `service.beta.kubernetes.io/aws-load-balancer-*` annotations of an NLB Service (controller or legacy provider, `loadBalancerClass`), with the controller's defaults and their `Local` variants, are valid, applied (health check, proxy protocol, target-group attributes) and can work",
    needs: "service, events",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let svc = ctx.need_service()?;
    Ok(judge(ctx, svc))
}

fn judge(ctx: &View, svc: &Service) -> Finding {
    let (ns, name) = ctx.service_name();
    let object = format!("Service {ns}/{name}");
    match ctx.requested_health_check() {
        Some((Origin::Nlb(NlbOwner::Legacy), spec, _)) => Finding::pass(
            ID,
            "NLB of the legacy cloud provider",
            format!("{object} gets its load balancer from the in-tree cloud provider; the controller's annotations do not apply to it."),
        )
        .evidence(json!({"owner": "legacy", "requested": spec})),
        // EKS Auto Mode reads the same annotations as the controller it is built from, except
        // a few it ignores: said before anything else, since the Service does not get them.
        Some((Origin::Nlb(NlbOwner::AutoMode), ..)) if !auto_mode_ignored(svc).is_empty() => {
            let ignored = auto_mode_ignored(svc);
            let list: Vec<String> = ignored.iter().map(|(a, instead)| format!("{a} (use {instead})")).collect();
            Finding::warn(
                ID,
                "Annotations EKS Auto Mode ignores",
                format!("{object} is EKS Auto Mode's, which does not read: {}.", list.join("; ")),
            )
            .evidence(json!({"owner": "auto-mode", "ignored": ignored.iter().map(|(a, _)| a).collect::<Vec<_>>()}))
        }
        Some((Origin::Nlb(NlbOwner::Controller | NlbOwner::AutoMode), spec, invalid)) => {
            // Proxy protocol: what the annotation asks against the target group's attribute.
            let attr = ctx
                .snap
                .aws
                .target_group_attributes
                .ok()
                .and_then(|a| a.get("proxy_protocol_v2.enabled"))
                .map(|v| v == "true");
            if let Some(actual) = attr.filter(|a| *a != spec.proxy_protocol) {
                let f = judge_annotations(
                    ctx,
                    AnnotationJudgement {
                        id: ID,
                        object: object.clone(),
                        prefix: NLB,
                        keys: ["healthcheck-path", "healthcheck-port", "healthcheck-protocol"],
                        spec: &spec,
                        invalid: &invalid,
                    },
                );
                if f.status != super::Status::Pass {
                    return f;
                }
                return Finding::warn(
                    ID,
                    "Proxy protocol not applied",
                    format!(
                        "{object} asks proxy protocol v2 {}, the target group has it {}.",
                        on(spec.proxy_protocol),
                        on(actual)
                    ),
                )
                .evidence(json!({"requested": spec, "targetGroupProxyProtocol": actual}));
            }
            judge_annotations(
                ctx,
                AnnotationJudgement {
                    id: ID,
                    object,
                    prefix: NLB,
                    keys: ["healthcheck-path", "healthcheck-port", "healthcheck-protocol"],
                    spec: &spec,
                    invalid: &invalid,
                },
            )
        }
        Some((Origin::Ingress(_), ..)) => Finding::skipped(
            ID,
            "the target group belongs to an application load balancer: its settings come from the Ingress (see ingress-annotations)",
        ),
        None => {
            let kind = svc.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
            Finding::skipped(
                ID,
                format!("{object} is of type {kind}: it has no network load balancer of its own"),
            )
        }
    }
}

/// Service annotations of the controller that EKS Auto Mode does not support, with what to use
/// instead (EKS user guide, auto-configure-nlb, "Service annotations").
const AUTO_MODE_UNSUPPORTED: &[(&str, &str)] = &[
    ("service.beta.kubernetes.io/load-balancer-source-ranges", "spec.loadBalancerSourceRanges"),
    ("service.beta.kubernetes.io/aws-load-balancer-type", "spec.loadBalancerClass"),
    ("service.beta.kubernetes.io/aws-load-balancer-internal", "service.beta.kubernetes.io/aws-load-balancer-scheme"),
    ("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "proxy_protocol_v2.enabled in aws-load-balancer-target-group-attributes"),
    ("service.beta.kubernetes.io/aws-load-balancer-access-log-enabled", "aws-load-balancer-attributes"),
    ("service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled", "aws-load-balancer-attributes"),
];

fn auto_mode_ignored(svc: &Service) -> Vec<(&'static str, &'static str)> {
    let annotations = svc.metadata.annotations.as_ref();
    (AUTO_MODE_UNSUPPORTED.iter().copied())
        .filter(|(a, _)| annotations.is_some_and(|m| m.contains_key(*a)))
        .collect()
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    fn nlb_snapshot(annotations: &[(&str, &str)]) -> SnapshotB {
        let mut b = SnapshotB::ip().service_annotations(annotations);
        b.lb().kind = "network".into();
        if let Fetched::Ok(svc) = &mut b.kube().service {
            svc.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
        }
        b
    }

    #[test]
    fn auto_mode_service_with_an_annotation_it_ignores_is_told_what_to_use() {
        // GIVEN an EKS Auto Mode NLB Service asking proxy protocol the old way
        let mut b = SnapshotB::ip().service_annotations(&[("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "*")]);
        b.lb().kind = "network".into();
        if let crate::snapshot::Fetched::Ok(svc) = &mut b.kube().service {
            let spec = svc.spec.get_or_insert_with(Default::default);
            spec.type_ = Some("LoadBalancer".into());
            spec.load_balancer_class = Some("eks.amazonaws.com/nlb".into());
        }
        // WHEN checked THEN a warning names it and what Auto Mode reads instead
        let f = CHECK.on(&b.build());
        assert_eq!(f.status, super::super::Status::Warn, "{f:?}");
        assert!(f.detail.contains("aws-load-balancer-proxy-protocol (use proxy_protocol_v2.enabled in aws-load-balancer-target-group-attributes)"), "{}", f.detail);
    }

    #[test]
    fn node_port_service_is_skipped() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Skipped);
    }

    #[test]
    fn health_check_port_nothing_listens_on_fails_and_resets_it() {
        // GIVEN an NLB Service (ip targets) whose health-check port annotation is 8081; pods declare 8080
        let snap = nlb_snapshot(&[
            ("service.beta.kubernetes.io/aws-load-balancer-type", "external"),
            ("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip"),
            ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-port", "8081"),
        ])
        .health_check(|h| {
            h.protocol = Some("TCP".into());
            h.port = Some("8081".into());
        })
        .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(
            f.detail
                .contains("the health check probes port 8081, and no pod declares it (they declare [8080, 8080])"),
            "{}",
            f.detail
        );
        assert_eq!(f.remediation, vec!["kubectl annotate service web -n shop service.beta.kubernetes.io/aws-load-balancer-healthcheck-port=traffic-port --overwrite"]);
        assert_eq!(f.explains, vec!["10.0.2.11"]);
    }

    #[test]
    fn legacy_nlb_passes_saying_who_owns_it() {
        let snap = nlb_snapshot(&[("service.beta.kubernetes.io/aws-load-balancer-type", "nlb")]).build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass);
        assert!(f.detail.contains("in-tree cloud provider"));
    }

    #[test]
    fn proxy_protocol_requested_but_off_warns() {
        let snap = nlb_snapshot(&[
            ("service.beta.kubernetes.io/aws-load-balancer-type", "external"),
            ("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "*"),
        ])
        .health_check(|h| {
            h.protocol = Some("TCP".into());
            h.interval_seconds = Some(10);
            h.timeout_seconds = Some(10);
            h.healthy_threshold = Some(3);
            h.unhealthy_threshold = Some(3);
        })
        .build();
        let mut snap = snap;
        snap.aws.target_group_attributes = Fetched::Ok([("proxy_protocol_v2.enabled".to_string(), "false".to_string())].into());
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(
            f.detail.contains("asks proxy protocol v2 on, the target group has it off"),
            "{}",
            f.detail
        );
    }
}
