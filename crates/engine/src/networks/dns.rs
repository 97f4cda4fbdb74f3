//! berth's DNS server process (`berth network-dns`, started on demand): one
//! per runroot, serving every user-defined network on its gateway's port 53.
//! It keeps the names of the networks' running containers in memory and
//! reloads them when the database changes (SQLite's `data_version`, checked
//! ten times a second, and on a miss), so a lookup costs a hash probe. A lock file makes
//! it unique; `ensure_dns` starts it when a container joins a user-defined
//! network and waits until it serves that network's gateway.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_network::dns::{self, Names};
use rustix::event::{PollFd, PollFlags, poll};

use crate::containers::ContainerState;
use crate::{Engine, Error, Result};

const DNS_PORT: u16 = 53;

impl Engine {
    fn dns_lock(&self) -> PathBuf {
        self.paths.runroot().join("network-dns.lock")
    }

    /// The gateways the server answers on, one per line (written by it).
    fn dns_bound(&self) -> PathBuf {
        self.paths.runroot().join("network-dns.bound")
    }

    fn dns_serves(&self, gateways: &[Ipv4Addr]) -> bool {
        let bound = std::fs::read_to_string(self.dns_bound()).unwrap_or_default();
        gateways
            .iter()
            .all(|g| bound.lines().any(|l| l == g.to_string()))
    }

    /// Makes the DNS server run and serve these gateways (of networks whose
    /// bridges exist now).
    pub(crate) fn ensure_dns(&self, gateways: &[Ipv4Addr]) -> Result<()> {
        let lock = crate::open_lock_file(&self.dns_lock())?;
        let running = lock.try_lock().is_err();
        drop(lock);
        if running && self.dns_serves(gateways) {
            return Ok(());
        }
        if !running {
            let _ = std::fs::remove_file(self.dns_bound());
            let Some((program, _)) = &self.monitor else {
                return Err(Error::Unsupported(
                    "this engine has no berth binary to run its DNS server".into(),
                ));
            };
            let mut cmd = Command::new(program);
            cmd.arg("network-dns")
                .env("BERTH_ROOT", self.paths.root())
                .env("BERTH_RUNROOT", self.paths.runroot())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own session: a terminal's hangup is not its end.
            // SAFETY: setsid is async-signal-safe and touches nothing of
            // the parent's state.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                    let _ = rustix::process::setsid();
                    Ok(())
                });
            }
            cmd.spawn()
                .map_err(Error::io(format!("DNS server {}", program.display())))?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.dns_serves(gateways) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(Error::Start {
            message: "berth's DNS server did not come up on the network's gateway".into(),
            code: 125,
        })
    }
}

/// The host's resolvers, where names not on a network are asked.
fn upstreams() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .collect()
}

struct Served {
    socket: UdpSocket,
    network: String,
}

