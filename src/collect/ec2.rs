//! EC2 evidence for the network checks. Calls are batched: ids and filter values go in chunks
//! of the API's limit, so the number of calls does not grow with the number of targets (one
//! DescribeInstances for 200 instances). Subnets, NACLs and route tables are read by VPC.

use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::types::Filter;
use futures::future::join_all;
use tracing::instrument;

use super::aws::missing_in;
use crate::snapshot::{
    Fetched, Instance, NaclEntry, NetworkAcl, NetworkInterface, PrefixList, Route, RouteTable, SecurityGroup, SgRule, Subnet, Vpc,
};

/// EC2 accepts at most 200 values per filter.
pub const FILTER_VALUES: usize = 200;

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

/// Runs one paginated call per chunk of `values` concurrently and concatenates the results.
async fn chunked<T, F, Fut, E>(values: &[String], call: F) -> Result<Vec<T>, E>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, E>>,
{
    let mut out = Vec::new();
    for res in join_all(values.chunks(FILTER_VALUES).map(|c| call(c.to_vec()))).await {
        out.extend(res?);
    }
    Ok(out)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[instrument(skip(client, ids), fields(count = ids.len()))]
pub async fn instances(client: &ec2::Client, ids: Vec<String>) -> Fetched<Vec<Instance>> {
    let ids = dedup(ids);
    if ids.is_empty() {
        return Fetched::not_collected("no instance to describe (no instance targets, no known nodes)");
    }
    // A filter, not InstanceIds: one unknown (terminated long ago) id must not fail the whole call.
    let res = chunked(&ids, |chunk| async move {
        let pages = client
            .describe_instances()
            .filters(filter("instance-id", &chunk))
            .into_paginator()
            .send()
            .try_collect()
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.reservations())
            .flat_map(|r| r.instances())
            .map(convert_instance)
            .collect::<Vec<_>>())
    })
    .await;
    res.map_or_else(|e| Fetched::Failed(missing_in("ec2", "DescribeInstances", &e)), Fetched::Ok)
}

fn convert_instance(i: &ec2::types::Instance) -> Instance {
    Instance {
        id: i.instance_id().unwrap_or_default().into(),
        state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
        subnet_id: i.subnet_id().map(str::to_string),
        vpc_id: i.vpc_id().map(str::to_string),
        private_ip: i.private_ip_address().map(str::to_string),
        interfaces: i
            .network_interfaces()
            .iter()
            .map(|n| NetworkInterface {
                id: n.network_interface_id().unwrap_or_default().into(),
                subnet_id: n.subnet_id().map(str::to_string),
                availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
                interface_type: n.interface_type().map(str::to_string),
                device_index: n.attachment().and_then(|a| a.device_index()),
                instance_id: i.instance_id().map(str::to_string),
                groups: n.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
                private_ips: n
                    .private_ip_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip_address().map(str::to_string))
                    .collect(),
                ipv6_addresses: n
                    .ipv6_addresses()
                    .iter()
                    .filter_map(|a| a.ipv6_address().map(str::to_string))
                    .collect(),
                prefixes: (n.ipv4_prefixes().iter().filter_map(|p| p.ipv4_prefix().map(str::to_string)))
                    .chain(n.ipv6_prefixes().iter().filter_map(|p| p.ipv6_prefix().map(str::to_string)))
                    .collect(),
            })
            .collect(),
    }
}

/// The load balancers' own ENIs, by the description AWS gives them (`ELB net/NAME/ID` from the
/// ARN's `loadbalancer/net/NAME/ID`): one call for all of them.
#[instrument(skip(client))]
pub async fn lb_interfaces(client: &ec2::Client, lb_arns: &[String]) -> Fetched<Vec<NetworkInterface>> {
    let descriptions: Vec<String> = (lb_arns.iter())
        .filter_map(|a| a.split_once(":loadbalancer/").map(|(_, rest)| format!("ELB {rest}")))
        .collect();
    if descriptions.is_empty() {
        return Fetched::not_collected("not a network load balancer's target group: its security groups are the source");
    }
    interfaces_matching(client, vec![filter("description", &descriptions)])
        .await
        .map_or_else(|e| Fetched::Failed(missing_in("ec2", "DescribeNetworkInterfaces", &e)), Fetched::Ok)
}

