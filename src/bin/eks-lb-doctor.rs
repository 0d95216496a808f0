//! The CLI: `diagnose`, `replay`, `checks`. Report on stdout, logs on stderr.
//! Exit codes: 0 nothing wrong, 1 problems found, 2 bad input, 3 could not diagnose.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eks_lb_doctor::render::{self, Format};
use eks_lb_doctor::{checks, collect::KubeAccess, config, trigger, Config, Error};

#[derive(Parser)]
#[command(
    name = "eks-lb-doctor",
    version,
    about = "Diagnoses failing load-balancer health checks on Amazon EKS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collect evidence for a target group (or an alarm event) and name the root cause.
    Diagnose {
        #[arg(long, required_unless_present = "event", conflicts_with = "event")]
        target_group_arn: Option<String>,
        /// Any payload the Lambda accepts: alarm event, SNS alarm notification, manual payload.
        #[arg(long)]
        event: Option<PathBuf>,
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// Use this kubeconfig instead of the default one (also KUBECONFIG).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        output: Format,
        /// Save the evidence for `replay`.
        #[arg(long)]
        save_snapshot: Option<PathBuf>,
    },
    /// Re-run the checks on a saved snapshot (no network).
    Replay {
        snapshot: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        output: Format,
    },
    /// List the check catalogue.
    Checks,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    match run(Cli::parse()).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("eks-lb-doctor: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Error> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match cli.command {
        Command::Checks => {
            for s in &checks::CATALOGUE {
                let state = if s.implemented { "" } else { " (not implemented yet)" };
                println!(
                    "{:<20} {:<5} {}{state}\n{:<26}needs: {}",
                    s.id.as_str(),
                    s.section,
                    s.verifies,
                    "",
                    s.needs
                );
            }
            Ok(0)
        }
        Command::Replay { snapshot, output } => {
            let snap = eks_lb_doctor::read_snapshot(&snapshot)?;
            let d = eks_lb_doctor::Diagnosis::from_snapshot(&snap);
            print!("{}", with_newline(render::render(&d, output, color)));
            Ok(d.exit_code() as u8)
        }
        Command::Diagnose {
            target_group_arn,
            event,
            cluster,
            region,
            kubeconfig,
            output,
            save_snapshot,
        } => {
            let mut config = Config::from_env()?;
            if let Some(k) = kubeconfig {
                config.kubeconfig = Some(k);
            }
            if region.is_some() {
                config.region = region;
            }
            let payload = match (&target_group_arn, &event) {
                (Some(arn), _) => serde_json::json!({"targetGroupArn": arn, "cluster": cluster}),
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
            if let Some(c) = &cluster {
                config::validate_cluster(c)?;
            }
            let requests = match trigger::parse_value(&payload)? {
                trigger::Trigger::Acknowledge(a) => {
                    println!("Alarm {} is {}: nothing to diagnose.", a.name, a.state);
                    return Ok(0);
                }
                trigger::Trigger::Diagnose(mut reqs) => {
                    for r in &mut reqs {
                        r.cluster = cluster.clone().or(r.cluster.take());
                    }
                    reqs
                }
            };
            let sdk = eks_lb_doctor::aws_sdk_config(config.region.as_deref()).await;
            let kube = KubeAccess::from_kubeconfig(config.kubeconfig.as_deref()).await;
            let mut worst = 0u8;
            let many = requests.len() > 1;
            for (i, req) in requests.iter().enumerate() {
                let (snap, d) = eks_lb_doctor::diagnose(&sdk, &kube, req, &config).await?;
                if let Some(path) = &save_snapshot {
                    let path = if many { numbered(path, i + 1) } else { path.clone() };
                    eks_lb_doctor::write_snapshot(&path, &snap)?;
                }
                print!("{}", with_newline(render::render(&d, output, color)));
                worst = worst.max(d.exit_code() as u8);
            }
            Ok(worst)
        }
    }
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
