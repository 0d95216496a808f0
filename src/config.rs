//! Configuration: read from the environment (Lambda) or flags (CLI) once, validated here, and
//! passed down as typed values. Nothing else in the library reads the environment.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Minutes before the alarm searched for changes unless `CHANGES_WINDOW_MINUTES` says otherwise.
pub const DEFAULT_CHANGES_WINDOW: u32 = 60;

/// Minutes to look back for changes; 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesWindow(pub u32);

impl Default for ChangesWindow {
    fn default() -> Self {
        ChangesWindow(DEFAULT_CHANGES_WINDOW)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Cluster name when neither the request nor the tags give one (`DEFAULT_CLUSTER`).
    pub default_cluster: Option<String>,
    /// Kubeconfig to use instead of inference (`KUBECONFIG` / `--kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
    /// Region for target group ARNs that do not name one (never: ARNs do) and for the SDK's
    /// own calls; `AWS_REGION` / `--region`.
    pub region: Option<String>,
    /// Opt-in remediation (`REMEDIATE=kube-proxy`, `REMEDIATE_DRY_RUN=true`); off by default.
    pub remediate: Remediation,
    /// The health probe (`PROBE_MODE`: off | direct | apiserver-proxy); off by default.
    pub probe: ProbeMode,
    /// A role to read through (`ASSUME_ROLE_ARN`), or one per alarm account
    /// (`ASSUME_ROLE_ARN_TEMPLATE`, `{account}` filled in), with `ASSUME_ROLE_EXTERNAL_ID`.
    pub assume_role_arn: Option<String>,
    pub assume_role_arn_template: Option<String>,
    pub assume_role_external_id: Option<String>,
    /// Where diagnoses are published (`SNS_TOPIC_ARN`, `SLACK_WEBHOOK_SECRET_ARN`).
    pub sns_topic_arn: Option<String>,
    pub slack_webhook_secret_arn: Option<String>,
    /// Send a short "recovered" notice when an alarm returns to OK (`NOTIFY_ON_OK`).
    pub notify_on_ok: bool,
    /// Accounts a request may name (`ALLOWED_ACCOUNTS`, comma-separated); none set: any.
    pub allowed_accounts: Option<Vec<String>>,
    /// Regions a request may name (`ALLOWED_REGIONS`); none set: any well-formed region.
    pub allowed_regions: Option<Vec<String>>,
    /// SNS topics whose notifications may trigger a diagnosis (`ALLOWED_SNS_TOPICS`, topic
    /// ARNs); none set: a topic in the alarm's own account.
    pub allowed_sns_topics: Option<Vec<String>>,
    /// The DynamoDB table recording deliveries per alarm transition (`DELIVERY_TABLE`), so a
    /// retried invocation publishes only what did not go out and remediates at most once.
    pub delivery_table: Option<String>,
    /// `SNS_FORMAT=chatbot`: the topic's machine subscribers (Amazon Q Developer in chat
    /// applications) get its custom notification instead of the diagnosis JSON.
    pub sns_chatbot: bool,
    /// A Microsoft Teams Workflows webhook URL, in Secrets Manager (`TEAMS_WEBHOOK_SECRET_ARN`).
    pub teams_webhook_secret_arn: Option<String>,
    /// A PagerDuty Events API v2 routing key, in Secrets Manager
    /// (`PAGERDUTY_ROUTING_KEY_SECRET_ARN`), and where events go (`PAGERDUTY_EVENTS_URL`:
    /// PagerDuty's own endpoint unless set; https, or http on loopback for a local receiver).
    pub pagerduty_routing_key_secret_arn: Option<String>,
    pub pagerduty_events_url: Option<String>,
    /// Write CloudWatch Embedded Metric Format lines (diagnoses, publish failures) to stdout: on
    /// Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) unless `EMF_METRICS=off`; never on the CLI.
    pub emit_metrics: bool,
    /// How far back before the alarm to look for changes (rollouts, Service edits), in minutes
    /// (`CHANGES_WINDOW_MINUTES`, default 60; 0 turns it off).
    pub changes_window: ChangesWindow,
    /// Leave CloudTrail out of "what changed" (`CLOUDTRAIL_CHANGES=off`; it is read by default).
    pub skip_cloudtrail: bool,
    /// On Lambda, the function's log group and stream (`AWS_LAMBDA_LOG_GROUP_NAME`,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`): every channel links to this run's logs.
    pub log_stream: Option<(String, String)>,
}

impl Config {
    /// The Lambda's configuration, from its environment.
    pub fn from_env() -> Result<Config> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The same from any key → value lookup (tests, CLI defaults).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let non_empty = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let default_cluster = non_empty("DEFAULT_CLUSTER").map(|c| validate_cluster(&c).map(|_| c)).transpose()?;
        // KUBECONFIG may hold a list (a:b); kube reads the first file we pass it.
        let kubeconfig = non_empty("KUBECONFIG").map(|k| PathBuf::from(k.split(':').next().unwrap_or(&k)));
        let region = non_empty("AWS_REGION").or_else(|| non_empty("AWS_DEFAULT_REGION"));
        let dry_run = match non_empty("REMEDIATE_DRY_RUN").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(Error::Config(format!("REMEDIATE_DRY_RUN={other:?}: expected true or false"))),
        };
        let mut remediate = Remediation::parse(&non_empty("REMEDIATE").unwrap_or_default(), dry_run)
            .map_err(|e| Error::Config(format!("REMEDIATE: {e}")))?;
        // From the environment (the Lambda), a remediation acts only on alarm-triggered requests.
        remediate.on_alarm_only = remediate.kube_proxy;
        let probe = match non_empty("PROBE_MODE") {
            None => Default::default(),
            Some(m) => ProbeMode::parse(&m).map_err(|e| Error::Config(format!("PROBE_MODE={e}")))?,
        };
        let arn = |key: &str, service: &str| -> Result<Option<String>> {
            match non_empty(key) {
                Some(v) if !v.starts_with("arn:aws") || v.split(':').nth(2) != Some(service) => {
                    // Never echo what was given: it may be the secret itself (a webhook URL).
                    Err(Error::Config(format!("{key} is not an {service} ARN (arn:aws:{service}:…)")))
                }
                other => Ok(other),
            }
        };
        let assume_role_arn = arn("ASSUME_ROLE_ARN", "iam")?;
        let assume_role_arn_template = non_empty("ASSUME_ROLE_ARN_TEMPLATE");
        if let Some(t) = &assume_role_arn_template {
            if !t.contains("{account}") || !t.starts_with("arn:aws") {
                return Err(Error::Config(format!(
                    "ASSUME_ROLE_ARN_TEMPLATE={t:?} must be a role ARN containing {{account}}, e.g. arn:aws:iam::{{account}}:role/eks-lb-doctor"
                )));
            }
            if assume_role_arn.is_some() {
                return Err(Error::Config("set ASSUME_ROLE_ARN or ASSUME_ROLE_ARN_TEMPLATE, not both".into()));
            }
        }
        let notify_on_ok = match non_empty("NOTIFY_ON_OK").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(Error::Config(format!("NOTIFY_ON_OK={other:?}: expected true or false"))),
        };
        let list = |key: &str, valid: &dyn Fn(&str) -> bool, what: &str| -> Result<Option<Vec<String>>> {
            let Some(v) = non_empty(key) else { return Ok(None) };
            let items: Vec<String> = v.split(',').map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect();
            match items.iter().find(|i| !valid(i)) {
                Some(bad) => Err(Error::Config(format!("{key}: {bad:?} is not {what}"))),
                None => Ok(Some(items)),
            }
        };
        let allowed_accounts = list("ALLOWED_ACCOUNTS", &valid_account, "a 12-digit account id")?;
        let allowed_regions = list("ALLOWED_REGIONS", &valid_region, "a region (us-east-1)")?;
        let allowed_sns_topics = list(
            "ALLOWED_SNS_TOPICS",
            &|t| t.starts_with("arn:aws") && t.split(':').nth(2) == Some("sns"),
            "an SNS topic ARN",
        )?;
        // A table name, or (as the template passes it) a table ARN.
        let delivery_table = non_empty("DELIVERY_TABLE").map(|t| t.rsplit('/').next().unwrap_or(&t).to_string());
        if let Some(t) = &delivery_table {
            let ok = (3..=255).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !ok {
                return Err(Error::Config(format!("DELIVERY_TABLE={t:?} is not a DynamoDB table name")));
            }
        }
        let sns_chatbot = match non_empty("SNS_FORMAT").as_deref() {
            None | Some("diagnosis") => false,
            Some("chatbot") => true,
            Some(other) => return Err(Error::Config(format!("SNS_FORMAT={other:?}: expected diagnosis or chatbot"))),
        };
        let pagerduty_events_url = non_empty("PAGERDUTY_EVENTS_URL");
        if let Some(u) = &pagerduty_events_url {
            let loopback = ["http://127.", "http://localhost:", "http://[::1]:"]
                .iter()
                .any(|p| u.starts_with(p));
            if !u.starts_with("https://") && !loopback {
                return Err(Error::Config(format!("PAGERDUTY_EVENTS_URL={u:?}: expected an https:// URL")));
            }
        }
        let emit_metrics = non_empty("AWS_LAMBDA_FUNCTION_NAME").is_some() && non_empty("EMF_METRICS").as_deref() != Some("off");
        let changes_window = ChangesWindow(match non_empty("CHANGES_WINDOW_MINUTES") {
            None => DEFAULT_CHANGES_WINDOW,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|m| *m <= 24 * 60)
                .ok_or_else(|| Error::Config(format!("CHANGES_WINDOW_MINUTES={v:?}: expected minutes, 0 to 1440")))?,
        });
        Ok(Config {
            sns_chatbot,
            emit_metrics,
            changes_window,
            skip_cloudtrail: non_empty("CLOUDTRAIL_CHANGES").as_deref() == Some("off"),
            log_stream: non_empty("AWS_LAMBDA_LOG_GROUP_NAME").zip(non_empty("AWS_LAMBDA_LOG_STREAM_NAME")),
            pagerduty_events_url,
            teams_webhook_secret_arn: arn("TEAMS_WEBHOOK_SECRET_ARN", "secretsmanager")?,
            pagerduty_routing_key_secret_arn: arn("PAGERDUTY_ROUTING_KEY_SECRET_ARN", "secretsmanager")?,
            delivery_table,
            allowed_accounts,
            allowed_regions,
            allowed_sns_topics,
            default_cluster,
            kubeconfig,
            region,
            remediate,
            probe,
            assume_role_arn,
            assume_role_arn_template,
            assume_role_external_id: non_empty("ASSUME_ROLE_EXTERNAL_ID"),
            sns_topic_arn: arn("SNS_TOPIC_ARN", "sns")?,
            slack_webhook_secret_arn: arn("SLACK_WEBHOOK_SECRET_ARN", "secretsmanager")?,
            notify_on_ok,
        })
    }
}

