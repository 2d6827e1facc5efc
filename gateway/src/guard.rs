//! Guards in front of every route: the `Host` allowlist (against DNS
//! rebinding), the cross-site checks of state-changing requests (against
//! CSRF from a browser), and the security headers of every response.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{codes, AppError};
use crate::AppState;

/// The CSP of the Swagger UI at `/docs`: its scripts and styles are files of
/// this origin; it sets inline `style` attributes and uses `data:` images.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

/// The CSP of every other response without its own (JSON, text): nothing
/// may load or frame it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The host name of a `Host` header or an origin's authority, lowercased,
/// without the port and a trailing dot; IPv6 without brackets.
pub fn host_name(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match a.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => a,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Loopback names: `localhost`, `*.localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    is_loopback_name(host) || allowed.iter().any(|a| a == host)
}

/// Is the Host allowlist enforced? Always without keys (loopback mode);
/// with keys once `--allowed-hosts` names any.
fn enforce_hosts(st: &AppState) -> bool {
    !st.cfg.auth.enabled() || !st.cfg.allowed_hosts.is_empty()
}

fn check_host(st: &AppState, req: &Request) -> Result<(), AppError> {
    if !enforce_hosts(st) {
        return Ok(());
    }
    let authority = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string())
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    // No Host at all is no browser (every browser sends one).
    let Some(authority) = authority else {
        return Ok(());
    };
    let host = host_name(&authority);
    if host_allowed(&host, &st.cfg.allowed_hosts) {
        return Ok(());
    }
    Err(AppError::new(
        StatusCode::MISDIRECTED_REQUEST,
        codes::HOST_NOT_ALLOWED,
        format!(
            "Host: {host:?} is not a name of this gateway (loopback names{}); an operator adds names with --allowed-hosts",
            if st.cfg.allowed_hosts.is_empty() {
                String::new()
            } else {
                format!(" and {}", st.cfg.allowed_hosts.join(", "))
            }
        ),
    )
    .member("Host"))
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn cross_origin(message: String) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, codes::CROSS_ORIGIN, message).member("Origin")
}

fn check_cross_site(st: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null").trim();
        let authority = origin
            .parse::<axum::http::Uri>()
            .ok()
            .filter(|u| matches!(u.scheme_str(), Some("http") | Some("https")))
            .and_then(|u| u.authority().map(|a| a.to_string()));
        let same_origin = authority.as_deref().is_some_and(|a| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| h.trim().eq_ignore_ascii_case(a))
        });
        let allowed = same_origin
            || authority
                .as_deref()
                .is_some_and(|a| host_allowed(&host_name(a), &st.cfg.allowed_hosts));
        if !allowed {
            return Err(cross_origin(format!(
                "Origin: {origin:?} is not this gateway's origin: state-changing requests from other sites are refused"
            )));
        }
    }
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(cross_origin(
            "Sec-Fetch-Site: cross-site: state-changing requests from other sites are refused"
                .into(),
        ));
    }
    // A browser sends text/plain, form and multipart bodies to any site
    // without asking (no CORS preflight): the API takes none of them.
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json = matches!(
            mime.as_str(),
            "application/json"
                | "application/x-ndjson"
                | "application/ndjson"
                | "application/jsonl"
                | "application/jsonlines"
        );
        if !json {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type must be application/json (or application/x-ndjson for bulk), got {ct:?}"),
            )
            .member("Content-Type"));
        }
    }
    Ok(())
}

fn set_security_headers(path: &str, resp: &mut Response) {
    let h = resp.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if path == "/docs" || path.starts_with("/docs/") {
            DOCS_CSP
        } else {
            API_CSP
        };
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
}

/// Middleware: Host allowlist, cross-site checks of POST/PUT/PATCH/DELETE,
/// security headers.
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let checked = check_host(&st, &req).and_then(|()| {
        if is_state_changing(req.method()) {
            check_cross_site(&st, req.headers())
        } else {
            Ok(())
        }
    });
    let mut resp = match checked {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    set_security_headers(&path, &mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("LocalHost:8000"), "localhost");
        assert_eq!(host_name("[::1]:8000"), "::1");
        assert_eq!(host_name("example.org."), "example.org");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert!(is_loopback_name("127.1.2.3"));
        assert!(is_loopback_name("app.localhost"));
        assert!(!is_loopback_name("rebind.attacker.example"));
        assert!(!is_loopback_name("localhost.attacker.example"));
    }
}
