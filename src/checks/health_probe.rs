//! `health-probe` (article §9): the load balancer's health check, repeated by eks-lb-doctor
//! against the unhealthy targets (and one healthy one), and what the answer says.
//!
//! The kind of failure points at the cause: refused → nothing listens on the port; timed out →
//! something drops the packets (security group, NACL) or the app hangs; reset → the app closes
//! the connection (wrong protocol, proxy protocol expected); TLS error → HTTPS against a plain
//! port; a code outside the matcher → the path or the success codes. A probe that succeeds while
//! the load balancer times out points at the network between the load balancer and the target.

use serde_json::json;

use super::{Check, CheckId, Finding, Layer, Scope};
use crate::snapshot::{Fetched, ProbeRun, View};
use crate::snapshot::{FailureKind, ProbeOutcome, ProbeResult};

pub const CHECK: Check = Check {
    id: CheckId::HEALTH_PROBE,
    section: "§9",
    layer: Layer::Config,
    verifies: "repeats the target group's own health check (protocol, port, path, timeout, success codes, no certificate verification) against up to 20 unhealthy targets and one healthy one, and reads the answer: refused, timed out, reset, TLS error or the code; off unless `--probe` / `PROBE_MODE`",
    needs: "network reach or pods/proxy",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    let run = match &ctx.snap.probe {
        Fetched::Ok(r) => r,
        Fetched::NotCollected { reason } => return Err(ctx.skipped(reason.clone())),
        Fetched::Failed(m) => return Err(ctx.unknown(m.explain())),
    };
    Ok(judge(ctx, run))
}

