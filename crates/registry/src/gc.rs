//! Garbage collection: removes blobs no manifest references.
//!
//! Safe while servers serve the same storage:
//! - a blob still being uploaded is not in `blobs/` yet;
//! - a blob uploaded, mounted or re-uploaded within the grace period (its
//!   file or any repository's link to it is that young) is kept, so a push
//!   whose manifest has not arrived yet is not robbed of its layers;
//! - the sweep holds the storage's exclusive lock while it marks again and
//!   deletes, and a manifest PUT holds the shared lock from checking its blobs
//!   to making itself visible: the PUT either lands before the second mark
//!   (its blobs are kept) or sees them gone and fails with
//!   MANIFEST_BLOB_UNKNOWN. Where the storage has no locks (S3) the grace
//!   period is the guard.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use berth_oci::image::{Index, Manifest};
use berth_oci::{Digest, media};

use crate::errors::ApiResult;
use crate::repo::Registry;
use crate::storage::keys;

/// What to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report only.
    pub dry_run: bool,
    /// Also delete manifests no tag reaches (nor an index or a subject that a tag reaches).
    pub delete_untagged: bool,
    /// Blobs younger than this are kept.
    pub grace: Duration,
}

/// What was (or would be) removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs that manifests reference.
    pub marked: usize,
    /// Untagged manifests removed, as `repo@digest`.
    pub manifests: Vec<String>,
    /// Blobs removed, with their sizes.
    pub blobs: Vec<(Digest, u64)>,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub young: usize,
    /// Abandoned uploads removed.
    pub uploads: usize,
}

/// Each repository's manifests: digest → parsed references.
struct Revisions {
    by_repo: BTreeMap<String, HashMap<Digest, Refs>>,
}

