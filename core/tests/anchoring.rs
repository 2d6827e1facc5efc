//! Bitcoin anchoring with real mainnet data (tests/vectors/anchoring, copied
//! from ../shared/anchoring; its README says what each file is and what was
//! checked): OpenTimestamps proofs, headers, blocks, merkleblocks and SPV
//! bundles; anchors in receipts; tampered and malformed input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kwh_btc_iot_core::build::BatchParams;
use kwh_btc_iot_core::encoding::bitcoin::{
    self, display_hex, sha256d, Block, BlockHeader, Network, Transaction,
};
use kwh_btc_iot_core::encoding::ots::{
    self, Attestation, DetachedTimestampFile, Item, Op, TimestampTree,
};
use kwh_btc_iot_core::encoding::spv::{self, MerkleBlock, PartialMerkleTree};
use kwh_btc_iot_core::time::Timestamp as Time;
use kwh_btc_iot_core::verify::anchor::{self, AnchorOptions};
use kwh_btc_iot_core::{self as core, Hash, Keypair, VerifyOptions};
use proptest::prelude::*;
use serde_json::{json, Value as J};
use sha2::{Digest, Sha256};

fn fx(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/anchoring")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fx(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_hex(rel: &str) -> Vec<u8> {
    let s = String::from_utf8(read(rel)).unwrap();
    kwh_btc_iot_core::encoding::hex::decode_member(s.trim(), rel).unwrap()
}

fn manifest() -> J {
    serde_json::from_slice(&read("manifest.json")).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    kwh_btc_iot_core::encoding::hex::decode_member(s, "test").unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

fn header(height: u64) -> BlockHeader {
    let s = String::from_utf8(read(&format!("headers/mainnet-{height}.hex"))).unwrap();
    BlockHeader::from_hex(s.trim()).unwrap()
}

fn headers(list: &[u64]) -> BTreeMap<u64, BlockHeader> {
    list.iter().map(|h| (*h, header(*h))).collect()
}

fn ots(rel: &str) -> DetachedTimestampFile {
    DetachedTimestampFile::parse(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ---------------------------------------------------------------------------
// Fixture integrity

#[test]
fn fixtures_match_their_checksums() {
    let sums = String::from_utf8(read("SHA256SUMS.txt")).unwrap();
    let mut n = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, name) = line.split_once("  ").unwrap();
        let got = kwh_btc_iot_core::encoding::hex::encode(&Sha256::digest(read(name.trim())));
        assert_eq!(got, sum, "{name}");
        n += 1;
    }
    assert!(n >= 50, "only {n} files listed");
}

// ---------------------------------------------------------------------------
// OpenTimestamps: every file of the manifest

fn attestation_key(msg: &[u8], a: &Attestation) -> (String, String, String) {
    let (t, extra) = match a {
        Attestation::Pending { uri } => ("PendingAttestation", uri.clone()),
        Attestation::Bitcoin { height } => ("BitcoinBlockHeaderAttestation", height.to_string()),
        Attestation::Litecoin { height } => ("LitecoinBlockHeaderAttestation", height.to_string()),
        Attestation::Ethereum { .. } => ("EthereumBlockHeaderAttestation", String::new()),
        Attestation::Unknown { tag, payload } => (
            "UnknownAttestation",
            format!(
                "{}:{}",
                kwh_btc_iot_core::encoding::hex::encode(tag),
                kwh_btc_iot_core::encoding::hex::encode(payload)
            ),
        ),
    };
    (
        t.to_string(),
        kwh_btc_iot_core::encoding::hex::encode(msg),
        extra,
    )
}

fn manifest_key(a: &J) -> (String, String, String) {
    let t = a["type"].as_str().unwrap().to_string();
    let extra = match t.as_str() {
        "PendingAttestation" => a["uri"].as_str().unwrap().to_string(),
        "BitcoinBlockHeaderAttestation" | "LitecoinBlockHeaderAttestation" => {
            a["height"].to_string()
        }
        "UnknownAttestation" => format!(
            "{}:{}",
            a["tag"].as_str().unwrap(),
            a["payload"].as_str().unwrap()
        ),
        _ => String::new(),
    };
    (t, a["msg"].as_str().unwrap().to_string(), extra)
}

#[test]
fn every_ots_file_parses_replays_to_the_documented_digests_and_round_trips() {
    let m = manifest();
    let mut checked = 0;
    for entry in m["ots"].as_array().unwrap() {
        let rel = entry["ots"].as_str().unwrap();
        if entry.get("error").is_some() {
            continue; // see invalid_ots_files_fail_with_the_reference_reason
        }
        let bytes = read(rel);
        let f = DetachedTimestampFile::parse(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            f.file_hash_op.name(),
            entry["file_hash_op"].as_str().unwrap(),
            "{rel}"
        );
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&f.digest),
            entry["file_digest"].as_str().unwrap(),
            "{rel}"
        );
        // Byte-exact round trip.
        assert_eq!(f.to_bytes().unwrap(), bytes, "{rel}: write(parse(x)) != x");
        // Files written by python-opentimestamps are in its canonical form
        // (javascript-opentimestamps keeps ops in insertion order instead).
        let mut c = f.clone();
        c.canonicalize();
        if !rel.contains("javascript-opentimestamps") {
            assert_eq!(c.to_bytes().unwrap(), bytes, "{rel}: not canonical");
        }
        assert_eq!(c.replay().unwrap().len(), f.replay().unwrap().len());
        // The stamped files hash to the digest (hashed as a stream: osdsp.txt
        // is larger than an op's 4096-byte limit).
        let stamped: Vec<&str> = match (&entry["stamped_file"], &entry["stamped_files"]) {
            (J::String(s), _) => vec![s.as_str()],
            (_, J::Array(a)) => a.iter().map(|s| s.as_str().unwrap()).collect(),
            _ => vec![],
        };
        for s in stamped {
            let d = DetachedTimestampFile::hash_file(&f.file_hash_op, &read(s)).unwrap();
            assert_eq!(d, f.digest, "{s}");
        }
        // Replay reaches exactly the documented attestations and messages.
        let reached = f.replay().unwrap();
        let mut ours: Vec<_> = reached
            .iter()
            .map(|r| attestation_key(&r.msg, &r.attestation))
            .collect();
        let mut theirs: Vec<_> = entry["attestations"]
            .as_array()
            .unwrap()
            .iter()
            .map(manifest_key)
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{rel}");
        // The attestation list without replay agrees.
        assert_eq!(f.timestamp.attestations().len(), reached.len(), "{rel}");
        checked += 1;
    }
    assert_eq!(checked, 17);
}

#[test]
fn calendar_transactions_on_the_paths_are_found() {
    // The README lists the calendar transaction each proof's path goes through.
    let cases = [
        (
            "ots/opentimestamps-client/hello-world.txt.ots",
            358391,
            "7e9f0f7d9daa2d9e51b2e22f4abe814c3f90539afa778a9bef88dc64627cb2ec",
        ),
        (
            "ots/opentimestamps-client/empty.ots",
            129405,
            "9399db17384092592431f2fe850d9e3baa3372dcbfb2c00dd4180900db2eaab4",
        ),
        (
            "ots/opentimestamps-client/different-blockchains.txt.ots",
            455605,
            "30cd1a0cf6aa2b6735a235fe4cd495f678e62b323ca4df0263439c27cce3329a",
        ),
        (
            "ots/opentimestamps-client/bitcoin.pdf.ots",
            465751,
            "8465d34ede9e3387cfd7aacae880cfc86a5bdc603d8822e3b0e7c1369f8acfa8",
        ),
        (
            "ots/opentimestamps-client/sha1/a-or-b.ots",
            466906,
            "baaac9946198ecad5d8a116aead902ac98e892065adbb446aaee9e1f946e1194",
        ),
        (
            "ots/opentimestamps-client/gdp2q25-2nd.pdf.ots",
            912095,
            "fcf172401ca9d89013f13f5bbf0fc7577cb8a3588bf5cbc3b458ff36635fec00",
        ),
        (
            "ots/javascript-opentimestamps/osdsp.txt.ots",
            523364,
            "1491c13ace732342bbb40aa514724607a1aacdb3687f2802a62e29930b668ead",
        ),
        (
            "ots/derived/incomplete.txt.ots",
            428648,
            "78a6be65c8ad4136f4575e94506648490a56a4b3b1fd4618854cc0e80248606c",
        ),
    ];
    for (rel, height, txid) in cases {
        let reached = ots(rel).replay().unwrap();
        let r = reached
            .iter()
            .find(|r| r.attestation == Attestation::Bitcoin { height })
            .unwrap_or_else(|| panic!("{rel}: no attestation at {height}"));
        assert_eq!(
            r.txid.map(|t| display_hex(&t)).as_deref(),
            Some(txid),
            "{rel}"
        );
    }
}

#[test]
fn invalid_ots_files_fail_with_the_reference_reason() {
    for (rel, code, words) in [
        (
            "ots/opentimestamps-client/invalid/bad-major-version.ots",
            "unsupported_version",
            "version 1151",
        ),
        (
            "ots/opentimestamps-client/invalid/exceeds-max-msg-length.ots",
            "invalid_message",
            "4112 > 4096",
        ),
        (
            "ots/opentimestamps-client/invalid/invalid-file-digest-type.ots",
            "unknown_file_hash_op",
            "0xf3",
        ),
    ] {
        let e = DetachedTimestampFile::parse(&read(rel)).unwrap_err();
        assert_eq!(e.code, code, "{rel}: {e}");
        assert!(e.message.contains(words), "{rel}: {e}");
    }
}

// ---------------------------------------------------------------------------
// OpenTimestamps verified against headers

#[test]
fn hello_world_verifies_against_its_mainnet_header() {
    let f = ots("ots/opentimestamps-client/hello-world.txt.ots");
    let r = anchor::verify_ots_proof(&f, &f.digest, &headers(&[358391]), Network::Mainnet).unwrap();
    assert_eq!(r.status.as_str(), "verified", "{}", r.detail);
    assert_eq!(r.height, Some(358391));
    assert_eq!(
        r.block_hash.as_deref(),
        Some("000000000000000003e892881a8cdcdc117c06d444057c98b6f04a9ee75a2319")
    );
    assert_eq!(r.block_time, Some(1432827678));
    assert_eq!(
        r.txid.as_deref(),
        Some("7e9f0f7d9daa2d9e51b2e22f4abe814c3f90539afa778a9bef88dc64627cb2ec")
    );
    assert!(r.detail.contains("2015-05-28T15:41:18Z"), "{}", r.detail);
    assert!(r.not_checked.unwrap().contains("best chain"));
    // The stamped file's hash is the digest.
    let d = Sha256::digest(read("ots/opentimestamps-client/hello-world.txt"));
    assert_eq!(d.as_slice(), f.digest.as_slice());
}

#[test]
fn derived_complete_proof_verifies_against_its_header() {
    let f = ots("ots/derived/incomplete.txt.ots");
    let r = anchor::verify_ots_proof(&f, &f.digest, &headers(&[428648]), Network::Mainnet).unwrap();
    assert_eq!(r.status.as_str(), "verified", "{}", r.detail);
    assert_eq!(r.height, Some(428648));
    assert_eq!(
        r.block_hash.as_deref(),
        Some("000000000000000000ca478eb185560e1f1178746ee05e3d9bc9a31765f6f4a3")
    );
    assert_eq!(r.block_time, Some(1473227803));
    // The proof still carries its pending attestation.
    assert_eq!(
        r.calendars,
        vec!["https://alice.btc.calendar.opentimestamps.org"]
    );
}

