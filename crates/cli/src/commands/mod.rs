//! One module per group of commands; each function parses nothing, calls the
//! engine and prints.

pub mod archive;
pub mod build;
pub mod containers;
pub mod daemon;
pub mod images;
pub mod networks;
pub mod registry;
pub mod registry_server;
pub mod stats;
pub mod system;
pub mod volumes;

use anyhow::{Context, bail};
use berth_engine::{Engine, RegistrySettings};

use crate::cli::GlobalFlags;

/// An error already printed (e.g. one of several `rmi` arguments failed): exit
/// non-zero without printing again.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("")
    }
}

impl std::error::Error for Reported {}

/// Flags that do not go together or a flag's file that does not parse,
/// found before the engine is asked anything: docker's CLI exits 125 for
/// these, whatever the command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The command ends with this exit status (a container's), printing nothing.
#[derive(Debug)]
pub struct ExitWith(pub i32);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("")
    }
}

impl std::error::Error for ExitWith {}

/// Opens the engine the global flags describe.
pub fn open_engine(cli: &GlobalFlags) -> anyhow::Result<Engine> {
    let settings = crate::config::Settings::load(&cli.registries_config)?;
    let mut network_defaults = settings.network_defaults()?;
    match cli.bridge.as_deref() {
        None => {}
        Some("none") => network_defaults.no_default_bridge = true,
        Some("berth0") => network_defaults.no_default_bridge = false,
        Some(other) => bail!("--bridge {other:?}: berth's default bridge is berth0, or none"),
    }
    let mut config = settings.registries;
    if cli.max_concurrent_downloads.is_some() {
        config.max_concurrent_downloads = cli.max_concurrent_downloads;
    }
    if cli.max_concurrent_uploads.is_some() {
        config.max_concurrent_uploads = cli.max_concurrent_uploads;
    }
    let exe = std::env::current_exe().context("finding the berth binary")?;
    Engine::builder()
        .monitor(exe, vec![crate::cli::MONITOR_COMMAND.into()])
        .root(&cli.root)
        .runroot(&cli.runroot)
        .driver(cli.storage_driver.clone())
        .max_layer_size(
            cli.max_layer_size
                .or(settings.max_layer_size)
                .unwrap_or(berth_engine::DEFAULT_MAX_LAYER_SIZE),
        )
        .max_image_size(
            cli.max_image_size
                .or(settings.max_image_size)
                .unwrap_or(berth_engine::DEFAULT_MAX_IMAGE_SIZE),
        )
        .network_defaults(network_defaults)
        .userns_remap(cli.userns_remap.clone().or(settings.userns_remap))
        .registries(RegistrySettings {
            config,
            tls_verify: cli.tls_verify,
            ..Default::default()
        })
        .build()
        .with_context(|| format!("opening the store at {}", cli.root.display()))
}

/// One line for an error: its context and causes, without repeating a cause the
/// message above it already quotes.
pub fn describe(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    // System errors in docker's words, wherever a cause repeated them.
    for e in err
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
    {
        line = line.replace(&e.to_string(), &system_error(e));
    }
    line
}

/// A system error in docker's (Go's) words: `no such file or directory`,
/// not `No such file or directory (os error 2)`.
fn system_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => &text[..at],
        _ => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// docker's prune question on stderr: true only for a `y` typed on a
/// terminal (never when stdin is not one).
pub fn confirm(warning: &str) -> bool {
    use std::io::IsTerminal;
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    let yes = std::io::stdin().is_terminal()
        && std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        eprintln!();
    }
    yes
}

/// One `Deleted …:` section of a prune's report (nothing when empty).
pub fn deleted_section(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("Deleted {title}:\n"));
    for i in items {
        out.push_str(i);
        out.push('\n');
    }
    out.push('\n');
}

/// Prints an error of one argument among several, as Docker does, and remembers
/// that the command must fail.
pub fn report(err: anyhow::Error, failed: &mut bool) {
    eprintln!("Error: {}", describe(&err));
    *failed = true;
}

/// `Reported` if anything failed.
pub fn finish(failed: bool) -> anyhow::Result<()> {
    if failed { Err(Reported.into()) } else { Ok(()) }
}
