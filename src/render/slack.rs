//! The Slack message: Block Kit with a header carrying the verdict, a context line, the root
//! cause with its evidence, the fix as code blocks, the other failing checks, console links.
//! Within Slack's limits (50 blocks, 3,000 characters a text, 150 a header). Pure: `publish`
//! posts it, `render` prints it for `--output slack`.

use serde_json::{json, Value};

use super::{console_link, status_word, subject_of};
use crate::checks::Status;
use crate::diagnosis::Diagnosis;
use crate::trigger::Request;

const MAX_BLOCKS: usize = 50;
const MAX_TEXT: usize = 3000;
const MAX_HEADER: usize = 150;

pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` become entities, so text from a cluster or a log
/// line (`<!channel>`, `<https://evil|click here>`, `<@U123>`) is shown, never acted on.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text for inside a code block: escaped, and a ``` in it cannot close the block early.
pub(super) fn code(s: &str) -> String {
    esc(s).replace("```", "``\u{200b}`")
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_TEXT)}})
}

/// The Block Kit message for a diagnosis.
pub fn blocks(d: &Diagnosis, req: &Request, load_balancers: &[String]) -> Value {
    let icon = match status_word(d) {
        "PROBLEM" => ":red_circle:",
        "HEALTHY" => ":large_green_circle:",
        _ => ":large_yellow_circle:",
    };
    let cause = d.verdict.root_cause.map(|c| format!(" — {c}")).unwrap_or_default();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&format!("{} {}{cause}", status_word(d), subject_of(d)), MAX_HEADER), "emoji": true}}),
    ];
    let mut context = vec![
        format!("*cluster* {}", esc(d.cluster.as_deref().unwrap_or("unknown"))),
        format!("*service* {}", esc(&subject_of(d))),
        format!("*target group* {}", esc(&d.target_group.name)),
    ];
    if let Some(a) = super::alarm_of(req) {
        context.push(format!("*alarm* {}", esc(&a)));
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&format!("{icon} {}", context.join("  ·  ")), MAX_TEXT)}]}),
    );
    blocks.push(section(&esc(&d.verdict.summary)));
    if let Some(root) = d.verdict.root_cause.and_then(|c| d.finding(c)) {
        blocks.push(json!({"type": "divider"}));
        blocks.push(section(&format!(
            "*Root cause: `{}`* — {}\n{}",
            root.check,
            esc(&root.title),
            esc(&root.detail)
        )));
        let evidence = serde_json::to_string_pretty(&root.evidence).unwrap_or_default();
        if evidence.len() > 2 {
            blocks.push(section(&format!("*Evidence*\n```{}```", clip(&code(&evidence), MAX_TEXT - 20))));
        }
        if !root.remediation.is_empty() {
            let fixes: Vec<String> = root.remediation.iter().map(|r| format!("```{}```", code(r))).collect();
            blocks.push(section(&format!("*Fix*\n{}", fixes.join("\n"))));
        }
    }
    let others: Vec<String> = d
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail && Some(f.check) != d.verdict.root_cause)
        .map(|f| format!("• `{}` {}", f.check, esc(&f.title)))
        .collect();
    if !others.is_empty() {
        blocks.push(section(&format!("*Also failing*\n{}", others.join("\n"))));
    }
    if !d.recent_changes.is_empty() {
        let lines: Vec<String> = d.recent_changes.iter().map(|c| format!("• {}", esc(&c.sentence()))).collect();
        blocks.push(section(&clip(&format!("*Recent changes*\n{}", lines.join("\n")), MAX_TEXT)));
    }
    let mut links = vec![
        json!({"type": "button", "text": {"type": "plain_text", "text": "Target group"}, "url": console_link(&req.region, "TargetGroup", &d.target_group.arn)}),
    ];
    for lb in load_balancers {
        links.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Load balancer"}, "url": console_link(&req.region, "LoadBalancer", lb)}));
    }
    if let Some(a) = super::alarm_of(req) {
        links.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Alarm"}, "url": super::alarm_link(&req.region, a)}));
    }
    if let Some(logs) = &d.function_logs {
        links.push(json!({"type": "button", "text": {"type": "plain_text", "text": "Function logs"}, "url": logs}));
    }
    blocks.push(json!({"type": "actions", "elements": links}));
    blocks.truncate(MAX_BLOCKS);
    json!({"text": clip(&esc(&format!("{} {}: {}", status_word(d), subject_of(d), d.verdict.summary)), MAX_TEXT), "blocks": blocks})
}

/// A short notice for an alarm back in OK.
pub fn recovered(alarm: &str) -> Value {
    json!({"text": format!(":large_green_circle: Alarm {} is OK again: the targets pass their health checks.", esc(alarm))})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[test]
    fn text_from_the_cluster_is_shown_never_acted_on() {
        // GIVEN a detail and a fix carrying Slack control syntax and a code fence (tenant text)
        let snap = SnapshotB::article().build();
        let mut d = crate::diagnosis::Diagnosis::from_snapshot(&snap);
        let root = d.verdict.root_cause.unwrap();
        let f = d.finding_mut(root).unwrap();
        f.detail = "<!channel> see <https://evil.example|the runbook> & act".into();
        f.remediation = vec!["echo ```\n<!here>".into()];
        // WHEN rendered
        let text = blocks(&d, &snap.request, &[]).to_string();
        // THEN no mention, link or early fence survives
        assert!(
            !text.contains("<!channel>") && !text.contains("<!here>") && !text.contains("<https://"),
            "{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt; see &lt;https://evil.example|the runbook&gt; &amp; act"),
            "{text}"
        );
        assert!(!text.contains("echo ```"), "{text}");
    }

    #[test]
    fn blocks_for_the_article_example() {
        let snap = SnapshotB::article().build();
        let d = Diagnosis::from_snapshot(&snap);
        let mut msg = blocks(&d, &snap.request, &[LB_ARN.to_string()]);
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!(msg.take());
        });
    }

    #[test]
    fn limits_hold_for_huge_diagnoses() {
        let snap = SnapshotB::article().build();
        let mut d = Diagnosis::from_snapshot(&snap);
        let root = d.finding_mut(d.verdict.root_cause.unwrap()).unwrap();
        root.detail = "y".repeat(10_000);
        root.remediation = (0..200).map(|i| format!("kubectl do-thing-{i}")).collect();
        d.verdict.summary = "z".repeat(5000);
        let msg = blocks(&d, &snap.request, &[]);
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for b in blocks {
            for text in [&b["text"]["text"], &b["elements"][0]["text"]] {
                if let Some(t) = text.as_str() {
                    assert!(t.chars().count() <= MAX_TEXT, "{} chars", t.chars().count());
                }
            }
        }
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER);
        assert!(msg["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
    }
}