/// ENIs holding the ip targets: branch ENIs (security groups for pods) and node ENIs whose
/// secondary IPs the VPC CNI hands to pods. Only the target group's VPC is searched when it is
/// known: private addresses repeat across VPCs (every EKS quick start is 192.168.0.0/16), and an
/// ENI of another VPC holding the same address would lend the target its security groups.
#[instrument(skip(client, ips), fields(count = ips.len()))]
pub async fn interfaces_by_ip(client: &ec2::Client, vpc: Option<&str>, ips: Vec<String>) -> Fetched<Vec<NetworkInterface>> {
    let ips = dedup(ips);
    if ips.is_empty() {
        return Fetched::not_collected("no ip targets");
    }
    // One filter per family: IPv6 pod addresses are not private-ip-addresses.
    let res = chunked(&ips, |chunk| async move {
        let (v6, v4): (Vec<String>, Vec<String>) = chunk.into_iter().partition(|ip| ip.contains(':'));
        let mut filters = Vec::new();
        if !v4.is_empty() {
            filters.push(filter("addresses.private-ip-address", &v4));
        }
        if !v6.is_empty() {
            filters.push(filter("ipv6-addresses.ipv6-address", &v6));
        }
        let mut found = Vec::new();
        for f in filters {
            let scope = vpc.map(vpc_filter);
            found.extend(interfaces_matching(client, [f].into_iter().chain(scope).collect()).await?);
        }
        Ok(found)
    })
    .await;
    res.map_or_else(|e| Fetched::Failed(missing_in("ec2", "DescribeNetworkInterfaces", &e)), Fetched::Ok)
}

/// ENIs matching all of `filters` (EC2 ANDs them), every page.
async fn interfaces_matching(
    client: &ec2::Client,
    filters: Vec<Filter>,
) -> Result<Vec<NetworkInterface>, ec2::error::SdkError<ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesError>> {
    {
        let pages = client
            .describe_network_interfaces()
            .set_filters(Some(filters))
            .into_paginator()
            .send()
            .try_collect()
            .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.network_interfaces())
            .map(|n| NetworkInterface {
                id: n.network_interface_id().unwrap_or_default().into(),
                subnet_id: n.subnet_id().map(str::to_string),
                availability_zone: n.availability_zone().map(str::to_string),
                interface_type: n.interface_type().map(|t| t.as_str().to_string()),
                device_index: n.attachment().and_then(|a| a.device_index()),
                instance_id: n.attachment().and_then(|a| a.instance_id()).map(str::to_string),
                groups: n.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
                private_ips: n
                    .private_ip_addresses()
                    .iter()
                    .filter_map(|a| a.private_ip_address().map(str::to_string))
                    .collect(),
                ipv6_addresses: n
                    .ipv6_addresses()
                    .iter()
                    .filter_map(|a| a.ipv6_address().map(str::to_string))
                    .collect(),
                prefixes: (n.ipv4_prefixes().iter().filter_map(|p| p.ipv4_prefix().map(str::to_string)))
                    .chain(n.ipv6_prefixes().iter().filter_map(|p| p.ipv6_prefix().map(str::to_string)))
                    .collect(),
            })
            .collect::<Vec<_>>())
    }
}

#[instrument(skip(client, ids), fields(count = ids.len()))]
pub async fn security_groups(client: &ec2::Client, ids: Vec<String>) -> Fetched<Vec<SecurityGroup>> {
    let ids = dedup(ids);
    if ids.is_empty() {
        return Fetched::not_collected("no security group to describe");
    }
    let res = chunked(&ids, |chunk| async move {
        let pages = client
            .describe_security_groups()
            .filters(filter("group-id", &chunk))
            .into_paginator()
            .send()
            .try_collect()
            .await?;
        Ok(pages.iter().flat_map(|p| p.security_groups()).map(convert_sg).collect::<Vec<_>>())
    })
    .await;
    res.map_or_else(|e| Fetched::Failed(missing_in("ec2", "DescribeSecurityGroups", &e)), Fetched::Ok)
}

fn convert_sg(g: &ec2::types::SecurityGroup) -> SecurityGroup {
    let rules = |perms: &[ec2::types::IpPermission]| {
        perms
            .iter()
            .map(|p| SgRule {
                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                from_port: p.from_port(),
                to_port: p.to_port(),
                cidrs: p
                    .ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip().map(str::to_string))
                    .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6().map(str::to_string)))
                    .collect(),
                groups: p
                    .user_id_group_pairs()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                prefix_lists: p
                    .prefix_list_ids()
                    .iter()
                    .filter_map(|g| g.prefix_list_id().map(str::to_string))
                    .collect(),
                description: p
                    .ip_ranges()
                    .iter()
                    .find_map(|r| r.description())
                    .or_else(|| p.user_id_group_pairs().iter().find_map(|g| g.description()))
                    .map(str::to_string),
            })
            .collect()
    };
    SecurityGroup {
        id: g.group_id().unwrap_or_default().into(),
        name: g.group_name().unwrap_or_default().into(),
        vpc_id: g.vpc_id().map(str::to_string),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect(),
        ingress: rules(g.ip_permissions()),
        egress: rules(g.ip_permissions_egress()),
    }
}

