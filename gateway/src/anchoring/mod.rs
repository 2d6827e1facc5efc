//! Bitcoin anchoring of batch heads: the OpenTimestamps worker
//! ([`worker`], speaking the calendar protocol of [`calendar`]), the headers
//! it needs (Esplora-style HTTP), and a small HTTP client with timeouts and
//! response size limits. The formats and every check are the core's
//! (`kwh_btc_iot_core::anchor`); nothing here trusts a calendar or a header
//! source: a proof is stored as anchored only once the core verified it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axum::http::{header, Method, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

pub mod bitcoind;
pub mod calendar;
pub mod worker;

/// Largest response body read from a calendar or header source (the core
/// refuses `.ots` data above 2 MiB anyway).
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// An HTTP/1.1 client for calendars and header sources: one connection per
/// request (they are few), `http` and `https` (rustls with ring and the
/// system's CA certificates), a timeout over the whole exchange, and a limit
/// on the response body.
#[derive(Clone)]
pub struct HttpClient {
    timeout: Duration,
    max_body: usize,
    tls: Arc<rustls::ClientConfig>,
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The body (at most the client's limit).
    pub body: Vec<u8>,
}

impl HttpClient {
    /// A client with this timeout per request.
    pub fn new(timeout: Duration) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        HttpClient {
            timeout,
            max_body: MAX_RESPONSE_BYTES,
            tls: Arc::new(tls),
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str, accept: &str) -> anyhow::Result<HttpResponse> {
        self.request(Method::GET, url, accept, None).await
    }

    /// `POST url` with a body and its content type.
    pub async fn post(
        &self,
        url: &str,
        accept: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<HttpResponse> {
        self.request(Method::POST, url, accept, Some((content_type, body)))
            .await
    }

    /// Any request; the error says which URL failed and how (never a secret:
    /// URLs with credentials are not used here).
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<HttpResponse> {
        tokio::time::timeout(self.timeout, self.exchange(method, url, accept, body))
            .await
            .map_err(|_| anyhow!("{url}: no answer within {:?}", self.timeout))?
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        accept: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> anyhow::Result<HttpResponse> {
        let uri: Uri = url.parse().with_context(|| format!("{url}: not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!("{url}: only http:// and https:// URLs are supported"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("{url}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("{url}: connecting"))?;
        let _ = tcp.set_nodelay(true);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority)
            .header(header::ACCEPT, accept)
            .header(
                header::USER_AGENT,
                concat!("kwh-btc-iot-gateway/", env!("CARGO_PKG_VERSION")),
            );
        let payload = match body {
            Some((ct, b)) => {
                req = req.header(header::CONTENT_TYPE, ct);
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(payload))?;
        let resp = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .with_context(|| format!("{url}: host name"))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .with_context(|| format!("{url}: TLS"))?;
            send(TokioIo::new(tls), req, url).await?
        } else {
            send(TokioIo::new(tcp), req, url).await?
        };
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), self.max_body)
            .collect()
            .await
            .map_err(|e| {
                anyhow!(
                    "{url}: reading the answer: {e} (limit {} bytes)",
                    self.max_body
                )
            })?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse { status, body })
    }
}

async fn send<T>(
    io: TokioIo<T>,
    req: Request<Full<Bytes>>,
    url: &str,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .with_context(|| format!("{url}: HTTP handshake"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .with_context(|| format!("{url}: request"))
}

/// Joins a base URL and a path (`https://x/api` + `/block/..`).
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}
