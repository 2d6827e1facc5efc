//! Who is calling: API keys (sent as `Authorization: Bearer KEY` or
//! `X-Api-Key: KEY`) are compared by their SHA-256 with the configured hashes,
//! and every key (or, without keys, every client address) has a token-bucket
//! rate limit.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
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
        // No key is verified here: whatever the client sends names nothing.
        return Ok((Principal::Open, None));
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

/// Token buckets per key or client, at most `capacity` of them: when full,
/// the least recently used bucket is dropped (never all of them at once).
#[derive(Debug)]
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    tick: u64,
    /// Key → (tokens, last refill, last-use tick).
    map: HashMap<Vec<u8>, (f64, Instant, u64)>,
    /// Last-use tick → key, oldest first.
    order: BTreeMap<u64, Vec<u8>>,
}

impl RateLimiter {
    /// A limiter (`per_s == 0`: unlimited) holding up to 100,000 buckets.
    pub fn new(per_s: f64, burst: f64) -> Self {
        Self::with_capacity(per_s, burst, 100_000)
    }

    /// A limiter holding up to `capacity` buckets (least recently used out first).
    pub fn with_capacity(per_s: f64, burst: f64, capacity: usize) -> Self {
        RateLimiter {
            per_s,
            burst,
            capacity: capacity.max(1),
            buckets: Mutex::new(Lru::default()),
        }
    }

    /// The number of buckets held.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one token; `Err(seconds to wait)` when there is none.
    pub fn check(&self, who: &[u8]) -> Result<(), u64> {
        self.take(who, true)
    }

    /// `Err(seconds to wait)` when `who` has no token left, without taking one.
    pub fn peek(&self, who: &[u8]) -> Result<(), u64> {
        self.take(who, false)
    }

    fn take(&self, who: &[u8], consume: bool) -> Result<(), u64> {
        if self.per_s <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut lru = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let lru = &mut *lru;
        lru.tick += 1;
        let tick = lru.tick;
        if !lru.map.contains_key(who) {
            if !consume {
                return Ok(());
            }
            while lru.map.len() >= self.capacity {
                match lru.order.pop_first() {
                    Some((_, oldest)) => {
                        lru.map.remove(&oldest);
                    }
                    None => break,
                }
            }
            lru.map.insert(who.to_vec(), (self.burst, now, tick));
        }
        let e = lru.map.get_mut(who).expect("just inserted");
        lru.order.remove(&e.2);
        lru.order.insert(tick, who.to_vec());
        e.2 = tick;
        e.0 = (e.0 + now.duration_since(e.1).as_secs_f64() * self.per_s).min(self.burst);
        e.1 = now;
        if e.0 >= 1.0 {
            if consume {
                e.0 -= 1.0;
            }
            Ok(())
        } else {
            Err(((1.0 - e.0) / self.per_s).ceil().max(1.0) as u64)
        }
    }
}

/// The rate-limit key of a client address: the address itself, or for IPv6
/// its /64 (one host usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}").into_bytes(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}").into_bytes(),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]).into_bytes()
            }
        },
    }
}

fn too_many_failures(wait: u64) -> AppError {
    let mut e = AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        format!("too many failed authentications from this address; retry in {wait} s"),
    );
    e.retry_after = Some(wait);
    e
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
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_key(c.0.ip()))
        .unwrap_or_else(|| b"anonymous".to_vec());
    // An address out of failed attempts gets 429 for any key it presents,
    // right or wrong: answering a right key differently would keep the
    // guessing going at full speed.
    if key.is_some() && state.cfg.auth.enabled() {
        if let Err(wait) = state.auth_failures.peek(&client) {
            return Err(too_many_failures(wait));
        }
    }
    let (principal, hash) = match identify(&state.cfg.auth, key) {
        Ok(found) => found,
        Err(e) => {
            metrics::counter!("kwh_btc_iot_auth_failures_total").increment(1);
            return Err(match state.auth_failures.check(&client) {
                Ok(()) => e,
                Err(wait) => too_many_failures(wait),
            });
        }
    };
    // Buckets are keyed on the verified identity: a key's hash, else the
    // client's address (never on a key nobody checked).
    let who: Vec<u8> = match hash {
        Some(h) => h.to_vec(),
        None => client,
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
