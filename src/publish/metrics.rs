//! The function's own observability on Lambda: one CloudWatch Embedded Metric Format line per
//! diagnosis (diagnoses by root cause, status and cluster; collection time; unknown findings),
//! carrying the whole diagnosis as a nested object so Logs Insights can query any field of it,
//! and one per failed channel (publish failures by channel). CloudWatch Logs turns each `_aws`
//! block into metrics ("Specification: Embedded metric format", CloudWatch user guide: `_aws`
//! {`Timestamp` ms, `CloudWatchMetrics` [{`Namespace`, `Dimensions` [[names]], `Metrics`
//! [{`Name`, `Unit`}]}]}, each name a top-level member of the line). Written to stdout, the
//! function's log stream; the CLI writes none.

use std::io::Write;

use serde_json::{json, Value};

use crate::diagnosis::Diagnosis;

pub const NAMESPACE: &str = "EksLbDoctor";

tokio::task_local! {
    /// The Lambda request id of the invocation being handled (`lambda::main` scopes each
    /// invocation with it), so every line of it can be found together.
    pub static REQUEST_ID: String;
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The line for one diagnosis: its metrics under three dimension sets (root cause, status,
/// cluster: each answerable alone), and the diagnosis itself.
pub fn diagnosis_record(d: &Diagnosis, collection_ms: u64) -> Value {
    let unknown = d.unknown_findings();
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["RootCause"], ["Status"], ["Cluster"]],
                "Metrics": [
                    {"Name": "Diagnoses", "Unit": "Count"},
                    {"Name": "CollectionDuration", "Unit": "Milliseconds"},
                    {"Name": "UnknownFindings", "Unit": "Count"},
                ],
            }],
        },
        "level": "INFO",
        "message": "diagnosis",
        "requestId": request_id(),
        "RootCause": d.verdict.root_cause.map_or("none", |c| c.as_str()),
        "Status": crate::render::status_word(d),
        "Cluster": d.cluster.as_deref().unwrap_or("unknown"),
        "Diagnoses": 1,
        "CollectionDuration": collection_ms,
        "UnknownFindings": unknown,
        "diagnosis": d,
    })
}

/// The line for one channel that failed.
pub fn publish_failure_record(channel: &str, error: &str) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Channel"], []],
                "Metrics": [{"Name": "PublishFailures", "Unit": "Count"}],
            }],
        },
        "level": "WARN",
        "message": "a channel failed; the others published",
        "requestId": request_id(),
        "Channel": channel,
        "PublishFailures": 1,
        "error": error,
    })
}

/// Writes one line to the log stream (stdout), whole: a line is one log event.
pub fn emit(record: &Value) {
    let mut out = std::io::stdout().lock();
    // A log line that cannot be written has nowhere else to go.
    let _ = writeln!(out, "{record}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    /// The metric values an EMF line declares, as CloudWatch reads them: each declared metric and
    /// dimension must be a top-level member.
    fn declared(line: &Value) -> Vec<(String, Value)> {
        let d = &line["_aws"]["CloudWatchMetrics"][0];
        for set in d["Dimensions"].as_array().unwrap() {
            for name in set.as_array().unwrap() {
                assert!(
                    line.get(name.as_str().unwrap()).is_some_and(Value::is_string),
                    "dimension {name} missing"
                );
            }
        }
        (d["Metrics"].as_array().unwrap().iter())
            .map(|m| {
                let name = m["Name"].as_str().unwrap().to_string();
                let v = line.get(&name).cloned().unwrap_or(Value::Null);
                (name, v)
            })
            .collect()
    }

    #[test]
    fn diagnosis_line_declares_its_metrics_and_nests_the_diagnosis() {
        // GIVEN the article's diagnosis, inside an invocation
        let d = Diagnosis::from_snapshot(&SnapshotB::article().build());
        // WHEN made into its line
        let line = tokio_test_scope("req-1", || diagnosis_record(&d, 412));
        // THEN every declared metric and dimension is a member, with the values of this run
        let metrics = declared(&line);
        assert_eq!(
            metrics,
            [
                ("Diagnoses".into(), json!(1)),
                ("CollectionDuration".into(), json!(412)),
                ("UnknownFindings".into(), json!(0))
            ]
        );
        assert_eq!(
            (line["RootCause"].as_str(), line["Status"].as_str()),
            (Some("selector-match"), Some("PROBLEM"))
        );
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        // AND the diagnosis is an object (queryable), not an escaped string; the request is named
        assert_eq!(line["diagnosis"]["verdict"]["rootCause"], "selector-match");
        assert_eq!(line["requestId"], "req-1");
    }

    #[test]
    fn a_failed_channel_is_counted_by_channel_and_in_total() {
        let line = publish_failure_record("Slack", "Slack rejected the message: HTTP 404 channel_not_found");
        assert_eq!(declared(&line), [("PublishFailures".into(), json!(1))]);
        assert_eq!(line["Channel"], "Slack");
        // the empty dimension set gives the total across channels, for one alarm on it
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1], json!([]));
    }

    /// Runs `f` inside a request-id scope, as an invocation does.
    fn tokio_test_scope<T>(id: &str, f: impl FnOnce() -> T) -> T {
        REQUEST_ID.sync_scope(id.to_string(), f)
    }
}
