//! The command line: `diagnose`, `scan`, `replay`, `checks`, parsed once into [`Cli`] and run by
//! [`run`], which returns the report and the exit code of the contract in ARCHITECTURE.md (0 nothing wrong, 1 problems
//! found, 2 bad input, 3 could not diagnose). The binary prints; this module does not.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ProbeMode, Remediation};
use crate::pipeline::Pipeline;
use crate::render::{self, Format};
use crate::{checks, collect::KubeAccess, trigger, Config, Error};

#[derive(Parser)]
#[command(
    name = "eks-lb-doctor",
    version,
    about = "Diagnoses failing load-balancer health checks on Amazon EKS"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collect evidence for a target group (or an alarm event) and name the root cause.
    Diagnose(DiagnoseArgs),
    /// Every target group of a cluster: a line each (status, unhealthy/total, root cause), the
    /// causes they share said once, the full diagnoses with --output json.
    Scan(ScanArgs),
    /// Re-run the checks on a saved snapshot (no network).
    Replay {
        snapshot: PathBuf,
        /// text, json, slack or chatbot.
        #[arg(long, value_parser = Format::parse, default_value = "text")]
        output: Format,
    },
    /// List the check catalogue.
    Checks {
        /// Print the README's check table.
        #[arg(long)]
        markdown: bool,
    },
}

/// `diagnose`'s flags; each one overrides the environment's setting of the same meaning.
#[derive(Args)]
pub struct DiagnoseArgs {
    #[arg(long, required_unless_present = "event", conflicts_with = "event")]
    pub target_group_arn: Option<String>,
    /// Any payload the Lambda accepts: alarm event, SNS alarm notification, manual payload.
    #[arg(long)]
    pub event: Option<PathBuf>,
    #[arg(long)]
    pub cluster: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// Read AWS through this role (as ASSUME_ROLE_ARN).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// Use this kubeconfig instead of the default one (also KUBECONFIG).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// text, json, slack (the Block Kit message) or chatbot (the Amazon Q Developer notification).
    #[arg(long, value_parser = Format::parse, default_value = "text")]
    pub output: Format,
    /// Save the evidence for `replay`.
    #[arg(long)]
    pub save_snapshot: Option<PathBuf>,
    /// Fix what may be fixed automatically when its check fails (only: kube-proxy).
    #[arg(long, value_name = "WHAT")]
    pub remediate: Option<String>,
    /// With --remediate: have the API server validate the change without applying it.
    #[arg(long, requires = "remediate")]
    pub dry_run: bool,
    /// Publish to SNS_TOPIC_ARN and/or the Slack webhook in SLACK_WEBHOOK_SECRET_ARN.
    #[arg(long)]
    pub publish: bool,
    /// Repeat the health check against the unhealthy targets (default: off, or PROBE_MODE).
    #[arg(long, value_parser = ProbeMode::parse, value_name = "off|direct|apiserver-proxy")]
    pub probe: Option<ProbeMode>,
}

/// `scan`'s flags.
#[derive(Args)]
pub struct ScanArgs {
    /// The cluster (needed for EKS access and to find target groups tagged for it; also DEFAULT_CLUSTER).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only the target groups of this namespace's Services and Ingresses.
    #[arg(long)]
    pub namespace: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub role_arn: Option<String>,
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// text, json or slack (the one Block Kit message for all of them).
    #[arg(long, value_parser = Format::parse, default_value = "text")]
    pub output: Format,
    /// Publish the report (one message per channel).
    #[arg(long)]
    pub publish: bool,
}