#[test]
fn bad_stamp_fails_at_the_merkle_root() {
    let f = ots("ots/opentimestamps-client/bad-stamp.txt.ots");
    let e =
        anchor::verify_ots_proof(&f, &f.digest, &headers(&[358391]), Network::Mainnet).unwrap_err();
    assert_eq!(e.step.as_str(), "merkle_root", "{e}");
    assert!(
        e.message
            .contains("921f81b9147c9aebe712d7805d810cf0f762479967e4c26008178277b89db41b"),
        "{e}"
    );
}

#[test]
fn proofs_without_their_header_need_one_and_pending_proofs_are_pending() {
    let none = BTreeMap::new();
    for (rel, height) in [
        ("ots/opentimestamps-client/empty.ots", 129405),
        (
            "ots/opentimestamps-client/different-blockchains.txt.ots",
            455605,
        ),
        ("ots/opentimestamps-client/bitcoin.pdf.ots", 465751),
        ("ots/opentimestamps-client/sha1/a-or-b.ots", 466906),
        ("ots/opentimestamps-client/gdp2q25-2nd.pdf.ots", 912095),
        ("ots/javascript-opentimestamps/osdsp.txt.ots", 523364),
        ("ots/opentimestamps-client/hello-world.txt.ots", 358391),
    ] {
        let f = ots(rel);
        let r = anchor::verify_ots_proof(&f, &f.digest, &none, Network::Mainnet).unwrap();
        assert_eq!(r.status.as_str(), "needs_header", "{rel}");
        assert_eq!(r.height, Some(height), "{rel}");
    }
    // A header for another height does not help.
    let f = ots("ots/opentimestamps-client/empty.ots");
    let r = anchor::verify_ots_proof(&f, &f.digest, &headers(&[358391]), Network::Mainnet).unwrap();
    assert_eq!(r.status.as_str(), "needs_header");

    for (rel, n) in [
        ("ots/opentimestamps-client/incomplete.txt.ots", 1),
        ("ots/opentimestamps-client/two-calendars.txt.ots", 2),
        ("ots/opentimestamps-client/merkle1.txt.ots", 2),
        ("ots/javascript-opentimestamps/ripemd160-example.md.ots", 3),
        (
            "ots/opentimestamps-client/known-and-unknown-notary.txt.ots",
            1,
        ),
    ] {
        let f = ots(rel);
        let r = anchor::verify_ots_proof(&f, &f.digest, &none, Network::Mainnet).unwrap();
        assert_eq!(r.status.as_str(), "pending", "{rel}");
        assert_eq!(r.calendars.len(), n, "{rel}");
    }
    let f = ots("ots/opentimestamps-client/unknown-notary.txt.ots");
    let r = anchor::verify_ots_proof(&f, &f.digest, &none, Network::Mainnet).unwrap();
    assert_eq!(r.status.as_str(), "unknown");
    assert!(r.detail.contains("0102030405060708"), "{}", r.detail);
}

#[test]
fn the_digest_must_be_the_one_asked_about() {
    let f = ots("ots/opentimestamps-client/hello-world.txt.ots");
    let mut other = f.digest.clone();
    other[0] ^= 1;
    let e =
        anchor::verify_ots_proof(&f, &other, &headers(&[358391]), Network::Mainnet).unwrap_err();
    assert_eq!(e.step.as_str(), "ots_digest");
    // A SHA-1 proof is not a proof for a 32-byte (SHA-256) digest.
    let f = ots("ots/opentimestamps-client/bitcoin.pdf.ots");
    let mut d = f.digest.clone();
    d.extend_from_slice(&[0; 12]);
    assert_eq!(
        anchor::verify_ots_proof(&f, &d, &BTreeMap::new(), Network::Mainnet)
            .unwrap_err()
            .step
            .as_str(),
        "ots_digest"
    );
}

#[test]
fn the_calendar_answer_merges_into_the_pending_proof_as_the_reference_does() {
    // ots/derived/incomplete.txt.ots was written by python-opentimestamps by
    // merging the alice calendar's real answer into the client's pending proof.
    let answer: J =
        serde_json::from_slice(&read("ots/derived/incomplete.txt.calendar-answer.json")).unwrap();
    let commitment = unhex(answer["commitment_hex"].as_str().unwrap());
    let upgrade = TimestampTree::parse(
        &unhex(answer["answer_timestamp_hex"].as_str().unwrap()),
        &commitment,
    )
    .unwrap();
    let reached = upgrade.replay(&commitment).unwrap();
    assert_eq!(reached.len(), 1);
    assert_eq!(
        reached[0].attestation,
        Attestation::Bitcoin { height: 428648 }
    );
    assert_eq!(
        kwh_btc_iot_core::encoding::hex::encode(&reached[0].msg),
        answer["result_digest_internal"].as_str().unwrap()
    );

    let mut f = ots("ots/opentimestamps-client/incomplete.txt.ots");
    let digest = f.digest.clone();
    assert_eq!(
        f.timestamp
            .merge_at_message(&digest, &commitment, &upgrade)
            .unwrap(),
        1
    );
    assert_eq!(
        f.to_bytes().unwrap(),
        read("ots/derived/incomplete.txt.ots")
    );
    // Merging again changes nothing.
    f.timestamp
        .merge_at_message(&digest, &commitment, &upgrade)
        .unwrap();
    assert_eq!(
        f.to_bytes().unwrap(),
        read("ots/derived/incomplete.txt.ots")
    );
    // A message that is not in the tree is reported.
    assert_eq!(
        f.timestamp
            .merge_at_message(&digest, &[1, 2, 3], &upgrade)
            .unwrap_err()
            .code,
        "not_found"
    );
}

// ---------------------------------------------------------------------------
// Headers, blocks, merkleblocks, SPV bundles

#[test]
fn headers_hash_and_meet_their_proof_of_work() {
    let m = manifest();
    for (height, h) in m["headers"].as_object().unwrap() {
        let hd = header(height.parse().unwrap());
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&hd.to_bytes()),
            h["header_hex"].as_str().unwrap()
        );
        assert_eq!(hd.block_hash_display(), h["block_hash"].as_str().unwrap());
        assert_eq!(
            display_hex(&hd.prev_blockhash),
            h["prev_block"].as_str().unwrap()
        );
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&hd.merkle_root),
            h["merkle_root_internal"].as_str().unwrap()
        );
        assert_eq!(
            display_hex(&hd.merkle_root),
            h["merkle_root_display"].as_str().unwrap()
        );
        assert_eq!(u64::from(hd.time), h["time"].as_u64().unwrap());
        assert_eq!(format!("{:08x}", hd.bits), h["bits"].as_str().unwrap());
        assert_eq!(u64::from(hd.nonce), h["nonce"].as_u64().unwrap());
        assert_eq!(i64::from(hd.version), h["version"].as_i64().unwrap());
        let target = hd.check_pow(Network::Mainnet).unwrap();
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&target),
            h["target"].as_str().unwrap()
        );
    }
}

fn block_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fx("blocks"))
        .unwrap()
        .map(|e| format!("blocks/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn real_blocks_recompute_their_merkle_roots() {
    let files = block_files();
    assert_eq!(files.len(), 6);
    for rel in &files {
        let b = Block::parse(&read_hex(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        b.check_merkle_root()
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        // The block hash is in the file name.
        let name = rel.trim_end_matches(".hex");
        assert!(name.ends_with(&b.header.block_hash_display()), "{rel}");
        if rel.contains("regtest") {
            let e = b.header.check_pow(Network::Mainnet).unwrap_err();
            assert_eq!(e.code, "target_above_limit", "{rel}");
            assert_eq!(
                b.header.check_pow(Network::Testnet).unwrap_err().code,
                "target_above_limit"
            );
            assert_eq!(
                b.header.check_pow(Network::Signet).unwrap_err().code,
                "target_above_limit"
            );
            b.header.check_pow(Network::Regtest).unwrap();
        } else {
            b.header
                .check_pow(Network::Mainnet)
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
        }
    }
}

#[test]
fn block_702861_matches_the_manifest() {
    let m = manifest();
    let key = "mainnet-702861-000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae";
    let mb = &m["blocks"][key];
    let b = Block::parse(&read_hex(mb["file"].as_str().unwrap())).unwrap();
    assert_eq!(b.transactions.len() as u64, mb["ntx"].as_u64().unwrap());
    assert_eq!(
        b.transactions.iter().filter(|t| t.has_witness).count() as u64,
        mb["segwit_txs"].as_u64().unwrap()
    );
    assert_eq!(
        b.transactions[0].txid_display(),
        mb["coinbase_txid"].as_str().unwrap()
    );
    assert_eq!(b.bip34_height(), Some(702861));
    let mut ops = vec![];
    for (i, tx) in b.transactions.iter().enumerate() {
        for (vout, o) in tx.outputs.iter().enumerate() {
            if o.script_type() == bitcoin::ScriptType::OpReturn {
                ops.push(json!({
                    "tx_index": i, "txid": tx.txid_display(), "vout": vout,
                    "script_hex": kwh_btc_iot_core::encoding::hex::encode(&o.script_pubkey),
                    "payload_hex": o.op_return_data().map(|d| kwh_btc_iot_core::encoding::hex::encode(&d)),
                    "payload_len": o.op_return_data().map(|d| d.len()),
                }));
            }
        }
    }
    assert_eq!(J::Array(ops), mb["op_return_outputs"]);
    // The witness commitment in the coinbase: SHA-256d(witness root || reserved value).
    let mut wtxids: Vec<[u8; 32]> = b.transactions.iter().map(|t| t.wtxid).collect();
    wtxids[0] = [0; 32];
    let (wroot, _) = kwh_btc_iot_core::encoding::bitcoin::merkle_root(&wtxids).unwrap();
    let reserved: [u8; 32] = b.transactions[0].inputs[0].witness[0]
        .clone()
        .try_into()
        .unwrap();
    let commitment = bitcoin::sha256d_pair(&wroot, &reserved);
    assert_eq!(
        kwh_btc_iot_core::encoding::hex::encode(&commitment),
        mb["witness_commitment"].as_str().unwrap()
    );
}

#[test]
fn block_586_duplicates_its_odd_last_node_and_a_mutated_list_is_refused() {
    let rel =
        "blocks/mainnet-586-000000000d0d23516c5efd3af4eb951603bb30b2c93884b522a318b30e918ee7.hex";
    let mut b = Block::parse(&read_hex(rel)).unwrap();
    assert_eq!(b.transactions.len(), 3);
    b.check_merkle_root().unwrap();
    assert!(display_hex(&b.header.merkle_root).starts_with("197b3d96"));
    // CVE-2012-2459: appending a copy of the last transaction keeps the root.
    let last = b.transactions[2].clone();
    b.transactions.push(last);
    let (root, mutated) = kwh_btc_iot_core::encoding::bitcoin::merkle_root(&b.txids()).unwrap();
    assert_eq!(root, b.header.merkle_root);
    assert!(mutated);
    assert_eq!(
        b.check_merkle_root().unwrap_err().code,
        "mutated_merkle_tree"
    );
}

#[test]
fn real_merkleblocks_verify_and_round_trip() {
    let m = manifest();
    for (name, e) in m["merkleblocks"].as_object().unwrap() {
        let bytes = read_hex(e["file"].as_str().unwrap());
        let mb = MerkleBlock::parse(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(mb.to_bytes(), bytes, "{name}");
        assert_eq!(
            mb.header.block_hash_display(),
            e["block_hash"].as_str().unwrap()
        );
        assert_eq!(
            u64::from(mb.tree.total_transactions),
            e["ntx"].as_u64().unwrap()
        );
        assert_eq!(mb.tree.hashes.len() as u64, e["nhashes"].as_u64().unwrap());
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&mb.tree.flags),
            e["flags_hex"].as_str().unwrap()
        );
        mb.header.check_pow(Network::Mainnet).unwrap();
        let v = mb.verify().unwrap_or_else(|err| panic!("{name}: {err}"));
        let matched: Vec<J> = v
            .matches
            .iter()
            .map(|(i, t)| json!({"index": i, "txid": display_hex(t)}))
            .collect();
        assert_eq!(J::Array(matched), e["matched"], "{name}");
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&mb.header.merkle_root),
            e["merkle_root_internal"].as_str().unwrap()
        );
    }
}

