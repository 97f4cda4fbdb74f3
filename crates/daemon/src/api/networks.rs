//! `/networks`: list, inspect, create, remove, prune, connect, disconnect —
//! thin over the engine's network service, which the CLI uses too.

use std::collections::BTreeMap;

use berth_engine::{EndpointSettings, NetworkCreateOptions};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{Api, ApiError, Body, Call, empty, json};

const MAX_BODY: usize = 64 << 10;

/// `GET /networks?filters=`: each network as inspect shows it.
pub async fn list(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let filters = call.query.filters()?;
    let v = api
        .blocking(move |engine| {
            let mut out = Vec::new();
            for n in engine.list_networks(&filters)? {
                out.push(engine.inspect_network(&n.id)?);
            }
            Ok(out)
        })
        .await?;
    json(StatusCode::OK, &v)
}

/// `GET /networks/{id}`.
pub async fn inspect(api: &Api, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = api
        .blocking(move |engine| Ok(engine.inspect_network(&name)?))
        .await?;
    json(StatusCode::OK, &v)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
}

/// `POST /networks/create`: 201 `{"Id", "Warning"}`.
pub async fn create(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body: CreateBody = super::read_json(req, MAX_BODY).await?;
    if body.enable_ipv6 {
        return Err(ApiError::bad_request(
            "IPv6 networks are not supported: berth's networks are IPv4",
        ));
    }
    let mut opts = NetworkCreateOptions::default();
    opts.name = body.name;
    opts.driver = Some(body.driver).filter(|d| !d.is_empty());
    opts.internal = body.internal;
    opts.labels = body.labels.unwrap_or_default();
    opts.options = body.options.unwrap_or_default();
    let mut configs = body.ipam.and_then(|i| i.config).unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::bad_request(
            "one IPAM config per network: berth's networks have one IPv4 subnet",
        ));
    }
    if let Some(c) = configs.pop() {
        opts.subnet = c.subnet.filter(|s| !s.is_empty());
        opts.gateway = c.gateway.filter(|s| !s.is_empty());
        opts.ip_range = c.ip_range.filter(|s| !s.is_empty());
    }
    let id = api
        .blocking(move |engine| Ok(engine.create_network(&opts)?.id))
        .await?;
    json(StatusCode::CREATED, &json!({"Id": id, "Warning": ""}))
}

/// `DELETE /networks/{id}`.
pub async fn remove(api: &Api, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    api.blocking(move |engine| Ok(engine.remove_network(&name)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`.
pub async fn prune(api: &Api) -> Result<Response<Body>, ApiError> {
    let names = api.blocking(|engine| Ok(engine.prune_networks()?)).await?;
    json(StatusCode::OK, &json!({"NetworksDeleted": names}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct IpamBody {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
}

/// docker's `EndpointSettings` as create and connect give them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct EndpointBody {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamBody>,
    mac_address: Option<String>,
}

impl EndpointBody {
    pub(super) fn settings(self) -> EndpointSettings {
        EndpointSettings {
            aliases: self.aliases.unwrap_or_default(),
            requested_ip: self
                .ipam_config
                .and_then(|i| i.ipv4_address)
                .filter(|ip| !ip.is_empty()),
            mac_address: self.mac_address.filter(|m| !m.is_empty()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointBody>,
    force: bool,
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    api: &Api,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: ConnectBody = super::read_json(req, MAX_BODY).await?;
    let settings = body.endpoint_config.unwrap_or_default().settings();
    let name = name.to_string();
    api.blocking(move |engine| Ok(engine.connect_network(&name, &body.container, &settings)?))
        .await?;
    Ok(empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    api: &Api,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: ConnectBody = super::read_json(req, MAX_BODY).await?;
    let name = name.to_string();
    api.blocking(move |engine| {
        Ok(engine.disconnect_network(&name, &body.container, body.force)?)
    })
    .await?;
    Ok(empty(StatusCode::OK))
}
