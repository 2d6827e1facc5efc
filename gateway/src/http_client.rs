//! The one HTTP client of the gateway and the CLI (calendars, header
//! sources, the Bitcoin Core node's JSON-RPC, the CLI's calls to the
//! gateway's API): hyper's HTTP/1.1 client, one connection per request
//! (the calls are few), `http://` and `https://` (rustls with ring and the
//! system's CA certificates, loaded once when the first `https` URL is
//! used), a time limit over the whole exchange and a limit on the response
//! body.
//!
//! Errors name the URL and what failed; they never carry a header value
//! (an `Authorization` header stays out of logs), and URLs with credentials
//! (`http://user:pass@host`) are refused.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use kwh_btc_iot_gateway::http_client::HttpClient;
//! let client = HttpClient::new(Duration::from_secs(10));
//! let r = client.get("http://127.0.0.1:8000/health", "application/json").await?;
//! assert_eq!(r.status, 200);
//! # Ok(()) }
//! ```

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

/// The request method (re-exported so callers need not depend on `http`).
pub use axum::http::Method;

/// Default limit of a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The URL is not `http[s]://host[:port][/path]` (or carries credentials).
    Url,
    /// No connection (refused, unreachable, name not resolved).
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No complete answer within the time limit.
    Timeout,
    /// The answer is larger than the limit.
    TooLarge,
    /// The connection broke or the answer is not HTTP.
    Protocol,
}

/// A failed request: what went wrong, with the URL (never a header value).
#[derive(Debug, Clone)]
pub struct HttpError {
    /// The kind of failure.
    pub kind: HttpErrorKind,
    /// The message, starting with the URL.
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

fn err(kind: HttpErrorKind, message: String) -> HttpError {
    HttpError { kind, message }
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The body (at most the client's limit).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (lossy), at most `max` bytes, for messages.
    pub fn body_excerpt(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(max)]).into_owned()
    }
}

/// An HTTP client: time limit and response size limit.
#[derive(Debug, Clone)]
pub struct HttpClient {
    timeout: Duration,
    max_body: usize,
    user_agent: String,
}

/// The TLS configuration (ring, the system's CA certificates), built once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    })
    .clone()
}

impl HttpClient {
    /// A client with this time limit per request and a 2 MiB response limit.
    pub fn new(timeout: Duration) -> Self {
        HttpClient {
            timeout,
            max_body: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: concat!("kwh-btc-iot/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// The same client with another response body limit.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The time limit per request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET url`.
    pub async fn get(&self, url: &str, accept: &str) -> Result<HttpResponse, HttpError> {
        self.request(Method::GET, url, &[("accept", accept)], None)
            .await
    }

    /// `POST url` with a body and its content type.
    pub async fn post(
        &self,
        url: &str,
        accept: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<HttpResponse, HttpError> {
        self.request(
            Method::POST,
            url,
            &[("accept", accept)],
            Some((content_type, body)),
        )
        .await
    }

    /// Any request: `headers` are extra headers (e.g. `authorization`),
    /// `body` the content type and bytes. The error says which URL failed
    /// and how, never a header value.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, HttpError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(err(
                HttpErrorKind::Timeout,
                format!("{url}: no answer within {:?}", self.timeout),
            )),
        }
    }

    /// [`HttpClient::request`] from synchronous code (e.g. a command-line
    /// tool): runs it on a current-thread tokio runtime. Must not be called
    /// from within a runtime.
    pub fn blocking_request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, HttpError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                err(
                    HttpErrorKind::Protocol,
                    format!("{url}: tokio runtime: {e}"),
                )
            })?;
        rt.block_on(self.request(method, url, headers, body))
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, HttpError> {
        let bad_url = |why: &str| err(HttpErrorKind::Url, format!("{url}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad_url("not a URL"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(bad_url("only http:// and https:// URLs are supported")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| bad_url("no host"))?
            .as_str()
            .to_string();
        if authority.contains('@') {
            // Not echoed further: the message would carry the password.
            return Err(err(
                HttpErrorKind::Url,
                "a URL with credentials (user:password@) is not supported; give them separately"
                    .into(),
            ));
        }
        let host = uri
            .host()
            .ok_or_else(|| bad_url("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(bad_url("no host"));
        }
        let port = match uri.port_u16() {
            Some(0) => return Err(bad_url("port must be 1..65535")),
            Some(p) => p,
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, self.user_agent.as_str());
        for (name, value) in headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                err(
                    HttpErrorKind::Url,
                    format!("{url}: header name {name:?} is not valid"),
                )
            })?;
            // The value is not shown: it may be a credential.
            let v = HeaderValue::from_str(value).map_err(|_| {
                err(
                    HttpErrorKind::Url,
                    format!("{url}: header {name}: the value has characters not allowed in HTTP headers"),
                )
            })?;
            req = req.header(n, v);
        }
        let payload = match body {
            Some((ct, b)) => {
                let v = HeaderValue::from_str(ct).map_err(|_| {
                    err(
                        HttpErrorKind::Url,
                        format!("{url}: bad content type {ct:?}"),
                    )
                })?;
                req = req.header(header::CONTENT_TYPE, v);
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| err(HttpErrorKind::Url, format!("{url}: {e}")))?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| {
                err(
                    HttpErrorKind::Connect,
                    format!("{url}: cannot connect: {e}"),
                )
            })?;
        let _ = tcp.set_nodelay(true);
        let resp = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| err(HttpErrorKind::Url, format!("{url}: host name: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(tls_config())
                .connect(name, tcp)
                .await
                .map_err(|e| err(HttpErrorKind::Tls, format!("{url}: TLS: {e}")))?;
            send(TokioIo::new(tls), req, url).await?
        } else {
            send(TokioIo::new(tcp), req, url).await?
        };
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), self.max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    err(
                        HttpErrorKind::TooLarge,
                        format!("{url}: answer larger than {} bytes", self.max_body),
                    )
                } else {
                    err(
                        HttpErrorKind::Protocol,
                        format!("{url}: reading the answer: {e}"),
                    )
                }
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
) -> Result<hyper::Response<hyper::body::Incoming>, HttpError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| {
            err(
                HttpErrorKind::Protocol,
                format!("{url}: HTTP handshake: {e}"),
            )
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| err(HttpErrorKind::Protocol, format!("{url}: {e}")))
}

