//! The AWS Load Balancer Controller's annotations, as the controller reads them: the health
//! check an Ingress (ALB) or a Service (NLB) asks for, with each setting's source (an annotation
//! on which object, or the controller's default) and the values the controller would reject.
//! Pure; `ingress-annotations`, `service-annotations` and `health-check-config` build on it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;

pub const ALB: &str = "alb.ingress.kubernetes.io/";
pub const NLB: &str = "service.beta.kubernetes.io/aws-load-balancer-";
pub const NLB_CLASS: &str = "service.k8s.aws/nlb";
/// EKS Auto Mode's class, set by default on its clusters' `LoadBalancer` Services; it reads the
/// same `service.beta.kubernetes.io/aws-load-balancer-*` annotations (EKS user guide,
/// auto-configure-nlb).
pub const AUTO_NLB_CLASS: &str = "eks.amazonaws.com/nlb";
/// EKS Auto Mode's IngressClass controller (EKS user guide, auto-configure-alb).
pub const AUTO_ALB_CONTROLLER: &str = "eks.amazonaws.com/alb";

/// Where a setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Source {
    Default,
    Annotation { object: String, key: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    pub value: String,
    pub source: Source,
}

impl Setting {
    fn default(v: impl Into<String>) -> Self {
        Setting {
            value: v.into(),
            source: Source::Default,
        }
    }
    pub fn annotated(&self) -> Option<(&str, &str)> {
        match &self.source {
            Source::Annotation { object, key } => Some((object, key)),
            Source::Default => None,
        }
    }
}

/// The health check the controller configures, setting by setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSpec {
    pub target_type: Setting,
    pub protocol: Setting,
    pub port: Setting,
    pub path: Setting,
    pub interval: Setting,
    pub timeout: Setting,
    pub healthy_threshold: Setting,
    pub unhealthy_threshold: Setting,
    pub success_codes: Setting,
    /// NLB only: proxy protocol v2 requested.
    pub proxy_protocol: bool,
    /// NLB only: `target-group-attributes` as key → value.
    pub target_group_attributes: BTreeMap<String, String>,
}

/// A value the controller rejects (it then fails to reconcile and leaves the old target group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invalid {
    pub object: String,
    pub key: String,
    pub value: String,
    pub why: String,
}

/// One annotation lookup across objects, later objects overriding earlier ones.
struct Layers<'a> {
    layers: Vec<(String, &'a BTreeMap<String, String>)>,
    prefix: &'static str,
}

impl Layers<'_> {
    fn get(&self, name: &str) -> Option<(String, String, String)> {
        let key = format!("{}{name}", self.prefix);
        self.layers
            .iter()
            .rev()
            .find_map(|(obj, a)| a.get(&key).map(|v| (obj.clone(), key.clone(), v.trim().to_string())))
    }

    fn setting(&self, name: &str, default: impl Into<String>) -> Setting {
        match self.get(name) {
            Some((object, key, value)) => Setting {
                value,
                source: Source::Annotation { object, key },
            },
            None => Setting::default(default),
        }
    }
}

