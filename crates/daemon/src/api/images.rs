//! `/images/…`: list, inspect, history, tag, remove. Image names may hold
//! slashes (`/images/library/busybox:latest/json`), so these paths are
//! matched by their last segment, not split.

use std::collections::BTreeMap;

use berth_engine::{
    Image, ImageFilter, ImportOptions, NoProgress, PullOptions, PushOptions, RemoveEvent,
    SaveOptions,
};
use berth_oci::Reference;
use berth_oci::auth::Credentials;
use berth_oci::image::Platform;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth_config::registry_auth;
use super::progress::JsonProgress;
use super::stream::{BodyReader, bytes, json_messages};
use super::{Api, ApiError, ApiVersion, Body, Call, empty, json};

/// One image as `GET /images/json` (and `system/df`) lists it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Summary {
    id: String,
    parent_id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    created: i64,
    size: u64,
    shared_size: i64,
    /// Gone from API 1.44 on.
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_size: Option<u64>,
    labels: BTreeMap<String, String>,
    containers: i64,
}

impl Summary {
    /// `image`'s row; -1 for the sizes and counts not computed (docker's
    /// word for "not asked"), `VirtualSize` only for clients before 1.44.
    pub(super) fn of(image: Image, shared_size: i64, containers: i64, old: bool) -> Summary {
        Summary {
            id: image.id.to_string(),
            parent_id: String::new(),
            repo_tags: image.tags.iter().map(|t| t.familiar()).collect(),
            repo_digests: image.digests.iter().map(|d| d.familiar()).collect(),
            created: image.created,
            size: image.size,
            shared_size,
            virtual_size: old.then_some(image.size),
            labels: image.labels,
            containers,
        }
    }
}

/// `GET /images/json`.
pub async fn list(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let mut filter = ImageFilter::default();
    for f in call.query.filters()? {
        filter.add(&f)?;
    }
    let old = !call.version.at_least(1, 44);
    let images = api
        .blocking(move |engine| Ok(engine.images(&filter)?))
        .await?;
    let out: Vec<Summary> = images
        .into_iter()
        .map(|i| Summary::of(i, -1, -1, old))
        .collect();
    json(StatusCode::OK, &out)
}

/// Everything under `/images/` but the list.
pub async fn route(
    api: &Api,
    call: &Call,
    _req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let rest = call
        .path
        .trim_start_matches('/')
        .trim_start_matches("images/");
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: {} {}", call.method, call.path),
        )
    };
    if rest.is_empty() {
        return Err(not_found());
    }
    match call.method {
        Method::GET if rest == "get" => save(api, call.query.all("names")).await,
        Method::GET if rest == "search" => search(api, call).await,
        Method::POST if rest == "load" => load(api, call, _req).await,
        Method::POST if rest == "prune" => prune(api, call).await,
        Method::GET => {
            if let Some(name) = rest.strip_suffix("/get") {
                return save(api, vec![name.to_string()]).await;
            }
            if let Some(name) = rest.strip_suffix("/json") {
                return inspect(api, call, name).await;
            }
            if let Some(name) = rest.strip_suffix("/history") {
                return history(api, name).await;
            }
            Err(not_found())
        }
        Method::POST if rest == "create" && call.query.get("fromSrc").is_some() => {
            import(api, call, _req).await
        }
        Method::POST if rest == "create" => create(api, call, registry_auth(&_req)?).await,
        Method::POST => {
            if let Some(name) = rest.strip_suffix("/tag") {
                return tag(api, call, name).await;
            }
            if let Some(name) = rest.strip_suffix("/push") {
                return push(api, call, name, registry_auth(&_req)?).await;
            }
            Err(not_found())
        }
        Method::DELETE => remove(api, call, rest).await,
        _ => Err(not_found()),
    }
}

/// `GET /images/{name}/json`, with the fields older API versions had:
/// `VirtualSize` before 1.44, `Container` and `ContainerConfig` before 1.45.
async fn inspect(api: &Api, call: &Call, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let img = api
        .blocking(move |engine| Ok(engine.inspect_image(&name)?))
        .await?;
    json(StatusCode::OK, &image_document(&img, call.version))
}

/// An image's inspect document as dockerd gives it at API `version`; at
/// the oldest (what `berth image inspect` prints) every field is there.
pub fn image_document(img: &berth_engine::ImageInspect, version: ApiVersion) -> Value {
    let mut v = serde_json::to_value(img).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let config = o.remove("Config").unwrap_or(Value::Null);
        o.insert("Config".into(), container_config_shape(config));
        if !version.at_least(1, 44) {
            o.insert("VirtualSize".into(), json!(img.size));
        }
        if !version.at_least(1, 45) {
            o.insert("Container".into(), json!(img.container));
            o.insert(
                "ContainerConfig".into(),
                container_config_shape(img.container_config.clone()),
            );
        }
    }
    v
}

