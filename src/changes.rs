//! "What changed" before the alarm, from the evidence: Deployment rollouts of the Service's
//! workloads (the new ReplicaSet's pod template against the previous one: labels, image, ports,
//! probes, resources) and edits of the Service, the Ingresses routing to it and this target
//! group's TargetGroupBindings (their managedFields: who, when). Most
//! target-health incidents follow a deploy; the verdict cites a change that fits its root cause.
//! Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::snapshot::{ContainerTemplate, ReplicaSetView, Snapshot, View};

/// Changes shown at most, newest first.
const MAX_CHANGES: usize = 5;
/// Differences named per change at most.
const MAX_DIFFS: usize = 6;
/// A change stamped this long after the reference time is still counted (clock skew).
const SKEW_MINUTES: i64 = 1;

/// One change, as every channel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// RFC 3339.
    pub at: String,
    /// Before the alarm's transition (or the run, without an alarm).
    pub minutes_before: i64,
    /// `the alarm` or `this run`: what `minutes_before` counts from.
    pub relative_to: String,
    /// `deployment/web revision 5`, `service/web`.
    pub object: String,
    /// Who made it, when the API says (a Service's field manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What differs, one line each: `readinessProbe.httpGet.path /ready → /healthz (container app)`.
    pub what: Vec<String>,
    /// What it touched: labels, image, ports, readinessProbe, livenessProbe, resources; or the
    /// object edited (service, ingress, binding), whose field changes are not known.
    pub touches: Vec<String>,
}

impl Change {
    /// `deployment/web revision 5, 3 minutes before the alarm: a; b`.
    pub fn sentence(&self) -> String {
        let reference = &self.relative_to;
        let by = self.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
        let when = match self.minutes_before {
            m if m < 0 => format!("at the time of {reference}"),
            0 => format!("less than a minute before {reference}"),
            1 => format!("1 minute before {reference}"),
            m => format!("{m} minutes before {reference}"),
        };
        let what = if self.what.is_empty() {
            String::new()
        } else {
            format!(": {}", self.what.join("; "))
        };
        format!("{}{by}, {when}{what}", self.object)
    }
}

/// An alarm's time (`2026-11-27T03:12:44.330+0000`) or an RFC 3339 one.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

/// What changes are measured from: the alarm's transition, else when the evidence was read.
pub fn reference(snap: &Snapshot) -> (&str, &'static str) {
    match snap
        .request
        .alarm
        .as_ref()
        .and_then(|a| a.changed_at.as_deref())
        .filter(|t| parse_time(t).is_some())
    {
        Some(t) => (t, "the alarm"),
        None => (snap.collected_at.as_str(), "this run"),
    }
}

/// The changes in the window before the reference time, newest first.
pub fn recent(snap: &Snapshot) -> Vec<Change> {
    let window = i64::from(snap.changes_window_minutes);
    let (at, relative_to) = reference(snap);
    let Some(at) = parse_time(at) else { return vec![] };
    if window == 0 {
        return vec![];
    }
    let minutes_before = |t: &str| parse_time(t).map(|t| (at - t).num_minutes());
    let within = |m: i64| m >= -SKEW_MINUTES && m <= window;
    let mut out: Vec<Change> = (rollouts(snap).into_iter().chain(aws_changes(snap)).chain(edits(snap)))
        .filter_map(|mut c| {
            c.minutes_before = minutes_before(&c.at)?;
            c.relative_to = relative_to.into();
            within(c.minutes_before).then_some(c)
        })
        .collect();
    out.sort_by_key(|c| c.minutes_before);
    out.truncate(MAX_CHANGES);
    out
}

