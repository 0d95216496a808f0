//! Kubernetes evidence: list/get calls turned into snapshot data. A failed call becomes a
//! [`Missing`] naming the RBAC verb and resource; a 404 on a resource type (EndpointSlice v1 on
//! an old API server) falls back to the older API.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Event, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde::de::DeserializeOwned;
use tracing::instrument;

use crate::snapshot::{EndpointAddress, EndpointPort, EndpointsView, EventView, Fetched, Missing, PortRef, TargetGroupBinding};

const PAGE: u32 = 500;

/// How the Kubernetes side is reached, or why it cannot be.
#[derive(Clone)]
pub enum KubeAccess {
    Client { client: kube::Client, source: String },
    Unavailable(String),
}

impl KubeAccess {
    /// From an explicit kubeconfig file, else the usual inference (KUBECONFIG, ~/.kube/config,
    /// in-cluster). Never fails: an unusable configuration becomes `Unavailable` with the reason.
    pub async fn from_kubeconfig(path: Option<&Path>) -> KubeAccess {
        let config = match path {
            Some(p) => match Kubeconfig::read_from(p) {
                Ok(kc) => kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| format!("kubeconfig {}: {e}", p.display())),
                Err(e) => Err(format!("cannot read kubeconfig {}: {e}", p.display())),
            },
            None => kube::Config::infer()
                .await
                .map_err(|e| format!("no Kubernetes configuration found ({e}); pass --kubeconfig or set KUBECONFIG")),
        };
        let source = path
            .map(|p| format!("kubeconfig {}", p.display()))
            .unwrap_or_else(|| "inferred kubeconfig".into());
        match config {
            Ok(mut c) => {
                // Fail fast on an unreachable cluster: the AWS side still gets reported.
                c.connect_timeout = Some(Duration::from_secs(5));
                c.read_timeout = Some(Duration::from_secs(20));
                let source = format!("{source} ({})", c.cluster_url);
                match kube::Client::try_from(c) {
                    Ok(client) => KubeAccess::Client { client, source },
                    Err(e) => KubeAccess::Unavailable(format!("cannot build a Kubernetes client: {e}")),
                }
            }
            Err(reason) => KubeAccess::Unavailable(reason),
        }
    }

    pub fn source(&self) -> Option<String> {
        match self {
            KubeAccess::Client { source, .. } => Some(source.clone()),
            KubeAccess::Unavailable(_) => None,
        }
    }
}

/// A failed Kubernetes call, with the RBAC permission it needs (`verb resource`).
pub fn missing(verb: &str, resource: &str, err: &kube::Error) -> Missing {
    let error = match err {
        // 401/403 say how to get the permission, not only that it is missing.
        kube::Error::Api(s) if s.code == 403 => format!(
            "Forbidden (403): {}; grant it with the ClusterRole in infra/rbac.yaml, bound to the group the function's role maps to \
             (aws eks create-access-entry --cluster-name CLUSTER --principal-arn ROLE_ARN --kubernetes-groups eks-lb-doctor-readers)",
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => format!(
            "Unauthorized (401): {}; the cluster does not know this identity: give the function's role an EKS access entry \
             (aws eks create-access-entry --cluster-name CLUSTER --principal-arn ROLE_ARN --kubernetes-groups eks-lb-doctor-readers)",
            s.message
        ),
        kube::Error::Api(s) => format!(
            "{} ({}): {}",
            if s.reason.is_empty() { "Error" } else { &s.reason },
            s.code,
            s.message
        ),
        // Connection failures hide the useful part ("Connection refused") in the source chain.
        other => {
            let mut msg = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            msg
        }
    };
    Missing {
        api: format!("{verb} {resource}"),
        permission: format!("RBAC {verb} {resource}"),
        error,
    }
}

pub(super) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Lists every page; strips managedFields, which are large and never read.
pub(super) async fn list_all<K>(api: &Api<K>, lp: ListParams) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    list_pages(api, lp, false).await
}

/// Lists every page, keeping of managedFields only who changed each object and when (for
/// "what changed"), never the field sets.
pub(super) async fn list_keeping_edits<K>(api: &Api<K>, lp: ListParams) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    list_pages(api, lp, true).await
}

