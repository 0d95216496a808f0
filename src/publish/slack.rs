//! Slack: an incoming webhook, its URL read from Secrets Manager (once per container, never
//! logged), posted through `webhook` (429 and 5xx retried; Slack's error codes reported, never
//! retried). The message itself is built in `render::slack`.

use serde_json::Value;

use super::webhook;
use crate::error::PublishError;

/// The webhook URL from a Secrets Manager secret: the URL itself, or JSON with `url` /
/// `webhook_url` / `webhookUrl`.
pub async fn webhook_url(client: &aws_sdk_secretsmanager::Client, secret: &str) -> Result<String, PublishError> {
    webhook::url_secret(
        client,
        secret,
        ("Slack", "the Slack webhook"),
        &["url", "webhook_url", "webhookUrl"],
    )
    .await
}

/// Posts a message.
pub async fn post(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), PublishError> {
    webhook::post(http, "Slack", url, body).await.map(|_| ())
}
