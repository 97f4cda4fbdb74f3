//! `berth volume create|ls|inspect|rm|prune`.

use anyhow::{Result, bail};
use berth_engine::Engine;
use serde_json::{Value, json};

use super::images::print_inspect;
use super::{finish, report};
use crate::cli::VolumeCommand;
use crate::format::{Format, print_out};
use berth_engine::human_size;

/// Runs one `volume` command.
pub fn run(engine: &Engine, command: VolumeCommand) -> Result<()> {
    match command {
        VolumeCommand::Create {
            name,
            named,
            driver,
        } => {
            if driver != "local" {
                bail!("error looking up volume plugin {driver}: plugin \"{driver}\" not found");
            }
            let v = engine.create_volume(name.or(named).as_deref())?;
            print_out(&format!("{}\n", v.name));
            Ok(())
        }
        VolumeCommand::Ls {
            quiet,
            filters,
            format,
        } => {
            let volumes = filtered(engine, &filters)?;
            if crate::format::quiet(quiet, format.as_deref()) {
                let out: String = volumes.iter().map(|v| format!("{}\n", v.name)).collect();
                print_out(&out);
                return Ok(());
            }
            let rows: Vec<Value> = volumes
                .iter()
                .map(|v| {
                    json!({
                        "Driver": v.driver,
                        "Name": v.name,
                        "Mountpoint": v.mountpoint.display().to_string(),
                        "Scope": v.scope,
                        "Labels": "",
                    })
                })
                .collect();
            let header = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS"});
            Format::parse(format.as_deref()).print("{{.Driver}}\t{{.Name}}", &header, &rows)
        }
        VolumeCommand::Inspect { format, names } => {
            let mut failed = false;
            let mut found = Vec::new();
            for n in &names {
                match engine.volume(n) {
                    Ok(v) => found.push(serde_json::to_value(v)?),
                    Err(e) => report(e.into(), &mut failed),
                }
            }
            print_inspect(&found, format.as_deref())?;
            finish(failed)
        }
        VolumeCommand::Rm { force, names } => {
            let mut failed = false;
            for n in &names {
                match engine.remove_volume(n, force) {
                    Ok(()) => print_out(&format!("{n}\n")),
                    Err(e) => report(e.into(), &mut failed),
                }
            }
            finish(failed)
        }
        VolumeCommand::Prune { .. } => {
            let (names, bytes) = engine.prune_volumes()?;
            let mut out = String::new();
            super::deleted_section(&mut out, "Volumes", &names);
            out.push_str(&format!("Total reclaimed space: {}\n", human_size(bytes)));
            print_out(&out);
            Ok(())
        }
    }
}

/// The volumes every `--filter` matches (values of one key are
/// alternatives, as docker's).
fn filtered(engine: &Engine, filters: &[String]) -> Result<Vec<berth_engine::Volume>> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for f in filters {
        match f.split_once('=') {
            Some((k @ ("name" | "dangling" | "driver"), v)) => by_key.entry(k).or_default().push(v),
            _ => bail!("invalid filter '{f}': volumes are filtered by name, dangling and driver"),
        }
    }
    let mut out = Vec::new();
    for v in engine.volumes()? {
        let mut keep = true;
        for (key, values) in &by_key {
            let any = match *key {
                "name" => values.iter().any(|n| v.name.contains(n)),
                "driver" => values.contains(&v.driver),
                _ => {
                    let dangling = engine.volume_users(&v.name)?.is_empty();
                    values
                        .iter()
                        .any(|d| matches!(*d, "true" | "1") == dangling)
                }
            };
            keep &= any;
        }
        if keep {
            out.push(v);
        }
    }
    Ok(out)
}
