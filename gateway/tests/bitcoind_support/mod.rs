//! A stand-in Bitcoin Core node for the tests (bitcoind cannot run here).
//!
//! It speaks Bitcoin Core's JSON-RPC 1.0 over real HTTP: POST to `/` or
//! `/wallet/<name>`, basic authentication (401 without a body when it fails,
//! as bitcoind), answers `{"result":..,"error":null,"id":..}` or
//! `{"result":null,"error":{"code":..,"message":..},"id":..}` with bitcoind's
//! HTTP statuses (500, or 404 for an unknown method), and the real result
//! shapes of the methods node mode calls. It keeps a regtest chain from the
//! real regtest genesis block: `fundrawtransaction` adds an input (a fresh
//! wallet coin) and a change output to the template, `signrawtransactionwithwallet`
//! adds a witness, `sendrawtransaction` parses the transaction with the core
//! and puts it in the mempool, and `generatetoaddress` mines blocks (coinbase
//! with BIP 34 height and witness commitment, then the mempool) with a real
//! merkle root and proof of work at the regtest target (nBits 0x207fffff);
//! `gettxoutproof` answers a real merkleblock.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use kwh_btc_iot_core::encoding::bitcoin::merkle_root;
use kwh_btc_iot_core::encoding::bitcoin::{display_hex, from_display_hex, sha256d};
use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Transaction};
use kwh_btc_iot_core::encoding::bitcoin::{TxIn, TxOut};
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::encoding::spv::MerkleBlock;
/// Regtest's nBits.
pub use kwh_btc_iot_testkit::REGTEST_BITS;
use kwh_btc_iot_testkit::{mine_regtest_header, op_return_script};
use serde_json::{json, Value};

/// A transaction as the stand-in handles it (any number of inputs, for
/// templates with none).
#[derive(Debug, Clone, Default)]
pub struct RawTx {
    pub version: i32,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
    pub lock_time: u32,
}

impl RawTx {
    /// Decodes the serialization without witness (a template may have no
    /// inputs), or with witness when the marker and flag are there.
    pub fn decode(b: &[u8]) -> Option<RawTx> {
        // A template with no inputs: 00 then the output count (non-zero);
        // a witness serialization: 00 01 then the inputs. Try the template
        // reading first, as Bitcoin Core's DecodeHexTx does for such input.
        if b.get(4) == Some(&0) && b.get(5) == Some(&1) {
            if let Some(t) = RawTx::read(b, false) {
                return Some(t);
            }
            return RawTx::read(b, true);
        }
        RawTx::read(b, false)
    }

    fn read(b: &[u8], witness: bool) -> Option<RawTx> {
        let mut r = Rd { b, p: 0 };
        let version = r.u32()? as i32;
        if witness {
            r.take(2)?; // marker and flag
        }
        let mut inputs = r.inputs()?;
        let outputs = r.outputs()?;
        if witness {
            for i in inputs.iter_mut() {
                let k = r.cs()?;
                for _ in 0..k {
                    let l = r.cs()?;
                    i.witness.push(r.take(l)?.to_vec());
                }
            }
        }
        let lock_time = r.u32()?;
        (r.p == b.len()).then_some(RawTx {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }

    /// Serializes, with witness when any input has one.
    pub fn encode(&self) -> Vec<u8> {
        Transaction::serialize(self.version, &self.inputs, &self.outputs, self.lock_time)
    }
}

struct Rd<'a> {
    b: &'a [u8],
    p: usize,
}

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn cs(&mut self) -> Option<usize> {
        let f = *self.take(1)?.first()?;
        let v = match f {
            0xfd => u16::from_le_bytes(self.take(2)?.try_into().ok()?) as u64,
            0xfe => u32::from_le_bytes(self.take(4)?.try_into().ok()?) as u64,
            0xff => u64::from_le_bytes(self.take(8)?.try_into().ok()?),
            n => n as u64,
        };
        (v < 1_000_000).then_some(v as usize)
    }
    fn inputs(&mut self) -> Option<Vec<TxIn>> {
        let n = self.cs()?;
        let mut v = Vec::new();
        for _ in 0..n {
            let mut prev_txid = [0u8; 32];
            prev_txid.copy_from_slice(self.take(32)?);
            let prev_vout = self.u32()?;
            let l = self.cs()?;
            let script_sig = self.take(l)?.to_vec();
            let sequence = self.u32()?;
            v.push(TxIn {
                prev_txid,
                prev_vout,
                script_sig,
                sequence,
                witness: Vec::new(),
            });
        }
        Some(v)
    }
    fn outputs(&mut self) -> Option<Vec<TxOut>> {
        let n = self.cs()?;
        let mut v = Vec::new();
        for _ in 0..n {
            let value = self.u64()?;
            let l = self.cs()?;
            let script_pubkey = self.take(l)?.to_vec();
            v.push(TxOut {
                value,
                script_pubkey,
            });
        }
        Some(v)
    }
}

