//! Who is calling: API keys (sent as `Authorization: Bearer KEY` or
//! `X-Api-Key: KEY`) are compared by their SHA-256 with the configured hashes,
//! and every key (or, without keys, every client address) has a token-bucket
//! rate limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{key_hash, AuthConfig};
use crate::error::{codes, AppError};
use crate::AppState;

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No keys are configured (loopback only): everything is allowed.
    Open,
    /// The admin key.
    Admin,
    /// A device key: may write and read only this `iot_device_id`.
    Device(String),
    /// Keys are configured but none was sent.
    Anonymous,
}

impl Principal {
    /// Admin rights (flush, metrics, everything).
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self {
            Principal::Open | Principal::Admin => Ok(()),
            Principal::Device(d) => Err(AppError::forbidden(format!(
                "the key of device {d:?} may not do this; use the admin key"
            ))),
            Principal::Anonymous => Err(missing_key()),
        }
    }

    /// Any valid key.
    pub fn require_any(&self) -> Result<(), AppError> {
        match self {
            Principal::Anonymous => Err(missing_key()),
            _ => Ok(()),
        }
    }

    /// May this caller read or write logs of `device`?
    pub fn require_device(&self, device: &str) -> Result<(), AppError> {
        match self {
            Principal::Open | Principal::Admin => Ok(()),
            Principal::Device(d) if d == device => Ok(()),
            Principal::Device(d) => Err(AppError::forbidden(format!(
                "iot_device_id: the key of device {d:?} may not access logs of device {device:?}"
            ))
            .member("iot_device_id")),
            Principal::Anonymous => Err(missing_key()),
        }
    }
}

fn missing_key() -> AppError {
    AppError::unauthorized(
        "an API key is required: send Authorization: Bearer KEY (or X-Api-Key: KEY)",
    )
}

/// Finds the principal for a presented key.
pub fn identify(
    auth: &AuthConfig,
    key: Option<&str>,
) -> Result<(Principal, Option<[u8; 32]>), AppError> {
    if !auth.enabled() {
        return Ok((Principal::Open, key.map(key_hash)));
    }
    let Some(key) = key else {
        return Ok((Principal::Anonymous, None));
    };
    let h = key_hash(key);
    if auth.admin_key_sha256 == Some(h) {
        return Ok((Principal::Admin, Some(h)));
    }
    match auth.device_keys.get(&h) {
        Some(dev) => Ok((Principal::Device(dev.clone()), Some(h))),
        None => Err(AppError::unauthorized("the API key is not valid")),
    }
}

/// Token buckets per key or client.
#[derive(Debug)]
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    buckets: Mutex<HashMap<Vec<u8>, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter (`per_s == 0`: unlimited).
    pub fn new(per_s: f64, burst: f64) -> Self {
        RateLimiter {
            per_s,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; `Err(seconds to wait)` when there is none.
    pub fn check(&self, who: &[u8]) -> Result<(), u64> {
        if self.per_s <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > 100_000 {
            b.clear();
        }
        let e = b.entry(who.to_vec()).or_insert((self.burst, now));
        e.0 = (e.0 + now.duration_since(e.1).as_secs_f64() * self.per_s).min(self.burst);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - e.0) / self.per_s).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware: identify the caller, apply its rate limit, and put the
/// [`Principal`] into the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let headers = req.headers();
    let key = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    let (principal, hash) = identify(&state.cfg.auth, key)?;
    let who: Vec<u8> = match hash {
        Some(h) => h.to_vec(),
        None => req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string().into_bytes())
            .unwrap_or_else(|| b"anonymous".to_vec()),
    };
    if let Err(wait) = state.limiter.check(&who) {
        let mut e = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!(
                "rate limit of {} requests per second exceeded; retry in {wait} s",
                state.cfg.rate_limit_per_s
            ),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
