//! One error type for every handler: a stable code (the core's codes, plus a
//! few HTTP-level ones), the HTTP status that fits, and the JSON body
//! `{"error": {"code", "message", "member"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kwh_btc_iot_core::{Error as CoreError, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body every failing request gets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code, message and member of an error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code (shared with the core and every binding).
    #[schema(example = "duplicate_member")]
    pub code: String,
    /// Human message naming the member and the rule.
    pub message: String,
    /// The member concerned (a path such as `tx.amount_sats`), or null.
    pub member: Option<String>,
    /// `conflicting_reading`: the leaf hash of the reading's stored log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_leaf_hash: Option<String>,
}

/// A handler error.
#[derive(Debug, Clone)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Human message.
    pub message: String,
    /// Member path.
    pub member: Option<String>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// `conflicting_reading`: the stored log's leaf hash.
    pub stored_leaf_hash: Option<String>,
}

/// The gateway's own codes, from the project's one code registry
/// (`kwh_btc_iot_core::error::REGISTRY`, with their HTTP statuses).
pub use kwh_btc_iot_core::error::codes;

impl AppError {
    /// An error with a status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            member: None,
            retry_after: None,
            stored_leaf_hash: None,
        }
    }

    /// Sets the member.
    pub fn member(mut self, member: impl Into<String>) -> Self {
        self.member = Some(member.into());
        self
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    /// 400 for a malformed query or path parameter.
    pub fn bad_parameter(member: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER, message).member(member)
    }

    /// 503/500 for a storage fault; the details go to the log, not the client.
    pub fn storage(e: impl std::fmt::Display) -> Self {
        tracing::error!("storage error: {e}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORAGE_ERROR,
            "the storage is not available; retry later",
        )
    }

    /// The body as a value (for per-item bulk results).
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_string(),
            message: self.message.clone(),
            member: self.member.clone(),
            stored_leaf_hash: self.stored_leaf_hash.clone(),
        }
    }

    /// 409 `conflicting_reading`: a different log of the same reading is
    /// stored (`leaf_hash`, `log_id`).
    pub fn conflicting_reading(stored: &[u8; 32], log_id: i64) -> Self {
        let hex = kwh_btc_iot_core::Hash(*stored).to_hex();
        let mut e = Self::new(
            StatusCode::CONFLICT,
            codes::CONFLICTING_READING,
            format!(
                "ts_start: a different log of this reading (the same site_id, iot_device_id, meter_id and ts_start) \
                 is stored: leaf_hash {hex} (log_id {log_id}); to record a correction, send the corrected log \
                 with ?supersedes={hex}"
            ),
        )
        .member("ts_start");
        e.stored_leaf_hash = Some(hex);
        e
    }
}

/// The HTTP status for a core error code: JSON syntax problems are 400, an
/// input over a size limit 413, a well-formed but invalid log 422, a missing
/// or bad device signature 401.
pub fn status_for(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

impl From<CoreError> for AppError {
    fn from(e: CoreError) -> Self {
        AppError {
            status: status_for(e.code),
            code: e.code.as_str(),
            message: e.message,
            member: e.member,
            retry_after: None,
            stored_leaf_hash: None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            metrics::counter!("kwh_btc_iot_requests_rejected_total", "code" => self.code)
                .increment(1);
        }
        let body = ErrorBody {
            error: self.detail(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110: every 401 names the scheme that would work.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kwh-btc-iot\""),
            );
        }
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, AppError>;
