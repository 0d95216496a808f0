//! eks-lb-doctor: diagnoses failing load-balancer health checks on Amazon EKS.
//!
//! ```text
//!  trigger ──► request ──► collect ──────────► snapshot ──► checks ──► diagnosis ──► render ──► publish
//!  (alarm      (TG ARN,    (ELBv2 ‖ EC2 ‖         (plain data,  (pure fns,  (verdict,     (text,     (SNS,
//!   event,      cluster,    Kubernetes,           saved and     one file    ranked root   json,      Slack)
//!   SNS,        region)     concurrent; errors    replayed)     each)       cause)        slack,
//!   manual)                 become data)                                                  sns)
//! ```
//!
//! - [`trigger`] turns any accepted payload into [`trigger::Request`]s (no I/O).
//! - [`pipeline`] runs one request end to end for both binaries: credentials, the cluster
//!   (chosen once), [`diagnose`], [`remediate`], publishing.
//! - [`collect`] gathers the evidence into a [`snapshot::Snapshot`]; [`mapping`] maps a target
//!   group to its Service (pure; `collect` drives it).
//! - [`checks`] run over the snapshot, one [`checks::Finding`] each, in catalogue order.
//! - [`diagnosis`] ranks the root cause; [`render`] writes text, JSON and the Slack/SNS messages.
//! - [`publish`] sends them; [`remediate`] is the only write, opt-in (restarting kube-proxy).
//! - Only `collect`, `publish` and `remediate` do I/O. [`handler`] (Lambda) and [`cli`] are the
//!   two entry points; `src/bin/` holds two thin binaries over them. ARCHITECTURE.md has the
//!   module rules and how to add a check, a collector or a channel.

pub mod annotations;
pub mod aws_error;
pub mod aws_json;
pub mod changes;
pub mod checks;
pub mod cidr;
pub mod cli;
pub mod collect;
pub mod config;
pub mod diagnosis;
pub mod error;
pub mod fleet;
pub mod gateway;
pub mod handler;
pub mod mapping;
pub mod matcher;
pub mod net;
pub mod pipeline;
pub mod publish;
pub mod remediate;
pub mod render;
pub mod shell;
pub mod snapshot;
pub mod trigger;

#[cfg(test)]
mod architecture;
#[cfg(test)]
mod fixtures;

use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use config::Config;
pub use diagnosis::Diagnosis;
pub use error::{Error, Result};
pub use snapshot::Snapshot;

use collect::{Clients, KubeAccess};
use mapping::ClusterChoice;
use trigger::Request;

/// The shared AWS configuration (credentials chain, `AWS_ENDPOINT_URL`, retries); built once.
pub async fn aws_sdk_config(region: Option<&str>) -> SdkConfig {
    // Every call is bounded: a slow endpoint costs at most one operation timeout, never the
    // invocation. Retries are the SDK's adaptive mode: standard's 3 attempts with exponential
    // backoff and full jitter (an alarm storm's retries spread out instead of arriving together),
    // and once a service throttles, a client-side rate limit shared by every client of that
    // service and region in the process (aws-smithy-runtime's static CLIENT_RATE_LIMITER): the
    // many diagnoses of a pass slow down together instead of spending the account's Describe
    // quota, which the Load Balancer Controller shares. Without throttling it changes nothing.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(8))
        .operation_timeout(std::time::Duration::from_secs(20))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(3));
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader.load().await
}

/// collect → snapshot → checks → diagnosis, for one request. `cluster` is the cluster `kube`
/// reads when it was chosen by name; collection stops at `deadline` (what is not in by then is
/// `unknown`).
pub async fn diagnose(
    sdk: &SdkConfig,
    kube: &KubeAccess,
    cluster: Option<ClusterChoice>,
    req: &Request,
    config: &Config,
    deadline: Option<tokio::time::Instant>,
) -> Result<(Snapshot, Diagnosis)> {
    let alone = std::sync::Arc::new(collect::shared::Shared::default());
    diagnose_in(&alone, sdk, kube, cluster, req, config, deadline).await
}

/// The same, as one of a pass of several target groups: what `shared` has read for the others
/// (nodes, kube-proxy, the VPC's network, …) is not read again (`collect::shared`).
pub async fn diagnose_in(
    shared: &std::sync::Arc<collect::shared::Shared>,
    sdk: &SdkConfig,
    kube: &KubeAccess,
    cluster: Option<ClusterChoice>,
    req: &Request,
    config: &Config,
    deadline: Option<tokio::time::Instant>,
) -> Result<(Snapshot, Diagnosis)> {
    // The target group's own region wins: an alarm from eu-west-1 is about eu-west-1.
    let region = Region::new(req.region.clone());
    let elb_conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
        .region(region.clone())
        .build();
    let ec2_conf = aws_sdk_ec2::config::Builder::from(sdk).region(region).build();
    // What changed on the AWS side: CloudTrail in the target group's region, up to the alarm's
    // transition (else now).
    let until = (req.alarm.as_ref().and_then(|a| a.changed_at.as_deref()))
        .and_then(changes::parse_time)
        .map_or_else(|| chrono::Utc::now().timestamp(), |t| t.timestamp());
    let cloudtrail = (!config.skip_cloudtrail && config.changes_window.0 > 0)
        .then(|| (collect::cloudtrail::api(sdk, &req.region), until, config.changes_window.0));
    let clients = Clients {
        elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb_conf),
        ec2: aws_sdk_ec2::Client::from_conf(ec2_conf),
        kube: kube.clone(),
        deadline,
        kube_scope: collect::kube_scope(kube, cluster.as_ref()),
        cluster,
        cloudtrail,
        shared: shared.clone(),
        aws_scope: collect::aws_scope(req),
    };
    // Boxed: the collection future is large (many concurrent calls); keep it off the stack.
    let snapshot = Box::pin(collect::collect(&clients, req, config)).await?;
    let diagnosis = Diagnosis::from_snapshot(&snapshot);
    Ok((snapshot, diagnosis))
}

/// Reads a snapshot saved by `diagnose --save-snapshot`, refusing one of another version.
pub fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let bytes = std::fs::read(path).map_err(|source| Error::ReadFile { path: path.into(), source })?;
    snapshot::from_json(&bytes).map_err(|source| Error::Snapshot { path: path.into(), source })
}

/// Saves a snapshot for `replay`, readable by its owner only (0600): it holds a cluster's and an
/// account's layout, even with secrets scrubbed at collection.
pub fn write_snapshot(path: &Path, snapshot: &Snapshot) -> Result<()> {
    use std::io::Write;
    let json = serde_json::to_vec_pretty(snapshot)?;
    let failed = |source| Error::WriteFile { path: path.into(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A file that already existed keeps its mode on open: narrow it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
        }
    }
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(&json).map_err(failed)
}
