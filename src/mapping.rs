//! Maps a target group to the Kubernetes Service behind it (ARCHITECTURE.md, "Mapping"), as pure functions over
//! evidence already collected. `collect` calls the steps in order and stops at the first hit;
//! every step reports what it tried, so a miss can say so.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Service;

use crate::snapshot::{EndpointsView, PortRef, ServiceRef, TargetGroupBinding, TargetHealth};

pub const BY_BINDING: &str = "target-group-binding";
pub const BY_TAGS: &str = "tags";
pub const BY_LEGACY_TAGS: &str = "legacy-tags";
pub const BY_NODE_PORT: &str = "node-port";
pub const BY_ENDPOINT_IPS: &str = "endpoint-ips";

pub const TAG_CLUSTER: &str = "elbv2.k8s.aws/cluster";
pub const TAG_SERVICE_RESOURCE: &str = "service.k8s.aws/resource";
pub const TAG_SERVICE_STACK: &str = "service.k8s.aws/stack";
pub const TAG_INGRESS_RESOURCE: &str = "ingress.k8s.aws/resource";
/// `namespace/ingress` for a lone Ingress, or the IngressGroup's name.
pub const TAG_INGRESS_STACK: &str = "ingress.k8s.aws/stack";
pub const TAG_LEGACY_SERVICE: &str = "kubernetes.io/service-name";
/// EKS Auto Mode's own tags (the AWS-managed controller): the cluster, and the same resource
/// and stack values under its own prefixes (AmazonEKSLoadBalancingPolicy allows exactly these
/// tag keys on what it creates, and RegisterTargets only on groups tagged for the cluster).
pub const TAG_AUTO_CLUSTER: &str = "eks:eks-cluster-name";
pub const TAG_AUTO_SERVICE_RESOURCE: &str = "service.eks.amazonaws.com/resource";
pub const TAG_AUTO_SERVICE_STACK: &str = "service.eks.amazonaws.com/stack";
pub const TAG_AUTO_INGRESS_RESOURCE: &str = "ingress.eks.amazonaws.com/resource";
pub const TAG_AUTO_INGRESS_STACK: &str = "ingress.eks.amazonaws.com/stack";
pub const TAG_LEGACY_CLUSTER_PREFIX: &str = "kubernetes.io/cluster/";

/// Did the controller make this target group for a Gateway (its `gateway.k8s.aws.alb/` or
/// `gateway.k8s.aws.nlb/` tags, pkg/gateway/constants)? Its settings then come from a
/// TargetGroupConfiguration.
pub fn made_for_gateway(tags: &BTreeMap<String, String>) -> bool {
    tags.keys()
        .any(|k| k.starts_with("gateway.k8s.aws.alb/") || k.starts_with("gateway.k8s.aws.nlb/"))
}

/// The outcome of one mapping step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Found(ServiceRef),
    /// The Ingress tag names `ns/INGRESS-SERVICE:port`; the Services of `namespace` tell where
    /// the ingress name ends (both may contain hyphens).
    NeedServices {
        namespace: String,
        rest: String,
        port: PortRef,
    },
    Miss(String),
}

/// Step 1: a TargetGroupBinding whose `spec.targetGroupARN` is this target group.
pub fn by_binding(arn: &str, bindings: &[TargetGroupBinding]) -> Step {
    let hits: Vec<&TargetGroupBinding> = bindings.iter().filter(|b| b.target_group_arn == arn).collect();
    match hits.as_slice() {
        [] => Step::Miss(format!(
            "none of the {} TargetGroupBindings names this target group",
            bindings.len()
        )),
        [b, ..] => Step::Found(ServiceRef {
            namespace: b.namespace.clone(),
            name: b.service_name.clone(),
            port: Some(b.service_port.clone()),
            resolved_by: BY_BINDING.into(),
        }),
    }
}

