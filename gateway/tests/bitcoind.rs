//! Node mode against a stand-in Bitcoin Core node speaking the real JSON-RPC
//! over HTTP (bitcoind itself cannot run here): the RPC client, the stand-in,
//! and the gateway anchoring its heads end to end.

mod bitcoind_support;

use std::time::Duration;

use bitcoind_support::{NodeOptions, StandInNode};
use kwh_btc_iot_core::encoding::bitcoin::{Network, Transaction};
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::encoding::spv::MerkleBlock;
use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_gateway::anchoring::bitcoind::{
    block_height_of, build_anchor, BitcoindArgs, BitcoindConfig, RpcAuth, RpcClient, RpcError,
};

fn config_for(node: &StandInNode) -> BitcoindConfig {
    let mut c = BitcoindConfig::new(
        "127.0.0.1",
        node.addr.port(),
        node.opts.user.clone(),
        node.opts.password.clone(),
    );
    c.wallet = Some(node.opts.wallet.clone());
    c.timeout = Duration::from_secs(10);
    c
}

fn head(i: u8) -> Hash {
    Hash([i; 32])
}

/// Funds, signs and sends an anchoring transaction for `h`; returns (txid, signed bytes).
async fn send_anchor_tx(rpc: &RpcClient, h: &Hash) -> (String, Vec<u8>) {
    let template = rpc.createrawtransaction_data(&h.0).await.unwrap();
    let funded = rpc.fundrawtransaction(&template).await.unwrap();
    let signed = rpc.signrawtransactionwithwallet(&funded).await.unwrap();
    let txid = rpc.sendrawtransaction(&signed).await.unwrap();
    (txid, signed)
}

#[tokio::test]
async fn createrawtransaction_of_the_stand_in_is_the_core_template() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let rpc = RpcClient::new(config_for(&node));
    for i in [0u8, 0x11, 0xff] {
        let t = rpc.createrawtransaction_data(&head(i).0).await.unwrap();
        assert_eq!(
            t,
            kwh_btc_iot_core::build::anchor::op_return_template(&head(i))
        );
    }
}

#[tokio::test]
async fn rpc_roundtrip_builds_an_anchor_that_verifies_under_regtest_only() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let rpc = RpcClient::new(config_for(&node));
    rpc.check_chain(Network::Regtest).await.unwrap();
    let h = head(7);
    let (txid, signed) = send_anchor_tx(&rpc, &h).await;
    let tx = Transaction::parse(&signed).unwrap();
    assert_eq!(tx.txid_display(), txid);
    assert!(tx.has_witness);
    assert_eq!(
        tx.outputs[0].script_pubkey,
        kwh_btc_iot_core::build::anchor::op_return_script(&h)
    );

    // In the mempool: no confirmations, no block.
    let st = rpc.getrawtransaction(&txid, None).await.unwrap();
    assert_eq!((st.confirmations, st.blockhash.as_deref()), (0, None));
    let w = rpc.gettransaction(&txid).await.unwrap();
    assert_eq!((w.confirmations, w.blockhash.as_deref()), (0, None));
    // Not in a block yet: the node's own error.
    let blocks = node.mine(0);
    assert!(blocks.is_empty());

    let mined = rpc
        .call("generatetoaddress", serde_json::json!([1, "bcrt1qx"]))
        .await
        .unwrap();
    let block_hash = mined[0].as_str().unwrap().to_string();
    let w = rpc.gettransaction(&txid).await.unwrap();
    assert_eq!(w.confirmations, 1);
    assert_eq!(w.blockhash.as_deref(), Some(block_hash.as_str()));
    // Without -txindex the node finds a mined transaction only with its block.
    let e = rpc.getrawtransaction(&txid, None).await.unwrap_err();
    assert_eq!(e.code(), Some(-5), "{e}");
    let st = rpc
        .getrawtransaction(&txid, Some(&block_hash))
        .await
        .unwrap();
    assert_eq!(st.hex, signed);
    assert_eq!(st.confirmations, 1);

    let proof = rpc.gettxoutproof(&txid, &block_hash).await.unwrap();
    let mb = MerkleBlock::parse(&proof).unwrap();
    assert_eq!(mb.tree.total_transactions, 2); // coinbase + ours
    let header = rpc.getblockheader_raw(&block_hash).await.unwrap();
    assert_eq!(header.block_hash_display(), block_hash);
    assert_eq!(rpc.block_height(&block_hash).await.unwrap(), 1);
    assert_eq!(rpc.getblockhash(1).await.unwrap(), block_hash);
    assert_eq!(block_height_of(rpc.config(), &block_hash).await.unwrap(), 1);

    let text = build_anchor(&st.hex, &proof, &header, 1, &h.0, Network::Regtest).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "bitcoin");
    assert_eq!(v["height"], 1);
    assert_eq!(v["raw_tx"], to_hex(&signed));
    // The same proof on mainnet: the regtest header has no mainnet work.
    let e = build_anchor(&st.hex, &proof, &header, 1, &h.0, Network::Mainnet).unwrap_err();
    assert!(e.to_string().contains("header_pow"), "{e}");
    // Another head: the transaction does not commit to it.
    let e = build_anchor(&st.hex, &proof, &header, 1, &head(8).0, Network::Regtest).unwrap_err();
    assert!(e.to_string().contains("tx_commitment"), "{e}");

    // A second anchoring transaction for the same head is refused by the
    // wallet only when the coin is spent; a rebroadcast of a mined one is -27.
    let e = rpc.sendrawtransaction(&signed).await.unwrap_err();
    assert_eq!(e.code(), Some(-27), "{e}");
}

