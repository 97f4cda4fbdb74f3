//! One behaviour suite for every snapshotter, as containerd's
//! `core/snapshots/testsuite`. Each case runs on a fresh root and keeps it on
//! failure. Use from an implementation's tests:
//!
//! ```ignore
//! berth_snapshot::snapshotter_suite!(|root| berth_snapshot::Overlay::open(root));
//! ```
//!
//! Cases that mount need root; without it they skip, unless `CI=true`, where
//! they fail.

use std::fs;
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_oci::Kind as ErrorKind;

use crate::{Error, Kind, Layout, Snapshotter, mount};

type Outcome = Result<(), String>;

/// Expands to one `#[test]` per case, each opening a snapshotter with `$open`.
#[macro_export]
macro_rules! snapshotter_suite {
    ($open:expr) => {
        $crate::snapshotter_suite!(@cases $open;
            prepare_same_key_twice_is_already_exists,
            prepare_on_unknown_parent_is_not_found,
            commit_of_a_view_fails,
            commit_to_taken_name_is_already_exists,
            commit_before_parent_fails,
            remove_parent_with_children_fails,
            remove_then_cleanup_leaves_no_directories,
            cleanup_removes_orphans_only,
            walk_lists_every_snapshot,
            view_sees_parent_files,
            view_is_read_only,
            whiteout_in_child_hides_lower_file,
            active_writes_do_not_touch_parent,
            commit_keeps_owner_and_mode,
            rebase_attaches_a_layer_made_before_its_parent,
            mount_128_layers
        );
    };
    (@cases $open:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::testsuite::run(stringify!($case), $crate::testsuite::$case, $open);
            }
        )*
    };
}

/// Runs one case on a fresh root; keeps the directory when it fails.
pub fn run<S: Snapshotter, F: Fn(&Path) -> Result<S, Error>>(
    name: &str,
    case: fn(&S, &Path) -> Outcome,
    open: F,
) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-snap-{name}-"))
        .tempdir()
        .expect("temporary directory");
    let root = dir.path().join("root");
    let work = dir.path().join("work");
    fs::create_dir(&work).expect("work dir");
    let snap = open(&root).expect("open snapshotter");
    if let Err(msg) = case(&snap, &work) {
        let kept = dir.keep();
        panic!("{name}: {msg} (directory kept at {})", kept.display());
    }
}

fn need_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("this test mounts filesystems and needs root; CI must run it as root");
    }
    eprintln!("skipped: needs root");
    false
}

fn kind_is(r: Result<impl std::fmt::Debug, Error>, want: ErrorKind) -> Outcome {
    match r {
        Err(e) if e.kind() == want => Ok(()),
        other => Err(format!("expected {want:?}, got {other:?}")),
    }
}

fn ok<T>(r: Result<T, Error>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Makes a committed snapshot `name` on `parent` holding `files`.
fn layer<S: Snapshotter>(
    s: &S,
    name: &str,
    parent: Option<&str>,
    files: &[(&str, &str)],
) -> Outcome {
    let key = format!("extract-{name}");
    ok(s.prepare(&key, parent), "prepare")?;
    let dir = ok(s.apply_dir(&key), "apply_dir")?;
    for (path, data) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            io(fs::create_dir_all(parent), "mkdir")?;
        }
        io(fs::write(&p, data), "write")?;
    }
    ok(s.commit(name, &key), "commit")
}

struct Mounted<'a>(&'a Path);
impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = mount::unmount(self.0);
    }
}

fn mount_at<'a>(mounts: &[crate::Mount], target: &'a Path) -> Result<Mounted<'a>, String> {
    io(fs::create_dir_all(target), "mkdir target")?;
    ok(mount::mount_all(mounts, target), "mount")?;
    Ok(Mounted(target))
}

/// Second prepare of one key.
pub fn prepare_same_key_twice_is_already_exists<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    ok(s.prepare("a", None), "prepare")?;
    kind_is(s.prepare("a", None), ErrorKind::AlreadyExists)
}

/// Prepare on a parent that does not exist.
pub fn prepare_on_unknown_parent_is_not_found<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    kind_is(s.prepare("a", Some("nope")), ErrorKind::NotFound)
}

/// Views cannot be committed.
pub fn commit_of_a_view_fails<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    layer(s, "base", None, &[("a", "1")])?;
    ok(s.view("v", Some("base")), "view")?;
    kind_is(s.commit("x", "v"), ErrorKind::FailedPrecondition)
}

/// Committing onto a name in use.
pub fn commit_to_taken_name_is_already_exists<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    layer(s, "base", None, &[])?;
    ok(s.prepare("k", None), "prepare")?;
    kind_is(s.commit("base", "k"), ErrorKind::AlreadyExists)
}