/// Step 2: the tags the AWS Load Balancer Controller puts on target groups it creates.
pub fn by_tags(tags: &BTreeMap<String, String>) -> Step {
    // EKS Auto Mode tags its groups the same way under its own prefixes.
    let mut merged = tags.clone();
    for (lbc, auto) in [
        (TAG_SERVICE_RESOURCE, TAG_AUTO_SERVICE_RESOURCE),
        (TAG_INGRESS_RESOURCE, TAG_AUTO_INGRESS_RESOURCE),
        (TAG_SERVICE_STACK, TAG_AUTO_SERVICE_STACK),
    ] {
        if let Some(v) = tags.get(auto) {
            merged.entry(lbc.to_string()).or_insert_with(|| v.clone());
        }
    }
    let tags = &merged;
    if let Some(v) = tags.get(TAG_SERVICE_RESOURCE) {
        if let Some((ns, name, port)) = split_resource(v) {
            return Step::Found(ServiceRef {
                namespace: ns,
                name,
                port: Some(port),
                resolved_by: BY_TAGS.into(),
            });
        }
        return Step::Miss(format!("tag {TAG_SERVICE_RESOURCE}={v:?} is not NAMESPACE/NAME:PORT"));
    }
    if let Some(v) = tags.get(TAG_INGRESS_RESOURCE) {
        if let Some((namespace, rest, port)) = split_resource(v) {
            return Step::NeedServices { namespace, rest, port };
        }
        return Step::Miss(format!("tag {TAG_INGRESS_RESOURCE}={v:?} is not NAMESPACE/INGRESS-SERVICE:PORT"));
    }
    if let Some((ns, name)) = tags.get(TAG_SERVICE_STACK).and_then(|v| v.split_once('/')) {
        return Step::Found(ServiceRef {
            namespace: ns.into(),
            name: name.into(),
            port: None,
            resolved_by: BY_TAGS.into(),
        });
    }
    Step::Miss(format!(
        "no {TAG_SERVICE_RESOURCE}, {TAG_INGRESS_RESOURCE} or {TAG_SERVICE_STACK} tag on the target group"
    ))
}

/// Completes an Ingress tag: the Service whose name ends `rest` after a hyphen (longest wins).
pub fn ingress_service(namespace: &str, rest: &str, port: &PortRef, services: &[Service]) -> Step {
    let best = services
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
        .filter_map(|s| s.metadata.name.as_deref())
        .filter(|name| rest.len() > name.len() + 1 && rest.ends_with(name) && rest[..rest.len() - name.len()].ends_with('-'))
        .max_by_key(|name| name.len());
    match best {
        Some(name) => Step::Found(ServiceRef {
            namespace: namespace.into(),
            name: name.into(),
            port: Some(port.clone()),
            resolved_by: BY_TAGS.into(),
        }),
        None => Step::Miss(format!(
            "tag {TAG_INGRESS_RESOURCE} names {namespace}/{rest}, but no Service of {namespace} ends that name"
        )),
    }
}

/// Step 3: the legacy in-tree cloud provider tags the load balancer, not the target group.
pub fn by_legacy_tags(lb_tags: &BTreeMap<String, BTreeMap<String, String>>) -> Step {
    for tags in lb_tags.values() {
        if let Some((ns, name)) = tags.get(TAG_LEGACY_SERVICE).and_then(|v| v.split_once('/')) {
            return Step::Found(ServiceRef {
                namespace: ns.into(),
                name: name.into(),
                port: None,
                resolved_by: BY_LEGACY_TAGS.into(),
            });
        }
    }
    Step::Miss(format!("no {TAG_LEGACY_SERVICE} tag on the load balancer(s)"))
}

/// Step 4a: instance targets receive traffic on a NodePort; the Service that owns it.
pub fn by_node_port(targets: &[TargetHealth], services: &[Service]) -> Step {
    let Some(port) = most_common(targets.iter().filter_map(|t| t.port)) else {
        return Step::Miss("no registered target has a port".into());
    };
    for s in services {
        for p in s.spec.as_ref().and_then(|s| s.ports.as_ref()).into_iter().flatten() {
            if p.node_port == Some(port) {
                return Step::Found(ServiceRef {
                    namespace: s.metadata.namespace.clone().unwrap_or_default(),
                    name: s.metadata.name.clone().unwrap_or_default(),
                    port: Some(PortRef::Number(p.port)),
                    resolved_by: BY_NODE_PORT.into(),
                });
            }
        }
    }
    Step::Miss(format!("no Service in the cluster has NodePort {port}"))
}

/// Step 4b: ip targets are pod IPs; the Service whose endpoints hold most of them.
pub fn by_endpoint_ips(targets: &[TargetHealth], endpoints: &[EndpointsView]) -> Step {
    let mut hits: HashMap<(&str, &str), usize> = HashMap::new();
    for e in endpoints {
        let n = targets.iter().filter(|t| e.addresses.iter().any(|a| a.ip == t.id)).count();
        if n > 0 {
            *hits.entry((e.namespace.as_str(), e.service.as_str())).or_default() += n;
        }
    }
    match hits.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0))) {
        Some(((ns, name), _)) => Step::Found(ServiceRef {
            namespace: ns.into(),
            name: name.into(),
            port: None,
            resolved_by: BY_ENDPOINT_IPS.into(),
        }),
        None => Step::Miss(format!("none of the {} target IPs is an endpoint of any Service", targets.len())),
    }
}

