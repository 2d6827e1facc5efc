//! A stand-in OpenTimestamps calendar with an Esplora-style header API, for
//! the tests and the `standin_calendar` example. It speaks the calendar
//! protocol over real HTTP exactly as the public calendars do:
//!
//! * `POST /digest` (body: the raw commitment, 1..=64 bytes) -> 200
//!   `application/octet-stream`: a timestamp of the commitment,
//!   `append(16-byte calendar nonce)`, `sha256`, pending attestation with
//!   this calendar's URL;
//! * `GET /timestamp/<hex>` -> 404 until a block is mined over the
//!   commitment, then 200: the upgraded timestamp of that message, shaped
//!   like the real calendars' (the calendar's merkle tree of commitments:
//!   append/prepend + sha256 per level; the transaction bytes around the
//!   root in its `OP_RETURN`: prepend/append; sha256 twice = txid; the
//!   block's merkle branch: prepend/append + sha256 twice; a Bitcoin
//!   attestation at height H);
//! * `GET /block-height/H` -> block hash (display hex, text) and
//!   `GET /block/HASH/header` -> 80-byte header (hex), as Esplora answers;
//!   `GET /blocks/tip/height`;
//! * `POST /mine` mines a block over every commitment received so far,
//!   with a header of regtest difficulty (nBits 0x207fffff);
//! * `POST /control/{unavailable,tamper-proof,tamper-header,drop-pending}/{on,off}`
//!   (503 answers for outages; proofs with a wrong branch hash; headers whose
//!   merkle root is not the proof's; forgetting the waiting commitments).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kwh_btc_iot_core::encoding::bitcoin::{sha256d, BlockHeader};
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::encoding::ots::TimestampTree;
use kwh_btc_iot_core::encoding::ots::{Attestation, Op};
use kwh_btc_iot_testkit::{data_position, mine_regtest_header, tx_path_ops, wrap_ops, OpReturnTx};
use sha2::{Digest, Sha256};

/// Height of the first block the stand-in mines.
pub const FIRST_HEIGHT: u64 = 500;

#[derive(Default)]
struct Chain {
    uri: String,
    unavailable: bool,
    tamper_proof: bool,
    tamper_header: bool,
    /// Messages (the pending attestations' messages) waiting for a block.
    waiting: Vec<Vec<u8>>,
    /// Upgraded timestamps by message.
    upgrades: HashMap<Vec<u8>, TimestampTree>,
    headers: Vec<BlockHeader>,
    submissions: u64,
    upgrade_requests: u64,
}

/// The calendar's state (shared by its HTTP server and the test).
#[derive(Clone, Default)]
pub struct Calendar(Arc<Mutex<Chain>>);

/// A mined block.
#[derive(Debug, Clone)]
pub struct Mined {
    /// Height.
    pub height: u64,
    /// Header.
    pub header: BlockHeader,
    /// Commitments it covers.
    pub commitments: usize,
}

fn random16() -> [u8; 16] {
    let mut n = [0u8; 16];
    getrandom::getrandom(&mut n).expect("randomness");
    n
}

