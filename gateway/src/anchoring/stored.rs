//! What an anchor row's `data` column holds: canonical JSON in every case,
//! one encoding for every kind and status (storage migration 4 converted the
//! rows written before).
//!
//! - an OpenTimestamps proof, pending or anchored: the `opentimestamps`
//!   anchor (`{"headers"?, "ots", "type"}`), as receipts carry it;
//! - an anchored Bitcoin transaction: the `bitcoin` anchor;
//! - node mode's transaction before it is mined:
//!   `{"raw_tx": "<hex>", "type": "bitcoin_unconfirmed"}` (never in a receipt).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
use kwh_btc_iot_core::encoding::hex;
use kwh_btc_iot_core::encoding::ots::DetachedTimestampFile;
use kwh_btc_iot_core::json::{self, Value};
use kwh_btc_iot_core::model::anchor::Anchor;

/// The `type` of node mode's unconfirmed transaction.
pub const TYPE_UNCONFIRMED: &str = "bitcoin_unconfirmed";

/// The decoded `data` of an anchor row.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredAnchor {
    /// A proof receipts can carry.
    Anchor(Anchor),
    /// Node mode's signed transaction, not mined yet.
    UnconfirmedTx(Vec<u8>),
}

impl StoredAnchor {
    /// An OpenTimestamps proof, with the header it needs once anchored.
    pub fn ots(
        file: &DetachedTimestampFile,
        header: Option<(u64, BlockHeader)>,
    ) -> anyhow::Result<StoredAnchor> {
        let bytes = file
            .to_bytes()
            .map_err(|e| anyhow!("writing the proof: {e}"))?;
        let headers: BTreeMap<u64, BlockHeader> = header.into_iter().collect();
        Anchor::opentimestamps(&bytes, headers)
            .map(StoredAnchor::Anchor)
            .map_err(|e| anyhow!("the proof does not read back: {e}"))
    }

    /// The column bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            StoredAnchor::Anchor(a) => a.to_json().into_bytes(),
            StoredAnchor::UnconfirmedTx(tx) => format!(
                "{{\"raw_tx\":\"{}\",\"type\":\"{TYPE_UNCONFIRMED}\"}}",
                hex::encode(tx)
            )
            .into_bytes(),
        }
    }

    /// Reads the column bytes.
    pub fn decode(data: &[u8]) -> anyhow::Result<StoredAnchor> {
        let v = json::parse(data).map_err(|e| anyhow!("stored anchor: {e}"))?;
        if let Some(Value::String(t)) = v.get("type") {
            if t == TYPE_UNCONFIRMED {
                let Some(Value::String(h)) = v.get("raw_tx") else {
                    bail!("stored anchor: raw_tx is missing");
                };
                return hex::decode(h.as_bytes())
                    .map(StoredAnchor::UnconfirmedTx)
                    .ok_or_else(|| anyhow!("stored anchor: raw_tx is not hex"));
            }
        }
        Anchor::parse(&v, "")
            .map(StoredAnchor::Anchor)
            .map_err(|e| anyhow!("stored anchor: {e}"))
    }

    /// The OpenTimestamps file of an `opentimestamps` anchor.
    pub fn ots_file(&self) -> Option<&DetachedTimestampFile> {
        match self {
            StoredAnchor::Anchor(Anchor::OpenTimestamps(o)) => Some(&o.file),
            _ => None,
        }
    }

    /// The transaction node mode sent (unconfirmed) or that was mined.
    pub fn raw_tx(&self) -> Option<&[u8]> {
        match self {
            StoredAnchor::UnconfirmedTx(tx) => Some(tx),
            StoredAnchor::Anchor(Anchor::Bitcoin(b)) => Some(&b.raw_tx),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_transaction_round_trips_and_anything_else_is_an_anchor() {
        let s = StoredAnchor::UnconfirmedTx(vec![1, 2, 0xff]);
        let bytes = s.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"raw_tx":"0102ff","type":"bitcoin_unconfirmed"}"#
        );
        assert_eq!(StoredAnchor::decode(&bytes).unwrap(), s);
        assert_eq!(s.raw_tx(), Some(&[1u8, 2, 0xff][..]));
        let other = StoredAnchor::decode(br#"{"type":"later"}"#).unwrap();
        assert!(matches!(other, StoredAnchor::Anchor(Anchor::Unknown(_))));
        assert!(StoredAnchor::decode(b"\x00\x01").is_err());
        assert!(StoredAnchor::decode(br#"{"type":"opentimestamps","ots":"00"}"#).is_err());
    }
}
