//! Published ports: docker's `-p` syntax, and the host ports held open while
//! a container runs.
//!
//! The kernel forwards published ports (DNAT in berth's table); the sockets
//! held here reserve the ports, so nothing else on the host takes them and
//! `ss -ltn` shows them. They also serve what DNAT cannot: IPv6 clients
//! (`::1`, the container has only IPv4) and any connection that reaches them
//! because the table was flushed behind berth's back are relayed to the
//! container in user space.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Protocol, Error> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            other => Err(Error::Invalid(format!(
                "invalid protocol {other:?}: expected tcp, udp or sctp"
            ))),
        }
    }
}

/// A container port: `80/tcp` (docker's key in `ExposedPorts` and `Ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    /// The port number.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

impl FromStr for ContainerPort {
    type Err = Error;

    /// `80`, `80/tcp`, `53/udp`.
    fn from_str(s: &str) -> Result<ContainerPort, Error> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        Ok(ContainerPort {
            port: parse_port(port, s)?,
            protocol: proto.parse()?,
        })
    }
}

fn parse_port(s: &str, spec: &str) -> Result<u16, Error> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::Invalid(format!(
            "invalid port {s:?} in {spec:?}: expected a number from 1 to 65535"
        ))),
    }
}

fn parse_range(s: &str, spec: &str) -> Result<(u16, u16), Error> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port(a, spec)?, parse_port(b, spec)?);
            if a > b {
                return Err(Error::Invalid(format!(
                    "invalid port range {s:?} in {spec:?}: it ends before it starts"
                )));
            }
            Ok((a, b))
        }
        None => {
            let p = parse_port(s, spec)?;
            Ok((p, p))
        }
    }
}

/// Parses an `--expose` value: `80`, `80/udp` or a range `8000-8010/tcp`.
pub fn parse_expose(spec: &str) -> Result<Vec<ContainerPort>, Error> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let protocol: Protocol = proto.parse()?;
    let (lo, hi) = parse_range(ports, spec)?;
    Ok((lo..=hi)
        .map(|port| ContainerPort { port, protocol })
        .collect())
}

/// One host binding of a container port: docker's `PortBinding`
/// (`{"HostIp": "", "HostPort": "8080"}`). Empty strings mean every
/// address and an ephemeral port; a host port may be a range to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostBinding {
    /// The host address, or "" for all.
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    /// The host port, a range `8000-8010` to choose from, or "" for any.
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// Parses one `-p` value into the container ports it publishes and how:
/// `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, with ranges on both sides
/// (`8000-8010:80-90`), a host range for one container port (any free one
/// of the range) and IPv6 addresses in brackets (`[::1]:8080:80`).
pub fn parse_publish(spec: &str) -> Result<Vec<(ContainerPort, HostBinding)>, Error> {
    let bad = |why: &str| Error::Invalid(format!("invalid publish spec {spec:?}: {why}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.parse::<Protocol>().map_err(|e| bad(&e.to_string()))?),
        None => (spec, Protocol::Tcp),
    };
    let (ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
        let (ip, after) = stripped
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address needs its closing ']'"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':' after the host address"))?;
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => (Some(parts[0].to_string()), &rest[parts[0].len() + 1..]),
            _ => return Err(bad("too many ':' (an IPv6 address goes in brackets)")),
        }
    };
    if let Some(ip) = &ip
        && !ip.is_empty()
        && ip.parse::<IpAddr>().is_err()
    {
        return Err(bad(&format!("{ip:?} is not an IP address")));
    }
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    if container.is_empty() {
        return Err(bad("no container port"));
    }
    let (c_lo, c_hi) = parse_range(container, spec)?;
    let host_range = match host {
        Some(h) if !h.is_empty() => Some(parse_range(h, spec)?),
        _ => None,
    };
    let ip = ip.unwrap_or_default();
    let mut out = Vec::new();
    match host_range {
        Some((h_lo, h_hi)) if c_lo == c_hi && h_lo != h_hi => {
            out.push((
                ContainerPort {
                    port: c_lo,
                    protocol: proto,
                },
                HostBinding {
                    host_ip: ip,
                    host_port: format!("{h_lo}-{h_hi}"),
                },
            ));
        }
        Some((h_lo, h_hi)) => {
            if h_hi - h_lo != c_hi - c_lo {
                return Err(bad(
                    "the host and container port ranges must be the same length",
                ));
            }
            for i in 0..=(c_hi - c_lo) {
                out.push((
                    ContainerPort {
                        port: c_lo + i,
                        protocol: proto,
                    },
                    HostBinding {
                        host_ip: ip.clone(),
                        host_port: (h_lo + i).to_string(),
                    },
                ));
            }
        }
        None => {
            for p in c_lo..=c_hi {
                out.push((
                    ContainerPort {
                        port: p,
                        protocol: proto,
                    },
                    HostBinding {
                        host_ip: ip.clone(),
                        host_port: String::new(),
                    },
                ));
            }
        }
    }
    Ok(out)
}

