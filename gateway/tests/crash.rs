//! kill -9 of a real `kwh-btc-iot serve` process while clients post: after a
//! restart every log that got a 2xx is there, once, with its log_id, and every
//! batch's root re-computes from its stored logs.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn spawn_server(data_dir: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut cmd = server_command();
    // No internet here: the default would contact the public calendars.
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--ots-calendars",
        "none",
        "--data-dir",
    ])
    .arg(data_dir)
    .args(extra)
    .env("KWH_BTC_IOT_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("server starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server prints its address");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "unexpected first line {line:?}"
    );
    (child, addr)
}

#[test]
fn kill_9_under_concurrent_posting_loses_no_acknowledged_log() {
    let dir = tempfile::tempdir().unwrap();
    // Auto flush often, so the kill also lands around flushes.
    let (mut child, addr) =
        spawn_server(dir.path(), &["--flush-count", "200", "--flush-age-s", "1"]);

    let acked: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..16u64 {
        let (addr, acked, stop, sent) = (addr.clone(), acked.clone(), stop.clone(), sent.clone());
        clients.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 100_000 {
                let body = log_json(c * 1_000_000 + i);
                i += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                match http(&addr, "POST", "/api/v1/logs", Some(body.as_bytes())) {
                    Some((status, resp)) if status == 200 || status == 201 => {
                        let j: serde_json::Value = serde_json::from_slice(&resp).unwrap();
                        acked.lock().unwrap().insert(
                            j["leaf_hash"].as_str().unwrap().to_string(),
                            j["log_id"].as_i64().unwrap(),
                        );
                    }
                    Some((status, resp)) => {
                        panic!("unexpected {status}: {}", String::from_utf8_lossy(&resp))
                    }
                    None => break, // the server is gone
                }
            }
        }));
    }
    // Let enough requests through (bounded in time), then kill -9 mid-flight.
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 3_000 && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = Arc::try_unwrap(acked).unwrap().into_inner().unwrap();
    eprintln!(
        "killed after {} acknowledged of {} sent",
        acked.len(),
        sent.load(Ordering::Relaxed)
    );
    assert!(acked.len() >= 100, "the test needs acknowledged logs");

    // Restart on the same data directory; batch what is left.
    let (mut child, addr) = spawn_server(dir.path(), &["--flush-count", "0", "--flush-age-s", "0"]);
    let result = std::panic::catch_unwind(|| {
        let (s, _) = http(&addr, "POST", "/api/v1/batches/flush", None).unwrap();
        assert!(s == 200 || s == 409, "flush after restart: {s}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Read everything back over HTTP with the same checks as the in-process tests.
        let logs = all_logs_http(&addr);
        let mut by_leaf = HashMap::new();
        for l in &logs {
            assert!(
                by_leaf
                    .insert(
                        l["leaf_hash"].as_str().unwrap().to_string(),
                        l["log_id"].as_i64().unwrap()
                    )
                    .is_none(),
                "a log stored twice"
            );
        }
        for (leaf, id) in &acked {
            assert_eq!(
                by_leaf.get(leaf),
                Some(id),
                "acknowledged log {leaf} (log_id {id}) is missing after the crash"
            );
        }
        drop(rt);
        check_batches_http(&addr, &logs);
        // A few receipts verify.
        let key = serde_json::from_slice::<serde_json::Value>(
            &http(&addr, "GET", "/api/v1/gateway", None).unwrap().1,
        )
        .unwrap()["public_key"]
            .as_str()
            .unwrap()
            .to_string();
        let key = kwh_btc_iot_core::model::head::public_key_from_hex(&key, "k").unwrap();
        for l in logs.iter().step_by((logs.len() / 20).max(1)) {
            let (s, r) = http(
                &addr,
                "GET",
                &format!("/api/v1/logs/{}/receipt", l["log_id"]),
                None,
            )
            .unwrap();
            assert_eq!(s, 200);
            let v = kwh_btc_iot_core::verify_receipt(
                &r,
                &kwh_btc_iot_core::VerifyOptions {
                    gateway_key: Some(key),
                    ..Default::default()
                },
            );
            assert!(v.valid, "{:?}", v.errors);
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let (s, body) = http(addr, "GET", path, None).expect("server answers");
    assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn all_logs_http(addr: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let j = get_json(addr, &format!("/api/v1/logs?limit=1000{cursor}"));
        out.extend(j["logs"].as_array().unwrap().iter().cloned());
        match j["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

fn check_batches_http(addr: &str, logs: &[serde_json::Value]) {
    use kwh_btc_iot_core as core;
    let mut batches = get_json(addr, "/api/v1/batches?limit=1000")["batches"]
        .as_array()
        .unwrap()
        .clone();
    batches.reverse();
    let mut prev: Option<String> = None;
    let mut total = 0;
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b["seq"].as_i64().unwrap(), i as i64 + 1);
        let mut members: Vec<&serde_json::Value> = logs
            .iter()
            .filter(|l| l["batch_id"] == b["batch_id"])
            .collect();
        members.sort_by_key(|l| l["leaf_index"].as_i64().unwrap());
        let leaves: Vec<core::Hash> = members
            .iter()
            .enumerate()
            .map(|(k, l)| {
                assert_eq!(l["leaf_index"].as_i64().unwrap(), k as i64);
                core::leaf_hash(serde_json::to_string(&l["log"]).unwrap().as_bytes()).unwrap()
            })
            .collect();
        assert_eq!(leaves.len() as i64, b["log_count"].as_i64().unwrap());
        assert_eq!(
            core::merkle::root(&leaves).to_hex(),
            b["merkle_root"].as_str().unwrap(),
            "batch root re-computes after the crash"
        );
        let d = get_json(
            addr,
            &format!("/api/v1/batches/{}", b["batch_id"].as_str().unwrap()),
        );
        assert_eq!(
            d["head"]["prev_head_hash"].as_str().map(str::to_string),
            prev
        );
        prev = Some(d["head_hash"].as_str().unwrap().to_string());
        total += leaves.len();
    }
    assert_eq!(total, logs.len(), "every log is in exactly one batch");
}
