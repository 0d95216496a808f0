//! Collection against mocked AWS clients (aws-smithy-mocks) for what moto cannot produce:
//! AccessDenied / UnauthorizedOperation on each call, and the call count at scale.

use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use ec2::types as e;
use elbv2::types as l;

use super::{collect, Clients, KubeAccess};
use crate::checks::{CheckId, Status};
use crate::diagnosis::Diagnosis;
use crate::trigger::Request;

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef";
const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0a1b2c3d4e5f6a7b";

fn instance_id(i: usize) -> String {
    format!("i-{i:017x}")
}

fn denied(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("You are not authorized to perform this operation.")
        .build()
}

/// ELBv2: an instance target group of `n` targets (the first unhealthy) behind one ALB.
fn elbv2_rules(n: usize) -> Vec<Rule> {
    vec![
        mock!(elbv2::Client::describe_target_groups).then_output(|| {
            elbv2::operation::describe_target_groups::DescribeTargetGroupsOutput::builder()
                .target_groups(
                    l::TargetGroup::builder()
                        .target_group_arn(TG)
                        .target_group_name("web")
                        .target_type(l::TargetTypeEnum::Instance)
                        .protocol(l::ProtocolEnum::Http)
                        .port(32663)
                        .vpc_id("vpc-1")
                        .load_balancer_arns(LB)
                        .health_check_port("traffic-port")
                        .build(),
                )
                .build()
        }),
        mock!(elbv2::Client::describe_target_health).then_output(move || {
            let mut out = elbv2::operation::describe_target_health::DescribeTargetHealthOutput::builder();
            for i in 0..n {
                let state = if i == 0 {
                    l::TargetHealthStateEnum::Unhealthy
                } else {
                    l::TargetHealthStateEnum::Healthy
                };
                out = out.target_health_descriptions(
                    l::TargetHealthDescription::builder()
                        .target(l::TargetDescription::builder().id(instance_id(i)).port(32663).build())
                        .target_health(
                            l::TargetHealth::builder()
                                .state(state)
                                .reason(l::TargetHealthReasonEnum::Timeout)
                                .build(),
                        )
                        .build(),
                );
            }
            out.build()
        }),
        mock!(elbv2::Client::describe_tags).then_output(|| elbv2::operation::describe_tags::DescribeTagsOutput::builder().build()),
        mock!(elbv2::Client::describe_load_balancers).then_output(|| {
            elbv2::operation::describe_load_balancers::DescribeLoadBalancersOutput::builder()
                .load_balancers(
                    l::LoadBalancer::builder()
                        .load_balancer_arn(LB)
                        .load_balancer_name("web")
                        .r#type(l::LoadBalancerTypeEnum::Application)
                        .security_groups("sg-alb")
                        .availability_zones(
                            l::AvailabilityZone::builder()
                                .zone_name("us-east-1a")
                                .subnet_id("subnet-lb")
                                .build(),
                        )
                        .build(),
                )
                .build()
        }),
        mock!(elbv2::Client::describe_listeners)
            .then_output(|| elbv2::operation::describe_listeners::DescribeListenersOutput::builder().build()),
        mock!(elbv2::Client::describe_target_group_attributes)
            .then_output(|| elbv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput::builder().build()),
    ]
}

