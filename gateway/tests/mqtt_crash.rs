//! A real `kwh-btc-iot serve --mqtt-url ...` killed with SIGKILL while many
//! publishers stream readings (and some bad payloads) through a real
//! Mosquitto, restarted, killed and restarted again: in the end every valid
//! reading is stored exactly once, every bad one is one dead letter, and
//! every batch holds each of its logs once (checked in the SQLite file).

mod common;
mod mqtt_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mqtt_support::*;

struct Server {
    child: Child,
    http: String,
}

impl Drop for Server {
    // A failing test leaves no gateway behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data: &Path, broker: &Broker, log: &Path) -> Server {
    let mut cmd = common::server_command();
    // No internet here: the default would contact the public calendars.
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--ots-calendars",
        "none",
        "--data-dir",
    ])
    .arg(data)
    .args([
        "--mqtt-url",
        &broker.url(),
        "--flush-count",
        "1000",
        "--flush-age-s",
        "1",
    ])
    .env("KWH_BTC_IOT_LOG", "info")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap(),
    );
    let mut child = cmd.spawn().expect("start kwh-btc-iot serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let http = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        http.contains(':'),
        "no listening line from the server: {line:?}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    Server { child, http }
}

/// (rows, distinct leaf hashes, leaf hashes) of the logs table, read while the server runs.
fn stored(db: &Path) -> (i64, HashSet<String>) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
        .unwrap();
    let mut st = c.prepare("SELECT leaf_hash FROM logs").unwrap();
    let set = st
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|h| kwh_btc_iot_core::encoding::hex::encode(&h.unwrap()))
        .collect();
    (n, set)
}

fn count(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c.query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_gateway_mid_stream_loses_and_doubles_nothing() {
    let Some(bin) = require_mosquitto("kill_9_of_the_gateway_mid_stream_loses_and_doubles_nothing")
    else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let db = data.join("kwh-btc-iot.sqlite3");
    let mut server = start_server(&data, &broker, &log);
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;

    // The first start creates the broker session: wait until it is there
    // (a probe reading comes back acknowledged).
    // Published before the subscription exists, a message is not queued
    // for the gateway, so the probe is repeated (the same reading: stored once).
    let probe = Publisher::new(options("probe", broker.port, None));
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.acks.on("energy-ack/SITE/probe/M").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the gateway never acknowledged the probe; server log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        probe.publish("energy/SITE/probe/M", compact(999_999)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut want: HashSet<String> =
        HashSet::from([expected_leaf(("SITE", "probe", "M"), &compact(999_999))]);

    let (publishers, per) = (8u64, 750u64);
    let mut bad = 0usize;
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let dev = format!("dev-{p}");
        let mut msgs = Vec::new();
        for i in p * per..(p + 1) * per {
            let meter = format!("M{}", i % 3);
            let payload = compact(i);
            want.insert(expected_leaf(("SITE", &dev, &meter), &payload));
            msgs.push((format!("energy/SITE/{dev}/{meter}"), payload));
            if i % 100 == 0 {
                bad += 1;
                msgs.push((
                    format!("energy/SITE/{dev}/{meter}"),
                    format!(r#"{{"reading":{i}}}"#),
                ));
            }
        }
        let publisher = Publisher::new(options(&format!("pub-{p}"), broker.port, None));
        tasks.push(tokio::spawn(async move {
            let n = msgs.len() as u64;
            for (k, (topic, payload)) in msgs.into_iter().enumerate() {
                publisher.publish(&topic, payload).await;
                // About 300 messages per second per publisher: the stream
                // lasts long enough for two crashes in the middle of it.
                if k % 3 == 2 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            publisher.wait_pubacks(n, Duration::from_secs(120)).await;
            publisher
        }));
    }

    // Two crashes mid-stream, each followed by a restart on the same data
    // directory (same key, so the same client id and broker session).
    for threshold in [1500, 4000] {
        let deadline = Instant::now() + Duration::from_secs(120);
        while count(&db) < threshold {
            assert!(Instant::now() < deadline, "stuck below {threshold} logs");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        eprintln!("killed the gateway at {} stored logs", count(&db));
        server = start_server(&data, &broker, &log);
    }
    let mut pubs = Vec::new();
    for t in tasks {
        pubs.push(t.await.unwrap());
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (rows, set) = stored(&db);
        assert_eq!(rows as usize, set.len(), "a reading is stored twice");
        assert!(set.is_subset(&want), "a log nobody published");
        if set.len() == want.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} readings stored; server log:\n{}",
            set.len(),
            want.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every bad payload is one dead letter (the API lists them).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = common::http(
            &server.http,
            "GET",
            "/api/v1/mqtt/dead-letters?limit=1000",
            None,
        )
        .expect("server answers");
        assert_eq!(status, 200);
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let n = j["dead_letters"].as_array().unwrap().len();
        assert!(n <= bad, "a bad payload was kept twice");
        if n == bad {
            break;
        }
        assert!(Instant::now() < deadline, "{n} of {bad} dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Flush the rest and stop gracefully; then every log is in exactly one
    // batch, each batch with leaf indexes 0..n.
    let _ = common::http(&server.http, "POST", "/api/v1/batches/flush", Some(b""));
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status();
    assert!(server.child.wait().unwrap().success(), "graceful stop");
    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let unbatched: i64 = c
        .query_row(
            "SELECT count(*) FROM logs WHERE batch_seq IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unbatched, 0);
    let mut st = c.prepare("SELECT b.seq, b.log_count, count(l.log_id), min(l.leaf_index), max(l.leaf_index) FROM batches b JOIN logs l ON l.batch_seq = b.seq GROUP BY b.seq").unwrap();
    let mut total = 0;
    for r in st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .unwrap()
    {
        let (log_count, n, lo, hi) = r.unwrap();
        assert_eq!((n, lo, hi), (log_count, 0, log_count - 1));
        total += n;
    }
    assert_eq!(total as usize, want.len());
    drop(pubs);
}
