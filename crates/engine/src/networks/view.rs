//! A container's networking as docker shows it: inspect's
//! `NetworkSettings`, the PORTS column of `ps` and `berth port`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_network::ports::{BoundPort, ContainerPort};

use super::NetworkMode;
use crate::containers::Container;
use crate::{Engine, Result};

/// One port of a container: published (with its host side) or only exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    /// The container side.
    pub port: ContainerPort,
    /// The host side, when published and running.
    pub host: Option<(IpAddr, u16)>,
}

impl PortView {
    /// `0.0.0.0:8080->80/tcp`, `[::]:8080->80/tcp` or `80/tcp`.
    pub fn ps_text(&self) -> String {
        match self.host {
            Some((ip, port)) => format!("{}->{}", host_text(ip, port), self.port),
            None => self.port.to_string(),
        }
    }

    /// `0.0.0.0:8080` or `[::]:8080` (`berth port`).
    pub fn host_text(&self) -> Option<String> {
        self.host.map(|(ip, port)| host_text(ip, port))
    }
}

/// docker's PORTS column: the ports joined by `, `, runs of consecutive
/// ports on the same address and protocol shown as ranges
/// (`0.0.0.0:8000-8002->80-82/tcp`).
pub fn ports_column(views: &[PortView]) -> String {
    let mut sorted = views.to_vec();
    sorted.sort_by_key(|v| {
        (
            v.host.map(|h| h.0),
            v.port.protocol,
            v.port.port,
            v.host.map(|h| h.1),
        )
    });
    let mut groups: Vec<(PortView, u16)> = Vec::new();
    for v in &sorted {
        if let Some((last, n)) = groups.last_mut() {
            let next = |a: Option<(IpAddr, u16)>, b: Option<(IpAddr, u16)>| match (a, b) {
                (Some((ia, pa)), Some((ib, pb))) => {
                    ia == ib && u32::from(pa) + u32::from(*n) == u32::from(pb)
                }
                (None, None) => true,
                _ => false,
            };
            if last.port.protocol == v.port.protocol
                && u32::from(last.port.port) + u32::from(*n) == u32::from(v.port.port)
                && next(last.host, v.host)
            {
                *n += 1;
                continue;
            }
        }
        groups.push((v.clone(), 1));
    }
    groups
        .iter()
        .map(|(v, n)| {
            if *n == 1 {
                return v.ps_text();
            }
            let end = v.port.port + (n - 1);
            let ports = format!("{}-{end}/{}", v.port.port, v.port.protocol);
            match v.host {
                Some((ip, p)) => {
                    let host = host_text(ip, p);
                    format!("{host}-{}->{ports}", p + (n - 1))
                }
                None => ports,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn host_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

fn bound_view(p: &BoundPort) -> PortView {
    PortView {
        port: ContainerPort {
            port: p.container_port,
            protocol: p.protocol,
        },
        host: Some((p.host_ip, p.host_port)),
    }
}

impl Engine {
    /// The names of the networks a container is on (`ps`'s NETWORKS).
    pub fn container_network_names(&self, c: &Container) -> Vec<String> {
        match NetworkMode::parse(&c.record.host_config.network_mode) {
            NetworkMode::Host => vec!["host".into()],
            NetworkMode::None => vec!["none".into()],
            NetworkMode::Container(_) => Vec::new(),
            NetworkMode::Bridge(_) => self
                .container_networks(&c.id)
                .map(|v| v.into_iter().map(|(n, _)| n.name).collect())
                .unwrap_or_default(),
        }
    }

    /// The container's ports: the bound ones while it runs, then the exposed
    /// ones not published, sorted as docker's `ps` sorts them.
    pub fn container_ports(&self, c: &Container) -> Vec<PortView> {
        let mut out: Vec<PortView> = c.state.ports.iter().map(bound_view).collect();
        let exposed = c
            .record
            .config
            .exposed_ports
            .iter()
            .flat_map(|p| p.keys())
            .chain(c.record.host_config.port_bindings.keys())
            .filter_map(|k| k.parse::<ContainerPort>().ok());
        for port in exposed {
            if !out.iter().any(|v| v.port == port) {
                out.push(PortView { port, host: None });
            }
        }
        out.sort_by(|a, b| {
            (a.port.port, a.port.protocol, a.host.map(|h| h.0.is_ipv6())).cmp(&(
                b.port.port,
                b.port.protocol,
                b.host.map(|h| h.0.is_ipv6()),
            ))
        });
        out.dedup();
        out
    }

    /// docker's `NetworkSettings` of a container.
    pub fn network_settings(&self, c: &Container) -> Result<serde_json::Value> {
        let running = c.state.running;
        let mut ports = serde_json::Map::new();
        if running {
            for v in self.container_ports(c) {
                let entry = ports
                    .entry(v.port.to_string())
                    .or_insert(serde_json::Value::Null);
                if let Some((ip, port)) = v.host {
                    let binding =
                        serde_json::json!({"HostIp": ip.to_string(), "HostPort": port.to_string()});
                    match entry {
                        serde_json::Value::Array(a) => a.push(binding),
                        e => *e = serde_json::Value::Array(vec![binding]),
                    }
                }
            }
        }
        let mut networks = serde_json::Map::new();
        let mut top = BTreeMap::new();
        let mode = NetworkMode::parse(&c.record.host_config.network_mode);
        let empty_endpoint = || {
            serde_json::json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "NetworkID": "",
                "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "MacAddress": "", "DriverOpts": null,
            })
        };
        match &mode {
            NetworkMode::Host | NetworkMode::None => {
                let name = if mode == NetworkMode::Host {
                    "host"
                } else {
                    "none"
                };
                let mut ep = empty_endpoint();
                if let Ok(n) = self.network(name) {
                    ep["NetworkID"] = n.id.into();
                }
                networks.insert(name.into(), ep);
            }
            NetworkMode::Container(_) => {}
            NetworkMode::Bridge(_) => {
                for (n, row) in self.container_networks(&c.id)? {
                    let mut ep = empty_endpoint();
                    ep["NetworkID"] = n.id.clone().into();
                    let settings = Self::endpoint_settings(&row);
                    if n.user_defined() {
                        // docker's order: the given aliases, then the short ID.
                        let mut aliases = settings.aliases.clone();
                        aliases.push(c.short_id().to_string());
                        ep["Aliases"] = aliases.into();
                    }
                    if let Some(ip) = &settings.requested_ip {
                        ep["IPAMConfig"] = serde_json::json!({"IPv4Address": ip});
                    }
                    if running {
                        let prefix = n.config.subnet.map_or(0, |s| s.prefix());
                        let gateway = n.config.gateway.map(|g| g.to_string()).unwrap_or_default();
                        let mac = row
                            .ip
                            .parse()
                            .map(|ip| self.endpoint_mac(&row.config, ip))
                            .unwrap_or_default();
                        ep["EndpointID"] = super::endpoint_id(&n.id, &c.id).into();
                        ep["Gateway"] = gateway.clone().into();
                        ep["IPAddress"] = row.ip.clone().into();
                        ep["IPPrefixLen"] = prefix.into();
                        ep["MacAddress"] = mac.clone().into();
                        if n.name == super::DEFAULT_NETWORK {
                            top.insert("EndpointID", ep["EndpointID"].clone());
                            top.insert("Gateway", gateway.into());
                            top.insert("IPAddress", row.ip.clone().into());
                            top.insert("IPPrefixLen", prefix.into());
                            top.insert("MacAddress", mac.into());
                        }
                    }
                    networks.insert(n.name.clone(), ep);
                }
            }
        }
        let sandbox = if running && !matches!(mode, NetworkMode::Host) {
            format!("/proc/{}/ns/net", c.state.pid)
        } else {
            String::new()
        };
        let mut settings = serde_json::json!({
            "Bridge": "", "SandboxID": if running { super::endpoint_id("sandbox", &c.id) } else { String::new() },
            "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
            "SandboxKey": sandbox, "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        });
        for (k, v) in top {
            settings[k] = v;
        }
        settings["Networks"] = networks.into();
        Ok(settings)
    }
}
