//! The Gateway API through the AWS Load Balancer Controller (v3): which Gateway, route and
//! Service a target group was made for (from its tags), and which TargetGroupConfiguration block
//! sets its health check, decided as the controller decides. Pure functions: `collect::gateway`
//! reads the objects, the checks ask here.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::snapshot::{GatewayView, RouteConfigView, RouteRef, TargetGroupConfigView};

/// The tag prefixes of the controller's ALB and NLB Gateways (pkg/gateway/constants).
const PREFIXES: [&str; 2] = ["gateway.k8s.aws.alb", "gateway.k8s.aws.nlb"];

/// What the controller's tags on a Gateway's target group say. The resource tag is
/// `GW_NS/GW:ROUTE_NS-ROUTE:KIND-SVC_NS-SVC:PORT` (pkg/gateway/model/model_build_target_group.go,
/// buildTargetGroupResourceID); names hold hyphens, so the route and the Service stay joined.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayTag {
    pub gateway_namespace: String,
    pub gateway_name: String,
    pub route_kind: String,
    /// `ROUTE_NS-ROUTE`.
    pub route: String,
    /// `SVC_NS-SVC`.
    pub backend: String,
    pub port: String,
}

/// The Gateway tags of a target group, when it was made for one: the stack tag (`GW_NS/GW`) at
/// least; the route only from a resource tag in the controller's format.
pub fn tag(tags: &BTreeMap<String, String>) -> Option<GatewayTag> {
    let (stack, resource) = PREFIXES
        .iter()
        .find_map(|p| Some((tags.get(&format!("{p}/stack"))?, tags.get(&format!("{p}/resource")))))?;
    let (gateway_namespace, gateway_name) = stack.split_once('/')?;
    let mut t = GatewayTag {
        gateway_namespace: gateway_namespace.into(),
        gateway_name: gateway_name.into(),
        route_kind: String::new(),
        route: String::new(),
        backend: String::new(),
        port: String::new(),
    };
    let parts: Vec<&str> = resource.map(|r| r.split(':').collect()).unwrap_or_default();
    if let [gw, route, kind_backend, port] = parts.as_slice() {
        if let Some((kind, backend)) = kind_backend.split_once('-').filter(|_| *gw == stack.as_str()) {
            (t.route_kind, t.route, t.backend, t.port) = (kind.into(), route.to_string(), backend.into(), port.to_string());
        }
    }
    Some(t)
}

impl GatewayTag {
    /// The ways `ROUTE_NS-ROUTE` splits with the namespace one of `namespaces` (a route lives in
    /// its Service's namespace or its Gateway's, unless a ReferenceGrant says otherwise).
    pub fn route_candidates(&self, namespaces: &[&str]) -> Vec<RouteRef> {
        let mut out: Vec<RouteRef> = Vec::new();
        for ns in namespaces {
            let name = self.route.strip_prefix(&format!("{ns}-")).filter(|n| !n.is_empty());
            if let Some(name) = name.filter(|_| !out.iter().any(|r| r.namespace == *ns)) {
                out.push(RouteRef {
                    kind: self.route_kind.clone(),
                    namespace: ns.to_string(),
                    name: name.into(),
                });
            }
        }
        out
    }
}

/// The `routeConfigurations` entry the controller applies for `route`: the exact kind, namespace
/// and name; else the longest partial match, kind and namespace (no name) before kind alone (no
/// namespace, no name) (pkg/gateway/tg_config_constructor.go, mergeWithLongestMatch).
pub fn matched_route<'a>(config: &'a TargetGroupConfigView, route: &RouteRef) -> Option<&'a RouteConfigView> {
    let exact = |r: &&RouteConfigView| r.kind == route.kind && r.namespace == route.namespace && r.name == route.name;
    let kind_ns = |r: &&RouteConfigView| r.name.is_empty() && r.kind == route.kind && r.namespace == route.namespace;
    let kind = |r: &&RouteConfigView| r.name.is_empty() && r.namespace.is_empty() && r.kind == route.kind;
    (config.routes.iter().find(exact))
        .or_else(|| config.routes.iter().find(kind_ns))
        .or_else(|| config.routes.iter().find(kind))
}

