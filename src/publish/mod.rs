//! Publishing: sends what `render` builds to SNS (email, machines, Amazon Q Developer), Slack
//! and Microsoft Teams (people), and PagerDuty (paging). Each channel fails on its own, and a
//! failure is an error the caller reports after the other channels have published. One of the
//! three modules that do I/O (with `collect` and `remediate`).

pub mod ledger;
pub mod metrics;
pub mod pagerduty;
pub mod slack;
pub mod sns;
pub mod webhook;

use ledger::{Claim, Ledger};
use serde_json::Value;

use crate::diagnosis::Diagnosis;
pub use crate::error::PublishError;
use crate::render;
use crate::trigger::{Alarm, Request};

/// A secret in Secrets Manager, read once per container (on Lambda) and never logged.
struct Secret {
    arn: String,
    value: tokio::sync::OnceCell<String>,
}

impl Secret {
    fn new(arn: &Option<String>) -> Option<Secret> {
        arn.clone().map(|arn| Secret {
            arn,
            value: tokio::sync::OnceCell::new(),
        })
    }
}

/// The configured channels, with their clients built once (per container on Lambda).
pub struct Publisher {
    sns: Option<(aws_sdk_sns::Client, String)>,
    /// The topic takes Amazon Q Developer's custom notifications (`SNS_FORMAT=chatbot`).
    sns_chatbot: bool,
    secrets: aws_sdk_secretsmanager::Client,
    slack: Option<Secret>,
    teams: Option<Secret>,
    pagerduty: Option<Secret>,
    pagerduty_url: String,
    http: reqwest::Client,
    /// What was delivered per alarm transition (`DELIVERY_TABLE`), when configured.
    ledger: Option<Ledger>,
}

/// What one channel sends for one event, built only for the channels configured.
struct Messages {
    sns: Box<dyn Fn(bool) -> render::sns::SnsMessage + Send + Sync>,
    slack: Value,
    teams: Value,
    pagerduty: Value,
}

