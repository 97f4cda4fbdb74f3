//! `berth network create|ls|inspect|rm|prune|connect|disconnect`.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use berth_engine::{EndpointSettings, Engine, Network, NetworkCreateOptions};
use serde_json::{Value, json};

use super::images::print_inspect;
use super::{finish, report};
use crate::cli::{NetworkCommand, NetworkCreateArgs};
use crate::format::{Format, print_out};

/// Runs one `network` command.
pub fn run(engine: &Engine, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Create(a) => create(engine, a),
        NetworkCommand::Ls {
            filter,
            format,
            no_trunc,
            quiet,
        } => list(engine, &filter, format.as_deref(), no_trunc, quiet),
        NetworkCommand::Inspect { format, names } => {
            let mut failed = false;
            let mut found = Vec::new();
            for n in &names {
                match engine.inspect_network(n) {
                    Ok(v) => found.push(v),
                    Err(e) => report(e.into(), &mut failed),
                }
            }
            print_inspect(&found, format.as_deref())?;
            finish(failed)
        }
        NetworkCommand::Rm { force, names } => {
            let mut failed = false;
            for n in &names {
                match engine.remove_network(n) {
                    Ok(_) => print_out(&format!("{n}\n")),
                    Err(berth_engine::Error::NotFound(_)) if force => {}
                    Err(e) => report(e.into(), &mut failed),
                }
            }
            finish(failed)
        }
        NetworkCommand::Prune { .. } => {
            let names = engine.prune_networks()?;
            let mut out = String::new();
            if !names.is_empty() {
                out.push_str("Deleted Networks:\n");
                for n in &names {
                    out.push_str(n);
                    out.push('\n');
                }
            }
            print_out(&out);
            Ok(())
        }
        NetworkCommand::Connect {
            alias,
            ip,
            network,
            container,
        } => {
            let settings = EndpointSettings {
                aliases: alias,
                requested_ip: ip,
                mac_address: None,
            };
            engine.connect_network(&network, &container, &settings)?;
            Ok(())
        }
        NetworkCommand::Disconnect {
            force,
            network,
            container,
        } => {
            engine.disconnect_network(&network, &container, force)?;
            Ok(())
        }
    }
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !kv.is_empty() && what == "--label" => Ok((kv.clone(), String::new())),
            _ => bail!("invalid {what} {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

fn create(engine: &Engine, a: NetworkCreateArgs) -> Result<()> {
    let mut opts = NetworkCreateOptions::default();
    opts.name = a.name;
    opts.driver = Some(a.driver);
    opts.subnet = a.subnet;
    opts.gateway = a.gateway;
    opts.ip_range = a.ip_range;
    opts.internal = a.internal;
    opts.labels = key_values(&a.label, "--label")?;
    opts.options = key_values(&a.opt, "--opt")?;
    let n = engine.create_network(&opts)?;
    print_out(&format!("{}\n", n.id));
    Ok(())
}

fn list(
    engine: &Engine,
    filter: &[String],
    format: Option<&str>,
    no_trunc: bool,
    quiet: bool,
) -> Result<()> {
    let mut networks = engine.list_networks(filter)?;
    // docker lists by name.
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let id = |n: &Network| {
        if no_trunc {
            n.id.clone()
        } else {
            n.short_id().to_string()
        }
    };
    if crate::format::quiet(quiet, format) {
        let out: String = networks.iter().map(|n| format!("{}\n", id(n))).collect();
        print_out(&out);
        return Ok(());
    }
    let rows: Vec<Value> = networks
        .iter()
        .map(|n| {
            json!({
                "ID": id(n),
                "Name": n.name,
                "Driver": n.config.driver,
                "Scope": "local",
                "IPv6": "false",
                "Internal": n.config.internal.to_string(),
                "CreatedAt": n.created,
                "Labels": n.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            })
        })
        .collect();
    let header = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL", "CreatedAt": "CREATED", "Labels": "LABELS"});
    Format::parse(format).print(
        "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        &header,
        &rows,
    )
}
