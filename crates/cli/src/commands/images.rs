//! images, tag, rmi, image prune, inspect, history.

use anyhow::Result;
use berth_engine::{Engine, Image, ImageFilter, RemoveEvent, human_duration, human_size};
use serde_json::{Value, json};

use super::{finish, report};
use crate::cli::{HistoryArgs, ImagesArgs, InspectArgs, PruneArgs, RmiArgs, TagArgs};
use crate::format::{Format, GoTemplate, print_out};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// "2 hours ago".
pub fn since(t: i64) -> String {
    format!("{} ago", human_duration(now() - t))
}

/// "2024-01-01 10:00:00 +0000 UTC", as Docker's CreatedAt.
pub fn at(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

fn short_id(img: &Image, no_trunc: bool) -> String {
    if no_trunc {
        img.id.to_string()
    } else {
        img.id.short().to_string()
    }
}

/// `berth images`.
pub fn list(engine: &Engine, a: ImagesArgs) -> Result<()> {
    let mut filter = ImageFilter::default();
    for f in &a.filters {
        filter.add(f)?;
    }
    if let Some(r) = &a.reference {
        filter
            .references
            .push(if r.contains(':') || r.contains('@') {
                r.clone()
            } else {
                format!("{r}:*")
            });
    }
    let images = engine.images(&filter)?;
    if crate::format::quiet(a.quiet, a.format.as_deref()) {
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        for img in &images {
            if seen.insert(img.id.clone()) {
                out.push_str(&short_id(img, a.no_trunc));
                out.push('\n');
            }
        }
        print_out(&out);
        return Ok(());
    }
    let mut rows = Vec::new();
    for img in &images {
        let row = |repo: String, tag: String, digest: String| {
            json!({
                "ID": short_id(img, a.no_trunc),
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": since(img.created),
                "CreatedAt": at(img.created),
                "Size": human_size(img.size),
                "VirtualSize": human_size(img.size),
                "Containers": "N/A",
            })
        };
        let digest_for = |repo: &str| {
            img.digests
                .iter()
                .find(|d| d.familiar_repository() == repo)
                .and_then(|d| d.digest())
                .map(|d| d.to_string())
                .unwrap_or_else(|| "<none>".into())
        };
        if img.tags.is_empty() {
            match img.digests.first() {
                Some(d) if a.digests => rows.push(row(
                    d.familiar_repository(),
                    "<none>".into(),
                    digest_for(&d.familiar_repository()),
                )),
                Some(d) => rows.push(row(
                    d.familiar_repository(),
                    "<none>".into(),
                    "<none>".into(),
                )),
                None => rows.push(row("<none>".into(), "<none>".into(), "<none>".into())),
            }
        }
        for t in &img.tags {
            let repo = t.familiar_repository();
            rows.push(row(
                repo.clone(),
                t.tag().unwrap_or("<none>").to_string(),
                digest_for(&repo),
            ));
        }
    }
    let header = json!({"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "SIZE", "Containers": "CONTAINERS"});
    let default = if a.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    Format::parse(a.format.as_deref()).print(default, &header, &rows)
}

/// `berth tag`.
pub fn tag(engine: &Engine, a: TagArgs) -> Result<()> {
    match engine.tag(&a.source, &a.target) {
        Err(e @ berth_engine::Error::Oci(berth_oci::Error::InvalidReference { .. })) => {
            // docker's words for a bad name in tag.
            Err(anyhow::Error::from(e).context("Error parsing reference"))
        }
        r => r.map(|_| ()).map_err(Into::into),
    }
}

fn print_events(events: &[RemoveEvent]) {
    let mut out = String::new();
    for e in events {
        match e {
            RemoveEvent::Untagged(n) => out.push_str(&format!("Untagged: {n}\n")),
            RemoveEvent::Deleted(d) => out.push_str(&format!("Deleted: {d}\n")),
        }
    }
    print_out(&out);
}

/// `berth rmi`.
pub fn remove(engine: &Engine, a: RmiArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.images {
        match engine.remove_image(name, a.force) {
            Ok(events) => print_events(&events),
            Err(e) => report(e.into(), &mut failed),
        }
    }
    finish(failed)
}

/// `berth image prune`.
pub fn prune(engine: &Engine, a: PruneArgs) -> Result<()> {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        if !super::confirm(&format!("WARNING! This will remove {what}.")) {
            return Ok(());
        }
    }
    let (events, reclaimed) = engine.prune_images(a.all)?;
    let mut out = String::new();
    super::deleted_section(&mut out, "Images", &pruned_lines(&events));
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed)
    ));
    print_out(&out);
    Ok(())
}

