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
    /// No credentials, or credentials the server does not accept.
    #[error("Unauthorized")]
    Unauthorized,
    /// RBAC allows the caller nothing of the kind.
    #[error("{message}")]
    Forbidden {
        /// Kubernetes' sentence: `pods is forbidden: User "u" cannot list
        /// resource "pods" in API group "" at the cluster scope`.
        message: String,
        /// The object's name, or empty.
        name: String,
        /// The API group.
        group: String,
        /// The resource (`details.kind` is the plural, as the API server
        /// sends it).
        resource: String,
    },
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
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } => 403,
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
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
        }
    }

    /// The `Status` object. Only a 403 carries `details` (as the API
    /// server's does): with details on a 422 kubectl prints only "The X is
    /// invalid" and the causes, without our message.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        if let ApiError::Forbidden { name, group, resource, .. } = self {
            let mut details = serde_json::Map::new();
            if !name.is_empty() {
                details.insert("name".into(), json!(name));
            }
            if !group.is_empty() {
                details.insert("group".into(), json!(group));
            }
            if !resource.is_empty() {
                details.insert("kind".into(), json!(resource));
            }
            status["details"] = Value::Object(details);
        }
        status
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
