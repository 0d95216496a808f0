//! For each implemented check, a scenario seeded through the real APIs in which it is the root
//! cause, diagnosed by the CLI binary; plus a healthy scenario.

use serde_json::json;

use crate::harness::{failing, finding, fixes, stack};

#[test]
fn healthy_cluster_exits_zero_with_status_healthy() {
    // GIVEN two ready pods behind a NodePort Service and two healthy instance targets
    let s = stack();
    let seed = s.seed("healthy");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN nothing is wrong
    assert_eq!(code, 0, "{d:#}");
    assert_eq!(d["verdict"]["status"], "healthy");
    assert_eq!(d["verdict"]["rootCause"], json!(null));
    assert!(failing(&d).is_empty(), "{:?}", failing(&d));
    assert_eq!(finding(&d, "selector-match")["status"], "pass");
    assert_eq!(finding(&d, "endpoints")["evidence"]["ready"].as_array().unwrap().len(), 2);
    assert_eq!(
        d["service"],
        json!({"namespace": seed["namespace"], "name": "alb-instance", "port": 80, "resolvedBy": "target-group-binding"})
    );
}

#[test]
fn article_selector_typo_is_selector_match_with_the_patch() {
    // GIVEN the article's Service selecting app=alb-instance-1 while its pods say app=alb-instance
    let s = stack();
    let seed = s.seed("article");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN selector-match is the root cause, with the differing label and the patch
    assert_eq!(code, 1);
    assert_eq!(d["verdict"]["rootCause"], "selector-match", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "selector-match", "endpoints"]);
    let f = finding(&d, "selector-match");
    assert_eq!(
        f["evidence"]["differences"],
        json!([{"label": "app", "service": "alb-instance-1", "pods": "alb-instance"}])
    );
    assert_eq!(f["evidence"]["nearest"]["workload"], "deployment/alb-instance");
    assert_eq!(
        f["remediation"][0],
        format!(r#"kubectl patch service alb-instance -n {ns} --type merge -p '{{"spec":{{"selector":{{"app":"alb-instance"}}}}}}'"#)
    );
    // and the targets are tied to their nodes through the Nodes' providerIDs
    assert_eq!(d["targets"][0]["node"], seed["nodes"][0]);
}

#[test]
fn selector_matching_an_unrelated_workload_gets_no_patch() {
    // GIVEN a Service selecting app=payments in a namespace that only runs deployment/web (app=web)
    let s = stack();
    let seed = s.seed("selector-unrelated");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN selector-match is the root cause, but no fix points the Service at the web pods
    assert_eq!(code, 1);
    assert_eq!(d["verdict"]["rootCause"], "selector-match", "{:#}", d["verdict"]);
    let f = finding(&d, "selector-match");
    assert_eq!(f["evidence"]["patchProposed"], false);
    assert!(
        f["remediation"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r.as_str().unwrap().contains("kubectl patch")),
        "{:#}",
        f["remediation"]
    );
    assert!(f["detail"].as_str().unwrap().contains("No patch is proposed"), "{}", f["detail"]);
}

#[test]
fn alarm_mid_rollout_is_transient_not_all_healthy() {
    // GIVEN one target registering and one draining, every pod ready
    let s = stack();
    let seed = s.seed("rollout-transient");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN nothing is a problem, the summary does not say all healthy, and it says transient
    assert_eq!(code, 0, "{:#}", d["verdict"]);
    assert_eq!(d["verdict"]["status"], "healthy");
    let transient = d["verdict"]["transient"].as_str().expect("verdict.transient");
    assert!(
        transient.contains("1 registering") && transient.contains("1 draining"),
        "{transient}"
    );
    assert!(!d["verdict"]["summary"].as_str().unwrap().starts_with("All 2 targets healthy"));
}

