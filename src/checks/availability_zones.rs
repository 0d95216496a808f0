//! `availability-zones`: every target's zone is enabled on the load balancer.
//!
//! A load balancer only sends to targets in the zones of its subnets; a target elsewhere is
//! `unused` with Target.NotInUse and never becomes healthy. Typical cause: a node group in a
//! zone the load balancer's subnets (or the controller's subnet discovery) do not cover.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{LoadBalancer, TargetHealth, View};

pub const CHECK: Check = Check {
    id: CheckId::AVAILABILITY_ZONES,
    section: "—",
    layer: Layer::Network,
    verifies: "every target's zone is enabled on the load balancer (Target.NotInUse), with the subnet to add",
    needs: "LB AZs, targets",
    reasons: &["Target.NotInUse"],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let targets = ctx.need_targets()?;
    let lbs = ctx.need(&ctx.snap.aws.load_balancers, "the load balancer's zones")?;
    if lbs.is_empty() {
        return Err(ctx.skipped("the target group is not attached to a load balancer: no zones to compare"));
    }
    Ok(judge(ctx, targets, lbs))
}

fn judge(ctx: &View, targets: &[TargetHealth], lbs: &[LoadBalancer]) -> Finding {
    let enabled: BTreeSet<&str> = lbs.iter().flat_map(|l| l.zones.iter().map(|z| z.zone.as_str())).collect();
    let mut outside: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for t in targets {
        if t.availability_zone.as_deref() == Some("all") {
            continue; // an IP outside the VPC: reachable from every zone
        }
        match ctx.place(t).zone {
            Some(z) if !enabled.contains(z.as_str()) => outside.entry(z).or_default().push(t.id.clone()),
            Some(_) => {}
            None => unknown.push(t.id.clone()),
        }
    }
    let evidence = json!({"enabled": enabled, "targetsOutside": outside, "zoneUnknown": unknown});
    if outside.is_empty() {
        if !unknown.is_empty() && unknown.len() == targets.len() {
            let why = ctx.instances().err().unwrap_or_else(|| "no zone known for the targets".into());
            return Finding::unknown(ID, why).evidence(evidence);
        }
        return Finding::pass(
            ID,
            "Targets in enabled zones",
            format!(
                "Every target is in a zone the load balancer serves ({}).",
                enabled.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        )
        .evidence(evidence);
    }
    let explains: Vec<String> = outside
        .values()
        .flatten()
        .filter(|id| ctx.unhealthy().iter().any(|t| &t.id == *id))
        .cloned()
        .collect();
    let Some(lb) = lbs.first() else {
        return Finding::unknown(ID, "no load balancer to compare the zones with");
    };
    let current: Vec<&str> = lb.zones.iter().filter_map(|z| z.subnet_id.as_deref()).collect();
    let mut fixes = Vec::new();
    for zone in outside.keys() {
        // A subnet of the VPC in that zone that the load balancer could use.
        match ctx.subnets().iter().find(|s| &s.availability_zone == zone && !current.contains(&s.id.as_str())) {
            Some(s) => fixes.push(format!("aws elbv2 set-subnets --load-balancer-arn {} --subnets {} {}", lb.arn, current.join(" "), s.id)),
            None => fixes.push(format!("create a subnet in {zone} for the load balancer, then add it: aws elbv2 set-subnets --load-balancer-arn {} --subnets {} <new-subnet>", lb.arn, current.join(" "))),
        }
    }
    fixes.push("With the AWS Load Balancer Controller: tag the subnet kubernetes.io/role/elb=1 (internal: kubernetes.io/role/internal-elb=1), or list it in the alb.ingress.kubernetes.io/subnets / service.beta.kubernetes.io/aws-load-balancer-subnets annotation".into());
    let zones: Vec<String> = outside.iter().map(|(z, ids)| format!("{z} ({})", ids.join(", "))).collect();
    Finding::fail(
        ID,
        "Targets in zones the load balancer does not serve",
        format!(
            "The load balancer serves {}; targets in {} cannot receive traffic (Target.NotInUse).",
            enabled.iter().copied().collect::<Vec<_>>().join(", "),
            zones.join(", ")
        ),
    )
    .evidence(evidence)
    .remediation(fixes)
    .explains(explains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn targets_in_served_zones_pass() {
        assert_eq!(CHECK.on(&SnapshotB::instance().build()).status, Status::Pass);
    }

    #[test]
    fn target_in_a_zone_without_lb_subnet_fails_with_set_subnets() {
        // GIVEN an LB only in us-east-1a; i-0bbb is in us-east-1b and unused
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unused", "Target.NotInUse"),
            ])
            .lb_zones(&[("us-east-1a", "subnet-lb-a")])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert!(f.detail.contains("targets in us-east-1b (i-0bbb)"), "{}", f.detail);
        assert_eq!(
            f.remediation[0],
            format!("aws elbv2 set-subnets --load-balancer-arn {LB_ARN} --subnets subnet-lb-a subnet-b")
        );
    }

    #[test]
    fn instances_denied_and_no_zone_in_target_health_is_unknown() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeInstances").build());
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("ec2:DescribeInstances"), "{}", f.detail);
    }
}
