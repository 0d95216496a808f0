//! EC2 evidence for the network checks: instances and their ENIs, security groups, subnets,
//! network ACLs, route tables and VPC CIDRs, as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Fetched;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkEvidence {
    /// Instance targets, and the nodes' instances for ip targets.
    pub instances: Fetched<Vec<Instance>>,
    /// ENIs whose primary or secondary IP is an ip target (branch ENIs of security groups for pods).
    pub target_interfaces: Fetched<Vec<NetworkInterface>>,
    pub security_groups: Fetched<Vec<SecurityGroup>>,
    /// Subnets of the target group's VPC.
    pub subnets: Fetched<Vec<Subnet>>,
    pub network_acls: Fetched<Vec<NetworkAcl>>,
    pub route_tables: Fetched<Vec<RouteTable>>,
    pub vpcs: Fetched<Vec<Vpc>>,
    /// Managed prefix lists the relevant groups' rules reference, with their entries.
    #[serde(default)]
    pub prefix_lists: Fetched<Vec<PrefixList>>,
    /// The load balancers' own ENIs (description `ELB net/NAME/ID`, `ELB app/NAME/ID`): the
    /// addresses an NLB without security groups sends health checks from.
    #[serde(default)]
    pub lb_interfaces: Fetched<Vec<NetworkInterface>>,
}

/// A managed prefix list: what a security-group rule naming it admits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrefixList {
    pub id: String,
    pub name: Option<String>,
    pub cidrs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    /// pending | running | stopping | stopped | shutting-down | terminated
    pub state: String,
    pub availability_zone: Option<String>,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub private_ip: Option<String>,
    pub interfaces: Vec<NetworkInterface>,
}

impl Instance {
    /// The ENI the load balancer reaches an instance target on (device index 0).
    pub fn primary_interface(&self) -> Option<&NetworkInterface> {
        self.interfaces
            .iter()
            .find(|i| i.device_index == Some(0))
            .or(self.interfaces.first())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// interface, branch, trunk, …
    pub interface_type: Option<String>,
    pub device_index: Option<i32>,
    pub instance_id: Option<String>,
    pub groups: Vec<String>,
    /// Primary first, then secondary IPs (VPC CNI pod IPs live here).
    pub private_ips: Vec<String>,
    /// IPv6 addresses (an EKS IPv6 cluster's pods, a dual-stack instance).
    #[serde(default)]
    pub ipv6_addresses: Vec<String>,
    /// Delegated prefixes, IPv4 /28 and IPv6 /80 (prefix delegation: pod IPs inside them are
    /// listed nowhere else).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

impl NetworkInterface {
    /// Whether the ENI's own (first) address is `ip`: a branch ENI of one pod.
    pub fn owned_by(&self, ip: &str) -> bool {
        let Some(ip) = crate::cidr::Cidr::parse(ip) else { return false };
        let first = |v: &[String]| v.first().and_then(|a| crate::cidr::Cidr::parse(a)) == Some(ip);
        first(&self.private_ips) || first(&self.ipv6_addresses)
    }

    /// Whether traffic to `ip` arrives on this ENI: one of its addresses, or inside one of its
    /// delegated prefixes.
    pub fn holds(&self, ip: &str) -> bool {
        let Some(ip) = crate::cidr::Cidr::parse(ip) else { return false };
        let parsed = |v: &[String]| v.iter().filter_map(|a| crate::cidr::Cidr::parse(a)).collect::<Vec<_>>();
        parsed(&self.private_ips).contains(&ip)
            || parsed(&self.ipv6_addresses).contains(&ip)
            || parsed(&self.prefixes).iter().any(|p| p.contains(&ip))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// One permission of a security group: who may send what.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SgRule {
    /// `-1` (all), `tcp`, `udp`, `icmp`, or a protocol number.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidrs: Vec<String>,
    pub groups: Vec<String>,
    pub prefix_lists: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidr: String,
    /// IPv6 blocks of a dual-stack or IPv6 subnet.
    #[serde(default)]
    pub ipv6_cidrs: Vec<String>,
}

impl Subnet {
    /// The subnet's block of one family: its IPv4 CIDR, or its (first) IPv6 CIDR.
    pub fn cidr_of(&self, v6: bool) -> Option<crate::cidr::Cidr> {
        if v6 {
            self.ipv6_cidrs.iter().find_map(|c| crate::cidr::Cidr::parse(c))
        } else {
            crate::cidr::Cidr::parse(&self.cidr)
        }
    }

    /// Every block of the subnet, both families.
    pub fn cidrs(&self) -> impl Iterator<Item = crate::cidr::Cidr> + '_ {
        std::iter::once(self.cidr.as_str())
            .chain(self.ipv6_cidrs.iter().map(String::as_str))
            .filter_map(crate::cidr::Cidr::parse)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAcl {
    pub id: String,
    pub vpc_id: String,
    pub is_default: bool,
    pub subnet_ids: Vec<String>,
    pub entries: Vec<NaclEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NaclEntry {
    pub rule_number: i32,
    /// `-1` (all) or a protocol number (`6` TCP, `17` UDP).
    pub protocol: String,
    /// allow | deny
    pub action: String,
    pub egress: bool,
    pub cidr: Option<String>,
    pub port_from: Option<i32>,
    pub port_to: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub main: bool,
    pub subnet_ids: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub destination: String,
    /// `local`, or the gateway / NAT / ENI / peering / transit gateway id the route sends to.
    pub target: String,
    /// active | blackhole
    pub state: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    pub id: String,
    /// Primary and secondary IPv4 CIDR blocks, then the IPv6 blocks.
    pub cidrs: Vec<String>,
}
