//! Concurrent posts and flushes: every log ends in exactly one batch, on
//! SQLite and on PostgreSQL with two gateway instances sharing the database.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::Router;
use common::*;
use kwh_btc_iot_gateway::config::Config;

/// `writers` tasks post `per_writer` logs each (half of them also posted by
/// another writer), while `flushers` flush repeatedly; returns leaf → log_id.
async fn hammer(apps: &[Router], writers: usize, per_writer: u64) -> HashMap<String, i64> {
    let ids: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flushers = Vec::new();
    for app in apps {
        let (app, done) = (app.clone(), done.clone());
        flushers.push(tokio::spawn(async move {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let r = post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
                assert!(
                    r.status == StatusCode::OK || r.code() == "empty_batch",
                    "{}",
                    r.text()
                );
                n += 1;
                tokio::task::yield_now().await;
            }
            n
        }));
    }
    let mut tasks = Vec::new();
    for w in 0..writers {
        let app = apps[w % apps.len()].clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                // Writers w and w+1 share half of their logs: concurrent retries of the same log.
                let n = if i % 2 == 0 {
                    (w as u64) * 100_000 + i
                } else {
                    (((w + 1) % writers) as u64) * 100_000 + i - 1 + 50_000
                };
                let r = post_json(&app, "/api/v1/logs", log_json(n)).await;
                assert!(
                    r.status == StatusCode::CREATED || r.status == StatusCode::OK,
                    "{}",
                    r.text()
                );
                let j = r.json();
                let leaf = j["leaf_hash"].as_str().unwrap().to_string();
                let id = j["log_id"].as_i64().unwrap();
                let mut m = ids.lock().unwrap();
                if let Some(old) = m.insert(leaf, id) {
                    assert_eq!(old, id, "the same log got two ids");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flushers {
        f.await.unwrap();
    }
    let _ = post_json(&apps[0], "/api/v1/batches/flush", Vec::new()).await;
    Arc::try_unwrap(ids).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_posts_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(Config {
        max_batch_logs: 97,
        ..config(dir.path())
    })
    .await;
    let ids = hammer(std::slice::from_ref(&app), 8, 150).await;
    // Flush what a capped batch size left.
    while post_json(&app, "/api/v1/batches/flush", Vec::new())
        .await
        .status
        == StatusCode::OK
    {}
    let logs = all_logs(&app, "").await;
    assert_eq!(logs.len(), ids.len(), "one stored log per distinct log");
    for l in &logs {
        assert_eq!(
            ids.get(l["leaf_hash"].as_str().unwrap()),
            l["log_id"].as_i64().as_ref()
        );
    }
    assert_eq!(check_batches(&app).await, ids.len());
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_concurrent_posts_and_flushes() {
    let Some(url) = fresh_postgres("postgres_two_instances_concurrent_posts_and_flushes").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("shared-gateway.key");
    let cfg = |sub: &str| Config {
        database_url: Some(url.clone()),
        key_file: key_file.clone(),
        gateway_id: Some("gw-pg-test".into()),
        max_batch_logs: 89,
        ..config(&dir.path().join(sub))
    };
    let (gw1, app1) = start(cfg("a")).await;
    let (gw2, app2) = start(cfg("b")).await;
    assert_eq!(
        get(&app1, "/api/v1/gateway").await.json()["storage"],
        "postgres"
    );
    let ids = hammer(&[app1.clone(), app2.clone()], 8, 120).await;
    while post_json(&app2, "/api/v1/batches/flush", Vec::new())
        .await
        .status
        == StatusCode::OK
    {}
    let logs = all_logs(&app1, "").await;
    assert_eq!(logs.len(), ids.len(), "one stored log per distinct log");
    assert_eq!(check_batches(&app1).await, ids.len());
    // Both instances serve the same receipts.
    let id = logs[logs.len() / 2]["log_id"].as_i64().unwrap();
    let r1 = get(&app1, &format!("/api/v1/logs/{id}/receipt")).await;
    let r2 = get(&app2, &format!("/api/v1/logs/{id}/receipt")).await;
    assert_eq!(r1.body, r2.body);
    assert!(kwh_btc_iot_core::verify_receipt(&r1.body, &Default::default()).valid);
    // Another key on the same database is refused.
    let other = Config {
        key_file: dir.path().join("other.key"),
        ..cfg("c")
    };
    assert!(kwh_btc_iot_gateway::Gateway::start(other).await.is_err());
    gw1.shutdown().await;
    gw2.shutdown().await;
}

#[tokio::test]
async fn postgres_api_flow() {
    let Some(url) = fresh_postgres("postgres_api_flow").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(Config {
        database_url: Some(url),
        ..config(dir.path())
    })
    .await;
    assert_eq!(get(&app, "/ready").await.json()["storage"], "postgres");
    let r = post_json(&app, "/api/v1/logs", founding_example()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["log_id"].as_i64().unwrap();
    assert_eq!(
        post_json(&app, "/api/v1/logs", founding_example())
            .await
            .status,
        StatusCode::OK
    );
    let nd: String = (0..50).map(|i| log_json(i) + "\n").collect::<String>()
        + &log_json(3)
        + "\n"
        + "{\"bad\":1}\n";
    let b = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[("content-type", "application/x-ndjson")],
        nd,
    )
    .await
    .json();
    assert_eq!(
        (
            b["created"].as_u64(),
            b["duplicates"].as_u64(),
            b["rejected"].as_u64()
        ),
        (Some(50), Some(1), Some(1))
    );
    assert_eq!(
        get(&app, &format!("/api/v1/logs/{id}/receipt"))
            .await
            .code(),
        "not_batched"
    );
    assert_eq!(
        post_json(&app, "/api/v1/batches/flush", Vec::new())
            .await
            .json()["log_count"],
        51
    );
    assert_eq!(
        post_json(&app, "/api/v1/batches/flush", Vec::new())
            .await
            .code(),
        "empty_batch"
    );
    assert_eq!(all_logs(&app, "meter_id=MTR-7").await.len(), 1);
    assert_eq!(all_logs(&app, "unbatched=false").await.len(), 51);
    let r = get(&app, &format!("/api/v1/logs/{id}/receipt")).await;
    assert!(kwh_btc_iot_core::verify_receipt(&r.body, &Default::default()).valid);
    check_batches(&app).await;
    gw.shutdown().await;
}
