//! What the configuration checks share: the health check the controller was asked for (from
//! annotations), the events it left, and whether a health check can work against the pods.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::Ingress;

use crate::annotations::{self, HealthCheckSpec, Invalid, NlbOwner, Setting};
use crate::snapshot::View;
use crate::snapshot::{EventView, Fetched, HealthCheck, TargetHealth};

/// The controller's event reasons that mean it could not do its job.
pub const CONTROLLER_FAILURES: [&str; 6] = [
    "FailedBuildModel",
    "FailedDeployModel",
    "FailedNetworkReconcile",
    "BackendNotFound",
    "FailedAddFinalizers",
    "FailedUpdateStatus",
];

/// Where a Gateway's target group gets a health-check setting, and how to change it there.
pub struct GatewaySetting {
    /// The object and field (or the controller's default, and why).
    pub source: String,
    /// `None` when what sets it could not be read.
    pub fix: Option<String>,
}

fn patch_default(name: &str, ns: &str, health_check: serde_json::Value) -> String {
    let patch = serde_json::json!({"spec": {"defaultConfiguration": {"healthCheckConfig": health_check}}});
    let q = crate::shell::quote;
    format!(
        "kubectl patch targetgroupconfiguration {} -n {} --type merge -p {}",
        q(name),
        q(ns),
        q(&patch.to_string())
    )
}

/// The target group's value of a TargetGroupConfiguration `healthCheckConfig` field.
fn actual_setting(hc: &HealthCheck, field: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    match field {
        "healthCheckPath" => hc.path.as_ref().map(|v| json!(v)),
        "healthCheckPort" => hc.port.as_ref().map(|v| json!(v)),
        "healthCheckProtocol" => hc.protocol.as_ref().map(|v| json!(v)),
        "healthCheckTimeout" => hc.timeout_seconds.map(|v| json!(v)),
        "healthCheckInterval" => hc.interval_seconds.map(|v| json!(v)),
        _ => None,
    }
}

/// The same setting, however written (`"8080"` and `8080`, `http` and `HTTP`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    value_text(a).eq_ignore_ascii_case(&value_text(b))
}

/// A value as a person types it after `field:` (a string without its JSON quotes).
fn value_text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Where the annotations that shaped this target group live.
pub enum Origin<'a> {
    Ingress(&'a Ingress),
    Nlb(NlbOwner),
}

/// The Service annotations that set the target type, an ALB's and an NLB's.
pub const ALB_TARGET_TYPE: &str = "alb.ingress.kubernetes.io/target-type";
pub const NLB_TARGET_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type";

