//! One reading, one log (issue 14, finding 5): a second, different log of the
//! same site, device, meter and `ts_start` is refused with 409
//! `conflicting_reading` naming the stored log, on both backends; an identical
//! repost stays idempotent; a correction names the log it replaces; devices
//! bound to sites and meters in the configuration write only those.

mod common;

use axum::http::StatusCode;
use common::*;
use kwh_btc_iot_gateway::config::{key_hash, Config, DeviceRules};

/// `log_json(i)` with another energy (and the amount that goes with it).
fn other_energy(i: u64) -> String {
    log_json(i)
        .replace(r#""energy_kwh":12.34"#, r#""energy_kwh":99"#)
        .replace(r#""amount_sats":1234"#, r#""amount_sats":9900"#)
}

async fn backends(test: &str) -> Vec<(&'static str, tempfile::TempDir, Config)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    out.push(("sqlite", dir, cfg));
    if let Some(url) = fresh_postgres(test).await {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.database_url = Some(url);
        out.push(("postgres", dir, cfg));
    }
    out
}

#[tokio::test]
async fn a_second_different_log_of_a_reading_is_refused_naming_the_stored_one() {
    for (backend, _dir, cfg) in backends("conflicting_reading").await {
        let (_gw, app) = start(cfg).await;
        let first = post_json(&app, "/api/v1/logs", log_json(1)).await;
        assert_eq!(
            first.status,
            StatusCode::CREATED,
            "{backend}: {}",
            first.text()
        );
        let stored_leaf = first.json()["leaf_hash"].as_str().unwrap().to_string();
        let stored_id = first.json()["log_id"].as_i64().unwrap();

        let r = post_json(&app, "/api/v1/logs", other_energy(1)).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}: {}", r.text());
        assert_eq!(r.code(), "conflicting_reading", "{backend}");
        let e = &r.json()["error"];
        assert_eq!(e["member"], "ts_start", "{backend}");
        assert_eq!(e["stored_leaf_hash"], stored_leaf.as_str(), "{backend}");
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains(&stored_leaf) && msg.contains(&format!("log_id {stored_id}")),
            "{backend}: {msg}"
        );

        // The identical repost stays idempotent.
        let r = post_json(&app, "/api/v1/logs", log_json(1)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        assert_eq!(r.json()["log_id"], stored_id, "{backend}");

        // Another meter, another ts_start: other readings, accepted.
        assert_eq!(
            post_json(&app, "/api/v1/logs", other_energy(2))
                .await
                .status,
            StatusCode::CREATED,
            "{backend}"
        );
        let later = other_energy(1)
            .replace("10:10:00Z", "10:15:00Z")
            .replace("10:15:00Z\",\"interval_s", "10:20:00Z\",\"interval_s");
        let r = post_json(&app, "/api/v1/logs", later).await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());

        // The same instant written another way is the same reading.
        let shifted = other_energy(1)
            .replace("2025-12-01T10:10:00Z", "2025-12-01T11:10:00+01:00")
            .replace("2025-12-01T10:15:00Z", "2025-12-01T11:15:00+01:00");
        let r = post_json(&app, "/api/v1/logs", shifted).await;
        assert_eq!(r.code(), "conflicting_reading", "{backend}: {}", r.text());

        // Nothing of the refused logs was stored.
        let logs = all_logs(&app, "").await;
        assert_eq!(logs.len(), 3, "{backend}");
        assert!(
            logs.iter().all(|l| l["log"]["energy_kwh"] != 99
                || l["log"]["meter_id"] != "MTR-1"
                || l["log"]["ts_start"] != "2025-12-01T10:10:00Z"),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn bulk_items_conflict_one_by_one_also_within_one_request() {
    for (backend, _dir, cfg) in backends("conflicting_bulk").await {
        let (_gw, app) = start(cfg).await;
        assert_eq!(
            post_json(&app, "/api/v1/logs", log_json(1)).await.status,
            StatusCode::CREATED
        );
        let body = [
            log_json(1),
            other_energy(1),
            log_json(5),
            other_energy(5),
            log_json(6),
        ]
        .join("\n");
        let r = post_with(
            &app,
            "/api/v1/logs/bulk",
            &[("content-type", "application/x-ndjson")],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.text());
        let j = r.json();
        assert_eq!(
            (
                j["created"].as_u64(),
                j["duplicates"].as_u64(),
                j["rejected"].as_u64()
            ),
            (Some(2), Some(1), Some(2)),
            "{backend}: {j}"
        );
        assert_eq!(j["rejected_codes"]["conflicting_reading"], 2, "{backend}");
        let status: Vec<u64> = j["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_u64().unwrap())
            .collect();
        assert_eq!(status, vec![200, 409, 201, 409, 201], "{backend}: {j}");
        // The in-request conflict names the log stored by the same request.
        let results = j["results"].as_array().unwrap();
        assert_eq!(
            results[3]["error"]["stored_leaf_hash"], results[2]["leaf_hash"],
            "{backend}"
        );
        assert_eq!(results[3]["error"]["code"], "conflicting_reading");
        assert_eq!(all_logs(&app, "").await.len(), 3, "{backend}");
    }
}

#[tokio::test]
async fn a_correction_names_the_log_it_replaces() {
    for (backend, _dir, cfg) in backends("correction").await {
        let (_gw, app) = start(cfg).await;
        let first = post_json(&app, "/api/v1/logs", log_json(1)).await;
        let old = first.json()["leaf_hash"].as_str().unwrap().to_string();

        // Wrong forms of ?supersedes= are refused with their member.
        let r = post_json(&app, "/api/v1/logs?supersedes=xyz", other_energy(1)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{backend}"
        );
        assert_eq!(r.json()["error"]["member"], "supersedes");
        let r = post_json(
            &app,
            &format!("/api/v1/logs?supersedes={}", "ab".repeat(32)),
            other_energy(1),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{backend}"
        );
        let other = post_json(&app, "/api/v1/logs", log_json(2)).await.json()["leaf_hash"]
            .as_str()
            .unwrap()
            .to_string();
        let r = post_json(
            &app,
            &format!("/api/v1/logs?supersedes={other}"),
            other_energy(1),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
            "{backend}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["member"], "supersedes");

        // The correction.
        let r = post_json(
            &app,
            &format!("/api/v1/logs?supersedes={old}"),
            other_energy(1),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{backend}: {}", r.text());
        let corrected = r.json()["leaf_hash"].as_str().unwrap().to_string();

        // Now the correction is the reading's log: a third version conflicts
        // with it, and correcting the old one again is a conflict too.
        let third = log_json(1).replace(r#""status":"ok""#, r#""status":"estimated""#);
        let r = post_json(&app, "/api/v1/logs", third.clone()).await;
        assert_eq!(
            r.json()["error"]["stored_leaf_hash"],
            corrected.as_str(),
            "{backend}: {}",
            r.text()
        );
        let r = post_json(&app, &format!("/api/v1/logs?supersedes={old}"), third).await;
        assert_eq!(r.code(), "conflicting_reading", "{backend}: {}", r.text());
        assert_eq!(r.json()["error"]["stored_leaf_hash"], corrected.as_str());

        // Both versions stay stored (and the original is still idempotent).
        assert_eq!(
            post_json(&app, "/api/v1/logs", log_json(1)).await.status,
            StatusCode::OK
        );
        let logs = all_logs(&app, "").await;
        assert_eq!(logs.len(), 3, "{backend}");
        let fix = logs
            .iter()
            .find(|l| l["leaf_hash"] == corrected.as_str())
            .unwrap();
        assert_eq!(fix["supersedes"], old.as_str(), "{backend}: {fix}");
        // And both are batched.
        assert_eq!(
            post_json(&app, "/api/v1/batches/flush", "").await.status,
            StatusCode::OK
        );
        assert_eq!(check_batches(&app).await, 3);
    }
}

#[tokio::test]
async fn devices_bound_to_sites_and_meters_write_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.auth.admin_key_sha256 = Some(key_hash("admin"));
    cfg.auth
        .device_keys
        .insert(key_hash("key-a"), "gw-PLANT01-003".into());
    cfg.auth.devices.insert(
        "gw-PLANT01-003".into(),
        DeviceRules {
            sites: Some(vec!["PLANT-01".into()]),
            meters: Some(vec!["MTR-1".into(), "MTR-2".into()]),
            ..Default::default()
        },
    );
    let (_gw, app) = start(cfg).await;
    let post = |key: &'static str, body: String| {
        let app = app.clone();
        async move {
            post_with(
                &app,
                "/api/v1/logs",
                &[
                    ("authorization", &format!("Bearer {key}")),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await
        }
    };
    assert_eq!(post("key-a", log_json(1)).await.status, StatusCode::CREATED);
    assert_eq!(post("key-a", log_json(2)).await.status, StatusCode::CREATED);
    for key in ["key-a", "admin"] {
        let r = post(key, log_json(2).replace("PLANT-01", "OTHER-SITE-99")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{key}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["member"], "site_id");
        let r = post(key, log_json(3).replace("MTR-3", "VICTIM-METER")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{key}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["member"], "meter_id");
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VICTIM-METER"));
    }
    // In a bulk, item by item.
    let body = [log_json(1), log_json(7)].join("\n");
    let r = post_with(
        &app,
        "/api/v1/logs/bulk",
        &[
            ("authorization", "Bearer key-a"),
            ("content-type", "application/x-ndjson"),
        ],
        body,
    )
    .await;
    let status: Vec<u64> = r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(status, vec![200, 403]);
}

#[test]
fn a_device_bound_to_an_empty_list_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[[devices]]\niot_device_id = \"gw-1\"\nmeters = []\n",
    )
    .unwrap();
    let args = kwh_btc_iot_gateway::config::ServeArgs {
        config: Some(file.clone()),
        ..Default::default()
    };
    let e = Config::resolve(&args).unwrap_err().to_string();
    assert!(e.contains("devices.meters"), "{e}");
    std::fs::write(
        &file,
        "[[devices]]\niot_device_id = \"gw-1\"\nsites = [\"S/1\"]\n",
    )
    .unwrap();
    let e = Config::resolve(&args).unwrap_err().to_string();
    assert!(e.contains("devices.sites"), "{e}");
    std::fs::write(
        &file,
        "[[devices]]\niot_device_id = \"gw-1\"\nsites = [\"S1\"]\nmeters = [\"M1\"]\n",
    )
    .unwrap();
    let c = Config::resolve(&args).unwrap();
    assert_eq!(
        c.auth.devices["gw-1"].meters.as_deref(),
        Some(&["M1".to_string()][..])
    );
}