fn object(kind: &str, ns: Option<&str>, name: Option<&str>) -> String {
    format!("{kind} {}/{}", ns.unwrap_or(""), name.unwrap_or(""))
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// The ALB health check for a Service behind an Ingress: Ingress annotations, overridden by the
/// same annotations on the Service (the controller's per-backend override), over the defaults.
pub fn alb(ingress: &Ingress, service: &Service) -> (HealthCheckSpec, Vec<Invalid>) {
    let l = Layers {
        prefix: ALB,
        layers: vec![
            (
                object("Ingress", ingress.metadata.namespace.as_deref(), ingress.metadata.name.as_deref()),
                ingress.metadata.annotations.as_ref().unwrap_or(&EMPTY),
            ),
            (
                object("Service", service.metadata.namespace.as_deref(), service.metadata.name.as_deref()),
                service.metadata.annotations.as_ref().unwrap_or(&EMPTY),
            ),
        ],
    };
    // Defaults: aws-load-balancer-controller v3.5.0, pkg/ingress/model_builder.go
    // (`defaultHealthCheck*`): HTTP1 "/" matcher 200, gRPC "/AWS.ALB/healthcheck" matcher 12,
    // interval 15, timeout 5, thresholds 2/2; the health-check protocol follows the backend's.
    let backend = l.setting("backend-protocol", "HTTP");
    let version = l.setting("backend-protocol-version", "HTTP1");
    let grpc = version.value == "GRPC";
    let spec = HealthCheckSpec {
        target_type: l.setting("target-type", "instance"),
        protocol: l.setting("healthcheck-protocol", backend.value.clone()),
        port: l.setting("healthcheck-port", "traffic-port"),
        path: l.setting("healthcheck-path", if grpc { "/AWS.ALB/healthcheck" } else { "/" }),
        interval: l.setting("healthcheck-interval-seconds", "15"),
        timeout: l.setting("healthcheck-timeout-seconds", "5"),
        healthy_threshold: l.setting("healthy-threshold-count", "2"),
        unhealthy_threshold: l.setting("unhealthy-threshold-count", "2"),
        success_codes: l.setting("success-codes", if grpc { "12" } else { "200" }),
        proxy_protocol: false,
        target_group_attributes: BTreeMap::new(),
    };
    // ALB: "Health check interval must be greater than the timeout" (ELB ValidationError).
    let mut invalid = validate(&spec, &["HTTP", "HTTPS"], (5, 300), (2, 120), (2, 10), Timeout::ShorterThanInterval);
    // The controller compares these exactly (pkg/ingress/model_build_target_group.go:
    // buildTargetGroupProtocol, buildTargetGroupHealthCheckProtocol): "https" is rejected.
    for (name, allowed) in [
        ("backend-protocol", &["HTTP", "HTTPS"][..]),
        ("healthcheck-protocol", &["HTTP", "HTTPS"][..]),
        ("backend-protocol-version", &["HTTP1", "HTTP2", "GRPC"][..]),
    ] {
        if let Some((object, key, value)) = l.get(name) {
            if !allowed.contains(&value.as_str()) && !invalid.iter().any(|i| i.key == key) {
                invalid.push(Invalid {
                    object,
                    key,
                    value,
                    why: format!("must be {} (upper case: the controller compares exactly)", allowed.join(" or ")),
                });
            }
        }
    }
    (spec, invalid)
}

/// How a Service gets its NLB, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NlbOwner {
    /// The AWS Load Balancer Controller (`type: external`, `nlb-ip`, or the load balancer class).
    Controller,
    /// The legacy in-tree cloud provider (`type: nlb`, or no type: a Classic ELB).
    Legacy,
    /// EKS Auto Mode (`loadBalancerClass: eks.amazonaws.com/nlb`): AWS runs the controller.
    AutoMode,
}

