//! Failures as the Kubernetes API reports them: a `Status` object with a
//! reason and an HTTP code, which kubectl prints (`Error from server
//! (NotFound): ...`) and kube-rs reads into its `ErrorResponse`.

use serde_json::{Value, json};

use super::store::StoreError;

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The object, or the namespace it would live in, does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A create found the name taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// An update was based on an old resourceVersion.
    #[error("{0}")]
    Conflict(String),
    /// The object breaks a rule (for TrafficControls: the validator's
    /// findings, one `tc/NAME: field: rule` per line).
    #[error("{0}")]
    Invalid(String),
    /// A watch asked for history the server no longer has: relist.
    #[error("{0}")]
    Gone(String),
    /// The request itself is malformed (bad selector, bad body, wrong
    /// namespace).
    #[error("{0}")]
    BadRequest(String),
    /// The verb is not served on this path.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The patch type or body encoding is not supported.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than the API server reads.
    #[error("{0}")]
    RequestEntityTooLarge(String),
    /// The storage refused the write (an object larger than etcd stores).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(_) => 409,
            ApiError::Invalid(_) => 422,
            ApiError::Gone(_) => 410,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::Internal(_) => 500,
        }
    }

    /// The `reason` field.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Invalid(_) => "Invalid",
            // What the real API server says for a too-old resourceVersion.
            ApiError::Gone(_) => "Expired",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `Status` object. It carries no `details`: with details kubectl
    /// prints only "The X is invalid" and the causes, without our message.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::NotFound { .. } => ApiError::NotFound(message),
            StoreError::AlreadyExists { .. } => ApiError::AlreadyExists(message),
            StoreError::Conflict { .. } => ApiError::Conflict(format!(
                "Operation cannot be fulfilled: {message}; please apply your changes to the latest version and try again"
            )),
            StoreError::Gone { .. } => ApiError::Gone(message),
            StoreError::Invalid(_) => ApiError::Invalid(message),
            StoreError::TooLarge { .. } => ApiError::Internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_become_statuses_with_reason_and_code() {
        let status =
            ApiError::from(StoreError::NotFound { resource: "pods".into(), name: "web".into() }).to_status();
        assert_eq!(status["reason"], "NotFound");
        assert_eq!(status["code"], 404);
        assert_eq!(status["message"], "pods \"web\" not found");
        let gone = ApiError::from(StoreError::Gone { requested: 3, oldest: 9 });
        assert_eq!((gone.code(), gone.reason()), (410, "Expired"));
    }
}