async fn list_pages<K>(api: &Api<K>, lp: ListParams, keep_edits: bool) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut lp = lp.limit(PAGE);
    loop {
        let page = retrying(|| api.list(&lp)).await?;
        out.extend(page.items.into_iter().map(|mut o| {
            let edits = keep_edits.then(|| o.meta_mut().managed_fields.take().map(edits_only)).flatten();
            scrub_meta(o.meta_mut());
            o.meta_mut().managed_fields = edits;
            o
        }));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Ok(out),
        }
    }
}

/// Attempts for a Kubernetes call the API server refused for load (429) or failed (5xx).
const KUBE_ATTEMPTS: u32 = 3;

/// Whether the API server asked us to come back later: priority and fairness (429), or a
/// failure of its own (5xx). Anything else (403, 404) will not change on retry.
fn retryable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(ae) if ae.code == 429 || ae.code >= 500)
}

/// Runs a Kubernetes call again after a 429 or 5xx, backing off with jitter (as the SDK does
/// for AWS), at most `KUBE_ATTEMPTS` times; the caller's deadline still bounds the whole.
async fn retrying<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if retryable(&e) && attempt < KUBE_ATTEMPTS => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let wait = std::time::Duration::from_millis((200u64 << attempt) + u64::from(nanos % 200));
                tracing::warn!(attempt, error = %e, "Kubernetes API busy, retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The controller's TargetGroupBinding, and EKS Auto Mode's (`eks.amazonaws.com/v1`, the same
/// spec: EKS user guide, auto-configure-nlb, "TargetGroupBinding").
fn tgb_resource(group: &str, version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, "TargetGroupBinding"), "targetgroupbindings")
}

/// Both kinds of binding, listed at once. A cluster has either CRD or both; one missing is no
/// error, both missing is (no controller of either kind).
#[instrument(skip(client))]
pub async fn target_group_bindings(client: &kube::Client) -> Fetched<Vec<TargetGroupBinding>> {
    let list = |group: &'static str, version: &'static str| async move {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &tgb_resource(group, version));
        (group, list_keeping_edits(&api, ListParams::default()).await)
    };
    let (lbc, auto) = futures::join!(list("elbv2.k8s.aws", "v1beta1"), list("eks.amazonaws.com", "v1"));
    let mut found = Vec::new();
    let mut absent = 0;
    for (group, res) in [lbc, auto] {
        match res {
            Ok(items) => found.extend((items.iter().filter_map(parse_tgb)).map(|b| TargetGroupBinding {
                auto_mode: group == "eks.amazonaws.com",
                ..b
            })),
            Err(e) if is_not_found(&e) => absent += 1,
            Err(e) if group == "eks.amazonaws.com" => return Fetched::Failed(missing("list", "targetgroupbindings.eks.amazonaws.com", &e)),
            Err(e) => return Fetched::Failed(missing("list", "targetgroupbindings.elbv2.k8s.aws", &e)),
        }
    }
    if absent == 2 {
        return Fetched::Failed(Missing {
            api: "list targetgroupbindings.elbv2.k8s.aws".into(),
            permission: "the TargetGroupBinding CRD".into(),
            error: "NotFound: no TargetGroupBinding CRD is installed (neither the AWS Load Balancer Controller's nor EKS Auto Mode's)"
                .into(),
        });
    }
    Fetched::Ok(found)
}

fn parse_tgb(o: &DynamicObject) -> Option<TargetGroupBinding> {
    let spec = o.data.get("spec")?;
    let svc = spec.get("serviceRef")?;
    let port = match svc.get("port")? {
        serde_json::Value::Number(n) => PortRef::Number(n.as_i64()? as i32),
        serde_json::Value::String(s) => PortRef::parse(s),
        _ => return None,
    };
    Some(TargetGroupBinding {
        namespace: o.metadata.namespace.clone().unwrap_or_default(),
        name: o.metadata.name.clone().unwrap_or_default(),
        target_group_arn: spec.get("targetGroupARN")?.as_str()?.to_string(),
        service_name: svc.get("name")?.as_str()?.to_string(),
        service_port: port,
        target_type: spec.get("targetType").and_then(|t| t.as_str()).map(str::to_string),
        multi_cluster: spec.get("multiClusterTargetGroup").and_then(|m| m.as_bool()).unwrap_or(false),
        auto_mode: false,
        last_edit: crate::snapshot::Edit::latest(o.metadata.managed_fields.as_deref().unwrap_or_default()),
    })
}

