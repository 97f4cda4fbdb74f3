//! Errors as the registry answers them: the distribution spec's code (from
//! `oci`), a message, detail, and the error's kind, whose HTTP status comes
//! from the one table in `oci` ([`Kind::http_status`]).

use berth_oci::Kind;

use crate::storage::StorageError;

pub use berth_oci::errcode::ErrorCode as Code;

/// An error answered to a client: code, message, optional detail.
#[derive(Debug)]
pub struct ApiError {
    /// The spec's code.
    pub code: Code,
    /// A sentence for humans.
    pub message: String,
    /// Machine-readable detail (e.g. the digest that is missing).
    pub detail: Option<serde_json::Value>,
    /// The class of the failure: the code's usual one unless said otherwise.
    pub kind: Kind,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            detail: None,
            kind: code.kind(),
        }
    }

    /// Adds machine-readable detail.
    pub fn detail(mut self, detail: impl serde::Serialize) -> ApiError {
        self.detail = serde_json::to_value(detail).ok();
        self
    }

    /// A failure of another kind than the code's usual one (a chunk out of
    /// range, a manifest too large, a client too slow).
    pub fn with_kind(mut self, kind: Kind) -> ApiError {
        self.kind = kind;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.http_status()
    }

    /// The spec's JSON body.
    pub fn body(&self) -> Vec<u8> {
        let mut e = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(d) = &self.detail {
            e["detail"] = d.clone();
        }
        serde_json::to_vec(&serde_json::json!({ "errors": [e] })).unwrap_or_default()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::Body(io) if io.kind() == std::io::ErrorKind::FileTooLarge => {
                ApiError::new(Code::SizeInvalid, io.to_string()).with_kind(Kind::TooLarge)
            }
            StorageError::Body(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                ApiError::new(Code::BlobUploadInvalid, io.to_string())
                    .with_kind(Kind::DeadlineExceeded)
            }
            StorageError::Body(io) => ApiError::new(
                Code::BlobUploadInvalid,
                format!("reading the request body: {io}"),
            ),
            other => {
                tracing::error!(error = %other, "storage");
                ApiError::new(Code::Unknown, format!("storage: {other}"))
            }
        }
    }
}

/// What the handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
