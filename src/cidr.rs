//! Addresses: IPv4 CIDR blocks and where traffic comes from (security groups and CIDRs). A leaf
//! shared by the snapshot's queries and the network evaluators in `net`.

/// An IPv4 block: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: u32,
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or a bare address (a /32). IPv6 and garbage give `None`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, len.parse::<u8>().ok().filter(|l| *l <= 32)?),
            None => (s, 32),
        };
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some(Cidr {
            addr: u32::from(ip) & mask(len),
            len,
        })
    }

    /// True when every address of `other` is in `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.len >= self.len && (other.addr & mask(self.len)) == self.addr
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.addr), self.len)
    }
}

pub(crate) fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// Who sends the traffic: the load balancer's security groups (referenced by id) and the
/// CIDRs of the subnets its nodes live in.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub groups: Vec<String>,
    pub cidrs: Vec<Cidr>,
}