#[instrument(skip(client))]
pub async fn service(client: &kube::Client, ns: &str, name: &str) -> Fetched<Service> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    match retrying(|| api.get(name)).await {
        Ok(mut s) => {
            // Who changed the Service and when stays ("what changed"); the field sets go.
            let changes = s.metadata.managed_fields.take().map(edits_only);
            scrub_meta(&mut s.metadata);
            s.metadata.managed_fields = changes;
            Fetched::Ok(s)
        }
        Err(e) => Fetched::Failed(missing("get", "services", &e)),
    }
}

/// Services of one namespace, or of all (`ns = None`), for mapping by data.
#[instrument(skip(client))]
pub async fn services(client: &kube::Client, ns: Option<&str>) -> Fetched<Vec<Service>> {
    let api: Api<Service> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    list_all(&api, ListParams::default())
        .await
        .map_or_else(|e| Fetched::Failed(missing("list", "services", &e)), Fetched::Ok)
}

/// The namespace's pods. A namespace may hold thousands: pods are read as `LeanPod` (never
/// parsing managed fields or annotations, the largest parts of a pod), and pods the Service's
/// selector does not match keep only what the checks read of them (name, labels, owner, node, IP,
/// phase, conditions, readiness gates), page by page. `selector` resolves with the Service, which
/// is fetched beside the first page, so it costs no round trip.
#[instrument(skip(client, selector))]
pub async fn pods(
    client: &kube::Client,
    ns: &str,
    selector: impl std::future::Future<Output = Option<std::collections::BTreeMap<String, String>>>,
) -> Fetched<Vec<Pod>> {
    pods_keeping(client, ns, selector, false).await
}

/// The namespace's pods, every one kept whole (as `LeanPod` reads them): for a pass whose
/// diagnoses select different pods of one namespace, read once.
pub async fn namespace_pods(client: &kube::Client, ns: &str) -> Fetched<Vec<Pod>> {
    pods_keeping(client, ns, async { None }, true).await
}

async fn pods_keeping(
    client: &kube::Client,
    ns: &str,
    selector: impl std::future::Future<Output = Option<std::collections::BTreeMap<String, String>>>,
    all: bool,
) -> Fetched<Vec<Pod>> {
    let request = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/pods"));
    let mut selector = std::pin::pin!(selector);
    let mut wanted: Option<Option<std::collections::BTreeMap<String, String>>> = None;
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(PAGE);
    loop {
        let page: Result<kube::core::ObjectList<LeanPod>, kube::Error> = retrying(|| async {
            let req = request.list(&lp).map_err(kube::Error::BuildRequest)?;
            client.request(req).await
        })
        .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => return Fetched::Failed(missing("list", "pods", &e)),
        };
        let sel = match &wanted {
            Some(sel) => sel,
            None => wanted.insert(selector.as_mut().await),
        };
        out.extend(page.items.into_iter().map(|p| {
            let selected = all
                || sel.as_ref().is_some_and(|sel| {
                    !sel.is_empty()
                        && sel
                            .iter()
                            .all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
                });
            if selected {
                Pod::from(p)
            } else {
                Pod::from(p.outline())
            }
        }));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Fetched::Ok(out),
        }
    }
}

/// What the checks read of a pod; everything else in the API's answer is skipped unparsed.
#[derive(Clone, Debug, serde::Deserialize)]
struct LeanPod {
    metadata: LeanMeta,
    spec: Option<k8s_openapi::api::core::v1::PodSpec>,
    status: Option<k8s_openapi::api::core::v1::PodStatus>,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    deletion_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

impl LeanPod {
    /// What the checks read of a pod the Service does not select: `pod_by_ip` (node, gate and
    /// readiness) and `selector-match` (name, labels, workload).
    fn outline(self) -> LeanPod {
        use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
        LeanPod {
            metadata: self.metadata,
            spec: self.spec.map(|s| PodSpec {
                node_name: s.node_name,
                readiness_gates: s.readiness_gates,
                ..Default::default()
            }),
            status: self.status.map(|s| PodStatus {
                phase: s.phase,
                pod_ip: s.pod_ip,
                pod_ips: s.pod_ips,
                conditions: s.conditions,
                ..Default::default()
            }),
        }
    }
}

/// Environment variables whose values a check reads and that hold no secret: Istio's record of
/// the application's own probes (`checks::health`). Every other value is dropped at collection.
const KEPT_ENV: [&str; 1] = ["ISTIO_KUBE_APP_PROBERS"];

/// Drops what may hold secrets and no check reads: environment values (names stay, and the
/// `valueFrom` references, which are not the secret itself).
pub fn scrub_pod_spec(spec: &mut k8s_openapi::api::core::v1::PodSpec) {
    let containers = spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        for e in c.env.iter_mut().flatten() {
            if !KEPT_ENV.contains(&e.name.as_str()) && e.value.is_some() {
                e.value = Some("(scrubbed)".into());
            }
        }
    }
}

