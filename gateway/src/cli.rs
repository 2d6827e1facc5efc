//! `kwh-btc-iot serve`: options, runtime, listening, graceful shutdown.

use std::net::SocketAddr;

use anyhow::{bail, Context};

use crate::config::Config;
pub use crate::config::ServeArgs;
use crate::{app, Gateway};

/// Runs the gateway until SIGINT/SIGTERM (builds its own tokio runtime).
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KWH_BTC_IOT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cfg = Config::resolve(&args)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cfg.workers {
        rt.worker_threads(n.max(1));
    }
    rt.enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(serve(cfg))
}

/// Resolves the listen address and refuses a non-loopback one without keys.
pub async fn listen_addr(cfg: &Config) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&cfg.listen)
        .await
        .with_context(|| format!("listen address {:?} (expected HOST:PORT)", cfg.listen))?
        .collect();
    let Some(addr) = addrs.first().copied() else {
        bail!("listen address {:?} resolves to nothing", cfg.listen)
    };
    if !addrs.iter().all(|a| a.ip().is_loopback()) && !cfg.auth.enabled() {
        bail!(
            "refusing to listen on {} without authentication: configure an admin key (--admin-key-sha256) \
             or device keys (--device-keys), or listen on a loopback address such as 127.0.0.1:8000",
            cfg.listen
        );
    }
    Ok(addr)
}

/// Serves until a shutdown signal; then drains the writer.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let addr = listen_addr(&cfg).await?;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(crate::tls::Tls::load(cert, key)?),
        None => None,
    };
    let gw = Gateway::start(cfg).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Some(t) = &tls {
        t.reload_on_sighup();
    }
    tracing::info!(
        gateway_id = %gw.state.gateway_id,
        public_key = %kwh_btc_iot_core::encoding::hex::encode(&gw.state.public_key),
        storage = gw.state.storage.kind(),
        "listening on {scheme}://{local}"
    );
    // A line on stdout that scripts (and the tests) read to find the port.
    println!("kwh-btc-iot gateway listening on {scheme}://{local}");
    let bridge = match gw.state.cfg.mqtt.clone() {
        Some(m) => Some(crate::mqtt::Bridge::start(gw.state.clone(), m)?),
        None => None,
    };
    let router = app(gw.state.clone());
    crate::server::serve(
        listener,
        router,
        gw.state.cfg.limits.clone(),
        tls,
        shutdown_signal(),
    )
    .await?;
    tracing::info!("shutting down: writing what was accepted");
    if let Some(b) = bridge {
        b.shutdown().await;
    }
    gw.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
