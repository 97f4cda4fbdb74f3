//! Error kinds shared by all berth crates, modelled on containerd's errdefs.
//!
//! Every crate keeps its own error enum with exact variants; each answers
//! `fn kind(&self) -> Kind`, so callers branch on the class and never on the message.
//! Each edge (CLI exit code, HTTP status) maps kinds exactly once.

/// The class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to be created exists already.
    AlreadyExists,
    /// The caller's input is malformed.
    InvalidArgument,
    /// The system is not in a state that allows the operation.
    FailedPrecondition,
    /// The operation conflicts with another use (e.g. an image used by others).
    Conflict,
    /// A service or resource is temporarily not reachable.
    Unavailable,
    /// Credentials are missing or wrong.
    Unauthenticated,
    /// The caller may not do this.
    PermissionDenied,
    /// A limit was reached: disk full, size limit, too many files.
    ResourceExhausted,
    /// Data is corrupt or does not match its digest.
    DataLoss,
    /// The operation is not implemented.
    NotImplemented,
    /// The operation was cancelled.
    Canceled,
    /// A bug or an unexpected failure.
    Internal,
    /// A position or range lies outside what exists (a chunk that does not
    /// start where the upload ends).
    OutOfRange,
    /// The other side took too long (a client that stopped sending).
    DeadlineExceeded,
    /// A request or its content is larger than accepted.
    TooLarge,
    /// Too many requests at once; try later.
    Throttled,
    /// The operation exists but this server does not allow it (deletion off).
    NotAllowed,
}

impl Kind {
    /// The HTTP status an API answers with for an error of this kind: the one
    /// table the registry server and the Engine API share.
    pub fn http_status(self) -> u16 {
        match self {
            Kind::InvalidArgument => 400,
            Kind::Unauthenticated => 401,
            Kind::PermissionDenied => 403,
            Kind::NotFound => 404,
            Kind::NotAllowed => 405,
            Kind::DeadlineExceeded => 408,
            // docker answers 409 for a container in the wrong state as for a
            // name in use.
            Kind::AlreadyExists | Kind::Conflict | Kind::FailedPrecondition => 409,
            Kind::TooLarge => 413,
            Kind::OutOfRange => 416,
            Kind::Throttled => 429,
            Kind::Canceled => 499,
            Kind::DataLoss | Kind::Internal => 500,
            Kind::NotImplemented => 501,
            Kind::Unavailable => 503,
            Kind::ResourceExhausted => 507,
        }
    }

    /// The kind that an I/O error belongs to.
    pub fn of_io(err: &std::io::Error) -> Kind {
        use std::io::ErrorKind as E;
        match err.kind() {
            E::NotFound => Kind::NotFound,
            E::AlreadyExists => Kind::AlreadyExists,
            E::PermissionDenied => Kind::PermissionDenied,
            E::StorageFull | E::QuotaExceeded | E::FileTooLarge => Kind::ResourceExhausted,
            E::UnexpectedEof | E::InvalidData => Kind::DataLoss,
            E::InvalidInput => Kind::InvalidArgument,
            E::Interrupted => Kind::Canceled,
            _ => Kind::Internal,
        }
    }
}