/// One place a health check can be set: a TargetGroupConfiguration's route entry or its
/// `defaultConfiguration`, and, for a Gateway's default, the LoadBalancerConfiguration naming it.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    pub config: &'a TargetGroupConfigView,
    pub route: Option<&'a RouteConfigView>,
    /// `LoadBalancerConfiguration NS/NAME (the GatewayClass's)` for a default every Service
    /// behind the Gateway shares; `None` for the Service's own configuration.
    pub shared_by: Option<String>,
}

impl Block<'_> {
    pub fn health_check(&self) -> Option<&Value> {
        match self.route {
            Some(r) => r.health_check.as_ref(),
            None => self.config.default_health_check.as_ref(),
        }
    }

    /// `TargetGroupConfiguration NS/NAME, spec.….healthCheckConfig.FIELD`.
    pub fn field(&self, field: &str) -> String {
        let c = self.config;
        let at = match self.route {
            Some(r) => format!(
                "spec.routeConfigurations (route {}/{}/{}).targetGroupProps",
                or_any(&r.kind),
                or_any(&r.namespace),
                or_any(&r.name)
            ),
            None => "spec.defaultConfiguration".into(),
        };
        let shared = (self.shared_by.as_ref()).map_or(String::new(), |l| {
            format!(", the default that {l} gives every Service of the Gateway")
        });
        format!(
            "TargetGroupConfiguration {}/{}, {at}.healthCheckConfig.{field}{shared}",
            c.namespace, c.name
        )
    }
}

fn or_any(s: &str) -> &str {
    if s.is_empty() {
        "*"
    } else {
        s
    }
}

/// The blocks the controller consults for a Service behind a Gateway, highest first. The first
/// with a `healthCheckConfig` is used whole: the controller's merges take `healthCheckConfig` as
/// one value, never field by field (pkg/gateway/tg_config_constructor.go, performTakeOneMerges).
/// The order: the Service's TargetGroupConfiguration (its matched route entry, then its default),
/// then the Gateway's default configuration (backend_service.go: "service fields win, gateway
/// default fields as fallback"): its route entry, its default, then the other level's default
/// (controllers/gateway/config_resolver.go, MergeDefaultTGCs: the GatewayClass's configuration
/// wins unless its `mergingMode` is `prefer-gateway`, and only the winner's route entries count).
pub fn blocks<'a>(
    service: Option<&'a TargetGroupConfigView>,
    gateway: Option<&'a GatewayView>,
    route: Option<&RouteRef>,
) -> Vec<Block<'a>> {
    let mut out = Vec::new();
    let push_config = |out: &mut Vec<Block<'a>>, config: &'a TargetGroupConfigView, shared_by: Option<String>, routes: bool| {
        if let Some(r) = route.filter(|_| routes).and_then(|r| matched_route(config, r)) {
            out.push(Block {
                config,
                route: Some(r),
                shared_by: shared_by.clone(),
            });
        }
        out.push(Block {
            config,
            route: None,
            shared_by,
        });
    };
    if let Some(c) = service {
        push_config(&mut out, c, None, true);
    }
    for (k, (lbc, config)) in gateway.map(default_configs).unwrap_or_default().into_iter().enumerate() {
        let by = format!("LoadBalancerConfiguration {}/{} (the {}'s)", lbc.namespace, lbc.name, lbc.level);
        push_config(&mut out, config, Some(by), k == 0);
    }
    out
}

/// The Gateway's default TargetGroupConfigurations, the winning level's first.
fn default_configs(g: &GatewayView) -> Vec<(&crate::snapshot::LoadBalancerConfigView, &TargetGroupConfigView)> {
    let prefer_gateway =
        (g.load_balancer_configs.iter()).any(|l| l.level == "GatewayClass" && l.merging_mode.as_deref() == Some("prefer-gateway"));
    let mut levels: Vec<_> = g.load_balancer_configs.iter().collect();
    levels.sort_by_key(|l| (l.level == "GatewayClass") == prefer_gateway);
    levels
        .into_iter()
        .filter_map(|l| {
            let name = l.default_target_group_config.as_deref()?;
            let c = g.default_configs.iter().find(|c| c.namespace == l.namespace && c.name == name)?;
            Some((l, c))
        })
        .collect()
}

