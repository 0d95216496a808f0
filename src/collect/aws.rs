//! AWS evidence: ELBv2 calls, each turned into plain snapshot data. A failed call becomes a
//! [`Missing`] naming the API and the IAM action, never an error, except where nothing can be
//! diagnosed at all (the target group does not exist, AWS cannot be reached).

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_smithy_types::error::display::DisplayErrorContext;
use elbv2::error::{ProvideErrorMetadata, SdkError};
use tracing::instrument;

use crate::error::{Error, Result};
use crate::snapshot::{Fetched, HealthCheck, LbZone, Listener, LoadBalancer, Missing, TargetGroup, TargetHealth};

/// ELBv2's DescribeTags takes at most 20 ARNs per call.
const TAGS_PER_CALL: usize = 20;
/// Chunked calls (of a scan's hundreds of groups) in flight at once.
const CHUNKS_AT_ONCE: usize = 4;

/// Turns an ELBv2 SDK error into the `Missing` record a check can quote.
pub fn missing<E, R>(api: &str, err: &SdkError<E, R>) -> Missing
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    missing_in("elasticloadbalancing", api, err)
}

/// The same for any service: the permission is `service:Api`.
pub fn missing_in<E, R>(service: &str, api: &str, err: &SdkError<E, R>) -> Missing
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let failed = crate::aws_error::call_failed(service, api, err);
    Missing {
        api: api.to_string(),
        permission: failed.permission,
        error: failed.error,
    }
}

/// The one call a diagnosis cannot do without: a missing target group or unreachable AWS stops
/// here (exit 3); AccessDenied is data, so the Kubernetes side still runs.
#[instrument(skip(client))]
pub async fn target_group(client: &elbv2::Client, arn: &str, region: &str) -> Result<Fetched<TargetGroup>> {
    match client.describe_target_groups().target_group_arns(arn).send().await {
        Ok(out) => match out.target_groups().first() {
            Some(tg) => Ok(Fetched::Ok(convert_tg(tg))),
            None => Err(Error::TargetGroupNotFound {
                arn: arn.into(),
                region: region.into(),
                message: "DescribeTargetGroups returned nothing".into(),
            }),
        },
        Err(e) if e.as_service_error().is_some_and(|se| se.is_target_group_not_found_exception()) => Err(Error::TargetGroupNotFound {
            arn: arn.into(),
            region: region.into(),
            message: missing("DescribeTargetGroups", &e).error,
        }),
        Err(e) if crate::aws_error::is_denied(&e) => Ok(Fetched::Failed(missing("DescribeTargetGroups", &e))),
        Err(e) => Err(Error::AwsUnavailable {
            api: "elasticloadbalancing:DescribeTargetGroups".into(),
            message: DisplayErrorContext(&e).to_string(),
        }),
    }
}

pub(super) fn convert_tg(tg: &elbv2::types::TargetGroup) -> TargetGroup {
    TargetGroup {
        arn: tg.target_group_arn().unwrap_or_default().into(),
        name: tg.target_group_name().unwrap_or_default().into(),
        target_type: tg
            .target_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "instance".into()),
        protocol: tg.protocol().map(|p| p.as_str().to_string()),
        protocol_version: tg.protocol_version().map(str::to_string),
        port: tg.port(),
        vpc_id: tg.vpc_id().map(str::to_string),
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
        health_check: HealthCheck {
            enabled: tg.health_check_enabled().unwrap_or(true),
            protocol: tg.health_check_protocol().map(|p| p.as_str().to_string()),
            port: tg.health_check_port().map(str::to_string),
            path: tg.health_check_path().map(str::to_string),
            matcher: tg.matcher().and_then(|m| m.http_code().or(m.grpc_code())).map(str::to_string),
            interval_seconds: tg.health_check_interval_seconds(),
            timeout_seconds: tg.health_check_timeout_seconds(),
            healthy_threshold: tg.healthy_threshold_count(),
            unhealthy_threshold: tg.unhealthy_threshold_count(),
        },
    }
}

#[instrument(skip(client))]
pub async fn target_health(client: &elbv2::Client, arn: &str) -> Fetched<Vec<TargetHealth>> {
    match client.describe_target_health().target_group_arn(arn).send().await {
        Ok(out) => Fetched::Ok(
            out.target_health_descriptions()
                .iter()
                .map(|d| {
                    let t = d.target();
                    let h = d.target_health();
                    TargetHealth {
                        id: t.and_then(|t| t.id()).unwrap_or_default().into(),
                        port: t.and_then(|t| t.port()),
                        availability_zone: t.and_then(|t| t.availability_zone()).map(str::to_string),
                        health_check_port: d.health_check_port().map(str::to_string),
                        state: h
                            .and_then(|h| h.state())
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|| "unknown".into()),
                        reason: h.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                        description: h.and_then(|h| h.description()).map(str::to_string),
                    }
                })
                .collect(),
        ),
        Err(e) => Fetched::Failed(missing("DescribeTargetHealth", &e)),
    }
}

