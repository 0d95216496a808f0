//! Reads the Gateway API objects behind a Gateway's target group: the Gateway its tags name, the
//! route whose backend it is, and the LoadBalancerConfigurations (the Gateway's and its
//! GatewayClass's) with the default TargetGroupConfigurations they name. A handful of GETs,
//! each step along the references, only for target groups a Gateway made. What cannot be read is
//! listed, not guessed.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;
use tracing::instrument;

use super::kube::{missing, parse_tgc};
use crate::gateway::GatewayTag;
use crate::snapshot::{Fetched, GatewayView, LoadBalancerConfigView, Missing, RouteRef};

const GATEWAY_API: &str = "gateway.networking.k8s.io";
const CONTROLLER_API: &str = "gateway.k8s.aws";

fn resource(group: &str, kind: &str) -> ApiResource {
    // Every kind read here is its lower-cased name plus `s`, but for the class (`…classes`).
    let plural = match kind {
        "GatewayClass" => "gatewayclasses".to_string(),
        _ => format!("{}s", kind.to_lowercase()),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), &plural)
}

/// GET one object; `Ok(None)` when it does not exist.
async fn get(client: &kube::Client, group: &str, kind: &str, ns: Option<&str>, name: &str) -> Result<Option<DynamicObject>, Missing> {
    let r = resource(group, kind);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &r),
        None => Api::all_with(client.clone(), &r),
    };
    api.get_opt(name).await.map_err(|e| denied(kind, &e))
}

/// What a failed GET lacked, one literal RBAC resource per kind (infra/rbac.yaml grants each,
/// tests/it/deploy.rs checks that).
fn denied(kind: &str, e: &kube::Error) -> Missing {
    match kind {
        "Gateway" => missing("get", "gateways.gateway.networking.k8s.io", e),
        "GatewayClass" => missing("get", "gatewayclasses.gateway.networking.k8s.io", e),
        "HTTPRoute" => missing("get", "httproutes.gateway.networking.k8s.io", e),
        "GRPCRoute" => missing("get", "grpcroutes.gateway.networking.k8s.io", e),
        "TCPRoute" => missing("get", "tcproutes.gateway.networking.k8s.io", e),
        "UDPRoute" => missing("get", "udproutes.gateway.networking.k8s.io", e),
        "TLSRoute" => missing("get", "tlsroutes.gateway.networking.k8s.io", e),
        "LoadBalancerConfiguration" => missing("get", "loadbalancerconfigurations.gateway.k8s.aws", e),
        _ => missing("get", "targetgroupconfigurations.gateway.k8s.aws", e),
    }
}

fn text<'a>(o: &'a DynamicObject, path: &[&str]) -> Option<&'a str> {
    let mut v: &Value = &o.data;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