#[tokio::test]
async fn the_node_s_errors_carry_code_and_message() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let rpc = RpcClient::new(config_for(&node));
    let e = rpc.getblockheader_raw(&"ab".repeat(32)).await.unwrap_err();
    match &e {
        RpcError::Rpc {
            method,
            code,
            message,
        } => {
            assert_eq!((method.as_str(), *code), ("getblockheader", -5));
            assert_eq!(message, "Block not found");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "bitcoind getblockheader: error -5: Block not found"
    );
    let e = rpc
        .call("nosuchmethod", serde_json::json!([]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-32601));
    let e = rpc.getblockhash(99).await.unwrap_err();
    assert_eq!(e.code(), Some(-8), "{e}");
    let e = rpc.gettransaction(&"cd".repeat(32)).await.unwrap_err();
    assert_eq!(e.code(), Some(-5), "{e}");
    // Wrong wallet: -18 from the wallet path.
    let mut cfg = config_for(&node);
    cfg.wallet = Some("not loaded".into());
    let e = RpcClient::new(cfg)
        .fundrawtransaction(&kwh_btc_iot_core::build::anchor::op_return_template(&head(
            1,
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-18), "{e}");
    // A template that is not a transaction.
    let e = rpc.fundrawtransaction(b"\x01\x02").await.unwrap_err();
    assert_eq!(e.code(), Some(-22), "{e}");
}

#[tokio::test]
async fn auth_failure_is_a_clear_error_without_the_password() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut cfg = config_for(&node);
    cfg.auth = RpcAuth::UserPass {
        user: "rpcuser".into(),
        password: "wrong-password-123".into(),
    };
    let rpc = RpcClient::new(cfg.clone());
    let e = rpc.getblockchaininfo().await.unwrap_err();
    assert!(matches!(e, RpcError::Auth(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("refused the credentials (HTTP 401)"), "{msg}");
    assert!(msg.contains("--bitcoind-user"), "{msg}");
    assert!(!msg.contains("wrong-password-123"), "{msg}");
    assert!(!format!("{cfg:?}").contains("wrong-password-123"));
    // check_chain (what node mode does first) says the same.
    let e = rpc.check_chain(Network::Regtest).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("refused the credentials"),
        "{e:#}"
    );
}

#[tokio::test]
async fn cookie_file_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let node = StandInNode::start(NodeOptions {
        user: "__cookie__".into(),
        password: "0badc0ffee".into(),
        ..NodeOptions::default()
    })
    .await;
    let cookie = dir.path().join(".cookie");
    let mut cfg = config_for(&node);
    cfg.auth = RpcAuth::Cookie(cookie.clone());
    let rpc = RpcClient::new(cfg);
    // No cookie yet (the node is not running as far as the file says).
    let e = rpc.getblockchaininfo().await.unwrap_err();
    assert!(matches!(e, RpcError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains(".cookie"), "{e}");
    std::fs::write(&cookie, "__cookie__:0badc0ffee").unwrap();
    let info = rpc.getblockchaininfo().await.unwrap();
    assert_eq!(info["chain"], "regtest");
    // The node restarted with a new cookie: read again at each call.
    std::fs::write(&cookie, "__cookie__:stale").unwrap();
    let e = rpc.getblockchaininfo().await.unwrap_err();
    assert!(matches!(e, RpcError::Auth(_)), "{e:?}");
    assert!(!e.to_string().contains("stale"));
}

#[tokio::test]
async fn wrong_chain_is_refused_with_a_clear_error() {
    let node = StandInNode::start(NodeOptions {
        chain: "main".into(),
        ..NodeOptions::default()
    })
    .await;
    let rpc = RpcClient::new(config_for(&node));
    let e = rpc.check_chain(Network::Regtest).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("is on chain \"main\" (mainnet)"), "{msg}");
    assert!(msg.contains("anchors on regtest"), "{msg}");
    assert!(msg.contains("--anchor-network"), "{msg}");
    rpc.check_chain(Network::Mainnet).await.unwrap();
    let test = StandInNode::start(NodeOptions {
        chain: "test".into(),
        ..NodeOptions::default()
    })
    .await;
    RpcClient::new(config_for(&test))
        .check_chain(Network::Testnet)
        .await
        .unwrap();
}

