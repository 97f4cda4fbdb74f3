//! image mount / umount, system df, version, info, events.

use anyhow::Result;
use berth_engine::{Engine, human_size};
use serde_json::json;

use super::images::since;
use crate::cli::{DfArgs, EventsArgs, FormatArgs, MountArgs, SystemPruneArgs};
use crate::format::{Format, align, print_out};

/// `berth image mount`.
pub fn mount(engine: &Engine, a: MountArgs) -> Result<()> {
    let path = engine.mount_image(&a.image)?;
    print_out(&format!("{}\n", path.display()));
    Ok(())
}

/// `berth image umount`.
pub fn umount(engine: &Engine, a: MountArgs) -> Result<()> {
    let img = engine.resolve(&a.image)?;
    if !engine.unmount_image(&a.image)? {
        anyhow::bail!("image {} is not mounted", a.image);
    }
    print_out(&format!("{}\n", img.id));
    Ok(())
}

fn percent(part: u64, whole: u64) -> String {
    format!("{}%", (part * 100).checked_div(whole).unwrap_or(0))
}

/// `berth system df`.
pub fn df(engine: &Engine, a: DfArgs) -> Result<()> {
    let du = engine.disk_usage()?;
    let active = du.images.iter().filter(|i| i.containers > 0).count();
    // docker: "SIZE (N%)" where there is something to reclaim from.
    let reclaim = |r: u64, total: u64| {
        if total > 0 {
            format!("{} ({})", human_size(r), percent(r, total))
        } else {
            human_size(r)
        }
    };
    let containers_size: u64 = du.containers.iter().map(|c| c.size).sum();
    let stopped_size: u64 = du
        .containers
        .iter()
        .filter(|c| !c.container.state.running)
        .map(|c| c.size)
        .sum();
    let volumes_size: u64 = du.volumes.iter().map(|v| v.size).sum();
    let unused_volumes: u64 = du
        .volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    let count = |n: usize| n.to_string();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": count(du.images.len()), "Active": count(active),
            "Size": human_size(du.layers_size),
            "Reclaimable": reclaim(du.reclaimable, du.layers_size)}),
        json!({"Type": "Containers", "TotalCount": count(du.containers.len()),
            "Active": count(du.containers.iter().filter(|c| c.container.state.running).count()),
            "Size": human_size(containers_size),
            "Reclaimable": reclaim(stopped_size, containers_size)}),
        json!({"Type": "Local Volumes", "TotalCount": count(du.volumes.len()),
            "Active": count(du.volumes.iter().filter(|v| v.links > 0).count()),
            "Size": human_size(volumes_size),
            "Reclaimable": reclaim(unused_volumes, volumes_size)}),
        // The cache's steps point at images' layers: it holds no bytes of its own.
        json!({"Type": "Build Cache", "TotalCount": count(du.build_cache_entries), "Active": "0",
            "Size": "0B", "Reclaimable": "0B"}),
    ];
    if !a.verbose {
        let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
        return Format::parse(a.format.as_deref()).print(
            "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            &header,
            &rows,
        );
    }
    // One row per image, named by its first tag, as docker's.
    let mut lines = vec![
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
            .to_string(),
    ];
    for u in &du.images {
        let (repo, tag) = match u.image.tags.first() {
            Some(t) => (
                t.familiar_repository(),
                t.tag().unwrap_or("<none>").to_string(),
            ),
            None => ("<none>".into(), "<none>".into()),
        };
        lines.push(format!(
            "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t{}",
            u.image.id.short(),
            since(u.image.created),
            human_size(u.image.size),
            human_size(u.shared_size),
            human_size(u.unique_size),
            u.containers
        ));
    }
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&align(&lines));
    out.push_str(&format!(
        "\nLayers: {} on disk, each stored once however many images share it; blobs kept for save/push: {}\n",
        human_size(du.layers_size),
        human_size(du.blobs_size)
    ));
    let now = chrono::Utc::now().timestamp();
    let mut lines = vec![
        "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES".to_string(),
    ];
    for u in &du.containers {
        let c = &u.container;
        let created = berth_engine::parse_time(&c.record.created).unwrap_or(now);
        lines.push(format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.short_id(),
            super::containers::image_column(c, du.images.iter().map(|u| &u.image.id)),
            super::containers::quote_command(c, false),
            u.volumes,
            human_size(u.size),
            since(created),
            c.status_line(now),
            c.name
        ));
    }
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&align(&lines));
    let mut lines = vec!["VOLUME NAME\tLINKS\tSIZE".to_string()];
    for v in &du.volumes {
        lines.push(format!(
            "{}\t{}\t{}",
            v.volume.name,
            v.links,
            human_size(v.size)
        ));
    }
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&align(&lines));
    out.push_str("\nBuild cache usage: 0B\n\n");
    out.push_str(&align(&[
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED".to_string(),
    ]));
    print_out(&out);
    Ok(())
}