/// A mined block.
#[derive(Debug, Clone)]
pub struct Block {
    pub header: BlockHeader,
    pub height: u64,
    /// (txid internal order, raw bytes); the genesis block has no raw coinbase here.
    pub txs: Vec<([u8; 32], Vec<u8>)>,
}

/// The chain, mempool and wallet of the stand-in.
#[derive(Debug, Default)]
pub struct Chain {
    pub chain_name: String,
    pub blocks: Vec<Block>,
    pub mempool: Vec<([u8; 32], Vec<u8>)>,
    /// The wallet's unspent coins (outpoint) and their value.
    pub wallet_coins: HashMap<([u8; 32], u32), u64>,
    /// Outpoints spent by the mempool or the chain.
    pub spent: HashSet<([u8; 32], u32)>,
    /// The wallet's own transactions (txid internal order) and their bytes.
    pub wallet_txs: HashMap<[u8; 32], Vec<u8>>,
    /// Transactions the wallet sees as conflicted (confirmations -1).
    pub conflicted: HashSet<[u8; 32]>,
    pub coin_counter: u64,
    /// Every RPC call (method names), for assertions.
    pub calls: Vec<String>,
    /// When set, fundrawtransaction answers -6 (insufficient funds).
    pub no_funds: bool,
    /// Whether gettransaction is answered (a node without that wallet: false).
    pub wallet_enabled: bool,
}

impl Chain {
    fn tip(&self) -> &Block {
        self.blocks.last().expect("genesis")
    }

    fn find_block(&self, hash: &str) -> Option<&Block> {
        let h = from_display_hex(hash).ok()?;
        self.blocks.iter().find(|b| b.header.hash() == h)
    }

    fn find_tx(&self, txid: &[u8; 32]) -> Option<(Option<&Block>, &[u8])> {
        if let Some(raw) = raw_tx_in(&self.mempool, txid) {
            return Some((None, raw));
        }
        for b in &self.blocks {
            if let Some(raw) = raw_tx_in(&b.txs, txid) {
                return Some((Some(b), raw));
            }
        }
        None
    }

    fn confirmations(&self, b: &Block) -> u64 {
        self.tip().height - b.height + 1
    }