/// The managed prefix lists `ids` with their entries: one DescribeManagedPrefixLists for the
/// names and one GetManagedPrefixListEntries a list, all at once. The lists are those the
/// relevant groups' rules name (a handful), never one call per target.
#[instrument(skip(client, ids), fields(count = ids.len()))]
pub async fn prefix_lists(client: &ec2::Client, ids: Vec<String>) -> Fetched<Vec<PrefixList>> {
    let ids = dedup(ids);
    if ids.is_empty() {
        return Fetched::not_collected("no security-group rule names a prefix list");
    }
    let names = async {
        client
            .describe_managed_prefix_lists()
            .set_prefix_list_ids(Some(ids.clone()))
            .into_paginator()
            .send()
            .try_collect()
            .await
    };
    let entries = futures::future::try_join_all(ids.iter().map(|id| async move {
        let pages = client
            .get_managed_prefix_list_entries()
            .prefix_list_id(id)
            .into_paginator()
            .send()
            .try_collect()
            .await?;
        let cidrs: Vec<String> = (pages.iter().flat_map(|p| p.entries()))
            .filter_map(|e| e.cidr().map(str::to_string))
            .collect();
        Ok::<_, ec2::error::SdkError<_, _>>((id.clone(), cidrs))
    }));
    let (names, entries) = tokio::join!(names, entries);
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return Fetched::Failed(missing_in("ec2", "GetManagedPrefixListEntries", &e)),
    };
    // The names only label the evidence: without them the entries still decide.
    let names: Vec<(String, String)> = names
        .map(|pages| {
            (pages.iter().flat_map(|p| p.prefix_lists()))
                .filter_map(|l| Some((l.prefix_list_id()?.to_string(), l.prefix_list_name()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Fetched::Ok(
        entries
            .into_iter()
            .map(|(id, cidrs)| PrefixList {
                name: names.iter().find(|(n, _)| *n == id).map(|(_, name)| name.clone()),
                id,
                cidrs,
            })
            .collect(),
    )
}

/// Every security group of the VPC: read beside the instances rather than after them, which
/// saves a sequential round trip; a VPC holds hundreds of groups at most, in pages of 1,000.
#[instrument(skip(client))]
pub async fn security_groups_of_vpc(client: &ec2::Client, vpc: &str) -> Fetched<Vec<SecurityGroup>> {
    let res = client
        .describe_security_groups()
        .filters(vpc_filter(vpc))
        .into_paginator()
        .send()
        .try_collect()
        .await;
    from_pages(
        res,
        |e| missing_in("ec2", "DescribeSecurityGroups", e),
        |p| p.security_groups(),
        convert_sg,
    )
}

#[instrument(skip(client))]
pub async fn subnets(client: &ec2::Client, vpc: &str) -> Fetched<Vec<Subnet>> {
    let res = client
        .describe_subnets()
        .filters(vpc_filter(vpc))
        .into_paginator()
        .send()
        .try_collect()
        .await;
    from_pages(res, |e| missing_in("ec2", "DescribeSubnets", e), |p| p.subnets(), convert_subnet)
}

#[instrument(skip(client))]
pub async fn network_acls(client: &ec2::Client, vpc: &str) -> Fetched<Vec<NetworkAcl>> {
    let res = client
        .describe_network_acls()
        .filters(vpc_filter(vpc))
        .into_paginator()
        .send()
        .try_collect()
        .await;
    from_pages(
        res,
        |e| missing_in("ec2", "DescribeNetworkAcls", e),
        |p| p.network_acls(),
        convert_nacl,
    )
}

#[instrument(skip(client))]
pub async fn route_tables(client: &ec2::Client, vpc: &str) -> Fetched<Vec<RouteTable>> {
    let res = client
        .describe_route_tables()
        .filters(vpc_filter(vpc))
        .into_paginator()
        .send()
        .try_collect()
        .await;
    from_pages(
        res,
        |e| missing_in("ec2", "DescribeRouteTables", e),
        |p| p.route_tables(),
        convert_route_table,
    )
}

fn vpc_filter(vpc: &str) -> Filter {
    filter("vpc-id", &[vpc.to_string()])
}

/// A paginated EC2 answer as evidence: every page's items converted, or what the failure lacked.
fn from_pages<P, I, T, E>(
    res: Result<Vec<P>, E>,
    failed: impl FnOnce(&E) -> crate::snapshot::Missing,
    items: impl Fn(&P) -> &[I],
    convert: impl Fn(&I) -> T,
) -> Fetched<Vec<T>> {
    match res {
        Ok(pages) => Fetched::Ok(pages.iter().flat_map(items).map(convert).collect()),
        Err(e) => Fetched::Failed(failed(&e)),
    }
}

fn convert_subnet(s: &ec2::types::Subnet) -> Subnet {
    Subnet {
        id: s.subnet_id().unwrap_or_default().into(),
        vpc_id: s.vpc_id().unwrap_or_default().into(),
        availability_zone: s.availability_zone().unwrap_or_default().into(),
        cidr: s.cidr_block().unwrap_or_default().into(),
        ipv6_cidrs: (s.ipv6_cidr_block_association_set().iter())
            .filter(|a| {
                a.ipv6_cidr_block_state()
                    .and_then(|s| s.state())
                    .is_none_or(|s| s.as_str() == "associated")
            })
            .filter_map(|a| a.ipv6_cidr_block().map(str::to_string))
            .collect(),
    }
}

fn convert_nacl(a: &ec2::types::NetworkAcl) -> NetworkAcl {
    NetworkAcl {
        id: a.network_acl_id().unwrap_or_default().into(),
        vpc_id: a.vpc_id().unwrap_or_default().into(),
        is_default: a.is_default().unwrap_or(false),
        subnet_ids: a.associations().iter().filter_map(|x| x.subnet_id().map(str::to_string)).collect(),
        entries: a
            .entries()
            .iter()
            .map(|e| NaclEntry {
                rule_number: e.rule_number().unwrap_or(32767),
                protocol: e.protocol().unwrap_or("-1").to_string(),
                action: e.rule_action().map(|r| r.as_str().to_string()).unwrap_or_else(|| "deny".into()),
                egress: e.egress().unwrap_or(false),
                // An entry is of one family: its IPv4 or its IPv6 block.
                cidr: e.cidr_block().or(e.ipv6_cidr_block()).map(str::to_string),
                port_from: e.port_range().and_then(|p| p.from()),
                port_to: e.port_range().and_then(|p| p.to()),
            })
            .collect(),
    }
}

fn convert_route_table(t: &ec2::types::RouteTable) -> RouteTable {
    RouteTable {
        id: t.route_table_id().unwrap_or_default().into(),
        vpc_id: t.vpc_id().unwrap_or_default().into(),
        main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
        subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect(),
        routes: t
            .routes()
            .iter()
            .filter_map(|r| {
                Some(Route {
                    destination: r.destination_cidr_block().or(r.destination_ipv6_cidr_block())?.to_string(),
                    target: r
                        .gateway_id()
                        .or(r.nat_gateway_id())
                        .or(r.network_interface_id())
                        .or(r.vpc_peering_connection_id())
                        .or(r.transit_gateway_id())
                        .or(r.instance_id())
                        .or(r.local_gateway_id())
                        .or(r.egress_only_internet_gateway_id())
                        .unwrap_or("none")
                        .to_string(),
                    state: r.state().map(|s| s.as_str().to_string()).unwrap_or_else(|| "active".into()),
                })
            })
            .collect(),
    }
}

#[instrument(skip(client))]
pub async fn vpcs(client: &ec2::Client, vpc: &str) -> Fetched<Vec<Vpc>> {
    let res = client.describe_vpcs().vpc_ids(vpc).send().await;
    res.map_or_else(
        |e| Fetched::Failed(missing_in("ec2", "DescribeVpcs", &e)),
        |out| {
            Fetched::Ok(
                out.vpcs()
                    .iter()
                    .map(|v| {
                        let mut cidrs: Vec<String> = v.cidr_block().map(str::to_string).into_iter().collect();
                        for a in v.cidr_block_association_set() {
                            let associated = a
                                .cidr_block_state()
                                .and_then(|s| s.state())
                                .is_none_or(|s| s.as_str() == "associated");
                            if let Some(c) = a.cidr_block().filter(|_| associated) {
                                if !cidrs.iter().any(|x| x == c) {
                                    cidrs.push(c.to_string());
                                }
                            }
                        }
                        let v6 = (v.ipv6_cidr_block_association_set().iter())
                            .filter(|a| {
                                a.ipv6_cidr_block_state()
                                    .and_then(|s| s.state())
                                    .is_none_or(|s| s.as_str() == "associated")
                            })
                            .filter_map(|a| a.ipv6_cidr_block().map(str::to_string));
                        cidrs.extend(v6);
                        Vpc {
                            id: v.vpc_id().unwrap_or_default().into(),
                            cidrs,
                        }
                    })
                    .collect(),
            )
        },
    )
}
