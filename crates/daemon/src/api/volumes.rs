//! `/volumes`: named volumes (list, create, inspect, remove, prune).

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{Api, ApiError, Body, Call, empty, json};

/// `GET /volumes`.
pub async fn list(api: &Api) -> Result<Response<Body>, ApiError> {
    let volumes = api.blocking(|engine| Ok(engine.volumes()?)).await?;
    json(StatusCode::OK, &json!({"Volumes": volumes, "Warnings": []}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
}

/// `POST /volumes/create`: 201 with the volume.
pub async fn create(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body: CreateBody = super::read_json(req, 64 << 10).await?;
    if !body.driver.is_empty() && body.driver != "local" {
        return Err(ApiError::bad_request(format!(
            "volume driver {:?} is not supported: berth has local volumes",
            body.driver
        )));
    }
    let v = api
        .blocking(move |engine| Ok(engine.create_volume(Some(&body.name))?))
        .await?;
    json(StatusCode::CREATED, &v)
}

/// `GET /volumes/{name}`.
pub async fn inspect(api: &Api, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let v = api
        .blocking(move |engine| Ok(engine.volume(&name)?))
        .await?;
    json(StatusCode::OK, &v)
}

/// `DELETE /volumes/{name}?force=`: 204, 409 while a container uses it.
pub async fn remove(api: &Api, call: &Call, name: &str) -> Result<Response<Body>, ApiError> {
    let force = call.query.flag("force");
    let name = name.to_string();
    api.blocking(move |engine| Ok(engine.remove_volume(&name, force)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`.
pub async fn prune(api: &Api) -> Result<Response<Body>, ApiError> {
    let (names, bytes) = api.blocking(|engine| Ok(engine.prune_volumes()?)).await?;
    json(
        StatusCode::OK,
        &json!({"VolumesDeleted": names, "SpaceReclaimed": bytes}),
    )
}