/// Joins a base URL and a path (`https://x/api` + `/block/..`).
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Percent-encodes one path segment (everything but `A-Z a-z 0-9 - . _ ~`).
pub fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Basic <base64(user:password)>` for an `Authorization` header.
pub fn basic_auth(user: &str, password: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let b = input.as_bytes();
    let mut out = String::with_capacity(6 + b.len().div_ceil(3) * 4);
    out.push_str("Basic ");
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn helpers() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", "b"), "Basic YTpi");
        assert_eq!(path_segment("batch_1 /x"), "batch_1%20%2Fx");
        assert_eq!(join_url("http://x/api/", "/b"), "http://x/api/b");
    }

    /// A one-shot server answering `answer` to the first request; returns
    /// its URL and the request it got.
    async fn one_shot(answer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer).await.unwrap();
            s.shutdown().await.unwrap();
            got
        });
        (url, task)
    }

    #[tokio::test]
    async fn requests_and_answers() {
        let (url, t) = one_shot(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n",
        )
        .await;
        let r = HttpClient::new(Duration::from_secs(10))
            .request(
                Method::GET,
                &format!("{url}/a%20b?x=1"),
                &[("authorization", "Bearer k")],
                None,
            )
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let req = String::from_utf8(t.await.unwrap()).unwrap();
        assert!(req.starts_with("GET /a%20b?x=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.to_ascii_lowercase().contains("authorization: bearer k"));
        // The limit.
        let (url, _t) = one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789").await;
        let e = HttpClient::new(Duration::from_secs(10))
            .with_max_body(4)
            .get(&url, "*/*")
            .await
            .unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::TooLarge, "{e}");
        // Not HTTP.
        let (url, _t) = one_shot(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let e = HttpClient::new(Duration::from_secs(10))
            .get(&url, "*/*")
            .await
            .unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Protocol, "{e}");
    }

    #[tokio::test]
    async fn bad_urls_and_headers_are_refused_without_echoing_secrets() {
        let c = HttpClient::new(Duration::from_secs(5));
        for (url, want) in [
            ("ftp://x/", "only http:// and https://"),
            ("x:80", ""),
            ("http://127.0.0.1:0/", "port must be 1..65535"),
        ] {
            let e = c.get(url, "*/*").await.unwrap_err();
            assert_eq!(e.kind, HttpErrorKind::Url, "{url}: {e}");
            assert!(e.message.contains(want), "{url}: {e}");
        }
        let e = c
            .get("http://u:hunter2@127.0.0.1:1/", "*/*")
            .await
            .unwrap_err();
        assert!(!e.message.contains("hunter2"), "{e}");
        let e = c
            .request(
                Method::GET,
                "http://127.0.0.1:1/",
                &[("authorization", "Bearer sec\r\nret")],
                None,
            )
            .await
            .unwrap_err();
        assert!(!e.message.contains("sec"), "{e}");
        assert!(e.message.contains("authorization"), "{e}");
    }

    #[test]
    fn blocking_calls_work_outside_a_runtime() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = l.accept().unwrap();
            let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
            while !got.ends_with(b"\r\n\r\nhi") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .unwrap();
        });
        let r = HttpClient::new(Duration::from_secs(10))
            .blocking_request(
                Method::POST,
                &url,
                &[],
                Some(("text/plain", b"hi".to_vec())),
            )
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        t.join().unwrap();
        let e = HttpClient::new(Duration::from_secs(5))
            .blocking_request(Method::GET, "http://127.0.0.1:1/", &[], None)
            .unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Connect, "{e}");
        assert!(e.message.contains("cannot connect"), "{e}");
    }

    /// https to a server whose certificate no system CA signed: a TLS error
    /// (the certificate is checked), not an answer. Needs the openssl CLI.
    #[tokio::test]
    async fn https_checks_the_certificate() {
        use rustls::pki_types::pem::PemObject;
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output();
        if !made.is_ok_and(|o| o.status.success()) {
            eprintln!("SKIPPED https_checks_the_certificate: no openssl CLI");
            return;
        }
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/x", l.local_addr().unwrap());
        let t = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let _ = acceptor.accept(s).await;
        });
        let e = HttpClient::new(Duration::from_secs(10))
            .get(&url, "*/*")
            .await
            .unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Tls, "{e}");
        assert!(e.message.contains("certificate"), "{e}");
        t.await.unwrap();
    }
}
