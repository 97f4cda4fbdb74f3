//! Networks: docker's model — the default `bridge` network (device `berth0`),
//! `host`, `none`, and user-defined bridge networks whose containers find
//! each other by name through berth's DNS.
//!
//! Owns: network rows and IP address management in the database, the
//! default network's subnet choice (away from the host's routes and other
//! tools' bridges), `network create/ls/inspect/rm/prune/connect/disconnect`.
//! Plugging a running container in and out, its published ports and the
//! firewall live in `endpoints`; the DNS server in `dns`. Must not know:
//! how links are made (the network crate's business).

mod dns;
mod endpoints;
pub(crate) mod etc;
mod view;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_network::bridge::Bridge;
use berth_network::subnet::{AddressPool, Subnet, pick_free};
use berth_store::db::{EndpointRefusal, NetworkRow};
use serde::{Deserialize, Serialize};

pub use dns::serve_dns;
pub use endpoints::NetworkMode;
pub(crate) use endpoints::Plugged;
pub(crate) use etc::check_extra_host;
pub use view::{PortView, ports_column};

use crate::{Engine, Error, Result};

/// The default network's name, and its device.
pub const DEFAULT_NETWORK: &str = "bridge";
const DEFAULT_BRIDGE: &str = "berth0";
/// docker's option naming a bridge network's device.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
/// docker's option setting a bridge network's MTU.
const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// The daemon.json keys that shape the default network (`bip`,
/// `default-address-pools`, `mtu`).
#[derive(Debug, Clone, Default)]
pub struct NetworkDefaults {
    /// `bip`: the default bridge's address and prefix (`172.26.0.1/16`).
    pub bip: Option<String>,
    /// `default-address-pools`: where networks without `--subnet` come from.
    pub pools: Vec<AddressPool>,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// dockerd's `--bridge=none`: containers without `--network` get none.
    pub no_default_bridge: bool,
}

/// A network's settings, kept as its row's JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConfig {
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// The bridge device (bridge networks).
    #[serde(default)]
    pub bridge: String,
    /// The subnet (bridge networks).
    #[serde(default)]
    pub subnet: Option<Subnet>,
    /// The bridge's address, the containers' gateway.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Where container addresses are taken from (in the subnet).
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    /// No way in or out.
    #[serde(default)]
    pub internal: bool,
    /// `--label`s.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The MTU of the bridge and its veths.
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// A network as listed and inspected.
#[derive(Debug, Clone)]
pub struct Network {
    /// The 64-hex ID.
    pub id: String,
    /// The name.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Its settings.
    pub config: NetworkConfig,
}

impl Network {
    /// The bridge the network is, for bridge networks.
    pub(crate) fn bridge(&self) -> Option<Bridge> {
        if self.config.driver != "bridge" {
            return None;
        }
        Some(Bridge {
            name: self.config.bridge.clone(),
            subnet: self.config.subnet?,
            gateway: self.config.gateway?,
            mtu: self.config.mtu,
        })
    }

    /// A user-defined bridge network: its containers resolve each other's
    /// names (the default bridge's do not, as in docker).
    pub fn user_defined(&self) -> bool {
        self.config.driver == "bridge" && self.name != DEFAULT_NETWORK
    }

    /// `bridge`, `host` and `none` cannot be removed.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), DEFAULT_NETWORK | "host" | "none")
    }

    /// The short ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    fn from_row(row: NetworkRow) -> Result<Network> {
        let config = serde_json::from_str(&row.config).map_err(|e| {
            Error::Store(berth_store::Error::Corrupt(format!(
                "network {}: {e}",
                row.name
            )))
        })?;
        let created = chrono::DateTime::from_timestamp_nanos(row.created)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        Ok(Network {
            id: row.id,
            name: row.name,
            created,
            config,
        })
    }
}

/// `network create`'s flags.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NetworkCreateOptions {
    /// The name.
    pub name: String,
    /// `-d`: bridge (the only one berth creates).
    pub driver: Option<String>,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--ip-range`.
    pub ip_range: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--label K=V`.
    pub labels: BTreeMap<String, String>,
    /// `-o K=V`.
    pub options: BTreeMap<String, String>,
}

