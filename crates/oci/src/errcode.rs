//! The error codes of the OCI distribution spec, as a registry answers them
//! in `{"errors": [{"code": …}]}`: one vocabulary for berth's registry server
//! (which sends them with their HTTP status) and its client (which reads
//! them back into an error kind).

use crate::Kind;

/// An error code of the OCI distribution spec (plus the reference registry's
/// RANGE_INVALID and the generic UNKNOWN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    RangeInvalid,
    Unknown,
}

impl ErrorCode {
    /// The code as the JSON body spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The code a registry's error body names, if it is one of these.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The class of the error the code reports, for the server that sends it
    /// and the client that receives it; its HTTP status is the kind's
    /// ([`Kind::http_status`]), as the spec's table says.
    pub fn kind(self) -> Kind {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => Kind::NotFound,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid => Kind::InvalidArgument,
            ErrorCode::Unauthorized => Kind::Unauthenticated,
            ErrorCode::Denied => Kind::PermissionDenied,
            ErrorCode::Unsupported => Kind::NotAllowed,
            ErrorCode::TooManyRequests => Kind::Throttled,
            ErrorCode::RangeInvalid => Kind::OutOfRange,
            ErrorCode::Unknown => Kind::Internal,
        }
    }
}

const ALL: [ErrorCode; 16] = [
    ErrorCode::BlobUnknown,
    ErrorCode::BlobUploadInvalid,
    ErrorCode::BlobUploadUnknown,
    ErrorCode::DigestInvalid,
    ErrorCode::ManifestBlobUnknown,
    ErrorCode::ManifestInvalid,
    ErrorCode::ManifestUnknown,
    ErrorCode::NameInvalid,
    ErrorCode::NameUnknown,
    ErrorCode::SizeInvalid,
    ErrorCode::Unauthorized,
    ErrorCode::Denied,
    ErrorCode::Unsupported,
    ErrorCode::TooManyRequests,
    ErrorCode::RangeInvalid,
    ErrorCode::Unknown,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_written() {
        for c in ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("TAG_INVALID"), None);
        assert_eq!(ErrorCode::ManifestUnknown.kind().http_status(), 404);
        assert_eq!(ErrorCode::Unsupported.kind().http_status(), 405);
        assert_eq!(ErrorCode::RangeInvalid.kind().http_status(), 416);
        assert_eq!(ErrorCode::ManifestUnknown.kind(), Kind::NotFound);
        assert_eq!(ErrorCode::Denied.kind(), Kind::PermissionDenied);
    }
}