/// The NLB health check of a `type: LoadBalancer` Service (None for other Services).
pub fn nlb(service: &Service) -> Option<(NlbOwner, HealthCheckSpec, Vec<Invalid>)> {
    let spec = service.spec.as_ref()?;
    let annotations = service.metadata.annotations.as_ref().unwrap_or(&EMPTY);
    let class = spec.load_balancer_class.as_deref();
    let lb_type = annotations.get(&format!("{NLB}type")).map(|s| s.as_str());
    let is_lb = spec.type_.as_deref() == Some("LoadBalancer");
    let owner = match (class, lb_type) {
        (Some(AUTO_NLB_CLASS), _) => NlbOwner::AutoMode,
        (Some(NLB_CLASS), _) | (_, Some("external" | "nlb-ip")) => NlbOwner::Controller,
        _ if is_lb => NlbOwner::Legacy,
        _ => return None,
    };
    let l = Layers {
        prefix: NLB,
        layers: vec![(
            object("Service", service.metadata.namespace.as_deref(), service.metadata.name.as_deref()),
            annotations,
        )],
    };
    let local = spec.external_traffic_policy.as_deref() == Some("Local");
    let default_type = if lb_type == Some("nlb-ip") { "ip" } else { "instance" };
    let target_type = l.setting("nlb-target-type", default_type);
    // Defaults: aws-load-balancer-controller v3.5.0, pkg/service/model_builder.go. Instance
    // targets of a `LoadBalancer` Service with externalTrafficPolicy Local get kube-proxy's
    // /healthz on the healthCheckNodePort (HTTP, interval 10, timeout 6, thresholds 2/2,
    // `...ForInstanceModeLocal`); everything else, ip targets with Local included, gets TCP on
    // the traffic port (interval 10, timeout 10, thresholds 3/3, matcher 200-399).
    // (pkg/service/model_build_target_group.go, buildTargetGroupHealthCheckConfig.)
    let local_instance = local && is_lb && target_type.value == "instance";
    let d = if local_instance {
        let hc_node_port = spec.health_check_node_port.map(|p| p.to_string());
        NlbDefaults {
            protocol: "HTTP",
            port: hc_node_port.unwrap_or_else(|| "traffic-port".into()),
            path: "/healthz",
            interval: "10",
            timeout: "6",
            threshold: "2",
        }
    } else {
        NlbDefaults {
            protocol: "TCP",
            port: "traffic-port".into(),
            path: "/",
            interval: "10",
            timeout: "10",
            threshold: "3",
        }
    };
    let protocol = l.setting("healthcheck-protocol", d.protocol);
    let mut hc = HealthCheckSpec {
        target_type,
        port: l.setting("healthcheck-port", d.port.clone()),
        path: l.setting("healthcheck-path", d.path),
        interval: l.setting("healthcheck-interval", d.interval),
        timeout: l.setting("healthcheck-timeout", d.timeout),
        healthy_threshold: l.setting("healthcheck-healthy-threshold", d.threshold),
        unhealthy_threshold: l.setting("healthcheck-unhealthy-threshold", d.threshold),
        success_codes: l.setting("healthcheck-success-codes", "200-399"),
        protocol,
        proxy_protocol: false,
        target_group_attributes: BTreeMap::new(),
    };
    hc.protocol.value = hc.protocol.value.to_uppercase();
    // NLB accepts a timeout equal to the interval: the controller's own default is 10/10.
    let mut invalid = validate(
        &hc,
        &["TCP", "HTTP", "HTTPS"],
        (5, 300),
        (2, 120),
        (2, 10),
        Timeout::NotLongerThanInterval,
    );
    if let Some((object, key, value)) = l.get("proxy-protocol") {
        if value == "*" {
            hc.proxy_protocol = true;
        } else {
            invalid.push(Invalid {
                object,
                key,
                value,
                why: "the only valid value is \"*\"".into(),
            });
        }
    }
    if let Some((object, key, value)) = l.get("target-group-attributes") {
        for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) => {
                    hc.target_group_attributes.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => invalid.push(Invalid {
                    object: object.clone(),
                    key: key.clone(),
                    value: pair.to_string(),
                    why: "expected key=value pairs separated by commas".into(),
                }),
            }
        }
    }
    if hc.target_group_attributes.get("proxy_protocol_v2.enabled").map(String::as_str) == Some("true") {
        hc.proxy_protocol = true;
    }
    if let Some((object, key, value)) = l.get("scheme") {
        if !["internal", "internet-facing"].contains(&value.as_str()) {
            invalid.push(Invalid {
                object,
                key,
                value,
                why: "must be internal or internet-facing".into(),
            });
        }
    }
    // The controller accepts TCP here, but kube-proxy's health server listens on every node:
    // a TCP check of the healthCheckNodePort passes on nodes without a local pod, where
    // Local then drops the traffic. Only instance targets checked on that port are affected.
    if local_instance && hc.protocol.value == "TCP" && hc.port.value == d.port && d.port != "traffic-port" {
        if let Some((object, key)) = hc.protocol.annotated().map(|(o, k)| (o.to_string(), k.to_string())) {
            invalid.push(Invalid {
                object,
                key,
                value: "tcp".into(),
                why: "with externalTrafficPolicy Local the check of the healthCheckNodePort must be HTTP (TCP succeeds on nodes without pods)".into(),
            });
        }
    }
    Some((owner, hc, invalid))
}

