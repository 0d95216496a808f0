//! `security-groups` (article §4): the targets' security groups let the load balancer in.
//!
//! A health check is a TCP connection from the load balancer's nodes (in its subnets, carrying
//! its security groups) to the target's ENI on the health-check port. If no group on that ENI
//! allows it, the check times out (Target.Timeout / FailedHealthChecks). The article's case:
//! node groups with different security groups, where only one allows the ALB. Also flags node
//! ENIs without exactly one group tagged `kubernetes.io/cluster/<cluster>` (the controller needs it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::View;
use crate::net::{self, Cidr, TCP};
use crate::snapshot::{SecurityGroup, TargetHealth};

pub const CHECK: Check = Check {
    id: CheckId::SECURITY_GROUPS,
    section: "§4",
    layer: Layer::Network,
    verifies: "both ends: the ENI of each target (instance primary ENI, branch ENI, or the node ENI holding the pod IP) allows the health-check port from the load balancer's groups (or, for an NLB without groups, its own addresses or subnets, of the target's family), managed prefix lists resolved; the traffic port from the load balancer or, with NLB client IP preservation, from the Service's loadBalancerSourceRanges (a warning: it cannot fail a health check); the load balancer's groups let the check out; healthy vs unhealthy group sets compared; a node ENI with several groups has exactly one tagged `kubernetes.io/cluster/<name>` (else the controller adds no rule: the fix is the tag); for instance targets whose node runs no ready pod (externalTrafficPolicy Cluster), the second hop: the pods' nodes admit the target port from the forwarding node (the node-to-node rule)",
    needs: "DescribeLoadBalancers, DescribeInstances, DescribeSecurityGroups, DescribeNetworkInterfaces, GetManagedPrefixListEntries",
    reasons: &["Target.Timeout", "Target.FailedHealthChecks"],
    run: check,
};
const ID: CheckId = CHECK.id;

/// A target whose groups do not let the load balancer in: a row of the evidence.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blocked {
    target: String,
    port: u16,
    /// `target inbound` (the target's groups) or `load balancer outbound` (the LB's groups).
    side: &'static str,
    /// `health check` (can explain an unhealthy target) or `user traffic` (the traffic port, when
    /// the health check uses another: it cannot).
    purpose: &'static str,
    interface: Option<String>,
    groups: Vec<String>,
    node: Option<String>,
    uncovered_sources: Vec<String>,
    unresolved_prefix_lists: Vec<String>,
    rules: Vec<GroupRules>,
}

#[derive(Serialize)]
struct GroupRules {
    group: String,
    ingress: Vec<String>,
}

/// What healthy targets' groups have that unhealthy ones lack.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Difference {
    only_on_healthy: Vec<String>,
    only_on_unhealthy: Vec<String>,
    sentence: String,
}

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    ctx.need_targets()?;
    ctx.need(&ctx.snap.aws.network.security_groups, "the security groups")?;
    let (source, _) = ctx.lb_source().map_err(|why| ctx.unknown(why))?;
    let all = ctx.need_some_targets()?;
    Ok(judge(ctx, &source, all))
}

