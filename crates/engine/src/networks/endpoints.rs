//! A container on its networks while it runs: its monitor plugs a veth per
//! network into the container's namespace once the runtime created it (before
//! the process starts), holds its published host ports, and unplugs it all
//! when the process ends. The firewall table is rewritten whole from the
//! database whenever published ports or networks change.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;

use berth_network::bridge::{self, Endpoint};
use berth_network::firewall::{self, BridgeRules, Forward, Ruleset};
use berth_network::ports::{self, BoundPort, ContainerPort, HostBinding, Reservation, Wanted};
use berth_store::db::EndpointRow;

use super::{EndpointSettings, Network};
use crate::containers::Container;
use crate::{Engine, Error, Result};

/// What a running container holds on its networks (kept by its monitor).
pub(crate) struct Plugged {
    veths: Vec<String>,
    reservation: Option<Reservation>,
    had_ports: bool,
}

impl Plugged {
    /// Closes the host ports' sockets (the container's process ended).
    pub(crate) fn release_ports(&mut self) {
        drop(self.reservation.take());
    }

    /// The host ports bound at start.
    pub(crate) fn ports(&self) -> Vec<BoundPort> {
        self.reservation
            .as_ref()
            .map(|r| r.bound.clone())
            .unwrap_or_default()
    }
}

/// How a container is networked, from its `HostConfig.NetworkMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// The host's network namespace.
    Host,
    /// A namespace with only loopback.
    None,
    /// Another container's namespace.
    Container(String),
    /// Bridge networks: the default one or a user-defined one.
    Bridge(String),
}

impl NetworkMode {
    /// Parses docker's `NetworkMode` (`default` is the default bridge).
    pub fn parse(mode: &str) -> NetworkMode {
        match mode {
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            "" | "default" | "bridge" => NetworkMode::Bridge(super::DEFAULT_NETWORK.into()),
            m => match m.strip_prefix("container:") {
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Bridge(m.to_string()),
            },
        }
    }
}

/// The host end of a container's veth on a network: derived from both IDs,
/// so it is found again after a crash.
fn veth_name(container: &str, network: &str) -> String {
    let d = berth_oci::Digest::of(format!("{container}/{network}").as_bytes());
    format!("veth{}", &d.hex()[..11])
}

impl Engine {
    /// The networks a container is on with its endpoint there, in the order it
    /// joined them.
    pub(crate) fn container_networks(&self, id: &str) -> Result<Vec<(Network, EndpointRow)>> {
        let mut out = Vec::new();
        for ep in self.db.container_endpoints(id)? {
            let rows = self.db.find_networks(&ep.network)?;
            if let Some(row) = rows.into_iter().find(|r| r.id == ep.network) {
                out.push((Network::from_row(row)?, ep));
            }
        }
        Ok(out)
    }

    /// The ports a container publishes: `-p`, and with `-P` every exposed port
    /// not published otherwise, on an ephemeral host port.
    fn wanted_ports(&self, c: &Container) -> Result<Vec<Wanted>> {
        let host = &c.record.host_config;
        let mut wanted = Vec::new();
        for (port, bindings) in &host.port_bindings {
            let port: ContainerPort = port.parse()?;
            for b in bindings {
                wanted.push(Wanted {
                    port,
                    binding: b.clone(),
                });
            }
        }
        if host.publish_all_ports {
            for port in c.record.config.exposed_ports.iter().flat_map(|p| p.keys()) {
                let port: ContainerPort = port.parse()?;
                if !wanted.iter().any(|w| w.port == port) {
                    wanted.push(Wanted {
                        port,
                        binding: HostBinding::default(),
                    });
                }
            }
        }
        Ok(wanted)
    }

