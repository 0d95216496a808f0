//! Renderers: the diagnosis as text for people, as JSON for machines, as the Slack and SNS
//! messages. Pure: they return strings and documents; `publish` and the binaries decide where
//! they go.

pub mod chatbot;
pub mod fleet;
pub mod pagerduty;
pub mod slack;
pub mod sns;
pub mod teams;
mod text;

pub use text::text;

use crate::diagnosis::{Diagnosis, VerdictStatus};
use crate::trigger::Request;

/// The report formats of `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// The Block Kit message the Slack channel would get.
    Slack,
    /// The Amazon Q Developer (AWS Chatbot) custom notification `SNS_FORMAT=chatbot` publishes.
    Chatbot,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            "chatbot" => Ok(Format::Chatbot),
            other => Err(format!("{other:?}: expected text, json, slack or chatbot")),
        }
    }
}

/// "PROBLEM", "HEALTHY", "INCONCLUSIVE".
pub fn status_word(d: &Diagnosis) -> &'static str {
    match d.verdict.status {
        VerdictStatus::Healthy => "HEALTHY",
        VerdictStatus::Problem => "PROBLEM",
        VerdictStatus::Inconclusive => "INCONCLUSIVE",
    }
}

/// `ns/name` of the Service, or the target group's name when there is none.
pub fn subject_of(d: &Diagnosis) -> String {
    d.service
        .as_ref()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .unwrap_or_else(|| d.target_group.name.clone())
}

/// The AWS console page of a target group / load balancer.
pub fn console_link(region: &str, kind: &str, arn: &str) -> String {
    let anchor = if kind == "TargetGroup" {
        format!("TargetGroup:targetGroupArn={arn}")
    } else {
        format!("LoadBalancer:loadBalancerArn={arn}")
    };
    format!("https://{region}.console.aws.amazon.com/ec2/home?region={region}#{anchor}")
}

/// The CloudWatch console page of an alarm (its name percent-encoded: names may hold spaces and
/// any printable character).
pub fn alarm_link(region: &str, alarm: &str) -> String {
    let name: String = alarm
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{name}")
}

/// The CloudWatch console page of one log stream. The console's fragment takes each name
/// percent-encoded, then with `%` itself written `$25` (`/aws/lambda/f` → `$252Faws$252Flambda$252Ff`).
pub fn logs_link(region: &str, group: &str, stream: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                other => format!("$25{other:02X}"),
            })
            .collect()
    };
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        enc(group),
        enc(stream)
    )
}

/// The alarm name, when a request came from one.
pub fn alarm_of(req: &Request) -> Option<&str> {
    req.alarm.as_ref().map(|a| a.name.as_str())
}

/// The diagnosis JSON contract (schemaVersion 1), pretty-printed.
pub fn json(d: &Diagnosis) -> String {
    serde_json::to_string_pretty(d).expect("a diagnosis always serialises")
}