/// A 12-digit AWS account id.
pub fn valid_account(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

/// A region name as AWS writes them: `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`.
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()))
}

impl Config {
    /// Whether this deployment may act on a request: its account and region are allowed and
    /// well formed, and its cluster name (when given) is a valid EKS name. Checked on every path
    /// (alarm, SNS, manual payload, CLI) before any credential is used. The reason, when not.
    pub fn admit(&self, req: &crate::trigger::Request) -> std::result::Result<(), String> {
        if !valid_account(&req.account) {
            return Err(format!("account {:?} is not a 12-digit account id", req.account));
        }
        if !valid_region(&req.region) {
            return Err(format!("region {:?} is not a region name", req.region));
        }
        if let Some(c) = &req.cluster {
            validate_cluster(c).map_err(|e| e.to_string())?;
        }
        if self.allowed_accounts.as_ref().is_some_and(|a| !a.contains(&req.account)) {
            return Err(format!("account {} is not in ALLOWED_ACCOUNTS", req.account));
        }
        if self.allowed_regions.as_ref().is_some_and(|r| !r.contains(&req.region)) {
            return Err(format!("region {} is not in ALLOWED_REGIONS", req.region));
        }
        Ok(())
    }

    /// Whether this deployment may scan: the region is well formed and allowed, the cluster and
    /// namespace (when given) are valid names. The reason, when not.
    pub fn admit_scan(&self, scan: &crate::trigger::ScanRequest) -> std::result::Result<(), String> {
        if !valid_region(&scan.region) {
            return Err(format!("region {:?} is not a region name", scan.region));
        }
        if self.allowed_regions.as_ref().is_some_and(|r| !r.contains(&scan.region)) {
            return Err(format!("region {} is not in ALLOWED_REGIONS", scan.region));
        }
        if let Some(c) = &scan.cluster {
            validate_cluster(c).map_err(|e| e.to_string())?;
        }
        if let Some(ns) = &scan.namespace {
            validate_namespace(ns).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// An SNS-delivered payload is accepted only from an allowed topic (`ALLOWED_SNS_TOPICS`), or,
    /// with none configured, from a topic in the alarm's own account: anyone who can publish to
    /// some other topic subscribed to this function must not choose what it reads.
    pub fn admit_sns(&self, payload: &serde_json::Value) -> std::result::Result<(), String> {
        let Some(records) = payload.get("Records").and_then(|r| r.as_array()) else {
            return Ok(());
        };
        for r in records {
            let Some(sns) = r.get("Sns") else { continue };
            let topic = sns.get("TopicArn").and_then(|t| t.as_str()).unwrap_or("");
            let allowed = match &self.allowed_sns_topics {
                Some(list) => list.iter().any(|t| t == topic),
                None => {
                    let topic_account = topic.split(':').nth(4);
                    let alarm_account = (sns.get("Message").and_then(|m| m.as_str()))
                        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                        .and_then(|m| m.get("AlarmArn")?.as_str().map(|a| a.split(':').nth(4).unwrap_or("").to_string()));
                    topic_account.is_some() && topic_account == alarm_account.as_deref()
                }
            };
            if !allowed {
                return Err(format!(
                    "SNS topic {topic:?} may not trigger a diagnosis (ALLOWED_SNS_TOPICS, or a topic in the alarm's own account)"
                ));
            }
        }
        Ok(())
    }
}

/// The health probe (`PROBE_MODE`, `--probe`): off unless asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProbeMode {
    #[default]
    Off,
    /// Dial the targets from where eks-lb-doctor runs.
    Direct,
    /// Through the API server's pod / node proxy.
    ApiserverProxy,
}

impl ProbeMode {
    pub fn parse(s: &str) -> Result<ProbeMode, String> {
        match s {
            "off" => Ok(ProbeMode::Off),
            "direct" => Ok(ProbeMode::Direct),
            "apiserver-proxy" => Ok(ProbeMode::ApiserverProxy),
            other => Err(format!("{other:?}: expected off, direct or apiserver-proxy")),
        }
    }
}

/// What remediation is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remediation {
    pub kube_proxy: bool,
    pub dry_run: bool,
    /// Only for requests an alarm triggered: set when it comes from the environment (the
    /// Lambda), so a manual payload never writes; an explicit `--remediate` acts on any request.
    pub on_alarm_only: bool,
}