/// `berth system prune`: containers, networks, (volumes,) images and the
/// build cache, in docker's order and words.
pub fn prune(engine: &Engine, a: SystemPruneArgs) -> Result<()> {
    if !a.force {
        let mut what = vec![
            "all stopped containers",
            "all networks not used by at least one container",
        ];
        if a.volumes {
            what.push("all volumes not used by at least one container");
        }
        what.push(if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        });
        what.push(if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        });
        // (berth's build cache has nothing dangling: see below.)
        let list: String = what.iter().map(|w| format!("  - {w}\n")).collect();
        if !super::confirm(&format!("WARNING! This will remove:\n{list}")) {
            return Ok(());
        }
    }
    let mut out = String::new();
    let (containers, mut reclaimed) = engine.prune_containers()?;
    super::deleted_section(&mut out, "Containers", &containers);
    super::deleted_section(&mut out, "Networks", &engine.prune_networks()?);
    if a.volumes {
        let (volumes, bytes) = engine.prune_volumes()?;
        reclaimed += bytes;
        super::deleted_section(&mut out, "Volumes", &volumes);
    }
    let (images, bytes) = engine.prune_images(a.all)?;
    reclaimed += bytes;
    super::deleted_section(&mut out, "Images", &super::images::pruned_lines(&images));
    // berth's cache entries all point at layers some step made: none is
    // "dangling", so only -a forgets them (a rebuild after a plain prune
    // stays fast).
    if a.all {
        let (entries, bytes) = engine.prune_build_cache()?;
        reclaimed += bytes;
        if entries > 0 {
            out.push_str(&format!("Deleted build cache objects: {entries}\n\n"));
        }
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed)
    ));
    print_out(&out);
    Ok(())
}

/// Prints `doc` as `--format` asks: docker's text (`text`), `json`, or a Go
/// template over the document.
fn print_document(
    doc: &serde_json::Value,
    format: Option<&str>,
    text: impl Fn() -> String,
) -> Result<()> {
    let out = match format.map(str::trim) {
        None | Some("") => text(),
        Some("json") => format!("{doc}\n"),
        Some(t) => {
            let t = t.replace("\\t", "\t").replace("\\n", "\n");
            format!("{}\n", crate::format::GoTemplate::parse(&t)?.render(doc)?)
        }
    };
    print_out(&out);
    Ok(())
}

/// `berth version`: the client and the engine it opens, in docker's shape
/// (`{{.Client.Version}}`, `{{.Server.Version}}`, `{{.Server.ApiVersion}}`).
pub fn version(engine: &Engine, a: FormatArgs) -> Result<()> {
    let server = berth_daemon::api::version_document();
    let driver = engine.driver_name()?;
    let os_arch = format!("linux/{}", server["Arch"].as_str().unwrap_or(""));
    let doc = json!({
        "Client": {
            "Platform": {"Name": "berth"},
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": server["ApiVersion"],
            "DefaultAPIVersion": server["ApiVersion"],
            "GoVersion": berth_daemon::RUST_VERSION,
            "GitCommit": berth_daemon::GIT_COMMIT,
            "BuildTime": berth_daemon::built(),
            "Os": "linux",
            "Arch": server["Arch"],
            "Context": "default",
            "Experimental": true,
        },
        "Server": server,
        "StorageDriver": driver,
        "DefaultRuntime": "berth",
    });
    print_document(&doc, a.format.as_deref(), || {
        let s = &doc["Server"];
        let v = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
        let lines = [
            "Client:".to_string(),
            format!(" Version:           {}", v(&doc["Client"]["Version"])),
            format!(" API version:       {}", v(&s["ApiVersion"])),
            format!(" Git commit:        {}", v(&s["GitCommit"])),
            format!(" Built:             {}", v(&s["BuildTime"])),
            format!(" OS/Arch:           {os_arch}"),
            " Context:           default".to_string(),
            String::new(),
            "Server: berth".to_string(),
            " Engine:".to_string(),
            format!("  Version:          {}", v(&s["Version"])),
            format!(
                "  API version:      {} (minimum version {})",
                v(&s["ApiVersion"]),
                v(&s["MinAPIVersion"])
            ),
            format!("  Git commit:       {}", v(&s["GitCommit"])),
            format!("  Built:            {}", v(&s["BuildTime"])),
            format!("  OS/Arch:          {os_arch}"),
            format!("  Kernel version:   {}", v(&s["KernelVersion"])),
            "  Experimental:     false".to_string(),
            format!("  Storage driver:   {driver}"),
            "  Default runtime:  berth (built in; runc with --runtime)".to_string(),
        ];
        lines.iter().map(|l| format!("{l}\n")).collect()
    })
}

