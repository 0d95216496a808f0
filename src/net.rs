//! Pure network evaluation, the way AWS decides it: IPv4 CIDR arithmetic, security-group
//! permission matching, network ACL rule evaluation (numbered rules, first match wins, implicit
//! deny), and longest-prefix route lookup. No I/O; the network checks build on these.

pub use crate::cidr::{Cidr, Source};
use crate::snapshot::{NaclEntry, Route, SecurityGroup, SgRule};

pub const TCP: u8 = 6;
/// The range a load balancer's return traffic comes back to (the client's ephemeral ports).
pub const EPHEMERAL: (u16, u16) = (1024, 65535);

/// Why a security group set lets the traffic in.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    pub group: String,
    pub rule: String,
}

/// Managed prefix lists by id, with the CIDRs of their entries: a rule naming one admits them
/// as if they were written in the rule.
pub type PrefixLists = std::collections::BTreeMap<String, Vec<Cidr>>;

/// Does any ingress rule of `groups` allow TCP `port` from the whole `source`? A group
/// reference to one of the source's groups allows everything from it; otherwise every source
/// CIDR must be inside some allowing rule's CIDR, its own or a prefix list's it names. `Err`
/// lists the source CIDRs left out.
pub fn sg_allows(groups: &[&SecurityGroup], source: &Source, lists: &PrefixLists, protocol: u8, port: u16) -> Result<Allowed, Vec<Cidr>> {
    let rules = || {
        groups
            .iter()
            .flat_map(|g| g.ingress.iter().map(move |r| (g, r)))
            .filter(|(_, r)| rule_covers(r, protocol, port))
    };
    if let Some((g, r)) = rules().find(|(_, r)| r.groups.iter().any(|x| source.groups.contains(x))) {
        return Ok(Allowed {
            group: g.id.clone(),
            rule: describe_rule(r),
        });
    }
    let mut uncovered = Vec::new();
    let mut first = None;
    for c in &source.cidrs {
        match rules().find(|(_, r)| rule_cidrs(r, lists).any(|rc| rc.contains(c))) {
            Some((g, r)) => {
                first.get_or_insert(Allowed {
                    group: g.id.clone(),
                    rule: describe_rule(r),
                });
            }
            None => uncovered.push(*c),
        }
    }
    match (uncovered.is_empty(), first) {
        (true, Some(a)) => Ok(a),
        _ => Err(if source.cidrs.is_empty() { vec![] } else { uncovered }),
    }
}

/// Does some ingress rule of `groups` admit TCP `port` from part of `block` (a CIDR inside it)?
/// When only a subnet stands for the load balancer's unknown addresses, such a rule may admit
/// exactly them: the verdict is open, not blocked.
pub fn sg_partly_allows(groups: &[&SecurityGroup], block: &Cidr, lists: &PrefixLists, protocol: u8, port: u16) -> bool {
    (groups.iter().flat_map(|g| g.ingress.iter()))
        .filter(|r| rule_covers(r, protocol, port))
        .any(|r| rule_cidrs(r, lists).any(|rc| block.contains(&rc)))
}

/// The CIDRs a rule admits: its own and those of the prefix lists it names that are known.
fn rule_cidrs<'a>(r: &'a SgRule, lists: &'a PrefixLists) -> impl Iterator<Item = Cidr> + 'a {
    (r.cidrs.iter().filter_map(|x| Cidr::parse(x))).chain(r.prefix_lists.iter().filter_map(|id| lists.get(id)).flatten().copied())
}

/// Does any egress rule of the load balancer's `groups` let TCP `port` out to a target at
/// `address` whose ENI carries `target_groups`? A rule naming one of those groups, or holding
/// the address in a CIDR of its own or of a prefix list it names, does. (Security groups are
/// stateful: the answer comes back whatever the rules say.)
pub fn sg_egress_allows(
    groups: &[&SecurityGroup],
    target_groups: &[String],
    address: Option<&Cidr>,
    lists: &PrefixLists,
    protocol: u8,
    port: u16,
) -> Option<Allowed> {
    (groups.iter().flat_map(|g| g.egress.iter().map(move |r| (g, r))))
        .filter(|(_, r)| rule_covers(r, protocol, port))
        .find(|(_, r)| {
            r.groups.iter().any(|x| target_groups.contains(x)) || address.is_some_and(|a| rule_cidrs(r, lists).any(|c| c.contains(a)))
        })
        .map(|(g, r)| Allowed {
            group: g.id.clone(),
            rule: describe_rule(r),
        })
}