/// The latest rollout of each Deployment behind the Service's pods (or, when the selector
/// matches none, of every Deployment in the namespace): its ReplicaSet against the previous one.
fn rollouts(snap: &Snapshot) -> Vec<Change> {
    let Some(sets) = snap.kube.replica_sets.ok() else { return vec![] };
    let view = View::new(snap);
    let owners: Vec<&str> = (view.selected.iter())
        .filter_map(|p| p.metadata.owner_references.as_ref()?.iter().find(|o| o.kind == "ReplicaSet"))
        .map(|o| o.name.as_str())
        .collect();
    let mut by_deployment: BTreeMap<&str, Vec<&ReplicaSetView>> = BTreeMap::new();
    for rs in sets {
        if let Some(d) = rs.deployment.as_deref() {
            by_deployment.entry(d).or_default().push(rs);
        }
    }
    let behind = |rss: &[&ReplicaSetView]| owners.is_empty() || rss.iter().any(|r| owners.contains(&r.name.as_str()));
    by_deployment
        .into_iter()
        .filter(|(_, rss)| behind(rss))
        .filter_map(|(d, mut rss)| {
            rss.sort_by_key(|r| std::cmp::Reverse(r.revision.unwrap_or(0)));
            let (now, before) = (rss.first()?, rss.get(1).copied());
            let (what, touches) = before.map(|b| differences(b, now)).unwrap_or_default();
            let revision = now.revision.map(|r| format!(" revision {r}")).unwrap_or_default();
            Some(Change {
                at: now.created_at.clone()?,
                minutes_before: 0,
                relative_to: String::new(),
                object: format!("deployment/{d}{revision}"),
                by: None,
                what: if before.is_none() { vec!["created".into()] } else { what },
                touches,
            })
        })
        .collect()
}

/// Edits of the Service, of the Ingresses routing to it (or the Gateway and route), and of this
/// target group's bindings
/// (who and when, from managedFields; status updates by controllers are not edits).
fn edits(snap: &Snapshot) -> Vec<Change> {
    let edit = |object: String, e: crate::snapshot::Edit, touch: &str| Change {
        at: e.at,
        minutes_before: 0,
        relative_to: String::new(),
        object,
        by: e.by,
        what: vec![],
        touches: vec![touch.into()],
    };
    let mut out = Vec::new();
    let svc = snap.kube.service.ok();
    if let Some(s) = svc {
        let name = s.metadata.name.as_deref().unwrap_or("?");
        let latest = crate::snapshot::Edit::latest(s.metadata.managed_fields.as_deref().unwrap_or_default());
        out.extend(latest.map(|e| edit(format!("service/{name}"), e, "service")));
    }
    let svc_name = svc.and_then(|s| s.metadata.name.as_deref());
    for ing in snap
        .kube
        .ingresses
        .ok()
        .into_iter()
        .flatten()
        .filter(|i| svc_name.is_some_and(|n| crate::annotations::routes_to(i, n)))
    {
        let name = ing.metadata.name.as_deref().unwrap_or("?");
        let latest = crate::snapshot::Edit::latest(ing.metadata.managed_fields.as_deref().unwrap_or_default());
        out.extend(latest.map(|e| edit(format!("ingress/{name}"), e, "ingress")));
    }
    if let Some(g) = snap.kube.gateway.ok() {
        out.extend(g.gateway_edit.clone().map(|e| edit(format!("gateway/{}", g.name), e, "gateway")));
        if let Some(r) = &g.route {
            let kind = r.kind.to_lowercase();
            out.extend(g.route_edit.clone().map(|e| edit(format!("{kind}/{}", r.name), e, "route")));
        }
    }
    let bindings = snap.kube.target_group_bindings.ok().into_iter().flatten();
    for b in bindings.filter(|b| b.target_group_arn == snap.request.target_group_arn) {
        out.extend(
            b.last_edit
                .clone()
                .map(|e| edit(format!("targetgroupbinding/{}", b.name), e, "binding")),
        );
    }
    out
}

