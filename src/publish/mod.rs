//! Publishing: the other module (with `collect`) that talks to the network. SNS for email and
//! machines, Slack for people; each channel fails on its own, and a failure is an error the
//! caller reports after the other channels have published.

pub mod slack;
pub mod sns;

use crate::diagnosis::{Diagnosis, VerdictStatus};
use crate::trigger::Request;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("SNS Publish to {topic} failed: {message}")]
    Sns { topic: String, message: String },
    #[error("cannot read the Slack webhook from Secrets Manager ({secret}): {message}")]
    SlackSecret { secret: String, message: String },
    /// Slack answered with an error code (invalid_payload, channel_not_found, …).
    #[error("Slack rejected the message: HTTP {status} {code}")]
    SlackRejected { status: u16, code: String },
    #[error("Slack could not be reached after {attempts} attempts: {message}")]
    SlackUnreachable { attempts: u32, message: String },
}

/// "PROBLEM", "HEALTHY", "INCONCLUSIVE".
pub fn status_word(d: &Diagnosis) -> &'static str {
    match d.verdict.status {
        VerdictStatus::Healthy => "HEALTHY",
        VerdictStatus::Problem => "PROBLEM",
        VerdictStatus::Inconclusive => "INCONCLUSIVE",
    }
}

/// `ns/name` of the Service, or the target group's name when there is none.
pub fn subject_of(d: &Diagnosis) -> String {
    d.service
        .as_ref()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .unwrap_or_else(|| d.target_group.name.clone())
}

/// The AWS console page of a target group / load balancer.
pub fn console_link(region: &str, kind: &str, arn: &str) -> String {
    let anchor = if kind == "TargetGroup" {
        format!("TargetGroup:targetGroupArn={arn}")
    } else {
        format!("LoadBalancer:loadBalancerArn={arn}")
    };
    format!("https://{region}.console.aws.amazon.com/ec2/home?region={region}#{anchor}")
}

/// The alarm name, when a request came from one.
pub fn alarm_of(req: &Request) -> Option<&str> {
    req.alarm.as_ref().map(|a| a.name.as_str())
}

/// The configured channels, with their clients built once (per container on Lambda).
pub struct Publisher {
    sns: Option<(aws_sdk_sns::Client, String)>,
    slack: Option<(aws_sdk_secretsmanager::Client, String)>,
    http: reqwest::Client,
    /// The webhook URL, read once per container.
    slack_url: tokio::sync::OnceCell<String>,
}

impl Publisher {
    /// From the function's own AWS configuration (publishing happens in its own account).
    pub fn new(sdk: &aws_config::SdkConfig, config: &crate::Config) -> Publisher {
        Publisher {
            sns: config.sns_topic_arn.clone().map(|t| (aws_sdk_sns::Client::new(sdk), t)),
            slack: config
                .slack_webhook_secret_arn
                .clone()
                .map(|s| (aws_sdk_secretsmanager::Client::new(sdk), s)),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            slack_url: tokio::sync::OnceCell::new(),
        }
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
    pub async fn diagnosis(&self, d: &Diagnosis, req: &Request, load_balancers: &[String]) -> Vec<PublishError> {
        let sns = async {
            match &self.sns {
                Some((client, topic)) => sns::publish(client, topic, &sns::message(d, req))
                    .await
                    .map(|id| tracing::info!(message_id = %id, "published to SNS")),
                None => Ok(()),
            }
        };
        let slack = async {
            match self.slack_url().await? {
                Some(url) => slack::post(&self.http, url, &slack::blocks(d, req, load_balancers)).await,
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(sns, slack);
        [a.err(), b.err()].into_iter().flatten().collect()
    }

    /// The short "recovered" notice for an alarm back in OK.
    pub async fn recovered(&self, alarm: &str) -> Vec<PublishError> {
        let sns = async {
            match &self.sns {
                Some((client, topic)) => sns::publish(client, topic, &sns::recovered(alarm)).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let slack = async {
            match self.slack_url().await? {
                Some(url) => slack::post(&self.http, url, &slack::recovered(alarm)).await,
                None => Ok(()),
            }
        };
        let (a, b) = tokio::join!(sns, slack);
        [a.err(), b.err()].into_iter().flatten().collect()
    }
}