impl View<'_> {
    /// `application` or `network`: the kind of the target group's (first) load balancer.
    pub fn lb_kind(&self) -> Option<&str> {
        self.snap.aws.load_balancers.ok()?.first().map(|l| l.kind.as_str())
    }

    /// The Service annotation through which the Load Balancer Controller reads this group's
    /// target type, when the controller (or EKS Auto Mode) reconciles it: for an Ingress's group
    /// too (controller docs, Ingress annotations: `target-type`, location Ingress,Service).
    pub fn controller_target_type_key(&self) -> Option<&'static str> {
        match self.requested_health_check()?.0 {
            Origin::Ingress(_) => Some(ALB_TARGET_TYPE),
            Origin::Nlb(NlbOwner::Controller | NlbOwner::AutoMode) => Some(NLB_TARGET_TYPE),
            Origin::Nlb(NlbOwner::Legacy) => None,
        }
    }

    /// For a target group a Gateway made (the controller's `gateway.k8s.aws.alb/` or
    /// `gateway.k8s.aws.nlb/` tags): which object and field set its health-check `field`
    /// (`healthCheckPath`, …), and the command that sets it to `value` there. A change made on
    /// the group itself is reverted at the next reconcile. The controller's order is
    /// `gateway::blocks`; a default shared by the Gateway's Services is overridden for this
    /// Service alone, never edited. `None` for other groups.
    pub fn gateway_setting(&self, field: &str, value: serde_json::Value) -> Option<GatewaySetting> {
        if !crate::mapping::made_for_gateway(self.snap.aws.target_group_tags.ok()?) {
            return None;
        }
        let (ns, svc) = self.service_name();
        let configs = match self.snap.kube.target_group_configs.get() {
            Ok(c) => c,
            Err(why) => {
                return Some(GatewaySetting {
                    source: format!("unknown: the TargetGroupConfigurations that set it could not be read ({why})"),
                    fix: None,
                });
            }
        };
        let gateway = self.snap.kube.gateway.ok();
        let route = gateway.and_then(|g| g.route.as_ref());
        let own = crate::gateway::service_config(configs, &ns, &svc);
        let blocks = crate::gateway::blocks(own, gateway, route);
        let winner = blocks.iter().find(|b| b.health_check().is_some());
        let mut source = match winner {
            Some(b) if b.health_check().and_then(|h| h.get(field)).is_some() => b.field(field),
            Some(b) => format!(
                "the controller's default: {} is not set, and that healthCheckConfig is taken whole",
                b.field(field)
            ),
            None => format!("the controller's default: no TargetGroupConfiguration sets a health check for Service {ns}/{svc}"),
        };
        if winner.is_none_or(|b| b.shared_by.is_some()) {
            let unread = match &self.snap.kube.gateway {
                Fetched::Ok(g) => g.unread.join("; "),
                Fetched::Failed(m) => m.explain(),
                Fetched::NotCollected { reason } => reason.clone(),
            };
            if !unread.is_empty() {
                source.push_str(&format!(" (the Gateway's own defaults are not known: {unread})"));
            }
        }
        if route.is_none() && own.is_some_and(|c| c.routes.iter().any(|r| r.health_check.is_some())) {
            source.push_str(" (the route is not known: an entry of spec.routeConfigurations may apply instead)");
        }
        let q = crate::shell::quote;
        // The configuration already asks for the value while the group has another: the
        // controller has not applied it; setting it again would change nothing.
        let asked = winner.and_then(|b| b.health_check()).and_then(|h| h.get(field));
        let actual = self.tg.as_ref().ok().and_then(|t| actual_setting(&t.health_check, field));
        if asked.is_some_and(|a| same(a, &value)) && actual.as_ref().is_some_and(|a| !same(a, &value)) {
            let actual = value_text(&actual.unwrap_or_default());
            source.push_str(&format!(
                ", which asks {} already while the target group still has {actual}: the controller has not applied it",
                value_text(&value)
            ));
            let fix = "kubectl logs -n kube-system deployment/aws-load-balancer-controller --since=1h | grep -i targetgroupconfiguration";
            return Some(GatewaySetting {
                source,
                fix: Some(fix.into()),
            });
        }
        let fix = match winner {
            Some(crate::gateway::Block {
                config,
                route: Some(r),
                shared_by: None,
            }) => {
                format!(
                    "kubectl edit targetgroupconfiguration {} -n {}   # routeConfigurations, route {}/{}/{}: targetGroupProps.healthCheckConfig.{field}: {}",
                    q(&config.name),
                    q(&config.namespace),
                    q(&r.kind),
                    q(&r.namespace),
                    q(&r.name),
                    q(&value_text(&value))
                )
            }
            Some(crate::gateway::Block {
                config, shared_by: None, ..
            }) => patch_default(&config.name, &config.namespace, serde_json::json!({field: value})),
            _ => {
                // This Service's own block replaces the shared one whole: it carries the
                // shared block's other fields along.
                let mut block = winner
                    .and_then(|b| b.health_check())
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({}));
                block[field] = value;
                match own {
                    Some(c) => patch_default(&c.name, &c.namespace, block),
                    None => {
                        let taken = configs.iter().any(|c| c.namespace == ns && c.name == svc);
                        let name = if taken { format!("{svc}-health-check") } else { svc.clone() };
                        let doc = serde_json::json!({"apiVersion": "gateway.k8s.aws/v1", "kind": "TargetGroupConfiguration",
                            "metadata": {"name": name, "namespace": ns},
                            "spec": {"targetReference": {"name": svc}, "defaultConfiguration": {"healthCheckConfig": block}}});
                        format!("printf '%s' {} | kubectl apply -f -", q(&doc.to_string()))
                    }
                }
            }
        };
        Some(GatewaySetting { source, fix: Some(fix) })
    }

    /// ALB Ingresses of the namespace that route to the Service.
    pub fn alb_ingresses(&self) -> Vec<&Ingress> {
        let (_, name) = self.service_name();
        let classes: Vec<String> = self
            .snap
            .kube
            .ingress_classes
            .ok()
            .into_iter()
            .flatten()
            // The controller's class, or EKS Auto Mode's (same Ingress annotations).
            .filter(|c| {
                let controller = c.spec.as_ref().and_then(|s| s.controller.as_deref());
                controller == Some("ingress.k8s.aws/alb") || controller == Some(annotations::AUTO_ALB_CONTROLLER)
            })
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        let mut ingresses: Vec<&Ingress> = (self.snap.kube.ingresses.ok().into_iter().flatten())
            .filter(|i| annotations::routes_to(i, &name) && annotations::is_alb(i, &classes))
            .collect();
        // The Ingress the target group was built from comes first: with several Ingresses (an
        // IngressGroup) routing to one Service, the first found need not be this group's.
        ingresses.sort_by_key(|i| self.named_by_tags(i));
        ingresses
    }

    /// How closely the target group's controller tags name this Ingress: 0 when
    /// `ingress.k8s.aws/resource` = `ns/INGRESS-SERVICE:port` names it (the controller's
    /// buildTargetGroupResourceID), 1 when only `ingress.k8s.aws/stack` = `ns/INGRESS` or its
    /// group's name does (every Ingress of the group shares that), 2 otherwise.
    fn named_by_tags(&self, ing: &Ingress) -> u8 {
        let Some(tags) = self.snap.aws.target_group_tags.ok() else {
            return 2;
        };
        let (ns, svc) = self.service_name();
        let name = ing.metadata.name.as_deref().unwrap_or("");
        let group = (ing.metadata.annotations.as_ref()).and_then(|a| a.get("alb.ingress.kubernetes.io/group.name"));
        let resource = (tags.get(crate::mapping::TAG_INGRESS_RESOURCE)).or(tags.get(crate::mapping::TAG_AUTO_INGRESS_RESOURCE));
        let stack = (tags.get(crate::mapping::TAG_INGRESS_STACK)).or(tags.get(crate::mapping::TAG_AUTO_INGRESS_STACK));
        if resource.is_some_and(|r| r.starts_with(&format!("{ns}/{name}-{svc}:"))) {
            0
        } else if stack.is_some_and(|s| *s == format!("{ns}/{name}") || Some(s) == group) {
            1
        } else {
            2
        }
    }

    /// The health check the annotations ask for, and where they are: the ALB Ingress for an
    /// application load balancer, the Service for a network load balancer.
    pub fn requested_health_check(&self) -> Option<(Origin<'_>, HealthCheckSpec, Vec<Invalid>)> {
        let svc = self.service.as_ref().ok()?;
        match self.lb_kind() {
            Some("network") => annotations::nlb(svc).map(|(owner, spec, invalid)| {
                // A group Auto Mode made is Auto Mode's whatever the stored class says (an API
                // server that predates loadBalancerClass drops it).
                let owner = match owner {
                    NlbOwner::Legacy if self.auto_mode().is_some() => NlbOwner::AutoMode,
                    other => other,
                };
                (Origin::Nlb(owner), spec, invalid)
            }),
            _ => self.alb_ingresses().first().map(|i| {
                let (spec, invalid) = annotations::alb(i, svc);
                (Origin::Ingress(i), spec, invalid)
            }),
        }
    }

    /// Warning events the controller left on an object of the Service's namespace.
    pub fn controller_events(&self, kind: &str, name: &str) -> Vec<&EventView> {
        self.events()
            .iter()
            .filter(|e| e.kind == kind && e.name == name && e.event_type == "Warning" && CONTROLLER_FAILURES.contains(&e.reason.as_str()))
            .collect()
    }

    /// Paths of the selected pods' HTTP readiness probes that the load balancer could use: only
    /// probes of the port the health check reaches (a management or metrics port's probe cannot
    /// answer on the traffic port), with a mesh's rewritten probe traced back to the
    /// application's own, and only paths safe to print in a command. Deduplicated.
    pub fn readiness_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .selected
            .iter()
            .flat_map(|pod| {
                let Some(port) = self.health_check_container_port(pod) else {
                    return vec![];
                };
                app_readiness_probes(pod)
                    .into_iter()
                    .filter(move |p| p.port == port)
                    .map(|p| p.path)
                    .collect()
            })
            .filter(|p| safe_path(p))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// The container port the target group's health check reaches in a pod: the Service's
    /// targetPort for `traffic-port` (and, for instance targets, for the Service's NodePort);
    /// an ip target's numeric port is itself. Kube-proxy's healthCheckNodePort reaches no pod.
    pub fn health_check_container_port(&self, pod: &Pod) -> Option<i32> {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        let configured = self.tg.as_ref().ok()?.health_check.port.as_deref().unwrap_or("traffic-port");
        let svc_port = self.service_port();
        let target_port = || -> Option<i32> {
            let p = svc_port?;
            match p.target_port.as_ref() {
                None => Some(p.port),
                Some(IntOrString::Int(n)) => Some(*n),
                Some(IntOrString::String(name)) => named_container_port(pod, name),
            }
        };
        match configured.parse::<i32>() {
            Err(_) => target_port(),
            Ok(n) if self.is_ip() => Some(n),
            Ok(n) if svc_port.and_then(|p| p.node_port) == Some(n) => target_port(),
            Ok(_) => None,
        }
    }
}

