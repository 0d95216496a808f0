//! Publicly reported, resolved target-health incidents (issue 18), each reconstructed on the local
//! stack through the real APIs (`scripts/stack/scenarios.py`) and diagnosed as a user would. Each
//! test says where the thread is, what was reported, what fixed it, and what was adapted; it
//! asserts the root cause the fix confirms, that the explanation names the decisive fact, and
//! that the tempting wrong fix is not printed. The table is docs/incidents.md.

use crate::harness::{failing, finding, fixes, stack};

/// https://github.com/k8gb-io/k8gb/issues/1741 "CoreDNS AWS NLB health check not getting healthy".
///
/// Reported: k8gb's CoreDNS Service (one port, 53/UDP → 5353) behind an AWS NLB; the target
/// group's targets never become healthy. Confirmed resolution: UDP cannot be health-checked; point
/// the health check at a port that takes TCP (`service.beta.kubernetes.io/aws-load-balancer-
/// healthcheck-port`, there another Service's NodePort), or expose a TCP port. The controller's
/// maintainer says the same for UDP target groups in kubernetes-sigs/aws-load-balancer-controller
/// #2144. Adapted: instance targets on the UDP NodePort, the controller's default TCP check on
/// `traffic-port`, targets `Target.FailedHealthChecks`; the NLB has a frontend security group the
/// nodes admit (so the network is not it).
#[test]
fn udp_service_probed_over_tcp_on_its_udp_port_is_the_health_check_config() {
    // GIVEN the reconstructed incident
    let s = stack();
    let seed = s.seed("udp-only-health-check");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is the health check's configuration, naming UDP and the probed port
    assert_eq!(code, 1);
    assert_eq!(
        d["verdict"]["rootCause"],
        "health-check-config",
        "failing: {:?}\n{}",
        failing(&d),
        d["verdict"]["summary"]
    );
    let detail = finding(&d, "health-check-config")["detail"].as_str().unwrap().to_string();
    let port = seed["nodePort"].as_u64().unwrap();
    assert!(
        detail.contains("forwards UDP") && detail.contains(&format!("port {port}")) && detail.contains("only UDP"),
        "{detail}"
    );
    // AND the fix is a TCP health endpoint the check is pointed at, never a UDP health check (AWS
    // has none) and never a security-group change (the check is allowed; nothing answers it)
    let all = fixes(&d);
    assert!(all.iter().any(|f| f.contains("aws-load-balancer-healthcheck-port")), "{all:?}");
    assert!(
        all.iter()
            .all(|f| !f.contains("--health-check-protocol UDP") && !f.contains("authorize-security-group")),
        "{all:?}"
    );
    assert_ne!(finding(&d, "security-groups")["status"], "fail");
}

