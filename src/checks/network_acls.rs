//! `network-acls` (article §10): the subnets' network ACLs let the health check through both ways.
//!
//! NACLs are stateless and apply when traffic crosses a subnet boundary: the health check enters
//! the target's subnet on the health-check port, and its answer leaves toward the load balancer's
//! ephemeral port (1024–65535); the load balancer's subnets must let the same two flows out and
//! back in. Rules are evaluated by number, the first match decides, and anything unmatched is
//! denied (also when the API does not list the final `*` rule).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{Subnet, TargetHealth, View};
use crate::net::{self, Cidr, NaclDecision, EPHEMERAL, TCP};
use crate::snapshot::NetworkAcl;

pub const CHECK: Check = Check {
    id: CheckId::NETWORK_ACLS,
    section: "§10",
    layer: Layer::Network,
    verifies: "both subnets' NACLs allow the health check in and the answer back to ports 1024–65535, both ways; rules by number, first match, implicit deny",
    needs: "DescribeNetworkAcls, DescribeSubnets",
    reasons: &["Target.Timeout", "Target.FailedHealthChecks"],
    run: check,
};
const ID: CheckId = CHECK.id;

/// One flow a NACL must allow.
struct Flow<'a> {
    acl: &'a NetworkAcl,
    subnet: &'a str,
    egress: bool,
    peer: Cidr,
    ports: (u16, u16),
    what: &'static str,
}

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_some_targets()?;
    ctx.need(&ctx.snap.aws.network.network_acls, "the network ACLs")?;
    let (_, lb_subnets) = ctx.lb_source().map_err(|why| ctx.unknown(why))?;
    Ok(judge(ctx, &lb_subnets, ctx.targets_to_check()))
}

/// One flow a network ACL stops: a row of the evidence.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blocked {
    target: String,
    acl: String,
    subnet: String,
    direction: &'static str,
    peer: String,
    port: u16,
    flow: &'static str,
    decision: String,
}

