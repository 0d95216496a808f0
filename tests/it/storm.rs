//! An alarm storm through the local Lambda Runtime API: many alarms at once, each its own
//! function process (as Lambda scales out), every one diagnosed and published exactly once, at
//! the API cost of one diagnosis each.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{repo, stack, unique_namespace};
use crate::publish::helper;

/// Alarms fired at once. Each is a function process of its own on this 2-core machine.
const ALARMS: usize = 50;

#[test]
fn fifty_alarms_at_once_are_each_diagnosed_and_published_once() {
    // GIVEN the article's target group, an SNS topic read back through SQS, and 50 alarm events
    let s = stack();
    let seed = s.seed("article");
    let tg = seed["targetGroupArn"].as_str().unwrap();
    let q = helper(s, &["sns-queue", &unique_namespace("storm")]);
    let dir = tempfile::tempdir().unwrap();
    let mut event: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-state-change.json")).unwrap()).unwrap();
    event["account"] = json!("123456789012");
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["TargetGroup"] =
        json!(tg.rsplit(':').next().unwrap());
    let path = dir.path().join("alarm.json");
    std::fs::write(&path, event.to_string()).unwrap();
    // (their AWS calls counted apart from other tests' by the SDK app id in the user agent, their
    // Kubernetes requests by their own reader user in the API server's audit log)
    let app = unique_namespace("storm");
    let state = std::path::Path::new(&s.env["KUBECONFIG"]).parent().unwrap().to_path_buf();
    let audit = state.join("audit.log");
    let kube_before = requests_by(&audit, "storm", None);
    // WHEN they are all invoked at once, each through its own Runtime API and function process
    let children: Vec<_> = (0..ALARMS)
        .map(|_| {
            Command::new("python3")
                .arg(repo().join("scripts/stack/lambda_invoke.py"))
                .arg(&path)
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_eks-lb-doctor-lambda"))
                .envs(&s.env)
                .env("SNS_TOPIC_ARN", q["topic"].as_str().unwrap())
                .env("LAMBDA_TIMEOUT_S", "120")
                .env("AWS_SDK_UA_APP_ID", &app)
                .env("KUBECONFIG", state.join("kubeconfig-storm"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("lambda_invoke runs")
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    // THEN every invocation returned its diagnosis, with the same root cause
    for (i, out) in outputs.iter().enumerate() {
        assert!(out.status.success(), "invocation {i} failed");
        let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("invocation {i}: {e}"));
        assert_eq!(d["verdict"]["rootCause"], "selector-match", "invocation {i}");
    }
    // AND each published once: one Publish operation per alarm. A standard SNS topic has no
    // deduplication, so when a busy server answers an attempt after the SDK's attempt timeout,
    // the SDK's retry is a second message: the topic then holds one message per attempt taken.
    // (Operations are counted by the SDK's invocation id, which all attempts of one share.)
    let calls = helper(s, &["calls", &app]);
    let count = |k: &str| calls[k].as_u64().unwrap_or(0);
    let operations = |service: &str| count(&format!("{service}+operations"));
    assert_eq!(operations("sns"), ALARMS as u64, "one Publish per alarm: {calls}");
    let published = helper(s, &["count", q["queue"].as_str().unwrap()])["count"].as_u64().unwrap();
    assert!(
        (ALARMS as u64..=count("sns")).contains(&published),
        "{published} SNS messages for {ALARMS} alarms and {} Publish attempts",
        count("sns")
    );
    // AND the storm cost each alarm exactly the AWS operations one diagnosis costs alone
    // (BENCHMARKS.md: 7 ELB and 6 EC2 calls for this scenario) plus its SNS Publish; the SDK's
    // own retries of a busy server may add a few attempts, never a pile (at most half again)
    for (service, per_alarm) in [("elasticloadbalancing", 7), ("ec2", 6), ("sns", 1)] {
        let base = per_alarm * ALARMS as u64;
        assert_eq!(operations(service), base, "{service} operations for {ALARMS} alarms: {calls}");
        assert!(
            count(service) <= base * 3 / 2,
            "{service}: {} attempts for {base} operations: {calls}",
            count(service)
        );
    }
    // AND at most 4 CloudTrail lookups each (the target group, its load balancer, the nodes'
    // group, their subnets' ACL), two at a time: a lookup that failed on the busy server ends that
    // alarm's history with its reason named (the next pair is not sent), and nothing else is lost
    let unknown = outputs
        .iter()
        .filter(|o| serde_json::from_slice::<Value>(&o.stdout).unwrap()["awsChangesUnknown"].is_string())
        .count() as u64;
    let lookups = count("cloudtrail");
    let base = 4 * ALARMS as u64;
    assert!(
        (base - 2 * unknown..=base).contains(&lookups),
        "{lookups} CloudTrail lookups for {ALARMS} alarms, {unknown} of them without history: {calls}"
    );
    let services: Vec<_> = calls.as_object().unwrap().keys().filter(|k| !k.contains('+')).collect();
    assert_eq!(services.len(), 4, "no other service was called: {calls}");
    // AND the same for the API server: each alarm's handful of list and get requests (15 for
    // this scenario: BENCHMARKS.md's 14 and the list of EKS Auto Mode's bindings), none forbidden
    // with infra/rbac.yaml
    // The audit log is written just after each response: read it once it stops growing.
    let mut kube = 0;
    for _ in 0..20 {
        let now = requests_by(&audit, "storm", None).saturating_sub(kube_before);
        if now == kube && now > 0 {
            break;
        }
        kube = now;
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        (14 * ALARMS..=22 * ALARMS).contains(&kube),
        "{kube} Kubernetes requests for {ALARMS} alarms (15 each without retries)"
    );
    assert_eq!(requests_by(&audit, "storm", Some(403)), 0, "infra/rbac.yaml covers every read");
}

/// Requests `user` made (answered with `code`, if given), as the API server's audit log
/// recorded them (one line per request at ResponseComplete; the stack's policy omits the others).
fn requests_by(audit: &std::path::Path, user: &str, code: Option<u64>) -> usize {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["user"]["username"] == user && e["stage"] == "ResponseComplete")
        .filter(|e| code.is_none_or(|c| e["responseStatus"]["code"] == c))
        .count()
}