/// The cluster a request is about, and where its name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterChoice {
    pub name: String,
    /// `request`, `tag elbv2.k8s.aws/cluster`, `tag kubernetes.io/cluster/<name>`, `configuration`.
    pub source: String,
}

/// The documented order, in one place: the request, then the tags, then `DEFAULT_CLUSTER`.
/// Both the connection (`collect::access`) and the report (`collect`) decide with this.
pub fn resolve_cluster(
    request: Option<&str>,
    tg_tags: Option<&BTreeMap<String, String>>,
    lb_tags: Option<&BTreeMap<String, BTreeMap<String, String>>>,
    default: Option<&str>,
) -> Option<ClusterChoice> {
    let choice = |name: &str, source: &str| ClusterChoice {
        name: name.to_string(),
        source: source.to_string(),
    };
    if let Some(c) = request {
        return Some(choice(c, "request"));
    }
    if let Some((name, source)) = cluster_from_tags(tg_tags, lb_tags) {
        return Some(ClusterChoice { name, source });
    }
    default.map(|c| choice(c, "configuration"))
}

/// The cluster name from the tags, in the documented order (ARCHITECTURE.md, "Mapping") after the request.
pub fn cluster_from_tags(
    tg_tags: Option<&BTreeMap<String, String>>,
    lb_tags: Option<&BTreeMap<String, BTreeMap<String, String>>>,
) -> Option<(String, String)> {
    for key in [TAG_CLUSTER, TAG_AUTO_CLUSTER] {
        if let Some(c) = tg_tags.and_then(|t| t.get(key)) {
            return Some((c.clone(), format!("tag {key}")));
        }
    }
    let legacy = |tags: &BTreeMap<String, String>| {
        tags.iter()
            .find(|(k, v)| k.starts_with(TAG_LEGACY_CLUSTER_PREFIX) && (*v == "owned" || *v == "shared"))
            .map(|(k, _)| k[TAG_LEGACY_CLUSTER_PREFIX.len()..].to_string())
    };
    for tags in tg_tags.into_iter().chain(lb_tags.into_iter().flat_map(|m| m.values())) {
        for key in [TAG_CLUSTER, TAG_AUTO_CLUSTER] {
            if let Some(c) = tags.get(key) {
                return Some((c.clone(), format!("tag {key}")));
            }
        }
        if let Some(c) = legacy(tags) {
            return Some((c, format!("tag {TAG_LEGACY_CLUSTER_PREFIX}<name>")));
        }
    }
    None
}

/// `ns/name:port` → (ns, name, port).
fn split_resource(v: &str) -> Option<(String, String, PortRef)> {
    let (ns, rest) = v.split_once('/')?;
    let (name, port) = rest.rsplit_once(':')?;
    if ns.is_empty() || name.is_empty() || port.is_empty() {
        return None;
    }
    Some((ns.into(), name.into(), PortRef::parse(port)))
}

