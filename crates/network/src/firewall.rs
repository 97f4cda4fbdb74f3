//! berth's nftables table, `inet berth`: masquerade out of each network,
//! isolation between networks, `--internal` networks kept in, and the DNAT
//! of published ports for traffic from outside, from the host itself
//! (127.0.0.1 too, through `route_localnet` and a masquerade of loopback
//! sources as netavark does) and from containers (hairpin).
//!
//! The table is always written whole from the database's view, in one `nft -f`
//! transaction that deletes the old table and adds the new one: atomic
//! (nftables applies a file all or nothing), idempotent, and self-healing —
//! rules of containers that no longer run are simply not written again.
//! Nothing outside the table is touched, so the iptables-nft rules of other
//! tools stay as they are. Debian's `nft` does the netlink encoding; berth
//! talks to nf_tables netlink directly only to ask whether its table exists,
//! which every container start does and which must cost no process.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use crate::Error;
use crate::ports::Protocol;
use crate::subnet::Subnet;

/// The table's name (family `inet`).
pub const TABLE: &str = "berth";

/// A bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The bridge device.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Subnet,
    /// No traffic in or out of the network, only within it.
    pub internal: bool,
}

/// One published port: host port → container address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// tcp, udp or sctp.
    pub protocol: Protocol,
    /// The host address it answers on; `None` for every local address.
    pub host_ip: Option<Ipv4Addr>,
    /// The port on the host.
    pub host_port: u16,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The port in the container.
    pub container_port: u16,
}

/// Everything in berth's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The bridge networks.
    pub networks: Vec<BridgeRules>,
    /// The published ports of running containers.
    pub forwards: Vec<Forward>,
}

impl Ruleset {
    /// The table in nft's language.
    pub fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "table inet {TABLE} {{");
        let bridges: Vec<String> = self
            .networks
            .iter()
            .map(|n| format!("\"{}\"", n.bridge))
            .collect();
        t.push_str("  set bridges {\n    type ifname\n");
        if !bridges.is_empty() {
            let _ = writeln!(t, "    elements = {{ {} }}", bridges.join(", "));
        }
        t.push_str("  }\n");

        t.push_str(
            "  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
        );
        for n in &self.networks {
            let b = &n.bridge;
            if n.internal {
                let _ = writeln!(t, "    iifname \"{b}\" oifname != \"{b}\" drop");
                let _ = writeln!(t, "    oifname \"{b}\" iifname != \"{b}\" drop");
            } else {
                // Networks do not reach each other (docker's isolation).
                let _ = writeln!(
                    t,
                    "    iifname \"{b}\" oifname != \"{b}\" oifname @bridges drop"
                );
            }
        }
        t.push_str("  }\n");

        let mut dnat = String::new();
        for f in &self.forwards {
            let dst = match f.host_ip {
                Some(ip) => format!("ip daddr {ip}"),
                None => "fib daddr type local".to_string(),
            };
            let _ = writeln!(
                dnat,
                "    {dst} {} dport {} dnat ip to {}:{}",
                f.protocol, f.host_port, f.container_ip, f.container_port
            );
        }
        let _ = write!(
            t,
            "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{dnat}  }}\n"
        );
        let _ = write!(
            t,
            "  chain output {{\n    type nat hook output priority -100; policy accept;\n{dnat}  }}\n"
        );

        t.push_str(
            "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
        );
        for n in &self.networks {
            let b = &n.bridge;
            if !n.internal {
                let _ = writeln!(t, "    ip saddr {} oifname != \"{b}\" masquerade", n.subnet);
            }
            // The host's 127.0.0.1 reaching a published port.
            let _ = writeln!(t, "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade");
            // A container reaching a published port of its own network
            // through the host's address (hairpin): the answer must come back
            // through the host, not straight across the bridge.
            let _ = writeln!(
                t,
                "    oifname \"{b}\" iifname \"{b}\" ct status dnat masquerade"
            );
        }
        t.push_str("  }\n}\n");
        t
    }

    /// Replaces berth's table with this one, atomically.
    pub fn apply(&self) -> Result<(), Error> {
        // Declaring the table first makes the delete valid when it is absent.
        let script = format!(
            "table inet {TABLE}\ndelete table inet {TABLE}\n{}",
            self.render()
        );
        nft(&script)
    }
}

fn nft(script: &str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Firewall(format!("cannot run nft (Debian's nftables package): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::Firewall(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Firewall(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err
        .lines()
        .find(|l| l.contains("Error"))
        .or_else(|| err.lines().next())
        .unwrap_or("no message");
    Err(Error::Firewall(format!(
        "nft refused berth's table: {}",
        first.trim()
    )))
}

/// Whether berth's table exists, asked of nf_tables over netlink.
pub fn table_present() -> Result<bool, Error> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_GETTABLE: u16 = 1;
    const NFPROTO_INET: u8 = 1;
    const NFTA_TABLE_NAME: u16 = 1;
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(Error::sys("netfilter socket"))?;
    socket
        .bind_auto()
        .map_err(Error::sys("netfilter socket bind"))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(Error::sys("netfilter socket connect"))?;
    let name = format!("{TABLE}\0");
    let attr_len = 4 + name.len();
    let padded = (attr_len + 3) & !3;
    let len = 16 + 4 + padded;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    let flags = netlink_packet_core::NLM_F_REQUEST | netlink_packet_core::NLM_F_ACK;
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id
    msg.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]); // nfgenmsg
    msg.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    msg.extend_from_slice(&NFTA_TABLE_NAME.to_ne_bytes());
    msg.extend_from_slice(name.as_bytes());
    msg.resize(len, 0);
    socket
        .send(&msg, 0)
        .map_err(Error::sys("asking nf_tables for berth's table"))?;
    let mut buf = vec![0u8; 8192];
    loop {
        let n = socket
            .recv(&mut &mut buf[..], 0)
            .map_err(Error::sys("reading nf_tables' answer"))?;
        let mut off = 0;
        while off + 16 <= n {
            let mlen =
                u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
            let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if kind == 2 {
                // NLMSG_ERROR: 0 acknowledges the table we were sent before.
                let code = i32::from_ne_bytes([
                    buf[off + 16],
                    buf[off + 17],
                    buf[off + 18],
                    buf[off + 19],
                ]);
                return match code {
                    0 => Ok(true),
                    c if -c == libc::ENOENT => Ok(false),
                    c => Err(Error::Firewall(format!(
                        "asking nf_tables for berth's table: {}",
                        std::io::Error::from_raw_os_error(-c)
                    ))),
                };
            }
            if mlen < 16 {
                break;
            }
            off += (mlen + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_networks_and_forwards() {
        let r = Ruleset {
            networks: vec![
                BridgeRules {
                    bridge: "berth0".into(),
                    subnet: "172.17.0.0/16".parse().unwrap(),
                    internal: false,
                },
                BridgeRules {
                    bridge: "br-inside".into(),
                    subnet: "10.9.0.0/24".parse().unwrap(),
                    internal: true,
                },
            ],
            forwards: vec![Forward {
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: Ipv4Addr::new(172, 17, 0, 2),
                container_port: 80,
            }],
        };
        let t = r.render();
        assert!(
            t.contains("elements = { \"berth0\", \"br-inside\" }"),
            "{t}"
        );
        assert!(t.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(
            !t.contains("ip saddr 10.9.0.0/24 oifname"),
            "internal: no way out"
        );
        assert!(t.contains("iifname \"br-inside\" oifname != \"br-inside\" drop"));
        assert_eq!(
            t.matches("fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80")
                .count(),
            2,
            "prerouting and output: {t}"
        );
    }
}
