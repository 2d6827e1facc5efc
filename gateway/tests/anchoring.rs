//! Anchoring end to end: the gateway's OpenTimestamps worker against the
//! stand-in calendar over real HTTP (pending, then anchored in a block of
//! regtest difficulty), receipts that carry the anchors and verify with the
//! core, outages, restarts, tampered answers, the attach endpoint, and the
//! anchor storage methods on SQLite and PostgreSQL.

#[path = "anchoring_support/mod.rs"]
mod anchoring_support;
mod common;

use std::sync::Arc;
use std::time::Duration;

use anchoring_support::{Calendar, Served};
use axum::http::StatusCode;
use axum::Router;
use common::*;
use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Network};
use kwh_btc_iot_core::verify::AnchorOptions;
use kwh_btc_iot_core::verify::VerifyOptions;
use kwh_btc_iot_gateway::anchoring::calendar::HeaderSource;
use kwh_btc_iot_gateway::anchoring::worker::OtsConfig;
use kwh_btc_iot_gateway::config::{key_hash, AnchorConfig, Config};
use kwh_btc_iot_gateway::storage::{anchor_status, AnchorRow, IdentityStore, Storage};
use kwh_btc_iot_gateway::Gateway;
use kwh_btc_iot_testkit::{op_return_tx, BitcoinAnchor};
use serde_json::{json, Value};

fn ots(calendars: Vec<String>, headers: &str) -> OtsConfig {
    OtsConfig {
        calendars,
        network: Network::Regtest,
        upgrade_interval: Duration::from_millis(100),
        upgrade_max_interval: Duration::from_millis(400),
        headers: Some(HeaderSource::Esplora(headers.to_string())),
        request_timeout: Duration::from_secs(5),
        tick: Duration::from_millis(50),
    }
}

fn gw_config(dir: &std::path::Path, db: &Option<String>, ots: Option<OtsConfig>) -> Config {
    Config {
        database_url: db.clone(),
        anchor: AnchorConfig {
            network: Network::Regtest,
            ots,
            bitcoind: None,
            ..AnchorConfig::default()
        },
        ..config(dir)
    }
}

/// Waits (polling) until `f` holds; panics with `what` after 60 s.
async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if f().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts one log and flushes: (log_id, batch_id).
async fn log_and_flush(app: &Router, i: u64) -> (i64, String) {
    let r = post_json(app, "/api/v1/logs", log_json(i)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let log_id = r.json()["log_id"].as_i64().unwrap();
    let f = post_json(app, "/api/v1/batches/flush", "").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text());
    (log_id, f.json()["batch_id"].as_str().unwrap().to_string())
}

