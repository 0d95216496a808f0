//! Slack: an incoming webhook, its URL read from Secrets Manager (once per container, never
//! logged). Retries 429 (honouring Retry-After) and 5xx with backoff; Slack's error codes are
//! reported, never retried. The message itself is built in `render::slack`.

use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

use crate::error::PublishError;

const ATTEMPTS: u32 = 4;

/// The webhook URL from a Secrets Manager secret: the URL itself, or JSON with `url` /
/// `webhook_url` / `webhookUrl`.
pub async fn webhook_url(client: &aws_sdk_secretsmanager::Client, secret: &str) -> Result<String, PublishError> {
    let err = |message: String| PublishError::SlackSecret {
        secret: secret.into(),
        message,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| err(crate::aws_error::call_failed("secretsmanager", "GetSecretValue", &e).error))?;
    let raw = out
        .secret_string()
        .ok_or_else(|| err("the secret has no string value".into()))?
        .trim()
        .to_string();
    let url = if raw.starts_with('{') {
        let v: Value = serde_json::from_str(&raw).map_err(|_| err("the secret is neither a URL nor JSON".into()))?;
        ["url", "webhook_url", "webhookUrl"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
            .ok_or_else(|| err("the secret's JSON has no url / webhook_url key".into()))?
    } else {
        raw
    };
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(err("the secret does not hold a URL".into()));
    }
    Ok(url)
}

/// Up to 200 ms, from the clock's nanoseconds: enough to keep many invocations' retries from
/// arriving at Slack together (no random source is needed for that).
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(u64::from(nanos % 200))
}

/// Posts a message, retrying 429 and 5xx with backoff and jitter. The URL is never logged.
pub async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), PublishError> {
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = resp.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    info!(attempt, "posted to Slack");
                    return Ok(());
                }
                if status == 429 || status >= 500 {
                    last = format!("HTTP {status} {}", text.trim());
                    warn!(status, attempt, "Slack busy, retrying");
                    let wait = retry_after
                        .map(Duration::from_secs)
                        .unwrap_or(Duration::from_millis(200 << attempt) + jitter())
                        .min(Duration::from_secs(5));
                    tokio::time::sleep(wait).await;
                    continue;
                }
                // invalid_payload, channel_not_found, channel_is_archived, action_prohibited, no_service…
                let code = text.trim().to_string();
                warn!(status, code = %code, "Slack rejected the message");
                return Err(PublishError::SlackRejected { status, code });
            }
            Err(e) => {
                // reqwest puts the URL in its errors: keep only what is safe to log.
                last = e.without_url().to_string();
                warn!(attempt, error = %last, "Slack unreachable, retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt) + jitter()).await;
            }
        }
    }
    Err(PublishError::SlackUnreachable {
        attempts: ATTEMPTS,
        message: last,
    })
}