/// The Gateway API objects of a Gateway's target group whose Service is in `service_ns`.
#[instrument(skip(client, tag), fields(gateway = %format!("{}/{}", tag.gateway_namespace, tag.gateway_name)))]
pub async fn gateway(client: &kube::Client, tag: &GatewayTag, service_ns: &str) -> Fetched<GatewayView> {
    let (gw_ns, gw_name) = (tag.gateway_namespace.as_str(), tag.gateway_name.as_str());
    let candidates = tag.route_candidates(&[service_ns, gw_ns]);
    let routes = futures::future::join_all((candidates.iter()).map(|r| get(client, GATEWAY_API, &r.kind, Some(&r.namespace), &r.name)));
    let (gw, routes) = tokio::join!(get(client, GATEWAY_API, "Gateway", Some(gw_ns), gw_name), routes);
    let gw = match gw {
        Ok(Some(gw)) => gw,
        Ok(None) => {
            return Fetched::Failed(Missing {
                api: "get gateways.gateway.networking.k8s.io".into(),
                permission: "gateways.gateway.networking.k8s.io: get".into(),
                error: format!("Gateway {gw_ns}/{gw_name}, named by the target group's tags, does not exist"),
            });
        }
        Err(e) => return Fetched::Failed(e),
    };
    let edit = |o: &DynamicObject| crate::snapshot::Edit::latest(o.metadata.managed_fields.as_deref().unwrap_or_default());
    let mut view = GatewayView {
        namespace: gw_ns.into(),
        name: gw_name.into(),
        class: text(&gw, &["spec", "gatewayClassName"]).map(str::to_string),
        gateway_edit: edit(&gw),
        ..Default::default()
    };
    let mut found: Vec<(RouteRef, Option<crate::snapshot::Edit>)> = Vec::new();
    for (r, got) in candidates.iter().zip(routes) {
        match got {
            Ok(Some(o)) => found.push((r.clone(), edit(&o))),
            Ok(None) => {}
            Err(e) => view.unread.push(e.explain()),
        }
    }
    // With two routes that fit the tag (hyphens in both namespaces), neither is claimed.
    if let [(only, edited)] = found.as_slice() {
        view.route = Some(only.clone());
        view.route_edit = edited.clone();
    }
    // The Gateway's own configuration (a local reference) and its class's (which names its namespace).
    let class = match view.class.as_deref() {
        Some(c) => get(client, GATEWAY_API, "GatewayClass", None, c).await,
        None => Ok(None),
    };
    let mut refs: Vec<(&str, String, String)> = Vec::new();
    if let Some(name) = text(&gw, &["spec", "infrastructure", "parametersRef", "name"]) {
        refs.push(("Gateway", gw_ns.to_string(), name.to_string()));
    }
    match class {
        Ok(Some(c)) => {
            let ns = text(&c, &["spec", "parametersRef", "namespace"]);
            if let (Some(name), Some(ns)) = (text(&c, &["spec", "parametersRef", "name"]), ns) {
                refs.push(("GatewayClass", ns.to_string(), name.to_string()));
            }
        }
        Ok(None) => {}
        Err(e) => view.unread.push(e.explain()),
    }
    let configs = futures::future::join_all(
        refs.iter()
            .map(|(_, ns, name)| get(client, CONTROLLER_API, "LoadBalancerConfiguration", Some(ns), name)),
    )
    .await;
    for ((level, ns, name), got) in refs.iter().zip(configs) {
        match got {
            Ok(Some(o)) => view.load_balancer_configs.push(LoadBalancerConfigView {
                namespace: ns.clone(),
                name: name.clone(),
                level: level.to_string(),
                merging_mode: text(&o, &["spec", "mergingMode"]).map(str::to_string),
                default_target_group_config: text(&o, &["spec", "defaultTargetGroupConfiguration", "name"]).map(str::to_string),
                manage_backend_security_group_rules: (o.data.get("spec"))
                    .and_then(|s| s.get("manageBackendSecurityGroupRules"))
                    .and_then(Value::as_bool),
            }),
            Ok(None) => view.unread.push(format!(
                "LoadBalancerConfiguration {ns}/{name}, named by the {level}, does not exist"
            )),
            Err(e) => view.unread.push(e.explain()),
        }
    }
    let defaults: Vec<(String, String)> = (view.load_balancer_configs.iter())
        .filter_map(|l| Some((l.namespace.clone(), l.default_target_group_config.clone()?)))
        .collect();
    let got = futures::future::join_all(
        (defaults.iter()).map(|(ns, name)| get(client, CONTROLLER_API, "TargetGroupConfiguration", Some(ns), name)),
    )
    .await;
    for ((ns, name), got) in defaults.iter().zip(got) {
        match got {
            Ok(Some(o)) => view.default_configs.push(parse_tgc(&o)),
            Ok(None) => view.unread.push(format!(
                "TargetGroupConfiguration {ns}/{name}, a LoadBalancerConfiguration's default, does not exist"
            )),
            Err(e) => view.unread.push(e.explain()),
        }
    }
    Fetched::Ok(view)
}