#[tokio::test]
async fn node_down_is_a_transport_error_and_back_again_works() {
    let mut node = StandInNode::start(NodeOptions::default()).await;
    let rpc = RpcClient::new(config_for(&node));
    let (txid, _) = send_anchor_tx(&rpc, &head(3)).await;
    node.stop().await;
    let e = rpc.getblockchaininfo().await.unwrap_err();
    assert!(matches!(e, RpcError::Transport(_)), "{e:?}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
    node.restart().await;
    // The mempool survived (the stand-in keeps its state like a node with mempool.dat).
    assert_eq!(rpc.gettransaction(&txid).await.unwrap().confirmations, 0);
}

#[tokio::test]
async fn a_silent_node_times_out() {
    // A listener that accepts and never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut keep = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            keep.push(s);
        }
    });
    let mut cfg = BitcoindConfig::new("127.0.0.1", port, "u", "p");
    cfg.timeout = Duration::from_millis(300);
    let e = RpcClient::new(cfg).getblockchaininfo().await.unwrap_err();
    assert!(e.to_string().contains("no answer"), "{e}");
    hold.abort();
}

#[tokio::test]
async fn options_resolve() {
    let args = BitcoindArgs {
        bitcoind_url: Some("http://127.0.0.1:18443".into()),
        bitcoind_wallet: Some("anchors".into()),
        bitcoind_user: Some("u".into()),
        bitcoind_password: Some("p".into()),
        bitcoind_anchor_interval_s: Some(30),
        bitcoind_confirmations: Some(3),
        ..BitcoindArgs::default()
    };
    let c = args.resolve().unwrap().unwrap();
    assert_eq!(c.url(), "http://127.0.0.1:18443");
    assert_eq!(c.wallet.as_deref(), Some("anchors"));
    assert_eq!(c.confirmations, 3);
    assert_eq!(c.anchor_interval, Duration::from_secs(30));
    let bad = BitcoindArgs {
        bitcoind_url: Some("https://node:8332".into()),
        ..args.clone()
    };
    assert!(bad
        .resolve()
        .unwrap_err()
        .to_string()
        .contains("bitcoind_url"));
}

// ---------------------------------------------------------------------------
// Node mode end to end: a gateway's batches, the stand-in node, receipts.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
use kwh_btc_iot_core::verify::AnchorOptions;
use kwh_btc_iot_core::{verify_receipt, VerifyOptions};
use kwh_btc_iot_gateway::anchoring::bitcoind::{run_node_mode, NodeMode};
use kwh_btc_iot_gateway::storage::{AnchorRow, Storage};

