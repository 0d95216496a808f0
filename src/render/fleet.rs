//! One message for many target groups (a storm, a metric-math alarm, a scan): the summary, each
//! common cause once with its groups and its fix, then a line per target group. The full
//! diagnoses travel in the JSON (SNS's machine protocols, `--output json`). Each channel within
//! its limits: Slack 50 blocks of 3,000 characters, Teams ~28 KB, PagerDuty's 1,024-character
//! summary, SNS 256 KB (the diagnoses are dropped from the machine body before the rows are).
//! Pure.

use serde_json::{json, Value};

use super::slack::{clip, code, esc};
use super::sns::SnsMessage;
use crate::diagnosis::VerdictStatus;
use crate::fleet::{FleetReport, GroupRow};

/// Lines of fix shown per common cause in chat; the JSON has all of them.
const MAX_FIXES: usize = 5;
/// Target groups listed one per line in chat; the rest are counted.
const MAX_ROWS: usize = 40;

fn word(s: VerdictStatus) -> &'static str {
    match s {
        VerdictStatus::Healthy => "HEALTHY",
        VerdictStatus::Problem => "PROBLEM",
        VerdictStatus::Inconclusive => "INCONCLUSIVE",
    }
}

/// "PROBLEM      2/5  security-groups   k8s-shop-a (shop/a)  [common cause 1]"
fn line(r: &GroupRow) -> String {
    let service = r.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
    let common = r.common_cause.map(|i| format!("  [common cause {}]", i + 1)).unwrap_or_default();
    let cause = r.root_cause.map(|c| c.as_str()).unwrap_or("-");
    format!(
        "{:<12} {:>7}  {:<20} {}{service}{common}",
        word(r.status),
        format!("{}/{}", r.unhealthy, r.total),
        cause,
        r.name
    )
}

