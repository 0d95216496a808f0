//! The Lambda function: configuration from the environment, logs as Lambda's advanced logging
//! controls ask, one handler per container.

use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Logs as the function's logging configuration asks: `AWS_LAMBDA_LOG_FORMAT` JSON (the
/// template's choice, and ours when unset) or Text; level from `AWS_LAMBDA_LOG_LEVEL`, else
/// `RUST_LOG`, else INFO. JSON lines carry their timestamp, level, message at the top level and
/// the runtime's span (its `requestId`): a custom runtime's lines reach CloudWatch as written.
fn init_logs() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    // Lambda's FATAL has no tracing level: it keeps errors only.
    let level = match level.to_ascii_uppercase().as_str() {
        "FATAL" => LevelFilter::ERROR,
        other => other.parse().unwrap_or(LevelFilter::INFO),
    };
    let filter = EnvFilter::builder().with_default_directive(level.into()).parse_lossy("");
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if text {
        logs.with_ansi(false).init();
    } else {
        logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    }
}

/// The first invocation of a container pays for its start: logged as a cold start.
static STARTED: AtomicBool = AtomicBool::new(false);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logs();
    let config = eks_lb_doctor::Config::from_env()?;
    let handler = eks_lb_doctor::handler::Handler::new(config).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let cold_start = !STARTED.swap(true, Ordering::Relaxed);
        tracing::info!(cold_start, request_id = %event.context.request_id, "invocation");
        // The invocation's deadline (ms since the epoch) as a monotonic instant.
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let left = std::time::Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = Some(tokio::time::Instant::now() + left);
        eks_lb_doctor::publish::metrics::REQUEST_ID
            .scope(event.context.request_id.clone(), handler.handle_until(&event.payload, deadline))
            .await
    }))
    .await
}