struct Fixture {
    _dir: tempfile::TempDir,
    gw: Option<kwh_btc_iot_gateway::Gateway>,
    app: axum::Router,
    storage: Arc<dyn Storage>,
    key: [u8; 32],
    /// (log_id, batch seq) of each batch's log.
    logs: Vec<(i64, i64)>,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (gw, app) = common::start(common::config(dir.path())).await;
        let storage = gw.state.storage.clone();
        let key = gw.state.public_key;
        Fixture {
            _dir: dir,
            gw: Some(gw),
            app,
            storage,
            key,
            logs: Vec::new(),
        }
    }

    /// Posts one log and flushes it into a new batch; returns the batch seq.
    async fn batch(&mut self) -> i64 {
        let i = self.logs.len() as u64 + 1;
        let r = common::post_json(&self.app, "/api/v1/logs", common::log_json(i)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let log_id = r.json()["log_id"].as_i64().unwrap();
        let f = common::post_json(&self.app, "/api/v1/batches/flush", Vec::new()).await;
        assert_eq!(f.status, StatusCode::OK, "{}", f.text());
        let seq = f.json()["seq"].as_i64().unwrap();
        self.logs.push((log_id, seq));
        seq
    }

    async fn receipt(&self, log_id: i64) -> Vec<u8> {
        // Node mode ran outside the gateway's process state here: drop the
        // batcher's cached anchor lists, as run_node_mode_with's callback does.
        self.gw.as_ref().unwrap().state.batcher.invalidate_anchors();
        let r = common::get(&self.app, &format!("/api/v1/logs/{log_id}/receipt")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.body
    }

    fn opts(&self, network: Network) -> VerifyOptions {
        VerifyOptions {
            gateway_key: Some(self.key),
            anchor: AnchorOptions::for_network(network),
        }
    }

    async fn rows(&self, seq: i64) -> Vec<AnchorRow> {
        self.storage.anchors_of_batch(seq).await.unwrap()
    }

    async fn shutdown(mut self) {
        if let Some(gw) = self.gw.take() {
            drop(self.app);
            gw.shutdown().await;
        }
    }
}

fn node_mode(f: &Fixture, node: &StandInNode) -> NodeMode {
    NodeMode::new(f.storage.clone(), config_for(node), Network::Regtest)
}

#[tokio::test]
async fn node_mode_anchors_the_newest_head_and_every_receipt_carries_it() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s1 = f.batch().await;
    let s2 = f.batch().await;
    let s3 = f.batch().await;
    let mut nm = node_mode(&f, &node);
    nm.check_chain().await.unwrap();

    // One transaction, for the newest head only.
    nm.tick().await.unwrap();
    assert_eq!(node.mempool_len(), 1);
    assert!(f.rows(s1).await.is_empty() && f.rows(s2).await.is_empty());
    let rows = f.rows(s3).await;
    assert_eq!(rows.len(), 1);
    let pending = &rows[0];
    assert_eq!(
        (pending.kind.as_str(), pending.status.as_str()),
        ("bitcoin", "pending")
    );
    let txid = pending.txid.clone().unwrap();
    let stored =
        kwh_btc_iot_gateway::anchoring::stored::StoredAnchor::decode(&pending.data).unwrap();
    let tx = Transaction::parse(stored.raw_tx().unwrap()).unwrap();
    assert_eq!(tx.txid_display(), txid);
    let batch3 = f.storage.batch_by_seq(s3).await.unwrap().unwrap();
    assert_eq!(
        tx.outputs[0].script_pubkey,
        kwh_btc_iot_core::build::anchor::op_return_script(&Hash(batch3.head_hash))
    );
    // Receipts while pending: no bitcoin anchor yet.
    let r = verify_receipt(&f.receipt(f.logs[2].0).await, &f.opts(Network::Regtest));
    assert!(r.valid, "{:?}", r.errors);
    assert!(r.anchors.iter().all(|a| a.anchor_type != "bitcoin"));

    // Unconfirmed: nothing changes, no second transaction.
    nm.tick().await.unwrap();
    nm.anchor_latest_now().await.unwrap();
    assert_eq!(node.mempool_len(), 1);
    assert_eq!(f.rows(s3).await[0].status, "pending");

    let blocks = node.mine(1);
    make_due(&f, s3).await;
    nm.tick().await.unwrap();
    let row = f.rows(s3).await.remove(0);
    assert_eq!(row.status, "anchored", "{:?}", row.last_error);
    assert_eq!(row.height, Some(1));
    assert_eq!(row.block_hash.as_deref(), Some(blocks[0].as_str()));
    assert_eq!(row.txid.as_deref(), Some(txid.as_str()));
    let header = BlockHeader::parse(row.header.as_deref().unwrap()).unwrap();
    assert_eq!(header.block_hash_display(), blocks[0]);
    let stored: serde_json::Value = serde_json::from_slice(&row.data).unwrap();
    assert_eq!(stored["type"], "bitcoin");
    assert_eq!(stored["height"], 1);

    // Every batch's receipt carries it (earlier ones through the heads chain)
    // and verifies under regtest.
    for (i, (log_id, seq)) in f.logs.iter().enumerate() {
        let body = f.receipt(*log_id).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let a = v["anchors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "bitcoin")
            .unwrap_or_else(|| panic!("receipt of batch {seq} has a bitcoin anchor: {v}"));
        assert_eq!(
            a["heads"].as_array().map_or(0, Vec::len),
            2 - i,
            "heads from batch {seq} to the anchored one"
        );
        let r = verify_receipt(&body, &f.opts(Network::Regtest));
        assert!(r.valid, "batch {seq}: {:?}", r.errors);
        let b = r
            .anchors
            .iter()
            .find(|a| a.anchor_type == "bitcoin")
            .unwrap();
        assert_eq!(b.status, "verified", "{}", b.detail);
        assert_eq!(b.height, Some(1));
        assert_eq!(b.block_hash.as_deref(), Some(blocks[0].as_str()));
        assert_eq!(b.txid.as_deref(), Some(txid.as_str()));
        assert!(b.not_checked.is_some());
        // With the verifier's own header at that height: still verified;
        // another header there: refused at the header step.
        let mut trusted = f.opts(Network::Regtest);
        trusted.anchor.headers = BTreeMap::from([(1, header)]);
        assert!(verify_receipt(&body, &trusted).valid);
        let mut other = header;
        other.nonce ^= 1;
        trusted.anchor.headers = BTreeMap::from([(1, other)]);
        let r = verify_receipt(&body, &trusted);
        assert!(!r.valid);
        // Mainnet: a regtest block has no mainnet proof of work.
        let r = verify_receipt(&body, &f.opts(Network::Mainnet));
        assert!(!r.valid, "batch {seq} must not verify under mainnet");
        let b = r
            .anchors
            .iter()
            .find(|a| a.anchor_type == "bitcoin")
            .unwrap();
        assert_eq!(
            (b.status.as_str(), b.failed_step.map(|f| f.as_str())),
            ("invalid", Some("header_pow"))
        );
    }

    // The batch API shows it.
    let id = batch3.batch_id.clone();
    let r = common::get(&f.app, &format!("/api/v1/batches/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["anchor_status"], "anchored", "{}", r.text());

    // A later batch is anchored by the next transaction (when due).
    let s4 = f.batch().await;
    assert!(nm.anchor_latest_now().await.unwrap().is_some());
    node.mine(1);
    make_due(&f, s4).await;
    nm.tick().await.unwrap();
    assert_eq!(f.rows(s4).await[0].status, "anchored");
    assert_eq!(f.rows(s4).await[0].height, Some(2));
    f.shutdown().await;
}

#[tokio::test]
async fn confirmations_wait_for_the_configured_depth() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let mut cfg = config_for(&node);
    cfg.confirmations = 3;
    let mut nm = NodeMode::new(f.storage.clone(), cfg, Network::Regtest);
    nm.tick().await.unwrap();
    // Rows are due again after poll_interval; force them due for the test.
    for n in 1..=3 {
        node.mine(1);
        make_due(&f, s).await;
        nm.tick().await.unwrap();
        let row = f.rows(s).await.remove(0);
        let want = if n < 3 { "pending" } else { "anchored" };
        assert_eq!(row.status, want, "after {n} blocks");
    }
    let row = f.rows(s).await.remove(0);
    assert_eq!(row.height, Some(1), "the block holding it, not the tip");
    f.shutdown().await;
}

/// Makes the pending rows of a batch due now.
async fn make_due(f: &Fixture, seq: i64) {
    for mut r in f.rows(seq).await {
        if r.status == "pending" {
            r.next_attempt_us = 0;
            f.storage.update_anchor(r).await.unwrap();
        }
    }
}

#[tokio::test]
async fn node_down_then_back_loses_nothing() {
    let mut node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s1 = f.batch().await;
    let mut nm = node_mode(&f, &node);
    nm.check_chain().await.unwrap();

    // Down before anything was sent: the round fails, nothing is stored.
    node.stop().await;
    let e = nm.tick().await.unwrap_err();
    assert!(format!("{e:#}").contains("cannot connect"), "{e:#}");
    assert!(f.rows(s1).await.is_empty());
    node.restart().await;
    nm.tick().await.unwrap();
    let txid = f.rows(s1).await[0].txid.clone().unwrap();

    // Down while the transaction is mined: the row stays pending.
    node.stop().await;
    node.mine(1);
    make_due(&f, s1).await;
    assert!(nm.tick().await.is_err());
    let row = f.rows(s1).await.remove(0);
    assert_eq!(row.status, "pending");
    node.restart().await;
    make_due(&f, s1).await;
    nm.tick().await.unwrap();
    let row = f.rows(s1).await.remove(0);
    assert_eq!(row.status, "anchored", "{:?}", row.last_error);
    assert_eq!(row.txid.as_deref(), Some(txid.as_str()));
    let r = verify_receipt(&f.receipt(f.logs[0].0).await, &f.opts(Network::Regtest));
    assert!(r.valid, "{:?}", r.errors);
    assert!(r
        .anchors
        .iter()
        .any(|a| a.anchor_type == "bitcoin" && a.status == "verified"));
    f.shutdown().await;
}

#[tokio::test]
async fn a_transaction_stored_but_never_sent_is_rebroadcast() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let mut nm = node_mode(&f, &node);
    nm.tick().await.unwrap();
    let txid = f.rows(s).await[0].txid.clone().unwrap();
    // The mempool loses it but its coin is still there (evicted, or the
    // gateway stopped between storing and sending): sent again.
    assert!(node.evict(&txid, false));
    assert_eq!(node.mempool_len(), 0);
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    assert_eq!(node.mempool_len(), 1);
    let row = f.rows(s).await.remove(0);
    assert_eq!(row.status, "pending");
    assert!(row.last_error.unwrap().contains("rebroadcast"));
    node.mine(1);
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    assert_eq!(f.rows(s).await[0].status, "anchored");
    f.shutdown().await;
}

#[tokio::test]
async fn a_dropped_transaction_fails_and_the_head_is_anchored_again() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let mut cfg = config_for(&node);
    let mut nm = NodeMode::new(f.storage.clone(), cfg.clone(), Network::Regtest);
    nm.tick().await.unwrap();
    let first = f.rows(s).await[0].txid.clone().unwrap();
    // Dropped, and its input gone: the rebroadcast is refused. Within
    // drop_after it is retried later...
    assert!(node.evict(&first, true));
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    let row = f.rows(s).await.remove(0);
    assert_eq!(row.status, "pending");
    assert!(row
        .last_error
        .unwrap()
        .contains("bad-txns-inputs-missingorspent"));
    // ... after it, the row fails and the head gets a new transaction.
    cfg.drop_after = Duration::ZERO;
    let mut nm = NodeMode::new(f.storage.clone(), cfg, Network::Regtest);
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    let rows = f.rows(s).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let failed = rows.iter().find(|r| r.status == "failed").unwrap();
    assert_eq!(failed.txid.as_deref(), Some(first.as_str()));
    assert!(failed.last_error.as_deref().unwrap().contains("dropped"));
    let again = rows.iter().find(|r| r.status == "pending").unwrap();
    assert_ne!(again.txid.as_deref(), Some(first.as_str()));
    node.mine(1);
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    let r = verify_receipt(&f.receipt(f.logs[0].0).await, &f.opts(Network::Regtest));
    assert!(r.valid, "{:?}", r.errors);
    let b = r
        .anchors
        .iter()
        .find(|a| a.anchor_type == "bitcoin")
        .unwrap();
    assert_eq!(b.txid.as_deref(), again.txid.as_deref());
    f.shutdown().await;
}

