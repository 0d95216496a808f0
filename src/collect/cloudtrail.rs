//! The AWS half of "what changed": CloudTrail's `LookupEvents` on the resources in the evidence
//! (the target group, its load balancers, the targets' security groups, subnets' network ACLs
//! and route tables), write events only, in the window before the alarm. The API takes one
//! lookup attribute per call and answers two calls a second per account and region
//! (CloudTrail API reference, LookupEvents), so the resources are looked up two at a time, a
//! second apart (paced by `shared::Shared::trail`), at most `MAX_RESOURCES` of them.

use std::time::Duration;

use serde_json::{json, Value};
use tracing::instrument;

use crate::aws_json::{CallError, JsonApi};
use crate::snapshot::{AwsChange, Fetched, Missing};

/// Resources looked up at most: beyond this, the alarm's answer waits too long for history.
pub const MAX_RESOURCES: usize = 6;

/// The events that change what a health check meets, by API (CloudTrail's `eventName`).
const CHANGES: &[&str] = &[
    "ModifyTargetGroup",
    "ModifyTargetGroupAttributes",
    "RegisterTargets",
    "DeregisterTargets",
    "ModifyListener",
    "ModifyLoadBalancerAttributes",
    "SetSecurityGroups",
    "SetSubnets",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "CreateNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "DeleteNetworkAclEntry",
    "ReplaceNetworkAclAssociation",
    "CreateRoute",
    "ReplaceRoute",
    "DeleteRoute",
    "ReplaceRouteTableAssociation",
    "ModifyNetworkInterfaceAttribute",
];

/// CloudTrail in `region` (the target group's), through the function's credentials.
pub fn api(sdk: &aws_config::SdkConfig, region: &str) -> JsonApi {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    JsonApi::new(
        sdk,
        http,
        Some(region),
        ("cloudtrail", "cloudtrail"),
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
        "application/x-amz-json-1.1",
    )
}

/// Write events on `resources` between `start` and `end` (epoch seconds). Each resource is
/// looked up once per pass (`Shared::trail`: two lookups a second, a budget per pass); the first
/// failure in the order given (AccessDenied, throttling, the budget) is what the diagnosis
/// reports, since a partial history would read as "nothing changed".
#[instrument(skip(api, shared, resources), fields(resources = resources.len()))]
pub async fn changes(
    api: &JsonApi,
    shared: &super::shared::Shared,
    scope: &str,
    resources: &[String],
    start: i64,
    end: i64,
) -> Fetched<Vec<AwsChange>> {
    if resources.is_empty() {
        return Fetched::not_collected("no resource to look up");
    }
    let resources: Vec<&String> = resources.iter().take(MAX_RESOURCES).collect();
    let answers = futures::future::join_all(resources.iter().map(|r| {
        shared.trail(scope, r, move || async move {
            let v = lookup(api, r, start, end).await.map_err(|e| missing(&e))?;
            Ok(events(&v, r))
        })
    }))
    .await;
    let mut out = Vec::new();
    for answer in answers {
        match answer {
            Ok(found) => out.extend(found),
            Err(m) => return Fetched::Failed(m),
        }
    }
    Fetched::Ok(out)
}

async fn lookup(api: &JsonApi, resource: &str, start: i64, end: i64) -> Result<Value, CallError> {
    let body = json!({
        "LookupAttributes": [{"AttributeKey": "ResourceName", "AttributeValue": resource}],
        "StartTime": start,
        "EndTime": end,
        "MaxResults": 50,
    });
    api.call("LookupEvents", &body).await
}

fn missing(e: &CallError) -> Missing {
    let denied = matches!(e.kind(), "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation");
    Missing {
        api: "cloudtrail:LookupEvents".into(),
        permission: "cloudtrail:LookupEvents".into(),
        error: match denied {
            true => format!("{e}; allow cloudtrail:LookupEvents (read-only) on the function's role"),
            false => e.to_string(),
        },
    }
}

/// The write events of one answer that change what a health check meets.
fn events(v: &Value, resource: &str) -> Vec<AwsChange> {
    (v["Events"].as_array().into_iter().flatten())
        .filter(|e| e["ReadOnly"].as_str() != Some("true"))
        .filter_map(|e| {
            let name = e["EventName"].as_str()?;
            if !CHANGES.contains(&name) {
                return None;
            }
            let at = e["EventTime"].as_f64()?;
            let detail: Value = e["CloudTrailEvent"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let request = detail.get("requestParameters").filter(|r| !r.is_null()).map(|r| r.to_string());
            Some(AwsChange {
                at: chrono::DateTime::from_timestamp(at as i64, 0)?.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                event: name.to_string(),
                resource: resource.to_string(),
                by: e["Username"].as_str().map(str::to_string),
                request: request.map(|r| r.chars().take(300).collect()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_write_events_that_touch_health_checks_are_kept() {
        // GIVEN an answer with a rule revoked, a read, and an unrelated write
        let v = json!({"Events": [
            {"EventName": "RevokeSecurityGroupIngress", "ReadOnly": "false", "EventTime": 1_764_590_160.0, "Username": "alice",
             "CloudTrailEvent": "{\"requestParameters\":{\"groupId\":\"sg-1\",\"ipPermissions\":{\"items\":[{\"fromPort\":8080}]}}}"},
            {"EventName": "DescribeSecurityGroups", "ReadOnly": "true", "EventTime": 1_764_590_100.0},
            {"EventName": "CreateTags", "ReadOnly": "false", "EventTime": 1_764_590_000.0},
        ]});
        // WHEN read
        let e = events(&v, "sg-1");
        // THEN the revoke alone, with who, when and what was asked
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].event.as_str(), e[0].by.as_deref()),
            ("RevokeSecurityGroupIngress", Some("alice"))
        );
        assert_eq!(e[0].at, "2025-12-01T11:56:00Z");
        assert!(e[0].request.as_deref().unwrap().contains("\"fromPort\":8080"));
    }

    #[test]
    fn access_denied_names_the_permission() {
        let e = CallError::Failed {
            status: Some(400),
            kind: "AccessDeniedException".into(),
            message: "HTTP 400 AccessDeniedException: no".into(),
        };
        let m = missing(&e);
        assert!(
            m.error
                .ends_with("allow cloudtrail:LookupEvents (read-only) on the function's role"),
            "{}",
            m.error
        );
    }
}
