//! The /etc files a container gets, bind-mounted from its directory:
//! `hostname`, `hosts` (its own address, `--add-host` entries) and
//! `resolv.conf` (berth's DNS on user-defined networks; the host's resolvers
//! elsewhere, a loopback-only one replaced by reachable ones as docker does).
//! Written at create and again at each start, as docker rebuilds them.

use std::net::IpAddr;

use super::{DEFAULT_NETWORK, NetworkMode};
use crate::containers::ContainerRecord;
use crate::{Engine, Error, Result};

/// The files berth writes for each container and mounts at `/etc/NAME`.
pub(crate) const ETC_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// docker's fallback when the host's resolvers are all on its loopback.
const FALLBACK_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// `--add-host NAME:IP` (or `NAME=IP`, `NAME:host-gateway`) checked: the
/// entry as given, or why not.
pub fn check_extra_host(entry: &str) -> Result<()> {
    let (name, ip) = split_extra_host(entry)?;
    if name.is_empty() {
        return Err(bad_host(entry));
    }
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(bad_host(entry));
    }
    Ok(())
}

fn bad_host(entry: &str) -> Error {
    Error::InvalidArgument(format!(
        "invalid --add-host {entry:?}: expected NAME:IP (or NAME:host-gateway)"
    ))
}

fn split_extra_host(entry: &str) -> Result<(&str, &str)> {
    entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .map(|(n, ip)| {
            (
                n.trim(),
                ip.trim().trim_start_matches('[').trim_end_matches(']'),
            )
        })
        .ok_or_else(|| bad_host(entry))
}

impl Engine {
    /// Gives the files [`Engine::write_etc_files`] writes to the container's
    /// root (a user namespace's root, on the host an unprivileged user), so
    /// that it may change them as docker's remapped root may; they are
    /// rewritten in place and keep their owner.
    pub(crate) fn chown_container_files(&self, id: &str, (uid, gid): (u32, u32)) -> Result<()> {
        let dir = self.paths.container(id);
        for name in ETC_FILES {
            let p = dir.join(name);
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(Error::io(p.display()))?;
        }
        Ok(())
    }

    /// Writes `hostname`, `hosts` and `resolv.conf` of container `id`.
    pub(crate) fn write_etc_files(&self, id: &str, record: &ContainerRecord) -> Result<()> {
        let dir = self.paths.container(id);
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(Error::io(p.display()))
        };
        let host = &record.host_config;
        let hostname = &record.config.hostname;
        let mode = NetworkMode::parse(&host.network_mode);
        if let NetworkMode::Container(other) = &mode {
            // The other container's files, as docker shares them.
            let other = self.container(other)?;
            let from = self.paths.container(&other.id);
            for f in ETC_FILES {
                let text = std::fs::read_to_string(from.join(f)).unwrap_or_default();
                write(f, &text)?;
            }
            return Ok(());
        }
        write("hostname", &format!("{hostname}\n"))?;
        let networks = match mode {
            NetworkMode::Bridge(_) => self.container_networks(id)?,
            _ => Vec::new(),
        };
        let mut hosts = match mode {
            NetworkMode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            _ => LOCALHOST.to_string(),
        };
        for entry in &host.extra_hosts {
            let (name, ip) = split_extra_host(entry)?;
            let ip = if ip == "host-gateway" {
                self.network(DEFAULT_NETWORK)?
                    .config
                    .gateway
                    .map(|g| g.to_string())
                    .unwrap_or_default()
            } else {
                ip.to_string()
            };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        match networks.first() {
            Some((_, ep)) => hosts.push_str(&format!("{}\t{hostname}\n", ep.ip)),
            None if mode == NetworkMode::None => {
                hosts.push_str(&format!("127.0.1.1\t{hostname}\n"))
            }
            None => {}
        }
        write("hosts", &hosts)?;

        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut servers = Vec::new();
        let mut search = Vec::new();
        let mut options = Vec::new();
        for line in host_resolv.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => servers.extend(words.next().map(str::to_string)),
                Some("search") | Some("domain") => search.extend(words.map(str::to_string)),
                Some("options") => options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        let own_network = !matches!(mode, NetworkMode::Host);
        if own_network {
            servers.retain(|s| s.parse::<IpAddr>().is_ok_and(|ip| !ip.is_loopback()));
            if servers.is_empty() {
                servers = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
            }
        }
        if !host.dns.is_empty() {
            servers = host.dns.clone();
        }
        if let Some((n, _)) = networks.first()
            && n.user_defined()
            && let Some(gw) = n.config.gateway
        {
            // berth's DNS on the gateway answers for the network's names and
            // forwards the rest; `--dns` servers stay as fallbacks.
            let mut with_dns = vec![gw.to_string()];
            if !host.dns.is_empty() {
                with_dns.extend(host.dns.iter().cloned());
            }
            servers = with_dns;
        }
        if !host.dns_search.is_empty() {
            search = host.dns_search.clone();
        }
        if !host.dns_options.is_empty() {
            options = host.dns_options.clone();
        }
        let mut resolv = String::new();
        for s in &servers {
            resolv.push_str(&format!("nameserver {s}\n"));
        }
        if !search.is_empty() {
            resolv.push_str(&format!("search {}\n", search.join(" ")));
        }
        if !options.is_empty() {
            resolv.push_str(&format!("options {}\n", options.join(" ")));
        }
        write("resolv.conf", &resolv)?;
        Ok(())
    }
}
