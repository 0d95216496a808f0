//! PagerDuty Events API v2: the routing key read from Secrets Manager (once per container, never
//! logged) and added to the event `render::pagerduty` built, posted through `webhook` (429 and
//! 5xx retried, as PagerDuty's "Response Codes & Retry Logic" asks; 400 "invalid event"
//! reported, never retried).

use serde_json::Value;

use super::webhook;
use crate::error::PublishError;

/// PagerDuty's endpoint; `PAGERDUTY_EVENTS_URL` replaces it (a regional or test receiver).
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The integration's routing key: the key itself, or JSON with `routing_key` / `routingKey` /
/// `integration_key`.
pub async fn routing_key(client: &aws_sdk_secretsmanager::Client, secret: &str) -> Result<String, PublishError> {
    let key = webhook::secret_value(
        client,
        secret,
        ("PagerDuty", "the PagerDuty routing key"),
        &["routing_key", "routingKey", "integration_key"],
    )
    .await?;
    // Integration keys are 32 characters of letters and digits; anything else would be refused
    // by PagerDuty on every alarm, so it is refused here, once, with the reason.
    if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PublishError::Secret {
            channel: "PagerDuty",
            what: "the PagerDuty routing key",
            secret: secret.into(),
            message: "the secret does not hold an integration key (letters and digits)".into(),
        });
    }
    Ok(key)
}

/// Sends one event with its routing key.
pub async fn send(http: &reqwest::Client, url: &str, key: &str, mut event: Value) -> Result<(), PublishError> {
    event["routing_key"] = Value::String(key.to_string());
    webhook::post(http, "PagerDuty", url, &event).await.map(|_| ())
}