/// EC2: every instance asked for, in subnet-a with sg-node; one VPC with its subnets, default
/// NACL and main route table. `deny` makes one operation answer UnauthorizedOperation.
fn ec2_rules(deny: Option<&'static str>) -> Vec<Rule> {
    let unauthorized = |op: &str| deny == Some(op);
    let mut rules = Vec::new();
    if unauthorized("DescribeInstances") {
        rules.push(
            mock!(ec2::Client::describe_instances)
                .then_error(|| ec2::operation::describe_instances::DescribeInstancesError::generic(denied("UnauthorizedOperation"))),
        );
    } else {
        rules.push(mock!(ec2::Client::describe_instances).then_output(|| {
            // Answers what the filter asked for (the mock sees no request here: 200 per chunk).
            let mut r = e::Reservation::builder();
            for i in 0..200 {
                r = r.instances(
                    e::Instance::builder()
                        .instance_id(instance_id(i))
                        .state(e::InstanceState::builder().name(e::InstanceStateName::Running).build())
                        .placement(e::Placement::builder().availability_zone("us-east-1a").build())
                        .subnet_id("subnet-a")
                        .private_ip_address("10.0.1.5")
                        .network_interfaces(
                            e::InstanceNetworkInterface::builder()
                                .network_interface_id(format!("eni-{i}"))
                                .subnet_id("subnet-a")
                                .attachment(e::InstanceNetworkInterfaceAttachment::builder().device_index(0).build())
                                .groups(e::GroupIdentifier::builder().group_id("sg-node").build())
                                .build(),
                        )
                        .build(),
                );
            }
            ec2::operation::describe_instances::DescribeInstancesOutput::builder()
                .reservations(r.build())
                .build()
        }));
    }
    if unauthorized("DescribeSecurityGroups") {
        rules.push(mock!(ec2::Client::describe_security_groups).then_error(|| {
            ec2::operation::describe_security_groups::DescribeSecurityGroupsError::generic(denied("UnauthorizedOperation"))
        }));
    } else {
        rules.push(mock!(ec2::Client::describe_security_groups).then_output(|| {
            // The NodePorts are open to a managed prefix list holding the VPC (and so the ALB's
            // subnets): the security-groups verdict needs the list's entries.
            let from_alb = e::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(30000)
                .to_port(32767)
                .prefix_list_ids(e::PrefixListId::builder().prefix_list_id("pl-vpc").build())
                .build();
            // Every group AWS creates lets all traffic out until someone changes it.
            let all_out = e::IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(e::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build();
            ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    e::SecurityGroup::builder()
                        .group_id("sg-alb")
                        .ip_permissions_egress(all_out)
                        .build(),
                )
                .security_groups(e::SecurityGroup::builder().group_id("sg-node").ip_permissions(from_alb).build())
                .build()
        }));
    }
    if unauthorized("DescribeManagedPrefixLists") {
        rules.push(mock!(ec2::Client::describe_managed_prefix_lists).then_error(|| {
            ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsError::generic(denied("UnauthorizedOperation"))
        }));
    } else {
        rules.push(mock!(ec2::Client::describe_managed_prefix_lists).then_output(|| {
            ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(
                    e::ManagedPrefixList::builder()
                        .prefix_list_id("pl-vpc")
                        .prefix_list_name("vpc")
                        .build(),
                )
                .build()
        }));
    }
    if unauthorized("GetManagedPrefixListEntries") {
        rules.push(mock!(ec2::Client::get_managed_prefix_list_entries).then_error(|| {
            ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesError::generic(denied("UnauthorizedOperation"))
        }));
    } else {
        rules.push(mock!(ec2::Client::get_managed_prefix_list_entries).then_output(|| {
            ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput::builder()
                .entries(e::PrefixListEntry::builder().cidr("10.0.0.0/16").build())
                .build()
        }));
    }
    if unauthorized("DescribeSubnets") {
        rules.push(
            mock!(ec2::Client::describe_subnets)
                .then_error(|| ec2::operation::describe_subnets::DescribeSubnetsError::generic(denied("UnauthorizedOperation"))),
        );
    } else {
        rules.push(mock!(ec2::Client::describe_subnets).then_output(|| {
            let s = |id: &str, cidr: &str| {
                e::Subnet::builder()
                    .subnet_id(id)
                    .vpc_id("vpc-1")
                    .availability_zone("us-east-1a")
                    .cidr_block(cidr)
                    .build()
            };
            ec2::operation::describe_subnets::DescribeSubnetsOutput::builder()
                .subnets(s("subnet-a", "10.0.1.0/24"))
                .subnets(s("subnet-lb", "10.0.101.0/24"))
                .build()
        }));
    }
    if unauthorized("DescribeNetworkAcls") {
        rules.push(
            mock!(ec2::Client::describe_network_acls)
                .then_error(|| ec2::operation::describe_network_acls::DescribeNetworkAclsError::generic(denied("UnauthorizedOperation"))),
        );
    } else {
        rules.push(mock!(ec2::Client::describe_network_acls).then_output(|| {
            let all = |egress: bool| {
                e::NetworkAclEntry::builder()
                    .rule_number(100)
                    .protocol("-1")
                    .rule_action(e::RuleAction::Allow)
                    .egress(egress)
                    .cidr_block("0.0.0.0/0")
                    .build()
            };
            ec2::operation::describe_network_acls::DescribeNetworkAclsOutput::builder()
                .network_acls(
                    e::NetworkAcl::builder()
                        .network_acl_id("acl-1")
                        .vpc_id("vpc-1")
                        .is_default(true)
                        .entries(all(false))
                        .entries(all(true))
                        .build(),
                )
                .build()
        }));
    }
    if unauthorized("DescribeRouteTables") {
        rules.push(
            mock!(ec2::Client::describe_route_tables)
                .then_error(|| ec2::operation::describe_route_tables::DescribeRouteTablesError::generic(denied("UnauthorizedOperation"))),
        );
    } else {
        rules.push(mock!(ec2::Client::describe_route_tables).then_output(|| {
            ec2::operation::describe_route_tables::DescribeRouteTablesOutput::builder()
                .route_tables(
                    e::RouteTable::builder()
                        .route_table_id("rtb-1")
                        .vpc_id("vpc-1")
                        .associations(e::RouteTableAssociation::builder().main(true).build())
                        .routes(
                            e::Route::builder()
                                .destination_cidr_block("10.0.0.0/16")
                                .gateway_id("local")
                                .build(),
                        )
                        .build(),
                )
                .build()
        }));
    }
    if unauthorized("DescribeVpcs") {
        rules.push(
            mock!(ec2::Client::describe_vpcs)
                .then_error(|| ec2::operation::describe_vpcs::DescribeVpcsError::generic(denied("UnauthorizedOperation"))),
        );
    } else {
        rules.push(mock!(ec2::Client::describe_vpcs).then_output(|| {
            ec2::operation::describe_vpcs::DescribeVpcsOutput::builder()
                .vpcs(e::Vpc::builder().vpc_id("vpc-1").cidr_block("10.0.0.0/16").build())
                .build()
        }));
    }
    rules
}

