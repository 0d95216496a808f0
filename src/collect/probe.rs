//! The health probe: repeats the target group's own health check against the unhealthy targets
//! (bounded concurrency, capped count) and one healthy target for comparison, the way the load
//! balancer does it: same protocol, port, path, timeout and success codes, HTTPS without
//! certificate verification, no redirects followed, the load balancer's User-Agent.
//!
//! `direct` dials the targets from where eks-lb-doctor runs (a Lambda in the VPC, a bastion);
//! `apiserver-proxy` goes through the API server's pod (ip targets) or node (instance targets)
//! proxy, which needs no VPC access but starts from the control plane. Off unless asked for.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

use super::KubeAccess;
use crate::config::ProbeMode;
use crate::snapshot::View;
use crate::snapshot::{FailureKind, Fetched, ProbeOutcome, ProbeResult, ProbeRun, Snapshot, TargetHealth};

/// Unhealthy targets probed at most (the rest are counted, not probed).
pub const CAP: usize = 20;
const CONCURRENCY: usize = 8;
pub const USER_AGENT: &str = "ELB-HealthChecker/2.0";
/// Headers kept from an answer.
const HEADERS: usize = 6;

/// One probe to make.
struct Plan {
    target: TargetHealth,
    healthy: bool,
    protocol: String,
    port: u16,
    path: String,
    /// direct: the address to dial; proxy: the API path prefix (`/api/v1/namespaces/…/pods/…`).
    dest: Result<String, String>,
}