async fn batch(app: &Router, id: &str) -> Value {
    let r = get(app, &format!("/api/v1/batches/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn own_anchor_status(app: &Router, id: &str) -> Option<String> {
    let b = batch(app, id).await;
    b["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["covered_by"].is_null() && a["type"] == "opentimestamps")
        .map(|a| a["status"].as_str().unwrap().to_string())
}

async fn receipt(app: &Router, log_id: i64) -> String {
    let r = get(app, &format!("/api/v1/logs/{log_id}/receipt")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.text()
}

fn verify(receipt: &str, key: [u8; 32], network: Network) -> kwh_btc_iot_core::Verification {
    kwh_btc_iot_core::verify::verify_receipt(
        receipt.as_bytes(),
        &VerifyOptions {
            gateway_key: Some(key),
            anchor: AnchorOptions::for_network(network),
        },
    )
}

/// Every scenario runs on SQLite and, when configured, on PostgreSQL.
async fn backends(test: &str) -> Vec<Option<String>> {
    let mut v = vec![None];
    if let Some(url) = fresh_postgres(test).await {
        v.push(Some(url));
    }
    v
}

async fn pending_then_anchored(db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cal = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let url = cal.url();
    let (gw, app) = start(gw_config(
        dir.path(),
        &db,
        Some(ots(vec![url.clone()], &url)),
    ))
    .await;
    let key = gw.state.public_key;

    // Batch 1: pending, then anchored.
    let (log1, b1) = log_and_flush(&app, 1).await;
    wait_until("batch 1 pending", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("pending")
    })
    .await;
    let r = receipt(&app, log1).await;
    let v = verify(&r, key, Network::Regtest);
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.anchors.len(), 1);
    assert_eq!(v.anchors[0].status, "pending", "{}", v.anchors[0].detail);
    assert_eq!(v.anchors[0].calendars, vec![cal.calendar.uri()]);
    assert_eq!(batch(&app, &b1).await["anchor_status"], "pending");
    let mined = cal.calendar.mine();
    assert_eq!(mined.commitments, 1);
    wait_until("batch 1 anchored", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("anchored")
    })
    .await;
    let detail = batch(&app, &b1).await;
    assert_eq!(detail["anchor_status"], "anchored");
    let a = &detail["anchors"][0];
    assert_eq!(a["height"].as_u64(), Some(mined.height));
    assert_eq!(a["block_hash"], json!(mined.header.block_hash_display()));
    assert!(a["txid"].is_string());
    // The header source that confirmed the header (security finding 4).
    assert_eq!(a["confirmed_by"], json!(url), "{a}");
    let list = get(&app, "/api/v1/batches").await.json();
    assert_eq!(list["batches"][0]["anchor_status"], "anchored");
    assert_eq!(
        list["batches"][0]["anchor"]["height"].as_u64(),
        Some(mined.height)
    );

    // The receipts' anchor list is cached for up to ANCHOR_CACHE_TTL; a
    // receipt loaded just as the worker stored the anchor may still carry the
    // pending proof until then.
    wait_until("the receipt carries the anchored proof", || async {
        let j: Value = serde_json::from_str(&receipt(&app, log1).await).unwrap();
        j["anchors"][0]["headers"].is_object()
    })
    .await;
    let r = receipt(&app, log1).await;
    let j: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(j["anchors"][0]["type"], "opentimestamps");
    assert_eq!(
        j["anchors"][0]["headers"][mined.height.to_string()],
        json!(kwh_btc_iot_core::encoding::hex::encode(
            &mined.header.to_bytes()
        ))
    );
    let v = verify(&r, key, Network::Regtest);
    assert!(v.valid, "{:?}", v.errors);
    let x = &v.anchors[0];
    assert_eq!(x.status, "verified", "{}", x.detail);
    assert_eq!(x.height, Some(mined.height));
    assert_eq!(
        x.block_hash.as_deref(),
        Some(mined.header.block_hash_display().as_str())
    );
    // The same receipt under mainnet rules: refused at the proof of work.
    let v = verify(&r, key, Network::Mainnet);
    assert!(!v.valid);
    assert_eq!(
        v.anchors[0].failed_step.map(|f| f.as_str()),
        Some("header_pow")
    );
    // The .ots reads back in the reference form and verifies on its own.
    let ots_bytes = kwh_btc_iot_core::encoding::base64::decode_hex_or_base64(
        j["anchors"][0]["ots"].as_str().unwrap(),
    )
    .unwrap();
    let f = kwh_btc_iot_core::encoding::ots::DetachedTimestampFile::parse(&ots_bytes).unwrap();
    assert_eq!(f.to_bytes().unwrap(), ots_bytes);

    // Batch 2 is submitted, but the calendar loses it; batch 3 is anchored:
    // the receipt of batch 2 carries batch 3's anchor with the heads chain.
    let (log2, b2) = log_and_flush(&app, 2).await;
    wait_until("batch 2 pending", || async {
        own_anchor_status(&app, &b2).await.as_deref() == Some("pending")
    })
    .await;
    assert_eq!(cal.calendar.drop_pending(), 1);
    let (log3, b3) = log_and_flush(&app, 3).await;
    wait_until("batch 3 pending", || async {
        own_anchor_status(&app, &b3).await.as_deref() == Some("pending")
    })
    .await;
    let mined3 = cal.calendar.mine();
    wait_until("batch 3 anchored", || async {
        own_anchor_status(&app, &b3).await.as_deref() == Some("anchored")
    })
    .await;
    let d2 = batch(&app, &b2).await;
    assert_eq!(d2["anchor_status"], "anchored");
    let covered: Vec<&Value> = d2["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["covered_by"] == json!(b3))
        .collect();
    assert_eq!(covered.len(), 1, "{d2}");
    assert_eq!(
        own_anchor_status(&app, &b2).await.as_deref(),
        Some("pending")
    );
    // Receipts follow within the anchor cache's time to live.
    wait_until("batch 2's receipt carries batch 3's anchor", || async {
        let j: Value = serde_json::from_str(&receipt(&app, log2).await).unwrap();
        j["anchors"][0]["heads"].is_array()
    })
    .await;
    let r2 = receipt(&app, log2).await;
    let j2: Value = serde_json::from_str(&r2).unwrap();
    assert_eq!(j2["anchors"].as_array().unwrap().len(), 1, "{j2}");
    assert_eq!(j2["anchors"][0]["heads"].as_array().unwrap().len(), 1);
    let v = verify(&r2, key, Network::Regtest);
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.anchors[0].status, "verified", "{}", v.anchors[0].detail);
    assert_eq!(v.anchors[0].height, Some(mined3.height));
    let head3 = batch(&app, &b3).await["head_hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v.anchors[0].anchored_head_hash.as_deref(),
        Some(head3.as_str())
    );
    // Batch 1 keeps its own anchor; batch 3 its own.
    let v1 = verify(&receipt(&app, log1).await, key, Network::Regtest);
    assert_eq!(v1.anchors[0].height, Some(mined.height));
    let v3 = verify(&receipt(&app, log3).await, key, Network::Regtest);
    assert_eq!(v3.anchors[0].height, Some(mined3.height));

    // Metrics.
    let m = get(&app, "/metrics").await.text();
    assert!(m.contains("kwh_btc_iot_ots_calendar_requests_total"), "{m}");
    wait_until("anchor gauges", || async {
        let m = get(&app, "/metrics").await.text();
        m.contains("kwh_btc_iot_anchors{kind=\"opentimestamps\",status=\"anchored\"}")
            && m.contains("kwh_btc_iot_anchored_height")
    })
    .await;
    gw.shutdown().await;
    cal.stop().await;
}

#[tokio::test]
async fn a_head_goes_pending_then_anchored_and_receipts_verify() {
    for db in backends("a_head_goes_pending_then_anchored").await {
        pending_then_anchored(db).await;
    }
}

async fn outage_then_back(db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cal = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let url = cal.url();
    let (gw, app) = start(gw_config(
        dir.path(),
        &db,
        Some(ots(vec![url.clone()], &url)),
    ))
    .await;
    // 503 at submission: no anchor yet, retried later.
    cal.calendar.set_unavailable(true);
    let (log1, b1) = log_and_flush(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(own_anchor_status(&app, &b1).await, None);
    assert_eq!(cal.calendar.submissions(), 0);
    cal.calendar.set_unavailable(false);
    wait_until("pending after the outage", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("pending")
    })
    .await;
    // Connection refused while upgrading: attempts grow, the error is kept.
    cal.stop().await;
    cal.calendar.mine();
    wait_until("failed upgrade attempts recorded", || async {
        let b = batch(&app, &b1).await;
        let a = &b["anchors"][0];
        a["attempts"].as_i64().unwrap_or(0) >= 2
            && a["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("cannot connect")
    })
    .await;
    assert_eq!(
        own_anchor_status(&app, &b1).await.as_deref(),
        Some("pending")
    );
    cal.restart().await.unwrap();
    wait_until("anchored after the calendar came back", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("anchored")
    })
    .await;
    // Receipts follow within the anchor cache's time to live.
    wait_until("the receipt's anchor verified", || async {
        let v = verify(
            &receipt(&app, log1).await,
            gw.state.public_key,
            Network::Regtest,
        );
        v.anchors.first().is_some_and(|a| a.status == "verified")
    })
    .await;
    let v = verify(
        &receipt(&app, log1).await,
        gw.state.public_key,
        Network::Regtest,
    );
    assert_eq!(v.anchors[0].status, "verified");
    gw.shutdown().await;
    cal.stop().await;
}

#[tokio::test]
async fn calendar_outages_lose_nothing() {
    for db in backends("calendar_outages_lose_nothing").await {
        outage_then_back(db).await;
    }
}

async fn restart_between(db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cal = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let url = cal.url();
    let cfg = gw_config(dir.path(), &db, Some(ots(vec![url.clone()], &url)));
    let (gw, app) = start(cfg.clone()).await;
    let (log1, b1) = log_and_flush(&app, 1).await;
    wait_until("pending", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("pending")
    })
    .await;
    drop(app);
    gw.shutdown().await;
    cal.calendar.mine();
    let (gw, app) = start(cfg).await;
    wait_until("anchored after the restart", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("anchored")
    })
    .await;
    assert_eq!(
        cal.calendar.submissions(),
        1,
        "the head is not submitted twice"
    );
    let v = verify(
        &receipt(&app, log1).await,
        gw.state.public_key,
        Network::Regtest,
    );
    assert_eq!(v.anchors[0].status, "verified");
    gw.shutdown().await;
    cal.stop().await;
}

