//! The check catalogue: one file per check, each a pure function of the snapshot's [`View`]
//! returning exactly one [`Finding`]. Checks never touch the network.
//!
//! Each check is declared once, in its own file, as a [`Check`] constant (id, article section,
//! causal [`Layer`], what it verifies, what evidence it needs, its function), and listed once in
//! the [`catalogue!`] table below, whose order is the order of `findings` in the diagnosis.
//! Adding a check: a new file with its `CHECK`, one line in the table (ARCHITECTURE.md has the
//! steps).

mod automode;
mod finding;
mod health;
mod hop;
mod scope;

use serde::{Deserialize, Serialize};

pub use finding::{capitalise, Finding, Status};
pub use scope::Scope;

use crate::snapshot::{Snapshot, View};

/// The catalogue, in catalogue order: `module => CONSTANT: "stable-id"`. Declares each check's
/// module, its [`CheckId`] constant and the [`CATALOGUE`] entry (the module's `CHECK`).
macro_rules! catalogue {
    ($($module:ident => $constant:ident: $id:literal),* $(,)?) => {
        $(pub mod $module;)*

        impl CheckId {
            $(pub const $constant: CheckId = CheckId($id);)*
        }

        /// Every check, in catalogue order.
        pub static CATALOGUE: &[&Check] = &[$(&$module::CHECK),*];
    };
}

catalogue! {
    target_health       => TARGET_HEALTH:       "target-health",
    service_mapping     => SERVICE_MAPPING:     "service-mapping",
    pod_status          => POD_STATUS:          "pod-status",
    selector_match      => SELECTOR_MATCH:      "selector-match",
    endpoints           => ENDPOINTS:           "endpoints",
    target_port         => TARGET_PORT:         "target-port",
    traffic_policy      => TRAFFIC_POLICY:      "traffic-policy",
    security_groups     => SECURITY_GROUPS:     "security-groups",
    network_acls        => NETWORK_ACLS:        "network-acls",
    route_tables        => ROUTE_TABLES:        "route-tables",
    availability_zones  => AVAILABILITY_ZONES:  "availability-zones",
    health_check_config => HEALTH_CHECK_CONFIG: "health-check-config",
    health_probe        => HEALTH_PROBE:        "health-probe",
    ingress_annotations => INGRESS_ANNOTATIONS: "ingress-annotations",
    service_annotations => SERVICE_ANNOTATIONS: "service-annotations",
    lb_controller       => LB_CONTROLLER:       "lb-controller",
    readiness_gates     => READINESS_GATES:     "readiness-gates",
    kube_proxy          => KUBE_PROXY:          "kube-proxy",
    nodes               => NODES:               "nodes",
}

/// A check's stable kebab-case id (never renamed: users filter on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId(&'static str);

impl CheckId {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The id with this spelling, if the catalogue has it.
    pub fn parse(s: &str) -> Option<CheckId> {
        CATALOGUE.iter().map(|c| c.id).find(|id| id.0 == s)
    }

    /// The check's declaration.
    pub fn check(self) -> Option<&'static Check> {
        CATALOGUE.iter().copied().find(|c| c.id == self)
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CheckId, D::Error> {
        let s = String::deserialize(d)?;
        CheckId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown check id {s:?}")))
    }
}

/// The causal order, earliest first: when two failing checks explain as many unhealthy targets,
/// the root cause is the one in the earlier layer (then the earlier in the catalogue). A missing
/// Service explains a missing pod, a missing pod an empty endpoint list, and so on down;
/// target-health's self-explaining reason codes (a stopped instance) come last, so a more
/// specific check that explains the same targets wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Mapping,
    Pods,
    Selector,
    Endpoints,
    Ports,
    Policy,
    Network,
    Config,
    Controller,
    KubeProxy,
    Symptom,
}

/// One check, declared once (in its own file, as `pub const CHECK: Check`).
pub struct Check {
    pub id: CheckId,
    /// Section of the source article ("§1"…), "all", or "—".
    pub section: &'static str,
    pub layer: Layer,
    pub verifies: &'static str,
    pub needs: &'static str,
    /// The ELB reason codes this cause produces on the targets it explains (a blocked port times
    /// out, it does not answer 404); empty when any reason fits. Ranks candidates that explain
    /// as many targets.
    pub reasons: &'static [&'static str],
    /// The check: `Err` is an early answer from a guard (see [`Scope`]).
    pub run: fn(&Scope) -> Result<Finding, Finding>,
}

