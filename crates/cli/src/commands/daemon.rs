//! `berth daemon`: the Docker Engine API over this engine.

use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_daemon::api::Api;
use berth_daemon::{DaemonConfig, Host, Tls};
use berth_engine::Engine;

use crate::cli::DaemonArgs;

/// Serves until SIGTERM or SIGINT. Flags win over the settings file's keys.
pub fn run(engine: Engine, a: DaemonArgs, runroot: &Path, settings: &Path) -> anyhow::Result<()> {
    let settings = crate::config::Settings::load(settings)?;
    let given = if a.hosts.is_empty() {
        settings.hosts
    } else {
        a.hosts
    };
    let hosts = if given.is_empty() {
        vec![Host::Unix(berth_daemon::server::default_socket(runroot))]
    } else {
        given
            .iter()
            .map(|h| Host::parse(h))
            .collect::<Result<_, _>>()?
    };
    let verify = a.tlsverify || settings.tlsverify;
    let tls = (a.tls || verify || settings.tls).then(|| {
        // Docker's defaults: $DOCKER_CERT_PATH, else ~/.docker.
        let dir = std::env::var_os("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_default();
        Tls {
            cert: a
                .tlscert
                .or(settings.tlscert)
                .unwrap_or(dir.join("cert.pem")),
            key: a.tlskey.or(settings.tlskey).unwrap_or(dir.join("key.pem")),
            client_ca: verify.then(|| {
                a.tlscacert
                    .or(settings.tlscacert)
                    .unwrap_or(dir.join("ca.pem"))
            }),
        }
    });
    let config = DaemonConfig {
        hosts,
        group: Some(
            a.group
                .or(settings.group)
                .unwrap_or_else(|| "docker".into()),
        ),
        tls,
    };
    berth_daemon::serve_until_signalled(Api::new(engine), &config, |hosts| {
        for h in hosts {
            eprintln!("berth daemon: API listening on {h}");
        }
    })
    .context("berth daemon")
}