/// Drops annotations that copy a whole object (`last-applied-configuration`, which may carry
/// env values and tokens) and the managed fields.
/// managedFields without their field sets: who changed the object, how and when.
fn edits_only(
    m: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry> {
    m.into_iter()
        .map(|f| k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry { fields_v1: None, ..f })
        .collect()
}

pub fn scrub_meta(m: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    m.managed_fields = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

fn scrub_pods(mut pods: Vec<Pod>) -> Vec<Pod> {
    for s in pods.iter_mut().filter_map(|p| p.spec.as_mut()) {
        scrub_pod_spec(s);
    }
    pods
}

impl From<LeanPod> for Pod {
    fn from(p: LeanPod) -> Pod {
        let m = p.metadata;
        let mut spec = p.spec;
        if let Some(s) = spec.as_mut() {
            scrub_pod_spec(s);
        }
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                labels: m.labels,
                owner_references: m.owner_references,
                deletion_timestamp: m.deletion_timestamp,
                ..Default::default()
            },
            spec,
            status: p.status,
        }
    }
}

#[instrument(skip(client))]
pub async fn nodes(client: &kube::Client) -> Fetched<Vec<Node>> {
    let api: Api<Node> = Api::all(client.clone());
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "nodes", &e)),
        |n| Fetched::Ok(n.into_iter().map(lean_node).collect()),
    )
}

/// What the checks read of a Node (labels, provider id, taints, cordon, conditions, addresses):
/// the image list, volumes and daemon endpoints are the bulk of a node and are dropped, so a
/// large cluster's node list stays small in memory and in a snapshot.
fn lean_node(mut n: Node) -> Node {
    if let Some(st) = n.status.as_mut() {
        st.images = None;
        st.volumes_attached = None;
        st.volumes_in_use = None;
        st.daemon_endpoints = None;
        st.config = None;
    }
    n.metadata.annotations = None;
    n
}

/// Events of the namespace about the objects a diagnosis reads, newest last.
#[instrument(skip(client))]
pub async fn events(client: &kube::Client, ns: &str) -> Fetched<Vec<EventView>> {
    const KINDS: [&str; 5] = ["Pod", "Service", "Endpoints", "TargetGroupBinding", "Ingress"];
    // Workloads' warnings say why pods do not exist at all (FailedCreate: quota, admission).
    const WORKLOADS: [&str; 4] = ["ReplicaSet", "StatefulSet", "DaemonSet", "Deployment"];
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    match list_all(&api, ListParams::default()).await {
        Ok(items) => {
            let mut out: Vec<EventView> = items
                .into_iter()
                .filter(|e| {
                    let kind = e.involved_object.kind.as_deref().unwrap_or("");
                    KINDS.contains(&kind) || (WORKLOADS.contains(&kind) && e.type_.as_deref() == Some("Warning"))
                })
                .map(|e| EventView {
                    kind: e.involved_object.kind.unwrap_or_default(),
                    name: e.involved_object.name.unwrap_or_default(),
                    namespace: ns.to_string(),
                    event_type: e.type_.unwrap_or_default(),
                    reason: e.reason.unwrap_or_default(),
                    message: e.message.unwrap_or_default(),
                    count: e.count.unwrap_or(1),
                    last_seen: e.last_timestamp.map(|t| t.0.to_string()).or(e.event_time.map(|t| t.0.to_string())),
                })
                .collect();
            out.sort_by(|a, b| a.last_seen.cmp(&b.last_seen).then_with(|| a.name.cmp(&b.name)));
            Fetched::Ok(out)
        }
        Err(e) => Fetched::Failed(missing("list", "events", &e)),
    }
}

/// Endpoints of one Service: EndpointSlices (discovery.k8s.io/v1), or core/v1 Endpoints where
/// v1 slices are not served (Kubernetes < 1.21).
#[instrument(skip(client))]
pub async fn endpoints(client: &kube::Client, ns: &str, name: &str) -> Fetched<EndpointsView> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    match list_all(&slices, lp).await {
        Ok(items) => return Fetched::Ok(from_slices(ns, name, &items)),
        Err(e) if !is_not_found(&e) => return Fetched::Failed(missing("list", "endpointslices.discovery.k8s.io", &e)),
        Err(_) => {}
    }
    let api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(e)) => Fetched::Ok(from_endpoints(&e)),
        Ok(None) => Fetched::Ok(EndpointsView {
            namespace: ns.into(),
            service: name.into(),
            source: "endpoints/v1".into(),
            ..Default::default()
        }),
        Err(e) => Fetched::Failed(missing("get", "endpoints", &e)),
    }
}

