//! Publicly reported, resolved target-health incidents (issue 18), each reconstructed on the local
//! stack through the real APIs (`scripts/stack/scenarios.py`) and diagnosed as a user would. Each
//! test says where the thread is, what was reported, what fixed it, and what was adapted; it
//! asserts the root cause the fix confirms, that the explanation names the decisive fact, and
//! that the tempting wrong fix is not printed. The table is docs/incidents.md.

use serde_json::Value;

use crate::harness::{failing, finding, fixes, stack};

/// Seeds the incident and diagnoses its target group as a user would: (seed, diagnosis, exit code).
fn diagnosed(scenario: &str) -> (Value, Value, i32) {
    let s = stack();
    let seed = s.seed(scenario);
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    (seed, d, code)
}

/// The verdict's root cause is `check`, with what failed shown when it is not.
fn assert_root_cause(d: &Value, check: &str) {
    assert_eq!(d["verdict"]["rootCause"], check, "{}: {:?}", d["verdict"]["summary"], failing(d));
}

/// No printed fix contains any of `words` (the tempting wrong fixes).
fn assert_avoids(all: &[String], words: &[&str]) {
    for w in words {
        assert!(all.iter().all(|f| !f.contains(w)), "a fix contains {w:?}: {all:?}");
    }
}

/// Some printed fix starts with `prefix` (the fix the thread confirmed).
fn assert_offers(all: &[String], prefix: &str) {
    assert!(all.iter().any(|f| f.starts_with(prefix)), "no fix starts with {prefix:?}: {all:?}");
}

fn detail(d: &Value, check: &str) -> String {
    finding(d, check)["detail"].as_str().unwrap_or_default().to_string()
}

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
    assert_avoids(&all, &["--health-check-protocol UDP", "authorize-security-group"]);
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
    assert_avoids(&all, &["modify-target-group"]);
    assert_avoids(&all, &["success-codes", "--matcher"]);
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
    assert_avoids(&all, &["externalTrafficPolicy", seed["groups"]["alb"].as_str().unwrap()]);
}

/// https://github.com/kubernetes/ingress-nginx/issues/10982 "readinessProbe endpoint
/// 10254:/healthz as AWS NLB health check endpoint and using proxy protocol v2 (PPv2) fails"
/// (the working configuration: ingress-nginx#9643, health check on the traffic port's /healthz).
///
/// Reported: ingress-nginx behind an NLB (ip targets) with proxy protocol v2 and the health check
/// on 10254 /healthz; the targets go unhealthy while the pods are Ready; turning proxy protocol
/// off makes them healthy (so the security groups are fine). Confirmed resolution (the
/// maintainers): 10254 is the controller's own Go server, which does not parse the PROXY header
/// the NLB also sends with health checks; check the traffic port, whose nginx does. Adapted: the
/// app's traffic port is 8080; the nodes' group admits the NLB's subnets on both ports. Tempting
/// wrong fixes: turning proxy protocol off (loses the client addresses it was enabled for), a
/// TCP check (hides it), or "make the application accept proxy protocol" (nginx already does).
#[test]
fn proxy_protocol_reaching_a_separate_health_port_moves_the_check_to_the_traffic_port() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("proxy-protocol-health-port");
    // THEN the health check's configuration, naming the separate port and the traffic port
    assert_eq!(code, 1);
    assert_root_cause(&d, "health-check-config");
    let text = detail(&d, "health-check-config");
    assert!(
        text.contains("PROXY header") && text.contains("port 10254") && text.contains("not the traffic port (8080)"),
        "{text}"
    );
    // AND the fix points the check at the traffic port where the controller reads it
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.contains(&format!(
            "kubectl annotate service web -n {ns} service.beta.kubernetes.io/aws-load-balancer-healthcheck-port=traffic-port --overwrite"
        )),
        "{all:?}"
    );
    assert!(
        all.iter().all(|f| !f.contains("proxy_protocol_v2.enabled,Value=false")
            && !f.contains("accept PROXY protocol")
            && !f.to_lowercase().contains("healthcheck-protocol=tcp")),
        "{all:?}"
    );
}