/// https://github.com/aws-samples/appmod-blueprints/pull/890 "fix(jupyterhub): set ALB
/// healthcheck-path to /jupyterhub/hub/health" (merged, verified live in the PR).
///
/// Reported: the JupyterHub Ingress sets no health-check annotation, so the controller's default
/// check (GET / expecting 200) gets the proxy's 302 redirect; the target is unhealthy with
/// `Target.ResponseCodeMismatch [302]` while the pods are Running and ready. Confirmed resolution:
/// the Ingress annotation `alb.ingress.kubernetes.io/healthcheck-path` pointing at a health
/// endpoint that answers 200. Adapted: the chart's proxy pods are ready on their own
/// `/_chp_healthz`, which is the endpoint we can see in the cluster (the PR chose the hub's
/// health behind the proxy; either answers 200), and the annotation goes on the Service, whose
/// annotations the controller prefers to the Ingress's for its own target group. Tempting wrong
/// fixes: accepting 302 as success (a weaker check hiding a redirecting or broken app), or editing
/// the target group, which the controller reverts.
#[test]
fn default_health_check_path_that_redirects_is_fixed_on_the_ingress_not_by_accepting_302() {
    // GIVEN the reconstructed incident
    let s = stack();
    let seed = s.seed("default-path-redirects");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the cause is the health check's path, and the explanation names the 302 and the path
    // the pods are ready on
    assert_eq!(code, 1);
    let cause = d["verdict"]["rootCause"].as_str().unwrap_or_default().to_string();
    assert!(
        ["health-check-config", "ingress-annotations"].contains(&cause.as_str()),
        "{cause}: {:?}",
        failing(&d)
    );
    let detail = finding(&d, &cause)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("302") && detail.contains("/_chp_healthz"), "{detail}");
    // AND the fix sets the path where the controller reads it (an annotation: a change on the
    // target group would be reverted at its next reconcile), never widens the success codes
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    let wanted = format!("kubectl annotate service web -n {ns} alb.ingress.kubernetes.io/healthcheck-path=/_chp_healthz --overwrite");
    assert!(all.contains(&wanted), "{all:?}");
    assert!(all.iter().all(|f| !f.contains("modify-target-group")), "{all:?}");
    assert!(
        all.iter().all(|f| !f.contains("success-codes") && !f.contains("--matcher")),
        "{all:?}"
    );
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/1897 "Expect exactly one
/// securityGroup tagged with kubernetes.io/cluster/eks-1 for ENI" (also #1594, #2948, and
/// terraform-aws-eks's FAQ entry for the same error).
///
/// Reported: the nodes' ENIs carry two security groups, both tagged
/// `kubernetes.io/cluster/<cluster>` (the EKS cluster group and terraform-aws-eks's node group);
/// the controller logs "expect exactly one securityGroup tagged …" and adds no rule, so the
/// targets time out. Confirmed resolution (the maintainers): keep the cluster tag on exactly one
/// of the ENI's groups; the controller then adds its rule there. Adapted: node B alone carries the
/// two tagged groups, so target A stays healthy beside it (the fault is B's). The tempting wrong
/// fix: a hand-made ingress rule, which leaves the controller failing on every change.
#[test]
fn node_with_two_cluster_tagged_groups_gets_the_tag_fix_not_a_hand_made_rule() {
    // GIVEN node B carries two groups tagged for the cluster, neither admitting the ALB
    let s = stack();
    let seed = s.seed("two-tagged-groups");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups explains B, and the fix is to keep the tag on one group
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let f = finding(&d, "security-groups");
    let fix = f["remediation"][0].as_str().unwrap();
    assert!(fix.starts_with("aws ec2 delete-tags --resources sg-"), "{fix}");
    assert!(fix.contains("keep the tag on exactly one of"), "{fix}");
    assert!(f["remediation"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r.as_str().unwrap().contains("authorize-security-group-ingress")));
}

/// https://github.com/terraform-aws-modules/terraform-aws-eks/issues/2359 "Node to node ports lower
/// than 1025 not authorized is causing issue with ingress controllers with service type load
/// balancer (AWS)" (also #1812, #2562, and aws-load-balancer-controller#4179).
///
/// Reported: after upgrading the module to v19, an ingress controller (2 pods, on nodes A and B)
/// behind a load balancer with the four nodes as targets: A and B in service, C and D out of
/// service. Confirmed resolution (the reporter): add ports 80 and 443 from the node group itself
/// (node-to-node) to the node security group; then all are in service. Adapted: three nodes, the
/// pods on a and b, an ALB's instance targets on the NodePort, target c timing out; the node
/// group admits the NodePorts from the ALB but has no node-to-node rule. The tempting wrong fixes:
/// the ALB → NodePort rule (already there: the healthy nodes prove it), or switching to
/// externalTrafficPolicy Local (which hides node c behind failing checks by design).
#[test]
fn nodes_without_a_local_pod_fail_when_the_node_group_drops_node_to_node_traffic() {
    // GIVEN the reconstructed incident
    let s = stack();
    let seed = s.seed("node-to-node-blocked");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN security-groups, explaining the node without a pod by the forwarded hop
    assert_eq!(code, 1);
    assert_eq!(
        d["verdict"]["rootCause"],
        "security-groups",
        "{}: {:?}",
        d["verdict"]["summary"],
        failing(&d)
    );
    let detail = finding(&d, "security-groups")["detail"].as_str().unwrap().to_string();
    let c = seed["instances"][2].as_str().unwrap();
    assert!(
        detail.contains(c) && detail.contains("kube-proxy forwards their health check"),
        "{detail}"
    );
    // AND the fix is the node-to-node rule on the target port, from the node group itself
    let group = seed["groups"]["nodes"].as_str().unwrap();
    let all = fixes(&d);
    assert!(
        all.contains(&format!(
            "aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp --port 80 --source-group {group}"
        )),
        "{all:?}"
    );
    assert!(
        all.iter()
            .all(|f| !f.contains("externalTrafficPolicy") && !f.contains(seed["groups"]["alb"].as_str().unwrap())),
        "{all:?}"
    );
}
