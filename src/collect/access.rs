//! Who eks-lb-doctor is for each request: AWS credentials (its own, or a role assumed in the
//! alarm's account, cached until they expire) and Kubernetes access (a kubeconfig, or the EKS
//! cluster reached with an IAM token, rebuilt before the token is 14 minutes old).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tracing::info;

use super::eks::{self, TOKEN_LIFETIME};
use super::{aws, KubeAccess};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mapping::{self, ClusterChoice};
use crate::snapshot::Fetched;
use crate::trigger::Request;

/// Assumed-role credentials are renewed this long before they expire.
const RENEW_BEFORE: std::time::Duration = std::time::Duration::from_secs(300);

pub struct Access {
    base: SdkConfig,
    /// Set when a kubeconfig is used (CLI, tests): the same for every request.
    kubeconfig: Option<KubeAccess>,
    config: Config,
    roles: Mutex<HashMap<String, (SdkConfig, SystemTime)>>,
    clusters: Mutex<HashMap<ClusterKey, (KubeAccess, Instant)>>,
}

/// A cluster as reached: (role ARN, or empty for our own credentials; region; cluster name).
type ClusterKey = (String, String, String);

impl Access {
    pub fn new(base: SdkConfig, kubeconfig: Option<KubeAccess>, config: Config) -> Access {
        Access {
            base,
            kubeconfig,
            config,
            roles: Mutex::default(),
            clusters: Mutex::default(),
        }
    }

    /// The role to assume for a request, if any: ASSUME_ROLE_ARN, or the template filled with
    /// the alarm's account.
    pub fn role_for(&self, req: &Request) -> Option<String> {
        self.config.assume_role_arn.clone().or_else(|| {
            self.config
                .assume_role_arn_template
                .as_ref()
                .map(|t| t.replace("{account}", &req.account))
        })
    }

    /// AWS configuration for a request: the function's own, or an assumed role's.
    pub async fn sdk_for(&self, req: &Request) -> Result<SdkConfig> {
        let Some(role) = self.role_for(req) else {
            return Ok(self.base.clone());
        };
        if let Some((sdk, expires)) = self.roles.lock().expect("lock").get(&role) {
            if SystemTime::now() + RENEW_BEFORE < *expires {
                return Ok(sdk.clone());
            }
        }
        let sts = aws_sdk_sts::Client::new(&self.base);
        let mut call = sts
            .assume_role()
            .role_arn(&role)
            .role_session_name(session_name(req))
            .duration_seconds(3600);
        if let Some(id) = &self.config.assume_role_external_id {
            call = call.external_id(id);
        }
        let out = call.send().await.map_err(|e| Error::AwsUnavailable {
            api: format!("sts:AssumeRole on {role}"),
            message: crate::aws_error::call_failed("sts", "AssumeRole", &e).error,
        })?;
        let c = out.credentials().ok_or_else(|| Error::AwsUnavailable {
            api: "sts:AssumeRole".into(),
            message: "no credentials returned".into(),
        })?;
        let expires = SystemTime::try_from(*c.expiration()).unwrap_or_else(|_| SystemTime::now());
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expires),
            "assume-role",
        );
        let sdk = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build();
        info!(role = %role, "assumed role");
        self.roles.lock().expect("lock").insert(role, (sdk.clone(), expires));
        Ok(sdk)
    }

    /// Kubernetes access for a request, and the cluster it reads. With a kubeconfig, the cluster
    /// is whatever it points at (`None`: collect reports the documented order from the tags it
    /// reads). Otherwise the EKS cluster is chosen once, in the documented order (the request, the
    /// target group's tags, then its load balancer's legacy tags, `DEFAULT_CLUSTER`), and that is
    /// the cluster the diagnosis names.
    pub async fn kube_for(&self, sdk: &SdkConfig, req: &Request) -> (KubeAccess, Option<ClusterChoice>) {
        if let Some(k) = &self.kubeconfig {
            return (k.clone(), None);
        }
        let choice = match &req.cluster {
            Some(c) => mapping::resolve_cluster(Some(c), None, None, None),
            None => {
                let (tg_tags, lb_tags) = cluster_tags(sdk, req).await;
                mapping::resolve_cluster(None, tg_tags.as_ref(), lb_tags.as_ref(), self.config.default_cluster.as_deref())
            }
        };
        let Some(choice) = choice else {
            let why = "no cluster: the request names none, the target group and its load balancer carry no cluster tag, and DEFAULT_CLUSTER is unset";
            return (KubeAccess::Unavailable(why.into()), None);
        };
        let key = (self.role_for(req).unwrap_or_default(), req.region.clone(), choice.name.clone());
        if let Some((access, made)) = self.clusters.lock().expect("lock").get(&key) {
            if made.elapsed() < TOKEN_LIFETIME {
                return (access.clone(), Some(choice));
            }
        }
        let access = eks::access(sdk, &req.region, &choice.name).await;
        if matches!(access, KubeAccess::Client { .. }) {
            self.clusters.lock().expect("lock").insert(key, (access.clone(), Instant::now()));
        }
        (access, Some(choice))
    }
}