pub async fn run(mode: ProbeMode, kube: &KubeAccess, snap: &Snapshot) -> Fetched<ProbeRun> {
    if mode == ProbeMode::Off {
        return Fetched::not_collected("the probe is off (PROBE_MODE or --probe: direct | apiserver-proxy)");
    }
    let ctx = View::new(snap);
    let (Ok(tg), Ok(targets)) = (&ctx.tg, &ctx.targets) else {
        return Fetched::not_collected("the target group or its targets are unknown");
    };
    let hc = &tg.health_check;
    let protocol = hc.protocol.clone().unwrap_or_else(|| "HTTP".into()).to_uppercase();
    let path = hc.path.clone().unwrap_or_else(|| "/".into());
    let timeout = Duration::from_secs(hc.timeout_seconds.unwrap_or(5).max(1) as u64);
    let matcher = hc.matcher.clone().unwrap_or_else(|| "200".into());
    let unhealthy: Vec<&TargetHealth> = targets.iter().filter(|t| t.is_unhealthy()).collect();
    let chosen = unhealthy
        .iter()
        .take(CAP)
        .copied()
        .chain(targets.iter().find(|t| t.state == "healthy"));
    let plans: Vec<Plan> = chosen
        .map(|t| {
            let port = ctx.health_check_port(t).unwrap_or(0);
            let grpc = tg.protocol_version.as_deref() == Some("GRPC");
            let dest = match mode {
                _ if grpc => Err("gRPC health checks are not repeated by the probe".to_string()),
                _ if protocol.starts_with("HTTP") && !safe_request_path(&path) => {
                    Err(format!("the health-check path {path:?} is not a plain URL path: not requested"))
                }
                ProbeMode::Direct => ctx
                    .place(t)
                    .address
                    .or_else(|| ctx.is_ip().then(|| t.id.clone()))
                    .ok_or_else(|| format!("no address known for {}", t.id)),
                _ => proxy_path(&ctx, t, &protocol, port),
            };
            Plan {
                target: t.clone(),
                healthy: !t.is_unhealthy(),
                protocol: protocol.clone(),
                port,
                path: path.clone(),
                dest,
            }
        })
        .collect();
    let http = match reqwest::Client::builder()
        .danger_accept_invalid_certs(true) // as the load balancer: no certificate verification
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return Fetched::not_collected(format!("cannot build the probe's HTTP client: {e}")),
    };
    let client = match (mode, kube) {
        (ProbeMode::ApiserverProxy, KubeAccess::Client { client, .. }) => Some(client.clone()),
        (ProbeMode::ApiserverProxy, KubeAccess::Unavailable(why)) => {
            return Fetched::not_collected(format!("apiserver-proxy needs the cluster: {why}"))
        }
        _ => None,
    };
    let results = stream::iter(plans)
        .map(|p| {
            let (http, client, matcher) = (&http, client.clone(), matcher.as_str());
            async move {
                let (via, outcome) = match (&p.dest, &client) {
                    (Err(why), _) => (String::new(), ProbeOutcome::NotProbed { reason: why.clone() }),
                    (Ok(path_prefix), Some(c)) => {
                        let via = format!(
                            "{path_prefix}{}",
                            if p.protocol.starts_with("HTTP") { p.path.as_str() } else { "/" }
                        );
                        (
                            via.clone(),
                            through_proxy(c, &via, &p.protocol, matcher, timeout + Duration::from_secs(2)).await,
                        )
                    }
                    (Ok(addr), None) => direct(http, addr, &p, matcher, timeout).await,
                };
                ProbeResult {
                    target: p.target.id.clone(),
                    healthy_in_elb: p.healthy,
                    protocol: p.protocol.clone(),
                    port: p.port,
                    via,
                    outcome,
                }
            }
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let origin = match mode {
        ProbeMode::Direct => "directly from where eks-lb-doctor runs (inside the VPC only if it runs there)".to_string(),
        _ => "through the Kubernetes API server's proxy: from the control plane, not from the load balancer's subnets".to_string(),
    };
    let mode = if mode == ProbeMode::Direct { "direct" } else { "apiserver-proxy" };
    Fetched::Ok(ProbeRun {
        mode: mode.into(),
        origin,
        cap: CAP,
        unhealthy_total: unhealthy.len(),
        results,
    })
}

/// `/api/v1/namespaces/NS/pods/[https:]POD:PORT/proxy` for an ip target. The target group's
/// health-check port and path are tenant input (annotations set them): the port must be one the
/// Service sends to in that pod, and instance targets are never proxied (that needs `nodes/proxy`,
/// which reaches the kubelet and is not read-only: they are probed in `direct` mode only).
fn proxy_path(ctx: &View, t: &TargetHealth, protocol: &str, port: u16) -> Result<String, String> {
    let scheme = if protocol == "HTTPS" { "https:" } else { "" };
    if !ctx.is_ip() {
        return Err("instance targets are probed in direct mode only (the node proxy reaches the kubelet)".into());
    }
    let pod = ctx.pod_by_ip(&t.id).ok_or_else(|| format!("no pod has IP {}", t.id))?;
    let served = service_ports_in(ctx, pod);
    if !served.contains(&i32::from(port)) {
        return Err(format!(
            "port {port} is not one the Service sends to in the pod ({served:?}): not proxied"
        ));
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    Ok(format!("/api/v1/namespaces/{ns}/pods/{scheme}{name}:{port}/proxy"))
}

/// The container ports the Service's ports send to in one pod (numeric targetPorts, and named
/// ones resolved in the pod).
fn service_ports_in(ctx: &View, pod: &k8s_openapi::api::core::v1::Pod) -> Vec<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let ports = ctx
        .service
        .as_ref()
        .ok()
        .and_then(|s| s.spec.as_ref()?.ports.clone())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|p| match p.target_port.as_ref() {
            None => Some(p.port),
            Some(IntOrString::Int(n)) => Some(*n),
            Some(IntOrString::String(name)) => crate::snapshot::serving_containers(pod)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .map(|cp| cp.container_port),
        })
        .collect()
}

/// A health-check path safe to request: absolute, no `..` segment (through the API server's
/// proxy it could climb out of the pod's proxy path), plain URL characters only.
fn safe_request_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() <= 1024
        && !p.split(['/', '?']).any(|seg| seg == ".." || seg == ".")
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%?&=+".contains(c))
}

/// Bytes of an answer read through the proxy: enough to tell the API server's Status object
/// from the target's own answer.
const BODY_CAP: usize = 4096;

