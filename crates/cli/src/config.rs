//! berth's settings file (`--registries-config`, `/etc/berth/registries.json`
//! by default), in the words of docker's daemon.json so that a copied file
//! works: the registry keys the engine's client reads, and the unpacking
//! limits `max-layer-size` and `max-image-size` (a number of bytes or a size
//! such as `"1GiB"`), and `berth daemon`'s `hosts`, `group` and TLS keys
//! (`tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey`), and the network
//! keys `bip`, `default-address-pools`, `mtu` and `bridge` (`none`), and
//! `userns-remap`.

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
    /// The default bridge's address and prefix (`172.26.0.1/16`).
    #[serde(default)]
    pub bip: Option<String>,
    /// Where networks without `--subnet` take theirs:
    /// `[{"base": "10.10.0.0/16", "size": 24}]`.
    #[serde(default)]
    pub default_address_pools: Vec<berth_engine::network::subnet::AddressPool>,
    /// The MTU of the default bridge and new networks.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// `none`: no default bridge (dockerd's `bridge`).
    #[serde(default)]
    pub bridge: Option<String>,
    /// `default` or `USER[:GROUP]`: every container's IDs mapped onto the
    /// user's subordinate ranges (dockerd's `userns-remap`).
    #[serde(default)]
    pub userns_remap: Option<String>,
}

impl Settings {
    /// The keys that shape networks, for the engine.
    pub fn network_defaults(&self) -> anyhow::Result<berth_engine::NetworkDefaults> {
        let no_default_bridge = match self.bridge.as_deref() {
            None | Some("") | Some("berth0") => false,
            Some("none") => true,
            Some(other) => anyhow::bail!(
                "bridge {other:?} in the settings file: berth's default bridge is berth0, or none"
            ),
        };
        Ok(berth_engine::NetworkDefaults {
            bip: self.bip.clone(),
            pools: self.default_address_pools.clone(),
            mtu: self.mtu,
            no_default_bridge,
        })
    }

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
