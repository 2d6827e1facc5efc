//! Criterion benches for the targets of the core issue; results and the
//! command that reproduces them are in docs/performance.md.
//!
//! cargo bench -p kwh-btc-iot-core --bench core

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kwh_btc_iot_core::{
    self as core, build::BatchParams, build::ReceiptLog, hash, merkle, model::emlog,
    time::Timestamp, Hash, Keypair, MerkleTree, VerifyOptions,
};

const FOUNDING: &str = include_str!("../../tests/vectors/founding_example.json");

fn logs(n: usize) -> Vec<String> {
    // The founding example, compact, with a distinct meter id per log.
    let compact = String::from_utf8(core::canonicalize_json(FOUNDING.as_bytes()).unwrap()).unwrap();
    (0..n)
        .map(|i| compact.replace("MTR-001", &format!("MTR-{i:07}")))
        .collect()
}

fn pipeline(c: &mut Criterion) {
    let inputs = logs(10_000);
    let mut g = c.benchmark_group("log_pipeline");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function("json_to_leaf_hash_10k", |b| {
        let mut buf = Vec::with_capacity(512);
        b.iter(|| {
            for l in &inputs {
                black_box(emlog::leaf_hash_of_json_with(l.as_bytes(), &mut buf).unwrap());
            }
        })
    });
    g.finish();
}

fn merkle_root(c: &mut Criterion) {
    let n = 1_000_000usize;
    let leaves: Vec<Hash> = (0..n as u32)
        .map(|i| hash::leaf_hash_bytes(&i.to_le_bytes()))
        .collect();
    let mut g = c.benchmark_group("merkle_1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    // The floor: n - 1 node hashes and nothing else.
    g.bench_function("sha256_floor_node_hashes", |b| {
        b.iter(|| {
            let mut acc = leaves[0];
            for l in &leaves[1..] {
                acc = hash::node_hash(&acc, l);
            }
            black_box(acc)
        })
    });
    g.bench_function("root_streaming", |b| {
        b.iter(|| black_box(merkle::root(&leaves)))
    });
    g.bench_function("tree_all_levels", |b| {
        b.iter_batched(
            || leaves.clone(),
            |l| black_box(MerkleTree::new(l).root()),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn receipts(c: &mut Criterion) {
    let n = 1_000_000usize;
    let inputs = logs(1);
    let log = core::normalize(inputs[0].as_bytes()).unwrap().log;
    let target = log.leaf_hash();
    let mut leaves: Vec<Hash> = (0..n as u32)
        .map(|i| hash::leaf_hash_bytes(&i.to_le_bytes()))
        .collect();
    let index = 765_432;
    leaves[index] = target;
    let key = Keypair::from_seed(&[9; 32]);
    let params = BatchParams {
        gateway_id: "gw-bench".into(),
        batch_id: "batch-bench".into(),
        seq: 1,
        prev_head_hash: None,
        created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
    };
    let batch = core::Batch::from_leaf_hashes(leaves, params, Some(&key)).unwrap();
    let signed = batch
        .receipt(index as u64, ReceiptLog::Parsed(&log), None, Vec::new())
        .unwrap();
    let mut unsigned = signed.clone();
    unsigned.head_signature = None;
    let signed_json = signed.to_json();
    let unsigned_json = unsigned.to_json();
    let opts = VerifyOptions::default();
    assert!(core::verify_receipt(signed_json.as_bytes(), &opts).valid);
    let mut g = c.benchmark_group("receipt_in_1m_batch");
    g.bench_function("verify_without_signature", |b| {
        b.iter(|| {
            black_box(core::verify_receipt(
                black_box(unsigned_json.as_bytes()),
                &opts,
            ))
        })
    });
    g.bench_function("verify_with_ed25519", |b| {
        b.iter(|| {
            black_box(core::verify_receipt(
                black_box(signed_json.as_bytes()),
                &opts,
            ))
        })
    });
    let sig = signed.head_signature.clone().unwrap();
    let head_bytes = batch.head.canonical_bytes();
    g.bench_function("ed25519_verify_alone", |b| {
        b.iter(|| black_box(sig.verify(&head_bytes).is_ok()))
    });
    g.bench_function("serve_receipt_json", |b| {
        b.iter(|| {
            black_box(
                batch
                    .receipt(index as u64, ReceiptLog::Parsed(&log), None, Vec::new())
                    .unwrap()
                    .to_json(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline, merkle_root, receipts);
criterion_main!(benches);
