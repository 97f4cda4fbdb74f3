//! Talking to registries: which client for which domain (credentials, TLS,
//! mirrors), and `login`, `logout`, `search`.

use std::path::PathBuf;

use berth_distribution::{
    ClientOptions, Credentials, DockerConfig, Registry, RegistryConfig, SearchResult,
};
use berth_oci::reference::DEFAULT_DOMAIN;

use crate::{Engine, Error, Result};

/// How the engine reaches registries.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// berth's registry config (insecure registries, mirrors, concurrency).
    pub config: RegistryConfig,
    /// False for `--tls-verify=false`.
    pub tls_verify: bool,
    /// docker's client config, where credentials live.
    pub docker_config: PathBuf,
    /// Directories of `HOST/*.crt` CA files.
    pub certs_dirs: Vec<PathBuf>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            config: RegistryConfig::default(),
            tls_verify: true,
            docker_config: DockerConfig::default_path(),
            certs_dirs: vec![
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/etc/berth/certs.d"),
            ],
        }
    }
}

/// The registry domain a `login`/`logout` argument names: Docker Hub when none.
pub fn login_domain(server: Option<&str>) -> String {
    let Some(server) = server.filter(|s| !s.is_empty()) else {
        return DEFAULT_DOMAIN.to_string();
    };
    let bare = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

impl Engine {
    /// The registry settings this engine pulls and pushes with (for `info`).
    pub fn registry_config(&self) -> &RegistryConfig {
        &self.registries.config
    }

    fn client_options(&self, credentials: Option<Credentials>) -> ClientOptions {
        let s = &self.registries;
        let mut dirs = s.certs_dirs.clone();
        if let Some(d) = &s.config.certs_dir {
            dirs.push(d.clone());
        }
        ClientOptions {
            tls_verify_off: !s.tls_verify,
            insecure_registries: s.config.insecure_registries.clone(),
            certs_dirs: dirs,
            timeout: s.config.timeout.map(std::time::Duration::from_secs),
            credentials,
        }
    }

    fn stored_credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        Ok(DockerConfig::load(&self.registries.docker_config)?.credentials(domain)?)
    }

    /// A client for `domain` with the user's stored credentials.
    pub(crate) fn registry(&self, domain: &str) -> Result<Registry> {
        self.registry_with(domain, None)
    }

    /// A client for `domain` with `credentials`, else the stored ones.
    pub(crate) fn registry_with(
        &self,
        domain: &str,
        credentials: Option<Credentials>,
    ) -> Result<Registry> {
        let creds = match credentials {
            Some(c) => Some(c),
            None => self.stored_credentials(domain)?,
        };
        Ok(Registry::new(domain, &self.client_options(creds))?)
    }

    /// Where to pull `domain`'s content from, in order: the configured mirrors
    /// for Docker Hub, then the registry itself.
    pub(crate) fn pull_endpoints(
        &self,
        domain: &str,
        credentials: Option<Credentials>,
    ) -> Result<Vec<Registry>> {
        let mut out = Vec::new();
        if domain == DEFAULT_DOMAIN {
            for m in &self.registries.config.registry_mirrors {
                out.push(Registry::with_endpoint(
                    domain,
                    m,
                    &self.client_options(None),
                )?);
            }
        }
        out.push(self.registry_with(domain, credentials)?);
        Ok(out)
    }

    /// Layers a pull downloads at once.
    pub(crate) fn max_concurrent_downloads(&self) -> usize {
        self.registries
            .config
            .max_concurrent_downloads
            .unwrap_or(3)
            .max(1)
    }

    /// Layers a push uploads at once.
    pub(crate) fn max_concurrent_uploads(&self) -> usize {
        self.registries
            .config
            .max_concurrent_uploads
            .unwrap_or(5)
            .max(1)
    }

    /// `berth login`: checks the credentials against the registry, then stores
    /// them in docker's config (or its credential helper). Returns the domain.
    pub fn login(&self, server: Option<&str>, credentials: Credentials) -> Result<String> {
        let domain = login_domain(server);
        let registry = Registry::new(&domain, &self.client_options(Some(credentials.clone())))?;
        registry.check_login()?;
        let mut config = DockerConfig::load(&self.registries.docker_config)?;
        config.store(&domain, &credentials)?;
        Ok(domain)
    }

    /// The user name stored for a registry, if any (for `login`'s prompt).
    pub fn stored_username(&self, server: Option<&str>) -> Result<Option<String>> {
        Ok(self
            .stored_credentials(&login_domain(server))?
            .map(|c| c.username))
    }

    /// `berth logout`: forgets the credentials; false when there were none.
    pub fn logout(&self, server: Option<&str>) -> Result<(String, bool)> {
        let domain = login_domain(server);
        let mut config = DockerConfig::load(&self.registries.docker_config)?;
        let found = config.erase(&domain)?;
        Ok((domain, found))
    }

    /// `berth search TERM`: `/v1/search` where the registry has it, else the
    /// repositories of `/v2/_catalog` whose names contain the term. A term may
    /// start with a registry (`localhost:5000/busy`); Docker Hub otherwise.
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        let (domain, query) = match term.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), term.to_string()),
        };
        let registry = self.registry(&domain)?;
        if let Some(results) = registry.search(&query, limit)? {
            return Ok(results);
        }
        let needle = query.to_ascii_lowercase();
        let mut out: Vec<SearchResult> = registry
            .catalog()
            .map_err(|e| match e {
                berth_distribution::Error::Status { .. }
                | berth_distribution::Error::Registry { .. } => Error::Unsupported(format!(
                    "registry {domain} offers neither /v1/search nor /v2/_catalog"
                )),
                other => other.into(),
            })?
            .into_iter()
            .filter(|name| name.to_ascii_lowercase().contains(&needle))
            .map(|name| SearchResult {
                name: format!("{domain}/{name}"),
                description: String::new(),
                star_count: 0,
                is_official: false,
                is_automated: false,
            })
            .collect();
        out.truncate(limit);
        Ok(out)
    }
}
