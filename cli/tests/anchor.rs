//! `kwh-btc-iot anchor template|attach` and `verify --network/--header`, as a
//! user runs them: against receipts built with the core, and against a real
//! gateway (`kwh-btc-iot serve`, regtest rules) over HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::{build::BatchParams, time::Timestamp, Hash, Keypair};
use kwh_btc_iot_testkit::{BitcoinAnchor as Proof, OpReturnTx};
use serde_json::{json, Value};

fn bin() -> Command {
    Command::cargo_bin("kwh-btc-iot").unwrap()
}

/// (exit code, stdout, stderr)
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const HEAD: &str = "5f1c3b0a9d8e7f6a5b4c3d2e1f00112233445566778899aabbccddeeff001122";

#[test]
fn template_is_bitcoin_core_s_createrawtransaction_output() {
    // bitcoin-cli createrawtransaction '[]' '[{"data":"<hash>"}]': version 2,
    // no inputs, one 0-value output OP_RETURN <32 bytes>, lock time 0.
    let want = format!("02000000000100000000000000002{}{HEAD}00000000", "26a20");
    let (code, out, err) = run(bin().args(["anchor", "template", "--head-hash", HEAD]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{want}\n"));
    // Upper case is the same hash.
    let (_, out2, _) = run(bin().args([
        "anchor",
        "template",
        "--head-hash",
        &HEAD.to_ascii_uppercase(),
    ]));
    assert_eq!(out2, out);
    let (code, out, err) = run(bin().args([
        "anchor",
        "template",
        "--head-hash",
        HEAD,
        "--batch",
        "b1",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"batch_id": "b1", "head_hash": HEAD, "op_return_script": format!("6a20{HEAD}"), "template": want})
    );
}

#[test]
fn template_input_errors() {
    let (code, _, err) = run(bin().args(["anchor", "template", "--head-hash", "abcd"]));
    assert_ne!(code, 0);
    assert!(err.contains("--head-hash"), "{err}");
    let (code, _, err) = run(bin().args(["anchor", "template"]));
    assert_ne!(code, 0);
    assert!(err.contains("--batch"), "{err}");
    // Nobody listening: the error names the URL.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = run(bin().args(["anchor", "template", "--batch", "b1", "--url", &url]));
    assert_ne!(code, 0);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains(&url), "{err}");
}

// ---------------------------------------------------------------------------
// Proofs built with the core: a regtest block holding an OP_RETURN transaction.

/// A bitcoin anchor of `head`: a signed-looking transaction (one input, P2WPKH
/// change, `OP_RETURN <head>`) at index 2 of a 3-transaction regtest block, height 7.
fn proof_for(head: &Hash) -> Proof {
    let signed = OpReturnTx {
        script_sig: vec![0x51],
        sequence: 0xffff_fffd,
        ..Default::default()
    };
    Proof::of_tx(signed.build(&head.0), 3, 7)
}

const LOG: &str = r#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003","meter_id":"MTR-1","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":12.34,"status":"ok","tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;

/// An offline receipt with a bitcoin anchor of its head (regtest block, height 7).
fn anchored_receipt(dir: &Path) -> (std::path::PathBuf, Keypair, BlockHeader) {
    let key = Keypair::from_seed(&[9; 32]);
    let built = kwh_btc_iot_core::build_batch(
        &[LOG.as_bytes()],
        BatchParams {
            gateway_id: "gw-test".into(),
            batch_id: "batch-1".into(),
            seq: 1,
            prev_head_hash: None,
            created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
        },
        Some(&key),
    )
    .unwrap();
    let p = proof_for(&built.batch.head_hash);
    let a = p.to_value();
    let mut r: Value = serde_json::from_str(&built.receipts[0].to_json()).unwrap();
    r["anchors"] =
        json!([serde_json::from_str::<Value>(&kwh_btc_iot_core::jcs::to_string(&a)).unwrap()]);
    let path = dir.join("receipt.json");
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    (path, key, p.header)
}

#[test]
fn verify_checks_anchors_under_the_network_and_trusted_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key, header) = anchored_receipt(dir.path());
    let path = path.to_str().unwrap();
    let pk = to_hex(&key.public_key());
    let block = header.block_hash_display();

    let (code, out, err) =
        run(bin().args(["verify", path, "--gateway-key", &pk, "--network", "regtest"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK "), "{out}");
    assert!(
        out.contains(&format!(
            "anchor bitcoin: verified (regtest)  height 7  block {block}"
        )),
        "{out}"
    );
    assert!(out.contains("not checked: that block"), "{out}");

    // mainnet (the default): a regtest block has no mainnet proof of work.
    let (code, out, _) = run(bin().args(["verify", path, "--gateway-key", &pk]));
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAIL "), "{out}");
    assert!(
        out.contains("anchor bitcoin: invalid at step header_pow (mainnet)"),
        "{out}"
    );

    // --json carries the anchors.
    let (code, out, _) = run(bin().args(["verify", path, "--network", "regtest", "--json"]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let a = &v["anchors"][0];
    assert_eq!(
        (a["type"].as_str(), a["status"].as_str()),
        (Some("bitcoin"), Some("verified")),
        "{v}"
    );
    assert_eq!(a["height"], 7);
    assert_eq!(a["block_hash"], block.as_str());
    assert!(a["not_checked"].is_string());

    // A trusted header at that height: it must be that block.
    let hex = to_hex(&header.to_bytes());
    let (code, out, _) = run(bin().args([
        "verify",
        path,
        "--network",
        "regtest",
        "--header",
        &format!("7:{hex}"),
    ]));
    assert_eq!(code, 0, "{out}");
    let mut other = header;
    other.nonce = other.nonce.wrapping_add(1);
    let (code, out, _) = run(bin().args([
        "verify",
        path,
        "--network",
        "regtest",
        "--header",
        &format!("7:{}", to_hex(&other.to_bytes())),
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalid at step header"), "{out}");
}

#[test]
fn verify_option_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, header) = anchored_receipt(dir.path());
    let path = path.to_str().unwrap();
    let hex = to_hex(&header.to_bytes());
    for (args, want) in [
        (
            vec!["--network", "main"],
            "--network \"main\": expected mainnet, testnet, signet or regtest",
        ),
        (vec!["--header", hex.as_str()], "expected HEIGHT:HEX"),
        (
            vec!["--header", "x:00"],
            "--header x:…: the key must be a block height in decimal",
        ),
        (
            vec!["--header", "7:abcd"],
            "--header 7:…: is not a block header (80 bytes, 160 hex characters)",
        ),
        (
            vec!["--header", &format!("7:{}", "zz".repeat(80))],
            "--header 7:…: is not a block header",
        ),
    ] {
        let (code, _, err) = run(bin().arg("verify").arg(path).args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let mut other = header;
    other.nonce ^= 1;
    let (code, _, err) = run(bin().args([
        "verify",
        path,
        "--header",
        &format!("7:{hex}"),
        "--header",
        &format!("7:{}", to_hex(&other.to_bytes())),
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("two different headers for height 7"), "{err}");
}

// ---------------------------------------------------------------------------
// Against a running gateway.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 exchange (the tests' own client, not the CLI's).
fn http(port: u16, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
    (status, raw[end + 4..].to_vec())
}

struct Gateway {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN: &str = "admin-key-for-tests";

fn gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hash = to_hex(&kwh_btc_iot_gateway::config::key_hash(ADMIN));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kwh-btc-iot"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .args([
            "--anchor-network",
            "regtest",
            "--ots-calendars",
            "none",
            // Regtest without a header source or node: attaching needs the
            // opt-in (security finding 4; the check is in gateway/tests/bitcoind.rs).
            "--anchor-trust-attached-headers",
            "--admin-key-sha256",
            &hash,
            "--flush-count",
            "0",
            "--flush-age-s",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gw = Gateway {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    gw
}

#[test]
fn template_and_attach_against_a_gateway() {
    let gw = gateway();
    let url = format!("http://127.0.0.1:{}", gw.port);
    let (st, body) = http(gw.port, "POST", "/api/v1/logs", Some(ADMIN), LOG.as_bytes());
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let log_id = serde_json::from_slice::<Value>(&body).unwrap()["log_id"]
        .as_i64()
        .unwrap();
    let (st, body) = http(gw.port, "POST", "/api/v1/batches/flush", Some(ADMIN), b"");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let f: Value = serde_json::from_slice(&body).unwrap();
    let batch = f["batch_id"].as_str().unwrap().to_string();
    let head = Hash::from_hex(f["head_hash"].as_str().unwrap(), "head_hash").unwrap();

    // template: the head hash fetched from the gateway.
    let (code, out, err) = run(bin().args([
        "anchor",
        "template",
        "--batch",
        &batch,
        "--url",
        &url,
        "--admin-key",
        ADMIN,
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        to_hex(&kwh_btc_iot_core::build::anchor::op_return_template(&head))
    );
    // The key from the environment.
    let (code, out2, err) = run(bin()
        .args(["anchor", "template", "--batch", &batch, "--url", &url])
        .env("KWH_BTC_IOT_ADMIN_KEY", ADMIN));
    assert_eq!((code, out2.as_str()), (0, out.as_str()), "{err}");
    // Without a key, and for an unknown batch: the gateway's message.
    let (code, _, err) = run(bin()
        .args(["anchor", "template", "--batch", &batch, "--url", &url])
        .env_remove("KWH_BTC_IOT_ADMIN_KEY"));
    assert_ne!(code, 0);
    assert!(err.contains("HTTP 401"), "{err}");
    let (code, _, err) = run(bin().args([
        "anchor",
        "template",
        "--batch",
        "nope",
        "--url",
        &url,
        "--admin-key",
        ADMIN,
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("HTTP 404") && err.contains("nope"), "{err}");

    let p = proof_for(&head);
    let attach = |proof: &Proof, extra: &[&str]| {
        let mut c = bin();
        c.args([
            "anchor",
            "attach",
            "--batch",
            &batch,
            "--url",
            &url,
            "--admin-key",
            ADMIN,
        ])
        .args(["--raw-tx", &to_hex(&proof.raw_tx)])
        .args(["--merkle-proof", &to_hex(&proof.merkleblock_bytes())])
        .args(["--header", &to_hex(&proof.header.to_bytes())])
        .args(extra);
        run(&mut c)
    };
    // Refused locally, each naming the step and the input.
    let (code, _, err) = attach(&p, &["--height", "5"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("does not verify locally (mainnet rules) at step header_pow"),
        "{err}"
    );
    assert!(err.contains("(input --header)"), "{err}");
    let other = proof_for(&Hash([0x77; 32]));
    let (code, _, err) = attach(&other, &["--height", "5", "--network", "regtest"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("at step tx_commitment") && err.contains("(input --raw-tx)"),
        "{err}"
    );
    let mut mixed = proof_for(&head);
    mixed.header = other.header;
    let (code, _, err) = attach(&mixed, &["--height", "5", "--network", "regtest"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("at step header") && err.contains("(input --header)"),
        "{err}"
    );
    let mut bad = proof_for(&head);
    bad.raw_tx.truncate(20);
    let (code, _, err) = attach(&bad, &["--network", "regtest"]);
    assert_ne!(code, 0);
    assert!(err.contains("--raw-tx: "), "{err}");
    let (code, _, err) = attach(&p, &["--network", "regnet"]);
    assert_ne!(code, 0);
    assert!(err.contains("--network \"regnet\""), "{err}");

    // No height and no node on the gateway: the gateway says so (422, member height).
    let (code, _, err) = attach(&p, &["--network", "regtest"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("HTTP 422") && err.contains("member height"),
        "{err}"
    );
    // A wrong admin key: refused by the gateway.
    let mut c = bin();
    c.args([
        "anchor",
        "attach",
        "--batch",
        &batch,
        "--url",
        &url,
        "--admin-key",
        "wrong",
    ])
    .args([
        "--raw-tx",
        &to_hex(&p.raw_tx),
        "--merkle-proof",
        &to_hex(&p.merkleblock_bytes()),
    ])
    .args(["--height", "5", "--network", "regtest"]);
    let (code, _, err) = run(&mut c);
    assert_ne!(code, 0);
    assert!(err.contains("HTTP 40"), "{err}");

    // Attached.
    let (code, out, err) = attach(&p, &["--height", "5", "--network", "regtest"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("verified locally"), "{err}");
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert!(
        stored.to_string().contains(&p.header.block_hash_display()),
        "{stored}"
    );

    // The receipt now carries it: verify passes under regtest, fails under mainnet.
    let (st, receipt) = http(
        gw.port,
        "GET",
        &format!("/api/v1/logs/{log_id}/receipt"),
        Some(ADMIN),
        b"",
    );
    assert_eq!(st, 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, &receipt).unwrap();
    let file = file.to_str().unwrap();
    let (code, out, _) = run(bin().args(["verify", file, "--network", "regtest"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("anchor bitcoin: verified (regtest)  height 5"),
        "{out}"
    );
    let (code, out, _) = run(bin().args(["verify", file]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("header_pow"), "{out}");
}