/// `berth info` / `berth system info`: what `GET /info` answers, printed as
/// docker prints it.
pub fn info(engine: &Engine, a: FormatArgs) -> Result<()> {
    let doc = berth_daemon::api::info_document(engine)?;
    print_document(&doc, a.format.as_deref(), || info_text(&doc))
}

/// `berth events`: the engine's journal, followed unless `--until` is given,
/// as docker prints it (one line per event, or `--format`).
pub fn events(engine: &Engine, a: EventsArgs) -> Result<()> {
    let now = chrono::Utc::now();
    let at = |v: &Option<String>, flag: &str| -> Result<Option<i64>> {
        v.as_deref()
            .map(|t| {
                event_time(t, now)
                    .ok_or_else(|| anyhow::anyhow!("invalid {flag} {t:?}: a Unix time, an RFC 3339 date or a duration such as 10m"))
            })
            .transpose()
    };
    let until = at(&a.until, "--until")?;
    let now_nanos = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    // As docker: without --since or --until, only what happens from now on.
    let since = match at(&a.since, "--since")? {
        None if until.is_none() => Some(now_nanos),
        s => s,
    };
    let mut filters = Vec::new();
    for f in &a.filters {
        match f.split_once('=') {
            Some((k, v)) if berth_engine::EVENT_FILTERS.contains(&k) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => anyhow::bail!(
                "invalid filter {f:?}: one of type=, event=, container=, image=, volume=, label="
            ),
        }
    }
    let template = match a.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => None,
        Some(t) => Some(crate::format::GoTemplate::parse(&t.replace("\\t", "\t"))?),
    };
    let json = a.format.as_deref().map(str::trim) == Some("json");
    let follow = until.is_none_or(|u| u > now_nanos);
    let mut emit = |e: &berth_engine::Event| -> std::io::Result<()> {
        if !e.matches(&filters) {
            return Ok(());
        }
        let line = if json {
            e.docker_message().to_string()
        } else if let Some(t) = &template {
            let m = e.docker_message();
            // The fields of docker's events.Message, as templates name them.
            let doc = json!({
                "Status": m["status"], "ID": m["id"], "From": m["from"],
                "Type": m["Type"], "Action": m["Action"], "Actor": m["Actor"],
                "Scope": m["scope"], "Time": m["time"], "TimeNano": m["timeNano"],
            });
            t.render(&doc).map_err(std::io::Error::other)?
        } else {
            event_line(e)
        };
        print_out(&format!("{line}\n"));
        Ok(())
    };
    engine.events(since, until, follow, &|| true, &mut emit)?;
    Ok(())
}

/// docker's line for an event: time, type, action, ID, attributes.
fn event_line(e: &berth_engine::Event) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(e.time_nano)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let attrs: Vec<String> = e
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut line = format!("{time} {} {} {}", e.kind, e.action, e.id);
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

/// A time of `--since`/`--until`, in nanoseconds: Unix seconds (fractions
/// allowed), an RFC 3339 date, or a duration before `now` (`10m`, `1h30m`).
fn event_time(text: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    let before = berth_engine::parse_duration(text)?;
    Some(now.timestamp_nanos_opt()? - before)
}