#[test]
fn merkleblocks_rebuilt_from_the_real_blocks_are_byte_identical() {
    for (block, proof, index) in [
        ("blocks/mainnet-0000000000013b8ab2cd513b0261a14096412195a72a0c4827d229dcc7e0f7af.hex", "merkleblocks/merkleblock-0000000000013b8a-220ebc64.hex", 3),
        ("blocks/mainnet-80000-000000000043a8c0fd1d6f726790caa2a406010d19efd2780db27bdbbd93baf6.hex", "merkleblocks/merkleblock-80000-5a4ebf66.hex", 1),
        ("blocks/mainnet-702861-000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.hex", "merkleblocks/merkleblock-702861-8336c044.hex", 2078),
    ] {
        let b = Block::parse(&read_hex(block)).unwrap();
        let mut matches = vec![false; b.transactions.len()];
        matches[index] = true;
        let mb = MerkleBlock::new(b.header, &b.txids(), &matches);
        assert_eq!(mb.to_bytes(), read_hex(proof), "{proof}");
    }
}

#[test]
fn the_702861_merkleblock_proves_the_op_return_commitment() {
    let spv_b: J = serde_json::from_slice(&read("spv/spv-702861-tx2078-opreturn32.json")).unwrap();
    let tx = Transaction::from_hex(spv_b["tx_hex_with_witness"].as_str().unwrap()).unwrap();
    let mb = MerkleBlock::parse(&read_hex("merkleblocks/merkleblock-702861-8336c044.hex")).unwrap();
    let digest = h32(spv_b["op_return_payload_hex"].as_str().unwrap());
    let r =
        anchor::verify_bitcoin_proof(&tx, &mb, &digest, 702861, None, Network::Mainnet).unwrap();
    assert_eq!(r.status.as_str(), "verified");
    assert_eq!(
        r.txid.as_deref(),
        Some("8336c0446e37b7f292cdaec66bb580af3d7ce916f996e04f3ef5ca35453f4680")
    );
    assert_eq!(
        r.block_hash.as_deref(),
        Some("000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae")
    );
    assert_eq!(r.block_time, Some(1633002641));
    assert!(
        r.detail.contains("output 1") && r.detail.contains("index 2078 of 2500"),
        "{}",
        r.detail
    );
    // The same with the transaction serialized without witness.
    let tx2 = Transaction::from_hex(spv_b["tx_hex_no_witness"].as_str().unwrap()).unwrap();
    assert!(
        anchor::verify_bitcoin_proof(&tx2, &mb, &digest, 702861, None, Network::Mainnet).is_ok()
    );
    // The header the verifier trusts must be the proof's.
    let hd = mb.header;
    assert!(
        anchor::verify_bitcoin_proof(&tx, &mb, &digest, 702861, Some(&hd), Network::Mainnet)
            .is_ok()
    );
    let other = header(358391);
    assert_eq!(
        anchor::verify_bitcoin_proof(&tx, &mb, &digest, 702861, Some(&other), Network::Mainnet)
            .unwrap_err()
            .step
            .as_str(),
        "header"
    );
    // Another digest is not committed.
    let mut d2 = digest;
    d2[31] ^= 1;
    assert_eq!(
        anchor::verify_bitcoin_proof(&tx, &mb, &d2, 702861, None, Network::Mainnet)
            .unwrap_err()
            .step
            .as_str(),
        "tx_commitment"
    );
    // A merkleblock that proves another transaction.
    let mb80000 =
        MerkleBlock::parse(&read_hex("merkleblocks/merkleblock-80000-5a4ebf66.hex")).unwrap();
    assert_eq!(
        anchor::verify_bitcoin_proof(&tx, &mb80000, &digest, 702861, None, Network::Mainnet)
            .unwrap_err()
            .step
            .as_str(),
        "tx_inclusion"
    );
}

#[test]
fn spv_bundles_verify() {
    for rel in [
        "spv/spv-702861-tx2078-opreturn32.json",
        "spv/spv-358391-ots-hello-world.json",
        "spv/spv-428648-ots-calendar-opreturn.json",
    ] {
        let b: J = serde_json::from_slice(&read(rel)).unwrap();
        let hd = BlockHeader::from_hex(b["header_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            hd.block_hash_display(),
            b["block_hash_display"].as_str().unwrap(),
            "{rel}"
        );
        hd.check_pow(Network::Mainnet).unwrap();
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&hd.merkle_root),
            b["merkle_root_internal"].as_str().unwrap()
        );
        let tx_hex = b
            .get("tx_hex")
            .or(b.get("tx_hex_with_witness"))
            .unwrap()
            .as_str()
            .unwrap();
        let tx = Transaction::from_hex(tx_hex).unwrap();
        assert_eq!(
            tx.txid_display(),
            b["txid_display"].as_str().unwrap(),
            "{rel}"
        );
        assert_eq!(
            kwh_btc_iot_core::encoding::hex::encode(&tx.txid),
            b["txid_internal"].as_str().unwrap(),
            "{rel}"
        );
        let branch: Vec<[u8; 32]> = b["merkle_branch_internal"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h32(h.as_str().unwrap()))
            .collect();
        let index = b["tx_index"].as_u64().unwrap();
        assert_eq!(
            spv::branch_root(&tx.txid, index, &branch).unwrap(),
            hd.merkle_root,
            "{rel}"
        );
        if let Some(n) = b["ntx"].as_u64() {
            let root =
                spv::branch_root_with_count(&tx.txid, index as u32, n as u32, &branch).unwrap();
            assert_eq!(root, hd.merkle_root);
            // With another count the branch has the wrong height or shape.
            assert!(spv::branch_root_with_count(&tx.txid, index as u32, 5000, &branch).is_err());
        }
        // Tampered: any branch hash, the index, the txid.
        for k in 0..branch.len() {
            let mut bad = branch.clone();
            bad[k][7] ^= 0x40;
            assert_ne!(
                spv::branch_root(&tx.txid, index, &bad).unwrap(),
                hd.merkle_root
            );
        }
        assert_ne!(
            spv::branch_root(&tx.txid, index ^ 1, &branch).unwrap(),
            hd.merkle_root
        );
        let mut id = tx.txid;
        id[0] ^= 1;
        assert_ne!(
            spv::branch_root(&id, index, &branch).unwrap(),
            hd.merkle_root
        );
        assert!(spv::branch_root(&tx.txid, 1 << branch.len(), &branch).is_err());
        // The outputs as the bundle lists them.
        if let Some(outs) = b["outputs"].as_array() {
            for o in outs {
                let v = o["vout"].as_u64().unwrap() as usize;
                assert_eq!(
                    kwh_btc_iot_core::encoding::hex::encode(&tx.outputs[v].script_pubkey),
                    o["spk"].as_str().unwrap()
                );
                assert_eq!(tx.outputs[v].value, o["value"].as_u64().unwrap());
                assert_eq!(
                    tx.outputs[v]
                        .op_return_data()
                        .map(|d| kwh_btc_iot_core::encoding::hex::encode(&d)),
                    o["op_return_payload"].as_str().map(String::from)
                );
            }
        }
    }
    // The 702861 transaction: witness and non-witness forms share the txid.
    let b: J = serde_json::from_slice(&read("spv/spv-702861-tx2078-opreturn32.json")).unwrap();
    let w = Transaction::from_hex(b["tx_hex_with_witness"].as_str().unwrap()).unwrap();
    let n = Transaction::from_hex(b["tx_hex_no_witness"].as_str().unwrap()).unwrap();
    assert!(w.has_witness && !n.has_witness);
    assert_eq!(w.txid, n.txid);
    assert_eq!(display_hex(&w.wtxid), b["wtxid_display"].as_str().unwrap());
    assert_eq!((w.size, w.base_size, n.size), (234, 125, 125));
    assert_eq!(w.outputs[1].script_type(), bitcoin::ScriptType::OpReturn);
    assert_eq!(w.outputs[0].script_type(), bitcoin::ScriptType::P2wpkh);
    // Hello-world's commitment is a P2PKH hash, not an OP_RETURN: not a bitcoin anchor.
    let b: J = serde_json::from_slice(&read("spv/spv-358391-ots-hello-world.json")).unwrap();
    let tx = Transaction::from_hex(b["tx_hex"].as_str().unwrap()).unwrap();
    assert_eq!(tx.outputs[1].script_type(), bitcoin::ScriptType::P2pkh);
    assert_eq!(tx.outputs[1].op_return_data(), None);
}

// ---------------------------------------------------------------------------
// Tampered and malformed input: refused, never a panic

#[test]
fn every_header_byte_flip_breaks_the_verification() {
    let f = ots("ots/opentimestamps-client/hello-world.txt.ots");
    let good = header(358391).to_bytes();
    for i in 0..80 {
        for bit in [0x01u8, 0x80] {
            let mut b = good;
            b[i] ^= bit;
            let hd = BlockHeader::parse(&b).unwrap();
            let hs: BTreeMap<u64, BlockHeader> = [(358391, hd)].into();
            let e = anchor::verify_ots_proof(&f, &f.digest, &hs, Network::Mainnet).unwrap_err();
            assert!(
                ["header_pow", "merkle_root"].contains(&e.step.as_str()),
                "byte {i}: {e}"
            );
        }
    }
}

#[test]
fn every_byte_flip_of_a_proof_is_refused_or_no_longer_verifies() {
    for (rel, height) in [
        ("ots/opentimestamps-client/hello-world.txt.ots", 358391),
        ("ots/derived/incomplete.txt.ots", 428648),
    ] {
        let good = read(rel);
        let digest = DetachedTimestampFile::parse(&good).unwrap().digest;
        let hs = headers(&[height]);
        let mut flips_still_valid = 0;
        for i in 0..good.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut b = good.clone();
                b[i] ^= bit;
                let Ok(f) = DetachedTimestampFile::parse(&b) else {
                    continue;
                };
                assert_eq!(f.to_bytes().unwrap(), b, "{rel} byte {i}: round trip");
                match anchor::verify_ots_proof(&f, &digest, &hs, Network::Mainnet) {
                    Err(_) => {}
                    Ok(r) if r.status.as_str() == "verified" => {
                        // Still verified: only changes that keep what the proof
                        // says about Bitcoin may do that, e.g. in the pending
                        // attestation (its tag or URI), or append <-> prepend
                        // where the argument is the message itself (the
                        // duplicated last node of an odd merkle level).
                        let btc = |f: &DetachedTimestampFile| -> Vec<(Vec<u8>, Attestation)> {
                            f.replay()
                                .unwrap()
                                .into_iter()
                                .filter(|x| matches!(x.attestation, Attestation::Bitcoin { .. }))
                                .map(|x| (x.msg, x.attestation))
                                .collect()
                        };
                        let orig = DetachedTimestampFile::parse(&good).unwrap();
                        assert_eq!(
                            btc(&f),
                            btc(&orig),
                            "{rel}: flipping byte {i} (^{bit:02x}) still verifies: {}",
                            r.detail
                        );
                        assert_eq!(r.height, Some(height));
                        flips_still_valid += 1;
                    }
                    Ok(_) => {}
                }
            }
        }
        println!("{rel}: {flips_still_valid} flips keep the Bitcoin part of the proof intact");
    }
}

