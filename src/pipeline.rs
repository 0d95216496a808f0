//! One request, end to end, the same for the CLI and the Lambda: credentials (our own or a role
//! in the alarm's account) → the cluster, chosen once in the documented order → collect →
//! snapshot → checks → diagnosis → opt-in remediation → a log line (on Lambda, with its metrics) →
//! the channels, when asked.
//! The binaries differ only in how requests arrive and where the report goes.

use aws_config::SdkConfig;
use tracing::{info, warn};

use crate::collect::access::Access;
use crate::collect::KubeAccess;
use crate::config::Config;
use crate::diagnosis::Diagnosis;
use crate::error::{PublishError, Result};
use crate::publish::Publisher;
use crate::snapshot::Snapshot;
use crate::trigger::Request;

/// Time kept after collection for remediation, logging and publishing: collection stops this
/// long before the invocation's deadline, and publishing must be done by the deadline itself.
/// Sized from `scripts/bench/publish.py` (BENCHMARKS.md, "The publish margin"): the slowest
/// delivery that still succeeds (Slack failing twice with 5xx, then answering) took ~1.6 s on
/// loopback, plus the real services' latency; a slower channel is cut and retried alone.
pub const PUBLISH_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Target groups of one pass diagnosed at the same time: enough to overlap their round trips,
/// few enough that the account's Describe quotas (shared with the Load Balancer Controller) are
/// not spent in a burst; the shared reads make each one after the first cheap.
pub const TARGET_GROUPS_AT_ONCE: usize = 12;

/// The clients and configuration every request shares (per process on the CLI, per container
/// on Lambda).
pub struct Pipeline {
    access: Access,
    publisher: Publisher,
    config: Config,
}

/// What one request produced.
pub struct Outcome {
    pub snapshot: Snapshot,
    pub diagnosis: Diagnosis,
    /// Channels that failed (the others published).
    pub publish_failures: Vec<PublishError>,
}