/// A prune's image lines, as docker prints them.
pub fn pruned_lines(events: &[RemoveEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            RemoveEvent::Untagged(n) => format!("untagged: {n}"),
            RemoveEvent::Deleted(d) => format!("deleted: {d}"),
        })
        .collect()
}

/// Pretty JSON with Docker's four-space indent.
pub fn pretty(v: &impl serde::Serialize) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

/// `berth inspect`.
pub fn inspect(engine: &Engine, a: InspectArgs) -> Result<()> {
    let mut failed = false;
    let mut found: Vec<Value> = Vec::new();
    for name in &a.images {
        match inspect_one(engine, name) {
            Ok(v) => found.push(v),
            Err(e) => report(e.into(), &mut failed),
        }
    }
    print_inspect(&found, a.format.as_deref())?;
    finish(failed)
}

/// One image's inspect document in dockerd's shape (every field); a miss
/// names the image as given, as docker's does.
pub fn inspect_one(engine: &Engine, name: &str) -> Result<Value, berth_engine::Error> {
    match engine.inspect_image(name) {
        Ok(i) => Ok(berth_daemon::api::image_document(
            &i,
            berth_daemon::api::MIN_VERSION,
        )),
        Err(berth_engine::Error::ImageNotFound(_)) => {
            Err(berth_engine::Error::ImageNotFound(name.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// Prints `inspect` documents: pretty JSON, `json`, or a template per document.
pub fn print_inspect(found: &[Value], format: Option<&str>) -> Result<()> {
    let out = match format {
        None | Some("") => format!("{}\n", pretty(&found)?),
        Some("json") => format!("{}\n", serde_json::to_string(found)?),
        Some(t) => {
            let t = t.replace("\\t", "\t").replace("\\n", "\n");
            let t = GoTemplate::parse(&t)?;
            let mut s = String::new();
            for v in found {
                s.push_str(&t.render(v)?);
                s.push('\n');
            }
            s
        }
    };
    print_out(&out);
    Ok(())
}

/// Shortens to `n` characters with an ellipsis, as Docker's tables do.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// `berth history`.
pub fn history(engine: &Engine, a: HistoryArgs) -> Result<()> {
    let rows = engine.history(&a.image)?;
    let id = |r: &berth_engine::HistoryRow| match &r.id {
        Some(d) if a.no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".to_string(),
    };
    if crate::format::quiet(a.quiet, a.format.as_deref()) {
        print_out(
            &rows
                .iter()
                .map(|r| format!("{}\n", id(r)))
                .collect::<String>(),
        );
        return Ok(());
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let created_by = r.created_by.replace(['\t', '\n'], " ");
            // docker's history: CreatedAt is RFC 3339 (UTC here: `Z`);
            // CreatedSince is it too unless --human.
            let created_at = r
                .created
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            json!({
                "ID": id(r),
                "CreatedSince": match (r.created, a.human) {
                    (Some(t), true) => since(t),
                    (Some(_), false) => created_at.clone().unwrap_or_default(),
                    (None, _) => "N/A".to_string(),
                },
                "CreatedAt": created_at.unwrap_or_default(),
                "CreatedBy": if a.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if a.human { human_size(r.size) } else { r.size.to_string() },
                "Comment": r.comment,
            })
        })
        .collect();
    let header = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    let default = if a.human {
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    } else {
        "{{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    Format::parse(a.format.as_deref()).print(default, &header, &values)
}