#[test]
fn truncated_proofs_blocks_and_merkleblocks_are_refused() {
    let good = read("ots/opentimestamps-client/hello-world.txt.ots");
    for n in 0..good.len() {
        let e = DetachedTimestampFile::parse(&good[..n]).unwrap_err();
        assert!(["truncated", "bad_magic"].contains(&e.code), "{n}: {e}");
    }
    let mut extra = good.clone();
    extra.push(0);
    assert_eq!(
        DetachedTimestampFile::parse(&extra).unwrap_err().code,
        "trailing_data"
    );

    let mb = read_hex("merkleblocks/merkleblock-0000000000013b8a-220ebc64.hex");
    for n in 0..mb.len() {
        assert!(MerkleBlock::parse(&mb[..n]).is_err(), "{n}");
    }
    let block = read_hex(
        "blocks/mainnet-0000000000013b8ab2cd513b0261a14096412195a72a0c4827d229dcc7e0f7af.hex",
    );
    for n in 0..block.len() {
        assert!(Block::parse(&block[..n]).is_err(), "{n}");
    }
    let b: J = serde_json::from_slice(&read("spv/spv-702861-tx2078-opreturn32.json")).unwrap();
    let tx = unhex(b["tx_hex_with_witness"].as_str().unwrap());
    for n in 0..tx.len() {
        assert!(Transaction::parse(&tx[..n]).is_err(), "{n}");
    }
    for n in [0, 79, 81] {
        assert_eq!(
            BlockHeader::parse(&vec![0; n]).unwrap_err().code,
            "bad_length"
        );
    }
}

#[test]
fn every_merkleblock_byte_flip_is_refused_or_proves_nothing_else() {
    let good = read_hex("merkleblocks/merkleblock-80000-5a4ebf66.hex");
    let mb = MerkleBlock::parse(&good).unwrap();
    let want = mb.verify().unwrap().matches;
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = good.clone();
            b[i] ^= bit;
            let Ok(m) = MerkleBlock::parse(&b) else {
                continue;
            };
            let ok = m.header.check_pow(Network::Mainnet).is_ok()
                && m.verify().is_ok_and(|v| v.matches == want);
            assert!(
                !ok,
                "flipping byte {i} (^{bit:02x}) still proves the transaction"
            );
        }
    }
}

#[test]
fn oversized_and_deeply_nested_proofs_are_refused() {
    let file = |body: &[u8]| {
        let mut b = ots::MAGIC.to_vec();
        b.push(1);
        b.push(0x08);
        b.extend_from_slice(&[0xab; 32]);
        b.extend_from_slice(body);
        b
    };
    let pending = |b: &mut Vec<u8>| {
        b.push(0x00);
        b.extend_from_slice(&ots::TAG_PENDING);
        b.extend_from_slice(&[2, 1, b'a']);
    };
    // Nested deeper than 256 levels: 300 sha256 ops in a row.
    let mut deep = vec![0x08; 300];
    pending(&mut deep);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&deep)).unwrap_err().code,
        "too_deep"
    );
    // 255 ops below the root is the deepest allowed.
    let mut ok = vec![0x08; 255];
    pending(&mut ok);
    let f = DetachedTimestampFile::parse(&file(&ok)).unwrap();
    assert_eq!(f.replay().unwrap()[0].depth, 255);
    let mut too = vec![0x08; 256];
    pending(&mut too);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&too)).unwrap_err().code,
        "too_deep"
    );
    // Deep nesting on a huge input never overflows the stack.
    let mut huge = vec![0x08; 1_000_000];
    pending(&mut huge);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&huge)).unwrap_err().code,
        "too_deep"
    );
    // An append argument over 4096 bytes.
    let mut big = vec![0xf0, 0x81, 0x20]; // varuint 4097
    big.extend_from_slice(&[0; 4097]);
    pending(&mut big);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&big)).unwrap_err().code,
        "too_long"
    );
    // An empty append argument.
    let mut empty = vec![0xf0, 0x00];
    pending(&mut empty);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&empty))
            .unwrap_err()
            .code,
        "empty_argument"
    );
    // Results over 4096 bytes: 32 + 4064 = 4096 is fine, one more byte is not.
    let mut edge = vec![0xf0, 0xe0, 0x1f];
    edge.extend_from_slice(&[1; 4064]);
    pending(&mut edge);
    assert!(DetachedTimestampFile::parse(&file(&edge)).is_ok());
    let mut over = vec![0xf0, 0xe1, 0x1f];
    over.extend_from_slice(&[1; 4065]);
    pending(&mut over);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&over)).unwrap_err().code,
        "invalid_message"
    );
    // Hexlify of more than 2048 bytes.
    let mut hx = vec![0xf0, 0xe1, 0x0f];
    hx.extend_from_slice(&[1; 2017]); // 32 + 2017 = 2049
    hx.push(0xf3);
    pending(&mut hx);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&hx)).unwrap_err().code,
        "invalid_message"
    );
    // An attestation payload over 8192 bytes, a URI over 1000 bytes, a bad URI character.
    let mut payload = vec![0x00];
    payload.extend_from_slice(&[9; 8]);
    payload.extend_from_slice(&[0x81, 0x40]); // 8193
    payload.extend_from_slice(&[0; 8193]);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&payload))
            .unwrap_err()
            .code,
        "too_long"
    );
    let mut uri = vec![0x00];
    uri.extend_from_slice(&ots::TAG_PENDING);
    uri.extend_from_slice(&[0xeb, 0x07, 0xe9, 0x07]); // 1003, 1001
    uri.extend_from_slice(&[b'a'; 1001]);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&uri)).unwrap_err().code,
        "too_long"
    );
    let mut badc = vec![0x00];
    badc.extend_from_slice(&ots::TAG_PENDING);
    badc.extend_from_slice(&[2, 1, b'?']);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&badc)).unwrap_err().code,
        "invalid_uri"
    );
    // A Bitcoin attestation with bytes after its height.
    let mut btc = vec![0x00];
    btc.extend_from_slice(&ots::TAG_BITCOIN);
    btc.extend_from_slice(&[2, 5, 0]);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&btc)).unwrap_err().code,
        "invalid_attestation"
    );
    // A non-minimal number.
    let mut nm = vec![0x00];
    nm.extend_from_slice(&ots::TAG_BITCOIN);
    nm.extend_from_slice(&[2, 0x85, 0x00]);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&nm)).unwrap_err().code,
        "bad_varuint"
    );
    // Too many nodes: 20001 attestations.
    let mut many = Vec::new();
    for _ in 0..20_001 {
        many.push(0xff);
        pending(&mut many);
    }
    pending(&mut many);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&many)).unwrap_err().code,
        "too_large"
    );
    // Too much hashing work: thousands of 4 KiB hashes.
    let mut work = Vec::new();
    let mut arg = vec![0xf0, 0xe0, 0x1f];
    arg.extend_from_slice(&[1; 4064]);
    for _ in 0..2100 {
        work.push(0xff);
        work.extend_from_slice(&arg);
        work.push(0x08);
        pending(&mut work);
    }
    pending(&mut work);
    assert_eq!(
        DetachedTimestampFile::parse(&file(&work)).unwrap_err().code,
        "too_large"
    );
    // A file over 2 MiB.
    assert_eq!(
        DetachedTimestampFile::parse(&vec![0; 3 << 20])
            .unwrap_err()
            .code,
        "too_large"
    );
}

#[test]
fn malformed_bitcoin_data_is_refused() {
    // Non-minimal compact size.
    let b: J = serde_json::from_slice(&read("spv/spv-702861-tx2078-opreturn32.json")).unwrap();
    let mut tx = unhex(b["tx_hex_no_witness"].as_str().unwrap());
    tx.splice(4..5, [0xfd, 0x01, 0x00]);
    assert_eq!(
        Transaction::parse(&tx).unwrap_err().code,
        "bad_compact_size"
    );
    // Witness flag with empty witnesses, unknown flag.
    let w = unhex(b["tx_hex_with_witness"].as_str().unwrap());
    let mut bad_flag = w.clone();
    bad_flag[5] = 0x02;
    assert_eq!(
        Transaction::parse(&bad_flag).unwrap_err().code,
        "bad_witness"
    );
    let nw = unhex(b["tx_hex_no_witness"].as_str().unwrap());
    let mut superfluous = nw[..4].to_vec();
    superfluous.extend_from_slice(&[0x00, 0x01]);
    superfluous.extend_from_slice(&nw[4..nw.len() - 4]);
    superfluous.push(0x00); // empty witness for the one input
    superfluous.extend_from_slice(&nw[nw.len() - 4..]);
    assert_eq!(
        Transaction::parse(&superfluous).unwrap_err().code,
        "bad_witness"
    );
    // Huge counts do not allocate.
    let mut huge = vec![1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x01];
    huge.extend_from_slice(&[0; 100]);
    assert!(Transaction::parse(&huge).is_err());
    let mut mbh = vec![0u8; 84];
    mbh.extend_from_slice(&[0xfe, 0x00, 0x00, 0x00, 0x02]);
    assert!(MerkleBlock::parse(&mbh).is_err());
    // Partial trees: padding bits, unused hashes, too many transactions.
    let good =
        MerkleBlock::parse(&read_hex("merkleblocks/merkleblock-80000-5a4ebf66.hex")).unwrap();
    let mut t = good.clone();
    t.tree.flags[0] |= 0x80;
    assert_eq!(t.verify().unwrap_err().code, "bad_partial_tree");
    let mut t = good.clone();
    t.tree.hashes.push([0; 32]);
    assert_eq!(t.verify().unwrap_err().code, "bad_partial_tree");
    let mut t = good.clone();
    t.tree.total_transactions = 1_000_000;
    assert_eq!(t.verify().unwrap_err().code, "bad_partial_tree");
    let mut t = good.clone();
    t.tree.total_transactions = 0;
    assert_eq!(t.verify().unwrap_err().code, "bad_partial_tree");
    let mut t = good.clone();
    t.tree.flags.push(0);
    assert_eq!(t.verify().unwrap_err().code, "bad_partial_tree");
    // A 64-byte transaction is refused as an anchor.
    let mut t64 = vec![1, 0, 0, 0, 1];
    t64.extend_from_slice(&[7; 36]);
    t64.push(0); // empty scriptSig
    t64.extend_from_slice(&[0xff; 4]);
    t64.push(1);
    t64.extend_from_slice(&[0; 8]);
    t64.extend_from_slice(&[4, 0x6a, 0x02, 0xab, 0xcd]);
    t64.extend_from_slice(&[0; 4]);
    assert_eq!(t64.len(), 64);
    let tx = Transaction::parse(&t64).unwrap();
    assert_eq!(
        spv::check_tx_not_64_bytes(&tx).unwrap_err().code,
        "ambiguous_64_byte_tx"
    );
}

// ---------------------------------------------------------------------------
// Anchors in receipts

const FOUNDING: &str = include_str!("../../tests/vectors/founding_example.json");

fn key() -> Keypair {
    Keypair::from_seed(&[7; 32])
}

/// Builds `n` consecutive batches of one log each; returns the receipts' JSON
/// values and the heads.
fn chain(n: u64) -> (Vec<J>, Vec<core::BatchHead>) {
    let mut prev = None;
    let mut receipts = vec![];
    let mut heads = vec![];
    for seq in 1..=n {
        let built = core::build_batch(
            &[FOUNDING.as_bytes()],
            BatchParams {
                gateway_id: "gw-PLANT01".into(),
                batch_id: format!("batch-{seq}"),
                seq,
                prev_head_hash: prev,
                created_at: Time::parse("2025-12-01T10:20:00Z").unwrap(),
            },
            Some(&key()),
        )
        .unwrap();
        prev = Some(built.batch.head_hash);
        receipts.push(serde_json::from_str(&built.receipts[0].to_json()).unwrap());
        heads.push(built.batch.head);
    }
    (receipts, heads)
}

