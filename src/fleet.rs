//! Many target groups at once (a storm of alarms, a metric-math alarm, `scan`): one report with a
//! row per target group and the causes they have in common, each said once with its groups and
//! one fix. Pure: built from the diagnoses (and, for `scan`, the rows of groups found healthy
//! without a full diagnosis).
//!
//! A cause is common only when it is the *same* fault, not the same kind of fault: the same
//! security group, network ACL or route table that the root cause's fix changes (the object of
//! `--group-id`, `--network-acl-id`, `--route-table-id`), the same broken nodes, or the same
//! cluster's kube-proxy or Load Balancer Controller. Two Services with the wrong selector are two problems, never one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::CheckId;
use crate::diagnosis::{Diagnosis, VerdictStatus};

pub const SCHEMA_VERSION: u32 = 1;

/// The report of a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    pub schema_version: u32,
    pub kind: String,
    pub status: VerdictStatus,
    pub summary: String,
    pub groups: Vec<GroupRow>,
    pub common_causes: Vec<CommonCause>,
    /// The full diagnosis of every target group that was diagnosed (not those found healthy
    /// from their target health alone), in the order of `groups`.
    pub diagnoses: Vec<Diagnosis>,
}

/// One target group's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    pub target_group_arn: String,
    pub name: String,
    /// `namespace/name` of the Service, when mapped.
    pub service: Option<String>,
    pub status: VerdictStatus,
    pub unhealthy: usize,
    pub total: usize,
    pub root_cause: Option<CheckId>,
    pub summary: String,
    /// Index into `commonCauses` when its root cause is shared with other groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_cause: Option<usize>,
    /// Why it could not be diagnosed, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A root cause several target groups share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommonCause {
    pub root_cause: CheckId,
    /// The security groups, ACLs or route tables the fix changes, or `cluster NAME`.
    pub resources: Vec<String>,
    /// The target groups' names, in row order.
    pub target_groups: Vec<String>,
    pub summary: String,
    /// The fix, said once: the root-cause remediation of every group, without repeats.
    pub fix: Vec<String>,
}

/// A row for a group found healthy from its target health alone (`scan` does not diagnose those).
pub fn healthy_row(arn: &str, name: &str, service: Option<String>, total: usize) -> GroupRow {
    GroupRow {
        target_group_arn: arn.into(),
        name: name.into(),
        service,
        status: VerdictStatus::Healthy,
        unhealthy: 0,
        total,
        root_cause: None,
        summary: match total {
            0 => "no targets registered".into(),
            n => format!("all {n} targets healthy"),
        },
        common_cause: None,
        error: None,
    }
}

/// A row for a group that could not be diagnosed: not healthy, not a problem we can name.
pub fn error_row(arn: &str, error: &str) -> GroupRow {
    GroupRow {
        target_group_arn: arn.into(),
        name: crate::diagnosis::name_from_arn(arn),
        service: None,
        status: VerdictStatus::Inconclusive,
        unhealthy: 0,
        total: 0,
        root_cause: None,
        summary: "could not be diagnosed".into(),
        common_cause: None,
        error: Some(error.into()),
    }
}

/// The row of a diagnosed group.
pub fn row(d: &Diagnosis) -> GroupRow {
    GroupRow {
        target_group_arn: d.target_group.arn.clone(),
        name: d.target_group.name.clone(),
        service: d.service.as_ref().map(|s| format!("{}/{}", s.namespace, s.name)),
        status: d.verdict.status,
        unhealthy: d.targets.iter().filter(|t| t.state != "healthy").count(),
        total: d.targets.len(),
        root_cause: d.verdict.root_cause,
        summary: d.verdict.summary.clone(),
        common_cause: None,
        error: None,
    }
}

/// What makes two root causes one: the check and the resources its fix changes.
type CauseKey = (CheckId, Vec<String>);

/// The shared fault behind a diagnosis's root cause, if it is one that can be shared.
pub fn cause_key(d: &Diagnosis) -> Option<CauseKey> {
    if d.verdict.status != VerdictStatus::Problem || d.verdict.transient.is_some() {
        return None;
    }
    let rc = d.verdict.root_cause?;
    let finding = d.findings.iter().find(|f| f.check == rc)?;
    let resources = match rc.as_str() {
        // Cluster-wide components: the same cluster's is the same fault.
        "kube-proxy" | "lb-controller" => vec![format!("cluster {}", d.cluster.as_deref()?)],
        // Broken nodes: the same nodes (their names in the evidence).
        "nodes" => {
            let mut names: Vec<String> = (finding.evidence["nodes"].as_array().into_iter().flatten())
                .filter_map(|n| n["node"].as_str().map(|n| format!("node {n}")))
                .collect();
            names.sort();
            names.dedup();
            names
        }
        // The network: the resources the fix changes.
        "security-groups" | "network-acls" | "route-tables" => {
            let mut ids: Vec<String> = finding.remediation.iter().flat_map(|r| fix_objects(r)).collect();
            ids.sort();
            ids.dedup();
            ids
        }
        _ => return None,
    };
    (!resources.is_empty()).then_some((rc, resources))
}

