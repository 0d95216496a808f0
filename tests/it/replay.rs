//! `diagnose --save-snapshot` then `replay` gives the same diagnosis byte for byte; and the
//! failures that stop a diagnosis (exit 3) or bad snapshots (exit 2) say why.

use crate::harness::stack;

#[test]
fn replay_of_a_saved_snapshot_is_byte_identical() {
    // GIVEN the article scenario diagnosed with --save-snapshot
    let s = stack();
    let seed = s.seed("article");
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let tg = seed["targetGroupArn"].as_str().unwrap();
    for output in ["json", "text"] {
        let live = s.cli(&[
            "diagnose",
            "--target-group-arn",
            tg,
            "--output",
            output,
            "--save-snapshot",
            snap.to_str().unwrap(),
        ]);
        // WHEN replayed offline (no AWS, no cluster in the environment)
        let replayed = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
            .args(["replay", snap.to_str().unwrap(), "--output", output])
            .env_clear()
            .output()
            .unwrap();
        // THEN the report and the exit code are the same
        assert_eq!(live.status.code(), Some(1));
        assert_eq!(replayed.status.code(), live.status.code());
        assert_eq!(
            String::from_utf8_lossy(&replayed.stdout),
            String::from_utf8_lossy(&live.stdout),
            "{output} differs"
        );
    }
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    assert_eq!(saved["snapshotVersion"], 1);
    assert_eq!(saved["resolution"]["service"]["resolvedBy"], "target-group-binding");
    // AND only its owner may read it, and nothing in it is a whole object's last-applied copy
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!String::from_utf8_lossy(&std::fs::read(&snap).unwrap()).contains("last-applied-configuration"));
}

#[test]
fn replay_of_something_else_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-snapshot.json");
    std::fs::write(&path, r#"{"schemaVersion": 1}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["replay", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a snapshot this version can replay"));
}

#[test]
fn unknown_target_group_exits_3_naming_it() {
    let s = stack();
    let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/does-not-exist/00000000deadbeef";
    let out = s.cli(&["diagnose", "--target-group-arn", arn]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("target group") && err.contains("not found"), "{err}");
}

#[test]
fn unreachable_aws_endpoint_exits_3() {
    let s = stack();
    let seed = s.seed("healthy");
    let mut env = s.env.clone();
    env.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:1".into());
    env.insert("AWS_MAX_ATTEMPTS".into(), "1".into());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["diagnose", "--target-group-arn", seed["targetGroupArn"].as_str().unwrap()])
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot query AWS (elasticloadbalancing:DescribeTargetGroups)"));
}

#[test]
fn pods_the_selector_misses_are_saved_in_outline_and_selected_pods_whole() {
    // GIVEN the article (the selector matches none of the pods) and the healthy scenario (it matches both)
    let s = stack();
    let dir = tempfile::tempdir().unwrap();
    let pods_of = |scenario: &str| {
        let seed = s.seed(scenario);
        let snap = dir.path().join(format!("{scenario}.json"));
        // WHEN each is diagnosed with --save-snapshot
        s.cli(&[
            "diagnose",
            "--target-group-arn",
            seed["targetGroupArn"].as_str().unwrap(),
            "--save-snapshot",
            snap.to_str().unwrap(),
        ]);
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
        saved["kube"]["pods"]["ok"].as_array().expect("pods collected").clone()
    };
    let (missed, selected) = (pods_of("article"), pods_of("healthy"));
    // THEN pods the selector misses keep what selector-match and the target lookups read
    // (labels, owner, node, IP, conditions) and not their containers
    assert_eq!(missed.len(), 2);
    for p in &missed {
        assert_eq!(p["metadata"]["labels"]["app"], "alb-instance", "{p}");
        assert!(p["metadata"]["ownerReferences"][0]["name"].is_string(), "{p}");
        assert!(p["spec"]["nodeName"].is_string(), "{p}");
        assert!(p["status"]["podIP"].is_string(), "{p}");
        assert!(p["status"]["conditions"].is_array(), "{p}");
        assert_eq!(p["spec"]["containers"], serde_json::json!([]), "{p}");
        assert!(p["status"].get("containerStatuses").is_none(), "{p}");
    }
    // AND selected pods keep their containers, ports and statuses
    assert_eq!(selected.len(), 2);
    for p in &selected {
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["containerPort"], 80, "{p}");
        assert!(p["status"]["containerStatuses"].is_array(), "{p}");
    }
}
