//! `scan`: which target groups belong to a cluster, and their target health, read in bulk.
//!
//! A target group belongs to the cluster when one of its TargetGroupBindings names it (the Load
//! Balancer Controller makes one for every target group it manages, and users make their own),
//! or, given the cluster's name, when its tags say so: `elbv2.k8s.aws/cluster` is the tag the
//! controller puts on every resource it creates (aws-load-balancer-controller,
//! pkg/deploy/tracking/provider.go, `tagKeyClusterName`), `eks:eks-cluster-name` EKS Auto Mode's.
//! The bindings need the cluster; the tags need DescribeTargetGroups over the region (400 a page)
//! and DescribeTags (20 a call): a handful of calls for hundreds of groups.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2 as elbv2;
use futures::stream::StreamExt;

use super::aws;
use super::shared::Shared;
use crate::snapshot::{Fetched, Missing, TargetGroup, TargetGroupBinding, TargetHealth};

/// Target-health reads in flight at once: enough to read 200 groups in a dozen round trips, few
/// enough for the ELB Describe quota the controller shares (the SDK's adaptive retries slow every
/// client down together once it throttles).
pub const HEALTH_AT_ONCE: usize = 16;

/// A target group to scan, and what names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub arn: String,
    pub name: String,
    /// `namespace/name` of the bound Service, when a binding names it.
    pub service: Option<String>,
}

/// The tags that tie a target group to a cluster.
const CLUSTER_TAGS: [&str; 2] = ["elbv2.k8s.aws/cluster", "eks:eks-cluster-name"];
/// The tags that name the namespace of what the controller made the group for.
const STACK_TAGS: [&str; 2] = ["service.k8s.aws/stack", "ingress.k8s.aws/stack"];

/// What discovery read of the region: every target group's description and tags.
#[derive(Default)]
pub struct Region {
    pub groups: BTreeMap<String, TargetGroup>,
    pub tags: BTreeMap<String, BTreeMap<String, String>>,
}

/// The cluster's target groups: every binding's (in `namespace`, if given), then, when the
/// cluster's name is known, every group in the region tagged for it. Also what was read.
pub async fn target_groups(
    elb: &elbv2::Client,
    bindings: &Fetched<Vec<TargetGroupBinding>>,
    cluster: Option<&str>,
    namespace: Option<&str>,
) -> Result<(Vec<Found>, Region), Missing> {
    let mut found: Vec<Found> = Vec::new();
    let in_ns = |ns: &str| namespace.is_none_or(|n| n == ns);
    for b in bindings.ok().into_iter().flatten().filter(|b| in_ns(&b.namespace)) {
        if !found.iter().any(|f| f.arn == b.target_group_arn) {
            found.push(Found {
                arn: b.target_group_arn.clone(),
                name: name_of(&b.target_group_arn),
                service: Some(format!("{}/{}", b.namespace, b.service_name)),
            });
        }
    }
    let Some(cluster) = cluster else {
        return Ok((found, Region::default()));
    };
    let mut groups = BTreeMap::new();
    let mut pages = elb.describe_target_groups().page_size(400).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::missing("DescribeTargetGroups", &e))?;
        groups.extend(page.target_groups().iter().map(|t| {
            let tg = aws::convert_tg(t);
            (tg.arn.clone(), tg)
        }));
    }
    let all: Vec<String> = groups.keys().cloned().collect();
    let tags = match aws::tags(elb, &all).await {
        Fetched::Ok(t) => t,
        Fetched::Failed(m) => return Err(m),
        Fetched::NotCollected { reason } => {
            return Err(Missing {
                api: "DescribeTags".into(),
                permission: String::new(),
                error: reason,
            })
        }
    };
    for arn in all {
        let Some(t) = tags.get(&arn) else { continue };
        let ours = CLUSTER_TAGS.iter().any(|k| t.get(*k).map(String::as_str) == Some(cluster));
        // The stack tag is `namespace/name` (or an Ingress group's name): the namespace filter
        // keeps a tagged group only when its stack is in that namespace.
        let stack_ns = STACK_TAGS
            .iter()
            .find_map(|k| t.get(*k))
            .and_then(|s| s.split_once('/'))
            .map(|(ns, _)| ns);
        let wanted = namespace.is_none() || stack_ns.is_some_and(in_ns);
        if ours && wanted && !found.iter().any(|f| f.arn == arn) {
            found.push(Found {
                name: name_of(&arn),
                arn,
                service: None,
            });
        }
    }
    Ok((found, Region { groups, tags }))
}

