//! `berth daemon`: the Docker Engine API over this engine.

use std::path::Path;

use anyhow::Context;
use berth_daemon::api::Api;
use berth_daemon::{DaemonConfig, Host};
use berth_engine::Engine;

use crate::cli::DaemonArgs;

/// Serves until SIGTERM or SIGINT.
pub fn run(engine: Engine, a: DaemonArgs, runroot: &Path) -> anyhow::Result<()> {
    let hosts = if a.hosts.is_empty() {
        vec![Host::Unix(berth_daemon::server::default_socket(runroot))]
    } else {
        a.hosts
            .iter()
            .map(|h| Host::parse(h))
            .collect::<Result<_, _>>()?
    };
    let config = DaemonConfig {
        hosts,
        group: Some(a.group),
    };
    berth_daemon::serve_until_signalled(Api::new(engine), &config, |hosts| {
        for h in hosts {
            eprintln!("berth daemon: API listening on {h}");
        }
    })
    .context("berth daemon")
}
