//! `berth image inspect` and `berth history`.

use std::collections::BTreeMap;

use berth_oci::Digest;
use serde::Serialize;
use serde_json::Value;

use crate::keys;
use crate::{Engine, Result};

/// `docker image inspect` output for one image; the field names are Docker's
/// and are part of berth's JSON output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// Image ID.
    pub id: String,
    /// Tags, familiar form.
    pub repo_tags: Vec<String>,
    /// Repo digests, familiar form.
    pub repo_digests: Vec<String>,
    /// Parent image ID (images built locally; empty otherwise).
    pub parent: String,
    /// The config's comment.
    pub comment: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The Docker version that built the image, if it says.
    pub docker_version: String,
    /// Author.
    pub author: String,
    /// The run config.
    pub config: Value,
    /// CPU architecture.
    pub architecture: String,
    /// CPU variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system.
    pub os: String,
    /// Sum of the layers' sizes.
    pub size: u64,
    /// Where the layers are on disk.
    pub graph_driver: GraphDriver,
    /// The layers' diff IDs.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsInspect,
    /// Store metadata.
    pub metadata: Metadata,
    /// The container a commit made it from; Engine API clients before 1.45
    /// read it, berth's own inspect (docker 28's shape) does not show it.
    #[serde(skip)]
    pub container: String,
    /// That container's config (API before 1.45; an empty config when the
    /// image says none).
    #[serde(skip)]
    pub container_config: Value,
}

/// `GraphDriver` of inspect.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// `LowerDir`, `UpperDir` for overlay; `Dir` for vfs.
    pub data: BTreeMap<String, String>,
    /// The driver.
    pub name: String,
}

/// `RootFS` of inspect.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFsInspect {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff IDs, bottom first.
    pub layers: Vec<String>,
}

/// `Metadata` of inspect.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// When the image was last tagged (here: when it came into the store).
    pub last_tag_time: String,
}

/// One row of `berth history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    /// The image ID, on the newest row only (Docker shows `<missing>` elsewhere).
    pub id: Option<Digest>,
    /// Creation time, seconds since the epoch.
    pub created: Option<i64>,
    /// The command that made the step.
    pub created_by: String,
    /// Size of the layer the step made (0 for empty steps).
    pub size: u64,
    /// Comment.
    pub comment: String,
}

impl Engine {
    /// Inspects one image.
    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        let img = self.resolve(name)?;
        let (_, config) = self.config_of(&img)?;
        let extra_str = |k: &str| {
            config
                .extra
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut data = BTreeMap::new();
        let chains = berth_oci::chain_ids(&config.rootfs.diff_ids);
        let snap = self.snapshotter()?;
        let mut dirs: Vec<String> = Vec::new();
        for c in chains.iter().rev() {
            match snap.path(&keys::layer(c)) {
                Ok(p) => dirs.push(p.display().to_string()),
                Err(_) => break,
            }
        }
        if dirs.len() == chains.len() && !dirs.is_empty() {
            if snap.name() == "overlay" {
                data.insert("UpperDir".to_string(), dirs[0].clone());
                if dirs.len() > 1 {
                    data.insert("LowerDir".to_string(), dirs[1..].join(":"));
                }
            } else {
                data.insert("Dir".to_string(), dirs[0].clone());
            }
        }
        let config_value = match &config.config {
            Some(c) => serde_json::to_value(c).unwrap_or(Value::Null),
            None => Value::Null,
        };
        Ok(ImageInspect {
            id: img.id.to_string(),
            repo_tags: img.tags.iter().map(|t| t.familiar()).collect(),
            repo_digests: img.digests.iter().map(|t| t.familiar()).collect(),
            parent: extra_str("parent"),
            comment: extra_str("comment"),
            created: config.created.clone().unwrap_or_default(),
            docker_version: extra_str("docker_version"),
            container: extra_str("container"),
            container_config: config
                .extra
                .get("container_config")
                .cloned()
                .unwrap_or_else(|| {
                    serde_json::to_value(berth_oci::image::RunConfig::default())
                        .unwrap_or(Value::Null)
                }),
            author: config.author.clone().unwrap_or_default(),
            config: config_value,
            architecture: config.architecture.clone(),
            variant: config.variant.clone(),
            os: config.os.clone(),
            size: img.size,
            graph_driver: GraphDriver {
                data,
                name: snap.name().to_string(),
            },
            root_fs: RootFsInspect {
                kind: "layers".into(),
                layers: config
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
            },
            metadata: Metadata {
                last_tag_time: chrono::DateTime::from_timestamp(img.added, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            },
        })
    }

    /// The image's history, newest first, with each step's layer size.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryRow>> {
        let img = self.resolve(name)?;
        let (_, config) = self.config_of(&img)?;
        let chains = berth_oci::chain_ids(&config.rootfs.diff_ids);
        let mut sizes = Vec::new();
        for c in &chains {
            sizes.push(self.db.layer(c)?.map(|l| l.size).unwrap_or(0));
        }
        let mut rows = Vec::new();
        let mut layer = 0;
        for h in &config.history {
            let size = if h.empty_layer {
                0
            } else {
                layer += 1;
                sizes.get(layer - 1).copied().unwrap_or(0)
            };
            rows.push(HistoryRow {
                id: None,
                created: h.created.as_deref().and_then(crate::parse_time),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        // Layers that no history entry describes still show, as Docker does.
        for size in sizes.iter().skip(layer) {
            rows.push(HistoryRow {
                id: None,
                created: None,
                created_by: String::new(),
                size: *size,
                comment: String::new(),
            });
        }
        rows.reverse();
        if let Some(first) = rows.first_mut() {
            first.id = Some(img.id.clone());
        }
        Ok(rows)
    }
}
