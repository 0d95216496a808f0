//! Triggers: turns any payload the Lambda (or `diagnose --event`) accepts into requests.
//!
//! Accepted (ARCHITECTURE.md, "Contracts"): EventBridge "CloudWatch Alarm State Change" (metric and metric-math
//! alarms), "CloudWatch Alarm Contributor State Change", an SNS notification of a CloudWatch
//! alarm, the bare alarm JSON such a notification carries, and the manual payload
//! `{"targetGroupArn": "...", "cluster": "...", "publish": false}`. Everything else is a
//! [`TriggerError`] that says what was expected. This module does no I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Metrics whose alarms mean "targets are failing health checks".
const HEALTH_METRICS: [&str; 2] = ["UnHealthyHostCount", "HealthyHostCount"];
const ELB_NAMESPACES: [&str; 3] = ["AWS/ApplicationELB", "AWS/NetworkELB", "AWS/GatewayELB"];

const EXPECTED: &str = "expected an EventBridge \"CloudWatch Alarm State Change\" or \"CloudWatch Alarm \
Contributor State Change\" event, an SNS notification of a CloudWatch alarm, or a manual payload \
{\"targetGroupArn\": \"arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID\"}";

/// What to do with a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Diagnose each target group (an alarm can watch several).
    Diagnose(Vec<Request>),
    /// An OK or INSUFFICIENT_DATA transition: acknowledged, nothing to diagnose.
    Acknowledge(Alarm),
    /// A scan of a cluster's target groups (the scheduled scan's payload: `{"scan": {...}}`).
    Scan(ScanRequest),
}

/// What `scan` looks at: a cluster's target groups in a region (optionally one namespace's).
/// As a payload: `{"scan": {"cluster": "prod", "namespace": "shop", "region": "eu-west-1"}}`, every
/// field optional (the region defaults to the function's, the cluster to DEFAULT_CLUSTER).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanRequest {
    #[serde(default)]
    pub region: String,
    /// The cluster's name: needed to reach an EKS cluster, and to find the groups tagged for it.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// One diagnosis to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub target_group_arn: String,
    pub region: String,
    pub account: String,
    pub cluster: Option<String>,
    pub alarm: Option<Alarm>,
    /// Manual payloads publish only when asked; alarm events always do.
    pub publish: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    pub name: String,
    pub arn: Option<String>,
    /// ALARM, OK or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: Option<String>,
    /// eventbridge | eventbridge-contributor | sns | alarm-json
    pub via: String,
    /// When the alarm entered this state (`detail.state.timestamp`, `StateChangeTime`): with the
    /// alarm, it names the transition, the same in a retried invocation and whichever way the
    /// alarm arrived, so deliveries are recorded once per transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

impl Alarm {
    /// The transition's identity (`ARN-or-name@time`), when its time is known.
    pub fn transition(&self) -> Option<String> {
        let at = self.changed_at.as_deref().filter(|t| !t.is_empty())?;
        Some(format!("{}@{at}", self.arn.as_deref().unwrap_or(&self.name)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("the payload is not valid JSON ({0}); {EXPECTED}")]
    NotJson(String),
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> TriggerError {
    TriggerError::Invalid(msg.into())
}

/// Parses raw bytes (a file, an invocation payload).
pub fn parse(payload: &[u8]) -> Result<Trigger, TriggerError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| TriggerError::NotJson(e.to_string()))?;
    parse_value(&value)
}

pub fn parse_value(v: &Value) -> Result<Trigger, TriggerError> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(format!("the payload is a JSON {}, not an object; {EXPECTED}", kind(v))));
    };
    if obj.contains_key("detail-type") {
        eventbridge(v)
    } else if obj.contains_key("Records") {
        sns(v)
    } else if obj.contains_key("targetGroupArn") {
        manual(v)
    } else if let Some(scan) = obj.get("scan") {
        serde_json::from_value(scan.clone()).map(Trigger::Scan).map_err(|e| {
            invalid(format!(
                "scan payload: {e}; expected {{\"scan\": {{\"cluster\": NAME, \"namespace\": NS, \"region\": REGION}}}}"
            ))
        })
    } else if obj.contains_key("AlarmName") && obj.contains_key("Trigger") {
        alarm_json(v, "alarm-json")
    } else {
        let keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
        Err(invalid(format!("unrecognised payload with keys {keys:?}; {EXPECTED}")))
    }
}