/// A published port as it was bound at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundPort {
    /// The container side.
    pub container_port: u16,
    /// tcp, udp or sctp.
    pub protocol: Protocol,
    /// The host address (`0.0.0.0` for all IPv4 addresses).
    pub host_ip: IpAddr,
    /// The host port.
    pub host_port: u16,
}

/// The host sockets that hold a container's published ports, and the relay
/// that serves connections reaching them. Dropping it frees the ports.
pub struct Reservation {
    /// The ports, for the container's state (docker's `NetworkSettings.Ports`).
    pub bound: Vec<BoundPort>,
    stop: Arc<AtomicBool>,
    tcp: Vec<Arc<TcpListener>>,
    _udp: Vec<UdpSocket>,
    relay: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bound", &self.bound)
            .finish()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for l in &self.tcp {
            let _ = rustix::net::shutdown(l.as_fd(), rustix::net::Shutdown::Both);
        }
        if let Some(t) = self.relay.take() {
            let _ = t.join();
        }
    }
}

/// A host port to reserve for `container_ip:port`.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The container port.
    pub port: ContainerPort,
    /// How it is published.
    pub binding: HostBinding,
}

fn in_use(what: &str, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        Error::PortInUse(format!(
            "cannot publish {what}: the port is already in use on the host"
        ))
    } else {
        Error::Invalid(format!("cannot publish {what}: {e}"))
    }
}

fn bind_tcp(addr: SocketAddr, what: &str) -> Result<TcpListener, Error> {
    let l = TcpListener::bind(addr).map_err(|e| in_use(what, &e))?;
    Ok(l)
}

/// The IPv6 twin of an all-addresses IPv4 TCP listener on the same port
/// (`::1` and the host's IPv6 addresses), IPv6-only so the two do not clash;
/// absent when the host has no IPv6.
fn bind_tcp6(port: u16) -> Option<TcpListener> {
    use rustix::net::{AddressFamily, SocketType, ipproto, sockopt};
    let fd =
        rustix::net::socket(AddressFamily::INET6, SocketType::STREAM, Some(ipproto::TCP)).ok()?;
    sockopt::set_ipv6_v6only(&fd, true).ok()?;
    sockopt::set_socket_reuseaddr(&fd, true).ok()?;
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    rustix::net::bind(&fd, &addr).ok()?;
    rustix::net::listen(&fd, 128).ok()?;
    Some(TcpListener::from(fd))
}