/// docker info's text.
fn info_text(d: &serde_json::Value) -> String {
    let v = |k: &str| match &d[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let list = |x: &serde_json::Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = vec![
        "Client:".to_string(),
        " Context:    default".into(),
        " Debug Mode: false".into(),
        String::new(),
        "Server:".into(),
        format!(" Containers: {}", v("Containers")),
        format!("  Running: {}", v("ContainersRunning")),
        format!("  Paused: {}", v("ContainersPaused")),
        format!("  Stopped: {}", v("ContainersStopped")),
        format!(" Images: {}", v("Images")),
        format!(" Server Version: {}", v("ServerVersion")),
        format!(" Storage Driver: {}", v("Driver")),
    ];
    for pair in d["DriverStatus"].as_array().into_iter().flatten() {
        let p = list(pair);
        if let [k, val] = p.as_slice() {
            out.push(format!("  {k}: {val}"));
        }
    }
    out.push(format!(" Logging Driver: {}", v("LoggingDriver")));
    out.push(format!(" Cgroup Driver: {}", v("CgroupDriver")));
    out.push(format!(" Cgroup Version: {}", v("CgroupVersion")));
    out.push(" Plugins:".into());
    for kind in ["Volume", "Network", "Log"] {
        out.push(format!("  {kind}: {}", list(&d["Plugins"][kind]).join(" ")));
    }
    let runtimes: Vec<String> = d["Runtimes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    out.push(format!(" Runtimes: {}", runtimes.join(" ")));
    out.push(format!(" Default Runtime: {}", v("DefaultRuntime")));
    out.push(" Security Options:".into());
    for opt in list(&d["SecurityOptions"]) {
        // `name=seccomp,profile=builtin` as docker prints it.
        let mut parts = opt.split(',');
        let name = parts.next().unwrap_or_default().trim_start_matches("name=");
        out.push(format!("  {name}"));
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let mut chars = k.chars();
                let k: String = chars
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .into_iter()
                    .chain(chars)
                    .collect();
                out.push(format!("   {k}: {v}"));
            }
        }
    }
    out.push(format!(" Kernel Version: {}", v("KernelVersion")));
    out.push(format!(" Operating System: {}", v("OperatingSystem")));
    out.push(format!(" OSType: {}", v("OSType")));
    out.push(format!(" Architecture: {}", v("Architecture")));
    out.push(format!(" CPUs: {}", v("NCPU")));
    out.push(format!(
        " Total Memory: {}",
        berth_engine::binary_size(d["MemTotal"].as_u64().unwrap_or(0))
    ));
    out.push(format!(" Name: {}", v("Name")));
    out.push(format!(" ID: {}", v("ID")));
    out.push(format!(" Docker Root Dir: {}", v("DockerRootDir")));
    out.push(" Debug Mode: false".into());
    out.push(" Experimental: false".into());
    out.push(" Insecure Registries:".into());
    for r in list(&d["RegistryConfig"]["InsecureRegistryCIDRs"]) {
        out.push(format!("  {r}"));
    }
    let mirrors = list(&d["RegistryConfig"]["Mirrors"]);
    if !mirrors.is_empty() {
        out.push(" Registry Mirrors:".into());
        out.extend(mirrors.iter().map(|m| format!("  {m}")));
    }
    out.push(format!(
        " Live Restore Enabled: {}",
        v("LiveRestoreEnabled")
    ));
    let warnings = list(&d["Warnings"]);
    let mut text: String = out.iter().map(|l| format!("{l}\n")).collect();
    for w in warnings {
        text.push_str(&format!("{w}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_read_like_dockers() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(super::event_time("12.5", now), Some(12_500_000_000));
        assert_eq!(
            super::event_time("1970-01-01T00:00:10Z", now),
            Some(10_000_000_000)
        );
        assert_eq!(
            super::event_time("1h30m", now),
            Some((1_000_000 - 5400) * 1_000_000_000)
        );
        assert_eq!(
            super::event_time("10s", now),
            Some((1_000_000 - 10) * 1_000_000_000)
        );
        assert_eq!(super::event_time("10", now), Some(10_000_000_000));
        assert_eq!(
            super::event_time("0s", now),
            Some(1_000_000 * 1_000_000_000),
            "now"
        );
        assert_eq!(
            super::event_time("1500ms", now),
            Some(1_000_000 * 1_000_000_000 - 1_500_000_000)
        );
        for bad in ["", "m", "10x", "yesterday"] {
            assert_eq!(super::event_time(bad, now), None, "{bad}");
        }
    }
}