// The fixtures: an `OP_RETURN` transaction, a regtest header, an
// OpenTimestamps proof shaped like the calendars' (nonce, commitment with a
// pending attestation, calendar transaction, block merkle path, Bitcoin
// attestation) and a bitcoin anchor.
use kwh_btc_iot_testkit::{op_return_tx, ots_proof, regtest_header, BitcoinAnchor};

fn with_anchors(receipt: &J, anchors: J) -> String {
    let mut r = receipt.clone();
    r["anchors"] = anchors;
    serde_json::to_string(&r).unwrap()
}

fn regtest() -> AnchorOptions {
    AnchorOptions::for_network(Network::Regtest)
}

fn verify(receipt: &str, opts: &AnchorOptions) -> core::Verification {
    core::verify_receipt(
        receipt.as_bytes(),
        &VerifyOptions {
            gateway_key: Some(key().public_key()),
            anchor: opts.clone(),
        },
    )
}

fn ots_anchor(ots: &[u8], headers: &[(u64, &BlockHeader)]) -> J {
    let hs: serde_json::Map<String, J> = headers
        .iter()
        .map(|(h, hd)| {
            (
                h.to_string(),
                J::String(kwh_btc_iot_core::encoding::hex::encode(&hd.to_bytes())),
            )
        })
        .collect();
    json!({"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(ots), "headers": hs})
}

#[test]
fn a_receipt_with_an_opentimestamps_anchor_verifies() {
    let (receipts, heads) = chain(1);
    let hh = heads[0].hash();
    let (proof, hd) = ots_proof(&hh.0, 150);
    let r = with_anchors(&receipts[0], json!([ots_anchor(&proof, &[(150, &hd)])]));
    let v = verify(&r, &regtest());
    assert!(v.valid, "{:?}", v.errors);
    let a = &v.anchors[0];
    assert_eq!(
        (a.anchor_type.as_str(), a.status.as_str()),
        ("opentimestamps", "verified"),
        "{}",
        a.detail
    );
    assert_eq!(a.height, Some(150));
    assert_eq!(
        a.block_hash.as_deref(),
        Some(hd.block_hash_display().as_str())
    );
    assert_eq!(a.block_time, Some(1_765_000_000));
    assert_eq!(a.anchored_head_hash.as_deref(), Some(hh.to_hex().as_str()));
    assert_eq!(a.network, Some("regtest"));
    assert!(a.not_checked.as_deref().unwrap().contains("best chain"));
    assert_eq!(
        a.calendars,
        vec!["https://alice.btc.calendar.opentimestamps.org"]
    );
    assert!(a.txid.is_some());
    // The JSON form carries the new members.
    let j: J = serde_json::from_str(&v.to_json()).unwrap();
    assert_eq!(j["anchors"][0]["height"], 150);
    assert_eq!(j["anchors"][0]["status"], "verified");
    // Base64 works as well as hex.
    let b64 = base64_encode(&proof);
    let r64 = with_anchors(
        &receipts[0],
        json!([{"type": "opentimestamps", "ots": b64, "headers": {"150": kwh_btc_iot_core::encoding::hex::encode(&hd.to_bytes())}}]),
    );
    assert_eq!(
        verify(&r64, &regtest()).anchors[0].status.as_str(),
        "verified"
    );
    // The .ots file is a proof for the file 0x02 || JCS(head).
    let f = DetachedTimestampFile::parse(&proof).unwrap();
    assert_eq!(
        Sha256::digest(kwh_btc_iot_core::build::anchor::head_preimage(&heads[0])).as_slice(),
        f.digest.as_slice()
    );

    // A mainnet verifier refuses the regtest header (plain verify_receipt is mainnet).
    let v = core::verify_receipt(r.as_bytes(), &VerifyOptions::default());
    assert!(!v.valid);
    assert_eq!(v.anchors[0].status.as_str(), "invalid");
    assert_eq!(
        v.anchors[0].failed_step.map(|f| f.as_str()),
        Some("header_pow")
    );
    assert_eq!(v.errors[0].code, "invalid_anchor");
    assert_eq!(
        v.errors[0].member.as_deref(),
        Some("anchors[0].headers.150")
    );
    assert!(
        v.errors[0].message.contains("proof-of-work limit"),
        "{}",
        v.errors[0].message
    );
    // Headers supplied by the verifier work too; they take precedence.
    let bare = with_anchors(
        &receipts[0],
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof)}]),
    );
    assert_eq!(
        verify(&bare, &regtest()).anchors[0].status.as_str(),
        "needs_header"
    );
    let mut opts = regtest();
    opts.headers.insert(150, hd);
    let v = verify(&bare, &opts);
    assert_eq!(v.anchors[0].status.as_str(), "verified");
    assert!(v.anchors[0].detail.contains("supplied by the verifier"));
    let mut wrong = regtest();
    wrong.headers.insert(150, regtest_header([9; 32]));
    let v = verify(&r, &wrong);
    assert_eq!(
        v.anchors[0].failed_step.map(|f| f.as_str()),
        Some("merkle_root")
    );
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn anchor_states_and_reasons() {
    let (receipts, heads) = chain(1);
    let hh = heads[0].hash();
    let (proof, hd) = ots_proof(&hh.0, 150);
    let hex_hd = kwh_btc_iot_core::encoding::hex::encode(&hd.to_bytes());
    let check = |anchors: J, status: &str, step: Option<&str>| {
        let r = with_anchors(&receipts[0], anchors.clone());
        let v = verify(&r, &regtest());
        assert_eq!(
            v.anchors[0].status.as_str(),
            status,
            "{anchors}: {}",
            v.anchors[0].detail
        );
        assert_eq!(
            v.anchors[0].failed_step.map(|f| f.as_str()),
            step,
            "{anchors}"
        );
        assert_eq!(v.valid, status != "invalid", "{anchors}: {:?}", v.errors);
        if status == "invalid" {
            assert!(v.errors.iter().all(|e| e.code == "invalid_anchor"));
            assert!(v
                .steps
                .iter()
                .any(|s| s.name == "anchors" && s.status == core::verify::StepStatus::Failed));
        }
        v
    };
    // A proof for another digest.
    let (other, ohd) = ots_proof(&[1; 32], 150);
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&other), "headers": {"150": kwh_btc_iot_core::encoding::hex::encode(&ohd.to_bytes())}}]),
        "invalid",
        Some("ots_digest"),
    );
    // Pending only: the file as the gateway first stores it.
    let mut pending = DetachedTimestampFile::parse(&proof).unwrap();
    let Item::Op(_, n1) = &mut pending.timestamp.items[0] else {
        panic!()
    };
    let Item::Op(_, commit) = &mut n1.items[0] else {
        panic!()
    };
    commit.items.truncate(1);
    let v = check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&pending.to_bytes().unwrap())}]),
        "pending",
        None,
    );
    assert_eq!(
        v.anchors[0].calendars,
        vec!["https://alice.btc.calendar.opentimestamps.org"]
    );
    // Malformed: not hex/base64, not an .ots, truncated, unknown member, headers not an object.
    check(
        json!([{"type": "opentimestamps", "ots": "!!"}]),
        "invalid",
        Some("ots_parse"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": "00ff"}]),
        "invalid",
        Some("ots_parse"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof[..proof.len() - 3])}]),
        "invalid",
        Some("ots_parse"),
    );
    check(
        json!([{"type": "opentimestamps"}]),
        "invalid",
        Some("format"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": 5}]),
        "invalid",
        Some("format"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "extra": 1}]),
        "invalid",
        Some("format"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "headers": []}]),
        "invalid",
        Some("format"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "headers": {"0150": hex_hd}}]),
        "invalid",
        Some("format"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "headers": {"150": "00"}}]),
        "invalid",
        Some("header"),
    );
    // The network member must be the verifier's.
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "network": "mainnet", "headers": {"150": hex_hd}}]),
        "invalid",
        Some("network"),
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "network": "regtest", "headers": {"150": hex_hd}}]),
        "verified",
        None,
    );
    check(
        json!([{"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&proof), "network": "moon"}]),
        "invalid",
        Some("format"),
    );
    // Unknown types and untyped anchors as before.
    check(
        json!([{"type": "future-chain", "proof": "00"}]),
        "unknown",
        None,
    );
    let v = verify(
        &with_anchors(&receipts[0], json!([{"proof": "00"}])),
        &regtest(),
    );
    assert_eq!(v.anchors[0].status.as_str(), "invalid");
    assert_eq!(v.errors[0].member.as_deref(), Some("anchors[0]"));
    // Several anchors: each reported; one invalid makes the receipt invalid.
    let r = with_anchors(
        &receipts[0],
        json!([ots_anchor(&proof, &[(150, &hd)]), {"type": "future-chain"}, {"type": "opentimestamps", "ots": "00"}]),
    );
    let v = verify(&r, &regtest());
    assert_eq!(
        v.anchors
            .iter()
            .map(|a| a.status.as_str())
            .collect::<Vec<_>>(),
        vec!["verified", "unknown", "invalid"]
    );
    assert_eq!(v.errors.len(), 1);
    assert_eq!(v.errors[0].member.as_deref(), Some("anchors[2].ots"));
    // At most 16 anchors per receipt.
    let many = |n: usize| J::Array((0..n).map(|_| json!({"type": "future-chain"})).collect());
    let v = verify(&with_anchors(&receipts[0], many(16)), &regtest());
    assert!(v.valid);
    let v = verify(&with_anchors(&receipts[0], many(40)), &regtest());
    assert!(!v.valid);
    assert_eq!(v.anchors.len(), 40);
    assert_eq!(v.errors.len(), 1);
    assert_eq!(v.errors[0].member.as_deref(), Some("anchors"));
    assert_eq!(v.anchors[16].status.as_str(), "invalid");
    // A malformed batch head: anchors are not checked.
    let mut bad = receipts[0].clone();
    bad["batch_head"]["seq"] = json!(0);
    bad["anchors"] = json!([ots_anchor(&proof, &[(150, &hd)])]);
    let v = verify(&serde_json::to_string(&bad).unwrap(), &regtest());
    assert_eq!(v.anchors[0].status.as_str(), "not_checked");
}

#[test]
fn a_receipt_with_a_bitcoin_anchor_verifies() {
    let (receipts, heads) = chain(1);
    let hh = heads[0].hash();
    let fixture = BitcoinAnchor::new(&hh.0, 5, 200);
    let (tx, txid, txids) = (&fixture.raw_tx, fixture.txid, &fixture.txids);
    let (hd, mb) = (fixture.header, &fixture.merkleblock);
    let anchor_v = fixture.to_value();
    let a: J = serde_json::from_str(&core::jcs::to_string(&anchor_v)).unwrap();
    let v = verify(&with_anchors(&receipts[0], json!([a.clone()])), &regtest());
    assert!(v.valid, "{:?}", v.errors);
    let r = &v.anchors[0];
    assert_eq!(
        (r.anchor_type.as_str(), r.status.as_str()),
        ("bitcoin", "verified"),
        "{}",
        r.detail
    );
    assert_eq!(r.height, Some(200));
    assert_eq!(r.txid.as_deref(), Some(display_hex(&txid).as_str()));
    assert!(r.detail.contains("index 2 of 5"), "{}", r.detail);
    // Mainnet refuses the regtest header.
    let v = core::verify_receipt(
        with_anchors(&receipts[0], json!([a.clone()])).as_bytes(),
        &VerifyOptions::default(),
    );
    assert_eq!(
        v.anchors[0].failed_step.map(|f| f.as_str()),
        Some("header_pow")
    );
    // The template's output is the commitment.
    let t = kwh_btc_iot_core::build::anchor::op_return_template(&hh);
    assert!(t
        .windows(34)
        .any(|w| w == kwh_btc_iot_core::build::anchor::op_return_script(&hh).as_slice()));

    let edit = |f: &dyn Fn(&mut J)| {
        let mut x = a.clone();
        f(&mut x);
        verify(&with_anchors(&receipts[0], json!([x])), &regtest())
    };
    let step = |v: core::Verification| v.anchors[0].failed_step.map(|f| f.as_str());
    // Another head hash.
    let other_tx = op_return_tx(&[0x99; 32]);
    assert_eq!(
        step(edit(
            &|x| x["raw_tx"] = json!(kwh_btc_iot_core::encoding::hex::encode(&other_tx))
        )),
        Some("tx_commitment")
    );
    // The tx is not in the proof.
    let mb2 = MerkleBlock::new(hd, txids, &[false, true, false, false, false]);
    assert_eq!(
        step(edit(&|x| x["merkle_proof"] = json!(
            kwh_btc_iot_core::encoding::hex::encode(&mb2.to_bytes())
        ))),
        Some("tx_inclusion")
    );
    // A header that is not the proof's; a bad header; a missing height.
    let hd2 = regtest_header([5; 32]);
    assert_eq!(
        step(edit(&|x| x["header"] = json!(
            kwh_btc_iot_core::encoding::hex::encode(&hd2.to_bytes())
        ))),
        Some("header")
    );
    assert_eq!(step(edit(&|x| x["header"] = json!("zz"))), Some("header"));
    assert_eq!(
        step(edit(&|x| {
            x.as_object_mut().unwrap().remove("height");
        })),
        Some("format")
    );
    assert_eq!(step(edit(&|x| x["height"] = json!(-1))), Some("format"));
    // Without the header member, the merkleblock's header is used.
    let v = edit(&|x| {
        x.as_object_mut().unwrap().remove("header");
    });
    assert_eq!(v.anchors[0].status.as_str(), "verified");
    // Tampered raw tx, merkle proof, branch hash.
    assert_eq!(
        step(edit(&|x| x["raw_tx"] = json!(
            kwh_btc_iot_core::encoding::hex::encode(&tx[..tx.len() - 1])
        ))),
        Some("raw_tx")
    );
    let mut bad_mb = mb.to_bytes();
    bad_mb[90] ^= 1; // a hash in the partial tree
    assert_eq!(
        step(edit(
            &|x| x["merkle_proof"] = json!(kwh_btc_iot_core::encoding::hex::encode(&bad_mb))
        )),
        Some("merkle_proof")
    );
    let mut bad_hdr = mb.to_bytes();
    bad_hdr[40] ^= 1; // the merkle root in the header (same change in both places)
    let hdr2 = BlockHeader::parse(&bad_hdr[..80]).unwrap();
    let r = edit(&|x| {
        x["merkle_proof"] = json!(kwh_btc_iot_core::encoding::hex::encode(&bad_hdr));
        x["header"] = json!(kwh_btc_iot_core::encoding::hex::encode(&hdr2.to_bytes()));
    });
    assert!(matches!(step(r), Some("header_pow") | Some("merkle_proof")));
    // The trusted header of the verifier must be the proof's.
    let mut opts = regtest();
    opts.headers.insert(200, hd2);
    let v = verify(&with_anchors(&receipts[0], json!([a.clone()])), &opts);
    assert_eq!(v.anchors[0].failed_step.map(|f| f.as_str()), Some("header"));
}

#[test]
fn a_receipt_anchored_through_a_later_head_verifies_link_by_link() {
    let (receipts, heads) = chain(4);
    let last = heads[3].hash();
    let (proof, hd) = ots_proof(&last.0, 300);
    let hv = |h: &core::BatchHead| -> J {
        serde_json::from_str(&core::jcs::to_string(&h.to_value())).unwrap()
    };
    let anchor_with = |hs: Vec<J>| {
        let mut a = ots_anchor(&proof, &[(300, &hd)]);
        a["heads"] = J::Array(hs);
        a
    };
    // The receipt of batch 1, through heads 2, 3, 4.
    let r = with_anchors(
        &receipts[0],
        json!([anchor_with(vec![
            hv(&heads[1]),
            hv(&heads[2]),
            hv(&heads[3])
        ])]),
    );
    let v = verify(&r, &regtest());
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.anchors[0].status.as_str(), "verified");
    assert_eq!(
        v.anchors[0].anchored_head_hash.as_deref(),
        Some(last.to_hex().as_str())
    );
    assert!(
        v.anchors[0].detail.contains("through 3 later head(s)"),
        "{}",
        v.anchors[0].detail
    );
    // The receipt of batch 3 through head 4 only.
    let r = with_anchors(&receipts[2], json!([anchor_with(vec![hv(&heads[3])])]));
    assert!(verify(&r, &regtest()).valid);
    // The same proof as a bitcoin anchor chain works the same way (see the OTS case);
    // broken chains fail at head_chain with the member at fault.
    let cases: Vec<(Vec<J>, &str)> = vec![
        (
            vec![hv(&heads[2]), hv(&heads[1]), hv(&heads[3])],
            "anchors[0].heads[0].prev_head_hash",
        ),
        (
            vec![hv(&heads[1]), hv(&heads[3])],
            "anchors[0].heads[1].prev_head_hash",
        ),
        (vec![hv(&heads[1]), hv(&heads[2])], "anchors[0].ots"),
        (
            vec![json!({"head_version": "embatch-1"})],
            "anchors[0].heads[0].gateway_id",
        ),
        (vec![json!(5)], "anchors[0].heads[0]"),
    ];
    for (hs, member) in cases {
        let r = with_anchors(&receipts[0], json!([anchor_with(hs)]));
        let v = verify(&r, &regtest());
        assert!(!v.valid);
        let m = v.errors[0].member.clone().unwrap();
        assert!(
            !v.errors[0].message.contains(&format!("{m}: {m}")),
            "{}",
            v.errors[0].message
        );
        assert_eq!(
            v.errors[0].member.as_deref(),
            Some(member),
            "{:?}",
            v.errors
        );
    }
    // Another gateway's head with a matching prev hash still breaks the chain.
    let mut forged = heads[1].clone();
    forged.gateway_id = "gw-OTHER".into();
    let r = with_anchors(&receipts[0], json!([anchor_with(vec![hv(&forged)])]));
    let v = verify(&r, &regtest());
    assert_eq!(
        v.anchors[0].failed_step.map(|f| f.as_str()),
        Some("head_chain")
    );
    // A head whose seq skips.
    let mut skip = heads[1].clone();
    skip.seq = 5;
    let r = with_anchors(&receipts[0], json!([anchor_with(vec![hv(&skip)])]));
    assert_eq!(
        verify(&r, &regtest()).errors[0].member.as_deref(),
        Some("anchors[0].heads[0].seq")
    );
    // Not an array.
    let mut a = ots_anchor(&proof, &[(300, &hd)]);
    a["heads"] = json!({});
    assert_eq!(
        verify(&with_anchors(&receipts[0], json!([a])), &regtest()).anchors[0]
            .failed_step
            .map(|f| f.as_str()),
        Some("format")
    );
}

#[test]
fn receipt_vectors_keep_their_results() {
    // The conformance receipts carry no opentimestamps/bitcoin anchors; their
    // verdicts are unchanged by anchor verification.
    let v: J = serde_json::from_str(include_str!("../../tests/vectors/receipts.json")).unwrap();
    for c in v["cases"].as_array().unwrap() {
        let opts = VerifyOptions {
            gateway_key: c["gateway_key"]
                .as_str()
                .map(|k| core::model::head::public_key_from_hex(k, "k").unwrap()),
            ..Default::default()
        };
        let got = core::verify_receipt(c["receipt"].as_str().unwrap().as_bytes(), &opts);
        assert_eq!(J::Bool(got.valid), c["want_valid"], "{}", c["desc"]);
        let codes: Vec<J> = got
            .errors
            .iter()
            .map(|e| J::String(e.code.into()))
            .collect();
        assert_eq!(J::Array(codes), c["want_errors"], "{}", c["desc"]);
    }
}

// ---------------------------------------------------------------------------
// Building and merging proofs, as the gateway does

#[test]
fn merging_calendar_answers_and_writing_round_trip() {
    let digest = [0x77u8; 32];
    let nonce = vec![0x01; 16];
    let commitment = Sha256::digest([&digest[..], &nonce].concat()).to_vec();
    // Stamp: digest -> append nonce -> sha256 = commitment, pending at two calendars.
    let answer = |uri: &str| {
        let mut t = TimestampTree::default();
        t.push_op(
            Op::Prepend(vec![0xaa; 4]),
            TimestampTree::with_attestation(Attestation::Pending { uri: uri.into() }),
        );
        t
    };
    let mut at_commit = answer("https://alice.btc.calendar.opentimestamps.org");
    at_commit
        .merge(answer("https://bob.btc.calendar.opentimestamps.org"))
        .unwrap();
    // The same prepend op: the two pending attestations share one subtree.
    assert_eq!(at_commit.items.len(), 1);
    assert_eq!(at_commit.attestations().len(), 2);
    let mut n = TimestampTree::default();
    n.push_op(Op::Sha256, at_commit);
    let mut top = TimestampTree::default();
    top.push_op(Op::Append(nonce.clone()), n);
    let mut f = DetachedTimestampFile::new(Op::Sha256, digest.to_vec(), top).unwrap();
    let bytes = f.to_bytes().unwrap();
    assert_eq!(DetachedTimestampFile::parse(&bytes).unwrap(), f);
    let reached = f.replay().unwrap();
    assert_eq!(reached.len(), 2);
    let pending_msg = reached[0].msg.clone();
    assert_eq!(pending_msg, [vec![0xaa; 4], commitment.clone()].concat());
    // The calendar's upgrade for the pending message.
    let mut up = TimestampTree::default();
    up.push_op(
        Op::Sha256,
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 5 }),
    );
    let digest_v = f.digest.clone();
    assert_eq!(
        f.timestamp
            .merge_at_message(&digest_v, &pending_msg, &up)
            .unwrap(),
        1
    );
    let reached = f.replay().unwrap();
    assert!(reached
        .iter()
        .any(|r| r.attestation == Attestation::Bitcoin { height: 5 }
            && r.msg == Sha256::digest(&pending_msg).to_vec()));
    let bytes = f.to_bytes().unwrap();
    assert_eq!(
        DetachedTimestampFile::parse(&bytes)
            .unwrap()
            .to_bytes()
            .unwrap(),
        bytes
    );
    // Writing refuses what the format cannot hold.
    assert_eq!(
        TimestampTree::default().to_bytes().unwrap_err().code,
        "empty_timestamp"
    );
    assert_eq!(
        DetachedTimestampFile::new(Op::Sha256, vec![0; 20], TimestampTree::default())
            .unwrap_err()
            .code,
        "digest_length"
    );
    assert_eq!(
        DetachedTimestampFile::new(Op::Keccak256, vec![0; 32], TimestampTree::default())
            .unwrap_err()
            .code,
        "unknown_file_hash_op"
    );
    let mut t = TimestampTree::default();
    t.push_op(
        Op::Append(vec![]),
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 1 }),
    );
    assert_eq!(t.to_bytes().unwrap_err().code, "too_long");
    // Every op kind survives a round trip and replays as the reference would.
    let mut t = TimestampTree::with_attestation(Attestation::Litecoin { height: 9 });
    for op in [
        Op::Keccak256,
        Op::Ripemd160,
        Op::Sha1,
        Op::Hexlify,
        Op::Reverse,
        Op::Prepend(vec![1]),
        Op::Append(vec![2]),
    ] {
        let mut p = TimestampTree::default();
        p.push_op(op, t);
        t = p;
    }
    t.push_attestation(Attestation::Unknown {
        tag: [1, 2, 3, 4, 5, 6, 7, 8],
        payload: b"xx".to_vec(),
    });
    t.push_attestation(Attestation::Ethereum { height: 7 });
    let b = t.to_bytes().unwrap();
    let back = TimestampTree::parse(&b, b"abc").unwrap();
    assert_eq!(back, t);
    assert_eq!(back.to_bytes().unwrap(), b);
    let reached = back.replay(b"abc").unwrap();
    assert_eq!(reached.len(), 3);
    let mut m = b"abc".to_vec();
    m.push(2);
    m.insert(0, 1);
    m.reverse();
    let m = kwh_btc_iot_core::encoding::hex::encode(&m).into_bytes();
    let m = sha1::Sha1::digest(&m).to_vec();
    let m = ripemd::Ripemd160::digest(&m).to_vec();
    let m = sha3::Keccak256::digest(&m).to_vec();
    let lit = reached
        .iter()
        .find(|r| r.attestation == Attestation::Litecoin { height: 9 })
        .unwrap();
    assert_eq!(lit.msg, m);
}

