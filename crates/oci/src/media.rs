//! Media types of manifests, configs and layers, OCI and Docker schema2.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (as `docker save` writes them).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Docker foreign layer (fetched from the URLs its descriptor lists).
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// OCI non-distributable layer, uncompressed.
pub const OCI_NONDISTRIBUTABLE_LAYER_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip.
pub const OCI_NONDISTRIBUTABLE_LAYER_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd.
pub const OCI_NONDISTRIBUTABLE_LAYER_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// Whether a media type names an image manifest (OCI or Docker).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether a media type names an index / manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Media types that say nothing about a manifest's kind: a Content-Type of
/// these is treated as absent.
fn is_generic(content_type: &str) -> bool {
    matches!(
        content_type,
        "" | "application/json" | "application/octet-stream" | "text/plain"
    )
}

/// Why a document's manifest type cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestTypeError {
    /// The body is not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// The document has the fields of both an image manifest and an index, so
    /// one reader could take it for one and another for the other.
    #[error("ambiguous document: it has both \"manifests\" and \"{0}\"")]
    Ambiguous(&'static str),
    /// The Content-Type and the document's own `mediaType` disagree.
    #[error("Content-Type {header} does not match the manifest's mediaType {declared}")]
    Mismatch {
        /// The Content-Type sent with the document.
        header: String,
        /// The document's `mediaType`.
        declared: String,
    },
    /// The declared type says one kind and the fields say the other.
    #[error("declared as {declared} but it has \"{field}\"")]
    Contradicts {
        /// The type declared (mediaType, else Content-Type).
        declared: String,
        /// A field that the declared kind may not have.
        field: &'static str,
    },
    /// No type is declared and the document has no manifest or index fields.
    #[error("neither an image manifest nor an index: no mediaType, config, layers or manifests")]
    NoShape,
}

/// Decides once what a manifest document is, so that it is validated and
/// served as the same thing (the CVE-2021-41190 class: one digest checked as
/// an image manifest and read back as an index).
///
/// The document's own `mediaType` wins when present, and a specific
/// `content_type` must then equal it; without one, a specific `content_type`
/// is the type; without either, the shape decides (`manifests` → OCI index,
/// `config`/`layers` → OCI manifest). A document with `manifests` beside
/// `config` or `layers` is refused whatever it declares, and so is one whose
/// fields contradict its declared kind. A declared type that is neither a
/// manifest nor an index is returned as is: the caller decides whether it
/// supports it.
pub fn manifest_type(body: &[u8], content_type: Option<&str>) -> Result<String, ManifestTypeError> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "mediaType", default)]
        media_type: Option<serde_json::Value>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
        #[serde(default)]
        layers: Option<serde_json::Value>,
    }
    let shape: Shape = serde_json::from_slice(body).map_err(|_| ManifestTypeError::NotAnObject)?;
    let has_manifests = shape.manifests.is_some();
    let manifest_field = if shape.layers.is_some() {
        Some("layers")
    } else if shape.config.is_some() {
        Some("config")
    } else {
        None
    };
    if has_manifests && let Some(field) = manifest_field {
        return Err(ManifestTypeError::Ambiguous(field));
    }
    let declared = match shape.media_type {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(ManifestTypeError::NotAnObject),
    };
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !is_generic(c));
    if let (Some(h), Some(d)) = (header, &declared)
        && h != d
    {
        return Err(ManifestTypeError::Mismatch {
            header: h.to_string(),
            declared: d.clone(),
        });
    }
    let Some(kind) = declared.or_else(|| header.map(str::to_string)) else {
        return if has_manifests {
            Ok(OCI_INDEX.to_string())
        } else if manifest_field.is_some() {
            Ok(OCI_MANIFEST.to_string())
        } else {
            Err(ManifestTypeError::NoShape)
        };
    };
    let contradiction = if is_index(&kind) {
        manifest_field
    } else if is_manifest(&kind) {
        has_manifests.then_some("manifests")
    } else {
        None
    };
    match contradiction {
        Some(field) => Err(ManifestTypeError::Contradicts {
            declared: kind,
            field,
        }),
        None => Ok(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(body: &str, header: Option<&str>) -> Result<String, ManifestTypeError> {
        manifest_type(body.as_bytes(), header)
    }

    #[test]
    fn both_layers_and_manifests_is_refused_whatever_is_declared() {
        let body = r#"{"schemaVersion":2,"config":{},"layers":[],"manifests":[]}"#;
        for header in [
            None,
            Some(OCI_MANIFEST),
            Some(OCI_INDEX),
            Some("application/json"),
        ] {
            assert_eq!(
                decide(body, header),
                Err(ManifestTypeError::Ambiguous("layers")),
                "{header:?}"
            );
        }
        assert_eq!(
            decide(r#"{"config":{},"manifests":[]}"#, None),
            Err(ManifestTypeError::Ambiguous("config"))
        );
        assert_eq!(
            decide(r#"{"config":{},"manifests":[]}"#, None)
                .unwrap_err()
                .to_string(),
            "ambiguous document: it has both \"manifests\" and \"config\""
        );
    }

    #[test]
    fn declared_type_must_agree_with_header_and_shape() {
        let manifest = format!(r#"{{"mediaType":"{OCI_MANIFEST}","config":{{}},"layers":[]}}"#);
        assert_eq!(decide(&manifest, Some(OCI_MANIFEST)).unwrap(), OCI_MANIFEST);
        assert_eq!(decide(&manifest, None).unwrap(), OCI_MANIFEST);
        assert!(matches!(
            decide(&manifest, Some(OCI_INDEX)),
            Err(ManifestTypeError::Mismatch { .. })
        ));
        let lying = format!(r#"{{"mediaType":"{OCI_INDEX}","layers":[]}}"#);
        assert_eq!(
            decide(&lying, None),
            Err(ManifestTypeError::Contradicts {
                declared: OCI_INDEX.into(),
                field: "layers"
            })
        );
        assert_eq!(
            decide(r#"{"manifests":[]}"#, Some(DOCKER_MANIFEST)),
            Err(ManifestTypeError::Contradicts {
                declared: DOCKER_MANIFEST.into(),
                field: "manifests"
            })
        );
    }

    #[test]
    fn shape_decides_without_a_declared_type() {
        assert_eq!(decide(r#"{"manifests":[]}"#, None).unwrap(), OCI_INDEX);
        assert_eq!(
            decide(r#"{"config":{},"layers":[]}"#, Some("application/json")).unwrap(),
            OCI_MANIFEST
        );
        assert_eq!(
            decide(r#"{"config":{}}"#, Some(DOCKER_MANIFEST)).unwrap(),
            DOCKER_MANIFEST
        );
        assert_eq!(
            decide(r#"{"schemaVersion":2}"#, None),
            Err(ManifestTypeError::NoShape)
        );
        assert_eq!(decide("[1]", None), Err(ManifestTypeError::NotAnObject));
        // A type berth does not know is the caller's to refuse.
        assert_eq!(
            decide(
                r#"{"fsLayers":[]}"#,
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws")
            )
            .unwrap(),
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        );
    }
}
