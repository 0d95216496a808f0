//! `route-tables` (article §10): the target's and the load balancer's subnets route to each
//! other locally.
//!
//! Inside a VPC, traffic between subnets follows the `local` route of each VPC CIDR. A more
//! specific route that sends part of that range elsewhere (a NAT gateway, an ENI, a peering, a
//! blackhole) takes the health check or its answer away. Every VPC CIDR in use, including the
//! secondary CIDRs pods get with custom networking, needs its local route.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{Subnet, View};
use crate::net::{self, Cidr};
use crate::snapshot::RouteTable;

pub const CHECK: Check = Check {
    id: CheckId::ROUTE_TABLES,
    section: "§10",
    layer: Layer::Network,
    verifies: "target and load-balancer subnets reach each other through `local` (longest prefix); more specific routes elsewhere and blackholes named; secondary CIDRs included",
    needs: "DescribeRouteTables, DescribeVpcs",
    reasons: &["Target.Timeout", "Target.FailedHealthChecks"],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_targets()?;
    ctx.need(&ctx.snap.aws.network.route_tables, "the route tables")?;
    let (_, lb_subnets) = ctx.lb_source().map_err(|why| ctx.unknown(why))?;
    if ctx.targets_to_check().is_empty() {
        return Err(ctx.skipped("no targets registered"));
    }
    Ok(judge(ctx, &lb_subnets))
}

/// A route that keeps the health check or its answer from going local: a row of the evidence.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    target: String,
    subnet: String,
    route_table: String,
    destination: String,
    flow: &'static str,
    problem: String,
}