fn request() -> Request {
    Request {
        target_group_arn: TG.into(),
        region: "us-east-1".into(),
        account: "111122223333".into(),
        cluster: None,
        alarm: None,
        publish: false,
    }
}

async fn diagnose(n: usize, deny: Option<&'static str>) -> (Diagnosis, Vec<Rule>, Vec<Rule>) {
    let elb_rules = elbv2_rules(n);
    let ec2_rules = ec2_rules(deny);
    let clients = Clients {
        elbv2: mock_client!(elbv2, RuleMode::MatchAny, elb_rules.iter()),
        ec2: mock_client!(ec2, RuleMode::MatchAny, ec2_rules.iter()),
        kube: KubeAccess::Unavailable("no cluster in this test".into()),
        deadline: None,
        cluster: None,
        cloudtrail: None,
        shared: Default::default(),
        aws_scope: "111122223333:us-east-1".into(),
        kube_scope: String::new(),
    };
    let snap = collect(&clients, &request(), &crate::Config::default()).await.expect("collects");
    (Diagnosis::from_snapshot(&snap), elb_rules, ec2_rules)
}

/// Every EC2 call denied in turn: the checks that need it say `unknown` naming the action,
/// and the checks that do not need it still decide.
#[tokio::test]
async fn each_denied_ec2_call_leaves_only_its_checks_unknown() {
    let (baseline, _, _) = diagnose(2, None).await;
    for c in [
        CheckId::SECURITY_GROUPS,
        CheckId::NETWORK_ACLS,
        CheckId::ROUTE_TABLES,
        CheckId::AVAILABILITY_ZONES,
        CheckId::NODES,
    ] {
        assert_eq!(baseline.finding(c).unwrap().status, Status::Pass, "{c}: {:?}", baseline.finding(c));
    }
    let cases: [(&str, &[CheckId]); 8] = [
        // instance targets: their subnets and zones come from DescribeInstances
        (
            "DescribeInstances",
            &[
                CheckId::SECURITY_GROUPS,
                CheckId::NETWORK_ACLS,
                CheckId::ROUTE_TABLES,
                CheckId::AVAILABILITY_ZONES,
                CheckId::NODES,
            ],
        ),
        ("DescribeSecurityGroups", &[CheckId::SECURITY_GROUPS]),
        // the node group admits the load balancer only through a prefix list: without its
        // entries the verdict is open; without its name, nothing changes
        ("GetManagedPrefixListEntries", &[CheckId::SECURITY_GROUPS]),
        ("DescribeManagedPrefixLists", &[]),
        (
            "DescribeSubnets",
            &[CheckId::SECURITY_GROUPS, CheckId::NETWORK_ACLS, CheckId::ROUTE_TABLES],
        ),
        ("DescribeNetworkAcls", &[CheckId::NETWORK_ACLS]),
        ("DescribeRouteTables", &[CheckId::ROUTE_TABLES]),
        // route-tables falls back to the subnets' CIDRs to know what is inside the VPC
        ("DescribeVpcs", &[]),
    ];
    for (api, affected) in cases {
        let (d, _, _) = diagnose(2, Some(api)).await;
        for f in &d.findings {
            if affected.contains(&f.check) {
                assert_eq!(f.status, Status::Unknown, "{api} denied: {} should be unknown: {f:?}", f.check);
                assert!(
                    f.detail.contains(&format!("ec2:{api}")),
                    "{api} denied: {} must name the action: {}",
                    f.check,
                    f.detail
                );
            } else {
                assert_eq!(
                    f.status,
                    baseline.finding(f.check).unwrap().status,
                    "{api} denied changed {}: {}",
                    f.check,
                    f.detail
                );
            }
        }
    }
}

