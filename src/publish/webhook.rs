//! What the HTTP channels share (Slack, Microsoft Teams, PagerDuty): a URL or key read from
//! Secrets Manager once per container and never logged, and a JSON POST that retries 429
//! (honouring Retry-After) and 5xx with backoff and jitter, and reports any other answer, never
//! retried.

use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

use crate::error::PublishError;

const ATTEMPTS: u32 = 4;

/// A secret's value: the value itself, or the first of `keys` in its JSON. `(channel, what)`
/// name it in errors: ("Slack", "the Slack webhook").
pub async fn secret_value(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
    (channel, what): (&'static str, &'static str),
    keys: &[&str],
) -> Result<String, PublishError> {
    let err = |message: String| PublishError::Secret {
        channel,
        what,
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
    if !raw.starts_with('{') {
        return Ok(raw);
    }
    let v: Value = serde_json::from_str(&raw).map_err(|_| err("the secret is neither a plain value nor JSON".into()))?;
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| err(format!("the secret's JSON has none of the keys {}", keys.join(", "))))
}

/// A webhook URL from a secret (the URL, or JSON with one of `keys`).
pub async fn url_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret: &str,
    (channel, what): (&'static str, &'static str),
    keys: &[&str],
) -> Result<String, PublishError> {
    let url = secret_value(client, secret, (channel, what), keys).await?;
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(PublishError::Secret {
            channel,
            what,
            secret: secret.into(),
            message: "the secret does not hold a URL".into(),
        });
    }
    Ok(url)
}

/// Up to 200 ms, from the clock's nanoseconds: enough to keep many invocations' retries from
/// arriving together (no random source is needed for that).
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(u64::from(nanos % 200))
}

/// Posts `body` to `url`, retrying 429 and 5xx with backoff and jitter (at most 5 s a wait: the
/// invocation's deadline bounds the whole). Returns the answer's body. The URL is never logged.
pub async fn post(http: &reqwest::Client, channel: &'static str, url: &str, body: &Value) -> Result<String, PublishError> {
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
                let retry_after = (resp.headers().get("retry-after"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = resp.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    info!(channel, attempt, "posted");
                    return Ok(text);
                }
                if status == 429 || status >= 500 {
                    last = format!("HTTP {status} {}", text.trim());
                    warn!(channel, status, attempt, "busy, retrying");
                    let wait = retry_after
                        .map(Duration::from_secs)
                        .unwrap_or(Duration::from_millis(200 << attempt) + jitter())
                        .min(Duration::from_secs(5));
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let code = text.trim().to_string();
                warn!(channel, status, code = %code, "rejected the message");
                return Err(PublishError::Rejected { channel, status, code });
            }
            Err(e) => {
                // reqwest puts the URL in its errors: keep only what is safe to log.
                last = e.without_url().to_string();
                warn!(channel, attempt, error = %last, "unreachable, retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt) + jitter()).await;
            }
        }
    }
    Err(PublishError::Unreachable {
        channel,
        attempts: ATTEMPTS,
        message: last,
    })
}
