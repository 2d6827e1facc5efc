//! The web page (`www/`) served at `/`: the files of `www/dist`, embedded in
//! the binary at compile time (no CDN, no files to install next to it).
//! `www/dist` is built by `node www/build.mjs` and committed, so a plain
//! `cargo build` embeds the page; `scripts/test-www.sh` rebuilds it.
//! The `.gz` twins (gzip -9, made by the same build) are sent to clients
//! that accept gzip.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    gzip: Option<&'static [u8]>,
}

macro_rules! dist {
    ($file:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../www/dist/", $file))
    };
}

static ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: dist!("index.html"),
        gzip: None,
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: dist!("app.js"),
        gzip: Some(dist!("app.js.gz")),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: dist!("app.css"),
        gzip: None,
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: dist!("favicon.svg"),
        gzip: None,
    },
    Asset {
        path: "/kwh_btc_iot_wasm_bg.wasm",
        content_type: "application/wasm",
        body: dist!("kwh_btc_iot_wasm_bg.wasm"),
        gzip: Some(dist!("kwh_btc_iot_wasm_bg.wasm.gz")),
    },
];

/// What the page may load: only this origin; WebAssembly compilation allowed.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                format!(
                    "\"{}\"",
                    &kwh_btc_iot_core::encoding::hex::encode(&Sha256::digest(a.body))[..32]
                )
            })
            .collect()
    })
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let accepts_gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',').any(|e| {
                    e.split(';')
                        .next()
                        .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"))
                })
            });
        match asset.gzip {
            Some(gz) if accepts_gzip => {
                let mut r = gz.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => asset.body.into_response(),
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if asset.content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    resp
}

/// `GET /` and the page's files (public: the page asks for an API key itself).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route(
        "/",
        get(|headers: HeaderMap| async move { serve(0, &headers) }),
    );
    for (i, asset) in ASSETS.iter().enumerate() {
        router = router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve(i, &headers) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_with(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = routes::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes().to_vec(),
        )
    }

    #[tokio::test]
    async fn serves_the_page_at_root_with_a_csp() {
        let (status, headers, body) = get_with("/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        assert!(String::from_utf8(body).unwrap().contains("src=\"app.js\""));
    }

    #[tokio::test]
    async fn wasm_has_its_mime_type_and_gzip_only_when_accepted() {
        let (_, plain_headers, plain) = get_with("/kwh_btc_iot_wasm_bg.wasm", &[]).await;
        assert_eq!(plain_headers[header::CONTENT_TYPE], "application/wasm");
        assert!(plain_headers.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(&plain[..4], b"\0asm");
        let (_, gz_headers, gz) = get_with(
            "/kwh_btc_iot_wasm_bg.wasm",
            &[("accept-encoding", "br, gzip;q=0.8")],
        )
        .await;
        assert_eq!(gz_headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert!(gz.len() < plain.len());
    }

    #[tokio::test]
    async fn etag_revalidates_to_304() {
        let (_, headers, _) = get_with("/app.js", &[]).await;
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let (status, _, body) = get_with("/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (status, _, _) = get_with("/app.js", &[("if-none-match", "\"other\"")]).await;
        assert_eq!(status, StatusCode::OK);
    }
}
