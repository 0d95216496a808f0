//! A pass's namespace-wide reads: when several target groups of one pass are Services of the
//! same namespace, its Services, pods and endpoints are listed once (three lists, whatever the
//! number of Services) and each diagnosis picks its own. A diagnosis alone reads only its
//! Service's (`kube::service`, `kube::pods` with its selector, `kube::endpoints`).

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

use super::kube::{from_endpoints, from_slices, is_not_found, list_all, list_keeping_edits, missing};
use crate::snapshot::{EndpointsView, Fetched, Missing};

/// The namespace's Services, with who last changed each (as `kube::service` keeps them).
pub async fn services(client: &kube::Client, ns: &str) -> Fetched<Vec<Service>> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    list_keeping_edits(&api, ListParams::default())
        .await
        .map_or_else(|e| Fetched::Failed(missing("list", "services", &e)), Fetched::Ok)
}

/// One Service of the list, or the API's own NotFound, as `get` would have answered.
pub fn service(list: &Fetched<Vec<Service>>, ns: &str, name: &str) -> Fetched<Service> {
    match list {
        Fetched::Ok(all) => match all.iter().find(|s| s.metadata.name.as_deref() == Some(name)) {
            Some(s) => Fetched::Ok(s.clone()),
            None => Fetched::Failed(Missing {
                api: "get services".into(),
                permission: "RBAC get services".into(),
                error: format!("NotFound (404): services \"{name}\" not found in {ns}"),
            }),
        },
        Fetched::Failed(m) => Fetched::Failed(m.clone()),
        Fetched::NotCollected { reason } => Fetched::not_collected(reason.clone()),
    }
}

/// Every Service's endpoints in the namespace: EndpointSlices (discovery.k8s.io/v1), or core/v1
/// Endpoints where v1 slices are not served (Kubernetes < 1.21), as `kube::endpoints`.
/// Also which API answered (`endpointslices/v1`, `endpoints/v1`).
pub async fn endpoints(client: &kube::Client, ns: &str) -> Fetched<(String, Vec<EndpointsView>)> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    match list_all(&slices, ListParams::default()).await {
        Ok(items) => {
            let mut by_service: std::collections::BTreeMap<String, Vec<EndpointSlice>> = Default::default();
            for s in items {
                let svc = s
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .cloned();
                if let Some(svc) = svc {
                    by_service.entry(svc).or_default().push(s);
                }
            }
            let views = by_service.iter().map(|(svc, s)| from_slices(ns, svc, s)).collect();
            return Fetched::Ok(("endpointslices/v1".into(), views));
        }
        Err(e) if !is_not_found(&e) => return Fetched::Failed(missing("list", "endpointslices.discovery.k8s.io", &e)),
        Err(_) => {}
    }
    let api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "endpoints", &e)),
        |items| Fetched::Ok(("endpoints/v1".into(), items.iter().map(from_endpoints).collect())),
    )
}

/// One Service's endpoints of the list: none listed is an empty list, as `kube::endpoints` says.
pub fn endpoints_of(list: &Fetched<(String, Vec<EndpointsView>)>, ns: &str, name: &str) -> Fetched<EndpointsView> {
    match list {
        Fetched::Ok((source, all)) => Fetched::Ok(all.iter().find(|e| e.service == name).cloned().unwrap_or_else(|| EndpointsView {
            namespace: ns.into(),
            service: name.into(),
            source: source.clone(),
            ..Default::default()
        })),
        Fetched::Failed(m) => Fetched::Failed(m.clone()),
        Fetched::NotCollected { reason } => Fetched::not_collected(reason.clone()),
    }
}
