//! Configuration and controller checks on the local stack: for each, a scenario in which it is
//! the root cause; and the opt-in kube-proxy remediation.

use serde_json::json;

use crate::harness::{failing, finding, stack};

#[test]
fn ingress_health_check_path_answering_404_is_ingress_annotations() {
    // GIVEN an Ingress asking healthcheck-path /healthz (404) while the pods are ready on /ready
    let s = stack();
    let seed = s.seed("ingress-404");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the annotation is the root cause, with the annotate command; health-check-config defers
    assert_eq!(d["verdict"]["rootCause"], "ingress-annotations", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "ingress-annotations"]);
    let f = finding(&d, "ingress-annotations");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("the health check asks /healthz (it answers 404), while the pods' readinessProbe uses /ready"),
        "{}",
        f["detail"]
    );
    assert_eq!(
        f["remediation"],
        json!([format!(
            "kubectl annotate ingress front -n {ns} alb.ingress.kubernetes.io/healthcheck-path=/ready --overwrite"
        )])
    );
    assert_eq!(finding(&d, "health-check-config")["status"], "warn");
}

#[test]
fn default_path_answering_404_is_health_check_config() {
    let s = stack();
    let seed = s.seed("readiness-path");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "health-check-config"]);
    let f = finding(&d, "health-check-config");
    assert_eq!(
        f["remediation"][0],
        format!(
            "aws elbv2 modify-target-group --target-group-arn {} --health-check-path /healthz",
            seed["targetGroupArn"].as_str().unwrap()
        )
    );
}

#[test]
fn nlb_health_check_port_nothing_listens_on_is_service_annotations() {
    let s = stack();
    let seed = s.seed("nlb-hc-port");
    let ns = seed["namespace"].as_str().unwrap();
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "service-annotations", "{:#}", d["verdict"]);
    // target-port sees the same port but leaves it to the annotation check
    assert_eq!(failing(&d), ["target-health", "target-port", "service-annotations"]);
    assert!(finding(&d, "target-port")["detail"]
        .as_str()
        .unwrap()
        .contains("set by an annotation"));
    assert_eq!(
        finding(&d, "service-annotations")["remediation"],
        json!([format!(
            "kubectl annotate service web -n {ns} service.beta.kubernetes.io/aws-load-balancer-healthcheck-port=traffic-port --overwrite"
        )])
    );
    assert_eq!(finding(&d, "ingress-annotations")["status"], "skipped");
}

#[test]
fn controller_without_pod_identity_credentials_is_lb_controller_pointing_at_the_association() {
    // GIVEN the controller's event: Pod Identity gave it no credentials; nothing registered
    let s = stack();
    let seed = s.seed("controller-pod-identity");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN lb-controller, with the Pod Identity association of this cluster as the fix, no IRSA advice
    assert_eq!(d["verdict"]["rootCause"], "lb-controller", "{:#}", d["verdict"]);
    let f = finding(&d, "lb-controller");
    let fix = f["remediation"][0].as_str().unwrap();
    assert!(
        fix.contains(&format!(
            "aws eks list-pod-identity-associations --cluster-name {} ",
            seed["cluster"].as_str().unwrap()
        )),
        "{fix}"
    );
    assert!(!fix.contains("eks.amazonaws.com/role-arn"), "{fix}");
}

#[test]
fn controller_denied_register_targets_is_lb_controller() {
    // GIVEN the controller's events: AccessDenied on RegisterTargets; no target registered; no logs (no kubelet)
    let s = stack();
    let seed = s.seed("controller-denied");
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(code, 1);
    assert_eq!(d["verdict"]["rootCause"], "lb-controller", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "lb-controller"]);
    let f = finding(&d, "lb-controller");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .starts_with("The controller's IAM role eks-lbc-role is not allowed elasticloadbalancing:RegisterTargets."),
        "{}",
        f["detail"]
    );
    assert!(
        f["detail"].as_str().unwrap().contains("Logs were unavailable"),
        "no kubelet: {}",
        f["detail"]
    );
    assert_eq!(f["evidence"]["logsAvailable"], false);
    assert_eq!(finding(&d, "target-health")["title"], "No targets registered");
}

#[test]
fn pods_held_by_their_readiness_gate_are_readiness_gates() {
    let s = stack();
    let seed = s.seed("gate-timeout");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(d["verdict"]["rootCause"], "readiness-gates", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "endpoints", "readiness-gates"]);
    assert_eq!(finding(&d, "pod-status")["status"], "warn");
    let gates = finding(&d, "readiness-gates")["evidence"]["gates"].as_array().unwrap().clone();
    assert_eq!(gates.len(), 2);
    assert!(
        gates.iter().all(|g| g["reason"] == "Target.Timeout" && g["status"] == "False"),
        "{gates:?}"
    );
}