/// Renders a diagnosis; the snapshot gives what Slack's message links to (region, load balancer).
pub fn render(d: &Diagnosis, snap: &crate::snapshot::Snapshot, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(d, color),
        Format::Json => json(d),
        Format::Slack => {
            let lbs = snap.aws.target_group.ok().map(|t| t.load_balancer_arns.clone()).unwrap_or_default();
            serde_json::to_string_pretty(&slack::blocks(d, &snap.request, &lbs)).expect("blocks serialise")
        }
        Format::Chatbot => {
            let lbs = snap.aws.target_group.ok().map(|t| t.load_balancer_arns.clone()).unwrap_or_default();
            serde_json::to_string_pretty(&chatbot::notification(d, &snap.request, &lbs)).expect("a notification serialises")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn alarm_links_encode_any_name() {
        assert_eq!(
            alarm_link("us-east-1", "web unhealthy/5xx#1"),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/web%20unhealthy%2F5xx%231"
        );
    }

    use super::*;

    #[test]
    fn log_stream_link_is_encoded_as_the_console_reads_it() {
        // GIVEN a Lambda log group and stream (slashes, brackets, a dollar sign)
        // WHEN linked
        let l = logs_link("eu-west-1", "/aws/lambda/eks-lb-doctor", "2026/12/01/[$LATEST]0a1b");
        // THEN each reserved character is percent-encoded with `%` written `$25`
        assert_eq!(
            l,
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Faws$252Flambda$252Feks-lb-doctor/log-events/2026$252F12$252F01$252F$255B$2524LATEST$255D0a1b"
        );
    }
    use crate::fixtures::*;
    use crate::snapshot::Snapshot;

    /// Five scenarios a person meets: the article's selector typo, a crash-looping pod behind
    /// ip targets, an orphaned target group, a healthy group, and missing permissions.
    fn scenarios() -> Vec<(&'static str, Snapshot)> {
        vec![
            ("article_selector_mismatch", SnapshotB::article().build()),
            (
                "ip_crashloop",
                SnapshotB::ip()
                    .pods(vec![
                        PodB::new("shop", "web-1")
                            .labels(&[("app", "web")])
                            .ip("10.0.1.10")
                            .node("node-a")
                            .ready()
                            .build(),
                        PodB::new("shop", "web-2")
                            .labels(&[("app", "web")])
                            .ip("10.0.2.11")
                            .node("node-b")
                            .waiting("CrashLoopBackOff")
                            .restarts(9)
                            .build(),
                    ])
                    .endpoints(endpoints("shop", "web", &[("10.0.1.10", true), ("10.0.2.11", false)]))
                    .build(),
            ),
            ("unmapped", SnapshotB::instance().unmapped().build()),
            (
                "healthy",
                SnapshotB::ip()
                    .targets(vec![target("10.0.1.10", 8080, "healthy"), target("10.0.2.11", 8080, "healthy")])
                    .build(),
            ),
            ("inconclusive_pods_denied", SnapshotB::ip().pods_denied().build()),
        ]
    }

    #[test]
    fn json_diagnoses_match_snapshots() {
        for (name, snap) in scenarios() {
            let d = Diagnosis::from_snapshot(&snap);
            let v: serde_json::Value = serde_json::from_str(&json(&d)).unwrap();
            insta::with_settings!({sort_maps => true, snapshot_suffix => name}, {
                insta::assert_json_snapshot!(v);
            });
        }
    }

    #[test]
    fn text_reports_match_snapshots() {
        for (name, snap) in scenarios() {
            let d = Diagnosis::from_snapshot(&snap);
            insta::with_settings!({snapshot_suffix => name}, {
                insta::assert_snapshot!(text(&d, false));
            });
        }
    }

    #[test]
    fn slack_output_is_the_block_kit_message() {
        let snap = SnapshotB::article().build();
        let d = Diagnosis::from_snapshot(&snap);
        let v: serde_json::Value = serde_json::from_str(&render(&d, &snap, Format::Slack, false)).unwrap();
        assert_eq!(v["blocks"][0]["type"], "header");
        assert!(v["blocks"].as_array().unwrap().iter().any(|b| b["type"] == "actions"));
    }

    #[test]
    fn colour_codes_only_when_asked() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        assert!(!text(&d, false).contains('\x1b'));
        assert!(text(&d, true).contains("\x1b[1;31mPROBLEM\x1b[0m"));
    }

    #[test]
    fn json_follows_the_contract_field_names() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        let v: serde_json::Value = serde_json::from_str(&json(&d)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "schemaVersion",
            "targetGroup",
            "cluster",
            "service",
            "verdict",
            "findings",
            "targets",
        ] {
            assert!(keys.contains(&k), "missing {k}");
        }
        assert_eq!(keys.len(), 7);
        assert_eq!(v["verdict"]["rootCause"], "selector-match");
        assert_eq!(v["service"]["resolvedBy"], "target-group-binding");
        assert_eq!(v["targetGroup"]["healthCheck"]["port"], "traffic-port");
        assert_eq!(v["findings"][0]["check"], "target-health");
        assert!(v["findings"][0].get("explains").is_none(), "ranking data stays internal");
    }
}