// ---------------------------------------------------------------------------
// Properties: arbitrary bytes never panic; whatever parses writes back the same bytes

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn ots_parser_never_panics_and_round_trips(body in prop::collection::vec(any::<u8>(), 0..400), digest in prop::collection::vec(any::<u8>(), 0..40)) {
        let mut file = ots::MAGIC.to_vec();
        file.extend_from_slice(&body);
        if let Ok(f) = DetachedTimestampFile::parse(&file) {
            prop_assert_eq!(f.to_bytes().unwrap(), file.clone());
            let _ = f.replay();
        }
        if let Ok(t) = TimestampTree::parse(&body, &digest) {
            prop_assert_eq!(t.to_bytes().unwrap(), body.clone());
            let _ = t.replay(&digest);
        }
        let _ = DetachedTimestampFile::parse(&body);
    }

    #[test]
    fn mutated_real_proofs_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut b = read("ots/derived/incomplete.txt.ots");
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] = x;
        }
        let n = cut.index(b.len() + 1);
        b.truncate(n.max(b.len() - 8));
        if let Ok(f) = DetachedTimestampFile::parse(&b) {
            prop_assert_eq!(f.to_bytes().unwrap(), b.clone());
            let _ = anchor::verify_ots_proof(&f, &f.digest.clone(), &headers(&[428648]), Network::Mainnet);
        }
    }

    #[test]
    fn bitcoin_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Transaction::parse(&bytes);
        let _ = Block::parse(&bytes);
        if let Ok(mb) = MerkleBlock::parse(&bytes) {
            prop_assert_eq!(mb.to_bytes(), bytes.clone());
            let _ = mb.verify();
        }
        if let Ok(h) = BlockHeader::parse(&bytes) {
            prop_assert_eq!(h.to_bytes().to_vec(), bytes.clone());
            let _ = h.check_pow(Network::Mainnet);
        }
    }

    #[test]
    fn partial_trees_from_any_match_set_verify(n in 1usize..70, picks in prop::collection::vec(any::<prop::sample::Index>(), 0..5)) {
        let txids: Vec<[u8; 32]> = (0..n).map(|i| sha256d(&(i as u64).to_le_bytes())).collect();
        let mut m = vec![false; n];
        for p in &picks { m[p.index(n)] = true; }
        let t = PartialMerkleTree::from_txids(&txids, &m);
        let (root, matches) = t.extract_matches().unwrap();
        prop_assert_eq!(root, kwh_btc_iot_core::encoding::bitcoin::merkle_root(&txids).unwrap().0);
        let want: Vec<(u32, [u8; 32])> = (0..n).filter(|i| m[*i]).map(|i| (i as u32, txids[i])).collect();
        prop_assert_eq!(matches, want);
    }

    #[test]
    fn receipts_with_arbitrary_anchors_never_panic(anchor_json in "\\PC{0,80}", ots_bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let (receipts, _) = chain_cached();
        let mut r = receipts[0].clone();
        let a: J = serde_json::from_str(&anchor_json).unwrap_or(J::Null);
        r["anchors"] = json!([a, {"type": "opentimestamps", "ots": kwh_btc_iot_core::encoding::hex::encode(&ots_bytes)}, {"type": "bitcoin", "raw_tx": kwh_btc_iot_core::encoding::hex::encode(&ots_bytes), "merkle_proof": kwh_btc_iot_core::encoding::hex::encode(&ots_bytes), "height": 1}]);
        let text = serde_json::to_string(&r).unwrap();
        let v = core::verify_receipt(text.as_bytes(), &VerifyOptions::default());
        prop_assert!(!v.valid);
        prop_assert_eq!(v.anchors.len(), 3);
        let _ = core::verify_receipt(text.as_bytes(), &VerifyOptions { anchor: regtest(), ..VerifyOptions::default() });
    }
}

