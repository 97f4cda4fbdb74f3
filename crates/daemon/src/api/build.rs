//! `POST /build`: the classic API builder (`Builder-Version: 1`). The body is
//! the context as a tar (any compression), extracted confined into a scratch
//! directory; the answer streams the classic builder's messages (`Step 1/3
//! : FROM …`, the RUN output, `{"aux":{"ID"}}`, `Successfully built`), so
//! `docker build` prints what it prints against dockerd's classic builder.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_engine::{BuildOptions, BuildProgress};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;

use super::scratch::Scratch;
use super::stream::{BodyReader, JsonSink, json_messages};
use super::{Api, ApiError, Body, Call};

/// The classic builder's messages from berth's build progress.
struct Classic<'a> {
    sink: &'a JsonSink,
    quiet: bool,
    /// Set when the client went away: the build stops.
    cancel: &'a AtomicBool,
}

impl Classic<'_> {
    fn say(&self, text: &str) {
        if !self.sink.send(&json!({ "stream": text })) {
            self.cancel.store(true, Ordering::SeqCst);
        }
    }
}

/// `[label i/total] INSTRUCTION` → `Step i/total : INSTRUCTION`.
fn step_line(title: &str) -> String {
    match title
        .strip_prefix('[')
        .and_then(|t| t.split_once("] "))
        .map(|(head, rest)| (head.rsplit(' ').next().unwrap_or(head), rest))
    {
        Some((count, rest)) => format!("Step {count} : {rest}\n"),
        None => format!("Step {title}\n"),
    }
}

impl BuildProgress for Classic<'_> {
    fn step(&self, _n: usize, title: &str) {
        if !self.quiet {
            self.say(&step_line(title));
        }
    }

    fn cached(&self, _n: usize) {
        if !self.quiet {
            self.say(" ---> Using cache\n");
        }
    }

    fn output(&self, _n: usize, data: &[u8]) {
        if !self.quiet {
            self.say(&String::from_utf8_lossy(data));
        }
    }

    fn done(&self, _n: usize, _elapsed: Duration) {}

    fn warning(&self, text: &str) {
        self.say(&format!("{text}\n"));
    }
}

/// A JSON object of strings (`buildargs`, `labels`).
fn string_map(call: &Call, name: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = call.query.given(name) else {
        return Ok(Vec::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {name}: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// `POST /build?t=&dockerfile=&buildargs=&labels=&target=&nocache=&pull=&q=&networkmode=`.
pub async fn build(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let mut opts = BuildOptions::default();
    opts.tags = call.query.all("t");
    opts.build_args = string_map(call, "buildargs")?;
    opts.labels = string_map(call, "labels")?;
    opts.target = call.query.given("target").map(str::to_string);
    opts.no_cache = call.query.flag("nocache");
    opts.pull = call.query.flag("pull");
    opts.network = call
        .query
        .get("networkmode")
        .filter(|n| !n.is_empty() && *n != "default")
        .map(str::to_string);
    if call.query.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            "a remote build context is not supported through the API yet: send the context as the body",
        ));
    }
    let dockerfile = call
        .query
        .given("dockerfile")
        .unwrap_or("Dockerfile")
        .to_string();
    let quiet = call.query.flag("q");
    opts.credentials = super::auth_config::registry_config(&req)?;
    let input = BodyReader::new(req.into_body());
    let engine = api.engine.clone();
    json_messages(move |sink| {
        let scratch = unpack_context(&engine, input)?;
        // The Dockerfile is read inside the context, never through a symlink
        // out of it.
        let path = berth_layer::root::resolve(&scratch.0, &dockerfile, true).map_err(|_| {
            ApiError::bad_request(format!("Cannot locate specified Dockerfile: {dockerfile}"))
        })?;
        opts.dockerfile = std::fs::read_to_string(&path).map_err(|_| {
            ApiError::bad_request(format!("Cannot locate specified Dockerfile: {dockerfile}"))
        })?;
        opts.dockerignore = std::fs::read_to_string(scratch.0.join(".dockerignore")).ok();
        opts.context = scratch.0.clone();
        let cancel = AtomicBool::new(false);
        let progress = Classic {
            sink,
            quiet,
            cancel: &cancel,
        };
        let id = engine.build(&opts, &progress, &cancel)?;
        sink.send(&json!({"aux": {"ID": id.to_string()}}));
        if quiet {
            sink.send(&json!({"stream": format!("{id}\n")}));
        } else {
            sink.send(&json!({"stream": format!("Successfully built {}\n", id.short())}));
            for t in &opts.tags {
                sink.send(&json!({"stream": format!("Successfully tagged {t}\n")}));
            }
        }
        Ok(())
    })
    .await
}

/// Contexts up to this size are unpacked in memory.
const IN_MEMORY_CONTEXT: usize = 64 << 20;

/// Unpacks a build context. A small one (what most builds send) goes to a
/// tmpfs: dockerd unpacks every context on disk, and creating and then
/// removing a thousand files there costs a fully cached build seconds of
/// writeback on a slow disk. A larger one, or one that grows past four
/// times its size (a compressed context), goes to disk.
fn unpack_context(
    engine: &berth_engine::Engine,
    mut input: BodyReader,
) -> Result<Scratch, ApiError> {
    use std::io::Read;
    let mut head = Vec::new();
    (&mut input)
        .take(IN_MEMORY_CONTEXT as u64 + 1)
        .read_to_end(&mut head)
        .map_err(|e| ApiError::bad_request(format!("reading the build context: {e}")))?;
    if head.len() <= IN_MEMORY_CONTEXT
        && let Some(scratch) = Scratch::in_memory("build")?
        && engine
            .unpack_context(&head[..], &scratch.0, Some(4 * IN_MEMORY_CONTEXT as u64))
            .is_ok()
    {
        return Ok(scratch);
    }
    // Any failure in memory is tried again on disk, where a context that is
    // truly bad fails with its own error.
    let scratch = Scratch::new("build")?;
    engine.unpack_context(std::io::Cursor::new(head).chain(input), &scratch.0, None)?;
    Ok(scratch)
}

/// `POST /build/prune`: the build cache.
pub async fn prune(api: &Api) -> Result<Response<Body>, ApiError> {
    let (_, bytes) = api
        .blocking(|engine| Ok(engine.prune_build_cache()?))
        .await?;
    super::json(
        hyper::StatusCode::OK,
        &json!({"CachesDeleted": null, "SpaceReclaimed": bytes}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_like_the_classic_builder() {
        assert_eq!(step_line("[1/3] FROM busybox"), "Step 1/3 : FROM busybox\n");
        assert_eq!(
            step_line("[build 2/4] RUN echo hi"),
            "Step 2/4 : RUN echo hi\n"
        );
    }
}