fn named_container_port(pod: &Pod, name: &str) -> Option<i32> {
    crate::snapshot::serving_containers(pod)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
}

/// Istio's agent answers rewritten probes on this port under `/app-health/<container>/readyz`;
/// the application's own probe is kept in the sidecar's `ISTIO_KUBE_APP_PROBERS` (JSON).
const ISTIO_AGENT_PORT: i32 = 15020;

/// An application container's HTTP readiness probe: where it asks, and how long the kubelet waits.
struct AppProbe {
    port: i32,
    path: String,
    /// `timeoutSeconds` (the kubelet's default, 1, when unset).
    timeout: i32,
}

/// Each application container's HTTP readiness probe; a probe Istio rewrote is replaced by the
/// original it recorded (the rewritten probe's timeout is the one the kubelet applies), or
/// dropped when that is not found.
fn app_readiness_probes(pod: &Pod) -> Vec<AppProbe> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    if pod.spec.is_none() {
        return vec![];
    }
    let istio: Option<serde_json::Value> = crate::snapshot::serving_containers(pod)
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == "ISTIO_KUBE_APP_PROBERS")
        .and_then(|e| serde_json::from_str(e.value.as_deref()?).ok());
    let mut out = Vec::new();
    for c in crate::snapshot::serving_containers(pod) {
        let Some(probe) = c.readiness_probe.as_ref() else { continue };
        let Some(get) = probe.http_get.as_ref() else { continue };
        let timeout = probe.timeout_seconds.unwrap_or(1);
        let Some(path) = get.path.clone() else { continue };
        let port = match &get.port {
            IntOrString::Int(n) => Some(*n),
            IntOrString::String(name) => (c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| p.container_port),
        };
        let Some(port) = port else { continue };
        if port == ISTIO_AGENT_PORT && path.starts_with("/app-health/") {
            let original = istio.as_ref().and_then(|j| j.get(&path)?.get("httpGet").cloned());
            if let Some(get) = original {
                let port = get.get("port").and_then(|p| p.as_i64()).and_then(|p| i32::try_from(p).ok());
                let path = get.get("path").and_then(|p| p.as_str()).unwrap_or("/");
                if let Some(port) = port {
                    out.push(AppProbe {
                        port,
                        path: path.to_string(),
                        timeout,
                    });
                }
            }
            continue;
        }
        out.push(AppProbe { port, path, timeout });
    }
    out
}

