//! The Lambda handler, kept free of the runtime so tests drive it directly: payload in,
//! response JSON out. Every diagnosis is logged as one JSON line before it is returned.

use aws_config::SdkConfig;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::collect::KubeAccess;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::trigger::{self, Trigger};

pub struct Handler {
    sdk: SdkConfig,
    kube: KubeAccess,
    config: Config,
}

impl Handler {
    /// Builds the clients once per container.
    pub async fn new(config: Config) -> Handler {
        let sdk = crate::aws_sdk_config(config.region.as_deref()).await;
        let kube = KubeAccess::from_kubeconfig(config.kubeconfig.as_deref()).await;
        Handler { sdk, kube, config }
    }

    /// With clients built elsewhere (tests point them at the local stack explicitly).
    pub fn with_clients(sdk: SdkConfig, kube: KubeAccess, config: Config) -> Handler {
        Handler { sdk, kube, config }
    }

    /// One invocation. A manual payload or a one-target-group alarm returns the diagnosis JSON;
    /// an alarm over several target groups returns `{"diagnoses": [...], "errors": [...]}`.
    pub async fn handle(&self, payload: &Value) -> Result<Value> {
        let requests = match trigger::parse_value(payload)? {
            Trigger::Acknowledge(alarm) => {
                info!(alarm = %alarm.name, state = %alarm.state, "alarm is not in ALARM: nothing to diagnose");
                return Ok(json!({"acknowledged": true, "alarm": alarm.name, "state": alarm.state}));
            }
            Trigger::Diagnose(reqs) => reqs,
        };
        let runs = requests.iter().map(|req| crate::diagnose(&self.sdk, &self.kube, req, &self.config));
        let results = futures::future::join_all(runs).await;
        let mut diagnoses = Vec::new();
        let mut errors = Vec::new();
        for (req, res) in requests.iter().zip(results) {
            match res {
                Ok((_, mut d)) => {
                    crate::remediate::run(&self.kube, &mut d, &self.config.remediate).await;
                    let line = serde_json::to_string(&d)?;
                    let root_cause = d.verdict.root_cause.map(|c| c.as_str()).unwrap_or("none");
                    info!(target_group = %req.target_group_arn, status = ?d.verdict.status, root_cause, diagnosis = %line, "diagnosis");
                    diagnoses.push(serde_json::to_value(&d)?);
                }
                Err(e) => {
                    warn!(target_group = %req.target_group_arn, error = %e, "could not diagnose");
                    errors.push((req.target_group_arn.clone(), e));
                }
            }
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
            .map(|(arn, e)| json!({"targetGroupArn": arn, "error": e.to_string()}))
            .collect();
        Ok(json!({"diagnoses": diagnoses, "errors": errors}))
    }
}

/// Lambda error types: bad payloads are not worth retrying; the rest may be.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        let error_type = match e.exit_code() {
            2 => "InvalidPayload",
            _ => "DiagnosisFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
