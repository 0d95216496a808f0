//! The Lambda handler driven directly with the sample events (retargeted at seeded target
//! groups), with clients pointed at the stack explicitly.

use eks_lb_doctor::collect::KubeAccess;
use eks_lb_doctor::handler::Handler;
use eks_lb_doctor::Config;
use serde_json::{json, Value};

use crate::harness::{finding, repo, stack, Stack};

async fn handler(s: &Stack, kubeconfig: Option<&str>) -> Handler {
    let sdk = crate::harness::stack_sdk(s).await;
    let kubeconfig = kubeconfig.map(String::from).unwrap_or_else(|| s.env["KUBECONFIG"].clone());
    let kube = KubeAccess::from_kubeconfig(Some(std::path::Path::new(&kubeconfig))).await;
    Handler::with_clients(sdk, Some(kube), Config::default())
}

/// The sample alarm event, pointed at a seeded target group.
pub fn alarm_for(tg_arns: &[&str]) -> Value {
    let mut ev: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-metric-math.json")).unwrap()).unwrap();
    ev["account"] = json!("123456789012");
    let metrics = ev["detail"]["configuration"]["metrics"].as_array_mut().unwrap();
    // One metric per target group: the sample's last, repeated as needed, each with its own id.
    while metrics.len() < 1 + tg_arns.len() {
        let mut m = metrics.last().unwrap().clone();
        m["id"] = json!(format!("m{}", metrics.len()));
        metrics.push(m);
    }
    metrics.truncate(1 + tg_arns.len());
    for (m, arn) in metrics.iter_mut().skip(1).zip(tg_arns) {
        m["metricStat"]["metric"]["dimensions"]["TargetGroup"] = json!(arn.rsplit(':').next().unwrap());
    }
    ev
}

#[tokio::test]
async fn alarm_event_returns_the_diagnosis_of_its_target_group() {
    // GIVEN the article scenario and an EventBridge alarm for its target group
    let s = stack();
    let seed = s.seed("article");
    let event = alarm_for(&[seed["targetGroupArn"].as_str().unwrap()]);
    // WHEN the handler receives it
    let d = handler(s, None).await.handle(&event).await.expect("a diagnosis");
    // THEN the response is the diagnosis JSON
    assert_eq!(d["schemaVersion"], 1);
    assert_eq!(d["targetGroup"]["arn"], seed["targetGroupArn"]);
    assert_eq!(d["verdict"]["rootCause"], "selector-match");
}

#[tokio::test]
async fn manual_payload_returns_the_diagnosis() {
    let s = stack();
    let seed = s.seed("healthy");
    let d = handler(s, None)
        .await
        .handle(&json!({"targetGroupArn": seed["targetGroupArn"], "cluster": "demo"}))
        .await
        .unwrap();
    assert_eq!(d["verdict"]["status"], "healthy");
    assert_eq!(d["cluster"], "demo");
}

#[test]
fn alarm_over_two_target_groups_reports_each_and_the_one_that_failed() {
    crate::harness::on_main_sized_stack(alarm_over_two_target_groups)
}

async fn alarm_over_two_target_groups() {
    // GIVEN a metric-math alarm over a seeded target group and one that does not exist
    let s = stack();
    let seed = s.seed("article");
    let missing = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/00000000deadbeef";
    let event = alarm_for(&[seed["targetGroupArn"].as_str().unwrap(), missing]);
    // WHEN handled
    let out = handler(s, None).await.handle(&event).await.unwrap();
    // THEN one diagnosis and one named error, nothing dropped
    assert_eq!(out["diagnoses"].as_array().unwrap().len(), 1);
    assert_eq!(out["errors"][0]["targetGroupArn"], missing);
    assert!(out["errors"][0]["error"].as_str().unwrap().contains("not found"));
}

#[tokio::test]
async fn ok_alarm_is_acknowledged() {
    let s = stack();
    let event: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-ok.json")).unwrap()).unwrap();
    let out = handler(s, None).await.handle(&event).await.unwrap();
    assert_eq!(
        out,
        json!({"acknowledged": true, "alarm": "alb-instance-unhealthy-hosts", "state": "OK", "notified": false})
    );
}