// ------------------------------------------------------------------ manual

fn manual(v: &Value) -> Result<Trigger, TriggerError> {
    let arn = string_at(v, "targetGroupArn", "manual payload")?;
    let tg = TargetGroupArn::parse(arn)?;
    let cluster = optional_string(v, "cluster", "manual payload")?;
    let publish = match v.get("publish") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(format!(
                "manual payload: \"publish\" must be true or false, got a {}",
                kind(other)
            )))
        }
    };
    Ok(Trigger::Diagnose(vec![Request {
        target_group_arn: tg.arn,
        region: tg.region,
        account: tg.account,
        cluster,
        alarm: None,
        publish,
    }]))
}

// ------------------------------------------------------------------ EventBridge

fn eventbridge(v: &Value) -> Result<Trigger, TriggerError> {
    let detail_type = string_at(v, "detail-type", "EventBridge event")?;
    let contributor = match detail_type {
        "CloudWatch Alarm State Change" => false,
        "CloudWatch Alarm Contributor State Change" => true,
        other => {
            return Err(invalid(format!(
                "unsupported EventBridge detail-type {other:?}; expected \"CloudWatch Alarm State Change\" \
                 or \"CloudWatch Alarm Contributor State Change\""
            )))
        }
    };
    let source = string_at(v, "source", "EventBridge event")?;
    if source != "aws.cloudwatch" {
        return Err(invalid(format!(
            "EventBridge event from source {source:?}; expected \"aws.cloudwatch\""
        )));
    }
    let region = string_at(v, "region", "EventBridge event")?;
    let account = string_at(v, "account", "EventBridge event")?;
    let detail = v.get("detail").filter(|d| d.is_object()).ok_or_else(|| {
        invalid("EventBridge alarm event has no \"detail\" object; expected detail.alarmName, detail.state and detail.configuration")
    })?;
    let alarm = Alarm {
        name: string_at(detail, "alarmName", "EventBridge alarm event detail")?.to_string(),
        arn: v
            .get("resources")
            .and_then(|r| r.get(0))
            .and_then(Value::as_str)
            .map(str::to_string),
        state: state_value(detail.get("state"), "detail.state.value")?,
        reason: detail
            .get("state")
            .and_then(|s| s.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string),
        via: if contributor { "eventbridge-contributor" } else { "eventbridge" }.to_string(),
        changed_at: (detail.get("state").and_then(|s| s.get("timestamp")))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    if alarm.state != "ALARM" {
        return Ok(Trigger::Acknowledge(alarm));
    }
    let metrics = detail
        .get("configuration")
        .and_then(|c| c.get("metrics"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            invalid(format!(
                "alarm {:?}: detail.configuration.metrics is missing; expected the alarm's metric list",
                alarm.name
            ))
        })?;
    let dimensions = if contributor {
        contributor_dimensions(detail, metrics, &alarm.name)?
    } else {
        metric_dimensions(metrics, &alarm.name)?
    };
    requests(dimensions, region, account, alarm)
}

/// Every `metricStat` of a metric or metric-math alarm that is an ELB health metric.
fn metric_dimensions(metrics: &[Value], alarm: &str) -> Result<Vec<String>, TriggerError> {
    let mut found = Vec::new();
    let mut seen_metrics = Vec::new();
    for m in metrics {
        let Some(metric) = m.get("metricStat").and_then(|s| s.get("metric")) else {
            continue;
        };
        let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
        let namespace = metric.get("namespace").and_then(Value::as_str).unwrap_or("");
        seen_metrics.push(format!("{namespace}/{name}"));
        if !HEALTH_METRICS.contains(&name) || !ELB_NAMESPACES.contains(&namespace) {
            continue;
        }
        let dims = metric.get("dimensions").and_then(Value::as_object);
        match dims.and_then(|d| d.get("TargetGroup")) {
            Some(Value::String(tg)) => found.push(tg.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "alarm {alarm:?}: the TargetGroup dimension is a {}, expected a string like \"targetgroup/NAME/ID\"",
                    kind(other)
                )))
            }
            None => {}
        }
    }
    if found.is_empty() {
        return Err(no_target_group(alarm, &seen_metrics));
    }
    Ok(found)
}

