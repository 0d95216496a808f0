//! AWS's JSON protocol (`X-Amz-Target: PREFIX.Operation`), signed with SigV4 by `aws-sigv4`, over
//! reqwest: for the few calls that do not pay for an SDK crate (BENCHMARKS.md): the delivery
//! ledger's DynamoDB `PutItem`, CloudTrail's `LookupEvents`. The function's own credentials and
//! endpoint (`AWS_ENDPOINT_URL` when set), as the SDK clients use.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no AWS credentials to sign the request: {0}")]
    Credentials(String),
    #[error("cannot sign the request: {0}")]
    Sign(String),
    /// The service answered with an error (`kind` from `__type`: `AccessDeniedException`,
    /// `ThrottlingException`, …), or none came.
    #[error("{message}")]
    Failed {
        status: Option<u16>,
        kind: String,
        message: String,
    },
}

impl CallError {
    pub fn kind(&self) -> &str {
        match self {
            CallError::Failed { kind, .. } => kind,
            _ => "",
        }
    }
}

/// One service's JSON API.
pub struct JsonApi {
    sdk: SdkConfig,
    http: reqwest::Client,
    region: String,
    endpoint: String,
    /// The signing name (`dynamodb`, `cloudtrail`).
    service: &'static str,
    /// `DynamoDB_20120810`, `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`.
    target: &'static str,
    /// `application/x-amz-json-1.0` or `-1.1`.
    content_type: &'static str,
}

impl JsonApi {
    /// `host` is the service's endpoint prefix (`dynamodb`, `cloudtrail`) in `region`.
    pub fn new(
        sdk: &SdkConfig,
        http: reqwest::Client,
        region: Option<&str>,
        (service, host): (&'static str, &str),
        target: &'static str,
        content_type: &'static str,
    ) -> JsonApi {
        let region = region
            .map(str::to_string)
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = (sdk.endpoint_url().map(|u| u.trim_end_matches('/').to_string()))
            .unwrap_or_else(|| format!("https://{host}.{region}.amazonaws.com"));
        JsonApi {
            sdk: sdk.clone(),
            http,
            region,
            endpoint,
            service,
            target,
            content_type,
        }
    }

    /// Calls `operation` with `body`; the answer's JSON.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, CallError> {
        let failed = |status: Option<u16>, kind: &str, message: String| CallError::Failed {
            status,
            kind: kind.into(),
            message,
        };
        let bytes = serde_json::to_vec(body).map_err(|e| failed(None, "", e.to_string()))?;
        let target = format!("{}.{operation}", self.target);
        let url = format!("{}/", self.endpoint);
        // The signer needs a host (it would panic without one): refuse a malformed endpoint.
        if url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).is_none() {
            return Err(failed(None, "", format!("the endpoint {url:?} has no host")));
        }
        let headers = [("content-type", self.content_type), ("x-amz-target", target.as_str())];
        let signed = self.sign(&url, &headers, &bytes).await?;
        // The SDK's app id (`AWS_SDK_UA_APP_ID`) in the user agent, as the SDK clients send it.
        let agent = match self.sdk.app_name() {
            Some(app) => format!("eks-lb-doctor/{} app/{app}", env!("CARGO_PKG_VERSION")),
            None => format!("eks-lb-doctor/{}", env!("CARGO_PKG_VERSION")),
        };
        let mut req = self.http.post(&url).header("user-agent", agent).body(bytes);
        for (k, v) in headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(signed) {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| failed(None, "", e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| failed(None, "", e.without_url().to_string()))?;
        if !status.is_success() {
            // Errors name their type: `{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", ...}`.
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            let kind = v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_string();
            let msg = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").to_string();
            return Err(failed(
                Some(status.as_u16()),
                &kind,
                format!("HTTP {} {kind}: {msg}", status.as_u16()),
            ));
        }
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// The SigV4 headers (authorization, date, session token) for a POST of `body`.
    async fn sign(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Vec<(String, String)>, CallError> {
        let creds = (self.sdk.credentials_provider())
            .ok_or_else(|| CallError::Credentials("none configured".into()))?
            .provide_credentials()
            .await
            .map_err(|e| CallError::Credentials(e.to_string()))?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError::Sign(e.to_string()))?
            .into();
        let signable = SignableRequest::new("POST", url, headers.iter().copied(), SignableBody::Bytes(body))
            .map_err(|e| CallError::Sign(e.to_string()))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| CallError::Sign(e.to_string()))?.into_parts();
        Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}
