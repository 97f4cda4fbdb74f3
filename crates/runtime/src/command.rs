//! Finding a container's command before the runtime is asked to run it, the
//! way runc's init does (Go's `exec.LookPath`), so that docker's exit codes
//! come from what was found — 127 for a command that is not there, 126 for
//! one that cannot be executed — and never from a runtime's wording.
//!
//! Paths resolve inside the container's root (`openat2` with
//! `RESOLVE_IN_ROOT`); a path under a bind mount of the spec resolves in the
//! mount's source, one under a tmpfs finds nothing (it starts empty).

use std::path::{Path, PathBuf};

use berth_layer::root::{open_in_root, open_root};
use rustix::fs::{FileType, OFlags};

use crate::spec::{MountSpec, ProcessUser};

/// docker's `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a command cannot run; the words are runc's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A command given as a path names nothing.
    #[error("exec: {command:?}: stat {path}: no such file or directory")]
    Missing {
        /// The command as given.
        command: String,
        /// The path looked up.
        path: String,
    },
    /// A bare command name is in no directory of `PATH`.
    #[error("exec: {command:?}: executable file not found in $PATH")]
    NotInPath {
        /// The command as given.
        command: String,
    },
    /// The command is there but cannot be executed.
    #[error("exec: {command:?}: {reason}")]
    CannotInvoke {
        /// The command as given.
        command: String,
        /// `permission denied` or `is a directory`.
        reason: &'static str,
    },
}

impl CommandError {
    /// docker's exit code: 127 for a command not found, 126 for one that
    /// cannot be invoked.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Missing { .. } | CommandError::NotInPath { .. } => 127,
            CommandError::CannotInvoke { .. } => 126,
        }
    }
}

/// Where a process's command is looked up.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The container's root as the host sees it (a mounted rootfs, or
    /// `/proc/PID/root` of a running container).
    pub root: &'a Path,
    /// The spec's mounts, for paths under them; empty when `root` already
    /// shows them (`/proc/PID/root`).
    pub mounts: &'a [MountSpec],
    /// The process's environment (its `PATH`).
    pub env: &'a [String],
    /// Its working directory, for a relative command path.
    pub cwd: &'a str,
    /// Who runs it.
    pub user: ProcessUser,
    /// Its supplementary groups.
    pub groups: &'a [u32],
}

/// What a lookup found at one path.
enum Found {
    Nothing,
    Directory,
    File { mode: u32, uid: u32, gid: u32 },
}