#[tokio::test]
async fn bad_payload_is_a_non_retryable_error() {
    let s = stack();
    let err = handler(s, None).await.handle(&json!({"hello": "world"})).await.unwrap_err();
    let diag: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diag.error_type, "InvalidPayload");
    assert!(diag.error_message.contains("expected an EventBridge"));
}

#[tokio::test]
async fn unreachable_cluster_degrades_kubernetes_checks_to_unknown() {
    // GIVEN a kubeconfig whose API server does not answer (a closed loopback port)
    let s = stack();
    let seed = s.seed("article");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, r#"{"apiVersion":"v1","kind":"Config","current-context":"x","clusters":[{"name":"x","cluster":{"server":"https://127.0.0.1:1","insecure-skip-tls-verify":true}}],
        "users":[{"name":"x","user":{"token":"t"}}],"contexts":[{"name":"x","context":{"cluster":"x","user":"x"}}]}"#).unwrap();
    // WHEN diagnosed
    let d = handler(s, Some(kc.to_str().unwrap()))
        .await
        .handle(&json!({"targetGroupArn": seed["targetGroupArn"]}))
        .await
        .unwrap();
    // THEN the AWS side is reported, the Kubernetes side is unknown with the reason, no panic
    assert_eq!(finding(&d, "target-health")["status"], "fail");
    assert_eq!(finding(&d, "service-mapping")["status"], "unknown");
    assert!(
        finding(&d, "service-mapping")["detail"].as_str().unwrap().contains("127.0.0.1:1"),
        "{}",
        finding(&d, "service-mapping")["detail"]
    );
    assert_eq!(d["verdict"]["status"], "inconclusive");
}

/// The cluster is chosen once, in the documented order (request → tags → DEFAULT_CLUSTER), and
/// the diagnosis names the cluster that was actually read.
#[tokio::test]
async fn tagged_cluster_wins_over_default_cluster_for_reading_and_reporting() {
    // GIVEN a target group tagged elbv2.k8s.aws/cluster=demo, and DEFAULT_CLUSTER=other-cluster
    let s = stack();
    let seed = s.seed("healthy");
    let config = Config {
        default_cluster: Some("other-cluster".into()),
        ..Default::default()
    };
    // WHEN the Lambda diagnoses it through EKS (no kubeconfig)
    let h = Handler::with_clients(crate::harness::stack_sdk(s).await, None, config);
    let d = h.handle(&json!({"targetGroupArn": seed["targetGroupArn"]})).await.unwrap();
    // THEN it tried to reach demo (moto has no such EKS cluster) and reports demo, from the tag
    assert_eq!(d["cluster"], "demo", "{:#}", d["verdict"]);
    let mapping = finding(&d, "service-mapping");
    let detail = mapping["detail"].as_str().unwrap();
    assert!(detail.contains("cannot reach EKS cluster demo"), "{detail}");
    assert!(!detail.contains("other-cluster"), "{detail}");
    assert_eq!(mapping["evidence"]["clusterSource"], "tag elbv2.k8s.aws/cluster");

    // AND a cluster named in the request wins over both
    let d = h
        .handle(&json!({"targetGroupArn": seed["targetGroupArn"], "cluster": "named-one"}))
        .await
        .unwrap();
    assert_eq!(d["cluster"], "named-one");
    assert!(finding(&d, "service-mapping")["detail"]
        .as_str()
        .unwrap()
        .contains("cannot reach EKS cluster named-one"));
}

/// RBAC: a user with no permission gets `unknown` findings that name the missing permission and
/// how to grant it; a user holding exactly infra/rbac.yaml diagnoses everything.
#[tokio::test]
async fn rbac_restricted_user_gets_unknown_naming_the_permission_and_rbac_yaml_is_enough() {
    let s = stack();
    let seed = s.seed("article");
    let dir = std::path::Path::new(&s.env["KUBECONFIG"]).parent().unwrap().to_path_buf();
    // GIVEN a user without any RBAC permission
    let nobody = dir.join("kubeconfig-nobody");
    let d = handler(s, Some(nobody.to_str().unwrap()))
        .await
        .handle(&json!({"targetGroupArn": seed["targetGroupArn"]}))
        .await
        .unwrap();
    // THEN the Kubernetes side is unknown, naming the verb and resource and how to grant them
    let f = finding(&d, "service-mapping");
    assert_eq!(f["status"], "unknown");
    let detail = f["detail"].as_str().unwrap();
    assert!(
        detail.contains("RBAC list targetgroupbindings.elbv2.k8s.aws") && detail.contains("Forbidden (403)"),
        "{detail}"
    );
    assert!(
        detail.contains("infra/rbac.yaml") && detail.contains("create-access-entry"),
        "{detail}"
    );
    assert_eq!(finding(&d, "target-health")["status"], "fail", "the AWS side still runs");
    // GIVEN a user in the group infra/rbac.yaml binds THEN the same diagnosis as the admin's
    let reader = dir.join("kubeconfig-reader");
    let d = handler(s, Some(reader.to_str().unwrap()))
        .await
        .handle(&json!({"targetGroupArn": seed["targetGroupArn"]}))
        .await
        .unwrap();
    assert_eq!(d["verdict"]["rootCause"], "selector-match");
    let unknown: Vec<&Value> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "unknown")
        .collect();
    assert!(unknown.is_empty(), "infra/rbac.yaml must cover every read: {unknown:#?}");
}