/// An image's run config in the shape dockerd gives it through the API (up
/// to 1.49): every field of a container's config, empty where the image says
/// nothing, so that templates such as `{{.Config.Env}}` work on any image.
fn container_config_shape(config: Value) -> Value {
    let mut out = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    if let (Some(o), Value::Object(given)) = (out.as_object_mut(), config) {
        o.extend(given);
    }
    out
}

async fn history(api: &Api, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let (rows, tags) = api
        .blocking(move |engine| {
            let tags: Vec<String> = engine
                .resolve(&name)?
                .tags
                .iter()
                .map(|t| t.familiar())
                .collect();
            Ok((engine.history(&name)?, tags))
        })
        .await?;
    let out: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "Id": r.id.as_ref().map_or_else(|| "<missing>".to_string(), ToString::to_string),
                "Created": r.created.unwrap_or(0),
                "CreatedBy": r.created_by,
                "Tags": if i == 0 && !tags.is_empty() { json!(tags) } else { json!(null) },
                "Size": r.size,
                "Comment": r.comment,
            })
        })
        .collect();
    json(StatusCode::OK, &out)
}

/// `POST /images/{name}/tag?repo=R&tag=T`: 201, as dockerd.
async fn tag(api: &Api, call: &Call, name: &str) -> Result<Response<Body>, ApiError> {
    let repo = call
        .query
        .given("repo")
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let target = match call.query.given("tag") {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    let name = name.to_string();
    api.blocking(move |engine| Ok(engine.tag(&name, &target)?))
        .await?;
    Ok(empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force=`: what was untagged and deleted.
async fn remove(api: &Api, call: &Call, name: &str) -> Result<Response<Body>, ApiError> {
    let force = call.query.flag("force");
    let name = name.to_string();
    let events = api
        .blocking(move |engine| Ok(engine.remove_image(&name, force)?))
        .await?;
    let out: Vec<_> = events
        .iter()
        .map(|e| match e {
            RemoveEvent::Untagged(t) => json!({ "Untagged": t }),
            RemoveEvent::Deleted(d) => json!({ "Deleted": d.to_string() }),
        })
        .collect();
    json(StatusCode::OK, &out)
}

/// `POST /images/create?fromImage=NAME&tag=TAG|DIGEST&platform=`: a pull,
/// streamed as docker's JSON messages. An empty tag on a name without one
/// means every tag, as with dockerd.
async fn create(
    api: &Api,
    call: &Call,
    credentials: Option<Credentials>,
) -> Result<Response<Body>, ApiError> {
    let from = call
        .query
        .given("fromImage")
        .ok_or_else(|| ApiError::bad_request("fromImage is required"))?
        .to_string();
    let tag = call.query.get("tag").unwrap_or("").to_string();
    let mut opts = PullOptions::default();
    opts.credentials = credentials;
    if let Some(p) = call.query.given("platform") {
        let parts: Vec<&str> = p.split('/').collect();
        opts.platform = match parts.as_slice() {
            [os, arch] | [os, arch, _] => Some(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid platform {p:?}: expected os/arch[/variant]"
                )));
            }
        };
    }
    let parsed = Reference::parse(&from)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e}")))?;
    let name = if tag.is_empty() {
        opts.all_tags = parsed.tag().is_none() && parsed.digest().is_none();
        from
    } else if tag.contains(':') {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let engine = api.engine.clone();
    json_messages(move |sink| {
        let progress = JsonProgress::new(sink);
        engine.pull(&name, &opts, &progress)?;
        Ok(())
    })
    .await
}

/// `GET /images/{name}/get` and `GET /images/get?names=…`: `docker save`, a
/// docker-archive streamed as it is written. An unknown name is a 404
/// before any byte.
async fn save(api: &Api, names: Vec<String>) -> Result<Response<Body>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image to save: give names="));
    }
    let engine = api.engine.clone();
    bytes("application/x-tar", move |out| {
        engine.save(&names, out, &SaveOptions::default(), &NoProgress)?;
        Ok(())
    })
    .await
}

/// `POST /images/load?quiet=`: `docker load` of the request body, answered
/// with docker's `{"stream": "Loaded image: …"}` messages.
async fn load(api: &Api, call: &Call, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let quiet = call.query.flag("quiet");
    let engine = api.engine.clone();
    let input = BodyReader::new(req.into_body());
    json_messages(move |sink| {
        let progress = JsonProgress::new(sink);
        let quiet_progress = NoProgress;
        let shown: &dyn berth_engine::Progress = if quiet { &quiet_progress } else { &progress };
        let outcome = engine.load(input, shown)?;
        for (id, tags) in outcome.images {
            if tags.is_empty() {
                sink.send(&json!({"stream": format!("Loaded image ID: {id}\n")}));
            }
            for t in tags {
                sink.send(&json!({"stream": format!("Loaded image: {}\n", t.familiar())}));
            }
        }
        Ok(())
    })
    .await
}

/// `POST /images/{name}/push?tag=`: streamed as docker's JSON messages,
/// ending with the `aux` digest line docker prints.
async fn push(
    api: &Api,
    call: &Call,
    name: &str,
    credentials: Option<Credentials>,
) -> Result<Response<Body>, ApiError> {
    let name = match call.query.given("tag") {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let engine = api.engine.clone();
    json_messages(move |sink| {
        let progress = JsonProgress::new(sink);
        let mut opts = PushOptions::default();
        opts.credentials = credentials;
        let pushed = engine.push(&name, &opts, &progress)?;
        for p in pushed {
            let tag = p.reference.tag().unwrap_or("latest").to_string();
            sink.send(&json!({
                "status": format!("{tag}: digest: {} size: {}", p.digest, p.size),
            }));
            sink.send(&json!({
                "progressDetail": {},
                "aux": {"Tag": tag, "Digest": p.digest.to_string(), "Size": p.size},
            }));
        }
        Ok(())
    })
    .await
}

/// `GET /images/search?term=&limit=`.
async fn search(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let term = call
        .query
        .given("term")
        .ok_or_else(|| ApiError::bad_request("term is required"))?
        .to_string();
    let limit = call.query.number("limit")?.filter(|n| *n > 0).unwrap_or(25) as usize;
    let found = api
        .blocking(move |engine| Ok(engine.search(&term, limit)?))
        .await?;
    json(StatusCode::OK, &found)
}

/// `POST /images/prune?filters={"dangling":["false"]}`: dangling images,
/// or with `dangling=false` every unused one.
async fn prune(api: &Api, call: &Call) -> Result<Response<Body>, ApiError> {
    let all = call
        .query
        .filters()?
        .iter()
        .any(|f| f == "dangling=false" || f == "dangling=0");
    let (events, bytes) = api
        .blocking(move |engine| Ok(engine.prune_images(all)?))
        .await?;
    let deleted: Vec<_> = events
        .iter()
        .map(|e| match e {
            RemoveEvent::Untagged(t) => json!({ "Untagged": t }),
            RemoveEvent::Deleted(d) => json!({ "Deleted": d.to_string() }),
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({"ImagesDeleted": if deleted.is_empty() { json!(null) } else { json!(deleted) }, "SpaceReclaimed": bytes}),
    )
}

/// `POST /images/create?fromSrc=-|URL&repo=&tag=&message=&changes=`: `docker
/// import`, of the request body (`-`) or of a URL; answered with the image
/// ID as docker's `{"status": "sha256:…"}`.
async fn import(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let src = call.query.get("fromSrc").unwrap_or("-").to_string();
    let mut opts = ImportOptions::new(src.clone());
    opts.message = call.query.given("message").map(str::to_string);
    opts.changes = call.query.instructions("changes");
    opts.reference = call.query.repo_tag();
    let engine = api.engine.clone();
    let body = (src == "-").then(|| BodyReader::new(req.into_body()));
    json_messages(move |sink| {
        let id = match body {
            Some(input) => engine.import(input, &opts, &NoProgress)?,
            None => engine.import_url(&src, &opts, &NoProgress)?,
        };
        sink.send(&json!({"status": id.to_string()}));
        Ok(())
    })
    .await
}

/// `GET /distribution/{name}/json`: the registry's descriptor of `name` and
/// its platforms, without pulling.
pub async fn distribution(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let name = call
        .path
        .trim_start_matches('/')
        .strip_prefix("distribution/")
        .and_then(|r| r.strip_suffix("/json"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("page not found: {}", call.path),
            )
        })?
        .to_string();
    let credentials = registry_auth(&req)?;
    let d = api
        .blocking(move |engine| Ok(engine.distribution(&name, credentials)?))
        .await?;
    json(
        StatusCode::OK,
        &json!({
            "Descriptor": {
                "mediaType": d.descriptor.media_type,
                "digest": d.descriptor.digest.to_string(),
                "size": d.descriptor.size,
            },
            "Platforms": d.platforms,
        }),
    )
}