fn chain_cached() -> (Vec<J>, Vec<core::BatchHead>) {
    use std::sync::OnceLock;
    static C: OnceLock<(Vec<J>, Vec<core::BatchHead>)> = OnceLock::new();
    C.get_or_init(|| chain(1)).clone()
}

// ---------------------------------------------------------------------------
// Timing (not an assertion): cargo test --release -p kwh-btc-iot-core --test anchoring -- --ignored --nocapture bench

/// CPU time of this thread in seconds (Linux; clock ticks of /proc), so that
/// timings on a busy machine count the work and not the waiting.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Best wall time per call over 5 runs, and CPU time per call over runs of
/// about a second each.
fn time_it<T>(name: &str, iters: u32, mut f: impl FnMut() -> T) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for _ in 0..iters {
            std::hint::black_box(f());
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(iters));
    }
    let cpu = thread_cpu_seconds().map(|c0| {
        let t = std::time::Instant::now();
        let mut n = 0u64;
        while t.elapsed().as_secs_f64() < 2.0 {
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            n += u64::from(iters);
        }
        (thread_cpu_seconds().unwrap_or(c0) - c0) * 1e6 / n as f64
    });
    match cpu {
        Some(c) => println!("{name:<74} {best:>9.2} µs wall (best) {c:>9.2} µs CPU"),
        None => println!("{name:<74} {best:>9.2} µs wall (best)"),
    }
    cpu.unwrap_or(best).min(best)
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture in release"]
fn bench_anchor_verification() {
    let (receipts, heads) = chain(1);
    let hh: Hash = heads[0].hash();
    let (proof, hd) = ots_proof(&hh.0, 150);
    let plain = serde_json::to_string(&receipts[0]).unwrap();
    // For the Python and WASM timings (tests/vectors/anchoring/interop/bench_python.py).
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/anchoring");
    std::fs::create_dir_all(&out).unwrap();
    let with_ots = with_anchors(&receipts[0], json!([ots_anchor(&proof, &[(150, &hd)])]));
    std::fs::write(out.join("receipt-ots-regtest.json"), &with_ots).unwrap();
    let opts = VerifyOptions::default();
    let ropts = regtest();
    assert_eq!(
        core::verify_receipt(
            with_ots.as_bytes(),
            &VerifyOptions {
                anchor: ropts.clone(),
                ..opts.clone()
            }
        )
        .anchors[0]
            .status
            .as_str(),
        "verified"
    );
    println!(
        "receipt bytes: plain {}, with OTS anchor + header {}; .ots {} bytes",
        plain.len(),
        with_ots.len(),
        proof.len()
    );
    let base = time_it("verify_receipt, signed, no anchor", 5000, || {
        core::verify_receipt(plain.as_bytes(), &opts)
    });
    let full = time_it(
        "anchor::verify_receipt, signed, OTS anchor + header (regtest)",
        5000,
        || {
            core::verify_receipt(
                with_ots.as_bytes(),
                &VerifyOptions {
                    anchor: ropts.clone(),
                    ..opts.clone()
                },
            )
        },
    );
    let value: J = serde_json::from_str(&with_ots).unwrap();
    let anchors_text = serde_json::to_string(&value["anchors"]).unwrap();
    let anchors_only = time_it(
        "parse anchors JSON + check_anchors (OTS + header)",
        5000,
        || {
            let v = core::json::parse(anchors_text.as_bytes()).unwrap();
            let core::json::Value::Array(a) = v else {
                unreachable!()
            };
            anchor::check_anchors(&a, Some(&heads[0]), &ropts)
        },
    );
    println!(
        "{:<74} {:>9.2} µs",
        "=> one pass: receipt without anchor + the anchor part",
        base + anchors_only
    );
    // The default (mainnet) path on the same receipt: one pass doing all the
    // anchor work (parse, replay, proof of work) before refusing the regtest header.
    time_it(
        "verify_receipt (mainnet), same receipt: one pass, refused at header_pow",
        5000,
        || core::verify_receipt(with_ots.as_bytes(), &opts),
    );
    let _ = full;
    let unsigned = {
        let mut r = receipts[0].clone();
        r["head_signature"] = J::Null;
        serde_json::to_string(&r).unwrap()
    };
    time_it(
        "verify_receipt, unsigned, no anchor (no Ed25519)",
        5000,
        || core::verify_receipt(unsigned.as_bytes(), &opts),
    );
    // Where the anchor part goes.
    let ots_hex = kwh_btc_iot_core::encoding::hex::encode(&proof);
    let hdr_hex = kwh_btc_iot_core::encoding::hex::encode(&hd.to_bytes());
    time_it(
        "  anchor part: JSON parse of the anchors member",
        20000,
        || core::json::parse(anchors_text.as_bytes()).unwrap(),
    );
    time_it(
        "  anchor part: hex decode of .ots and header",
        20000,
        || {
            (
                kwh_btc_iot_core::encoding::base64::decode_hex_or_base64(&ots_hex).unwrap(),
                BlockHeader::from_hex(&hdr_hex).unwrap(),
            )
        },
    );
    time_it("  anchor part: .ots parse", 20000, || {
        DetachedTimestampFile::parse(&proof).unwrap()
    });
    let pf = DetachedTimestampFile::parse(&proof).unwrap();
    time_it(
        "  anchor part: .ots replay (7 ops, tx detection)",
        20000,
        || pf.replay().unwrap(),
    );
    time_it("  anchor part: header proof of work", 20000, || {
        hd.check_pow(Network::Regtest).unwrap()
    });
    time_it("  anchor part: head hash (JCS + SHA-256)", 20000, || {
        heads[0].hash()
    });
    let hw = read("ots/opentimestamps-client/hello-world.txt.ots");
    let hs = headers(&[358391]);
    time_it("hello-world.txt.ots: parse", 20000, || {
        DetachedTimestampFile::parse(&hw).unwrap()
    });
    time_it(
        "hello-world.txt.ots: parse + replay + verify against the 358391 header",
        20000,
        || {
            let f = DetachedTimestampFile::parse(&hw).unwrap();
            anchor::verify_ots_proof(&f, &f.digest, &hs, Network::Mainnet).unwrap()
        },
    );
    let d = read("ots/derived/incomplete.txt.ots");
    let hs2 = headers(&[428648]);
    time_it(
        "derived incomplete.txt.ots: parse + replay + verify (428648)",
        20000,
        || {
            let f = DetachedTimestampFile::parse(&d).unwrap();
            anchor::verify_ots_proof(&f, &f.digest, &hs2, Network::Mainnet).unwrap()
        },
    );
    let mbb = read_hex("merkleblocks/merkleblock-702861-8336c044.hex");
    let b: J = serde_json::from_slice(&read("spv/spv-702861-tx2078-opreturn32.json")).unwrap();
    let txb = unhex(b["tx_hex_with_witness"].as_str().unwrap());
    let digest = h32(b["op_return_payload_hex"].as_str().unwrap());
    time_it(
        "merkleblock 702861 (2500 txs) + segwit tx: parse + verify_bitcoin_proof",
        20000,
        || {
            let mb = MerkleBlock::parse(&mbb).unwrap();
            let tx = Transaction::parse(&txb).unwrap();
            anchor::verify_bitcoin_proof(&tx, &mb, &digest, 702861, None, Network::Mainnet).unwrap()
        },
    );
    let block = read_hex("blocks/mainnet-702861-000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.hex");
    time_it(
        "block 702861 (1.38 MB, 2500 txs): parse + merkle root",
        2,
        || Block::parse(&block).unwrap().check_merkle_root().unwrap(),
    );
}

