//! Serving connections with bounded resources: a cap on open connections
//! (the ones beyond it wait in the kernel's listen backlog, costing the
//! process nothing), a header-read timeout (hyper's), a body-read timeout
//! between two reads of a request body (as nginx's `client_body_timeout`),
//! and an idle timeout for keep-alive connections.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use http_body::Frame;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Connection limits (see `docs/security.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnLimits {
    /// The whole request head must arrive within this time.
    pub header_read_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub body_read_timeout: Duration,
    /// A connection with no request in progress is closed after this time.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// Descriptors kept free for the storage, the MQTT bridge, logs and outbound calls.
pub const RESERVED_FDS: u64 = 128;

/// The soft open-file limit of this process (`None` when unknown).
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0
            && r.rlim_cur != libc::RLIM_INFINITY
        {
            // rlim_t is u64 on Linux but not on every Unix.
            #[allow(clippy::unnecessary_cast)]
            return Some(r.rlim_cur as u64);
        }
    }
    None
}

/// 1024, or fewer when the open-file limit would not leave
/// [`RESERVED_FDS`] free.
pub fn default_max_connections() -> usize {
    cap_to_file_limit(1024)
}

/// `wanted`, lowered so that `RESERVED_FDS` descriptors stay free.
pub fn cap_to_file_limit(wanted: usize) -> usize {
    match open_file_limit() {
        Some(n) => wanted.min(n.saturating_sub(RESERVED_FDS).max(1) as usize),
        None => wanted,
    }
    .max(1)
}

/// The error a request body gets when the client stops sending it.
#[derive(Debug)]
pub struct BodyReadTimeout(pub Duration);

impl std::fmt::Display for BodyReadTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client sent no part of the request body for {} s",
            self.0.as_secs_f64()
        )
    }
}

impl std::error::Error for BodyReadTimeout {}

/// True when `e` (or what caused it) is a [`BodyReadTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<BodyReadTimeout>().is_some() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body that fails when no frame arrives within `timeout`.
pub struct TimeoutBody<B> {
    inner: B,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<B> TimeoutBody<B> {
    /// Wraps a body.
    pub fn new(inner: B, timeout: Duration) -> Self {
        TimeoutBody {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> http_body::Body for TimeoutBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyReadTimeout(this.timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// open connections finish (at most 30 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<Arc<crate::tls::Tls>>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        // Taking the permit before accepting leaves the connections beyond the
        // cap in the kernel's backlog: no descriptor, no memory in this process.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let n = open.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("kwh_btc_iot_http_connections_open").set(n as f64);
        let (router, limits, stop, open) = (
            router.clone(),
            limits.clone(),
            stop_rx.clone(),
            open.clone(),
        );
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tasks.spawn(async move {
            match acceptor {
                None => serve_connection(stream, remote, router, limits, stop).await,
                // The handshake gets the header-read time: a client that
                // opens a connection and says nothing holds nothing longer
                // over TLS than in clear text.
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(tls_stream, remote, router, limits, stop).await
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("kwh_btc_iot_tls_handshake_failures_total")
                                .increment(1);
                            tracing::debug!("TLS handshake with {remote} failed: {e}");
                        }
                        Err(_) => {
                            metrics::counter!("kwh_btc_iot_tls_handshake_failures_total")
                                .increment(1);
                            tracing::debug!("TLS handshake with {remote} timed out");
                        }
                    }
                }
            }
            let n = open.fetch_sub(1, Ordering::Relaxed) - 1;
            metrics::gauge!("kwh_btc_iot_http_connections_open").set(n as f64);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open 30 s after shutdown: closing them");
    }
    Ok(())
}

async fn serve_connection<S>(
    stream: S,
    remote: SocketAddr,
    router: Router,
    limits: ConnLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    let in_flight = Arc::new(AtomicUsize::new(0));
    // Milliseconds since `start` of the last request start or end.
    let last_activity = Arc::new(AtomicU64::new(0));
    let body_timeout = limits.body_read_timeout;
    let (inf, last) = (in_flight.clone(), last_activity.clone());
    let svc = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let (inf, last) = (inf.clone(), last.clone());
        inf.fetch_add(1, Ordering::SeqCst);
        last.store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
        async move {
            let mut req = req.map(|b| Body::new(TimeoutBody::new(b, body_timeout)));
            req.extensions_mut().insert(ConnectInfo(remote));
            let resp = router.oneshot(req).await;
            last.store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
            inf.fetch_sub(1, Ordering::SeqCst);
            resp
        }
    });
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    loop {
        let since = Duration::from_millis(last_activity.load(Ordering::SeqCst));
        let deadline = if in_flight.load(Ordering::SeqCst) > 0 {
            Instant::now() + idle
        } else {
            start + since + idle
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(30), conn.as_mut()).await;
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                let now_since = Duration::from_millis(last_activity.load(Ordering::SeqCst));
                if in_flight.load(Ordering::SeqCst) == 0 && now_since == since {
                    // Idle: close it (a response still being written gets one
                    // more idle period to finish).
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(idle, conn.as_mut()).await;
                    return;
                }
            }
        }
    }
}
