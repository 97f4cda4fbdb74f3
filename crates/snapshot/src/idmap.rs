//! User namespaces for ID-mapped mounts: a container whose root is an
//! unprivileged host user sees the image's files as owned by its own root,
//! without a chown copy of any layer.
//!
//! The kernel maps a mount's IDs through a user namespace given as a file
//! descriptor (`mount_setattr(MOUNT_ATTR_IDMAP)`); a user namespace exists
//! only while some process is in it or a descriptor holds it, so
//! [`UserNamespace::new`] forks a child that enters a new one, writes its
//! maps from here, keeps a descriptor and lets the child exit.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use berth_oci::idmap::{IdMap, IdMappings};

/// A user namespace with given maps, held by a descriptor.
#[derive(Debug)]
pub struct UserNamespace {
    fd: OwnedFd,
    mappings: IdMappings,
}

impl UserNamespace {
    /// A new user namespace with these maps.
    pub fn new(mappings: &IdMappings) -> std::io::Result<UserNamespace> {
        let (mut ready_r, ready_w) = std::io::pipe()?;
        // SAFETY: the child calls only async-signal-safe system calls
        // (prctl, unshare, write, pause) and never returns into Rust code
        // that could touch a lock another thread held at the fork. It waits
        // to be killed rather than for a pipe to close: a child forked at the
        // same time by another thread would hold this pipe's other end too.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: see above; the buffer outlives the call.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let ok: u8 = u8::from(libc::unshare(libc::CLONE_NEWUSER) == 0);
                libc::write(ready_w.as_raw_fd(), (&raw const ok).cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        drop(ready_w);
        let reap = || {
            let mut status = 0;
            // SAFETY: kills and waits for the child forked above, by its PID.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
        };
        let mut ok = [0u8];
        let entered = ready_r.read_exact(&mut ok).is_ok() && ok[0] == 1;
        if !entered {
            reap();
            return Err(std::io::Error::other("could not create a user namespace"));
        }
        let result = (|| {
            let proc = format!("/proc/{pid}");
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("{proc}/uid_map"))?
                .write_all(IdMap::proc_lines(&mappings.uids).as_bytes())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("{proc}/gid_map"))?
                .write_all(IdMap::proc_lines(&mappings.gids).as_bytes())?;
            Ok::<_, std::io::Error>(OwnedFd::from(std::fs::File::open(format!(
                "{proc}/ns/user"
            ))?))
        })();
        reap();
        Ok(UserNamespace {
            fd: result?,
            mappings: mappings.clone(),
        })
    }

    /// Its maps.
    pub fn mappings(&self) -> &IdMappings {
        &self.mappings
    }
}

impl AsFd for UserNamespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `struct mount_attr` of `<linux/mount.h>` (libc does not have it).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A detached copy of the mount at `path` (with its submounts if
/// `recursive`) whose IDs are mapped through `ns`.
pub fn idmapped_tree(
    path: &std::path::Path,
    ns: &UserNamespace,
    recursive: bool,
) -> std::io::Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = rustix::mount::open_tree(rustix::fs::CWD, path, flags)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: ns.as_fd().as_raw_fd() as u64,
    };
    let at = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a valid `struct mount_attr` of the size passed, the
    // path is an empty C string, and `tree` is an open mount descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_namespace_has_the_maps_given() {
        let ns = UserNamespace::new(&IdMappings::from_root(300_000, 300_000, 65536)).unwrap();
        // The descriptor is a user namespace: another one than ours.
        let ours = std::fs::metadata("/proc/self/ns/user").unwrap();
        let fd = format!("/proc/self/fd/{}", ns.as_fd().as_raw_fd());
        let theirs = std::fs::metadata(fd).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(ours.ino(), theirs.ino());
    }
}
