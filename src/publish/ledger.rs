//! The delivery ledger: one DynamoDB item per (alarm transition, target group, channel), so an
//! invocation Lambda retries publishes only to the channels that did not succeed, and
//! remediation runs at most once per transition.
//!
//! A channel is *claimed* before it is used (a conditional PutItem), then *settled* as
//! `delivered` or `failed`. A claim is granted when there is no item, when the last attempt
//! failed, or when the invocation holding the claim is past its deadline (it died mid-delivery).
//! Items expire through the table's TTL attribute `expires`.
//!
//! Two calls do not pay for the DynamoDB SDK crate (BENCHMARKS.md): this speaks DynamoDB's JSON
//! protocol (`X-Amz-Target: DynamoDB_20120810.PutItem`) through `aws_json`, over the reqwest
//! client Slack already uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::{json, Value};

use crate::aws_json::{CallError, JsonApi};

/// How long a claim holds when its invocation's deadline is unknown (the CLI, a remediation):
/// Lambda's longest timeout.
pub const CLAIM_WITHOUT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// How long an item is kept: longer than Lambda keeps retrying an event (6 hours at most).
const KEEP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no AWS credentials to sign DynamoDB requests: {0}")]
    Credentials(String),
    #[error("cannot sign the DynamoDB request: {0}")]
    Sign(String),
    #[error("DynamoDB {operation} on {table} failed: {message}")]
    Call {
        operation: &'static str,
        table: String,
        message: String,
    },
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Go ahead: nothing delivered this yet (or its last attempt failed).
    Granted,
    /// Delivered already, or being delivered by a live invocation: skip.
    Taken,
}

pub struct Ledger {
    api: JsonApi,
    table: String,
}

impl Ledger {
    /// The ledger in `table`, in the function's own account and region (its AWS configuration,
    /// including `AWS_ENDPOINT_URL` when set).
    pub fn new(sdk: &SdkConfig, http: reqwest::Client, table: String) -> Ledger {
        let api = JsonApi::new(
            sdk,
            http,
            None,
            ("dynamodb", "dynamodb"),
            "DynamoDB_20120810",
            "application/x-amz-json-1.0",
        );
        Ledger { api, table }
    }

    /// Claims `key` for delivery by an invocation that can run until `live_until`.
    pub async fn claim(&self, key: &str, live_until: SystemTime) -> Result<Claim, LedgerError> {
        let now = epoch(SystemTime::now());
        let mut record = item(key, "claimed", now);
        record["until"] = json!({"N": epoch(live_until).to_string()});
        let body = json!({
            "TableName": self.table,
            "Item": record,
            "ConditionExpression": "attribute_not_exists(pk) OR #s = :failed OR (#s = :claimed AND #until < :now)",
            "ExpressionAttributeNames": {"#s": "state", "#until": "until"},
            "ExpressionAttributeValues": {
                ":failed": {"S": "failed"},
                ":claimed": {"S": "claimed"},
                ":now": {"N": now.to_string()},
            },
        });
        match self.call("PutItem", &body).await {
            Ok(_) => Ok(Claim::Granted),
            Err(LedgerError::Call { message, .. }) if message.contains("ConditionalCheckFailedException") => Ok(Claim::Taken),
            Err(e) => Err(e),
        }
    }

    /// Records how the delivery of `key` ended.
    pub async fn settle(&self, key: &str, delivered: bool) -> Result<(), LedgerError> {
        let state = if delivered { "delivered" } else { "failed" };
        let body = json!({"TableName": self.table, "Item": item(key, state, epoch(SystemTime::now()))});
        self.call("PutItem", &body).await.map(|_| ())
    }

    /// What the last published scan under `key` found (`fleet::fingerprint`), if one was.
    pub async fn scan_state(&self, key: &str) -> Result<Option<String>, LedgerError> {
        let body = json!({"TableName": self.table, "Key": {"pk": {"S": key}}, "ConsistentRead": true});
        let item = self.call("GetItem", &body).await?;
        Ok(item["Item"]["found"]["S"].as_str().map(str::to_string))
    }

    /// Records what the scan under `key` found, kept for 30 days.
    pub async fn record_scan(&self, key: &str, found: &str) -> Result<(), LedgerError> {
        let now = epoch(SystemTime::now());
        let mut record = item(key, "scanned", now);
        record["found"] = json!({"S": found});
        record["expires"] = json!({"N": (now + 30 * 24 * 3600).to_string()});
        self.call("PutItem", &json!({"TableName": self.table, "Item": record}))
            .await
            .map(|_| ())
    }

    async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, LedgerError> {
        self.api.call(operation, body).await.map_err(|e| match e {
            CallError::Credentials(m) => LedgerError::Credentials(m),
            CallError::Sign(m) => LedgerError::Sign(m),
            CallError::Failed { message, .. } => LedgerError::Call {
                operation,
                table: self.table.clone(),
                message,
            },
        })
    }
}

/// The ledger key of one channel's delivery for one target group in one alarm transition.
pub fn key(transition: &str, target_group_arn: &str, channel: &str) -> String {
    format!("{transition}|{target_group_arn}|{channel}")
}

fn item(key: &str, state: &str, now: u64) -> Value {
    json!({
        "pk": {"S": key},
        "state": {"S": state},
        "at": {"N": now.to_string()},
        "expires": {"N": (now + KEEP.as_secs()).to_string()},
    })
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_transition_target_group_and_channel_and_items_expire_after_a_day() {
        // GIVEN a transition and a target group WHEN keyed and recorded
        let k = key(
            "arn:aws:cloudwatch:us-east-1:1:alarm:a@2026-12-01T03:00:00.000+0000",
            "arn:tg",
            "slack",
        );
        let i = item(&k, "claimed", 1_000);
        // THEN each channel has its own item, kept for a day (past Lambda's 6-hour retries)
        assert_eq!(
            k,
            "arn:aws:cloudwatch:us-east-1:1:alarm:a@2026-12-01T03:00:00.000+0000|arn:tg|slack"
        );
        assert_eq!(i["expires"]["N"], (1_000 + 86_400).to_string());
        assert_eq!(i["state"]["S"], "claimed");
    }
}
