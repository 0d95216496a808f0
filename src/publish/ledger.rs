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
//! protocol (`X-Amz-Target: DynamoDB_20120810.PutItem`), signed with SigV4 by `aws-sigv4`, over
//! the reqwest client Slack already uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::{json, Value};

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
    sdk: SdkConfig,
    http: reqwest::Client,
    table: String,
    region: String,
    endpoint: String,
}

impl Ledger {
    /// The ledger in `table`, in the function's own account and region (its AWS configuration,
    /// including `AWS_ENDPOINT_URL` when set).
    pub fn new(sdk: &SdkConfig, http: reqwest::Client, table: String) -> Ledger {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let endpoint = (sdk.endpoint_url().map(|u| u.trim_end_matches('/').to_string()))
            .unwrap_or_else(|| format!("https://dynamodb.{region}.amazonaws.com"));
        Ledger {
            sdk: sdk.clone(),
            http,
            table,
            region,
            endpoint,
        }
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

    async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, LedgerError> {
        let failed = |message: String| LedgerError::Call {
            operation,
            table: self.table.clone(),
            message,
        };
        let bytes = serde_json::to_vec(body).map_err(|e| failed(e.to_string()))?;
        let target = format!("DynamoDB_20120810.{operation}");
        let url = format!("{}/", self.endpoint);
        // The signer needs a host (it would panic without one): refuse a malformed endpoint.
        if url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).is_none() {
            return Err(failed(format!("the endpoint {url:?} has no host")));
        }
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
        let signed = self.sign(&url, &headers, &bytes).await?;
        let mut req = self.http.post(&url).body(bytes);
        for (k, v) in headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(signed) {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| failed(e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| failed(e.without_url().to_string()))?;
        if !status.is_success() {
            // Errors name their type: `{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", ...}`.
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            let kind = v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_string();
            let msg = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").to_string();
            return Err(failed(format!("HTTP {} {kind}: {msg}", status.as_u16())));
        }
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// The SigV4 headers (authorization, date, session token) for a POST of `body`.
    async fn sign(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Vec<(String, String)>, LedgerError> {
        let creds = (self.sdk.credentials_provider())
            .ok_or_else(|| LedgerError::Credentials("none configured".into()))?
            .provide_credentials()
            .await
            .map_err(|e| LedgerError::Credentials(e.to_string()))?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| LedgerError::Sign(e.to_string()))?
            .into();
        let signable = SignableRequest::new("POST", url, headers.iter().copied(), SignableBody::Bytes(body))
            .map_err(|e| LedgerError::Sign(e.to_string()))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| LedgerError::Sign(e.to_string()))?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
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