/// Prefix lists named by rules of `groups` that cover TCP `port` but whose entries are unknown:
/// only these can leave a verdict open (a list on another port, an SSH rule from a corporate
/// list, changes nothing).
pub fn unresolved_lists(groups: &[&SecurityGroup], lists: &PrefixLists, protocol: u8, port: u16) -> Vec<String> {
    let mut out: Vec<String> = (groups.iter().flat_map(|g| &g.ingress))
        .filter(|r| rule_covers(r, protocol, port))
        .flat_map(|r| r.prefix_lists.iter())
        .filter(|id| !lists.contains_key(*id))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn rule_covers(r: &SgRule, protocol: u8, port: u16) -> bool {
    let proto_ok = match r.protocol.as_str() {
        "-1" | "all" => return true, // all traffic: ports do not apply
        "tcp" => protocol == TCP,
        "udp" => protocol == 17,
        other => other.parse::<u8>().is_ok_and(|p| p == protocol),
    };
    let (from, to) = (r.from_port.unwrap_or(0), r.to_port.unwrap_or(65535));
    // -1 as a port means "all ports" for protocols that have them.
    proto_ok && (from == -1 || (from <= i32::from(port) && i32::from(port) <= to))
}

pub fn describe_rule(r: &SgRule) -> String {
    let ports = match (r.protocol.as_str(), r.from_port, r.to_port) {
        ("-1", ..) => "all traffic".to_string(),
        (p, Some(f), Some(t)) if f == t => format!("{p} {f}"),
        (p, Some(f), Some(t)) => format!("{p} {f}-{t}"),
        (p, ..) => p.to_string(),
    };
    let from: Vec<&str> = r.groups.iter().chain(&r.cidrs).chain(&r.prefix_lists).map(String::as_str).collect();
    let desc = r.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
    format!("{ports} from {}{desc}", from.join(", "))
}

/// The outcome of a network ACL for one direction of one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NaclDecision {
    Allow {
        rule: i32,
    },
    Deny {
        rule: i32,
    },
    /// No rule matched: the final `*` rule denies.
    ImplicitDeny,
}

/// Evaluates `entries` (one direction: `egress`) for TCP/`protocol` traffic whose far end is
/// `peer` on `port`: rules in ascending number, the first that matches decides. A rule
/// matches when its protocol covers the traffic, its port range the port, and its CIDR holds
/// the whole of `peer`; a deny whose CIDR holds only part of `peer` denies that part, and so
/// decides (some of the load balancer's nodes are cut off).
pub fn nacl_evaluate(entries: &[NaclEntry], egress: bool, protocol: u8, peer: &Cidr, port: u16) -> NaclDecision {
    let mut rules: Vec<&NaclEntry> = entries.iter().filter(|e| e.egress == egress).collect();
    rules.sort_by_key(|e| e.rule_number);
    for e in rules {
        let proto_ok = e.protocol == "-1" || e.protocol.parse::<u8>().is_ok_and(|p| p == protocol);
        let port_ok = e.protocol == "-1" || (e.port_from.unwrap_or(0) <= i32::from(port) && i32::from(port) <= e.port_to.unwrap_or(65535));
        let Some(cidr) = e.cidr.as_deref().and_then(Cidr::parse) else {
            continue;
        };
        if !proto_ok || !port_ok {
            continue;
        }
        let deny = e.action == "deny";
        if cidr.contains(peer) || (deny && cidr.overlaps(peer)) {
            return if deny {
                NaclDecision::Deny { rule: e.rule_number }
            } else {
                NaclDecision::Allow { rule: e.rule_number }
            };
        }
    }
    NaclDecision::ImplicitDeny
}

