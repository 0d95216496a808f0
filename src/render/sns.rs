//! The SNS message: one Publish with `MessageStructure=json`, so email and default subscribers
//! get the text report and machines (sqs, lambda, http, https) the diagnosis JSON. The Subject
//! (under 100 ASCII characters) names the verdict, the root cause, the Service and the cluster;
//! message attributes let subscriptions filter. The 256 KB limit is kept by trimming evidence,
//! never by cutting JSON. Pure: `publish::sns` sends it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{alarm_of, status_word, subject_of};
use crate::diagnosis::Diagnosis;
use crate::trigger::Request;

/// SNS's limit for the whole message (body, subject and attributes).
pub const MAX_BYTES: usize = 262_144;

#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    pub subject: String,
    /// The `MessageStructure=json` document.
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

impl SnsMessage {
    pub fn size(&self) -> usize {
        self.message.len()
            + self.subject.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + "String".len())
                .sum::<usize>()
    }
}

/// "PROBLEM: selector-match on default/alb-instance (demo)": ASCII, no line breaks, < 100.
pub fn subject(d: &Diagnosis) -> String {
    let cause = d.verdict.root_cause.map(|c| format!("{c} on ")).unwrap_or_default();
    let cluster = d.cluster.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
    let s = format!("{}: {cause}{}{cluster}", status_word(d), subject_of(d));
    let ascii: String = s
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '-' })
        .collect();
    ascii.chars().take(99).collect()
}

pub fn attributes(d: &Diagnosis) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("status".into(), status_word(d).to_lowercase());
    a.insert(
        "rootCause".into(),
        d.verdict
            .root_cause
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|| "none".into()),
    );
    a.insert("targetGroup".into(), d.target_group.name.clone());
    if let Some(c) = &d.cluster {
        a.insert("cluster".into(), c.clone());
    }
    if let Some(s) = &d.service {
        a.insert("namespace".into(), s.namespace.clone());
        a.insert("service".into(), s.name.clone());
    }
    a
}

/// Builds the message, trimming evidence (largest first) until it fits.
pub fn message(d: &Diagnosis, req: &Request) -> SnsMessage {
    let mut d = d.clone();
    loop {
        let m = build(&d, req);
        if m.size() <= MAX_BYTES {
            return m;
        }
        // The largest evidence goes first; then the targets beyond the first 100.
        let largest = d
            .findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.evidence.get("trimmed").is_none())
            .max_by_key(|(_, f)| f.evidence.to_string().len())
            .map(|(i, f)| (i, f.evidence.to_string().len()));
        match largest {
            Some((i, len)) if len > 200 => {
                d.findings[i].evidence = json!({"trimmed": "evidence removed to fit SNS's 256 KB limit; run the diagnosis again with --output json for all of it"})
            }
            _ if d.targets.len() > 100 => {
                let extra = d.targets.len() - 100;
                d.targets.sort_by_key(|t| t.state == "healthy");
                d.targets.truncate(100);
                d.verdict.summary.push_str(&format!(" ({extra} more targets not listed.)"));
            }
            _ => {
                // Last resort: shorten the details; the JSON stays valid.
                for f in &mut d.findings {
                    f.detail
                        .truncate(f.detail.char_indices().nth(300).map(|(i, _)| i).unwrap_or(f.detail.len()));
                }
                let m = build(&d, req);
                return m;
            }
        }
    }
}

fn build(d: &Diagnosis, req: &Request) -> SnsMessage {
    let text = super::text(d, false);
    let alarm = alarm_of(req)
        .map(|a| format!("Alarm: {a}\n       {}\n", super::alarm_link(&req.region, a)))
        .unwrap_or_default();
    let text = format!("{alarm}{text}");
    let json: Value = serde_json::to_value(d).expect("a diagnosis serialises");
    let json = json.to_string();
    let doc = json!({"default": text, "email": text, "email-json": json, "sqs": json, "lambda": json, "http": json, "https": json});
    SnsMessage {
        subject: subject(d),
        message: doc.to_string(),
        attributes: attributes(d),
    }
}