type Tags = BTreeMap<String, String>;

/// The tags that can name the cluster: the target group's; only when they name none, its load
/// balancers' (the in-tree provider tags those), which costs two more calls.
async fn cluster_tags(sdk: &SdkConfig, req: &Request) -> (Option<Tags>, Option<BTreeMap<String, Tags>>) {
    let conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
        .region(aws_config::Region::new(req.region.clone()))
        .build();
    let client = aws_sdk_elasticloadbalancingv2::Client::from_conf(conf);
    let arn = &req.target_group_arn;
    let tg_tags = match aws::tags(&client, std::slice::from_ref(arn)).await {
        Fetched::Ok(mut t) => t.remove(arn),
        _ => None,
    };
    if mapping::cluster_from_tags(tg_tags.as_ref(), None).is_some() {
        return (tg_tags, None);
    }
    let lbs = match aws::target_group(&client, arn, &req.region).await {
        Ok(Fetched::Ok(tg)) => tg.load_balancer_arns,
        _ => vec![],
    };
    let lb_tags = match lbs.is_empty() {
        true => None,
        false => aws::tags(&client, &lbs).await.ok().cloned(),
    };
    (tg_tags, lb_tags)
}

/// `eks-lb-doctor-<alarm or target group>`: what CloudTrail shows for the assumed role.
pub fn session_name(req: &Request) -> String {
    let what = req
        .alarm
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(|| req.target_group_arn.rsplit('/').nth(1).unwrap_or("manual").to_string());
    let clean: String = format!("eks-lb-doctor-{what}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::Alarm;

    fn req(alarm: Option<&str>) -> Request {
        Request {
            target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:222233334444:targetgroup/k8s-shop-web/0123456789abcdef".into(),
            region: "us-east-1".into(),
            account: "222233334444".into(),
            cluster: None,
            alarm: alarm.map(|n| Alarm {
                name: n.into(),
                arn: None,
                state: "ALARM".into(),
                reason: None,
                via: "eventbridge".into(),
                changed_at: None,
            }),
            publish: true,
        }
    }

    #[test]
    fn session_name_identifies_the_alarm_within_sts_limits() {
        assert_eq!(session_name(&req(Some("shop web: 5xx!"))), "eks-lb-doctor-shop-web--5xx-");
        assert_eq!(session_name(&req(None)), "eks-lb-doctor-k8s-shop-web");
        assert_eq!(session_name(&req(Some(&"x".repeat(100)))).len(), 64);
    }

    #[tokio::test]
    async fn template_is_filled_with_the_alarm_account() {
        let config = Config {
            assume_role_arn_template: Some("arn:aws:iam::{account}:role/eks-lb-doctor".into()),
            ..Default::default()
        };
        let sdk = aws_config::SdkConfig::builder().build();
        let access = Access::new(sdk, None, config);
        assert_eq!(
            access.role_for(&req(None)).as_deref(),
            Some("arn:aws:iam::222233334444:role/eks-lb-doctor")
        );
    }
}