fn judge(ctx: &View, run: &ProbeRun) -> Finding {
    let evidence =
        json!({"mode": run.mode, "origin": run.origin, "cap": run.cap, "unhealthyTotal": run.unhealthy_total, "results": run.results});
    let capped = if run.unhealthy_total > run.cap {
        format!(" (the first {} of {} unhealthy targets were probed)", run.cap, run.unhealthy_total)
    } else {
        String::new()
    };
    let mut sentences: Vec<String> = Vec::new();
    let mut explains: Vec<String> = Vec::new();
    let mut not_tested: Vec<String> = Vec::new();
    let mut confirmed_only = 0;
    let elb_reason = |r: &ProbeResult| {
        ctx.targets
            .as_ref()
            .ok()
            .and_then(|t| t.iter().find(|t| t.id == r.target))
            .and_then(|t| t.reason.clone())
            .unwrap_or_default()
    };
    for r in run.results.iter().filter(|r| !r.healthy_in_elb) {
        let reason = elb_reason(r);
        match &r.outcome {
            ProbeOutcome::Answered { matched: true, status, .. } => {
                sentences.push(format!("{} answers {status} to the probe ({}), yet the load balancer reports {reason}: the network between the load balancer and the target drops the check (security groups, NACLs)", r.target, r.via));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Connected { .. } => {
                sentences.push(format!("{} accepts connections on port {} ({}), yet the load balancer reports {reason}: the network between them drops the check", r.target, r.port, r.via));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Answered { status, .. } => {
                sentences.push(format!(
                    "{} answers {status} at {}, outside the success codes{}",
                    r.target,
                    r.via,
                    if reason == "Target.ResponseCodeMismatch" {
                        ", as the load balancer saw: fix the path or the success codes"
                    } else {
                        ""
                    }
                ));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Failed {
                kind: FailureKind::Refused,
                ..
            } => {
                sentences.push(format!(
                    "{} refuses connections on port {}: nothing listens there",
                    r.target, r.port
                ));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Failed {
                kind: FailureKind::Reset,
                error,
                ..
            } => {
                sentences.push(format!(
                    "{} resets the connection on port {} ({error}): the app rejects the check (wrong protocol, proxy protocol expected?)",
                    r.target, r.port
                ));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Failed {
                kind: FailureKind::Tls,
                error,
                ..
            } => {
                sentences.push(format!(
                    "the TLS handshake with {} fails ({error}): an HTTPS check against a plain port?",
                    r.target
                ));
                explains.push(r.target.clone());
            }
            ProbeOutcome::Failed {
                kind: FailureKind::Timeout,
                ..
            } => {
                sentences.push(format!(
                    "{} does not answer within the timeout either: packets dropped on the way, or the app hangs",
                    r.target
                ));
                confirmed_only += 1;
            }
            ProbeOutcome::Failed {
                kind: FailureKind::Unreachable | FailureKind::Other,
                error,
                ..
            } => not_tested.push(format!("{}: {error}", r.target)),
            ProbeOutcome::NotProbed { reason } => not_tested.push(format!("{}: {reason}", r.target)),
        }
    }
    let comparison = run
        .results
        .iter()
        .find(|r| r.healthy_in_elb)
        .map(|r| format!(" For comparison, healthy target {} gave: {}.", r.target, short(&r.outcome)))
        .unwrap_or_default();
    let untested = if not_tested.is_empty() {
        String::new()
    } else {
        format!(" Not tested: {}.", not_tested.join("; "))
    };
    if !explains.is_empty() {
        return Finding::fail(
            ID,
            "The probe tells why",
            format!("Probing {}: {}.{comparison}{untested}{capped}", run.origin, sentences.join("; ")),
        )
        .evidence(evidence)
        .explains(explains);
    }
    if confirmed_only > 0 {
        return Finding::warn(
            ID,
            "The probe times out too",
            format!("Probing {}: {}.{comparison}{untested}{capped}", run.origin, sentences.join("; ")),
        )
        .evidence(evidence);
    }
    if !not_tested.is_empty() {
        return Finding::unknown(
            ID,
            format!("the probe could not test the targets ({}): {}", run.origin, not_tested.join("; ")),
        )
        .evidence(evidence);
    }
    Finding::pass(
        ID,
        "Probes agree with the load balancer",
        format!("No unhealthy target to probe, or every probe matched the load balancer's view.{comparison}"),
    )
    .evidence(evidence)
}

fn short(o: &ProbeOutcome) -> String {
    match o {
        ProbeOutcome::Answered { status, latency_ms, .. } => format!("HTTP {status} in {latency_ms} ms"),
        ProbeOutcome::Connected { latency_ms } => format!("connected in {latency_ms} ms"),
        ProbeOutcome::Failed { kind, error, .. } => format!("{kind:?}: {error}").to_lowercase(),
        ProbeOutcome::NotProbed { reason } => format!("not probed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;

    fn result(target: &str, healthy: bool, outcome: ProbeOutcome) -> ProbeResult {
        ProbeResult {
            target: target.into(),
            healthy_in_elb: healthy,
            protocol: "HTTP".into(),
            port: 8080,
            via: format!("http://{target}:8080/"),
            outcome,
        }
    }

    #[test]
    fn off_by_default_is_skipped_saying_how_to_turn_it_on() {
        let f = CHECK.on(&SnapshotB::ip().build());
        assert_eq!(f.status, Status::Skipped);
        assert!(f.detail.contains("the probe is off"), "{}", f.detail);
    }

    #[test]
    fn probe_answering_200_while_elb_times_out_points_at_the_network() {
        let snap = SnapshotB::ip()
            .probe(vec![
                result(
                    "10.0.2.11",
                    false,
                    ProbeOutcome::Answered {
                        status: 200,
                        matched: true,
                        latency_ms: 3,
                        headers: vec![],
                    },
                ),
                result(
                    "10.0.1.10",
                    true,
                    ProbeOutcome::Answered {
                        status: 200,
                        matched: true,
                        latency_ms: 2,
                        headers: vec![],
                    },
                ),
            ])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("10.0.2.11 answers 200 to the probe"), "{}", f.detail);
        assert!(
            f.detail
                .contains("yet the load balancer reports Target.Timeout: the network between"),
            "{}",
            f.detail
        );
        assert!(
            f.detail.contains("For comparison, healthy target 10.0.1.10 gave: HTTP 200"),
            "{}",
            f.detail
        );
        assert_eq!(f.explains, vec!["10.0.2.11"]);
    }

    /// Each failure kind maps to its own sentence.
    #[test]
    fn failure_kinds_map_to_their_causes() {
        for (outcome, expect, explained) in [
            (
                ProbeOutcome::Failed {
                    kind: FailureKind::Refused,
                    error: "refused".into(),
                    latency_ms: 1,
                },
                "nothing listens there",
                true,
            ),
            (
                ProbeOutcome::Failed {
                    kind: FailureKind::Reset,
                    error: "reset".into(),
                    latency_ms: 1,
                },
                "resets the connection",
                true,
            ),
            (
                ProbeOutcome::Failed {
                    kind: FailureKind::Tls,
                    error: "bad record".into(),
                    latency_ms: 1,
                },
                "an HTTPS check against a plain port",
                true,
            ),
            (
                ProbeOutcome::Answered {
                    status: 404,
                    matched: false,
                    latency_ms: 1,
                    headers: vec![],
                },
                "answers 404",
                true,
            ),
            (
                ProbeOutcome::Failed {
                    kind: FailureKind::Timeout,
                    error: "t".into(),
                    latency_ms: 5000,
                },
                "does not answer within the timeout",
                false,
            ),
        ] {
            let snap = SnapshotB::ip().probe(vec![result("10.0.2.11", false, outcome)]).build();
            let f = CHECK.on(&snap);
            assert!(f.detail.contains(expect), "{expect}: {}", f.detail);
            assert_eq!(!f.explains.is_empty(), explained, "{expect}");
        }
    }

    #[test]
    fn proxy_that_cannot_reach_the_node_is_unknown_with_the_reason() {
        let snap = SnapshotB::instance()
            .probe(vec![result(
                "i-0aaa",
                false,
                ProbeOutcome::Failed {
                    kind: FailureKind::Unreachable,
                    error: "API server: no preferred addresses found".into(),
                    latency_ms: 2,
                },
            )])
            .build();
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.detail.contains("no preferred addresses found"), "{}", f.detail);
    }
}