/// What CloudTrail recorded on the resources in the evidence, by what part of the path it touches.
fn aws_changes(snap: &Snapshot) -> Vec<Change> {
    let touch = |event: &str| -> &'static str {
        match event {
            e if e.contains("SecurityGroup") => "security-group",
            e if e.contains("NetworkAcl") => "network-acl",
            e if e.contains("Route") => "route-table",
            "RegisterTargets" | "DeregisterTargets" => "targets",
            "ModifyListener" | "ModifyLoadBalancerAttributes" | "SetSubnets" => "load-balancer",
            "ModifyNetworkInterfaceAttribute" => "security-group",
            _ => "target-group",
        }
    };
    (snap.aws.cloudtrail.ok().into_iter().flatten())
        .map(|e| Change {
            at: e.at.clone(),
            minutes_before: 0,
            relative_to: String::new(),
            object: format!("{} on {}", e.event, e.resource),
            by: e.by.clone(),
            what: e.request.iter().map(|r| format!("asked {r}")).collect(),
            touches: vec![touch(&e.event).into()],
        })
        .collect()
}

/// Why AWS changes are not known, when CloudTrail could not be read (the permission it needs).
pub fn aws_unknown(snap: &Snapshot) -> Option<String> {
    match &snap.aws.cloudtrail {
        crate::snapshot::Fetched::Failed(m) => Some(m.explain()),
        _ => None,
    }
}

/// What differs between two pod templates, and which parts that touches.
fn differences(before: &ReplicaSetView, now: &ReplicaSetView) -> (Vec<String>, Vec<String>) {
    // (what, the part it touches), in the order found.
    let mut found: Vec<(String, &str)> = Vec::new();
    for (k, v) in &now.labels {
        if before.labels.get(k) != Some(v) {
            let was = before.labels.get(k).map_or("unset", String::as_str);
            found.push((format!("pod label {k}={v} (was {was})"), "labels"));
        }
    }
    for k in before.labels.keys().filter(|k| !now.labels.contains_key(*k)) {
        found.push((format!("pod label {k} removed"), "labels"));
    }
    for c in &now.containers {
        let Some(old) = before.containers.iter().find(|o| o.name == c.name) else {
            found.push((format!("container {} added", c.name), "image"));
            continue;
        };
        for (part, a, b) in fields(old, c) {
            found.extend(
                value_diff(part, &a, &b)
                    .into_iter()
                    .map(|line| (format!("{line} (container {})", c.name), part)),
            );
        }
    }
    let mut touches: Vec<String> = Vec::new();
    for (_, part) in &found {
        if !touches.iter().any(|t| t == part) {
            touches.push(part.to_string());
        }
    }
    let what = found.into_iter().map(|(w, _)| w).take(MAX_DIFFS).collect();
    (what, touches)
}

fn fields(a: &ContainerTemplate, b: &ContainerTemplate) -> [(&'static str, Value, Value); 5] {
    let j = |v: &Option<Value>| v.clone().unwrap_or(Value::Null);
    [
        ("image", serde_json::json!(a.image), serde_json::json!(b.image)),
        ("ports", serde_json::json!(a.ports), serde_json::json!(b.ports)),
        ("readinessProbe", j(&a.readiness_probe), j(&b.readiness_probe)),
        ("livenessProbe", j(&a.liveness_probe), j(&b.liveness_probe)),
        ("resources", j(&a.resources), j(&b.resources)),
    ]
}

/// `PATH OLD → NEW` for each leaf that differs (`readinessProbe.httpGet.path /ready → /healthz`).
fn value_diff(part: &str, a: &Value, b: &Value) -> Vec<String> {
    if a == b {
        return vec![];
    }
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten(part, a, &mut fa);
    flatten(part, b, &mut fb);
    let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "unset".into());
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    (keys.into_iter())
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| format!("{k} {} → {}", show(fa.get(k)), show(fb.get(k))))
        .collect()
}

fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten(&format!("{path}.{k}"), v, out)),
        Value::Null => {}
        Value::String(s) => {
            out.insert(path.to_string(), s.clone());
        }
        Value::Array(_) => {
            out.insert(path.to_string(), v.to_string());
        }
        other => {
            out.insert(path.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::snapshot::Fetched;
    use serde_json::json;

    fn rs(name: &str, revision: i64, created: &str, path: &str, app: &str) -> ReplicaSetView {
        ReplicaSetView {
            name: name.into(),
            deployment: Some("alb-instance".into()),
            revision: Some(revision),
            created_at: Some(created.into()),
            labels: [("app".to_string(), app.to_string())].into(),
            containers: vec![ContainerTemplate {
                name: "app".into(),
                image: Some("nginx:1.25".into()),
                ports: vec!["http:80/TCP".into()],
                readiness_probe: Some(json!({"httpGet": {"path": path, "port": 80}})),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn rollout_changing_the_readiness_path_is_named_with_its_minutes_before_the_run() {
        // GIVEN the instance scenario's pods (ReplicaSet alb-instance-6cc5cd9b9), rolled out 4
        // minutes before the evidence was read with a new readiness path
        let mut b = SnapshotB::instance();
        b.kube().replica_sets = Fetched::Ok(vec![
            rs("alb-instance-5f6d7c8b9", 1, "2026-12-01T09:00:00Z", "/ready", "alb-instance"),
            rs("alb-instance-6cc5cd9b9", 2, "2026-12-01T11:56:00Z", "/healthz", "alb-instance"),
        ]);
        let mut snap = b.build();
        snap.collected_at = "2026-12-01T12:00:00Z".into();
        // WHEN the recent changes are read
        let c = recent(&snap);
        // THEN the rollout is there, with exactly what differs
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(c[0].object, "deployment/alb-instance revision 2");
        assert_eq!(c[0].minutes_before, 4);
        assert_eq!(c[0].what, ["readinessProbe.httpGet.path /ready → /healthz (container app)"]);
        assert_eq!(c[0].touches, ["readinessProbe"]);
        assert_eq!(
            c[0].sentence(),
            "deployment/alb-instance revision 2, 4 minutes before this run: readinessProbe.httpGet.path /ready → /healthz (container app)"
        );
        // AND a rollout older than the window is not a recent change
        snap.changes_window_minutes = 3;
        assert!(recent(&snap).is_empty());
    }

    #[test]
    fn edits_of_the_binding_are_listed_but_not_those_of_other_groups() {
        // GIVEN this target group's binding edited 10 minutes before the run, another group's 2 minutes before
        let arn = SnapshotB::instance().build().request.target_group_arn.clone();
        let mut b = SnapshotB::instance();
        let edited = |arn: &str, name: &str, at: &str| crate::snapshot::TargetGroupBinding {
            last_edit: Some(crate::snapshot::Edit {
                at: at.into(),
                by: Some("kubectl-edit".into()),
            }),
            ..binding("default", arn, name, crate::snapshot::PortRef::Number(80))
        };
        b.kube().target_group_bindings = Fetched::Ok(vec![
            edited(&arn, "alb-instance", "2026-12-01T11:50:00Z"),
            edited(
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/other/1",
                "other",
                "2026-12-01T11:58:00Z",
            ),
        ]);
        let mut snap = b.build();
        snap.collected_at = "2026-12-01T12:00:00Z".into();
        // WHEN read
        let c = recent(&snap);
        // THEN only this group's binding is a change, with who made it
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(
            c[0].sentence(),
            "targetgroupbinding/k8s-alb-instance by kubectl-edit, 10 minutes before this run"
        );
    }

    #[test]
    fn rollout_of_an_unrelated_deployment_is_not_this_services_change() {
        // GIVEN a rollout of another Deployment of the namespace, while the Service's pods are alb-instance's
        let mut b = SnapshotB::instance();
        let mut other = rs("billing-7d9f", 3, "2026-12-01T11:59:00Z", "/x", "billing");
        other.deployment = Some("billing".into());
        b.kube().replica_sets = Fetched::Ok(vec![other]);
        let mut snap = b.build();
        snap.collected_at = "2026-12-01T12:00:00Z".into();
        // WHEN read THEN nothing is reported
        assert!(recent(&snap).is_empty());
    }
}
