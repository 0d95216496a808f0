//! Amazon Q Developer in chat applications (formerly AWS Chatbot): its custom notification, the
//! only SNS body it posts to Slack or Microsoft Teams. Schema (Amazon Q Developer admin guide,
//! "Custom notifications using Amazon Q Developer in chat applications", custom-notifs):
//! `version` "1.0", `source` "custom", `id`, `content` {`textType` "client-markdown", `title`,
//! `description`, `nextSteps`, `keywords`}, `metadata` {`threadId`, `summary`, `eventType`,
//! `relatedResources`, `additionalContext`}. An alarm's diagnosis and its recovery share a
//! `threadId`, so the OK lands in the same thread. Pure.

use serde_json::{json, Value};

use super::slack::clip;
use super::{status_word, subject_of};
use crate::diagnosis::Diagnosis;
use crate::trigger::Request;

/// Kept well inside what a chat message shows without folding.
const MAX_TITLE: usize = 100;
const MAX_DESCRIPTION: usize = 3500;
const MAX_STEPS: usize = 5;

/// Markdown from the cluster is shown, never acted on: no mentions, links or fences (Slack's
/// escaping: Q Developer posts the same markdown to Slack and Teams).
fn esc(s: &str) -> String {
    super::slack::code(s)
}

/// One thread per alarm (its ALARM and its OK), or per target group for a manual run:
/// letters, digits and hyphens.
pub fn thread_id(alarm: Option<&str>, target_group: &str) -> String {
    let key = alarm.map_or_else(|| format!("tg-{target_group}"), |a| format!("alarm-{a}"));
    let clean: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    format!("eks-lb-doctor-{}", clip(&clean, 100))
}

/// The notification for a diagnosis.
pub fn notification(d: &Diagnosis, req: &Request, load_balancers: &[String]) -> Value {
    let cause = d.verdict.root_cause.map(|c| format!(" — {c}")).unwrap_or_default();
    let title = clip(&format!("{} {}{cause}", status_word(d), subject_of(d)), MAX_TITLE);
    let mut description = esc(&d.verdict.summary);
    let mut steps: Vec<String> = Vec::new();
    if let Some(root) = d.verdict.root_cause.and_then(|c| d.finding(c)) {
        description.push_str(&format!("\n\n*Root cause: `{}`* {}", root.check, esc(&root.detail)));
        steps.extend(
            root.remediation
                .iter()
                .take(MAX_STEPS)
                .map(|r| format!("`{}`", esc(r).replace('`', "'"))),
        );
    }
    if !d.recent_changes.is_empty() {
        let lines: Vec<String> = d.recent_changes.iter().map(|c| format!("• {}", esc(&c.sentence()))).collect();
        description.push_str(&format!("\n\n*Recent changes*\n{}", lines.join("\n")));
    }
    if let Some(logs) = &d.function_logs {
        description.push_str(&format!("\n\n[Function logs]({logs})"));
    }
    let mut keywords = vec![status_word(d).to_string()];
    keywords.extend(d.verdict.root_cause.map(|c| c.as_str().to_string()));
    keywords.extend(d.cluster.clone());
    let alarm = super::alarm_of(req);
    let mut related = vec![d.target_group.arn.clone()];
    related.extend(load_balancers.iter().cloned());
    related.extend(req.alarm.as_ref().and_then(|a| a.arn.clone()));
    json!({
        "version": "1.0",
        "source": "custom",
        // The event: the alarm's transition when known (a retry is the same event).
        "id": req.alarm.as_ref().and_then(crate::trigger::Alarm::transition).unwrap_or_else(|| thread_id(alarm, &d.target_group.name)),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": clip(&description, MAX_DESCRIPTION),
            "nextSteps": steps,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": thread_id(alarm, &d.target_group.name),
            "summary": clip(&format!("{} {}", status_word(d), subject_of(d)), MAX_TITLE),
            "eventType": "eks-lb-doctor-diagnosis",
            "relatedResources": related,
            "additionalContext": {"cluster": d.cluster, "targetGroup": d.target_group.name, "rootCause": d.verdict.root_cause.map(|c| c.as_str())},
        },
    })
}

/// The recovery of an alarm, in its diagnosis's thread.
pub fn recovered(alarm: &str) -> Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": clip(&format!("RECOVERED {}", esc(alarm)), MAX_TITLE),
            "description": format!("Alarm {} is OK again: the targets pass their health checks.", esc(alarm)),
        },
        "metadata": {"threadId": thread_id(Some(alarm), ""), "summary": clip(&format!("RECOVERED {alarm}"), MAX_TITLE), "eventType": "eks-lb-doctor-recovered"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[test]
    fn diagnosis_and_recovery_of_one_alarm_share_a_thread_and_follow_the_schema() {
        // GIVEN the article's diagnosis, triggered by an alarm
        let snap = SnapshotB::article().build();
        let mut req = snap.request.clone();
        req.alarm = Some(crate::trigger::Alarm {
            name: "alb-instance unhealthy".into(),
            arn: Some("arn:aws:cloudwatch:us-east-1:111122223333:alarm:alb-instance unhealthy".into()),
            state: "ALARM".into(),
            reason: None,
            via: "eventbridge".into(),
            changed_at: None,
        });
        let d = Diagnosis::from_snapshot(&snap);
        // WHEN rendered as a custom notification, and its alarm's recovery
        let n = notification(
            &d,
            &req,
            &["arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/k8s-default/1".into()],
        );
        let ok = recovered("alb-instance unhealthy");
        // THEN the schema's required fields are there, the fix is a next step, and both share a thread
        assert_eq!((n["version"].as_str(), n["source"].as_str()), (Some("1.0"), Some("custom")));
        assert_eq!(n["content"]["textType"], "client-markdown");
        assert_eq!(n["metadata"]["threadId"], "eks-lb-doctor-alarm-alb-instance-unhealthy");
        assert_eq!(n["metadata"]["threadId"], ok["metadata"]["threadId"]);
        insta::assert_json_snapshot!("chatbot_article", n);
    }

    #[test]
    fn cluster_text_cannot_mention_link_or_close_a_fence() {
        let snap = SnapshotB::article().build();
        let mut d = Diagnosis::from_snapshot(&snap);
        let root = d.verdict.root_cause.unwrap();
        d.finding_mut(root).unwrap().detail = "<!channel> <https://evil.example|x> ```".into();
        let text = notification(&d, &snap.request, &[]).to_string();
        assert!(
            !text.contains("<!channel>") && !text.contains("<https://") && !text.contains("```"),
            "{text}"
        );
    }
}