/// The descriptions of `arns`, 20 a call; `None` when a call fails (one ARN not found fails the
/// whole call): each diagnosis then reads its own, and reports its own error.
pub async fn describe(elb: &elbv2::Client, arns: &[String]) -> Option<Vec<TargetGroup>> {
    let mut out = Vec::new();
    for chunk in arns.chunks(20) {
        let page = elb
            .describe_target_groups()
            .set_target_group_arns(Some(chunk.to_vec()))
            .send()
            .await
            .ok()?;
        out.extend(page.target_groups().iter().map(aws::convert_tg));
    }
    Some(out)
}

/// Hands the pass the groups' descriptions, their tags, and their load balancers and those's tags
/// read in batches (20 a call), so no diagnosis reads them again. A failed batch primes nothing:
/// the diagnoses then read their own.
pub async fn prime_groups(shared: &Shared, aws_scope: &str, elb: &elbv2::Client, groups: &[TargetGroup]) {
    for tg in groups {
        let fetched = Fetched::Ok(tg.clone());
        shared
            .once(
                super::aws_key(aws_scope, "DescribeTargetGroups", std::slice::from_ref(&tg.arn)),
                || async { fetched },
            )
            .await;
    }
    let mut lbs: Vec<String> = groups.iter().flat_map(|t| t.load_balancer_arns.iter().cloned()).collect();
    lbs.sort();
    lbs.dedup();
    // The groups' own tags and their load balancers', 20 a call: one batch each.
    let arns: Vec<String> = groups.iter().map(|t| t.arn.clone()).collect();
    let (described, tags, own_tags) = tokio::join!(
        async {
            match lbs.is_empty() {
                true => Fetched::not_collected("no load balancer"),
                false => aws::load_balancers(elb, &lbs).await,
            }
        },
        async {
            match lbs.is_empty() {
                true => Fetched::not_collected("no load balancer"),
                false => aws::tags(elb, &lbs).await,
            }
        },
        aws::tags(elb, &arns),
    );
    if let Fetched::Ok(all) = &own_tags {
        for arn in &arns {
            let mine = Fetched::Ok(BTreeMap::from([(arn.clone(), all.get(arn).cloned().unwrap_or_default())]));
            shared
                .once(super::aws_key(aws_scope, "DescribeTags", std::slice::from_ref(arn)), || async {
                    mine
                })
                .await;
        }
    }
    for tg in groups.iter().filter(|t| !t.load_balancer_arns.is_empty()) {
        let key = super::key_of(&tg.load_balancer_arns);
        if let Fetched::Ok(all) = &described {
            let mine: Vec<_> = all.iter().filter(|lb| key.contains(&lb.arn)).cloned().collect();
            let mine = Fetched::Ok(mine);
            shared
                .once(super::aws_key(aws_scope, "DescribeLoadBalancers", &key), || async { mine })
                .await;
        }
        if let Fetched::Ok(all) = &tags {
            let mine: BTreeMap<_, _> = all
                .iter()
                .filter(|(arn, _)| key.contains(arn))
                .map(|(a, t)| (a.clone(), t.clone()))
                .collect();
            let mine = Fetched::Ok(mine);
            shared
                .once(super::aws_key(aws_scope, "DescribeTags", &key), || async { mine })
                .await;
        }
    }
}

/// `…:targetgroup/NAME/ID` → NAME.
fn name_of(arn: &str) -> String {
    arn.rsplit(':').next().and_then(|r| r.split('/').nth(1)).unwrap_or(arn).to_string()
}

/// Every group's target health, a few reads at a time, in the order given.
pub async fn health(elb: &elbv2::Client, arns: &[String]) -> Vec<Fetched<Vec<TargetHealth>>> {
    futures::stream::iter(arns.iter().map(|a| aws::target_health(elb, a)))
        .buffered(HEALTH_AT_ONCE)
        .collect()
        .await
}

/// Hands what the scan has read to the pass, so the diagnoses do not read it again.
pub async fn prime(
    shared: &Shared,
    aws_scope: &str,
    arn: &str,
    health: Fetched<Vec<TargetHealth>>,
    tags: Option<BTreeMap<String, String>>,
) {
    let key = [arn.to_string()];
    shared
        .once(super::aws_key(aws_scope, "DescribeTargetHealth", &key), || async { health })
        .await;
    if let Some(t) = tags {
        let map: Fetched<BTreeMap<String, BTreeMap<String, String>>> = Fetched::Ok([(arn.to_string(), t)].into());
        shared.once(super::aws_key(aws_scope, "DescribeTags", &key), || async { map }).await;
    }
}