fn judge(ctx: &View, lb_subnets: &[&Subnet]) -> Finding {
    // What lies inside the VPC: its CIDR blocks, or (without DescribeVpcs) its subnets.
    let network = &ctx.snap.aws.network;
    let vpc_cidrs: Vec<Cidr> = match network.vpcs.ok() {
        Some(vpcs) => vpcs.iter().flat_map(|v| v.cidrs.iter()).filter_map(|c| Cidr::parse(c)).collect(),
        None => ctx.subnets().iter().filter_map(|s| Cidr::parse(&s.cidr)).collect(),
    };
    let targets = ctx.targets_to_check();
    let mut problems: Vec<Problem> = Vec::new();
    let mut explains = Vec::new();
    let mut fixes = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut checked = 0;
    for t in targets {
        let place = ctx.place(t);
        let subnet = place.subnet.as_deref().and_then(|s| ctx.subnet(s));
        let Some(target_addr) = place
            .address
            .as_deref()
            .and_then(Cidr::parse)
            .or_else(|| subnet.and_then(|s| Cidr::parse(&s.cidr)))
        else {
            unknown.push(format!("{}: address unknown ({})", t.id, place.via));
            continue;
        };
        for lb in lb_subnets {
            let Some(lb_cidr) = Cidr::parse(&lb.cidr) else { continue };
            // Both directions: LB subnet → target (the check) and, when the target's subnet is
            // known (it is in the VPC), target subnet → LB subnet (the answer).
            let mut flows = vec![(lb.id.as_str(), target_addr, "health check to the target")];
            if let Some(s) = subnet {
                flows.push((s.id.as_str(), lb_cidr, "answer to the load balancer"));
            }
            for (from, to, what) in flows {
                let Some(table) = ctx.route_table_for(from) else {
                    unknown.push(format!("no route table for {from}"));
                    continue;
                };
                checked += 1;
                for (problem, fix) in route_problems(table, &to, &vpc_cidrs) {
                    fixes.insert(fix);
                    problems.push(Problem {
                        target: t.id.clone(),
                        subnet: from.to_string(),
                        route_table: table.id.clone(),
                        destination: to.to_string(),
                        flow: what,
                        problem,
                    });
                    if t.is_unhealthy() {
                        explains.push(t.id.clone());
                    }
                }
            }
        }
    }
    let evidence =
        json!({"vpcCidrs": vpc_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(), "problems": problems, "unknown": unknown});
    if let Some(first) = problems.first() {
        return Finding::fail(
            ID,
            "Route diverts the health check",
            format!(
                "Route table {} of {} does not send the {} ({}) locally: {}.",
                first.route_table, first.subnet, first.flow, first.destination, first.problem
            ),
        )
        .evidence(evidence)
        .remediation(fixes.into_iter().collect())
        .explains(explains);
    }
    if checked == 0 {
        return Finding::unknown(
            ID,
            if unknown.is_empty() {
                "nothing to check".into()
            } else {
                unknown.join("; ")
            },
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        "Local routes in place",
        "The target and load balancer subnets reach each other through local routes.",
    )
    .evidence(evidence)
}

/// What is wrong with `table` for traffic to `dest`: (sentence, fix).
fn route_problems(table: &RouteTable, dest: &Cidr, vpc_cidrs: &[Cidr]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (best, inner) = net::route_lookup(&table.routes, dest);
    // Inside a VPC CIDR the route must be `local`; outside (peering, transit gateway, on-premises
    // ip targets) any active route will do.
    let vpc = vpc_cidrs.iter().find(|c| c.contains(dest));
    match (best, vpc) {
        (Some(r), _) if r.state == "blackhole" => out.push((
            format!("{} → {} is a blackhole route", r.destination, r.target),
            format!(
                "aws ec2 delete-route --route-table-id {} --destination-cidr-block {}",
                table.id, r.destination
            ),
        )),
        (Some(r), Some(_)) if r.target == "local" => {}
        (Some(r), Some(vpc)) => out.push((
            format!(
                "{} → {} is the most specific route (it overrides the local route of {vpc})",
                r.destination, r.target
            ),
            diverting_route_fix(table, r),
        )),
        (Some(_), None) => {}
        (None, _) => out.push((
            "no route covers it".to_string(),
            format!(
                "add a route for {dest} to {} (or check the target's address: it is outside the VPC)",
                table.id
            ),
        )),
    }
    for r in inner.into_iter().filter(|r| r.target != "local") {
        out.push((
            format!("{} → {} diverts part of it", r.destination, r.target),
            diverting_route_fix(table, r),
        ));
    }
    out
}

/// A route that sends VPC traffic elsewhere may be on purpose (an inspection appliance): the
/// line a person pastes only shows it; deleting it is the commented step, for when nothing is
/// meant to carry this traffic. A blackhole route carries nothing and is deleted outright.
fn diverting_route_fix(table: &RouteTable, r: &crate::snapshot::Route) -> String {
    format!(
        "aws ec2 describe-route-tables --route-table-ids {id} --query 'RouteTables[].Routes[?DestinationCidrBlock==`{dest}`]'   # if no appliance behind {target} is meant to carry this traffic: aws ec2 delete-route --route-table-id {id} --destination-cidr-block {dest}",
        id = table.id,
        dest = r.destination,
        target = r.target
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::{Fetched, Subnet};

    #[test]
    fn main_table_with_local_route_passes() {
        let f = CHECK.on(&SnapshotB::instance().build());
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn blackhole_for_the_lb_subnet_in_the_target_table_fails_that_subnet_only() {
        // GIVEN subnet-b's own table sends the LB subnet 10.0.101.0/24 to a blackhole
        let snap = SnapshotB::instance()
            .route_table(
                "rtb-b",
                "subnet-b",
                vec![route("10.0.0.0/16", "local"), route("10.0.101.0/24", "blackhole")],
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert!(f.detail.contains("Route table rtb-b of subnet-b does not send the answer to the load balancer (10.0.101.0/24) locally: 10.0.101.0/24 → blackhole is a blackhole route"), "{}", f.detail);
        assert_eq!(
            f.remediation,
            vec!["aws ec2 delete-route --route-table-id rtb-b --destination-cidr-block 10.0.101.0/24"]
        );
    }

    #[test]
    fn more_specific_route_inside_the_target_range_is_named() {
        let snap = SnapshotB::instance()
            .route_table(
                "rtb-lb",
                "subnet-lb-a",
                vec![route("10.0.0.0/16", "local"), route("10.0.2.0/25", "nat-0abc")],
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert_eq!(
            f.evidence["problems"][0]["problem"],
            "10.0.2.0/25 → nat-0abc is the most specific route (it overrides the local route of 10.0.0.0/16)"
        );
        // AND the line to paste only shows the route; deleting it is the conditional comment
        assert!(
            f.remediation[0].starts_with("aws ec2 describe-route-tables --route-table-ids rtb-lb "),
            "{}",
            f.remediation[0]
        );
        assert!(f.remediation[0].contains("# if no appliance behind nat-0abc"), "{}", f.remediation[0]);
    }

    #[test]
    fn secondary_cidr_routed_away_from_local_fails() {
        // GIVEN pods in the VPC's secondary CIDR 100.64.0.0/16, which only the default route covers
        let mut b = SnapshotB::ip().targets(vec![target_r("100.64.1.9", 8080, "unhealthy", "Target.Timeout")]);
        if let Fetched::Ok(subnets) = &mut b.network().subnets {
            subnets.push(Subnet {
                id: "subnet-pods".into(),
                vpc_id: "vpc-0a1b2c3d".into(),
                availability_zone: "us-east-1a".into(),
                cidr: "100.64.1.0/24".into(),
            });
        }
        if let Fetched::Ok(vpcs) = &mut b.network().vpcs {
            vpcs[0].cidrs.push("100.64.0.0/16".into());
        }
        let f = CHECK.on(&b.build());
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(
            f.evidence["problems"][0]["problem"]
                .as_str()
                .unwrap()
                .contains("0.0.0.0/0 → igw-1 is the most specific route (it overrides the local route of 100.64.0.0/16)"),
            "{}",
            f.evidence
        );
    }

    #[test]
    fn target_outside_the_vpc_routed_through_a_gateway_passes() {
        // GIVEN an ip target on premises, reached through the default route
        let snap = SnapshotB::ip()
            .targets(vec![target_r("172.20.0.9", 8080, "unhealthy", "Target.Timeout")])
            .build();
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn describe_route_tables_denied_is_unknown() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeRouteTables").build());
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("ec2:DescribeRouteTables"));
    }
}
