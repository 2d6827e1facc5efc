//! The HTTP API: the founding document's paths and bodies, made durable,
//! idempotent, authenticated and documented (OpenAPI via utoipa).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use kwh_btc_iot_core::time::Timestamp;
use kwh_btc_iot_core::{ErrorCode, Hash};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Principal;
use crate::batcher::{head_of, signature_of, CachedBatch};
use crate::clock::{self, unix_us};
use crate::error::{codes, ApiResult, AppError, ErrorBody, ErrorDetail};
use crate::ingest;
use crate::storage::{anchor_status, AnchorRow, BatchRow, LogFilter, NewLog, StoredLog};
use crate::AppState;

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` / `ready`.
    pub status: &'static str,
    /// The storage kind (`/ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<&'static str>,
}

/// A plausibility warning (the log was accepted).
#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct WarningBody {
    /// Stable code, e.g. `power_mismatch`.
    pub code: String,
    /// Member.
    pub member: String,
    /// Message.
    pub message: String,
}

fn warnings(w: &[kwh_btc_iot_core::Warning]) -> Vec<WarningBody> {
    w.iter()
        .map(|w| WarningBody {
            code: w.code.to_string(),
            member: w.member.clone(),
            message: w.message.clone(),
        })
        .collect()
}

/// Answer to `POST /api/v1/logs`: 201 when stored, 200 when the same log
/// (same leaf hash) was already stored.
#[derive(Serialize, ToSchema)]
pub struct LogAccepted {
    /// The gateway's id of the log.
    pub log_id: i64,
    /// SHA-256(0x00 || canonical bytes), hex.
    pub leaf_hash: String,
    /// Plausibility warnings.
    pub warnings: Vec<WarningBody>,
}

/// One item of a bulk answer.
#[derive(Serialize, ToSchema)]
pub struct BulkItem {
    /// Position in the request.
    pub index: usize,
    /// 201 stored, 200 already stored, or the 4xx the item would get alone.
    pub status: u16,
    /// The log id (stored items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<i64>,
    /// Leaf hash (stored items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
    /// Warnings (stored items).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<WarningBody>,
    /// Why the item was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Answer to `POST /api/v1/logs/bulk`.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    /// Items newly stored.
    pub created: usize,
    /// Items already stored (same leaf hash).
    pub duplicates: usize,
    /// Items rejected.
    pub rejected: usize,
    /// Rejected items by error code (all of them, listed or not).
    pub rejected_codes: std::collections::BTreeMap<String, usize>,
    /// Rejected items left out of `results` (beyond the first
    /// [`MAX_ERROR_DETAILS`]); an index missing from `results` was rejected.
    pub rejected_omitted: usize,
    /// One result per stored or already stored item and per rejected item up
    /// to the first [`MAX_ERROR_DETAILS`], in request order.
    pub results: Vec<BulkItem>,
}

/// Rejected items of a bulk request listed with their error; the others are
/// only counted (a body of bad lines must not answer megabytes of errors).
pub const MAX_ERROR_DETAILS: usize = 100;

