//! The HTTP API through `tower::ServiceExt::oneshot`: the founding flow,
//! idempotency, bulk, listing, receipts, batches, auth, signatures, limits.

mod common;

use axum::http::StatusCode;
use common::*;
use kwh_btc_iot_core as core;
use kwh_btc_iot_gateway::config::{key_hash, Config, DeviceRules};

fn gateway_key(info: &serde_json::Value) -> [u8; 32] {
    core::model::head::public_key_from_hex(info["public_key"].as_str().unwrap(), "public_key")
        .unwrap()
}

#[tokio::test]
async fn founding_example_posts_flushes_and_its_receipt_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;

    let r = post_json(&app, "/api/v1/logs", founding_example()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    let log_id = j["log_id"].as_i64().unwrap();
    let leaf = j["leaf_hash"].as_str().unwrap().to_string();
    assert_eq!(leaf, core::leaf_hash(&founding_example()).unwrap().to_hex());
    assert_eq!(j["warnings"][0]["code"], "power_mismatch");

    // A device retry: same log, same id, nothing new.
    let again = post_json(&app, "/api/v1/logs", founding_example()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["log_id"].as_i64().unwrap(), log_id);
    // The same reading written differently (members reordered, optional ones left out) is the same log.
    let minimal = br#"{"tx":{"channel":"ln","price_sats_per_kwh":100},"status":"ok","tags":["peak"],"power_kw_avg":2.47,
        "energy_kwh":12.34,"ts_end":"2025-12-01T11:15:00+01:00","ts_start":"2025-12-01T10:10:00Z","meter_id":"MTR-001",
        "iot_device_id":"gw-PLANT01-003","site_id":"PLANT-01","schema_version":"emlog-1.1"}"#;
    let same = post_json(&app, "/api/v1/logs", minimal.to_vec()).await;
    assert_eq!(
        (same.status, same.json()["log_id"].as_i64().unwrap()),
        (StatusCode::OK, log_id)
    );
    assert_eq!(all_logs(&app, "").await.len(), 1);

    // Not yet batched: a clear 409.
    let r = get(&app, &format!("/api/v1/logs/{log_id}/receipt")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "not_batched")
    );

    let f = post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text());
    let f = f.json();
    for k in [
        "batch_id",
        "log_count",
        "merkle_root",
        "anchor_status",
        "head_hash",
        "seq",
        "signature",
    ] {
        assert!(!f[k].is_null(), "flush answer has {k}");
    }
    assert_eq!(
        (
            f["log_count"].as_u64(),
            f["seq"].as_u64(),
            f["anchor_status"].as_str()
        ),
        (Some(1), Some(1), Some("pending"))
    );
    assert_eq!(
        f["merkle_root"].as_str().unwrap(),
        leaf,
        "a one-leaf tree's root is the leaf"
    );
    assert!(f["batch_id"].as_str().unwrap().starts_with("batch_"));

    // Never an empty batch.
    let r = post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::CONFLICT, "empty_batch")
    );

    let info = get(&app, "/api/v1/gateway").await.json();
    assert_eq!(info["schema_versions"]["log"], "emlog-1.1");
    assert_eq!(info["storage"], "sqlite");
    let key = gateway_key(&info);
    for uri in [
        format!("/api/v1/logs/{log_id}/receipt"),
        format!("/api/v1/receipts/{leaf}"),
    ] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = core::verify_receipt(
            &r.body,
            &core::VerifyOptions {
                gateway_key: Some(key),
                ..Default::default()
            },
        );
        assert!(v.valid, "{:?}", v.errors);
        assert_eq!(v.head_hash.as_deref(), f["head_hash"].as_str());
        // A byte changed anywhere breaks it.
        let mut bad = r.body.clone();
        let pos = r.text().find("12.34").unwrap();
        bad[pos + 4] = b'5';
        assert!(
            !core::verify_receipt(
                &bad,
                &core::VerifyOptions {
                    gateway_key: Some(key),
                    ..Default::default()
                }
            )
            .valid
        );
    }

    let log = get(&app, &format!("/api/v1/logs/{log_id}")).await.json();
    assert_eq!(log["batch_id"], f["batch_id"]);
    assert_eq!(log["leaf_index"], 0);
    assert_eq!(log["log"]["power_kw_avg"], 2.47);

    let b = get(
        &app,
        &format!("/api/v1/batches/{}", f["batch_id"].as_str().unwrap()),
    )
    .await
    .json();
    assert_eq!(b["head"]["head_version"], "embatch-1");
    assert_eq!(b["head_hash"], f["head_hash"]);
    assert_eq!(b["head_signature"]["signature"], f["signature"]);
    assert_eq!(b["anchor_status"], "pending");
    assert_eq!(
        get(&app, "/api/v1/batches/nope").await.status,
        StatusCode::NOT_FOUND
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn key_file_is_private_and_identity_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let pk1 = get(&app, "/api/v1/gateway").await.json()["public_key"].clone();
    drop(app);
    gw.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("gateway.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (gw, app) = start(config(dir.path())).await;
    assert_eq!(
        get(&app, "/api/v1/gateway").await.json()["public_key"],
        pk1,
        "same key after restart"
    );
    // One process per SQLite data directory.
    let err = kwh_btc_iot_gateway::Gateway::start(config(dir.path()))
        .await
        .err()
        .expect("second instance refused");
    assert!(err.to_string().contains("another gateway process"), "{err}");
    drop(app);
    gw.shutdown().await;
    // A lost key must not silently start a new chain on the same database.
    std::fs::remove_file(dir.path().join("gateway.key")).unwrap();
    let err = kwh_btc_iot_gateway::Gateway::start(config(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("key"), "{err}");
}

#[tokio::test]
async fn bulk_array_and_ndjson_give_per_item_results() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let body = format!(
        "[{}, {}, {{\"a\":1,\"a\":2}}, {}, {}]",
        log_json(1),
        log_json(2),
        log_json(1),
        log_json(3).replace("\"energy_kwh\":12.34", "\"energy_kwh\":-1")
    );
    let r = post_json(&app, "/api/v1/logs/bulk", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (
            j["created"].as_u64(),
            j["duplicates"].as_u64(),
            j["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    let res = j["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], 201);
    assert_eq!(res[1]["status"], 201);
    assert_eq!(
        (res[2]["status"].as_u64(), res[2]["error"]["code"].as_str()),
        (Some(400), Some("duplicate_member"))
    );
    assert_eq!(res[3]["status"], 200);
    assert_eq!(
        res[3]["log_id"], res[0]["log_id"],
        "a duplicate in the same request gets the first one's id"
    );
    assert_eq!(
        (
            res[4]["status"].as_u64(),
            res[4]["error"]["member"].as_str()
        ),
        (Some(422), Some("energy_kwh"))
    );

    let nd = format!("{}\n\n{}\r\nnot json\n", log_json(4), log_json(2));
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[("content-type", "application/x-ndjson")],
        nd,
    )
    .await;
    let j = r.json();
    assert_eq!(
        (
            j["created"].as_u64(),
            j["duplicates"].as_u64(),
            j["rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(j["results"][2]["error"]["code"], "invalid_json");
    assert_eq!(all_logs(&app, "").await.len(), 3);

    // Whole-request problems.
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[("content-type", "text/csv")],
        "a,b",
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let r = post_json(&app, "/api/v1/logs/bulk", format!("[{}", log_json(9))).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let r = post_json(&app, "/api/v1/logs/bulk", "[]").await;
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn bulk_item_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(Config {
        max_bulk_items: 3,
        ..config(dir.path())
    })
    .await;
    let nd: String = (0..4).map(|i| log_json(i) + "\n").collect();
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[("content-type", "application/x-ndjson")],
        nd,
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    assert_eq!(
        all_logs(&app, "").await.len(),
        0,
        "nothing stored from a refused request"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    for i in 0..25u64 {
        let l = if i % 5 == 0 {
            log_json_device(i, "dev-B")
        } else {
            log_json(i)
        };
        let l = l
            .replace(
                "2025-12-01T10:10:00Z",
                &format!("2025-12-01T{:02}:10:00Z", i % 10),
            )
            .replace(
                "2025-12-01T10:15:00Z",
                &format!("2025-12-01T{:02}:15:00Z", i % 10),
            );
        assert_eq!(
            post_json(&app, "/api/v1/logs", l).await.status,
            StatusCode::CREATED
        );
    }
    let r = get(&app, "/api/v1/logs?limit=10").await.json();
    assert_eq!(r["logs"].as_array().unwrap().len(), 10);
    let c = r["next_cursor"].as_str().unwrap();
    let r2 = get(&app, &format!("/api/v1/logs?limit=10&cursor={c}"))
        .await
        .json();
    assert!(r2["logs"][0]["log_id"].as_i64() > r["logs"][9]["log_id"].as_i64());
    assert_eq!(all_logs(&app, "").await.len(), 25);
    assert_eq!(all_logs(&app, "iot_device_id=dev-B").await.len(), 5);
    assert_eq!(all_logs(&app, "meter_id=MTR-7").await.len(), 1);
    assert_eq!(all_logs(&app, "site_id=PLANT-01").await.len(), 25);
    assert_eq!(all_logs(&app, "site_id=OTHER").await.len(), 0);
    assert_eq!(
        all_logs(&app, "from=2025-12-01T05:00:00Z&to=2025-12-01T07:00:00Z")
            .await
            .len(),
        4
    );
    assert_eq!(all_logs(&app, "unbatched=true").await.len(), 25);
    post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    assert_eq!(all_logs(&app, "unbatched=true").await.len(), 0);
    let b = all_batches(&app).await;
    assert_eq!(
        all_logs(
            &app,
            &format!("batch_id={}", b[0]["batch_id"].as_str().unwrap())
        )
        .await
        .len(),
        25
    );
    for (q, member) in [
        ("limit=0", "limit"),
        ("limit=x", "query"),
        ("cursor=abc", "cursor"),
        ("from=yesterday", "from"),
        ("unbatched=maybe", "query"),
    ] {
        let r = get(&app, &format!("/api/v1/logs?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.json()["error"]["member"], member, "{q}");
    }
    assert_eq!(
        get(&app, "/api/v1/logs?batch_id=missing").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(check_batches(&app).await, 25);
    gw.shutdown().await;
}

#[tokio::test]
async fn many_batches_chain_and_receipts_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let key = gateway_key(&get(&app, "/api/v1/gateway").await.json());
    let mut ids = Vec::new();
    for round in 0..3u64 {
        for i in 0..(7 * round + 3) {
            ids.push(
                post_json(&app, "/api/v1/logs", log_json(round * 1000 + i))
                    .await
                    .json()["log_id"]
                    .as_i64()
                    .unwrap(),
            );
        }
        assert_eq!(
            post_json(&app, "/api/v1/batches/flush", Vec::new())
                .await
                .status,
            StatusCode::OK
        );
    }
    check_batches(&app).await;
    for id in ids {
        let r = get(&app, &format!("/api/v1/logs/{id}/receipt")).await;
        let v = core::verify_receipt(
            &r.body,
            &core::VerifyOptions {
                gateway_key: Some(key),
                ..Default::default()
            },
        );
        assert!(v.valid, "log {id}: {:?}", v.errors);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn auto_flush_by_count_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(Config {
        flush_count: 5,
        ..config(dir.path())
    })
    .await;
    for i in 0..5 {
        post_json(&app, "/api/v1/logs", log_json(i)).await;
    }
    let mut batches = Vec::new();
    for _ in 0..200 {
        batches = all_batches(&app).await;
        if !batches.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(batches.len(), 1, "a batch after flush_count logs");
    assert_eq!(batches[0]["log_count"], 5);
    gw.shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(Config {
        flush_age_s: 1,
        ..config(dir.path())
    })
    .await;
    post_json(&app, "/api/v1/logs", log_json(1)).await;
    for _ in 0..200 {
        batches = all_batches(&app).await;
        if !batches.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        batches.len(),
        1,
        "a batch once the oldest log is flush_age_s old"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn health_ready_docs_openapi_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    assert_eq!(get(&app, "/health").await.json()["status"], "ok");
    assert_eq!(get(&app, "/ready").await.json()["storage"], "sqlite");
    let docs = get(&app, "/docs/").await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text().contains("swagger-ui"), "Swagger UI page");
    assert!(!docs.text().contains("cdn"), "no CDN");
    let bundle = get(&app, "/docs/swagger-ui-bundle.js").await;
    assert_eq!(
        bundle.status,
        StatusCode::OK,
        "vendored Swagger UI assets are served"
    );
    assert!(bundle.body.len() > 100_000);
    let api = get(&app, "/openapi.json").await.json();
    for p in [
        "/health",
        "/ready",
        "/api/v1/logs",
        "/api/v1/logs/bulk",
        "/api/v1/logs/{log_id}",
        "/api/v1/logs/{log_id}/receipt",
        "/api/v1/receipts/{leaf_hash}",
        "/api/v1/batches/flush",
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/gateway",
        "/metrics",
    ] {
        assert!(api["paths"][p].is_object(), "openapi has {p}");
    }
    assert!(api["components"]["schemas"]["ErrorBody"].is_object());
    assert!(
        api["paths"]["/api/v1/logs"]["post"]["responses"]["422"].is_object(),
        "error bodies documented"
    );
    post_json(&app, "/api/v1/logs", log_json(1)).await;
    post_json(&app, "/api/v1/logs", "{").await;
    post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    let m = get(&app, "/metrics").await.text();
    for name in [
        "kwh_btc_iot_logs_ingested_total",
        "kwh_btc_iot_requests_rejected_total{code=\"invalid_json\"}",
        "kwh_btc_iot_batches_total",
        "kwh_btc_iot_flush_duration_seconds_bucket",
        "kwh_btc_iot_http_request_duration_seconds_bucket",
    ] {
        assert!(m.contains(name), "metrics have {name}");
    }
    gw.shutdown().await;
}

const ADMIN: &str = "admin-secret-key";
const DEV_A: &str = "device-a-secret";

fn auth_config(dir: &std::path::Path) -> Config {
    let mut cfg = config(dir);
    cfg.auth.admin_key_sha256 = Some(key_hash(ADMIN));
    cfg.auth
        .device_keys
        .insert(key_hash(DEV_A), "gw-PLANT01-003".into());
    // With devices configured only their ids are accepted: dev-B is one.
    cfg.auth
        .device_keys
        .insert(key_hash("device-b-secret"), "dev-B".into());
    cfg
}

#[tokio::test]
async fn keys_are_required_and_limited_to_their_device() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(auth_config(dir.path())).await;
    let bearer = |k: &str| format!("Bearer {k}");
    let r = post_json(&app, "/api/v1/logs", log_json(1)).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer("wrong")),
        ],
        log_json(1),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let ok = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(DEV_A)),
        ],
        log_json(1),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[("content-type", "application/json"), ("x-api-key", DEV_A)],
        log_json_device(2, "dev-B"),
    )
    .await;
    assert_eq!(
        (
            r.status,
            r.code().as_str(),
            r.json()["error"]["member"].as_str()
        ),
        (StatusCode::FORBIDDEN, "forbidden", Some("iot_device_id"))
    );
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(ADMIN)),
        ],
        log_json_device(3, "dev-B"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "admin writes any configured device"
    );
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(ADMIN)),
        ],
        log_json_device(3, "dev-C"),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"),
        "not an unconfigured one"
    );
    // Bulk: the other device's item is refused alone.
    let body = format!("[{},{}]", log_json(4), log_json_device(5, "dev-B"));
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer(DEV_A)),
        ],
        body,
    )
    .await;
    let j = r.json();
    assert_eq!(
        (
            j["results"][0]["status"].as_u64(),
            j["results"][1]["status"].as_u64()
        ),
        (Some(201), Some(403))
    );
    // Listing: device sees its own logs; admin all.
    assert_eq!(
        get_auth(&app, "/api/v1/logs", DEV_A).await.json()["logs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get_auth(&app, "/api/v1/logs?iot_device_id=dev-B", DEV_A)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_auth(&app, "/api/v1/logs", ADMIN).await.json()["logs"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        get(&app, "/api/v1/logs").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Flush and metrics: admin only.
    let r = post_with(
        &app,
        "/api/v1/batches/flush",
        &[("authorization", &bearer(DEV_A))],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get_auth(&app, "/metrics", DEV_A).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::UNAUTHORIZED);
    let r = post_with(
        &app,
        "/api/v1/batches/flush",
        &[("authorization", &bearer(ADMIN))],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Receipts: own device only.
    let other = get_auth(&app, "/api/v1/logs?iot_device_id=dev-B", ADMIN)
        .await
        .json()["logs"][0]["log_id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        get_auth(&app, &format!("/api/v1/logs/{other}/receipt"), DEV_A)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mine = ok.json()["log_id"].as_i64().unwrap();
    assert_eq!(
        get_auth(&app, &format!("/api/v1/logs/{mine}/receipt"), DEV_A)
            .await
            .status,
        StatusCode::OK
    );
    // Public: identity, health, docs.
    assert_eq!(
        get(&app, "/api/v1/gateway").await.json()["auth_required"],
        true
    );
    assert_eq!(get(&app, "/health").await.status, StatusCode::OK);
    gw.shutdown().await;
}

#[tokio::test]
async fn non_loopback_listen_needs_keys() {
    let dir = tempfile::tempdir().unwrap();
    let open = Config {
        listen: "0.0.0.0:0".into(),
        ..config(dir.path())
    };
    let err = kwh_btc_iot_gateway::cli::listen_addr(&open)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing"), "{err}");
    assert!(kwh_btc_iot_gateway::cli::listen_addr(&Config {
        listen: "127.0.0.1:0".into(),
        ..config(dir.path())
    })
    .await
    .is_ok());
    assert!(kwh_btc_iot_gateway::cli::listen_addr(&Config {
        listen: "0.0.0.0:0".into(),
        ..auth_config(dir.path())
    })
    .await
    .is_ok());
}

#[tokio::test]
async fn signing_devices_must_sign_and_the_signature_is_in_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let device = core::Keypair::from_seed(&[42; 32]);
    let mut cfg = config(dir.path());
    cfg.auth.devices.insert(
        "gw-PLANT01-003".into(),
        DeviceRules {
            public_key: Some(device.public_key()),
            ..Default::default()
        },
    );
    cfg.auth
        .devices
        .insert("dev-B".into(), DeviceRules::default());
    let (gw, app) = start(cfg).await;
    let log = log_json(1);
    let canonical = core::canonicalize(log.as_bytes()).unwrap();
    let sig = core::encoding::hex::encode(&device.sign(&canonical).signature);

    let r = post_json(&app, "/api/v1/logs", log.clone()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "missing_signature")
    );
    let other = core::Keypair::from_seed(&[7; 32]);
    let bad = core::encoding::hex::encode(&other.sign(&canonical).signature);
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("x-log-signature", &bad),
        ],
        log.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("x-log-signature", "abc"),
        ],
        log.clone(),
    )
    .await;
    assert_eq!(r.code(), "invalid_hex");
    // A device without a key may not send a signature nobody can check.
    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("x-log-signature", &sig),
        ],
        log_json_device(2, "dev-B"),
    )
    .await;
    assert_eq!(r.code(), "untrusted_key");

    let r = post_with(
        &app,
        "/api/v1/logs",
        &[
            ("content-type", "application/json"),
            ("x-log-signature", &sig),
        ],
        log.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["log_id"].as_i64().unwrap();
    assert_eq!(
        get(&app, &format!("/api/v1/logs/{id}")).await.json()["log_signature"],
        sig.as_str()
    );
    post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    let receipt = get(&app, &format!("/api/v1/logs/{id}/receipt")).await;
    let rj = receipt.json();
    assert_eq!(rj["log_signature"]["signature"], sig.as_str());
    assert_eq!(
        rj["log_signature"]["public_key"],
        core::encoding::hex::encode(&device.public_key()).as_str()
    );
    let v = core::verify_receipt(&receipt.body, &Default::default());
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.log_signature, core::verify::SignatureStatus::Valid);
    gw.shutdown().await;
}

