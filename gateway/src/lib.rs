//! # kwh-btc-iot-gateway
//!
//! The gateway of kwh-btc-iot: meters and site gateways post energy logs
//! (`emlog-1.1`) over HTTP; every accepted log is durable before the answer
//! (group commit), logs are batched into RFC 9162 Merkle trees under signed
//! `embatch-1` heads, and each log gets an `emreceipt-1` receipt that verifies
//! offline. All formats and maths are the core's (`kwh-btc-iot-core`); this
//! crate is HTTP, storage, batching and keys.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kwh_btc_iot_gateway::{app, config::Config, Gateway};
//! let cfg = Config { data_dir: "/tmp/gw".into(), key_file: "/tmp/gw/gateway.key".into(), ..Config::default() };
//! let gw = Gateway::start(cfg).await?;
//! let router = app(gw.state.clone()); // serve with axum::serve, or test with tower::ServiceExt::oneshot
//! # drop(router); gw.shutdown().await; Ok(()) }
//! ```

#![deny(missing_docs)]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub mod anchoring;
pub mod api;
pub mod auth;
pub mod backoff;
pub mod batcher;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod guard;
pub mod http_client;
pub mod ingest;
pub mod keys;
pub mod mqtt;
pub mod server;
pub mod storage;
pub mod tls;
pub mod web;

use batcher::Batcher;
use config::Config;
use ingest::{Ingestor, Pending};
use storage::Storage;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// Configuration.
    pub cfg: Arc<Config>,
    /// Storage.
    pub storage: Arc<dyn Storage>,
    /// Group commit.
    pub ingestor: Ingestor,
    /// Flushes, trees, receipts.
    pub batcher: Arc<Batcher>,
    /// Rate limits.
    pub limiter: auth::RateLimiter,
    /// Failed authentications per client address.
    pub auth_failures: auth::RateLimiter,
    /// Bulk body bytes in flight, in KiB permits (`max_bulk_bytes_in_flight`).
    pub bulk_budget: Arc<tokio::sync::Semaphore>,
    /// Prometheus.
    pub metrics: PrometheusHandle,
    /// Gateway id.
    pub gateway_id: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("kwh_btc_iot_commit_group_logs".into()),
                        &[
                            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
                            16384.0,
                        ],
                    )
                })
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist in a host process; then ours only renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A running gateway: state plus its background tasks.
pub struct Gateway {
    /// Handler state.
    pub state: AppState,
    writer: tokio::task::JoinHandle<()>,
    flusher: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
    /// Anchoring tasks (the OpenTimestamps worker, node mode) and their stops.
    anchoring: Vec<(Arc<tokio::sync::Notify>, tokio::task::JoinHandle<()>)>,
}

