//! The local stack as the tests see it: started once per test binary, scenarios seeded into
//! fresh namespaces, the CLI run as a user runs it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub struct Stack {
    pub env: HashMap<String, String>,
}

/// Starts the stack unless it runs already; every test shares it.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let out = Command::new("python3")
            .arg(repo().join("scripts/stack.py"))
            .arg("up")
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "scripts/stack.py up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env_file = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).with_extension("json");
        let env: HashMap<String, String> = serde_json::from_slice(&std::fs::read(&env_file).expect("env.json")).expect("env.json is JSON");
        Stack { env }
    })
}

/// A namespace nobody else uses, so scenarios (and repeated runs) never collide.
pub fn unique_namespace(scenario: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{scenario}-{:06x}", (n ^ std::process::id()) & 0xffffff)
}

impl Stack {
    /// Seeds a named scenario through the real APIs; returns what it created.
    pub fn seed(&self, scenario: &str) -> Value {
        self.seed_in(scenario, None)
    }

    /// The same, with the AWS resources in another account (`--account`).
    pub fn seed_in(&self, scenario: &str, account: Option<&str>) -> Value {
        let ns = unique_namespace(scenario);
        let mut args = vec!["seed", scenario, "--namespace", &ns];
        if let Some(a) = account {
            args.extend(["--account", a]);
        }
        let out = Command::new("python3")
            .arg(repo().join("scripts/stack.py"))
            .args(&args)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "seeding {scenario} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed prints JSON")
    }

    /// Runs the CLI with the stack's environment (AWS endpoint, credentials, KUBECONFIG).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_eks-lb-doctor"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .output()
            .expect("the CLI runs")
    }

    /// `diagnose --target-group-arn ARN --output json`: (diagnosis, exit code).
    pub fn diagnose(&self, tg: &str) -> (Value, i32) {
        let out = self.cli(&["diagnose", "--target-group-arn", tg, "--output", "json"]);
        let code = out.status.code().unwrap_or(-1);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "exit {code}, stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (json, code)
    }
}

/// The finding of one check in a diagnosis JSON.
pub fn finding<'a>(d: &'a Value, check: &str) -> &'a Value {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no finding {check}"))
}

/// The checks that failed, in catalogue order.
pub fn failing(d: &Value) -> Vec<String> {
    d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

/// AWS configuration pointed at the stack's moto explicitly (for driving the handler in-process).
pub async fn stack_sdk(s: &Stack) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&s.env["AWS_ENDPOINT_URL"])
        .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// Every fix line of every finding.
pub fn fixes(d: &Value) -> Vec<String> {
    (d["findings"].as_array().unwrap().iter())
        .flat_map(|f| f["remediation"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// Runs `f` to completion on a thread with the main thread's 8 MiB of stack, as the binaries
/// run the handler (`#[tokio::main]` polls it on the main thread): a pass over several target
/// groups nests large futures, more than a test thread's 2 MiB hold in a debug build.
pub fn on_main_sized_stack<Fut: 'static>(make: fn() -> Fut) -> Fut::Output
where
    Fut: std::future::Future,
    Fut::Output: Send + 'static,
{
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(make())
        })
        .unwrap()
        .join()
        .unwrap()
}
