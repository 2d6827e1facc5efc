//! Building: batches over logs (the Merkle tree, the signed head) and their
//! receipts. Depends on `model` and below.
//!
//! ```
//! use kwh_btc_iot_core::build::{build_batch, BatchParams};
//! let e = build_batch(&[b"{}".as_slice()], BatchParams {
//!     gateway_id: "g".into(), batch_id: "b".into(), seq: 1, prev_head_hash: None,
//!     created_at: kwh_btc_iot_core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
//! }, None).unwrap_err();
//! assert_eq!(e.member.as_deref(), Some("[0].schema_version"));
//! ```

pub mod anchor;
mod batch;

pub use batch::{leaf_hashes, Batch, BatchParams, ReceiptLog};

use crate::error::{Error, Result, Warning};
use crate::model::emlog::EnergyLog;
use crate::model::head::Keypair;
use crate::model::receipt::Receipt;

/// A batch built from logs, with one receipt per log in input order.
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
/// assert_eq!(built.receipts.len(), 1);
/// assert_eq!(built.receipts[0].leaf_hash, built.batch.tree.leaves()[0]);
/// // The founding log states 2.47 kW for 12.34 kWh in 5 minutes:
/// assert_eq!(built.warnings[0].0, 0);
/// assert_eq!(built.warnings[0].1.code, "power_mismatch");
/// ```
#[derive(Debug, Clone)]
pub struct BuiltBatch {
    /// The batch: head, head hash, signature, tree.
    pub batch: Batch,
    /// One receipt per log, in the order the logs were given.
    pub receipts: Vec<Receipt>,
    /// Plausibility warnings, each with the index of its log in the input
    /// (they do not stop the build).
    pub warnings: Vec<(usize, Warning)>,
}

/// Builds a batch over logs given as JSON, and a receipt for each. The first
/// invalid log stops the build; its error names the log's index.
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
///
/// let bad = br#"{"schema_version":"emlog-1.1"}"#;
/// let err = build_batch(&[log.as_slice(), bad.as_slice()], params, Some(&key)).unwrap_err();
/// assert_eq!(err.member.as_deref(), Some("[1].site_id"));
/// ```
pub fn build_batch(
    logs: &[&[u8]],
    params: BatchParams,
    key: Option<&Keypair>,
) -> Result<BuiltBatch> {
    let mut normalized = Vec::with_capacity(logs.len());
    let mut warnings = Vec::new();
    for (i, l) in logs.iter().enumerate() {
        let n = crate::model::emlog::parse_log(l).map_err(|e| Error {
            message: format!("log {i}: {}", e.message),
            member: e.member.map(|m| format!("[{i}].{m}")),
            code: e.code,
        })?;
        warnings.extend(n.warnings.into_iter().map(|w| (i, w)));
        normalized.push(n.log);
    }
    build_batch_normalized(&normalized, params, key).map(|(batch, receipts)| BuiltBatch {
        batch,
        receipts,
        warnings,
    })
}

/// Builds a batch over logs already normalized (the bindings' bulk path), and
/// a receipt for each, in order.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// use kwh_btc_iot_core::{build_batch_normalized, normalize, time::Timestamp, BatchParams};
/// let n = normalize(log).unwrap();
/// let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1,
///     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// let (batch, receipts) = build_batch_normalized(&[n.log], params, None).unwrap();
/// assert_eq!(receipts[0].batch_head, batch.head);
/// ```
pub fn build_batch_normalized(
    logs: &[EnergyLog<'_>],
    params: BatchParams,
    key: Option<&Keypair>,
) -> Result<(Batch, Vec<Receipt>)> {
    let batch = Batch::from_logs(logs, params, key)?;
    let receipts = logs
        .iter()
        .enumerate()
        .map(|(i, l)| batch.receipt(i as u64, ReceiptLog::Trusted(l), None, Vec::new()))
        .collect::<Result<Vec<_>>>()?;
    Ok((batch, receipts))
}