/// Endpoints of every Service (mapping ip targets by data), with the same fallback.
#[instrument(skip(client))]
pub async fn all_endpoints(client: &kube::Client) -> Fetched<Vec<EndpointsView>> {
    let slices: Api<EndpointSlice> = Api::all(client.clone());
    match list_all(&slices, ListParams::default()).await {
        Ok(items) => {
            let mut by_service: std::collections::BTreeMap<(String, String), Vec<EndpointSlice>> = Default::default();
            for s in items {
                let ns = s.metadata.namespace.clone().unwrap_or_default();
                let Some(svc) = s
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .cloned()
                else {
                    continue;
                };
                by_service.entry((ns, svc)).or_default().push(s);
            }
            return Fetched::Ok(by_service.iter().map(|((ns, svc), s)| from_slices(ns, svc, s)).collect());
        }
        Err(e) if !is_not_found(&e) => return Fetched::Failed(missing("list", "endpointslices.discovery.k8s.io", &e)),
        Err(_) => {}
    }
    let api: Api<Endpoints> = Api::all(client.clone());
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "endpoints", &e)),
        |items| Fetched::Ok(items.iter().map(from_endpoints).collect()),
    )
}

pub(super) fn from_slices(ns: &str, name: &str, slices: &[EndpointSlice]) -> EndpointsView {
    let mut view = EndpointsView {
        namespace: ns.into(),
        service: name.into(),
        source: "endpointslices/v1".into(),
        ..Default::default()
    };
    for s in slices {
        for e in &s.endpoints {
            // `ready` unset means ready (API contract), and terminating endpoints are not.
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            for ip in &e.addresses {
                view.addresses.push(EndpointAddress {
                    ip: ip.clone(),
                    ready,
                    pod: e.target_ref.as_ref().and_then(|r| r.name.clone()),
                    node: e.node_name.clone(),
                });
            }
        }
        for p in s.ports.iter().flatten() {
            let port = EndpointPort {
                name: p.name.clone(),
                port: p.port.unwrap_or_default(),
                protocol: p.protocol.clone(),
            };
            if !view.ports.contains(&port) {
                view.ports.push(port);
            }
        }
    }
    view.addresses.sort_by(|a, b| a.ip.cmp(&b.ip));
    view.addresses.dedup_by(|a, b| a.ip == b.ip);
    view
}

pub(super) fn from_endpoints(e: &Endpoints) -> EndpointsView {
    let mut view = EndpointsView {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        service: e.metadata.name.clone().unwrap_or_default(),
        source: "endpoints/v1".into(),
        ..Default::default()
    };
    for subset in e.subsets.iter().flatten() {
        for (list, ready) in [(&subset.addresses, true), (&subset.not_ready_addresses, false)] {
            for a in list.iter().flatten() {
                view.addresses.push(EndpointAddress {
                    ip: a.ip.clone(),
                    ready,
                    pod: a.target_ref.as_ref().and_then(|r| r.name.clone()),
                    node: a.node_name.clone(),
                });
            }
        }
        for p in subset.ports.iter().flatten() {
            let port = EndpointPort {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol.clone(),
            };
            if !view.ports.contains(&port) {
                view.ports.push(port);
            }
        }
    }
    view.addresses.sort_by(|a, b| a.ip.cmp(&b.ip));
    view
}

/// Deployments of one namespace, kept as their rollout status.
#[instrument(skip(client))]
pub async fn rollouts(client: &kube::Client, ns: &str) -> Fetched<Vec<crate::snapshot::RolloutView>> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "deployments.apps", &e)),
        |d| Fetched::Ok(d.iter().map(crate::snapshot::RolloutView::from_deployment).collect()),
    )
}

/// Ingresses of one namespace (networking.k8s.io/v1).
#[instrument(skip(client))]
pub async fn ingresses(client: &kube::Client, ns: &str) -> Fetched<Vec<k8s_openapi::api::networking::v1::Ingress>> {
    let api: Api<k8s_openapi::api::networking::v1::Ingress> = Api::namespaced(client.clone(), ns);
    list_keeping_edits(&api, ListParams::default())
        .await
        .map_or_else(|e| Fetched::Failed(missing("list", "ingresses.networking.k8s.io", &e)), Fetched::Ok)
}

