//! Verdicts one can act on (#12): each scenario is seeded through the real APIs and asserts the
//! root cause, that the harmful fix is not printed, and the wording the engineer reads.

use crate::harness::{finding, fixes, stack};

#[test]
fn health_check_answered_503_is_the_application_not_the_path() {
    // GIVEN pods ready on /healthz, the target group checking "/" and getting 503
    let s = stack();
    let seed = s.seed("app-5xx");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the application reports itself unhealthy; its logs are the next step; no path change
    assert_eq!(d["verdict"]["rootCause"], "target-health", "{:#}", d["verdict"]);
    assert!(
        d["verdict"]["summary"].as_str().unwrap().contains("reports itself unhealthy"),
        "{:#}",
        d["verdict"]
    );
    let fixes = fixes(&d);
    assert!(fixes.iter().any(|f| f.starts_with("kubectl logs ")), "{fixes:?}");
    assert!(
        fixes
            .iter()
            .all(|f| !f.contains("--health-check-path") && !f.contains("healthcheck-path=")),
        "{fixes:?}"
    );
}

#[test]
fn proxy_protocol_rejected_by_the_app_is_fixed_in_the_app_never_by_a_tcp_check() {
    // GIVEN an NLB with proxy protocol v2 on and an HTTP health check the app answers 400
    let s = stack();
    let seed = s.seed("proxy-protocol");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN health-check-config names proxy protocol, the fix is in the application
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    let f = finding(&d, "health-check-config");
    assert!(f["detail"].as_str().unwrap().contains("proxy protocol v2 is on"), "{}", f["detail"]);
    assert!(f["remediation"][0]
        .as_str()
        .unwrap()
        .starts_with("Make the application accept PROXY protocol v2"));
    let fixes = fixes(&d);
    assert!(
        fixes
            .iter()
            .all(|f| !f.to_lowercase().contains("protocol tcp") && !f.contains("healthcheck-protocol=tcp")),
        "{fixes:?}"
    );
}

#[test]
fn sidecar_declaring_its_own_port_does_not_make_a_numeric_target_port_wrong() {
    // GIVEN targetPort 8080 with no declared containerPort, an istio-proxy sidecar declaring 15090
    let s = stack();
    let seed = s.seed("sidecar-ports");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN healthy: target-port does not fail
    assert_ne!(finding(&d, "target-port")["status"], "fail", "{:#}", finding(&d, "target-port"));
    assert_eq!((d["verdict"]["status"].as_str(), code), (Some("healthy"), 0), "{:#}", d["verdict"]);
}

#[test]
fn probe_of_a_management_port_is_never_proposed_for_the_traffic_port() {
    // GIVEN pods ready on /ready at port 9901, the target group checking "/" on 8080 (404)
    let s = stack();
    let seed = s.seed("management-probe");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the path is blamed without proposing /ready, which cannot answer on the traffic port
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    let f = finding(&d, "health-check-config");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("which the pods do not answer with a success code"),
        "{}",
        f["detail"]
    );
    let fixes = fixes(&d);
    assert!(fixes.iter().all(|f| !f.contains("/ready")), "{fixes:?}");
}

#[test]
fn two_bindings_on_one_target_group_are_both_reported() {
    // GIVEN web and web-canary both bound to the target group
    let s = stack();
    let seed = s.seed("two-bindings");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN service-mapping warns and names each binding
    let f = finding(&d, "service-mapping");
    assert_eq!(f["status"], "warn", "{f:#}");
    let bindings: Vec<&str> = f["evidence"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str())
        .collect();
    assert_eq!(bindings.len(), 2, "{bindings:?}");
    assert!(
        bindings.iter().any(|b| b.starts_with(&format!("{ns}/k8s-{ns}-web-canary"))),
        "{bindings:?}"
    );
}