/// Runs one command; `color` adds ANSI colours to text reports (the binary decides: a TTY).
pub async fn run(cli: Cli, color: bool) -> Result<(String, u8), Error> {
    let mut out = String::new();
    match cli.command {
        Command::Checks { markdown: true } => Ok((checks::markdown_table(), 0)),
        Command::Checks { markdown: false } => {
            for c in checks::CATALOGUE {
                out.push_str(&format!(
                    "{:<20} {:<5} {}\n{:<26}needs: {}\n",
                    c.id.as_str(),
                    c.section,
                    c.verifies,
                    "",
                    c.needs
                ));
            }
            Ok((out, 0))
        }
        Command::Replay { snapshot, output } => {
            let snap = crate::read_snapshot(&snapshot)?;
            let d = crate::Diagnosis::from_snapshot(&snap);
            Ok((with_newline(render::render(&d, &snap, output, color)), d.exit_code() as u8))
        }
        Command::Diagnose(args) => diagnose(args, color).await,
        Command::Scan(args) => scan(args).await,
    }
}

/// `scan`: the cluster's target groups in one pass, one report.
async fn scan(args: ScanArgs) -> Result<(String, u8), Error> {
    let mut config = Config::from_env()?;
    access_flags(&mut config, args.role_arn.as_deref(), args.kubeconfig.as_ref())?;
    config.region = args.region.clone().or(config.region);
    let region = config
        .region
        .clone()
        .ok_or_else(|| Error::Config("scan needs a region: --region or AWS_REGION".into()))?;
    let base = crate::aws_sdk_config(Some(&region)).await;
    let kube = kubeconfig_access(&config).await;
    let pipeline = Pipeline::new(base, kube, config);
    if args.publish && !pipeline.publisher().is_configured() {
        return Err(Error::Config(
            "--publish needs a channel (SNS_TOPIC_ARN, SLACK_WEBHOOK_SECRET_ARN, …)".into(),
        ));
    }
    let req = crate::pipeline::ScanRequest {
        region,
        cluster: args.cluster.clone(),
        namespace: args.namespace.clone(),
    };
    let report = pipeline.scan(&req, None).await?;
    if args.publish {
        let key = format!("eks-lb-doctor/scan/{}", req.cluster.as_deref().unwrap_or("cluster"));
        let failed = pipeline.publisher().fleet(&report, None, false, &key, None).await;
        if !failed.is_empty() {
            return Err(Error::Publish(failed));
        }
    }
    let out = match args.output {
        Format::Json => serde_json::to_string_pretty(&report)?,
        Format::Slack => serde_json::to_string_pretty(&render::fleet::slack(&report))?,
        _ => render::fleet::text(&report),
    };
    let code = match report.status {
        crate::diagnosis::VerdictStatus::Healthy => 0,
        _ => 1,
    };
    Ok((with_newline(out), code))
}

/// The configuration: the environment, then the flags over it.
fn config_of(args: &DiagnoseArgs) -> Result<Config, Error> {
    let mut config = Config::from_env()?;
    access_flags(&mut config, args.role_arn.as_deref(), args.kubeconfig.as_ref())?;
    if let Some(p) = args.probe {
        config.probe = p;
    }
    // Remediation on the command line is the flag or nothing: a REMEDIATE left in a shell's
    // environment never makes a manual run write.
    config.remediate = match &args.remediate {
        Some(list) => Remediation::parse(list, args.dry_run).map_err(|e| Error::Config(format!("--remediate: {e}")))?,
        None => Remediation::default(),
    };
    if args.region.is_some() {
        config.region = args.region.clone();
    }
    if let Some(c) = &args.cluster {
        config::validate_cluster(c)?;
    }
    Ok(config)
}

/// `--role-arn` (read AWS through it, as ASSUME_ROLE_ARN) and `--kubeconfig`, over the environment.
fn access_flags(config: &mut Config, role_arn: Option<&str>, kubeconfig: Option<&PathBuf>) -> Result<(), Error> {
    if let Some(arn) = role_arn {
        if !arn.starts_with("arn:aws") || arn.split(':').nth(2) != Some("iam") {
            return Err(Error::Config(format!("--role-arn {arn:?} is not an IAM role ARN")));
        }
        (config.assume_role_arn, config.assume_role_arn_template) = (Some(arn.to_string()), None);
    }
    if let Some(k) = kubeconfig {
        config.kubeconfig = Some(k.clone());
    }
    Ok(())
}