#[derive(Default, Clone)]
struct Refs {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

async fn read_revisions(reg: &Registry, repos: &[String]) -> ApiResult<Revisions> {
    let mut by_repo = BTreeMap::new();
    for repo in repos {
        let mut manifests = HashMap::new();
        for m in reg.storage.list(&keys::revisions(repo)).await? {
            let Ok(d) = Digest::from_hex(&m.name) else {
                continue;
            };
            let Some(body) = reg.storage.get(&keys::blob(&d)).await? else {
                continue;
            };
            manifests.insert(d, refs_of(&body));
        }
        by_repo.insert(repo.clone(), manifests);
    }
    Ok(Revisions { by_repo })
}

fn refs_of(body: &[u8]) -> Refs {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let subject = json
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(|d| d.as_str())
        .and_then(|d| Digest::parse(d).ok());
    let is_index = json.get("manifests").is_some()
        || json
            .get("mediaType")
            .and_then(|m| m.as_str())
            .is_some_and(media::is_index);
    let mut refs = Refs {
        subject,
        ..Refs::default()
    };
    if is_index {
        if let Ok(i) = berth_oci::image::from_json::<Index>("image index", body) {
            refs.children = i.manifests.into_iter().map(|d| d.digest).collect();
        }
    } else if let Ok(m) = berth_oci::image::from_json::<Manifest>("image manifest", body) {
        refs.blobs.push(m.config.digest);
        refs.blobs.extend(
            m.layers
                .into_iter()
                .filter(|l| l.urls.is_empty())
                .map(|l| l.digest),
        );
    }
    refs
}

/// The blobs the manifests reference, the manifests themselves included.
fn mark(revs: &Revisions) -> BTreeSet<Digest> {
    let mut marked = BTreeSet::new();
    for manifests in revs.by_repo.values() {
        for (d, refs) in manifests {
            marked.insert(d.clone());
            marked.extend(refs.blobs.iter().cloned());
        }
    }
    marked
}

/// The manifests of a repository that a tag reaches.
async fn reachable(
    reg: &Registry,
    repo: &str,
    manifests: &HashMap<Digest, Refs>,
) -> ApiResult<BTreeSet<Digest>> {
    let mut keep = BTreeSet::new();
    let mut todo: Vec<Digest> = Vec::new();
    for tag in reg.storage.list(&keys::tags(repo)).await? {
        if let Some(b) = reg.storage.get(&keys::tag(repo, &tag.name)).await?
            && let Ok(d) = Digest::parse(String::from_utf8_lossy(&b).trim())
        {
            todo.push(d);
        }
    }
    loop {
        while let Some(d) = todo.pop() {
            if keep.insert(d.clone())
                && let Some(refs) = manifests.get(&d)
            {
                todo.extend(refs.children.iter().cloned());
            }
        }
        // Referrers (signatures, SBOMs) live as long as their subject.
        for (d, refs) in manifests {
            if !keep.contains(d) && refs.subject.as_ref().is_some_and(|s| keep.contains(s)) {
                todo.push(d.clone());
            }
        }
        if todo.is_empty() {
            return Ok(keep);
        }
    }
}

/// Runs a collection.
pub async fn collect(reg: &Registry, opts: &GcOptions) -> ApiResult<GcReport> {
    let cutoff = SystemTime::now()
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport::default();
    let repos = reg.repositories().await?;
    let mut revs = read_revisions(reg, &repos).await?;

    if opts.delete_untagged {
        for (repo, manifests) in revs.by_repo.iter_mut() {
            let keep = reachable(reg, repo, manifests).await?;
            let drop: Vec<Digest> = manifests
                .keys()
                .filter(|d| !keep.contains(d))
                .cloned()
                .collect();
            for d in drop {
                report.manifests.push(format!("{repo}@{d}"));
                if !opts.dry_run {
                    if let Some(subject) = manifests.get(&d).and_then(|r| r.subject.clone()) {
                        reg.storage
                            .delete(&keys::referrer(repo, &subject, &d))
                            .await?;
                    }
                    reg.storage.delete(&keys::revision(repo, &d)).await?;
                }
                manifests.remove(&d);
            }
        }
    }

    // Links young enough to protect their blobs.
    let mut young_links = BTreeSet::new();
    let mut links: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for repo in &repos {
        for link in reg.storage.list(&keys::layer_links(repo)).await? {
            let Ok(d) = Digest::from_hex(&link.name) else {
                continue;
            };
            if link.modified > cutoff {
                young_links.insert(d.clone());
            }
            links.entry(d).or_default().push(repo.clone());
        }
    }

    let marked = mark(&revs);
    report.marked = marked.len();
    let mut candidates = Vec::new();
    for shard in reg.storage.list_dirs(keys::BLOBS).await? {
        for blob in reg
            .storage
            .list(&format!("{}/{shard}", keys::BLOBS))
            .await?
        {
            let Ok(d) = Digest::from_hex(&blob.name) else {
                continue;
            };
            if marked.contains(&d) {
                continue;
            }
            if blob.modified > cutoff || young_links.contains(&d) {
                report.young += 1;
                continue;
            }
            candidates.push((d, blob.size));
        }
    }

    if !opts.dry_run && !candidates.is_empty() {
        let _lock = reg.storage.lock(true).await?;
        // Manifests that landed since the first mark keep their blobs.
        let again = mark(&read_revisions(reg, &reg.repositories().await?).await?);
        candidates.retain(|(d, _)| !again.contains(d));
        for (d, _) in &candidates {
            reg.storage.delete(&keys::blob(d)).await?;
        }
        drop(_lock);
        for (d, _) in &candidates {
            for repo in links.get(d).into_iter().flatten() {
                reg.storage.delete(&keys::layer_link(repo, d)).await?;
            }
        }
    }
    report.blobs = candidates;
    if !opts.dry_run {
        let expiry = Duration::from_secs(reg.config.limits.upload_expiry);
        report.uploads = reg.purge_uploads(expiry).await?;
    }
    Ok(report)
}

/// Runs a collection on its own runtime, for the command line.
pub fn collect_blocking(config: crate::Config, opts: &GcOptions) -> Result<GcReport, crate::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::Config(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let storage = crate::server::open_storage(&config)?;
        let registry = Registry::new(storage, config);
        Ok(collect(&registry, opts).await?)
    })
}
