//! Building anchors: the head preimage an OpenTimestamps client stamps, and
//! the `OP_RETURN` transaction template a wallet funds.
//!
//! ```
//! use kwh_btc_iot_core::{build::anchor::op_return_script, hash::Hash};
//! assert_eq!(&op_return_script(&Hash([7; 32]))[..2], &[0x6a, 0x20]);
//! ```

use crate::encoding::bitcoin::{self, Transaction};
use crate::hash::Hash;
use crate::model::head::BatchHead;

/// The bytes whose SHA-256 is the head hash: `0x02 || JCS(head)`. Saved as a
/// file, they let any OpenTimestamps client verify an `opentimestamps` anchor
/// (`ots verify -f head.bin head.bin.ots`).
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// # use kwh_btc_iot_core::{build_batch, BatchParams, Keypair, time::Timestamp};
/// # let key = Keypair::from_seed(&[7; 32]);
/// # let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "batch-1".into(), seq: 1,
/// #     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// # let built = build_batch(&[log.as_slice()], params, Some(&key)).unwrap();
/// use kwh_btc_iot_core::{build::anchor::head_preimage, hash::sha256};
/// let pre = head_preimage(&built.batch.head);
/// assert_eq!(pre[0], 0x02);
/// assert_eq!(sha256(&pre), built.batch.head_hash);
/// ```
pub fn head_preimage(head: &BatchHead) -> Vec<u8> {
    let mut v = vec![crate::hash::HEAD_PREFIX];
    v.extend_from_slice(&head.canonical_bytes());
    v
}

/// The script `OP_RETURN <32-byte head hash>` (`6a20` then the hash bytes in
/// their SHA-256 order), the output an on-chain `bitcoin` anchor commits with.
///
/// ```
/// use kwh_btc_iot_core::{build::anchor::op_return_script, hash::sha256};
/// let h = sha256(b"head");
/// let script = op_return_script(&h);
/// assert_eq!(script.len(), 34);
/// assert_eq!(&script[2..], h.as_bytes());
/// ```
pub fn op_return_script(head_hash: &Hash) -> Vec<u8> {
    let mut s = vec![0x6a, 0x20];
    s.extend_from_slice(&head_hash.0);
    s
}

/// An unsigned transaction template with one zero-value output
/// `OP_RETURN <head hash>` and no inputs, in the serialization Bitcoin Core's
/// `createrawtransaction [] [{"data": ...}]` gives (version 2), for a wallet
/// to fund (`fundrawtransaction`), sign and broadcast.
///
/// ```
/// use kwh_btc_iot_core::{build::anchor::op_return_template, hash::Hash};
/// let tx = op_return_template(&Hash([0xab; 32]));
/// // version 2, no inputs, one output of 0 sats with a 34-byte script, locktime 0
/// assert_eq!(&tx[..6], &[2, 0, 0, 0, 0, 1]);
/// assert_eq!(tx.len(), 4 + 1 + 1 + 8 + 1 + 34 + 4);
/// ```
pub fn op_return_template(head_hash: &Hash) -> Vec<u8> {
    let output = bitcoin::TxOut {
        value: 0,
        script_pubkey: op_return_script(head_hash),
    };
    Transaction::serialize(2, &[], &[output], 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_core_createrawtransaction() {
        let h = Hash([0x11; 32]);
        let t = op_return_template(&h);
        assert_eq!(
            crate::encoding::hex::encode(&t),
            format!(
                "02000000000100000000000000002{}{}00000000",
                "26a20",
                "11".repeat(32)
            )
        );
    }
}
