//! Reaching an EKS cluster with IAM: DescribeCluster gives the endpoint and CA, and the bearer
//! token is a presigned STS GetCallerIdentity URL (query signing, signed header
//! `x-k8s-aws-id: <cluster>`, 60 s expiry) encoded as `k8s-aws-v1.` + base64url without padding
//! — what `aws eks get-token` prints. Tokens live 15 minutes; callers rebuild after 14.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::KubeAccess;

/// How long a token is used before a new one is made (they expire after 15 minutes).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// The bearer token for `cluster`, signed with `creds` at `now`.
pub fn token(creds: &Credentials, region: &str, cluster: &str, now: SystemTime) -> Result<String, String> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into();
    let url = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let signable =
        SignableRequest::new("GET", &url, [("x-k8s-aws-id", cluster)].into_iter(), SignableBody::Bytes(&[])).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into_parts();
    let mut request = http::Request::get(&url).body(()).map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(format!("k8s-aws-v1.{}", URL_SAFE_NO_PAD.encode(request.uri().to_string())))
}

/// A Kubernetes client for an EKS cluster, authenticated with the SDK's credentials. Never
/// fails: what went wrong becomes `Unavailable` with the reason.
pub async fn access(sdk: &SdkConfig, region: &str, cluster: &str) -> KubeAccess {
    match build(sdk, region, cluster).await {
        Ok(a) => a,
        Err(why) => KubeAccess::Unavailable(format!("cannot reach EKS cluster {cluster}: {why}")),
    }
}

async fn build(sdk: &SdkConfig, region: &str, cluster: &str) -> Result<KubeAccess, String> {
    let conf = aws_sdk_eks::config::Builder::from(sdk)
        .region(aws_config::Region::new(region.to_string()))
        .build();
    let out = aws_sdk_eks::Client::from_conf(conf)
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|e| {
            let m = super::aws::missing_in("eks", "DescribeCluster", &e);
            format!("{} ({})", m.error, m.permission)
        })?;
    let c = out.cluster().ok_or("DescribeCluster returned no cluster")?;
    let endpoint = c.endpoint().ok_or("the cluster has no endpoint yet")?;
    let ca = c
        .certificate_authority()
        .and_then(|a| a.data())
        .ok_or("the cluster has no certificate authority yet")?;
    let creds = sdk
        .credentials_provider()
        .ok_or("no AWS credentials")?
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials: {e}"))?;
    let token = token(&creds, region, cluster, SystemTime::now())?;
    let mut config = kube::Config::new(endpoint.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?);
    config.root_cert = Some(pem_to_der(ca)?);
    config.auth_info.token = Some(token.into());
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(20));
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    Ok(KubeAccess::Client {
        client,
        source: format!("EKS cluster {cluster} ({endpoint})"),
    })
}

/// DescribeCluster's CA is a base64-encoded PEM bundle; kube wants DER certificates.
fn pem_to_der(data: &str) -> Result<Vec<Vec<u8>>, String> {
    let pem = STANDARD
        .decode(data.trim())
        .map_err(|e| format!("the cluster CA is not base64: {e}"))?;
    let text = String::from_utf8_lossy(&pem);
    let mut out = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body: String = block
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(
            STANDARD
                .decode(body)
                .map_err(|e| format!("the cluster CA is not a PEM certificate: {e}"))?,
        );
    }
    if out.is_empty() {
        return Err("the cluster CA holds no PEM certificate".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed key and time: the URL must carry exactly what botocore's signer produces
    /// (expected values computed with botocore.auth.SigV4QueryAuth at 2026-11-27T03:12:44Z).
    #[test]
    fn token_is_a_presigned_get_caller_identity_url_matching_botocore() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example".into()),
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_749_164); // 2026-11-27T03:12:44Z
        let token = token(&creds, "us-east-1", "demo", at).unwrap();
        let encoded = token.strip_prefix("k8s-aws-v1.").expect("prefix");
        assert!(
            !encoded.contains('=') && !encoded.contains('+') && !encoded.contains('/'),
            "base64url without padding"
        );
        let url = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap();
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://sts.us-east-1.amazonaws.com/");
        let params: std::collections::BTreeMap<String, String> = query
            .split('&')
            .map(|p| p.split_once('=').unwrap())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(params["Action"], "GetCallerIdentity");
        assert_eq!(params["Version"], "2011-06-15");
        assert_eq!(params["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            params["X-Amz-Credential"],
            "AKIDEXAMPLE%2F20261127%2Fus-east-1%2Fsts%2Faws4_request"
        );
        assert_eq!(params["X-Amz-Date"], "20261127T031244Z");
        assert_eq!(params["X-Amz-Expires"], "60");
        assert_eq!(params["X-Amz-SignedHeaders"], "host%3Bx-k8s-aws-id");
        assert_eq!(params["X-Amz-Security-Token"], "session-token-example");
        assert_eq!(
            params["X-Amz-Signature"],
            "959e99d2d99767329e75ab6a325c534071748fa3356a7eb94e26e1ff55916f9b"
        );
    }

    #[test]
    fn pem_bundle_decodes_to_der_and_garbage_is_a_clear_error() {
        let der = b"\x30\x03\x02\x01\x01";
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", STANDARD.encode(der));
        assert_eq!(pem_to_der(&STANDARD.encode(pem)).unwrap(), vec![der.to_vec()]);
        assert!(pem_to_der("not base64!").unwrap_err().contains("not base64"));
        assert!(pem_to_der(&STANDARD.encode("hello")).unwrap_err().contains("no PEM certificate"));
    }
}
