//! PagerDuty Events API v2: a `trigger` for a diagnosis, a `resolve` when the alarm is back in
//! OK, both under one `dedup_key` per alarm so the resolve closes the alert the trigger opened
//! (PagerDuty developer docs, "Send an Alert Event": `routing_key` and `event_action` required;
//! `payload.summary` ≤ 1024 characters, `payload.source`, `payload.severity` one of critical,
//! error, warning, info; `dedup_key` ≤ 255 characters; `links` [{`href`, `text`}]). The routing
//! key is added by `publish::pagerduty`, never here. Pure.

use serde_json::{json, Value};

use super::slack::clip;
use super::{alarm_link, console_link, status_word, subject_of};
use crate::diagnosis::{Diagnosis, VerdictStatus};
use crate::trigger::{Alarm, Request};

const MAX_SUMMARY: usize = 1024;
const MAX_DEDUP_KEY: usize = 255;
/// Enough of the fix to act on from a phone; the diagnosis has the rest.
const MAX_FIXES: usize = 5;

/// One alert per alarm (its ARN, else its name), so the OK's `resolve` finds it; several target
/// groups of one alarm add their diagnoses to that one alert instead of paging once each. A
/// manual run (no alarm) has one per target group, and nothing resolves it.
pub fn dedup_key(alarm: Option<&Alarm>, target_group_arn: &str) -> String {
    let key = match alarm {
        Some(a) => format!("eks-lb-doctor/alarm/{}", a.arn.as_deref().unwrap_or(&a.name)),
        None => format!("eks-lb-doctor/target-group/{target_group_arn}"),
    };
    clip(&key, MAX_DEDUP_KEY)
}

/// How hard to page: every target down is an outage; some down, an error; not sure, a warning.
fn severity(d: &Diagnosis) -> &'static str {
    let unhealthy = d.targets.iter().filter(|t| t.state == "unhealthy").count();
    match d.verdict.status {
        VerdictStatus::Problem if unhealthy > 0 && unhealthy == d.targets.len() => "critical",
        VerdictStatus::Problem => "error",
        VerdictStatus::Inconclusive => "warning",
        VerdictStatus::Healthy => "info",
    }
}

/// The console pages to open: the target group, its load balancers, the alarm.
fn links(req: &Request, target_group_arn: &str, load_balancers: &[String]) -> Vec<Value> {
    let (region, alarm) = (req.region.as_str(), req.alarm.as_ref());
    let mut links = vec![json!({"href": console_link(region, "TargetGroup", target_group_arn), "text": "Target group"})];
    links.extend(
        load_balancers
            .iter()
            .map(|lb| json!({"href": console_link(region, "LoadBalancer", lb), "text": "Load balancer"})),
    );
    links.extend(alarm.map(|a| json!({"href": alarm_link(region, &a.name), "text": format!("Alarm {}", a.name)})));
    links
}

/// The `trigger` event for a diagnosis (without its routing key).
pub fn trigger(d: &Diagnosis, req: &Request, load_balancers: &[String]) -> Value {
    let root = d.verdict.root_cause.and_then(|c| d.finding(c));
    let failing: Vec<&str> = (d.findings.iter())
        .filter(|f| f.status == crate::checks::Status::Fail)
        .map(|f| f.check.as_str())
        .collect();
    let source = match &d.cluster {
        Some(c) => format!("{c}/{}", subject_of(d)),
        None => subject_of(d),
    };
    json!({
        "event_action": "trigger",
        "dedup_key": dedup_key(req.alarm.as_ref(), &d.target_group.arn),
        "payload": {
            "summary": clip(&format!("{} {}: {}", status_word(d), subject_of(d), d.verdict.summary), MAX_SUMMARY),
            "source": source,
            "severity": severity(d),
            "component": d.target_group.name,
            "group": d.cluster,
            "class": d.verdict.root_cause.map_or("inconclusive", |c| c.as_str()),
            "custom_details": {
                "status": status_word(d),
                "root_cause": d.verdict.root_cause.map(|c| c.as_str()),
                "root_cause_detail": root.map(|f| f.detail.clone()),
                "fix": root.map(|f| f.remediation.iter().take(MAX_FIXES).cloned().collect::<Vec<_>>()).unwrap_or_default(),
                "failing_checks": failing,
                "target_group": d.target_group.arn,
                "load_balancers": load_balancers,
                "service": d.service.as_ref().map(|s| format!("{}/{}", s.namespace, s.name)),
                "transient": d.verdict.transient,
                "recent_changes": d.recent_changes.iter().map(|c| c.sentence()).collect::<Vec<_>>(),
            },
        },
        "links": links(req, &d.target_group.arn, load_balancers)
            .into_iter()
            .chain(d.function_logs.as_ref().map(|l| json!({"href": l, "text": "Function logs"})))
            .collect::<Vec<_>>(),
        "client": "eks-lb-doctor",
    })
}