/// A 1,000-target group: the EC2 calls come in chunks of 200 ids, never one per target.
#[tokio::test]
async fn thousand_targets_cost_a_fixed_handful_of_calls() {
    let (d, elb, ec2) = diagnose(1000, None).await;
    assert_eq!(d.targets.len(), 1000);
    let elb_calls: usize = elb.iter().map(Rule::num_calls).sum();
    let ec2_calls: Vec<usize> = ec2.iter().map(Rule::num_calls).collect();
    // DescribeTargetGroups, DescribeTargetHealth, DescribeTags (TG), DescribeLoadBalancers,
    // DescribeListeners, DescribeTags (LB), DescribeTargetGroupAttributes
    assert_eq!(elb_calls, 7);
    // DescribeInstances: 1,000 ids / 200 per filter = 5; the rest once each (the prefix list's
    // name and entries: one call each, for one list, however many targets).
    assert_eq!(ec2_calls, vec![5, 1, 1, 1, 1, 1, 1, 1]);
}

fn health_output(n: usize) -> elbv2::operation::describe_target_health::DescribeTargetHealthOutput {
    let mut out = elbv2::operation::describe_target_health::DescribeTargetHealthOutput::builder();
    for i in 0..n {
        out = out.target_health_descriptions(
            l::TargetHealthDescription::builder()
                .target(l::TargetDescription::builder().id(instance_id(i)).port(32663).build())
                .target_health(
                    l::TargetHealth::builder()
                        .state(l::TargetHealthStateEnum::Unhealthy)
                        .reason(l::TargetHealthReasonEnum::Timeout)
                        .build(),
                )
                .build(),
        );
    }
    out.build()
}