impl Publisher {
    /// From the function's own AWS configuration (publishing happens in its own account).
    pub fn new(sdk: &aws_config::SdkConfig, config: &crate::Config) -> Publisher {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Publisher {
            sns_chatbot: config.sns_chatbot,
            ledger: (config.delivery_table.clone()).map(|t| Ledger::new(sdk, http.clone(), t)),
            sns: config.sns_topic_arn.clone().map(|t| (aws_sdk_sns::Client::new(sdk), t)),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            slack: Secret::new(&config.slack_webhook_secret_arn),
            teams: Secret::new(&config.teams_webhook_secret_arn),
            pagerduty: Secret::new(&config.pagerduty_routing_key_secret_arn),
            pagerduty_url: (config.pagerduty_events_url.clone()).unwrap_or_else(|| pagerduty::EVENTS_URL.into()),
            http,
        }
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    pub fn is_configured(&self) -> bool {
        self.sns.is_some() || self.slack.is_some() || self.teams.is_some() || self.pagerduty.is_some()
    }

    async fn slack_url(&self) -> Result<Option<&str>, PublishError> {
        let Some(s) = &self.slack else { return Ok(None) };
        let url = s.value.get_or_try_init(|| slack::webhook_url(&self.secrets, &s.arn)).await?;
        Ok(Some(url.as_str()))
    }

    async fn teams_url(&self) -> Result<Option<&str>, PublishError> {
        let Some(s) = &self.teams else { return Ok(None) };
        let url = (s.value)
            .get_or_try_init(|| webhook::url_secret(&self.secrets, &s.arn, "the Teams webhook", &["url", "webhook_url", "webhookUrl"]))
            .await?;
        Ok(Some(url.as_str()))
    }

    async fn pagerduty_key(&self) -> Result<Option<&str>, PublishError> {
        let Some(s) = &self.pagerduty else { return Ok(None) };
        let key = s.value.get_or_try_init(|| pagerduty::routing_key(&self.secrets, &s.arn)).await?;
        Ok(Some(key.as_str()))
    }

    /// Sends `m` through every configured channel at once, each at most once per alarm
    /// transition (`record_as` + the channel), each bounded by `deadline`. Returns the failures.
    async fn everywhere(
        &self,
        req: Option<&Request>,
        record_as: &str,
        m: Messages,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<PublishError> {
        type Delivery<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), PublishError>> + Send + 'a>>;
        let m = &m;
        // Only the configured channels: one that is not is neither sent nor recorded.
        let mut sends: Vec<(&'static str, &'static str, Delivery<'_>)> = Vec::new();
        if let Some((client, topic)) = &self.sns {
            sends.push((
                "SNS",
                "sns",
                Box::pin(async move {
                    sns::publish(client, topic, &(m.sns)(self.sns_chatbot))
                        .await
                        .map(|id| tracing::info!(message_id = %id, "published to SNS"))
                }),
            ));
        }
        if self.slack.is_some() {
            sends.push((
                "Slack",
                "slack",
                Box::pin(async move {
                    let url = self.slack_url().await?.unwrap_or_default();
                    slack::post(&self.http, url, &m.slack).await
                }),
            ));
        }
        if self.teams.is_some() {
            sends.push((
                "Teams",
                "teams",
                Box::pin(async move {
                    let url = self.teams_url().await?.unwrap_or_default();
                    webhook::post(&self.http, "Teams", url, &m.teams).await.map(|_| ())
                }),
            ));
        }
        if self.pagerduty.is_some() {
            sends.push((
                "PagerDuty",
                "pagerduty",
                Box::pin(async move {
                    let key = self.pagerduty_key().await?.unwrap_or_default();
                    pagerduty::send(&self.http, &self.pagerduty_url, key, m.pagerduty.clone()).await
                }),
            ));
        }
        let keys: Vec<String> = sends.iter().map(|(_, k, _)| format!("{k}{record_as}")).collect();
        let runs = (sends.into_iter().zip(&keys)).map(|((channel, _, send), key)| Box::pin(self.once(req, channel, key, deadline, send)));
        futures::future::join_all(runs).await.into_iter().filter_map(Result::err).collect()
    }

    /// Publishes a diagnosis to every configured channel at once, each bounded by `deadline`
    /// (the invocation's): a channel still waiting then is a failure, not a timed-out
    /// invocation. A failing channel does not stop the others. Returns the failures.
    pub async fn diagnosis(
        &self,
        d: &Diagnosis,
        req: &Request,
        load_balancers: &[String],
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<PublishError> {
        let (dd, rr, lbs) = (d.clone(), req.clone(), load_balancers.to_vec());
        let m = Messages {
            sns: Box::new(move |chatbot| match chatbot {
                true => render::sns::chatbot(&dd, &rr, &lbs),
                false => render::sns::message(&dd, &rr),
            }),
            slack: self
                .slack
                .as_ref()
                .map_or(Value::Null, |_| render::slack::blocks(d, req, load_balancers)),
            teams: self
                .teams
                .as_ref()
                .map_or(Value::Null, |_| render::teams::card(d, req, load_balancers)),
            pagerduty: self
                .pagerduty
                .as_ref()
                .map_or(Value::Null, |_| render::pagerduty::trigger(d, req, load_balancers)),
        };
        self.everywhere(Some(req), "", m, deadline).await
    }

    /// Delivers through one channel at most once per alarm transition and target group: a
    /// channel the ledger says is done is skipped; an unreachable ledger never stops a delivery
    /// (at least once beats not at all). Without a ledger or a transition, simply delivers.
    /// The delivery itself is bounded by `deadline`, and recorded either way.
    async fn once(
        &self,
        req: Option<&Request>,
        channel: &'static str,
        record_as: &str,
        deadline: Option<tokio::time::Instant>,
        send: impl std::future::Future<Output = Result<(), PublishError>>,
    ) -> Result<(), PublishError> {
        let transition = req.and_then(|r| Some((r.alarm.as_ref()?.transition()?, &r.target_group_arn)));
        let entry = match (&self.ledger, transition) {
            (Some(l), Some((t, tg))) => Some((l, ledger::key(&t, tg, record_as))),
            _ => None,
        };
        if let Some((l, k)) = &entry {
            let left = deadline.map_or(ledger::CLAIM_WITHOUT_DEADLINE, |d| {
                d.saturating_duration_since(tokio::time::Instant::now())
            });
            match l.claim(k, std::time::SystemTime::now() + left).await {
                Ok(Claim::Taken) => {
                    tracing::info!(channel, "already delivered for this alarm transition: skipped");
                    return Ok(());
                }
                Ok(Claim::Granted) => {}
                Err(e) => tracing::warn!(channel, error = %e, "delivery ledger unavailable: delivering without it"),
            }
        }
        let res = by(deadline, channel, send).await;
        if let Some((l, k)) = &entry {
            if let Err(e) = l.settle(k, res.is_ok()).await {
                tracing::warn!(channel, error = %e, "could not record the delivery");
            }
        }
        res
    }

    /// Says that one target group of an alarm could not be diagnosed while others were,
    /// through every channel, recorded like a diagnosis (a retry does not repeat it) but apart
    /// from it (a later retry may still deliver the diagnosis).
    pub async fn not_diagnosed(&self, req: &Request, error: &str, deadline: Option<tokio::time::Instant>) -> Vec<PublishError> {
        let (rr, e) = (req.clone(), error.to_string());
        let m = Messages {
            sns: Box::new(move |_| render::sns::not_diagnosed(&rr, &e)),
            slack: render::slack::not_diagnosed(req, error),
            teams: render::teams::not_diagnosed(req, error),
            pagerduty: render::pagerduty::not_diagnosed(req, error),
        };
        self.everywhere(Some(req), "-not-diagnosed", m, deadline).await
    }

    /// The short "recovered" notice for an alarm back in OK; PagerDuty resolves the alert its
    /// trigger opened (the same key).
    pub async fn recovered(&self, alarm: &Alarm) -> Vec<PublishError> {
        let name = alarm.name.clone();
        let m = Messages {
            sns: Box::new(move |chatbot| match chatbot {
                true => render::sns::chatbot_recovered(&name),
                false => render::sns::recovered(&name),
            }),
            slack: render::slack::recovered(&alarm.name),
            teams: render::teams::recovered(&alarm.name),
            pagerduty: render::pagerduty::resolve(alarm),
        };
        // Not recorded in the ledger: an OK has no target group, and a repeated notice is harmless.
        self.everywhere(None, "-recovered", m, None).await
    }
}

/// Runs one channel's delivery, failing it at `deadline`.
async fn by(
    deadline: Option<tokio::time::Instant>,
    channel: &'static str,
    f: impl std::future::Future<Output = Result<(), PublishError>>,
) -> Result<(), PublishError> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, f)
            .await
            .unwrap_or(Err(PublishError::Deadline { channel })),
        None => f.await,
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_still_waiting_at_the_deadline_fails_instead_of_holding_the_invocation() {
        // GIVEN a channel that never answers, and a deadline 20 ms away
        let at = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
        let never = std::future::pending::<Result<(), PublishError>>();
        // WHEN delivered under it THEN it fails, naming the channel
        let err = by(Some(at), "Slack", never).await.unwrap_err();
        assert_eq!(err.to_string(), "Slack did not answer before the invocation's deadline");
        // AND one that answers in time is untouched
        assert!(by(
            Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5)),
            "SNS",
            async { Ok(()) }
        )
        .await
        .is_ok());
    }
}
