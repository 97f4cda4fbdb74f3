//! The bridge driver: a Linux bridge per network with the gateway's address,
//! and per container a veth pair whose inner end (`eth0`, `eth1`, …) lives in
//! the container's network namespace with its address and, on its first
//! network, the default route.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use crate::Error;
use crate::netlink::Netlink;
use crate::subnet::Subnet;

/// A bridge network's device and addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The device name (`berth0`, `br-<id>`).
    pub name: String,
    /// The network's subnet.
    pub subnet: Subnet,
    /// The bridge's own address, the containers' gateway.
    pub gateway: Ipv4Addr,
    /// The MTU of the bridge and its veths.
    pub mtu: Option<u32>,
}

/// Sets `key` under /proc/sys to `value` if it is not already.
fn sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })
}

impl Bridge {
    /// Makes the bridge exist, addressed and up; forwarding on. Cheap when it
    /// is already so (one netlink round trip), so every attach calls it: a
    /// reboot or a deleted bridge is rebuilt by the next container start.
    pub fn ensure(&self, nl: &mut Netlink) -> Result<u32, Error> {
        let index = match nl.link_index(&self.name)? {
            Some(i) if nl.link_is_up(i)? => return Ok(i),
            Some(i) => i,
            // Another berth process may make it at the same instant.
            None => match nl.add_bridge(&self.name, self.mtu) {
                Ok(i) => i,
                Err(e) if e.is_errno(libc::EEXIST) => nl
                    .link_index(&self.name)?
                    .ok_or_else(|| Error::netlink(format!("bridge {} vanished", self.name)))?,
                Err(e) => return Err(e),
            },
        };
        nl.add_address(index, self.gateway, self.subnet.prefix())?;
        // The host's 127.0.0.1 may be DNATed to a container across the
        // bridge (published ports reached on loopback).
        sysctl(&format!("net/ipv4/conf/{}/route_localnet", self.name), "1")?;
        sysctl("net/ipv4/ip_forward", "1")?;
        nl.set_up(index)?;
        Ok(index)
    }

    /// Removes the bridge device (its veths go with their containers).
    pub fn remove(&self, nl: &mut Netlink) -> Result<(), Error> {
        if let Some(i) = nl.link_index(&self.name)? {
            nl.delete_link(i)?;
        }
        Ok(())
    }
}

/// A container's interface on a bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host end's name (derived from the container and the network, so
    /// it can be found again after a crash).
    pub host_veth: String,
    /// The name inside the container (`eth0`).
    pub ifname: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// Route everything through the network's gateway (the first network).
    pub default_route: bool,
}

/// docker's MAC for an address: `02:42:` and the four octets.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC address as `02:42:ac:11:00:02`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `02:42:ac:11:00:02`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], Error> {
    let bad = || Error::Invalid(format!("invalid MAC address {s:?}"));
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| {
            if p.len() == 2 {
                u8::from_str_radix(p, 16).map_err(|_| bad())
            } else {
                Err(bad())
            }
        })
        .collect::<Result<_, _>>()?;
    <[u8; 6]>::try_from(parts.as_slice()).map_err(|_| bad())
}

/// Plugs a container (its network namespace `netns`) into `bridge`.
pub fn attach(bridge: &Bridge, netns: BorrowedFd<'_>, ep: &Endpoint) -> Result<(), Error> {
    let mut host = Netlink::open()?;
    let br = bridge.ensure(&mut host)?;
    // A veth of the same name is a leftover of a container whose monitor
    // died: it goes, it cannot be in use.
    if let Some(stale) = host.link_index(&ep.host_veth)? {
        host.delete_link(stale)?;
    }
    host.add_veth(&ep.host_veth, &ep.ifname, netns, ep.mac, bridge.mtu, br)?;
    let configured = (|| {
        let mut inside = Netlink::open_in(netns)?;
        if let Some(lo) = inside.link_index("lo")? {
            inside.set_up(lo)?;
        }
        let eth = inside
            .link_index(&ep.ifname)?
            .ok_or_else(|| Error::netlink(format!("{} did not reach the container", ep.ifname)))?;
        inside.add_address(eth, ep.ip, bridge.subnet.prefix())?;
        inside.set_up(eth)?;
        if ep.default_route {
            inside.add_default_route(bridge.gateway)?;
        }
        Ok(())
    })();
    if configured.is_err() {
        detach(&ep.host_veth);
    }
    configured
}

/// Unplugs a container: its veth pair goes (the kernel would remove it with
/// the namespace, but later, and a restart reuses the name).
pub fn detach(host_veth: &str) {
    if let Ok(mut nl) = Netlink::open()
        && let Ok(Some(i)) = nl.link_index(host_veth)
    {
        let _ = nl.delete_link(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let m = mac_of(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), m);
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }
}