/// A path from a pod spec is tenant input: it reaches a printed command only when it is a plain
/// URL path (no spaces, quotes or shell characters) of a sane length.
pub fn safe_path(p: &str) -> bool {
    p.starts_with('/') && p.len() <= 1024 && p.chars().all(|c| c.is_ascii_alphanumeric() || "/-._~%".contains(c))
}

/// A setting that cannot work against these pods.
pub struct ServingProblem {
    /// `path`, `port` or `protocol`.
    pub setting: &'static str,
    pub sentence: String,
    pub targets: Vec<String>,
    /// The value that would work, when one can be named.
    pub suggestion: Option<String>,
}

/// HTTP codes ELB reports in a ResponseCodeMismatch description ("… with these codes: [404]").
fn codes(description: Option<&str>) -> Option<String> {
    let d = description?;
    let start = d.find('[')?;
    let end = d[start..].find(']')? + start;
    Some(d[start + 1..end].to_string())
}

/// Whether every code ELB saw in a ResponseCodeMismatch is a 5xx.
pub fn answered_5xx(description: Option<&str>) -> bool {
    let Some(codes) = codes(description) else { return false };
    let parsed: Vec<u16> = codes.split(',').filter_map(|c| c.trim().parse().ok()).collect();
    !parsed.is_empty() && parsed.iter().all(|c| (500..600).contains(c))
}

/// Checks a health check (protocol, port, path) against what the pods serve and what the load
/// balancer saw.
pub fn serving_problems(ctx: &View, protocol: &str, port: &str, path: &str) -> Vec<ServingProblem> {
    let mut out = Vec::new();
    let unhealthy = ctx.unhealthy();
    // Protocol against what the port says it speaks: the container port's name, the Service
    // port's name or its appProtocol (the field Kubernetes defines for it; names like `https`
    // are the convention). An HTTPS check on an HTTP port fails TLS; an HTTP check on a TLS port
    // gets a redirect to HTTPS or a 400 (argo-helm#2936: Argo CD's 307), so no path is judged then.
    let mut tls_port = false;
    if let Some((name, serves_tls)) = port_speaks(ctx) {
        let serves_http = name.starts_with("http") && !serves_tls;
        // Plain HTTP to a TLS server is refused with a redirect or a 400 (ALB), or a failed
        // check (NLB); other answers (404, 5xx, timeouts) are not this.
        let answered_as_tls = |t: &&TargetHealth| match t.reason.as_deref() {
            Some("Target.FailedHealthChecks") => true,
            Some("Target.ResponseCodeMismatch") => {
                codes(t.description.as_deref()).is_some_and(|c| c.split(',').all(|c| c.trim().starts_with('3') || c.trim() == "400"))
            }
            _ => false,
        };
        let fits = serves_http || unhealthy.iter().any(answered_as_tls);
        if fits && (protocol.eq_ignore_ascii_case("HTTPS") && serves_http || protocol.eq_ignore_ascii_case("HTTP") && serves_tls) {
            tls_port = serves_tls;
            let got = (unhealthy.iter())
                .find_map(|t| codes(t.description.as_deref()))
                .map(|c| format!(" (it answers {c})"))
                .unwrap_or_default();
            out.push(ServingProblem {
                setting: "protocol",
                sentence: format!("the health check speaks {protocol} to a port named {name:?}{got}"),
                targets: ctx.unhealthy_ids(),
                suggestion: Some(if serves_tls { "HTTPS" } else { "HTTP" }.into()),
            });
        }
    }
    let http = protocol.eq_ignore_ascii_case("HTTP") || protocol.eq_ignore_ascii_case("HTTPS");
    if http && !tls_port {
        // A 5xx answer is the application saying it is unhealthy (often a deep check of a
        // dependency): the path exists. Only other codes (404, 3xx, 401) blame the configuration.
        let mismatched: Vec<_> = unhealthy
            .iter()
            .filter(|t| t.reason.as_deref() == Some("Target.ResponseCodeMismatch"))
            .filter(|t| !answered_5xx(t.description.as_deref()))
            .collect();
        if !mismatched.is_empty() {
            let got = mismatched
                .iter()
                .find_map(|t| codes(t.description.as_deref()))
                .map(|c| format!(" (it answers {c})"))
                .unwrap_or_default();
            let probes = ctx.readiness_paths();
            let (sentence, suggestion) = match probes.iter().find(|p| p.as_str() != path) {
                Some(p) => (
                    format!("the health check asks {path}{got}, while the pods' readinessProbe uses {p}"),
                    Some(p.clone()),
                ),
                None => (
                    format!("the health check asks {path}{got}, which the pods do not answer with a success code"),
                    None,
                ),
            };
            out.push(ServingProblem {
                setting: "path",
                sentence,
                targets: mismatched.iter().map(|t| t.id.clone()).collect(),
                suggestion,
            });
        }
    }
    if let Ok(n) = port.parse::<i32>() {
        let svc_port = ctx.service_port();
        let hcnp = ctx.service.as_ref().ok().and_then(|s| s.spec.as_ref()?.health_check_node_port);
        let declared: Vec<i32> = ctx.selected.iter().flat_map(|p| container_ports(p)).collect();
        let served = if ctx.is_ip() {
            declared.is_empty() || declared.contains(&n)
        } else {
            svc_port.and_then(|p| p.node_port) == Some(n) || hcnp == Some(n)
        };
        if !served {
            let what = if ctx.is_ip() {
                format!("no pod declares it (they declare {declared:?})")
            } else {
                "it is neither the Service's NodePort nor its healthCheckNodePort".into()
            };
            out.push(ServingProblem {
                setting: "port",
                sentence: format!("the health check probes port {n}, and {what}"),
                targets: ctx.unhealthy_ids(),
                suggestion: Some("traffic-port".into()),
            });
        }
    }
    out
}