fn sha256(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

/// A transaction with one input and two outputs (P2WPKH change,
/// `OP_RETURN <root>`); `salt` (the spent txid) makes each block's
/// transaction distinct.
fn calendar_tx(root: &[u8], salt: &[u8; 32]) -> Vec<u8> {
    OpReturnTx {
        prev_txid: *salt,
        sequence: 0xffff_fffd,
        change_value: 25_000,
        change_key_hash: [0x5c; 20],
        ..Default::default()
    }
    .build(root)
}

impl Calendar {
    /// A calendar (its URL is set when it is served).
    pub fn new() -> Self {
        Calendar::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Chain) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The URL it puts in pending attestations.
    pub fn uri(&self) -> String {
        self.with(|c| c.uri.clone())
    }
    /// Answer 503 to the calendar requests (outage).
    pub fn set_unavailable(&self, on: bool) {
        self.with(|c| c.unavailable = on)
    }
    /// Serve upgrades with a wrong block branch hash.
    pub fn set_tamper_proof(&self, on: bool) {
        self.with(|c| c.tamper_proof = on)
    }
    /// Serve headers whose merkle root is not the proofs'.
    pub fn set_tamper_header(&self, on: bool) {
        self.with(|c| c.tamper_header = on)
    }
    /// Forgets the commitments waiting for a block (a calendar that lost them).
    pub fn drop_pending(&self) -> usize {
        self.with(|c| std::mem::take(&mut c.waiting).len())
    }
    /// `POST /digest` requests answered 200.
    pub fn submissions(&self) -> u64 {
        self.with(|c| c.submissions)
    }
    /// `GET /timestamp` requests seen.
    pub fn upgrade_requests(&self) -> u64 {
        self.with(|c| c.upgrade_requests)
    }
    /// Commitments waiting for a block.
    pub fn waiting(&self) -> usize {
        self.with(|c| c.waiting.len())
    }
    /// The header at a height (the real one).
    pub fn header(&self, height: u64) -> Option<BlockHeader> {
        self.with(|c| {
            height
                .checked_sub(FIRST_HEIGHT)
                .and_then(|i| c.headers.get(i as usize).copied())
        })
    }

    /// The timestamp answer for a commitment (POST /digest).
    pub fn submit(&self, commitment: &[u8]) -> Vec<u8> {
        let nonce = random16();
        let msg = sha256(&[commitment, &nonce[..]].concat());
        self.with(|c| {
            let t = wrap_ops(
                vec![Op::Append(nonce.to_vec()), Op::Sha256],
                TimestampTree::with_attestation(Attestation::Pending { uri: c.uri.clone() }),
            );
            c.waiting.push(msg);
            c.submissions += 1;
            t.to_bytes().expect("writes")
        })
    }

    /// Mines a block over every waiting commitment.
    pub fn mine(&self) -> Mined {
        self.with(|c| {
            let msgs = std::mem::take(&mut c.waiting);
            let height = FIRST_HEIGHT + c.headers.len() as u64;
            let prev = c.headers.last().map(|h| h.hash()).unwrap_or([0x0f; 32]);
            // The calendar's tree of commitments: per leaf, the ops to the root.
            let mut paths: Vec<Vec<Op>> = vec![Vec::new(); msgs.len()];
            let mut level: Vec<(Vec<u8>, Vec<usize>)> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| (m.clone(), vec![i]))
                .collect();
            while level.len() > 1 {
                let mut next = Vec::new();
                let mut it = level.into_iter();
                while let Some((a, la)) = it.next() {
                    match it.next() {
                        Some((b, lb)) => {
                            for &i in &la {
                                paths[i].extend([Op::Append(b.clone()), Op::Sha256]);
                            }
                            for &i in &lb {
                                paths[i].extend([Op::Prepend(a.clone()), Op::Sha256]);
                            }
                            let mut l = la;
                            l.extend(lb);
                            next.push((sha256(&[&a[..], &b[..]].concat()), l));
                        }
                        None => next.push((a, la)),
                    }
                }
                level = next;
            }
            let root = level
                .first()
                .map(|l| l.0.clone())
                .unwrap_or_else(|| sha256(&height.to_le_bytes()));
            let salt: [u8; 32] = Sha256::digest([&prev[..], &height.to_le_bytes()].concat()).into();
            let tx = calendar_tx(&root, &salt);
            let txid = sha256d(&tx);
            let coinbase: [u8; 32] = Sha256::digest(height.to_le_bytes()).into();
            let txids = vec![coinbase, [0x21; 32], txid, [0x22; 32], [0x23; 32]];
            let (merkle_root, _) =
                kwh_btc_iot_core::encoding::bitcoin::merkle_root(&txids).expect("txids");
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(1_765_000_000);
            let header = mine_regtest_header(prev, merkle_root, time);
            let tail = tx_path_ops(&tx, data_position(&tx, root.len()), root.len(), &txids, 2);
            for (m, mut ops) in msgs.iter().zip(paths) {
                ops.extend(tail.iter().cloned());
                let t = wrap_ops(
                    ops,
                    TimestampTree::with_attestation(Attestation::Bitcoin { height }),
                );
                c.upgrades.insert(m.clone(), t);
            }
            c.headers.push(header);
            Mined {
                height,
                header,
                commitments: msgs.len(),
            }
        })
    }

    /// The upgrade of a message, if mined (tampered when so switched).
    pub fn upgraded(&self, msg: &[u8]) -> Option<Vec<u8>> {
        self.with(|c| {
            c.upgrade_requests += 1;
            let t = c.upgrades.get(msg)?.clone();
            let t = if c.tamper_proof { tamper(t) } else { t };
            Some(t.to_bytes().expect("writes"))
        })
    }

    /// The header served for a height (tampered when so switched: another
    /// merkle root, mined again, so that hash and header still agree).
    pub fn served_header(&self, height: u64) -> Option<BlockHeader> {
        let h = self.header(height)?;
        Some(if self.with(|c| c.tamper_header) {
            let root: [u8; 32] = Sha256::digest(h.merkle_root).into();
            mine_regtest_header(h.prev_blockhash, root, h.time)
        } else {
            h
        })
    }

    fn header_by_hash(&self, hash: &str) -> Option<BlockHeader> {
        let n = self.with(|c| c.headers.len()) as u64;
        (FIRST_HEIGHT..FIRST_HEIGHT + n)
            .filter_map(|h| self.served_header(h))
            .find(|h| h.block_hash_display() == hash)
    }
}