/// A child cannot be committed before its parent (Diff layouts prepare on actives).
pub fn commit_before_parent_fails<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    ok(s.prepare("p", None), "prepare parent")?;
    match s.layout() {
        Layout::Diff => {
            ok(s.prepare("c", Some("p")), "prepare child")?;
            kind_is(s.commit("cc", "c"), ErrorKind::FailedPrecondition)?;
            ok(s.commit("pp", "p"), "commit parent")?;
            ok(s.commit("cc", "c"), "commit child")?;
            let info = ok(s.stat("cc"), "stat")?;
            (info.parent.as_deref() == Some("pp"))
                .then_some(())
                .ok_or(format!("parent is {:?}", info.parent))
        }
        Layout::Full => kind_is(s.prepare("c", Some("p")), ErrorKind::FailedPrecondition),
    }
}

/// Removing a parent is refused while it has children.
pub fn remove_parent_with_children_fails<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    layer(s, "base", None, &[("a", "1")])?;
    layer(s, "top", Some("base"), &[("b", "2")])?;
    kind_is(s.remove("base"), ErrorKind::FailedPrecondition)?;
    ok(s.remove("top"), "remove top")?;
    ok(s.remove("base"), "remove base")?;
    kind_is(s.stat("base"), ErrorKind::NotFound)
}

/// Removal leaves nothing on disk.
pub fn remove_then_cleanup_leaves_no_directories<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    layer(s, "base", None, &[("a", "1")])?;
    ok(s.remove("base"), "remove")?;
    ok(s.cleanup(), "cleanup")?;
    let root = work.parent().ok_or("no parent")?.join("root");
    let left: Vec<_> = io(fs::read_dir(&root), "read root")?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name())
        .collect();
    left.is_empty()
        .then_some(())
        .ok_or(format!("left behind: {left:?}"))
}

/// Cleanup removes what a kill leaves and nothing else.
pub fn cleanup_removes_orphans_only<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    layer(s, "base", None, &[("a", "1")])?;
    let root = work.parent().ok_or("no parent")?.join("root");
    io(fs::create_dir_all(root.join("tmp-123-0/fs")), "mkdir")?;
    io(fs::create_dir_all(root.join("9999/fs")), "mkdir")?;
    let n = ok(s.cleanup(), "cleanup")?;
    (n == 2)
        .then_some(())
        .ok_or(format!("removed {n}, expected 2"))?;
    ok(s.stat("base"), "stat base")?;
    (!root.join("9999").exists())
        .then_some(())
        .ok_or("orphan kept".to_string())
}

/// Walk visits every snapshot with its parent and kind.
pub fn walk_lists_every_snapshot<S: Snapshotter>(s: &S, _: &Path) -> Outcome {
    layer(s, "base", None, &[])?;
    ok(s.prepare("active", Some("base")), "prepare")?;
    let mut seen = Vec::new();
    ok(
        s.walk(&mut |i| {
            seen.push((i.name.clone(), i.parent.clone(), i.kind));
            Ok(())
        }),
        "walk",
    )?;
    let want = vec![
        ("base".to_string(), None, Kind::Committed),
        ("active".to_string(), Some("base".to_string()), Kind::Active),
    ];
    (seen == want).then_some(()).ok_or(format!("{seen:?}"))
}

/// A view shows the files of all its ancestors.
pub fn view_sees_parent_files<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    layer(s, "l1", None, &[("a", "1"), ("d/x", "x")])?;
    layer(s, "l2", Some("l1"), &[("b", "2"), ("d/y", "y")])?;
    let mounts = ok(s.view("v", Some("l2")), "view")?;
    let again = ok(s.mounts("v"), "mounts")?;
    if again != mounts {
        return Err(format!(
            "mounts() of a view {again:?} differ from view()'s {mounts:?}"
        ));
    }
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    for (p, want) in [("a", "1"), ("b", "2"), ("d/x", "x"), ("d/y", "y")] {
        let got = io(fs::read_to_string(target.join(p)), p)?;
        if got != want {
            return Err(format!("{p}: {got:?} != {want:?}"));
        }
    }
    Ok(())
}

/// A Diff-layout layer extracted with no parent, then given one, shows both;
/// a Full-layout driver refuses, and its snapshot is left as it was.
pub fn rebase_attaches_a_layer_made_before_its_parent<S: Snapshotter>(
    s: &S,
    work: &Path,
) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    ok(s.prepare("early", None), "prepare")?;
    let dir = ok(s.apply_dir("early"), "apply_dir")?;
    io(fs::write(dir.join("top"), "t"), "write")?;
    layer(s, "base", None, &[("bottom", "b")])?;
    if s.layout() == crate::Layout::Full {
        kind_is(
            s.rebase("early", Some("base")),
            ErrorKind::FailedPrecondition,
        )?;
        let info = ok(s.stat("early"), "stat")?;
        return match info.parent {
            None => Ok(()),
            Some(p) => Err(format!("a refused rebase left parent {p}")),
        };
    }
    kind_is(s.rebase("early", Some("nothing")), ErrorKind::NotFound)?;
    ok(s.rebase("early", Some("base")), "rebase")?;
    ok(s.commit("top", "early"), "commit")?;
    kind_is(s.rebase("top", Some("base")), ErrorKind::FailedPrecondition)?;
    let mounts = ok(s.view("v", Some("top")), "view")?;
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    for (p, want) in [("top", "t"), ("bottom", "b")] {
        let got = io(fs::read_to_string(target.join(p)), p)?;
        if got != want {
            return Err(format!("{p}: {got:?} != {want:?}"));
        }
    }
    Ok(())
}

