//! `berth registry serve` and `berth registry gc`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_registry::Config;
use berth_registry::config::{TlsConfig, TokenConfig};
use berth_registry::gc::GcOptions;
use berth_registry::storage::S3Config;

use crate::cli::{RegistryCommand, RegistryStorageArgs};

/// Where the registry keeps its data when neither the config nor --root says.
const DEFAULT_ROOT: &str = "/var/lib/berth-registry";

/// Runs a `berth registry` command. `root` is the global --root when the user gave one.
pub fn run(command: &RegistryCommand, root: Option<&Path>) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Serve(a) => {
            let mut config = load(&a.storage, root)?;
            if let Some(addr) = &a.addr {
                config.addr = addr.clone();
            }
            if let Some(addr) = &a.metrics_addr {
                config.metrics_addr = Some(addr.clone());
            }
            if let Some(h) = &a.htpasswd {
                config.auth.htpasswd = Some(h.clone());
            }
            if a.token_realm.is_some() || a.token_key.is_some() {
                let t = config.auth.token.get_or_insert_with(TokenConfig::default);
                t.realm = a.token_realm.clone().or(t.realm.take());
                t.key = a.token_key.clone().or(t.key.take());
            }
            if let Some(t) = config.auth.token.as_mut() {
                t.issuer = a.token_issuer.clone().or(t.issuer.take());
                t.service = a.token_service.clone().or(t.service.take());
            }
            if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
                config.tls = Some(TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                });
            }
            config.read_only |= a.read_only;
            if a.no_delete {
                config.delete = false;
            }
            berth_registry::server::serve_until_signalled(config, |line| {
                eprintln!("berth registry listening on {line}");
            })
            .context("registry server")
        }
        RegistryCommand::Gc(a) => {
            let config = load(&a.storage, root)?;
            let grace = berth_engine::parse_duration(&a.grace)
                .filter(|ns| *ns >= 0)
                .with_context(|| {
                    format!("invalid --grace {:?}: expected e.g. 30m, 1h, 0s", a.grace)
                })?;
            let opts = GcOptions {
                dry_run: a.dry_run,
                delete_untagged: a.delete_untagged,
                grace: Duration::from_nanos(grace as u64),
            };
            let report = berth_registry::gc::collect_blocking(config, &opts)
                .context("registry garbage collection")?;
            let verb = if a.dry_run { "would delete" } else { "deleted" };
            for m in &report.manifests {
                println!("manifest {verb}: {m}");
            }
            for (d, _) in &report.blobs {
                println!("blob {verb}: {d}");
            }
            let freed: u64 = report.blobs.iter().map(|(_, s)| s).sum();
            println!(
                "{} blobs marked, {} blobs and {} manifests {verb} ({freed} bytes), {} young blobs kept, {} abandoned uploads removed",
                report.marked,
                report.blobs.len(),
                report.manifests.len(),
                report.young,
                report.uploads
            );
            Ok(())
        }
    }
}

/// The config file (if any) with the storage flags applied.
fn load(args: &RegistryStorageArgs, root: Option<&Path>) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(bucket) = &args.s3_bucket {
        if root.is_some() {
            bail!("--root and --s3-bucket name two different storages: give one");
        }
        config.s3 = Some(S3Config {
            bucket: bucket.clone(),
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
            ..S3Config::default()
        });
    }
    if let Some(root) = root {
        config.root = Some(root.to_path_buf());
        config.s3 = None;
    }
    if config.s3.is_none() && config.root.is_none() {
        config.root = Some(DEFAULT_ROOT.into());
    }
    Ok(config)
}
