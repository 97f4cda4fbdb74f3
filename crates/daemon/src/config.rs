//! What the daemon listens on, and for whom.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Error;

/// One `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path/to/socket`.
    Unix(PathBuf),
    /// `tcp://ADDR:PORT`.
    Tcp(SocketAddr),
    /// `fd://`: the sockets systemd passed (socket activation).
    Systemd,
}

impl Host {
    /// Parses docker's `-H` forms: `unix:///path`, `tcp://ADDR:PORT`,
    /// `fd://` (systemd's sockets), and a bare absolute path as a unix socket.
    pub fn parse(value: &str) -> Result<Host, Error> {
        if value == "fd://" {
            return Ok(Host::Systemd);
        }
        if let Some(path) = value.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(Error::Config(format!(
                    "-H {value}: a unix socket needs an absolute path (unix:///run/berth/docker.sock)"
                )));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = value.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            return addr.parse().map(Host::Tcp).map_err(|_| {
                Error::Config(format!(
                    "-H {value}: expected tcp://ADDR:PORT with a numeric address, such as tcp://127.0.0.1:2375"
                ))
            });
        }
        if value.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(value)));
        }
        Err(Error::Config(format!(
            "-H {value}: expected unix:///PATH or tcp://ADDR:PORT"
        )))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
            Host::Systemd => write!(f, "fd://"),
        }
    }
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where it listens.
    pub hosts: Vec<Host>,
    /// The group that may use the unix sockets (mode 0660); `None` or a group
    /// that does not exist leaves them root's alone.
    pub group: Option<String>,
    /// TLS on the TCP listeners (`--tls`, `--tlsverify`); `None` is plain
    /// HTTP, which [`DaemonConfig::check`] allows on loopback only.
    pub tls: Option<Tls>,
}

/// The daemon's TLS files, PEM like docker's.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The server's certificate chain (`--tlscert`).
    pub cert: PathBuf,
    /// Its private key (`--tlskey`).
    pub key: PathBuf,
    /// With `--tlsverify`: the CA that signs the clients' certificates
    /// (`--tlscacert`); a client without one signed by it is refused during
    /// the handshake.
    pub client_ca: Option<PathBuf>,
}

impl DaemonConfig {
    /// Refuses what would hand root to the network: a TCP listener on an
    /// address other than loopback unless clients must show a certificate
    /// (`--tlsverify`). Docker only warns here; whoever reaches such a socket
    /// is root on the host, so berth refuses.
    pub fn check(&self) -> Result<(), Error> {
        if self.hosts.is_empty() {
            return Err(Error::Config("no address to listen on".into()));
        }
        let verified = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        for h in &self.hosts {
            if let Host::Tcp(addr) = h
                && !addr.ip().is_loopback()
                && !verified
            {
                return Err(Error::Unsafe(format!(
                    "refusing to listen on {h}: anyone who reaches the API is root on this machine, and it would be reachable from the network without TLS client certificates; add --tlsverify --tlscacert --tlscert --tlskey, or use a unix socket or a loopback address"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_dockers_and_the_network_is_refused() {
        assert_eq!(
            Host::parse("unix:///run/berth/docker.sock").unwrap(),
            Host::Unix("/run/berth/docker.sock".into())
        );
        assert_eq!(Host::parse("/tmp/s").unwrap(), Host::Unix("/tmp/s".into()));
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        assert_eq!(Host::parse("fd://").unwrap(), Host::Systemd);
        assert!(Host::parse("unix://relative").is_err());
        assert!(Host::parse("tcp://localhost").is_err());
        assert!(Host::parse("ssh://x").is_err());
        let mut open = DaemonConfig {
            hosts: vec![Host::parse("tcp://0.0.0.0:2375").unwrap()],
            group: None,
            tls: None,
        };
        let err = open.check().unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to listen on tcp://0.0.0.0:2375"),
            "{err}"
        );
        // TLS without client certificates still lets anyone in.
        open.tls = Some(Tls {
            cert: "c".into(),
            key: "k".into(),
            client_ca: None,
        });
        assert!(open.check().is_err());
        open.tls = Some(Tls {
            cert: "c".into(),
            key: "k".into(),
            client_ca: Some("ca".into()),
        });
        assert!(open.check().is_ok());
        let local = DaemonConfig {
            hosts: vec![Host::parse("tcp://[::1]:2375").unwrap()],
            group: None,
            tls: None,
        };
        assert!(local.check().is_ok());
    }
}