#[tokio::test]
async fn a_conflicted_transaction_fails_and_the_head_is_anchored_again() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let mut nm = node_mode(&f, &node);
    nm.tick().await.unwrap();
    let first = f.rows(s).await[0].txid.clone().unwrap();
    node.conflict(&first);
    make_due(&f, s).await;
    nm.tick().await.unwrap();
    let rows = f.rows(s).await;
    let failed = rows.iter().find(|r| r.status == "failed").unwrap();
    assert!(failed.last_error.as_deref().unwrap().contains("conflicts"));
    assert!(rows
        .iter()
        .any(|r| r.status == "pending" && r.txid.as_deref() != Some(&first)));
    f.shutdown().await;
}

#[tokio::test]
async fn run_node_mode_refuses_a_node_on_another_chain() {
    let node = StandInNode::start(NodeOptions {
        chain: "main".into(),
        ..NodeOptions::default()
    })
    .await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let stop = Arc::new(tokio::sync::Notify::new());
    // It returns by itself (the error is logged), without sending anything.
    tokio::time::timeout(
        Duration::from_secs(60),
        run_node_mode(f.storage.clone(), config_for(&node), Network::Regtest, stop),
    )
    .await
    .expect("node mode stops on a wrong chain");
    assert!(f.rows(s).await.is_empty());
    assert_eq!(node.calls(), vec!["getblockchaininfo"]);
    let mut nm = node_mode(&f, &node);
    let e = nm.check_chain().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("refusing to anchor on the wrong chain"),
        "{e}"
    );
    f.shutdown().await;
}