/// Another port of the Service that speaks `protocol` (HTTPS: a TLS name; HTTP: a plain one).
fn sibling_speaking(ctx: &View, protocol: &str) -> Option<String> {
    let ours = ctx.service_port()?;
    let want_tls = protocol.eq_ignore_ascii_case("HTTPS");
    let ports = ctx.service.as_ref().ok()?.spec.as_ref()?.ports.as_ref()?;
    ports
        .iter()
        .filter(|p| p.port != ours.port)
        .find(|p| port_speaks_of(ctx, p).is_some_and(|(_, tls)| tls == want_tls))
        .map(|p| p.name.clone().unwrap_or_else(|| p.port.to_string()))
}

/// What the health-checked port says it speaks: (the name that says it, whether that is TLS).
/// The Service port's appProtocol first, then the container port's name, then the Service port's.
fn port_speaks(ctx: &View) -> Option<(String, bool)> {
    port_speaks_of(ctx, ctx.service_port()?)
}

fn port_speaks_of(ctx: &View, sp: &k8s_openapi::api::core::v1::ServicePort) -> Option<(String, bool)> {
    let tls = |n: &str| n.contains("https") || n.contains("tls") || n.contains("ssl");
    let names = [sp.app_protocol.clone(), target_port_name(ctx, sp), sp.name.clone()];
    names
        .into_iter()
        .flatten()
        .map(|n| n.to_ascii_lowercase())
        .find(|n| tls(n) || n.starts_with("http"))
        .map(|n| {
            let t = tls(&n);
            (n, t)
        })
}

fn container_ports(p: &Pod) -> Vec<i32> {
    crate::snapshot::serving_containers(p)
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| p.container_port)
        .collect()
}

/// The name of the container port a Service port sends to (a named targetPort, or the name of
/// the numbered containerPort).
fn target_port_name(ctx: &View, p: &k8s_openapi::api::core::v1::ServicePort) -> Option<String> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match p.target_port.as_ref()? {
        IntOrString::String(s) => Some(s.clone()),
        IntOrString::Int(n) => ctx
            .selected
            .iter()
            .flat_map(|p| crate::snapshot::serving_containers(p))
            .flat_map(|c| c.ports.iter().flatten())
            .find(|cp| cp.container_port == *n)
            .and_then(|cp| cp.name.clone()),
    }
}

/// One setting the controller was asked for that the target group does not have.
pub struct Mismatch {
    pub setting: &'static str,
    pub wanted: String,
    pub actual: String,
    pub from: String,
}

/// Compares the requested health check with the target group's. NLB timeouts are compared too:
/// the controller applies them since v2.4.6 (feature gate NLBHealthCheckAdvancedConfig, on by
/// default; pkg/config/feature_gates.go).
pub fn mismatches(spec: &HealthCheckSpec, tg: &HealthCheck) -> Vec<Mismatch> {
    let http = spec.protocol.value.starts_with("HTTP");
    let mut pairs: Vec<(&'static str, &Setting, Option<String>)> = vec![
        ("protocol", &spec.protocol, tg.protocol.clone()),
        ("port", &spec.port, tg.port.clone()),
        ("interval", &spec.interval, tg.interval_seconds.map(|v| v.to_string())),
        (
            "healthy threshold",
            &spec.healthy_threshold,
            tg.healthy_threshold.map(|v| v.to_string()),
        ),
        (
            "unhealthy threshold",
            &spec.unhealthy_threshold,
            tg.unhealthy_threshold.map(|v| v.to_string()),
        ),
    ];
    if http {
        pairs.push(("path", &spec.path, tg.path.clone()));
        pairs.push(("success codes", &spec.success_codes, tg.matcher.clone()));
    }
    pairs.push(("timeout", &spec.timeout, tg.timeout_seconds.map(|v| v.to_string())));
    pairs
        .into_iter()
        .filter_map(|(setting, want, actual)| {
            let actual = actual?;
            (!want.value.eq_ignore_ascii_case(&actual)).then(|| Mismatch {
                setting,
                wanted: want.value.clone(),
                actual,
                from: want
                    .annotated()
                    .map(|(o, k)| format!("{k} on {o}"))
                    .unwrap_or_else(|| "the controller's default".into()),
            })
        })
        .collect()
}

/// The judgement both annotation checks make: invalid values, settings the target group does
/// not have (the controller failed to apply them), and settings that cannot work against the pods.
pub struct AnnotationJudgement<'a> {
    pub id: super::CheckId,
    /// `Ingress ns/name` or `Service ns/name`: where to annotate by default.
    pub object: String,
    pub prefix: &'static str,
    /// Annotation names (after the prefix) of the health-check path, port and protocol.
    pub keys: [&'static str; 3],
    pub spec: &'a HealthCheckSpec,
    pub invalid: &'a [Invalid],
}

