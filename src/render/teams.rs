//! Microsoft Teams, through a Workflows webhook ("Send webhook alerts to a channel"; Office 365
//! connectors are retired): a message whose one attachment is an Adaptive Card
//! (`contentType` application/vnd.microsoft.card.adaptive; Teams platform docs, "Send Adaptive
//! Cards using an Incoming Webhook"). The same content as Slack's message: status, summary, root
//! cause, fix, console links. Text from the cluster goes into `TextRun`s of a `RichTextBlock`,
//! which Teams never reads as markdown: no link or formatting can be smuggled in. Teams takes
//! messages up to about 28 KB; the card stays well inside. Pure.

use serde_json::{json, Value};

use super::slack::clip;
use super::{alarm_link, console_link, status_word, subject_of};
use crate::diagnosis::{Diagnosis, VerdictStatus};
use crate::trigger::Request;

const MAX_TEXT: usize = 3000;
const MAX_FIXES: usize = 5;
const MAX_FIX: usize = 1500;

/// The webhook body: a message carrying one Adaptive Card.
pub(super) fn message(body: Vec<Value>, actions: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// Our own words (markdown is ours to use).
pub(super) fn heading(text: &str, color: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true})
}

/// Text from the cluster or AWS: plain, never markdown.
pub(super) fn plain(text: &str, monospace: bool) -> Value {
    let mut run = json!({"type": "TextRun", "text": clip(text, MAX_TEXT)});
    if monospace {
        run["fontType"] = json!("Monospace");
    }
    json!({"type": "RichTextBlock", "inlines": [run]})
}

fn open(title: &str, url: String) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url})
}

/// The card for a diagnosis.
pub fn card(d: &Diagnosis, req: &Request, load_balancers: &[String]) -> Value {
    let color = match d.verdict.status {
        VerdictStatus::Problem => "Attention",
        VerdictStatus::Inconclusive => "Warning",
        VerdictStatus::Healthy => "Good",
    };
    let cause = d.verdict.root_cause.map(|c| format!(" — {c}")).unwrap_or_default();
    let mut body = vec![
        heading(&format!("{} {}{cause}", status_word(d), subject_of(d)), color),
        plain(&d.verdict.summary, false),
    ];
    // Facts hold only names AWS and EKS restrict to letters, digits and hyphens; an alarm's name
    // may hold anything, so it is plain text.
    let mut facts = vec![json!({"title": "Target group", "value": d.target_group.name})];
    facts.extend(d.cluster.as_ref().map(|c| json!({"title": "Cluster", "value": c})));
    body.push(json!({"type": "FactSet", "facts": facts}));
    body.extend(req.alarm.as_ref().map(|a| plain(&format!("Alarm: {}", a.name), false)));
    if let Some(root) = d.verdict.root_cause.and_then(|c| d.finding(c)) {
        body.push(heading(&format!("Root cause: {}", root.check), "Default"));
        body.push(plain(&root.detail, false));
        if !root.remediation.is_empty() {
            body.push(heading("Fix", "Default"));
            body.extend(root.remediation.iter().take(MAX_FIXES).map(|r| plain(&clip(r, MAX_FIX), true)));
        }
    }
    if !d.recent_changes.is_empty() {
        body.push(heading("Recent changes", "Default"));
        body.extend(d.recent_changes.iter().map(|c| plain(&c.sentence(), false)));
    }
    let region = req.region.as_str();
    let mut actions = vec![open("Target group", console_link(region, "TargetGroup", &d.target_group.arn))];
    actions.extend(
        load_balancers
            .iter()
            .take(2)
            .map(|lb| open("Load balancer", console_link(region, "LoadBalancer", lb))),
    );
    actions.extend(req.alarm.as_ref().map(|a| open("Alarm", alarm_link(region, &a.name))));
    actions.extend(d.function_logs.clone().map(|l| open("Function logs", l)));
    message(body, actions)
}

/// The short notice for an alarm back in OK.
pub fn recovered(alarm: &str) -> Value {
    message(
        vec![heading("RECOVERED", "Good"), plain(&format!("Alarm {alarm} is back in OK."), false)],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[test]
    fn card_is_one_adaptive_card_with_the_root_cause_and_its_fix() {
        // GIVEN the article's diagnosis
        let snap = SnapshotB::article().build();
        let d = Diagnosis::from_snapshot(&snap);
        // WHEN rendered for Teams
        let m = card(
            &d,
            &snap.request,
            &["arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/k8s-default/1".into()],
        );
        // THEN it is a message with one Adaptive Card attachment, as the webhook expects
        assert_eq!(m["type"], "message");
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        // AND the fix is there in monospace, with the console links as buttons, well inside 28 KB
        let text = m.to_string();
        assert!(text.contains("kubectl patch service alb-instance"), "{text}");
        assert!(m.to_string().len() < 28_000);
        insta::assert_json_snapshot!("teams_article", m);
    }

    #[test]
    fn cluster_text_is_never_markdown() {
        // GIVEN a root cause whose detail (from the cluster) holds a markdown link and emphasis
        let snap = SnapshotB::article().build();
        let mut d = Diagnosis::from_snapshot(&snap);
        let root = d.verdict.root_cause.unwrap();
        d.finding_mut(root).unwrap().detail = "[click](https://evil.example) **now**".into();
        // WHEN rendered
        let m = card(&d, &snap.request, &[]);
        // THEN it sits only in TextRuns (plain text), never in a TextBlock Teams would format
        let body = m["attachments"][0]["content"]["body"].as_array().unwrap();
        for b in body {
            if b["type"] == "TextBlock" {
                assert!(!b["text"].as_str().unwrap().contains("evil.example"), "{b}");
            }
        }
        assert!(body
            .iter()
            .any(|b| b["type"] == "RichTextBlock" && b["inlines"][0]["text"].as_str().unwrap().contains("evil.example")));
    }
}