/// A usable kubeconfig (flag, KUBECONFIG, ~/.kube/config) wins; without one, EKS with IAM.
async fn kubeconfig_access(config: &Config) -> Option<KubeAccess> {
    match KubeAccess::from_kubeconfig(config.kubeconfig.as_deref()).await {
        k @ KubeAccess::Client { .. } => Some(k),
        KubeAccess::Unavailable(_) => None,
    }
}

/// The payload: `--target-group-arn` as a manual payload, or the `--event` file as it is.
fn trigger_of(args: &DiagnoseArgs) -> Result<trigger::Trigger, Error> {
    let payload = match (&args.target_group_arn, &args.event) {
        (Some(arn), _) => serde_json::json!({"targetGroupArn": arn, "cluster": args.cluster}),
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|source| Error::ReadFile {
                path: path.clone(),
                source,
            })?;
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::Trigger(trigger::TriggerError::NotJson(format!("{}: {e}", path.display()))))?
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let mut trigger = trigger::parse_value(&payload)?;
    if let trigger::Trigger::Diagnose(reqs) = &mut trigger {
        for r in reqs {
            r.cluster = args.cluster.clone().or(r.cluster.take());
        }
    }
    Ok(trigger)
}

/// `diagnose`: every request of the payload through the shared pipeline, one report each.
async fn diagnose(args: DiagnoseArgs, color: bool) -> Result<(String, u8), Error> {
    let config = config_of(&args)?;
    let requests = match trigger_of(&args)? {
        trigger::Trigger::Acknowledge(a) => return Ok((format!("Alarm {} is {}: nothing to diagnose.\n", a.name, a.state), 0)),
        trigger::Trigger::Scan(_) => return Err(Error::Config("a scan payload: run `eks-lb-doctor scan` instead".into())),
        trigger::Trigger::Diagnose(reqs) => reqs,
    };
    let base = crate::aws_sdk_config(config.region.as_deref()).await;
    let kube = kubeconfig_access(&config).await;
    let pipeline = Pipeline::new(base, kube, config);
    if args.publish && !pipeline.publisher().is_configured() {
        return Err(Error::Config(
            "--publish needs SNS_TOPIC_ARN and/or SLACK_WEBHOOK_SECRET_ARN".into(),
        ));
    }
    let (mut out, mut worst, mut publish_failures) = (String::new(), 0u8, Vec::new());
    let many = requests.len() > 1;
    // Several target groups (a metric-math alarm's event) share one evidence pass.
    let pass = std::sync::Arc::new(match many {
        true => crate::collect::shared::Shared::pass(),
        false => crate::collect::shared::Shared::default(),
    });
    if many {
        pipeline.prime_pass(&pass, &requests).await;
    }
    for (i, req) in requests.iter().enumerate() {
        // With several target groups, one that cannot be diagnosed must not hide the others.
        let outcome = match pipeline.run_in(&pass, req, None, args.publish).await {
            Ok(o) => o,
            Err(e) if many => {
                tracing::error!(target_group = %req.target_group_arn, error = %e, "could not diagnose");
                worst = worst.max(e.exit_code() as u8);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(path) = &args.save_snapshot {
            let path = if many { numbered(path, i + 1) } else { path.clone() };
            crate::write_snapshot(&path, &outcome.snapshot)?;
        }
        out.push_str(&with_newline(render::render(
            &outcome.diagnosis,
            &outcome.snapshot,
            args.output,
            color,
        )));
        publish_failures.extend(outcome.publish_failures);
        worst = worst.max(outcome.diagnosis.exit_code() as u8);
    }
    if !publish_failures.is_empty() {
        return Err(Error::Publish(publish_failures));
    }
    Ok((out, worst))
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// `snap.json` → `snap-2.json` when an alarm names several target groups.
fn numbered(path: &std::path::Path, n: usize) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("snapshot");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{n}{ext}"))
}