pub fn judge_annotations(ctx: &View, j: AnnotationJudgement) -> super::Finding {
    use super::Finding;
    use serde_json::json;
    let Ok(tg) = &ctx.tg else {
        return Finding::unknown(j.id, ctx.tg.as_ref().err().cloned().unwrap_or_default());
    };
    let (kind, obj) = j.object.split_once(' ').unwrap_or(("", ""));
    let (ns, name) = obj.split_once('/').unwrap_or(("", obj));
    let events: Vec<&EventView> = ctx.controller_events(kind, name);
    let mismatched = mismatches(j.spec, &tg.health_check);
    let settings = [
        ("path", &j.spec.path, j.keys[0]),
        ("port", &j.spec.port, j.keys[1]),
        ("protocol", &j.spec.protocol, j.keys[2]),
    ];
    // Serving problems count here only for settings an annotation chose; defaults are
    // health-check-config's to explain.
    let problems: Vec<ServingProblem> = serving_problems(ctx, &j.spec.protocol.value, &j.spec.port.value, &j.spec.path.value)
        .into_iter()
        .filter(|p| {
            settings
                .iter()
                .any(|(s, setting, _)| *s == p.setting && setting.annotated().is_some())
        })
        .collect();
    let evidence = json!({
        "object": j.object,
        "requested": j.spec,
        "invalid": j.invalid,
        "notApplied": mismatched.iter().map(|m| json!({"setting": m.setting, "wanted": m.wanted, "actual": m.actual, "from": m.from})).collect::<Vec<_>>(),
        "controllerEvents": events.iter().map(|e| json!({"reason": e.reason, "message": e.message, "count": e.count})).collect::<Vec<_>>(),
        "servingProblems": problems.iter().map(|p| json!({"setting": p.setting, "problem": p.sentence, "targets": p.targets})).collect::<Vec<_>>(),
    });
    let annotate = |setting: &Setting, key: &str, value: &str| {
        let (k, o) = match setting.annotated() {
            Some((o, k)) => (k.to_string(), o.to_string()),
            None => (format!("{}{key}", j.prefix), j.object.clone()),
        };
        let (okind, oname) = o.split_once(' ').unwrap_or(("", ""));
        let (ons, oname) = oname.split_once('/').unwrap_or(("", oname));
        format!("kubectl annotate {} {oname} -n {ons} {k}={value} --overwrite", okind.to_lowercase())
    };
    if !problems.is_empty() {
        let mut fixes = Vec::new();
        let mut sentences: Vec<String> = Vec::new();
        for p in &problems {
            // A Service's health-check annotations apply to the target group of every port
            // (one protocol for all: aws-load-balancer-controller#3346). When another port of
            // the Service speaks the annotated protocol, the annotation is right for that port:
            // flipping it would break that port's group. The maintainers' fix: a Service per protocol.
            let sibling = (p.setting == "protocol")
                .then(|| sibling_speaking(ctx, &j.spec.protocol.value))
                .flatten();
            if let Some(other) = sibling {
                sentences.push(format!(
                    "{} (the annotation is right for port {other:?} of the same Service, and it applies to every port's target group)",
                    p.sentence
                ));
                fixes.push(format!(
                    "give port {other:?} a Service of its own that carries the {}{} annotation, and remove it from {} (one Service per health-check protocol)",
                    j.prefix, j.keys[2], j.object
                ));
                continue;
            }
            sentences.push(p.sentence.clone());
            if let (Some((_, setting, key)), Some(v)) = (settings.iter().find(|(s, _, _)| *s == p.setting), &p.suggestion) {
                fixes.push(annotate(setting, key, v));
            }
        }
        let explains: Vec<String> = problems.iter().flat_map(|p| p.targets.clone()).collect();
        return Finding::fail(
            j.id,
            "Annotated health check cannot work",
            format!("On {}: {}.", j.object, sentences.join("; ")),
        )
        .evidence(evidence)
        .remediation(fixes)
        .explains(explains);
    }
    if !j.invalid.is_empty() {
        let list: Vec<String> = j
            .invalid
            .iter()
            .map(|i| format!("{}={:?} on {} ({})", i.key, i.value, i.object, i.why))
            .collect();
        let ev = events
            .first()
            .map(|e| format!(" The controller reports {}: {}", e.reason, e.message))
            .unwrap_or_default();
        return Finding::fail(
            j.id,
            "Invalid annotations",
            format!("The controller rejects {}.{ev}", list.join("; ")),
        )
        .evidence(evidence)
        .remediation(
            j.invalid
                .iter()
                .map(|i| {
                    format!(
                        "kubectl annotate {} -n {ns} {}-   # then set a valid value",
                        kind_name(&i.object),
                        i.key
                    )
                })
                .collect(),
        );
    }
    if !mismatched.is_empty() {
        let list: Vec<String> = mismatched
            .iter()
            .map(|m| {
                format!(
                    "{} {} (wanted by {}) but the target group has {}",
                    m.setting, m.wanted, m.from, m.actual
                )
            })
            .collect();
        let ev = events
            .first()
            .map(|e| format!(" The controller reports {}: {}", e.reason, e.message))
            .unwrap_or_else(|| " The controller left no event explaining it.".into());
        let f = if events.is_empty() {
            Finding::warn(j.id, "Annotations not applied", "")
        } else {
            Finding::fail(j.id, "Annotations not applied", "")
        };
        return Finding {
            detail: format!("The target group differs from what {} asks: {}.{ev}", j.object, list.join("; ")),
            ..f
        }
        .evidence(evidence)
        .remediation(vec![
            format!("kubectl describe {} -n {ns}", kind_name(&j.object)),
            "kubectl logs -n kube-system deployment/aws-load-balancer-controller".into(),
        ]);
    }
    let _ = name;
    Finding::pass(
        j.id,
        "Annotations valid and applied",
        format!("The health check {} asks for is valid and is what the target group has.", j.object),
    )
    .evidence(evidence)
}