#[test]
fn instance_of_another_cluster_in_a_bound_group_is_named_and_only_it_explained() {
    // GIVEN a running instance that is no node here, registered and timing out; tagged "blue"
    let s = stack();
    let seed = s.seed("other-cluster");
    let stranger = seed["stranger"].as_str().unwrap();
    // WHEN diagnosed for this cluster by name (as the CLI user names it)
    let out = s.cli(&[
        "diagnose",
        "--target-group-arn",
        seed["targetGroupArn"].as_str().unwrap(),
        "--cluster",
        seed["cluster"].as_str().unwrap(),
        "--output",
        "json",
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON diagnosis");
    // THEN service-mapping is the root cause for that instance alone, with read-only steps
    assert_eq!(d["verdict"]["rootCause"], "service-mapping", "{:#}", d["verdict"]);
    let f = finding(&d, "service-mapping");
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(stranger) && summary.contains("1 of 3 targets unhealthy"),
        "{summary}"
    );
    assert!(
        f["detail"].as_str().unwrap().contains("tagged for cluster \"blue\""),
        "{}",
        f["detail"]
    );
    let fixes = fixes(&d);
    assert!(
        fixes
            .iter()
            .all(|f| !f.contains("deregister-targets") && !f.contains("kubectl delete")),
        "{fixes:?}"
    );
}

#[test]
fn ingress_group_is_judged_by_the_ingress_the_target_group_was_built_from() {
    // GIVEN a-front (asks /ready) and b-front (asks /healthz, 404) in one group; the tags name b-front
    let s = stack();
    let seed = s.seed("ingress-group");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN ingress-annotations fixes b-front, and nothing touches a-front
    assert_eq!(d["verdict"]["rootCause"], "ingress-annotations", "{:#}", d["verdict"]);
    let f = finding(&d, "ingress-annotations");
    assert_eq!(
        f["remediation"][0],
        format!("kubectl annotate ingress b-front -n {ns} alb.ingress.kubernetes.io/healthcheck-path=/ready --overwrite"),
        "{f:#}"
    );
    assert!(fixes(&d).iter().all(|f| !f.contains("a-front")), "{:?}", fixes(&d));
}

#[test]
fn shared_target_group_is_judged_for_this_clusters_targets_alone() {
    // GIVEN a target group shared with another cluster (multiClusterTargetGroup): our two pods
    // crash-loop, the other cluster's two targets are healthy
    let s = stack();
    let seed = s.seed("multi-cluster");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is ours (pod-status), the symptom counts our targets only, and the
    // other cluster's addresses are named as theirs, not stale
    assert_eq!(d["verdict"]["rootCause"], "pod-status", "{:#}", d["verdict"]);
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("2 of 2 targets of this cluster unhealthy (2 more, 0 of them unhealthy"),
        "{summary}"
    );
    let endpoints = finding(&d, "endpoints").to_string();
    for theirs in seed["theirs"].as_array().unwrap() {
        assert!(!endpoints.contains(theirs.as_str().unwrap()), "{endpoints}");
    }
    assert!(!endpoints.contains("stale"), "{endpoints}");
    let mapping = finding(&d, "service-mapping");
    assert_eq!(mapping["status"], "pass", "{mapping:#}");
    assert!(
        mapping["detail"].as_str().unwrap().contains("shared with other clusters"),
        "{mapping:#}"
    );
}

