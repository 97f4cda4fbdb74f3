//! berth's settings file (`--registries-config`, `/etc/berth/registries.json`
//! by default), in the words of docker's daemon.json so that a copied file
//! works: the registry keys the engine's client reads, and the unpacking
//! limits `max-layer-size` and `max-image-size` (a number of bytes or a size
//! such as `"1GiB"`), and `berth daemon`'s `hosts`, `group` and TLS keys
//! (`tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey`).

use std::path::Path;

use anyhow::Context;
use berth_engine::RegistryConfig;
use serde::Deserialize;

/// The settings file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// How registries are reached.
    #[serde(flatten)]
    pub registries: RegistryConfig,
    /// Largest uncompressed layer unpacked.
    #[serde(default, deserialize_with = "size")]
    pub max_layer_size: Option<u64>,
    /// Largest total of one image's uncompressed layers.
    #[serde(default, deserialize_with = "size")]
    pub max_image_size: Option<u64>,
    /// `berth daemon`'s addresses when no `-H` is given.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `berth daemon`'s socket group when no `-G` is given.
    #[serde(default)]
    pub group: Option<String>,
    /// `berth daemon --tls`.
    #[serde(default)]
    pub tls: bool,
    /// `berth daemon --tlsverify`.
    #[serde(default)]
    pub tlsverify: bool,
    /// `berth daemon --tlscacert`.
    #[serde(default)]
    pub tlscacert: Option<std::path::PathBuf>,
    /// `berth daemon --tlscert`.
    #[serde(default)]
    pub tlscert: Option<std::path::PathBuf>,
    /// `berth daemon --tlskey`.
    #[serde(default)]
    pub tlskey: Option<std::path::PathBuf>,
}

impl Settings {
    /// Reads the file; a missing file gives the defaults.
    pub fn load(path: &Path) -> anyhow::Result<Settings> {
        match std::fs::read(path) {
            Ok(raw) => serde_json::from_slice(&raw)
                .with_context(|| format!("invalid settings file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(d)? {
        None => Ok(None),
        Some(Size::Bytes(n)) => Ok(Some(n)),
        Some(Size::Text(t)) => crate::size::parse_size(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn limits_and_registry_keys_share_one_file() {
        let s: Settings = serde_json::from_str(
            r#"{"max-layer-size":"1GiB","max-image-size":1048576,"registry-mirrors":["http://m"]}"#,
        )
        .unwrap();
        assert_eq!(s.max_layer_size, Some(1 << 30));
        assert_eq!(s.max_image_size, Some(1 << 20));
        assert_eq!(s.registries.registry_mirrors, ["http://m"]);
        let err = serde_json::from_str::<Settings>(r#"{"max-layer-size":"huge"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid size \"huge\""), "{err}");
        let none: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!((none.max_layer_size, none.max_image_size), (None, None));
    }
}