impl Remediation {
    /// Parses `kube-proxy` (a comma-separated list, for the ones to come).
    pub fn parse(list: &str, dry_run: bool) -> Result<Remediation, String> {
        let mut r = Remediation {
            dry_run,
            ..Default::default()
        };
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "kube-proxy" => r.kube_proxy = true,
                other => return Err(format!("unknown remediation {other:?}; known: kube-proxy")),
            }
        }
        Ok(r)
    }
}

/// A namespace name (a DNS-1123 label): 1–63 lowercase letters, digits or `-`, starting and
/// ending with a letter or digit.
pub fn validate_namespace(name: &str) -> Result<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum);
    match ok {
        true => Ok(()),
        false => Err(Error::Config(format!("namespace {name:?} is not a Kubernetes namespace name"))),
    }
}

/// EKS cluster names: 1–100 characters, a letter or digit first, then letters, digits, `-`, `_`.
pub fn validate_cluster(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "cluster name {name:?} is not a valid EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn reads_cluster_kubeconfig_and_region() {
        let c = cfg(&[
            ("DEFAULT_CLUSTER", "prod-1"),
            ("KUBECONFIG", "/a/config:/b/config"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(c.default_cluster.as_deref(), Some("prod-1"));
        assert_eq!(c.kubeconfig, Some(PathBuf::from("/a/config")));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn invalid_cluster_name_is_a_clear_config_error() {
        let e = cfg(&[("DEFAULT_CLUSTER", "-bad name")]).unwrap_err();
        assert!(e.to_string().contains("not a valid EKS cluster name"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn remediation_is_off_unless_named() {
        assert!(!cfg(&[]).unwrap().remediate.kube_proxy);
        let c = cfg(&[("REMEDIATE", "kube-proxy"), ("REMEDIATE_DRY_RUN", "true")]).unwrap();
        assert!(c.remediate.kube_proxy && c.remediate.dry_run && c.remediate.on_alarm_only);
        assert!(cfg(&[("REMEDIATE", "everything")])
            .unwrap_err()
            .to_string()
            .contains("unknown remediation"));
        assert!(cfg(&[("REMEDIATE_DRY_RUN", "maybe")])
            .unwrap_err()
            .to_string()
            .contains("expected true or false"));
    }

    #[test]
    fn probe_is_off_unless_asked() {
        assert_eq!(cfg(&[]).unwrap().probe, ProbeMode::Off);
        assert_eq!(cfg(&[("PROBE_MODE", "apiserver-proxy")]).unwrap().probe, ProbeMode::ApiserverProxy);
        assert!(cfg(&[("PROBE_MODE", "ping")])
            .unwrap_err()
            .to_string()
            .contains("expected off, direct or apiserver-proxy"));
    }

    #[test]
    fn publishing_and_roles_are_validated_once() {
        let c = cfg(&[
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts"),
            (
                "SLACK_WEBHOOK_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:slack-AbCdEf",
            ),
            ("ASSUME_ROLE_ARN_TEMPLATE", "arn:aws:iam::{account}:role/eks-lb-doctor"),
            ("NOTIFY_ON_OK", "true"),
        ])
        .unwrap();
        assert!(c.notify_on_ok && c.sns_topic_arn.is_some() && c.slack_webhook_secret_arn.is_some());
        for (k, v, msg) in [
            ("SNS_TOPIC_ARN", "alerts", "is not an sns ARN"),
            (
                "SLACK_WEBHOOK_SECRET_ARN",
                "https://hooks.slack.com/services/T/B/X",
                "is not an secretsmanager ARN",
            ),
            (
                "ASSUME_ROLE_ARN_TEMPLATE",
                "arn:aws:iam::111122223333:role/x",
                "must be a role ARN containing {account}",
            ),
            ("ASSUME_ROLE_ARN", "role/x", "is not an iam ARN"),
        ] {
            let e = cfg(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(msg), "{k}: {e}");
        }
        // a webhook URL put where the secret's ARN belongs is never echoed
        assert!(!cfg(&[("SLACK_WEBHOOK_SECRET_ARN", "https://hooks.slack.com/services/T/B/X")])
            .unwrap_err()
            .to_string()
            .contains("hooks.slack.com"));
    }

    fn request(account: &str, region: &str, cluster: Option<&str>) -> crate::trigger::Request {
        crate::trigger::Request {
            target_group_arn: format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/web/0123456789abcdef"),
            region: region.into(),
            account: account.into(),
            cluster: cluster.map(str::to_string),
            alarm: None,
            publish: false,
        }
    }

    /// (env, account, region, cluster, admitted?)
    #[test]
    fn requests_are_admitted_only_within_the_allow_lists_and_well_formed() {
        let open = cfg(&[]).unwrap();
        let fenced = cfg(&[("ALLOWED_ACCOUNTS", "111122223333, 444455556666"), ("ALLOWED_REGIONS", "us-east-1")]).unwrap();
        for (c, account, region, cluster, ok) in [
            (&open, "111122223333", "us-east-1", None, true),
            (&open, "111122223333", "us-gov-west-1", Some("prod_1"), true),
            (&open, "1111", "us-east-1", None, false),
            (&open, "111122223333", "us-east-1\nX", None, false),
            (&open, "111122223333", "us-east-1", Some("prod;rm"), false),
            (&fenced, "444455556666", "us-east-1", None, true),
            (&fenced, "999988887777", "us-east-1", None, false),
            (&fenced, "111122223333", "eu-west-1", None, false),
        ] {
            assert_eq!(
                c.admit(&request(account, region, cluster)).is_ok(),
                ok,
                "{account} {region} {cluster:?}"
            );
        }
        assert!(cfg(&[("ALLOWED_ACCOUNTS", "all")])
            .unwrap_err()
            .to_string()
            .contains("is not a 12-digit account id"));
    }

    #[test]
    fn sns_payloads_only_from_allowed_topics_or_the_alarms_own_account() {
        let payload = |topic: &str| {
            let message = serde_json::json!({"AlarmArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"}).to_string();
            serde_json::json!({"Records": [{"Sns": {"TopicArn": topic, "Message": message}}]})
        };
        let open = cfg(&[]).unwrap();
        assert!(open.admit_sns(&payload("arn:aws:sns:us-east-1:111122223333:alarms")).is_ok());
        assert!(open.admit_sns(&payload("arn:aws:sns:us-east-1:999988887777:elsewhere")).is_err());
        let listed = cfg(&[("ALLOWED_SNS_TOPICS", "arn:aws:sns:us-east-1:999988887777:central")]).unwrap();
        assert!(listed.admit_sns(&payload("arn:aws:sns:us-east-1:999988887777:central")).is_ok());
        assert!(listed.admit_sns(&payload("arn:aws:sns:us-east-1:111122223333:alarms")).is_err());
        // not an SNS payload: nothing to check here
        assert!(listed.admit_sns(&serde_json::json!({"targetGroupArn": "x"})).is_ok());
    }

    #[test]
    fn blank_values_count_as_unset() {
        assert_eq!(cfg(&[("DEFAULT_CLUSTER", "  ")]).unwrap(), Config::default());
    }

    #[test]
    fn a_scan_is_admitted_only_for_valid_allowed_names() {
        // GIVEN a deployment allowed one region
        let c = cfg(&[("ALLOWED_REGIONS", "eu-west-1")]).unwrap();
        let scan = |region: &str, cluster: Option<&str>, ns: Option<&str>| crate::trigger::ScanRequest {
            region: region.into(),
            cluster: cluster.map(String::from),
            namespace: ns.map(String::from),
        };
        // THEN a valid scan there passes; another region, a bad cluster or namespace name does not
        assert!(c.admit_scan(&scan("eu-west-1", Some("prod"), Some("shop"))).is_ok());
        assert!(c
            .admit_scan(&scan("us-east-1", None, None))
            .unwrap_err()
            .contains("ALLOWED_REGIONS"));
        assert!(c.admit_scan(&scan("eu-west-1", Some("prod;rm"), None)).is_err());
        for bad in ["Shop", "-shop", "shop-", "a/b", "", &"x".repeat(64)] {
            assert!(c.admit_scan(&scan("eu-west-1", None, Some(bad))).is_err(), "{bad:?}");
        }
    }
}
