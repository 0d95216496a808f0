//! The library's error type. Only failures that stop a diagnosis outright live here: a failed
//! API call during collection is *data* (see `snapshot::Missing`), never an `Error`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The payload is not one we accept (CLI exit 2, Lambda non-retryable).
    #[error(transparent)]
    Trigger(#[from] crate::trigger::TriggerError),

    /// Configuration (environment or flags) is invalid (CLI exit 2).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The target group does not exist: nothing to diagnose (CLI exit 3).
    #[error("target group {arn} not found in {region}: {message}")]
    TargetGroupNotFound { arn: String, region: String, message: String },

    /// The AWS side could not be reached at all (no credentials, no endpoint): exit 3.
    #[error("cannot query AWS ({api}): {message}")]
    AwsUnavailable { api: String, message: String },

    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a snapshot this version can replay: {source}")]
    Snapshot {
        path: PathBuf,
        #[source]
        source: crate::snapshot::SnapshotError,
    },

    #[error("cannot serialise: {0}")]
    Serialise(#[from] serde_json::Error),

    /// The diagnosis was made (and logged) but a channel failed: the event should be retried.
    #[error("publishing failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Publish(Vec<PublishError>),
}

/// One channel that failed to publish (SNS, Slack, PagerDuty, Teams). Declared here, beside [`Error`] that
/// carries it, so that the error type depends on no module that does I/O.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("SNS Publish to {topic} failed: {message}")]
    Sns { topic: String, message: String },
    /// A channel's webhook URL or key (`what`: "the Slack webhook", …) could not be read.
    #[error("cannot read {what} from Secrets Manager ({secret}): {message}")]
    Secret {
        channel: &'static str,
        what: &'static str,
        secret: String,
        message: String,
    },
    /// The channel answered with an error it will answer again (Slack's invalid_payload,
    /// channel_not_found; PagerDuty's "invalid event"; …): not retried.
    #[error("{channel} rejected the message: HTTP {status} {code}")]
    Rejected { channel: &'static str, status: u16, code: String },
    #[error("{channel} could not be reached after {attempts} attempts: {message}")]
    Unreachable {
        channel: &'static str,
        attempts: u32,
        message: String,
    },
    /// The invocation's deadline came before the channel answered.
    #[error("{channel} did not answer before the invocation's deadline")]
    Deadline { channel: &'static str },
}

impl PublishError {
    /// The channel that failed, as metrics and logs name it.
    pub fn channel(&self) -> &'static str {
        match self {
            PublishError::Sns { .. } => "SNS",
            PublishError::Secret { channel, .. }
            | PublishError::Rejected { channel, .. }
            | PublishError::Unreachable { channel, .. }
            | PublishError::Deadline { channel } => channel,
        }
    }
}

impl Error {
    /// The CLI exit code (ARCHITECTURE.md, "Contracts"): 2 bad input, 3 could not diagnose.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Trigger(_) | Error::Config(_) | Error::Snapshot { .. } | Error::ReadFile { .. } => 2,
            _ => 3,
        }
    }
}
