//! Where a target sits in the network: its ENI's security groups, its subnet and zone, its
//! node, and the load balancer that sends to it. Shared by the network checks and the probe; pure.

use k8s_openapi::api::core::v1::Node;

use super::{Fetched, View};
use super::{Instance, NetworkAcl, NetworkInterface, RouteTable, SecurityGroup, Subnet, TargetHealth};
use crate::cidr::{Cidr, Source};

/// A target's place: what the network checks need to know about it.
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// The ENI the load balancer reaches (instance primary ENI, branch ENI, or the node ENI
    /// holding the pod IP).
    pub interface: Option<String>,
    pub groups: Vec<String>,
    pub subnet: Option<String>,
    pub zone: Option<String>,
    pub address: Option<String>,
    pub node: Option<String>,
    pub instance: Option<String>,
    /// How the ENI was found, for the evidence.
    pub via: String,
}

impl View<'_> {
    pub fn instances(&self) -> Result<&[Instance], String> {
        self.snap.aws.network.instances.get().map(Vec::as_slice)
    }

    pub fn subnets(&self) -> &[Subnet] {
        self.snap.aws.network.subnets.ok().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets().iter().find(|s| s.id == id)
    }

    /// The managed prefix lists read, as CIDRs by id (IPv4 entries; see `net::PrefixLists`).
    pub fn prefix_lists(&self) -> std::collections::BTreeMap<String, Vec<Cidr>> {
        (self.snap.aws.network.prefix_lists.ok().into_iter().flatten())
            .map(|l| (l.id.clone(), l.cidrs.iter().filter_map(|c| Cidr::parse(c)).collect()))
            .collect()
    }

    pub fn group(&self, id: &str) -> Option<&SecurityGroup> {
        self.snap.aws.network.security_groups.ok()?.iter().find(|g| g.id == id)
    }

    pub(super) fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances().ok()?.iter().find(|i| i.id == id)
    }

    /// The Node a target runs on: by providerID (instance targets) or through its pod (ip).
    pub fn node_of(&self, t: &TargetHealth) -> Option<&Node> {
        if self.is_ip() {
            let name = self.pod_by_ip(&t.id)?.spec.as_ref()?.node_name.as_deref()?;
            self.snap.kube.nodes.ok()?.iter().find(|n| n.metadata.name.as_deref() == Some(name))
        } else {
            self.node_by_instance(&t.id)
        }
    }

    pub fn place(&self, t: &TargetHealth) -> Place {
        let from_eni = |eni: &NetworkInterface, via: String, node: Option<String>| Place {
            interface: Some(eni.id.clone()),
            groups: eni.groups.clone(),
            subnet: eni.subnet_id.clone(),
            zone: eni.availability_zone.clone().or_else(|| {
                eni.subnet_id
                    .as_deref()
                    .and_then(|s| self.subnet(s))
                    .map(|s| s.availability_zone.clone())
            }),
            address: Some(t.id.clone()),
            node,
            instance: eni.instance_id.clone(),
            via,
        };
        if !self.is_ip() {
            let node = self.node_by_instance(&t.id).and_then(|n| n.metadata.name.clone());
            return match self.instance(&t.id) {
                Some(i) => match i.primary_interface() {
                    Some(eni) => Place {
                        address: i.private_ip.clone(),
                        zone: i.availability_zone.clone(),
                        ..from_eni(eni, "the instance's primary ENI".into(), node)
                    },
                    None => Place {
                        subnet: i.subnet_id.clone(),
                        zone: i.availability_zone.clone(),
                        address: i.private_ip.clone(),
                        node,
                        instance: Some(i.id.clone()),
                        via: "the instance (no ENI listed)".into(),
                        ..Default::default()
                    },
                },
                None => {
                    let via = self
                        .instances()
                        .err()
                        .unwrap_or_else(|| "the instance was not found by DescribeInstances".into());
                    Place {
                        node,
                        instance: Some(t.id.clone()),
                        via,
                        zone: t.availability_zone.clone(),
                        ..Default::default()
                    }
                }
            };
        }
        let node = self.node_of(t).and_then(|n| n.metadata.name.clone());
        // 1. An ENI whose own IP is the target: a branch ENI (security groups for pods).
        if let Some(eni) = self
            .snap
            .aws
            .network
            .target_interfaces
            .ok()
            .into_iter()
            .flatten()
            .find(|n| n.owned_by(&t.id))
        {
            return from_eni(
                eni,
                format!(
                    "ENI {} ({}) holding the pod IP",
                    eni.id,
                    eni.interface_type.as_deref().unwrap_or("interface")
                ),
                node,
            );
        }
        // 2. A node ENI with the pod IP as a secondary address (VPC CNI), an IPv6 address, or
        //    inside a delegated prefix (prefix delegation).
        let enis = self.instances().ok().into_iter().flatten().flat_map(|i| i.interfaces.iter());
        let enis = enis.chain(self.snap.aws.network.target_interfaces.ok().into_iter().flatten());
        if let Some(eni) = enis.clone().find(|n| n.holds(&t.id)) {
            return from_eni(eni, format!("node ENI {} holding the pod IP", eni.id), node);
        }
        // Without the ENI lookup, a pod with its own branch ENI (security groups for pods) or on
        // another ENI would be judged by its node's groups: say what is missing instead.
        if let Fetched::Failed(m) = &self.snap.aws.network.target_interfaces {
            return self.by_address(t, node, format!("the ENI holding the pod IP is unknown: {}", m.explain()));
        }
        // 3. The primary ENI of the pod's node (custom networking, or IPs not listed).
        let instance = self
            .node_of(t)
            .and_then(|n| n.spec.as_ref()?.provider_id.as_deref()?.rsplit('/').next().map(str::to_string));
        if let Some(eni) = instance
            .as_deref()
            .and_then(|i| self.instance(i))
            .and_then(Instance::primary_interface)
        {
            let subnet = self.subnet_of_ip(&t.id).map(|s| s.id.clone()).or(eni.subnet_id.clone());
            return Place {
                subnet,
                ..from_eni(eni, format!("the primary ENI of node {}", node.as_deref().unwrap_or("?")), node)
            };
        }
        self.by_address(t, node, "no ENI found for the IP".into())
    }

    /// A target known by its address alone: its subnet and zone from the VPC's blocks, no ENI
    /// (so no groups), and why.
    fn by_address(&self, t: &TargetHealth, node: Option<String>, via: String) -> Place {
        Place {
            subnet: self.subnet_of_ip(&t.id).map(|s| s.id.clone()),
            zone: t
                .availability_zone
                .clone()
                .or_else(|| self.subnet_of_ip(&t.id).map(|s| s.availability_zone.clone())),
            address: Some(t.id.clone()),
            node,
            via,
            ..Default::default()
        }
    }

    pub fn subnet_of_ip(&self, ip: &str) -> Option<&Subnet> {
        let ip = Cidr::parse(ip)?;
        self.subnets()
            .iter()
            .filter(|s| s.cidrs().any(|c| c.contains(&ip)))
            .max_by_key(|s| s.cidrs().filter(|c| c.contains(&ip)).map(|c| c.len).max())
    }

    /// The load balancer's subnets (id, CIDR) and security groups: where health checks come from.
    pub fn lb_source(&self) -> Result<(Source, Vec<&Subnet>), String> {
        let lbs = self.snap.aws.load_balancers.get()?;
        let ids: Vec<&str> = lbs
            .iter()
            .flat_map(|l| l.zones.iter().filter_map(|z| z.subnet_id.as_deref()))
            .collect();
        let subnets: Vec<&Subnet> = ids.iter().filter_map(|id| self.subnet(id)).collect();
        if subnets.len() < ids.len() {
            let why = self
                .snap
                .aws
                .network
                .subnets
                .get()
                .err()
                .unwrap_or_else(|| "some load balancer subnets were not found".into());
            return Err(format!("the load balancer's subnets are unknown: {why}"));
        }
        let groups: Vec<String> = lbs.iter().flat_map(|l| l.security_groups.iter().cloned()).collect();
        // Without security groups (an NLB), the health checks come from the load balancer's
        // own private addresses, one per zone, whatever client IP preservation does to user
        // traffic ("The security groups associated with an instance must allow traffic from the
        // load balancer using the health check port", NLB troubleshooting guide; the Knowledge
        // Center's "allowlist the load balancer's private IP addresses"): a rule admitting exactly
        // those is right. Their ENIs (found by description) give them; else the subnets stand in.
        let own = self.lb_own_addresses();
        let cidrs = if groups.is_empty() && !own.is_empty() {
            own
        } else {
            subnets.iter().flat_map(|s| s.cidrs()).collect()
        };
        Ok((Source { groups, cidrs }, subnets))
    }

    /// The load balancer's own addresses, both families, from its ENIs (empty when unread).
    fn lb_own_addresses(&self) -> Vec<Cidr> {
        (self.snap.aws.network.lb_interfaces.ok().into_iter().flatten())
            .flat_map(|n| n.private_ips.iter().chain(&n.ipv6_addresses))
            .filter_map(|a| Cidr::parse(a))
            .collect()
    }

    /// Where, inside one of its subnets, the load balancer's health checks of a target of one
    /// family come from: its own addresses there when it has no security groups and they are
    /// known (an NLB's ENIs), else the whole subnet block.
    pub fn lb_peers(&self, subnet: &Subnet, v6: bool) -> Vec<Cidr> {
        let Some(block) = subnet.cidr_of(v6) else { return vec![] };
        let grouped = (self.snap.aws.load_balancers.ok().into_iter().flatten()).any(|l| !l.security_groups.is_empty());
        let own: Vec<Cidr> = self.lb_own_addresses().into_iter().filter(|a| block.contains(a)).collect();
        if grouped || own.is_empty() {
            vec![block]
        } else {
            own
        }
    }

    /// The port the load balancer health-checks a target on: `traffic-port` is the target's
    /// registered port (the NodePort for instance targets).
    pub fn health_check_port(&self, t: &TargetHealth) -> Option<u16> {
        let configured = self.tg.as_ref().ok()?.health_check.port.as_deref();
        match configured {
            Some(p) if p != "traffic-port" => p.parse().ok(),
            _ => t
                .health_check_port
                .as_deref()
                .and_then(|p| p.parse().ok())
                .or(t.port.and_then(|p| u16::try_from(p).ok())),
        }
    }

    /// The route table a subnet uses: its own association, else the VPC's main table.
    pub fn route_table_for(&self, subnet: &str) -> Option<&RouteTable> {
        let tables = self.snap.aws.network.route_tables.ok()?;
        tables
            .iter()
            .find(|t| t.subnet_ids.iter().any(|s| s == subnet))
            .or_else(|| tables.iter().find(|t| t.main))
    }

    /// The network ACL of a subnet: its association, else the VPC's default ACL.
    pub fn nacl_for(&self, subnet: &str) -> Option<&NetworkAcl> {
        let acls = self.snap.aws.network.network_acls.ok()?;
        acls.iter()
            .find(|a| a.subnet_ids.iter().any(|s| s == subnet))
            .or_else(|| acls.iter().find(|a| a.is_default))
    }

    /// The targets a check looks at: the unhealthy ones, or all when none is unhealthy.
    pub fn targets_to_check(&self) -> Vec<&TargetHealth> {
        let unhealthy = self.unhealthy();
        if unhealthy.is_empty() {
            self.targets.as_ref().map(|t| t.iter().collect()).unwrap_or_default()
        } else {
            unhealthy
        }
    }
}
