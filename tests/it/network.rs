//! The AWS network side on the local stack: for each network check, a scenario seeded through
//! the real EC2/ELBv2 APIs (moto) and the API server in which it is the root cause.

use serde_json::json;

use crate::harness::{failing, finding, stack};

#[test]
fn second_node_group_without_alb_rule_is_security_groups_for_its_instance_only() {
    // GIVEN node group B's instance carrying a group that allows only SSH
    let s = stack();
    let seed = s.seed("second-node-group");
    let (a, b) = (seed["instances"][0].as_str().unwrap(), seed["instances"][1].as_str().unwrap());
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups explains exactly B, names the difference, and authorizes the ALB's group
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "security-groups"]);
    let f = finding(&d, "security-groups");
    let blocked = f["evidence"]["blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["target"], b);
    assert!(blocked.iter().all(|x| x["target"] != a));
    assert_eq!(
        f["evidence"]["healthyVsUnhealthy"]["onlyOnHealthy"],
        json!([seed["groups"]["nodes"]])
    );
    let sg_b = blocked[0]["groups"][0].as_str().unwrap();
    assert_eq!(
        f["remediation"][0],
        format!(
            "aws ec2 authorize-security-group-ingress --group-id {sg_b} --protocol tcp --port {} --source-group {}",
            seed["nodePort"],
            seed["groups"]["alb"].as_str().unwrap()
        )
    );
}

#[test]
fn nacl_deny_numbered_below_the_allow_is_network_acls() {
    let s = stack();
    let seed = s.seed("nacl-deny");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "network-acls", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "network-acls"]);
    let blocked = &finding(&d, "network-acls")["evidence"]["blocked"][0];
    assert_eq!(blocked["subnet"], seed["subnets"]["us-east-1b"]);
    assert_eq!(blocked["decision"], "rule 90 denies");
    assert_eq!(blocked["direction"], "ingress");
    assert_eq!(blocked["target"], seed["instances"][1]);
}

#[test]
fn route_diverting_the_lb_subnet_is_route_tables() {
    let s = stack();
    let seed = s.seed("diverted-route");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "route-tables", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "route-tables"]);
    let p = &finding(&d, "route-tables")["evidence"]["problems"][0];
    assert_eq!(p["destination"], "10.0.101.0/24");
    assert_eq!(p["subnet"], seed["subnets"]["us-east-1b"]);
    assert!(p["problem"].as_str().unwrap().starts_with("10.0.101.0/24 → eni-"), "{p}");
    // the line to paste only shows the route (it may serve an appliance); deleting it is the
    // commented, conditional step
    let fix = finding(&d, "route-tables")["remediation"][0].as_str().unwrap();
    assert!(fix.starts_with("aws ec2 describe-route-tables --route-table-ids "), "{fix}");
    assert!(
        fix.contains("# if no appliance behind eni-") && fix.contains("delete-route"),
        "{fix}"
    );
}

#[test]
fn target_in_a_zone_the_alb_lacks_is_availability_zones() {
    let s = stack();
    let seed = s.seed("zone-missing");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "availability-zones", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "availability-zones"]);
    let f = finding(&d, "availability-zones");
    assert_eq!(f["evidence"]["targetsOutside"], json!({"us-east-1b": [seed["instances"][1]]}));
    assert_eq!(f["evidence"]["enabled"], json!(["us-east-1a", "us-east-1c"]));
    assert!(f["remediation"][0].as_str().unwrap().starts_with("aws elbv2 set-subnets"));
    // the target carries its zone in the diagnosis
    assert_eq!(d["targets"][1]["availabilityZone"], "us-east-1b");
}

#[test]
fn not_ready_node_is_nodes() {
    let s = stack();
    let seed = s.seed("node-not-ready");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "nodes", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "nodes"]);
    let n = &finding(&d, "nodes")["evidence"]["nodes"][0];
    assert_eq!(n["node"], seed["nodes"][1]);
    assert_eq!(n["ready"], "False");
}

