//! Shared helpers of the gateway tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use kwh_btc_iot_gateway::config::Config;
use kwh_btc_iot_gateway::Gateway;
use tower::ServiceExt;

/// A valid log, distinct for each `i`.
pub fn log_json(i: u64) -> String {
    format!(
        r#"{{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003","meter_id":"MTR-{i}","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":12.34,"status":"ok","tags":["peak"],"tx":{{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}}}"#
    )
}

/// A valid log of another device.
pub fn log_json_device(i: u64, device: &str) -> String {
    log_json(i).replace("gw-PLANT01-003", device)
}

/// The founding example log.
pub fn founding_example() -> Vec<u8> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/examples/canonical_log_example.json");
    std::fs::read(&shared).unwrap_or_else(|_| {
        br#"{
  "schema_version": "emlog-1.1", "site_id": "PLANT-01", "iot_device_id": "gw-PLANT01-003", "meter_id": "MTR-001",
  "ts_start": "2025-12-01T10:10:00Z", "ts_end": "2025-12-01T10:15:00Z", "interval_s": 300,
  "energy_kwh": 12.34, "power_kw_avg": 2.47, "status": "ok", "tags": ["peak"],
  "tx": {"unit": "sats", "price_sats_per_kwh": 100, "amount_sats": 1234, "channel": "ln",
         "settlement_status": "pending", "ln_invoice_id": null, "bitcoin_txid": null}
}"#
        .to_vec()
    })
}

/// A config in a fresh temp dir, auto flush off.
pub fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        key_file: dir.join("gateway.key"),
        flush_count: 0,
        flush_age_s: 0,
        ..Config::default()
    }
}

/// A gateway and its router.
pub async fn start(cfg: Config) -> (Gateway, Router) {
    let gw = Gateway::start(cfg).await.expect("gateway starts");
    let app = kwh_btc_iot_gateway::app(gw.state.clone());
    (gw, app)
}

/// A response: status, headers, body.
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a request through the router.
pub async fn call(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &Router, uri: &str) -> Resp {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn get_auth(app: &Router, uri: &str, key: &str) -> Resp {
    call(
        app,
        Request::get(uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

pub async fn post_json(app: &Router, uri: &str, body: impl Into<Vec<u8>>) -> Resp {
    call(
        app,
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.into()))
            .unwrap(),
    )
    .await
}

pub async fn post_with(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Resp {
    let mut b = Request::post(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    call(app, b.body(Body::from(body.into())).unwrap()).await
}

/// Pages through `GET /api/v1/logs?QUERY` and returns every log entry.
pub async fn all_logs(app: &Router, query: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/api/v1/logs?limit=1000&{query}");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let r = get(app, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let j = r.json();
        out.extend(j["logs"].as_array().unwrap().iter().cloned());
        match j["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Every batch (all pages), oldest first.
pub async fn all_batches(app: &Router) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = "/api/v1/batches?limit=1000".to_string();
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let j = get(app, &uri).await.json();
        out.extend(j["batches"].as_array().unwrap().iter().cloned());
        match j["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    out.reverse();
    out
}

/// Checks that every log is in exactly one batch, that each batch's leaf
/// indexes are 0..n, that its root re-computes from its stored logs (hashed
/// again by the core), and that the heads chain. Returns the number of logs.
pub async fn check_batches(app: &Router) -> usize {
    use kwh_btc_iot_core as core;
    let logs = all_logs(app, "").await;
    let batches = all_batches(app).await;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut prev: Option<String> = None;
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(
            b["seq"].as_i64().unwrap(),
            i as i64 + 1,
            "seqs are 1, 2, 3, ..."
        );
        let id = b["batch_id"].as_str().unwrap();
        let mut in_batch: Vec<&serde_json::Value> = logs
            .iter()
            .filter(|l| l["batch_id"] == b["batch_id"])
            .collect();
        in_batch.sort_by_key(|l| l["leaf_index"].as_i64().unwrap());
        assert_eq!(
            in_batch.len() as i64,
            b["log_count"].as_i64().unwrap(),
            "batch {id} log_count"
        );
        let mut leaves = Vec::new();
        for (k, l) in in_batch.iter().enumerate() {
            assert_eq!(
                l["leaf_index"].as_i64().unwrap(),
                k as i64,
                "batch {id} leaf indexes are 0..n"
            );
            let text = serde_json::to_string(&l["log"]).unwrap();
            let leaf = core::leaf_hash(text.as_bytes()).expect("stored log is valid");
            assert_eq!(
                leaf.to_hex(),
                l["leaf_hash"].as_str().unwrap(),
                "stored leaf hash re-computes"
            );
            assert!(
                seen.insert(l["log_id"].as_i64().unwrap()),
                "log in two batches"
            );
            leaves.push(leaf);
        }
        assert_eq!(
            core::merkle::root(&leaves).to_hex(),
            b["merkle_root"].as_str().unwrap(),
            "batch {id} root re-computes"
        );
        let detail = get(app, &format!("/api/v1/batches/{id}")).await.json();
        assert_eq!(
            detail["head"]["prev_head_hash"]
                .as_str()
                .map(str::to_string),
            prev,
            "heads chain"
        );
        prev = Some(detail["head_hash"].as_str().unwrap().to_string());
        total += in_batch.len();
    }
    assert!(
        logs.iter().all(|l| !l["batch_id"].is_null()),
        "every log is batched"
    );
    assert_eq!(total, logs.len(), "every log is in exactly one batch");
    total
}

// ---- a tiny HTTP/1.1 client for the tests against real processes ----

/// One request with `Connection: close`; `None` when the connection fails.
pub fn http(addr: &str, method: &str, path: &str, body: Option<&[u8]>) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.unwrap_or(b"");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..text_end]).ok()?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf[text_end + 4..].to_vec()))
}

/// The `kwh-btc-iot` binary: `$KWH_BTC_IOT_BIN`, else target/{debug,release}.
pub fn cli_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("KWH_BTC_IOT_BIN") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join("kwh-btc-iot"))
        .find(|p| p.exists())
}

/// The server program: the CLI's `serve`, or this crate's `serve` example.
pub fn server_command() -> std::process::Command {
    if let Some(bin) = cli_binary() {
        // A CLI whose `serve` does not even parse its options is a bug, not a reason to fall back.
        let out = std::process::Command::new(&bin)
            .args(["serve", "--help"])
            .output()
            .expect("run the CLI");
        assert!(
            out.status.success(),
            "{} serve --help failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut c = std::process::Command::new(bin);
        c.arg("serve");
        return c;
    }
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("serve");
    eprintln!(
        "NOTE: the kwh-btc-iot binary is not built; using {}",
        example.display()
    );
    std::process::Command::new(example)
}

/// A fresh PostgreSQL database for one test, from `$KWH_BTC_IOT_TEST_DATABASE_URL`
/// (a URL whose user may CREATE DATABASE). `None` (with a loud message) when unset.
pub async fn fresh_postgres(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("KWH_BTC_IOT_TEST_DATABASE_URL") else {
        eprintln!("\n!!!!!!!! SKIPPED {test}: KWH_BTC_IOT_TEST_DATABASE_URL is not set (scripts/test-gateway.sh sets it) !!!!!!!!\n");
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to the test PostgreSQL");
    let mut seed = [0u8; 6];
    getrandom::getrandom(&mut seed).unwrap();
    let name = format!(
        "kwh_test_{}",
        kwh_btc_iot_core::encoding::hex::encode(&seed)
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("URL with a database name");
    let query = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Some(format!("{prefix}/{name}{query}"))
}
