//! `ingress-annotations` (article §7): the `alb.ingress.kubernetes.io/*` annotations of the
//! Ingress routing to the Service (and the Service's own overrides) are valid, applied, and can
//! work against the pods.
//!
//! The ALB's health check is configured by annotations; an invalid value makes the controller
//! fail (FailedBuildModel / FailedDeployModel events) and leave the target group as it was, and a
//! valid one can still ask a path or port the pods do not serve.

use super::health::{judge_annotations, AnnotationJudgement, Origin};
use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;
use crate::annotations::ALB;

pub const CHECK: Check = Check {
    id: CheckId::INGRESS_ANNOTATIONS,
    section: "§7",
    layer: Layer::Config,
    verifies: "the `alb.ingress.kubernetes.io/*` annotations of the Ingress routing to the Service (the Service's own override them) are valid, applied to the target group (else the controller's FailedBuildModel/FailedDeployModel events), and can work against the pods; the `kubectl annotate` that fixes it",
    needs: "ingresses, events",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_service()?;
    ctx.snap.kube.ingresses.get().map_err(|why| ctx.unknown(why))?;
    Ok(judge(ctx))
}

fn judge(ctx: &View) -> Finding {
    let (ns, name) = ctx.service_name();
    match ctx.requested_health_check() {
        Some((Origin::Ingress(ing), spec, invalid)) => {
            let object = format!(
                "Ingress {}/{}",
                ing.metadata.namespace.as_deref().unwrap_or(&ns),
                ing.metadata.name.as_deref().unwrap_or("")
            );
            judge_annotations(
                ctx,
                AnnotationJudgement {
                    id: ID,
                    object,
                    prefix: ALB,
                    keys: ["healthcheck-path", "healthcheck-port", "healthcheck-protocol"],
                    spec: &spec,
                    invalid: &invalid,
                },
            )
        }
        Some((Origin::Nlb(_), ..)) => Finding::skipped(
            ID,
            "the target group belongs to a network load balancer: its settings come from the Service (see service-annotations)",
        ),
        None => Finding::skipped(ID, format!("no ALB Ingress routes to Service {ns}/{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn no_ingress_is_skipped() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Skipped);
    }

    #[test]
    fn defaults_matching_the_target_group_pass() {
        // GIVEN an Ingress without health-check annotations; the TG has the ALB defaults
        let snap = SnapshotB::instance()
            .ingress(alb_ingress("default", "alb-instance", &[]))
            .health_check(|h| {
                h.interval_seconds = Some(15);
                h.timeout_seconds = Some(5);
            })
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn annotated_path_answering_404_while_readiness_uses_another_path_fails_with_the_annotate_command() {
        // GIVEN healthcheck-path /healthz answered with 404 and pods whose readinessProbe uses /ready
        let mut b = SnapshotB::instance()
            .ingress(alb_ingress(
                "default",
                "alb-instance",
                &[("alb.ingress.kubernetes.io/healthcheck-path", "/healthz")],
            ))
            .health_check(|h| h.path = Some("/healthz".into()))
            .targets(vec![
                target_r("i-0aaa", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.ResponseCodeMismatch"),
            ]);
        if let crate::snapshot::Fetched::Ok(pods) = &mut b.kube().pods {
            for p in pods.iter_mut() {
                p.spec.as_mut().unwrap().containers[0].readiness_probe = Some(readiness("/ready"));
            }
        }
        let f = CHECK.on(&b.build());
        // THEN it fails, explains both targets, and annotates the Ingress with the probe's path
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("the health check asks /healthz"), "{}", f.detail);
        assert!(f.detail.contains("readinessProbe uses /ready"), "{}", f.detail);
        assert_eq!(
            f.remediation,
            vec!["kubectl annotate ingress front -n default alb.ingress.kubernetes.io/healthcheck-path=/ready --overwrite"]
        );
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }

    #[test]
    fn invalid_annotation_fails_quoting_the_controller_event() {
        let snap = SnapshotB::instance()
            .ingress(alb_ingress(
                "default",
                "alb-instance",
                &[("alb.ingress.kubernetes.io/healthcheck-interval-seconds", "2")],
            ))
            .events(vec![crate::snapshot::EventView {
                kind: "Ingress".into(),
                name: "front".into(),
                namespace: "default".into(),
                event_type: "Warning".into(),
                reason: "FailedBuildModel".into(),
                message: "Failed build model due to failed to parse healthcheck-interval-seconds".into(),
                count: 3,
                last_seen: None,
            }])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail.contains("alb.ingress.kubernetes.io/healthcheck-interval-seconds=\"2\""),
            "{}",
            f.detail
        );
        assert!(f.detail.contains("FailedBuildModel"), "{}", f.detail);
    }

    #[test]
    fn annotation_the_target_group_does_not_have_warns_without_events() {
        let snap = SnapshotB::instance()
            .ingress(alb_ingress(
                "default",
                "alb-instance",
                &[("alb.ingress.kubernetes.io/success-codes", "200-299")],
            ))
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.detail.contains("success codes 200-299 (wanted by alb.ingress.kubernetes.io/success-codes on Ingress default/front) but the target group has 200"), "{}", f.detail);
    }

    #[test]
    fn the_ingress_the_target_group_tags_name_is_compared_not_the_first_found() {
        // GIVEN two ALB Ingresses routing to the Service, and a target group built from "second"
        let mut first = alb_ingress("default", "alb-instance", &[("alb.ingress.kubernetes.io/healthcheck-path", "/one")]);
        first.metadata.name = Some("first".into());
        let mut second = alb_ingress("default", "alb-instance", &[("alb.ingress.kubernetes.io/healthcheck-path", "/two")]);
        second.metadata.name = Some("second".into());
        let mut snap = SnapshotB::instance().ingress(first).ingress(second).build();
        snap.aws.target_group_tags = crate::snapshot::Fetched::Ok(
            [("ingress.k8s.aws/resource".to_string(), "default/second-alb-instance:80".to_string())].into(),
        );
        // WHEN the requested health check is read
        let view = crate::snapshot::View::new(&snap);
        // THEN it is the tagged Ingress's
        match view.requested_health_check() {
            Some((Origin::Ingress(i), spec, _)) => {
                assert_eq!(i.metadata.name.as_deref(), Some("second"));
                assert_eq!(spec.path.value, "/two");
            }
            _ => panic!("no Ingress health check"),
        }
    }
}