async fn direct(http: &reqwest::Client, addr: &str, p: &Plan, matcher: &str, timeout: Duration) -> (String, ProbeOutcome) {
    let start = Instant::now();
    let host = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    if p.protocol == "TCP" || p.protocol == "TLS" || p.protocol == "UDP" {
        let via = format!("tcp://{host}:{}", p.port);
        let res = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((addr, p.port))).await;
        let ms = start.elapsed().as_millis() as u64;
        return match res {
            Ok(Ok(_)) => (via, ProbeOutcome::Connected { latency_ms: ms }),
            Ok(Err(e)) => (
                via,
                ProbeOutcome::Failed {
                    kind: io_kind(&e),
                    error: e.to_string(),
                    latency_ms: ms,
                },
            ),
            Err(_) => (
                via,
                ProbeOutcome::Failed {
                    kind: FailureKind::Timeout,
                    error: format!("no connection within {}s", timeout.as_secs()),
                    latency_ms: ms,
                },
            ),
        };
    }
    let scheme = if p.protocol == "HTTPS" { "https" } else { "http" };
    let via = format!("{scheme}://{host}:{}{}", p.port, p.path);
    match http.get(&via).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .take(HEADERS)
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            (
                via,
                ProbeOutcome::Answered {
                    status,
                    matched: crate::matcher::matches(matcher, status),
                    latency_ms: start.elapsed().as_millis() as u64,
                    headers,
                },
            )
        }
        Err(e) => {
            let ms = start.elapsed().as_millis() as u64;
            (
                via,
                ProbeOutcome::Failed {
                    kind: reqwest_kind(&e),
                    error: chain(&e),
                    latency_ms: ms,
                },
            )
        }
    }
}

async fn through_proxy(client: &kube::Client, path: &str, protocol: &str, matcher: &str, timeout: Duration) -> ProbeOutcome {
    let start = Instant::now();
    let req = match http::Request::get(path).header("User-Agent", USER_AGENT).body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::NotProbed { reason: e.to_string() },
    };
    // The answer and its first BODY_CAP bytes, both under the one timeout.
    let res = tokio::time::timeout(timeout, async {
        let resp = client.send(req.map(kube::client::Body::from)).await?;
        let (parts, mut body) = resp.into_parts();
        let mut bytes = Vec::new();
        while bytes.len() < BODY_CAP {
            match http_body_util::BodyExt::frame(&mut body).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data[..data.len().min(BODY_CAP - bytes.len())]);
                    }
                }
                _ => break,
            }
        }
        Ok::<_, kube::Error>((parts, bytes))
    })
    .await;
    let ms = start.elapsed().as_millis() as u64;
    let resp = match res {
        Err(_) => {
            return ProbeOutcome::Failed {
                kind: FailureKind::Timeout,
                error: format!("no answer through the API server within {}s", timeout.as_secs()),
                latency_ms: ms,
            }
        }
        Ok(Err(e)) => {
            return ProbeOutcome::Failed {
                kind: FailureKind::Unreachable,
                error: format!("the API server proxy failed: {e}"),
                latency_ms: ms,
            }
        }
        Ok(Ok(r)) => r,
    };
    let (parts, body) = resp;
    let status = parts.status.as_u16();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .take(HEADERS)
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    // The API server's own failures come as a Status object: it did not reach the target.
    if let Ok(s) = serde_json::from_slice::<serde_json::Value>(&body) {
        if s.get("kind").and_then(|k| k.as_str()) == Some("Status") && s.get("status").and_then(|k| k.as_str()) == Some("Failure") {
            let message = s.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string();
            let kind = if message.contains("connection refused") {
                FailureKind::Refused
            } else if message.contains("i/o timeout") || message.contains("deadline") {
                FailureKind::Timeout
            } else if message.contains("connection reset") {
                FailureKind::Reset
            } else {
                FailureKind::Unreachable
            };
            return ProbeOutcome::Failed {
                kind,
                error: format!("API server: {message}"),
                latency_ms: ms,
            };
        }
    }
    if protocol == "TCP" {
        // The pod answered something: a connection was made.
        return ProbeOutcome::Connected { latency_ms: ms };
    }
    ProbeOutcome::Answered {
        status,
        matched: crate::matcher::matches(matcher, status),
        latency_ms: ms,
        headers,
    }
}

fn io_kind(e: &std::io::Error) -> FailureKind {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => FailureKind::Refused,
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => FailureKind::Reset,
        TimedOut => FailureKind::Timeout,
        _ => FailureKind::Other,
    }
}

