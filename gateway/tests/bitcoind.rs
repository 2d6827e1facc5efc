//! Node mode against a stand-in Bitcoin Core node speaking the real JSON-RPC
//! over HTTP (bitcoind itself cannot run here): the RPC client, the stand-in,
//! and the gateway anchoring its heads end to end.

mod bitcoind_support;

use std::time::Duration;

use bitcoind_support::{NodeOptions, StandInNode};
use kwh_btc_iot_core::anchor::{self, MerkleBlock, Network, Transaction};
use kwh_btc_iot_core::hash::{to_hex, Hash};
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
        assert_eq!(t, anchor::op_return_template(&head(i)));
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
    assert_eq!(tx.outputs[0].script_pubkey, anchor::op_return_script(&h));

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
        .fundrawtransaction(&anchor::op_return_template(&head(1)))
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