// ---------------------------------------------------------------------------
// Interop with python-opentimestamps (PyPI) and javascript-opentimestamps
// (npm): scripts/test-anchoring.sh runs tests/vectors/anchoring/interop/
// interop.py and interop.js `gen`, then this test, then their `check`.

fn interop_entries(reached: &[ots::Reached]) -> Vec<String> {
    let mut v: Vec<String> = reached
        .iter()
        .map(|r| {
            let a = match &r.attestation {
                Attestation::Pending { uri } => format!("pending {uri}"),
                Attestation::Bitcoin { height } => format!("bitcoin {height}"),
                Attestation::Litecoin { height } => format!("litecoin {height}"),
                Attestation::Ethereum { height } => format!("ethereum {height}"),
                Attestation::Unknown { tag, payload } => {
                    format!(
                        "unknown {} {}",
                        kwh_btc_iot_core::encoding::hex::encode(tag),
                        kwh_btc_iot_core::encoding::hex::encode(payload)
                    )
                }
            };
            format!("{a} {}", kwh_btc_iot_core::encoding::hex::encode(&r.msg))
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs OTS_INTEROP_DIR with files from interop.py/interop.js gen; run by scripts/test-anchoring.sh"]
fn interop_with_the_reference_implementations() {
    let dir = PathBuf::from(std::env::var("OTS_INTEROP_DIR").expect("set OTS_INTEROP_DIR"));
    // Theirs, read and written back by ours.
    let (mut py, mut js) = (0, 0);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let theirs = name.starts_with("py-") || name.starts_with("js-");
        if !theirs || !name.ends_with(".ots") {
            continue;
        }
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let f = DetachedTimestampFile::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.to_bytes().unwrap(), bytes, "{name}: write(parse(x)) != x");
        if name.starts_with("py-") {
            // python-opentimestamps writes the canonical form.
            let mut c = f.clone();
            c.canonicalize();
            assert_eq!(c.to_bytes().unwrap(), bytes, "{name}: not canonical");
            py += 1;
        } else {
            js += 1;
        }
        let want: Vec<String> = serde_json::from_slice(
            &std::fs::read(dir.join(name.replace(".ots", ".json"))).unwrap(),
        )
        .unwrap();
        let mut want = want;
        want.sort();
        assert_eq!(interop_entries(&f.replay().unwrap()), want, "{name}");
    }
    assert!(
        py >= 7 && js >= 2,
        "python files {py}, javascript files {js}"
    );

    // Ours, for theirs to read.
    let write = |name: &str, mut f: DetachedTimestampFile| {
        f.canonicalize();
        let b = f.to_bytes().unwrap();
        assert_eq!(
            DetachedTimestampFile::parse(&b)
                .unwrap()
                .to_bytes()
                .unwrap(),
            b
        );
        std::fs::write(dir.join(format!("{name}.ots")), &b).unwrap();
        let e = serde_json::to_string(&interop_entries(&f.replay().unwrap())).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), e).unwrap();
    };
    // 1. The anchor a gateway puts in a receipt (calendar-shaped, pending + Bitcoin).
    let (_, heads) = chain(1);
    let (proof, _) = ots_proof(&heads[0].hash().0, 150);
    write("rs-anchor", DetachedTimestampFile::parse(&proof).unwrap());
    // 2. A pending proof upgraded with the calendar's real answer.
    let answer: J =
        serde_json::from_slice(&read("ots/derived/incomplete.txt.calendar-answer.json")).unwrap();
    let commitment = unhex(answer["commitment_hex"].as_str().unwrap());
    let upgrade = TimestampTree::parse(
        &unhex(answer["answer_timestamp_hex"].as_str().unwrap()),
        &commitment,
    )
    .unwrap();
    let mut f = ots("ots/opentimestamps-client/incomplete.txt.ots");
    let d = f.digest.clone();
    f.timestamp
        .merge_at_message(&d, &commitment, &upgrade)
        .unwrap();
    write("rs-upgraded", f);
    // 3. Built here: several calendars merged, attestations added out of order.
    let digest = Sha256::digest(b"kwh-btc-iot rust head").to_vec();
    let mut commit_node = TimestampTree::default();
    for (i, uri) in [
        "https://finney.calendar.eternitywall.com",
        "https://alice.btc.calendar.opentimestamps.org",
        "https://bob.btc.calendar.opentimestamps.org",
    ]
    .iter()
    .enumerate()
    {
        let mut t = TimestampTree::default();
        let mut leaf = TimestampTree::default();
        leaf.push_op(
            Op::Sha256,
            TimestampTree::with_attestation(Attestation::Pending {
                uri: uri.to_string(),
            }),
        );
        t.push_op(Op::Append(vec![0x5f, 0, 0, i as u8]), leaf);
        commit_node.merge(t).unwrap();
    }
    commit_node.push_attestation(Attestation::Bitcoin { height: 800_000 });
    commit_node.push_attestation(Attestation::Litecoin { height: 7 });
    let mut n = TimestampTree::default();
    n.push_op(Op::Sha256, commit_node);
    let mut top = TimestampTree::default();
    top.push_op(Op::Prepend(vec![0xee; 16]), n);
    write(
        "rs-calendars",
        DetachedTimestampFile::new(Op::Sha256, digest, top).unwrap(),
    );
    // 4. SHA-1 and RIPEMD-160 file digests, unknown attestation.
    let mut t = TimestampTree::with_attestation(Attestation::Unknown {
        tag: [9, 8, 7, 6, 5, 4, 3, 2],
        payload: b"future".to_vec(),
    });
    t.push_attestation(Attestation::Pending {
        uri: "https://a.example".into(),
    });
    let mut top = TimestampTree::default();
    top.push_op(Op::Ripemd160, t);
    write(
        "rs-sha1",
        DetachedTimestampFile::new(Op::Sha1, Sha256::digest(b"x")[..20].to_vec(), top.clone())
            .unwrap(),
    );
    write(
        "rs-ripemd160",
        DetachedTimestampFile::new(Op::Ripemd160, Sha256::digest(b"y")[..20].to_vec(), top)
            .unwrap(),
    );
    // 5. Every op, keccak256 and hexlify included (python only: the npm
    //    package has no keccak256 and a broken hexlify).
    let mut t = TimestampTree::with_attestation(Attestation::Bitcoin { height: 1 });
    for op in [
        Op::Keccak256,
        Op::Ripemd160,
        Op::Sha1,
        Op::Hexlify,
        Op::Reverse,
        Op::Prepend(vec![1]),
        Op::Append(vec![2]),
        Op::Sha256,
    ] {
        let mut p = TimestampTree::default();
        p.push_op(op, t);
        t = p;
    }
    write(
        "rs-pyonly-all-ops",
        DetachedTimestampFile::new(Op::Sha256, vec![3; 32], t).unwrap(),
    );
    println!(
        "read {py} python and {js} javascript files; wrote rs-*.ots to {}",
        dir.display()
    );
}

#[test]
fn canonicalize_sorts_and_merges_as_the_reference() {
    let mut t = TimestampTree::default();
    t.push_op(
        Op::Sha256,
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 2 }),
    );
    t.push_op(
        Op::Append(vec![2]),
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 3 }),
    );
    t.push_op(
        Op::Append(vec![1]),
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 4 }),
    );
    t.push_op(
        Op::Sha256,
        TimestampTree::with_attestation(Attestation::Bitcoin { height: 1 }),
    );
    t.push_attestation(Attestation::Pending {
        uri: "https://b".into(),
    });
    t.push_attestation(Attestation::Bitcoin { height: 9 });
    t.push_attestation(Attestation::Pending {
        uri: "https://a".into(),
    });
    t.push_attestation(Attestation::Pending {
        uri: "https://a".into(),
    });
    t.canonicalize();
    let kinds: Vec<String> = t
        .items
        .iter()
        .map(|i| match i {
            Item::Attestation(a) => a.to_string(),
            Item::Op(op, c) => format!(
                "{op} -> {}",
                c.attestations()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    // Tags: bitcoin 0588.. < pending 83df..; ops: sha256 (08) < append (f0), args by bytes.
    assert_eq!(
        kinds,
        vec![
            "Bitcoin block 9",
            "pending at https://a",
            "pending at https://b",
            "sha256 -> Bitcoin block 1, Bitcoin block 2",
            "append 01 -> Bitcoin block 4",
            "append 02 -> Bitcoin block 3",
        ]
    );
}

// ---------------------------------------------------------------------------
// Options as callers type them (the bindings and the CLI use these)

#[test]
fn anchor_options_from_parts_check_and_name_the_member() {
    let hex = String::from_utf8(read("headers/mainnet-358391.hex"))
        .unwrap()
        .trim()
        .to_string();
    let o = AnchorOptions::from_parts(Some("regtest"), [("358391", hex.as_str())]).unwrap();
    assert_eq!(o.network, Network::Regtest);
    assert_eq!(o.headers.len(), 1);
    assert_eq!(
        AnchorOptions::from_parts(None, []).unwrap(),
        AnchorOptions::default()
    );
    let e = AnchorOptions::from_parts(Some("moon"), []).unwrap_err();
    assert_eq!(e.member.as_deref(), Some("network"));
    assert!(
        e.message.contains("mainnet, testnet, signet or regtest"),
        "{e}"
    );
    for bad_height in ["-1", "01", "1.0", "", "x", "18446744073709551616"] {
        let e = AnchorOptions::from_parts(None, [(bad_height, hex.as_str())]).unwrap_err();
        assert_eq!(
            e.member,
            Some(format!("headers.{bad_height}")),
            "{bad_height}"
        );
        assert!(e.message.contains("block height in decimal"), "{e}");
    }
    for bad_header in [
        "",
        "00",
        &hex[..158],
        &format!("{hex}00"),
        &hex.replace('0', "g"),
    ] {
        let e = AnchorOptions::from_parts(None, [("7", bad_header)]).unwrap_err();
        assert_eq!(e.member.as_deref(), Some("headers.7"));
        assert!(e.message.contains("not a block header"), "{e}");
    }
}

#[test]
fn unreadable_receipts_have_the_shape_of_an_unparsable_one() {
    let e = kwh_btc_iot_core::Error::member(
        kwh_btc_iot_core::ErrorCode::InvalidJson,
        "receipt",
        "has a NaN member",
    );
    let v = kwh_btc_iot_core::verify::Verification::unreadable(e);
    let parsed = kwh_btc_iot_core::verify_receipt(b"", &VerifyOptions::default());
    assert!(!v.valid);
    assert_eq!(v.errors.len(), 1);
    assert_eq!(v.errors[0].member.as_deref(), Some("receipt"));
    assert!(
        v.steps[0].detail.contains("has a NaN member"),
        "{}",
        v.steps[0].detail
    );
    assert_eq!(
        v.steps
            .iter()
            .map(|s| (s.name, s.status))
            .collect::<Vec<_>>(),
        parsed
            .steps
            .iter()
            .map(|s| (s.name, s.status))
            .collect::<Vec<_>>()
    );
}