/// For a topic Amazon Q Developer reads (`SNS_FORMAT=chatbot`): every machine protocol gets the
/// custom notification instead of the diagnosis JSON (Q Developer subscribes over HTTPS), email
/// keeps the text report. Subject and attributes as for a diagnosis.
pub fn chatbot(d: &Diagnosis, req: &Request, load_balancers: &[String]) -> SnsMessage {
    with_machine_body(message(d, req), &super::chatbot::notification(d, req, load_balancers))
}

/// The recovery notice in the diagnosis's thread, for a topic Amazon Q Developer reads.
pub fn chatbot_recovered(alarm: &str) -> SnsMessage {
    with_machine_body(recovered(alarm), &super::chatbot::recovered(alarm))
}

pub(crate) fn with_machine_body(mut m: SnsMessage, body: &Value) -> SnsMessage {
    let mut doc: Value = serde_json::from_str(&m.message).expect("our own document");
    let body = body.to_string();
    for key in ["default", "email-json", "sqs", "lambda", "http", "https"] {
        doc[key] = Value::String(body.clone());
    }
    m.message = doc.to_string();
    m
}

/// A short notice for an alarm back in OK.
pub fn recovered(alarm: &str) -> SnsMessage {
    let text = format!("Alarm {alarm} is OK again: the targets pass their health checks.");
    let machine = json!({"recovered": true, "alarm": alarm});
    notice(&format!("RECOVERED: {alarm}"), &text, &machine, "recovered")
}

/// A short message: text for people, `machine` for machines, an ASCII subject under 100.
pub(super) fn notice(subject: &str, text: &str, machine: &Value, status: &str) -> SnsMessage {
    let doc = json!({"default": text, "email": text, "sqs": machine.to_string()});
    SnsMessage {
        subject: subject.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(99).collect(),
        message: doc.to_string(),
        attributes: BTreeMap::from([("status".into(), status.into())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn req() -> Request {
        SnapshotB::article().build().request
    }

    #[test]
    fn subject_names_verdict_cause_service_and_cluster_in_ascii_under_100() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        assert_eq!(subject(&d), "PROBLEM: selector-match on default/alb-instance (demo)");
        let mut long = d.clone();
        long.service.as_mut().unwrap().name = "ä".repeat(200);
        let s = subject(&long);
        assert!(s.len() < 100 && s.is_ascii() && !s.contains('\n'), "{s}");
    }

    #[test]
    fn message_structure_gives_text_to_email_and_json_to_machines() {
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        let m = message(&d, &req());
        let doc: Value = serde_json::from_str(&m.message).unwrap();
        assert!(doc["email"].as_str().unwrap().contains("Root cause: selector-match"));
        assert_eq!(doc["default"], doc["email"]);
        let machine: Value = serde_json::from_str(doc["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["verdict"]["rootCause"], "selector-match");
        assert_eq!(doc["lambda"], doc["sqs"]);
        assert_eq!(m.attributes["status"], "problem");
        assert_eq!(m.attributes["rootCause"], "selector-match");
        assert_eq!(m.attributes["namespace"], "default");
    }

    #[test]
    fn oversized_diagnosis_is_trimmed_to_a_valid_message_under_256_kb() {
        // GIVEN a diagnosis whose evidence alone is ~600 KB
        let mut d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        d.findings[3].evidence = json!({"blob": "x".repeat(600_000)});
        // WHEN the message is built
        let m = message(&d, &req());
        // THEN it fits, is valid JSON all the way down, and says what was trimmed
        assert!(m.size() <= MAX_BYTES, "{}", m.size());
        let doc: Value = serde_json::from_str(&m.message).unwrap();
        let machine: Value = serde_json::from_str(doc["sqs"].as_str().unwrap()).unwrap();
        assert!(machine["findings"][3]["evidence"]["trimmed"].as_str().unwrap().contains("256 KB"));
        assert_eq!(machine["verdict"]["rootCause"], "selector-match");
    }
}