fn judge(ctx: &View, lb_subnets: &[&Subnet], targets: Vec<&TargetHealth>) -> Finding {
    let mut blocked: Vec<Blocked> = Vec::new();
    let mut explains: Vec<String> = Vec::new();
    let mut fixes = BTreeSet::new();
    let mut claimed = BTreeSet::new();
    let mut checked = 0;
    let mut unknown = Vec::new();
    for t in targets {
        let place = ctx.place(t);
        let (Some(subnet), Some(port)) = (place.subnet.as_deref().and_then(|s| ctx.subnet(s)), ctx.health_check_port(t)) else {
            unknown.push(format!("{}: subnet unknown ({})", t.id, place.via));
            continue;
        };
        // The family of the target's address decides which rules apply (each family has its
        // own entries and its own implicit deny) and which of the LB subnet's blocks is the peer.
        let address = place.address.as_deref().and_then(Cidr::parse);
        let v6 = address.is_some_and(|a| a.v6);
        let target_peer = address.or_else(|| subnet.cidr_of(v6));
        for lb in lb_subnets {
            if lb.id == subnet.id {
                continue; // within one subnet, NACLs do not apply
            }
            let Some(target_cidr) = target_peer else {
                continue;
            };
            let (Some(t_acl), Some(l_acl)) = (ctx.nacl_for(&subnet.id), ctx.nacl_for(&lb.id)) else {
                unknown.push(format!("{}: no NACL found for {} or {}", t.id, subnet.id, lb.id));
                continue;
            };
            checked += 1;
            // The target's side sees the load balancer's addresses in that subnet (an NLB's
            // own, when known and it has no groups; else the subnet); the LB's side sees the target.
            let mut flows = Vec::new();
            for lb_cidr in ctx.lb_peers(lb, v6) {
                flows.push(Flow {
                    acl: t_acl,
                    subnet: &subnet.id,
                    egress: false,
                    peer: lb_cidr,
                    ports: (port, port),
                    what: "health check into the target's subnet",
                });
                flows.push(Flow {
                    acl: t_acl,
                    subnet: &subnet.id,
                    egress: true,
                    peer: lb_cidr,
                    ports: EPHEMERAL,
                    what: "answer out of the target's subnet",
                });
            }
            flows.push(Flow {
                acl: l_acl,
                subnet: &lb.id,
                egress: true,
                peer: target_cidr,
                ports: (port, port),
                what: "health check out of the load balancer's subnet",
            });
            flows.push(Flow {
                acl: l_acl,
                subnet: &lb.id,
                egress: false,
                peer: target_cidr,
                ports: EPHEMERAL,
                what: "answer into the load balancer's subnet",
            });
            for f in flows {
                if let Some((p, decision)) = net::nacl_first_blocked(&f.acl.entries, f.egress, TCP, &f.peer, f.ports) {
                    let rule = match decision {
                        NaclDecision::Deny { rule } => format!("rule {rule} denies"),
                        _ => "no rule allows it (implicit deny)".into(),
                    };
                    blocked.push(Blocked {
                        target: t.id.clone(),
                        acl: f.acl.id.clone(),
                        subnet: f.subnet.to_string(),
                        direction: if f.egress { "egress" } else { "ingress" },
                        peer: f.peer.to_string(),
                        port: p,
                        flow: f.what,
                        decision: rule,
                    });
                    fixes.insert(fix(f.acl, f.egress, &f.peer, f.ports, &decision, &mut claimed));
                    if t.is_unhealthy() {
                        explains.push(t.id.clone());
                    }
                }
            }
        }
    }
    let evidence = json!({"lbSubnets": lb_subnets.iter().map(|s| json!({"id": s.id, "cidr": s.cidr})).collect::<Vec<_>>(), "blocked": blocked, "unknown": unknown});
    if let Some(first) = blocked.first() {
        let detail = format!(
            "NACL {} on {} blocks the {} (TCP {} {} {}): {}{}.",
            first.acl,
            first.subnet,
            first.flow,
            first.port,
            if first.direction == "ingress" { "from" } else { "to" },
            first.peer,
            first.decision,
            if blocked.len() > 1 {
                format!("; {} more blocked flows in the evidence", blocked.len() - 1)
            } else {
                String::new()
            }
        );
        return Finding::fail(ID, "Network ACL blocks the health check", detail)
            .evidence(evidence)
            .remediation(fixes.into_iter().collect())
            .explains(explains);
    }
    if checked == 0 && !unknown.is_empty() {
        return Finding::unknown(ID, unknown.join("; ")).evidence(evidence);
    }
    if checked == 0 {
        return Finding::pass(
            ID,
            "NACLs not crossed",
            "The targets share subnets with the load balancer: network ACLs do not apply.",
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        "Network ACLs allow the health check",
        "The health check and its answer pass the network ACLs of the target and load balancer subnets both ways.",
    )
    .evidence(evidence)
}

/// The entry that lets one blocked flow through; `claimed` holds the rule numbers earlier fixes
/// of this diagnosis already use, so two printed entries never share a number.
fn fix(
    acl: &NetworkAcl,
    egress: bool,
    peer: &Cidr,
    ports: (u16, u16),
    decision: &NaclDecision,
    claimed: &mut BTreeSet<(String, bool, i32)>,
) -> String {
    let dir = if egress { "--egress" } else { "--ingress" };
    let used: BTreeSet<i32> = (acl.entries.iter())
        .filter(|e| e.egress == egress)
        .map(|e| e.rule_number)
        .chain(claimed.iter().filter(|(a, e, _)| *a == acl.id && *e == egress).map(|(_, _, n)| *n))
        .collect();
    let mut allow = |n: i32| {
        claimed.insert((acl.id.clone(), egress, n));
        format!(
            "aws ec2 create-network-acl-entry --network-acl-id {} {dir} --rule-number {n} --protocol tcp --port-range From={},To={} --{}cidr-block {peer} --rule-action allow",
            acl.id,
            ports.0,
            ports.1,
            if peer.v6 { "ipv6-" } else { "" }
        )
    };
    match decision {
        // A deny may guard something else: keep it, and allow exactly this flow just ahead of it.
        NaclDecision::Deny { rule } => match (1..*rule).rev().find(|n| !used.contains(n)) {
            Some(n) => allow(n),
            None => format!(
                "no free rule number below {rule} in {}: renumber the entries so an allow for TCP {}-{} from {peer} comes before rule {rule} (aws ec2 describe-network-acls --network-acl-ids {})",
                acl.id, ports.0, ports.1, acl.id
            ),
        },
        _ => {
            // A free rule number ahead of the existing rules, so that no deny can come first.
            let lowest = used.iter().next().copied().unwrap_or(100);
            allow((1..lowest).rev().find(|n| !used.contains(n)).unwrap_or(lowest + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    #[test]
    fn default_acl_allows_everything() {
        let f = CHECK.on(&SnapshotB::instance().build());
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn deny_numbered_below_the_allow_blocks_the_node_port() {
        // GIVEN subnet-b's NACL: rule 90 denies the NodePort range from the LB's VPC range, rule 100 allows all
        let snap = SnapshotB::instance()
            .nacl(
                "acl-b",
                "subnet-b",
                vec![
                    nacl_entry(90, "deny", "6", "10.0.0.0/16", Some((30000, 32767)), false),
                    nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, false),
                    nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, true),
                ],
            )
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN only the target in subnet-b is explained, naming the ACL and the rule
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert!(
            f.detail.starts_with(
                "NACL acl-b on subnet-b blocks the health check into the target's subnet (TCP 32663 from 10.0.101.0/24): rule 90 denies"
            ),
            "{}",
            f.detail
        );
        // AND the fix allows exactly these flows (one per load-balancer subnet, each its own rule
        // number) ahead of the deny, which stays in place
        assert_eq!(
            f.remediation,
            vec![
                "aws ec2 create-network-acl-entry --network-acl-id acl-b --ingress --rule-number 88 --protocol tcp --port-range From=32663,To=32663 --cidr-block 10.0.102.0/24 --rule-action allow",
                "aws ec2 create-network-acl-entry --network-acl-id acl-b --ingress --rule-number 89 --protocol tcp --port-range From=32663,To=32663 --cidr-block 10.0.101.0/24 --rule-action allow",
            ]
        );
        assert!(f.remediation.iter().all(|r| !r.contains("delete-network-acl-entry")));
    }

    #[test]
    fn custom_acl_without_return_rule_blocks_by_implicit_deny() {
        // GIVEN a custom ACL (no listed * rule) allowing only inbound traffic
        let snap = SnapshotB::instance()
            .nacl("acl-b", "subnet-b", vec![nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, false)])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence["blocked"][0]["flow"], "answer out of the target's subnet");
        assert_eq!(f.evidence["blocked"][0]["port"], 1024);
        assert!(
            f.remediation[0].contains("--egress") && f.remediation[0].contains("From=1024,To=65535"),
            "{}",
            f.remediation[0]
        );
    }

    #[test]
    fn lb_subnet_acl_blocking_the_answer_is_found() {
        let snap = SnapshotB::instance()
            .nacl(
                "acl-lb",
                "subnet-lb-a",
                vec![
                    nacl_entry(100, "allow", "-1", "0.0.0.0/0", None, true),
                    nacl_entry(100, "allow", "6", "0.0.0.0/0", Some((0, 1023)), false),
                ],
            )
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence["blocked"][0]["flow"], "answer into the load balancer's subnet");
        assert_eq!(f.explains, vec!["i-0aaa", "i-0bbb"]);
    }

    #[test]
    fn ipv6_target_is_judged_by_the_ipv6_entries_and_their_implicit_deny() {
        // GIVEN the dual-stack fixture (IPv4 and IPv6 allow-all entries): the IPv6 pod passes
        assert_eq!(CHECK.on(&SnapshotB::dual_stack_ip().build()).status, Status::Pass);
        // WHEN the ACL has IPv4 entries only (a custom ACL written before IPv6)
        let mut b = SnapshotB::dual_stack_ip();
        if let crate::snapshot::Fetched::Ok(acls) = &mut b.network().network_acls {
            acls[0].entries.retain(|e| !e.cidr.as_deref().unwrap_or("").contains(':'));
        }
        let f = CHECK.on(&b.build());
        // THEN the IPv6 target is blocked by the IPv6 implicit deny; the IPv4 one is not, and the
        // fix writes an IPv6 entry
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["2600:1f18:abc:2:1::11".to_string()]), "{f:?}");
        assert!(f.remediation.iter().all(|r| r.contains("--ipv6-cidr-block 2600:1f18:abc:")), "{:?}", f.remediation);
    }

    #[test]
    fn acl_admitting_exactly_the_nlbs_addresses_is_right() {
        // GIVEN an NLB without groups whose ENIs hold 10.0.101.23 and 10.0.102.41, and subnet-b's
        // ACL admitting the NodePort from those two addresses (and the answer back) only
        let mut b = SnapshotB::instance().targets(vec![target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout")]);
        b.aws().network.lb_interfaces = crate::snapshot::Fetched::Ok(
            [("eni-nlb-a", "10.0.101.23"), ("eni-nlb-b", "10.0.102.41")]
                .into_iter()
                .map(|(id, ip)| crate::snapshot::NetworkInterface {
                    id: id.into(),
                    private_ips: vec![ip.into()],
                    ..Default::default()
                })
                .collect(),
        );
        let entries = |allowed: &[&str]| {
            let mut e = Vec::new();
            for (k, a) in allowed.iter().enumerate() {
                e.push(nacl_entry(10 + k as i32, "allow", "6", a, Some((32663, 32663)), false));
                e.push(nacl_entry(10 + k as i32, "allow", "6", a, Some((1024, 65535)), true));
            }
            e
        };
        let judge = |allowed: &[&str]| {
            let mut snap = b.clone().nacl("acl-b", "subnet-b", entries(allowed)).build();
            if let crate::snapshot::Fetched::Ok(lbs) = &mut snap.aws.load_balancers {
                lbs[0].security_groups.clear();
            }
            CHECK.on(&snap)
        };
        // THEN the two addresses are enough; one left out is blocked, naming it
        assert_eq!(judge(&["10.0.101.23/32", "10.0.102.41/32"]).status, Status::Pass);
        let f = judge(&["10.0.101.23/32"]);
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(f.evidence["blocked"][0]["peer"], "10.0.102.41/32");
    }

    #[test]
    fn describe_network_acls_denied_is_unknown() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeNetworkAcls").build());
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("ec2:DescribeNetworkAcls"));
    }
}
