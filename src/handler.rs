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

pub use crate::pipeline::TARGET_GROUPS_AT_ONCE;

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
    /// several target groups return the pass's report (`fleet::FleetReport`: `groups`,
    /// `commonCauses`, `diagnoses`) with `errors: [{targetGroupArn, error}]`.
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
            // (Boxed, as the passes below: their futures are large; keep them off the stack.)
            Trigger::Scan(scan) => return Box::pin(self.scan(scan, deadline, collect_by)).await,
        };
        if requests.len() == 1 {
            let (d, failed) = Box::pin(self.one(&requests[0], collect_by)).await?;
            if !failed.is_empty() {
                return Err(Error::Publish(failed));
            }
            return Ok(d);
        }
        Box::pin(self.pass(&requests, deadline, collect_by)).await
    }

    /// Several target groups at once (a metric-math alarm, a batch of alarms): one shared
    /// evidence pass (`collect::shared`), a few diagnoses at a time, and one message per channel
    /// for all of them, with their common causes (`fleet`). A target group that cannot be
    /// diagnosed is a row of the report, never dropped.
    async fn pass(
        &self,
        requests: &[Request],
        deadline: Option<tokio::time::Instant>,
        collect_by: Option<tokio::time::Instant>,
    ) -> Result<Value> {
        let shared = std::sync::Arc::new(crate::collect::shared::Shared::pass());
        let pipeline = &self.pipeline;
        Box::pin(pipeline.prime_pass(&shared, requests)).await;
        let results = Box::pin(pipeline.diagnose_pass(&shared, requests, collect_by)).await;
        info!(target_groups = requests.len(), shared_reads = shared.reads(), "pass diagnosed");
        let mut diagnoses = Vec::new();
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        let mut first_error = None;
        for (req, res) in requests.iter().zip(results) {
            match res {
                Ok(d) => diagnoses.push(d),
                Err(e) => {
                    warn!(target_group = %req.target_group_arn, error = %e, "could not diagnose");
                    rows.push(crate::fleet::error_row(&req.target_group_arn, &e.to_string()));
                    errors.push(json!({"targetGroupArn": req.target_group_arn, "error": e.to_string()}));
                    first_error.get_or_insert(e);
                }
            }
        }
        if diagnoses.is_empty() {
            // Nothing diagnosed: the invocation fails visibly with the first error.
            return Err(first_error.expect("a request failed"));
        }
        let alarms: std::collections::BTreeSet<&str> = requests.iter().filter_map(|r| r.alarm.as_ref().map(|a| a.name.as_str())).collect();
        let kind = if alarms.len() > 1 { "storm" } else { "alarm" };
        let report = crate::fleet::report(kind, rows, diagnoses);
        info!(status = ?report.status, summary = %report.summary, common_causes = report.common_causes.len(), "pass summary");
        if requests.iter().any(|r| r.publish) {
            // One alarm: its own alert and thread; several: the storm's.
            let first = requests.iter().find(|r| r.alarm.is_some());
            let key = format!("eks-lb-doctor/storm/{}", alarms.iter().copied().collect::<Vec<_>>().join(","));
            let alarm = first.filter(|_| alarms.len() == 1);
            let failed = self
                .pipeline
                .publisher()
                .fleet(&report, alarm.or(first), alarm.is_some(), &key, deadline)
                .await;
            if !failed.is_empty() {
                return Err(Error::Publish(failed));
            }
        }
        let mut out = serde_json::to_value(&report)?;
        out["errors"] = Value::Array(errors);
        Ok(out)
    }

    /// The scheduled scan: the cluster's target groups in one pass, published only when something
    /// is not healthy and what is wrong differs from the last published scan (the state is an item
    /// in DELIVERY_TABLE; without one, every scan that finds a problem publishes).
    async fn scan(
        &self,
        mut scan: trigger::ScanRequest,
        deadline: Option<tokio::time::Instant>,
        collect_by: Option<tokio::time::Instant>,
    ) -> Result<Value> {
        let config = self.pipeline.config();
        if scan.region.is_empty() {
            scan.region = (config.region.clone()).ok_or_else(|| {
                Error::Trigger(trigger::TriggerError::Invalid(
                    "scan payload: no region, and AWS_REGION is unset".into(),
                ))
            })?;
        }
        let report = Box::pin(self.pipeline.scan(&scan, collect_by)).await?;
        let found = crate::fleet::fingerprint(&report);
        let cluster = scan.cluster.clone().or_else(|| config.default_cluster.clone()).unwrap_or_default();
        let key = format!("scan|{}|{cluster}|{}", scan.region, scan.namespace.as_deref().unwrap_or(""));
        let publisher = self.pipeline.publisher();
        let last = match publisher.ledger() {
            Some(l) => l.scan_state(&key).await.unwrap_or_else(|e| {
                warn!(error = %e, "scan state unreadable: publishing if anything is wrong");
                None
            }),
            None => None,
        };
        let publish = !found.is_empty() && last.as_deref() != Some(found.as_str());
        info!(status = ?report.status, summary = %report.summary, publish, "scan");
        if publish {
            let failed = publisher
                .fleet(&report, None, false, &format!("eks-lb-doctor/{key}"), deadline)
                .await;
            if !failed.is_empty() {
                return Err(Error::Publish(failed));
            }
        }
        // Recorded once published (or once all is well again): a failed delivery is retried next time.
        if let (Some(l), true) = (
            publisher.ledger(),
            publish || (found.is_empty() && last.as_deref().is_some_and(|l| !l.is_empty())),
        ) {
            if let Err(e) = l.record_scan(&key, &found).await {
                warn!(error = %e, "could not record the scan's state: the next scan may publish again");
            }
        }
        let mut out = serde_json::to_value(&report)?;
        out["published"] = Value::Bool(publish);
        Ok(out)
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