/// Changes the first `append`/`prepend` argument after the transaction
/// (a block branch hash): the proof no longer reaches the header's root.
fn tamper(mut t: TimestampTree) -> TimestampTree {
    use kwh_btc_iot_core::encoding::ots::Item;
    fn walk(t: &mut TimestampTree, seen_tx: &mut bool) -> bool {
        for item in t.items.iter_mut() {
            if let Item::Op(op, child) = item {
                match op {
                    Op::Prepend(a) | Op::Append(a) if *seen_tx && a.len() == 32 => {
                        a[0] ^= 1;
                        return true;
                    }
                    Op::Prepend(a) if a.len() > 40 => *seen_tx = true,
                    _ => {}
                }
                if walk(child, seen_tx) {
                    return true;
                }
            }
        }
        false
    }
    let mut seen = false;
    walk(&mut t, &mut seen);
    t
}

fn octets(b: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        b,
    )
        .into_response()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "calendar unavailable").into_response()
}

async fn digest(State(cal): State<Calendar>, body: Bytes) -> Response {
    if cal.with(|c| c.unavailable) {
        return unavailable();
    }
    if body.is_empty() || body.len() > 64 {
        return (StatusCode::BAD_REQUEST, "digest must be 1 to 64 bytes").into_response();
    }
    octets(cal.submit(&body))
}

async fn timestamp(State(cal): State<Calendar>, Path(hex): Path<String>) -> Response {
    if cal.with(|c| c.unavailable) {
        return unavailable();
    }
    let Some(msg) = kwh_btc_iot_core::encoding::bitcoin::decode_hex(&hex).ok() else {
        return (StatusCode::BAD_REQUEST, "not hex").into_response();
    };
    match cal.upgraded(&msg) {
        Some(b) => octets(b),
        None => (
            StatusCode::NOT_FOUND,
            "Pending confirmation in Bitcoin blockchain",
        )
            .into_response(),
    }
}

async fn block_height(State(cal): State<Calendar>, Path(h): Path<u64>) -> Response {
    match cal.served_header(h) {
        Some(hd) => hd.block_hash_display().into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}

async fn block_header(State(cal): State<Calendar>, Path(hash): Path<String>) -> Response {
    match cal.header_by_hash(&hash) {
        Some(hd) => to_hex(&hd.to_bytes()).into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}

async fn tip(State(cal): State<Calendar>) -> Response {
    let n = cal.with(|c| c.headers.len()) as u64;
    match n {
        0 => (StatusCode::NOT_FOUND, "no blocks").into_response(),
        n => (FIRST_HEIGHT + n - 1).to_string().into_response(),
    }
}

async fn mine(State(cal): State<Calendar>) -> Response {
    let m = cal.mine();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"height\":{},\"hash\":\"{}\",\"commitments\":{}}}",
            m.height,
            m.header.block_hash_display(),
            m.commitments
        ),
    )
        .into_response()
}

async fn control(
    State(cal): State<Calendar>,
    Path((what, state)): Path<(String, String)>,
) -> Response {
    let on = match state.as_str() {
        "on" => true,
        "off" => false,
        _ => return (StatusCode::BAD_REQUEST, "on or off").into_response(),
    };
    match what.as_str() {
        "unavailable" => cal.set_unavailable(on),
        "tamper-proof" => cal.set_tamper_proof(on),
        "tamper-header" => cal.set_tamper_header(on),
        "drop-pending" if on => {
            cal.drop_pending();
        }
        _ => return (StatusCode::NOT_FOUND, "unknown switch").into_response(),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The HTTP API of a calendar.
pub fn router(cal: Calendar) -> Router {
    Router::new()
        .route("/digest", post(digest))
        .route("/timestamp/{hex}", get(timestamp))
        .route("/block-height/{height}", get(block_height))
        .route("/block/{hash}/header", get(block_header))
        .route("/blocks/tip/height", get(tip))
        .route("/mine", post(mine))
        .route("/control/{what}/{state}", post(control))
        .with_state(cal)
}

/// A served calendar: stop it (connections are then refused) and start it
/// again on the same address.
pub struct Served {
    /// Its state.
    pub calendar: Calendar,
    /// Its address.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    /// Binds `listen` (`127.0.0.1:0` for any port) and serves `calendar`.
    pub async fn start(calendar: Calendar, listen: &str) -> std::io::Result<Served> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        calendar.with(|c| {
            if c.uri.is_empty() {
                c.uri = format!("http://{addr}");
            }
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(calendar.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Served {
            calendar,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving (the port then refuses connections).
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Serves again on the same address.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let again = Served::start(self.calendar.clone(), &self.addr.to_string()).await?;
        *self = again;
        Ok(())
    }
}
