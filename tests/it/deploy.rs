//! Deployment artefacts checked against the code: the templates lint clean, the IAM policy and
//! the RBAC cover every call the code makes (derived from the code, not from a second list), and
//! the EventBridge rules trigger on exactly the sample events that should trigger.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::harness::repo;

fn python(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn source(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap()
}

/// `name("a", "b"` → every (a, b) in `text`.
fn call_args(text: &str, name: &str) -> Vec<(String, String)> {
    let quoted = |s: &str| -> Option<(String, usize)> {
        let s0 = s.trim_start();
        let rest = s0.strip_prefix('"')?;
        let end = rest.find('"')?;
        Some((rest[..end].to_string(), s.len() - s0.len() + end + 2))
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices(&format!("{name}(")) {
        let rest = &text[i + name.len() + 1..];
        let Some((a, used)) = quoted(rest) else { continue };
        let rest = rest[used..].trim_start();
        let Some(rest) = rest.strip_prefix(',') else { continue };
        let Some((b, _)) = quoted(rest) else { continue };
        out.push((a, b));
    }
    out
}

/// Every IAM action the code calls: each AWS call reports failure through `missing` (ELBv2) or
/// `missing_in(service, api)`, so the calls are found where they are made.
fn actions_in_code() -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for f in [
        "src/collect/aws.rs",
        "src/collect/ec2.rs",
        "src/collect/eks.rs",
        "src/collect/access.rs",
        "src/publish/sns.rs",
        "src/publish/webhook.rs",
        "src/publish/ledger.rs",
        "src/collect/cloudtrail.rs",
    ] {
        let text = source(f);
        // Every AWS call names its action where its failure is reported.
        for name in ["missing_in", "call_failed"] {
            for (service, api) in call_args(&text, name) {
                if service != "service" {
                    actions.insert(format!("{service}:{api}"));
                }
            }
        }
        // The delivery ledger signs its own DynamoDB calls: `self.call("PutItem", …)`.
        if f.ends_with("ledger.rs") {
            for i in text.match_indices("self.call(\"").map(|(i, _)| i) {
                let api: String = text[i + 11..].chars().take_while(|c| *c != '"').collect();
                actions.insert(format!("dynamodb:{api}"));
            }
        }
        // CloudTrail's lookups are signed JSON calls too: `api.call("LookupEvents", …)`.
        if f.ends_with("cloudtrail.rs") {
            for i in text.match_indices("api.call(\"").map(|(i, _)| i) {
                let api: String = text[i + 10..].chars().take_while(|c| *c != '"').collect();
                actions.insert(format!("cloudtrail:{api}"));
            }
        }
        if f.ends_with("aws.rs") {
            for i in text.match_indices("missing(\"").map(|(i, _)| i) {
                let api: String = text[i + 9..].chars().take_while(|c| *c != '"').collect();
                actions.insert(format!("elasticloadbalancing:{api}"));
            }
        }
    }
    actions
}

fn template_actions(file: &str) -> BTreeSet<String> {
    let t = python(&["scripts/deploy/template_json.py", file]);
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(a) = m.get("Action") {
                    for s in a.as_array().cloned().unwrap_or_else(|| vec![a.clone()]) {
                        if let Some(s) = s.as_str() {
                            out.insert(s.to_string());
                        }
                    }
                }
                m.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&t["Resources"], &mut out);
    out
}

