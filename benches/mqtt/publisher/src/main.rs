//! mqtt-publisher: publishes distinct energy readings to the gateway's MQTT
//! topics at QoS 1, one client connection per device (`gw-bench-000`, ...,
//! 16 meters each), and counts the readings the gateway made durable:
//!
//! - by default each device subscribes to its own acknowledgements
//!   (`energy-ack/+/<device>/+`), as a meter would; the gateway publishes an
//!   acknowledgement only once the log is committed;
//! - `--ack-listener`: one extra client subscribed to `energy-ack/#` instead;
//! - `--metrics HOST:PORT`: nobody subscribes to acknowledgements; the count
//!   comes from the gateway's `kwh_btc_iot_mqtt_messages_total`.
//!
//! ```text
//! mqtt-publisher --port 18830 --clients 8 --messages 200000 [--form compact|full] [--start 0] [--rate 0]
//! ```
//!
//! Prints one JSON line: messages, publish seconds (until the broker took
//! them all), durable seconds (until the last one was durable) and the rates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

struct Args {
    host: String,
    port: u16,
    clients: u64,
    messages: u64,
    start: u64,
    form: String,
    prefix: String,
    rate: u64,
    inflight: u16,
    timeout_s: u64,
    /// Count durable logs from the gateway's /metrics (HOST:PORT) instead of
    /// subscribing to the acknowledgements.
    metrics: Option<String>,
    /// One subscriber for every acknowledgement instead of one per device.
    ack_listener: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        clients: 8,
        messages: 100_000,
        start: 0,
        form: "compact".into(),
        prefix: "energy".into(),
        rate: 0,
        inflight: 200,
        timeout_s: 600,
        metrics: None,
        ack_listener: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--host" => a.host = v(),
            "--port" => a.port = v().parse().expect("--port"),
            "--clients" => a.clients = v().parse().expect("--clients"),
            "--messages" => a.messages = v().parse().expect("--messages"),
            "--start" => a.start = v().parse().expect("--start"),
            "--form" => a.form = v(),
            "--prefix" => a.prefix = v(),
            "--rate" => a.rate = v().parse().expect("--rate"),
            "--inflight" => a.inflight = v().parse().expect("--inflight"),
            "--timeout-s" => a.timeout_s = v().parse().expect("--timeout-s"),
            "--metrics" => a.metrics = Some(v()),
            "--ack-listener" => a.ack_listener = true,
            "-h" | "--help" => {
                println!("mqtt-publisher [--host H] [--port P] [--clients C] [--messages N] [--start I] [--form compact|full] [--prefix energy] [--rate MSGS_PER_S] [--inflight 200] [--timeout-s 600] [--metrics GATEWAY_HOST:PORT | --ack-listener]");
                std::process::exit(0);
            }
            other => panic!("unknown option {other}"),
        }
    }
    assert!(
        a.form == "compact" || a.form == "full",
        "--form compact|full"
    );
    a
}