    /// Mines `n` blocks (coinbase, then the whole mempool into the first).
    pub fn mine(&mut self, n: u64) -> Vec<String> {
        let mut hashes = Vec::new();
        for _ in 0..n {
            let height = self.tip().height + 1;
            let mempool = std::mem::take(&mut self.mempool);
            // Witness commitment (BIP 141): coinbase wtxid is zero.
            let mut wtxids = vec![[0u8; 32]];
            for (_, raw) in &mempool {
                wtxids.push(Transaction::parse(raw).expect("mempool tx parses").wtxid);
            }
            let (wroot, _) = merkle_root(&wtxids).expect("non-empty");
            let mut c = wroot.to_vec();
            c.extend_from_slice(&[0u8; 32]);
            let commitment = sha256d(&c);
            let mut commit_script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
            commit_script.extend_from_slice(&commitment);
            // BIP 34 height push, plus an extra nonce byte.
            let hb = (height as u32).to_le_bytes();
            let len = hb.iter().rposition(|b| *b != 0).map_or(1, |i| i + 1);
            let mut script_sig = vec![len as u8];
            script_sig.extend_from_slice(&hb[..len]);
            if hb[len - 1] & 0x80 != 0 {
                script_sig[0] += 1;
                script_sig.push(0);
            }
            script_sig.push(0x00);
            let coinbase = RawTx {
                version: 2,
                inputs: vec![TxIn {
                    prev_txid: [0; 32],
                    prev_vout: 0xffff_ffff,
                    script_sig,
                    sequence: 0xffff_ffff,
                    witness: vec![vec![0u8; 32]],
                }],
                outputs: vec![
                    TxOut {
                        value: 5_000_000_000,
                        script_pubkey: {
                            let mut s = vec![0x00, 0x14];
                            s.extend_from_slice(&[0x42; 20]);
                            s
                        },
                    },
                    TxOut {
                        value: 0,
                        script_pubkey: commit_script,
                    },
                ],
                lock_time: 0,
            }
            .encode();
            let cb_txid = Transaction::parse(&coinbase).expect("coinbase parses").txid;
            let mut txs = vec![(cb_txid, coinbase)];
            txs.extend(mempool);
            let txids: Vec<[u8; 32]> = txs.iter().map(|(t, _)| *t).collect();
            let (root, _) = merkle_root(&txids).expect("non-empty");
            let prev = self.tip().header;
            // Now, as a miner would (at least one second after its parent).
            let time = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as u32)
                .max(prev.time + 1);
            let header = mine_regtest_header(prev.hash(), root, time);
            hashes.push(header.block_hash_display());
            self.blocks.push(Block {
                header,
                height,
                txs,
            });
        }
        hashes
    }

    /// Removes a transaction from the mempool (eviction, expiry). With
    /// `inputs_gone`, its input is no longer available, so that
    /// rebroadcasting it fails (bad-txns-inputs-missingorspent).
    pub fn evict(&mut self, txid_display: &str, inputs_gone: bool) -> bool {
        let txid = from_display_hex(txid_display).unwrap();
        let Some(pos) = self.mempool.iter().position(|(t, _)| *t == txid) else {
            return false;
        };
        let (_, raw) = self.mempool.remove(pos);
        let tx = Transaction::parse(&raw).unwrap();
        for i in &tx.inputs {
            let op = (i.prev_txid, i.prev_vout);
            if inputs_gone {
                self.wallet_coins.remove(&op);
            } else {
                self.spent.remove(&op);
            }
        }
        true
    }
}

/// The raw transaction `txid` among `txs` (a block's or the mempool's).
fn raw_tx_in<'a>(txs: &'a [([u8; 32], Vec<u8>)], txid: &[u8; 32]) -> Option<&'a [u8]> {
    txs.iter()
        .find(|(t, _)| t == txid)
        .map(|(_, r)| r.as_slice())
}

/// The real regtest genesis block header.
pub fn regtest_genesis() -> BlockHeader {
    let h = BlockHeader {
        version: 1,
        prev_blockhash: [0; 32],
        merkle_root: from_display_hex(
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
        )
        .unwrap(),
        time: 1_296_688_602,
        bits: REGTEST_BITS,
        nonce: 2,
    };
    assert_eq!(
        h.block_hash_display(),
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    h
}

/// Options of a stand-in node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub user: String,
    pub password: String,
    /// The loaded wallet's name ("" is the default wallet).
    pub wallet: String,
    /// getblockchaininfo's chain: main, test, signet, regtest.
    pub chain: String,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            user: "rpcuser".into(),
            password: "rpc-secret-pw".into(),
            wallet: "anchors".into(),
            chain: "regtest".into(),
        }
    }
}