#[test]
fn target_on_a_node_karpenter_removes_is_transient_with_no_fix() {
    // GIVEN node B tainted karpenter.sh/disrupted, its instance target timing out
    let s = stack();
    let seed = s.seed("node-leaving");
    let node = seed["nodes"][1].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN no root cause is named, the transient field says why and by when, nothing to paste
    assert_eq!(d["verdict"]["rootCause"], serde_json::Value::Null, "{:#}", d["verdict"]);
    assert_eq!(d["verdict"]["status"], "inconclusive");
    let why = d["verdict"]["transient"].as_str().expect("verdict.transient");
    assert!(why.contains(&format!("node {node} is being disrupted by Karpenter")), "{why}");
    assert!(why.contains("deregistration delay"), "{why}");
    let fixes = fixes(&d);
    assert!(
        fixes.iter().all(|f| !f.contains("delete node") && !f.contains("uncordon")),
        "{fixes:?}"
    );
}

#[test]
fn target_of_a_pod_replaced_mid_rollout_is_transient_not_a_stale_endpoint() {
    // GIVEN deployment/web at revision 2, 1 of 2 updated, and a target whose pod is gone
    let s = stack();
    let seed = s.seed("rollout-replaced");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN transient, naming the rollout; no deregistration or endpoint fix is the root cause
    assert_eq!(d["verdict"]["rootCause"], serde_json::Value::Null, "{:#}", d["verdict"]);
    let why = d["verdict"]["transient"].as_str().expect("verdict.transient");
    assert!(
        why.contains("replaced by the rollout (deployment/web revision 2: 1 of 2 updated"),
        "{why}"
    );
}

#[test]
fn workload_that_cannot_create_pods_is_named_with_the_quota_event() {
    // GIVEN a ReplicaSet refused by a quota (FailedCreate) and no pods at all
    let s = stack();
    let seed = s.seed("workload-absent");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the finding quotes the event and points at the ReplicaSet; no selector patch
    assert_eq!(d["verdict"]["rootCause"], "selector-match", "{:#}", d["verdict"]);
    let f = finding(&d, "selector-match");
    assert!(f["detail"].as_str().unwrap().contains("exceeded quota: compute"), "{}", f["detail"]);
    assert_eq!(
        f["remediation"][0],
        format!("kubectl describe replicaset {} -n {ns}", seed["replicaSet"].as_str().unwrap())
    );
    assert!(f["remediation"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r.as_str().unwrap().contains("kubectl patch")));
}

#[test]
fn with_two_faults_the_one_explaining_more_wins_and_the_other_is_contributing() {
    // GIVEN Local policy with the only pod on node A of three (B, C fail by design) and node A's
    // instance stopped (A: InvalidState)
    let s = stack();
    let seed = s.seed("mixed-faults");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN traffic-policy (two targets) is the root cause and nodes (the third) is contributing
    assert_eq!(d["verdict"]["rootCause"], "traffic-policy", "{:#}", d["verdict"]);
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(summary.contains("(contributing: nodes)"), "{summary}");
    assert_eq!(finding(&d, "nodes")["status"], "fail");
}

#[test]
fn crash_looping_pods_are_pod_status_with_the_logs_command() {
    // GIVEN two crash-looping pods behind ip targets that time out
    let s = stack();
    let seed = s.seed("pod-status");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN pod-status wins over the (consequential) endpoints failure by causal order
    assert_eq!(d["verdict"]["rootCause"], "pod-status", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "pod-status", "endpoints"]);
    let f = finding(&d, "pod-status");
    let pods = f["evidence"]["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    assert!(pods[0]["problems"][0].as_str().unwrap().contains("CrashLoopBackOff"), "{pods:?}");
    assert_eq!(pods[0]["restarts"], 12);
    assert!(
        f["detail"].as_str().unwrap().contains("Back-off restarting failed container"),
        "events are read: {}",
        f["detail"]
    );
    assert_eq!(
        f["remediation"][0],
        format!("kubectl logs {} -n {ns} --previous", seed["pods"][0].as_str().unwrap())
    );
    // the ip targets are the pods
    assert_eq!(d["targets"][0]["pod"], format!("{ns}/{}", seed["pods"][0].as_str().unwrap()));
}

