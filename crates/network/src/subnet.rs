//! IPv4 subnets: parsing, containment and overlap, and choosing a free one
//! from a pool the way docker's `default-address-pools` does.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// An IPv4 network: an address with its host bits clear and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    base: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The network of `addr/prefix`; host bits of `addr` are refused, as
    /// docker refuses `172.20.0.1/16` for `--subnet`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet, Error> {
        if prefix > 32 {
            return Err(Error::Invalid(format!(
                "invalid subnet {addr}/{prefix}: the prefix length must be 0 to 32"
            )));
        }
        let s = Subnet {
            base: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        };
        if s.base != addr {
            return Err(Error::Invalid(format!(
                "invalid subnet {addr}/{prefix}: it has host bits set (did you mean {s}?)"
            )));
        }
        Ok(s)
    }

    /// The network containing `addr` with this prefix (host bits cleared).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            base: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// The first address.
    pub fn base(&self) -> Ipv4Addr {
        self.base
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.base)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// Whether `other` lies wholly inside this network.
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.base)
    }

    /// The `n`th address (0 is the network's own address).
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.base) + n as u32))
    }

    /// The offset of `ip` in the network.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip)
            .then(|| u64::from(u32::from(ip) - u32::from(self.base)))
    }

    /// The broadcast address (the last one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !mask(self.prefix))
    }

    /// Whether `ip` can be given to a host: not the network's own address and
    /// not its broadcast (for prefixes that have them).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix >= 31 || (ip != self.base && ip != self.broadcast()))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Subnet, Error> {
        let bad = || {
            Error::Invalid(format!(
                "invalid subnet {s:?}: expected an IPv4 CIDR such as 172.20.0.0/16"
            ))
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A pool that networks are carved from: docker's `default-address-pools`
/// entry `{"base": "172.17.0.0/16", "size": 16}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// The range networks are taken from.
    pub base: Subnet,
    /// The prefix length of each network taken.
    pub size: u8,
}

impl AddressPool {
    /// docker's defaults: 172.17–31.0.0/16, then 192.168.0–240.0/20.
    pub fn defaults() -> Vec<AddressPool> {
        vec![
            AddressPool {
                base: Subnet {
                    base: Ipv4Addr::new(172, 17, 0, 0),
                    prefix: 16,
                },
                size: 16,
            },
            AddressPool {
                base: Subnet {
                    base: Ipv4Addr::new(172, 18, 0, 0),
                    prefix: 15,
                },
                size: 16,
            },
            AddressPool {
                base: Subnet {
                    base: Ipv4Addr::new(172, 20, 0, 0),
                    prefix: 14,
                },
                size: 16,
            },
            AddressPool {
                base: Subnet {
                    base: Ipv4Addr::new(172, 24, 0, 0),
                    prefix: 13,
                },
                size: 16,
            },
            AddressPool {
                base: Subnet {
                    base: Ipv4Addr::new(192, 168, 0, 0),
                    prefix: 16,
                },
                size: 20,
            },
        ]
    }
}

/// The first network of the pools' sizes that overlaps none of `taken`
/// (other networks, the host's routes, other tools' bridges).
pub fn pick_free(pools: &[AddressPool], taken: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        if pool.size < pool.base.prefix || pool.size > 30 {
            continue;
        }
        let step = 1u64 << (32 - u32::from(pool.size));
        let mut at = 0u64;
        while at < pool.base.size() {
            let candidate = Subnet::containing(pool.base.nth(at)?, pool.size);
            if !taken.iter().any(|t| t.overlaps(&candidate)) {
                return Some(candidate);
            }
            at += step;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let s: Subnet = "172.20.0.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "172.20.0.0/16");
        assert!(s.contains("172.20.255.3".parse().unwrap()));
        assert!(!s.contains("172.21.0.1".parse().unwrap()));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 20, 255, 255));
        for bad in [
            "172.20.0.1/16",
            "172.20.0.0",
            "172.20.0.0/33",
            "x/8",
            "::1/64",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err().to_string();
            assert!(e.starts_with("invalid subnet"), "{bad}: {e}");
        }
        assert!(
            "172.20.0.1/16"
                .parse::<Subnet>()
                .unwrap_err()
                .to_string()
                .contains("did you mean 172.20.0.0/16")
        );
    }

    #[test]
    fn picks_around_what_is_taken() {
        let pools = AddressPool::defaults();
        assert_eq!(pick_free(&pools, &[]).unwrap().to_string(), "172.17.0.0/16");
        let taken =
            ["172.17.0.0/16", "172.18.5.0/24", "10.0.0.0/8"].map(|s| s.parse::<Subnet>().unwrap());
        assert_eq!(
            pick_free(&pools, &taken).unwrap().to_string(),
            "172.19.0.0/16"
        );
        let everything = ["0.0.0.0/0".parse().unwrap()];
        assert_eq!(pick_free(&pools, &everything), None);
        let small = [AddressPool {
            base: "10.9.0.0/16".parse().unwrap(),
            size: 24,
        }];
        let taken = ["10.9.0.0/23".parse().unwrap()];
        assert_eq!(
            pick_free(&small, &taken).unwrap().to_string(),
            "10.9.2.0/24"
        );
    }
}
