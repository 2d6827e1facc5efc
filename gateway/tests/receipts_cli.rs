//! Receipts fetched from the gateway verify with the CLI (`kwh-btc-iot verify
//! --gateway-key HEX --json`), and fail when any byte of the log, the path or
//! the head is changed.

mod common;

use axum::http::StatusCode;
use common::*;

fn verify(bin: &std::path::Path, files: &[std::path::PathBuf], key: &str) -> (bool, String) {
    let out = std::process::Command::new(bin)
        .arg("verify")
        .args(files)
        .args(["--gateway-key", key, "--json"])
        .output()
        .expect("run kwh-btc-iot verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn gateway_receipts_verify_with_the_cli_and_tampering_fails() {
    let Some(bin) = cli_binary() else {
        eprintln!("\n!!!!!!!! SKIPPED: the kwh-btc-iot binary is not built (cargo build -p kwh-btc-iot, or set KWH_BTC_IOT_BIN) !!!!!!!!\n");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let mut ids = vec![post_json(&app, "/api/v1/logs", founding_example())
        .await
        .json()["log_id"]
        .as_i64()
        .unwrap()];
    for i in 0..12 {
        ids.push(
            post_json(&app, "/api/v1/logs", log_json(i)).await.json()["log_id"]
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
    let key = get(&app, "/api/v1/gateway").await.json()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut files = Vec::new();
    let mut receipts = Vec::new();
    for id in &ids {
        let r = get(&app, &format!("/api/v1/logs/{id}/receipt")).await;
        assert_eq!(r.status, StatusCode::OK);
        let path = dir.path().join(format!("receipt-{id}.json"));
        std::fs::write(&path, &r.body).unwrap();
        files.push(path);
        receipts.push(r.text());
    }
    let (ok, out) = verify(&bin, &files, &key);
    assert!(ok, "all receipts verify: {out}");
    // The wrong trusted key fails.
    let other = kwh_btc_iot_core::encoding::hex::encode(
        &kwh_btc_iot_core::Keypair::from_seed(&[9; 32]).public_key(),
    );
    assert!(
        !verify(&bin, &files[..1], &other).0,
        "another gateway key is refused"
    );

    // Change one byte in the log, the path, the head (and its signature).
    let r = &receipts[5];
    let v: serde_json::Value = serde_json::from_str(r).unwrap();
    let path0 = v["inclusion_path"][0].as_str().unwrap().to_string();
    let root = v["batch_head"]["merkle_root"].as_str().unwrap().to_string();
    let sig = v["head_signature"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flip = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        b[10] = if b[10] == b'0' { b'1' } else { b'0' };
        String::from_utf8(b).unwrap()
    };
    let tampered = [
        (
            "log energy",
            r.replacen("\"energy_kwh\":12.34", "\"energy_kwh\":12.35", 1),
        ),
        (
            "log meter",
            r.replacen("\"meter_id\":\"MTR-4\"", "\"meter_id\":\"MTR-5\"", 1),
        ),
        (
            "leaf index",
            r.replacen("\"leaf_index\":5", "\"leaf_index\":4", 1),
        ),
        ("inclusion path", r.replacen(&path0, &flip(&path0), 1)),
        ("head root", r.replacen(&root, &flip(&root), 1)),
        ("head seq", r.replacen("\"seq\":1", "\"seq\":2", 1)),
        (
            "head log_count",
            r.replacen("\"log_count\":13", "\"log_count\":14", 1),
        ),
        ("head signature", r.replacen(&sig, &flip(&sig), 1)),
    ];
    for (what, t) in tampered {
        assert_ne!(&t, r, "{what}: the edit applies");
        let p = dir.path().join("tampered.json");
        std::fs::write(&p, t).unwrap();
        let (ok, out) = verify(&bin, std::slice::from_ref(&p), &key);
        assert!(
            !ok,
            "a receipt with a changed {what} must not verify: {out}"
        );
    }
    // Every single byte of one receipt: any change is caught (or the JSON breaks).
    let bytes = receipts[0].as_bytes();
    let opts = kwh_btc_iot_core::VerifyOptions {
        gateway_key: Some(kwh_btc_iot_core::model::head::public_key_from_hex(&key, "k").unwrap()),
        ..Default::default()
    };
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        let v = kwh_btc_iot_core::verify_receipt(&b, &opts);
        assert!(
            !v.valid,
            "flipping byte {i} ({:?}) went unnoticed",
            bytes[i] as char
        );
    }
    gw.shutdown().await;
}
