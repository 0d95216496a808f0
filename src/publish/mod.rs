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

/// What each configured channel sends for one event (`None` for a channel not configured).
struct Messages {
    sns: Option<render::sns::SnsMessage>,
    slack: Option<Value>,
    teams: Option<Value>,
    pagerduty: Option<Value>,
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

    /// Builds each configured channel's message, and only those: `sns` is told whether the
    /// topic takes Amazon Q Developer's notifications.
    fn messages(
        &self,
        sns: impl FnOnce(bool) -> render::sns::SnsMessage,
        slack: impl FnOnce() -> Value,
        teams: impl FnOnce() -> Value,
        pagerduty: impl FnOnce() -> Value,
    ) -> Messages {
        Messages {
            sns: self.sns.as_ref().map(|_| sns(self.sns_chatbot)),
            slack: self.slack.as_ref().map(|_| slack()),
            teams: self.teams.as_ref().map(|_| teams()),
            pagerduty: self.pagerduty.as_ref().map(|_| pagerduty()),
        }
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
        if let (Some((client, topic)), Some(message)) = (&self.sns, &m.sns) {
            let send = async move {
                let id = sns::publish(client, topic, message).await?;
                tracing::info!(message_id = %id, "published to SNS");
                Ok(())
            };
            sends.push(("SNS", "sns", Box::pin(send)));
        }
        if let (Some(s), Some(body)) = (&self.slack, &m.slack) {
            let send = async move {
                let url = s.value.get_or_try_init(|| slack::webhook_url(&self.secrets, &s.arn)).await?;
                slack::post(&self.http, url, body).await
            };
            sends.push(("Slack", "slack", Box::pin(send)));
        }
        if let (Some(s), Some(body)) = (&self.teams, &m.teams) {
            let send = async move {
                let keys = ["url", "webhook_url", "webhookUrl"];
                let read = || webhook::url_secret(&self.secrets, &s.arn, ("Teams", "the Teams webhook"), &keys);
                let url = s.value.get_or_try_init(read).await?;
                webhook::post(&self.http, "Teams", url, body).await.map(|_| ())
            };
            sends.push(("Teams", "teams", Box::pin(send)));
        }
        if let (Some(s), Some(event)) = (&self.pagerduty, &m.pagerduty) {
            let send = async move {
                let key = s.value.get_or_try_init(|| pagerduty::routing_key(&self.secrets, &s.arn)).await?;
                pagerduty::send(&self.http, &self.pagerduty_url, key, event.clone()).await
            };
            sends.push(("PagerDuty", "pagerduty", Box::pin(send)));
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
        let m = self.messages(
            |chatbot| match chatbot {
                true => render::sns::chatbot(d, req, load_balancers),
                false => render::sns::message(d, req),
            },
            || render::slack::blocks(d, req, load_balancers),
            || render::teams::card(d, req, load_balancers),
            || render::pagerduty::trigger(d, req, load_balancers),
        );
        self.everywhere(Some(req), "", m, deadline).await
    }

    /// Publishes the report of a pass over many target groups as one message per channel.
    /// `req` (the pass's first alarm request, if an alarm started it) records the delivery in
    /// the ledger so a retried invocation does not repeat it; `key` threads it (PagerDuty's
    /// dedup key, Q Developer's thread), unless `alarm_key`: then the alarm's own key is used,
    /// so its OK resolves the alert.
    pub async fn fleet(
        &self,
        r: &crate::fleet::FleetReport,
        req: Option<&Request>,
        alarm_key: bool,
        key: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<PublishError> {
        let alarm = req.and_then(|r| r.alarm.as_ref()).filter(|_| alarm_key);
        let key = &alarm.map_or_else(|| key.to_string(), |a| render::pagerduty::dedup_key(Some(a), ""));
        let thread = render::chatbot::thread_id(Some(key), "");
        let m = self.messages(
            |chatbot| match chatbot {
                true => render::sns::with_machine_body(render::fleet::sns(r), &render::fleet::chatbot(r, &thread)),
                false => render::fleet::sns(r),
            },
            || render::fleet::slack(r),
            || render::fleet::teams(r),
            || render::fleet::pagerduty(r, key),
        );
        self.everywhere(req, "-pass", m, deadline).await
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

    /// The short "recovered" notice for an alarm back in OK; PagerDuty resolves the alert its
    /// trigger opened (the same key).
    pub async fn recovered(&self, alarm: &Alarm) -> Vec<PublishError> {
        let name = alarm.name.as_str();
        let m = self.messages(
            |chatbot| match chatbot {
                true => render::sns::chatbot_recovered(name),
                false => render::sns::recovered(name),
            },
            || render::slack::recovered(name),
            || render::teams::recovered(name),
            || render::pagerduty::resolve(alarm),
        );
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
