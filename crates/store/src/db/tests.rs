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