/// The TargetGroupConfiguration whose `targetReference` is Service `ns/name`.
pub fn service_config<'a>(configs: &'a [TargetGroupConfigView], ns: &str, name: &str) -> Option<&'a TargetGroupConfigView> {
    configs.iter().find(|c| c.namespace == ns && c.target_name.as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::LoadBalancerConfigView;
    use serde_json::json;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn route_entry(kind: &str, ns: &str, name: &str, path: Option<&str>) -> RouteConfigView {
        RouteConfigView {
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            health_check: path.map(|p| json!({"healthCheckPath": p})),
        }
    }

    fn config(ns: &str, name: &str, target: Option<&str>, default: Option<Value>, routes: Vec<RouteConfigView>) -> TargetGroupConfigView {
        TargetGroupConfigView {
            namespace: ns.into(),
            name: name.into(),
            target_name: target.map(str::to_string),
            default_health_check: default,
            routes,
        }
    }

    fn web_route() -> RouteRef {
        RouteRef {
            kind: "HTTPRoute".into(),
            namespace: "shop".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn resource_tag_names_gateway_route_and_backend() {
        // GIVEN the tags the controller puts on an ALB Gateway's target group
        let t = tags(&[
            ("gateway.k8s.aws.alb/stack", "infra/public"),
            ("gateway.k8s.aws.alb/resource", "infra/public:shop-web:HTTPRoute-shop-web-svc:80"),
        ]);
        // WHEN read
        let g = tag(&t).unwrap();
        // THEN the parts are the controller's, the route split by the namespaces it may be in
        assert_eq!((g.gateway_namespace.as_str(), g.gateway_name.as_str()), ("infra", "public"));
        assert_eq!(
            (g.route_kind.as_str(), g.backend.as_str(), g.port.as_str()),
            ("HTTPRoute", "shop-web-svc", "80")
        );
        assert_eq!(g.route_candidates(&["shop", "infra"]), vec![web_route()]);
    }

    #[test]
    fn hyphenated_namespaces_give_every_split_to_try() {
        // GIVEN a route part that splits two ways over the candidate namespaces
        let t = tags(&[
            ("gateway.k8s.aws.nlb/stack", "a/gw"),
            ("gateway.k8s.aws.nlb/resource", "a/gw:a-b-c:TCPRoute-a-b-svc:53"),
        ]);
        // WHEN split
        let c = tag(&t).unwrap().route_candidates(&["a-b", "a"]);
        // THEN both are candidates, to be settled by reading the route
        let names: Vec<_> = c.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
        assert_eq!(names, ["a-b/c", "a/b-c"]);
    }

    #[test]
    fn stack_tag_alone_still_names_the_gateway() {
        // GIVEN only the stack tag (or a resource tag in another format)
        let t = tags(&[
            ("gateway.k8s.aws.alb/stack", "infra/public"),
            ("gateway.k8s.aws.alb/resource", "odd"),
        ]);
        // WHEN read
        let g = tag(&t).unwrap();
        // THEN the Gateway is known, the route is not
        assert_eq!(g.gateway_name, "public");
        assert!(g.route_kind.is_empty() && g.route_candidates(&["infra"]).is_empty());
        // AND a group without the Gateway tags is none of this
        assert!(tag(&tags(&[("ingress.k8s.aws/stack", "a/b")])).is_none());
    }

    #[test]
    fn exact_route_entry_beats_namespace_and_kind_entries() {
        // GIVEN entries for the kind, the kind and namespace, and the exact route
        let c = config(
            "shop",
            "web",
            Some("web"),
            None,
            vec![
                route_entry("HTTPRoute", "", "", Some("/kind")),
                route_entry("HTTPRoute", "shop", "", Some("/ns")),
                route_entry("HTTPRoute", "shop", "web", Some("/exact")),
            ],
        );
        // WHEN matched for the route, for another route of the namespace, and of another namespace
        let path = |r: &RouteRef| matched_route(&c, r).and_then(|e| e.health_check.clone());
        let other = RouteRef {
            name: "api".into(),
            ..web_route()
        };
        let elsewhere = RouteRef {
            namespace: "ops".into(),
            ..web_route()
        };
        // THEN the longest match wins each time, and another kind matches nothing
        assert_eq!(path(&web_route()), Some(json!({"healthCheckPath": "/exact"})));
        assert_eq!(path(&other), Some(json!({"healthCheckPath": "/ns"})));
        assert_eq!(path(&elsewhere), Some(json!({"healthCheckPath": "/kind"})));
        assert_eq!(
            path(&RouteRef {
                kind: "GRPCRoute".into(),
                ..web_route()
            }),
            None
        );
    }

    #[test]
    fn service_config_comes_before_the_gateway_default_and_class_wins_by_default() {
        // GIVEN a Service configuration, and defaults from the Gateway's and the class's LoadBalancerConfigurations
        let svc = config("shop", "web", Some("web"), Some(json!({"healthCheckPath": "/svc"})), vec![]);
        let gw = GatewayView {
            namespace: "infra".into(),
            name: "public".into(),
            load_balancer_configs: vec![
                LoadBalancerConfigView {
                    namespace: "infra".into(),
                    name: "gw-lbc".into(),
                    level: "Gateway".into(),
                    default_target_group_config: Some("gw-defaults".into()),
                    ..Default::default()
                },
                LoadBalancerConfigView {
                    namespace: "platform".into(),
                    name: "class-lbc".into(),
                    level: "GatewayClass".into(),
                    default_target_group_config: Some("class-defaults".into()),
                    ..Default::default()
                },
            ],
            default_configs: vec![
                config("infra", "gw-defaults", None, Some(json!({"healthCheckPath": "/gw"})), vec![]),
                config(
                    "platform",
                    "class-defaults",
                    None,
                    None,
                    vec![route_entry("HTTPRoute", "", "", Some("/class-route"))],
                ),
            ],
            ..Default::default()
        };
        // WHEN the blocks are listed for the route
        let b = blocks(Some(&svc), Some(&gw), Some(&web_route()));
        let names: Vec<String> = b.iter().map(|b| b.field("healthCheckPath")).collect();
        // THEN the Service's comes first, then the class's default (its route entry, its default), then the Gateway's default
        assert_eq!(b.len(), 4, "{names:#?}");
        assert!(
            names[0].starts_with("TargetGroupConfiguration shop/web, spec.defaultConfiguration"),
            "{}",
            names[0]
        );
        assert!(
            names[1].contains("platform/class-defaults, spec.routeConfigurations (route HTTPRoute/*/*)"),
            "{}",
            names[1]
        );
        assert!(names[1].ends_with("LoadBalancerConfiguration platform/class-lbc (the GatewayClass's) gives every Service of the Gateway"));
        assert!(
            names[2].contains("platform/class-defaults, spec.defaultConfiguration"),
            "{}",
            names[2]
        );
        assert!(names[3].contains("infra/gw-defaults, spec.defaultConfiguration"), "{}", names[3]);
        // AND with mergingMode prefer-gateway the Gateway's default comes before the class's, whose route entries no longer count
        let mut preferring = gw.clone();
        preferring.load_balancer_configs[1].merging_mode = Some("prefer-gateway".into());
        let b = blocks(None, Some(&preferring), Some(&web_route()));
        let names: Vec<String> = b.iter().map(|b| b.field("healthCheckPath")).collect();
        assert_eq!(names.len(), 2, "{names:#?}");
        assert!(names[0].contains("infra/gw-defaults") && names[1].contains("platform/class-defaults, spec.defaultConfiguration"));
    }
}
