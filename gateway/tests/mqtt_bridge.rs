//! The MQTT bridge against a real Mosquitto, with the gateway in process:
//! payload forms, acknowledgements, dead letters, idempotency, many
//! publishers, a broker restart, authentication and ACLs, TLS.

mod common;
mod mqtt_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::http::StatusCode;
use kwh_btc_iot_gateway::config::Config;
use kwh_btc_iot_gateway::mqtt::{Bridge, MqttConfig};
use mqtt_support::*;

const T: Duration = Duration::from_secs(60);
const TOPIC: &str = "energy/PLANT-01/gw-PLANT01-003/MTR-001";
const ACK: &str = "energy-ack/PLANT-01/gw-PLANT01-003/MTR-001";

struct Setup {
    gw: kwh_btc_iot_gateway::Gateway,
    app: axum::Router,
    bridge: Bridge,
    _dir: tempfile::TempDir,
}

async fn gateway(cfg: impl FnOnce(&mut Config), mqtt: MqttConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::config(dir.path());
    cfg(&mut c);
    let (gw, app) = common::start(c).await;
    let bridge = Bridge::start(gw.state.clone(), mqtt).unwrap();
    assert!(bridge.wait_subscribed(T).await, "the bridge subscribes");
    Setup {
        gw,
        app,
        bridge,
        _dir: dir,
    }
}

impl Setup {
    async fn stop(self) {
        self.bridge.shutdown().await;
        drop(self.app);
        self.gw.shutdown().await;
    }
}