/// Binds every wanted port, all or none: one taken port fails the whole
/// reservation with a line naming it. Ephemeral ports come from the kernel.
pub fn reserve(wanted: &[Wanted], container_ip: Ipv4Addr) -> Result<Reservation, Error> {
    let mut bound = Vec::new();
    let mut tcp: Vec<(Arc<TcpListener>, u16)> = Vec::new();
    let mut udp = Vec::new();
    for w in wanted {
        let ip: IpAddr = if w.binding.host_ip.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            w.binding
                .host_ip
                .parse()
                .map_err(|_| Error::Invalid(format!("invalid host IP {:?}", w.binding.host_ip)))?
        };
        let candidates: Vec<u16> = if w.binding.host_port.is_empty() {
            vec![0]
        } else {
            let (lo, hi) = parse_range(&w.binding.host_port, &w.binding.host_port)?;
            (lo..=hi).collect()
        };
        let mut last = None;
        let mut done = false;
        for port in &candidates {
            let what = format!("{}/{}", SocketAddr::new(ip, *port), w.port.protocol);
            let mut v6 = false;
            let attempt = match w.port.protocol {
                Protocol::Tcp => bind_tcp(SocketAddr::new(ip, *port), &what).map(|l| {
                    let p = l.local_addr().map(|a| a.port()).unwrap_or(*port);
                    tcp.push((Arc::new(l), w.port.port));
                    if ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                        && let Some(l6) = bind_tcp6(p)
                    {
                        tcp.push((Arc::new(l6), w.port.port));
                        v6 = true;
                    }
                    p
                }),
                Protocol::Udp => UdpSocket::bind(SocketAddr::new(ip, *port))
                    .map_err(|e| in_use(&what, &e))
                    .map(|s| {
                        let p = s.local_addr().map(|a| a.port()).unwrap_or(*port);
                        udp.push(s);
                        p
                    }),
                // No SCTP socket without the sctp module: the DNAT rule alone
                // publishes it, unreserved.
                Protocol::Sctp if *port != 0 => Ok(*port),
                Protocol::Sctp => Err(Error::Invalid(format!(
                    "cannot publish {}: an SCTP port needs a host port",
                    w.port
                ))),
            };
            match attempt {
                Ok(p) => {
                    bound.push(BoundPort {
                        container_port: w.port.port,
                        protocol: w.port.protocol,
                        host_ip: ip,
                        host_port: p,
                    });
                    if v6 {
                        bound.push(BoundPort {
                            container_port: w.port.port,
                            protocol: w.port.protocol,
                            host_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                            host_port: p,
                        });
                    }
                    done = true;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if !done {
            return Err(last.unwrap_or_else(|| Error::Invalid("no host port to bind".into())));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let relay = if tcp.is_empty() {
        None
    } else {
        let listeners = tcp.clone();
        let stop = stop.clone();
        Some(std::thread::spawn(move || {
            relay(&listeners, container_ip, &stop)
        }))
    };
    Ok(Reservation {
        bound,
        stop,
        tcp: tcp.into_iter().map(|(l, _)| l).collect(),
        _udp: udp,
        relay,
    })
}

/// Accepts on the listeners until stopped; each connection is relayed to the
/// container by two copying threads.
fn relay(listeners: &[(Arc<TcpListener>, u16)], container_ip: Ipv4Addr, stop: &AtomicBool) {
    use rustix::event::{PollFd, PollFlags, poll};
    while !stop.load(Ordering::SeqCst) {
        let mut fds: Vec<PollFd<'_>> = listeners
            .iter()
            .map(|(l, _)| PollFd::new(l.as_ref(), PollFlags::IN))
            .collect();
        let timeout = rustix::event::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        if poll(&mut fds, Some(&timeout)).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        for ((l, port), r) in listeners.iter().zip(ready) {
            if !r || stop.load(Ordering::SeqCst) {
                continue;
            }
            if let Ok((client, _)) = l.accept() {
                let to = SocketAddr::new(IpAddr::V4(container_ip), *port);
                std::thread::spawn(move || splice_pair(client, to));
            }
        }
    }
}

fn splice_pair(client: TcpStream, to: SocketAddr) {
    let Ok(server) = TcpStream::connect_timeout(&to, Duration::from_secs(5)) else {
        return;
    };
    let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let mut c = client;
        let mut s = server;
        let _ = std::io::copy(&mut c, &mut s);
        let _ = s.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut s2, &mut c2);
    let _ = c2.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> (String, String, String) {
        let v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        let (c, b) = &v[0];
        (c.to_string(), b.host_ip.clone(), b.host_port.clone())
    }

    #[test]
    fn parses_docker_specs() {
        assert_eq!(one("80"), ("80/tcp".into(), "".into(), "".into()));
        assert_eq!(one("8080:80"), ("80/tcp".into(), "".into(), "8080".into()));
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            ("80/udp".into(), "127.0.0.1".into(), "8080".into())
        );
        assert_eq!(
            one("127.0.0.1::80"),
            ("80/tcp".into(), "127.0.0.1".into(), "".into())
        );
        assert_eq!(
            one("[::1]:8080:80"),
            ("80/tcp".into(), "::1".into(), "8080".into())
        );
        assert_eq!(
            one("8000-8010:80"),
            ("80/tcp".into(), "".into(), "8000-8010".into())
        );
        let v = parse_publish("8000-8002:80-82/udp").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].0.to_string(), "82/udp");
        assert_eq!(v[2].1.host_port, "8002");
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
    }

    #[test]
    fn refuses_bad_specs_with_one_line() {
        for bad in [
            "",
            "0",
            "70000",
            "8080:",
            "a:80",
            "80/icmp",
            "1.2.3:80:80",
            "8000-8002:80-81",
            "90-80",
            "[::1:80:80",
            "::1:80:80",
        ] {
            let e = parse_publish(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid "), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn reserves_and_frees_ports() {
        let w = [Wanted {
            port: "80".parse().unwrap(),
            binding: HostBinding {
                host_ip: "127.0.0.1".into(),
                host_port: String::new(),
            },
        }];
        let r = reserve(&w, Ipv4Addr::LOCALHOST).unwrap();
        let port = r.bound[0].host_port;
        assert_ne!(port, 0);
        let again = [Wanted {
            port: "80".parse().unwrap(),
            binding: HostBinding {
                host_ip: "127.0.0.1".into(),
                host_port: port.to_string(),
            },
        }];
        let e = reserve(&again, Ipv4Addr::LOCALHOST).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        drop(r);
        reserve(&again, Ipv4Addr::LOCALHOST).unwrap();
    }
}
