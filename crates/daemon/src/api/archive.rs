//! `/containers/{id}/archive` (`docker cp`): HEAD stats a path, GET
//! streams it as a tar, PUT extracts a tar into a directory. Every path is
//! resolved inside the container's root and a running container is frozen
//! meanwhile, as `berth cp` does (the engine's cp); the tar travels through
//! a scratch directory, extracted with berth's confined applier.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::scratch::Scratch;
use super::stream::{BodyReader, bytes};
use super::{Api, ApiError, Body, Call, empty};

/// The stat header docker's cp reads.
const STAT_HEADER: &str = "x-docker-container-path-stat";

/// Go's `os.FileMode` of a file: permission bits plus the type in the high
/// bits, which docker's cp reads to tell a directory from a file.
fn go_mode(m: &std::fs::Metadata) -> u32 {
    let ft = m.file_type();
    let mut mode = m.mode() & 0o777;
    if m.mode() & 0o4000 != 0 {
        mode |= 1 << 23; // setuid
    }
    if m.mode() & 0o2000 != 0 {
        mode |= 1 << 22; // setgid
    }
    if m.mode() & 0o1000 != 0 {
        mode |= 1 << 20; // sticky
    }
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    }
    mode
}

/// The base64 JSON of docker's `PathStat` for `copied`, named `name`.
fn stat_header(copied: &Path, name: &str) -> Result<HeaderValue, ApiError> {
    let m = std::fs::symlink_metadata(copied)
        .map_err(|e| ApiError::internal(format!("{}: {e}", copied.display())))?;
    let link = if m.file_type().is_symlink() {
        std::fs::read_link(copied)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mtime = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let stat = json!({
        "name": name,
        "size": m.size(),
        "mode": go_mode(&m),
        "mtime": mtime,
        "linkTarget": link,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(stat.to_string());
    HeaderValue::from_str(&encoded).map_err(|_| ApiError::internal("a stat header"))
}

fn path_of(call: &Call) -> Result<String, ApiError> {
    call.query
        .given("path")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

/// Copies the container's `path` into a scratch directory; the copy's path
/// and the name docker shows.
fn fetch(
    engine: &berth_engine::Engine,
    id: &str,
    path: &str,
) -> Result<(Scratch, PathBuf, String), ApiError> {
    let scratch = Scratch::new("cp")?;
    // The trailing component names the entry (`/` is the root itself).
    let name = Path::new(path.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let copied = scratch.0.join("entry");
    engine.copy_from_container(id, path, &copied, false)?;
    Ok((scratch, copied, name))
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let path = path_of(call)?;
    let id = id.to_string();
    let header = api
        .blocking(move |engine| {
            let (_scratch, copied, name) = fetch(engine, &id, &path)?;
            stat_header(&copied, &name)
        })
        .await?;
    let mut r = empty(StatusCode::OK);
    r.headers_mut().insert(STAT_HEADER, header);
    Ok(r)
}

/// `GET /containers/{id}/archive?path=`: a tar of the path, its entry named
/// by the path's last component.
pub async fn get(api: &Api, call: &Call, id: &str) -> Result<Response<Body>, ApiError> {
    let path = path_of(call)?;
    let id = id.to_string();
    let (scratch, copied, name) = {
        let path = path.clone();
        api.blocking(move |engine| fetch(engine, &id, &path))
            .await?
    };
    let header = stat_header(&copied, &name)?;
    let mut r = bytes("application/x-tar", move |out| {
        let _keep = scratch;
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let written = if copied.is_dir() {
            tar.append_dir_all(&name, &copied)
        } else {
            tar.append_path_with_name(&copied, &name)
        };
        written
            .and_then(|()| tar.finish())
            .map_err(|e| ApiError::internal(format!("writing the archive: {e}")))
    })
    .await?;
    r.headers_mut().insert(STAT_HEADER, header);
    Ok(r)
}

/// `PUT /containers/{id}/archive?path=DIR&copyUIDGID=`: the tar's entries
/// into the directory `DIR` of the container (owned by the container's root
/// unless `copyUIDGID`).
pub async fn put(
    api: &Api,
    call: &Call,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = path_of(call)?;
    let keep_owners = call.query.flag("copyUIDGID");
    let id = id.to_string();
    let input = BodyReader::new(req.into_body());
    api.blocking(move |engine| {
        // A missing container or directory fails before the upload is read.
        engine.container(&id)?;
        let scratch = Scratch::new("cp")?;
        engine.extract_tar(input, &scratch.0)?;
        let entries = std::fs::read_dir(&scratch.0)
            .map_err(|e| ApiError::internal(format!("{}: {e}", scratch.0.display())))?;
        for e in entries {
            let e = e.map_err(|e| ApiError::internal(e.to_string()))?;
            let dest = format!("{}/", path.trim_end_matches('/'));
            engine.copy_to_container(&id, &dest, &e.path(), keep_owners)?;
        }
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_carry_gos_type_bits() {
        let dir = std::env::temp_dir();
        let m = std::fs::symlink_metadata(&dir).unwrap();
        assert_ne!(go_mode(&m) & (1 << 31), 0);
        let f = dir.join(format!("berth-mode-{}", std::process::id()));
        std::fs::write(&f, "x").unwrap();
        let m = std::fs::symlink_metadata(&f).unwrap();
        assert_eq!(go_mode(&m) & (1 << 31), 0);
        let _ = std::fs::remove_file(f);
    }
}