/// The NLB defaults of one case (see `nlb`).
struct NlbDefaults {
    protocol: &'static str,
    port: String,
    path: &'static str,
    interval: &'static str,
    timeout: &'static str,
    threshold: &'static str,
}

/// How the timeout must relate to the interval: ALB rejects a timeout equal to the interval,
/// NLB accepts it.
#[derive(Clone, Copy, PartialEq)]
enum Timeout {
    ShorterThanInterval,
    NotLongerThanInterval,
}

fn validate(
    s: &HealthCheckSpec,
    protocols: &[&str],
    interval: (i64, i64),
    timeout: (i64, i64),
    threshold: (i64, i64),
    rule: Timeout,
) -> Vec<Invalid> {
    let mut out = Vec::new();
    let mut bad = |setting: &Setting, why: String| {
        if let Some((object, key)) = setting.annotated() {
            out.push(Invalid {
                object: object.into(),
                key: key.into(),
                value: setting.value.clone(),
                why,
            });
        }
    };
    if !["instance", "ip"].contains(&s.target_type.value.as_str()) {
        bad(&s.target_type, "must be instance or ip".into());
    }
    if !protocols.contains(&s.protocol.value.to_uppercase().as_str()) {
        bad(&s.protocol, format!("must be one of {}", protocols.join(", ")));
    }
    if s.port.value != "traffic-port" && s.port.value.parse::<u16>().map_or(true, |p| p == 0) && !is_port_name(&s.port.value) {
        bad(&s.port, "must be traffic-port or a port number 1-65535".into());
    }
    if !s.path.value.starts_with('/') {
        bad(&s.path, "must start with /".into());
    }
    let num = |v: &Setting| v.value.parse::<i64>().ok();
    for (setting, (lo, hi), what) in [
        (&s.interval, interval, "interval"),
        (&s.timeout, timeout, "timeout"),
        (&s.healthy_threshold, threshold, "threshold"),
        (&s.unhealthy_threshold, threshold, "threshold"),
    ] {
        match num(setting) {
            Some(n) if (lo..=hi).contains(&n) => {}
            _ => bad(setting, format!("{what} must be a whole number from {lo} to {hi}")),
        }
    }
    let in_range = |v: &Setting, (lo, hi): (i64, i64)| num(v).filter(|n| (lo..=hi).contains(n));
    if let (Some(i), Some(t)) = (in_range(&s.interval, interval), in_range(&s.timeout, timeout)) {
        let too_long = match rule {
            Timeout::ShorterThanInterval => t >= i,
            Timeout::NotLongerThanInterval => t > i,
        };
        if too_long {
            let which = if s.timeout.annotated().is_some() { &s.timeout } else { &s.interval };
            let must = if rule == Timeout::ShorterThanInterval {
                "be shorter than"
            } else {
                "not exceed"
            };
            bad(which, format!("the timeout ({t}s) must {must} the interval ({i}s)"));
        }
    }
    if crate::matcher::parse(&s.success_codes.value).is_none() {
        bad(&s.success_codes, "expected codes like 200, 200-299 or 200,202".into());
    }
    out
}

fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
}

/// Whether an Ingress routes to a Service (default backend or any rule path).
pub fn routes_to(ingress: &Ingress, service: &str) -> bool {
    let Some(spec) = ingress.spec.as_ref() else { return false };
    let default = spec
        .default_backend
        .as_ref()
        .and_then(|b| b.service.as_ref())
        .is_some_and(|s| s.name == service);
    default
        || spec
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
            .any(|p| p.backend.service.as_ref().is_some_and(|s| s.name == service))
}

