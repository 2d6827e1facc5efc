//! What a flush decides, without a database: the batch id and sequence
//! number that follow the chain tip, the head over the leaves, and its
//! signature. The backend runs [`plan_batch`] inside its flush transaction
//! (see [`crate::storage::BatchStore::flush`]) and writes what it returns.

use kwh_btc_iot_core::build::Batch;
use kwh_btc_iot_core::model::head::Keypair;
use kwh_btc_iot_core::time::Timestamp;
use kwh_btc_iot_core::{BatchParams, Hash};

use crate::storage::{ChainTip, StoreError, StoreResult};

/// The batch id for a seq and time: `batch_2025-12-01T10-10-00_000001`.
pub fn batch_id_for(seq: u64, now: &Timestamp) -> String {
    let t = now.to_rfc3339();
    format!(
        "batch_{}_{seq:06}",
        t.get(..19).unwrap_or(&t).replace(':', "-")
    )
}

/// The batch that follows `tip` over `leaves` (in acceptance order): seq 1
/// with no previous head for the first batch, else the tip's seq plus one,
/// chained to the tip's head hash; the head signed with `key`.
pub fn plan_batch(
    gateway_id: &str,
    key: &Keypair,
    now: Timestamp,
    tip: Option<ChainTip>,
    leaves: Vec<Hash>,
) -> StoreResult<Batch> {
    let seq = tip.map_or(1, |t| t.seq as u64 + 1);
    let params = BatchParams {
        gateway_id: gateway_id.to_string(),
        batch_id: batch_id_for(seq, &now),
        seq,
        prev_head_hash: tip.map(|t| Hash(t.head_hash)),
        created_at: now,
    };
    Batch::from_leaf_hashes(leaves, params, Some(key))
        .map_err(|e| StoreError::Integrity(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwh_btc_iot_core::MerkleTree;

    fn key() -> Keypair {
        Keypair::from_seed(&[7; 32])
    }

    fn at() -> Timestamp {
        Timestamp::parse("2025-12-01T10:10:00.123Z").expect("timestamp")
    }

    fn leaves(n: u8) -> Vec<Hash> {
        (0..n).map(|i| Hash([i; 32])).collect()
    }

    #[test]
    fn batch_id_is_the_time_to_the_second_and_the_padded_seq() {
        assert_eq!(batch_id_for(1, &at()), "batch_2025-12-01T10-10-00_000001");
        assert_eq!(
            batch_id_for(1_234_567, &at()),
            "batch_2025-12-01T10-10-00_1234567"
        );
    }

    #[test]
    fn first_batch_is_seq_1_without_a_previous_head() {
        let b = plan_batch("gw-1", &key(), at(), None, leaves(3)).expect("batch");
        assert_eq!(b.head.seq, 1);
        assert_eq!(b.head.prev_head_hash, None);
        assert_eq!(b.head.gateway_id, "gw-1");
        assert_eq!(b.head.batch_id, "batch_2025-12-01T10-10-00_000001");
        assert_eq!(b.head.created_at, at());
        assert_eq!(b.head.log_count, 3);
        assert_eq!(b.head.merkle_root, MerkleTree::new(leaves(3)).root());
        assert_eq!(b.tree.leaves(), &leaves(3)[..]);
        assert_eq!(b.head_hash, b.head.hash());
    }

    #[test]
    fn next_batch_follows_the_tip() {
        let tip = ChainTip {
            seq: 41,
            head_hash: [9; 32],
        };
        let b = plan_batch("gw-1", &key(), at(), Some(tip), leaves(1)).expect("batch");
        assert_eq!(b.head.seq, 42);
        assert_eq!(b.head.prev_head_hash, Some(Hash([9; 32])));
        assert_eq!(b.head.batch_id, "batch_2025-12-01T10-10-00_000042");
    }

    #[test]
    fn head_is_signed_with_the_gateway_key() {
        let b = plan_batch("gw-1", &key(), at(), None, leaves(2)).expect("batch");
        let sig = b.signature.expect("signed");
        assert_eq!(sig.public_key, key().public_key());
        sig.verify(&b.head.canonical_bytes()).expect("verifies");
        let other = Keypair::from_seed(&[8; 32]);
        let b2 = plan_batch("gw-1", &other, at(), None, leaves(2)).expect("batch");
        assert_ne!(b2.signature.expect("signed").public_key, sig.public_key);
    }

    #[test]
    fn chained_heads_link_by_head_hash() {
        let first = plan_batch("gw-1", &key(), at(), None, leaves(2)).expect("batch");
        let tip = ChainTip {
            seq: first.head.seq as i64,
            head_hash: first.head_hash.0,
        };
        let second = plan_batch("gw-1", &key(), at(), Some(tip), leaves(5)).expect("batch");
        assert_eq!(second.head.seq, 2);
        assert_eq!(second.head.prev_head_hash, Some(first.head_hash));
    }

    #[test]
    fn no_leaves_is_refused() {
        assert!(plan_batch("gw-1", &key(), at(), None, Vec::new()).is_err());
    }
}