#[test]
fn stopped_instance_is_nodes_naming_the_instance_state() {
    let s = stack();
    let seed = s.seed("stopped-instance");
    let stopped = seed["instances"][1].as_str().unwrap();
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "nodes", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "nodes"]);
    assert_eq!(finding(&d, "nodes")["evidence"]["nodes"][0]["instanceState"], "stopped");
    assert_eq!(
        finding(&d, "target-health")["evidence"]["reasons"][0]["reason"],
        "Target.InvalidState"
    );
    assert!(finding(&d, "nodes")["remediation"][0]
        .as_str()
        .unwrap()
        .starts_with(&format!("aws ec2 start-instances --instance-ids {stopped}")));
}

#[test]
fn local_policy_with_one_pod_of_three_nodes_is_traffic_policy_exactly() {
    let s = stack();
    let seed = s.seed("local-policy");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "traffic-policy", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "traffic-policy"]);
    let f = finding(&d, "traffic-policy");
    assert_eq!(f["evidence"]["explainsExactly"], true);
    assert_eq!(f["evidence"]["nodesWithReadyPods"], json!([seed["nodes"][0]]));
    assert!(f["detail"]
        .as_str()
        .unwrap()
        .contains("This explains exactly the unhealthy targets."));
}

#[test]
fn healthy_scenario_passes_every_network_check() {
    let s = stack();
    let seed = s.seed("healthy");
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(code, 0);
    for check in [
        "traffic-policy",
        "security-groups",
        "network-acls",
        "route-tables",
        "availability-zones",
        "nodes",
    ] {
        assert_eq!(finding(&d, check)["status"], "pass", "{check}: {:#}", finding(&d, check));
    }
}

#[test]
fn ssh_rule_from_a_prefix_list_does_not_hide_the_missing_alb_rule() {
    // GIVEN node group B's group admits only SSH from a corporate managed prefix list
    let s = stack();
    let seed = s.seed("prefix-list-ssh");
    let b = seed["instances"][1].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the missing ALB rule is the root cause for B (the list is on port 22, not open)
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let f = finding(&d, "security-groups");
    assert_eq!(f["evidence"]["blocked"][0]["target"], b, "{f:#}");
    assert!(f["remediation"][0]
        .as_str()
        .unwrap()
        .starts_with("aws ec2 authorize-security-group-ingress"));
}

#[test]
fn prefix_list_holding_the_vpc_is_resolved_and_admits_the_alb() {
    // GIVEN node group B's group admits the NodePorts only from a prefix list of the VPC range
    let s = stack();
    let seed = s.seed("prefix-list-allows");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the list is read and security-groups passes: nothing is wrong
    assert_eq!(
        finding(&d, "security-groups")["status"],
        "pass",
        "{:#}",
        finding(&d, "security-groups")
    );
    assert_eq!((d["verdict"]["status"].as_str(), code), (Some("healthy"), 0), "{:#}", d["verdict"]);
}

