//! A small blocking HTTP/1.1 client for the gateway's API: `http://` and
//! `https://` (rustls with ring and the system's CA certificates, the same
//! TLS stack the gateway links), one connection per request, a timeout on
//! each read and write, and a limit on the answer.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// Largest answer read (a batch with its anchors is a few KB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// An answer: status and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|_| {
            anyhow!(
                "HTTP {} with a body that is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// The gateway's error message (`{"error": {"code", "message", "member"}}`),
    /// or the body text.
    pub fn error_text(&self) -> String {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(v) if v["error"].is_object() => {
                let e = &v["error"];
                let mut s = format!(
                    "{} ({})",
                    e["message"].as_str().unwrap_or("?"),
                    e["code"].as_str().unwrap_or("?")
                );
                if let Some(m) = e["member"].as_str() {
                    s.push_str(&format!(", member {m}"));
                }
                s
            }
            _ => String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned(),
        }
    }
}

/// A URL split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// https?
    pub tls: bool,
    /// Host (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path prefix without the trailing slash (`""` or `/gw`).
    pub base_path: String,
}

impl Url {
    /// Parses `http[s]://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<Url> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow!("--url {url:?}: expected http://HOST[:PORT] or https://..."))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            s => bail!("--url {url:?}: scheme {s:?} is not supported; use http:// or https://"),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            bail!("--url: no credentials in the URL; use --admin-key");
        }
        if path.contains('?') || path.contains('#') {
            bail!("--url {url:?}: no query or fragment");
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| anyhow!("--url {url:?}: unterminated [IPv6] host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| anyhow!("--url {url:?}: port must be 1..65535"))?,
                None if after.is_empty() => default_port,
                None => bail!("--url {url:?}: unexpected text after the host"),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| anyhow!("--url {url:?}: port must be 1..65535"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            bail!("--url {url:?}: a host and a port 1..65535 are required");
        }
        Ok(Url {
            tls,
            host,
            port,
            base_path: path.to_string(),
        })
    }

    fn authority(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }

    /// `scheme://authority/base/path` for messages.
    pub fn display(&self, path: &str) -> String {
        format!(
            "{}://{}{}{}",
            if self.tls { "https" } else { "http" },
            self.authority(),
            self.base_path,
            path
        )
    }
}

/// Percent-encodes one path segment.
pub fn segment(s: &str) -> String {
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

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Sends one request; `headers` are extra headers (e.g. Authorization).
pub fn request(
    url: &Url,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<(&str, Vec<u8>)>,
    timeout: Duration,
) -> Result<Response> {
    let shown = url.display(path);
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .with_context(|| format!("{shown}: resolving {}", url.host))?
        .next()
        .ok_or_else(|| anyhow!("{shown}: {} has no address", url.host))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("{shown}: cannot connect (is the gateway running?)"))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Box<dyn Stream> = if url.tls {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| anyhow!("{shown}: host name: {e}"))?;
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name)
            .map_err(|e| anyhow!("{shown}: TLS: {e}"))?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: kwh-btc-iot/{}\r\n",
        url.base_path,
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        if v.contains('\r') || v.contains('\n') {
            bail!("header {k}: line breaks are not allowed");
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let payload = match body {
        Some((ct, b)) => {
            head.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                b.len()
            ));
            b
        }
        None => {
            if method != "GET" {
                head.push_str("Content-Length: 0\r\n");
            }
            Vec::new()
        }
    };
    head.push_str("\r\n");
    let io = |e: std::io::Error| anyhow!("{shown}: {e}");
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(&payload).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A TLS peer that closes without close_notify after a complete answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_RESPONSE_BYTES + 64 * 1024 {
            bail!("{shown}: answer larger than {MAX_RESPONSE_BYTES} bytes");
        }
        if complete(&raw) {
            break;
        }
    }
    parse(&raw).map_err(|e| anyhow!("{shown}: {e}"))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Whether a Content-Length answer is complete.
fn complete(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return false;
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return false;
    };
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                return v
                    .trim()
                    .parse::<usize>()
                    .is_ok_and(|n| buf.len() >= end + 4 + n);
            }
        }
    }
    false
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("truncated HTTP answer")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "HTTP header is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    if !status_line.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x answer: {status_line:?}"));
    }
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut chunked, mut length) = (false, None);
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            } else if k.eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| "bad Content-Length")?,
                );
            }
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let le = find(rest, b"\r\n").ok_or("truncated chunked body")?;
            let size_text = std::str::from_utf8(&rest[..le]).map_err(|_| "bad chunk size")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            rest = &rest[le + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                return Err("truncated chunked body".into());
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        out
    } else {
        match length {
            Some(n) if body.len() < n => return Err("truncated HTTP body".into()),
            Some(n) => body[..n].to_vec(),
            None => body.to_vec(),
        }
    };
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 8000));
        assert_eq!(u.display("/api/v1/x"), "http://127.0.0.1:8000/api/v1/x");
        let u = Url::parse("https://gw.example/base/").unwrap();
        assert_eq!((u.port, u.base_path.as_str()), (443, "/base"));
        assert_eq!(Url::parse("http://[::1]:9").unwrap().host, "::1");
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://u:p@x").is_err());
        assert!(Url::parse("x:80").is_err());
        assert!(Url::parse("http://x:0").is_err());
    }

    #[test]
    fn answers() {
        let r = parse(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"{}");
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
        assert_eq!(segment("batch_1 /x"), "batch_1%20%2Fx");
    }
}
