//! The CLI binary: parse the command line, run it, print the report on stdout (logs go to
//! stderr), and exit with the code the contract in ARCHITECTURE.md names. Everything else lives in `eks_lb_doctor::cli`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use eks_lb_doctor::cli::{run, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,kube_client::client::builder=off".into()),
        )
        .init();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match run(Cli::parse(), color).await {
        Ok((report, code)) => {
            print!("{report}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("eks-lb-doctor: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
