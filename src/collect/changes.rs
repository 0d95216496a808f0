//! Reads for "what changed": the ReplicaSets of the Service's namespace (one list), kept as
//! their Deployment, revision, creation time and the parts of the pod template targets feel.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Container, Probe};
use kube::api::{Api, ListParams};
use tracing::instrument;

use super::kube::{list_all, missing};
use crate::snapshot::{ContainerTemplate, Fetched, ReplicaSetView};

#[instrument(skip(client))]
pub async fn replica_sets(client: &kube::Client, ns: &str) -> Fetched<Vec<ReplicaSetView>> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    list_all(&api, ListParams::default()).await.map_or_else(
        |e| Fetched::Failed(missing("list", "replicasets.apps", &e)),
        |items| Fetched::Ok(items.iter().map(view).collect()),
    )
}

fn view(rs: &ReplicaSet) -> ReplicaSetView {
    let meta = &rs.metadata;
    let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
    let mut labels: BTreeMap<String, String> = template.and_then(|t| t.metadata.as_ref()?.labels.clone()).unwrap_or_default();
    labels.remove("pod-template-hash");
    let containers = (template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter())
    .map(container)
    .collect();
    ReplicaSetView {
        name: meta.name.clone().unwrap_or_default(),
        deployment: (meta.owner_references.iter().flatten())
            .find(|o| o.kind == "Deployment")
            .map(|o| o.name.clone()),
        revision: (meta.annotations.as_ref())
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .and_then(|r| r.parse().ok()),
        created_at: meta.creation_timestamp.as_ref().map(|t| t.0.to_string()),
        labels,
        containers,
    }
}

fn container(c: &Container) -> ContainerTemplate {
    let probe = |p: &Option<Probe>| p.as_ref().and_then(|p| serde_json::to_value(p).ok());
    ContainerTemplate {
        name: c.name.clone(),
        image: c.image.clone(),
        ports: (c.ports.iter().flatten())
            .map(|p| {
                let proto = p.protocol.as_deref().unwrap_or("TCP");
                match &p.name {
                    Some(n) => format!("{n}:{}/{proto}", p.container_port),
                    None => format!("{}/{proto}", p.container_port),
                }
            })
            .collect(),
        readiness_probe: probe(&c.readiness_probe),
        liveness_probe: probe(&c.liveness_probe),
        resources: c.resources.as_ref().and_then(|r| serde_json::to_value(r).ok()),
    }
}