/// Tags of any ELBv2 resources, in chunks of the API's limit.
#[instrument(skip(client))]
pub async fn tags(client: &elbv2::Client, arns: &[String]) -> Fetched<BTreeMap<String, BTreeMap<String, String>>> {
    use futures::stream::StreamExt;
    let mut all = BTreeMap::new();
    // A scan's hundreds of groups: the chunks a few at a time, not one after another.
    let calls = arns
        .chunks(TAGS_PER_CALL)
        .map(|chunk| client.describe_tags().set_resource_arns(Some(chunk.to_vec())).send());
    let answers: Vec<_> = futures::stream::iter(calls).buffered(CHUNKS_AT_ONCE).collect().await;
    for answer in answers {
        match answer {
            Ok(out) => {
                for d in out.tag_descriptions() {
                    let tags = d
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                        .collect();
                    all.insert(d.resource_arn().unwrap_or_default().to_string(), tags);
                }
            }
            Err(e) => return Fetched::Failed(missing("DescribeTags", &e)),
        }
    }
    Fetched::Ok(all)
}

#[instrument(skip(client))]
pub async fn load_balancers(client: &elbv2::Client, arns: &[String]) -> Fetched<Vec<LoadBalancer>> {
    if arns.is_empty() {
        return Fetched::not_collected("the target group is not attached to a load balancer");
    }
    // The API takes 20 ARNs a call: the chunks a few at a time.
    use futures::stream::StreamExt;
    let calls = arns.chunks(TAGS_PER_CALL).map(|chunk| describe_load_balancers(client, chunk));
    let answers: Vec<_> = futures::stream::iter(calls).buffered(CHUNKS_AT_ONCE).collect().await;
    let mut all = Vec::new();
    for answer in answers {
        match answer {
            Fetched::Ok(lbs) => all.extend(lbs),
            other => return other,
        }
    }
    Fetched::Ok(all)
}

async fn describe_load_balancers(client: &elbv2::Client, arns: &[String]) -> Fetched<Vec<LoadBalancer>> {
    match client
        .describe_load_balancers()
        .set_load_balancer_arns(Some(arns.to_vec()))
        .send()
        .await
    {
        Ok(out) => Fetched::Ok(
            out.load_balancers()
                .iter()
                .map(|lb| LoadBalancer {
                    arn: lb.load_balancer_arn().unwrap_or_default().into(),
                    name: lb.load_balancer_name().unwrap_or_default().into(),
                    kind: lb.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    scheme: lb.scheme().map(|s| s.as_str().to_string()),
                    vpc_id: lb.vpc_id().map(str::to_string),
                    dns_name: lb.dns_name().map(str::to_string),
                    security_groups: lb.security_groups().to_vec(),
                    zones: lb
                        .availability_zones()
                        .iter()
                        .map(|z| LbZone {
                            zone: z.zone_name().unwrap_or_default().into(),
                            subnet_id: z.subnet_id().map(str::to_string),
                        })
                        .collect(),
                })
                .collect(),
        ),
        Err(e) => Fetched::Failed(missing("DescribeLoadBalancers", &e)),
    }
}

/// Listeners of each load balancer (one call per load balancer; a target group has one or two).
#[instrument(skip(client))]
pub async fn listeners(client: &elbv2::Client, lb_arns: &[String]) -> Fetched<Vec<Listener>> {
    if lb_arns.is_empty() {
        return Fetched::not_collected("the target group is not attached to a load balancer");
    }
    let calls = lb_arns.iter().map(|arn| client.describe_listeners().load_balancer_arn(arn).send());
    let mut all = Vec::new();
    for (arn, res) in lb_arns.iter().zip(futures::future::join_all(calls).await) {
        match res {
            Ok(out) => all.extend(out.listeners().iter().map(|l| Listener {
                arn: l.listener_arn().unwrap_or_default().into(),
                load_balancer_arn: arn.clone(),
                port: l.port(),
                protocol: l.protocol().map(|p| p.as_str().to_string()),
            })),
            Err(e) => return Fetched::Failed(missing("DescribeListeners", &e)),
        }
    }
    Fetched::Ok(all)
}

#[instrument(skip(client))]
pub async fn target_group_attributes(client: &elbv2::Client, arn: &str) -> Fetched<BTreeMap<String, String>> {
    match client.describe_target_group_attributes().target_group_arn(arn).send().await {
        Ok(out) => Fetched::Ok(
            out.attributes()
                .iter()
                .filter_map(|a| Some((a.key()?.to_string(), a.value().unwrap_or_default().to_string())))
                .collect(),
        ),
        Err(e) => Fetched::Failed(missing("DescribeTargetGroupAttributes", &e)),
    }
}
