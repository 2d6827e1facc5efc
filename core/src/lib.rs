//! # kwh-btc-iot-core
//!
//! The formats and the maths of kwh-btc-iot, with no I/O: energy logs
//! (`emlog-1.1`) validated and normalized, serialized as RFC 8785 canonical
//! JSON, hashed as RFC 9162 Merkle leaves, batched under signed `embatch-1`
//! heads, and proved by `emreceipt-1` receipts that verify offline.
//!
//! ```
//! use kwh_btc_iot_core as core;
//! let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
//!   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
//!   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
//!   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
//!   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
//! let leaf = core::leaf_hash(log).unwrap();
//! assert_eq!(leaf.to_hex().len(), 64);
//!
//! let key = core::Keypair::from_seed(&[7; 32]);
//! let built = core::build_batch(&[log.as_slice()], core::BatchParams {
//!     gateway_id: "gw-1".into(), batch_id: "batch-1".into(), seq: 1, prev_head_hash: None,
//!     created_at: core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
//! }, Some(&key)).unwrap();
//! let receipt = built.receipts[0].to_json();
//! let v = core::verify_receipt(receipt.as_bytes(), &Default::default());
//! assert!(v.valid, "{:?}", v.errors);
//! ```

#![deny(missing_docs)]

// The layers, bottom up; each depends only on the ones above it in this
// list (core/tests/layers.rs checks it).
pub mod build;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod jcs;
pub mod json;
pub mod json_lines;
pub mod merkle;
pub mod model;
pub mod time;
pub mod verify;

pub use build::{build_batch, build_batch_normalized, Batch, BatchParams, BuiltBatch, ReceiptLog};
pub use error::{Error, ErrorCode, ErrorFamily, FailedStep, Result, Warning};
pub use hash::Hash;
pub use merkle::{MerkleTree, RootBuilder};
pub use model::anchor::Anchor;
pub use model::emlog::{EnergyLog, Normalized};
pub use model::head::{BatchHead, Keypair, Signature};
pub use model::receipt::Receipt;
pub use verify::{verify_receipt, ReceiptVerifier, Verification, VerifyOptions};

/// Validates and normalizes a log given as JSON bytes.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let n = kwh_btc_iot_core::normalize(log).unwrap();
/// assert_eq!(n.log.ts_end.to_rfc3339(), "2025-12-01T10:15:00Z");
/// // 12.34 kWh in 5 minutes is 148 kW on average, not the 2.47 stated:
/// assert_eq!(n.warnings[0].code, "power_mismatch");
/// ```
pub fn normalize(log_json: &[u8]) -> Result<Normalized<'_>> {
    model::emlog::parse_log(log_json)
}

/// The canonical bytes of a log: RFC 8785 of the normalized log, the exact
/// bytes the leaf hash covers.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let canon = kwh_btc_iot_core::canonicalize(log).unwrap();
/// // Members sorted, no whitespace; the same bytes every time.
/// assert!(canon.starts_with(br#"{"energy_kwh":12.34,"interval_s":300,"#));
/// ```
pub fn canonicalize(log_json: &[u8]) -> Result<Vec<u8>> {
    model::emlog::canonicalize_log(log_json)
}

/// RFC 8785 canonicalization of any I-JSON text (not only logs): used for
/// heads, receipts and anchors.
///
/// ```
/// let out = kwh_btc_iot_core::canonicalize_json(br#"{"b":[1.50, 2e0], "a":null}"#).unwrap();
/// assert_eq!(out, br#"{"a":null,"b":[1.5,2]}"#);
/// ```
pub fn canonicalize_json(json: &[u8]) -> Result<Vec<u8>> {
    jcs::canonicalize(json)
}

/// The leaf hash of a log: SHA-256(0x00 || canonical bytes), the value a
/// receipt proves included in a batch.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// use kwh_btc_iot_core::{canonicalize, hash::leaf_hash_bytes, leaf_hash};
/// let leaf = leaf_hash(log).unwrap();
/// assert_eq!(leaf, leaf_hash_bytes(&canonicalize(log).unwrap()));
/// ```
pub fn leaf_hash(log_json: &[u8]) -> Result<Hash> {
    model::emlog::leaf_hash_of_json(log_json)
}
