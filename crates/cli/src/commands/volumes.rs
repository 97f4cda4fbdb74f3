//! `berth volume create|ls|inspect|rm|prune`.

use anyhow::Result;
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
        VolumeCommand::Create { name } => {
            let v = engine.create_volume(name.as_deref())?;
            print_out(&format!("{}\n", v.name));
            Ok(())
        }
        VolumeCommand::Ls { quiet, format } => {
            let volumes = engine.volumes()?;
            if quiet {
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
            if !names.is_empty() {
                out.push_str("Deleted Volumes:\n");
                for n in &names {
                    out.push_str(n);
                    out.push('\n');
                }
                out.push('\n');
            }
            out.push_str(&format!("Total reclaimed space: {}\n", human_size(bytes)));
            print_out(&out);
            Ok(())
        }
    }
}