/// A multi-series (contributor) alarm names the one series in `alarmContributor.attributes`.
fn contributor_dimensions(detail: &Value, metrics: &[Value], alarm: &str) -> Result<Vec<String>, TriggerError> {
    let query: String = metrics
        .iter()
        .filter_map(|m| m.get("expression").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    if !query.is_empty() && !HEALTH_METRICS.iter().any(|h| query.contains(h)) {
        return Err(invalid(format!(
            "alarm {alarm:?} queries {query:?}, not UnHealthyHostCount or HealthyHostCount; only load balancer health alarms can be diagnosed"
        )));
    }
    let attrs = detail
        .get("alarmContributor")
        .and_then(|c| c.get("attributes"))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            invalid(format!(
                "alarm {alarm:?}: detail.alarmContributor.attributes is missing; expected the contributor's TargetGroup attribute"
            ))
        })?;
    match attrs.get("TargetGroup") {
        Some(Value::String(tg)) => Ok(vec![tg.clone()]),
        _ => Err(invalid(format!(
            "alarm {alarm:?}: the contributor has no TargetGroup attribute (it has {:?}); the alarm must GROUP BY TargetGroup",
            attrs.keys().collect::<Vec<_>>()
        ))),
    }
}

// ------------------------------------------------------------------ SNS

fn sns(v: &Value) -> Result<Trigger, TriggerError> {
    let records = v
        .get("Records")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid("SNS event: \"Records\" must be a non-empty array of SNS records"))?;
    let mut all = Vec::new();
    let mut acknowledged = None;
    for (i, r) in records.iter().enumerate() {
        let message = match r.get("Sns").and_then(|s| s.get("Message")) {
            Some(Value::String(m)) => m,
            Some(other) => {
                return Err(invalid(format!(
                    "SNS event: Records[{i}].Sns.Message is a {}; expected the CloudWatch alarm notification as a JSON string",
                    kind(other)
                )))
            }
            None => {
                return Err(invalid(format!(
                    "SNS event: Records[{i}].Sns.Message is missing; expected the CloudWatch alarm notification as a JSON string"
                )))
            }
        };
        let alarm: Value = serde_json::from_str(message).map_err(|e| {
            invalid(format!(
                "SNS event: Records[{i}].Sns.Message is not JSON ({e}); expected a CloudWatch alarm notification"
            ))
        })?;
        match alarm_json(&alarm, "sns")? {
            Trigger::Diagnose(reqs) => all.extend(reqs),
            Trigger::Acknowledge(a) => acknowledged = Some(a),
            // (An alarm notification never asks for a scan.)
            Trigger::Scan(_) => {}
        }
    }
    match (all.is_empty(), acknowledged) {
        (true, Some(a)) => Ok(Trigger::Acknowledge(a)),
        _ => Ok(Trigger::Diagnose(dedupe(all))),
    }
}

