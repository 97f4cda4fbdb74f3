//! `berth stats`: containers' resource use from their cgroups, in docker's
//! columns (CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS).

use std::time::Duration;

use anyhow::Result;
use berth_engine::runtime::cgroup::{Cgroup, Usage, mem_total, system_cpu_time};
use berth_engine::{Container, Engine, binary_size, human_size};
use serde_json::{Value, json};

use crate::cli::StatsArgs;
use crate::format::{Format, print_out};

/// How far apart the two samples of a CPU figure are, as in docker.
const INTERVAL: Duration = Duration::from_secs(1);
/// The same for `--no-stream`: one short window, so that a snapshot of
/// many containers answers at once (docker waits a whole second).
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);

/// One container's counters and the machine's CPU time at one moment.
struct Sample {
    usage: Usage,
    system: u64,
}

fn sample(id: &str) -> Sample {
    Sample {
        usage: Cgroup::of(id).usage(),
        system: system_cpu_time(),
    }
}

/// `berth stats`.
pub fn stats(engine: &Engine, a: StatsArgs) -> Result<()> {
    // Each container with the name docker's `{{.Container}}` shows: the
    // argument as given, or the short ID when none was.
    let pick = || -> Result<Vec<(String, Container)>> {
        if a.containers.is_empty() {
            let all = engine.containers()?;
            return Ok(all
                .into_iter()
                .filter(|c| a.all || c.state.running)
                .map(|c| (c.short_id().to_string(), c))
                .collect());
        }
        a.containers
            .iter()
            .map(|n| Ok((n.clone(), engine.container(n)?)))
            .collect()
    };
    let header = json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    });
    let format = Format::parse(a.format.as_deref());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut before: Vec<(String, Sample)> = Vec::new();
    loop {
        let containers = pick()?;
        if before.is_empty() {
            before = containers
                .iter()
                .map(|(_, c)| (c.id.clone(), sample(&c.id)))
                .collect();
            std::thread::sleep(if a.no_stream {
                SNAPSHOT_INTERVAL
            } else {
                INTERVAL
            });
        }
        let mut rows: Vec<Value> = Vec::new();
        let mut samples: Vec<(String, Sample)> = Vec::new();
        for (given, c) in &containers {
            let now = sample(&c.id);
            let pre = before.iter().find(|(id, _)| *id == c.id).map(|(_, s)| s);
            rows.push(row(given, c, &now, pre, a.no_trunc));
            samples.push((c.id.clone(), now));
        }
        // Each figure of the next round is measured from this one.
        before = samples;
        if !a.no_stream && terminal {
            // docker redraws the screen each second.
            print_out("\x1b[2J\x1b[H");
        }
        format.print(
            "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
            &header,
            &rows,
        )?;
        if a.no_stream {
            return Ok(());
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Bytes received and sent by a container's own interfaces.
fn net_io(c: &Container) -> (u64, u64) {
    if !c.state.running || c.record.host_config.network_mode == "host" {
        return (0, 0);
    }
    berth_engine::network::counters::interfaces(c.state.pid)
        .iter()
        .fold((0, 0), |(r, t), i| (r + i.rx_bytes, t + i.tx_bytes))
}

/// One container's row, with docker's template field names.
fn row(given: &str, c: &Container, now: &Sample, pre: Option<&Sample>, no_trunc: bool) -> Value {
    let u = &now.usage;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu = pre.map_or(0.0, |p| {
        let used = u.cpu_total.saturating_sub(p.usage.cpu_total) as f64;
        let all = now.system.saturating_sub(p.system) as f64;
        if all > 0.0 {
            used / all * cpus * 100.0
        } else {
            0.0
        }
    });
    let memory = u.memory.saturating_sub(u.memory_inactive_file);
    let limit = u.memory_limit.unwrap_or_else(mem_total);
    let mem_perc = if limit > 0 {
        memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (read, written) =
        u.io.iter()
            .fold((0, 0), |(r, w), d| (r + d.read, w + d.write));
    let (rx, tx) = net_io(c);
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.id[..12.min(c.id.len())].to_string()
    };
    json!({
        "Container": given,
        "ID": id,
        "Name": c.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(memory), binary_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        // The interfaces of its own namespace (none for the host's network).
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(written)),
        "PIDs": u.pids.to_string(),
    })
}