#[test]
fn kube_proxy_down_on_the_unhealthy_node_is_kube_proxy_and_remediation_is_opt_in() {
    // GIVEN kube-proxy crash-looping on node B, whose target times out
    let s = stack();
    let seed = s.seed("kube-proxy-down");
    let tg = seed["targetGroupArn"].as_str().unwrap();
    let restarted_at = || -> serde_json::Value {
        let out = std::process::Command::new("python3")
            .arg(crate::harness::repo().join("scripts/stack/kubectl.py"))
            .args(["get", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"])
            .envs(&s.env)
            .output()
            .unwrap();
        let ds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ds["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].clone()
    };
    // The DaemonSet is shared by every scenario: start from a restart long ago, past the cooldown.
    let long_ago = r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2020-01-01T00:00:00Z"}}}}}"#;
    let set_long_ago = || {
        let out = std::process::Command::new("python3")
            .arg(crate::harness::repo().join("scripts/stack/kubectl.py"))
            .args(["patch", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy", long_ago])
            .envs(&s.env)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    set_long_ago();
    let before = restarted_at();
    // WHEN diagnosed without --remediate, even with REMEDIATE in the shell's environment
    let mut env_cli = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"));
    let out = env_cli
        .args(["diagnose", "--target-group-arn", tg, "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&s.env)
        .env("REMEDIATE", "kube-proxy")
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        finding(&d, "kube-proxy")["evidence"].get("remediation").is_none(),
        "the CLI never takes REMEDIATE from the environment"
    );
    assert_eq!(restarted_at(), before);
    let (d, _) = s.diagnose(tg);
    // THEN kube-proxy is the root cause, the command is printed, nothing changes
    assert_eq!(d["verdict"]["rootCause"], "kube-proxy", "{:#}", d["verdict"]);
    assert_eq!(failing(&d), ["target-health", "kube-proxy"]);
    assert_eq!(
        finding(&d, "kube-proxy")["remediation"][0],
        "kubectl rollout restart daemonset/kube-proxy -n kube-system"
    );
    assert!(finding(&d, "kube-proxy")["evidence"].get("remediation").is_none());
    assert_eq!(restarted_at(), before);
    // WHEN a dry run is asked THEN the API server validates the patch and nothing changes
    let out = s.cli(&[
        "diagnose",
        "--target-group-arn",
        tg,
        "--output",
        "json",
        "--remediate",
        "kube-proxy",
        "--dry-run",
    ]);
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(finding(&d, "kube-proxy")["evidence"]["remediation"]["dryRun"], true);
    assert_eq!(
        finding(&d, "kube-proxy")["evidence"]["remediation"]["ok"],
        true,
        "{:#}",
        finding(&d, "kube-proxy")
    );
    assert_eq!(restarted_at(), before);
    // WHEN remediation is enabled THEN the pod template is stamped, as `kubectl rollout restart` does
    let remediate = || -> serde_json::Value {
        let out = s.cli(&[
            "diagnose",
            "--target-group-arn",
            tg,
            "--output",
            "json",
            "--remediate",
            "kube-proxy",
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let d = remediate();
    let stamped = restarted_at();
    assert!(stamped.is_string() && stamped != before, "{stamped}");
    assert_eq!(finding(&d, "kube-proxy")["evidence"]["remediation"]["result"], stamped);
    assert!(finding(&d, "kube-proxy")["detail"]
        .as_str()
        .unwrap()
        .contains("Remediated: daemonset kube-system/kube-proxy restarted"));
    // AND asked again right away, the cooldown refuses it and says why
    let d = remediate();
    assert!(
        finding(&d, "kube-proxy")["evidence"]["remediation"]["skipped"]
            .as_str()
            .is_some_and(|w| w.contains("less than 15 minutes ago")),
        "{:#}",
        finding(&d, "kube-proxy")
    );
    assert_eq!(restarted_at(), stamped);
    // AND with the check passing (a healthy group), --remediate does nothing
    let healthy = s.seed("healthy");
    let out = s.cli(&[
        "diagnose",
        "--target-group-arn",
        healthy["targetGroupArn"].as_str().unwrap(),
        "--output",
        "json",
        "--remediate",
        "kube-proxy",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(restarted_at(), stamped);
    // AND with the delivery ledger, one alarm transition is remediated once: the same event
    // again (Lambda's retry) does not restart kube-proxy, even past the cooldown
    let table = crate::publish::helper(s, &["table", &crate::harness::unique_namespace("remediation")]);
    let event = crate::publish::alarm_for(tg);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alarm.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let by_alarm = || -> serde_json::Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
            .args([
                "diagnose",
                "--event",
                path.to_str().unwrap(),
                "--output",
                "json",
                "--remediate",
                "kube-proxy",
            ])
            .envs(&s.env)
            .env("DELIVERY_TABLE", table["table"].as_str().unwrap())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    set_long_ago();
    let first = by_alarm();
    assert_eq!(
        finding(&first, "kube-proxy")["evidence"]["remediation"]["ok"],
        true,
        "{:#}",
        finding(&first, "kube-proxy")
    );
    assert_ne!(restarted_at(), before);
    set_long_ago();
    let again = by_alarm();
    let skipped = finding(&again, "kube-proxy")["evidence"]["remediation"]["skipped"].clone();
    assert!(
        skipped
            .as_str()
            .is_some_and(|w| w.contains("already ran for this alarm transition")),
        "{skipped}"
    );
    assert_eq!(restarted_at(), before, "not restarted a second time");
}