#[test]
fn two_clusters_bound_without_the_flag_are_named_as_fighting_not_as_stale_targets() {
    // GIVEN a target group bound here and in cluster blue without multiClusterTargetGroup: two
    // of its ip targets are addresses of blue's instance (one draining, one timing out), while
    // our two pods are ready and healthy
    let s = stack();
    let seed = s.seed("two-clusters");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is the two bindings fighting over the group, naming blue's addresses
    // and instance, and the flag for a group shared on purpose
    assert_eq!(d["verdict"]["rootCause"], "service-mapping", "{:#}", d["verdict"]);
    let f = finding(&d, "service-mapping");
    let detail = f["detail"].as_str().unwrap();
    let theirs: Vec<&str> = seed["theirs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        detail.contains(&format!(
            "{} are registered in this target group as addresses of {}",
            theirs.join(", "),
            seed["blueInstance"].as_str().unwrap()
        )),
        "{detail}"
    );
    assert!(
        detail.contains("each controller deregisters what it does not own") && detail.contains("multiClusterTargetGroup: true"),
        "{detail}"
    );
    // AND the one unhealthy target (blue's timing-out address) is what it explains; endpoints
    // does not call blue's addresses stale
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("1 of 4 targets unhealthy; root cause service-mapping"),
        "{summary}"
    );
    let endpoints = finding(&d, "endpoints");
    assert_eq!(endpoints["status"], "pass", "{endpoints:#}");
    // AND no printed command changes a binding: which cluster should own the group is the user's call
    assert!(
        fixes(&d)
            .iter()
            .all(|x| !x.contains("kubectl patch") && !x.contains("kubectl edit")),
        "{:?}",
        fixes(&d)
    );
}

#[test]
fn rollout_that_moved_the_readiness_path_is_cited_by_the_verdict() {
    // GIVEN deployment/web's revision 2 moved readiness from /ready to /healthz, and the target
    // group still checks /ready, which now answers 404
    let s = stack();
    let seed = s.seed("rollout-readiness");
    // WHEN diagnosed
    let tg = seed["targetGroupArn"].as_str().unwrap();
    let (d, _) = s.diagnose(tg);
    // THEN the root cause is the health check, and the verdict says which change it follows
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("It follows a change: deployment/web revision 2, less than a minute before this run: readinessProbe.httpGet.path /ready → /healthz (container app)."),
        "{summary}"
    );
    // AND the change is in the diagnosis JSON and in the report's "Recent changes"
    let changes = d["recentChanges"].as_array().unwrap();
    assert_eq!(changes[0]["object"], "deployment/web revision 2");
    assert_eq!(changes[0]["touches"], serde_json::json!(["readinessProbe"]));
    let text = String::from_utf8_lossy(&s.cli(&["diagnose", "--target-group-arn", tg, "--output", "text"]).stdout).into_owned();
    assert!(text.contains("Recent changes\n  - deployment/web revision 2"), "{text}");
}

#[test]
fn rule_revoked_minutes_before_is_cited_from_cloudtrail() {
    // GIVEN node group B's group lost its rule from the ALB, and CloudTrail recorded alice's
    // RevokeSecurityGroupIngress on it 6 minutes ago
    let s = stack();
    let seed = s.seed("revoked-rule");
    let group = seed["group"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is the security group, and the verdict names the change, who and when
    assert_eq!(d["verdict"]["rootCause"], "security-groups", "{:#}", d["verdict"]);
    let summary = d["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "It follows a change: RevokeSecurityGroupIngress on {group} by alice, 6 minutes before this run"
        )),
        "{summary}"
    );
    assert!(d.get("awsChangesUnknown").is_none(), "{d:#}");
}

#[test]
fn cloudtrail_denied_says_which_permission_and_the_diagnosis_goes_on() {
    // GIVEN the article's scenario, and a role CloudTrail refuses LookupEvents for its target group
    let s = stack();
    let seed = s.seed("article");
    let tg = seed["targetGroupArn"].as_str().unwrap();
    crate::publish::helper(s, &["trail-deny", tg]);
    // WHEN diagnosed
    let (d, _) = s.diagnose(tg);
    // THEN the diagnosis is whole (the selector), and the recent changes say AWS's are unknown, and why
    assert_eq!(d["verdict"]["rootCause"], "selector-match", "{:#}", d["verdict"]);
    let why = d["awsChangesUnknown"].as_str().unwrap_or_default();
    assert!(
        why.contains("AccessDeniedException") && why.contains("allow cloudtrail:LookupEvents"),
        "{why}"
    );
    let text = String::from_utf8_lossy(&s.cli(&["diagnose", "--target-group-arn", tg, "--output", "text"]).stdout).into_owned();
    assert!(text.contains("(AWS changes unknown: cloudtrail:LookupEvents failed"), "{text}");
}