impl Lookup<'_> {
    /// Checks that `command` (argv\[0\]) names an executable file.
    pub fn check(&self, command: &str) -> Result<(), CommandError> {
        if command.contains('/') {
            let path = if command.starts_with('/') {
                command.to_string()
            } else {
                format!("{}/{command}", self.cwd.trim_end_matches('/'))
            };
            return match self.find(&path) {
                Found::Nothing => Err(CommandError::Missing {
                    command: command.to_string(),
                    path: command.to_string(),
                }),
                found => self.executable(command, found),
            };
        }
        let path = self
            .env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = if dir.starts_with('/') {
                format!("{dir}/{command}")
            } else {
                format!("{}/{dir}/{command}", self.cwd.trim_end_matches('/'))
            };
            let found = self.find(&candidate);
            if matches!(found, Found::File { .. }) && self.executable(command, found).is_ok() {
                return Ok(());
            }
        }
        Err(CommandError::NotInPath {
            command: command.to_string(),
        })
    }

    fn executable(&self, command: &str, found: Found) -> Result<(), CommandError> {
        let denied = |reason| {
            Err(CommandError::CannotInvoke {
                command: command.to_string(),
                reason,
            })
        };
        match found {
            Found::Directory => denied("is a directory"),
            Found::File { .. } if self.may_execute(&found) => Ok(()),
            _ => denied("permission denied"),
        }
    }

    /// Whether the process's user may execute the file (root: any execute bit).
    fn may_execute(&self, found: &Found) -> bool {
        let Found::File { mode, uid, gid } = *found else {
            return false;
        };
        let user = self.user;
        let bits = if user.uid == 0 {
            mode & 0o111
        } else if uid == user.uid {
            mode & 0o100
        } else if gid == user.gid || self.groups.contains(&gid) {
            mode & 0o010
        } else {
            mode & 0o001
        };
        bits != 0
    }

    /// Resolves a container path, final symlink followed, in the mount that
    /// holds it.
    fn find(&self, path: &str) -> Found {
        let Some((root, rel)) = self.mount_of(path) else {
            return Found::Nothing;
        };
        let stat = open_root(&root)
            .and_then(|r| open_in_root(&r, &rel, OFlags::PATH))
            .and_then(|fd| Ok(rustix::fs::fstat(&fd)?));
        match stat {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                Found::Directory
            }
            Ok(st) => Found::File {
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
            },
            Err(_) => Found::Nothing,
        }
    }

    /// The host root that holds `path` and the path inside it: the deepest
    /// mount of the spec whose destination contains it, else the rootfs.
    /// `None` under a tmpfs.
    fn mount_of(&self, path: &str) -> Option<(PathBuf, String)> {
        let best = self
            .mounts
            .iter()
            .filter_map(|m| {
                let dest = m.destination.trim_end_matches('/');
                let rest = path.strip_prefix(dest)?;
                (rest.is_empty() || rest.starts_with('/')).then_some((m, dest.len(), rest))
            })
            .max_by_key(|(_, len, _)| *len);
        match best {
            Some((m, _, rest)) if m.kind == "bind" => {
                let source = Path::new(&m.source);
                if source.is_dir() {
                    Some((source.to_path_buf(), rest.to_string()))
                } else {
                    // A file bound onto the path: look it up in its directory.
                    let name = source.file_name()?.to_string_lossy().into_owned();
                    Some((source.parent()?.to_path_buf(), name))
                }
            }
            Some(_) => None,
            None => Some((self.root.to_path_buf(), path.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn found_missing_and_not_executable() {
        let root = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        file(root.path(), "bin/sh", 0o755);
        file(root.path(), "etc/passwd", 0o644);
        file(root.path(), "home/u/tool", 0o700);
        file(host.path(), "hosttool", 0o755);
        std::os::unix::fs::symlink("/bin/sh", root.path().join("bin/link")).unwrap();
        std::os::unix::fs::symlink("../../../../../bin", root.path().join("up")).unwrap();
        let mounts = [MountSpec {
            destination: "/opt/host".into(),
            kind: "bind".into(),
            source: host.path().display().to_string(),
            options: vec![],
        }];
        let env = ["PATH=/usr/bin:/bin".to_string()];
        let lookup = Lookup {
            root: root.path(),
            mounts: &mounts,
            env: &env,
            cwd: "/home/u",
            user: ProcessUser { uid: 0, gid: 0 },
            groups: &[],
        };
        let code = |c: &str| lookup.check(c).map_err(|e| (e.exit_code(), e.to_string()));
        assert_eq!(code("sh"), Ok(()));
        assert_eq!(code("/bin/link"), Ok(()));
        assert_eq!(code("/up/sh"), Ok(()), "a symlink stays inside the root");
        assert_eq!(code("./tool"), Ok(()));
        assert_eq!(code("/opt/host/hosttool"), Ok(()));
        assert_eq!(
            code("nosuchcmd"),
            Err((
                127,
                r#"exec: "nosuchcmd": executable file not found in $PATH"#.into()
            ))
        );
        assert_eq!(
            code("/nope"),
            Err((
                127,
                r#"exec: "/nope": stat /nope: no such file or directory"#.into()
            ))
        );
        assert_eq!(
            code("/etc/passwd"),
            Err((126, r#"exec: "/etc/passwd": permission denied"#.into()))
        );
        assert_eq!(
            code("/etc"),
            Err((126, r#"exec: "/etc": is a directory"#.into()))
        );
        let other = Lookup {
            user: ProcessUser {
                uid: 1000,
                gid: 1000,
            },
            ..lookup
        };
        assert_eq!(other.check("/bin/sh"), Ok(()));
        assert_eq!(
            other.check("/home/u/tool").map_err(|e| e.exit_code()),
            Err(126)
        );
    }
}
