//! Publishing: sends what `render` builds to SNS (email and machines) and Slack (people). Each
//! channel fails on its own, and a failure is an error the caller reports after the other
//! channels have published. One of the three modules that do I/O (with `collect` and
//! `remediate`).

pub mod ledger;
pub mod slack;
pub mod sns;

use ledger::{Claim, Ledger};

use crate::diagnosis::Diagnosis;
pub use crate::error::PublishError;
use crate::render;
use crate::trigger::Request;

/// The configured channels, with their clients built once (per container on Lambda).
pub struct Publisher {
    sns: Option<(aws_sdk_sns::Client, String)>,
    /// The topic takes Amazon Q Developer's custom notifications (`SNS_FORMAT=chatbot`).
    sns_chatbot: bool,
    slack: Option<(aws_sdk_secretsmanager::Client, String)>,
    http: reqwest::Client,
    /// The webhook URL, read once per container.
    slack_url: tokio::sync::OnceCell<String>,
    /// What was delivered per alarm transition (`DELIVERY_TABLE`), when configured.
    ledger: Option<Ledger>,
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
            slack: config
                .slack_webhook_secret_arn
                .clone()
                .map(|s| (aws_sdk_secretsmanager::Client::new(sdk), s)),
            http,
            slack_url: tokio::sync::OnceCell::new(),
        }
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    pub fn is_configured(&self) -> bool {
        self.sns.is_some() || self.slack.is_some()
    }

    async fn slack_url(&self) -> Result<Option<&str>, PublishError> {
        let Some((client, secret)) = &self.slack else { return Ok(None) };
        let url = self.slack_url.get_or_try_init(|| slack::webhook_url(client, secret)).await?;
        Ok(Some(url.as_str()))
    }

    /// Publishes to every configured channel; a failing channel does not stop the others.
    /// Returns the failures.
    /// Publishes to every configured channel at once, each bounded by `deadline` (the
    /// invocation's): a channel still waiting then is a failure, not a timed-out invocation.
    pub async fn diagnosis(
        &self,
        d: &Diagnosis,
        req: &Request,
        load_balancers: &[String],
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<PublishError> {
        let sns = async {
            match &self.sns {
                Some((client, topic)) => {
                    let m = match self.sns_chatbot {
                        true => render::sns::chatbot(d, req, load_balancers),
                        false => render::sns::message(d, req),
                    };
                    sns::publish(client, topic, &m)
                        .await
                        .map(|id| tracing::info!(message_id = %id, "published to SNS"))
                }
                None => Ok(()),
            }
        };
        let slack = async {
            match self.slack_url().await? {
                Some(url) => slack::post(&self.http, url, &render::slack::blocks(d, req, load_balancers)).await,
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(
            self.once(req, "SNS", "sns", deadline, sns),
            self.once(req, "Slack", "slack", deadline, slack)
        );
        [a.err(), b.err()].into_iter().flatten().collect()
    }

    /// Delivers through one channel at most once per alarm transition and target group: a
    /// channel the ledger says is done is skipped; an unreachable ledger never stops a delivery
    /// (at least once beats not at all). Without a ledger or a transition, simply delivers.
    /// The delivery itself is bounded by `deadline`, and recorded either way.
    async fn once(
        &self,
        req: &Request,
        channel: &'static str,
        record_as: &str,
        deadline: Option<tokio::time::Instant>,
        send: impl std::future::Future<Output = Result<(), PublishError>>,
    ) -> Result<(), PublishError> {
        let entry = match (&self.ledger, req.alarm.as_ref().and_then(crate::trigger::Alarm::transition)) {
            (Some(l), Some(t)) => Some((l, ledger::key(&t, &req.target_group_arn, record_as))),
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
    /// through every channel, recorded like a diagnosis (a retry does not repeat it).
    pub async fn not_diagnosed(&self, req: &Request, error: &str, deadline: Option<tokio::time::Instant>) -> Vec<PublishError> {
        let sns = async {
            match &self.sns {
                Some((client, topic)) => sns::publish(client, topic, &render::sns::not_diagnosed(req, error))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let slack = async {
            match self.slack_url().await? {
                Some(url) => slack::post(&self.http, url, &render::slack::not_diagnosed(req, error)).await,
                None => Ok(()),
            }
        };
        // Recorded apart from a diagnosis, which a later retry may still deliver.
        let (a, b) = tokio::join!(
            self.once(req, "SNS", "sns-not-diagnosed", deadline, sns),
            self.once(req, "Slack", "slack-not-diagnosed", deadline, slack)
        );
        [a.err(), b.err()].into_iter().flatten().collect()
    }

    /// The short "recovered" notice for an alarm back in OK.
    pub async fn recovered(&self, alarm: &str) -> Vec<PublishError> {
        let sns = async {
            match &self.sns {
                Some((client, topic)) => {
                    let m = match self.sns_chatbot {
                        true => render::sns::chatbot_recovered(alarm),
                        false => render::sns::recovered(alarm),
                    };
                    sns::publish(client, topic, &m).await.map(|_| ())
                }
                None => Ok(()),
            }
        };
        let slack = async {
            match self.slack_url().await? {
                Some(url) => slack::post(&self.http, url, &render::slack::recovered(alarm)).await,
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(sns, slack);
        [a.err(), b.err()].into_iter().flatten().collect()
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