/// The report as text (the CLI, email): summary, common causes with their fix, the table.
pub fn text(r: &FleetReport) -> String {
    let mut out = format!("{} — {}\n{}\n", word(r.status), r.kind, r.summary);
    for (i, c) in r.common_causes.iter().enumerate() {
        out.push_str(&format!("\nCommon cause {}: {}\n", i + 1, c.summary));
        out.push_str(&format!("  Target groups: {}\n", c.target_groups.join(", ")));
        out.push_str("  Fix (once, for all of them):\n");
        for f in &c.fix {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out.push_str(&format!(
        "\n{:<12} {:>7}  {:<20} TARGET GROUP (SERVICE)\n",
        "STATUS", "UNHLTHY", "ROOT CAUSE"
    ));
    for row in &r.groups {
        out.push_str(&line(row));
        out.push('\n');
        if row.status == VerdictStatus::Problem && row.common_cause.is_none() {
            out.push_str(&format!("{:>22}{}\n", "", row.summary));
        }
        if let Some(e) = &row.error {
            out.push_str(&format!("{:>22}{e}\n", ""));
        }
    }
    if !r.diagnoses.is_empty() {
        out.push_str("\nEach diagnosis in full: --output json, or `eks-lb-doctor diagnose --target-group-arn ARN`.\n");
    }
    out
}

/// SNS: one Publish, text for people, the report JSON for machines; an ASCII subject under 100.
pub fn sns(r: &FleetReport) -> SnsMessage {
    let subject = format!(
        "{}: {} of {} target groups{}",
        word(r.status),
        r.groups.iter().filter(|g| g.status != VerdictStatus::Healthy).count(),
        r.groups.len(),
        match r.common_causes.len() {
            0 => String::new(),
            1 => ", 1 common cause".into(),
            n => format!(", {n} common causes"),
        }
    );
    let text = text(r);
    let mut report = r.clone();
    loop {
        let body = serde_json::to_string(&report).expect("a report serialises");
        let doc = json!({"default": text, "email": text, "email-json": body, "sqs": body, "lambda": body, "http": body, "https": body});
        let m = SnsMessage {
            subject: subject.clone(),
            message: doc.to_string(),
            attributes: [
                ("status".to_string(), word(r.status).to_lowercase()),
                ("kind".into(), r.kind.clone()),
            ]
            .into(),
        };
        // Too large: the diagnoses go first (largest first), the rows and causes stay.
        if m.size() <= super::sns::MAX_BYTES || report.diagnoses.is_empty() {
            return m;
        }
        let largest = (0..report.diagnoses.len())
            .max_by_key(|&i| serde_json::to_string(&report.diagnoses[i]).map(|s| s.len()).unwrap_or(0))
            .expect("not empty");
        report.diagnoses.remove(largest);
        report.summary = format!("{} (Some diagnoses left out to fit SNS's 256 KB.)", r.summary);
    }
}

/// Slack: a header, the summary, each common cause with its fix, the groups a line each.
pub fn slack(r: &FleetReport) -> Value {
    let section = |t: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(t, 3000)}});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&format!("{} {} target groups", word(r.status), r.groups.len()), 150)}}),
        section(&esc(&r.summary)),
    ];
    for (i, c) in r.common_causes.iter().enumerate() {
        let mut t = format!(
            "*Common cause {}:* `{}` on {}\n*Target groups:* {}",
            i + 1,
            c.root_cause.as_str(),
            esc(&c.resources.join(", ")),
            esc(&c.target_groups.join(", "))
        );
        let fixes: Vec<String> = c.fix.iter().take(MAX_FIXES).map(|f| code(f)).collect();
        if !fixes.is_empty() {
            t.push_str(&format!("\n*Fix, once for all:*\n```{}```", fixes.join("\n")));
        }
        if c.fix.len() > MAX_FIXES {
            t.push_str(&format!("\n({} more in the JSON)", c.fix.len() - MAX_FIXES));
        }
        blocks.push(section(&t));
    }
    // The table in code blocks of at most ~2,900 characters each.
    let mut chunk = String::new();
    let rows: Vec<String> = r.groups.iter().take(MAX_ROWS).map(line).collect();
    for l in rows {
        if chunk.len() + l.len() > 2900 {
            blocks.push(section(&format!("```{}```", code(&chunk))));
            chunk.clear();
        }
        chunk.push_str(&l);
        chunk.push('\n');
    }
    if r.groups.len() > MAX_ROWS {
        chunk.push_str(&format!("… and {} more target groups (in the JSON)\n", r.groups.len() - MAX_ROWS));
    }
    if !chunk.is_empty() {
        blocks.push(section(&format!("```{}```", code(&chunk))));
    }
    blocks.truncate(50);
    json!({"text": clip(&esc(&format!("{} {}", word(r.status), r.summary)), 3000), "blocks": blocks})
}

/// Teams: the same content as one Adaptive Card; text from AWS and the cluster stays plain.
pub fn teams(r: &FleetReport) -> Value {
    use super::teams::{heading, message, plain};
    let color = match r.status {
        VerdictStatus::Problem => "Attention",
        VerdictStatus::Inconclusive => "Warning",
        VerdictStatus::Healthy => "Good",
    };
    let mut body = vec![
        heading(&format!("{} {} target groups", word(r.status), r.groups.len()), color),
        plain(&r.summary, false),
    ];
    for (i, c) in r.common_causes.iter().enumerate() {
        body.push(heading(&format!("Common cause {}: {}", i + 1, c.root_cause.as_str()), "Default"));
        body.push(plain(
            &format!("{} — {}", c.resources.join(", "), c.target_groups.join(", ")),
            false,
        ));
        body.extend(c.fix.iter().take(MAX_FIXES).map(|f| plain(f, true)));
    }
    let rows: Vec<String> = r.groups.iter().take(MAX_ROWS).map(line).collect();
    body.push(plain(&rows.join("\n"), true));
    message(body, vec![])
}

/// PagerDuty: one alert for the pass (the alarm's key when an alarm started it, else one per
/// scan of the cluster), the rows and causes in its details.
pub fn pagerduty(r: &FleetReport, dedup_key: &str) -> Value {
    let severity = match r.status {
        VerdictStatus::Problem => "error",
        VerdictStatus::Inconclusive => "warning",
        VerdictStatus::Healthy => "info",
    };
    let causes: Vec<Value> = (r.common_causes.iter())
        .map(|c| json!({"cause": c.summary, "target_groups": c.target_groups, "fix": c.fix.iter().take(MAX_FIXES).collect::<Vec<_>>()}))
        .collect();
    let rows: Vec<String> = r.groups.iter().take(MAX_ROWS).map(line).collect();
    json!({
        "event_action": "trigger",
        "dedup_key": clip(dedup_key, 255),
        "payload": {
            "summary": clip(&format!("{} {}", word(r.status), r.summary), 1024),
            "source": "eks-lb-doctor",
            "severity": severity,
            "class": "many-target-groups",
            "custom_details": {"common_causes": causes, "target_groups": rows},
        },
        "client": "eks-lb-doctor",
    })
}

