//! The attacker's cases of issue 14: each test failed on the code before its
//! fix. Connection-level cases run the real server on real sockets.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;

fn scrape_len(metrics: &str) -> usize {
    metrics.len()
}

/// Finding 1: made-up methods and random paths must not mint metric series.
#[tokio::test]
async fn made_up_methods_and_random_paths_do_not_grow_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    // Warm up the series a normal client makes.
    let _ = get(&app, "/health").await;
    let _ = get(&app, "/no/such/path").await;
    let before = get(&app, "/metrics").await.text();
    for i in 0..2000u32 {
        let method = Method::from_bytes(format!("M{i:07}X").as_bytes()).unwrap();
        let r = call(
            &app,
            Request::builder()
                .method(method)
                .uri("/health")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        let path = format!("/random/{i:x}/{}", i.wrapping_mul(2_654_435_761));
        assert_eq!(get(&app, &path).await.status, StatusCode::NOT_FOUND);
        let method = Method::from_bytes(format!("Q{i:07}").as_bytes()).unwrap();
        let _ = call(
            &app,
            Request::builder()
                .method(method)
                .uri(format!("/api/v1/logs/{i}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
    let after = get(&app, "/metrics").await.text();
    eprintln!(
        "/metrics: {} bytes before, {} bytes after 6000 made-up requests",
        scrape_len(&before),
        scrape_len(&after)
    );
    assert!(!after.contains("M0000001X"), "a made-up method is a label");
    assert!(!after.contains("/random/"), "a raw path is a label");
    assert!(
        after.len() < before.len() + 64 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    assert!(after.contains("method=\"other\""));
}

// ---- finding 3: timeouts and the connection cap, on real sockets ----

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kwh_btc_iot_gateway::config::{Config, ServeArgs};
use kwh_btc_iot_gateway::server::ConnLimits;

/// The socket tests count this process's descriptors: one at a time.
static SOCKETS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts the real server (the one `kwh-btc-iot serve` runs) on a free port.
async fn serve_real(cfg: Config) -> (String, kwh_btc_iot_gateway::Gateway) {
    let (gw, app) = start(cfg).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let limits = gw.state.cfg.limits.clone();
    tokio::spawn(kwh_btc_iot_gateway::server::serve(
        listener,
        app,
        limits,
        None,
        std::future::pending(),
    ));
    (addr, gw)
}

fn short_limits(dir: &std::path::Path, max_connections: usize) -> Config {
    Config {
        limits: ConnLimits {
            header_read_timeout: Duration::from_millis(1500),
            body_read_timeout: Duration::from_millis(1500),
            idle_timeout: Duration::from_millis(1500),
            max_connections,
        },
        ..config(dir)
    }
}

/// Seconds until the server closes `s` (reading and discarding what it sends).
fn seconds_until_closed(mut s: TcpStream, give_up: Duration) -> Option<f64> {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while t.elapsed() < give_up {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed().as_secs_f64()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(t.elapsed().as_secs_f64()),
        }
    }
    None
}

/// Connections to `port` the server has accepted (an established socket
/// with an inode: the ones still in the listen backlog have none).
fn accepted_sockets(port: u16) -> usize {
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && f[3] == "01" && f[9] != "0" {
                n += 1;
            }
        }
    }
    n
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_header_idle_and_slow_body_connections_are_closed() {
    let _one = SOCKETS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (addr, _gw) = serve_real(short_limits(dir.path(), 64)).await;
    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        let give_up = Duration::from_secs(10);
        // Silent: connects and sends nothing.
        let silent = TcpStream::connect(&a).unwrap();
        // Half a header.
        let mut half = TcpStream::connect(&a).unwrap();
        half.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let t_silent = seconds_until_closed(silent, give_up);
        let t_half = seconds_until_closed(half, give_up);
        eprintln!("silent closed after {t_silent:?} s, half header after {t_half:?} s");
        assert!(t_silent.is_some_and(|t| t < 4.0), "silent: {t_silent:?}");
        assert!(t_half.is_some_and(|t| t < 4.0), "half header: {t_half:?}");

        // Keep-alive: one request answered, then idle.
        let mut ka = TcpStream::connect(&a).unwrap();
        ka.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        ka.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = ka.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let t_idle = seconds_until_closed(ka, give_up);
        eprintln!("idle keep-alive closed after {t_idle:?} s");
        assert!(t_idle.is_some_and(|t| t < 4.0), "idle: {t_idle:?}");

        // A body that stops: 408 with the JSON error, then closed.
        let mut slow = TcpStream::connect(&a).unwrap();
        slow.write_all(
            b"POST /api/v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"schema_",
        )
        .unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let t = Instant::now();
        let mut got = Vec::new();
        let _ = slow.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got);
        eprintln!(
            "slow body answered after {:.2} s: {}",
            t.elapsed().as_secs_f64(),
            text.lines().next().unwrap_or("")
        );
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
        assert!(t.elapsed() < Duration::from_secs(5));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_in_the_backlog() {
    let _one = SOCKETS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let cap = 8;
    let mut cfg = short_limits(dir.path(), cap);
    // Long enough that the held connections stay open while we look.
    cfg.limits.header_read_timeout = Duration::from_secs(4);
    cfg.limits.idle_timeout = Duration::from_secs(4);
    let (addr, _gw) = serve_real(cfg).await;
    let a = addr.clone();
    tokio::task::spawn_blocking(move || {
        let base = open_fds();
        let held: Vec<TcpStream> = (0..cap).map(|_| TcpStream::connect(&a).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        let extra = 100;
        let waiting: Vec<TcpStream> = (0..extra)
            .map(|_| TcpStream::connect(&a).unwrap())
            .collect();
        eprintln!("{extra} connects took {:?}", t0.elapsed());
        std::thread::sleep(Duration::from_millis(500));
        // Each client socket is one descriptor of this process; the server
        // holds only `cap` of them however many connect.
        let grown = open_fds().saturating_sub(base);
        let port: u16 = a.rsplit(':').next().unwrap().parse().unwrap();
        let accepted = accepted_sockets(port);
        eprintln!(
            "{} clients connected: the server accepted {accepted} (descriptors of this process grew by {grown})",
            cap + extra
        );
        assert_eq!(accepted, cap, "the server accepted beyond its cap of {cap}");
        // A waiting connection is served once a held one goes.
        let mut w = waiting.into_iter().next().unwrap();
        w.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        w.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
        let mut buf = [0u8; 512];
        let early = w.read(&mut buf);
        assert!(
            early.is_err(),
            "answered while {cap} connections were open: {:?} {}",
            early,
            String::from_utf8_lossy(&buf)
        );
        drop(held);
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = w.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    })
    .await
    .unwrap();
}

#[test]
fn connection_limits_come_from_flags_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    std::fs::write(
        &file,
        "header_read_timeout_s = 5\nbody_read_timeout_s = 7.5\nidle_timeout_s = 9\nmax_connections = 50\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(file),
        idle_timeout_s: Some(3.0),
        ..ServeArgs::default()
    };
    let cfg = Config::resolve(&args).unwrap();
    assert_eq!(cfg.limits.header_read_timeout, Duration::from_secs(5));
    assert_eq!(cfg.limits.body_read_timeout, Duration::from_millis(7500));
    assert_eq!(
        cfg.limits.idle_timeout,
        Duration::from_secs(3),
        "the flag wins"
    );
    assert_eq!(cfg.limits.max_connections, 50);
    let d = Config::resolve(&ServeArgs::default()).unwrap();
    assert_eq!(d.limits.header_read_timeout, Duration::from_secs(30));
    assert_eq!(d.limits.body_read_timeout, Duration::from_secs(60));
    assert!(d.limits.max_connections >= 1 && d.limits.max_connections <= 1024);
    let bad = ServeArgs {
        header_read_timeout_s: Some(0.0),
        ..ServeArgs::default()
    };
    assert!(Config::resolve(&bad).is_err());
}

// ---- finding 6: failed authentication is rate-limited, buckets on verified identities ----

use axum::extract::ConnectInfo;
use kwh_btc_iot_gateway::auth::RateLimiter;
use kwh_btc_iot_gateway::config::key_hash;

/// A GET from client address `ip` with these headers.
async fn get_from(app: &axum::Router, ip: &str, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b.body(Body::empty()).unwrap();
    let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    call(app, req).await
}

#[tokio::test]
async fn wrong_keys_are_rate_limited_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.auth.admin_key_sha256 = Some(key_hash("the-admin-key"));
    cfg.auth_fail_burst = 5.0;
    let (_gw, app) = start(cfg).await;
    let mut statuses = Vec::new();
    for i in 0..300 {
        let r = get_from(
            &app,
            "203.0.113.7",
            "/api/v1/batches",
            &[("authorization", &format!("Bearer wrong-{i}"))],
        )
        .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.code(), "rate_limited");
            assert!(r.headers.contains_key("retry-after"));
        }
        statuses.push(r.status.as_u16());
    }
    let n401 = statuses.iter().filter(|s| **s == 401).count();
    let n429 = statuses.iter().filter(|s| **s == 429).count();
    eprintln!("300 wrong keys from one address: {n401} x 401, {n429} x 429");
    assert_eq!((n401, n429), (5, 295));
    // The right key from that address waits too (no oracle for the guesser)...
    let r = get_from(
        &app,
        "203.0.113.7",
        "/api/v1/batches",
        &[("authorization", "Bearer the-admin-key")],
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // ... while other addresses are not affected.
    let r = get_from(
        &app,
        "198.51.100.1",
        "/api/v1/batches",
        &[("authorization", "Bearer the-admin-key")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = get_from(
        &app,
        "198.51.100.2",
        "/api/v1/batches",
        &[("x-api-key", "wrong")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_keys_the_bucket_is_the_client_address_not_the_key_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rate_limit_per_s = 1.0;
    cfg.rate_limit_burst = 3.0;
    let (_gw, app) = start(cfg).await;
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..300 {
        let r = get_from(
            &app,
            "127.0.0.1",
            "/api/v1/batches",
            &[("x-api-key", &format!("random-{i}"))],
        )
        .await;
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            s => panic!("unexpected {s}"),
        }
    }
    eprintln!("300 requests with random keys, no keys configured: {ok} x 200, {limited} x 429");
    assert!(ok <= 4, "{ok} answered: the random keys bypassed the limit");
}

#[test]
fn a_full_limiter_evicts_the_least_recently_used_bucket_not_all() {
    let limiter = RateLimiter::new(0.001, 1.0);
    assert!(limiter.check(b"attacker").is_ok());
    assert!(limiter.check(b"attacker").is_err());
    for i in 0..150_000u32 {
        let _ = limiter.check(format!("spoofed-{i}").as_bytes());
        if i % 1000 == 0 {
            assert!(
                limiter.check(b"attacker").is_err(),
                "the attacker's bucket was reset after {i} other buckets"
            );
        }
    }
    assert!(limiter.check(b"attacker").is_err());
    assert!(limiter.len() <= 100_000, "{} buckets", limiter.len());
    let small = RateLimiter::with_capacity(0.001, 1.0, 3);
    for k in [&b"a"[..], b"b", b"c", b"a", b"d"] {
        let _ = small.check(k);
    }
    assert_eq!(small.len(), 3);
    assert!(small.check(b"a").is_err(), "a was used recently: kept");
    assert!(
        small.check(b"b").is_ok(),
        "b was the least recently used: evicted"
    );
}

// ---- finding 7: Host allowlist, cross-site state-changing requests ----

async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    call(app, b.body(Body::from(body.to_string())).unwrap()).await
}

#[tokio::test]
async fn dns_rebinding_hosts_are_refused_loopback_and_configured_names_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.allowed_hosts = vec!["gw.example.org".into()];
    let (_gw, app) = start(cfg).await;
    for host in [
        "rebind.attacker.example",
        "rebind.attacker.example:8000",
        "localhost.attacker.example",
        "10.0.0.5:8000",
    ] {
        let r = request(&app, "GET", "/api/v1/logs", &[("host", host)], "").await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert_eq!(r.code(), "host_not_allowed");
        assert_eq!(r.json()["error"]["member"], "Host");
        let r = request(&app, "GET", "/", &[("host", host)], "").await;
        assert_eq!(
            r.status,
            StatusCode::MISDIRECTED_REQUEST,
            "the page too: {host}"
        );
    }
    for host in [
        "localhost:8000",
        "127.0.0.1:8000",
        "[::1]:8000",
        "LOCALHOST",
        "gw.example.org:443",
    ] {
        let r = request(&app, "GET", "/api/v1/logs", &[("host", host)], "").await;
        assert_eq!(r.status, StatusCode::OK, "{host}: {}", r.text());
    }
}

#[tokio::test]
async fn cross_site_posts_are_refused_in_loopback_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    assert_eq!(
        post_json(&app, "/api/v1/logs", log_json(1)).await.status,
        StatusCode::CREATED
    );
    let host = ("host", "127.0.0.1:8000");
    // The attack of the issue: a form-like text/plain POST from another site.
    let r = request(
        &app,
        "POST",
        "/api/v1/batches/flush",
        &[
            host,
            ("content-type", "text/plain"),
            ("origin", "https://evil.example"),
        ],
        "x",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::FORBIDDEN, "cross_origin"),
        "{}",
        r.text()
    );
    for origin in ["null", "http://127.0.0.1.evil.example:8000"] {
        let r = request(
            &app,
            "POST",
            "/api/v1/batches/flush",
            &[host, ("origin", origin)],
            "",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
    }
    let r = request(
        &app,
        "POST",
        "/api/v1/batches/flush",
        &[host, ("sec-fetch-site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Without Origin, a non-JSON body is refused as well.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = request(
            &app,
            "POST",
            "/api/v1/batches/flush",
            &[host, ("content-type", ct)],
            "",
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            "{ct}"
        );
    }
    assert_eq!(
        get(&app, "/api/v1/batches").await.json()["batches"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "no batch was made"
    );
    // The page's own request (same origin), and curl (no Origin, no body), pass.
    let r = request(
        &app,
        "POST",
        "/api/v1/batches/flush",
        &[
            host,
            ("origin", "http://127.0.0.1:8000"),
            ("sec-fetch-site", "same-origin"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        post_json(&app, "/api/v1/logs", log_json(2)).await.status,
        StatusCode::CREATED
    );
    let r = request(&app, "POST", "/api/v1/batches/flush", &[host], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

// ---- finding 8: the smaller ones ----

fn with_devices(dir: &std::path::Path) -> Config {
    let mut cfg = config(dir);
    cfg.auth.admin_key_sha256 = Some(key_hash("admin"));
    cfg.auth
        .device_keys
        .insert(key_hash("key-a"), "gw-A".into());
    cfg.auth
        .device_keys
        .insert(key_hash("key-b"), "gw-B".into());
    let device = kwh_btc_iot_core::Keypair::from_seed(&[7; 32]);
    cfg.auth.devices.insert(
        "gw-S".into(),
        kwh_btc_iot_gateway::config::DeviceRules {
            public_key: Some(device.public_key()),
            ..Default::default()
        },
    );
    cfg
}

async fn post_auth(
    app: &axum::Router,
    uri: &str,
    key: &str,
    ct: &str,
    body: impl Into<String>,
) -> Resp {
    request(
        app,
        "POST",
        uri,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", ct),
        ],
        &body.into(),
    )
    .await
}

#[tokio::test]
async fn a_foreign_leaf_hash_answers_404_like_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(with_devices(dir.path())).await;
    let r = post_auth(
        &app,
        "/api/v1/logs",
        "key-a",
        "application/json",
        log_json_device(1, "gw-A"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let leaf = r.json()["leaf_hash"].as_str().unwrap().to_string();
    assert_eq!(
        post_auth(
            &app,
            "/api/v1/batches/flush",
            "admin",
            "application/json",
            ""
        )
        .await
        .status,
        StatusCode::OK
    );
    let foreign = get_auth(&app, &format!("/api/v1/receipts/{leaf}"), "key-b").await;
    let unknown = get_auth(
        &app,
        &format!("/api/v1/receipts/{}", "ab".repeat(32)),
        "key-b",
    )
    .await;
    assert_eq!(
        (foreign.status, foreign.code()),
        (StatusCode::NOT_FOUND, "not_found".to_string())
    );
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found".to_string())
    );
    let shape = |m: &str, h: &str| m.replace(h, "HASH");
    assert_eq!(
        shape(foreign.json()["error"]["message"].as_str().unwrap(), &leaf),
        shape(
            unknown.json()["error"]["message"].as_str().unwrap(),
            &"ab".repeat(32)
        )
    );
    assert_eq!(
        get_auth(&app, &format!("/api/v1/receipts/{leaf}"), "key-a")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_401_carries_www_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(with_devices(dir.path())).await;
    for r in [
        get(&app, "/api/v1/logs").await,
        get_auth(&app, "/api/v1/logs", "wrong").await,
    ] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers["www-authenticate"],
            "Bearer realm=\"kwh-btc-iot\""
        );
    }
}

#[tokio::test]
async fn docs_and_the_page_have_a_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    for path in ["/docs/", "/docs/swagger-initializer.js", "/"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    let r = get(&app, "/docs/").await;
    let page = r.text();
    assert!(
        !page.contains("<script>") && !page.contains("<script type"),
        "inline script in /docs/"
    );
    let r = get(&app, "/api/v1/gateway").await;
    assert_eq!(
        r.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn a_bulk_of_bad_lines_answers_a_bounded_error_report() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    // 200 KB of bad lines, one good line in the middle.
    let mut body = String::new();
    let mut n = 0;
    while body.len() < 200 * 1024 {
        if n == 5000 {
            body.push_str(&log_json(1));
        } else {
            body.push_str("{\"schema_version\":\"emlog-1.1\"}");
        }
        body.push('\n');
        n += 1;
    }
    let r = request(
        &app,
        "POST",
        "/api/v1/logs/bulk",
        &[("content-type", "application/x-ndjson")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    eprintln!(
        "bulk of {n} lines ({} bytes): answer {} bytes, rejected {}, listed {}",
        body.len(),
        r.body.len(),
        j["rejected"],
        j["results"].as_array().unwrap().len()
    );
    assert_eq!(j["created"], 1);
    assert_eq!(j["rejected"].as_u64().unwrap() as usize, n - 1);
    assert_eq!(
        j["rejected_omitted"].as_u64().unwrap() as usize,
        n - 1 - 100
    );
    let by_code: u64 = j["rejected_codes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_code as usize, n - 1);
    let results = j["results"].as_array().unwrap();
    assert_eq!(results.len(), 101, "100 errors and the stored item");
    assert!(results
        .iter()
        .any(|i| i["index"] == 5000 && i["status"] == 201));
    assert!(r.body.len() < 64 * 1024, "answer of {} bytes", r.body.len());
}

#[tokio::test]
async fn with_devices_configured_look_alike_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(with_devices(dir.path())).await;
    for id in ["gw-S ", "gw-\u{FF33}", "gw-s", " gw-S", "gw-Z"] {
        let r = post_auth(
            &app,
            "/api/v1/logs",
            "admin",
            "application/json",
            log_json_device(1, id),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"),
            "{id:?}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["member"], "iot_device_id");
    }
    // The real one must still sign; configured unsigned devices still post.
    let r = post_auth(
        &app,
        "/api/v1/logs",
        "admin",
        "application/json",
        log_json_device(1, "gw-S"),
    )
    .await;
    assert_eq!(r.code(), "missing_signature");
    let r = post_auth(
        &app,
        "/api/v1/logs",
        "admin",
        "application/json",
        log_json_device(1, "gw-B"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

// ---- finding 2: bulk bodies streamed, bytes in flight capped ----

/// A request body fed chunk by chunk by the test.
struct ChanBody(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for ChanBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn bulk_request(len: Option<usize>) -> (Request<Body>, tokio::sync::mpsc::Sender<bytes::Bytes>) {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut b = Request::post("/api/v1/logs/bulk").header("content-type", "application/x-ndjson");
    if let Some(n) = len {
        b = b.header("content-length", n.to_string());
    }
    (b.body(Body::new(ChanBody(rx))).unwrap(), tx)
}

#[tokio::test]
async fn ndjson_lines_split_across_chunks_anywhere_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    let body = format!(
        "{}\r\n\n   \n{}\n{{\"schema_version\":\"emlog-1.1\"}}\n{}",
        log_json(1),
        log_json(2),
        log_json(3)
    );
    let (req, tx) = bulk_request(None);
    let task = tokio::spawn({
        let app = app.clone();
        async move { call(&app, req).await }
    });
    for piece in body.as_bytes().chunks(7) {
        tx.send(bytes::Bytes::copy_from_slice(piece)).await.unwrap();
    }
    drop(tx);
    let r = task.await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    let status: Vec<u64> = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(status, vec![201, 201, 422, 201], "{j}");
    assert_eq!(j["results"][2]["index"], 2, "blank lines are not items");
}

#[tokio::test]
async fn bulk_bytes_beyond_the_in_flight_cap_answer_503_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_bulk_bytes = 256 * 1024;
    cfg.max_bulk_bytes_in_flight = 256 * 1024;
    let (_gw, app) = start(cfg).await;
    // A declares 200 KiB and sends it slowly: it holds that share.
    let line = format!("{}\n", log_json(1));
    let (req_a, tx_a) = bulk_request(Some(200 * 1024));
    let a = tokio::spawn({
        let app = app.clone();
        async move { call(&app, req_a).await }
    });
    tx_a.send(bytes::Bytes::from(line.clone())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // B declares 100 KiB: over the cap while A is in flight.
    let body_b = format!("{}\n", log_json(2));
    let r = call(
        &app,
        Request::post("/api/v1/logs/bulk")
            .header("content-type", "application/x-ndjson")
            .header("content-length", (100 * 1024).to_string())
            .body(Body::from(body_b.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.code(), "overloaded");
    assert_eq!(r.headers["retry-after"], "1");
    // C sends without a length: refused at the chunk that crosses the cap,
    // having stored nothing.
    let (req_c, tx_c) = bulk_request(None);
    let c = tokio::spawn({
        let app = app.clone();
        async move { call(&app, req_c).await }
    });
    tx_c.send(bytes::Bytes::from(format!("{}\n", log_json(3))))
        .await
        .unwrap();
    tx_c.send(bytes::Bytes::from(vec![b' '; 80 * 1024]))
        .await
        .unwrap();
    drop(tx_c);
    let r = c.await.unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        "{}",
        r.text()
    );
    // A completes (padding to its declared length), and its share is given back.
    let pad = 200 * 1024 - line.len();
    tx_a.send(bytes::Bytes::from(vec![b'\n'; pad]))
        .await
        .unwrap();
    drop(tx_a);
    let r = a.await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["created"], 1);
    let logs = all_logs(&app, "").await;
    assert_eq!(logs.len(), 1, "only A's log is stored");
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[("content-type", "application/x-ndjson")],
        body_b,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "after A the budget is free again: {}",
        r.text()
    );
}