#[tokio::test]
async fn run_node_mode_anchors_and_stops_when_asked() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut cfg = config_for(&node);
    cfg.poll_interval = Duration::from_millis(50);
    let task = tokio::spawn(run_node_mode(
        f.storage.clone(),
        cfg,
        Network::Regtest,
        stop.clone(),
    ));
    // Wait (bounded) for the transaction, mine it, wait for the anchor.
    let mut anchored = false;
    for _ in 0..600 {
        let rows = f.rows(s).await;
        if rows.iter().any(|r| r.status == "anchored") {
            anchored = true;
            break;
        }
        if node.mempool_len() == 1 {
            node.mine(1);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(anchored, "node mode anchored the head");
    stop.notify_one();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("node mode stops")
        .unwrap();
    f.shutdown().await;
}

#[tokio::test]
async fn node_mode_with_bad_credentials_sends_nothing() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    let mut cfg = config_for(&node);
    cfg.auth = RpcAuth::UserPass {
        user: "rpcuser".into(),
        password: "nope".into(),
    };
    let mut nm = NodeMode::new(f.storage.clone(), cfg, Network::Regtest);
    let e = nm.check_chain().await.unwrap_err();
    assert!(
        format!("{e:#}").contains("refused the credentials"),
        "{e:#}"
    );
    assert!(f.rows(s).await.is_empty());
    assert!(node.calls().is_empty(), "refused before any method ran");
    f.shutdown().await;
}

/// Waits (bounded; no timing is asserted) until `f` holds.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn a_gateway_in_node_mode_anchors_by_itself_and_attach_looks_the_height_up() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.anchor.network = Network::Regtest;
    let mut b = config_for(&node);
    b.anchor_interval = Duration::from_secs(1);
    b.poll_interval = Duration::from_millis(50);
    cfg.anchor.bitcoind = Some(b);
    let (gw, app) = common::start(cfg).await;
    // Clients (the web page's Verify tab) default to the gateway's network.
    let info = common::get(&app, "/api/v1/gateway").await.json();
    assert_eq!(info["anchor_network"], "regtest", "{info}");
    assert_eq!(info["bitcoind_node_mode"], true, "{info}");
    let r = common::post_json(&app, "/api/v1/logs", common::log_json(1)).await;
    let log_id = r.json()["log_id"].as_i64().unwrap();
    let f = common::post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    let batch = f.json();
    let batch_id = batch["batch_id"].as_str().unwrap().to_string();
    let head = Hash::from_hex(batch["head_hash"].as_str().unwrap(), "head_hash").unwrap();

    eventually("node mode sent a transaction", || async {
        node.mempool_len() == 1
    })
    .await;
    let blocks = node.mine(1);
    let key = gw.state.public_key;
    let opts = VerifyOptions {
        gateway_key: Some(key),
        anchor: AnchorOptions::for_network(Network::Regtest),
    };
    eventually("the receipt carries the verified bitcoin anchor", || {
        let app = app.clone();
        let opts = opts.clone();
        async move {
            let r = common::get(&app, &format!("/api/v1/logs/{log_id}/receipt")).await;
            let v = verify_receipt(&r.body, &opts);
            v.valid
                && v.anchors
                    .iter()
                    .any(|a| a.anchor_type == "bitcoin" && a.status == "verified")
        }
    })
    .await;
    let d = common::get(&app, &format!("/api/v1/batches/{batch_id}"))
        .await
        .json();
    assert_eq!(d["anchor_status"], "anchored", "{d}");
    assert_eq!(d["anchors"][0]["block_hash"], blocks[0].as_str(), "{d}");
    let node_name = format!("the node at {}", config_for(&node).url());
    assert_eq!(d["anchors"][0]["confirmed_by"], node_name.as_str(), "{d}");

    // A transaction made by hand for the same head, attached without a
    // height: the gateway asks its node.
    let rpc = RpcClient::new(config_for(&node));
    let (txid, signed) = send_anchor_tx(&rpc, &head).await;
    node.mine(2);
    let block = rpc.gettransaction(&txid).await.unwrap().blockhash.unwrap();
    let proof = rpc.gettxoutproof(&txid, &block).await.unwrap();
    let body = serde_json::json!({"type": "bitcoin", "raw_tx": to_hex(&signed), "merkle_proof": to_hex(&proof)});
    let r = common::post_json(
        &app,
        &format!("/api/v1/batches/{batch_id}/anchors"),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(r.text().contains("\"height\":2"), "{}", r.text());
    drop(app);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_empty_wallet_is_a_clear_error_and_nothing_is_stored() {
    let node = StandInNode::start(NodeOptions::default()).await;
    let mut f = Fixture::new().await;
    let s = f.batch().await;
    node.chain.lock().unwrap().no_funds = true;
    let mut nm = node_mode(&f, &node);
    let e = nm.tick().await.unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("is the wallet loaded and funded?"), "{msg}");
    assert!(msg.contains("error -4: Insufficient funds"), "{msg}");
    assert!(f.rows(s).await.is_empty());
    // Funded: the next round sends.
    node.chain.lock().unwrap().no_funds = false;
    nm.tick().await.unwrap();
    assert_eq!(f.rows(s).await.len(), 1);
    f.shutdown().await;
}