    /// Plugs the container whose init is `pid` into its networks and binds
    /// its published ports. Everything done is undone on failure.
    pub(crate) fn plug_container(&self, c: &Container, pid: i32) -> Result<Option<Plugged>> {
        if !matches!(
            NetworkMode::parse(&c.record.host_config.network_mode),
            NetworkMode::Bridge(_)
        ) {
            return Ok(None);
        }
        let networks = self.container_networks(&c.id)?;
        if networks.is_empty() {
            return Ok(None);
        }
        let ns_path = format!("/proc/{pid}/ns/net");
        let netns = File::open(&ns_path).map_err(Error::io(&ns_path))?;
        let mut plugged = Plugged {
            veths: Vec::new(),
            reservation: None,
            had_ports: false,
        };
        let mut first_ip = None;
        let mut done = || -> Result<()> {
            for (i, (n, ep)) in networks.iter().enumerate() {
                let Some(br) = n.bridge() else {
                    continue;
                };
                let ip: Ipv4Addr = ep.ip.parse().map_err(|_| {
                    Error::Invariant("the database holds an address that is not one")
                })?;
                first_ip.get_or_insert(ip);
                let mac = berth_network::bridge::parse_mac(&self.endpoint_mac(&ep.config, ip))?;
                let endpoint = Endpoint {
                    host_veth: veth_name(&c.id, &n.id),
                    ifname: format!("eth{i}"),
                    ip,
                    mac,
                    default_route: i == 0,
                };
                bridge::attach(&br, netns.as_fd(), &endpoint)
                    .map_err(|e| network_error(&c.name, &n.name, e))?;
                plugged.veths.push(endpoint.host_veth);
            }
            let wanted = self.wanted_ports(c)?;
            if let (false, Some(ip)) = (wanted.is_empty(), first_ip) {
                let r = ports::reserve(&wanted, ip).map_err(|e| Error::Start {
                    message: format!("container {}: {e}", c.name),
                    code: 125,
                })?;
                let mut state = self.container(&c.id)?.state;
                state.ports = r.bound.clone();
                self.save_state(&c.id, &state)?;
                plugged.reservation = Some(r);
                plugged.had_ports = true;
                self.sync_firewall()?;
            } else if !firewall::table_present()? {
                self.sync_firewall()?;
            }
            let gateways: Vec<Ipv4Addr> = networks
                .iter()
                .filter(|(n, _)| n.user_defined())
                .filter_map(|(n, _)| n.config.gateway)
                .collect();
            if !gateways.is_empty() {
                self.ensure_dns(&gateways)?;
            }
            Ok(())
        };
        match done() {
            Ok(()) => Ok(Some(plugged)),
            Err(e) => {
                self.unplug_container(c, Some(plugged));
                Err(e)
            }
        }
    }

    /// Unplugs a container whose process ended (or never started): veths go,
    /// ports are freed and their rules removed. `plugged` is what its monitor
    /// held; without it (the monitor died) the same is found by name.
    pub(crate) fn unplug_container(&self, c: &Container, plugged: Option<Plugged>) {
        let had_ports = plugged.as_ref().is_some_and(|p| p.had_ports) || !c.state.ports.is_empty();
        // The monitor's list, and the networks connected since it started.
        let mut veths: Vec<String> = self
            .db
            .container_endpoints(&c.id)
            .unwrap_or_default()
            .iter()
            .map(|ep| veth_name(&c.id, &ep.network))
            .collect();
        if let Some(mut p) = plugged {
            drop(p.reservation.take());
            veths.extend(p.veths);
        }
        veths.sort();
        veths.dedup();
        for v in &veths {
            bridge::detach(v);
        }
        if had_ports {
            if let Ok(current) = self.container(&c.id)
                && !current.state.ports.is_empty()
            {
                let mut state = current.state;
                state.ports.clear();
                let _ = self.save_state(&c.id, &state);
            }
            if let Err(e) = self.sync_firewall() {
                tracing::warn!(container = %c.name, error = %e, "rewriting the firewall table");
            }
        }
    }

