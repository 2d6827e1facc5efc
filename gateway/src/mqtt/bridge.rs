//! The bridge task: one rumqttc client, subscribed at QoS 1 to
//! `<prefix>/+/+/+` with a persistent session (`clean_session = false`, a
//! fixed client id) and manual acknowledgement.
//!
//! Two tasks share the client. The *link* task polls the event loop
//! (connects, reconnects with backoff, subscribes when the broker has no
//! session for us) and hands every received publish to the *processing* task,
//! which gathers what has arrived into groups, turns each payload into a log
//! ([`super::payload`]), validates it with the same [`crate::ingest::prepare`]
//! as `POST /api/v1/logs`, stores the group through the gateway's group
//! commit, keeps rejected payloads as dead letters, and only then sends the
//! PUBACKs and publishes the acknowledgements. Nothing is acknowledged to the
//! broker before it is durable; a crash before that means the broker
//! delivers the message again, and the leaf-hash uniqueness of the storage
//! makes the second delivery store nothing.
//!
//! A PUBACK is only sent on the connection the publish arrived on: after a
//! reconnect the broker resends every unacknowledged message (MQTT 3.1.1
//! section 4.4) and those copies are acknowledged instead. Acking the old
//! packet id on the new connection could acknowledge a different message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kwh_btc_iot_core::Hash;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;

use super::dead_letter::NewDeadLetter;
use super::payload::{self, TopicIds};
use super::MqttConfig;
use crate::auth::Principal;
use crate::error::{AppError, ErrorDetail};
use crate::ingest;
use crate::storage::NewLog;
use crate::AppState;

/// Largest MQTT packet accepted from the broker. Payloads over the log size
/// limit are rejected (and kept as dead letters); a packet over this limit
/// would break the connection, so configure the broker's `max_packet_size`
/// at or below it.
pub const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Most messages validated and stored as one group.
pub const MAX_GROUP: usize = 4096;
/// Groups being stored at once.
const GROUPS_IN_FLIGHT: usize = 4;
/// rumqttc's request channel (PUBACKs and acknowledgements): in practice
/// unbounded, so that the processing never waits for the event loop.
///
/// The link task must never wait for the processing either: the broker's
/// PUBACKs for our acknowledgements arrive on the same connection behind the
/// readings, so an event loop that stops reading (because a queue is full)
/// while the processing waits for those PUBACKs (to send more requests)
/// would stall both for good. Memory stays bounded because the broker sends
/// at most its in-flight limit of unacknowledged messages (Mosquitto's
/// `max_inflight_messages`, see docs/mqtt.md).
const REQUESTS: usize = 1 << 24;
/// Outgoing QoS 1 acknowledgements not yet confirmed by the broker.
const OUTGOING_INFLIGHT: u16 = 1024;

/// The state of the broker link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Connected now.
    pub connected: bool,
    /// The subscription is in place (granted by the broker, or kept in the
    /// broker's session).
    pub subscribed: bool,
    /// Successful connections so far.
    pub connections: u64,
}

/// A running bridge.
pub struct Bridge {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    link: watch::Receiver<LinkState>,
    client_id: String,
}

struct Ctx {
    app: AppState,
    client: AsyncClient,
    prefix: String,
    ack_prefix: String,
    ack_qos: QoS,
    /// Counts connections and disconnections: a publish may be acked only
    /// while this is still the value it arrived with.
    epoch: AtomicU64,
    stop: watch::Receiver<bool>,
}

struct Received {
    publish: Publish,
    epoch: u64,
    received_at_us: i64,
}