/// The resources a printed AWS CLI command changes: the value of its `--group-id`,
/// `--network-acl-id` or `--route-table-id`. (Ids come from the AWS APIs, never from the cluster.)
fn fix_objects(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "--group-id" | "--network-acl-id" | "--route-table-id"))
        .map(|w| w[1].to_string())
        .collect()
}

/// The report: `rows` for groups found healthy without a diagnosis or not diagnosed, and the
/// diagnoses; rows are ordered problems first (most unhealthy targets first), then the rest by name.
pub fn report(kind: &str, mut rows: Vec<GroupRow>, diagnoses: Vec<Diagnosis>) -> FleetReport {
    rows.extend(diagnoses.iter().map(row));
    let rank = |s: VerdictStatus| match s {
        VerdictStatus::Problem => 0,
        VerdictStatus::Inconclusive => 1,
        VerdictStatus::Healthy => 2,
    };
    rows.sort_by(|a, b| {
        (rank(a.status), std::cmp::Reverse(a.unhealthy), &a.name).cmp(&(rank(b.status), std::cmp::Reverse(b.unhealthy), &b.name))
    });
    let by_arn: BTreeMap<&str, &Diagnosis> = diagnoses.iter().map(|d| (d.target_group.arn.as_str(), d)).collect();
    // Group the rows by shared fault, in row order.
    let mut groups: Vec<(CauseKey, Vec<usize>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(key) = by_arn.get(r.target_group_arn.as_str()).and_then(|d| cause_key(d)) else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let mut common_causes = Vec::new();
    for ((check, resources), members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        let mut fix: Vec<String> = Vec::new();
        for &i in &members {
            let d = by_arn[rows[i].target_group_arn.as_str()];
            let lines = d
                .findings
                .iter()
                .find(|f| f.check == check)
                .map(|f| f.remediation.clone())
                .unwrap_or_default();
            for line in lines {
                if !fix.contains(&line) {
                    fix.push(line);
                }
            }
        }
        let names: Vec<String> = members.iter().map(|&i| rows[i].name.clone()).collect();
        let summary = format!(
            "{} target groups fail for one reason: {} on {}",
            names.len(),
            check.as_str(),
            resources.join(", ")
        );
        for &i in &members {
            rows[i].common_cause = Some(common_causes.len());
        }
        common_causes.push(CommonCause {
            root_cause: check,
            resources,
            target_groups: names,
            summary,
            fix,
        });
    }
    let diagnoses = order_like(&rows, diagnoses);
    let status = rows
        .iter()
        .map(|r| r.status)
        .min_by_key(|s| rank(*s))
        .unwrap_or(VerdictStatus::Healthy);
    let summary = summary_line(&rows, &common_causes);
    FleetReport {
        schema_version: SCHEMA_VERSION,
        kind: kind.into(),
        status,
        summary,
        groups: rows,
        common_causes,
        diagnoses,
    }
}

/// What a scheduled scan compares with the last one it published: each target group that is
/// not healthy, with its status and root cause, sorted. Empty when all are healthy.
pub fn fingerprint(r: &FleetReport) -> String {
    let mut lines: Vec<String> = (r.groups.iter())
        .filter(|g| g.status != VerdictStatus::Healthy)
        .map(|g| {
            let cause = g.root_cause.map(|c| c.as_str()).unwrap_or("-");
            format!("{} {:?} {cause}", g.target_group_arn, g.status)
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

fn order_like(rows: &[GroupRow], mut diagnoses: Vec<Diagnosis>) -> Vec<Diagnosis> {
    let at = |d: &Diagnosis| rows.iter().position(|r| r.target_group_arn == d.target_group.arn);
    diagnoses.sort_by_key(|d| at(d));
    diagnoses
}

/// "3 of 5 target groups unhealthy: 2 share one cause (security-groups on sg-1); 1 inconclusive."
fn summary_line(rows: &[GroupRow], common: &[CommonCause]) -> String {
    let count = |s: VerdictStatus| rows.iter().filter(|r| r.status == s).count();
    let (problems, unsure) = (count(VerdictStatus::Problem), count(VerdictStatus::Inconclusive));
    if problems == 0 && unsure == 0 {
        return format!("All {} target groups are healthy.", rows.len());
    }
    let mut parts = vec![format!("{problems} of {} target groups have a problem", rows.len())];
    for c in common {
        parts.push(format!(
            "{} share one cause ({} on {})",
            c.target_groups.len(),
            c.root_cause.as_str(),
            c.resources.join(", ")
        ));
    }
    let own = rows
        .iter()
        .filter(|r| r.status == VerdictStatus::Problem && r.common_cause.is_none())
        .count();
    if own > 0 && !common.is_empty() {
        parts.push(match own {
            1 => "1 fails for a cause of its own".to_string(),
            n => format!("{n} fail for causes of their own"),
        });
    }
    if unsure > 0 {
        parts.push(format!("{unsure} inconclusive"));
    }
    format!("{}.", parts.join("; "))
}

#[cfg(test)]
mod tests;