fn rfc3339(secs: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Reading `i`: a distinct 5-minute window on one of 16 meters of device `c`.
fn reading(a: &Args, c: u64, i: u64) -> (String, Vec<u8>) {
    let meter = format!("MTR-{:03}", i % 16);
    let (site, device) = ("PLANT-01", format!("gw-bench-{c:03}"));
    let start = 1_764_583_800 + (i / 16) * 300;
    let (ts_start, ts_end) = (rfc3339(start), rfc3339(start + 300));
    let energy = (i % 5000) as f64 / 100.0 + 0.25;
    let topic = format!("{}/{site}/{device}/{meter}", a.prefix);
    let payload = if a.form == "compact" {
        format!(
            r#"{{"ts_start":"{ts_start}","ts_end":"{ts_end}","energy_kwh":{energy},"price_sats_per_kwh":100,"channel":"ln","tags":["bench"]}}"#
        )
    } else {
        format!(
            r#"{{"schema_version":"emlog-1.1","site_id":"{site}","iot_device_id":"{device}","meter_id":"{meter}","ts_start":"{ts_start}","ts_end":"{ts_end}","interval_s":300,"energy_kwh":{energy},"status":"ok","tags":["bench"],"tx":{{"unit":"sats","price_sats_per_kwh":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}}}"#
        )
    };
    (topic, payload.into_bytes())
}

fn options(a: &Args, id: String) -> MqttOptions {
    let mut o = MqttOptions::new(id, a.host.clone(), a.port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_inflight(a.inflight)
        .set_max_packet_size(1 << 20, 1 << 20);
    o
}

/// Messages the gateway has made durable and acknowledged, from its /metrics.
fn durable_from_metrics(addr: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(
        body.lines()
            .filter(|l| l.starts_with("kwh_btc_iot_mqtt_messages_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

#[tokio::main]
async fn main() {
    let a = Arc::new(parse_args());
    let acks = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let count_ack = |acks: &AtomicU64, errors: &AtomicU64, payload: &[u8]| {
        if payload.starts_with(b"{\"error\"") {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        acks.fetch_add(1, Ordering::Relaxed);
    };
    // `--ack-listener`: one client subscribed to every acknowledgement.
    if a.ack_listener && a.metrics.is_none() {
        let (client, mut ev) = AsyncClient::new(
            options(&a, format!("bench-acks-{}", std::process::id())),
            1000,
        );
        let (acks, errors, filter) = (acks.clone(), errors.clone(), format!("{}-ack/#", a.prefix));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let mut ready = Some(ready_tx);
        tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        count_ack(&acks, &errors, &p.payload)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("ack listener: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("ack subscription")
            .unwrap();
    }
    let base = match &a.metrics {
        Some(addr) => durable_from_metrics(addr).expect("gateway /metrics"),
        None => 0,
    };
    let durable = |acks: &AtomicU64| -> u64 {
        match &a.metrics {
            Some(addr) => durable_from_metrics(addr).unwrap_or(base) - base,
            None => acks.load(Ordering::Relaxed),
        }
    };

    // The publishers: one connection per device; by default each also
    // subscribes to its own acknowledgements, as a meter would.
    let per_device_acks = a.metrics.is_none() && !a.ack_listener;
    let mut ready = Vec::new();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (a, acks, errors, mut go) = (a.clone(), acks.clone(), errors.clone(), go_rx.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(ready_rx);
        tasks.push(tokio::spawn(async move {
            let (client, mut ev) = AsyncClient::new(
                options(&a, format!("bench-pub-{c}-{}", std::process::id())),
                1000,
            );
            let pubacks = Arc::new(AtomicU64::new(0));
            let p = pubacks.clone();
            let sub = client.clone();
            let filter = format!("{}-ack/+/gw-bench-{c:03}/+", a.prefix);
            let mut ready_tx = Some(ready_tx);
            let poller = tokio::spawn(async move {
                loop {
                    match ev.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if per_device_acks {
                                let _ = sub.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                            } else if let Some(r) = ready_tx.take() {
                                let _ = r.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(r) = ready_tx.take() {
                                let _ = r.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            p.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Incoming(Packet::Publish(m))) => {
                            count_ack(&acks, &errors, &m.payload)
                        }
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("publisher {c}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
            let _ = go.wait_for(|g| *g).await;
            let n = a.messages / a.clients + u64::from(c < a.messages % a.clients);
            let per_client_rate = if a.rate > 0 {
                (a.rate as f64 / a.clients as f64).max(1.0)
            } else {
                0.0
            };
            let t = Instant::now();
            for k in 0..n {
                let (topic, payload) = reading(&a, c, a.start + k);
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await
                    .expect("publish");
                if per_client_rate > 0.0 {
                    let due = t + Duration::from_secs_f64((k + 1) as f64 / per_client_rate);
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            while pubacks.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            poller.abort_handle()
        }));
    }
    for r in ready {
        tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .expect("publisher connected")
            .unwrap();
    }
    let t0 = Instant::now();
    go_tx.send(true).unwrap();
    let mut pollers = Vec::new();
    for t in tasks {
        pollers.push(t.await.unwrap());
    }
    let publish_s = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(a.timeout_s);
    let mut last = (0, Instant::now());
    while durable(&acks) < a.messages {
        let now = durable(&acks);
        if now != last.0 {
            last = (now, Instant::now());
        }
        if Instant::now() > deadline || last.1.elapsed() > Duration::from_secs(60) {
            eprintln!("gave up: {now} of {} acknowledgements", a.messages);
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(if a.metrics.is_some() {
            20
        } else {
            2
        }))
        .await;
    }
    let durable_s = t0.elapsed().as_secs_f64();
    for p in pollers {
        p.abort();
    }
    let mode = if a.metrics.is_some() {
        "metrics"
    } else if a.ack_listener {
        "listener"
    } else {
        "device"
    };
    println!(
        "{{\"messages\":{},\"clients\":{},\"form\":\"{}\",\"acks\":\"{mode}\",\"publish_s\":{:.3},\"durable_s\":{:.3},\"publish_per_s\":{:.0},\"durable_per_s\":{:.0},\"errors\":{}}}",
        a.messages,
        a.clients,
        a.form,
        publish_s,
        durable_s,
        a.messages as f64 / publish_s,
        a.messages as f64 / durable_s,
        errors.load(Ordering::Relaxed)
    );
}
