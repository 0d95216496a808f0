//! The second hop of an instance target: with `externalTrafficPolicy: Cluster`, a health check
//! that reaches the NodePort of a node without a ready pod of the Service is forwarded by
//! kube-proxy to a pod on another node, source-NATed to the forwarding node's own address
//! (Kubernetes docs, "Using Source IP": type=NodePort with Cluster policy "packets are
//! source NAT'd to the node's IP"). With the VPC CNI the pod's address is on its node's ENI, so
//! that node's security groups must admit the target port from the forwarding node. When they
//! do not, exactly the nodes without a local pod fail: the ones with a pod answer locally
//! (terraform-aws-eks#2359: node-to-node rules missing, only the nodes running the ingress pods
//! in service). Used by `security-groups` (it is a security-group fault); pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::net::{self, Cidr, Source};
use crate::snapshot::{Instance, View};

/// Targets whose forwarded health check no pod's node admits, the healthy ones with the same
/// block, the port, and the fixes (authorize on the pods' nodes' group, from the forwarding
/// nodes' group). `None` when it does not apply or nothing is blocked.
pub struct Hop {
    pub explains: Vec<String>,
    pub shared_by_healthy: Vec<String>,
    pub port: u16,
    pub sentence: String,
    pub fixes: Vec<String>,
}

/// Whether a node's forwarded check is blocked, on which port, and the (pod node's group,
/// forwarding node's group) pairs that block it.
type Judged = (bool, u16, Vec<(String, String)>);

pub fn blocked(ctx: &View) -> Option<Hop> {
    if ctx.is_ip() || ctx.target_type() != Some("instance") {
        return None;
    }
    let svc = ctx.service.as_ref().ok()?;
    let spec = svc.spec.as_ref()?;
    if spec.external_traffic_policy.as_deref() == Some("Local") {
        return None;
    }
    let sp = ctx.service_port()?;
    let instances = ctx.instances().ok()?;
    let nodes = ctx.snap.kube.nodes.ok()?;
    let instance_of_node = |name: &str| -> Option<&Instance> {
        let node = nodes.iter().find(|n| n.metadata.name.as_deref() == Some(name))?;
        let id = node.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next()?;
        instances.iter().find(|i| i.id == id)
    };
    // The ready pods, by the node they run on, with the port they serve the Service on.
    let mut pods_by_node: BTreeMap<&str, Vec<(&Pod, u16)>> = BTreeMap::new();
    for p in ctx.selected.iter().copied().filter(|p| crate::snapshot::pod_ready(p)) {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let Some(port) = target_port(sp.target_port.as_ref(), sp.port, p) else {
            continue;
        };
        pods_by_node.entry(node).or_default().push((p, port));
    }
    if pods_by_node.is_empty() {
        return None;
    }
    let lists = ctx.prefix_lists();
    // Is the hop from the node of instance `from` to some ready pod elsewhere admitted?
    let judge = |from: &Instance| -> Option<Judged> {
        let here = nodes
            .iter()
            .find(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.provider_id.as_deref())
                    .is_some_and(|p| p.ends_with(&from.id))
            })?
            .metadata
            .name
            .as_deref()?;
        if pods_by_node.contains_key(here) {
            return None; // a local pod answers: no second hop
        }
        let eni = from.primary_interface()?;
        let source = Source {
            groups: eni.groups.clone(),
            cidrs: from.private_ip.as_deref().and_then(Cidr::parse).into_iter().collect(),
        };
        let mut blocked = Vec::new();
        let mut port = 0;
        for (node, pods) in &pods_by_node {
            let inst = instance_of_node(node)?;
            for (pod, p) in pods {
                port = *p;
                let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref())?;
                // The ENI holding the pod's address (VPC CNI secondary IP), else the primary.
                let pod_eni =
                    (inst.interfaces.iter().find(|e| e.private_ips.iter().any(|x| x == ip))).or_else(|| inst.primary_interface())?;
                let groups: Vec<_> = pod_eni.groups.iter().filter_map(|g| ctx.group(g)).collect();
                if groups.len() < pod_eni.groups.len() {
                    return None; // a group we could not read: no judgement
                }
                match net::sg_allows(&groups, &source, &lists, net::TCP, *p) {
                    Ok(_) => return Some((false, *p, vec![])),
                    Err(_) => blocked.push((pod_eni.groups.first()?.clone(), eni.groups.first()?.clone())),
                }
            }
        }
        Some((true, port, blocked))
    };
    let mut explains = Vec::new();
    let mut shared = Vec::new();
    let mut port = 0;
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for t in ctx.targets.as_ref().ok()?.iter() {
        let Some(inst) = instances.iter().find(|i| i.id == t.id) else {
            continue;
        };
        let Some((true, p, blocked)) = judge(inst) else { continue };
        port = p;
        if t.is_unhealthy() {
            explains.push(t.id.clone());
            pairs.extend(blocked);
        } else if t.state == "healthy" {
            shared.push(t.id.clone());
        }
    }
    if explains.is_empty() {
        return None;
    }
    let pod_nodes: Vec<&str> = pods_by_node.keys().copied().collect();
    let sentence = format!(
        "{} run no ready pod of the Service: with externalTrafficPolicy Cluster, kube-proxy forwards their health check to a pod on {} from the node's own address, and no security group of those nodes admits TCP {port} from it",
        explains.join(", "),
        pod_nodes.join(", ")
    );
    let fixes = pairs
        .iter()
        .map(|(to, from)| {
            format!("aws ec2 authorize-security-group-ingress --group-id {to} --protocol tcp --port {port} --source-group {from}")
        })
        .collect();
    Some(Hop {
        explains,
        shared_by_healthy: shared,
        port,
        sentence,
        fixes,
    })
}

/// The port a pod serves a Service port on: the number, or the named containerPort's.
fn target_port(target: Option<&IntOrString>, port: i32, pod: &Pod) -> Option<u16> {
    let n = match target {
        None => port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => {
            crate::snapshot::serving_containers(pod)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()))?
                .container_port
        }
    };
    u16::try_from(n).ok()
}
