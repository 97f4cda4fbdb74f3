//! `berth daemon`: the Docker Engine API over this engine.

use std::path::Path;

use anyhow::Context;
use berth_daemon::api::Api;
use berth_daemon::{DaemonConfig, Host};
use berth_engine::Engine;

use crate::cli::DaemonArgs;

/// Serves until SIGTERM or SIGINT. `-H` and `-G` win over the settings
/// file's `hosts` and `group`.
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
    let config = DaemonConfig {
        hosts,
        group: Some(
            a.group
                .or(settings.group)
                .unwrap_or_else(|| "docker".into()),
        ),
    };
    berth_daemon::serve_until_signalled(Api::new(engine), &config, |hosts| {
        for h in hosts {
            eprintln!("berth daemon: API listening on {h}");
        }
    })
    .context("berth daemon")
}