/// Writes to a view fail.
pub fn view_is_read_only<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    layer(s, "l1", None, &[("a", "1")])?;
    layer(s, "l2", Some("l1"), &[("b", "2")])?;
    let mounts = ok(s.view("v", Some("l2")), "view")?;
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    match fs::write(target.join("new"), "x") {
        Err(e) if e.raw_os_error() == Some(30) => Ok(()), // EROFS
        other => Err(format!("write to a view: {other:?}")),
    }
}

/// A deletion recorded in a child hides the parent's file in the union.
pub fn whiteout_in_child_hides_lower_file<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    layer(s, "l1", None, &[("gone", "1"), ("kept", "2")])?;
    ok(s.prepare("k", Some("l1")), "prepare")?;
    let dir = ok(s.apply_dir("k"), "apply_dir")?;
    match s.layout() {
        Layout::Diff => {
            let dev = rustix::fs::makedev(0, 0);
            io(
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    dir.join("gone"),
                    rustix::fs::FileType::CharacterDevice,
                    rustix::fs::Mode::empty(),
                    dev,
                )
                .map_err(Into::into),
                "mknod",
            )?;
        }
        Layout::Full => io(fs::remove_file(dir.join("gone")), "rm")?,
    }
    ok(s.commit("l2", "k"), "commit")?;
    let mounts = ok(s.view("v", Some("l2")), "view")?;
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    if target
        .join("gone")
        .symlink_metadata()
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
    {
        return Err("whiteout device visible".into());
    }
    match fs::metadata(target.join("gone")) {
        Err(e) if e.kind() == IoKind::NotFound => {}
        other => return Err(format!("deleted file still there: {other:?}")),
    }
    io(fs::read(target.join("kept")), "kept file").map(|_| ())
}

/// Writing through an active mount copies up; the parent never changes.
pub fn active_writes_do_not_touch_parent<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    layer(s, "l1", None, &[("f", "original")])?;
    let mounts = ok(s.prepare("c1", Some("l1")), "prepare")?;
    let target = work.join("m");
    {
        let _m = mount_at(&mounts, &target)?;
        io(fs::write(target.join("f"), "changed"), "write")?;
        io(fs::write(target.join("new"), "new"), "write new")?;
    }
    let view = ok(s.view("v", Some("l1")), "view")?;
    let t2 = work.join("v");
    let _m = mount_at(&view, &t2)?;
    let got = io(fs::read_to_string(t2.join("f")), "read")?;
    if got != "original" || t2.join("new").exists() {
        return Err(format!("parent changed: f = {got:?}"));
    }
    Ok(())
}

/// Owner and mode of files survive commit and show through a view.
pub fn commit_keeps_owner_and_mode<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    ok(s.prepare("k", None), "prepare")?;
    let dir = ok(s.apply_dir("k"), "apply_dir")?;
    let f = dir.join("suid");
    io(fs::write(&f, "x"), "write")?;
    io(
        std::os::unix::fs::chown(&f, Some(1000), Some(1001)),
        "chown",
    )?;
    use std::os::unix::fs::PermissionsExt;
    io(
        fs::set_permissions(&f, fs::Permissions::from_mode(0o4755)),
        "chmod",
    )?;
    ok(s.commit("l1", "k"), "commit")?;
    layer(s, "l2", Some("l1"), &[])?;
    let mounts = ok(s.view("v", Some("l2")), "view")?;
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    let m = io(fs::metadata(target.join("suid")), "stat")?;
    if m.uid() != 1000 || m.gid() != 1001 || m.mode() & 0o7777 != 0o4755 {
        return Err(format!(
            "uid {} gid {} mode {:o}",
            m.uid(),
            m.gid(),
            m.mode()
        ));
    }
    Ok(())
}

/// 128 stacked layers mount, and the top sees the bottom's file.
pub fn mount_128_layers<S: Snapshotter>(s: &S, work: &Path) -> Outcome {
    if !need_root() {
        return Ok(());
    }
    let mut parent: Option<String> = None;
    for i in 0..128 {
        let name = format!("sha256:{i:064x}");
        let file = format!("f{i}");
        layer(s, &name, parent.as_deref(), &[(file.as_str(), "x")])?;
        parent = Some(name);
    }
    let mounts = ok(s.view("v", parent.as_deref()), "view")?;
    let target = work.join("m");
    let _m = mount_at(&mounts, &target)?;
    for f in ["f0", "f64", "f127"] {
        io(fs::read(target.join(f)), f)?;
    }
    Ok(())
}
