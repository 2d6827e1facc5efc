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

pub use batch::{Batch, BatchParams, ReceiptLog};

use crate::error::{Error, Result, Warning};
use crate::model::emlog::EnergyLog;
use crate::model::head::Keypair;
use crate::model::receipt::Receipt;

/// A batch built from logs, with one receipt per log in input order.
#[derive(Debug, Clone)]
pub struct BuiltBatch {
    /// The batch: head, head hash, signature, tree.
    pub batch: Batch,
    /// One receipt per log.
    pub receipts: Vec<Receipt>,
    /// Plausibility warnings per log index.
    pub warnings: Vec<(usize, Warning)>,
}

/// Builds a batch over logs given as JSON, and a receipt for each. The first
/// invalid log stops the build; its error names the log's index.
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

/// Builds a batch over normalized logs, and a receipt for each.
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