#[test]
fn stale_ip_target_is_endpoints_naming_the_stale_ip() {
    // GIVEN two ready pods and a third registered IP that is no pod any more
    let s = stack();
    let seed = s.seed("stale-endpoints");
    let stale = seed["targets"][2].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN endpoints is the root cause and names exactly the stale target
    assert_eq!(d["verdict"]["rootCause"], "endpoints", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "endpoints"]);
    assert_eq!(finding(&d, "endpoints")["evidence"]["staleTargets"], json!([stale]));
    assert_eq!(finding(&d, "pod-status")["status"], "pass");
}

#[test]
fn unresolvable_named_target_port_is_target_port() {
    // GIVEN targetPort "web" while the pods name their port "http" (so the controller makes no endpoints)
    let s = stack();
    let seed = s.seed("named-port");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN target-port is the root cause; endpoints fails but points at it
    assert_eq!(d["verdict"]["rootCause"], "target-port", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "endpoints", "target-port"]);
    let f = finding(&d, "target-port");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("targetPort web, which 2 of 2 pods do not declare (they declare http:80"),
        "{}",
        f["detail"]
    );
    assert!(
        f["remediation"][0]
            .as_str()
            .unwrap()
            .contains(r#""path":"/spec/ports/0/targetPort","value":"http""#),
        "{}",
        f["remediation"][0]
    );
    assert!(finding(&d, "endpoints")["detail"].as_str().unwrap().contains("see target-port"));
}

#[test]
fn target_group_tagged_for_a_deleted_service_is_service_mapping() {
    // GIVEN no binding, and controller tags naming Service checkout, which does not exist
    let s = stack();
    let seed = s.seed("missing-service");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN service-mapping is the root cause: mapped by tags, the Service is gone
    assert_eq!(d["verdict"]["rootCause"], "service-mapping", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "service-mapping"]);
    assert_eq!(d["service"]["resolvedBy"], "tags");
    let f = finding(&d, "service-mapping");
    assert_eq!(f["title"], format!("Service {ns}/checkout does not exist"));
    assert_eq!(f["evidence"]["attempts"][0]["method"], "target-group-binding");
    assert_eq!(finding(&d, "pod-status")["status"], "skipped");
}

#[test]
fn elb_internal_error_is_target_health() {
    // GIVEN a healthy cluster and network, one target reporting Elb.InternalError
    let s = stack();
    let seed = s.seed("elb-internal-error");
    let target = seed["instances"][1].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN only target-health fails, explaining it by its reason code
    assert_eq!(d["verdict"]["rootCause"], "target-health", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health"]);
    let reasons = &finding(&d, "target-health")["evidence"]["reasons"];
    assert_eq!(reasons[0]["reason"], "Elb.InternalError");
    assert_eq!(reasons[0]["targets"], json!([target]));
    assert!(
        d["verdict"]["summary"].as_str().unwrap().contains("contact AWS Support"),
        "{}",
        d["verdict"]["summary"]
    );
}

/// The mapping order (ARCHITECTURE.md): a target group without binding or controller tags still finds its Service.
#[test]
fn every_mapping_method_finds_the_service() {
    let s = stack();
    for (scenario, method, name, cluster_from_tags) in [
        ("by-node-port", "node-port", "alb-instance", false),
        ("by-legacy-tags", "legacy-tags", "alb-instance", true),
        ("by-endpoint-ips", "endpoint-ips", "web", false),
    ] {
        // GIVEN a target group that only the data (or the legacy tags) tie to its Service
        let seed = s.seed(scenario);
        // WHEN diagnosed
        let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
        // THEN the Service is found, and says how
        assert_eq!(
            d["service"]["resolvedBy"],
            method,
            "{scenario}: {:#}",
            finding(&d, "service-mapping")
        );
        assert_eq!(d["service"]["namespace"], seed["namespace"]);
        assert_eq!(d["service"]["name"], name);
        assert_eq!(
            (code, d["verdict"]["status"].as_str()),
            (0, Some("healthy")),
            "{scenario}: {:#}",
            d["verdict"]
        );
        // the legacy provider's cluster tag names the cluster; otherwise nothing does
        assert_eq!(d["cluster"] == "demo", cluster_from_tags, "{scenario}: cluster {}", d["cluster"]);
    }
}