    /// `network connect`: the container joins the network, at once when it
    /// runs (a new `ethN` appears in it).
    pub fn connect_network(
        &self,
        network: &str,
        container: &str,
        settings: &EndpointSettings,
    ) -> Result<()> {
        let n = self.network(network)?;
        let c = self.container(container)?;
        let _lock = self.lock_container(&c.id)?;
        if n.config.driver != "bridge" {
            return Err(Error::InvalidArgument(format!(
                "container cannot be disconnected from host network or connected to host network ({})",
                n.name
            )));
        }
        if !matches!(
            NetworkMode::parse(&c.record.host_config.network_mode),
            NetworkMode::Bridge(_)
        ) {
            return Err(Error::InvalidArgument(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let ip = self.join_network(&n, &c.id, settings)?;
        if c.state.running {
            let plugged = (|| -> Result<()> {
                let index = self.db.container_endpoints(&c.id)?.len().saturating_sub(1);
                let br = n
                    .bridge()
                    .ok_or(Error::Invariant("a bridge network without its bridge"))?;
                let ns_path = format!("/proc/{}/ns/net", c.state.pid);
                let netns = File::open(&ns_path).map_err(Error::io(&ns_path))?;
                let mac = bridge::parse_mac(
                    &self.endpoint_mac(&serde_json::to_string(settings).unwrap_or_default(), ip),
                )?;
                let endpoint = Endpoint {
                    host_veth: veth_name(&c.id, &n.id),
                    ifname: format!("eth{index}"),
                    ip,
                    mac,
                    default_route: false,
                };
                bridge::attach(&br, netns.as_fd(), &endpoint)
                    .map_err(|e| network_error(&c.name, &n.name, e))?;
                if let (true, Some(gw)) = (n.user_defined(), n.config.gateway) {
                    self.ensure_dns(&[gw])?;
                }
                Ok(())
            })();
            if let Err(e) = plugged {
                let _ = self.db.delete_endpoint(&n.id, &c.id);
                return Err(e);
            }
        }
        self.emit(
            "network",
            "connect",
            &n.id,
            &[("container", &c.id), ("name", &n.name), ("type", "bridge")],
        );
        Ok(())
    }

    /// `network disconnect`: the container leaves the network (its
    /// interface there goes at once when it runs).
    pub fn disconnect_network(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let n = self.network(network)?;
        let c = match self.container(container) {
            Ok(c) => c,
            Err(Error::ContainerNotFound(_)) if force => {
                // A container gone without its endpoint: the row goes anyway.
                for ep in self.db.network_endpoints(&n.id)? {
                    if ep.container.starts_with(container) {
                        self.db.delete_endpoint(&n.id, &ep.container)?;
                    }
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let _lock = self.lock_container(&c.id)?;
        if !self.db.delete_endpoint(&n.id, &c.id)? {
            return Err(Error::InvalidArgument(format!(
                "container {} is not connected to network {}",
                c.short_id(),
                n.name
            )));
        }
        if c.state.running {
            bridge::detach(&veth_name(&c.id, &n.id));
        }
        self.emit(
            "network",
            "disconnect",
            &n.id,
            &[("container", &c.id), ("name", &n.name), ("type", "bridge")],
        );
        Ok(())
    }

    /// Rewrites berth's nftables table from the database: every bridge
    /// network, and the published ports of the containers holding some.
    /// Serialised across berth processes by a lock, so the last writer's view
    /// includes every earlier change.
    pub(crate) fn sync_firewall(&self) -> Result<()> {
        let lock_path = self.paths.runroot().join("network.lock");
        if let Some(dir) = lock_path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir.display()))?;
        }
        let lock = crate::open_lock_file(&lock_path)?;
        lock.lock().map_err(Error::io(lock_path.display()))?;
        let mut rules = Ruleset::default();
        for n in self.networks()? {
            if let Some(b) = n.bridge() {
                rules.networks.push(BridgeRules {
                    bridge: b.name,
                    subnet: b.subnet,
                    internal: n.config.internal,
                });
            }
        }
        for row in self.db.containers()? {
            let Ok(state) = serde_json::from_str::<crate::containers::ContainerState>(&row.state)
            else {
                continue;
            };
            if state.ports.is_empty() {
                continue;
            }
            let Some(ip) = self
                .db
                .container_endpoints(&row.id)?
                .first()
                .and_then(|ep| ep.ip.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            for p in &state.ports {
                let host_ip = match p.host_ip {
                    IpAddr::V4(v4) if v4.is_unspecified() => None,
                    IpAddr::V4(v4) => Some(v4),
                    // IPv6 clients are relayed by the monitor.
                    IpAddr::V6(_) => continue,
                };
                rules.forwards.push(Forward {
                    protocol: p.protocol,
                    host_ip,
                    host_port: p.host_port,
                    container_ip: ip,
                    container_port: p.container_port,
                });
            }
        }
        rules.apply()?;
        Ok(())
    }

    /// The endpoint settings a container was created with for a network.
    pub(crate) fn endpoint_settings(row: &EndpointRow) -> EndpointSettings {
        serde_json::from_str(&row.config).unwrap_or_default()
    }
}

fn network_error(container: &str, network: &str, e: berth_network::Error) -> Error {
    Error::Start {
        message: format!("container {container}: cannot join network {network}: {e}"),
        code: 125,
    }
}