/// Amazon Q Developer's custom notification for the pass.
pub fn chatbot(r: &FleetReport, thread: &str) -> Value {
    let mut description = esc(&r.summary);
    for (i, c) in r.common_causes.iter().enumerate() {
        description.push_str(&format!("\n\n*Common cause {}:* {}", i + 1, esc(&c.summary)));
    }
    let rows: Vec<String> = r.groups.iter().take(MAX_ROWS).map(line).collect();
    description.push_str(&format!("\n\n```\n{}\n```", code(&rows.join("\n"))));
    let steps: Vec<String> = (r.common_causes.iter().flat_map(|c| c.fix.iter().take(MAX_FIXES)))
        .map(|f| format!("`{}`", esc(f).replace('`', "'")))
        .take(MAX_FIXES)
        .collect();
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": clip(&format!("{} {} target groups", word(r.status), r.groups.len()), 100),
            "description": clip(&description, 3500),
            "nextSteps": steps,
            "keywords": [word(r.status)],
        },
        "metadata": {"threadId": thread, "eventType": "eks-lb-doctor-fleet", "summary": clip(&r.summary, 100)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::Diagnosis;
    use crate::fixtures::SnapshotB;

    fn report() -> FleetReport {
        let d = |b: SnapshotB, name: &str| Diagnosis::from_snapshot(&b.as_target_group(name).build());
        let blocked = || SnapshotB::instance().sg("sg-node", |g| g.ingress.clear());
        let healthy = crate::fleet::healthy_row(
            "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/1",
            "web",
            Some("shop/web".into()),
            3,
        );
        crate::fleet::report(
            "scan",
            vec![healthy],
            vec![d(blocked(), "shop-a"), d(blocked(), "shop-b"), d(SnapshotB::article(), "legacy")],
        )
    }

    #[test]
    fn text_says_the_common_cause_once_then_a_line_per_group() {
        insta::assert_snapshot!(text(&report()));
    }

    #[test]
    fn slack_is_one_message_within_limits_with_the_fix_once() {
        let m = slack(&report());
        insta::assert_json_snapshot!(m);
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        let all = m.to_string();
        assert_eq!(
            all.matches("authorize-security-group-ingress").count(),
            1,
            "the fix once for both groups"
        );
    }

    #[test]
    fn sns_drops_diagnoses_before_rows_when_too_large() {
        // GIVEN a report whose diagnoses exceed 256 KB together
        let mut r = report();
        let big = r.diagnoses[0].clone();
        for _ in 0..60 {
            let mut d = big.clone();
            d.findings[0].detail = "x".repeat(5000);
            r.diagnoses.push(d);
        }
        // WHEN rendered for SNS
        let m = sns(&r);
        // THEN it fits, every row is still there, and the subject counts the groups
        assert!(m.size() <= crate::render::sns::MAX_BYTES);
        let doc: Value = serde_json::from_str(&m.message).unwrap();
        let machine: Value = serde_json::from_str(doc["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["groups"].as_array().unwrap().len(), 4);
        assert!(machine["diagnoses"].as_array().unwrap().len() < 63);
        assert_eq!(m.subject, "PROBLEM: 3 of 4 target groups, 1 common cause");
    }

    #[test]
    fn pagerduty_is_one_alert_under_the_pass_key() {
        let e = pagerduty(&report(), "eks-lb-doctor/scan/demo");
        assert_eq!(e["dedup_key"], "eks-lb-doctor/scan/demo");
        assert!(e["payload"]["summary"].as_str().unwrap().len() <= 1024);
        assert_eq!(
            e["payload"]["custom_details"]["common_causes"][0]["target_groups"],
            json!(["shop-a", "shop-b"])
        );
    }
}