/// Classifies a reqwest error by walking its sources down to the I/O or TLS error.
fn reqwest_kind(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        return FailureKind::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let k = io_kind(io);
            if k != FailureKind::Other {
                return k;
            }
            if io.to_string().to_lowercase().contains("tls")
                || io
                    .get_ref()
                    .is_some_and(|i| i.to_string().contains("InvalidContentType") || i.to_string().contains("CorruptMessage"))
            {
                return FailureKind::Tls;
            }
        }
        let text = s.to_string().to_lowercase();
        if text.contains("tls")
            || text.contains("certificate")
            || text.contains("handshake")
            || text.contains("corrupt message")
            || text.contains("invalidcontenttype")
        {
            return FailureKind::Tls;
        }
        // hyper words a peer's RST or close in several ways depending on when it lands (before the
        // request is written, while reading the head, or on a pooled connection).
        if text.contains("connection closed")
            || text.contains("connection reset")
            || text.contains("connection was reset")
            || text.contains("end of file")
            || text.contains("unexpected eof")
        {
            return FailureKind::Reset;
        }
        source = s.source();
    }
    FailureKind::Other
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    #[tokio::test]
    async fn off_collects_nothing() {
        let snap = SnapshotB::ip().build();
        let run = run(ProbeMode::Off, &KubeAccess::Unavailable("none".into()), &snap).await;
        assert!(matches!(run, Fetched::NotCollected { ref reason } if reason.starts_with("the probe is off")));
    }

    #[tokio::test]
    async fn grpc_target_groups_are_not_probed_and_nothing_is_dialled() {
        // GIVEN a gRPC target group (10.x addresses: must never be dialled)
        let mut snap = SnapshotB::ip().build();
        if let Fetched::Ok(tg) = &mut snap.aws.target_group {
            tg.protocol_version = Some("GRPC".into());
        }
        let Fetched::Ok(run) = run(ProbeMode::Direct, &KubeAccess::Unavailable("none".into()), &snap).await else {
            panic!()
        };
        // THEN the unhealthy and the healthy target are reported as not probed, with the reason
        assert_eq!(run.results.len(), 2);
        assert!(run.results.iter().all(|r| r.outcome
            == ProbeOutcome::NotProbed {
                reason: "gRPC health checks are not repeated by the probe".into()
            }));
    }

    #[test]
    fn instance_targets_are_never_proxied_through_the_node() {
        let snap = SnapshotB::instance().build();
        let ctx = View::new(&snap);
        let t = ctx.unhealthy()[0].clone();
        assert!(proxy_path(&ctx, &t, "HTTP", 32663).unwrap_err().contains("direct mode only"));
    }

    #[test]
    fn only_a_port_the_service_sends_to_is_proxied() {
        // GIVEN the Service sends 80 → 8080; the target group (tenant annotations) says 10250
        let snap = SnapshotB::ip().build();
        let ctx = View::new(&snap);
        let t = ctx.unhealthy()[0].clone();
        assert!(proxy_path(&ctx, &t, "HTTP", 10250)
            .unwrap_err()
            .contains("port 10250 is not one the Service sends to"));
        assert_eq!(
            proxy_path(&ctx, &t, "HTTP", 8080).unwrap(),
            "/api/v1/namespaces/shop/pods/web-2:8080/proxy"
        );
    }

    #[test]
    fn request_paths_table() {
        for (path, ok) in [
            ("/", true),
            ("/healthz", true),
            ("/health?deep=1&x=y", true),
            ("/a/../../../api/v1/secrets", false),
            ("/./x", false),
            ("healthz", false),
            ("/x y", false),
            ("/x#frag", false),
        ] {
            assert_eq!(safe_request_path(path), ok, "{path}");
        }
    }

    #[tokio::test]
    async fn apiserver_proxy_needs_the_cluster() {
        let snap = SnapshotB::ip().build();
        let run = run(ProbeMode::ApiserverProxy, &KubeAccess::Unavailable("no kubeconfig".into()), &snap).await;
        assert!(matches!(run, Fetched::NotCollected { ref reason } if reason.contains("no kubeconfig")));
    }
}