/// Evaluates a whole port range; returns the first port that is not allowed and its decision.
pub fn nacl_first_blocked(
    entries: &[NaclEntry],
    egress: bool,
    protocol: u8,
    peer: &Cidr,
    ports: (u16, u16),
) -> Option<(u16, NaclDecision)> {
    // Only rule boundaries can change the outcome: check the range's ends and each boundary.
    let mut points: Vec<u16> = vec![ports.0, ports.1];
    for e in entries.iter().filter(|e| e.egress == egress) {
        for p in [e.port_from, e.port_to.map(|t| t + 1), e.port_from.map(|f| f - 1), e.port_to]
            .into_iter()
            .flatten()
        {
            if let Ok(p) = u16::try_from(p) {
                if (ports.0..=ports.1).contains(&p) {
                    points.push(p);
                }
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    points
        .into_iter()
        .find_map(|p| match nacl_evaluate(entries, egress, protocol, peer, p) {
            NaclDecision::Allow { .. } => None,
            d => Some((p, d)),
        })
}

/// The route traffic to `dest` takes: the most specific route whose destination holds all of
/// `dest`, plus any more specific routes inside `dest` that divert part of it.
pub fn route_lookup<'a>(routes: &'a [Route], dest: &Cidr) -> (Option<&'a Route>, Vec<&'a Route>) {
    let parsed: Vec<(&Route, Cidr)> = routes.iter().filter_map(|r| Cidr::parse(&r.destination).map(|c| (r, c))).collect();
    let best = parsed
        .iter()
        .filter(|(_, c)| c.contains(dest))
        .max_by_key(|(_, c)| c.len)
        .map(|(r, _)| *r);
    let inner = parsed
        .iter()
        .filter(|(_, c)| c.len > dest.len && dest.contains(c))
        .map(|(r, _)| *r)
        .collect();
    (best, inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::nacl_entry as entry;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn sg(id: &str, rules: Vec<SgRule>) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            name: id.into(),
            ingress: rules,
            ..Default::default()
        }
    }

    fn rule(proto: &str, from: i32, to: i32, cidrs: &[&str], groups: &[&str]) -> SgRule {
        SgRule {
            protocol: proto.into(),
            from_port: Some(from),
            to_port: Some(to),
            cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn cidr_containment_and_overlap() {
        for (outer, inner, contains) in [
            ("10.0.0.0/16", "10.0.1.0/24", true),
            ("10.0.1.0/24", "10.0.0.0/16", false),
            ("0.0.0.0/0", "192.168.1.7", true),
            ("10.0.1.0/24", "10.0.2.0/24", false),
            ("10.0.1.7/24", "10.0.1.0/25", true), // host bits are ignored, as AWS does
        ] {
            assert_eq!(c(outer).contains(&c(inner)), contains, "{outer} ⊇ {inner}");
        }
        assert!(c("10.0.1.0/24").overlaps(&c("10.0.0.0/16")));
        assert!(!c("10.0.1.0/24").overlaps(&c("10.0.2.0/24")));
        assert!(Cidr::parse("2001:db8::/32").is_some_and(|c| c.v6), "IPv6 is read, not dropped");
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
    }

    /// NACL table: rule order, deny before allow, ephemeral edges, -1, overlapping CIDRs.
    #[test]
    fn nacl_first_match_by_rule_number() {
        let lb = c("10.0.1.0/24");
        let allow_all = entry(100, "allow", "-1", "0.0.0.0/0", None, false);
        let cases: Vec<(Vec<NaclEntry>, u16, NaclDecision)> = vec![
            (vec![allow_all.clone()], 32663, NaclDecision::Allow { rule: 100 }),
            (vec![], 80, NaclDecision::ImplicitDeny),
            // deny with a lower number than the allow wins, whatever the list order
            (
                vec![
                    allow_all.clone(),
                    entry(90, "deny", "6", "10.0.1.0/24", Some((30000, 32767)), false),
                ],
                32663,
                NaclDecision::Deny { rule: 90 },
            ),
            // a higher-numbered deny never gets a say
            (
                vec![
                    allow_all.clone(),
                    entry(110, "deny", "6", "10.0.1.0/24", Some((30000, 32767)), false),
                ],
                32663,
                NaclDecision::Allow { rule: 100 },
            ),
            // port outside the deny's range falls through to the allow
            (
                vec![
                    allow_all.clone(),
                    entry(90, "deny", "6", "10.0.0.0/16", Some((30000, 32767)), false),
                ],
                29999,
                NaclDecision::Allow { rule: 100 },
            ),
            // UDP rule does not match TCP
            (
                vec![entry(90, "allow", "17", "0.0.0.0/0", Some((0, 65535)), false)],
                80,
                NaclDecision::ImplicitDeny,
            ),
            // an allow covering only half of the LB subnet does not decide; a deny does
            (
                vec![entry(50, "allow", "6", "10.0.1.0/25", Some((80, 80)), false)],
                80,
                NaclDecision::ImplicitDeny,
            ),
            (
                vec![entry(50, "deny", "6", "10.0.1.128/25", Some((80, 80)), false), allow_all.clone()],
                80,
                NaclDecision::Deny { rule: 50 },
            ),
            // egress rules do not apply to ingress
            (
                vec![entry(100, "allow", "-1", "0.0.0.0/0", None, true)],
                80,
                NaclDecision::ImplicitDeny,
            ),
        ];
        for (i, (entries, port, expected)) in cases.into_iter().enumerate() {
            assert_eq!(nacl_evaluate(&entries, false, TCP, &lb, port), expected, "case {i}");
        }
    }

    #[test]
    fn ephemeral_range_edges() {
        let peer = c("10.0.1.0/24");
        // allows 1024-65535: nothing blocked
        let full = vec![entry(100, "allow", "6", "0.0.0.0/0", Some((1024, 65535)), true)];
        assert_eq!(nacl_first_blocked(&full, true, TCP, &peer, EPHEMERAL), None);
        // allows from 1025: 1024 is blocked by the implicit deny
        let from_1025 = vec![entry(100, "allow", "6", "0.0.0.0/0", Some((1025, 65535)), true)];
        assert_eq!(
            nacl_first_blocked(&from_1025, true, TCP, &peer, EPHEMERAL),
            Some((1024, NaclDecision::ImplicitDeny))
        );
        // allows up to 65534: 65535 is blocked
        let to_65534 = vec![entry(100, "allow", "6", "0.0.0.0/0", Some((1024, 65534)), true)];
        assert_eq!(
            nacl_first_blocked(&to_65534, true, TCP, &peer, EPHEMERAL),
            Some((65535, NaclDecision::ImplicitDeny))
        );
        // 1023 is not ephemeral: a deny on 0-1023 changes nothing
        let low_deny = vec![
            entry(50, "deny", "6", "0.0.0.0/0", Some((0, 1023)), true),
            entry(100, "allow", "-1", "0.0.0.0/0", None, true),
        ];
        assert_eq!(nacl_first_blocked(&low_deny, true, TCP, &peer, EPHEMERAL), None);
        // a deny in the middle of the range is found
        let mid = vec![
            entry(50, "deny", "6", "0.0.0.0/0", Some((40000, 40010)), true),
            entry(100, "allow", "-1", "0.0.0.0/0", None, true),
        ];
        assert_eq!(
            nacl_first_blocked(&mid, true, TCP, &peer, EPHEMERAL),
            Some((40000, NaclDecision::Deny { rule: 50 }))
        );
    }

    /// Security-group table: group references, CIDR containment, ranges, all-traffic, protocols.
    #[test]
    fn sg_permission_matching() {
        let src = Source {
            groups: vec!["sg-alb".into()],
            cidrs: vec![c("10.0.1.0/24"), c("10.0.2.0/24")],
        };
        let cases: Vec<(Vec<SgRule>, u16, bool)> = vec![
            (vec![rule("tcp", 30000, 32767, &[], &["sg-alb"])], 32663, true),
            (vec![rule("tcp", 30000, 32767, &[], &["sg-other"])], 32663, false),
            (vec![rule("-1", -1, -1, &[], &["sg-alb"])], 8080, true),
            (vec![rule("tcp", 80, 80, &[], &["sg-alb"])], 8080, false),
            (vec![rule("udp", 0, 65535, &[], &["sg-alb"])], 8080, false),
            (vec![rule("6", 8080, 8080, &[], &["sg-alb"])], 8080, true),
            (vec![rule("tcp", 0, 65535, &["10.0.0.0/16"], &[])], 8080, true),
            // one LB subnet outside the allowed CIDR: not allowed
            (vec![rule("tcp", 0, 65535, &["10.0.1.0/24"], &[])], 8080, false),
            // two rules together cover both subnets
            (
                vec![
                    rule("tcp", 0, 65535, &["10.0.1.0/24"], &[]),
                    rule("tcp", 8080, 8080, &["10.0.2.0/25", "10.0.2.0/24"], &[]),
                ],
                8080,
                true,
            ),
            (vec![rule("tcp", 8081, 9000, &["0.0.0.0/0"], &[])], 8080, false),
            (vec![rule("tcp", 0, 8080, &["0.0.0.0/0"], &[])], 8080, true),
        ];
        for (i, (rules, port, allowed)) in cases.into_iter().enumerate() {
            let g = sg("sg-node", rules);
            assert_eq!(sg_allows(&[&g], &src, &PrefixLists::new(), TCP, port).is_ok(), allowed, "case {i}");
        }
        let g = sg("sg-node", vec![rule("tcp", 0, 65535, &["10.0.1.0/24"], &[])]);
        assert_eq!(
            sg_allows(&[&g], &src, &PrefixLists::new(), TCP, 80).unwrap_err(),
            vec![c("10.0.2.0/24")]
        );
    }

    /// A rule naming a prefix list admits the list's CIDRs; one whose entries are unknown leaves
    /// the verdict open only when it covers the port.
    #[test]
    fn prefix_lists_are_evaluated_like_cidrs_and_only_open_their_own_port() {
        let src = Source {
            groups: vec![],
            cidrs: vec![c("10.0.1.0/24"), c("10.0.2.0/24")],
        };
        let with_list = |id: &str, from: i32, to: i32| SgRule {
            prefix_lists: vec![id.into()],
            ..rule("tcp", from, to, &[], &[])
        };
        let lists: PrefixLists = [
            ("pl-lbs".to_string(), vec![c("10.0.0.0/16")]),
            ("pl-half".to_string(), vec![c("10.0.1.0/24")]),
        ]
        .into();
        // (rules, port, allowed?, unresolved lists covering the port)
        let cases: Vec<(Vec<SgRule>, u16, bool, Vec<&str>)> = vec![
            (vec![with_list("pl-lbs", 8080, 8080)], 8080, true, vec![]),
            (vec![with_list("pl-half", 8080, 8080)], 8080, false, vec![]),
            // a list plus a CIDR rule together cover both subnets
            (
                vec![with_list("pl-half", 8080, 8080), rule("tcp", 8080, 8080, &["10.0.2.0/24"], &[])],
                8080,
                true,
                vec![],
            ),
            // the list is on port 22 (an SSH rule): nothing open about 8080
            (vec![with_list("pl-corp", 22, 22)], 8080, false, vec![]),
            // an unknown list on the port itself: open
            (vec![with_list("pl-corp", 8080, 8080)], 8080, false, vec!["pl-corp"]),
        ];
        for (i, (rules, port, allowed, open)) in cases.into_iter().enumerate() {
            let g = sg("sg-node", rules);
            assert_eq!(sg_allows(&[&g], &src, &lists, TCP, port).is_ok(), allowed, "case {i}");
            assert_eq!(unresolved_lists(&[&g], &lists, TCP, port), open, "case {i}");
        }
    }

    /// Egress of the load balancer's groups: to the target's group, its address, a prefix list.
    #[test]
    fn load_balancer_egress_table() {
        let lists: PrefixLists = [("pl-vpc".to_string(), vec![c("10.0.0.0/16")])].into();
        let egress = |rules: Vec<SgRule>| SecurityGroup {
            id: "sg-alb".into(),
            egress: rules,
            ..Default::default()
        };
        let to_list = SgRule {
            prefix_lists: vec!["pl-vpc".into()],
            ..rule("tcp", 0, 65535, &[], &[])
        };
        let addr = c("10.0.3.7/32");
        // (rules, port, allowed?)
        let cases: Vec<(Vec<SgRule>, u16, bool)> = vec![
            (vec![rule("-1", -1, -1, &["0.0.0.0/0"], &[])], 8080, true),
            (vec![rule("tcp", 8080, 8080, &[], &["sg-node"])], 8080, true),
            (vec![rule("tcp", 8080, 8080, &[], &["sg-other"])], 8080, false),
            (vec![rule("tcp", 443, 443, &["0.0.0.0/0"], &[])], 8080, false),
            (vec![rule("tcp", 0, 65535, &["10.0.3.0/24"], &[])], 8080, true),
            (vec![rule("tcp", 0, 65535, &["10.0.4.0/24"], &[])], 8080, false),
            (vec![to_list], 8080, true),
            (vec![], 8080, false),
        ];
        for (i, (rules, port, allowed)) in cases.into_iter().enumerate() {
            let g = egress(rules);
            let got = sg_egress_allows(&[&g], &["sg-node".to_string()], Some(&addr), &lists, TCP, port);
            assert_eq!(got.is_some(), allowed, "case {i}");
        }
    }

    #[test]
    fn route_lookup_prefers_the_most_specific_and_sees_diversions() {
        let r = |d: &str, t: &str| Route {
            destination: d.into(),
            target: t.into(),
            state: "active".into(),
        };
        let routes = vec![
            r("10.0.0.0/16", "local"),
            r("0.0.0.0/0", "nat-1"),
            r("10.0.1.0/26", "eni-x"),
            r("10.0.2.0/24", "blackhole"),
        ];
        let (best, inner) = route_lookup(&routes, &c("10.0.1.0/24"));
        assert_eq!(best.unwrap().target, "local");
        assert_eq!(inner.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["eni-x"]);
        let (best, _) = route_lookup(&routes, &c("10.0.2.0/24"));
        assert_eq!(best.unwrap().target, "blackhole");
        let (best, _) = route_lookup(&routes, &c("172.16.0.0/24"));
        assert_eq!(best.unwrap().target, "nat-1");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_entry() -> impl Strategy<Value = NaclEntry> {
            (
                1..200i32,
                prop::bool::ANY,
                prop_oneof![Just("-1"), Just("6"), Just("17")],
                0u32..4,
                8u8..=32,
                0i32..70000,
                0i32..70000,
            )
                .prop_map(|(n, allow, proto, net, len, a, b)| NaclEntry {
                    rule_number: n * 10,
                    protocol: proto.into(),
                    action: if allow { "allow" } else { "deny" }.into(),
                    egress: false,
                    cidr: Some(Cidr::v4((10 << 24) | (net << 8), len).to_string()),
                    port_from: Some(a.min(b).min(65535)),
                    port_to: Some(a.max(b).min(65535)),
                })
        }

        proptest! {
            /// For a single address, the evaluator agrees with the textbook definition.
            #[test]
            fn single_address_matches_first_rule_semantics(entries in prop::collection::vec(arb_entry(), 0..8), host in 0u32..1024, port in 0u16..=65535) {
                let peer = Cidr::v4((10 << 24) | host, 32);
                let mut sorted = entries.clone();
                sorted.sort_by_key(|e| e.rule_number);
                let naive = sorted.iter().find(|e| {
                    let c = Cidr::parse(e.cidr.as_ref().unwrap()).unwrap();
                    let proto = e.protocol == "-1" || e.protocol == "6";
                    let ports = e.protocol == "-1" || (e.port_from.unwrap() <= i32::from(port) && i32::from(port) <= e.port_to.unwrap());
                    proto && ports && c.contains(&peer)
                });
                let expected = match naive {
                    None => NaclDecision::ImplicitDeny,
                    Some(e) if e.action == "deny" => NaclDecision::Deny { rule: e.rule_number },
                    Some(e) => NaclDecision::Allow { rule: e.rule_number },
                };
                prop_assert_eq!(nacl_evaluate(&entries, false, TCP, &peer, port), expected);
            }

            /// The boundary search finds a blocked port exactly when brute force does.
            #[test]
            fn range_search_agrees_with_brute_force(entries in prop::collection::vec(arb_entry(), 0..6), lo in 0u16..2000, width in 0u16..3000) {
                let peer = Cidr::v4(10 << 24, 32);
                let hi = lo.saturating_add(width);
                let brute = (lo..=hi).find(|p| !matches!(nacl_evaluate(&entries, false, TCP, &peer, *p), NaclDecision::Allow { .. }));
                let found = nacl_first_blocked(&entries, false, TCP, &peer, (lo, hi)).map(|(p, _)| p);
                prop_assert_eq!(found.is_some(), brute.is_some());
                if let Some(p) = found {
                    let allowed = matches!(nacl_evaluate(&entries, false, TCP, &peer, p), NaclDecision::Allow { .. });
                    prop_assert!(!allowed);
                }
            }

            #[test]
            fn contains_is_reflexive_and_transitive(a in any::<u32>(), l1 in 0u8..=32, l2 in 0u8..=32) {
                let (short, long) = (l1.min(l2), l1.max(l2));
                let outer = Cidr::v4(a, short);
                let inner = Cidr::v4(a, long);
                prop_assert!(outer.contains(&outer));
                prop_assert!(outer.contains(&inner));
            }

            #[test]
            fn v6_contains_is_reflexive_and_transitive_and_never_crosses_families(a in any::<u128>(), l1 in 0u8..=128, l2 in 0u8..=128, b in any::<u32>()) {
                let (short, long) = (l1.min(l2), l1.max(l2));
                let outer = Cidr::v6(a, short);
                let inner = Cidr::v6(a, long);
                prop_assert!(outer.contains(&outer));
                prop_assert!(outer.contains(&inner));
                prop_assert!(!outer.contains(&Cidr::v4(b, 32)));
                prop_assert_eq!(Cidr::parse(&inner.to_string()), Some(inner));
            }
        }
    }
}
