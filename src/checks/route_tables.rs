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
    verifies: "target and load-balancer subnets reach each other through `local` (longest prefix), both directions; more specific routes elsewhere and blackholes named, unless the healthy targets' same flow takes the same next hop (an inspection design, not a fault); secondary CIDRs included",
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
    /// Where the route sends the flow instead of `local` (None: a blackhole or no route).
    next_hop: Option<String>,
    /// A healthy target's same flow goes through the same next hop: a working design (an
    /// inspection appliance, a firewall endpoint), evidence rather than a fault.
    shared_with_healthy: bool,
    #[serde(skip)]
    unhealthy: bool,
    #[serde(skip)]
    fix: String,
}

/// Marks the unhealthy targets' diversions that a healthy target's same flow shares (same next
/// hop). A blackhole or a missing route is never shared: it carries nothing. Pure.
fn mark_shared(problems: &mut [Problem]) {
    let healthy: BTreeSet<(&'static str, String)> = (problems.iter())
        .filter(|p| !p.unhealthy)
        .filter_map(|p| Some((p.flow, p.next_hop.clone()?)))
        .collect();
    for p in problems.iter_mut().filter(|p| p.unhealthy) {
        p.shared_with_healthy = p.next_hop.as_ref().is_some_and(|h| healthy.contains(&(p.flow, h.clone())));
    }
}

fn judge(ctx: &View, lb_subnets: &[&Subnet]) -> Finding {
    // What lies inside the VPC: its CIDR blocks, or (without DescribeVpcs) its subnets.
    let network = &ctx.snap.aws.network;
    let vpc_cidrs: Vec<Cidr> = match network.vpcs.ok() {
        Some(vpcs) => vpcs.iter().flat_map(|v| v.cidrs.iter()).filter_map(|c| Cidr::parse(c)).collect(),
        None => ctx.subnets().iter().flat_map(|s| s.cidrs()).collect(),
    };
    // Every target: the healthy ones' paths tell a design (shared) from a fault.
    let targets: Vec<&crate::snapshot::TargetHealth> = ctx.targets.as_ref().map(|t| t.iter().collect()).unwrap_or_default();
    let mut problems: Vec<Problem> = Vec::new();
    let mut explains = Vec::new();
    let mut fixes = BTreeSet::new();
    let mut unknown = Vec::new();
    let mut checked = 0;
    for t in targets {
        let place = ctx.place(t);
        let subnet = place.subnet.as_deref().and_then(|s| ctx.subnet(s));
        let address = place.address.as_deref().and_then(Cidr::parse);
        let v6 = address.is_some_and(|a| a.v6);
        let Some(target_addr) = address.or_else(|| subnet.and_then(|s| s.cidr_of(v6))) else {
            unknown.push(format!("{}: address unknown ({})", t.id, place.via));
            continue;
        };
        for lb in lb_subnets {
            let Some(lb_cidr) = lb.cidr_of(v6) else { continue };
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
                for (problem, fix, next_hop) in route_problems(table, &to, &vpc_cidrs) {
                    problems.push(Problem {
                        target: t.id.clone(),
                        subnet: from.to_string(),
                        route_table: table.id.clone(),
                        destination: to.to_string(),
                        flow: what,
                        problem,
                        next_hop,
                        shared_with_healthy: false,
                        unhealthy: t.is_unhealthy(),
                        fix,
                    });
                }
            }
        }
    }
    // While targets are unhealthy, their diversions are faults unless healthy targets share
    // them; with none unhealthy, every diversion is reported (nothing fails to compare with).
    let any_unhealthy = !ctx.unhealthy().is_empty();
    mark_shared(&mut problems);
    let faults: Vec<&Problem> = problems
        .iter()
        .filter(|p| !p.shared_with_healthy && (p.unhealthy || !any_unhealthy))
        .collect();
    for p in &faults {
        fixes.insert(p.fix.clone());
        if p.unhealthy {
            explains.push(p.target.clone());
        }
    }
    let shared: Vec<&Problem> = problems.iter().filter(|p| p.shared_with_healthy).collect();
    let evidence = json!({
        "vpcCidrs": vpc_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "problems": faults,
        "sharedWithHealthy": shared,
        "unknown": unknown,
    });
    if let Some(first) = faults.first() {
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
    if let Some(p) = shared.first() {
        return Finding::pass(
            ID,
            "Routes shared with healthy targets",
            format!(
                "The unhealthy targets' traffic takes the same path as the healthy ones' ({}: {}); that path works, so it is not why they fail.",
                p.route_table, p.problem
            ),
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

/// What is wrong with `table` for traffic to `dest`: (sentence, fix, the next hop it goes to
/// instead of `local`; None for a blackhole or no route).
fn route_problems(table: &RouteTable, dest: &Cidr, vpc_cidrs: &[Cidr]) -> Vec<(String, String, Option<String>)> {
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
            None,
        )),
        (Some(r), Some(_)) if r.target == "local" => {}
        (Some(r), Some(vpc)) => out.push((
            format!(
                "{} → {} is the most specific route (it overrides the local route of {vpc})",
                r.destination, r.target
            ),
            diverting_route_fix(table, r),
            Some(r.target.clone()),
        )),
        (Some(_), None) => {}
        (None, _) => out.push((
            "no route covers it".to_string(),
            format!(
                "add a route for {dest} to {} (or check the target's address: it is outside the VPC)",
                table.id
            ),
            None,
        )),
    }
    for r in inner.into_iter().filter(|r| r.target != "local") {
        out.push((
            format!("{} → {} diverts part of it", r.destination, r.target),
            diverting_route_fix(table, r),
            Some(r.target.clone()),
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
                ..Default::default()
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
    fn inspection_route_the_healthy_targets_share_is_not_a_fault() {
        // GIVEN the LB subnet sends both node subnets through the firewall endpoint vpce-fw;
        // i-0aaa (subnet-a) is healthy, i-0bbb (subnet-b) times out
        let snap = SnapshotB::instance()
            .targets(vec![target("i-0aaa", 32663, "healthy"), target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout")])
            .route_table(
                "rtb-lb",
                "subnet-lb-a",
                vec![route("10.0.0.0/16", "local"), route("10.0.1.0/24", "vpce-fw"), route("10.0.2.0/24", "vpce-fw")],
            )
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it passes, saying the path is shared, and prints no delete-route
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert_eq!(f.title, "Routes shared with healthy targets");
        assert_eq!(f.evidence["sharedWithHealthy"][0]["nextHop"], "vpce-fw");
        assert!(f.remediation.is_empty());
    }

    #[test]
    fn diversion_only_the_unhealthy_targets_take_still_fails() {
        // GIVEN only subnet-b goes through the appliance; i-0aaa (subnet-a) is healthy and local
        let snap = SnapshotB::instance()
            .targets(vec![target("i-0aaa", 32663, "healthy"), target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout")])
            .route_table("rtb-lb", "subnet-lb-a", vec![route("10.0.0.0/16", "local"), route("10.0.2.0/24", "eni-fw")])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["i-0bbb".to_string()]), "{f:?}");
    }

    /// mark_shared: (unhealthy?, flow, next hop) rows → which unhealthy rows are shared.
    #[test]
    fn shared_paths_table() {
        let row = |unhealthy: bool, flow: &'static str, hop: Option<&str>| Problem {
            target: String::new(),
            subnet: String::new(),
            route_table: String::new(),
            destination: String::new(),
            flow,
            problem: String::new(),
            next_hop: hop.map(str::to_string),
            shared_with_healthy: false,
            unhealthy,
            fix: String::new(),
        };
        let check = "health check to the target";
        let answer = "answer to the load balancer";
        for (rows, want) in [
            (vec![row(true, check, Some("eni-fw")), row(false, check, Some("eni-fw"))], vec![true]),
            (vec![row(true, check, Some("eni-fw")), row(false, check, Some("eni-other"))], vec![false]),
            // the same hop on the other direction is another path
            (vec![row(true, check, Some("eni-fw")), row(false, answer, Some("eni-fw"))], vec![false]),
            // a blackhole is never shared
            (vec![row(true, check, None), row(false, check, None)], vec![false]),
            (vec![row(true, check, Some("eni-fw"))], vec![false]),
        ] {
            let mut rows = rows;
            mark_shared(&mut rows);
            let got: Vec<bool> = rows.iter().filter(|r| r.unhealthy).map(|r| r.shared_with_healthy).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn ipv6_target_needs_the_local_route_of_the_vpcs_ipv6_block() {
        // GIVEN the dual-stack fixture: local routes for both families
        let f = CHECK.on(&SnapshotB::dual_stack_ip().build());
        assert_eq!(f.status, Status::Pass, "{}", f.evidence);
        // WHEN the IPv6 block's traffic goes to an egress-only gateway instead of local
        let mut b = SnapshotB::dual_stack_ip();
        if let Fetched::Ok(tables) = &mut b.network().route_tables {
            tables[0].routes.push(route("2600:1f18:abc:2::/64", "eigw-1"));
        }
        let f = CHECK.on(&b.build());
        // THEN the IPv6 target fails; the IPv4 one is untouched
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["2600:1f18:abc:2:1::11".to_string()]), "{f:?}");
    }

    #[test]
    fn describe_route_tables_denied_is_unknown() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeRouteTables").build());
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("ec2:DescribeRouteTables"));
    }
}