#[derive(Clone)]
struct Shared {
    opts: NodeOptions,
    chain: Arc<Mutex<Chain>>,
}

/// A running stand-in node.
pub struct StandInNode {
    pub addr: SocketAddr,
    pub opts: NodeOptions,
    pub chain: Arc<Mutex<Chain>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl StandInNode {
    /// Starts a node on a free loopback port.
    pub async fn start(opts: NodeOptions) -> StandInNode {
        StandInNode::start_on(opts, 0).await
    }

    /// Starts a node on 127.0.0.1:`port` (0: a free port).
    pub async fn start_on(opts: NodeOptions, port: u16) -> StandInNode {
        let mut chain = Chain {
            chain_name: opts.chain.clone(),
            wallet_enabled: true,
            ..Chain::default()
        };
        let g = regtest_genesis();
        chain.blocks.push(Block {
            header: g,
            height: 0,
            txs: vec![(g.merkle_root, Vec::new())],
        });
        let chain = Arc::new(Mutex::new(chain));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut node = StandInNode {
            addr,
            opts,
            chain,
            server: None,
        };
        node.serve(listener);
        node
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let shared = Shared {
            opts: self.opts.clone(),
            chain: self.chain.clone(),
        };
        let app = Router::new()
            .route("/", post(root))
            .route("/wallet/{name}", post(wallet))
            .with_state(shared);
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// The node goes down: the port refuses connections.
    pub async fn stop(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
    }

    /// The node comes back on the same port, with its chain.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Mines blocks (as `generatetoaddress`).
    pub fn mine(&self, n: u64) -> Vec<String> {
        self.chain.lock().unwrap().mine(n)
    }

    /// Evicts a transaction from the mempool.
    pub fn evict(&self, txid: &str, inputs_gone: bool) -> bool {
        self.chain.lock().unwrap().evict(txid, inputs_gone)
    }

    /// The wallet sees the transaction conflicted by a mined one
    /// (gettransaction: confirmations -1); it leaves the mempool.
    pub fn conflict(&self, txid: &str) {
        let mut c = self.chain.lock().unwrap();
        c.evict(txid, true);
        c.conflicted.insert(from_display_hex(txid).unwrap());
    }

    pub fn mempool_len(&self) -> usize {
        self.chain.lock().unwrap().mempool.len()
    }

    pub fn height(&self) -> u64 {
        self.chain.lock().unwrap().tip().height
    }

    pub fn calls(&self) -> Vec<String> {
        self.chain.lock().unwrap().calls.clone()
    }
}

impl Drop for StandInNode {
    fn drop(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [("WWW-Authenticate", "Basic realm=\"jsonrpc\"")],
        "",
    )
        .into_response()
}

fn check_auth(opts: &NodeOptions, headers: &HeaderMap) -> bool {
    let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = v.strip_prefix("Basic ") else {
        return false;
    };
    let Some(raw) = kwh_btc_iot_core::encoding::base64::decode_hex_or_base64(b64.trim()) else {
        return false;
    };
    raw == format!("{}:{}", opts.user, opts.password).as_bytes()
}

async fn root(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(s, headers, None, body)
}

async fn wallet(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(s, headers, Some(name), body)
}

struct RpcErr(i64, String);

fn err(code: i64, msg: impl Into<String>) -> RpcErr {
    RpcErr(code, msg.into())
}

fn handle(s: Shared, headers: HeaderMap, wallet: Option<String>, body: Bytes) -> Response {
    if !check_auth(&s.opts, &headers) {
        return unauthorized();
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return reply(
                Value::Null,
                Err(err(-32700, "Parse error")),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        }
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return reply(
            id,
            Err(err(-32600, "Method must be a string")),
            StatusCode::BAD_REQUEST,
        );
    };
    let params = req.get("params").cloned().unwrap_or(json!([]));
    let params = params.as_array().cloned().unwrap_or_default();
    let mut chain = s.chain.lock().unwrap();
    chain.calls.push(method.to_string());
    let out = dispatch(&mut chain, &s.opts, wallet.as_deref(), method, &params);
    let status = match &out {
        Err(RpcErr(-32601, _)) => StatusCode::NOT_FOUND,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Ok(_) => StatusCode::OK,
    };
    reply(id, out, status)
}

fn reply(id: Value, out: Result<Value, RpcErr>, status: StatusCode) -> Response {
    let body = match out {
        Ok(v) => json!({"result": v, "error": null, "id": id}),
        Err(RpcErr(code, message)) => {
            json!({"result": null, "error": {"code": code, "message": message}, "id": id})
        }
    };
    (
        status,
        [("content-type", "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn p_str<'a>(params: &'a [Value], i: usize, name: &str) -> Result<&'a str, RpcErr> {
    params.get(i).and_then(Value::as_str).ok_or_else(|| {
        err(
            -3,
            format!("JSON value of type null is not of expected type string ({name})"),
        )
    })
}

fn p_hash(params: &[Value], i: usize, name: &str) -> Result<[u8; 32], RpcErr> {
    let s = p_str(params, i, name)?;
    from_display_hex(s).map_err(|_| {
        err(
            -8,
            format!("{name} must be of length 64 (not {}, for '{s}')", s.len()),
        )
    })
}

fn p_hex(params: &[Value], i: usize) -> Result<Vec<u8>, RpcErr> {
    let s = p_str(params, i, "hexstring")?;
    kwh_btc_iot_core::encoding::bitcoin::decode_hex(s).map_err(|_| err(-22, "TX decode failed"))
}

fn verbose(params: &[Value], i: usize, default: bool) -> bool {
    match params.get(i) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        _ => default,
    }
}

fn header_json(chain: &Chain, b: &Block) -> Value {
    let h = &b.header;
    let mut v = json!({
        "hash": h.block_hash_display(),
        "confirmations": chain.confirmations(b),
        "height": b.height,
        "version": h.version,
        "versionHex": format!("{:08x}", h.version),
        "merkleroot": display_hex(&h.merkle_root),
        "time": h.time,
        "mediantime": h.time,
        "nonce": h.nonce,
        "bits": format!("{:08x}", h.bits),
        "difficulty": 4.656542373906925e-10,
        "chainwork": format!("{:064x}", (b.height + 1) * 2),
        "nTx": b.txs.len(),
    });
    if b.height > 0 {
        v["previousblockhash"] = json!(display_hex(&h.prev_blockhash));
    }
    if let Some(next) = chain.blocks.get(b.height as usize + 1) {
        v["nextblockhash"] = json!(next.header.block_hash_display());
    }
    v
}

fn tx_json(chain: &Chain, raw: &[u8], block: Option<&Block>) -> Value {
    let tx = Transaction::parse(raw).expect("stored txs parse");
    let mut v = json!({
        "txid": tx.txid_display(),
        "hash": display_hex(&tx.wtxid),
        "version": tx.version,
        "size": tx.size,
        "vsize": (tx.base_size * 3 + tx.size).div_ceil(4),
        "weight": tx.base_size * 3 + tx.size,
        "locktime": tx.lock_time,
        "vin": tx.inputs.iter().map(|i| json!({"txid": display_hex(&i.prev_txid), "vout": i.prev_vout, "scriptSig": {"asm": "", "hex": to_hex(&i.script_sig)}, "txinwitness": i.witness.iter().map(|w| to_hex(w)).collect::<Vec<_>>(), "sequence": i.sequence})).collect::<Vec<_>>(),
        "vout": tx.outputs.iter().enumerate().map(|(n, o)| json!({"value": o.value as f64 / 1e8, "n": n, "scriptPubKey": {"hex": to_hex(&o.script_pubkey), "type": o.script_type().as_str()}})).collect::<Vec<_>>(),
        "hex": to_hex(raw),
    });
    if let Some(b) = block {
        v["blockhash"] = json!(b.header.block_hash_display());
        v["confirmations"] = json!(chain.confirmations(b));
        v["time"] = json!(b.header.time);
        v["blocktime"] = json!(b.header.time);
    }
    v
}

fn dispatch(
    chain: &mut Chain,
    opts: &NodeOptions,
    wallet: Option<&str>,
    method: &str,
    params: &[Value],
) -> Result<Value, RpcErr> {
    let wallet_method = matches!(
        method,
        "fundrawtransaction" | "signrawtransactionwithwallet" | "gettransaction" | "getnewaddress"
    );
    if wallet_method {
        if !chain.wallet_enabled {
            return Err(err(-32601, "Method not found"));
        }
        if let Some(w) = wallet {
            // axum's Path has percent-decoded the name.
            if w != opts.wallet {
                return Err(err(-18, "Requested wallet does not exist or is not loaded"));
            }
        }
    }
    match method {
        "getblockchaininfo" => {
            let tip = chain.tip();
            Ok(json!({
                "chain": chain.chain_name,
                "blocks": tip.height,
                "headers": tip.height,
                "bestblockhash": tip.header.block_hash_display(),
                "difficulty": 4.656542373906925e-10,
                "time": tip.header.time,
                "mediantime": tip.header.time,
                "verificationprogress": 1,
                "initialblockdownload": tip.height == 0,
                "chainwork": format!("{:064x}", (tip.height + 1) * 2),
                "size_on_disk": 293,
                "pruned": false,
                "warnings": [],
            }))
        }
        "getblockcount" => Ok(json!(chain.tip().height)),
        "getblockhash" => {
            let h = params
                .first()
                .and_then(Value::as_i64)
                .ok_or_else(|| err(-3, "JSON value of type null is not of expected type number"))?;
            if h < 0 || h as u64 > chain.tip().height {
                return Err(err(-8, "Block height out of range"));
            }
            Ok(json!(chain.blocks[h as usize].header.block_hash_display()))
        }
        "getblockheader" => {
            let hash = p_str(params, 0, "blockhash")?;
            p_hash(params, 0, "blockhash")?;
            let b = chain
                .find_block(hash)
                .ok_or_else(|| err(-5, "Block not found"))?;
            if verbose(params, 1, true) {
                Ok(header_json(chain, b))
            } else {
                Ok(json!(to_hex(&b.header.to_bytes())))
            }
        }
        "createrawtransaction" => {
            let inputs = params
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| err(-3, "JSON value of type null is not of expected type array"))?;
            if !inputs.is_empty() {
                return Err(err(
                    -8,
                    "this stand-in creates transactions without inputs only",
                ));
            }
            let outs = params
                .get(1)
                .and_then(Value::as_array)
                .ok_or_else(|| err(-8, "Invalid parameter, output argument must be non-null"))?;
            let mut outputs = Vec::new();
            for o in outs {
                let data = o
                    .get("data")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(-8, "this stand-in accepts data outputs only"))?;
                let d = kwh_btc_iot_core::encoding::bitcoin::decode_hex(data)
                    .map_err(|_| err(-8, "Data must be hexadecimal string"))?;
                outputs.push(TxOut {
                    value: 0,
                    script_pubkey: op_return_script(&d),
                });
            }
            Ok(json!(to_hex(
                &RawTx {
                    version: 2,
                    inputs: vec![],
                    outputs,
                    lock_time: 0
                }
                .encode()
            )))
        }
        "fundrawtransaction" => {
            let raw = p_hex(params, 0)?;
            let mut tx = RawTx::decode(&raw).ok_or_else(|| err(-22, "TX decode failed"))?;
            if chain.no_funds {
                return Err(err(-4, "Insufficient funds"));
            }
            chain.coin_counter += 1;
            let prev = sha256d(&chain.coin_counter.to_le_bytes());
            let value = 100_000_000u64;
            chain.wallet_coins.insert((prev, 0), value);
            let fee = 153u64;
            tx.inputs.push(TxIn {
                prev_txid: prev,
                prev_vout: 0,
                script_sig: Vec::new(),
                sequence: 0xffff_fffd,
                witness: Vec::new(),
            });
            let mut change = vec![0x00, 0x14];
            change.extend_from_slice(&sha256d(&prev)[..20]);
            let out_total: u64 = tx.outputs.iter().map(|o| o.value).sum();
            tx.outputs.push(TxOut {
                value: value - out_total - fee,
                script_pubkey: change,
            });
            Ok(json!({
                "hex": to_hex(&tx.encode()),
                "fee": fee as f64 / 1e8,
                "changepos": tx.outputs.len() - 1,
            }))
        }
        "signrawtransactionwithwallet" => {
            let raw = p_hex(params, 0)?;
            let mut tx = RawTx::decode(&raw).ok_or_else(|| err(-22, "TX decode failed"))?;
            let mut errors = Vec::new();
            for i in tx.inputs.iter_mut() {
                if chain.wallet_coins.contains_key(&(i.prev_txid, i.prev_vout)) {
                    let mut sig = vec![0x30, 0x44, 0x02, 0x20];
                    sig.extend_from_slice(&sha256d(&i.prev_txid));
                    sig.extend_from_slice(&[0x02, 0x20]);
                    sig.extend_from_slice(&sha256d(&sha256d(&i.prev_txid)));
                    sig.push(0x01); // SIGHASH_ALL
                    let mut pk = vec![0x02];
                    pk.extend_from_slice(&sha256d(b"stand-in key"));
                    i.witness = vec![sig, pk];
                } else {
                    errors.push(json!({"txid": display_hex(&i.prev_txid), "vout": i.prev_vout, "witness": [], "scriptSig": "", "sequence": i.sequence, "error": "Input not found or already spent"}));
                }
            }
            let mut v = json!({"hex": to_hex(&tx.encode()), "complete": errors.is_empty()});
            if !errors.is_empty() {
                v["errors"] = json!(errors);
            }
            Ok(v)
        }
        "sendrawtransaction" => {
            let raw = p_hex(params, 0)?;
            let tx = Transaction::parse(&raw).map_err(|e| {
                err(
                    -22,
                    format!("TX decode failed. Make sure the tx has at least one input. ({e})"),
                )
            })?;
            if chain.mempool.iter().any(|(t, _)| *t == tx.txid) {
                return Ok(json!(tx.txid_display()));
            }
            if chain
                .blocks
                .iter()
                .any(|b| b.txs.iter().any(|(t, _)| *t == tx.txid))
            {
                return Err(err(-27, "Transaction outputs already in utxo set"));
            }
            for i in &tx.inputs {
                let op = (i.prev_txid, i.prev_vout);
                if !chain.wallet_coins.contains_key(&op) {
                    return Err(err(-25, "bad-txns-inputs-missingorspent"));
                }
                if chain.spent.contains(&op) {
                    return Err(err(-26, "txn-mempool-conflict"));
                }
                if i.witness.is_empty() && i.script_sig.is_empty() {
                    return Err(err(
                        -26,
                        "mandatory-script-verify-flag-failed (Witness program was passed an empty witness)",
                    ));
                }
            }
            for i in &tx.inputs {
                chain.spent.insert((i.prev_txid, i.prev_vout));
            }
            chain.wallet_txs.insert(tx.txid, raw.clone());
            chain.mempool.push((tx.txid, raw));
            Ok(json!(tx.txid_display()))
        }
        "getrawtransaction" => {
            let txid = p_hash(params, 0, "parameter 1")?;
            let verbose = verbose(params, 1, false);
            let found = if let Some(bh) = params.get(2).and_then(Value::as_str) {
                let b = chain
                    .find_block(bh)
                    .ok_or_else(|| err(-5, "Block hash not found"))?;
                let raw = raw_tx_in(&b.txs, &txid).ok_or_else(|| err(-5, "No such transaction found in the provided block. Use gettransaction for wallet transactions."))?;
                (Some(b), raw)
            } else {
                // Without -txindex: the mempool only.
                let raw = raw_tx_in(&chain.mempool, &txid).ok_or_else(|| err(-5, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."))?;
                (None, raw)
            };
            if verbose {
                Ok(tx_json(chain, found.1, found.0))
            } else {
                Ok(json!(to_hex(found.1)))
            }
        }
        "gettransaction" => {
            let txid = p_hash(params, 0, "txid")?;
            let Some(raw) = chain.wallet_txs.get(&txid).cloned() else {
                return Err(err(-5, "Invalid or non-wallet transaction id"));
            };
            let block = match chain.find_tx(&txid) {
                Some((b, _)) => b.cloned(),
                None => None,
            };
            let conflicted = chain.conflicted.contains(&txid);
            let mut v = json!({
                "amount": 0, "fee": -0.00000153,
                "confirmations": match &block {
                    Some(b) => chain.confirmations(b) as i64,
                    None if conflicted => -1,
                    None => 0,
                },
                "txid": display_hex(&txid),
                "wtxid": display_hex(&Transaction::parse(&raw).unwrap().wtxid),
                "walletconflicts": [], "time": 0, "timereceived": 0,
                "bip125-replaceable": "no", "details": [],
                "hex": to_hex(&raw),
            });
            if let Some(b) = block {
                v["blockhash"] = json!(b.header.block_hash_display());
                v["blockheight"] = json!(b.height);
                v["blockindex"] = json!(b.txs.iter().position(|(t, _)| *t == txid));
                v["blocktime"] = json!(b.header.time);
            }
            Ok(v)
        }
        "gettxoutproof" => {
            let ids = params
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| err(-3, "JSON value of type null is not of expected type array"))?;
            let mut want = Vec::new();
            for id in ids {
                let s = id.as_str().unwrap_or("");
                let h = from_display_hex(s).map_err(|_| {
                    err(
                        -8,
                        format!("txid must be of length 64 (not {}, for '{s}')", s.len()),
                    )
                })?;
                if want.contains(&h) {
                    return Err(err(-8, format!("Invalid parameter, duplicated txid: {s}")));
                }
                want.push(h);
            }
            let block = match params.get(1).and_then(Value::as_str) {
                Some(bh) => chain
                    .find_block(bh)
                    .ok_or_else(|| err(-5, "Block not found"))?,
                None => {
                    let first = want
                        .first()
                        .ok_or_else(|| err(-8, "Invalid parameter, txids must be non-empty"))?;
                    match chain.find_tx(first) {
                        Some((Some(b), _)) => b,
                        _ => return Err(err(-5, "Transaction not yet in block")),
                    }
                }
            };
            let txids: Vec<[u8; 32]> = block.txs.iter().map(|(t, _)| *t).collect();
            let matches: Vec<bool> = txids.iter().map(|t| want.contains(t)).collect();
            if matches.iter().filter(|m| **m).count() != want.len() {
                return Err(err(
                    -5,
                    "Not all transactions found in specified or retrieved block",
                ));
            }
            Ok(json!(to_hex(
                &MerkleBlock::new(block.header, &txids, &matches).to_bytes()
            )))
        }
        "getnewaddress" => Ok(json!("bcrt1qstandin0000000000000000000000000000000")),
        "generatetoaddress" => {
            let n = params
                .first()
                .and_then(Value::as_u64)
                .ok_or_else(|| err(-3, "JSON value of type null is not of expected type number"))?;
            p_str(params, 1, "address")?;
            Ok(json!(chain.mine(n)))
        }
        "getmempoolinfo" => Ok(json!({"loaded": true, "size": chain.mempool.len()})),
        _ => Err(err(-32601, "Method not found")),
    }
}