#[tokio::test]
async fn preflight_and_wallet_names_with_spaces() {
    use kwh_btc_iot_gateway::anchoring::bitcoind::preflight;
    let node = StandInNode::start(NodeOptions {
        wallet: "my anchors/1".into(),
        ..NodeOptions::default()
    })
    .await;
    let cfg = config_for(&node);
    assert_eq!(cfg.wallet.as_deref(), Some("my anchors/1"));
    let rpc = RpcClient::new(cfg.clone());
    send_anchor_tx(&rpc, &head(5)).await;
    preflight(&cfg, Network::Regtest).await.unwrap();
    let e = preflight(&cfg, Network::Signet).await.unwrap_err();
    assert!(e.to_string().contains("wrong chain"), "{e}");
    let mut bad = cfg.clone();
    bad.auth = RpcAuth::UserPass {
        user: "x".into(),
        password: "y".into(),
    };
    assert!(preflight(&bad, Network::Regtest).await.is_err());
    // Down: not an error at start (node mode retries).
    let mut node = node;
    node.stop().await;
    preflight(&cfg, Network::Regtest).await.unwrap();
}

#[tokio::test]
async fn a_gateway_refuses_to_start_on_the_wrong_chain_or_with_bad_credentials_but_not_when_the_node_is_down(
) {
    let mut node = StandInNode::start(NodeOptions::default()).await;
    let start = |network: Network, b: BitcoindConfig| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::config(dir.path());
        cfg.anchor.network = network;
        cfg.anchor.bitcoind = Some(b);
        let r = kwh_btc_iot_gateway::Gateway::start(cfg).await;
        (dir, r)
    };
    // The node is on regtest; the gateway anchors on mainnet.
    let (_d, r) = start(Network::Mainnet, config_for(&node)).await;
    let e = format!("{:#}", r.err().expect("refused"));
    assert!(e.contains("--bitcoind-url"), "{e}");
    assert!(e.contains("is on chain \"regtest\""), "{e}");
    assert!(e.contains("--anchor-network"), "{e}");
    // Bad credentials: refused, without the password.
    let mut bad = config_for(&node);
    bad.auth = RpcAuth::UserPass {
        user: "rpcuser".into(),
        password: "not-the-password-42".into(),
    };
    let (_d, r) = start(Network::Regtest, bad).await;
    let e = format!("{:#}", r.err().expect("refused"));
    assert!(e.contains("refused the credentials"), "{e}");
    assert!(!e.contains("not-the-password-42"), "{e}");
    // Right chain: starts.
    let (_d, r) = start(Network::Regtest, config_for(&node)).await;
    r.expect("starts").shutdown().await;
    // The node is down: starts anyway (node mode retries).
    node.stop().await;
    let (_d, r) = start(Network::Regtest, config_for(&node)).await;
    r.expect("starts with the node down").shutdown().await;
}

