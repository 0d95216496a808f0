//! The health probe on loopback only: local servers on 127.0.0.2–8 answer 200, 404, 503, slowly,
//! with a reset, not at all, and over TLS; each maps to its evidence. The apiserver-proxy mode
//! against the local API server degrades to unknown without dialling any node.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::{finding, repo, stack};

/// The loopback servers of scripts/stack/probe_targets.py; stopped when dropped.
struct Targets(Child);

impl Targets {
    fn start() -> Targets {
        let mut child = Command::new("python3")
            .arg(repo().join("scripts/stack/probe_targets.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Targets(child)
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        drop(self.0.stdin.take()); // closing stdin ends it
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn outcome<'a>(f: &'a Value, target: &str) -> &'a Value {
    &f["evidence"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("{target} not probed: {f:#}"))["outcome"]
}

fn probe(tg: &str, mode: &str) -> Value {
    let out = stack().cli(&["diagnose", "--target-group-arn", tg, "--output", "json", "--probe", mode]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    finding(&d, "health-probe").clone()
}

#[test]
fn direct_probe_maps_each_behaviour_to_its_evidence() {
    // GIVEN loopback servers and target groups whose targets they are
    let s = stack();
    let seed = s.seed("probe-targets");
    let _servers = Targets::start();
    // WHEN the HTTP target group is diagnosed with --probe direct
    let f = probe(seed["targetGroupArn"].as_str().unwrap(), "direct");
    // THEN every behaviour shows as itself
    assert_eq!(f["status"], "fail");
    let ok = outcome(&f, "127.0.0.2");
    assert_eq!(
        (ok["result"].as_str(), ok["status"].as_u64(), ok["matched"].as_bool()),
        (Some("answered"), Some(200), Some(true))
    );
    assert!(
        ok["headers"].as_array().unwrap().iter().any(|h| h[0] == "x-probe-target"),
        "first headers kept: {ok}"
    );
    assert_eq!(
        (
            outcome(&f, "127.0.0.3")["status"].as_u64(),
            outcome(&f, "127.0.0.3")["matched"].as_bool()
        ),
        (Some(404), Some(false))
    );
    assert_eq!(
        (
            outcome(&f, "127.0.0.4")["status"].as_u64(),
            outcome(&f, "127.0.0.4")["matched"].as_bool()
        ),
        (Some(503), Some(false))
    );
    assert_eq!(outcome(&f, "127.0.0.5")["kind"], "timeout");
    assert!(
        outcome(&f, "127.0.0.5")["latencyMs"].as_u64().unwrap() >= 1900,
        "the target group's 2 s timeout is used"
    );
    assert_eq!(outcome(&f, "127.0.0.6")["kind"], "reset", "{:#}", outcome(&f, "127.0.0.6"));
    assert_eq!(outcome(&f, "127.0.0.7")["kind"], "refused");
    let detail = f["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "127.0.0.2 answers 200 to the probe (http://127.0.0.2:18080/), yet the load balancer reports Target.Timeout: the network"
        ),
        "{detail}"
    );
    assert!(
        detail.contains("127.0.0.3 answers 404 at http://127.0.0.3:18080/, outside the success codes, as the load balancer saw"),
        "{detail}"
    );
    assert!(
        detail.contains("127.0.0.7 refuses connections on port 18080: nothing listens there"),
        "{detail}"
    );
    assert_eq!(f["evidence"]["mode"], "direct");

    // WHEN the HTTPS target group is probed THEN the self-signed server answers (no verification,
    // as the load balancer) and the plain HTTP port fails the TLS handshake
    let f = probe(seed["httpsTargetGroupArn"].as_str().unwrap(), "direct");
    assert_eq!(outcome(&f, "127.0.0.8")["status"], 200);
    assert_eq!(outcome(&f, "127.0.0.2")["kind"], "tls");
}

#[test]
fn probe_is_off_by_default() {
    let s = stack();
    let seed = s.seed("probe-targets");
    let (d, _) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    assert_eq!(finding(&d, "health-probe")["status"], "skipped");
}

#[test]
fn apiserver_proxy_never_proxies_instance_targets_and_dials_nothing() {
    // GIVEN instance targets (their fake Nodes have no Hostname address: nothing could be dialled)
    let s = stack();
    let seed = s.seed("kube-proxy-down");
    // WHEN probed in apiserver-proxy mode
    let f = probe(seed["targetGroupArn"].as_str().unwrap(), "apiserver-proxy");
    // THEN nothing goes through the node proxy (it reaches the kubelet): each target says why
    let results = f["evidence"]["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{f:#}");
    for r in results {
        assert_eq!(r["outcome"]["result"], "notProbed", "{r}");
        assert!(r["outcome"]["reason"].as_str().unwrap().contains("direct mode only"), "{r}");
    }
}