/// The controller's TargetGroupConfigurations in `ns` (gateway.k8s.aws/v1); none without the
/// CRD (a cluster without the controller's Gateway API support).
#[instrument(skip(client))]
pub async fn target_group_configs(client: &kube::Client, ns: &str) -> Fetched<Vec<crate::snapshot::TargetGroupConfigView>> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.k8s.aws", "v1", "TargetGroupConfiguration"),
        "targetgroupconfigurations",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    match list_all(&api, ListParams::default()).await {
        Ok(items) => Fetched::Ok(items.iter().map(parse_tgc).collect()),
        Err(e) if is_not_found(&e) => Fetched::Ok(vec![]),
        Err(e) => Fetched::Failed(missing("list", "targetgroupconfigurations.gateway.k8s.aws", &e)),
    }
}

pub fn parse_tgc(o: &DynamicObject) -> crate::snapshot::TargetGroupConfigView {
    let spec = o.data.get("spec");
    let hc = |props: Option<&serde_json::Value>| props.and_then(|p| p.get("healthCheckConfig")).cloned();
    let routes = (spec
        .and_then(|s| s.get("routeConfigurations"))
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten())
    .map(|r| {
        let id = r.get("routeIdentifier");
        let part = |k: &str| id.and_then(|i| i.get(k)).and_then(|v| v.as_str()).unwrap_or("").to_string();
        crate::snapshot::RouteConfigView {
            kind: part("kind"),
            namespace: part("namespace"),
            name: part("name"),
            health_check: hc(r.get("targetGroupProps")),
        }
    })
    .collect();
    crate::snapshot::TargetGroupConfigView {
        namespace: o.metadata.namespace.clone().unwrap_or_default(),
        name: o.metadata.name.clone().unwrap_or_default(),
        target_name: (spec.and_then(|s| s.get("targetReference")?.get("name")?.as_str())).map(str::to_string),
        default_health_check: hc(spec.and_then(|s| s.get("defaultConfiguration"))),
        routes,
    }
}

#[instrument(skip(client))]
pub async fn ingress_classes(client: &kube::Client) -> Fetched<Vec<k8s_openapi::api::networking::v1::IngressClass>> {
    let api: Api<k8s_openapi::api::networking::v1::IngressClass> = Api::all(client.clone());
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "ingressclasses.networking.k8s.io", &e)),
        Fetched::Ok,
    )
}

/// Log lines kept per controller pod (only error lines are kept).
const LOG_TAIL: i64 = 500;
/// Bytes of log read per controller pod, whatever the line count.
const LOG_BYTES: i64 = 256 * 1024;
const LOG_KEEP: usize = 50;

/// The AWS Load Balancer Controller, wherever it is installed: Deployments with its label,
/// their pods, and the error lines of the pods' recent logs.
#[instrument(skip(client))]
pub async fn controller(client: &kube::Client) -> Fetched<crate::snapshot::Controller> {
    use k8s_openapi::api::apps::v1::Deployment;
    // Deployments and pods by the same label, at once (one round trip, not two), then the logs.
    let deploy_api: Api<Deployment> = Api::all(client.clone());
    let pod_api: Api<Pod> = Api::all(client.clone());
    let (deployments, pods) = tokio::join!(
        list_all(&deploy_api, ListParams::default().labels(crate::snapshot::CONTROLLER_LABEL)),
        list_all(&pod_api, ListParams::default().labels(crate::snapshot::CONTROLLER_LABEL))
    );
    let deployments = match deployments {
        Ok(d) => {
            let mut d = crate::snapshot::controller_deployments(d);
            for t in d.iter_mut().filter_map(|d| d.spec.as_mut()?.template.spec.as_mut()) {
                scrub_pod_spec(t);
            }
            d
        }
        Err(e) => return Fetched::Failed(missing("list", "deployments.apps", &e)),
    };
    let pods = match pods {
        Ok(p) => scrub_pods(crate::snapshot::owned_pods(p, &deployments)),
        Err(e) => return Fetched::Failed(missing("list", "pods", &e)),
    };
    let logs = controller_logs(client, &pods).await;
    Fetched::Ok(crate::snapshot::Controller { deployments, pods, logs })
}