/// A stored log.
#[derive(Serialize, ToSchema)]
pub struct LogEntry {
    /// Id.
    pub log_id: i64,
    /// Leaf hash.
    pub leaf_hash: String,
    /// The normalized log (canonical member order).
    #[schema(value_type = Object)]
    pub log: Box<RawValue>,
    /// When the gateway accepted it.
    pub received_at: String,
    /// Its batch, once flushed.
    pub batch_id: Option<String>,
    /// Its index in the batch.
    pub leaf_index: Option<i64>,
    /// The device's signature (hex), when it signs.
    pub log_signature: Option<String>,
    /// A correction: the leaf hash of the log of the same reading it replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

/// A page of logs.
#[derive(Serialize, ToSchema)]
pub struct LogPage {
    /// Logs by ascending log_id.
    pub logs: Vec<LogEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/logs`.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Site.
    pub site_id: Option<String>,
    /// Device.
    pub iot_device_id: Option<String>,
    /// Meter.
    pub meter_id: Option<String>,
    /// `ts_start >= from` (RFC 3339).
    pub from: Option<String>,
    /// `ts_start < to` (RFC 3339).
    pub to: Option<String>,
    /// In this batch.
    pub batch_id: Option<String>,
    /// Only unbatched (true) or only batched (false) logs.
    pub unbatched: Option<bool>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

/// Options of `POST /api/v1/logs`.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[into_params(parameter_in = Query)]
pub struct PostLogQuery {
    /// A correction: the leaf hash of the reading's stored log that this log
    /// replaces as the reading's current log (both stay stored and batched).
    pub supersedes: Option<String>,
}

/// Paging of `GET /api/v1/batches`.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<i64>,
}

/// Answer to a flush (the founding fields plus the head's hash, seq and signature).
#[derive(Serialize, ToSchema)]
pub struct FlushResult {
    /// Batch id.
    pub batch_id: String,
    /// Number of logs.
    pub log_count: u64,
    /// RFC 9162 root, hex.
    pub merkle_root: String,
    /// `pending` until anchored.
    pub anchor_status: String,
    /// SHA-256(0x02 || JCS(head)), hex.
    pub head_hash: String,
    /// 1, 2, 3, ...
    pub seq: u64,
    /// Ed25519 signature over JCS(head), hex.
    pub signature: Option<String>,
    /// The signing key, hex.
    pub public_key: Option<String>,
    /// Head creation time.
    pub created_at: String,
    /// The previous head's hash.
    pub prev_head_hash: Option<String>,
}

/// A batch in a list.
#[derive(Serialize, ToSchema)]
pub struct BatchSummary {
    /// Batch id.
    pub batch_id: String,
    /// Seq.
    pub seq: i64,
    /// Logs.
    pub log_count: i64,
    /// Root.
    pub merkle_root: String,
    /// Head hash.
    pub head_hash: String,
    /// Creation time.
    pub created_at: String,
    /// `pending` until an anchor covering it is anchored, then `anchored`.
    pub anchor_status: String,
    /// The anchored anchor covering this batch (its own, or the nearest
    /// later batch's), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorInfo>,
}

/// An anchor of a batch head, as stored and tracked by the gateway.
#[derive(Serialize, ToSchema, Debug, Clone)]
pub struct AnchorInfo {
    /// Anchor id.
    pub id: i64,
    /// `opentimestamps` or `bitcoin`.
    #[serde(rename = "type")]
    pub anchor_type: String,
    /// `pending`, `anchored` or `failed`.
    pub status: String,
    /// The batch whose head hash this anchor commits to.
    pub batch_id: String,
    /// Height of the anchoring block (anchored).
    pub height: Option<i64>,
    /// Its hash, display hex (anchored).
    pub block_hash: Option<String>,
    /// The transaction carrying the commitment, display hex.
    pub txid: Option<String>,
    /// Upgrade (or confirmation) attempts so far.
    pub attempts: i64,
    /// Why the last attempt did not complete it.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending).
    pub next_attempt_at: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Set when the anchor is a later batch's that covers this one (its
    /// receipts carry it with the chain of heads): that batch's id.
    pub covered_by: Option<String>,
    /// Which header source (an Esplora-style URL) or Bitcoin Core node
    /// confirmed the block header at its height before the anchor was stored
    /// as anchored; `attached, unchecked (...)` when the attach endpoint
    /// trusted the submitted header (`--anchor-trust-attached-headers`).
    /// Absent for anchors stored before the gateway recorded it.
    pub confirmed_by: Option<String>,
}

/// `POST /api/v1/batches/{batch_id}/anchors`: a Bitcoin transaction anchor.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AttachAnchor {
    /// `bitcoin`.
    #[serde(rename = "type")]
    pub anchor_type: String,
    /// The transaction (hex, with or without witness) with an `OP_RETURN <head hash>` output.
    pub raw_tx: String,
    /// The merkleblock (`bitcoin-cli gettxoutproof`), hex.
    pub merkle_proof: String,
    /// The 80-byte block header, hex (optional: the merkleblock holds it).
    pub header: Option<String>,
    /// The block height (optional when a Bitcoin Core node is configured: looked up).
    pub height: Option<u64>,
}

/// Answer to an attach: the stored anchor and the object receipts carry.
#[derive(Serialize, ToSchema)]
pub struct AttachResult {
    /// The stored anchor.
    pub anchor: AnchorInfo,
    /// The `bitcoin` anchor as receipts of this batch carry it.
    #[schema(value_type = Object)]
    pub receipt_anchor: Box<RawValue>,
}

/// A page of batches, newest first.
#[derive(Serialize, ToSchema)]
pub struct BatchPage {
    /// Batches.
    pub batches: Vec<BatchSummary>,
    /// Next page's cursor.
    pub next_cursor: Option<String>,
}

/// `{"alg": "ed25519", "public_key", "signature"}`.
#[derive(Serialize, ToSchema)]
pub struct SignatureBody {
    /// Always `ed25519`.
    pub alg: &'static str,
    /// Hex.
    pub public_key: String,
    /// Hex.
    pub signature: String,
}

/// A batch: its `embatch-1` head, hash, signature and anchor state.
#[derive(Serialize, ToSchema)]
pub struct BatchDetail {
    /// Batch id.
    pub batch_id: String,
    /// Seq.
    pub seq: i64,
    /// The head exactly as hashed and signed.
    #[schema(value_type = Object)]
    pub head: Box<RawValue>,
    /// Head hash.
    pub head_hash: String,
    /// Signature.
    pub head_signature: Option<SignatureBody>,
    /// `pending` until an anchor covering it is anchored, then `anchored`.
    pub anchor_status: String,
    /// The batch's own anchors, then the anchored anchor of a later batch
    /// that covers it (`covered_by`), if any.
    pub anchors: Vec<AnchorInfo>,
}

/// Versions of the formats this gateway writes.
#[derive(Serialize, ToSchema)]
pub struct SchemaVersions {
    /// `emlog-1.1`.
    pub log: &'static str,
    /// `embatch-1`.
    pub batch_head: &'static str,
    /// `emreceipt-1`.
    pub receipt: &'static str,
}

/// `GET /api/v1/gateway`.
#[derive(Serialize, ToSchema)]
pub struct GatewayInfo {
    /// Gateway id in batch heads.
    pub gateway_id: String,
    /// Ed25519 public key (hex) signing batch heads.
    pub public_key: String,
    /// `ed25519`.
    pub signature_alg: &'static str,
    /// Format versions.
    pub schema_versions: SchemaVersions,
    /// `sqlite` or `postgres`.
    pub storage: &'static str,
    /// Software version.
    pub version: &'static str,
    /// Whether API keys are required.
    pub auth_required: bool,
    /// The Bitcoin network whose proof-of-work rules every anchor of this
    /// gateway is verified under (`--anchor-network`): verifiers of its
    /// receipts default to it.
    #[schema(example = "mainnet")]
    pub anchor_network: &'static str,
    /// The OpenTimestamps calendars the gateway submits batch heads to
    /// (empty when the OpenTimestamps worker is off).
    pub ots_calendars: Vec<String>,
    /// Whether node mode is on (the gateway anchors heads through its own
    /// Bitcoin Core node's wallet).
    pub bitcoind_node_mode: bool,
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "kwh-btc-iot gateway", description = "Energy logs (emlog-1.1) in, Merkle batches with signed heads (embatch-1) and offline-verifiable receipts (emreceipt-1) out. Errors are {\"error\":{\"code\",\"message\",\"member\"}} with the shared codes."),
    paths(health, ready, post_log, post_bulk, list_logs, get_log, log_receipt, receipt_by_leaf, flush, list_batches, get_batch, attach_anchor, gateway_info, metrics_text),
    components(schemas(ErrorBody, ErrorDetail, Health, WarningBody, LogAccepted, BulkItem, BulkResult, LogEntry, LogPage, FlushResult, BatchSummary, BatchPage, BatchDetail, SignatureBody, GatewayInfo, SchemaVersions, AnchorInfo, AttachAnchor, AttachResult)),
    modifiers(&SecurityAddon),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

struct SecurityAddon;
impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn raw_json_response(text: String) -> Response {
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[derive(PartialEq)]
enum BodyKind {
    Json,
    Ndjson,
}

fn body_kind(headers: &HeaderMap, allow_ndjson: bool) -> Result<BodyKind, AppError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let charset_ok = ct.split(';').skip(1).all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || p == "charset=utf-8" || p == "charset=\"utf-8\""
    });
    match mime.as_str() {
        "application/json" if charset_ok => Ok(BodyKind::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/jsonlines" if allow_ndjson && charset_ok => Ok(BodyKind::Ndjson),
        _ => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            if allow_ndjson {
                format!("Content-Type must be application/json (a JSON array) or application/x-ndjson (UTF-8), got {ct:?}")
            } else {
                format!("Content-Type must be application/json (UTF-8), got {ct:?}")
            },
        )
        .member("Content-Type")),
    }
}

fn too_large(limit: usize) -> AppError {
    AppError::from(kwh_btc_iot_core::Error::new(
        ErrorCode::TooLarge,
        format!("the request body is larger than the {limit} byte limit"),
    ))
    .member("body")
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, AppError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large(limit));
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if crate::server::is_body_timeout(&e) {
            AppError::new(
                StatusCode::REQUEST_TIMEOUT,
                codes::REQUEST_TIMEOUT,
                format!("body: {}", e),
            )
            .member("body")
        } else {
            too_large(limit)
        }
    })
}

/// Liveness.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)), security(()))]
pub async fn health() -> Response {
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            storage: None,
        },
    )
}

/// Readiness: the storage answers.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Health), (status = 503, body = ErrorBody)), security(()))]
pub async fn ready(State(st): State<AppState>) -> ApiResult<Response> {
    st.storage.ping().await.map_err(AppError::storage)?;
    Ok(json_response(
        StatusCode::OK,
        &Health {
            status: "ready",
            storage: Some(st.storage.kind()),
        },
    ))
}

/// Ingest one log (emlog-1.1). The same log again answers 200 with the same
/// log_id and stores nothing; a different log of a stored reading (the same
/// site, device, meter and `ts_start`) is refused with 409
/// `conflicting_reading` unless it names the log it corrects
/// (`?supersedes=<leaf hash>`). Devices with a configured Ed25519 key must
/// send `X-Log-Signature` (hex) over the log's canonical bytes.
#[utoipa::path(post, path = "/api/v1/logs", request_body(content = Object, content_type = "application/json"),
    params(PostLogQuery, ("X-Log-Signature" = Option<String>, Header, description = "Ed25519 signature (128 hex) over the canonical bytes")),
    responses((status = 201, body = LogAccepted), (status = 200, body = LogAccepted, description = "already stored"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "conflicting_reading: a different log of this reading is stored"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn post_log(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<PostLogQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<Response> {
    p.require_any()?;
    let q = query(q)?;
    body_kind(&headers, false)?;
    let bytes = read_body(&headers, body, st.cfg.max_body_bytes).await?;
    let sig = headers
        .get("x-log-signature")
        .map(|v| v.to_str().unwrap_or("-"));
    let mut prepared = ingest::prepare(&bytes, &p, &st.cfg.auth, sig, clock::now_us())?;
    if let Some(old) = &q.supersedes {
        prepared.log.supersedes = Some(superseded(&st, old, &prepared.log).await?);
    }
    let leaf_hash = Hash(prepared.log.leaf_hash).to_hex();
    let r = st.ingestor.submit(vec![prepared.log]).await?[0];
    if let Some(stored) = r.conflict {
        return Err(AppError::conflicting_reading(&stored, r.log_id));
    }
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &LogAccepted {
            log_id: r.log_id,
            leaf_hash,
            warnings: warnings(&prepared.warnings),
        },
    ))
}

/// Checks `?supersedes=`: a stored log of the same reading as `new`.
async fn superseded(st: &AppState, old: &str, new: &NewLog) -> ApiResult<[u8; 32]> {
    let leaf = Hash::from_hex(old, "supersedes")
        .map_err(|e| AppError::bad_parameter("supersedes", e.message))?;
    let stored = st
        .storage
        .log_by_leaf(leaf.0)
        .await
        .map_err(AppError::storage)?
        .ok_or_else(|| {
            AppError::not_found(format!("supersedes: no stored log has leaf hash {old}"))
                .member("supersedes")
        })?;
    if (
        &stored.site_id,
        &stored.iot_device_id,
        &stored.meter_id,
        stored.ts_start_us,
    ) != (
        &new.site_id,
        &new.iot_device_id,
        &new.meter_id,
        new.ts_start_us,
    ) {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidValue.as_str(),
            format!(
                "supersedes: log {old} is of another reading (site_id, iot_device_id, meter_id and ts_start must all be the same as the correction's)"
            ),
        )
        .member("supersedes"));
    }
    if stored.leaf_hash == new.leaf_hash {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidValue.as_str(),
            "supersedes: a log cannot correct itself",
        )
        .member("supersedes"));
    }
    Ok(leaf.0)
}

/// Ingest many logs: a JSON array (`application/json`) or NDJSON
/// (`application/x-ndjson`). Each item is stored or rejected on its own.
#[utoipa::path(post, path = "/api/v1/logs/bulk", request_body(content = Vec<Object>, content_type = "application/json"),
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn post_bulk(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    p.require_any()?;
    let kind = body_kind(&headers, true)?;
    let limit = st.cfg.max_bulk_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    // Bytes in flight over all bulk requests: reserved up front for a
    // declared length, chunk by chunk otherwise; held until the answer is
    // built. Nothing is stored before the whole body is in, so a refusal
    // midway stores nothing.
    let mut budget = Budget::new(&st.bulk_budget);
    if let Some(len) = declared {
        budget.take(len as usize)?;
    }
    let (prepared, total) = match kind {
        BodyKind::Ndjson => {
            let r = bulk_ndjson(&st, &p, body, limit, declared.is_none(), &mut budget).await?;
            let n = r.len();
            (r, n)
        }
        BodyKind::Json => {
            let bytes = read_body(&headers, body, limit).await?;
            if declared.is_none() {
                budget.take(bytes.len())?;
            }
            let max_items = st.cfg.max_bulk_items;
            let cfg = st.cfg.clone();
            tokio::task::spawn_blocking(move || -> Result<_, AppError> {
                let items = ingest::split_json_array(&bytes, 16)?;
                if items.len() > max_items {
                    return Err(too_many_items(max_items));
                }
                let now = clock::now_us();
                let prepared: Vec<Result<ingest::Prepared, AppError>> = items
                    .iter()
                    .map(|item| ingest::prepare(item, &p, &cfg.auth, None, now))
                    .collect();
                let n = prepared.len();
                Ok((prepared, n))
            })
            .await
            .map_err(|e| {
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    e.to_string(),
                )
            })??
        }
    };
    let big = budget.held_kib > 1024;
    let resp = bulk_store(&st, prepared, total).await;
    drop(budget);
    if big {
        give_memory_back();
    }
    resp
}

/// A bulk request's share of [`crate::Inner::bulk_budget`], in KiB.
struct Budget {
    sem: Arc<tokio::sync::Semaphore>,
    held_kib: u32,
}

impl Budget {
    fn new(sem: &Arc<tokio::sync::Semaphore>) -> Budget {
        Budget {
            sem: sem.clone(),
            held_kib: 0,
        }
    }

    /// Takes `bytes` more, or answers 503 `overloaded` with `Retry-After`.
    fn take(&mut self, bytes: usize) -> ApiResult<()> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        match self.sem.try_acquire_many(kib) {
            Ok(permit) => {
                permit.forget();
                self.held_kib += kib;
                Ok(())
            }
            Err(_) => {
                metrics::counter!("kwh_btc_iot_bulk_overloaded_total").increment(1);
                let mut e = AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::OVERLOADED,
                    "body: the gateway is receiving as many bulk bytes as it allows at once (max_bulk_bytes_in_flight); retry after Retry-After seconds",
                )
                .member("body");
                e.retry_after = Some(1);
                Err(e)
            }
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.sem.add_permits(self.held_kib as usize);
    }
}

/// Returns freed heap pages to the system after a big request (glibc keeps
/// them otherwise, and a burst of bulks would hold its peak for good).
fn give_memory_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn too_many_items(max_items: usize) -> AppError {
    AppError::from(kwh_btc_iot_core::Error::new(
        ErrorCode::TooLarge,
        format!("more than the limit of {max_items} logs in one bulk request"),
    ))
    .member("body")
}

/// Reads an NDJSON body as a stream: complete lines are validated on a
/// blocking thread while the next bytes arrive; the body itself is never
/// held whole, only the prepared rows.
async fn bulk_ndjson(
    st: &AppState,
    p: &Principal,
    body: Body,
    limit: usize,
    count_chunks: bool,
    budget: &mut Budget,
) -> ApiResult<Vec<Result<ingest::Prepared, AppError>>> {
    use http_body_util::BodyExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (cfg, p2, max_items) = (st.cfg.clone(), p.clone(), st.cfg.max_bulk_items);
    let worker = tokio::task::spawn_blocking(
        move || -> ApiResult<Vec<Result<ingest::Prepared, AppError>>> {
            let now = clock::now_us();
            let mut out = Vec::new();
            while let Some(buf) = rx.blocking_recv() {
                for line in buf.split(|&b| b == b'\n') {
                    if let Some(record) = kwh_btc_iot_core::json_lines::line_content(line) {
                        if out.len() == max_items {
                            return Err(too_many_items(max_items));
                        }
                        out.push(ingest::prepare(record, &p2, &cfg.auth, None, now));
                    }
                }
            }
            Ok(out)
        },
    );
    let mut body = body;
    let (mut carry, mut received) = (Vec::new(), 0usize);
    let mut read_err = None;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue, // trailers
            },
            Err(e) => {
                read_err = Some(if crate::server::is_body_timeout(&e) {
                    AppError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        codes::REQUEST_TIMEOUT,
                        format!("body: {e}"),
                    )
                    .member("body")
                } else {
                    AppError::bad_parameter("body", format!("body: {e}"))
                });
                break;
            }
        };
        received += chunk.len();
        if received > limit {
            read_err = Some(too_large(limit));
            break;
        }
        if count_chunks {
            if let Err(e) = budget.take(chunk.len()) {
                read_err = Some(e);
                break;
            }
        }
        // Only the new bytes are searched: a long line costs no rescans.
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(end) => {
                let mut lines = std::mem::take(&mut carry);
                lines.extend_from_slice(&chunk[..=end]);
                carry.extend_from_slice(&chunk[end + 1..]);
                if tx.send(lines).await.is_err() {
                    break; // the worker stopped: too many items
                }
            }
            None => carry.extend_from_slice(&chunk),
        }
    }
    if read_err.is_none() && !carry.is_empty() {
        let _ = tx.send(carry).await;
    }
    drop(tx);
    let prepared = worker.await.map_err(|e| {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            e.to_string(),
        )
    })?;
    match read_err {
        Some(e) => Err(e),
        None => prepared,
    }
}

/// Stores the prepared items of a bulk request and builds its answer.
async fn bulk_store(
    st: &AppState,
    prepared: Vec<Result<ingest::Prepared, AppError>>,
    total: usize,
) -> ApiResult<Response> {
    let mut rows = Vec::with_capacity(total);
    let mut results: Vec<BulkItem> = Vec::with_capacity(total);
    let mut rejected = 0;
    let mut rejected_codes = std::collections::BTreeMap::new();
    for (index, r) in prepared.into_iter().enumerate() {
        match r {
            Ok(pr) => {
                results.push(BulkItem {
                    index,
                    status: 0,
                    log_id: None,
                    leaf_hash: Some(Hash(pr.log.leaf_hash).to_hex()),
                    warnings: warnings(&pr.warnings),
                    error: None,
                });
                rows.push(pr.log);
            }
            Err(e) => {
                rejected += 1;
                if e.status.is_client_error() {
                    metrics::counter!("kwh_btc_iot_requests_rejected_total", "code" => e.code)
                        .increment(1);
                }
                *rejected_codes.entry(e.code.to_string()).or_insert(0) += 1;
                if rejected > MAX_ERROR_DETAILS {
                    continue;
                }
                results.push(BulkItem {
                    index,
                    status: e.status.as_u16(),
                    log_id: None,
                    leaf_hash: None,
                    warnings: Vec::new(),
                    error: Some(e.detail()),
                });
            }
        }
    }
    let stored = st.ingestor.submit(rows).await?;
    let (mut created, mut duplicates) = (0, 0);
    let mut it = stored.into_iter();
    for item in results.iter_mut().filter(|i| i.error.is_none()) {
        let r = it
            .next()
            .ok_or_else(|| AppError::storage("fewer results than logs"))?;
        if let Some(stored) = r.conflict {
            let e = AppError::conflicting_reading(&stored, r.log_id);
            metrics::counter!("kwh_btc_iot_requests_rejected_total", "code" => e.code).increment(1);
            *rejected_codes.entry(e.code.to_string()).or_insert(0) += 1;
            rejected += 1;
            item.status = e.status.as_u16();
            item.leaf_hash = None;
            item.warnings = Vec::new();
            item.error = Some(e.detail());
            continue;
        }
        item.log_id = Some(r.log_id);
        item.status = if r.created { 201 } else { 200 };
        if r.created {
            created += 1
        } else {
            duplicates += 1
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &BulkResult {
            created,
            duplicates,
            rejected,
            rejected_codes,
            rejected_omitted: rejected.saturating_sub(MAX_ERROR_DETAILS),
            results,
        },
    ))
}

fn entry(l: StoredLog) -> ApiResult<LogEntry> {
    let log = RawValue::from_string(l.canonical)
        .map_err(|e| AppError::storage(format!("stored log: {e}")))?;
    let t = clock::from_unix_us(l.received_at_us);
    Ok(LogEntry {
        log_id: l.log_id,
        leaf_hash: Hash(l.leaf_hash).to_hex(),
        log,
        received_at: t.to_rfc3339(),
        batch_id: l.batch_id,
        leaf_index: l.leaf_index,
        log_signature: l
            .log_signature
            .map(|s| kwh_btc_iot_core::encoding::hex::encode(&s)),
        supersedes: l.supersedes.map(|h| Hash(h).to_hex()),
    })
}

fn time_param(s: &Option<String>, member: &str) -> ApiResult<Option<i64>> {
    s.as_deref()
        .map(|v| {
            Timestamp::parse(v).map(|t| unix_us(&t)).map_err(|why| {
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidTimestamp.as_str(),
                    format!("{member}: \"{v}\" {why}"),
                )
                .member(member)
            })
        })
        .transpose()
}

fn limit_param(l: Option<i64>) -> ApiResult<i64> {
    match l {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(AppError::bad_parameter(
            "limit",
            format!("limit: must be within 1..=1000, got {n}"),
        )),
    }
}

fn cursor_param(c: &Option<String>) -> ApiResult<Option<i64>> {
    c.as_deref()
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                AppError::bad_parameter(
                    "cursor",
                    "cursor: must be a next_cursor value returned by the previous page",
                )
            })
        })
        .transpose()
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|q| q.0)
        .map_err(|e| AppError::bad_parameter("query", format!("query: {}", e.body_text())))
}

/// List logs with filters and cursor pagination (ascending log_id). A device
/// key sees only its own device's logs.
#[utoipa::path(get, path = "/api/v1/logs", params(LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_logs(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let q = query(q)?;
    let mut f = LogFilter {
        site_id: q.site_id.clone(),
        iot_device_id: q.iot_device_id.clone(),
        meter_id: q.meter_id.clone(),
        from_us: time_param(&q.from, "from")?,
        to_us: time_param(&q.to, "to")?,
        batch_seq: None,
        unbatched: q.unbatched,
        after: cursor_param(&q.cursor)?,
        limit: limit_param(q.limit)?,
    };
    if let Principal::Device(d) = &p {
        match &f.iot_device_id {
            Some(other) => p.require_device(other)?,
            None => f.iot_device_id = Some(d.clone()),
        }
    }
    if let Some(b) = &q.batch_id {
        let row = st
            .storage
            .batch_by_id(b)
            .await
            .map_err(AppError::storage)?
            .ok_or_else(|| {
                AppError::not_found(format!("batch_id: no batch {b:?}")).member("batch_id")
            })?;
        f.batch_seq = Some(row.seq);
    }
    let limit = f.limit;
    let logs = st.storage.list_logs(f).await.map_err(AppError::storage)?;
    let next_cursor = if logs.len() as i64 == limit {
        logs.last().map(|l| l.log_id.to_string())
    } else {
        None
    };
    let logs = logs.into_iter().map(entry).collect::<ApiResult<Vec<_>>>()?;
    Ok(json_response(
        StatusCode::OK,
        &LogPage { logs, next_cursor },
    ))
}

fn log_id_param(p: Result<Path<String>, PathRejection>) -> ApiResult<i64> {
    let s = p
        .map_err(|e| AppError::bad_parameter("log_id", e.body_text()))?
        .0;
    s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        AppError::bad_parameter(
            "log_id",
            format!("log_id: must be a positive integer, got {s:?}"),
        )
    })
}

async fn load_log(st: &AppState, p: &Principal, id: i64) -> ApiResult<StoredLog> {
    let log = st
        .storage
        .log_by_id(id)
        .await
        .map_err(AppError::storage)?
        .ok_or_else(|| AppError::not_found(format!("no log with log_id {id}")))?;
    p.require_device(&log.iot_device_id)?;
    Ok(log)
}

/// One log.
#[utoipa::path(get, path = "/api/v1/logs/{log_id}", params(("log_id" = i64, Path)),
    responses((status = 200, body = LogEntry), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_log(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let log = load_log(&st, &p, log_id_param(id)?).await?;
    Ok(json_response(StatusCode::OK, &entry(log)?))
}

/// The `emreceipt-1` receipt of a log (409 `not_batched` until it is flushed).
#[utoipa::path(get, path = "/api/v1/logs/{log_id}/receipt", params(("log_id" = i64, Path)),
    responses((status = 200, body = Object, description = "emreceipt-1 receipt"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn log_receipt(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let log = load_log(&st, &p, log_id_param(id)?).await?;
    Ok(raw_json_response(st.batcher.receipt(&log).await?))
}

/// The receipt of the log with this leaf hash.
#[utoipa::path(get, path = "/api/v1/receipts/{leaf_hash}", params(("leaf_hash" = String, Path, description = "64 lowercase hex")),
    responses((status = 200, body = Object, description = "emreceipt-1 receipt"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn receipt_by_leaf(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    h: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let s = h
        .map_err(|e| AppError::bad_parameter("leaf_hash", e.body_text()))?
        .0;
    let leaf = Hash::from_hex(&s, "leaf_hash").map_err(|e| {
        let mut a = AppError::from(e);
        a.status = StatusCode::BAD_REQUEST;
        a
    })?;
    let log = st
        .storage
        .log_by_leaf(leaf.0)
        .await
        .map_err(AppError::storage)?
        .ok_or_else(|| AppError::not_found(format!("no log with leaf_hash {s}")))?;
    // Another device's log answers exactly as a log that does not exist:
    // a 403 would tell a device key which leaf hashes are stored.
    p.require_device(&log.iot_device_id)
        .map_err(|_| AppError::not_found(format!("no log with leaf_hash {s}")))?;
    Ok(raw_json_response(st.batcher.receipt(&log).await?))
}

fn flush_result(b: &CachedBatch) -> FlushResult {
    let h = &b.batch.head;
    FlushResult {
        batch_id: h.batch_id.clone(),
        log_count: h.log_count,
        merkle_root: h.merkle_root.to_hex(),
        anchor_status: "pending".into(),
        head_hash: b.batch.head_hash.to_hex(),
        seq: h.seq,
        signature: b
            .batch
            .signature
            .as_ref()
            .map(|s| kwh_btc_iot_core::encoding::hex::encode(&s.signature)),
        public_key: b
            .batch
            .signature
            .as_ref()
            .map(|s| kwh_btc_iot_core::encoding::hex::encode(&s.public_key)),
        created_at: h.created_at.to_rfc3339(),
        prev_head_hash: h.prev_head_hash.map(|p| p.to_hex()),
    }
}

/// Batch every unbatched log (admin). Never makes an empty batch: 409
/// `empty_batch` when nothing waits.
#[utoipa::path(post, path = "/api/v1/batches/flush",
    responses((status = 200, body = FlushResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn flush(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    p.require_admin()?;
    match st.batcher.flush().await? {
        Some(b) => Ok(json_response(StatusCode::OK, &flush_result(&b))),
        None => Err(kwh_btc_iot_core::Error::new(
            ErrorCode::EmptyBatch,
            "there are no unbatched logs to flush",
        )
        .into()),
    }
}

fn summary(r: BatchRow, anchor: Option<AnchorInfo>) -> BatchSummary {
    BatchSummary {
        batch_id: r.batch_id,
        seq: r.seq,
        log_count: r.log_count,
        merkle_root: Hash(r.merkle_root).to_hex(),
        head_hash: Hash(r.head_hash).to_hex(),
        created_at: r.created_at,
        anchor_status: r.anchor_status,
        anchor,
    }
}

fn time_of_us(us: i64) -> String {
    clock::from_unix_us(us).to_rfc3339()
}

/// The API form of a stored anchor; `batch_id` is the anchored batch's.
pub fn anchor_info(a: &AnchorRow, batch_id: String, covered_by: Option<String>) -> AnchorInfo {
    AnchorInfo {
        id: a.id,
        anchor_type: a.kind.clone(),
        status: a.status.clone(),
        batch_id,
        height: a.height,
        block_hash: a.block_hash.clone(),
        txid: a.txid.clone(),
        attempts: a.attempts,
        last_error: a.last_error.clone(),
        next_attempt_at: (a.status == anchor_status::PENDING)
            .then(|| time_of_us(a.next_attempt_us)),
        created_at: time_of_us(a.created_us),
        updated_at: time_of_us(a.updated_us),
        covered_by,
        confirmed_by: a.confirmed_by.clone(),
    }
}

/// The anchors of a batch for the API: its own, then the covering anchored
/// anchors of later batches.
async fn batch_anchors(st: &AppState, row: &BatchRow) -> ApiResult<Vec<AnchorInfo>> {
    let own = st
        .storage
        .anchors_of_batch(row.seq)
        .await
        .map_err(AppError::storage)?;
    let mut out: Vec<AnchorInfo> = own
        .iter()
        .map(|a| anchor_info(a, row.batch_id.clone(), None))
        .collect();
    for a in st
        .storage
        .covering_anchors(row.seq)
        .await
        .map_err(AppError::storage)?
    {
        if a.batch_seq == row.seq {
            continue;
        }
        let id = st
            .storage
            .batch_by_seq(a.batch_seq)
            .await
            .map_err(AppError::storage)?
            .map(|b| b.batch_id)
            .unwrap_or_default();
        out.push(anchor_info(&a, id.clone(), Some(id)));
    }
    Ok(out)
}

/// The anchored anchor covering a batch (the lowest batch seq; its own first).
async fn covering_info(st: &AppState, row: &BatchRow) -> ApiResult<Option<AnchorInfo>> {
    let cov = st
        .storage
        .covering_anchors(row.seq)
        .await
        .map_err(AppError::storage)?;
    let Some(a) = cov.iter().min_by_key(|a| (a.batch_seq, a.id)) else {
        return Ok(None);
    };
    if a.batch_seq == row.seq {
        return Ok(Some(anchor_info(a, row.batch_id.clone(), None)));
    }
    let id = st
        .storage
        .batch_by_seq(a.batch_seq)
        .await
        .map_err(AppError::storage)?
        .map(|b| b.batch_id)
        .unwrap_or_default();
    Ok(Some(anchor_info(a, id.clone(), Some(id))))
}

/// List batches, newest first.
#[utoipa::path(get, path = "/api/v1/batches", params(BatchQuery),
    responses((status = 200, body = BatchPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_batches(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    q: Result<Query<BatchQuery>, QueryRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let q = query(q)?;
    let limit = limit_param(q.limit)?;
    let rows = st
        .storage
        .list_batches(cursor_param(&q.cursor)?, limit)
        .await
        .map_err(AppError::storage)?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    let mut batches = Vec::with_capacity(rows.len());
    for r in rows {
        let a = if r.anchor_status == anchor_status::ANCHORED {
            covering_info(&st, &r).await?
        } else {
            None
        };
        batches.push(summary(r, a));
    }
    Ok(json_response(
        StatusCode::OK,
        &BatchPage {
            batches,
            next_cursor,
        },
    ))
}

/// One batch: head, head hash, signature, anchor status.
#[utoipa::path(get, path = "/api/v1/batches/{batch_id}", params(("batch_id" = String, Path)),
    responses((status = 200, body = BatchDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_batch(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    p.require_any()?;
    let row = batch_of_path(&st, id).await?;
    let head = head_of(&row)?;
    let head_json = RawValue::from_string(kwh_btc_iot_core::jcs::to_string(&head.to_value()))
        .map_err(AppError::storage)?;
    let sig = signature_of(&row).map(|s| SignatureBody {
        alg: "ed25519",
        public_key: kwh_btc_iot_core::encoding::hex::encode(&s.public_key),
        signature: kwh_btc_iot_core::encoding::hex::encode(&s.signature),
    });
    Ok(json_response(
        StatusCode::OK,
        &BatchDetail {
            batch_id: row.batch_id.clone(),
            seq: row.seq,
            head: head_json,
            head_hash: Hash(row.head_hash).to_hex(),
            head_signature: sig,
            anchors: batch_anchors(&st, &row).await?,
            anchor_status: row.anchor_status,
        },
    ))
}

/// The batch named by the `{batch_id}` path parameter (400 when the
/// parameter is unreadable, 404 when there is no such batch).
async fn batch_of_path(
    st: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<crate::storage::BatchRow> {
    let id = id
        .map_err(|e| AppError::bad_parameter("batch_id", e.body_text()))?
        .0;
    st.storage
        .batch_by_id(&id)
        .await
        .map_err(AppError::storage)?
        .ok_or_else(|| AppError::not_found(format!("no batch {id:?}")))
}

fn bad_anchor(member: &str, message: impl Into<String>) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::InvalidAnchor.as_str(),
        format!("{member}: {}", message.into()),
    )
    .member(member)
}

/// What `confirmed_by` says of an anchor attached with
/// `--anchor-trust-attached-headers` and no header source or node.
pub const UNCHECKED_ATTACH: &str = "attached, unchecked (--anchor-trust-attached-headers)";

/// The attach endpoint's check of an anchor's block header (security
/// finding 4): the header source (`--header-source`, else the Bitcoin Core
/// node) must have this very header at `height`; a height beyond its tip is
/// refused. Without a source or node the attach is refused unless
/// `--anchor-trust-attached-headers` is set. Answers who confirmed it.
async fn confirm_attached_header(
    st: &AppState,
    height: u64,
    header: &kwh_btc_iot_core::encoding::bitcoin::BlockHeader,
) -> Result<String, AppError> {
    use crate::anchoring::calendar::HeaderSource;
    let a = &st.cfg.anchor;
    let source = a
        .headers
        .clone()
        .or_else(|| a.ots.as_ref().and_then(|o| o.headers.clone()))
        .or_else(|| a.bitcoind.clone().map(HeaderSource::Bitcoind));
    let Some(source) = source else {
        if a.trust_attached_headers {
            return Ok(UNCHECKED_ATTACH.into());
        }
        return Err(bad_anchor(
            "header",
            "cannot be checked: a header source (--header-source) or a Bitcoin Core node \
             (--bitcoind-url) must be configured to attach anchors \
             (--anchor-trust-attached-headers attaches without the check)",
        ));
    };
    let name = source.describe();
    let client = crate::anchoring::HttpClient::new(std::time::Duration::from_secs(30))
        .with_max_body(crate::anchoring::MAX_RESPONSE_BYTES);
    let theirs = source.header_at(&client, height).await.map_err(|e| {
        bad_anchor(
            "height",
            format!(
                "the header source {name} has no block at height {height} \
                 (heights beyond its tip are refused): {e:#}"
            ),
        )
    })?;
    if theirs.to_bytes() != header.to_bytes() {
        return Err(bad_anchor(
            "header",
            format!(
                "block {} is not the block at height {height} according to the header source \
                 {name} (which has {})",
                header.block_hash_display(),
                theirs.block_hash_display()
            ),
        ));
    }
    Ok(name)
}

/// Attach a Bitcoin transaction anchor to a batch (admin): `{"type":
/// "bitcoin", "raw_tx", "merkle_proof", "header" (optional), "height"
/// (optional when a Bitcoin Core node is configured)}`. The anchor is
/// verified by the core with the gateway's network, and its block header
/// checked at its height against the header source or node (a header other
/// than the source's, or a height beyond its tip, is refused; without either
/// only with `--anchor-trust-attached-headers`), before it is stored
/// (422 `invalid_anchor` naming the member and the failed step); from then
/// on the receipts of this batch, and through the chain of heads those of
/// earlier batches, carry it. The same transaction again answers 200.
#[utoipa::path(post, path = "/api/v1/batches/{batch_id}/anchors", params(("batch_id" = String, Path)),
    request_body(content = AttachAnchor, content_type = "application/json"),
    responses((status = 201, body = AttachResult), (status = 200, body = AttachResult, description = "already attached"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn attach_anchor(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    use kwh_btc_iot_core::json::Value as V;
    use kwh_btc_iot_core::model::anchor::{self, Anchor};
    use kwh_btc_iot_core::verify::{anchor::verify_typed_anchor, AnchorOptions, AnchorStatus};
    p.require_admin()?;
    let row = batch_of_path(&st, id).await?;
    body_kind(&headers, false)?;
    // A transaction is at most 4 MB (8 MB as hex) and a merkleblock far less.
    let bytes = read_body(&headers, body, st.cfg.max_bulk_bytes.min(16 << 20)).await?;
    // The core's I-JSON parser, like every other input: duplicate members,
    // lone surrogates and deep nesting are refused with their codes.
    let mut value = kwh_btc_iot_core::json::parse_with_depth(&bytes, 8)
        .map_err(|e| {
            let mut a = AppError::from(e);
            a.member.get_or_insert_with(|| "body".into());
            a
        })?
        .into_owned();
    let V::Object(members) = &mut value else {
        return Err(bad_anchor("body", "must be a JSON object"));
    };
    for (k, _) in members.iter() {
        if !["type", "raw_tx", "merkle_proof", "header", "height"].contains(&k.as_ref()) {
            return Err(bad_anchor(
                k,
                "is not a member of an anchor to attach (type, raw_tx, merkle_proof, header, height)",
            ));
        }
    }
    match value.get("type") {
        Some(V::String(t)) if t == anchor::TYPE_BITCOIN => {}
        Some(V::String(t)) => {
            return Err(bad_anchor(
                "type",
                format!(
                "must be \"bitcoin\" (OpenTimestamps anchors come from the calendars), got {t:?}"
            ),
            ))
        }
        Some(_) => return Err(bad_anchor("type", "must be the string \"bitcoin\"")),
        None => return Err(bad_anchor("type", "is required: \"bitcoin\"")),
    }
    if value.get("height").is_none() {
        // Without a height, the configured node tells the block's height.
        let Some(node) = &st.cfg.anchor.bitcoind else {
            return Err(bad_anchor(
                "height",
                "is required (no Bitcoin Core node is configured to look it up)",
            ));
        };
        let mb = match value.get("merkle_proof") {
            Some(V::String(s)) => MerkleBlock::from_hex(s.trim()).map_err(|e| {
                bad_anchor(
                    "merkle_proof",
                    format!(
                        "does not parse as a merkleblock (step merkle_proof): {}",
                        e.message
                    ),
                )
            })?,
            _ => return Err(bad_anchor("merkle_proof", "is required (hex)")),
        };
        let hash = mb.header.block_hash_display();
        let h = crate::anchoring::bitcoind::block_height_of(node, &hash)
            .await
            .map_err(|e| {
                bad_anchor(
                    "height",
                    format!(
                        "is absent and the node could not tell the height of block {hash}: {e:#}"
                    ),
                )
            })?;
        let h = u64::try_from(h)
            .map_err(|_| bad_anchor("height", "the node gave a negative height"))?;
        if let V::Object(m) = &mut value {
            m.push((std::borrow::Cow::Borrowed("height"), V::Number(h as f64)));
        }
    }
    let parsed = Anchor::parse(&value, "").map_err(|e| {
        let member = if e.member.is_empty() {
            "body".to_string()
        } else {
            e.member.clone()
        };
        bad_anchor(&member, format!("{} (step {})", e.message, e.step))
    })?;
    let Anchor::Bitcoin(btc) = &parsed else {
        return Err(bad_anchor("type", "must be \"bitcoin\""));
    };
    if btc.height > u64::from(u32::MAX) {
        return Err(bad_anchor(
            "height",
            "must be a block height (an integer >= 0)",
        ));
    }
    let head = head_of(&row)?;
    let opts = AnchorOptions::for_network(st.cfg.anchor.network);
    let result = verify_typed_anchor(&parsed, "", &head, &opts).map_err(|f| {
        let member = if f.member.is_empty() {
            "body".to_string()
        } else {
            f.member.clone()
        };
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidAnchor.as_str(),
            format!(
                "{member}: the anchor does not verify ({} rules) at step {}: {}",
                st.cfg.anchor.network.as_str(),
                f.step,
                f.message
            ),
        )
        .member(member)
    })?;
    if result.status != AnchorStatus::Verified {
        return Err(bad_anchor(
            "body",
            format!(
                "the anchor is {}, not verified: {}",
                result.status.as_str(),
                result.detail
            ),
        ));
    }
    let height = btc.height;
    let mb = &btc.merkle_block;
    let confirmed_by = confirm_attached_header(&st, height, &mb.header).await?;
    let txid = btc.tx.txid_display();
    let stored = parsed.to_json();
    let existing = st
        .storage
        .anchors_of_batch(row.seq)
        .await
        .map_err(AppError::storage)?;
    let (status, a) = match existing.into_iter().find(|a| {
        a.kind == anchor::TYPE_BITCOIN
            && a.status == anchor_status::ANCHORED
            && a.txid.as_deref() == Some(txid.as_str())
    }) {
        Some(a) => (StatusCode::OK, a),
        None => {
            let now = clock::now_us();
            let mut a = AnchorRow {
                batch_seq: row.seq,
                kind: anchor::TYPE_BITCOIN.into(),
                status: anchor_status::ANCHORED.into(),
                data: stored.clone().into_bytes(),
                header: Some(mb.header.to_bytes().to_vec()),
                height: Some(height as i64),
                block_hash: Some(mb.header.block_hash_display()),
                txid: Some(txid),
                next_attempt_us: now,
                created_us: now,
                updated_us: now,
                confirmed_by: Some(confirmed_by),
                ..AnchorRow::default()
            };
            a.id = st
                .storage
                .insert_anchor(a.clone())
                .await
                .map_err(AppError::storage)?;
            st.batcher.invalidate_anchors();
            tracing::info!(batch_id = %row.batch_id, anchor_id = a.id, height, "bitcoin anchor attached");
            (StatusCode::CREATED, a)
        }
    };
    let receipt_anchor = RawValue::from_string(String::from_utf8_lossy(&a.data).into_owned())
        .map_err(AppError::storage)?;
    Ok(json_response(
        status,
        &AttachResult {
            anchor: anchor_info(&a, row.batch_id.clone(), None),
            receipt_anchor,
        },
    ))
}

/// The gateway's identity: id, Ed25519 public key, format versions, and
/// its anchoring (network, calendars, node mode).
#[utoipa::path(get, path = "/api/v1/gateway", responses((status = 200, body = GatewayInfo)), security(()))]
pub async fn gateway_info(State(st): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &GatewayInfo {
            gateway_id: st.gateway_id.clone(),
            public_key: kwh_btc_iot_core::encoding::hex::encode(&st.public_key),
            signature_alg: "ed25519",
            schema_versions: SchemaVersions {
                log: kwh_btc_iot_core::model::emlog::SCHEMA_VERSION,
                batch_head: kwh_btc_iot_core::model::head::HEAD_VERSION,
                receipt: kwh_btc_iot_core::model::receipt::RECEIPT_VERSION,
            },
            storage: st.storage.kind(),
            version: env!("CARGO_PKG_VERSION"),
            auth_required: st.cfg.auth.enabled(),
            anchor_network: st.cfg.anchor.network.as_str(),
            ots_calendars: st
                .cfg
                .anchor
                .ots
                .as_ref()
                .map(|o| o.calendars.clone())
                .unwrap_or_default(),
            bitcoind_node_mode: st.cfg.anchor.bitcoind.is_some(),
        },
    )
}

/// Prometheus metrics (admin when keys are configured).
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain"), (status = 401, body = ErrorBody)))]
pub async fn metrics_text(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    p.require_admin()?;
    let mut r = st.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(r)
}

/// 404 for unknown paths.
pub async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!("no route {}", uri.path()))
}

/// 405 for a known path with the wrong method.
pub async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "this method is not allowed on this path",
    )
}
