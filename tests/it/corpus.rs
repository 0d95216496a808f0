//! The offline loop: snapshots saved from real stack runs (`tests/corpus/`, recorded by
//! `scripts/corpus.py`, one per root cause) replayed through `replay`'s code path, without the
//! stack, in seconds. And the reader and the diagnosis never panic, whatever JSON they are given.

use std::path::{Path, PathBuf};

use eks_lb_doctor::render::{self, Format};
use eks_lb_doctor::{read_snapshot, snapshot, Diagnosis};
use proptest::prelude::*;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// (scenario, its snapshot file) for every recorded scenario.
fn recorded() -> Vec<(String, PathBuf)> {
    let expected: Value = serde_json::from_slice(&std::fs::read(corpus().join("expected.json")).unwrap()).unwrap();
    expected
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), corpus().join(format!("{k}.json"))))
        .collect()
}

#[test]
fn corpus_covers_every_root_cause_check() {
    // GIVEN the recorded verdicts
    let expected: Value = serde_json::from_slice(&std::fs::read(corpus().join("expected.json")).unwrap()).unwrap();
    let causes: std::collections::BTreeSet<&str> = expected
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v["rootCause"].as_str())
        .collect();
    // THEN every check that can be a root cause on the stack has a snapshot (the probe is off
    // on the stack, so health-probe cannot be one)
    for c in eks_lb_doctor::checks::CATALOGUE {
        if c.id.as_str() != "health-probe" {
            assert!(causes.contains(c.id.as_str()), "no corpus snapshot has root cause {}", c.id);
        }
    }
}

#[test]
fn corpus_snapshots_replay_to_their_recorded_verdicts() {
    let expected: Value = serde_json::from_slice(&std::fs::read(corpus().join("expected.json")).unwrap()).unwrap();
    for (name, path) in recorded() {
        // GIVEN a snapshot saved from a stack run
        // WHEN replayed the way `eks-lb-doctor replay` does
        let snap = read_snapshot(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let d = Diagnosis::from_snapshot(&snap);
        // THEN the verdict is the one the scenario was built to show
        let want = &expected[&name];
        assert_eq!(
            serde_json::to_value(d.verdict.status).unwrap(),
            want["status"],
            "{name}: {}",
            d.verdict.summary
        );
        assert_eq!(
            d.verdict.root_cause.map(|c| c.as_str().to_string()),
            want["rootCause"].as_str().map(String::from),
            "{name}: {}",
            d.verdict.summary
        );
        // AND the report a person reads is pinned
        insta::with_settings!({snapshot_suffix => name.clone(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("corpus_text", render::render(&d, &snap, Format::Text, false));
        });
    }
}

#[test]
fn replay_of_another_snapshot_version_exits_2_naming_it() {
    // GIVEN a corpus snapshot whose version says 2
    let (_, path) = recorded().remove(0);
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["snapshotVersion"] = 2.into();
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, v.to_string()).unwrap();
    // WHEN replayed by the CLI
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
        .args(["replay", newer.to_str().unwrap()])
        .output()
        .unwrap();
    // THEN it is refused as bad input, naming the version
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshotVersion 2 is not 1"), "{err}");
}

/// Reads and diagnoses whatever it is given; renders every format. Must never panic.
fn replay_bytes(bytes: &[u8]) {
    if let Ok(snap) = snapshot::from_json(bytes) {
        let d = Diagnosis::from_snapshot(&snap);
        for format in [Format::Text, Format::Json, Format::Slack] {
            render::render(&d, &snap, format, false);
        }
        render::sns::message(&d, &snap.request);
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9:/._ -]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in a document.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// Applies one mutation at the `pick`-th pointer: remove it, null it, or put another shape there.
fn mutate(doc: &mut Value, pick: usize, kind: u8, replacement: &Value) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let at = &all[pick % all.len()];
    let (parent, key) = at.rsplit_once('/').unwrap();
    let Some(parent) = doc.pointer_mut(parent) else { return };
    let slot = match parent {
        Value::Object(m) => {
            let key = key.replace("~1", "/").replace("~0", "~");
            if kind % 4 == 0 {
                m.remove(&key);
                return;
            }
            m.get_mut(&key)
        }
        Value::Array(a) => {
            let i: usize = key.parse().unwrap();
            if kind % 4 == 0 {
                a.remove(i);
                return;
            }
            a.get_mut(i)
        }
        _ => None,
    };
    if let Some(slot) = slot {
        *slot = match kind % 4 {
            1 => Value::Null,
            2 => Value::Array(vec![]),
            _ => replacement.clone(),
        };
    }
}

/// The sample payloads of `events/`: every shape the function accepts.
fn sample_events() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut out: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// A parsed trigger either refuses with a message or yields requests whose target group ARNs
/// parse again: nothing in between, and never a panic.
fn parse_trigger(v: &Value) {
    use eks_lb_doctor::trigger::{self, TargetGroupArn, Trigger};
    match trigger::parse_value(v) {
        Ok(Trigger::Diagnose(reqs)) => {
            assert!(!reqs.is_empty());
            for r in reqs {
                let arn = TargetGroupArn::parse(&r.target_group_arn).expect("a request's ARN is valid");
                assert_eq!((arn.region, arn.account), (r.region, r.account));
            }
        }
        Ok(Trigger::Acknowledge(_)) => {}
        // A scan payload is validated where it runs (Config::admit_scan, unit-tested), before any
        // credential: parsing it must only not panic.
        Ok(Trigger::Scan(_)) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_sample_events_parse_or_are_refused_never_panic(
        which in any::<usize>(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), arbitrary_json()), 1..6),
    ) {
        let events = sample_events();
        let mut doc = events[which % events.len()].clone();
        for (pick, kind, replacement) in &mutations {
            mutate(&mut doc, *pick, *kind, replacement);
        }
        parse_trigger(&doc);
        // and as raw bytes, cut anywhere
        let bytes = doc.to_string().into_bytes();
        let _ = eks_lb_doctor::trigger::parse(&bytes[..which % (bytes.len() + 1)]);
    }

    #[test]
    fn arbitrary_json_payloads_parse_or_are_refused(doc in arbitrary_json()) {
        parse_trigger(&doc);
    }

    #[test]
    fn arbitrary_arns_and_dimensions_never_panic(
        s in "(arn:aws[a-z-]{0,4}:elasticloadbalancing:[a-z0-9-]{0,14}:[0-9]{0,13}:)?(targetgroup/)?[\\PC]{0,40}",
        region in "[a-z0-9-]{0,14}",
        account in "[0-9]{0,13}",
    ) {
        use eks_lb_doctor::trigger::TargetGroupArn;
        if let Ok(a) = TargetGroupArn::parse(&s) {
            prop_assert!(a.arn.starts_with("arn:"));
        }
        let _ = TargetGroupArn::from_dimension(&s, &region, &account);
    }

    #[test]
    fn arbitrary_json_never_panics_the_replay(doc in arbitrary_json()) {
        replay_bytes(doc.to_string().as_bytes());
        // with the right version too, so the reader goes past the version check
        if let Value::Object(mut m) = doc {
            m.insert("snapshotVersion".into(), 1.into());
            replay_bytes(Value::Object(m).to_string().as_bytes());
        }
    }

    #[test]
    fn mutated_real_snapshots_never_panic_the_replay(
        which in any::<usize>(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), arbitrary_json()), 1..8),
    ) {
        let files = recorded();
        let (_, path) = &files[which % files.len()];
        let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for (pick, kind, replacement) in &mutations {
            mutate(&mut doc, *pick, *kind, replacement);
        }
        replay_bytes(doc.to_string().as_bytes());
    }
}