/// `Ingress ns/name` → `ingress name`.
fn kind_name(object: &str) -> String {
    let (kind, rest) = object.split_once(' ').unwrap_or(("", object));
    let name = rest.split_once('/').map(|(_, n)| n).unwrap_or(rest);
    format!("{} {name}", kind.to_lowercase())
}

/// A UDP target group whose health check reaches a port that only speaks UDP. Load balancers
/// health-check UDP target groups over TCP, HTTP or HTTPS only ("For a UDP service, target
/// availability is tested using non-UDP health checks", NLB guide, "Health checks for Network
/// Load Balancer target groups"), on the traffic port unless told otherwise (the controller's
/// default `traffic-port`). If nothing accepts TCP there, every target fails, however healthy the
/// UDP service is (and the NLB fails open: traffic still flows, unchecked).
/// Returns (sentence, targets it explains, fixes).
pub fn udp_unprobed(
    ctx: &View,
    tg: &crate::snapshot::TargetGroup,
    protocol: &str,
    port: &str,
) -> Option<(String, Vec<String>, Vec<String>)> {
    if tg.protocol.as_deref() != Some("UDP") {
        return None;
    }
    let svc = ctx.service.as_ref().ok()?;
    let sp = ctx.service_port()?;
    if sp.protocol.as_deref() != Some("UDP") {
        return None;
    }
    let ports = svc.spec.as_ref()?.ports.as_deref().unwrap_or_default();
    let tcp = |p: &&k8s_openapi::api::core::v1::ServicePort| p.protocol.as_deref().unwrap_or("TCP") == "TCP";
    let target_number = |p: &k8s_openapi::api::core::v1::ServicePort| match &p.target_port {
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => Some(*n),
        None => Some(p.port),
        _ => None,
    };
    // The port the check reaches, and whether something takes TCP there.
    let probed = match port {
        "traffic-port" if ctx.is_ip() => target_number(sp)?,
        "traffic-port" => sp.node_port?,
        n => n.parse().ok()?,
    };
    let tcp_there = if ctx.is_ip() {
        (ctx.selected.iter().flat_map(|p| crate::snapshot::serving_containers(p)))
            .flat_map(|c| c.ports.iter().flatten())
            .any(|cp| cp.container_port == probed && cp.protocol.as_deref().unwrap_or("TCP") == "TCP")
    } else {
        let hcnp = svc.spec.as_ref()?.health_check_node_port;
        ports.iter().filter(tcp).any(|p| p.node_port == Some(probed)) || hcnp == Some(probed)
    };
    if tcp_there {
        return None;
    }
    let (ns, name) = (svc.metadata.namespace.as_deref()?, svc.metadata.name.as_deref()?);
    let sentence = format!(
        "the target group forwards UDP, and its {protocol} health check probes port {probed}, where the Service {ns}/{name} takes only UDP ({}/UDP): \
         a UDP target group is health-checked over TCP, HTTP or HTTPS, so nothing answers the check",
        sp.port
    );
    let key = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port";
    let annotate = |value: &str| {
        format!(
            "kubectl annotate service {} -n {} {key}={} --overwrite",
            crate::shell::quote(name),
            crate::shell::quote(ns),
            crate::shell::quote(value)
        )
    };
    // A TCP port the same Service already has: point the check there (by name, which the
    // controller resolves since v2.6.2, else by the number the check reaches).
    let fix = match ports.iter().find(tcp) {
        Some(p) => {
            let value = match (&p.name, ctx.is_ip()) {
                (Some(n), _) => Some(n.clone()),
                (None, true) => target_number(p).map(|n| n.to_string()),
                (None, false) => p.node_port.map(|n| n.to_string()),
            };
            value.map(|v| annotate(&v)).into_iter().collect()
        }
        None => vec![format!(
            "Serve a TCP (or HTTP) health endpoint beside the UDP port (in the app, or a sidecar), add it to the Service as a TCP port named HEALTH, then: {}",
            annotate("HEALTH")
        )],
    };
    Some((sentence, ctx.unhealthy_ids(), fix))
}

