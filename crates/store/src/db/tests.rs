//! The database's behaviour, table by table.

use std::collections::BTreeMap;

use berth_oci::Digest;

use super::*;

fn rec(n: u8) -> ImageRecord {
    ImageRecord {
        id: Digest::of(&[n]),
        manifest: Digest::of(&[n, n]),
        created: n as i64,
        added: 0,
        size: 10,
        labels: BTreeMap::new(),
    }
}

#[test]
fn the_generation_moves_on_any_connections_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let (ours, theirs) = (Db::open(&path).unwrap(), Db::open(&path).unwrap());
    let start = ours.generation().unwrap();
    assert_eq!(ours.generation().unwrap(), start, "reads move nothing");
    let a = rec(1);
    theirs.put_image(&a, &[], &[]).unwrap();
    let after_theirs = ours.generation().unwrap();
    assert_ne!(after_theirs, start);
    ours.tag("x:1", &a.id).unwrap();
    assert_ne!(ours.generation().unwrap(), after_theirs);
}

#[test]
fn tags_move_and_images_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("berth.db")).unwrap();
    let (a, b) = (rec(1), rec(2));
    let chain = Digest::of(b"layer");
    db.put_image(
        &a,
        std::slice::from_ref(&chain),
        std::slice::from_ref(&a.manifest),
    )
    .unwrap();
    db.put_image(&b, std::slice::from_ref(&chain), &[]).unwrap();
    assert_eq!(
        db.tag("y:1", &Digest::of(b"gone")).unwrap_err().kind(),
        berth_oci::Kind::NotFound
    );
    assert_eq!(db.tag("x:1", &a.id).unwrap(), None);
    assert_eq!(db.tag("x:1", &b.id).unwrap(), Some(a.id.clone()));
    assert_eq!(db.resolve_name("x:1").unwrap(), Some(b.id.clone()));
    let list = db.images().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].tags, vec!["x:1".to_string()]);
    assert_eq!(
        db.ids_with_prefix(&a.id.hex()[..5]).unwrap(),
        vec![a.id.clone()]
    );
    assert_eq!(
        db.remove_image(&b.id, false).unwrap(),
        Removal::Deleted {
            image: b.id.clone(),
            names: vec!["x:1".into()]
        }
    );
    assert_eq!(db.resolve_name("x:1").unwrap(), None);
    assert_eq!(db.referenced_chains().unwrap().len(), 1);
    db.tag("a:1", &a.id).unwrap();
    db.tag("a:2", &a.id).unwrap();
    assert_eq!(
        db.remove_image(&a.id, false).unwrap(),
        Removal::Refused { tags: 2 }
    );
    assert_eq!(
        db.remove_name("a:1").unwrap(),
        Removal::Untagged {
            image: a.id.clone()
        }
    );
    assert!(matches!(
        db.remove_name("a:2").unwrap(),
        Removal::Deleted { .. }
    ));
    assert!(db.referenced_chains().unwrap().is_empty());
    assert!(db.referenced_blobs().unwrap().is_empty());
}

/// The tables every berth wrote before the schema was numbered, as it wrote
/// them (`user_version` 0).
const UNNUMBERED: &str = "
CREATE TABLE images (id TEXT PRIMARY KEY, manifest TEXT NOT NULL, created INTEGER NOT NULL,
    added INTEGER NOT NULL, size INTEGER NOT NULL, labels TEXT NOT NULL);
CREATE TABLE tags (name TEXT PRIMARY KEY, image TEXT NOT NULL);
CREATE INDEX tags_image ON tags(image);
CREATE TABLE repo_digests (name TEXT PRIMARY KEY, image TEXT NOT NULL);
CREATE INDEX repo_digests_image ON repo_digests(image);
CREATE TABLE image_layers (image TEXT NOT NULL, idx INTEGER NOT NULL, chain TEXT NOT NULL,
    PRIMARY KEY (image, idx));
CREATE INDEX image_layers_chain ON image_layers(chain);
CREATE TABLE image_blobs (image TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (image, blob));
CREATE TABLE blob_diff_ids (blob TEXT PRIMARY KEY, diff_id TEXT NOT NULL);
CREATE TABLE layers (chain TEXT PRIMARY KEY, diff_id TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image TEXT NOT NULL,
    created INTEGER NOT NULL, record TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX containers_image ON containers(image);
CREATE TABLE build_cache (key TEXT PRIMARY KEY, created TEXT NOT NULL, blob TEXT,
    diff_id TEXT, size INTEGER, chain TEXT, used INTEGER NOT NULL);
";

fn user_version(path: &std::path::Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_store_is_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    Db::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    // Opening again changes nothing.
    Db::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_store_of_the_unnumbered_schema_opens_and_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let image = rec(7);
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(UNNUMBERED).unwrap();
        old.execute(
            "INSERT INTO images (id, manifest, created, added, size, labels) VALUES (?1, ?2, 7, 0, 10, '{}')",
            [image.id.to_string(), image.manifest.to_string()],
        )
        .unwrap();
        old.execute(
            "INSERT INTO tags (name, image) VALUES ('old:1', ?1)",
            [image.id.to_string()],
        )
        .unwrap();
    }
    assert_eq!(user_version(&path), 0);
    let db = Db::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(db.resolve_name("old:1").unwrap(), Some(image.id.clone()));
    assert_eq!(db.images().unwrap()[0].record, image);
    db.tag("new:1", &image.id).unwrap();
}

#[test]
fn a_newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    Db::open(&path).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 6)
        .unwrap();
    let err = Db::open(&path).err().expect("refused");
    assert_eq!(err.kind(), berth_oci::Kind::FailedPrecondition);
    assert_eq!(
        err.to_string(),
        format!(
            "{}: metadata schema version {} is newer than version {SCHEMA_VERSION}, the newest this berth knows; use a newer berth",
            path.display(),
            SCHEMA_VERSION + 6
        )
    );
    assert_eq!(user_version(&path), SCHEMA_VERSION + 6, "left as it was");
}
