//! Property tests: the canonicalizer against serde_json_canonicalizer (an
//! independent RFC 8785 implementation), verifiers against arbitrary bytes.

use kwh_btc_iot_core::{jcs, json, merkle, verify_receipt, Hash, VerifyOptions};
use proptest::prelude::*;

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn jcs_matches_an_independent_implementation(v in arb_json()) {
        let text = serde_json::to_string(&v).unwrap();
        let ours = jcs::canonicalize(text.as_bytes()).unwrap();
        let theirs = serde_json_canonicalizer::to_string(&v).unwrap();
        prop_assert_eq!(String::from_utf8(ours.clone()).unwrap(), theirs);
        // Canonical output is a fixed point.
        prop_assert_eq!(jcs::canonicalize(&ours).unwrap(), ours);
    }

    #[test]
    fn parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = json::parse(&bytes);
        let _ = kwh_btc_iot_core::normalize(&bytes);
    }

    #[test]
    fn receipt_verifier_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let v = verify_receipt(&bytes, &VerifyOptions::default());
        prop_assert!(!v.valid);
        prop_assert!(!v.errors.is_empty());
    }

    #[test]
    fn inclusion_verifier_never_panics(index in any::<u64>(), size in any::<u64>(), n in 0usize..70) {
        let path = vec![Hash([7; 32]); n];
        let _ = merkle::verify_inclusion(&Hash([1; 32]), index, size, &path, &Hash([2; 32]));
        let _ = merkle::verify_consistency(index, size, &Hash([1; 32]), &Hash([2; 32]), &path);
    }
}

/// Mutating any single byte of a valid receipt never yields a valid receipt
/// for a different log, and never panics.
#[test]
fn every_byte_flip_of_a_receipt_is_caught_or_harmless() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/batch.json"
    ))
    .unwrap();
    let batch: serde_json::Value = serde_json::from_str(&text).unwrap();
    let receipt = serde_json::to_string(&batch["receipts"][1]).unwrap();
    let original = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
    assert!(original.valid);
    let mut bytes = receipt.into_bytes();
    let mut still_valid = 0;
    for i in 0..bytes.len() {
        let old = bytes[i];
        bytes[i] ^= 0x01;
        let v = verify_receipt(&bytes, &VerifyOptions::default());
        if v.valid {
            // Only a change that leaves the same log, leaf and head may pass
            // (e.g. whitespace-insensitive or derived-member changes).
            assert_eq!(v.leaf_hash, original.leaf_hash, "byte {i}");
            assert_eq!(v.head_hash, original.head_hash, "byte {i}");
            still_valid += 1;
        }
        bytes[i] = old;
    }
    assert!(
        still_valid < bytes.len() / 20,
        "{still_valid} flips still valid"
    );
}

/// The bulk verifier's cache of checked head signatures never changes a
/// verdict: every receipt vector, in order and twice over, gives exactly the
/// result of the one-by-one verifier.
#[test]
fn bulk_verifier_agrees_with_single_verification() {
    use kwh_btc_iot_core::ReceiptVerifier;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/receipts.json"
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut bulk = ReceiptVerifier::new(VerifyOptions::default());
    let mut invalid = 0;
    for _ in 0..2 {
        for case in vectors["cases"].as_array().unwrap() {
            let receipt = case["receipt"].as_str().unwrap().as_bytes();
            let single = verify_receipt(receipt, &VerifyOptions::default());
            assert_eq!(bulk.verify(receipt), single, "{}", case["desc"]);
            invalid += usize::from(!single.valid);
        }
    }
    assert!(invalid > 20);
}
