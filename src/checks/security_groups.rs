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
    verifies: "the ENI of each target (instance primary ENI, branch ENI, or the node ENI holding the pod IP) allows the health-check and traffic ports from the load balancer's groups (or, for an NLB without groups, its subnets' CIDRs); healthy vs unhealthy group sets compared; exactly one group tagged `kubernetes.io/cluster/<name>` per node ENI",
    needs: "DescribeLoadBalancers, DescribeInstances, DescribeSecurityGroups, DescribeNetworkInterfaces",
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
        format!("the load balancer's subnets {}", cidrs(&source.cidrs).join(", "))
    } else {
        format!("the load balancer's groups {}", source.groups.join(", "))
    };

    let mut blocked: Vec<Blocked> = Vec::new();
    let mut shared: Vec<String> = Vec::new();
    let mut explains = Vec::new();
    let mut unknown = Vec::new();
    let mut fixes: BTreeSet<String> = BTreeSet::new();
    let mut sets: BTreeMap<bool, BTreeSet<Vec<String>>> = BTreeMap::new();
    for t in all {
        let place = ctx.place(t);
        if place.groups.is_empty() {
            unknown.push(format!("{} ({})", t.id, place.via));
            continue;
        }
        sets.entry(t.is_unhealthy()).or_default().insert(place.groups.clone());
        let groups: Vec<&SecurityGroup> = place.groups.iter().filter_map(|g| ctx.group(g)).collect();
        let ports: BTreeSet<u16> = [ctx.health_check_port(t), t.port.and_then(|p| u16::try_from(p).ok())]
            .into_iter()
            .flatten()
            .collect();
        for port in ports {
            if let Err(uncovered) = net::sg_allows(&groups, &source, TCP, port) {
                let prefix_lists: Vec<&str> = groups
                    .iter()
                    .flat_map(|g| g.ingress.iter())
                    .flat_map(|r| r.prefix_lists.iter())
                    .map(String::as_str)
                    .collect();
                blocked.push(Blocked {
                    target: t.id.clone(),
                    port,
                    interface: place.interface.clone(),
                    groups: place.groups.clone(),
                    node: place.node.clone(),
                    uncovered_sources: uncovered.iter().map(|c| c.to_string()).collect(),
                    unresolved_prefix_lists: prefix_lists.iter().map(|p| p.to_string()).collect(),
                    rules: groups
                        .iter()
                        .map(|g| GroupRules {
                            group: g.id.clone(),
                            ingress: g.ingress.iter().map(net::describe_rule).collect(),
                        })
                        .collect(),
                });
                if prefix_lists.is_empty() {
                    if t.is_unhealthy() {
                        explains.push(t.id.clone());
                    } else if t.state == "healthy" {
                        shared.push(t.id.clone());
                    }
                }
                fixes.insert(fix(ctx, &place.groups, &source, port, &uncovered));
                break;
            }
        }
    }
    let mut evidence = json!({"source": {"groups": source.groups, "subnets": cidrs(&source.cidrs)}, "blocked": blocked});
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
    if !explains.is_empty() {
        let diff = difference
            .as_ref()
            .map(|d| format!(" {}", d.sentence))
            .unwrap_or_default();
        let ids: Vec<&str> = explains.iter().map(String::as_str).collect();
        return Finding::fail(
            ID,
            format!("{} unhealthy targets' security groups block the load balancer", explains.len()),
            format!(
                "No security group on the ENI of {} allows TCP on the health-check port from {lb_kind}.{diff}",
                ids.join(", ")
            ),
        )
        .evidence(evidence)
        .remediation(fixes.into_iter().collect())
        .explains(explains)
        .shared_by_healthy(shared);
    }
    if blocked.iter().any(|b| !b.unresolved_prefix_lists.is_empty()) {
        return Finding::warn(
            ID,
            "Prefix lists not evaluated",
            "Some targets are allowed only through managed prefix lists, which are not resolved; check them by hand.",
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
    if !unknown.is_empty() && unknown.len() == all.len() {
        return Finding::unknown(ID, format!("no ENI found for the targets: {}", unknown.join(", "))).evidence(evidence);
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

/// Node ENIs must carry exactly one group tagged for the cluster (the controller's
/// "expected exactly one securityGroup tagged with kubernetes.io/cluster/…").
fn cluster_tag_problems(ctx: &View, targets: &[TargetHealth]) -> Vec<String> {
    let Some(cluster) = ctx.snap.resolution.cluster.as_deref() else {
        return vec![];
    };
    let key = format!("kubernetes.io/cluster/{cluster}");
    let mut out = BTreeSet::new();
    for t in targets {
        let place = ctx.place(t);
        let Some(eni) = place.interface else { continue };
        let tagged: Vec<&str> = place
            .groups
            .iter()
            .filter(|g| ctx.group(g).is_some_and(|g| g.tags.contains_key(&key)))
            .map(String::as_str)
            .collect();
        if tagged.len() != 1 && place.groups.iter().all(|g| ctx.group(g).is_some()) {
            out.insert(format!("{eni} has {} groups tagged {key} ({})", tagged.len(), tagged.join(", ")));
        }
    }
    out.into_iter().collect()
}

fn fix(ctx: &View, groups: &[String], source: &net::Source, port: u16, uncovered: &[Cidr]) -> String {
    // Prefer the group the controller manages (tagged for the cluster), else the first.
    let cluster_key = ctx.snap.resolution.cluster.as_deref().map(|c| format!("kubernetes.io/cluster/{c}"));
    let target_group = groups
        .iter()
        .find(|g| {
            cluster_key
                .as_ref()
                .is_some_and(|k| ctx.group(g).is_some_and(|g| g.tags.contains_key(k)))
        })
        .unwrap_or(&groups[0]);
    match source.groups.first() {
        Some(lb) => {
            format!("aws ec2 authorize-security-group-ingress --group-id {target_group} --protocol tcp --port {port} --source-group {lb}")
        }
        None => {
            let list: Vec<String> = uncovered.iter().map(|c| format!("{{CidrIp={c}}}")).collect();
            format!("aws ec2 authorize-security-group-ingress --group-id {target_group} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},IpRanges=[{}]'", list.join(","))
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
            f.detail.contains("eni-0aaa has 2 groups tagged kubernetes.io/cluster/demo"),
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