async fn controller_logs(client: &kube::Client, pods: &[Pod]) -> Fetched<Vec<crate::snapshot::PodLog>> {
    if pods.is_empty() {
        return Fetched::not_collected("no controller pod");
    }
    let reads = pods.iter().map(|p| async move {
        let ns = p.metadata.namespace.as_deref().unwrap_or("kube-system");
        let name = p.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let lp = kube::api::LogParams {
            tail_lines: Some(LOG_TAIL),
            // A controller logging huge lines (or many of them) costs at most this much memory.
            limit_bytes: Some(LOG_BYTES),
            ..Default::default()
        };
        api.logs(&name, &lp).await.map(|text| crate::snapshot::PodLog {
            pod: name,
            lines: error_lines(&text),
        })
    });
    let mut out = Vec::new();
    for res in futures::future::join_all(reads).await {
        match res {
            Ok(l) => out.push(l),
            // No kubelet answering (or no pods/log permission): the events still count.
            Err(e) => return Fetched::Failed(missing("get", "pods/log", &e)),
        }
    }
    Fetched::Ok(out)
}

/// The lines worth keeping: errors (the controller logs JSON with "level":"error").
fn error_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("\"level\":\"error\"")
                || lower.contains("error")
                || lower.contains("accessdenied")
                || lower.contains("not authorized")
        })
        .map(str::to_string)
        .collect();
    let skip = lines.len().saturating_sub(LOG_KEEP);
    lines.drain(..skip);
    lines
}