impl Check {
    /// Runs this check against a view of a snapshot.
    pub fn judge(&self, view: &View) -> Finding {
        (self.run)(&Scope { view, id: self.id }).unwrap_or_else(|early| early)
    }

    /// Runs this check alone on a snapshot (tests, one-off use).
    pub fn on(&self, snapshot: &Snapshot) -> Finding {
        self.judge(&View::new(snapshot))
    }

    /// Position in the causal order: layer first, then catalogue order.
    pub fn causal_position(&self) -> (Layer, usize) {
        let index = CATALOGUE.iter().position(|c| c.id == self.id).unwrap_or(usize::MAX);
        (self.layer, index)
    }
}

/// Runs the whole catalogue over a snapshot: one finding per check, in catalogue order.
pub fn run(view: &View) -> Vec<Finding> {
    CATALOGUE.iter().map(|c| c.judge(view)).collect()
}

/// The README's check table (`eks-lb-doctor checks --markdown`); a test keeps the README equal.
pub fn markdown_table() -> String {
    let mut out = String::from("| id | article § | verifies | evidence it needs |\n|---|---|---|---|\n");
    for c in CATALOGUE {
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", c.id, c.section, c.verifies, c.needs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SnapshotB;

    #[test]
    fn every_check_answers_under_its_own_id_once() {
        // GIVEN the article's snapshot
        let snap = SnapshotB::article().build();
        // WHEN the catalogue runs
        let findings = run(&View::new(&snap));
        // THEN there is one finding per check, in catalogue order, each under its own id
        let ids: Vec<CheckId> = findings.iter().map(|f| f.check).collect();
        let catalogue: Vec<CheckId> = CATALOGUE.iter().map(|c| c.id).collect();
        assert_eq!(ids, catalogue);
        let mut unique = catalogue.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), catalogue.len(), "an id is declared twice");
    }

    #[test]
    fn ids_are_kebab_case_and_round_trip_through_json() {
        for c in CATALOGUE {
            let s = c.id.as_str();
            assert!(s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'), "{s}");
            let json = serde_json::to_value(c.id).unwrap();
            assert_eq!(json, serde_json::Value::String(s.into()));
            assert_eq!(serde_json::from_value::<CheckId>(json).unwrap(), c.id);
        }
        assert!(serde_json::from_str::<CheckId>("\"no-such-check\"").is_err());
    }

    #[test]
    fn causal_order_is_the_documented_one() {
        // mapping → pods → selector → endpoints → ports → policy → network → config →
        // controller → kube-proxy, target-health's own reason codes last.
        let mut ids: Vec<&Check> = CATALOGUE.to_vec();
        ids.sort_by_key(|c| c.causal_position());
        let order: Vec<&str> = ids.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            order,
            [
                "service-mapping",
                "pod-status",
                "selector-match",
                "endpoints",
                "target-port",
                "traffic-policy",
                "security-groups",
                "network-acls",
                "route-tables",
                "availability-zones",
                "nodes",
                "health-check-config",
                "health-probe",
                "ingress-annotations",
                "service-annotations",
                "lb-controller",
                "readiness-gates",
                "kube-proxy",
                "target-health",
            ]
        );
    }

    #[test]
    fn readme_check_table_is_the_generated_one() {
        // GIVEN the README as committed
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let begin = "<!-- checks:begin (generated: eks-lb-doctor checks --markdown) -->\n";
        let end = "<!-- checks:end -->";
        let start = readme.find(begin).expect("README has the checks:begin marker") + begin.len();
        let stop = readme[start..].find(end).expect("README has the checks:end marker") + start;
        // THEN its table is exactly what the catalogue generates
        assert_eq!(
            &readme[start..stop],
            markdown_table(),
            "README's check table is stale: replace it with `eks-lb-doctor checks --markdown`"
        );
    }
}
