//! The distribution spec's endpoints and error codes, one test per endpoint
//! group, each against a fresh `berth registry serve` on the filesystem and on
//! a real S3 server (s3s-fs). Auth, crashes and bounds are in registry_server.rs.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::fixtures::noise;
use crate::registry_server::{
    DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, S3Server, Served, client, code_of, config_blob,
    expect_error, header, json_at, manifest_of, push_blob, push_image, put_manifest, send, sha,
    start_upload, status_of,
};
use crate::require_tool;

/// One test per group and backend: `conformance::filesystem::blobs`, ...
macro_rules! groups {
    ($($group:ident),* $(,)?) => {
        mod filesystem {
            $(
                #[test]
                fn $group() {
                    let reg = super::Served::start(&[]);
                    super::$group(&format!("http://{}", reg.addr));
                }
            )*
        }

        mod s3 {
            $(
                #[test]
                fn $group() {
                    if !super::require_tool("s3s-fs") {
                        return;
                    }
                    let s3 = super::S3Server::start();
                    let reg = super::Served::start_s3(&s3, &s3.bucket("registry"), &[]);
                    super::$group(&format!("http://{}", reg.addr));
                }
            )*
        }
    };
}

groups!(
    base,
    blobs,
    chunked_upload,
    failed_and_cancelled_uploads,
    cross_repository_mount,
    manifests,
    manifest_validation,
    index,
    referrers,
    tags_and_catalog,
    search,
    unknown_and_invalid,
    deletion,
    metrics,
);

/// An image `conf/a:v1` of one 100 kB layer; returns the layer and the
/// manifest's digest.
fn seed(c: &Client, base: &str) -> (Vec<u8>, String) {
    let layer = noise(100_000);
    let md = push_image(c, base, "conf/a", "v1", &layer);
    (layer, md)
}

/// A signature-like artifact whose subject is the manifest `md` of `size`
/// bytes.
fn artifact_of(md: &str, size: usize) -> Vec<u8> {
    let empty = b"{}";
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(empty), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(empty), "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": size},
        "annotations": {"org.example": "yes"}
    }))
    .expect("json")
}

/// Pushes [`artifact_of`] and its empty blob to `conf/a`; returns its bytes.
fn push_artifact(c: &Client, base: &str, md: &str, size: usize) -> Vec<u8> {
    push_blob(c, base, "conf/a", b"{}");
    let artifact = artifact_of(md, size);
    let resp = put_manifest(c, base, "conf/a", &sha(&artifact), OCI_MANIFEST, &artifact);
    assert_eq!(resp.status(), 201);
    assert_eq!(header(&resp, "oci-subject"), md);
    artifact
}

/// `GET /v2/` and its version header.
fn base(base: &str) {
    let c = client();
    // base
    let resp = c.get(format!("{base}/v2/")).send().expect("base");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "docker-distribution-api-version"),
        "registry/2.0"
    );
}

/// A monolithic upload, HEAD and GET, ranges (and 416), and a blob visible only where it was pushed.
fn blobs(base: &str) {
    let c = client();
    // monolithic upload, HEAD/GET/Range
    let layer = noise(100_000);
    let d = push_blob(&c, base, "conf/a", &layer);
    let resp = c
        .head(format!("{base}/v2/conf/a/blobs/{d}"))
        .send()
        .expect("head");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-length"), "100000");
    assert_eq!(header(&resp, "docker-content-digest"), d);
    let got = c
        .get(format!("{base}/v2/conf/a/blobs/{d}"))
        .send()
        .expect("get");
    assert_eq!(got.bytes().expect("body").as_ref(), &layer[..]);
    let part = c
        .get(format!("{base}/v2/conf/a/blobs/{d}"))
        .header("range", "bytes=10-19")
        .send()
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), "bytes 10-19/100000");
    assert_eq!(part.bytes().expect("body").as_ref(), &layer[10..20]);
    let bad_range = c
        .get(format!("{base}/v2/conf/a/blobs/{d}"))
        .header("range", "bytes=200000-")
        .send()
        .expect("range");
    assert_eq!(bad_range.status(), 416);
    // a blob is visible only in the repositories it was pushed or mounted to
    expect_error(
        send(c.get(format!("{base}/v2/conf/other/blobs/{d}"))),
        404,
        "BLOB_UNKNOWN",
    );
}

