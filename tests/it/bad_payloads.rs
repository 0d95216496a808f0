//! Malformed or unexpected payloads through `diagnose --event`: exit 2 and a message that says
//! what was expected; nothing is collected (these run without the stack).

use std::process::Command;

use serde_json::{json, Value};

fn run_event(payload: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, payload).unwrap();
    // No AWS endpoint or credentials at all: a bad payload must fail before any call.
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose", "--event", path.to_str().unwrap()])
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(crate::harness::repo().join("events").join(name)).unwrap()).unwrap()
}

fn with(mut v: Value, pointer: &str, value: Value) -> String {
    *v.pointer_mut(pointer).unwrap() = value;
    v.to_string()
}

#[test]
fn malformed_payloads_exit_2_saying_what_was_expected() {
    let alarm = sample("alarm-state-change.json");
    let sns = sample("sns-alarm.json");
    let metric = "/detail/configuration/metrics/0/metricStat/metric";
    let cases: Vec<(String, &str)> = vec![
        (r#"{"targetGroupArn": "arn:aws:elasticloa"#.into(), "not valid JSON"),
        ("".into(), "not valid JSON"),
        ("null".into(), "not an object"),
        ("[1,2]".into(), "not an object"),
        ("{}".into(), "expected an EventBridge"),
        (
            json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2"}).to_string(),
            "unsupported EventBridge detail-type",
        ),
        (json!({"targetGroupArn": ["arn"]}).to_string(), "must be a string, got a array"),
        (
            json!({"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/x/1"}).to_string(),
            "not a target group ARN",
        ),
        (
            json!({"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/ok/xyz"}).to_string(),
            "not hexadecimal",
        ),
        (
            json!({"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/ok/0a", "publish": 1}).to_string(),
            "\"publish\" must be true or false",
        ),
        (with(alarm.clone(), "/source", json!("aws.events")), "expected \"aws.cloudwatch\""),
        (
            with(alarm.clone(), "/account", json!(111122223333u64)),
            "\"account\" must be a string",
        ),
        (
            with(alarm.clone(), "/detail/state", json!("ALARM")),
            "detail.state.value is missing",
        ),
        (
            with(alarm.clone(), "/detail/state/value", json!("alarm")),
            "expected ALARM, OK or INSUFFICIENT_DATA",
        ),
        (
            with(alarm.clone(), "/detail/configuration/metrics", json!("m1")),
            "configuration.metrics is missing",
        ),
        (
            with(alarm.clone(), &format!("{metric}/dimensions"), json!({})),
            "no TargetGroup dimension",
        ),
        (
            with(alarm.clone(), &format!("{metric}/name"), json!("HTTPCode_Target_5XX_Count")),
            "only target group health alarms",
        ),
        (
            with(alarm.clone(), &format!("{metric}/namespace"), json!("AWS/EC2")),
            "only target group health alarms",
        ),
        (
            with(
                alarm.clone(),
                &format!("{metric}/dimensions/TargetGroup"),
                json!("app/k8s-default-albinsta/0a1b"),
            ),
            "is not a target group",
        ),
        (
            with(alarm.clone(), &format!("{metric}/dimensions/TargetGroup"), json!(7)),
            "expected a string like \"targetgroup/NAME/ID\"",
        ),
        (with(sns.clone(), "/Records", json!({})), "non-empty array"),
        (
            with(sns.clone(), "/Records/0/Sns/Message", json!("{\"AlarmName\": ")),
            "Message is not JSON",
        ),
        (
            with(sns.clone(), "/Records/0/Sns/Message", json!({"AlarmName": "x"})),
            "Sns.Message is a object; expected the CloudWatch alarm notification as a JSON string",
        ),
        (
            with(
                sns,
                "/Records/0/Sns/Message",
                json!(
                    r#"{"AlarmName":"a","AlarmArn":"arn:aws:cloudwatch:us-east-1:111122223333:alarm:a","NewStateValue":"ALARM","Trigger":{"MetricName":"CPUUtilization","Namespace":"AWS/EC2","Dimensions":[{"name":"InstanceId","value":"i-1"}]}}"#
                ),
            ),
            "only target group health alarms",
        ),
    ];
    assert!(cases.len() >= 20);
    for (payload, expected) in &cases {
        let (code, stdout, stderr) = run_event(payload);
        assert_eq!(code, 2, "payload {payload}: stdout {stdout} stderr {stderr}");
        assert!(
            stderr.contains(expected),
            "payload {payload}\n stderr: {stderr}\n expected to contain {expected:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty(), "nothing on stdout for bad input: {stdout}");
    }
}

#[test]
fn unreadable_event_file_exits_2_naming_the_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose", "--event", "/nonexistent/event.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/event.json"));
}

#[test]
fn ok_alarm_is_acknowledged_with_exit_0() {
    let path = crate::harness::repo().join("events/alarm-ok.json");
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose", "--event", path.to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Alarm alb-instance-unhealthy-hosts is OK: nothing to diagnose.\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose", "--target-group-arn", "x", "--output", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn checks_lists_the_whole_catalogue() {
    let out = Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor")).arg("checks").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "target-health",
        "service-mapping",
        "pod-status",
        "selector-match",
        "endpoints",
        "target-port",
        "traffic-policy",
        "security-groups",
        "network-acls",
        "route-tables",
        "availability-zones",
        "health-check-config",
        "health-probe",
        "ingress-annotations",
        "service-annotations",
        "lb-controller",
        "readiness-gates",
        "kube-proxy",
        "nodes",
    ] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{id} "))), "{id} missing from:\n{text}");
    }
}
