//! The health probe's results: the load balancer's own health check, repeated by eks-lb-doctor.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRun {
    /// direct | apiserver-proxy
    pub mode: String,
    /// Where the probes start from, which matters for what they prove.
    pub origin: String,
    /// At most this many unhealthy targets are probed (plus one healthy one for comparison).
    pub cap: usize,
    pub unhealthy_total: usize,
    pub results: Vec<ProbeResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub target: String,
    pub healthy_in_elb: bool,
    /// TCP, HTTP or HTTPS.
    pub protocol: String,
    pub port: u16,
    /// The URL or API path probed.
    pub via: String,
    pub outcome: ProbeOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "result")]
pub enum ProbeOutcome {
    /// An HTTP answer: its code, whether the target group's matcher accepts it, the first headers.
    Answered {
        status: u16,
        matched: bool,
        latency_ms: u64,
        headers: Vec<(String, String)>,
    },
    /// A TCP health check: the connection was accepted.
    Connected {
        latency_ms: u64,
    },
    Failed {
        kind: FailureKind,
        error: String,
        latency_ms: u64,
    },
    NotProbed {
        reason: String,
    },
}

impl Default for ProbeOutcome {
    fn default() -> Self {
        ProbeOutcome::NotProbed { reason: String::new() }
    }
}

/// Why a probe failed: each points at a different cause.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Nothing listens on the port.
    Refused,
    /// Something drops the packets (security group, NACL) or the app hangs.
    Timeout,
    /// The app closed the connection (wrong protocol, proxy protocol expected).
    Reset,
    /// The TLS handshake failed (an HTTPS check against a plain port).
    Tls,
    /// The API server could not (or would not) reach the target; the target was not tested.
    Unreachable,
    Other,
}