/// The alarm notification CloudWatch sends to SNS (`AlarmName`, `NewStateValue`, `Trigger`).
fn alarm_json(v: &Value, via: &str) -> Result<Trigger, TriggerError> {
    let what = "CloudWatch alarm notification";
    let name = string_at(v, "AlarmName", what)?.to_string();
    let arn = string_at(v, "AlarmArn", what)?;
    let state = string_at(v, "NewStateValue", what)?.to_string();
    check_state(&state, "NewStateValue")?;
    // The notification's "Region" is a display name ("US East (N. Virginia)"): use the ARN.
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[2] != "cloudwatch" {
        return Err(invalid(format!(
            "{what}: AlarmArn {arn:?} is not a CloudWatch alarm ARN (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)"
        )));
    }
    let (region, account) = (parts[3], parts[4]);
    let alarm = Alarm {
        name,
        arn: Some(arn.to_string()),
        state,
        reason: v.get("NewStateReason").and_then(Value::as_str).map(str::to_string),
        via: via.to_string(),
        changed_at: v.get("StateChangeTime").and_then(Value::as_str).map(str::to_string),
    };
    if alarm.state != "ALARM" {
        return Ok(Trigger::Acknowledge(alarm));
    }
    let trigger = v.get("Trigger").filter(|t| t.is_object()).ok_or_else(|| {
        invalid(format!(
            "{what} {:?} has no Trigger object; expected Trigger.Dimensions or Trigger.Metrics",
            alarm.name
        ))
    })?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    // A metric alarm: Trigger.{MetricName, Namespace, Dimensions}; metric math: Trigger.Metrics[].MetricStat.Metric.
    let mut consider = |metric: &Value, name_key: &str| -> Result<(), TriggerError> {
        let name = metric.get(name_key).and_then(Value::as_str).unwrap_or("");
        let ns = metric.get("Namespace").and_then(Value::as_str).unwrap_or("");
        seen.push(format!("{ns}/{name}"));
        if !HEALTH_METRICS.contains(&name) || !ELB_NAMESPACES.contains(&ns) {
            return Ok(());
        }
        let dims = metric.get("Dimensions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for d in dims {
            let dim_name = d.get("name").or_else(|| d.get("Name")).and_then(Value::as_str);
            if dim_name == Some("TargetGroup") {
                match d.get("value").or_else(|| d.get("Value")) {
                    Some(Value::String(s)) => found.push(s.clone()),
                    other => {
                        return Err(invalid(format!(
                            "{what}: the TargetGroup dimension value is a {}, expected a string like \"targetgroup/NAME/ID\"",
                            other.map(kind).unwrap_or("missing value")
                        )))
                    }
                }
            }
        }
        Ok(())
    };
    if trigger.get("MetricName").is_some() {
        consider(trigger, "MetricName")?;
    }
    for m in trigger.get("Metrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(metric) = m.get("MetricStat").and_then(|s| s.get("Metric")) {
            consider(metric, "MetricName")?;
        }
    }
    if found.is_empty() {
        return Err(no_target_group(&alarm.name, &seen));
    }
    requests(found, region, account, alarm)
}

// ------------------------------------------------------------------ shared

fn requests(dimensions: Vec<String>, region: &str, account: &str, alarm: Alarm) -> Result<Trigger, TriggerError> {
    let mut out = Vec::new();
    for dim in dimensions {
        let tg = TargetGroupArn::from_dimension(&dim, region, account).map_err(|e| invalid(format!("alarm {:?}: {e}", alarm.name)))?;
        out.push(Request {
            target_group_arn: tg.arn,
            region: tg.region,
            account: tg.account,
            cluster: None,
            alarm: Some(alarm.clone()),
            publish: true,
        });
    }
    Ok(Trigger::Diagnose(dedupe(out)))
}

fn dedupe(mut reqs: Vec<Request>) -> Vec<Request> {
    let mut seen = std::collections::HashSet::new();
    reqs.retain(|r| seen.insert(r.target_group_arn.clone()));
    reqs
}

fn no_target_group(alarm: &str, seen: &[String]) -> TriggerError {
    invalid(format!(
        "alarm {alarm:?} watches {seen:?}, with no TargetGroup dimension on UnHealthyHostCount or HealthyHostCount \
         (AWS/ApplicationELB or AWS/NetworkELB); only target group health alarms can be diagnosed"
    ))
}

fn check_state(state: &str, field: &str) -> Result<(), TriggerError> {
    match state {
        "ALARM" | "OK" | "INSUFFICIENT_DATA" => Ok(()),
        other => Err(invalid(format!("{field} is {other:?}; expected ALARM, OK or INSUFFICIENT_DATA"))),
    }
}

fn state_value(state: Option<&Value>, field: &str) -> Result<String, TriggerError> {
    let s = state
        .and_then(|s| s.get("value"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{field} is missing; expected ALARM, OK or INSUFFICIENT_DATA")))?;
    check_state(s, field)?;
    Ok(s.to_string())
}

fn string_at<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, TriggerError> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(invalid(format!("{what}: \"{key}\" is empty"))),
        Some(other) => Err(invalid(format!("{what}: \"{key}\" must be a string, got a {}", kind(other)))),
        None => Err(invalid(format!("{what}: \"{key}\" is missing"))),
    }
}

