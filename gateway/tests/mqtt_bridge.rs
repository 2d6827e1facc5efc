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
    Setup { gw, app, bridge, _dir: dir }
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
    let Some(bin) = require_mosquitto("compact_and_full_payloads_are_the_same_log_as_over_http") else { return };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let dev = Publisher::new(options("meter-1", broker.port, None));

    // The founding example, in full, then the same reading compact.
    let full = common::founding_example();
    dev.publish(TOPIC, full.clone()).await;
    let a = acks.acks.wait_on(ACK, 1, T).await;
    assert!(a[0]["error"].is_null(), "{}", a[0]);
    let (log_id, leaf) = (a[0]["log_id"].as_i64().unwrap(), a[0]["leaf_hash"].as_str().unwrap().to_string());
    assert_eq!(leaf, kwh_btc_iot_core::leaf_hash(&full).unwrap().to_hex());
    assert_eq!(a[0]["warnings"][0]["code"], "power_mismatch");

    let compact = r#"{"ts_start":"2025-12-01T11:10:00+01:00","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"power_kw_avg":2.47,"tags":["peak"],"price_sats_per_kwh":100,"channel":"ln"}"#;
    dev.publish(TOPIC, compact).await;
    let a = acks.acks.wait_on(ACK, 2, T).await;
    assert_eq!((a[1]["log_id"].as_i64(), a[1]["leaf_hash"].as_str()), (Some(log_id), Some(leaf.as_str())), "compact = full");

    // Over HTTP: the same log id, nothing new stored.
    let r = common::post_json(&s.app, "/api/v1/logs", full).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!((r.json()["log_id"].as_i64(), r.json()["leaf_hash"].as_str()), (Some(log_id), Some(leaf.as_str())));
    assert_eq!(common::all_logs(&s.app, "").await.len(), 1);

    // A compact payload with the defaults: status ok, channel none.
    dev.publish("energy/S/D/M", r#"{"ts_start":"2025-12-01T10:00:00Z","ts_end":"2025-12-01T10:01:00Z","energy_kwh":0.5,"price_sats_per_kwh":90}"#).await;
    let a = acks.acks.wait_on("energy-ack/S/D/M", 1, T).await;
    let id = a[0]["log_id"].as_i64().expect("stored");
    let j = common::get(&s.app, &format!("/api/v1/logs/{id}")).await.json();
    let log = &j["log"];
    assert_eq!((log["site_id"].as_str(), log["iot_device_id"].as_str(), log["meter_id"].as_str()), (Some("S"), Some("D"), Some("M")));
    assert_eq!((log["status"].as_str(), log["tx"]["channel"].as_str()), (Some("ok"), Some("none")));
    assert_eq!((log["interval_s"].as_i64(), log["tx"]["amount_sats"].as_i64()), (Some(60), Some(45)));
    assert_eq!(log["tags"], serde_json::json!([]));
    assert_eq!(log["tx"]["settlement_status"], "pending");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_get_error_acks_and_are_kept_raw_once() {
    let Some(bin) = require_mosquitto("bad_payloads_get_error_acks_and_are_kept_raw_once") else { return };
    let broker = Broker::start(&bin, BrokerOptions::default());
    let s = gateway(|_| {}, mqtt(&broker)).await;
    let acks = AckListener::start(options("acks", broker.port, None), "energy-ack/#").await;
    let dev = Publisher::new(options("meter-bad", broker.port, None));
    let ok = r#""ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":100"#;
    let full_other_meter = String::from_utf8(common::founding_example()).unwrap().replace("MTR-001", "MTR-009");
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
    // One client, one topic: acknowledgements may come in another order
    // (groups are stored concurrently), so match them by what they say.
    let mut want: HashMap<(String, Option<String>), usize> = HashMap::new();
    for (_, code, member) in &cases {
        *want.entry((code.to_string(), member.map(str::to_string))).or_default() += 1;
    }
    for a in &got {
        let e = &a["error"];
        assert!(e.is_object(), "every case is rejected: {a}");
        assert!(!e["message"].as_str().unwrap().is_empty());
        let code = e["code"].as_str().unwrap().to_string();
        let member = e["member"].as_str().map(str::to_string);
        let key = if want.contains_key(&(code.clone(), member.clone())) { (code, member) } else { (code, None) };
        let n = want.get_mut(&key).unwrap_or_else(|| panic!("unexpected rejection {a}"));
        *n -= 1;
        if *n == 0 {
            want.remove(&key);
        }
    }
    assert!(want.is_empty(), "missing rejections: {want:?}");

    // Nothing was stored; each payload is a dead letter, raw.
    assert!(common::all_logs(&s.app, "").await.is_empty());
    let r = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let letters = r.json()["dead_letters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), cases.len());
    let kept: HashSet<String> = letters.iter().map(|l| l["payload_hex"].as_str().unwrap().to_string()).collect();
    for (payload, _, _) in &cases {
        let cut = &payload[..payload.len().min(65536)];
        assert!(kept.contains(&kwh_btc_iot_core::hash::to_hex(cut)), "kept raw: {}", String::from_utf8_lossy(&payload[..payload.len().min(80)]));
    }
    for l in &letters {
        assert_eq!(l["topic"], TOPIC);
        assert!(l["error"]["code"].is_string());
        let bytes = l["payload_bytes"].as_i64().unwrap();
        assert_eq!(l["truncated"].as_bool().unwrap(), bytes > 65536);
        if l["payload_hex"] == "fffe7b7d" {
            assert!(l["payload"].is_null(), "non-UTF-8 payloads are shown as hex only");
        }
    }
    // Paging.
    let p1 = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=10").await.json();
    assert_eq!(p1["dead_letters"].as_array().unwrap().len(), 10);
    let c = p1["next_cursor"].as_str().unwrap();
    let p2 = common::get(&s.app, &format!("/api/v1/mqtt/dead-letters?limit=10&cursor={c}")).await.json();
    assert_eq!(p2["dead_letters"][0]["id"].as_i64().unwrap(), p1["dead_letters"][9]["id"].as_i64().unwrap() + 1);
    assert_eq!(common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=0").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(common::get(&s.app, "/api/v1/mqtt/dead-letters?cursor=x").await.status, StatusCode::BAD_REQUEST);

    // The same bad payload again: acknowledged again, kept once.
    dev.publish(TOPIC, b"not json".to_vec()).await;
    acks.acks.wait_on(ACK, cases.len() + 1, T).await;
    let again = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000").await.json();
    assert_eq!(again["dead_letters"].as_array().unwrap().len(), cases.len());
    // The same payload on another topic is another letter.
    dev.publish("energy/PLANT-01/gw-PLANT01-003/MTR-002", b"not json".to_vec()).await;
    acks.acks.wait_on("energy-ack/PLANT-01/gw-PLANT01-003/MTR-002", 1, T).await;
    let again = common::get(&s.app, "/api/v1/mqtt/dead-letters?limit=1000").await.json();
    assert_eq!(again["dead_letters"].as_array().unwrap().len(), cases.len() + 1);

    // The bridge is still healthy: a good reading is stored.
    dev.publish(TOPIC, format!("{{{ok}}}")).await;
    let a = acks.acks.wait_on(ACK, cases.len() + 2, T).await;
    assert!(a.iter().any(|a| a["log_id"].is_i64()));
    assert_eq!(common::all_logs(&s.app, "").await.len(), 1);
    s.stop().await;
}