impl Gateway {
    /// Opens the storage, loads (or creates) the key, checks the identity
    /// (and, in node mode, the node's chain and credentials) and starts the
    /// writer, auto-flush and anchoring tasks.
    pub async fn start(cfg: Config) -> anyhow::Result<Gateway> {
        let key = keys::load_or_create(&cfg.key_file)?;
        let public_key = key.public_key();
        let gateway_id = cfg.gateway_id.clone().unwrap_or_else(|| {
            format!(
                "gw-{}",
                &kwh_btc_iot_core::encoding::hex::encode(&public_key)[..16]
            )
        });
        let storage: Arc<dyn Storage> = match &cfg.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Arc::new(storage::postgres::PostgresStorage::connect(url).await?)
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                Arc::new(storage::sqlite::SqliteStorage::open(std::path::Path::new(
                    path,
                ))?)
            }
            Some(_) => anyhow::bail!("database_url must start with postgres:// (or sqlite:DIR)"),
            None => Arc::new(storage::sqlite::SqliteStorage::open(&cfg.data_dir)?),
        };
        storage.check_identity(&gateway_id, &public_key).await?;
        if let Some(node) = &cfg.anchor.bitcoind {
            // A node on another chain or refusing the credentials is a
            // configuration error: refuse to start. A node that is down (or
            // does not answer within a few seconds) is not: node mode retries.
            let mut quick = node.clone();
            quick.timeout = quick.timeout.min(std::time::Duration::from_secs(5));
            anchoring::bitcoind::preflight(&quick, cfg.anchor.network)
                .await
                .map_err(|e| anyhow::anyhow!("node mode (--bitcoind-url {}): {e:#}", node.url()))?;
        }
        let pending = Arc::new(Pending::default());
        pending.count.store(
            storage.count_unbatched().await? as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let (ingestor, writer) = Ingestor::start(storage.clone(), pending.clone());
        let batcher = Arc::new(Batcher::new(
            storage.clone(),
            key,
            gateway_id.clone(),
            cfg.max_batch_logs,
            pending.clone(),
        ));
        let stop = Arc::new(tokio::sync::Notify::new());
        let flusher = tokio::spawn(batcher::auto_flush(
            batcher.clone(),
            storage.clone(),
            pending,
            cfg.flush_count,
            cfg.flush_age_s,
            stop.clone(),
        ));
        let mut anchoring = Vec::new();
        if let Some(ots) = cfg.anchor.ots.clone() {
            let stop = Arc::new(tokio::sync::Notify::new());
            let b = batcher.clone();
            let on_change: anchoring::worker::OnChange = Arc::new(move || b.invalidate_anchors());
            let task = tokio::spawn(anchoring::worker::run(
                storage.clone(),
                ots,
                on_change,
                stop.clone(),
            ));
            anchoring.push((stop, task));
        }
        if let Some(node) = cfg.anchor.bitcoind.clone() {
            let stop = Arc::new(tokio::sync::Notify::new());
            let b = batcher.clone();
            let on_change: anchoring::bitcoind::OnChange = Arc::new(move || b.invalidate_anchors());
            let task = tokio::spawn(anchoring::bitcoind::run_node_mode_with(
                storage.clone(),
                node,
                cfg.anchor.network,
                Some(on_change),
                stop.clone(),
            ));
            anchoring.push((stop, task));
        }
        if !anchoring.is_empty() {
            let stop = Arc::new(tokio::sync::Notify::new());
            let task = tokio::spawn(anchoring::worker::metrics_loop(
                storage.clone(),
                stop.clone(),
            ));
            anchoring.push((stop, task));
        }
        let limiter = auth::RateLimiter::with_capacity(
            cfg.rate_limit_per_s,
            cfg.rate_limit_burst,
            cfg.rate_limit_max_clients,
        );
        let auth_failures = auth::RateLimiter::with_capacity(
            cfg.auth_fail_per_s,
            cfg.auth_fail_burst,
            cfg.rate_limit_max_clients,
        );
        let bulk_budget = Arc::new(tokio::sync::Semaphore::new(
            cfg.max_bulk_bytes_in_flight
                .max(cfg.max_bulk_bytes)
                .div_ceil(1024),
        ));
        let state = AppState(Arc::new(Inner {
            cfg: Arc::new(cfg),
            storage,
            ingestor,
            batcher,
            limiter,
            auth_failures,
            bulk_budget,
            metrics: metrics_handle(),
            gateway_id,
            public_key,
        }));
        Ok(Gateway {
            state,
            writer,
            flusher,
            stop,
            anchoring,
        })
    }

    /// Stops the background tasks after the server has stopped: every
    /// submitted log is written first.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        for (stop, _) in &self.anchoring {
            stop.notify_one();
        }
        let _ = self.flusher.await;
        let Gateway {
            state,
            writer,
            anchoring,
            ..
        } = self;
        for (_, task) in anchoring {
            if tokio::time::timeout(std::time::Duration::from_secs(10), task)
                .await
                .is_err()
            {
                tracing::warn!("an anchoring task did not stop within 10 s");
            }
        }
        // The writer ends when the last sender (in the state) is gone, after
        // writing everything queued. A router clone still alive elsewhere
        // keeps it running: then there is nothing to wait for here.
        let last = Arc::strong_count(&state.0) == 1;
        drop(state);
        if last {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), writer).await;
        }
    }
}

async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Labels come from closed sets only: a client must not be able to mint a
    // new time series (and grow memory and every scrape) per request.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    metrics::histogram!(
        "kwh_btc_iot_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => resp.status().as_str().to_owned()
    )
    .record(start.elapsed().as_secs_f64());
    resp
}

/// The `method` label: the standard methods by name, anything else `other`.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The router: every route of the API, the web page at `/`, the Swagger UI
/// at `/docs` and the OpenAPI document at `/openapi.json`.
pub fn app(state: AppState) -> Router {
    let protected = Router::new()
        .route("/api/v1/logs", post(api::post_log).get(api::list_logs))
        .route("/api/v1/logs/bulk", post(api::post_bulk))
        .route("/api/v1/logs/{log_id}", get(api::get_log))
        .route("/api/v1/logs/{log_id}/receipt", get(api::log_receipt))
        .route("/api/v1/receipts/{leaf_hash}", get(api::receipt_by_leaf))
        .route("/api/v1/batches/flush", post(api::flush))
        .route("/api/v1/batches", get(api::list_batches))
        .route("/api/v1/batches/{batch_id}", get(api::get_batch))
        .route(
            "/api/v1/batches/{batch_id}/anchors",
            post(api::attach_anchor),
        )
        .route("/metrics", get(api::metrics_text))
        .route("/api/v1/mqtt/dead-letters", get(mqtt::list_dead_letters))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let public = Router::new()
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/api/v1/gateway", get(api::gateway_info));
    Router::new()
        .merge(protected)
        .merge(public)
        .merge(web::routes())
        .merge(SwaggerUi::new("/docs").url(
            "/openapi.json",
            api::ApiDoc::openapi().merge_from(mqtt::MqttApiDoc::openapi()),
        ))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            error::AppError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                error::codes::INTERNAL,
                "internal error",
            )
            .into_response()
        }))
        .with_state(state)
}
