//! berth's container networking, below the engine: docker's bridge model.
//! Bridges and veths over rtnetlink ([`bridge`], [`netlink`]), subnets and
//! address pools ([`subnet`]), `-p` specs and the host ports held while a
//! container runs ([`ports`]), berth's nftables table ([`firewall`]), the
//! DNS of user-defined networks ([`dns`]) and interface counters ([`counters`]).
//!
//! It knows nothing of the store: the engine keeps networks and addresses in
//! the database and hands this crate what to build.
#![deny(missing_docs)]

pub mod bridge;
pub mod counters;
pub mod dns;
pub mod firewall;
pub mod netlink;
pub mod ports;
pub mod subnet;

use std::path::PathBuf;

/// Errors of the network crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting or spec is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A host port is taken.
    #[error("{0}")]
    PortInUse(String),
    /// The kernel refused a link, address or route (`errno` when it said
    /// why).
    #[error("{message}")]
    Netlink {
        /// What was being done, and the kernel's answer.
        message: String,
        /// The kernel's error number.
        errno: Option<i32>,
    },
    /// nftables refused berth's table.
    #[error("{0}")]
    Firewall(String),
    /// A file under /proc/sys could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> berth_oci::Kind {
        use berth_oci::Kind;
        match self {
            Error::Invalid(_) => Kind::InvalidArgument,
            Error::PortInUse(_) => Kind::Conflict,
            Error::Netlink { .. } | Error::Firewall(_) => Kind::Internal,
            Error::Io { source, .. } | Error::Sys { source, .. } => Kind::of_io(source),
        }
    }

    /// A netlink failure without an error number.
    pub(crate) fn netlink(message: impl Into<String>) -> Error {
        Error::Netlink {
            message: message.into(),
            errno: None,
        }
    }

    /// Whether the kernel answered with this error number.
    pub fn is_errno(&self, errno: i32) -> bool {
        matches!(self, Error::Netlink { errno: Some(e), .. } if *e == errno)
    }

    pub(crate) fn sys(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Sys { what, source }
    }
}