#[tokio::test]
async fn a_restart_between_pending_and_upgrade_resumes() {
    for db in backends("a_restart_between_pending_and_upgrade_resumes").await {
        restart_between(db).await;
    }
}

#[tokio::test]
async fn two_calendars_one_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let mut bad = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    bad.calendar.set_unavailable(true);
    let cals = vec![good.url(), bad.url()];
    let (gw, app) = start(gw_config(dir.path(), &None, Some(ots(cals, &good.url())))).await;
    let key = gw.state.public_key;
    let (log1, b1) = log_and_flush(&app, 1).await;
    wait_until("pending with one calendar", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("pending")
    })
    .await;
    let a = batch(&app, &b1).await["anchors"][0].clone();
    assert!(
        a["last_error"].as_str().unwrap().contains(&bad.url()),
        "{a}"
    );
    let v = verify(&receipt(&app, log1).await, key, Network::Regtest);
    assert_eq!(v.anchors[0].calendars, vec![good.calendar.uri()]);
    // The failing calendar comes back: it is asked again, the proof gains it.
    bad.calendar.set_unavailable(false);
    wait_until("both calendars in the pending proof", || async {
        let v = verify(&receipt(&app, log1).await, key, Network::Regtest);
        v.anchors[0].calendars.len() == 2
    })
    .await;
    good.calendar.mine();
    wait_until("anchored through the good calendar", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("anchored")
    })
    .await;
    // Receipts follow within the anchor cache's time to live.
    wait_until("the receipt's anchor verified", || async {
        let v = verify(&receipt(&app, log1).await, key, Network::Regtest);
        v.anchors.first().is_some_and(|a| a.status == "verified")
    })
    .await;
    let v = verify(&receipt(&app, log1).await, key, Network::Regtest);
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.anchors[0].status, "verified");
    gw.shutdown().await;
    good.stop().await;
    bad.stop().await;
}