fn judge(ctx: &View, source: &net::Source, all: &[TargetHealth]) -> Finding {
    let lb_kind = if source.groups.is_empty() {
        format!("the load balancer's addresses {}", cidrs(&source.cidrs).join(", "))
    } else {
        format!("the load balancer's groups {}", source.groups.join(", "))
    };

    let mut blocked: Vec<Blocked> = Vec::new();
    let mut shared: Vec<String> = Vec::new();
    let mut explains = Vec::new();
    let mut unknown = Vec::new();
    let mut fixes: BTreeSet<String> = BTreeSet::new();
    let mut sets: BTreeMap<bool, BTreeSet<Vec<String>>> = BTreeMap::new();
    let lists = ctx.prefix_lists();
    // The load balancer's groups, when it has them and all are known (else egress is not judged).
    let lb_groups: Vec<&SecurityGroup> = source.groups.iter().filter_map(|g| ctx.group(g)).collect();
    let lb_groups = if lb_groups.len() == source.groups.len() { lb_groups } else { vec![] };
    let mut egress_blocked: Vec<String> = Vec::new();
    let mut traffic_fixes: BTreeSet<String> = BTreeSet::new();
    // An unhealthy target whose verdict is open: never reported as passing.
    let mut open_unhealthy = false;
    let clients = client_sources(ctx, source);
    for t in all {
        let place = ctx.place(t);
        if place.groups.is_empty() {
            unknown.push(format!("{} ({})", t.id, place.via));
            // Open when the ENIs could not be read; when they were read and none holds the
            // address, nothing listens there for a group to block (a stale target).
            let network = &ctx.snap.aws.network;
            let unread = matches!(network.target_interfaces, crate::snapshot::Fetched::Failed(_))
                || matches!(network.instances, crate::snapshot::Fetched::Failed(_));
            open_unhealthy |= t.is_unhealthy() && unread;
            continue;
        }
        sets.entry(t.is_unhealthy()).or_default().insert(place.groups.clone());
        let groups: Vec<&SecurityGroup> = place.groups.iter().filter_map(|g| ctx.group(g)).collect();
        // The health check goes to its port from the load balancer's addresses of the target's
        // family. User traffic goes to the traffic port, from the load balancer or, with client
        // IP preservation, from the clients. Only the health-check port explains an unhealthy
        // target; the traffic port (when another) is reported for what it will do to traffic.
        let hc_port = ctx.health_check_port(t);
        let traffic_port = (t.port.and_then(|p| u16::try_from(p).ok())).filter(|p| clients.is_some() || Some(*p) != hc_port);
        let v6 = place.address.as_deref().and_then(Cidr::parse).is_some_and(|a| a.v6);
        let hc_source = source.family(v6);
        let traffic_source = clients.as_ref().map_or_else(|| hc_source.clone(), |(c, _)| c.family(v6));
        let ports = (hc_port.map(|p| (p, "health check", &hc_source)).into_iter())
            .chain(traffic_port.map(|p| (p, "user traffic", &traffic_source)));
        for (port, purpose, source) in ports {
            let health_check = purpose == "health check";
            if let Err(uncovered) = net::sg_allows(&groups, source, &lists, TCP, port) {
                // Subnets standing for the NLB's own addresses, which could not be read: a rule
                // admitting part of a subnet may admit exactly them. Open, not blocked, unless
                // some subnet has nothing admitted (the NLB checks from an address in each).
                if let (true, Some(why)) = (health_check, lb_addresses_unread(ctx, source)) {
                    if uncovered.iter().all(|c| net::sg_partly_allows(&groups, c, &lists, TCP, port)) {
                        unknown.push(format!("{}: port {port} is admitted from part of the load balancer's subnets; its own addresses are unknown ({why})", t.id));
                        open_unhealthy |= t.is_unhealthy();
                        break;
                    }
                }
                let prefix_lists = net::unresolved_lists(&groups, &lists, TCP, port);
                blocked.push(Blocked {
                    target: t.id.clone(),
                    port,
                    side: "target inbound",
                    purpose,
                    interface: place.interface.clone(),
                    groups: place.groups.clone(),
                    node: place.node.clone(),
                    uncovered_sources: uncovered.iter().map(|c| c.to_string()).collect(),
                    unresolved_prefix_lists: prefix_lists.clone(),
                    rules: groups
                        .iter()
                        .map(|g| GroupRules {
                            group: g.id.clone(),
                            ingress: g.ingress.iter().map(net::describe_rule).collect(),
                        })
                        .collect(),
                });
                if !health_check {
                    // A default client range (the whole Internet, or the VPC) is no intent of
                    // the user's: no rule is printed that would open the nodes to it.
                    if !matches!(clients, Some((_, false))) {
                        traffic_fixes.insert(fix(ctx, &place.groups, source, port, &uncovered));
                    }
                    continue;
                }
                if prefix_lists.is_empty() {
                    if t.is_unhealthy() {
                        explains.push(t.id.clone());
                    } else if t.state == "healthy" {
                        shared.push(t.id.clone());
                    }
                }
                fixes.insert(fix(ctx, &place.groups, source, port, &uncovered));
                break;
            }
            // The other end: the load balancer's own groups must let the check out.
            let address = place.address.as_deref().and_then(Cidr::parse);
            if !lb_groups.is_empty() && net::sg_egress_allows(&lb_groups, &place.groups, address.as_ref(), &lists, TCP, port).is_none() {
                blocked.push(Blocked {
                    target: t.id.clone(),
                    port,
                    side: "load balancer outbound",
                    purpose,
                    interface: place.interface.clone(),
                    groups: source.groups.clone(),
                    node: place.node.clone(),
                    uncovered_sources: vec![],
                    unresolved_prefix_lists: vec![],
                    rules: lb_groups
                        .iter()
                        .map(|g| GroupRules {
                            group: g.id.clone(),
                            ingress: g.egress.iter().map(net::describe_rule).collect(),
                        })
                        .collect(),
                });
                if health_check && t.is_unhealthy() {
                    egress_blocked.push(t.id.clone());
                } else if health_check && t.state == "healthy" {
                    shared.push(t.id.clone());
                }
                if let Ok(g) = endpoint_group(ctx, &place.groups) {
                    (if health_check { &mut fixes } else { &mut traffic_fixes }).insert(format!(
                        "aws ec2 authorize-security-group-egress --group-id {} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={g}}}]'",
                        source.groups[0]
                    ));
                }
                break;
            }
        }
    }
    let mut evidence = json!({"source": {"groups": source.groups, "addresses": cidrs(&source.cidrs)}, "blocked": blocked});
    if let Some((c, declared)) = &clients {
        evidence["trafficSource"] = json!({"clientIpPreserved": true, "addresses": cidrs(&c.cidrs), "fromService": declared});
    }
    let difference = group_difference(&sets);
    if let Some(d) = &difference {
        evidence["healthyVsUnhealthy"] = json!(d);
    }
    let tag_problems = cluster_tag_problems(ctx, &all);
    if !tag_problems.is_empty() {
        evidence["clusterTag"] = json!(tag_problems);
    }
    if !unknown.is_empty() {
        evidence["unknownTargets"] = json!(unknown);
    }
    explains.dedup();
    egress_blocked.dedup();
    if !explains.is_empty() || !egress_blocked.is_empty() {
        let diff = difference
            .as_ref()
            .map(|d| format!(" {}", d.sentence))
            .unwrap_or_default();
        let mut sentences = Vec::new();
        if !explains.is_empty() {
            // Without groups, name the addresses no rule admits: of the blocked targets' family
            // only, so an IPv6 target is not said to lack the IPv4 addresses its rules allow.
            let from = if source.groups.is_empty() {
                let uncovered: BTreeSet<&str> = (blocked.iter())
                    .filter(|b| b.side == "target inbound" && b.purpose == "health check" && explains.contains(&b.target))
                    .flat_map(|b| b.uncovered_sources.iter().map(String::as_str))
                    .collect();
                format!("the load balancer's addresses {}", uncovered.into_iter().collect::<Vec<_>>().join(", "))
            } else {
                lb_kind.clone()
            };
            sentences.push(format!(
                "No security group on the ENI of {} allows TCP on the health-check port from {from}.{diff}",
                explains.join(", ")
            ));
        }
        if !egress_blocked.is_empty() {
            sentences.push(format!(
                "The load balancer's own groups {} let no TCP out to {} on the health-check port (their outbound rules).",
                source.groups.join(", "),
                egress_blocked.join(", ")
            ));
        }
        let title = match (explains.is_empty(), egress_blocked.is_empty()) {
            (false, true) => format!("{} unhealthy targets' security groups block the load balancer", explains.len()),
            (true, false) => format!("The load balancer's outbound rules block {} unhealthy targets", egress_blocked.len()),
            _ => "Security groups block the load balancer on both ends".to_string(),
        };
        explains.extend(egress_blocked);
        return Finding::fail(ID, title, sentences.join(" "))
        .evidence(evidence)
        .remediation(fixes.into_iter().collect())
        .explains(explains)
        .shared_by_healthy(shared);
    }
    if let Some(b) = (blocked.iter()).find(|b| b.purpose == "health check" && !b.unresolved_prefix_lists.is_empty()) {
        let why = match ctx.snap.aws.network.prefix_lists.get() {
            Err(e) => e,
            Ok(_) => "GetManagedPrefixListEntries returned no entries for them".into(),
        };
        return Finding::unknown(
            ID,
            format!(
                "port {} of {} is allowed, if at all, only through prefix lists whose entries could not be read ({}): {why}",
                b.port,
                b.target,
                b.unresolved_prefix_lists.join(", ")
            ),
        )
        .evidence(evidence);
    }
    if !tag_problems.is_empty() {
        return Finding::warn(
            ID,
            "Cluster security group tag",
            format!(
                "Node ENIs need exactly one security group tagged kubernetes.io/cluster/<cluster> for the controller to add rules: {}.",
                tag_problems.join("; ")
            ),
        )
        .evidence(evidence);
    }
    if !unknown.is_empty() && (unknown.len() == all.len() || open_unhealthy) {
        return Finding::unknown(ID, format!("the security groups of some targets could not be judged: {}", unknown.join("; "))).evidence(evidence);
    }
    // Health checks pass; user traffic on another port would not (it cannot explain a failing
    // health check, so it is a warning, never a root cause).
    let traffic: Vec<&Blocked> = blocked.iter().filter(|b| b.purpose == "user traffic").collect();
    if let Some(b) = traffic.first() {
        let from = match (b.side, &clients) {
            ("load balancer outbound", _) => "the load balancer's outbound rules stop it".to_string(),
            (_, Some((_, declared))) => format!(
                "the clients {} {} are not admitted. Client IP preservation is on, so traffic arrives from the clients, not from the load balancer{}",
                if *declared { "the Service admits (loadBalancerSourceRanges)" } else { "the controller would admit by default" },
                b.uncovered_sources.join(", "),
                if *declared { "" } else { "; set spec.loadBalancerSourceRanges to the clients meant to reach it, and the controller opens the nodes' group to exactly those" }
            ),
            (_, None) => format!("{} are not admitted", b.uncovered_sources.join(", ")),
        };
        let targets: BTreeSet<&str> = traffic.iter().map(|b| b.target.as_str()).collect();
        return Finding::warn(
            ID,
            format!("Health checks pass; user traffic to port {} would be blocked", b.port),
            format!(
                "The health check (port {}) is allowed, but traffic to port {} of {} is not: {from}.",
                ctx.health_check_port(all.iter().find(|t| t.id == b.target).unwrap_or(&all[0])).map_or("?".into(), |p| p.to_string()),
                b.port,
                targets.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
        .evidence(evidence)
        .remediation(traffic_fixes.into_iter().collect());
    }
    // The load balancer reaches every target; an instance target without a local pod still
    // needs its node's forwarded check admitted by the pod's node (checks/hop.rs).
    if let Some(h) = super::hop::blocked(ctx) {
        return Finding::fail(
            ID,
            format!("{} targets' forwarded health checks are blocked between nodes", h.explains.len()),
            format!("The {}.", h.sentence),
        )
        .evidence(serde_json::json!({"loadBalancerToTargets": evidence, "nodeToPod": {"port": h.port, "targets": h.explains}}))
        .remediation(h.fixes)
        .explains(h.explains)
        .shared_by_healthy(h.shared_by_healthy);
    }
    Finding::pass(
        ID,
        "Security groups allow the load balancer",
        format!(
            "The security groups of {} targets allow the health-check and traffic ports from {lb_kind}.",
            all.len() - unknown.len()
        ),
    )
    .evidence(evidence)
}

/// Why the load balancer's own addresses are unknown, when its subnets stand in for them (an
/// NLB without groups whose ENIs could not be read).
fn lb_addresses_unread(ctx: &View, source: &net::Source) -> Option<String> {
    if !source.groups.is_empty() {
        return None;
    }
    match &ctx.snap.aws.network.lb_interfaces {
        crate::snapshot::Fetched::Failed(e) => Some(e.explain()),
        _ => None,
    }
}

/// Who sends user traffic to the targets when it is not the load balancer: with client IP
/// preservation on an NLB without security groups, the clients themselves. The controller opens
/// the traffic port to `spec.loadBalancerSourceRanges` (else the annotation
/// `service.beta.kubernetes.io/load-balancer-source-ranges`), by default to 0.0.0.0/0 and ::/0,
/// or to the VPC's blocks for an internal load balancer; preservation defaults to on for
/// instance targets and off for ip targets, always on for UDP (aws-load-balancer-controller
/// v3.5.0 pkg/service/model_build_target_group.go: buildPreserveClientIPFlag,
/// buildTargetGroupBindingNetworkingLegacy, getDefaultIPSourceRanges).
/// Also says whether the Service declared the ranges (or they are the controller's default).
fn client_sources(ctx: &View, lb: &net::Source) -> Option<(net::Source, bool)> {
    let tg = ctx.tg.as_ref().ok()?;
    let lbs = ctx.snap.aws.load_balancers.ok()?;
    if !lb.groups.is_empty() || !lbs.iter().all(|l| l.kind == "network") {
        return None;
    }
    let attribute = (ctx.snap.aws.target_group_attributes.ok())
        .and_then(|a| a.get("preserve_client_ip.enabled"))
        .and_then(|v| v.parse::<bool>().ok());
    let udp = tg.protocol.as_deref().is_some_and(|p| p.contains("UDP") || p.contains("QUIC"));
    if !(udp || attribute.unwrap_or(tg.target_type == "instance")) {
        return None;
    }
    let svc = ctx.service.as_ref().ok();
    let mut ranges: Vec<String> = svc
        .and_then(|s| s.spec.as_ref()?.load_balancer_source_ranges.clone())
        .unwrap_or_default();
    if ranges.is_empty() {
        ranges = (svc.and_then(|s| s.metadata.annotations.as_ref()?.get("service.beta.kubernetes.io/load-balancer-source-ranges")))
            .map(|v| v.split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect())
            .unwrap_or_default();
    }
    let mut cidrs: Vec<Cidr> = ranges.iter().filter_map(|r| Cidr::parse(r)).collect();
    let declared = !cidrs.is_empty();
    if !declared {
        let internal = lbs.iter().all(|l| l.scheme.as_deref() == Some("internal"));
        cidrs = if internal {
            (ctx.snap.aws.network.vpcs.ok().into_iter().flatten())
                .flat_map(|v| v.cidrs.iter().filter_map(|c| Cidr::parse(c)))
                .collect()
        } else {
            ["0.0.0.0/0", "::/0"].iter().filter_map(|c| Cidr::parse(c)).collect()
        };
    }
    Some((net::Source { groups: vec![], cidrs }, declared))
}

/// Groups every healthy target has and some unhealthy one lacks: the article's node-group case.
fn group_difference(sets: &BTreeMap<bool, BTreeSet<Vec<String>>>) -> Option<Difference> {
    let healthy = sets.get(&false)?;
    let unhealthy = sets.get(&true)?;
    let common_healthy: BTreeSet<&String> = healthy
        .iter()
        .map(|s| s.iter().collect::<BTreeSet<_>>())
        .reduce(|a, b| a.intersection(&b).copied().collect())?;
    let unhealthy_all: BTreeSet<&String> = unhealthy.iter().flatten().collect();
    let only_healthy: Vec<&String> = common_healthy
        .iter()
        .filter(|g| !unhealthy.iter().all(|s| s.contains(g)))
        .copied()
        .collect();
    let only_unhealthy: Vec<&String> = unhealthy_all.iter().filter(|g| !common_healthy.contains(*g)).copied().collect();
    if only_healthy.is_empty() {
        return None;
    }
    Some(Difference {
        sentence: format!(
            "Healthy targets carry {} which the unhealthy ones lack (they have {}).",
            join(&only_healthy),
            join(&only_unhealthy)
        ),
        only_on_healthy: only_healthy.into_iter().cloned().collect(),
        only_on_unhealthy: only_unhealthy.into_iter().cloned().collect(),
    })
}

fn join(v: &[&String]) -> String {
    if v.is_empty() {
        "nothing else".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The group the controller adds its rule to on an ENI, as the controller resolves it
/// (aws-load-balancer-controller v3.5.0, pkg/networking/networking_manager.go,
/// resolveEndpointSGForENI): the only group, else the one group tagged
/// `kubernetes.io/cluster/<cluster>`. `Err` lists the tagged groups when that is not exactly one.
fn endpoint_group<'g>(ctx: &View, groups: &'g [String]) -> Result<&'g String, Vec<&'g String>> {
    if let [only] = groups {
        return Ok(only);
    }
    let key = cluster_key(ctx).ok_or_else(Vec::new)?;
    let tagged: Vec<&String> = groups.iter().filter(|g| ctx.group(g).is_some_and(|g| g.tags.contains_key(&key))).collect();
    match tagged.as_slice() {
        [one] => Ok(one),
        _ => Err(tagged),
    }
}

fn cluster_key(ctx: &View) -> Option<String> {
    ctx.snap.resolution.cluster.as_deref().map(|c| format!("kubernetes.io/cluster/{c}"))
}

/// ENIs with several groups of which not exactly one is tagged for the cluster: the controller
/// cannot choose where to add its rule and adds none ("expected exactly one securityGroup
/// tagged with …"). A single group, tagged or not, is fine.
fn cluster_tag_problems(ctx: &View, targets: &[TargetHealth]) -> Vec<String> {
    let Some(key) = cluster_key(ctx) else {
        return vec![];
    };
    let mut out = BTreeSet::new();
    for t in targets {
        let place = ctx.place(t);
        let Some(eni) = place.interface else { continue };
        if !place.groups.iter().all(|g| ctx.group(g).is_some()) {
            continue;
        }
        if let Err(tagged) = endpoint_group(ctx, &place.groups) {
            let tagged: Vec<&str> = tagged.iter().map(|s| s.as_str()).collect();
            out.insert(format!(
                "{eni} has {} groups ({}) of which {} tagged {key}{}",
                place.groups.len(),
                place.groups.join(", "),
                tagged.len(),
                if tagged.is_empty() { String::new() } else { format!(" ({})", tagged.join(", ")) }
            ));
        }
    }
    out.into_iter().collect()
}

/// The fix for one blocked port. Where the controller owns the rule (a binding exists) but
/// cannot tell which group to put it in, the fix is the tag, not a hand-made rule it would
/// not manage.
fn fix(ctx: &View, groups: &[String], source: &net::Source, port: u16, uncovered: &[Cidr]) -> String {
    let bound = (ctx.snap.kube.target_group_bindings.ok().into_iter().flatten())
        .any(|b| b.target_group_arn == ctx.snap.request.target_group_arn);
    let target_group = match endpoint_group(ctx, groups) {
        Ok(g) => g,
        Err(tagged) if bound => {
            let key = cluster_key(ctx).unwrap_or_default();
            return match tagged.as_slice() {
                [] => format!(
                    "aws ec2 create-tags --resources {} --tags Key={key},Value=owned   # exactly one of {}: the controller then adds its rule there",
                    groups[0],
                    groups.join(", ")
                ),
                many => format!(
                    "aws ec2 delete-tags --resources {} --tags Key={key}   # keep the tag on exactly one of {}: the controller then adds its rule there",
                    many[1..].iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                    many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            };
        }
        Err(_) => &groups[0],
    };
    match source.groups.first() {
        Some(lb) => {
            format!("aws ec2 authorize-security-group-ingress --group-id {target_group} --protocol tcp --port {port} --source-group {lb}")
        }
        None => {
            // Each family has its own list in a permission: IpRanges and Ipv6Ranges.
            let v4: Vec<String> = uncovered.iter().filter(|c| !c.v6).map(|c| format!("{{CidrIp={c}}}")).collect();
            let v6: Vec<String> = uncovered.iter().filter(|c| c.v6).map(|c| format!("{{CidrIpv6={c}}}")).collect();
            let mut ranges = Vec::new();
            if !v4.is_empty() {
                ranges.push(format!("IpRanges=[{}]", v4.join(",")));
            }
            if !v6.is_empty() {
                ranges.push(format!("Ipv6Ranges=[{}]", v6.join(",")));
            }
            format!(
                "aws ec2 authorize-security-group-ingress --group-id {target_group} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},{}'",
                ranges.join(",")
            )
        }
    }
}

fn cidrs(c: &[Cidr]) -> Vec<String> {
    c.iter().map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;

    #[test]
    fn groups_allowing_the_alb_pass() {
        let f = CHECK.on(&SnapshotB::instance().build());
        assert_eq!(f.status, Status::Pass, "{f:?}");
    }

    #[test]
    fn sg_without_alb_rule_fails_only_group_b() {
        // GIVEN node group B's instance carries sg-b, which allows only SSH; i-0aaa is healthy
        let snap = SnapshotB::instance()
            .targets(vec![
                target("i-0aaa", 32663, "healthy"),
                target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
            ])
            .add_group(SecurityGroup {
                id: "sg-b".into(),
                name: "ng-b".into(),
                ingress: vec![sg_rule("tcp", 22, 22, &["10.0.0.0/8"], &[])],
                ..Default::default()
            })
            .instance_groups("i-0bbb", &["sg-b"])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN only i-0bbb is explained, the difference is named, and the fix adds the rule to sg-b
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.explains, vec!["i-0bbb"]);
        assert_eq!(f.evidence["healthyVsUnhealthy"]["onlyOnHealthy"], json!(["sg-node"]));
        assert!(
            f.detail
                .contains("Healthy targets carry sg-node which the unhealthy ones lack (they have sg-b)"),
            "{}",
            f.detail
        );
        assert_eq!(
            f.remediation,
            vec!["aws ec2 authorize-security-group-ingress --group-id sg-b --protocol tcp --port 32663 --source-group sg-alb"]
        );
    }

    #[test]
    fn nlb_without_groups_needs_its_subnet_cidrs() {
        // GIVEN an NLB without security groups; sg-node allows only one of its two subnets
        let mut b = SnapshotB::instance().sg("sg-node", |g| g.ingress = vec![sg_rule("tcp", 0, 65535, &["10.0.101.0/24"], &[])]);
        b.lb().security_groups.clear();
        let f = CHECK.on(&b.build());
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.evidence["blocked"][0]["uncoveredSources"], json!(["10.0.102.0/24"]));
        assert!(
            f.remediation[0].contains("IpRanges=[{CidrIp=10.0.102.0/24}]"),
            "{}",
            f.remediation[0]
        );
    }

    #[test]
    fn ip_targets_use_the_eni_holding_the_pod_ip() {
        // GIVEN ip targets whose node ENI allows 8080 from the ALB
        let f = CHECK.on(&SnapshotB::ip().build());
        assert_eq!(f.status, Status::Pass, "{f:?}");
        // WHEN the rule for 8080 is removed THEN the unhealthy pod target is blocked
        let snap = SnapshotB::ip().sg("sg-node", |g| g.ingress.truncate(1)).build();
        let f = CHECK.on(&snap);
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["10.0.2.11".to_string()]));
        let blocked = f.evidence["blocked"].as_array().unwrap();
        assert_eq!(
            blocked.iter().find(|b| b["target"] == "10.0.2.11").unwrap()["interface"],
            "eni-0bbb"
        );
    }

    /// Node B's instance carries `groups`; i-0bbb times out; i-0aaa is healthy.
    fn node_b_with(groups: Vec<SecurityGroup>) -> SnapshotB {
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut b = SnapshotB::instance().targets(vec![
            target("i-0aaa", 32663, "healthy"),
            target_r("i-0bbb", 32663, "unhealthy", "Target.Timeout"),
        ]);
        for g in groups {
            b = b.add_group(g);
        }
        b.instance_groups("i-0bbb", &refs)
    }

    fn group(id: &str, tagged: bool, ingress: Vec<crate::snapshot::SgRule>) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            tags: if tagged { BTreeMap::from([("kubernetes.io/cluster/demo".into(), "owned".into())]) } else { BTreeMap::new() },
            ingress,
            ..Default::default()
        }
    }

    fn with_list(id: &str, from: i32, to: i32) -> crate::snapshot::SgRule {
        crate::snapshot::SgRule {
            prefix_lists: vec![id.into()],
            ..sg_rule("tcp", from, to, &[], &[])
        }
    }

    #[test]
    fn ssh_rule_from_a_prefix_list_does_not_hide_the_missing_alb_rule() {
        // GIVEN sg-b admits only SSH from a corporate prefix list whose entries were not read
        let snap = node_b_with(vec![group("sg-b", true, vec![with_list("pl-corp", 22, 22)])]).build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the missing rule fails for i-0bbb (the list is on another port)
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["i-0bbb".to_string()]), "{f:?}");
    }

    #[test]
    fn prefix_list_holding_the_load_balancer_is_resolved_and_allows() {
        // GIVEN sg-b admits the NodePorts only from a prefix list holding the LB's subnets
        let mut b = node_b_with(vec![group("sg-b", true, vec![with_list("pl-vpc", 30000, 32767)])]);
        b.aws().network.prefix_lists = Fetched::Ok(vec![crate::snapshot::PrefixList {
            id: "pl-vpc".into(),
            name: Some("vpc".into()),
            cidrs: vec!["10.0.0.0/16".into()],
        }]);
        // WHEN checked (an NLB without groups: the source is its subnets)
        let mut snap = b.build();
        if let Fetched::Ok(lbs) = &mut snap.aws.load_balancers {
            lbs[0].security_groups.clear();
        }
        // THEN allowed
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn prefix_list_on_the_port_whose_entries_are_unreadable_is_unknown_naming_the_call() {
        // GIVEN the only rule for the NodePorts names a list; reading lists was denied
        let mut b = node_b_with(vec![group("sg-b", true, vec![with_list("pl-vpc", 30000, 32767)])]);
        b.aws().network.prefix_lists = Fetched::Failed(crate::snapshot::Missing {
            api: "GetManagedPrefixListEntries".into(),
            permission: "ec2:GetManagedPrefixListEntries".into(),
            error: "UnauthorizedOperation".into(),
        });
        let mut snap = b.build();
        if let Fetched::Ok(lbs) = &mut snap.aws.load_balancers {
            lbs[0].security_groups.clear();
        }
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN unknown, naming the list and the permission
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.detail.contains("pl-vpc") && f.detail.contains("ec2:GetManagedPrefixListEntries"), "{}", f.detail);
    }

    #[test]
    fn load_balancer_without_outbound_rule_fails_naming_its_side_and_egress_fix() {
        // GIVEN the ALB's group lets only 443 out
        let mut snap = SnapshotB::instance().build();
        if let Fetched::Ok(groups) = &mut snap.aws.network.security_groups {
            groups.iter_mut().find(|g| g.id == "sg-alb").unwrap().egress = vec![sg_rule("tcp", 443, 443, &["0.0.0.0/0"], &[])];
        }
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN both targets fail on the load balancer's side, and the fix opens its egress
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(f.title, "The load balancer's outbound rules block 2 unhealthy targets");
        assert_eq!(f.evidence["blocked"][0]["side"], "load balancer outbound");
        assert_eq!(
            f.remediation,
            vec!["aws ec2 authorize-security-group-egress --group-id sg-alb --ip-permissions 'IpProtocol=tcp,FromPort=32663,ToPort=32663,UserIdGroupPairs=[{GroupId=sg-node}]'"]
        );
    }

    #[test]
    fn single_untagged_group_is_what_the_controller_uses() {
        // GIVEN node B carries one group, untagged, that admits the ALB
        let snap = node_b_with(vec![group("sg-b", false, vec![sg_rule("tcp", 30000, 32767, &[], &["sg-alb"])])])
            .targets(vec![target("i-0aaa", 32663, "healthy"), target("i-0bbb", 32663, "healthy")])
            .build();
        // THEN no tag problem
        assert_eq!(CHECK.on(&snap).status, Status::Pass);
    }

    #[test]
    fn two_tagged_groups_without_the_rule_get_the_tag_fix_not_a_hand_made_rule() {
        // GIVEN node B carries sg-b and sg-c, both tagged for the cluster, neither admitting the ALB
        let snap = node_b_with(vec![group("sg-b", true, vec![]), group("sg-c", true, vec![])]).build();
        // WHEN checked (a TargetGroupBinding owns the group: the controller manages the rule)
        let f = CHECK.on(&snap);
        // THEN the fix keeps the tag on one group; no authorize-security-group-ingress
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(
            f.remediation,
            vec!["aws ec2 delete-tags --resources sg-c --tags Key=kubernetes.io/cluster/demo   # keep the tag on exactly one of sg-b, sg-c: the controller then adds its rule there"]
        );
    }

    #[test]
    fn ipv6_target_blocked_only_in_ipv6_rules_fails_with_an_ipv6_range_fix() {
        // GIVEN IPv6 pods behind a dual-stack NLB; node B's group admits the LB subnets' IPv4
        // blocks only
        let snap = SnapshotB::dual_stack_ip()
            .sg("sg-node", |g| g.ingress = vec![sg_rule("tcp", 8080, 8080, &["10.0.0.0/16"], &[])])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the IPv6 pod is blocked (its ENI found through the delegated prefix), the IPv4 one
        // is not, and the fix opens the LB subnets' IPv6 blocks
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["2600:1f18:abc:2:1::11".to_string()]), "{f:?}");
        assert_eq!(f.evidence["blocked"][0]["interface"], "eni-0bbb");
        assert_eq!(
            f.remediation,
            vec!["aws ec2 authorize-security-group-ingress --group-id sg-node --ip-permissions 'IpProtocol=tcp,FromPort=8080,ToPort=8080,Ipv6Ranges=[{CidrIpv6=2600:1f18:abc:65::/64},{CidrIpv6=2600:1f18:abc:66::/64}]'"]
        );
    }

    /// An NLB without security groups whose ENIs hold 10.0.101.23 and 10.0.102.41; the nodes'
    /// group admits the NodePorts from `allowed` only.
    fn nlb_by_its_own_addresses(allowed: &[&str]) -> crate::snapshot::Snapshot {
        let mut b = SnapshotB::instance().sg("sg-node", |g| g.ingress = vec![sg_rule("tcp", 30000, 32767, allowed, &[])]);
        b.aws().network.lb_interfaces = Fetched::Ok(
            [("eni-nlb-a", "10.0.101.23"), ("eni-nlb-b", "10.0.102.41")]
                .into_iter()
                .map(|(id, ip)| crate::snapshot::NetworkInterface {
                    id: id.into(),
                    private_ips: vec![ip.into()],
                    ..Default::default()
                })
                .collect(),
        );
        // Health checks only: user traffic from preserved client IPs is another question.
        b.aws().target_group_attributes = Fetched::Ok([("preserve_client_ip.enabled".to_string(), "false".to_string())].into());
        let mut snap = b.build();
        if let Fetched::Ok(lbs) = &mut snap.aws.load_balancers {
            lbs[0].security_groups.clear();
            lbs[0].kind = "network".into();
        }
        snap
    }

    /// An internet-facing NLB without groups in front of instance targets (client IP
    /// preservation on by default), both healthy; the nodes admit the NodePorts from the NLB's
    /// subnets only. `ranges`: the Service's loadBalancerSourceRanges.
    fn nlb_preserving_clients(ranges: &[&str]) -> crate::snapshot::Snapshot {
        let mut b = SnapshotB::instance()
            .targets(vec![target("i-0aaa", 32663, "healthy"), target("i-0bbb", 32663, "healthy")])
            .sg("sg-node", |g| g.ingress = vec![sg_rule("tcp", 30000, 32767, &["10.0.101.0/24", "10.0.102.0/24"], &[])]);
        b.lb().security_groups.clear();
        b.lb().kind = "network".into();
        b.lb().scheme = Some("internet-facing".into());
        if let Fetched::Ok(svc) = &mut b.kube().service {
            let spec = svc.spec.get_or_insert_with(Default::default);
            spec.load_balancer_source_ranges = Some(ranges.iter().map(|r| r.to_string()).collect()).filter(|r: &Vec<String>| !r.is_empty());
        }
        b.build()
    }

    #[test]
    fn preserved_clients_outside_the_rules_warn_with_the_services_ranges_and_explain_nothing() {
        // GIVEN client IP preservation: traffic arrives from the clients the Service admits
        // (203.0.113.0/24), and the nodes admit only the NLB's subnets
        let f = CHECK.on(&nlb_preserving_clients(&["203.0.113.0/24"]));
        // THEN health checks pass, so nothing is explained; user traffic is named as blocked
        // and the fix opens the NodePort to exactly the Service's ranges
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.explains.is_empty());
        assert!(f.detail.contains("client IP preservation") || f.detail.contains("Client IP preservation"), "{}", f.detail);
        assert_eq!(f.evidence["trafficSource"]["fromService"], true);
        assert_eq!(
            f.remediation,
            vec!["aws ec2 authorize-security-group-ingress --group-id sg-node --ip-permissions 'IpProtocol=tcp,FromPort=32663,ToPort=32663,IpRanges=[{CidrIp=203.0.113.0/24}]'"]
        );
    }

    #[test]
    fn default_client_range_not_admitted_warns_without_opening_the_nodes_to_the_internet() {
        // GIVEN no loadBalancerSourceRanges: the controller's default is every address
        let f = CHECK.on(&nlb_preserving_clients(&[]));
        // THEN a warning that says so, and no command that would open the nodes to 0.0.0.0/0
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.detail.contains("spec.loadBalancerSourceRanges"), "{}", f.detail);
        assert!(f.remediation.is_empty(), "{:?}", f.remediation);
    }

    #[test]
    fn traffic_port_blocked_while_the_health_check_port_is_open_is_no_root_cause() {
        // GIVEN the target group checks port 10256 (allowed from the ALB), the traffic port
        // 32663 is not allowed, and the targets are unhealthy
        let snap = SnapshotB::instance()
            .health_check_port("10256")
            .sg("sg-node", |g| g.ingress = vec![sg_rule("tcp", 10256, 10256, &[], &["sg-alb"])])
            .build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the failing health checks are not blamed on it: a warning about user traffic
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.explains.is_empty(), "{:?}", f.explains);
        assert_eq!(f.evidence["blocked"][0]["purpose"], "user traffic");
        assert_eq!(
            f.remediation,
            vec!["aws ec2 authorize-security-group-ingress --group-id sg-node --protocol tcp --port 32663 --source-group sg-alb"]
        );
    }

    #[test]
    fn denied_eni_lookup_leaves_a_pod_off_its_nodes_enis_unknown_naming_the_action() {
        // GIVEN ip targets, DescribeNetworkInterfaces denied, and the unhealthy pod's IP on no
        // ENI DescribeInstances lists (a branch ENI would be one)
        let mut b = SnapshotB::ip().ec2_denied("DescribeNetworkInterfaces");
        if let Fetched::Ok(instances) = &mut b.network().instances {
            for i in instances.iter_mut() {
                i.interfaces.iter_mut().for_each(|n| n.private_ips.retain(|ip| ip != "10.0.2.11"));
            }
        }
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN not judged by the node's groups: unknown, naming the permission
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.detail.contains("ec2:DescribeNetworkInterfaces"), "{}", f.detail);
    }

    #[test]
    fn unread_nlb_addresses_leave_a_rule_for_part_of_its_subnets_open_not_blocked() {
        // GIVEN the nodes admit two /32s inside the NLB's subnets, and its ENIs could not be read
        let mut snap = nlb_by_its_own_addresses(&["10.0.101.23/32", "10.0.102.41/32"]);
        snap.aws.network.lb_interfaces = crate::snapshot::Fetched::Failed(crate::fixtures::denied(
            "DescribeNetworkInterfaces",
            "ec2:DescribeNetworkInterfaces",
        ));
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the rule may be exactly right: unknown, naming the permission, and no fix
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.detail.contains("ec2:DescribeNetworkInterfaces"), "{}", f.detail);
        // AND a node group admitting nothing from subnet B is blocked whatever the addresses are
        let mut snap = nlb_by_its_own_addresses(&["10.0.101.23/32"]);
        snap.aws.network.lb_interfaces = crate::snapshot::Fetched::Failed(crate::fixtures::denied(
            "DescribeNetworkInterfaces",
            "ec2:DescribeNetworkInterfaces",
        ));
        assert_eq!(CHECK.on(&snap).status, Status::Fail);
    }

    #[test]
    fn rule_admitting_exactly_the_nlbs_addresses_is_right() {
        // GIVEN the nodes admit only the NLB's two addresses, not its whole subnets
        let f = CHECK.on(&nlb_by_its_own_addresses(&["10.0.101.23/32", "10.0.102.41/32"]));
        // THEN that is enough: health checks come from those addresses
        assert_eq!(f.status, Status::Pass, "{f:?}");
        // AND one address left out blocks, naming it
        let f = CHECK.on(&nlb_by_its_own_addresses(&["10.0.101.23/32"]));
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert_eq!(f.evidence["blocked"][0]["uncoveredSources"], json!(["10.0.102.41/32"]));
    }

    #[test]
    fn custom_networking_pod_is_judged_by_its_secondary_enis_group() {
        // GIVEN custom networking: pod 100.64.2.9 lives on node B's second ENI, in subnet-pods,
        // carrying the ENIConfig's group sg-eniconfig (no ALB rule); the node's primary ENI allows
        let mut b = SnapshotB::ip()
            .targets(vec![target("10.0.1.10", 8080, "healthy"), target_r("100.64.2.9", 8080, "unhealthy", "Target.Timeout")])
            .add_group(group("sg-eniconfig", false, vec![sg_rule("tcp", 22, 22, &["10.0.0.0/8"], &[])]));
        if let Fetched::Ok(instances) = &mut b.network().instances {
            let i = instances.iter_mut().find(|i| i.id == "i-0bbb").unwrap();
            i.interfaces.push(crate::snapshot::NetworkInterface {
                id: "eni-pods-b".into(),
                subnet_id: Some("subnet-pods".into()),
                device_index: Some(1),
                groups: vec!["sg-eniconfig".into()],
                private_ips: vec!["100.64.2.4".into(), "100.64.2.9".into()],
                ..Default::default()
            });
        }
        // WHEN checked
        let f = CHECK.on(&b.build());
        // THEN the pod's ENI and its group are the ones judged
        assert_eq!((f.status, f.explains.clone()), (Status::Fail, vec!["100.64.2.9".to_string()]), "{f:?}");
        assert_eq!(f.evidence["blocked"][0]["interface"], "eni-pods-b");
        assert!(f.remediation[0].contains("--group-id sg-eniconfig "), "{:?}", f.remediation);
    }

    #[test]
    fn two_cluster_tagged_groups_on_a_node_warn() {
        let tagged = SecurityGroup {
            id: "sg-extra".into(),
            tags: BTreeMap::from([("kubernetes.io/cluster/demo".into(), "owned".into())]),
            ..Default::default()
        };
        let snap = SnapshotB::instance()
            .add_group(tagged)
            .instance_groups("i-0aaa", &["sg-node", "sg-extra"])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(
            f.detail
                .contains("eni-0aaa has 2 groups (sg-node, sg-extra) of which 2 tagged kubernetes.io/cluster/demo (sg-node, sg-extra)"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn describe_security_groups_denied_is_unknown_naming_the_action() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeSecurityGroups").build());
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("ec2:DescribeSecurityGroups"), "{}", f.detail);
    }

    #[test]
    fn describe_instances_denied_leaves_targets_without_groups_unknown() {
        let f = CHECK.on(&SnapshotB::instance().ec2_denied("DescribeInstances").build());
        assert_eq!(f.status, Status::Unknown, "{f:?}");
        assert!(f.detail.contains("ec2:DescribeInstances"), "{}", f.detail);
    }
}
