//! Manifests, indexes, descriptors and image configs.
//!
//! berth's own serde types rather than `oci-spec`'s: every struct keeps the
//! fields it does not name in `extra`, so a Docker config rewritten by berth
//! (commit, `--change`) keeps `container_config`, `docker_version` and the like,
//! and reading never fails on a field some other tool added. Blobs are always
//! stored as the bytes received; these types are for reading and for new images.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Digest, Error};

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where a foreign layer can be fetched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OS / architecture pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI's words.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: (architecture == "arm64").then(|| "v8".to_string()),
        }
    }

    /// Whether an image for `self` runs on `host` (variant compared when both name one).
    pub fn matches(&self, host: &Platform) -> bool {
        self.os == host.os
            && self.architecture == host.architecture
            && match (&self.variant, &host.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// An image manifest (OCI or Docker schema2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields berth does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields berth does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Index {
    /// The first entry (manifest or nested index) for an image that runs on `platform`.
    pub fn for_platform(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            (crate::media::is_manifest(&d.media_type) || crate::media::is_index(&d.media_type))
                && d.platform.as_ref().is_some_and(|p| p.matches(platform))
        })
    }
}

/// An image config (OCI image config / Docker image JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How containers of the image run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    /// The layers' diff IDs.
    pub rootfs: RootFs,
    /// One entry per build step, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields berth does not name (Docker's `container_config`, `comment`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The runtime part of an image config; Docker's capitalised field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`: `"80/tcp": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// `ENV`: `K=V`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`: `"/data": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// `WORKDIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `LABEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `STOPSIGNAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `ONBUILD` (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Fields berth does not name (`Healthcheck`, `Shell`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// One history entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The most layers an image may have. Docker refuses a layer chain deeper
/// than 125 ("max depth exceeded"), so an image berth accepts also runs
/// under docker; overlayfs cannot stack more than 500 lower directories
/// anyway; and it stops an archive of 100,000 one-file layers before any of
/// them is unpacked.
pub const MAX_LAYERS: usize = 125;

/// Parses JSON of a given kind, with the kind in the error.
pub fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    data: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(data).map_err(|source| Error::Json { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_keeps_unknown_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","docker_version":"24.0","config":{"Cmd":null,"Env":["A=1"],"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let c: ImageConfig = from_json("config", raw).unwrap();
        assert_eq!(c.extra["docker_version"], "24.0");
        let rc = c.config.as_ref().unwrap();
        assert_eq!(rc.cmd, None);
        assert!(rc.extra.contains_key("Healthcheck"));
        assert!(c.history[0].empty_layer);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["docker_version"], "24.0");
        assert_eq!(back["config"]["Healthcheck"]["Test"][0], "NONE");
    }
}