/// https://github.com/nginx/kubernetes-ingress/issues/1199 "Health check endpoints /healthz are
/// constantly Unhealthy in AWS NLB target groups - 503 HTTP error".
///
/// Reported: NGINX Ingress Controller behind an NLB with instance targets; the health check on
/// /healthz fails with 503 on some nodes, constantly. Confirmed resolution (the maintainer): with
/// `externalTrafficPolicy: Local`, kube-proxy answers the healthCheckNodePort with 503 on the
/// nodes without a controller pod; they are unhealthy by design (and take no traffic), which is
/// what Local is for (the client address). Adapted: one controller pod on the first of three
/// nodes, the controller's default check for a Local NLB Service (HTTP /healthz on the
/// healthCheckNodePort); the NLB reports Target.FailedHealthChecks. Tempting wrong fixes:
/// changing the health check (to the traffic port: it would send clients to nodes that drop
/// them) or opening security groups (the checks arrive and are answered).
#[test]
fn local_policy_nodes_without_a_pod_fail_by_design_and_the_health_check_is_left_alone() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("local-policy-nlb");
    // THEN traffic-policy, naming exactly the nodes without a pod and "by design"
    assert_eq!(code, 1);
    assert_root_cause(&d, "traffic-policy");
    let text = detail(&d, "traffic-policy");
    let nodes = seed["nodes"].as_array().unwrap();
    assert!(
        text.contains("by design") && text.contains("This explains exactly the unhealthy targets"),
        "{text}"
    );
    assert!(
        text.contains(nodes[1].as_str().unwrap())
            && text.contains(nodes[2].as_str().unwrap())
            && !text.contains(nodes[0].as_str().unwrap()),
        "{text}"
    );
    // AND no fix touches the health check or the security groups; keeping Local with ip targets
    // is offered where the controller reads it
    let all = fixes(&d);
    assert_avoids(&all, &["modify-target-group", "healthcheck-", "authorize-security-group"]);
    let ns = seed["namespace"].as_str().unwrap();
    assert_offers(
        &all,
        &format!(
            "kubectl annotate service alb-instance -n {ns} service.beta.kubernetes.io/aws-load-balancer-nlb-target-type=ip --overwrite"
        ),
    );
    assert_ne!(finding(&d, "security-groups")["status"], "fail");
}

/// https://github.com/argoproj/argo-helm/issues/2936 "AWS ALB Redirect loop caused by unhealthy
/// target group" (also argo-helm#2589 and argo-cd#3274 on the redirect).
///
/// Reported: argocd-server behind an ALB Ingress on the Service's `https` port, backend protocol
/// HTTP; the target group is unhealthy and the UI loops on 307. Confirmed resolution (the
/// reporter): with `alb.ingress.kubernetes.io/healthcheck-protocol: HTTPS` the targets became
/// healthy (argocd-server serves TLS unless `server.insecure`); the loop stayed until the
/// traffic was HTTPS too (argo-helm#2589: the backend protocol). Adapted: the chart's Service
/// (ports http and https, both to the container port `server`), two pods ready on /healthz (the
/// kubelet follows the redirect; the ALB does not). Tempting wrong fixes: accepting 3xx as
/// success (the reporter tried 200-399), or the readinessProbe's path (/healthz redirects too).
#[test]
fn http_health_check_on_a_tls_port_is_fixed_by_the_backend_protocol_not_by_accepting_307() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("argocd-tls-port");
    // THEN the health check's protocol, naming the https port and the 307
    assert_eq!(code, 1);
    assert_root_cause(&d, "health-check-config");
    let text = detail(&d, "health-check-config");
    assert!(
        text.contains("speaks HTTP to a port named \"https\"") && text.contains("307"),
        "{text}"
    );
    // AND the fix is the backend protocol (health check and traffic), where the controller reads it
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.contains(&format!(
            "kubectl annotate service argocd-server -n {ns} alb.ingress.kubernetes.io/backend-protocol=HTTPS --overwrite"
        )),
        "{all:?}"
    );
    assert_avoids(&all, &["success-codes", "--matcher", "healthcheck-path"]);
}

