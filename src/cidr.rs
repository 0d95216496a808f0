//! Addresses: IPv4 and IPv6 CIDR blocks, and where traffic comes from (security groups and
//! CIDRs). A leaf shared by the snapshot's queries and the network evaluators in `net`: one
//! type for both families, so every evaluator handles both with the same code.

/// A block of either family: its address (an IPv4 address in the low 32 bits), its prefix
/// length, and its family. Blocks of different families never contain or overlap each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: u128,
    pub len: u8,
    pub v6: bool,
}

impl Cidr {
    pub fn v4(addr: u32, len: u8) -> Cidr {
        Cidr {
            addr: u128::from(addr) & mask(len, false),
            len,
            v6: false,
        }
    }

    pub fn v6(addr: u128, len: u8) -> Cidr {
        Cidr {
            addr: addr & mask(len, true),
            len,
            v6: true,
        }
    }

    /// Parses `a.b.c.d/n`, `x:y::z/n`, or a bare address (a /32 or /128). Garbage gives `None`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u8>().ok()?)),
            None => (s, None),
        };
        match ip.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => Some(Cidr::v4(u32::from(a), len.unwrap_or(32)).filter_len(32)?),
            std::net::IpAddr::V6(a) => Some(Cidr::v6(u128::from(a), len.unwrap_or(128)).filter_len(128)?),
        }
    }

    fn filter_len(self, max: u8) -> Option<Cidr> {
        (self.len <= max).then_some(self)
    }

    /// True when every address of `other` is in `self` (same family only).
    pub fn contains(&self, other: &Cidr) -> bool {
        self.v6 == other.v6 && other.len >= self.len && (other.addr & mask(self.len, self.v6)) == self.addr
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The whole address space of this block's family: `0.0.0.0/0` or `::/0`.
    pub fn everything(v6: bool) -> Cidr {
        Cidr { addr: 0, len: 0, v6 }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.addr), self.len)
        } else {
            // The address was masked to 32 bits when built: the cast keeps all of it.
            write!(f, "{}/{}", std::net::Ipv4Addr::from(self.addr as u32), self.len)
        }
    }
}

/// The network mask of a prefix length within its family's width.
pub(crate) fn mask(len: u8, v6: bool) -> u128 {
    let width: u32 = if v6 { 128 } else { 32 };
    let len = u32::from(len).min(width);
    let all: u128 = if v6 { u128::MAX } else { u128::from(u32::MAX) };
    if len == 0 {
        0
    } else {
        all & (all << (width - len))
    }
}

/// Who sends the traffic: the load balancer's security groups (referenced by id) and the
/// CIDRs of the subnets its nodes live in (both families on a dual-stack load balancer).
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub groups: Vec<String>,
    pub cidrs: Vec<Cidr>,
}

impl Source {
    /// What reaches a target of one family: a dual-stack load balancer checks an IPv6 target
    /// from its subnets' IPv6 addresses and an IPv4 target from their IPv4 ones.
    pub fn family(&self, v6: bool) -> Source {
        Source {
            groups: self.groups.clone(),
            cidrs: self.cidrs.iter().filter(|c| c.v6 == v6).copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing, containment and display for both families.
    #[test]
    fn both_families_parse_contain_and_display() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        for (outer, inner, contains) in [
            ("10.0.0.0/16", "10.0.1.0/24", true),
            ("10.0.1.0/24", "10.0.0.0/16", false),
            ("0.0.0.0/0", "192.168.1.1", true),
            ("2600:1f18:abc::/56", "2600:1f18:abc:1::/64", true),
            ("2600:1f18:abc:1::/64", "2600:1f18:abc:1::10", true),
            ("2600:1f18:abc:1::/64", "2600:1f18:abc:2::10", false),
            ("::/0", "2600::1", true),
            // families never mix
            ("::/0", "10.0.0.1", false),
            ("0.0.0.0/0", "2600::1", false),
        ] {
            assert_eq!(c(outer).contains(&c(inner)), contains, "{outer} ⊇ {inner}");
        }
        assert_eq!(c("2600:1f18:abc:1::10").to_string(), "2600:1f18:abc:1::10/128");
        assert_eq!(c("10.0.1.7/24").to_string(), "10.0.1.0/24");
        assert_eq!(c("2600:1f18:abc:1:ffff::/64").to_string(), "2600:1f18:abc:1::/64");
        for bad in ["10.0.0.0/33", "2600::/129", "nonsense", "10.0.0.0/x", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
