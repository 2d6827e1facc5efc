//! TLS for the HTTP API (rustls, HTTP/1.1): a certificate chain and a private
//! key in PEM files (`--tls-cert`, `--tls-key`), read again on `SIGHUP` so a
//! renewed certificate (ACME, an internal CA) is served without a restart.
//! A reload that fails (a half-written file, a key that does not match)
//! keeps the certificate being served and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The certificate and key being served, and where they come from.
pub struct Tls {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Tls")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish()
    }
}

impl Tls {
    /// Loads the files; fails with a message naming the file and the problem.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Tls>> {
        let config = server_config(cert_path, key_path)?;
        Ok(Arc::new(Tls {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(config),
        }))
    }

    /// Reads the files again; on success new connections get the new
    /// certificate (open ones keep theirs).
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = server_config(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// Reloads on every `SIGHUP` until the process ends.
    pub fn reload_on_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let tls = self.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!("cannot listen for SIGHUP: TLS files are not reloaded");
                    return;
                };
                while hup.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => {
                            metrics::counter!("kwh_btc_iot_tls_reloads_total", "result" => "ok")
                                .increment(1);
                            tracing::info!(
                                "SIGHUP: TLS certificate {} reloaded",
                                tls.cert_path.display()
                            )
                        }
                        Err(e) => {
                            metrics::counter!("kwh_btc_iot_tls_reloads_total", "result" => "failed").increment(1);
                            tracing::error!("SIGHUP: TLS reload failed, still serving the previous certificate: {e:#}")
                        }
                    }
                }
            });
        }
    }
}

fn server_config(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("tls_cert {}: cannot read it", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "tls_cert {}: not a PEM certificate chain",
                cert_path.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "tls_cert {}: no CERTIFICATE block in it (expected the PEM chain, leaf first)",
            cert_path.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "tls_key {}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1)",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "tls_key {} does not fit tls_cert {} (or the key type is not supported)",
                key_path.display(),
                cert_path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