/// https://github.com/huggingface/dataset-viewer/pull/3422 "fix(chart): loosen the ALB health
/// check on the prod search ingresses" (merged).
///
/// Reported: `search` targets flap to unhealthy with `Target.Timeout / Request timed out` while
/// their pods stay Ready and never restart; two busy workers serve /healthcheck and the queries.
/// The target group allowed 5 s, twice, every 15 s; "Kubernetes is far more tolerant". Confirmed
/// resolution: loosen the ALB's health check (the Ingress's health-check annotations).
/// Adapted: two pods, one timing out; the readinessProbe asks /healthcheck with a 10 s timeout
/// (the PR quotes no probe values: this stands for "more tolerant"). Tempting wrong fixes: a
/// security-group or NACL change (Target.Timeout's usual reading; the healthy sibling and a
/// Ready pod say the path is open), or another path.
#[test]
fn health_check_stricter_than_the_pods_readiness_gets_the_probes_timeout() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("health-check-stricter-than-readiness");
    // THEN the health check's timing, naming both timeouts and the Ready pod's target
    assert_eq!(code, 1);
    assert_root_cause(&d, "health-check-config");
    let text = detail(&d, "health-check-config");
    let timed_out = seed["targets"][1].as_str().unwrap();
    assert!(
        text.contains("gives the pods 5s") && text.contains("gives them 10s") && text.contains(timed_out),
        "{text}"
    );
    assert!(
        !text.contains(seed["targets"][0].as_str().unwrap()),
        "the healthy target is not blamed: {text}"
    );
    // AND the fix gives the check the probe's timeout on the Ingress's terms, nothing else
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.contains(&format!(
            "kubectl annotate service web -n {ns} alb.ingress.kubernetes.io/healthcheck-timeout-seconds=10 --overwrite"
        )),
        "{all:?}"
    );
    assert_avoids(&all, &["authorize-security-group", "create-network-acl-entry", "healthcheck-path"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/100 "Security Group for
/// \"Nodes\" are not updated -> health checks fail" (also #1791 and #2633).
///
/// Reported: an Ingress naming the ALB's security group (`alb.ingress.kubernetes.io/
/// security-groups: sg-147`); every target fails its health check and the ALB answers 50x.
/// Confirmed resolution (the reporter): allow that group in the nodes' security group. Adapted:
/// instance targets on the NodePort; the nodes' group admits only the ALB group the other
/// scenarios use. Tempting wrong fixes: a health-check change, or opening the NodePorts to
/// 0.0.0.0/0.
#[test]
fn alb_with_its_own_security_group_gets_the_nodes_rule_from_that_group() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("custom-alb-security-group");
    // THEN security-groups, naming the ALB's own group
    assert_eq!(code, 1);
    assert_root_cause(&d, "security-groups");
    let custom = seed["customGroup"].as_str().unwrap();
    assert!(detail(&d, "security-groups").contains(custom), "{}", detail(&d, "security-groups"));
    // AND the fix admits that group on the NodePort in the nodes' group
    let all = fixes(&d);
    let nodes = seed["groups"]["nodes"].as_str().unwrap();
    let port = seed["nodePort"].as_u64().unwrap();
    assert!(
        all.contains(&format!(
            "aws ec2 authorize-security-group-ingress --group-id {nodes} --protocol tcp --port {port} --source-group {custom}"
        )),
        "{all:?}"
    );
    assert_avoids(&all, &["0.0.0.0/0", "modify-target-group"]);
}

/// https://github.com/istio/istio/issues/28856 "Underlying NLB of istio-ingressgateway fails its
/// healthchecks after istioctl upgrade" (the workaround: istio#31418, pin the nodePort).
///
/// Reported: after `istioctl upgrade` the ingress gateway's Service got new NodePorts; the
/// in-tree service controller fails with `SyncLoadBalancerFailed … DuplicateTargetGroupName`, and
/// the NLB's targets fail their checks. Confirmed resolution: set the nodePort in the Service
/// spec to the one the target group uses (istio#31418, the reporter's workaround). Adapted: two
/// nodes, the in-tree provider's legacy tags, the Service re-applied with a new NodePort. Tempting
/// wrong fixes: re-registering targets by hand on the new port (the provider owns the group), or
/// deleting the target group (the NLB's listener forwards to it).
#[test]
fn nlb_checking_an_old_node_port_pins_the_service_back_to_it() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("stale-node-port");
    // THEN target-port, naming both ports and the provider's error
    assert_eq!(code, 1);
    assert_root_cause(&d, "target-port");
    let (old, new) = (seed["oldNodePort"].as_u64().unwrap(), seed["newNodePort"].as_u64().unwrap());
    let text = detail(&d, "target-port");
    assert!(
        text.contains(&format!("registered on port {old}")) && text.contains(&format!("NodePort is {new}")),
        "{text}"
    );
    assert!(text.contains("DuplicateTargetGroupName"), "{text}");
    // AND the fix pins the NodePort back, never touches the target group
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.iter().any(
            |f| f.starts_with(&format!("kubectl patch service alb-instance -n {ns} --type json"))
                && f.contains(&format!("\"value\":{old}}}"))
        ),
        "{all:?}"
    );
    assert_avoids(&all, &["register-targets", "delete-target-group"]);
}