/// How a container joins a network (`--network-alias`, `--ip`,
/// `--mac-address`, `network connect --alias --ip`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// Names it answers to on the network besides its own.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The address asked for.
    #[serde(default)]
    pub requested_ip: Option<String>,
    /// The MAC address asked for.
    #[serde(default)]
    pub mac_address: Option<String>,
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("network {name} not found"))
}

impl Engine {
    /// Makes `bridge`, `host` and `none` exist. The default bridge's subnet
    /// is `bip`'s, else the first pool network that overlaps none of the
    /// host's routes (a docker or podman bridge included) and no other
    /// network.
    fn ensure_default_networks(&self) -> Result<()> {
        if self.db.find_networks(DEFAULT_NETWORK)?.len() == 1 {
            return Ok(());
        }
        let d = &self.network_defaults;
        let (subnet, gateway) = match &d.bip {
            Some(bip) => {
                let (ip, prefix) = bip.split_once('/').ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "invalid bip {bip:?}: expected an address and prefix such as 172.26.0.1/16"
                    ))
                })?;
                let ip: Ipv4Addr = ip.parse().map_err(|_| {
                    Error::InvalidArgument(format!("invalid bip {bip:?}: not an IPv4 address"))
                })?;
                let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 30).ok_or_else(|| {
                    Error::InvalidArgument(format!("invalid bip {bip:?}: bad prefix length"))
                })?;
                (Subnet::containing(ip, prefix), ip)
            }
            None => {
                let subnet = self.free_subnet()?;
                (subnet, first_host(&subnet)?)
            }
        };
        let config = NetworkConfig {
            driver: "bridge".into(),
            bridge: DEFAULT_BRIDGE.into(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range: None,
            internal: false,
            labels: BTreeMap::new(),
            options: [
                (BRIDGE_NAME_OPTION.to_string(), DEFAULT_BRIDGE.to_string()),
                (
                    "com.docker.network.bridge.default_bridge".into(),
                    "true".into(),
                ),
            ]
            .into(),
            mtu: d.mtu,
        };
        for (name, config) in [
            (DEFAULT_NETWORK, config),
            ("host", pseudo("host")),
            ("none", pseudo("null")),
        ] {
            self.put_network(&crate::containers::names::new_id()?, name, config)?;
        }
        Ok(())
    }

    fn put_network(&self, id: &str, name: &str, config: NetworkConfig) -> Result<Option<Network>> {
        let row = NetworkRow {
            id: id.to_string(),
            name: name.to_string(),
            created: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            config: serde_json::to_string(&config).map_err(|source| Error::Serialize {
                what: "the network's settings",
                source,
            })?,
        };
        let subnet = config.subnet;
        let bridge = config.bridge.clone();
        let added = self.db.put_network(&row, |existing| {
            for other in existing {
                let Ok(o) = Network::from_row(other.clone()) else {
                    continue;
                };
                if let (Some(a), Some(b)) = (subnet, o.config.subnet)
                    && a.overlaps(&b)
                {
                    return Err(Error::NetworkConflict(format!(
                            "(invalid pool request): pool overlaps with other one on this address space: {a} overlaps network {} ({b})",
                            o.name
                        )));
                }
                if !bridge.is_empty() && o.config.bridge == bridge {
                    return Err(Error::NetworkConflict(format!("bridge device {bridge} is network {}'s", o.name)));
                }
            }
            Ok(())
        })?;
        match added {
            Ok(true) => Ok(Some(Network::from_row(row)?)),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn free_subnet(&self) -> Result<Subnet> {
        // The host's routes and the subnets of its addresses (a docker or
        // podman bridge that is down keeps its address, not its route).
        let mut taken: Vec<Subnet> = berth_network::netlink::Netlink::open()
            .and_then(|mut nl| {
                let mut t = nl.routed_subnets()?;
                t.extend(nl.address_subnets()?);
                Ok(t)
            })
            .unwrap_or_default();
        // Loopback's 127.0.0.0/8 is no one's bridge.
        taken.retain(|s| !s.base().is_loopback());
        for n in self.db.networks()? {
            if let Ok(n) = Network::from_row(n)
                && let Some(s) = n.config.subnet
            {
                taken.push(s);
            }
        }
        let pools = if self.network_defaults.pools.is_empty() {
            AddressPool::defaults()
        } else {
            self.network_defaults.pools.clone()
        };
        pick_free(&pools, &taken).ok_or_else(|| {
            Error::InvalidArgument(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
    }

    /// Every network, oldest first.
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.ensure_default_networks()?;
        let mut list: Vec<Network> = self
            .db
            .networks()?
            .into_iter()
            .map(Network::from_row)
            .collect::<Result<_>>()?;
        // dockerd's `--bridge=none` has no `bridge` network to list.
        if self.network_defaults.no_default_bridge {
            list.retain(|n| !(n.predefined() && n.config.driver == "bridge"));
        }
        Ok(list)
    }

    /// The networks matching every filter (`KEY=VALUE`: driver, id, label,
    /// name, scope, type=custom|builtin; values of one key are alternatives).
    pub fn list_networks(&self, filters: &[String]) -> Result<Vec<Network>> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in filters {
            let (k, v) = f.split_once('=').ok_or_else(|| Error::InvalidFilter {
                filter: f.clone(),
                reason: "expected KEY=VALUE",
            })?;
            if !["driver", "id", "label", "name", "scope", "type"].contains(&k) {
                return Err(Error::InvalidFilter {
                    filter: f.clone(),
                    reason: "networks are filtered by driver, id, label, name, scope and type",
                });
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        let matches = |n: &Network| {
            by_key.iter().all(|(key, values)| {
                values.iter().any(|v| match key.as_str() {
                    "name" => n.name.contains(v.as_str()),
                    "id" => n.id.starts_with(v.as_str()),
                    "driver" => n.config.driver == *v,
                    "scope" => v == "local",
                    "type" => (v == "builtin") == n.predefined(),
                    _ => match v.split_once('=') {
                        Some((k, val)) => n.config.labels.get(k).is_some_and(|x| x == val),
                        None => n.config.labels.contains_key(v),
                    },
                })
            })
        };
        Ok(self
            .networks()?
            .into_iter()
            .filter(|n| matches(n))
            .collect())
    }

    /// A network by name, ID or unique ID prefix.
    pub fn network(&self, name: &str) -> Result<Network> {
        self.ensure_default_networks()?;
        let rows = self.db.find_networks(name)?;
        match rows.len() {
            1 => Network::from_row(rows.into_iter().next().ok_or_else(|| not_found(name))?),
            0 => Err(not_found(name)),
            _ => Err(Error::InvalidArgument(format!(
                "network {name} is ambiguous ({} matches found based on ID prefix)",
                rows.len()
            ))),
        }
    }

    /// `network create`.
    pub fn create_network(&self, opts: &NetworkCreateOptions) -> Result<Network> {
        self.ensure_default_networks()?;
        let name = &opts.name;
        if !crate::containers::names::valid_name(name) {
            return Err(Error::InvalidArgument(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        match opts.driver.as_deref() {
            None | Some("bridge") => {}
            Some(d @ ("host" | "null")) => {
                return Err(Error::InvalidArgument(format!(
                    "only one instance of \"{d}\" network is allowed"
                )));
            }
            Some(d) => {
                return Err(Error::InvalidArgument(format!(
                    "plugin \"{d}\" not found: berth has the bridge driver"
                )));
            }
        }
        let subnet = match &opts.subnet {
            Some(s) => s.parse::<Subnet>()?,
            None if opts.gateway.is_some() || opts.ip_range.is_some() => {
                return Err(Error::InvalidArgument(
                    "--gateway and --ip-range need a --subnet".into(),
                ));
            }
            None => self.free_subnet()?,
        };
        let gateway = match &opts.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g.parse().map_err(|_| {
                    Error::InvalidArgument(format!("invalid gateway {g:?}: not an IPv4 address"))
                })?;
                if !subnet.is_host(ip) {
                    return Err(Error::InvalidArgument(format!(
                        "invalid gateway {ip}: it is not a host address of subnet {subnet}"
                    )));
                }
                ip
            }
            None => first_host(&subnet)?,
        };
        let ip_range = match &opts.ip_range {
            Some(r) => {
                let r: Subnet = r.parse()?;
                if !subnet.covers(&r) {
                    return Err(Error::InvalidArgument(format!(
                        "invalid --ip-range {r}: it is not inside subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let mtu =
            match opts.options.get(MTU_OPTION) {
                Some(m) => Some(m.parse::<u32>().ok().filter(|m| *m >= 68).ok_or_else(|| {
                    Error::InvalidArgument(format!("invalid {MTU_OPTION} {m:?}"))
                })?),
                None => self.network_defaults.mtu,
            };
        let id = crate::containers::names::new_id()?;
        let bridge = match opts.options.get(BRIDGE_NAME_OPTION) {
            Some(b) if b.is_empty() || b.len() > 15 || b.contains(['/', ' ']) => {
                return Err(Error::InvalidArgument(format!(
                    "invalid {BRIDGE_NAME_OPTION} {b:?}: a device name of 1 to 15 characters"
                )));
            }
            Some(b) => b.clone(),
            // docker's: the network ID's first twelve digits.
            None => format!("br-{}", &id[..12]),
        };
        let config = NetworkConfig {
            driver: "bridge".into(),
            bridge,
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range,
            internal: opts.internal,
            labels: opts.labels.clone(),
            options: opts.options.clone(),
            mtu,
        };
        let Some(network) = self.put_network(&id, name, config)? else {
            return Err(Error::NameInUse(format!(
                "network with name {name} already exists"
            )));
        };
        // Its masquerade and isolation rules exist before any container.
        if let Err(e) = self.sync_firewall() {
            let _ = self.db.delete_network(&network.id);
            return Err(e);
        }
        self.emit(
            "network",
            "create",
            &network.id,
            &[("name", name), ("type", "bridge")],
        );
        Ok(network)
    }

    /// `network rm`: refused for the predefined networks and for one a
    /// container is on.
    pub fn remove_network(&self, name: &str) -> Result<String> {
        let n = self.network(name)?;
        if n.predefined() {
            return Err(Error::InvalidArgument(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let users = self.db.delete_network(&n.id)?;
        if !users.is_empty() {
            let names: Vec<String> = users
                .iter()
                .map(|id| {
                    self.container(id)
                        .map(|c| c.name)
                        .unwrap_or_else(|_| id[..12].to_string())
                })
                .collect();
            return Err(Error::NetworkConflict(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                n.name,
                n.id,
                names.join(", ")
            )));
        }
        if let Some(b) = n.bridge()
            && let Ok(mut nl) = berth_network::netlink::Netlink::open()
        {
            let _ = b.remove(&mut nl);
        }
        self.sync_firewall()?;
        self.emit(
            "network",
            "destroy",
            &n.id,
            &[("name", &n.name), ("type", "bridge")],
        );
        Ok(n.name)
    }

    /// `network prune`: removes user-defined networks no container is on.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.networks()? {
            if n.predefined() || !self.db.network_endpoints(&n.id)?.is_empty() {
                continue;
            }
            match self.remove_network(&n.id) {
                Ok(name) => removed.push(name),
                Err(Error::NetworkConflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// `network inspect`: docker's document.
    pub fn inspect_network(&self, name: &str) -> Result<serde_json::Value> {
        let n = self.network(name)?;
        let mut containers = serde_json::Map::new();
        for ep in self.db.network_endpoints(&n.id)? {
            let Ok(c) = self.container(&ep.container) else {
                continue;
            };
            let prefix = n.config.subnet.map_or(0, |s| s.prefix());
            let mac = ep
                .ip
                .parse::<Ipv4Addr>()
                .map(|ip| self.endpoint_mac(&ep.config, ip))
                .unwrap_or_default();
            containers.insert(
                c.id.clone(),
                serde_json::json!({
                    "Name": c.name,
                    "EndpointID": endpoint_id(&n.id, &c.id),
                    "MacAddress": mac,
                    "IPv4Address": format!("{}/{prefix}", ep.ip),
                    "IPv6Address": "",
                }),
            );
        }
        let ipam_config: Vec<serde_json::Value> = match (n.config.subnet, n.config.gateway) {
            (Some(s), Some(g)) => {
                let mut c = serde_json::json!({"Subnet": s.to_string(), "Gateway": g.to_string()});
                if let Some(r) = n.config.ip_range {
                    c["IPRange"] = r.to_string().into();
                }
                vec![c]
            }
            _ => Vec::new(),
        };
        Ok(serde_json::json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.config.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": if n.config.driver == "bridge" && !n.predefined() { serde_json::json!({}) } else { serde_json::Value::Null }, "Config": ipam_config},
            "Internal": n.config.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.config.options,
            "Labels": n.config.labels,
        }))
    }

    /// Records `container` on `network` with an address: the one asked
    /// for, or the lowest free one of the range.
    pub(crate) fn join_network(
        &self,
        n: &Network,
        container: &str,
        settings: &EndpointSettings,
    ) -> Result<Ipv4Addr> {
        let (Some(subnet), Some(gateway)) = (n.config.subnet, n.config.gateway) else {
            return Err(Error::InvalidArgument(format!(
                "network {} has no addresses to give",
                n.name
            )));
        };
        let requested = match &settings.requested_ip {
            Some(ip) if !ip.is_empty() => {
                if !n.user_defined() {
                    return Err(Error::InvalidArgument(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                let ip: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address {ip:?}")))?;
                if !subnet.is_host(ip) || ip == gateway {
                    return Err(Error::InvalidArgument(format!(
                        "invalid address {ip}: it is not a free host address of network {} ({subnet})",
                        n.name
                    )));
                }
                Some(ip)
            }
            _ => None,
        };
        if !settings.aliases.is_empty() && !n.user_defined() {
            return Err(Error::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if let Some(mac) = &settings.mac_address {
            berth_network::bridge::parse_mac(mac)?;
        }
        let range = n.config.ip_range.unwrap_or(subnet);
        let config = serde_json::to_string(settings).map_err(|source| Error::Serialize {
            what: "the endpoint's settings",
            source,
        })?;
        let chosen = self.db.add_endpoint(&n.id, container, &config, |taken| {
            let free = |ip: Ipv4Addr| {
                ip != gateway && subnet.is_host(ip) && !taken.iter().any(|t| *t == ip.to_string())
            };
            match requested {
                Some(ip) => free(ip).then(|| ip.to_string()),
                None => (0..range.size())
                    .filter_map(|i| range.nth(i))
                    .find(|ip| free(*ip))
                    .map(|ip| ip.to_string()),
            }
        })?;
        match chosen {
            Ok(ip) => ip
                .parse()
                .map_err(|_| Error::Invariant("the database holds an address that is not one")),
            Err(EndpointRefusal::AlreadyOn) => Err(Error::NetworkConflict(format!(
                "endpoint with name already exists in network {}",
                n.name
            ))),
            Err(EndpointRefusal::NoAddress) => Err(match requested {
                Some(ip) => Error::NetworkConflict(format!(
                    "address {ip} is already in use on network {}",
                    n.name
                )),
                None => Error::InvalidArgument(format!(
                    "no available IPv4 addresses on network {} ({range})",
                    n.name
                )),
            }),
        }
    }

    /// The MAC of an endpoint: the one asked for, else docker's from the IP.
    pub(crate) fn endpoint_mac(&self, config: &str, ip: Ipv4Addr) -> String {
        let settings: EndpointSettings = serde_json::from_str(config).unwrap_or_default();
        settings.mac_address.unwrap_or_else(|| {
            berth_network::bridge::format_mac(&berth_network::bridge::mac_of(ip))
        })
    }
}

/// A stable endpoint ID for a container on a network.
pub(crate) fn endpoint_id(network: &str, container: &str) -> String {
    berth_oci::Digest::of(format!("{network}/{container}").as_bytes())
        .hex()
        .to_string()
}

fn first_host(subnet: &Subnet) -> Result<Ipv4Addr> {
    (0..subnet.size().min(4))
        .filter_map(|i| subnet.nth(i))
        .find(|ip| subnet.is_host(*ip))
        .ok_or_else(|| Error::InvalidArgument(format!("subnet {subnet} has no host addresses")))
}

fn pseudo(driver: &str) -> NetworkConfig {
    NetworkConfig {
        driver: driver.into(),
        bridge: String::new(),
        subnet: None,
        gateway: None,
        ip_range: None,
        internal: false,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        mtu: None,
    }
}