#[test]
fn load_balancer_whose_outbound_rules_stop_the_check_is_named_on_its_side() {
    // GIVEN the ALB's own group lets only HTTPS out
    let s = stack();
    let seed = s.seed("lb-egress");
    let alb = seed["groups"]["alb"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups names the load balancer's outbound side and opens its egress only
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let f = finding(&d, "security-groups");
    assert_eq!(f["title"], "The load balancer's outbound rules block 2 unhealthy targets");
    assert!(f["evidence"]["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["side"] == "load balancer outbound"));
    let fixes: Vec<&str> = f["remediation"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    assert_eq!(
        fixes,
        [format!(
            "aws ec2 authorize-security-group-egress --group-id {alb} --ip-permissions 'IpProtocol=tcp,FromPort={p},ToPort={p},UserIdGroupPairs=[{{GroupId={}}}]'",
            seed["groups"]["nodes"].as_str().unwrap(),
            p = seed["nodePort"]
        )]
    );
}

#[test]
fn inspection_routes_the_healthy_target_shares_pass_and_the_real_fault_is_named() {
    // GIVEN every ALB ↔ node flow through one firewall ENI, and node B's group without the ALB rule
    let s = stack();
    let seed = s.seed("inspection-routes");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups is the root cause; route-tables passes; no delete-route anywhere
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let routes = finding(&d, "route-tables");
    assert_eq!(routes["status"], "pass", "{routes:#}");
    assert_eq!(routes["title"], "Routes shared with healthy targets");
    assert!(
        crate::harness::fixes(&d).iter().all(|f| !f.contains("delete-route")),
        "{:?}",
        crate::harness::fixes(&d)
    );
}

#[test]
fn pod_with_its_own_security_group_is_judged_by_its_branch_eni() {
    // GIVEN pod B on a branch ENI whose pod security group lacks the ALB rule; the node's allows
    let s = stack();
    let seed = s.seed("pod-security-group");
    let (eni, group, target) = (
        seed["branchEni"].as_str().unwrap(),
        seed["podGroup"].as_str().unwrap(),
        seed["targets"][1].as_str().unwrap(),
    );
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups blocks at the branch ENI, and the fix goes to the pod's group
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let f = finding(&d, "security-groups");
    let blocked = &f["evidence"]["blocked"][0];
    assert_eq!(
        (blocked["target"].as_str(), blocked["interface"].as_str()),
        (Some(target), Some(eni)),
        "{f:#}"
    );
    assert!(
        f["remediation"][0].as_str().unwrap().contains(&format!("--group-id {group} ")),
        "{}",
        f["remediation"]
    );
}

#[test]
fn rule_admitting_only_the_nlbs_own_addresses_is_right() {
    // GIVEN an NLB without groups; the nodes admit the health-check port from its two addresses only
    let s = stack();
    let seed = s.seed("nlb-own-addresses");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups passes, judging from those addresses
    let f = finding(&d, "security-groups");
    assert_eq!(f["status"], "pass", "{f:#}");
    let sources: Vec<String> = f["evidence"]["source"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = seed["nlbAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/32", a.as_str().unwrap()))
        .collect();
    assert_eq!(sources, want);
}

#[test]
fn ipv6_pod_blocked_only_in_the_ipv6_rules_is_security_groups_with_an_ipv6_fix() {
    // GIVEN an IPv6 cluster behind a dual-stack NLB: node group B's group admits the NLB's IPv4
    // addresses only; pod B's address lies in a /80 prefix delegated to node B's ENI
    let s = stack();
    let seed = s.seed("ipv6-pods");
    let (a, b) = (seed["targets"][0].as_str().unwrap(), seed["targets"][1].as_str().unwrap());
    let group_b = seed["groups"][1].as_str().unwrap();
    let v6: Vec<String> = (seed["nlbAddresses"]["ipv6"].as_array().unwrap().iter())
        .map(|a| format!("{}/128", a.as_str().unwrap()))
        .collect();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups blocks pod B alone, at node B's ENI, for the NLB's IPv6 addresses only;
    // the fix opens exactly those, and the IPv6 ACL entries and local route are judged and pass
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "security-groups"]);
    let f = finding(&d, "security-groups");
    let blocked = f["evidence"]["blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 1, "{f:#}");
    assert_eq!(blocked[0]["target"], b);
    assert!(blocked.iter().all(|x| x["target"] != a));
    assert_eq!(blocked[0]["uncoveredSources"], json!(v6));
    assert!(!f["detail"].as_str().unwrap().contains("10.0.10"), "{}", f["detail"]);
    assert_eq!(
        f["remediation"][0],
        format!(
            "aws ec2 authorize-security-group-ingress --group-id {group_b} --ip-permissions 'IpProtocol=tcp,FromPort=8080,ToPort=8080,Ipv6Ranges=[{{CidrIpv6={}}},{{CidrIpv6={}}}]'",
            v6[0], v6[1]
        )
    );
    let routes = finding(&d, "route-tables");
    assert_eq!(routes["status"], "pass", "{routes:#}");
    assert!(routes["evidence"]["vpcCidrs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("::/56")));
    assert_eq!(finding(&d, "network-acls")["status"], "pass");
}