impl Pipeline {
    /// `kubeconfig`: Kubernetes access to use for every request (a kubeconfig); without it, each
    /// request reaches its EKS cluster with an IAM token.
    pub fn new(sdk: SdkConfig, kubeconfig: Option<KubeAccess>, config: Config) -> Pipeline {
        Pipeline {
            publisher: Publisher::new(&sdk, &config),
            access: Access::new(sdk, kubeconfig, config.clone()),
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Diagnoses one request; collection stops at `deadline`, and the diagnosis is published
    /// when `publish` is set. Logged (a summary line, then the whole diagnosis as one JSON line)
    /// before anything is published.
    pub async fn run_request(&self, req: &Request, deadline: Option<tokio::time::Instant>, publish: bool) -> Result<Outcome> {
        let alone = std::sync::Arc::new(crate::collect::shared::Shared::default());
        self.run_in(&alone, req, deadline, publish).await
    }

    /// The same, as one of a pass: `shared` holds what the pass's other diagnoses have read.
    pub async fn run_in(
        &self,
        shared: &std::sync::Arc<crate::collect::shared::Shared>,
        req: &Request,
        deadline: Option<tokio::time::Instant>,
        publish: bool,
    ) -> Result<Outcome> {
        // Who may point us where, on every path, before any credential is used: a refusal is a
        // bad request (not retried).
        self.config
            .admit(req)
            .map_err(|why| crate::error::Error::Trigger(crate::trigger::TriggerError::Invalid(why)))?;
        let started = std::time::Instant::now();
        let sdk = self.access.sdk_for(req).await?;
        let (kube, cluster) = self.access.kube_for(&sdk, req).await;
        let (snapshot, mut diagnosis) = crate::diagnose_in(shared, &sdk, &kube, cluster, req, &self.config, deadline).await?;
        if let (Some((group, stream)), Some(region)) = (&self.config.log_stream, &self.config.region) {
            diagnosis.function_logs = Some(crate::render::logs_link(region, group, stream));
        }
        crate::remediate::run(
            &kube,
            &mut diagnosis,
            &snapshot,
            req,
            &self.config.remediate,
            self.publisher.ledger(),
        )
        .await;
        let d = &diagnosis;
        info!(
            target_group = %req.target_group_arn,
            status = crate::render::status_word(d),
            root_cause = d.verdict.root_cause.map(|c| c.as_str()).unwrap_or("none"),
            service = %crate::render::subject_of(d),
            cluster = d.cluster.as_deref().unwrap_or("unknown"),
            summary = %d.verdict.summary,
            "summary"
        );
        // On Lambda, the diagnosis goes out as an object in its metrics line (queryable in Logs
        // Insights); elsewhere as one JSON log line.
        match self.config.emit_metrics {
            true => crate::publish::metrics::emit(&crate::publish::metrics::diagnosis_record(d, started.elapsed().as_millis() as u64)),
            false => info!(diagnosis = %serde_json::to_string(d)?, "diagnosis"),
        }
        let publish_failures = if publish {
            let lbs = snapshot
                .aws
                .target_group
                .ok()
                .map(|t| t.load_balancer_arns.clone())
                .unwrap_or_default();
            // Publishing may use the margin collection left before the invocation's deadline.
            self.publisher.diagnosis(d, req, &lbs, deadline.map(|d| d + PUBLISH_MARGIN)).await
        } else {
            vec![]
        };
        for f in &publish_failures {
            match self.config.emit_metrics {
                true => crate::publish::metrics::emit(&crate::publish::metrics::publish_failure_record(f.channel(), &f.to_string())),
                false => warn!(error = %f, "a channel failed; the others published"),
            }
        }
        Ok(Outcome {
            snapshot,
            diagnosis,
            publish_failures,
        })
    }
}

pub use crate::trigger::ScanRequest;

impl Pipeline {
    /// The diagnoses of a pass, `TARGET_GROUPS_AT_ONCE` at a time, in the order of `requests`,
    /// published by the caller (one message for all). Each snapshot is dropped as soon as its
    /// diagnosis is made: a pass keeps one copy of the shared evidence, never one per group.
    pub async fn diagnose_pass(
        &self,
        pass: &std::sync::Arc<crate::collect::shared::Shared>,
        requests: &[Request],
        deadline: Option<tokio::time::Instant>,
    ) -> Vec<Result<crate::diagnosis::Diagnosis>> {
        use futures::stream::StreamExt;
        let diagnosed = requests.iter().map(|r| async {
            let outcome = Box::pin(self.run_in(pass, r, deadline, false)).await;
            outcome.map(|o| o.diagnosis)
        });
        futures::stream::iter(diagnosed).buffered(TARGET_GROUPS_AT_ONCE).collect().await
    }

    /// Before a pass's diagnoses: their target groups' descriptions and load balancers read in
    /// batches (per account and region), so no diagnosis reads its own. Requests this deployment
    /// may not act on are left to `run_in` to refuse; a failed batch primes nothing.
    pub async fn prime_pass(&self, pass: &crate::collect::shared::Shared, requests: &[Request]) {
        let mut by_scope: std::collections::BTreeMap<String, Vec<&Request>> = Default::default();
        for r in requests.iter().filter(|r| self.config.admit(r).is_ok()) {
            by_scope.entry(crate::collect::aws_scope(r)).or_default().push(r);
        }
        for (scope, reqs) in by_scope {
            let Ok(sdk) = self.access.sdk_for(reqs[0]).await else { continue };
            let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk)
                .region(aws_config::Region::new(reqs[0].region.clone()))
                .build();
            let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(conf);
            let arns: Vec<String> = reqs.iter().map(|r| r.target_group_arn.clone()).collect();
            if let Some(groups) = crate::collect::discover::describe(&elb, &arns).await {
                crate::collect::discover::prime_groups(pass, &scope, &elb, &groups).await;
            }
        }
    }

    /// `scan`: every target group of the cluster, its target health read in bulk; the groups
    /// with any target not healthy (or none at all) diagnosed in one shared pass; one report
    /// with their common causes. Reads the function's own account (or ASSUME_ROLE_ARN).
    pub async fn scan(&self, scan: &ScanRequest, deadline: Option<tokio::time::Instant>) -> Result<crate::fleet::FleetReport> {
        use crate::collect::{discover, shared};
        // What may be scanned, before any credential is used.
        self.config.admit_scan(scan).map_err(crate::error::Error::Config)?;
        let cluster = scan.cluster.clone().or_else(|| self.config.default_cluster.clone());
        let probe = Request {
            target_group_arn: String::new(),
            region: scan.region.clone(),
            account: String::new(),
            cluster: cluster.clone(),
            alarm: None,
            publish: false,
        };
        if self
            .access
            .role_for(&probe)
            .is_some_and(|r| r.contains("{account}") || r.contains("::role"))
        {
            return Err(crate::error::Error::Config(
                "scan reads one account: set ASSUME_ROLE_ARN (not a template) or run with that account's credentials".into(),
            ));
        }
        let sdk = self.access.sdk_for(&probe).await?;
        let (kube, choice) = self.access.kube_for(&sdk, &probe).await;
        let elb_conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk)
            .region(aws_config::Region::new(scan.region.clone()))
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(elb_conf);
        let pass = std::sync::Arc::new(shared::Shared::pass());
        // The bindings, read once for discovery and kept for the pass's diagnoses.
        let kube_scope = crate::collect::kube_scope(&kube, choice.as_ref());
        let bindings = pass
            .once(crate::collect::kube_key(&kube_scope, "targetgroupbindings", ""), || async {
                match &kube {
                    crate::collect::KubeAccess::Client { client, .. } => crate::collect::kube::target_group_bindings(client).await,
                    crate::collect::KubeAccess::Unavailable(why) => crate::snapshot::Fetched::not_collected(why.clone()),
                }
            })
            .await;
        if let (crate::snapshot::Fetched::Failed(m), None) = (&bindings, &cluster) {
            return Err(crate::error::Error::AwsUnavailable {
                api: "TargetGroupBindings".into(),
                message: format!(
                    "{}; without a cluster name (--cluster, DEFAULT_CLUSTER) nothing else finds the target groups",
                    m.error
                ),
            });
        }
        let (found, region) = discover::target_groups(&elb, &bindings, cluster.as_deref(), scan.namespace.as_deref())
            .await
            .map_err(|m| crate::error::Error::AwsUnavailable {
                api: m.api,
                message: m.error,
            })?;
        let arns: Vec<String> = found.iter().map(|f| f.arn.clone()).collect();
        let health = discover::health(&elb, &arns).await;
        let mut rows = Vec::new();
        let mut requests = Vec::new();
        for (f, h) in found.iter().zip(health) {
            let all_healthy = h.ok().is_some_and(|t| !t.is_empty() && t.iter().all(|t| t.state == "healthy"));
            if all_healthy {
                let total = h.ok().map_or(0, Vec::len);
                rows.push(crate::fleet::healthy_row(&f.arn, &f.name, f.service.clone(), total));
                continue;
            }
            let parts: Vec<&str> = f.arn.split(':').collect();
            let req = Request {
                target_group_arn: f.arn.clone(),
                region: parts.get(3).copied().unwrap_or(&scan.region).to_string(),
                account: parts.get(4).copied().unwrap_or_default().to_string(),
                cluster: cluster.clone(),
                alarm: None,
                publish: false,
            };
            let scope = crate::collect::aws_scope(&req);
            discover::prime(&pass, &scope, &f.arn, h, region.tags.get(&f.arn).cloned()).await;
            requests.push(req);
        }
        // The descriptions the listing read (else read now, 20 a call), and their load balancers.
        let arns: Vec<String> = requests.iter().map(|r| r.target_group_arn.clone()).collect();
        let listed: Vec<_> = arns.iter().filter_map(|a| region.groups.get(a).cloned()).collect();
        let groups = match listed.len() == arns.len() {
            true => Some(listed),
            false => discover::describe(&elb, &arns).await,
        };
        if let (Some(groups), Some(first)) = (groups, requests.first()) {
            discover::prime_groups(&pass, &crate::collect::aws_scope(first), &elb, &groups).await;
        }
        info!(
            target_groups = found.len(),
            to_diagnose = requests.len(),
            "scan: target health read"
        );
        let results = self.diagnose_pass(&pass, &requests, deadline).await;
        let mut diagnoses = Vec::new();
        for (req, res) in requests.iter().zip(results) {
            match res {
                Ok(d) => diagnoses.push(d),
                Err(e) => rows.push(crate::fleet::error_row(&req.target_group_arn, &e.to_string())),
            }
        }
        info!(shared_reads = pass.reads(), "scan: pass done");
        Ok(crate::fleet::report("scan", rows, diagnoses))
    }
}
