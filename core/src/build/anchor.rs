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
pub fn head_preimage(head: &BatchHead) -> Vec<u8> {
    let mut v = vec![crate::hash::HEAD_PREFIX];
    v.extend_from_slice(&head.canonical_bytes());
    v
}

/// The script `OP_RETURN <32-byte head hash>` (`6a20...`).
pub fn op_return_script(head_hash: &Hash) -> Vec<u8> {
    let mut s = vec![0x6a, 0x20];
    s.extend_from_slice(&head_hash.0);
    s
}

/// An unsigned transaction template with one zero-value output
/// `OP_RETURN <head hash>` and no inputs, in the serialization Bitcoin Core's
/// `createrawtransaction [] [{"data": ...}]` gives (version 2), for a wallet
/// to fund (`fundrawtransaction`), sign and broadcast.
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