/// A health check stricter than the pods' own readiness: ip targets timing out at the load
/// balancer whose pods are Ready, probed by the kubelet on the same port and path with a longer
/// timeout. The pods answer within what the application was built to take (the kubelet waits
/// longer and they pass), the load balancer gives up first (huggingface/dataset-viewer#3422:
/// busy workers answered /healthcheck in more than the ALB's 5 s, within the probe's).
/// Returns (sentence, targets, the timeout the probe allows).
pub fn stricter_than_readiness(ctx: &View, protocol: &str, path: &str, timeout: Option<i32>) -> Option<(String, Vec<String>, i32)> {
    if !ctx.is_ip() || !protocol.to_ascii_uppercase().starts_with("HTTP") {
        return None;
    }
    let elb = timeout?;
    let mut timed_out = Vec::new();
    let mut allowed = i32::MAX;
    for t in ctx.unhealthy() {
        if t.reason.as_deref() != Some("Target.Timeout") {
            continue;
        }
        let pod = ctx.pod_by_ip(&t.id)?;
        if !crate::snapshot::pod_ready(pod) {
            return None;
        }
        let port = ctx.health_check_container_port(pod)?;
        let probe = app_readiness_probes(pod)
            .into_iter()
            .find(|p| p.port == port && p.path == path)?
            .timeout;
        if probe <= elb {
            return None;
        }
        allowed = allowed.min(probe);
        timed_out.push(t.id.clone());
    }
    if timed_out.is_empty() {
        return None;
    }
    let sentence = format!(
        "the load balancer gives the pods {elb}s to answer {path}, while their readinessProbe on the same port and path gives them {allowed}s, \
         and the pods behind the timed-out targets ({}) are Ready: the health check is stricter than the application's own readiness \
         (a busy pod answers the kubelet in time and the load balancer too late)",
        timed_out.join(", ")
    );
    Some((sentence, timed_out, allowed))
}

#[cfg(test)]
mod incident_rule_tests {
    use crate::checks::{health_check_config, service_annotations, Status};
    use crate::fixtures::*;

    /// `SnapshotB::ip()`, its Service port named `name` (to the pods' `http` port), the target answering `codes`.
    fn answering(port_name: &str, codes: &str) -> SnapshotB {
        let mut t = target_r("10.0.2.11", 8080, "unhealthy", "Target.ResponseCodeMismatch");
        t.description = Some(format!("Health checks failed with these codes: [{codes}]"));
        let mut svc = ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 8080).build();
        svc.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].name = Some(port_name.into());
        let mut b = SnapshotB::ip().targets(vec![target("10.0.1.10", 8080, "healthy"), t]).service(svc);
        // The pods' port says nothing of its protocol (Argo CD's `server`): the Service's name speaks.
        if let crate::snapshot::Fetched::Ok(pods) = &mut b.kube().pods {
            for p in pods.iter_mut() {
                for port in p.spec.as_mut().unwrap().containers[0].ports.iter_mut().flatten() {
                    port.name = Some("server".into());
                }
            }
        }
        b
    }

    #[test]
    fn http_check_on_a_port_the_service_names_https_answered_307_is_the_protocol_not_the_path() {
        // GIVEN an HTTP check on a Service port named "https", answered 307
        // WHEN checked
        let f = health_check_config::CHECK.on(&answering("https", "307").build());
        // THEN the protocol is named and no path is proposed
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(
            f.detail.contains("speaks HTTP to a port named \"https\" (it answers 307)"),
            "{}",
            f.detail
        );
        assert!(
            f.remediation.iter().all(|r| !r.contains("--health-check-path")),
            "{:?}",
            f.remediation
        );
        assert!(
            f.remediation.iter().any(|r| r.ends_with("--health-check-protocol HTTPS")),
            "{:?}",
            f.remediation
        );
    }

    #[test]
    fn a_404_on_a_port_named_https_is_not_blamed_on_tls() {
        // GIVEN the same port answering 404 (a wrong path, not a TLS refusal) WHEN checked
        let f = health_check_config::CHECK.on(&answering("https", "404").build());
        // THEN no protocol problem is claimed
        assert!(!f.detail.contains("speaks HTTP to a port named"), "{}", f.detail);
    }

    #[test]
    fn protocol_annotation_right_for_a_sibling_port_gets_a_service_per_protocol() {
        use k8s_openapi::api::core::v1::ServicePort;
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        // GIVEN an NLB Service with ports http and https, annotated healthcheck-protocol https, the http group failing
        let mut svc = ServiceB::new("shop", "web").selector(&[("app", "web")]).port(80, 8080).build();
        svc.metadata.annotations = Some(
            [
                (
                    "service.beta.kubernetes.io/aws-load-balancer-type".to_string(),
                    "external".to_string(),
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type".to_string(),
                    "ip".to_string(),
                ),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol".to_string(),
                    "https".to_string(),
                ),
            ]
            .into(),
        );
        let ports = svc.spec.as_mut().unwrap().ports.as_mut().unwrap();
        ports[0].name = Some("http".into());
        ports.push(ServicePort {
            name: Some("https".into()),
            port: 443,
            target_port: Some(IntOrString::Int(8443)),
            ..Default::default()
        });
        svc.spec.as_mut().unwrap().type_ = Some("LoadBalancer".into());
        let mut b = SnapshotB::ip()
            .targets(vec![target_r("10.0.2.11", 8080, "unhealthy", "Target.FailedHealthChecks")])
            .service(svc)
            .health_check(|h| h.protocol = Some("HTTPS".into()));
        if let crate::snapshot::Fetched::Ok(lbs) = &mut b.aws().load_balancers {
            lbs[0].kind = "network".into();
        }
        // WHEN checked
        let f = service_annotations::CHECK.on(&b.build());
        // THEN the sibling is named and the fix splits the Service, never flips the annotation
        assert!(f.detail.contains("right for port \"https\" of the same Service"), "{}", f.detail);
        assert!(
            f.remediation.iter().all(|r| !r.contains("healthcheck-protocol=HTTP")),
            "{:?}",
            f.remediation
        );
        assert!(
            f.remediation[0].starts_with("give port \"https\" a Service of its own"),
            "{:?}",
            f.remediation
        );
    }
}