/// Posts one log and flushes: (batch_id, head hash).
async fn one_batch(app: &axum::Router) -> (String, Hash) {
    let r = common::post_json(app, "/api/v1/logs", common::log_json(1)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let f = common::post_json(app, "/api/v1/batches/flush", Vec::new()).await;
    let batch = f.json();
    let id = batch["batch_id"].as_str().unwrap().to_string();
    let head = Hash::from_hex(batch["head_hash"].as_str().unwrap(), "head_hash").unwrap();
    (id, head)
}

/// A made-up regtest block holding one transaction, `OP_RETURN <head>`:
/// the attach body claiming it at `height`. Its header has valid regtest
/// proof of work, and nothing else about it is real.
fn made_up_block(head: &Hash, height: u64) -> serde_json::Value {
    use kwh_btc_iot_core::encoding::bitcoin::sha256d;
    let tx = kwh_btc_iot_testkit::op_return_tx(&head.0);
    let txid = sha256d(&tx);
    let header = kwh_btc_iot_testkit::regtest_header(txid);
    let mb = MerkleBlock::new(header, &[txid], &[true]);
    serde_json::json!({"type": "bitcoin", "raw_tx": to_hex(&tx),
        "merkle_proof": to_hex(&mb.to_bytes()), "height": height})
}

async fn attach(app: &axum::Router, batch_id: &str, body: &serde_json::Value) -> common::Resp {
    common::post_json(
        app,
        &format!("/api/v1/batches/{batch_id}/anchors"),
        body.to_string(),
    )
    .await
}

fn assert_invalid_anchor(r: &common::Resp, member: &str, needles: &[&str]) {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["code"], "invalid_anchor", "{e}");
    assert_eq!(e["error"]["member"], member, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    for n in needles {
        assert!(m.contains(n), "{n:?} not in {m}");
    }
}

/// Security finding 4 (issue 14): under regtest a made-up one-transaction
/// block with `OP_RETURN <head hash>`, attached at height 4000000000, was
/// answered 201 and the batch became anchored. Now the header at that height
/// is asked from the node (or header source): beyond its tip, or a header
/// other than its own, is refused; without a source or node the attach is
/// refused; a genuine attach succeeds and says who confirmed it.
#[tokio::test]
async fn attach_refuses_a_made_up_block_and_checks_the_header_with_the_node() {
    use kwh_btc_iot_gateway::anchoring::calendar::HeaderSource;
    let node = StandInNode::start(NodeOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.anchor.network = Network::Regtest;
    // The node as header source only (node mode off: nothing anchors by itself).
    cfg.anchor.headers = Some(HeaderSource::Bitcoind(config_for(&node)));
    let (gw, app) = common::start(cfg).await;
    let (batch_id, head) = one_batch(&app).await;
    let node_name = format!("the node at {}", config_for(&node).url());

    // The finding: height 4000000000, beyond the node's tip.
    let r = attach(&app, &batch_id, &made_up_block(&head, 4_000_000_000)).await;
    assert_invalid_anchor(&r, "height", &[&node_name, "4000000000", "beyond its tip"]);
    // The same made-up block at a height the node has: not its header.
    let r = attach(&app, &batch_id, &made_up_block(&head, 0)).await;
    assert_invalid_anchor(&r, "header", &[&node_name, "height 0"]);
    let d = common::get(&app, &format!("/api/v1/batches/{batch_id}"))
        .await
        .json();
    assert_eq!(d["anchor_status"], "pending", "{d}");
    assert_eq!(d["anchors"], serde_json::json!([]), "{d}");

    // A genuine transaction, mined in block 1 of the node.
    let rpc = RpcClient::new(config_for(&node));
    let (txid, signed) = send_anchor_tx(&rpc, &head).await;
    node.mine(1);
    let block = rpc.gettransaction(&txid).await.unwrap().blockhash.unwrap();
    let proof = rpc.gettxoutproof(&txid, &block).await.unwrap();
    let height = rpc.block_height(&block).await.unwrap();
    assert_eq!(height, 1);
    let genuine = serde_json::json!({"type": "bitcoin", "raw_tx": to_hex(&signed),
        "merkle_proof": to_hex(&proof), "height": height});
    // Claimed at another height: refused.
    let mut wrong = genuine.clone();
    wrong["height"] = serde_json::json!(0);
    assert_invalid_anchor(
        &attach(&app, &batch_id, &wrong).await,
        "header",
        &[&node_name],
    );
    // At its height: stored, saying the node confirmed it.
    let r = attach(&app, &batch_id, &genuine).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    assert_eq!(j["anchor"]["confirmed_by"], node_name.as_str(), "{j}");
    assert_eq!(j["anchor"]["block_hash"], block.as_str(), "{j}");
    let d = common::get(&app, &format!("/api/v1/batches/{batch_id}"))
        .await
        .json();
    assert_eq!(d["anchor_status"], "anchored", "{d}");
    assert_eq!(d["anchors"][0]["confirmed_by"], node_name.as_str(), "{d}");
    drop(app);
    gw.shutdown().await;

    // No header source, no node (regtest has no default): refused unless
    // --anchor-trust-attached-headers.
    for trust in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = common::config(dir.path());
        cfg.anchor.network = Network::Regtest;
        cfg.anchor.trust_attached_headers = trust;
        let (gw, app) = common::start(cfg).await;
        let (batch_id, head) = one_batch(&app).await;
        let r = attach(&app, &batch_id, &made_up_block(&head, 4_000_000_000)).await;
        if trust {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            assert_eq!(
                r.json()["anchor"]["confirmed_by"],
                kwh_btc_iot_gateway::api::UNCHECKED_ATTACH
            );
        } else {
            assert_invalid_anchor(
                &r,
                "header",
                &[
                    "header source",
                    "must be configured",
                    "--anchor-trust-attached-headers",
                ],
            );
        }
        drop(app);
        gw.shutdown().await;
    }
}
