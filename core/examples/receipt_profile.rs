//! Verifies one receipt of a 1,000,000-leaf batch (unsigned) N times, for
//! profiling (`valgrind --tool=callgrind`): where the time of
//! `verify_receipt` goes when Ed25519 is left out.
use kwh_btc_iot_core::{self as core, hash, time::Timestamp, BatchParams, Hash, VerifyOptions};

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let text =
        std::fs::read("tests/vectors/founding_example.json").expect("run from the repository root");
    let log = core::normalize(&text).unwrap().log;
    let mut leaves: Vec<Hash> = (0..1_000_000u32)
        .map(|i| hash::leaf_hash_bytes(&i.to_le_bytes()))
        .collect();
    leaves[765_432] = log.leaf_hash();
    let params = BatchParams {
        gateway_id: "gw-bench".into(),
        batch_id: "batch-bench".into(),
        seq: 1,
        prev_head_hash: None,
        created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
    };
    let batch = core::Batch::from_leaf_hashes(leaves, params, None).unwrap();
    let json = batch
        .receipt(
            765_432,
            kwh_btc_iot_core::ReceiptLog::Parsed(&log),
            None,
            Vec::new(),
        )
        .unwrap()
        .to_json();
    let opts = VerifyOptions::default();
    let mut ok = 0;
    for _ in 0..reps {
        ok += core::verify_receipt(std::hint::black_box(json.as_bytes()), &opts).valid as usize;
    }
    println!("{ok} of {reps} valid; receipt {} bytes", json.len());
}