fn mqtt(broker: &Broker) -> MqttConfig {
    MqttConfig::from_url(&broker.url()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_and_full_payloads_are_the_same_log_as_over_http() {
    let Some(bin) = require_mosquitto("compact_and_full_payloads_are_the_same_log_as_over_http")
    else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let dev = Publisher::new(options("meter-1", broker.port, None));

    // The founding example, in full, then the same reading compact.
    let full = common::founding_example();
    dev.publish(TOPIC, full.clone()).await;
    let a = acks.acks.wait_on(ACK, 1, T).await;
    assert!(a[0]["error"].is_null(), "{}", a[0]);
    let (log_id, leaf) = (
        a[0]["log_id"].as_i64().unwrap(),
        a[0]["leaf_hash"].as_str().unwrap().to_string(),
    );
    assert_eq!(leaf, kwh_btc_iot_core::leaf_hash(&full).unwrap().to_hex());
    assert_eq!(a[0]["warnings"][0]["code"], "power_mismatch");

    let compact = r#"{"ts_start":"2025-12-01T11:10:00+01:00","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"power_kw_avg":2.47,"tags":["peak"],"price_sats_per_kwh":100,"channel":"ln"}"#;
    dev.publish(TOPIC, compact).await;
    let a = acks.acks.wait_on(ACK, 2, T).await;
    assert_eq!(
        (a[1]["log_id"].as_i64(), a[1]["leaf_hash"].as_str()),
        (Some(log_id), Some(leaf.as_str())),
        "compact = full"
    );

    // Over HTTP: the same log id, nothing new stored.
    let r = common::post_json(&s.app, "/api/v1/logs", full).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["log_id"].as_i64(), r.json()["leaf_hash"].as_str()),
        (Some(log_id), Some(leaf.as_str()))
    );
    assert_eq!(common::all_logs(&s.app, "").await.len(), 1);

    // A compact payload with the defaults: status ok, channel none.
    dev.publish("energy/S/D/M", r#"{"ts_start":"2025-12-01T10:00:00Z","ts_end":"2025-12-01T10:01:00Z","energy_kwh":0.5,"price_sats_per_kwh":90}"#).await;
    let a = acks.acks.wait_on("energy-ack/S/D/M", 1, T).await;
    let id = a[0]["log_id"].as_i64().expect("stored");
    let j = common::get(&s.app, &format!("/api/v1/logs/{id}"))
        .await
        .json();
    let log = &j["log"];
    assert_eq!(
        (
            log["site_id"].as_str(),
            log["iot_device_id"].as_str(),
            log["meter_id"].as_str()
        ),
        (Some("S"), Some("D"), Some("M"))
    );
    assert_eq!(
        (log["status"].as_str(), log["tx"]["channel"].as_str()),
        (Some("ok"), Some("none"))
    );
    assert_eq!(
        (
            log["interval_s"].as_i64(),
            log["tx"]["amount_sats"].as_i64()
        ),
        (Some(60), Some(45))
    );
    assert_eq!(log["tags"], serde_json::json!([]));
    assert_eq!(log["tx"]["settlement_status"], "pending");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_get_error_acks_and_are_kept_raw_once() {
    let Some(bin) = require_mosquitto("bad_payloads_get_error_acks_and_are_kept_raw_once") else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let dev = Publisher::new(options("meter-bad", broker.port, None));
    let ok = r#""ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":100"#;
    let full_other_meter = String::from_utf8(common::founding_example())
        .unwrap()
        .replace("MTR-001", "MTR-009");
    let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
        (b"".to_vec(), "invalid_json", None),
        (b"not json".to_vec(), "invalid_json", None),
        (b"{\"energy_kwh\":1,".to_vec(), "invalid_json", None),
        (b"\xff\xfe{}".to_vec(), "invalid_utf8", None),
        (b"[1,2]".to_vec(), "invalid_type", Some("payload")),
        (b"42".to_vec(), "invalid_type", Some("payload")),
        (format!("{{{ok},\"energy_kwh\":2}}").into_bytes(), "duplicate_member", Some("energy_kwh")),
        (format!("{{{ok},\"voltage\":230}}").into_bytes(), "unknown_member", Some("voltage")),
        (format!("{{{ok},\"status\":\"great\"}}").into_bytes(), "invalid_value", Some("status")),
        (format!("{{{ok},\"channel\":\"paypal\"}}").into_bytes(), "invalid_value", Some("channel")),
        (format!("{{{ok},\"amount_sats\":5}}").into_bytes(), "amount_mismatch", Some("amount_sats")),
        (format!("{{{ok},\"interval_s\":299}}").into_bytes(), "interval_mismatch", Some("interval_s")),
        (format!("{{{ok},\"tags\":[\"a\",\"a\"]}}").into_bytes(), "duplicate_tag", None),
        (br#"{"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1}"#.to_vec(), "missing_member", Some("price_sats_per_kwh")),
        (br#"{"ts_start":"yesterday","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":1}"#.to_vec(), "invalid_timestamp", Some("ts_start")),
        (br#"{"ts_start":"2025-12-01T10:15:00Z","ts_end":"2025-12-01T10:10:00Z","energy_kwh":1,"price_sats_per_kwh":1}"#.to_vec(), "invalid_time_range", Some("ts_end")),
        (format!("{{{ok},\"energy_kwh\":-1}}").replacen("\"energy_kwh\":1,", "", 1).into_bytes(), "out_of_range", Some("energy_kwh")),
        (format!("{{{ok},\"energy_kwh\":1e999}}").replacen("\"energy_kwh\":1,", "", 1).into_bytes(), "number_out_of_range", None),
        (format!("{{{ok},\"meter_id\":\"MTR-002\"}}").into_bytes(), "topic_mismatch", Some("meter_id")),
        (full_other_meter.into_bytes(), "topic_mismatch", Some("meter_id")),
        (br#"{"schema_version":"emlog-1.0"}"#.to_vec(), "unsupported_version", Some("schema_version")),
        (format!("{{\"log\":{{{ok}}},\"signature\":\"00\"}}").into_bytes(), "untrusted_key", None),
        (format!("[{}]", "[".repeat(20) + &"]".repeat(20)).into_bytes(), "too_deep", None),
        ([b"{\"tags\":[\"".to_vec(), vec![b'x'; 70_000], b"\"]}".to_vec()].concat(), "too_large", None),
    ];
    for (payload, _, _) in &cases {
        dev.publish(TOPIC, payload.clone()).await;
    }
    let got = acks.acks.wait_on(ACK, cases.len(), T).await;
    // One client, one topic: the acknowledgements come in publish order.
    for (a, (payload, code, member)) in got.iter().zip(&cases) {
        let e = &a["error"];
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned();
        assert_eq!(e["code"], *code, "{shown}: {a}");
        if let Some(m) = member {
            assert_eq!(e["member"], *m, "{shown}: {a}");
        }
        assert!(!e["message"].as_str().unwrap().is_empty());
    }

    // Nothing was stored; each payload is a dead letter, raw.
    assert!(common::all_logs(&s.app, "").await.is_empty());
    let r = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let letters = r.json()["dead_letters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), cases.len());
    let kept: HashSet<String> = letters
        .iter()
        .map(|l| l["payload_hex"].as_str().unwrap().to_string())
        .collect();
    for (payload, _, _) in &cases {
        let cut = &payload[..payload.len().min(65536)];
        assert!(
            kept.contains(&kwh_btc_iot_core::encoding::hex::encode(cut)),
            "kept raw: {}",
            String::from_utf8_lossy(&payload[..payload.len().min(80)])
        );
    }
    for l in &letters {
        assert_eq!(l["topic"], TOPIC);
        assert!(l["error"]["code"].is_string());
        let bytes = l["payload_bytes"].as_i64().unwrap();
        assert_eq!(l["truncated"].as_bool().unwrap(), bytes > 65536);
        if l["payload_hex"] == "fffe7b7d" {
            assert!(
                l["payload"].is_null(),
                "non-UTF-8 payloads are shown as hex only"
            );
        }
    }
    // Paging.
    let p1 = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=10")
        .await
        .json();
    assert_eq!(p1["dead_letters"].as_array().unwrap().len(), 10);
    let c = p1["next_cursor"].as_str().unwrap();
    let p2 = common::get(
        &s.app,
        &format!("/api/v1/mqtt/dead-letters?limit=10&cursor={c}"),
    )
    .await
    .json();
    assert_eq!(
        p2["dead_letters"][0]["id"].as_i64().unwrap(),
        p1["dead_letters"][9]["id"].as_i64().unwrap() + 1
    );
    assert_eq!(
        common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=0")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        common::get(&s.app, "/api/v1/mqtt/dead-letters?cursor=x")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The same bad payload again: acknowledged again, kept once.
    dev.publish(TOPIC, b"not json".to_vec()).await;
    acks.acks.wait_on(ACK, cases.len() + 1, T).await;
    let again = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000")
        .await
        .json();
    assert_eq!(again["dead_letters"].as_array().unwrap().len(), cases.len());
    // The same payload on another topic is another letter.
    dev.publish(
        "energy/PLANT-01/gw-PLANT01-003/MTR-002",
        b"not json".to_vec(),
    )
    .await;
    acks.acks
        .wait_on("energy-ack/PLANT-01/gw-PLANT01-003/MTR-002", 1, T)
        .await;
    let again = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000")
        .await
        .json();
    assert_eq!(
        again["dead_letters"].as_array().unwrap().len(),
        cases.len() + 1
    );

    // The bridge is still healthy: a good reading is stored.
    dev.publish(TOPIC, format!("{{{ok}}}")).await;
    let a = acks.acks.wait_on(ACK, cases.len() + 2, T).await;
    assert!(a.iter().any(|a| a["log_id"].is_i64()));
    assert_eq!(common::all_logs(&s.app, "").await.len(), 1);
    s.stop().await;
}

/// Distinct readings `range` on `n_meters` meters of device `dev`: (topic, payload, leaf hash).
fn readings(
    dev: &str,
    range: std::ops::Range<u64>,
    n_meters: u64,
) -> Vec<(String, String, String)> {
    range
        .map(|i| {
            let meter = format!("M{}", i % n_meters);
            let payload = compact(i);
            let leaf = expected_leaf(("SITE", dev, &meter), &payload);
            (format!("energy/SITE/{dev}/{meter}"), payload, leaf)
        })
        .collect()
}

/// Every stored leaf hash (and checks none is stored twice).
async fn stored_leaves(app: &axum::Router) -> HashSet<String> {
    let logs = common::all_logs(app, "").await;
    let set: HashSet<String> = logs
        .iter()
        .map(|l| l["leaf_hash"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set.len(), logs.len(), "a leaf hash is stored twice");
    set
}

/// Waits until exactly the expected readings are stored.
async fn wait_stored(app: &axum::Router, want: &HashSet<String>, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let got = stored_leaves(app).await;
        assert!(got.is_subset(want), "stored a log nobody published");
        if got.len() == want.len() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} readings stored",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_messages_from_many_publishers_are_stored_once_each() {
    let Some(bin) =
        require_mosquitto("thousands_of_messages_from_many_publishers_are_stored_once_each")
    else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let (publishers, per) = (16u64, 320u64);
    let mut want = HashSet::new();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let dev = format!("dev-{p}");
        let batch = readings(&dev, p * per..(p + 1) * per, 4);
        want.extend(batch.iter().map(|r| r.2.clone()));
        let pub_ = Publisher::new(options(&format!("pub-{p}"), broker.port, None));
        tasks.push(tokio::spawn(async move {
            for (topic, payload, _) in &batch {
                pub_.publish(topic, payload.clone()).await;
            }
            // Device retries: the first 20 readings once more.
            for (topic, payload, _) in batch.iter().take(20) {
                pub_.publish(topic, payload.clone()).await;
            }
            pub_.wait_pubacks(per + 20, T).await;
            pub_
        }));
    }
    let mut pubs = Vec::new();
    for t in tasks {
        pubs.push(t.await.unwrap());
    }
    wait_stored(&s.app, &want, T).await;
    // Every message got an acknowledgement; repeats got the first one's log_id.
    let total = (publishers * (per + 20)) as usize;
    acks.acks.wait_count(total, T).await;
    let mut by_leaf: HashMap<String, HashSet<i64>> = HashMap::new();
    for (_, a) in acks.acks.all() {
        by_leaf
            .entry(a["leaf_hash"].as_str().expect("all accepted").to_string())
            .or_default()
            .insert(a["log_id"].as_i64().unwrap());
    }
    assert_eq!(by_leaf.len(), want.len());
    assert!(
        by_leaf.values().all(|ids| ids.len() == 1),
        "one log_id per reading"
    );
    // The logs batch as usual.
    assert_eq!(
        common::post_json(&s.app, "/api/v1/batches/flush", "")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(common::check_batches(&s.app).await, want.len());
    drop(pubs);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_that_dies_before_acknowledging_gets_the_messages_again_and_stores_them_once() {
    let Some(bin) = require_mosquitto(
        "a_bridge_that_dies_before_acknowledging_gets_the_messages_again_and_stores_them_once",
    ) else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = common::start(common::config(dir.path())).await;
    let mut cfg = mqtt(&broker);
    cfg.client_id = Some("gateway-session".into());
    let bridge = Bridge::start(gw.state.clone(), cfg.clone()).unwrap();
    assert!(bridge.wait_subscribed(T).await);
    let batch = readings("dev-r", 0..3000, 3);
    let want: HashSet<String> = batch.iter().map(|r| r.2.clone()).collect();
    let p = std::sync::Arc::new(Publisher::new(options("pub-r", broker.port, None)));
    let pp = p.clone();
    let publishing = tokio::spawn(async move {
        for (i, (topic, payload, _)) in batch.iter().enumerate() {
            pp.publish(topic, payload.clone()).await;
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    // Mid-stream, the bridge dies without acknowledging what it holds (its
    // tasks are aborted, its connection dropped).
    while gw.state.storage.count_unbatched().await.unwrap() < 500 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(bridge);
    let stored_at_crash = gw.state.storage.count_unbatched().await.unwrap();
    // A new bridge with the same session gets the unacknowledged and the queued messages.
    let bridge = Bridge::start(gw.state.clone(), cfg).unwrap();
    publishing.await.unwrap();
    p.wait_pubacks(3000, T).await;
    wait_stored(&app, &want, T).await;
    eprintln!(
        "stored {stored_at_crash} before the crash, {} in the end",
        want.len()
    );
    bridge.shutdown().await;
    drop(app);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    let Some(bin) = require_mosquitto("a_broker_restart_mid_stream_loses_and_doubles_nothing")
    else {
        return;
    };
    let mut broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let mut want = HashSet::new();
    let mut tasks = Vec::new();
    for p in 0..4u64 {
        let batch = readings(&format!("dev-b{p}"), p * 1000..(p + 1) * 1000, 2);
        want.extend(batch.iter().map(|r| r.2.clone()));
        let pub_ = Publisher::new(options(&format!("pub-b{p}"), broker.port, None));
        tasks.push(tokio::spawn(async move {
            for (i, (topic, payload, _)) in batch.iter().enumerate() {
                pub_.publish(topic, payload.clone()).await;
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            pub_.wait_pubacks(1000, Duration::from_secs(120)).await;
            pub_
        }));
    }
    loop {
        if common::all_logs(&s.app, "").await.len() >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.restart();
    let mut pubs = Vec::new();
    for t in tasks {
        pubs.push(t.await.unwrap());
    }
    wait_stored(&s.app, &want, Duration::from_secs(120)).await;
    assert!(
        s.bridge.link_state().connections >= 2,
        "the bridge reconnected"
    );
    drop(pubs);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_users_and_the_acl_limit_each_device_to_its_own_topics() {
    let Some(bin) =
        require_mosquitto("broker_users_and_the_acl_limit_each_device_to_its_own_topics")
    else {
        return;
    };
    let user = |n: &str, p: &str| User {
        name: n.into(),
        password: p.into(),
    };
    let (gw_user, dev1, dev2, monitor) = (
        user("gateway", "gw-secret"),
        user("dev-1", "p1"),
        user("dev-2", "p2"),
        user("monitor", "m"),
    );
    // The ACL of docs/mqtt.md.
    let acl = "user gateway\ntopic read energy/#\ntopic write energy-ack/#\n\nuser monitor\ntopic read energy-ack/#\n\n\
               pattern write energy/+/%u/+\npattern read energy-ack/+/%u/+\n";
    let broker = Broker::start(
        &bin,
        BrokerOptions {
            users: vec![gw_user.clone(), dev1.clone(), dev2.clone(), monitor.clone()],
            acl: Some(acl.into()),
            tls: None,
        },
    );

    // A wrong password: the bridge keeps trying and never subscribes.
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = common::start(common::config(dir.path())).await;
    let mut bad = mqtt(&broker);
    bad.username = Some("gateway".into());
    bad.password = Some("wrong".into());
    let b = Bridge::start(gw.state.clone(), bad).unwrap();
    assert!(
        !b.wait_subscribed(Duration::from_secs(3)).await,
        "refused credentials"
    );
    assert!(!b.link_state().connected);
    b.shutdown().await;

    let mut good = mqtt(&broker);
    good.username = Some(gw_user.name.clone());
    good.password = Some(gw_user.password.clone());
    let bridge = Bridge::start(gw.state.clone(), good).unwrap();
    assert!(bridge.wait_subscribed(T).await);
    let all_acks = AckListener::start(
        options("monitor", broker.port, Some(&monitor)),
        "energy-ack/#",
    )
    .await;
    let dev1_acks = AckListener::start(
        options("dev-1-acks", broker.port, Some(&dev1)),
        "energy-ack/+/+/+",
    )
    .await;
    let p1 = Publisher::new(options("dev-1", broker.port, Some(&dev1)));
    let p2 = Publisher::new(options("dev-2", broker.port, Some(&dev2)));

    // dev-1 writing as dev-2: the broker drops it. Then its own readings.
    p1.publish("energy/S/dev-2/M", compact(1)).await;
    p1.publish("energy/S/dev-1/M", compact(2)).await;
    dev1_acks.acks.wait_on("energy-ack/S/dev-1/M", 1, T).await;
    p2.publish("energy/S/dev-2/M", compact(3)).await;
    all_acks.acks.wait_on("energy-ack/S/dev-2/M", 1, T).await;
    p1.publish("energy/S/dev-1/M", compact(4)).await;
    dev1_acks.acks.wait_on("energy-ack/S/dev-1/M", 2, T).await;

    let logs = common::all_logs(&app, "").await;
    let mut stored: Vec<(String, String)> = logs
        .iter()
        .map(|l| {
            (
                l["log"]["iot_device_id"].as_str().unwrap().to_string(),
                l["leaf_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    stored.sort();
    let mut want = vec![
        (
            "dev-1".to_string(),
            expected_leaf(("S", "dev-1", "M"), &compact(2)),
        ),
        (
            "dev-1".to_string(),
            expected_leaf(("S", "dev-1", "M"), &compact(4)),
        ),
        (
            "dev-2".to_string(),
            expected_leaf(("S", "dev-2", "M"), &compact(3)),
        ),
    ];
    want.sort();
    assert_eq!(stored, want, "dev-1's reading as dev-2 was never stored");
    // dev-1 sees only its own acknowledgements.
    assert_eq!(
        dev1_acks
            .acks
            .all()
            .iter()
            .filter(|(t, _)| t != "energy-ack/S/dev-1/M")
            .count(),
        0
    );
    bridge.shutdown().await;
    drop(app);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file() {
    let Some(bin) = require_mosquitto("tls_with_a_ca_file") else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    let Some(files) = make_certs(certs.path()) else {
        eprintln!("\n!!!!!!!! SKIPPED tls_with_a_ca_file: openssl is not installed !!!!!!!!\n");
        return;
    };
    let broker = Broker::start(
        &bin,
        BrokerOptions {
            tls: Some(files.clone()),
            ..Default::default()
        },
    );
    let tls_port = broker.tls_port.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = common::start(common::config(dir.path())).await;

    // A CA that did not sign the broker's certificate: no connection.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = make_certs(other.path()).unwrap();
    let mut wrong = MqttConfig::from_url(&format!("mqtts://127.0.0.1:{tls_port}")).unwrap();
    wrong.ca_file = Some(other_ca);
    let b = Bridge::start(gw.state.clone(), wrong).unwrap();
    assert!(
        !b.wait_subscribed(Duration::from_secs(3)).await,
        "an untrusted broker certificate is refused"
    );
    b.shutdown().await;

    let args = kwh_btc_iot_gateway::mqtt::MqttArgs {
        mqtt_url: Some(format!("mqtts://127.0.0.1:{tls_port}")),
        mqtt_ca_file: Some(files.0.clone()),
        ..Default::default()
    };
    let cfg = MqttConfig::resolve(&args, &Default::default())
        .unwrap()
        .unwrap();
    let bridge = Bridge::start(gw.state.clone(), cfg).unwrap();
    assert!(bridge.wait_subscribed(T).await);
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let p = Publisher::new(options("meter-tls", broker.port, None));
    p.publish("energy/S/D/M", compact(7)).await;
    let a = acks.acks.wait_on("energy-ack/S/D/M", 1, T).await;
    assert_eq!(
        a[0]["leaf_hash"].as_str().unwrap(),
        expected_leaf(("S", "D", "M"), &compact(7))
    );
    bridge.shutdown().await;
    drop(app);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_with_a_key_must_sign_their_readings() {
    let Some(bin) = require_mosquitto("devices_with_a_key_must_sign_their_readings") else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let key = kwh_btc_iot_core::model::head::Keypair::from_seed(&[7u8; 32]);
    let pk = key.public_key();
    let s = gateway(
        |c| {
            c.auth.devices.insert(
                "signer".into(),
                kwh_btc_iot_gateway::config::DeviceRules {
                    public_key: Some(pk),
                    ..Default::default()
                },
            );
        },
        mqtt(&broker),
    )
    .await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let p = Publisher::new(options("signer", broker.port, None));
    let topic = "energy/S/signer/M";
    let ack = "energy-ack/S/signer/M";
    let reading = compact(11);
    let canonical = {
        let ids = kwh_btc_iot_gateway::mqtt::payload::TopicIds::parse("energy", topic).unwrap();
        kwh_btc_iot_core::canonicalize(
            &kwh_btc_iot_gateway::mqtt::payload::to_log_json(&ids, reading.as_bytes())
                .unwrap()
                .json,
        )
        .unwrap()
    };
    let sig = kwh_btc_iot_core::encoding::hex::encode(&key.sign(&canonical).signature);

    p.publish(topic, reading.clone()).await;
    let a = acks.acks.wait_on(ack, 1, T).await;
    assert_eq!(
        (
            a[0]["error"]["code"].as_str(),
            a[0]["error"]["member"].as_str()
        ),
        (Some("missing_signature"), Some("signature")),
        "{}",
        a[0]
    );
    let bad_sig = sig.replacen(&sig[..2], if &sig[..2] == "00" { "01" } else { "00" }, 1);
    p.publish(
        topic,
        format!(r#"{{"log":{reading},"signature":"{bad_sig}"}}"#),
    )
    .await;
    let a = acks.acks.wait_on(ack, 2, T).await;
    assert_eq!(a[1]["error"]["code"], "invalid_signature", "{}", a[1]);
    p.publish(topic, format!(r#"{{"signature":"{sig}","log":{reading}}}"#))
        .await;
    let a = acks.acks.wait_on(ack, 3, T).await;
    let id = a[2]["log_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", a[2]));
    let j = common::get(&s.app, &format!("/api/v1/logs/{id}"))
        .await
        .json();
    assert_eq!(j["log_signature"].as_str(), Some(sig.as_str()));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_need_the_admin_key_when_keys_are_configured() {
    let Some(bin) = require_mosquitto("dead_letters_need_the_admin_key_when_keys_are_configured")
    else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(
        |c| {
            c.auth.admin_key_sha256 = Some(kwh_btc_iot_gateway::config::key_hash("admin-key"));
            c.auth
                .device_keys
                .insert(kwh_btc_iot_gateway::config::key_hash("dev-key"), "D".into());
        },
        mqtt(&broker),
    )
    .await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let p = Publisher::new(options("m", broker.port, None));
    p.publish("energy/S/D/M", "{oops").await;
    acks.acks.wait_on("energy-ack/S/D/M", 1, T).await;
    let uri = "/api/v1/mqtt/dead-letters";
    assert_eq!(
        common::get(&s.app, uri).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        common::get_auth(&s.app, uri, "dev-key").await.status,
        StatusCode::FORBIDDEN
    );
    let r = common::get_auth(&s.app, uri, "admin-key").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["dead_letters"][0]["payload"], "{oops");
    // The route is in the OpenAPI document.
    let doc = common::get(&s.app, "/openapi.json").await.json();
    assert!(doc["paths"]["/api/v1/mqtt/dead-letters"]["get"].is_object());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_storage_keeps_logs_and_dead_letters_once() {
    let Some(bin) = require_mosquitto("postgres_storage_keeps_logs_and_dead_letters_once") else {
        return;
    };
    let Some(url) =
        common::fresh_postgres("postgres_storage_keeps_logs_and_dead_letters_once").await
    else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|c| c.database_url = Some(url), mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let p = Publisher::new(options("m", broker.port, None));
    let batch = readings("pg", 0..500, 5);
    for (t, payload, _) in batch.iter().chain(batch.iter().take(50)) {
        p.publish(t, payload.clone()).await;
    }
    for _ in 0..3 {
        p.publish("energy/SITE/pg/M0", "{bad").await;
    }
    acks.acks.wait_count(553, T).await;
    let want: HashSet<String> = batch.iter().map(|r| r.2.clone()).collect();
    wait_stored(&s.app, &want, T).await;
    let letters = common::get(&s.app, "/api/v1/mqtt/dead-letters")
        .await
        .json();
    assert_eq!(letters["dead_letters"].as_array().unwrap().len(), 1);
    assert_eq!(letters["dead_letters"][0]["error"]["code"], "invalid_json");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_published_while_the_gateway_is_away_are_stored_when_it_returns() {
    let Some(bin) = require_mosquitto(
        "readings_published_while_the_gateway_is_away_are_stored_when_it_returns",
    ) else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = common::start(common::config(dir.path())).await;
    let mut cfg = mqtt(&broker);
    cfg.client_id = Some("away-gateway".into());
    // The first connection creates the session; then the gateway goes away.
    let bridge = Bridge::start(gw.state.clone(), cfg.clone()).unwrap();
    assert!(bridge.wait_subscribed(T).await);
    bridge.shutdown().await;
    // A backlog far larger than the broker's in-flight window (1000) and
    // than one group: it arrives in one burst when the gateway returns.
    let batch = readings("dev-away", 0..25_000, 8);
    let want: HashSet<String> = batch.iter().map(|r| r.2.clone()).collect();
    let p = Publisher::new(options("pub-away", broker.port, None));
    for (topic, payload, _) in &batch {
        p.publish(topic, payload.clone()).await;
    }
    p.wait_pubacks(25_000, T).await;
    let bridge = Bridge::start(gw.state.clone(), cfg).unwrap();
    wait_stored(&app, &want, Duration::from_secs(180)).await;
    bridge.shutdown().await;
    drop(app);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_prefix_keeps_the_old_subscription_and_its_readings_become_dead_letters() {
    let Some(bin) = require_mosquitto(
        "a_changed_prefix_keeps_the_old_subscription_and_its_readings_become_dead_letters",
    ) else {
        return;
    };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = common::start(common::config(dir.path())).await;
    let mut old = mqtt(&broker);
    old.client_id = Some("renamed".into());
    old.topic_prefix = "old".into();
    let b = Bridge::start(gw.state.clone(), old.clone()).unwrap();
    assert!(b.wait_subscribed(T).await);
    b.shutdown().await;
    // Same session, new prefix: the broker still has `old/+/+/+` for it.
    let mut new = old;
    new.topic_prefix = "energy".into();
    let bridge = Bridge::start(gw.state.clone(), new).unwrap();
    assert!(bridge.wait_subscribed(T).await);
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let p = Publisher::new(options("m", broker.port, None));
    p.publish("old/S/D/M", compact(1)).await;
    p.publish("energy/S/D/M", compact(2)).await;
    acks.acks.wait_on("energy-ack/S/D/M", 1, T).await;
    // The old-prefix reading is kept, not stored, not acknowledged anywhere.
    let deadline = std::time::Instant::now() + T;
    let letters = loop {
        let j = common::get(&app, "/api/v1/mqtt/dead-letters").await.json();
        if !j["dead_letters"].as_array().unwrap().is_empty() {
            break j["dead_letters"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(letters[0]["topic"], "old/S/D/M");
    assert_eq!(
        (
            letters[0]["error"]["code"].as_str(),
            letters[0]["error"]["member"].as_str()
        ),
        (Some("invalid_topic"), Some("topic"))
    );
    assert_eq!(common::all_logs(&app, "").await.len(), 1);
    bridge.shutdown().await;
    drop(app);
    gw.shutdown().await;
}