/// https://github.com/kubernetes/kubernetes/issues/72957 "AWS NLB health check failing in VPC
/// with multiple CIDR blocks" (fixed by kubernetes#73770).
///
/// Reported: an NLB Service (in-tree provider) whose nodes run in subnets of the VPC's secondary
/// CIDR; no node is healthy: the provider's health-check rule admits only the primary CIDR.
/// Confirmed resolution: a rule for the health checks' real sources (the PR adds every VPC CIDR;
/// kubernetes#93515 later narrowed it to the NLB's subnets). Adapted: VPC 10.0.0.0/16 plus
/// 100.64.0.0/16, nodes and NLB in 100.64.1.0/24 and 100.64.2.0/24, clients limited to
/// 203.0.113.0/24 by loadBalancerSourceRanges. Tempting wrong fix: opening the NodePort to
/// 0.0.0.0/0 (it would defeat the source ranges).
#[test]
fn nlb_in_a_secondary_cidr_gets_a_rule_for_its_own_addresses() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("nlb-secondary-cidr");
    // THEN security-groups, naming the NLB's addresses
    assert_eq!(code, 1);
    assert_root_cause(&d, "security-groups");
    let text = detail(&d, "security-groups");
    for a in seed["nlbAddresses"].as_array().unwrap() {
        assert!(text.contains(a.as_str().unwrap()), "{text}");
    }
    // AND the fix admits exactly those addresses on the NodePort in the nodes' group
    let all = fixes(&d);
    let group = seed["group"].as_str().unwrap();
    let port = seed["nodePort"].as_u64().unwrap();
    assert!(
        all.iter().any(
            |f| f.starts_with(&format!("aws ec2 authorize-security-group-ingress --group-id {group}"))
                && f.contains(&format!("FromPort={port},ToPort={port}"))
                && f.contains("100.64.1.200/32")
        ),
        "{all:?}"
    );
    assert_avoids(&all, &["0.0.0.0/0"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2802 "TargetGroupBinding
/// not working after configuring networking".
///
/// Reported: a TargetGroupBinding's instance targets stay unhealthy; the controller's log says it
/// expects exactly one security group tagged for the cluster on the ENIs. Confirmed resolution
/// (the maintainer): the ENIs carry several groups and none is tagged
/// `kubernetes.io/cluster/<cluster>`; tag one of them (or attach a tagged one), and the
/// controller adds its rule there. Adapted: both nodes carry a base and an ops group, neither
/// tagged nor admitting the ALB. Tempting wrong fix: a hand-made ingress rule, which the
/// controller neither owns nor keeps in step.
#[test]
fn nodes_with_several_groups_and_none_tagged_get_the_tag_fix() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("no-tagged-group");
    // THEN security-groups, and the fix tags exactly one of the ENI's groups
    assert_eq!(code, 1);
    assert_root_cause(&d, "security-groups");
    let all = fixes(&d);
    let untagged: Vec<&str> = seed["untagged"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let tag = all
        .iter()
        .find(|f| f.starts_with("aws ec2 create-tags --resources sg-"))
        .unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        tag.contains("Key=kubernetes.io/cluster/demo,Value=owned") && untagged.iter().all(|g| tag.contains(g)),
        "{tag}"
    );
    assert_avoids(&all, &["authorize-security-group-ingress"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2757 "Target Group
/// deregistering pods when reused for another set of pods with TargetGroupBinding" (also #2173).
///
/// Reported: one target group, managed outside both clusters, bound by a TargetGroupBinding in
/// each for fallback and A/B tests; when the second binding registers its pods, the first
/// cluster's are deregistered. Confirmed resolution (the maintainers): the controller assumes it
/// owns the whole group; share it only with `multiClusterTargetGroup` (added by #3853), else one
/// binding. Adapted: this cluster's two pods healthy, the other cluster's two addresses draining
/// and timing out (the `two-clusters` reconstruction). Tempting wrong fixes: re-registering the
/// other cluster's targets by hand, or calling them stale and deleting them here.
#[test]
fn target_group_shared_by_two_clusters_names_the_fight_and_the_flag() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, _) = diagnosed("shared-group-two-clusters");
    // THEN service-mapping names the other cluster's addresses and the flag
    assert_root_cause(&d, "service-mapping");
    let text = detail(&d, "service-mapping");
    for a in seed["theirs"].as_array().unwrap() {
        assert!(text.contains(a.as_str().unwrap()), "{text}");
    }
    assert!(text.contains("multiClusterTargetGroup: true"), "{text}");
    // AND nothing registers, deregisters or edits a binding
    let all = fixes(&d);
    assert_avoids(&all, &["register-targets", "kubectl patch", "kubectl delete"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/3955 "operation error
/// Elastic Load Balancing v2: DescribeLoadBalancers, get identity: get credentials: failed to
/// refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata …".
///
/// Reported: the controller, meant to use Pod Identity, fails with "no EC2 IMDS role found"; no
/// load balancer is built and nothing is registered. Confirmed resolution (reporters): raising the
/// nodes' IMDS hop limit (`modify-instance-metadata-options --http-put-response-hop-limit`), after
/// a node group moved to AL2023 (IMDSv2, hop limit 1); the error means the SDK found no
/// credentials of the controller's own and fell back to the node's. Adapted: the Ingress's
/// FailedBuildModel event carries the error (the stack has no kubelet for logs); the target
/// group is empty. Tempting wrong fix: an IAM policy change (nothing was denied: no credentials
/// were found at all).
#[test]
fn controller_without_credentials_falling_back_to_imds_names_its_role_and_the_hop_limit() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (_, d, code) = diagnosed("controller-without-imds");
    // THEN lb-controller, saying there are no credentials and why IMDS failed
    assert_eq!(code, 1);
    assert_root_cause(&d, "lb-controller");
    let text = detail(&d, "lb-controller");
    assert!(text.contains("no credentials") && text.contains("hop limit of 1"), "{text}");
    // AND the fix is the controller's own role, then the hop limit; never a policy grant
    let all = fixes(&d);
    let fix = all
        .iter()
        .find(|f| f.contains("--http-put-response-hop-limit 2"))
        .unwrap_or_else(|| panic!("{all:?}"));
    assert!(fix.starts_with("give the controller its own role"), "{fix}");
    assert_avoids(&all, &["put-role-policy", "attach-role-policy"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2133
/// "alb.ingress.kubernetes.io/target-type=instance :: Not registering target group" (also #1884
/// and the EKS user guide's Fargate note, awsdocs/amazon-eks-user-guide#148).
///
/// Reported: the echoserver example with `target-type: instance` on a cluster whose pods run on
/// Fargate: the ALB and its target group are made, no target is ever registered. Confirmed
/// resolution (AWS support, via the reporter): instance targets are not supported for Fargate;
/// use `target-type: ip`. The controller leaves Fargate nodes out of instance groups (#1129).
/// Adapted: two Fargate nodes (label `eks.amazonaws.com/compute-type: fargate`), a NodePort
/// Service, the binding the controller makes. Tempting wrong fixes: registering targets by hand,
/// or an IAM change for a controller that is not failing.
#[test]
fn instance_targets_for_pods_on_fargate_get_the_ip_target_type() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("fargate-instance-targets");
    // THEN target-port: instance targets for Fargate pods, naming the Fargate nodes
    assert_eq!(code, 1);
    assert_root_cause(&d, "target-port");
    let text = detail(&d, "target-port");
    assert!(
        text.contains("runs on a Fargate node") && text.contains(seed["nodes"][0].as_str().unwrap()),
        "{text}"
    );
    // AND the fix is the target type where the controller reads it
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert_offers(
        &all,
        &format!("kubectl annotate service echoserver -n {ns} alb.ingress.kubernetes.io/target-type=ip --overwrite"),
    );
    assert_avoids(&all, &["register-targets", "put-role-policy"]);
}

/// https://github.com/kubernetes/ingress-nginx/issues/6263 "AWS NetworkLoadBalancer with
/// ProxyProtocol - Healthcheck failure" (explained by the maintainers in ingress-nginx#10982).
///
/// Reported: ingress-nginx behind an NLB with proxy protocol on its target groups and
/// `use-proxy-protocol` in nginx: client addresses work for seconds, then every instance fails
/// the /healthz check on the healthCheckNodePort and traffic stops. Confirmed explanation (the
/// maintainers, #10982): with externalTrafficPolicy Local the check is answered by kube-proxy,
/// which does not parse PROXY protocol, and NLBs send the header with health checks too; the
/// check has to go where the header is understood, the traffic port. Adapted: two nodes, a pod
/// on each (so Local alone fails none), the controller's default Local check (HTTP /healthz on
/// the healthCheckNodePort). Tempting wrong fixes: turning proxy protocol off (loses client
/// addresses), switching to Cluster, or a TCP check.
#[test]
fn proxy_protocol_with_local_policy_moves_the_check_off_kube_proxys_port() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("proxy-protocol-local-policy");
    // THEN the health check's configuration: the header reaches the healthCheckNodePort
    assert_eq!(code, 1);
    assert_root_cause(&d, "health-check-config");
    let hcnp = seed["healthCheckNodePort"].as_u64().unwrap();
    let text = detail(&d, "health-check-config");
    assert!(text.contains(&format!("port {hcnp}")) && text.contains("PROXY header"), "{text}");
    // AND the fix checks the traffic port, nothing else
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.contains(&format!("kubectl annotate service alb-instance -n {ns} service.beta.kubernetes.io/aws-load-balancer-healthcheck-port=traffic-port --overwrite")),
        "{all:?}"
    );
    assert!(
        all.iter().all(|f| !f.contains("proxy_protocol_v2.enabled,Value=false")
            && !f.contains("\"Cluster\"")
            && !f.to_lowercase().contains("protocol=tcp")),
        "{all:?}"
    );
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/602 "error
/// instantiating load balancer: no port is mapped for service".
///
/// Reported: an Ingress on EKS whose load balancer never works; the controller's event names
/// the Service. Confirmed resolution (the reporter): "I just had some bad matches on labels and
/// selectors". Adapted: the source article's shape (the Service selects
/// `app=user-management-api-1`, the pods carry `app=user-management-api`), instance targets timing
/// out. Tempting wrong fixes: a health-check or security-group change; or a selector patched to
/// pods of another workload (here the nearest pods are the Service's own Deployment's).
#[test]
fn selector_that_misses_its_pods_is_fixed_to_the_deployment_it_was_meant_for() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("selector-typo");
    // THEN selector-match, naming both labels
    assert_eq!(code, 1);
    assert_root_cause(&d, "selector-match");
    let text = detail(&d, "selector-match");
    assert!(
        text.contains("app=user-management-api-1") && text.contains("deployment/user-management-api"),
        "{text}"
    );
    // AND the selector fix names the pods' label; nothing touches the network or the check
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert!(
        all.contains(&format!("kubectl patch service alb-instance -n {ns} --type merge -p '{{\"spec\":{{\"selector\":{{\"app\":\"user-management-api\"}}}}}}'")),
        "{all:?}"
    );
    assert_avoids(&all, &["authorize-security-group", "modify-target-group"]);
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/4238 "AWS Load Balancer
/// Controller v2.13.3 incorrectly sets TargetGroup port to 0 despite Ingress/Service specifying
/// valid port" (answered by #4243).
///
/// Reported: an Ingress with instance targets; the target group gets port 0 and no targets.
/// Confirmed resolution (the maintainers, #4243, which made the error say it): "When using
/// Instance targets, your service must be of type 'NodePort' or 'LoadBalancer'" (or use ip
/// targets). Adapted: a ClusterIP Service with two ready pods, the controller's binding, an
/// empty instance target group. Tempting wrong fixes: registering the nodes by hand, or an IAM
/// change for a controller that is not denied anything.
#[test]
fn instance_targets_for_a_clusterip_service_get_a_node_port() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("clusterip-instance-targets");
    // THEN target-port: instance targets, and a Service without a NodePort
    assert_eq!(code, 1);
    assert_root_cause(&d, "target-port");
    let text = detail(&d, "target-port");
    assert!(
        text.contains("instance targets") && text.contains("(type ClusterIP) has no NodePort"),
        "{text}"
    );
    // AND the fix gives it a NodePort (or ip targets), never a registration by hand
    let all = fixes(&d);
    let ns = seed["namespace"].as_str().unwrap();
    assert_offers(
        &all,
        &format!("kubectl patch service web -n {ns} -p '{{\"spec\":{{\"type\":\"NodePort\"}}}}'"),
    );
    assert_avoids(&all, &["register-targets", "put-role-policy"]);
}

/// https://github.com/kubernetes/kubernetes/issues/74948 "Health Checks failed outside of
/// ingress controller AWS NLB".
///
/// Reported: ingress-nginx behind an NLB made by the in-tree provider
/// (`aws-load-balancer-type: nlb`), externalTrafficPolicy Local: the nodes without a controller
/// pod fail their health checks. Confirmed resolution (the maintainer): with Local only nodes
/// with pods pass, which is correct (the others would drop traffic); run pods on every node or
/// use Cluster if every node should take traffic. Adapted: two nodes, the pod on the first, the
/// in-tree provider's legacy tags and its Local check (HTTP /healthz on the
/// healthCheckNodePort). Tempting wrong fixes: changing the health check, or opening security
/// groups (the health-check rule is there).
#[test]
fn in_tree_nlb_with_local_policy_names_the_design_not_the_network() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (seed, d, code) = diagnosed("local-policy-in-tree");
    // THEN traffic-policy, explaining exactly the node without a pod
    assert_eq!(code, 1);
    assert_root_cause(&d, "traffic-policy");
    let text = detail(&d, "traffic-policy");
    assert!(
        text.contains(seed["nodes"][1].as_str().unwrap()) && text.contains("by design"),
        "{text}"
    );
    // AND no fix changes the health check or the security groups
    let all = fixes(&d);
    assert_avoids(&all, &["modify-target-group", "healthcheck-", "authorize-security-group"]);
    assert_ne!(finding(&d, "security-groups")["status"], "fail");
}

/// https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/3346 "Is it possible to
/// define different healthcheck protocol for a Service exposing two or more NodePorts ?".
///
/// Reported: one Service with an `http` and an `https` port makes two target groups;
/// `aws-load-balancer-healthcheck-protocol: https`, meant for the https one, makes the http
/// port's group check with TLS and get no answer. Confirmed resolution (the maintainers): the
/// annotation applies to every port of the Service; use two Services. Adapted: ip targets, the
/// http port's group (8080) failing, the https container port 8443. Tempting wrong fix: setting
/// the annotation to HTTP, which breaks the https port's group instead.
#[test]
fn one_health_check_protocol_for_two_ports_gets_a_service_per_protocol() {
    // GIVEN the reconstructed incident WHEN diagnosed
    let (_, d, code) = diagnosed("https-check-on-http-port");
    // THEN service-annotations: HTTPS to the http port, right for the https port
    assert_eq!(code, 1);
    assert_root_cause(&d, "service-annotations");
    let text = detail(&d, "service-annotations");
    assert!(
        text.contains("speaks HTTPS to a port named \"http\"") && text.contains("right for port \"https\""),
        "{text}"
    );
    // AND the fix splits the Service, never flips the annotation for both
    let all = fixes(&d);
    assert_offers(&all, "give port \"https\" a Service of its own");
    assert_avoids(&all, &["healthcheck-protocol=HTTP"]);
}