impl Bridge {
    /// Connects (in the background; a broker that is down is retried) and
    /// starts bridging into the gateway of `app`.
    pub fn start(app: AppState, cfg: MqttConfig) -> anyhow::Result<Bridge> {
        let client_id = cfg
            .client_id
            .clone()
            .unwrap_or_else(|| format!("kwh-btc-iot-{}", app.gateway_id));
        let mut opts = MqttOptions::new(client_id.clone(), cfg.host.clone(), cfg.port);
        opts.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(cfg.keep_alive)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_inflight(OUTGOING_INFLIGHT);
        if let Some(user) = &cfg.username {
            opts.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
        }
        if cfg.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                cfg.rustls()?,
            )));
        }
        let (client, eventloop) = AsyncClient::new(opts, REQUESTS);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (link_tx, link_rx) = watch::channel(LinkState::default());
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            app,
            client,
            prefix: cfg.topic_prefix.clone(),
            ack_prefix: cfg.ack_prefix(),
            ack_qos: cfg.ack_qos,
            epoch: AtomicU64::new(0),
            stop: stop_rx,
        });
        tracing::info!(broker = %cfg.url(), client_id = %client_id, subscription = %cfg.subscription(), "starting the MQTT bridge");
        let mut tasks = JoinSet::new();
        tasks.spawn(link(
            eventloop,
            ctx.clone(),
            cfg.subscription(),
            queue_tx,
            link_tx,
        ));
        tasks.spawn(process(ctx, queue_rx));
        Ok(Bridge {
            stop: stop_tx,
            tasks,
            link: link_rx,
            client_id,
        })
    }

    /// The client id (the name of the broker session).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The link state now.
    pub fn link_state(&self) -> LinkState {
        *self.link.borrow()
    }

    /// Waits until the subscription is in place; false after `timeout`.
    pub async fn wait_subscribed(&self, timeout: Duration) -> bool {
        let mut rx = self.link.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| s.connected && s.subscribed))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops: no new message is taken, the groups being stored are finished
    /// and acknowledged, and the client disconnects (the broker keeps the
    /// session and queues what arrives meanwhile). Messages received but not
    /// stored are not acknowledged: the broker delivers them again.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(15), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("the MQTT bridge did not stop within 15 s; aborting it (unacknowledged messages will be redelivered)");
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Polls the event loop: connection, subscription, incoming publishes.
async fn link(
    mut eventloop: EventLoop,
    ctx: Arc<Ctx>,
    subscription: String,
    queue: mpsc::UnboundedSender<Received>,
    state: watch::Sender<LinkState>,
) {
    let mut stop = ctx.stop.clone();
    // Failed connection attempts since the last connection.
    let mut failures = 0;
    let mut subscribed = false;
    loop {
        // Not raced against the stop signal: a poll cancelled half-way could
        // lose a request. The processing task ends the loop by disconnecting.
        let event = eventloop.poll().await;
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if *stop.borrow() {
                    continue; // not acknowledged: delivered again after the restart
                }
                let r = Received {
                    publish,
                    epoch: ctx.epoch.load(Ordering::SeqCst),
                    received_at_us: crate::clock::now_us(),
                };
                let _ = queue.send(r);
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                ctx.epoch.fetch_add(1, Ordering::SeqCst);
                failures = 0;
                metrics::gauge!("kwh_btc_iot_mqtt_connected").set(1.0);
                // A broker without our session (first start, or it lost it)
                // needs the subscription again; with the session it is kept.
                subscribed &= ack.session_present;
                state.send_modify(|s| {
                    s.connected = true;
                    s.subscribed = subscribed;
                    s.connections += 1;
                });
                tracing::info!(session_present = ack.session_present, "MQTT connected");
                if !subscribed {
                    let (client, topic) = (ctx.client.clone(), subscription.clone());
                    tokio::spawn(async move {
                        if let Err(e) = client.subscribe(topic, QoS::AtLeastOnce).await {
                            tracing::error!("MQTT subscribe request failed: {e}");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, SubscribeReasonCode::Success(_)))
                {
                    subscribed = true;
                    state.send_modify(|s| s.subscribed = true);
                    tracing::info!(topic = %subscription, "MQTT subscribed");
                } else {
                    tracing::error!(topic = %subscription, "the broker refused the subscription (check its ACL for the gateway's user); retrying on the next connection");
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => {
                ctx.epoch.fetch_add(1, Ordering::SeqCst);
                metrics::gauge!("kwh_btc_iot_mqtt_connected").set(0.0);
                state.send_modify(|s| s.connected = false);
                if *stop.borrow() {
                    break;
                }
                failures += 1;
                let backoff = crate::backoff::delay(
                    Duration::from_millis(100),
                    Duration::from_secs(5),
                    failures,
                );
                tracing::warn!(
                    "MQTT connection: {e}; retrying in {} ms",
                    backoff.as_millis()
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped(&mut stop) => break,
                }
            }
        }
    }
    metrics::gauge!("kwh_btc_iot_mqtt_connected").set(0.0);
    state.send_modify(|s| s.connected = false);
}

/// Gathers received messages into groups and stores them, a few groups at once.
async fn process(ctx: Arc<Ctx>, mut queue: mpsc::UnboundedReceiver<Received>) {
    let mut stop = ctx.stop.clone();
    let slots = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    let mut groups = JoinSet::new();
    // Groups are stored concurrently but acknowledged in the order they were
    // received: each group waits for its predecessor's `done`. Devices then
    // get their acknowledgements in order, and the broker gets its PUBACKs in
    // order (Mosquitto looks each one up by walking its in-flight list).
    let (first_done, mut turn) = oneshot::channel::<()>();
    let _ = first_done.send(());
    loop {
        let first = tokio::select! {
            m = queue.recv() => m,
            _ = stopped(&mut stop) => None,
        };
        let Some(first) = first else { break };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(m) => group.push(m),
                Err(_) => break,
            }
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let c = ctx.clone();
        let (done, next_turn) = oneshot::channel();
        let turn = std::mem::replace(&mut turn, next_turn);
        groups.spawn(async move {
            handle_group(&c, group, turn, done).await;
            drop(slot);
        });
        while groups.try_join_next().is_some() {}
    }
    // Stopping: take nothing new, finish (and acknowledge) what is being stored.
    drop(queue);
    while groups.join_next().await.is_some() {}
    if let Err(e) = ctx.client.disconnect().await {
        tracing::debug!("MQTT disconnect: {e}");
    }
}

enum Outcome {
    Stored {
        row: usize,
        leaf_hash: String,
        warnings: Vec<kwh_btc_iot_core::Warning>,
    },
    Rejected(ErrorDetail),
}

/// Validates one message (the same `prepare` as the HTTP ingest).
fn validate(app: &AppState, prefix: &str, m: &Received) -> Result<ingest::Prepared, AppError> {
    let ids = TopicIds::parse(prefix, &m.publish.topic).ok_or_else(|| {
        AppError::new(
            axum::http::StatusCode::BAD_REQUEST,
            crate::error::codes::INVALID_TOPIC,
            format!(
                "topic {:?} is not {prefix}/<site_id>/<iot_device_id>/<meter_id>",
                m.publish.topic
            ),
        )
        .member("topic")
    })?;
    let text = payload::to_log_json(&ids, &m.publish.payload)?;
    ingest::prepare(
        &text.json,
        &Principal::Admin,
        &app.cfg.auth,
        text.signature.as_deref(),
        m.received_at_us,
    )
    .map_err(|e| payload::payload_member(e, text.form, text.enveloped))
}

fn validate_all(app: &AppState, prefix: &str, group: &[Received]) -> (Vec<Outcome>, Vec<NewLog>) {
    let mut outcomes = Vec::with_capacity(group.len());
    let mut rows = Vec::with_capacity(group.len());
    for m in group {
        outcomes.push(match validate(app, prefix, m) {
            Ok(p) => {
                rows.push(p.log);
                Outcome::Stored {
                    row: rows.len() - 1,
                    leaf_hash: Hash(rows[rows.len() - 1].leaf_hash).to_hex(),
                    warnings: p.warnings,
                }
            }
            Err(e) => Outcome::Rejected(e.detail()),
        });
    }
    (outcomes, rows)
}

async fn handle_group(
    ctx: &Ctx,
    group: Vec<Received>,
    turn: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
) {
    // Validation is CPU work: off the async workers for a big group.
    let (group, outcomes, rows) = if group.len() > 64 {
        let (app, prefix) = (ctx.app.clone(), ctx.prefix.clone());
        match tokio::task::spawn_blocking(move || {
            let (o, r) = validate_all(&app, &prefix, &group);
            (group, o, r)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("MQTT validation task failed: {e}");
                return;
            }
        }
    } else {
        let (o, r) = validate_all(&ctx.app, &ctx.prefix, &group);
        (group, o, r)
    };
    let mut letters: Vec<NewDeadLetter> = group
        .iter()
        .zip(&outcomes)
        .filter_map(|(m, o)| match o {
            Outcome::Rejected(e) => Some(NewDeadLetter::new(
                &m.publish.topic,
                &m.publish.payload,
                e,
                m.received_at_us,
            )),
            Outcome::Stored { .. } => None,
        })
        .collect();
    let Some(stored) = retry(ctx, "storing MQTT logs", rows, |rows| async {
        ctx.app.ingestor.submit(rows).await.map_err(|e| e.message)
    })
    .await
    else {
        return;
    };
    // A different reading already stored is refused like invalid input: kept
    // as a dead letter for the operator.
    letters.extend(group.iter().zip(&outcomes).filter_map(|(m, o)| match o {
        Outcome::Stored { row, .. } => stored[*row].conflict.map(|leaf| {
            let e = AppError::conflicting_reading(&leaf, stored[*row].log_id);
            NewDeadLetter::new(
                &m.publish.topic,
                &m.publish.payload,
                &e.detail(),
                m.received_at_us,
            )
        }),
        Outcome::Rejected(_) => None,
    }));
    if !letters.is_empty() {
        let Some(()) = retry(ctx, "storing MQTT dead letters", letters, |l| async {
            ctx.app
                .storage
                .insert_dead_letters(l)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        else {
            return;
        };
    }
    // Durable: acknowledge, after the previous group (a failed or aborted
    // predecessor drops its sender, which also ends the wait).
    let _ = turn.await;
    let (mut created, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    for (m, outcome) in group.iter().zip(outcomes) {
        let body = match outcome {
            Outcome::Stored {
                row,
                leaf_hash,
                warnings,
            } => {
                let r = stored[row];
                if let Some(leaf) = r.conflict {
                    let e = AppError::conflicting_reading(&leaf, r.log_id);
                    rejected += 1;
                    metrics::counter!("kwh_btc_iot_mqtt_rejected_total", "code" => e.code)
                        .increment(1);
                    let d = e.detail();
                    serde_json::json!({"error": {"code": d.code, "message": d.message, "member": d.member, "stored_leaf_hash": d.stored_leaf_hash}})
                } else {
                    if r.created {
                        created += 1
                    } else {
                        duplicates += 1
                    }
                    let warnings: Vec<_> = warnings
                    .iter()
                    .map(|w| serde_json::json!({"code": w.code, "member": w.member, "message": w.message}))
                    .collect();
                    serde_json::json!({"log_id": r.log_id, "leaf_hash": leaf_hash, "warnings": warnings})
                }
            }
            Outcome::Rejected(e) => {
                rejected += 1;
                metrics::counter!("kwh_btc_iot_mqtt_rejected_total", "code" => e.code.clone())
                    .increment(1);
                serde_json::json!({"error": {"code": e.code, "message": e.message, "member": e.member}})
            }
        };
        if m.epoch == ctx.epoch.load(Ordering::SeqCst) {
            if let Err(e) = ctx.client.ack(&m.publish).await {
                tracing::debug!("MQTT PUBACK: {e}");
            }
        }
        if let Some(ids) = TopicIds::parse(&ctx.prefix, &m.publish.topic) {
            let body = serde_json::to_vec(&body).unwrap_or_default();
            if let Err(e) = ctx
                .client
                .publish(ids.ack_topic(&ctx.ack_prefix), ctx.ack_qos, false, body)
                .await
            {
                tracing::debug!("MQTT acknowledgement: {e}");
            }
        }
    }
    let _ = done.send(());
    metrics::counter!("kwh_btc_iot_mqtt_messages_total", "result" => "stored").increment(created);
    metrics::counter!("kwh_btc_iot_mqtt_messages_total", "result" => "duplicate")
        .increment(duplicates);
    metrics::counter!("kwh_btc_iot_mqtt_messages_total", "result" => "rejected")
        .increment(rejected);
}

/// Runs a storage call until it succeeds (a storage outage holds the
/// messages unacknowledged; the broker stops sending once its in-flight
/// window is full). `None` when the bridge stops first.
async fn retry<T: Clone, R, F, Fut>(ctx: &Ctx, what: &str, input: T, mut call: F) -> Option<R>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<R, String>>,
{
    let mut delay = Duration::from_millis(100);
    let mut stop = ctx.stop.clone();
    loop {
        match call(input.clone()).await {
            Ok(r) => return Some(r),
            Err(e) => {
                if *stop.borrow() {
                    tracing::warn!("{what} failed while stopping ({e}); the broker will deliver these messages again");
                    return None;
                }
                tracing::error!("{what} failed ({e}); retrying in {} ms", delay.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped(&mut stop) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