/// A cluster that never answers, and an invocation with little time left: the handler publishes
/// what it has, with the Kubernetes side unknown for the deadline, instead of timing out.
#[tokio::test]
async fn short_deadline_returns_a_partial_diagnosis() {
    // GIVEN an API server on loopback that accepts connections and never answers
    let s = stack();
    let seed = s.seed("article");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(64) {
            held.push(conn); // keep them open, silent
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, format!(r#"{{"apiVersion":"v1","kind":"Config","current-context":"x","clusters":[{{"name":"x","cluster":{{"server":"https://127.0.0.1:{port}","insecure-skip-tls-verify":true}}}}],
        "users":[{{"name":"x","user":{{"token":"t"}}}}],"contexts":[{{"name":"x","context":{{"cluster":"x","user":"x"}}}}]}}"#)).unwrap();
    // AND an SNS topic to publish to
    let q = crate::publish::helper(s, &["sns-queue", &crate::harness::unique_namespace("deadline")]);
    // WHEN handled with the deadline 5 s away (collection stops 3 s before it)
    let sdk = crate::harness::stack_sdk(s).await;
    let kube = KubeAccess::from_kubeconfig(Some(kc.as_path())).await;
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        ..Default::default()
    };
    let h = Handler::with_clients(sdk, Some(kube), config);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let d = h
        .handle_until(&json!({"targetGroupArn": seed["targetGroupArn"], "publish": true}), Some(deadline))
        .await
        .unwrap();
    // THEN the AWS side is there and the Kubernetes side says it ran out of time
    assert_eq!(finding(&d, "target-health")["status"], "fail");
    let mapping = finding(&d, "service-mapping");
    assert_eq!(mapping["status"], "unknown", "{mapping:#}");
    assert!(
        mapping["detail"]
            .as_str()
            .unwrap()
            .contains("not answered before the invocation's deadline"),
        "{}",
        mapping["detail"]
    );
    assert_eq!(d["verdict"]["status"], "inconclusive");
    // AND the partial diagnosis was published
    let got = crate::publish::helper(s, &["receive", q["queue"].as_str().unwrap()]);
    let published: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(published["verdict"]["status"], "inconclusive");
}

/// Organisations send alarms from many accounts: the role to read through is the template
/// filled with the alarm's account.
#[tokio::test]
async fn alarm_from_another_account_is_read_through_the_templated_role() {
    // GIVEN a healthy scenario whose AWS resources live in account 222233334444
    let s = stack();
    let seed = s.seed_in("healthy", Some("222233334444"));
    let tg = seed["targetGroupArn"].as_str().unwrap();
    assert!(tg.contains(":222233334444:"), "{tg}");
    let mut event = alarm_for(&[tg]);
    event["account"] = json!("222233334444");
    let sdk = crate::harness::stack_sdk(s).await;
    let kube = KubeAccess::from_kubeconfig(Some(std::path::Path::new(&s.env["KUBECONFIG"]))).await;
    // WHEN the function's own account is used THEN the target group is not there
    let own = Handler::with_clients(sdk.clone(), Some(kube.clone()), Config::default())
        .handle(&event)
        .await
        .unwrap_err();
    assert!(own.to_string().contains("not found"), "{own}");
    // WHEN the role template is configured THEN the role in 222233334444 is assumed and it diagnoses
    let config = Config {
        assume_role_arn_template: Some("arn:aws:iam::{account}:role/eks-lb-doctor".into()),
        assume_role_external_id: Some("ext-1".into()),
        ..Default::default()
    };
    let d = Handler::with_clients(sdk, Some(kube), config).handle(&event).await.unwrap();
    assert_eq!(d["targetGroup"]["arn"], tg);
    assert_eq!(d["verdict"]["status"], "healthy", "{:#}", d["verdict"]);
}

