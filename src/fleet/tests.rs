use super::*;
use crate::fixtures::SnapshotB;

/// The diagnosis of a snapshot, under another target group's ARN (several groups in one report).
fn diagnosed(b: SnapshotB, name: &str) -> Diagnosis {
    Diagnosis::from_snapshot(&b.as_target_group(name).build())
}

/// The nodes' group `sg-node` admits nothing from the load balancer: every instance target times out.
fn node_group_blocked(name: &str) -> Diagnosis {
    diagnosed(SnapshotB::instance().sg("sg-node", |g| g.ingress.clear()), name)
}

#[test]
fn groups_failing_on_one_security_group_share_one_cause_and_one_fix() {
    // GIVEN three target groups behind the same blocked node group, and one whose Service
    // selects no pod (the article)
    let ds = vec![
        node_group_blocked("shop-a"),
        node_group_blocked("shop-b"),
        node_group_blocked("shop-c"),
        diagnosed(SnapshotB::article(), "legacy"),
    ];
    assert!(ds[..3]
        .iter()
        .all(|d| d.verdict.root_cause.map(|c| c.as_str()) == Some("security-groups")));
    // WHEN reported together
    let r = report("storm", vec![], ds);
    // THEN one common cause, on sg-node, with the three groups and the fix said once
    assert_eq!(r.common_causes.len(), 1, "{:#?}", r.common_causes);
    let c = &r.common_causes[0];
    assert_eq!(
        (c.root_cause.as_str(), c.resources.clone()),
        ("security-groups", vec!["sg-node".to_string()])
    );
    assert_eq!(c.target_groups, ["shop-a", "shop-b", "shop-c"]);
    let shop_a = r.diagnoses.iter().find(|d| d.target_group.name == "shop-a").unwrap();
    let fix_a = &shop_a.findings.iter().find(|f| f.check == c.root_cause).unwrap().remediation;
    assert!(!fix_a.is_empty());
    assert_eq!(&c.fix, fix_a, "the same fix for all three, said once");
    // AND the article's group is a problem of its own, not part of it
    let legacy = r.groups.iter().find(|g| g.name == "legacy").unwrap();
    assert_eq!(
        (legacy.root_cause.map(|c| c.as_str()), legacy.common_cause),
        (Some("selector-match"), None)
    );
    assert_eq!(
        r.summary,
        "4 of 4 target groups have a problem; 3 share one cause (security-groups on sg-node); 1 fails for a cause of its own."
    );
}

#[test]
fn two_services_with_wrong_selectors_are_two_problems_not_one() {
    // GIVEN two target groups whose Services each select no pod
    let r = report(
        "storm",
        vec![],
        vec![diagnosed(SnapshotB::article(), "a"), diagnosed(SnapshotB::article(), "b")],
    );
    // THEN no common cause: a selector is each Service's own
    assert!(r.common_causes.is_empty());
    assert!(r.groups.iter().all(|g| g.common_cause.is_none()));
}

#[test]
fn healthy_and_failed_rows_sort_after_problems_and_set_the_status() {
    // GIVEN a healthy row from target health, an error row and one problem
    let rows = vec![
        healthy_row("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/aaa/1", "aaa", None, 5),
        error_row("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/bbb/2", "AccessDenied"),
    ];
    let r = report("scan", rows, vec![diagnosed(SnapshotB::article(), "zzz")]);
    // THEN the problem first, then the inconclusive, then the healthy; the pass is a problem
    let order: Vec<_> = r.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(order, ["zzz", "bbb", "aaa"]);
    assert_eq!(r.status, VerdictStatus::Problem);
    assert_eq!(r.summary, "1 of 3 target groups have a problem; 1 inconclusive.");
    assert_eq!(r.groups[2].summary, "all 5 targets healthy");
}

#[test]
fn the_fix_objects_are_read_from_the_commands_flags() {
    assert_eq!(
        fix_objects("aws ec2 authorize-security-group-ingress --group-id sg-1 --protocol tcp --port 80 --source-group sg-lb"),
        ["sg-1"]
    );
    assert_eq!(
        fix_objects("aws ec2 delete-route --route-table-id rtb-b --destination-cidr-block 10.0.0.0/24"),
        ["rtb-b"]
    );
    assert!(fix_objects("kubectl -n x rollout restart ds/kube-proxy").is_empty());
}

#[test]
fn groups_whose_targets_sit_on_the_same_broken_node_share_it() {
    // GIVEN two target groups whose unhealthy targets are on node-a, which is NotReady
    let on_bad_node = |name: &str| diagnosed(SnapshotB::instance().node_not_ready("node-a"), name);
    let (a, b) = (on_bad_node("a"), on_bad_node("b"));
    let cause = a.verdict.root_cause.map(|c| c.as_str());
    // WHEN reported together
    let r = report("storm", vec![], vec![a, b]);
    // THEN the node is the root cause of both, and one common cause names it
    assert_eq!(cause, Some("nodes"));
    assert_eq!(r.common_causes.len(), 1);
    assert_eq!(r.common_causes[0].resources, ["node node-a"]);
}
