//! The Lambda handler, kept free of the runtime so tests drive it directly: payload in,
//! response JSON out. Each diagnosis is logged (one summary line, then the full diagnosis as one
//! JSON line) before anything is published; a channel that fails does not stop the others, and
//! makes the invocation fail so that the event is retried or lands in the failure destination.

use aws_config::SdkConfig;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::collect::KubeAccess;
use crate::config::Config;
use crate::error::{Error, PublishError, Result};
use crate::pipeline::Pipeline;
use crate::trigger::{self, Request, Trigger};

/// Target groups of one invocation diagnosed at the same time.
pub const TARGET_GROUPS_AT_ONCE: usize = 4;

pub use crate::pipeline::PUBLISH_MARGIN;

pub struct Handler {
    pipeline: Pipeline,
}

impl Handler {
    /// Builds the clients once per container: Kubernetes through KUBECONFIG if set, else EKS.
    pub async fn new(config: Config) -> Handler {
        let sdk = crate::aws_sdk_config(config.region.as_deref()).await;
        let kube = match &config.kubeconfig {
            Some(path) => Some(KubeAccess::from_kubeconfig(Some(path)).await),
            None => None,
        };
        Self::with_clients(sdk, kube, config)
    }

    /// With clients built elsewhere (tests point them at the local stack explicitly).
    pub fn with_clients(sdk: SdkConfig, kube: Option<KubeAccess>, config: Config) -> Handler {
        Handler {
            pipeline: Pipeline::new(sdk, kube, config),
        }
    }

    /// One invocation. A manual payload or a one-target-group alarm returns the diagnosis JSON;
    /// an alarm over several target groups returns `{"diagnoses": [...], "errors": [...]}`.
    pub async fn handle(&self, payload: &Value) -> Result<Value> {
        self.handle_until(payload, None).await
    }

    /// The same, bounded by the invocation's deadline: collection stops `PUBLISH_MARGIN` before
    /// it, and what is known is published rather than timing out with nothing.
    pub async fn handle_until(&self, payload: &Value, deadline: Option<tokio::time::Instant>) -> Result<Value> {
        let collect_by = deadline.map(|d| d.checked_sub(PUBLISH_MARGIN).unwrap_or_else(tokio::time::Instant::now));
        // Who may point us where: refused requests are not retried (InvalidPayload).
        self.pipeline
            .config()
            .admit_sns(payload)
            .map_err(|why| Error::Trigger(trigger::TriggerError::Invalid(why)))?;
        let requests = match trigger::parse_value(payload)? {
            Trigger::Acknowledge(alarm) => {
                info!(alarm = %alarm.name, state = %alarm.state, "alarm is not in ALARM: nothing to diagnose");
                let notify = self.pipeline.config().notify_on_ok && alarm.state == "OK";
                if notify {
                    let failed = self.pipeline.publisher().recovered(&alarm).await;
                    if !failed.is_empty() {
                        return Err(Error::Publish(failed));
                    }
                }
                return Ok(json!({"acknowledged": true, "alarm": alarm.name, "state": alarm.state, "notified": notify}));
            }
            Trigger::Diagnose(reqs) => reqs,
        };
        // A metric-math alarm can name many target groups: a few at a time, in order, so one
        // invocation never opens dozens of diagnoses against the same APIs at once.
        let results: Vec<Result<(Value, Vec<PublishError>)>> = {
            use futures::stream::StreamExt;
            futures::stream::iter(requests.iter().map(|r| Box::pin(self.one(r, collect_by))))
                .buffered(TARGET_GROUPS_AT_ONCE)
                .collect()
                .await
        };
        let mut diagnoses = Vec::new();
        let mut errors = Vec::new();
        let mut publish_failures = Vec::new();
        for (req, res) in requests.iter().zip(results) {
            match res {
                Ok((d, failed)) => {
                    diagnoses.push(d);
                    publish_failures.extend(failed);
                }
                Err(e) => {
                    warn!(target_group = %req.target_group_arn, error = %e, "could not diagnose");
                    errors.push((req, e));
                }
            }
        }
        // Some target groups diagnosed, others not: the failures are published too (an alarm's
        // reader must not mistake a partial answer for the whole), bounded like the rest.
        if !diagnoses.is_empty() {
            for (req, e) in errors.iter().filter(|(req, _)| req.publish) {
                publish_failures.extend(self.pipeline.publisher().not_diagnosed(req, &e.to_string(), deadline).await);
            }
        }
        if !publish_failures.is_empty() {
            return Err(Error::Publish(publish_failures));
        }
        if diagnoses.is_empty() {
            // Nothing to return: surface the (first) error so the invocation fails visibly.
            return Err(errors.into_iter().next().map(|(_, e)| e).expect("at least one request"));
        }
        if requests.len() == 1 {
            return Ok(diagnoses.remove(0));
        }
        let errors: Vec<Value> = errors
            .iter()
            .map(|(req, e)| json!({"targetGroupArn": req.target_group_arn, "error": e.to_string()}))
            .collect();
        Ok(json!({"diagnoses": diagnoses, "errors": errors}))
    }

    /// One request through the shared pipeline: the diagnosis JSON and the channels that failed.
    async fn one(&self, req: &Request, deadline: Option<tokio::time::Instant>) -> Result<(Value, Vec<PublishError>)> {
        let outcome = self.pipeline.run_request(req, deadline, req.publish).await?;
        Ok((serde_json::to_value(&outcome.diagnosis)?, outcome.publish_failures))
    }
}

/// Lambda error types: bad payloads are not worth retrying; the rest may be.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        let error_type = match &e {
            Error::Publish(_) => "PublishFailed",
            _ if e.exit_code() == 2 => "InvalidPayload",
            _ => "DiagnosisFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