/// Collects with DescribeTargetHealth answered by `health`, on clients that retry the way the
/// production configuration does (standard mode, 3 attempts; backoff shortened for the test).
async fn collect_with_health(health: Rule) -> (crate::snapshot::Snapshot, Rule) {
    use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
    use aws_smithy_types::retry::RetryConfig;
    let mut elb_rules = elbv2_rules(2);
    elb_rules[1] = health.clone();
    let ec2_rules = ec2_rules(None);
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(1));
    let clients = Clients {
        elbv2: mock_client!(elbv2, RuleMode::MatchAny, elb_rules.iter(), |c| c
            .retry_config(retry.clone())
            .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))),
        ec2: mock_client!(ec2, RuleMode::MatchAny, ec2_rules.iter()),
        kube: KubeAccess::Unavailable("no cluster in this test".into()),
        deadline: None,
        cluster: None,
        cloudtrail: None,
        shared: Default::default(),
        aws_scope: "111122223333:us-east-1".into(),
        kube_scope: String::new(),
    };
    (
        collect(&clients, &request(), &crate::Config::default()).await.expect("collects"),
        health,
    )
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_until_they_pass() {
    // GIVEN DescribeTargetHealth throttled once, then a 503, then answered
    let health = mock!(elbv2::Client::describe_target_health)
        .sequence()
        .error(|| {
            elbv2::operation::describe_target_health::DescribeTargetHealthError::generic(
                ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build(),
            )
        })
        .http_status(503, None)
        .output(|| health_output(2))
        .build();
    // WHEN collected
    let (snap, rule) = collect_with_health(health).await;
    // THEN the third attempt's answer is the evidence
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(snap.aws.target_health.ok().map(Vec::len), Some(2));
}

#[tokio::test]
async fn persistent_throttling_becomes_unknown_evidence_not_a_failure() {
    let health = mock!(elbv2::Client::describe_target_health)
        .sequence()
        .error(|| {
            elbv2::operation::describe_target_health::DescribeTargetHealthError::generic(
                ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build(),
            )
        })
        .times(3)
        .build();
    let (snap, rule) = collect_with_health(health).await;
    assert_eq!(rule.num_calls(), 3, "retried to the limit");
    let d = Diagnosis::from_snapshot(&snap);
    let f = d.finding(CheckId::TARGET_HEALTH).unwrap();
    assert_eq!(f.status, Status::Unknown);
    assert!(
        f.detail.contains("Throttling") && f.detail.contains("elasticloadbalancing:DescribeTargetHealth"),
        "{}",
        f.detail
    );
    // the checks that need the targets say so, naming the same cause; the rest still ran
    assert_eq!(d.finding(CheckId::SECURITY_GROUPS).unwrap().status, Status::Unknown);
    assert!(d.finding(CheckId::SECURITY_GROUPS).unwrap().detail.contains("DescribeTargetHealth"));
    assert_eq!(
        d.finding(CheckId::HEALTH_CHECK_CONFIG).unwrap().status,
        Status::Pass,
        "{}",
        d.finding(CheckId::HEALTH_CHECK_CONFIG).unwrap().detail
    );
}

#[tokio::test]
async fn access_denied_on_target_health_names_the_permission() {
    let health = mock!(elbv2::Client::describe_target_health)
        .then_error(|| elbv2::operation::describe_target_health::DescribeTargetHealthError::generic(denied("AccessDenied")));
    let (snap, _) = collect_with_health(health).await;
    let d = Diagnosis::from_snapshot(&snap);
    assert_eq!(d.finding(CheckId::TARGET_HEALTH).unwrap().status, Status::Unknown);
    assert!(d.finding(CheckId::TARGET_HEALTH).unwrap().detail.contains("AccessDenied"));
    assert_eq!(d.verdict.status, crate::diagnosis::VerdictStatus::Inconclusive);
}