/// kube-proxy's DaemonSet and pods in kube-system.
#[instrument(skip(client))]
pub async fn kube_proxy(client: &kube::Client) -> Fetched<crate::snapshot::KubeProxy> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    let ds_api: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let (daemonset, pods) = tokio::join!(
        ds_api.get_opt("kube-proxy"),
        list_all(&pod_api, ListParams::default().labels("k8s-app=kube-proxy"))
    );
    let daemonset = match daemonset {
        Ok(d) => d.map(|mut d| {
            scrub_meta(&mut d.metadata);
            if let Some(t) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
                scrub_pod_spec(t);
            }
            d
        }),
        Err(e) => return Fetched::Failed(missing("get", "daemonsets.apps", &e)),
    };
    match pods {
        Ok(pods) => Fetched::Ok(crate::snapshot::KubeProxy {
            daemonset,
            pods: scrub_pods(pods),
        }),
        Err(e) => Fetched::Failed(missing("list", "pods", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_api_server_is_retried_and_a_refusal_is_not() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let status = |code: u16| kube::Error::Api(kube::core::Status::failure("m", "r").with_code(code).boxed());
        // GIVEN a call that answers 429 once, then succeeds
        let calls = AtomicU32::new(0);
        let got = retrying(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(status(429))
            } else {
                Ok(7)
            }
        })
        .await;
        // THEN it is asked again and succeeds
        assert_eq!((got.unwrap(), calls.load(Ordering::SeqCst)), (7, 2));
        // AND a 403 is answered at once, and a 503 that persists gives up after 3 attempts
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(403))
        })
        .await;
        assert!(got.is_err() && calls.load(Ordering::SeqCst) == 1);
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(status(503))
        })
        .await;
        assert!(got.is_err() && calls.load(Ordering::SeqCst) == 3);
    }

    #[test]
    fn node_lists_keep_what_checks_read_and_drop_the_image_list() {
        use k8s_openapi::api::core::v1::{ContainerImage, NodeCondition, NodeSpec, NodeStatus, Taint};
        let n = Node {
            metadata: ObjectMeta {
                name: Some("node-a".into()),
                labels: Some([("topology.kubernetes.io/zone".to_string(), "us-east-1a".to_string())].into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some("aws:///us-east-1a/i-0aaa".into()),
                taints: Some(vec![Taint {
                    key: "karpenter.sh/disrupted".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                images: Some(vec![ContainerImage {
                    names: Some(vec!["x".repeat(200)]),
                    size_bytes: Some(1),
                }]),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        };
        let lean = lean_node(n.clone());
        assert!(lean.status.as_ref().unwrap().images.is_none());
        assert_eq!(lean.status.as_ref().unwrap().conditions, n.status.as_ref().unwrap().conditions);
        assert_eq!((lean.spec, lean.metadata.labels), (n.spec, n.metadata.labels));
    }

    #[test]
    fn secrets_in_env_and_last_applied_configuration_never_reach_the_snapshot() {
        use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
        // GIVEN a pod spec with a password in env and Istio's probe record, and an object whose
        // last-applied-configuration copies it
        let env = |name: &str, value: &str| EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        };
        let mut spec = PodSpec {
            containers: vec![Container {
                name: "app".into(),
                env: Some(vec![env("DB_PASSWORD", "hunter2"), env("ISTIO_KUBE_APP_PROBERS", "{}")]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut meta = ObjectMeta {
            annotations: Some(
                [
                    (
                        "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                        "{\"DB_PASSWORD\":\"hunter2\"}".to_string(),
                    ),
                    (
                        "service.beta.kubernetes.io/aws-load-balancer-type".to_string(),
                        "external".to_string(),
                    ),
                ]
                .into(),
            ),
            ..Default::default()
        };
        // WHEN scrubbed as collection does
        scrub_pod_spec(&mut spec);
        scrub_meta(&mut meta);
        // THEN the secret is gone, what checks read stays
        let text = format!("{spec:?}{meta:?}");
        assert!(!text.contains("hunter2"), "{text}");
        let kept = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(
            (kept[0].name.as_str(), kept[0].value.as_deref()),
            ("DB_PASSWORD", Some("(scrubbed)"))
        );
        assert_eq!(kept[1].value.as_deref(), Some("{}"));
        assert!(meta
            .annotations
            .unwrap()
            .contains_key("service.beta.kubernetes.io/aws-load-balancer-type"));
    }

    use k8s_openapi::api::core::v1::{EndpointAddress as CoreAddress, EndpointSubset, ObjectReference};
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn endpoint(ips: &[&str], ready: Option<bool>, pod: &str) -> Endpoint {
        Endpoint {
            addresses: ips.iter().map(|s| s.to_string()).collect(),
            conditions: Some(EndpointConditions {
                ready,
                ..Default::default()
            }),
            target_ref: Some(ObjectReference {
                name: Some(pod.into()),
                ..Default::default()
            }),
            node_name: Some("node-a".into()),
            ..Default::default()
        }
    }

    #[test]
    fn slices_merge_into_one_view_with_unset_ready_meaning_ready() {
        // GIVEN two slices of one Service; `ready` unset on one endpoint, false on another
        let s1 = EndpointSlice {
            endpoints: vec![endpoint(&["10.0.0.2"], None, "a"), endpoint(&["10.0.0.1"], Some(false), "b")],
            ..Default::default()
        };
        let s2 = EndpointSlice {
            endpoints: vec![endpoint(&["10.0.0.3"], Some(true), "c")],
            ..Default::default()
        };
        // WHEN merged
        let v = from_slices("shop", "web", &[s1, s2]);
        // THEN addresses are sorted, readiness follows the API contract, the source is named
        let got: Vec<(&str, bool)> = v.addresses.iter().map(|a| (a.ip.as_str(), a.ready)).collect();
        assert_eq!(got, [("10.0.0.1", false), ("10.0.0.2", true), ("10.0.0.3", true)]);
        assert_eq!(v.source, "endpointslices/v1");
        assert_eq!(v.addresses[0].pod.as_deref(), Some("b"));
    }

    #[test]
    fn core_endpoints_keep_not_ready_addresses() {
        let e = Endpoints {
            metadata: ObjectMeta {
                namespace: Some("shop".into()),
                name: Some("web".into()),
                ..Default::default()
            },
            subsets: Some(vec![EndpointSubset {
                addresses: Some(vec![CoreAddress {
                    ip: "10.0.0.1".into(),
                    ..Default::default()
                }]),
                not_ready_addresses: Some(vec![CoreAddress {
                    ip: "10.0.0.9".into(),
                    ..Default::default()
                }]),
                ports: None,
            }]),
        };
        let v = from_endpoints(&e);
        assert_eq!(
            (v.namespace.as_str(), v.service.as_str(), v.source.as_str()),
            ("shop", "web", "endpoints/v1")
        );
        assert_eq!(v.addresses.iter().map(|a| a.ready).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn binding_with_named_port_parses() {
        let o: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
            "metadata": {"name": "b", "namespace": "shop"},
            "spec": {"targetGroupARN": "arn:tg", "targetType": "ip", "serviceRef": {"name": "web", "port": "http"}}
        }))
        .unwrap();
        let b = parse_tgb(&o).unwrap();
        assert_eq!(
            (b.service_port, b.target_type.as_deref()),
            (PortRef::Name("http".into()), Some("ip"))
        );
    }
}
