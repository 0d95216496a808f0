//! The Lambda function: configuration from the environment, JSON logs, one handler per container.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .init();
    let config = eks_lb_doctor::Config::from_env()?;
    let handler = eks_lb_doctor::handler::Handler::new(config).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The invocation's deadline (ms since the epoch) as a monotonic instant.
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let left = std::time::Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        handler.handle_until(&event.payload, Some(tokio::time::Instant::now() + left)).await
    }))
    .await
}
