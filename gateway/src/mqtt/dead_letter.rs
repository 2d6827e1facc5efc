//! Dead letters: MQTT payloads the gateway rejected, kept raw with the
//! reason, and `GET /api/v1/mqtt/dead-letters` (admin) to read them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiResult, AppError, ErrorBody, ErrorDetail};
use crate::AppState;

/// Payload bytes kept per dead letter; longer payloads are cut (and marked).
pub const MAX_KEPT_BYTES: usize = 64 * 1024;

/// A rejected payload, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    /// SHA-256(topic || 0x00 || payload): a redelivered payload is kept once.
    pub fingerprint: [u8; 32],
    /// When the gateway received it, µs since the epoch.
    pub received_at_us: i64,
    /// Its topic.
    pub topic: String,
    /// Its bytes (the first [`MAX_KEPT_BYTES`]).
    pub payload: Vec<u8>,
    /// Its full length.
    pub payload_bytes: i64,
    /// Error code.
    pub error_code: String,
    /// Error message.
    pub error_message: String,
    /// Error member.
    pub error_member: Option<String>,
}

impl NewDeadLetter {
    /// A dead letter for a payload and its rejection.
    pub fn new(
        topic: &str,
        payload: &[u8],
        error: &ErrorDetail,
        received_at_us: i64,
    ) -> NewDeadLetter {
        let mut h = Sha256::new();
        h.update(topic.as_bytes());
        h.update([0u8]);
        h.update(payload);
        NewDeadLetter {
            fingerprint: h.finalize().into(),
            received_at_us,
            topic: topic.to_string(),
            payload: payload[..payload.len().min(MAX_KEPT_BYTES)].to_vec(),
            payload_bytes: payload.len() as i64,
            error_code: error.code.clone(),
            error_message: error.message.clone(),
            error_member: error.member.clone(),
        }
    }
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Id (ascending in arrival order).
    pub id: i64,
    /// The stored letter.
    pub letter: NewDeadLetter,
}

/// One dead letter in the API.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterEntry {
    /// Id.
    pub id: i64,
    /// When the gateway received the payload.
    pub received_at: String,
    /// The topic it was published to.
    pub topic: String,
    /// The payload as text, when it is UTF-8 (null otherwise).
    pub payload: Option<String>,
    /// The payload's bytes, hex (cut at 65536 bytes).
    pub payload_hex: String,
    /// The payload's full length in bytes.
    pub payload_bytes: i64,
    /// True when the payload was longer than what is kept.
    pub truncated: bool,
    /// Why it was rejected.
    pub error: ErrorDetail,
}

/// A page of dead letters, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    /// Dead letters by ascending id.
    pub dead_letters: Vec<DeadLetterEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of `GET /api/v1/mqtt/dead-letters`.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

/// The OpenAPI part of the MQTT bridge (merged into `/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(list_dead_letters),
    components(schemas(DeadLetterEntry, DeadLetterPage))
)]
pub struct MqttApiDoc;

fn entry(d: DeadLetter) -> DeadLetterEntry {
    let l = d.letter;
    let t = crate::clock::from_unix_us(l.received_at_us);
    DeadLetterEntry {
        id: d.id,
        received_at: t.to_rfc3339(),
        topic: l.topic,
        truncated: (l.payload.len() as i64) < l.payload_bytes,
        payload_hex: kwh_btc_iot_core::encoding::hex::encode(&l.payload),
        payload: String::from_utf8(l.payload).ok(),
        payload_bytes: l.payload_bytes,
        error: ErrorDetail {
            code: l.error_code,
            message: l.error_message,
            member: l.error_member,
            stored_leaf_hash: None,
        },
    }
}

/// Rejected MQTT payloads, raw, with the reason (admin).
#[utoipa::path(get, path = "/api/v1/mqtt/dead-letters", params(DeadLetterQuery),
    responses((status = 200, body = DeadLetterPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    q: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> ApiResult<Response> {
    p.require_admin()?;
    let q = q
        .map(|q| q.0)
        .map_err(|e| AppError::bad_parameter("query", format!("query: {}", e.body_text())))?;
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(n) => {
            return Err(AppError::bad_parameter(
                "limit",
                format!("limit: must be within 1..=1000, got {n}"),
            ))
        }
    };
    let after = q
        .cursor
        .as_deref()
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                AppError::bad_parameter(
                    "cursor",
                    "cursor: must be a next_cursor value returned by the previous page",
                )
            })
        })
        .transpose()?;
    let rows = st
        .storage
        .list_dead_letters(after, limit)
        .await
        .map_err(AppError::storage)?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let body = DeadLetterPage {
        dead_letters: rows.into_iter().map(entry).collect(),
        next_cursor,
    };
    let mut r = (
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