/// Serves DNS for the user-defined networks until none is left (the hidden
/// `network-dns` command). Returns at once when another server runs.
pub fn serve_dns(engine: &Engine) -> Result<()> {
    let lock = crate::open_lock_file(&engine.dns_lock())?;
    if lock.try_lock().is_err() {
        return Ok(());
    }
    let upstreams = upstreams();
    let mut served: HashMap<Ipv4Addr, Served> = HashMap::new();
    let mut names: HashMap<String, Names> = HashMap::new();
    let mut seen = None;
    let mut wanted: Vec<(Ipv4Addr, String)> = Vec::new();
    let mut publish = false;
    let mut buf = vec![0u8; 4096];
    loop {
        // A runroot removed under it (a test's, a reset host) ends it.
        if !engine.paths.runroot().is_dir() {
            return Ok(());
        }
        let generation = engine.db.generation()?;
        if seen != Some(generation) {
            seen = Some(generation);
            let networks: Vec<_> = engine
                .networks()?
                .into_iter()
                .filter(|n| n.user_defined())
                .collect();
            if networks.is_empty() {
                let _ = std::fs::remove_file(engine.dns_bound());
                return Ok(());
            }
            served.retain(|gw, s| {
                networks
                    .iter()
                    .any(|n| n.id == s.network && n.config.gateway == Some(*gw))
            });
            wanted = networks
                .iter()
                .filter_map(|n| n.config.gateway.map(|g| (g, n.id.clone())))
                .collect();
            names = network_names(engine)?;
            publish = true;
        }
        // A bridge appears when its network's first container starts (no
        // database change): gateways not served yet are tried every turn.
        for (gw, network) in &wanted {
            if served.contains_key(gw) {
                continue;
            }
            if let Ok(socket) = UdpSocket::bind((*gw, DNS_PORT)) {
                served.insert(
                    *gw,
                    Served {
                        socket,
                        network: network.clone(),
                    },
                );
                publish = true;
            }
        }
        if publish {
            publish = false;
            let bound: String = served.keys().map(|g| format!("{g}\n")).collect();
            let tmp = engine.dns_bound().with_extension("tmp");
            if std::fs::write(&tmp, bound).is_ok() {
                let _ = std::fs::rename(&tmp, engine.dns_bound());
            }
        }
        let sockets: Vec<&Served> = served.values().collect();
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|s| PollFd::new(&s.socket, PollFlags::IN))
            .collect();
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if poll(&mut fds, Some(&timeout)).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        for (s, r) in sockets.iter().zip(ready) {
            if !r {
                continue;
            }
            let Ok((n, client)) = s.socket.recv_from(&mut buf) else {
                continue;
            };
            let query = &buf[..n];
            let Some(q) = dns::parse_query(query) else {
                continue;
            };
            let mut local = names.get(&s.network).and_then(|m| m.get(&q.name)).cloned();
            if local.is_none() && seen != Some(engine.db.generation()?) {
                // A container that started since the last reload: look again
                // before asking upstream (the sockets are redone next turn).
                names = network_names(engine)?;
                seen = None;
                local = names.get(&s.network).and_then(|m| m.get(&q.name)).cloned();
            }
            match local {
                Some(addrs) if dns::is_address_query(&q) => {
                    let _ = s.socket.send_to(&dns::answer(query, &q, &addrs), client);
                }
                _ => {
                    // Upstream may be slow: the relay must not hold the
                    // network's other lookups.
                    let Ok(reply_socket) = s.socket.try_clone() else {
                        continue;
                    };
                    let query = query.to_vec();
                    let upstreams = upstreams.clone();
                    std::thread::spawn(move || {
                        let reply = dns::relay(&query, &upstreams)
                            .unwrap_or_else(|| dns::server_failure(&query, &q));
                        let _ = reply_socket.send_to(&reply, client);
                    });
                }
            }
        }
    }
}

/// Per network ID: the names its running containers answer to.
fn network_names(engine: &Engine) -> Result<HashMap<String, Names>> {
    let mut out: HashMap<String, Names> = HashMap::new();
    let mut running = HashMap::new();
    for row in engine.db.containers()? {
        let up = serde_json::from_str::<ContainerState>(&row.state)
            .map(|s| s.running)
            .unwrap_or(false);
        running.insert(row.id.clone(), (row.name.clone(), up));
    }
    for ep in engine.db.endpoints()? {
        let Some((name, true)) = running.get(&ep.container) else {
            continue;
        };
        let Ok(ip) = ep.ip.parse::<Ipv4Addr>() else {
            continue;
        };
        let settings = Engine::endpoint_settings(&ep);
        let names = out.entry(ep.network.clone()).or_default();
        let short = ep.container[..12.min(ep.container.len())].to_string();
        for n in std::iter::once(name.clone())
            .chain(std::iter::once(short))
            .chain(settings.aliases.iter().cloned())
        {
            let list = names.entry(n.to_ascii_lowercase()).or_default();
            if !list.contains(&ip) {
                list.push(ip);
            }
        }
    }
    Ok(out)
}