/// Chunked uploads: POST, PATCH in order and out of order, status, PUT; the session ends with it.
fn chunked_upload(base: &str) {
    let c = client();
    // chunked upload: POST, PATCH in order, out of order (416), status, PUT
    let data = noise(3000);
    let resp = c
        .post(format!("{base}/v2/conf/a/blobs/uploads/"))
        .send()
        .expect("post");
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "range"), "0-0");
    let location = header(&resp, "location");
    assert!(
        location.starts_with("/v2/conf/a/blobs/uploads/"),
        "{location}"
    );
    let upload = format!("{base}{location}");
    let resp = c
        .patch(&upload)
        .header("content-range", "0-999")
        .header("content-type", "application/octet-stream")
        .body(data[..1000].to_vec())
        .send()
        .expect("patch");
    assert_eq!(resp.status(), 202);
    assert_eq!(header(&resp, "range"), "0-999");
    let resp = c
        .patch(&upload)
        .header("content-range", "2000-2999")
        .body(data[2000..].to_vec())
        .send()
        .expect("patch");
    expect_error(resp, 416, "BLOB_UPLOAD_INVALID");
    let resp = c.get(&upload).send().expect("status");
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "range"), "0-999");
    let resp = c
        .patch(&upload)
        .header("content-range", "1000-1999")
        .body(data[1000..2000].to_vec())
        .send()
        .expect("patch");
    assert_eq!(resp.status(), 202);
    let d3 = sha(&data);
    let resp = c
        .put(format!("{upload}?digest={d3}"))
        .body(data[2000..].to_vec())
        .send()
        .expect("put");
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    assert_eq!(header(&resp, "docker-content-digest"), d3);
    let got = c
        .get(format!("{base}/v2/conf/a/blobs/{d3}"))
        .send()
        .expect("get");
    assert_eq!(got.bytes().expect("body").as_ref(), &data[..]);
    // the session is gone once complete
    expect_error(
        c.get(&upload).send().expect("status"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
}

/// A wrong digest leaves nothing visible; a cancelled session is gone; sessions belong to one repository.
fn failed_and_cancelled_uploads(base: &str) {
    let c = client();
    // a wrong digest is refused and nothing becomes visible
    let upload = start_upload(&c, base, "conf/a");
    let wrong = sha(b"something else");
    let resp = c
        .put(format!("{upload}?digest={wrong}"))
        .body(b"hello".to_vec())
        .send()
        .expect("put");
    expect_error(resp, 400, "DIGEST_INVALID");
    expect_error(
        send(c.head(format!("{base}/v2/conf/a/blobs/{wrong}"))),
        404,
        "",
    );
    let resp = c
        .post(format!("{base}/v2/conf/a/blobs/uploads/?digest=sha256:abc"))
        .body(b"x".to_vec())
        .send()
        .expect("post");
    expect_error(resp, 400, "DIGEST_INVALID");
    // cancel
    let upload = start_upload(&c, base, "conf/a");
    assert_eq!(c.delete(&upload).send().expect("cancel").status(), 204);
    expect_error(
        c.get(&upload).send().expect("status"),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // a session of one repository is unknown in another
    let resp = c
        .post(format!("{base}/v2/conf/a/blobs/uploads/"))
        .send()
        .expect("post");
    let id = header(&resp, "location")
        .rsplit('/')
        .next()
        .expect("id")
        .to_string();
    expect_error(
        send(c.get(format!("{base}/v2/conf/b/blobs/uploads/{id}"))),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
}

/// `?mount=&from=`: 201 when the source has the blob, a new session when not.
fn cross_repository_mount(base: &str) {
    let c = client();
    let d = push_blob(&c, base, "conf/a", &noise(100_000));
    // cross-repository mount: 201 when the source has it, a new upload when not
    let resp = c
        .post(format!(
            "{base}/v2/conf/mounted/blobs/uploads/?mount={d}&from=conf/a"
        ))
        .send()
        .expect("mount");
    assert_eq!(resp.status(), 201);
    assert_eq!(
        header(&resp, "location"),
        format!("/v2/conf/mounted/blobs/{d}")
    );
    let resp = c
        .post(format!(
            "{base}/v2/conf/mounted/blobs/uploads/?mount={d}&from=conf/nothing"
        ))
        .send()
        .expect("mount");
    assert_eq!(resp.status(), 202);
}

/// Manifests by tag and by digest, HEAD and GET, content negotiation.
fn manifests(base: &str) {
    let c = client();
    let layer = noise(100_000);
    let data = noise(3000);
    push_blob(&c, base, "conf/a", &data);
    // manifests: PUT by tag, GET/HEAD by tag and digest, negotiation
    let md = push_image(&c, base, "conf/a", "v1", &layer);
    for reference in ["v1", md.as_str()] {
        let resp = c
            .get(format!("{base}/v2/conf/a/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .expect("get manifest");
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&resp, "docker-content-digest"), md);
        let body = resp.bytes().expect("body");
        assert_eq!(sha(&body), md);
        let resp = c
            .head(format!("{base}/v2/conf/a/manifests/{reference}"))
            .send()
            .expect("head manifest");
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "content-length"), body.len().to_string());
    }
    expect_error(
        c.get(format!("{base}/v2/conf/a/manifests/v1"))
            .header("accept", DOCKER_MANIFEST)
            .send()
            .expect("get"),
        404,
        "MANIFEST_UNKNOWN",
    );
    // a manifest pushed by digest
    let config = config_blob();
    let m2 = manifest_of(&config, &[&data]);
    let resp = put_manifest(&c, base, "conf/a", &sha(&m2), OCI_MANIFEST, &m2);
    assert_eq!(resp.status(), 201);
    assert_eq!(
        header(&resp, "location"),
        format!("/v2/conf/a/manifests/{}", sha(&m2))
    );
}

/// Manifests that name missing blobs, are not JSON, lie about their type, digest or sizes, or are too large.
fn manifest_validation(base: &str) {
    let c = client();
    let data = noise(3000);
    let config = config_blob();
    push_blob(&c, base, "conf/a", &config);
    push_blob(&c, base, "conf/a", &data);
    let m2 = manifest_of(&config, &[&data]);
    // manifest validation
    let missing = manifest_of(&config, &[b"never pushed"]);
    expect_error(
        put_manifest(&c, base, "conf/a", "bad", OCI_MANIFEST, &missing),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
    expect_error(
        put_manifest(&c, base, "conf/a", "bad", OCI_MANIFEST, b"{not json"),
        400,
        "MANIFEST_INVALID",
    );
    expect_error(
        put_manifest(&c, base, "conf/a", "bad", DOCKER_MANIFEST, &m2),
        400,
        "MANIFEST_INVALID",
    );
    expect_error(
        put_manifest(&c, base, "conf/a", &sha(b"x"), OCI_MANIFEST, &m2),
        400,
        "DIGEST_INVALID",
    );
    let mut wrong_size: Value = serde_json::from_slice(&m2).expect("json");
    wrong_size["layers"][0]["size"] = json!(1);
    let wrong_size = serde_json::to_vec(&wrong_size).expect("json");
    expect_error(
        put_manifest(&c, base, "conf/a", "bad", OCI_MANIFEST, &wrong_size),
        400,
        "MANIFEST_INVALID",
    );
    let huge = vec![b' '; 5 << 20];
    let (status, code) = code_of(put_manifest(
        &c,
        base,
        "conf/a",
        "huge",
        OCI_MANIFEST,
        &huge,
    ));
    assert_eq!((status.as_u16(), code.as_str()), (413, "MANIFEST_INVALID"));
    // the layers of a manifest must be in its repository
    push_blob(&c, base, "conf/c", &config);
    expect_error(
        put_manifest(&c, base, "conf/c", "v1", OCI_MANIFEST, &m2),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
}

/// Indexes: children must exist; a client that cannot read one gets the host's image.
fn index(base: &str) {
    let c = client();
    let (layer, md) = seed(&c, base);
    let config = config_blob();
    // an index: children must exist
    let index = |children: &[(&str, usize)]| {
        let m: Vec<Value> = children
            .iter()
            .map(|(d, s)| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": s, "platform": {"architecture": "amd64", "os": "linux"}}))
            .collect();
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": m}))
            .expect("json")
    };
    let m1 = manifest_of(&config, &[&layer]);
    let good = index(&[(&md, m1.len())]);
    assert_eq!(
        put_manifest(&c, base, "conf/a", "multi", OCI_INDEX, &good).status(),
        201
    );
    let bad = index(&[(&sha(b"nothing"), 10)]);
    expect_error(
        put_manifest(&c, base, "conf/a", "multi2", OCI_INDEX, &bad),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
    // a client that cannot read indexes gets the host's image from it
    let resp = c
        .get(format!("{base}/v2/conf/a/manifests/multi"))
        .header("accept", OCI_MANIFEST)
        .send()
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "docker-content-digest"), md);
}

/// The referrers API: subjects recorded, `OCI-Subject` answered, the artifactType filter.
fn referrers(base: &str) {
    let c = client();
    let (layer, md) = seed(&c, base);
    let m1 = manifest_of(&config_blob(), &[&layer]);
    let artifact = push_artifact(&c, base, &md, m1.len());
    let resp = c
        .get(format!("{base}/v2/conf/a/referrers/{md}"))
        .send()
        .expect("referrers");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), OCI_INDEX);
    let idx: Value = resp.json().expect("json");
    assert_eq!(idx["manifests"][0]["digest"], sha(&artifact));
    assert_eq!(
        idx["manifests"][0]["artifactType"],
        "application/vnd.example.signature"
    );
    assert_eq!(idx["manifests"][0]["annotations"]["org.example"], "yes");
    let resp = c
        .get(format!(
            "{base}/v2/conf/a/referrers/{md}?artifactType=application/other"
        ))
        .send()
        .expect("referrers");
    assert_eq!(header(&resp, "oci-filters-applied"), "artifactType");
    let idx: Value = resp.json().expect("json");
    assert_eq!(idx["manifests"].as_array().map(Vec::len), Some(0));
    let resp = c
        .get(format!("{base}/v2/conf/a/referrers/{}", sha(b"none")))
        .send()
        .expect("referrers");
    assert_eq!(resp.status(), 200);
    expect_error(
        send(c.get(format!("{base}/v2/conf/a/referrers/sha256:zz"))),
        400,
        "DIGEST_INVALID",
    );
}

/// Tags and the catalog with `n`/`last` pagination and Link headers.
fn tags_and_catalog(base: &str) {
    let c = client();
    let (layer, _) = seed(&c, base);
    let config = config_blob();
    let m1 = manifest_of(&config, &[&layer]);
    // tags and catalog, with n/last pagination and Link headers
    for t in ["t1", "t2", "t3", "t4", "t5"] {
        assert_eq!(
            put_manifest(&c, base, "conf/tags", t, OCI_MANIFEST, &{
                push_blob(&c, base, "conf/tags", &config);
                push_blob(&c, base, "conf/tags", &layer);
                m1.clone()
            })
            .status(),
            201
        );
    }
    let resp = c
        .get(format!("{base}/v2/conf/tags/tags/list?n=2"))
        .send()
        .expect("tags");
    let link = header(&resp, "link");
    assert_eq!(link, "</v2/conf/tags/tags/list?n=2&last=t2>; rel=\"next\"");
    let page: Value = resp.json().expect("json");
    assert_eq!(page, json!({"name": "conf/tags", "tags": ["t1", "t2"]}));
    let resp = c
        .get(format!("{base}/v2/conf/tags/tags/list?n=2&last=t4"))
        .send()
        .expect("tags");
    assert_eq!(header(&resp, "link"), "");
    assert_eq!(resp.json::<Value>().expect("json")["tags"], json!(["t5"]));
    let all: Value = json_at(&c, format!("{base}/v2/_catalog"));
    let repos: Vec<&str> = all["repositories"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        repos.contains(&"conf/a") && repos.contains(&"conf/tags"),
        "{repos:?}"
    );
    let resp = c
        .get(format!("{base}/v2/_catalog?n=1"))
        .send()
        .expect("catalog");
    assert!(
        header(&resp, "link").starts_with("</v2/_catalog?n=1&last="),
        "{}",
        header(&resp, "link")
    );
}

/// `/v1/search` over names and descriptions.
fn search(base: &str) {
    let c = client();
    seed(&c, base);
    push_image(&c, base, "conf/tags", "t1", &noise(1000));
    // search over names and descriptions
    let found: Value = json_at(&c, format!("{base}/v1/search?q=conformance&n=10"));
    let names: Vec<&str> = found["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"conf/a"), "{found}");
    let found: Value = json_at(&c, format!("{base}/v1/search?q=tags"));
    assert_eq!(found["results"][0]["name"], "conf/tags");
}

/// Unknown manifests, blobs and repositories; invalid names and digests; methods not allowed.
fn unknown_and_invalid(base: &str) {
    let c = client();
    let (layer, _) = seed(&c, base);
    let d = sha(&layer);
    // unknown things and invalid names
    expect_error(
        send(c.get(format!("{base}/v2/conf/a/manifests/nope"))),
        404,
        "MANIFEST_UNKNOWN",
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf/a/blobs/{}", sha(b"nope")))),
        404,
        "BLOB_UNKNOWN",
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf/nothing/tags/list"))),
        404,
        "NAME_UNKNOWN",
    );
    expect_error(
        send(c.get(format!("{base}/v2/Conf/A/manifests/v1"))),
        400,
        "NAME_INVALID",
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf//a/manifests/v1"))),
        400,
        "NAME_INVALID",
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf/a/blobs/sha256:xyz"))),
        400,
        "DIGEST_INVALID",
    );
    expect_error(
        send(c.put(format!("{base}/v2/conf/a/blobs/{d}"))),
        405,
        "UNSUPPORTED",
    );
}

/// Deleting a tag, a manifest by digest (its tags and referrers go too), a blob in one repository only.
fn deletion(base: &str) {
    let c = client();
    let (layer, md) = seed(&c, base);
    let d = sha(&layer);
    let m1 = manifest_of(&config_blob(), &[&layer]);
    assert_eq!(
        put_manifest(&c, base, "conf/tags", "t5", OCI_MANIFEST, &{
            push_blob(&c, base, "conf/tags", &config_blob());
            push_blob(&c, base, "conf/tags", &layer);
            m1.clone()
        })
        .status(),
        201
    );
    let artifact = push_artifact(&c, base, &md, m1.len());
    assert_eq!(
        status_of(c.post(format!(
            "{base}/v2/conf/mounted/blobs/uploads/?mount={d}&from=conf/a"
        ))),
        201
    );
    // deletion: a tag, a manifest by digest (its tags go too), a blob
    assert_eq!(
        status_of(c.delete(format!("{base}/v2/conf/tags/manifests/t5"))),
        202
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf/tags/manifests/t5"))),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert_eq!(
        status_of(c.delete(format!("{base}/v2/conf/a/manifests/{}", sha(&artifact)))),
        202
    );
    let idx: Value = json_at(&c, format!("{base}/v2/conf/a/referrers/{md}"));
    assert_eq!(idx["manifests"].as_array().map(Vec::len), Some(0));
    let m1d = sha(&m1);
    assert_eq!(
        status_of(c.delete(format!("{base}/v2/conf/tags/manifests/{m1d}"))),
        202
    );
    let tags: Value = json_at(&c, format!("{base}/v2/conf/tags/tags/list"));
    assert_eq!(tags["tags"], json!([]));
    expect_error(
        send(c.delete(format!("{base}/v2/conf/tags/manifests/{m1d}"))),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert_eq!(
        status_of(c.delete(format!("{base}/v2/conf/mounted/blobs/{d}"))),
        202
    );
    expect_error(
        send(c.get(format!("{base}/v2/conf/mounted/blobs/{d}"))),
        404,
        "BLOB_UNKNOWN",
    );
    // ... and the other repository still has it
    assert_eq!(
        status_of(c.head(format!("{base}/v2/conf/a/blobs/{d}"))),
        200
    );
}

/// Prometheus metrics by route, method and status.
fn metrics(base: &str) {
    let c = client();
    let (layer, _) = seed(&c, base);
    assert_eq!(
        status_of(c.head(format!("{base}/v2/conf/a/blobs/{}", sha(&layer)))),
        200
    );
    // metrics
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        text.contains(
            "berth_registry_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("berth_registry_request_duration_seconds_bucket{route=\"blob\",le=\"+Inf\"}"),
        "{text}"
    );
    assert!(
        text.contains("berth_registry_uploads_in_flight 0"),
        "{text}"
    );
}