/// Runs the Lambda binary on `event` through the local Runtime API, with `env`; returns its
/// response and its log lines (what CloudWatch Logs would get).
fn invoke_binary(s: &Stack, event: &Value, env: &[(&str, &str)]) -> (std::process::Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/stack/lambda_invoke.py"))
        .arg(&path)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_eks-lb-doctor-lambda"))
        .envs(&s.env)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    (out, logs)
}

#[test]
fn lambda_logs_are_json_with_the_diagnosis_and_its_metrics_as_objects() {
    // GIVEN the article's alarm, and a Slack channel that no longer exists (404)
    let s = stack();
    let seed = s.seed("article");
    let hook = crate::publish::helper(
        s,
        &[
            "secret",
            &crate::harness::unique_namespace("gone"),
            "http://127.0.0.1:9/services/T/B/gone",
        ],
    );
    let event = alarm_for(&[seed["targetGroupArn"].as_str().unwrap()]);
    // WHEN the function handles it, with Lambda's JSON log format and level
    let (out, logs) = invoke_binary(
        s,
        &event,
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("SLACK_WEBHOOK_SECRET_ARN", hook["arn"].as_str().unwrap()),
        ],
    );
    assert!(!out.status.success(), "the unreachable channel fails the invocation");
    // THEN every line is a JSON object
    let lines: Vec<Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    // AND the first says a cold start, with the request id and a timestamp
    let start = lines.iter().find(|l| l["message"] == "invocation").expect("an invocation line");
    assert_eq!(start["cold_start"], true);
    assert!(start["timestamp"].is_string() && start["level"] == "INFO", "{start}");
    let request_id = start["request_id"].as_str().unwrap();
    // AND the diagnosis is one EMF line: metrics by root cause, status and cluster, and the
    // diagnosis as an object (not an escaped string), under the invocation's request id
    let emf = lines.iter().find(|l| l["message"] == "diagnosis").expect("the diagnosis line");
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "EksLbDoctor");
    assert_eq!(
        (emf["RootCause"].as_str(), emf["Status"].as_str(), emf["Cluster"].as_str()),
        (Some("selector-match"), Some("PROBLEM"), Some("demo"))
    );
    assert!(emf["CollectionDuration"].as_u64().is_some() && emf["Diagnoses"] == 1, "{emf}");
    assert_eq!(emf["diagnosis"]["verdict"]["rootCause"], "selector-match");
    assert_eq!(emf["requestId"], request_id);
    // AND the diagnosis links to this run's log stream, for every channel to show
    let link = emf["diagnosis"]["functionLogs"].as_str().unwrap_or_default();
    assert!(
        link.ends_with("#logsV2:log-groups/log-group/$252Faws$252Flambda$252Feks-lb-doctor/log-events/local"),
        "{link}"
    );
    // AND the failed channel is counted, without its URL in any line
    let failed = lines.iter().find(|l| l["PublishFailures"] == 1).expect("a publish-failure line");
    assert_eq!(failed["Channel"], "Slack");
    assert!(
        logs.iter().all(|l| !l.contains("/services/T/B/gone")),
        "the webhook URL never reaches a log line"
    );
}

#[test]
fn lambda_text_logs_still_carry_the_metrics_as_json() {
    // GIVEN the healthy scenario, and the Text log format at WARN
    let s = stack();
    let seed = s.seed("healthy");
    let event = json!({"targetGroupArn": seed["targetGroupArn"]});
    // WHEN the function handles it
    let (out, logs) = invoke_binary(s, &event, &[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    assert!(out.status.success());
    // THEN no INFO line is written, and the one metrics line is JSON (CloudWatch reads EMF from JSON lines in any format)
    assert!(logs.iter().all(|l| !l.contains(" INFO ")), "{logs:#?}");
    let emf: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "{logs:#?}");
    assert_eq!(emf[0]["Status"], "HEALTHY");
}
