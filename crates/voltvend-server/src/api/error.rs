//! The API's errors: `{code, message, details}` with a stable code and the HTTP status docs/errors.md gives it.
//!
//! The status of every code is read from docs/errors.md itself (compiled in), so the documentation and the
//! behaviour cannot drift apart; a code missing there answers 500 and fails the tests.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use voltvend_ops::OpError;
use voltvend_store::StoreError;

const ERRORS_DOC: &str = include_str!("../../../../docs/errors.md");

/// Every documented code with its status, from docs/errors.md's tables.
pub fn documented() -> &'static HashMap<String, u16> {
    static TABLE: OnceLock<HashMap<String, u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for line in ERRORS_DOC.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if let [_, code, status, ..] = cells.as_slice()
                && let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`'))
                && let Ok(status) = status.parse::<u16>()
            {
                table.insert(code.to_string(), status);
            }
        }
        table
    })
}

/// The status docs/errors.md gives `code` (500 for an undocumented one).
pub fn status_of(code: &str) -> StatusCode {
    documented().get(code).and_then(|s| StatusCode::from_u16(*s).ok()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable (docs/errors.md).
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// More about this error (the field that is wrong, a refused payment's id…); an object, possibly empty.
    pub details: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub details: serde_json::Map<String, Value>,
    /// Seconds to wait before trying again (429, 503).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_string(), message: message.into(), details: serde_json::Map::new(), retry_after_s: None }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        status_of(&self.code)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new("not_found", format!("{what} not found"))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new("bad_request", message)
    }

    /// A body field that is not acceptable, named in `details.field`.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::new(code, message).with("field", field)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new("internal", "internal error; the server log says more")
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code.clone(), message: self.message.clone(), details: self.details.clone() }
    }

    /// The JSON bytes of the body.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        if let OpError::Internal(m) | OpError::Database(m) = &e {
            tracing::error!(error = %m, code = e.code(), "operation failed");
        }
        Self::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(op) => op.into(),
            StoreError::NotFound { what, .. } => Self::not_found(what),
            StoreError::BadQuery(m) => Self::new("bad_query", m),
            StoreError::WriterStopped => {
                let mut err = Self::new("shutting_down", "the server is stopping; retry in a moment");
                err.retry_after_s = Some(5);
                err
            }
            other => {
                // The message of a database failure may name hosts or paths: log it, answer with the code only.
                tracing::error!(error = %other, code = other.code(), "storage failed");
                Self::new(other.code(), "the database failed; the server log says more")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after_s
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// A JSON value for an error body, for saved responses.
pub fn error_json(code: &str, message: &str, details: Value) -> Value {
    json!({ "code": code, "message": message, "details": details })
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_a_status() {
        let table = documented();
        assert!(table.len() > 100, "parsed {} codes from docs/errors.md", table.len());
        assert_eq!(status_of("not_found"), StatusCode::NOT_FOUND);
        assert_eq!(status_of("login_throttled"), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(status_of("no such code"), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