#[tokio::test]
async fn rate_limit_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = auth_config(dir.path());
    cfg.rate_limit_per_s = 0.001;
    cfg.rate_limit_burst = 3.0;
    let (gw, app) = start(cfg).await;
    for _ in 0..3 {
        assert_eq!(
            get_auth(&app, "/api/v1/batches", DEV_A).await.status,
            StatusCode::OK
        );
    }
    let r = get_auth(&app, "/api/v1/batches", DEV_A).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(
        get_auth(&app, "/api/v1/batches", ADMIN).await.status,
        StatusCode::OK,
        "other keys have their own bucket"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn config_file_and_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    let dev_pk = core::encoding::hex::encode(&core::Keypair::from_seed(&[1; 32]).public_key());
    std::fs::write(&path, format!(
        "listen = \"127.0.0.1:9999\"\nflush_count = 7\nadmin_key_sha256 = \"{}\"\n[[devices]]\niot_device_id = \"d1\"\nkey_sha256 = \"{}\"\npublic_key = \"{dev_pk}\"\n",
        core::encoding::hex::encode(&key_hash("a")), core::encoding::hex::encode(&key_hash("k1"))
    )).unwrap();
    let args = kwh_btc_iot_gateway::cli::ServeArgs {
        config: Some(path.clone()),
        flush_count: Some(9),
        ..Default::default()
    };
    let cfg = Config::resolve(&args).unwrap();
    assert_eq!(cfg.listen, "127.0.0.1:9999");
    assert_eq!(cfg.flush_count, 9, "the command line beats the file");
    assert_eq!(
        cfg.auth
            .device_keys
            .get(&key_hash("k1"))
            .map(String::as_str),
        Some("d1")
    );
    assert!(cfg.auth.devices["d1"].public_key.is_some());
    std::fs::write(&path, "lisen = \"x\"\n").unwrap();
    assert!(
        Config::resolve(&args)
            .unwrap_err()
            .to_string()
            .contains("config file"),
        "unknown keys are refused"
    );
}
