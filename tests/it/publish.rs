//! Publishing on the local stack: SNS read back through SQS subscriptions (moto), Slack through
//! a local webhook receiver on 127.0.0.1, the webhook URL from Secrets Manager (moto).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use eks_lb_doctor::collect::KubeAccess;
use eks_lb_doctor::handler::Handler;
use eks_lb_doctor::Config;
use serde_json::{json, Value};

use crate::harness::{repo, stack, unique_namespace, Stack};

pub fn helper(s: &Stack, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(repo().join("scripts/stack/aws_helper.py"))
        .args(args)
        .envs(&s.env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The local webhook; its requests are read back after the test's invocation.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(plan: &str) -> Receiver {
        Receiver::start_as("slack", plan)
    }

    /// A receiver answering as `kind` (slack, teams, pagerduty) does.
    fn start_as(kind: &str, plan: &str) -> Receiver {
        let mut child = Command::new("python3")
            .arg(repo().join("scripts/stack/webhook_receiver.py"))
            .args(["--as", kind, plan])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("ready ").expect("ready PORT").parse().unwrap();
        Receiver { child, port }
    }

    /// Stops the receiver and returns what it received.
    fn received(mut self) -> Vec<Value> {
        drop(self.child.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// A Secrets Manager secret holding the receiver's webhook URL (as `SLACK_WEBHOOK_SECRET_ARN`).
fn slack_secret(s: &Stack, receiver: &Receiver) -> Option<String> {
    let url = format!("http://127.0.0.1:{}/services/T0/B0/secret", receiver.port);
    helper(s, &["secret", &unique_namespace("slack"), &url])["arn"]
        .as_str()
        .map(String::from)
}

async fn handler(s: &Stack, config: Config) -> Handler {
    let sdk = crate::harness::stack_sdk(s).await;
    let kube = KubeAccess::from_kubeconfig(Some(std::path::Path::new(&s.env["KUBECONFIG"]))).await;
    Handler::with_clients(sdk, Some(kube), config)
}

pub fn alarm_for(tg: &str) -> Value {
    let mut ev: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-state-change.json")).unwrap()).unwrap();
    ev["account"] = json!("123456789012");
    ev["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["TargetGroup"] =
        json!(tg.rsplit(':').next().unwrap());
    ev
}

#[tokio::test]
async fn alarm_publishes_to_sns_per_protocol_and_to_slack_after_a_429_and_a_500() {
    // GIVEN the article scenario, an SNS topic with two SQS subscriptions, and a Slack webhook
    // that first answers 429, then 500
    let s = stack();
    let seed = s.seed("article");
    let q = helper(s, &["sns-queue", &unique_namespace("diag")]);
    let receiver = Receiver::start("429,500,200");
    let secret = helper(
        s,
        &[
            "secret",
            &unique_namespace("slack"),
            &json!({"url": format!("http://127.0.0.1:{}/services/T0/B0/secret", receiver.port)}).to_string(),
        ],
    );
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        slack_webhook_secret_arn: secret["arn"].as_str().map(String::from),
        ..Default::default()
    };
    // WHEN the alarm event is handled
    let d = handler(s, config)
        .await
        .handle(&alarm_for(seed["targetGroupArn"].as_str().unwrap()))
        .await
        .expect("published");
    assert_eq!(d["verdict"]["rootCause"], "selector-match");
    // THEN the raw SQS subscriber got the diagnosis JSON with filterable attributes
    let raw = helper(s, &["receive", q["queue"].as_str().unwrap()]);
    let body: Value = serde_json::from_str(raw[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["verdict"]["rootCause"], "selector-match");
    assert_eq!(body["schemaVersion"], 1);
    assert_eq!(raw[0]["attributes"]["status"], "problem");
    assert_eq!(raw[0]["attributes"]["rootCause"], "selector-match");
    assert_eq!(raw[0]["attributes"]["namespace"], seed["namespace"]);
    assert_eq!(raw[0]["attributes"]["service"], "alb-instance");
    // AND the envelope names the verdict in its Subject
    let env = helper(s, &["receive", q["envelopeQueue"].as_str().unwrap()]);
    let envelope: Value = serde_json::from_str(env[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        envelope["Subject"],
        format!(
            "PROBLEM: selector-match on {}/alb-instance (demo)",
            seed["namespace"].as_str().unwrap()
        )
    );
    // AND Slack got the same Block Kit message three times: the 429, the 500, then the success
    let posts = receiver.received();
    assert_eq!(
        posts.iter().map(|p| p["status"].as_u64().unwrap()).collect::<Vec<_>>(),
        [429, 500, 200]
    );
    assert_eq!(posts[0]["body"], posts[2]["body"]);
    let blocks = posts[2]["body"]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().starts_with("PROBLEM"), "{}", blocks[0]);
    assert!(
        blocks.iter().any(|b| b["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("kubectl patch service alb-instance"))),
        "the fix is in a code block"
    );
    // AND the alarm is one click away, beside the target group
    let buttons: Vec<&str> = (blocks.iter())
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().iter())
        .filter_map(|e| e["url"].as_str())
        .collect();
    assert!(
        buttons
            .iter()
            .any(|u| u.contains("cloudwatch/home?region=us-east-1#alarmsV2:alarm/")),
        "{buttons:?}"
    );
}

#[tokio::test]
async fn slack_channel_not_found_fails_the_invocation_while_sns_still_publishes() {
    let s = stack();
    let seed = s.seed("article");
    let q = helper(s, &["sns-queue", &unique_namespace("diag")]);
    let receiver = Receiver::start("404:channel_not_found");
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        slack_webhook_secret_arn: slack_secret(s, &receiver),
        ..Default::default()
    };
    // WHEN handled
    let err = handler(s, config)
        .await
        .handle(&alarm_for(seed["targetGroupArn"].as_str().unwrap()))
        .await
        .unwrap_err();
    // THEN the invocation fails naming Slack's code (and never the URL), and SNS has the diagnosis
    let text = err.to_string();
    assert!(text.contains("channel_not_found"), "{text}");
    assert!(!text.contains("/services/T0/B0/secret"), "the webhook URL must not leak: {text}");
    let diag: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diag.error_type, "PublishFailed");
    let raw = helper(s, &["receive", q["queue"].as_str().unwrap()]);
    assert_eq!(raw.as_array().unwrap().len(), 1);
    assert_eq!(receiver.received().len(), 1, "4xx is not retried");
}

#[tokio::test]
async fn ok_alarm_sends_a_recovered_notice_when_asked() {
    let s = stack();
    let q = helper(s, &["sns-queue", &unique_namespace("ok")]);
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        notify_on_ok: true,
        ..Default::default()
    };
    let event: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-ok.json")).unwrap()).unwrap();
    let out = handler(s, config).await.handle(&event).await.unwrap();
    assert_eq!(out["notified"], true);
    let env = helper(s, &["receive", q["envelopeQueue"].as_str().unwrap()]);
    let envelope: Value = serde_json::from_str(env[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "RECOVERED: alb-instance-unhealthy-hosts");
}

#[tokio::test]
async fn pagerduty_and_teams_get_the_alarm_after_a_429_and_its_ok_resolves_the_same_alert() {
    // GIVEN the article scenario; a PagerDuty receiver and a Teams Workflows receiver that each
    // answer 429 first, then check the payload as the services document it; the routing key and
    // the Teams webhook URL in Secrets Manager
    let s = stack();
    let seed = s.seed("article");
    let pd = Receiver::start_as("pagerduty", "429");
    let teams = Receiver::start_as("teams", "429");
    let key = "R0UTINGKEY0123456789abcdefABCDEF";
    let pd_secret = helper(s, &["secret", &unique_namespace("pd"), &json!({"routing_key": key}).to_string()]);
    let teams_secret = helper(
        s,
        &[
            "secret",
            &unique_namespace("teams"),
            &format!("http://127.0.0.1:{}/workflows/hook", teams.port),
        ],
    );
    let config = Config {
        pagerduty_routing_key_secret_arn: pd_secret["arn"].as_str().map(String::from),
        pagerduty_events_url: Some(format!("http://127.0.0.1:{}/v2/enqueue", pd.port)),
        teams_webhook_secret_arn: teams_secret["arn"].as_str().map(String::from),
        notify_on_ok: true,
        ..Default::default()
    };
    let h = handler(s, config).await;
    // WHEN the alarm fires, then returns to OK
    let d = h
        .handle(&alarm_for(seed["targetGroupArn"].as_str().unwrap()))
        .await
        .expect("published");
    assert_eq!(d["verdict"]["rootCause"], "selector-match");
    let ok: Value = serde_json::from_slice(&std::fs::read(repo().join("events/alarm-ok.json")).unwrap()).unwrap();
    assert_eq!(h.handle(&ok).await.unwrap()["notified"], true);
    // THEN PagerDuty got the trigger twice (the 429, then accepted as valid), then the resolve
    let events = pd.received();
    let statuses: Vec<u64> = events.iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [429, 202, 202], "{events:#?}");
    let (trigger, resolve) = (&events[1]["body"], &events[2]["body"]);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], key);
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["custom_details"]["root_cause"], "selector-match");
    assert!(trigger["payload"]["custom_details"]["fix"][0]
        .as_str()
        .unwrap()
        .starts_with("kubectl patch service alb-instance"));
    // AND the resolve carries the trigger's key, so it closes the alert the trigger opened
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    // AND Teams got the Adaptive Card after its 429, with the fix, then the recovery
    let posts = teams.received();
    let statuses: Vec<u64> = posts.iter().map(|p| p["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [429, 202, 202], "{posts:#?}");
    let card = posts[1]["body"].to_string();
    assert!(
        card.contains("PROBLEM") && card.contains("kubectl patch service alb-instance"),
        "{card}"
    );
    assert!(posts[2]["body"].to_string().contains("RECOVERED"));
}

#[tokio::test]
async fn manual_payload_does_not_publish_unless_asked() {
    let s = stack();
    let seed = s.seed("healthy");
    let q = helper(s, &["sns-queue", &unique_namespace("manual")]);
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        ..Default::default()
    };
    let h = handler(s, config).await;
    h.handle(&json!({"targetGroupArn": seed["targetGroupArn"]})).await.unwrap();
    assert_eq!(helper(s, &["receive", q["queue"].as_str().unwrap()]).as_array().unwrap().len(), 0);
    h.handle(&json!({"targetGroupArn": seed["targetGroupArn"], "publish": true}))
        .await
        .unwrap();
    assert_eq!(helper(s, &["receive", q["queue"].as_str().unwrap()]).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn retried_alarm_after_a_slack_500_posts_to_sns_once_and_to_slack_once() {
    // GIVEN the delivery ledger's table, SNS, and a Slack webhook failing with 500 for every
    // attempt of the first invocation (four), then answering
    let s = stack();
    let seed = s.seed("article");
    let q = helper(s, &["sns-queue", &unique_namespace("ledger")]);
    let table = helper(s, &["table", &unique_namespace("deliveries")]);
    let table = table["table"].as_str().unwrap();
    let receiver = Receiver::start("500,500,500,500");
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        slack_webhook_secret_arn: slack_secret(s, &receiver),
        delivery_table: Some(table.to_string()),
        ..Default::default()
    };
    let h = handler(s, config).await;
    let alarm = alarm_for(seed["targetGroupArn"].as_str().unwrap());
    // WHEN the alarm event is handled, fails on Slack, and Lambda retries it twice
    let first = h.handle(&alarm).await.unwrap_err();
    assert_eq!(lambda_runtime::Diagnostic::from(first).error_type, "PublishFailed");
    h.handle(&alarm).await.expect("the retry delivers what failed");
    h.handle(&alarm).await.expect("a further retry has nothing left to deliver");
    // THEN SNS got the diagnosis once, Slack answered 200 once, and the ledger says both went out
    let sns = helper(s, &["count", q["queue"].as_str().unwrap()]);
    assert_eq!(sns["count"], 1, "SNS must not be re-published by the retries");
    let statuses: Vec<u64> = receiver.received().iter().map(|p| p["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 500, 500, 200]);
    let items = helper(s, &["items", table]);
    let states: Vec<&str> = items.as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(states, ["delivered", "delivered"], "{items:#}");
    assert!(
        items
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.contains("@2026-11-27T03:12:44.330+0000|")),
        "{items:#}"
    );
}

#[test]
fn target_group_that_cannot_be_diagnosed_is_a_row_of_the_one_message_for_the_alarm() {
    crate::harness::on_main_sized_stack(one_message_for_the_alarm)
}

async fn one_message_for_the_alarm() {
    // GIVEN a metric-math alarm over a seeded target group and one that does not exist, and SNS
    let s = stack();
    let seed = s.seed("article");
    let q = helper(s, &["sns-queue", &unique_namespace("partial")]);
    let missing = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/00000000deadbeef";
    let event = crate::lambda::alarm_for(&[seed["targetGroupArn"].as_str().unwrap(), missing]);
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        ..Default::default()
    };
    // WHEN handled
    let out = handler(s, config)
        .await
        .handle(&event)
        .await
        .expect("a partial answer is delivered");
    // THEN one message for the alarm: the diagnosis's row and a row naming the target group
    // that failed, said, not dropped
    assert_eq!(out["errors"][0]["targetGroupArn"], missing);
    let got = helper(s, &["receive", q["queue"].as_str().unwrap()]);
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 1, "one message per alarm: {got:#?}");
    assert_eq!(got[0]["attributes"]["status"], "problem");
    let body: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    let rows = body["groups"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let failed = rows
        .iter()
        .find(|r| r["targetGroupArn"] == missing)
        .expect("the failed group's row");
    assert_eq!(failed["status"], "inconclusive");
    assert!(failed["error"].as_str().unwrap().contains("not found"), "{failed}");
    assert_eq!(body["diagnoses"][0]["verdict"]["rootCause"], "selector-match");
}

#[tokio::test]
async fn chatbot_topic_gets_the_amazon_q_developer_custom_notification_threaded_by_alarm() {
    // GIVEN a topic configured for Amazon Q Developer (SNS_FORMAT=chatbot), read through SQS
    let s = stack();
    let seed = s.seed("article");
    let q = helper(s, &["sns-queue", &unique_namespace("chatbot")]);
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        sns_chatbot: true,
        ..Default::default()
    };
    // WHEN the alarm is handled
    handler(s, config)
        .await
        .handle(&alarm_for(seed["targetGroupArn"].as_str().unwrap()))
        .await
        .expect("published");
    // THEN the machine subscriber got the custom notification, not the diagnosis JSON, with the
    // fix as a next step and a thread named after the alarm
    let got = helper(s, &["receive", q["queue"].as_str().unwrap()]);
    let body: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["version"].as_str(), body["source"].as_str()),
        (Some("1.0"), Some("custom")),
        "{body:#}"
    );
    assert!(body["content"]["title"].as_str().unwrap().starts_with("PROBLEM"), "{body:#}");
    assert!(
        body["content"]["nextSteps"][0]
            .as_str()
            .unwrap()
            .contains("kubectl patch service alb-instance"),
        "{body:#}"
    );
    assert!(
        body["metadata"]["threadId"].as_str().unwrap().starts_with("eks-lb-doctor-alarm-"),
        "{body:#}"
    );
    assert!(body.get("verdict").is_none(), "not the diagnosis JSON");
}