fn most_common(it: impl Iterator<Item = i32>) -> Option<i32> {
    let mut counts: BTreeMap<i32, usize> = BTreeMap::new();
    for p in it {
        *counts.entry(p).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p))).map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn auto_mode_tags_map_like_the_controllers() {
        // GIVEN the tags EKS Auto Mode puts on a Service's target group
        let tags: std::collections::BTreeMap<String, String> = [
            ("eks:eks-cluster-name", "blue"),
            ("service.eks.amazonaws.com/resource", "shop/web:80"),
            ("service.eks.amazonaws.com/stack", "shop/web"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // THEN the Service and the cluster are read from them
        match super::by_tags(&tags) {
            super::Step::Found(s) => assert_eq!((s.namespace.as_str(), s.name.as_str()), ("shop", "web")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            super::cluster_from_tags(Some(&tags), None),
            Some(("blue".to_string(), "tag eks:eks-cluster-name".to_string()))
        );
    }

    use super::*;
    use crate::fixtures::*;

    #[test]
    fn binding_for_this_arn_wins_over_others() {
        // GIVEN two bindings, one for another target group
        let b = vec![
            binding("other", "arn:other", "web", PortRef::Number(80)),
            binding("shop", TG_ARN, "web", PortRef::Name("http".into())),
        ];
        // WHEN / THEN the one naming this ARN maps, keeping the named port
        let Step::Found(s) = by_binding(TG_ARN, &b) else {
            panic!("expected a hit")
        };
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port),
            ("shop", "web", Some(PortRef::Name("http".into())))
        );
        assert_eq!(s.resolved_by, BY_BINDING);
    }

    #[test]
    fn service_resource_tag_gives_namespace_name_and_port() {
        let tags = BTreeMap::from([(TAG_SERVICE_RESOURCE.to_string(), "shop/web:8080".to_string())]);
        let Step::Found(s) = by_tags(&tags) else { panic!() };
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port),
            ("shop", "web", Some(PortRef::Number(8080)))
        );
    }

    #[test]
    fn ingress_tag_is_completed_by_the_longest_matching_service_name() {
        // GIVEN ingress "front-door" routing to service "api-v2"; "v2" also exists
        let tags = BTreeMap::from([(TAG_INGRESS_RESOURCE.to_string(), "shop/front-door-api-v2:http".to_string())]);
        let Step::NeedServices { namespace, rest, port } = by_tags(&tags) else {
            panic!()
        };
        let services = vec![
            ServiceB::new("shop", "v2").build(),
            ServiceB::new("shop", "api-v2").build(),
            ServiceB::new("other", "door-api-v2").build(),
        ];
        // WHEN completed THEN the longest suffix in the same namespace wins
        let Step::Found(s) = ingress_service(&namespace, &rest, &port, &services) else {
            panic!()
        };
        assert_eq!(s.name, "api-v2");
    }

    #[test]
    fn malformed_resource_tag_is_a_miss_that_quotes_the_value() {
        let tags = BTreeMap::from([(TAG_SERVICE_RESOURCE.to_string(), "no-slash".to_string())]);
        assert!(matches!(by_tags(&tags), Step::Miss(m) if m.contains("no-slash")));
    }

    #[test]
    fn legacy_tag_on_load_balancer_maps_without_port() {
        let lb = BTreeMap::from([(
            "arn:lb".to_string(),
            BTreeMap::from([(TAG_LEGACY_SERVICE.to_string(), "default/old".to_string())]),
        )]);
        let Step::Found(s) = by_legacy_tags(&lb) else { panic!() };
        assert_eq!((s.name.as_str(), s.resolved_by.as_str(), s.port), ("old", BY_LEGACY_TAGS, None));
    }

    #[test]
    fn node_port_of_instance_targets_finds_the_service() {
        let targets = vec![target("i-1", 32663, "unhealthy"), target("i-2", 32663, "unhealthy")];
        let services = vec![
            ServiceB::new("a", "x").node_port(80, 30001).build(),
            ServiceB::new("default", "alb-instance").node_port(80, 32663).build(),
        ];
        let Step::Found(s) = by_node_port(&targets, &services) else {
            panic!()
        };
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port),
            ("default", "alb-instance", Some(PortRef::Number(80)))
        );
    }

    #[test]
    fn endpoint_ips_pick_the_service_holding_most_targets() {
        let targets = vec![target("10.0.1.10", 8080, "unhealthy"), target("10.0.2.11", 8080, "healthy")];
        let eps = vec![
            endpoints("a", "one", &[("10.0.1.10", true)]),
            endpoints("b", "both", &[("10.0.1.10", true), ("10.0.2.11", true)]),
        ];
        let Step::Found(s) = by_endpoint_ips(&targets, &eps) else {
            panic!()
        };
        assert_eq!(s.name, "both");
    }

    #[test]
    fn cluster_comes_from_controller_tag_before_legacy_tag() {
        let tg = BTreeMap::from([(TAG_CLUSTER.to_string(), "prod".to_string())]);
        let lb = BTreeMap::from([(
            "lb".to_string(),
            BTreeMap::from([("kubernetes.io/cluster/old".to_string(), "owned".to_string())]),
        )]);
        assert_eq!(cluster_from_tags(Some(&tg), Some(&lb)).unwrap().0, "prod");
        assert_eq!(cluster_from_tags(None, Some(&lb)).unwrap().0, "old");
    }

    #[test]
    fn cluster_order_is_request_then_tags_then_default() {
        // GIVEN a target group tagged for "tagged" and a default of "fallback"
        let tg = BTreeMap::from([(TAG_CLUSTER.to_string(), "tagged".to_string())]);
        let pick = |request, tags| resolve_cluster(request, tags, None, Some("fallback")).map(|c| (c.name, c.source));
        // THEN the request wins, then the tag, then the default
        assert_eq!(pick(Some("asked"), Some(&tg)), Some(("asked".into(), "request".into())));
        assert_eq!(pick(None, Some(&tg)), Some(("tagged".into(), format!("tag {TAG_CLUSTER}"))));
        assert_eq!(pick(None, None), Some(("fallback".into(), "configuration".into())));
        assert_eq!(resolve_cluster(None, None, None, None), None);
    }
}