/// Whether an Ingress is the AWS Load Balancer Controller's (class `alb`, by field or annotation,
/// or an IngressClass whose controller is `ingress.k8s.aws/alb`).
pub fn is_alb(ingress: &Ingress, alb_classes: &[String]) -> bool {
    let by_annotation = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
        .map(String::as_str);
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or(by_annotation);
    class.is_some_and(|c| c == "alb" || alb_classes.iter().any(|a| a == c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(name: &str, annotations: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            namespace: Some("shop".into()),
            name: Some(name.into()),
            annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        }
    }

    fn ingress(annotations: &[(&str, &str)]) -> Ingress {
        Ingress {
            metadata: meta("front", annotations),
            ..Default::default()
        }
    }

    fn service(annotations: &[(&str, &str)], lb: bool, local: bool) -> Service {
        Service {
            metadata: meta("web", annotations),
            spec: Some(ServiceSpec {
                type_: Some(if lb { "LoadBalancer" } else { "NodePort" }.into()),
                external_traffic_policy: Some(if local { "Local" } else { "Cluster" }.into()),
                health_check_node_port: if local { Some(31999) } else { None },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn alb_defaults_when_nothing_is_annotated() {
        let (hc, invalid) = alb(&ingress(&[]), &service(&[], false, false));
        let values: Vec<&str> = [
            &hc.target_type,
            &hc.protocol,
            &hc.port,
            &hc.path,
            &hc.interval,
            &hc.timeout,
            &hc.healthy_threshold,
            &hc.unhealthy_threshold,
            &hc.success_codes,
        ]
        .iter()
        .map(|s| s.value.as_str())
        .collect();
        assert_eq!(values, ["instance", "HTTP", "traffic-port", "/", "15", "5", "2", "2", "200"]);
        assert!(hc.path.annotated().is_none());
        assert!(invalid.is_empty());
    }

    #[test]
    fn service_annotation_overrides_the_ingress() {
        let ing = ingress(&[
            ("alb.ingress.kubernetes.io/healthcheck-path", "/healthz"),
            ("alb.ingress.kubernetes.io/backend-protocol", "HTTPS"),
        ]);
        let svc = service(&[("alb.ingress.kubernetes.io/healthcheck-path", "/ready")], false, false);
        let (hc, _) = alb(&ing, &svc);
        assert_eq!(hc.path.value, "/ready");
        assert_eq!(
            hc.path.annotated(),
            Some(("Service shop/web", "alb.ingress.kubernetes.io/healthcheck-path"))
        );
        // the health-check protocol follows the backend protocol
        assert_eq!(hc.protocol.value, "HTTPS");
    }

    /// Invalid values, each naming the annotation and why.
    #[test]
    fn alb_invalid_values_table() {
        for (key, value, why) in [
            ("healthcheck-path", "healthz", "must start with /"),
            ("healthcheck-interval-seconds", "3", "interval must be a whole number from 5 to 300"),
            (
                "healthcheck-timeout-seconds",
                "20",
                "the timeout (20s) must be shorter than the interval (15s)",
            ),
            ("healthy-threshold-count", "11", "threshold must be a whole number from 2 to 10"),
            ("unhealthy-threshold-count", "one", "threshold must be a whole number from 2 to 10"),
            ("success-codes", "2xx", "expected codes like 200, 200-299 or 200,202"),
            ("healthcheck-protocol", "TCP", "must be one of HTTP, HTTPS"),
            ("healthcheck-port", "70000", "must be traffic-port or a port number 1-65535"),
            ("target-type", "pod", "must be instance or ip"),
            (
                "backend-protocol",
                "GRPC",
                "must be HTTP or HTTPS (upper case: the controller compares exactly)",
            ),
            (
                "backend-protocol",
                "https",
                "must be HTTP or HTTPS (upper case: the controller compares exactly)",
            ),
            (
                "backend-protocol-version",
                "grpc",
                "must be HTTP1 or HTTP2 or GRPC (upper case: the controller compares exactly)",
            ),
            (
                "healthcheck-timeout-seconds",
                "15",
                "the timeout (15s) must be shorter than the interval (15s)",
            ),
        ] {
            let full = format!("{ALB}{key}");
            let (_, invalid) = alb(&ingress(&[(full.as_str(), value)]), &service(&[], false, false));
            assert_eq!(invalid.len(), 1, "{key}={value}: {invalid:?}");
            assert_eq!((invalid[0].key.as_str(), invalid[0].why.as_str()), (full.as_str(), why), "{key}");
        }
    }

    #[test]
    fn nlb_controller_defaults_cluster_and_local() {
        let ext = [("service.beta.kubernetes.io/aws-load-balancer-type", "external")];
        let (owner, hc, invalid) = nlb(&service(&ext, true, false)).unwrap();
        assert_eq!(owner, NlbOwner::Controller);
        assert_eq!(
            (
                hc.protocol.value.as_str(),
                hc.port.value.as_str(),
                hc.interval.value.as_str(),
                hc.healthy_threshold.value.as_str()
            ),
            ("TCP", "traffic-port", "10", "3")
        );
        assert_eq!((hc.timeout.value.as_str(), hc.success_codes.value.as_str()), ("10", "200-399"));
        assert!(invalid.is_empty());
        // Local: HTTP /healthz on the healthCheckNodePort, 6s timeout
        let (_, hc, _) = nlb(&service(&ext, true, true)).unwrap();
        assert_eq!(
            (
                hc.protocol.value.as_str(),
                hc.port.value.as_str(),
                hc.path.value.as_str(),
                hc.timeout.value.as_str()
            ),
            ("HTTP", "31999", "/healthz", "6")
        );
        // Local with ip targets: pods answer directly, traffic-port
        let ip = [ext[0], ("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip")];
        let (_, hc, _) = nlb(&service(&ip, true, true)).unwrap();
        assert_eq!(
            (hc.target_type.value.as_str(), hc.port.value.as_str(), hc.path.value.as_str()),
            ("ip", "traffic-port", "/")
        );
    }

    #[test]
    fn nlb_owner_by_class_type_or_legacy() {
        let mut svc = service(&[], true, false);
        assert_eq!(nlb(&svc).unwrap().0, NlbOwner::Legacy);
        svc.spec.as_mut().unwrap().load_balancer_class = Some(NLB_CLASS.into());
        assert_eq!(nlb(&svc).unwrap().0, NlbOwner::Controller);
        assert!(
            nlb(&service(&[], false, false)).is_none(),
            "a NodePort Service has no NLB of its own"
        );
        let ip = service(&[("service.beta.kubernetes.io/aws-load-balancer-type", "nlb-ip")], true, false);
        assert_eq!(nlb(&ip).unwrap().1.target_type.value, "ip");
    }

    #[test]
    fn nlb_proxy_protocol_and_attributes() {
        let svc = service(
            &[
                ("service.beta.kubernetes.io/aws-load-balancer-type", "external"),
                ("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "*"),
            ],
            true,
            false,
        );
        assert!(nlb(&svc).unwrap().1.proxy_protocol);
        let svc = service(
            &[
                ("service.beta.kubernetes.io/aws-load-balancer-type", "external"),
                (
                    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",
                    "proxy_protocol_v2.enabled=true, deregistration_delay.timeout_seconds=30,broken",
                ),
            ],
            true,
            false,
        );
        let (_, hc, invalid) = nlb(&svc).unwrap();
        assert!(hc.proxy_protocol);
        assert_eq!(hc.target_group_attributes["deregistration_delay.timeout_seconds"], "30");
        assert_eq!(invalid[0].value, "broken");
        let bad = service(
            &[
                ("service.beta.kubernetes.io/aws-load-balancer-type", "external"),
                ("service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "true"),
            ],
            true,
            false,
        );
        assert_eq!(nlb(&bad).unwrap().2[0].why, "the only valid value is \"*\"");
    }

    /// gRPC backends: the controller's gRPC defaults (pkg/ingress/model_builder.go).
    #[test]
    fn alb_grpc_backend_gets_the_grpc_health_check_defaults() {
        let ing = ingress(&[("alb.ingress.kubernetes.io/backend-protocol-version", "GRPC")]);
        let (hc, invalid) = alb(&ing, &service(&[], false, false));
        assert_eq!(
            (hc.path.value.as_str(), hc.success_codes.value.as_str(), hc.protocol.value.as_str()),
            ("/AWS.ALB/healthcheck", "12", "HTTP")
        );
        assert!(invalid.is_empty(), "{invalid:?}");
    }

    /// The defaults of each NLB case, as pkg/service/model_builder.go has them:
    /// (protocol, port, path, interval, timeout, healthy, unhealthy).
    #[test]
    fn nlb_defaults_follow_the_controller_source_per_target_type_and_policy() {
        let ext = ("service.beta.kubernetes.io/aws-load-balancer-type", "external");
        let ip = ("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip");
        for (annotations, local, want) in [
            (vec![ext], false, ["TCP", "traffic-port", "/", "10", "10", "3", "3"]),
            (vec![ext], true, ["HTTP", "31999", "/healthz", "10", "6", "2", "2"]),
            (vec![ext, ip], false, ["TCP", "traffic-port", "/", "10", "10", "3", "3"]),
            // ip targets with Local: the pods answer themselves, plain TCP (not /healthz)
            (vec![ext, ip], true, ["TCP", "traffic-port", "/", "10", "10", "3", "3"]),
        ] {
            let (_, hc, invalid) = nlb(&service(&annotations, true, local)).unwrap();
            let got = [
                &hc.protocol,
                &hc.port,
                &hc.path,
                &hc.interval,
                &hc.timeout,
                &hc.healthy_threshold,
                &hc.unhealthy_threshold,
            ]
            .map(|s| s.value.as_str());
            assert_eq!(got, want, "{annotations:?} local={local}");
            assert!(invalid.is_empty(), "the defaults are valid: {invalid:?}");
        }
    }

    #[test]
    fn nlb_timeout_equal_to_interval_is_allowed_longer_is_not() {
        let ext = ("service.beta.kubernetes.io/aws-load-balancer-type", "external");
        let equal = ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout", "10");
        assert!(nlb(&service(&[ext, equal], true, false)).unwrap().2.is_empty());
        let longer = ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout", "12");
        let invalid = nlb(&service(&[ext, longer], true, false)).unwrap().2;
        assert_eq!(invalid[0].why, "the timeout (12s) must not exceed the interval (10s)");
    }

    #[test]
    fn nlb_tcp_check_of_the_health_check_node_port_with_local_policy_is_flagged() {
        let tcp = ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol", "tcp");
        let ext = ("service.beta.kubernetes.io/aws-load-balancer-type", "external");
        let (_, _, invalid) = nlb(&service(&[ext, tcp], true, true)).unwrap();
        assert!(invalid.iter().any(|i| i.why.contains("must be HTTP")), "{invalid:?}");
        // ip targets: TCP is the controller's own default with Local, nothing to flag
        let ip = ("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip");
        assert!(nlb(&service(&[ext, ip, tcp], true, true)).unwrap().2.is_empty());
        // TCP on the traffic port: Local drops it on nodes without pods, which is what is wanted
        let traffic = ("service.beta.kubernetes.io/aws-load-balancer-healthcheck-port", "traffic-port");
        assert!(nlb(&service(&[ext, tcp, traffic], true, true)).unwrap().2.is_empty());
    }
}