#[tokio::test]
async fn tampered_answers_are_not_stored_as_anchored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cal = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let url = cal.url();
    let (gw, app) = start(gw_config(
        dir.path(),
        &None,
        Some(ots(vec![url.clone()], &url)),
    ))
    .await;
    let (log1, b1) = log_and_flush(&app, 1).await;
    wait_until("pending", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("pending")
    })
    .await;
    // A proof with a wrong branch hash.
    cal.calendar.set_tamper_proof(true);
    cal.calendar.mine();
    let refused = |needle: &'static str| {
        let app = app.clone();
        let b1 = b1.clone();
        move || {
            let app = app.clone();
            let b1 = b1.clone();
            async move {
                let a = batch(&app, &b1).await["anchors"][0].clone();
                a["status"] == "pending"
                    && a["attempts"].as_i64().unwrap_or(0) >= 2
                    && a["last_error"].as_str().unwrap_or("").contains(needle)
            }
        }
    };
    wait_until("tampered proof refused", refused("merkle_root")).await;
    assert_eq!(
        own_anchor_status(&app, &b1).await.as_deref(),
        Some("pending")
    );
    let v = verify(
        &receipt(&app, log1).await,
        gw.state.public_key,
        Network::Regtest,
    );
    assert_eq!(
        v.anchors[0].status, "pending",
        "the bad upgrade was not merged"
    );
    // A header whose merkle root is not the proof's.
    cal.calendar.set_tamper_proof(false);
    cal.calendar.set_tamper_header(true);
    let before = batch(&app, &b1).await["anchors"][0]["attempts"]
        .as_i64()
        .unwrap();
    wait_until("tampered header refused", || async {
        let a = batch(&app, &b1).await["anchors"][0].clone();
        a["attempts"].as_i64().unwrap() >= before + 2
            && a["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("merkle_root")
    })
    .await;
    assert_eq!(
        own_anchor_status(&app, &b1).await.as_deref(),
        Some("pending")
    );
    // Honest again: anchored.
    cal.calendar.set_tamper_header(false);
    wait_until("anchored", || async {
        own_anchor_status(&app, &b1).await.as_deref() == Some("anchored")
    })
    .await;
    gw.shutdown().await;
    cal.stop().await;
}

/// A bitcoin anchor of `head_hash`: (raw tx, merkleblock, header), the
/// transaction at index 2 of a 4-transaction regtest block.
fn bitcoin_anchor_parts(head_hash: &[u8; 32]) -> (Vec<u8>, Vec<u8>, BlockHeader) {
    let a = BitcoinAnchor::new(head_hash, 4, 321);
    let mb = a.merkleblock_bytes();
    (a.raw_tx, mb, a.header)
}