fn optional_string(v: &Value, key: &str, what: &str) -> Result<Option<String>, TriggerError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!(
            "{what}: \"{key}\" must be a non-empty string, got {}",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A validated target group ARN and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupArn {
    pub arn: String,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl TargetGroupArn {
    /// `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`
    pub fn parse(arn: &str) -> Result<Self, TriggerError> {
        let bad = |why: &str| {
            invalid(format!(
                "{arn:?} is not a target group ARN ({why}); expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
            return Err(bad("not an ARN"));
        }
        if parts[2] != "elasticloadbalancing" {
            return Err(bad(&format!("service is {:?}", parts[2])));
        }
        if parts[3].is_empty() {
            return Err(bad("no region"));
        }
        if parts[4].len() != 12 || !parts[4].bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the account is not 12 digits"));
        }
        let name = parse_resource(parts[5]).map_err(|why| bad(&why))?;
        Ok(TargetGroupArn {
            arn: arn.to_string(),
            region: parts[3].into(),
            account: parts[4].into(),
            name,
        })
    }

    /// From an alarm's TargetGroup dimension (`targetgroup/NAME/ID`) plus the alarm's region/account.
    pub fn from_dimension(dim: &str, region: &str, account: &str) -> Result<Self, String> {
        parse_resource(dim)
            .map_err(|why| format!("TargetGroup dimension {dim:?} is not a target group ({why}); expected \"targetgroup/NAME/ID\""))?;
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        Self::parse(&format!("arn:{partition}:elasticloadbalancing:{region}:{account}:{dim}")).map_err(|e| e.to_string())
    }
}

/// `targetgroup/NAME/ID`: NAME is 1–32 alphanumerics or hyphens, ID is hexadecimal.
fn parse_resource(res: &str) -> Result<String, String> {
    let mut it = res.split('/');
    let (kind, name, id) = (it.next(), it.next(), it.next());
    if kind != Some("targetgroup") || it.next().is_some() {
        return Err(format!("resource {res:?} is not targetgroup/NAME/ID"));
    }
    let name = name.unwrap_or("");
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("name {name:?} is not 1-32 letters, digits or hyphens"));
    }
    let id = id.unwrap_or("");
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("id {id:?} is not hexadecimal"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-default-albinsta-6f3b2c1d0e/0123456789abcdef";

    fn diagnose(payload: &str) -> Vec<Request> {
        match parse(payload.as_bytes()).unwrap() {
            Trigger::Diagnose(r) => r,
            other => panic!("expected a diagnosis, got {other:?}"),
        }
    }

    #[test]
    fn metric_alarm_event_gives_the_target_group_arn_from_its_dimension() {
        let reqs = diagnose(include_str!("../events/alarm-state-change.json"));
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].target_group_arn, TG);
        assert_eq!(
            (reqs[0].region.as_str(), reqs[0].account.as_str(), reqs[0].publish),
            ("us-east-1", "111122223333", true)
        );
        let alarm = reqs[0].alarm.as_ref().unwrap();
        assert_eq!(
            (alarm.name.as_str(), alarm.state.as_str(), alarm.via.as_str()),
            ("alb-instance-unhealthy-hosts", "ALARM", "eventbridge")
        );
    }

    #[test]
    fn metric_math_alarm_gives_every_target_group() {
        let reqs = diagnose(include_str!("../events/alarm-metric-math.json"));
        let names: Vec<&str> = reqs.iter().map(|r| r.target_group_arn.rsplit(':').next().unwrap()).collect();
        assert_eq!(
            names,
            [
                "targetgroup/k8s-shop-web-8c1f2a3b4d/1111222233334444",
                "targetgroup/k8s-shop-api-2d3e4f5a6b/5555666677778888"
            ]
        );
    }

    #[test]
    fn contributor_alarm_gives_the_contributing_target_group() {
        let reqs = diagnose(include_str!("../events/alarm-contributor.json"));
        assert_eq!(reqs.len(), 1);
        assert!(reqs[0]
            .target_group_arn
            .ends_with("targetgroup/k8s-shop-api-2d3e4f5a6b/5555666677778888"));
        assert_eq!(reqs[0].alarm.as_ref().unwrap().via, "eventbridge-contributor");
    }

    #[test]
    fn sns_alarm_notification_uses_the_alarm_arn_region_not_the_display_name() {
        let reqs = diagnose(include_str!("../events/sns-alarm.json"));
        assert_eq!(reqs[0].target_group_arn, TG);
        assert_eq!(reqs[0].region, "us-east-1");
        assert_eq!(reqs[0].alarm.as_ref().unwrap().via, "sns");
    }

    #[test]
    fn one_alarm_transition_has_one_identity_whichever_way_it_arrives() {
        // GIVEN the same transition as an EventBridge event and as an SNS notification
        let eb = diagnose(include_str!("../events/alarm-state-change.json"));
        let sns = diagnose(include_str!("../events/sns-alarm.json"));
        // WHEN each names its transition
        let t = |r: &[Request]| r[0].alarm.as_ref().and_then(Alarm::transition);
        // THEN both are the alarm ARN at the state change time, so deliveries are recorded once
        assert_eq!(
            t(&eb).as_deref(),
            Some("arn:aws:cloudwatch:us-east-1:111122223333:alarm:alb-instance-unhealthy-hosts@2026-11-27T03:12:44.330+0000")
        );
        assert_eq!(t(&eb), t(&sns));
        // AND a manual payload has none (nothing is deduplicated for it)
        assert!(diagnose(include_str!("../events/manual.json"))[0].alarm.is_none());
    }

    #[test]
    fn manual_payload_keeps_cluster_and_publish() {
        let reqs = diagnose(include_str!("../events/manual.json"));
        assert_eq!(
            (reqs[0].cluster.as_deref(), reqs[0].publish, reqs[0].alarm.is_none()),
            (Some("demo"), false, true)
        );
    }

    #[test]
    fn ok_and_insufficient_data_are_acknowledged_without_diagnosis() {
        for (file, state) in [
            (include_str!("../events/alarm-ok.json"), "OK"),
            (include_str!("../events/alarm-insufficient-data.json"), "INSUFFICIENT_DATA"),
        ] {
            match parse(file.as_bytes()).unwrap() {
                Trigger::Acknowledge(a) => assert_eq!(a.state, state),
                other => panic!("{state}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_sample_event_round_trips_through_serde_unchanged() {
        for f in [
            include_str!("../events/alarm-state-change.json"),
            include_str!("../events/alarm-metric-math.json"),
            include_str!("../events/alarm-contributor.json"),
            include_str!("../events/sns-alarm.json"),
            include_str!("../events/manual.json"),
        ] {
            let v: Value = serde_json::from_str(f).unwrap();
            let again: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(parse_value(&v), parse_value(&again));
        }
    }

    #[test]
    fn a_scan_payload_is_a_scan_and_unknown_fields_are_refused() {
        let v = json!({"scan": {"cluster": "prod", "namespace": "shop"}});
        assert_eq!(
            parse_value(&v).unwrap(),
            Trigger::Scan(ScanRequest {
                region: String::new(),
                cluster: Some("prod".into()),
                namespace: Some("shop".into()),
            })
        );
        let err = parse_value(&json!({"scan": {"clusterName": "prod"}})).unwrap_err().to_string();
        assert!(
            err.contains("unknown field `clusterName`") && err.contains("expected {\"scan\""),
            "{err}"
        );
    }

    #[test]
    fn gov_and_china_regions_get_their_partition() {
        assert!(TargetGroupArn::from_dimension("targetgroup/a/00ff", "cn-north-1", "111122223333")
            .unwrap()
            .arn
            .starts_with("arn:aws-cn:"));
        assert!(
            TargetGroupArn::from_dimension("targetgroup/a/00ff", "us-gov-west-1", "111122223333")
                .unwrap()
                .arn
                .starts_with("arn:aws-us-gov:")
        );
    }

    /// Malformed or unexpected payloads: each is an error whose message says what was expected.
    #[test]
    fn malformed_payloads_are_errors_that_say_what_was_expected() {
        let alarm: Value = serde_json::from_str(include_str!("../events/alarm-state-change.json")).unwrap();
        let with = |path: &[&str], value: Value| {
            let mut v = alarm.clone();
            *v.pointer_mut(&format!("/{}", path.join("/"))).unwrap() = value;
            v.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            ("{\"targetGroupArn\": \"arn:aws:elastic".into(), "not valid JSON"),
            ("[]".into(), "not an object"),
            ("\"hello\"".into(), "not an object"),
            ("{}".into(), "unrecognised payload"),
            (json!({"targetGroupArn": 42}).to_string(), "must be a string"),
            (json!({"targetGroupArn": ""}).to_string(), "is empty"),
            (json!({"targetGroupArn": "arn:aws:s3:::bucket"}).to_string(), "not a target group ARN"),
            (json!({"targetGroupArn": TG.replace("111122223333", "1234")}).to_string(), "12 digits"),
            (json!({"targetGroupArn": TG.replace("targetgroup/", "loadbalancer/")}).to_string(), "targetgroup/NAME/ID"),
            (json!({"targetGroupArn": TG, "cluster": 7}).to_string(), "\"cluster\" must be a non-empty string"),
            (json!({"targetGroupArn": TG, "publish": "yes"}).to_string(), "\"publish\" must be true or false"),
            (with(&["detail-type"], json!("EC2 Instance State-change Notification")), "expected \"CloudWatch Alarm State Change\""),
            (with(&["source"], json!("aws.ec2")), "expected \"aws.cloudwatch\""),
            (with(&["detail"], json!(null)), "no \"detail\" object"),
            (with(&["detail", "state", "value"], json!("BROKEN")), "expected ALARM, OK or INSUFFICIENT_DATA"),
            (with(&["detail", "state"], json!({})), "detail.state.value is missing"),
            (with(&["detail", "configuration"], json!({})), "configuration.metrics is missing"),
            (with(&["detail", "configuration", "metrics", "0", "metricStat", "metric", "dimensions"], json!({"LoadBalancer": "app/x/1"})), "no TargetGroup dimension"),
            (with(&["detail", "configuration", "metrics", "0", "metricStat", "metric", "name"], json!("CPUUtilization")), "only target group health alarms"),
            (with(&["detail", "configuration", "metrics", "0", "metricStat", "metric", "dimensions", "TargetGroup"], json!("loadbalancer/app/x/1")), "expected \"targetgroup/NAME/ID\""),
            (with(&["detail", "configuration", "metrics", "0", "metricStat", "metric", "dimensions", "TargetGroup"], json!(["x"])), "expected a string like"),
            (with(&["detail", "configuration", "metrics", "0", "metricStat", "metric", "dimensions", "TargetGroup"], json!("targetgroup/bad_name!/zz")), "not a target group"),
            (with(&["region"], json!(5)), "\"region\" must be a string"),
            (json!({"Records": []}).to_string(), "non-empty array"),
            (json!({"Records": [{"Sns": {}}]}).to_string(), "Sns.Message is missing"),
            (json!({"Records": [{"Sns": {"Message": "not json"}}]}).to_string(), "Message is not JSON"),
            (json!({"Records": [{"Sns": {"Message": "{\"AlarmName\":\"a\"}"}}]}).to_string(), "\"AlarmArn\" is missing"),
            (json!({"AlarmName": "a", "AlarmArn": "arn:aws:sns:us-east-1:1:x", "NewStateValue": "ALARM", "Trigger": {}}).to_string(), "not a CloudWatch alarm ARN"),
            (json!({"AlarmName": "a", "AlarmArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:a", "NewStateValue": "ALARM", "Trigger": {"MetricName": "UnHealthyHostCount", "Namespace": "AWS/ApplicationELB", "Dimensions": []}}).to_string(), "no TargetGroup dimension"),
            (json!({"version": "0", "detail-type": "CloudWatch Alarm Contributor State Change", "source": "aws.cloudwatch", "region": "us-east-1", "account": "111122223333",
                    "detail": {"alarmName": "c", "state": {"value": "ALARM"}, "configuration": {"metrics": [{"id": "q", "expression": "SELECT MAX(CPUUtilization) FROM SCHEMA(\"AWS/EC2\", InstanceId) GROUP BY InstanceId"}]}, "alarmContributor": {"attributes": {"InstanceId": "i-1"}}}}).to_string(), "not UnHealthyHostCount"),
            (json!({"version": "0", "detail-type": "CloudWatch Alarm Contributor State Change", "source": "aws.cloudwatch", "region": "us-east-1", "account": "111122223333",
                    "detail": {"alarmName": "c", "state": {"value": "ALARM"}, "configuration": {"metrics": []}, "alarmContributor": {"attributes": {"LoadBalancer": "app/x/1"}}}}).to_string(), "GROUP BY TargetGroup"),
        ];
        assert!(cases.len() >= 20);
        for (payload, expected) in cases {
            let err = parse(payload.as_bytes()).expect_err(&payload);
            assert!(
                err.to_string().contains(expected),
                "payload {payload}\n  error {err}\n  expected to contain {expected:?}"
            );
        }
    }
}