#[test]
fn every_template_lints_clean() {
    let out = Command::new("cfn-lint")
        .args(["template.yaml", "infra/cross-account-role.yaml", "infra/alarms.yaml"])
        .current_dir(repo())
        .output()
        .expect("cfn-lint is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn function_policy_allows_every_aws_action_the_code_calls_and_the_read_role_every_read() {
    let code = actions_in_code();
    assert!(code.len() >= 17, "found {code:?}");
    assert!(code.contains("ec2:DescribeNetworkAcls") && code.contains("sts:AssumeRole") && code.contains("secretsmanager:GetSecretValue"));
    assert!(code.contains("dynamodb:PutItem"), "the delivery ledger's call: {code:?}");
    assert!(code.contains("cloudtrail:LookupEvents"), "what changed on the AWS side: {code:?}");
    let function = template_actions("template.yaml");
    let missing: Vec<&String> = code.iter().filter(|a| !function.contains(*a)).collect();
    assert!(missing.is_empty(), "template.yaml's function policy lacks {missing:?}");
    // The role in other accounts needs the reads (not publishing, not assuming further roles).
    let reads: BTreeSet<&String> = code
        .iter()
        .filter(|a| {
            a.starts_with("elasticloadbalancing:") || a.starts_with("ec2:") || a.starts_with("eks:") || a.starts_with("cloudtrail:")
        })
        .collect();
    let role = template_actions("infra/cross-account-role.yaml");
    let missing: Vec<&&String> = reads.iter().filter(|a| !role.contains(**a)).collect();
    assert!(missing.is_empty(), "infra/cross-account-role.yaml lacks {missing:?}");
}

#[test]
fn rbac_covers_every_kubernetes_read_and_the_remediation_role_its_write() {
    // Every Kubernetes call reports failure through `missing(verb, resource, …)`.
    let mut reads = call_args(&source("src/collect/kube.rs"), "missing");
    reads.extend(call_args(&source("src/collect/gateway.rs"), "missing"));
    reads.extend(call_args(&source("src/collect/changes.rs"), "missing"));
    reads.extend(call_args(&source("src/collect/namespace.rs"), "missing"));
    reads.retain(|(verb, _)| verb != "verb");
    assert!(reads.len() >= 12, "found {reads:?}");
    let writes = call_args(&source("src/remediate.rs"), "missing");
    assert_eq!(writes, [("patch".to_string(), "daemonsets.apps".to_string())]);
    let rules = |file: &str| -> Vec<Value> {
        let docs = python(&[
            "-c",
            "import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            file,
        ]);
        docs.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
            .flat_map(|d| d["rules"].as_array().unwrap().clone())
            .collect()
    };
    let allows = |rules: &[Value], verb: &str, resource: &str| {
        // "pods", "targetgroupbindings.elbv2.k8s.aws", "pods/log"
        let (name, group) = match resource.split_once('.') {
            Some((n, g)) => (n, g),
            None => (resource, ""),
        };
        rules.iter().any(|r| {
            let has = |k: &str, v: &str| r[k].as_array().is_some_and(|a| a.iter().any(|x| x == v || x == "*"));
            has("apiGroups", group) && has("resources", name) && has("verbs", verb)
        })
    };
    let read = rules("infra/rbac.yaml");
    let missing: Vec<&(String, String)> = reads.iter().filter(|(v, r)| !allows(&read, v, r)).collect();
    assert!(missing.is_empty(), "infra/rbac.yaml lacks {missing:?}");
    assert!(
        !read.iter().any(|r| r["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| !["get", "list"].contains(&v.as_str().unwrap()))),
        "the read role only reads"
    );
    let write = rules("infra/rbac-remediate-kube-proxy.yaml");
    assert!(allows(&write, "patch", "daemonsets.apps"));
}

#[test]
fn eventbridge_rules_trigger_on_exactly_the_samples_that_should() {
    let off = python(&["scripts/deploy/check_patterns.py", "template.yaml", "events", "false"]);
    let expected = serde_json::json!({
        "alarm-state-change.json": ["UnhealthyHostsAlarm"],
        "alarm-metric-math.json": ["UnhealthyHostsAlarm"],
        "alarm-contributor.json": ["UnhealthyHostsContributor"],
        "alarm-ok.json": [],
        "alarm-insufficient-data.json": [],
        "alarm-other-metric.json": [],
        "sns-alarm.json": [],
        "manual.json": [],
    });
    assert_eq!(off, expected);
    // With NotifyOnOk the OK transition triggers too (for the "recovered" notice).
    let on = python(&["scripts/deploy/check_patterns.py", "template.yaml", "events", "true"]);
    assert_eq!(on["alarm-ok.json"], serde_json::json!(["UnhealthyHostsAlarm"]));
    assert_eq!(on["alarm-insufficient-data.json"], serde_json::json!([]));
}