async fn post_anchor(app: &Router, id: &str, key: Option<&str>, body: Value) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    let auth = key.map(|k| format!("Bearer {k}"));
    if let Some(a) = &auth {
        h.push(("authorization", a.as_str()));
    }
    post_with(
        app,
        &format!("/api/v1/batches/{id}/anchors"),
        &h,
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn the_attach_endpoint_verifies_bitcoin_anchors_before_storing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = gw_config(dir.path(), &None, None);
    // No header source or node: only with the explicit opt-in (the checks
    // against a node are in tests/bitcoind.rs).
    cfg.anchor.trust_attached_headers = true;
    cfg.auth.admin_key_sha256 = Some(key_hash("admin-secret"));
    cfg.auth
        .device_keys
        .insert(key_hash("device-secret"), "gw-PLANT01-003".into());
    let (gw, app) = start(cfg).await;
    let admin = Some("admin-secret");
    let h = [
        ("content-type", "application/json"),
        ("authorization", "Bearer admin-secret"),
    ];
    let mut ids = Vec::new();
    for i in 1..=2u64 {
        let r = post_with(&app, "/api/v1/logs", &h, log_json(i)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let log_id = r.json()["log_id"].as_i64().unwrap();
        let f = post_with(&app, "/api/v1/batches/flush", &h, "").await;
        ids.push((log_id, f.json()["batch_id"].as_str().unwrap().to_string()));
    }
    let b2 = &ids[1].1;
    let head2 = get_auth(&app, &format!("/api/v1/batches/{b2}"), "admin-secret")
        .await
        .json();
    let hh = kwh_btc_iot_core::Hash::from_hex(head2["head_hash"].as_str().unwrap(), "h").unwrap();
    let (tx, mb, hd) = bitcoin_anchor_parts(&hh.0);
    let hex = kwh_btc_iot_core::encoding::hex::encode;
    let good = json!({"type": "bitcoin", "raw_tx": hex(&tx), "merkle_proof": hex(&mb), "header": hex(&hd.to_bytes()), "height": 321});

    // Authentication first.
    assert_eq!(
        post_anchor(&app, b2, None, good.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_anchor(&app, b2, Some("device-secret"), good.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Bad anchors: 422 naming the member and the failed step.
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let other = op_return_tx(&[0x99; 32]);
    let (_, _, other_hd) = bitcoin_anchor_parts(&[0x98; 32]);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            bad(&|v| v["raw_tx"] = json!(hex(&other))),
            "raw_tx",
            "tx_commitment",
        ),
        (
            bad(&|v| v["header"] = json!(hex(&other_hd.to_bytes()))),
            "header",
            "header",
        ),
        (bad(&|v| v["raw_tx"] = json!("zz")), "raw_tx", "raw_tx"),
        (
            bad(&|v| v["merkle_proof"] = json!("00")),
            "merkle_proof",
            "merkle_proof",
        ),
        (
            bad(&|v| {
                v.as_object_mut().unwrap().remove("height");
            }),
            "height",
            "required",
        ),
        (bad(&|v| v["height"] = json!(-1)), "height", "height"),
        (
            bad(&|v| v["type"] = json!("opentimestamps")),
            "type",
            "bitcoin",
        ),
        (bad(&|v| v["extra"] = json!(1)), "extra", "not a member"),
        (
            bad(&|v| {
                v.as_object_mut().unwrap().remove("raw_tx");
            }),
            "raw_tx",
            "required",
        ),
    ];
    for (body, member, needle) in cases {
        let r = post_anchor(&app, b2, admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        let e = r.json();
        assert_eq!(e["error"]["code"], "invalid_anchor", "{e}");
        assert_eq!(e["error"]["member"], member, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{e}"
        );
    }
    // The anchor of batch 2 does not fit batch 1.
    let r = post_anchor(&app, &ids[0].1, admin, good.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("tx_commitment"), "{}", r.text());
    assert_eq!(
        post_anchor(&app, "nope", admin, good.clone()).await.status,
        StatusCode::NOT_FOUND
    );

    // The good one: 201, then 200 for the same transaction.
    let r = post_anchor(&app, b2, admin, good.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    assert_eq!(j["anchor"]["type"], "bitcoin");
    assert_eq!(j["anchor"]["status"], "anchored");
    assert_eq!(j["anchor"]["height"], 321);
    assert_eq!(
        j["anchor"]["confirmed_by"],
        kwh_btc_iot_gateway::api::UNCHECKED_ATTACH
    );
    assert_eq!(j["receipt_anchor"]["height"], 321);
    assert_eq!(
        post_anchor(&app, b2, admin, good.clone()).await.status,
        StatusCode::OK
    );
    // Receipts of batch 2 carry it; those of batch 1 through the heads chain.
    for (log_id, _) in &ids {
        let r = get_auth(
            &app,
            &format!("/api/v1/logs/{log_id}/receipt"),
            "admin-secret",
        )
        .await;
        let v = verify(&r.text(), gw.state.public_key, Network::Regtest);
        assert!(v.valid, "{:?}", v.errors);
        assert_eq!(v.anchors[0].anchor_type, "bitcoin");
        assert_eq!(v.anchors[0].status, "verified", "{}", v.anchors[0].detail);
        assert_eq!(v.anchors[0].height, Some(321));
    }
    let b1 = get_auth(
        &app,
        &format!("/api/v1/batches/{}", ids[0].1),
        "admin-secret",
    )
    .await
    .json();
    assert_eq!(b1["anchor_status"], "anchored");
    assert_eq!(b1["anchors"][0]["covered_by"], json!(b2));

    // Documented in the OpenAPI document.
    let api = get(&app, "/openapi.json").await.json();
    assert!(api["paths"]["/api/v1/batches/{batch_id}/anchors"]["post"].is_object());
    for s in ["AnchorInfo", "AttachAnchor", "AttachResult"] {
        assert!(api["components"]["schemas"][s].is_object(), "{s}");
    }
    gw.shutdown().await;

    // A mainnet gateway refuses the regtest header at header_pow.
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let (_, b) = log_and_flush(&app, 1).await;
    let hh =
        kwh_btc_iot_core::Hash::from_hex(batch(&app, &b).await["head_hash"].as_str().unwrap(), "h")
            .unwrap();
    let (tx, mb, hd) = bitcoin_anchor_parts(&hh.0);
    let body = json!({"type": "bitcoin", "raw_tx": hex(&tx), "merkle_proof": hex(&mb), "header": hex(&hd.to_bytes()), "height": 7});
    let r = post_anchor(&app, &b, None, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("header_pow"), "{}", r.text());
    gw.shutdown().await;
}

async fn storage_methods(db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = gw_config(dir.path(), &db, None);
    let (gw, app) = start(cfg.clone()).await;
    for i in 1..=4 {
        log_and_flush(&app, i).await;
    }
    let s: Arc<dyn Storage> = gw.state.storage.clone();
    assert_eq!(s.latest_batch().await.unwrap().unwrap().seq, 4);
    let r = s.batches_in_range(2, 3).await.unwrap();
    assert_eq!(r.iter().map(|b| b.seq).collect::<Vec<_>>(), vec![2, 3]);
    let w = s
        .batches_without_anchor("opentimestamps", 10)
        .await
        .unwrap();
    assert_eq!(
        w.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let row = |seq: i64, status: &str, next: i64| AnchorRow {
        batch_seq: seq,
        kind: "opentimestamps".into(),
        status: status.into(),
        data: vec![1, 2, 3],
        next_attempt_us: next,
        created_us: 1,
        updated_us: 1,
        ..AnchorRow::default()
    };
    let id2 = s.insert_anchor(row(2, "pending", 100)).await.unwrap();
    let id3 = s.insert_anchor(row(3, "pending", 50)).await.unwrap();
    let w = s
        .batches_without_anchor("opentimestamps", 10)
        .await
        .unwrap();
    assert_eq!(w.iter().map(|b| b.seq).collect::<Vec<_>>(), vec![1, 4]);
    assert_eq!(
        s.batches_without_anchor("bitcoin", 10).await.unwrap().len(),
        4
    );
    let due = s.anchors_due("opentimestamps", 100, 10).await.unwrap();
    assert_eq!(due.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id3, id2]);
    assert_eq!(
        s.anchors_due("opentimestamps", 60, 10).await.unwrap().len(),
        1
    );
    assert!(s.anchors_due("bitcoin", 1000, 10).await.unwrap().is_empty());
    assert!(s.covering_anchors(1).await.unwrap().is_empty());
    // Batch 3 anchored: it covers 1..=3 and marks them anchored.
    let mut a3 = s.anchors_of_batch(3).await.unwrap().remove(0);
    assert_eq!(a3.id, id3);
    a3.status = anchor_status::ANCHORED.into();
    a3.height = Some(9);
    a3.header = Some(vec![0; 80]);
    a3.block_hash = Some("ab".into());
    a3.attempts = 2;
    a3.last_error = None;
    a3.updated_us = 5;
    s.update_anchor(a3.clone()).await.unwrap();
    assert_eq!(s.anchors_of_batch(3).await.unwrap(), vec![a3.clone()]);
    for (seq, st) in [
        (1, "anchored"),
        (2, "anchored"),
        (3, "anchored"),
        (4, "pending"),
    ] {
        assert_eq!(
            s.batch_by_seq(seq).await.unwrap().unwrap().anchor_status,
            st,
            "batch {seq}"
        );
    }
    let c = s.covering_anchors(1).await.unwrap();
    assert_eq!(c.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id3]);
    assert!(s.covering_anchors(4).await.unwrap().is_empty());
    assert!(s
        .anchors_due("opentimestamps", i64::MAX, 10)
        .await
        .unwrap()
        .iter()
        .all(|a| a.id == id2));
    // A bitcoin anchor inserted anchored on batch 4; covering per kind.
    let mut b4 = row(4, "anchored", 0);
    b4.kind = "bitcoin".into();
    let id4 = s.insert_anchor(b4).await.unwrap();
    let c = s.covering_anchors(2).await.unwrap();
    assert_eq!(
        c.iter()
            .map(|a| (a.kind.as_str(), a.id))
            .collect::<Vec<_>>(),
        vec![("bitcoin", id4), ("opentimestamps", id3)]
    );
    assert_eq!(
        s.batch_by_seq(4).await.unwrap().unwrap().anchor_status,
        "anchored"
    );
    let stats = s.anchor_stats().await.unwrap();
    assert_eq!(stats.newest_anchored.unwrap().id, id4);
    assert!(stats
        .counts
        .contains(&("opentimestamps".into(), "pending".into(), 1)));
    assert!(stats
        .counts
        .contains(&("opentimestamps".into(), "anchored".into(), 1)));
    assert!(s
        .update_anchor(AnchorRow {
            id: 999,
            ..row(1, "pending", 0)
        })
        .await
        .is_err());
    assert!(s.claim_anchoring().await.unwrap());
    assert!(
        s.claim_anchoring().await.unwrap(),
        "claiming again keeps the role"
    );
    if db.is_some() {
        // A second instance on the same database does not get the role
        // until the first one is gone.
        let other = kwh_btc_iot_gateway::storage::postgres::PostgresStorage::connect(
            db.as_deref().unwrap(),
        )
        .await
        .unwrap();
        assert!(!other.claim_anchoring().await.unwrap());
        drop(app);
        drop(s);
        gw.shutdown().await;
        let mut took = false;
        for _ in 0..100 {
            if other.claim_anchoring().await.unwrap() {
                took = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            took,
            "the second instance takes over once the first is gone"
        );
    } else {
        drop(app);
        drop(s);
        gw.shutdown().await;
    }
    // Restarted: everything is still there.
    let (gw, _app) = start(cfg).await;
    assert_eq!(
        gw.state.storage.anchors_of_batch(3).await.unwrap(),
        vec![a3]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn anchor_storage_methods() {
    for db in backends("anchor_storage_methods").await {
        storage_methods(db).await;
    }
}

#[tokio::test]
async fn anchoring_options_resolve() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: kwh_btc_iot_gateway::config::ServeArgs,
    }
    let resolve = |args: &[&str]| {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        Config::resolve(&Cli::try_parse_from(v).unwrap().serve)
    };
    let d = resolve(&[]).unwrap();
    assert_eq!(d.anchor.network, Network::Mainnet);
    let o = d.anchor.ots.unwrap();
    assert_eq!(o.calendars.len(), 3);
    assert!(o.calendars[0].starts_with("https://alice.btc.calendar.opentimestamps.org"));
    assert!(
        matches!(o.headers, Some(HeaderSource::Esplora(ref u)) if u == "https://blockstream.info/api")
    );
    assert_eq!(o.upgrade_interval, Duration::from_secs(60));
    assert_eq!(o.upgrade_max_interval, Duration::from_secs(3600));
    assert!(resolve(&["--ots-calendars", "none"])
        .unwrap()
        .anchor
        .ots
        .is_none());
    let r = resolve(&[
        "--anchor-network",
        "regtest",
        "--ots-calendars",
        "http://127.0.0.1:9/,http://127.0.0.1:10",
        "--header-source",
        "http://127.0.0.1:9",
        "--ots-upgrade-interval-s",
        "5",
        "--ots-upgrade-max-interval-s",
        "50",
    ])
    .unwrap();
    assert_eq!(r.anchor.network, Network::Regtest);
    let o = r.anchor.ots.unwrap();
    assert_eq!(
        o.calendars,
        vec!["http://127.0.0.1:9/", "http://127.0.0.1:10"]
    );
    assert_eq!(o.upgrade_interval, Duration::from_secs(5));
    assert!(resolve(&["--anchor-network", "moon"])
        .unwrap_err()
        .to_string()
        .contains("anchor_network"));
    assert!(resolve(&["--ots-calendars", "ftp://x"])
        .unwrap_err()
        .to_string()
        .contains("ots_calendars"));
    // Regtest has no default header source.
    assert!(resolve(&["--anchor-network", "regtest"])
        .unwrap()
        .anchor
        .ots
        .unwrap()
        .headers
        .is_none());
    // The TOML file.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "anchor_network = \"signet\"\nots_calendars = [\"http://127.0.0.1:7\"]\nots_upgrade_interval_s = 9\n").unwrap();
    let r = resolve(&["--config", f.to_str().unwrap()]).unwrap();
    assert_eq!(r.anchor.network, Network::Signet);
    let o = r.anchor.ots.unwrap();
    assert_eq!(o.calendars, vec!["http://127.0.0.1:7"]);
    assert_eq!(o.upgrade_interval, Duration::from_secs(9));
    std::fs::write(&f, "ots_calendars = \"none\"\n").unwrap();
    assert!(resolve(&["--config", f.to_str().unwrap()])
        .unwrap()
        .anchor
        .ots
        .is_none());
    // The library default never contacts calendars.
    assert!(Config::default().anchor.ots.is_none());
    let _ = Gateway::start; // (the gateway starts the worker only when configured)
}

#[tokio::test]
async fn several_postgres_instances_submit_each_head_once() {
    let Some(db) = fresh_postgres("several_postgres_instances_submit_each_head_once").await else {
        return;
    };
    let db = Some(db);
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cal = Served::start(Calendar::new(), "127.0.0.1:0").await.unwrap();
    let url = cal.url();
    let cfg_a = gw_config(da.path(), &db, Some(ots(vec![url.clone()], &url)));
    let mut cfg_b = gw_config(dbd.path(), &db, Some(ots(vec![url.clone()], &url)));
    // Instances of one gateway share its key.
    cfg_b.key_file = cfg_a.key_file.clone();
    let (gw_a, app_a) = start(cfg_a).await;
    let (gw_b, app_b) = start(cfg_b).await;
    let (log1, b1) = log_and_flush(&app_a, 1).await;
    wait_until("pending", || async {
        own_anchor_status(&app_b, &b1).await.as_deref() == Some("pending")
    })
    .await;
    // Both workers ran many rounds meanwhile: one submission only.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cal.calendar.submissions(), 1);
    let n = batch(&app_a, &b1).await["anchors"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, 1);
    cal.calendar.mine();
    wait_until("anchored, seen by the other instance", || async {
        let v = verify(
            &receipt(&app_b, log1).await,
            gw_b.state.public_key,
            Network::Regtest,
        );
        v.anchors.first().map(|a| a.status.as_str()) == Some("verified")
    })
    .await;
    // Whichever instance anchored goes away: the other one takes over.
    drop(app_a);
    gw_a.shutdown().await;
    let (_, b2) = log_and_flush(&app_b, 2).await;
    wait_until("the remaining instance submits", || async {
        own_anchor_status(&app_b, &b2).await.as_deref() == Some("pending")
    })
    .await;
    assert_eq!(cal.calendar.submissions(), 2);
    drop(app_b);
    gw_b.shutdown().await;
    cal.stop().await;
}

#[tokio::test]
async fn gateway_info_tells_the_anchoring_setup_and_is_documented() {
    // The library default: mainnet, no calendars, no node.
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let info = get(&app, "/api/v1/gateway").await.json();
    assert_eq!(info["anchor_network"], "mainnet", "{info}");
    assert_eq!(info["ots_calendars"], json!([]), "{info}");
    assert_eq!(info["bitcoind_node_mode"], false, "{info}");
    let api = get(&app, "/openapi.json").await.json();
    let props = &api["components"]["schemas"]["GatewayInfo"]["properties"];
    for p in ["anchor_network", "ots_calendars", "bitcoind_node_mode"] {
        assert!(
            props[p].is_object(),
            "GatewayInfo.{p} in the OpenAPI document"
        );
    }
    let required = api["components"]["schemas"]["GatewayInfo"]["required"].to_string();
    assert!(required.contains("anchor_network"), "{required}");
    drop(app);
    gw.shutdown().await;

    // A regtest gateway with calendars (nobody listens there; without batches
    // the worker contacts nobody).
    let dir = tempfile::tempdir().unwrap();
    let cals = vec![
        "http://127.0.0.1:9/a".to_string(),
        "http://127.0.0.1:9/b".to_string(),
    ];
    let (gw, app) = start(gw_config(
        dir.path(),
        &None,
        Some(ots(cals.clone(), "http://127.0.0.1:9")),
    ))
    .await;
    let info = get(&app, "/api/v1/gateway").await.json();
    assert_eq!(info["anchor_network"], "regtest", "{info}");
    assert_eq!(info["ots_calendars"], json!(cals), "{info}");
    assert_eq!(info["bitcoind_node_mode"], false, "{info}");
    drop(app);
    gw.shutdown().await;
}
