//! `/_ping`, `/version`, `/info`.

use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, HeaderValue, PRAGMA};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::{Api, ApiError, Body, MAX_VERSION, MIN_VERSION, json, text};
use berth_engine::{ImageFilter, Status};

/// `GET|HEAD /_ping`: `OK`, with the headers clients negotiate from. The
/// builder is the classic API builder, so `Builder-Version` is 1: a client
/// told 2 would speak BuildKit's session protocol.
pub fn ping(method: &Method) -> Response<Body> {
    let mut r = if method == Method::HEAD {
        super::empty(StatusCode::OK)
    } else {
        text(StatusCode::OK, "OK")
    };
    let h = r.headers_mut();
    h.insert("builder-version", HeaderValue::from_static("1"));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn kernel_version() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// This machine's architecture in OCI's words (`amd64`), as images name it.
fn arch() -> String {
    berth_oci::image::Platform::host().architecture
}

/// `GET /version`.
pub async fn version(_api: &Api) -> Result<Response<Body>, ApiError> {
    json(StatusCode::OK, &version_document())
}

/// What `GET /version` answers (and `berth version` shows as the server).
pub fn version_document() -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "Platform": {"Name": "berth"},
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {
                "ApiVersion": MAX_VERSION.to_string(),
                "MinAPIVersion": MIN_VERSION.to_string(),
                "Os": "linux",
                "Arch": arch(),
                "KernelVersion": kernel_version(),
                "Experimental": "false",
                "GitCommit": crate::GIT_COMMIT,
                "GoVersion": crate::RUST_VERSION,
                "BuildTime": crate::built(),
            }
        }],
        "Version": version,
        "ApiVersion": MAX_VERSION.to_string(),
        "MinAPIVersion": MIN_VERSION.to_string(),
        "GitCommit": crate::GIT_COMMIT,
        "GoVersion": crate::RUST_VERSION,
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": crate::built(),
    })
}

/// A field of /etc/os-release (`PRETTY_NAME`, `VERSION_ID`).
fn os_release(field: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|v| v.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// `GET /info`.
pub async fn info(api: &Api) -> Result<Response<Body>, ApiError> {
    let v: Value = api.blocking(|engine| Ok(info_document(engine)?)).await?;
    json(StatusCode::OK, &v)
}

/// docker's list: seccomp's default profile, and `userns` when every
/// container gets a user namespace (`userns-remap`).
fn security_options(engine: &berth_engine::Engine) -> Vec<&'static str> {
    let mut options = vec!["name=seccomp,profile=builtin"];
    if engine.userns_remap().is_some() {
        options.push("name=userns");
    }
    options
}

/// What `GET /info` answers for this engine (and `berth info` prints).
pub fn info_document(engine: &berth_engine::Engine) -> Result<Value, berth_engine::Error> {
    let containers = engine.containers()?;
    let count = |s: Status| containers.iter().filter(|c| c.state.status == s).count();
    let images = engine.images(&ImageFilter::default())?.len();
    let driver = engine.driver_name()?;
    let root = engine.root().display().to_string();
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    // A stable ID for this store, as dockerd keeps one per data root.
    let mut h = berth_oci::Hasher::new();
    h.update(root.as_bytes());
    let id = h.finish().hex()[..32].to_string();
    let registries = engine.registry_config();
    let mut insecure = vec!["127.0.0.0/8".to_string()];
    insecure.extend(registries.insecure_registries.iter().cloned());
    let mirrors: Vec<String> = registries
        .registry_mirrors
        .iter()
        .map(|m| format!("{}/", m.trim_end_matches('/')))
        .collect();
    Ok(json!({
        "ID": id,
        "Containers": containers.len(),
        "ContainersRunning": count(Status::Running),
        "ContainersPaused": count(Status::Paused),
        "ContainersStopped": containers.len() - count(Status::Running) - count(Status::Paused),
        "Images": images,
        "Driver": driver,
        "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["host", "null"],
            "Authorization": null,
            "Log": ["json-file", "local"],
        },
        "MemoryLimit": true,
        "SwapLimit": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": false,
        "NFd": 0,
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": berth_engine::rfc3339_now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if berth_engine::runtime::cgroup::unified() { "2" } else { "1" },
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        "OSVersion": os_release("VERSION_ID").unwrap_or_default(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true},
            },
            "InsecureRegistryCIDRs": insecure,
            "Mirrors": mirrors,
        },
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": berth_engine::runtime::cgroup::mem_total(),
        "GenericResources": null,
        "DockerRootDir": root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"berth": {"path": "berth"}, "runc": {"path": "/usr/sbin/runc"}},
        "DefaultRuntime": "berth",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": security_options(engine),
        "Warnings": [],
    }))
}

/// `GET /system/df`: images with their shared and unique sizes, containers,
/// and the (empty) volumes and build cache lists.
pub async fn df(api: &Api) -> Result<Response<Body>, ApiError> {
    let v = api
        .blocking(|engine| {
            let usage = engine.disk_usage()?;
            let containers = engine.containers()?;
            let images: Vec<super::images::Summary> = usage
                .images
                .into_iter()
                .map(|u| {
                    let shared = i64::try_from(u.shared_size).unwrap_or(i64::MAX);
                    let users = i64::try_from(u.containers).unwrap_or(i64::MAX);
                    super::images::Summary::of(u.image, shared, users, false)
                })
                .collect();
            let now = chrono::Utc::now().timestamp();
            let rows = containers
                .iter()
                .map(|c| super::containers::summary(engine, c, now, true))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({
                "LayersSize": usage.layers_size,
                "Images": images,
                "Containers": rows,
                "Volumes": [],
                "BuildCache": [],
            }))
        })
        .await?;
    json(StatusCode::OK, &v)
}

/// `POST /auth`: a real login to the registry, the credentials kept where
/// `berth login` keeps them.
pub async fn auth(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let mut body: super::auth_config::AuthConfig = super::read_json(req, 64 << 10).await?;
    let server = Some(std::mem::take(&mut body.serveraddress)).filter(|s| !s.is_empty());
    let credentials = body
        .credentials()
        .ok_or_else(|| ApiError::bad_request("username and password are required"))?;
    api.blocking(move |engine| Ok(engine.login(server.as_deref(), credentials)?))
        .await?;
    json(
        StatusCode::OK,
        &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    )
}