/// The `resolve` for an alarm back in OK: the same key as its trigger.
pub fn resolve(alarm: &Alarm) -> Value {
    json!({"event_action": "resolve", "dedup_key": dedup_key(Some(alarm), "")})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn alarm() -> Alarm {
        Alarm {
            name: "alb-instance unhealthy".into(),
            arn: Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:alb-instance unhealthy".into()),
            state: "ALARM".into(),
            reason: None,
            via: "eventbridge".into(),
            changed_at: Some("2026-12-01T20:00:00.000+0000".into()),
        }
    }

    /// The article's diagnosis and its request, from an alarm.
    fn article_diagnosis() -> (Diagnosis, Request) {
        let snap = SnapshotB::article().build();
        let mut req = snap.request.clone();
        req.alarm = Some(alarm());
        (Diagnosis::from_snapshot(&snap), req)
    }

    #[test]
    fn trigger_follows_the_events_api_and_resolve_closes_the_same_alert() {
        // GIVEN the article's diagnosis, from an alarm
        let (d, req) = article_diagnosis();
        // WHEN rendered as a trigger, and the alarm's OK as a resolve
        let t = trigger(
            &d,
            &req,
            &["arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-shop/abc".into()],
        );
        let r = resolve(&alarm());
        // THEN the required fields are there, within PagerDuty's limits, and both share the key
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(t["dedup_key"], r["dedup_key"]);
        assert!(t["dedup_key"].as_str().unwrap().len() <= 255);
        let p = &t["payload"];
        assert!(p["summary"].as_str().unwrap().chars().count() <= 1024);
        assert!(["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap()));
        assert!(!p["source"].as_str().unwrap().is_empty());
        assert!(t.get("routing_key").is_none(), "the key is added when sending, never rendered");
        // AND every target down pages as critical, with the root cause and its fix in the details
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["custom_details"]["root_cause"], "selector-match");
        assert!(
            p["custom_details"]["fix"][0].as_str().unwrap().starts_with("kubectl patch service"),
            "{t:#}"
        );
        insta::assert_json_snapshot!("pagerduty_trigger", t);
    }

    #[test]
    fn a_manual_run_gets_a_key_of_its_own_target_group() {
        // GIVEN two manual runs on different target groups, and an alarm over both
        // WHEN keyed
        let a = dedup_key(None, "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/1");
        let b = dedup_key(None, "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/2");
        let alarm = alarm();
        // THEN each target group has its own alert, while one alarm keeps one for all of them
        assert_ne!(a, b);
        assert_eq!(dedup_key(Some(&alarm), "x"), dedup_key(Some(&alarm), "y"));
        // AND a very long alarm name stays within the key's limit
        let long = Alarm {
            arn: None,
            name: "n".repeat(400),
            ..alarm
        };
        assert_eq!(dedup_key(Some(&long), "").chars().count(), 255);
    }
}