#[test]
fn auto_mode_ingress_is_diagnosed_without_a_controller_to_install_or_a_kube_proxy_to_restart() {
    // GIVEN an EKS Auto Mode Ingress (its IngressClass, its tags on the group) on Auto Mode
    // nodes, whose pods crash-loop
    let s = stack();
    let seed = s.seed("auto-mode-ingress");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is the pods; the controller is Auto Mode's (no helm install), and
    // kube-proxy is not looked for as a pod on Auto Mode nodes
    assert_eq!(d["verdict"]["rootCause"], "pod-status", "{:#}", d["verdict"]);
    let controller = finding(&d, "lb-controller");
    assert_eq!(controller["status"], "pass", "{controller:#}");
    assert!(controller["detail"].as_str().unwrap().contains("EKS Auto Mode"), "{controller:#}");
    let kube_proxy = finding(&d, "kube-proxy");
    assert_eq!(kube_proxy["status"], "skipped", "{kube_proxy:#}");
    assert_eq!(d["cluster"], "demo", "the cluster comes from the tag eks:eks-cluster-name");
    assert_eq!(finding(&d, "service-mapping")["status"], "pass");
    assert!(
        fixes(&d).iter().all(|f| !f.contains("helm") && !f.contains("kube-proxy")),
        "{:?}",
        fixes(&d)
    );
}

#[test]
fn auto_mode_binding_of_an_untagged_group_gets_the_tag_its_policy_requires() {
    // GIVEN a hand-made target group bound by an eks.amazonaws.com/v1 TargetGroupBinding, no tags
    let s = stack();
    let seed = s.seed("auto-mode-untagged");
    let tg = seed["targetGroupArn"].as_str().unwrap();
    // WHEN diagnosed for cluster demo
    let out = s.cli(&["diagnose", "--target-group-arn", tg, "--cluster", "demo", "--output", "json"]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // THEN the empty group is Auto Mode's to fill, and the fix is the cluster tag on the group
    assert_eq!(d["verdict"]["rootCause"], "lb-controller", "{:#}", d["verdict"]);
    let f = finding(&d, "lb-controller");
    assert!(f["detail"].as_str().unwrap().contains("no eks:eks-cluster-name tag"), "{f:#}");
    assert_eq!(
        f["remediation"][0],
        format!("aws elbv2 add-tags --resource-arns {tg} --tags Key=eks:eks-cluster-name,Value=demo")
    );
    assert_eq!(
        finding(&d, "service-mapping")["status"],
        "pass",
        "mapped through the Auto Mode binding"
    );
}

#[test]
fn auto_mode_nlb_service_maps_by_its_tags_and_names_the_pods() {
    // GIVEN an NLB Auto Mode made for a LoadBalancer Service (its tags), whose pods crash-loop
    let s = stack();
    let seed = s.seed("auto-mode-nlb");
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN mapped through Auto Mode's tags to the Service, the pods are the cause, and the
    // controller is AWS's
    assert_eq!(d["verdict"]["rootCause"], "pod-status", "{:#}", d["verdict"]);
    assert_eq!(d["service"]["resolvedBy"], "tags", "{:#}", d["service"]);
    assert_eq!(d["service"]["name"], "web");
    let controller = finding(&d, "lb-controller");
    assert_eq!(controller["status"], "pass", "{controller:#}");
    assert!(
        controller["detail"].as_str().unwrap().contains("service.eks.amazonaws.com/stack"),
        "{controller:#}"
    );
    assert!(fixes(&d).iter().all(|f| !f.contains("helm")), "{:?}", fixes(&d));
    // AND its annotations are read as Auto Mode reads them, not as the in-tree provider's
    let annotations = finding(&d, "service-annotations");
    assert_eq!(annotations["evidence"]["owner"], serde_json::Value::Null, "{annotations:#}");
    assert!(!annotations["title"].as_str().unwrap().contains("legacy"), "{annotations:#}");
}
