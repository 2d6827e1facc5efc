//! Records and enums that cross the boundary, converted from the core's types.

use kwh_btc_iot_core::verify::{
    self as core_receipt, SignatureStatus as CoreSignature, StepStatus as CoreStep,
};
use kwh_btc_iot_core::{EnergyLog as CoreLog, Verification as CoreVerification, Warning};

/// A plausibility finding that did not reject the log (e.g. `power_mismatch`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogWarning {
    /// Stable warning code, e.g. `power_mismatch`.
    pub code: String,
    /// The member concerned, e.g. `power_kw_avg`.
    pub member: String,
    /// A message naming the member and the finding.
    pub message: String,
}

impl From<Warning> for LogWarning {
    fn from(w: Warning) -> Self {
        LogWarning {
            code: w.code.to_string(),
            member: w.member,
            message: w.message,
        }
    }
}

/// The economic part of a normalized log (`tx`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Tx {
    /// Always `sats`.
    pub unit: String,
    /// Price in sats per kWh.
    pub price_sats_per_kwh: f64,
    /// Amount in sats.
    pub amount_sats: u64,
    /// `ln`, `onchain` or `none`.
    pub channel: String,
    /// `pending`, `invoiced`, `paid`, `expired` or `failed`.
    pub settlement_status: String,
    /// BOLT11 invoice or payment hash.
    pub ln_invoice_id: Option<String>,
    /// On-chain transaction id, lowercase hex.
    pub bitcoin_txid: Option<String>,
}

/// A normalized `emlog-1.1` log: every member present, derived values filled
/// in, timestamps in UTC (`Z`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EnergyLog {
    /// Always `emlog-1.1`.
    pub schema_version: String,
    /// Site identifier.
    pub site_id: String,
    /// Device (gateway or meter) identifier.
    pub iot_device_id: String,
    /// Meter identifier.
    pub meter_id: String,
    /// Start of the window, RFC 3339 UTC.
    pub ts_start: String,
    /// End of the window, RFC 3339 UTC.
    pub ts_end: String,
    /// `ts_end - ts_start` in seconds.
    pub interval_s: u64,
    /// Energy in kWh.
    pub energy_kwh: f64,
    /// Average power in kW.
    pub power_kw_avg: f64,
    /// `ok`, `estimated`, `partial` or `error`.
    pub status: String,
    /// Tags, in the order given.
    pub tags: Vec<String>,
    /// Economic view.
    pub tx: Tx,
}

impl From<&CoreLog<'_>> for EnergyLog {
    fn from(l: &CoreLog<'_>) -> Self {
        EnergyLog {
            schema_version: kwh_btc_iot_core::model::emlog::SCHEMA_VERSION.to_string(),
            site_id: l.site_id.to_string(),
            iot_device_id: l.iot_device_id.to_string(),
            meter_id: l.meter_id.to_string(),
            ts_start: l.ts_start.to_rfc3339(),
            ts_end: l.ts_end.to_rfc3339(),
            interval_s: l.interval_s,
            energy_kwh: l.energy_kwh,
            power_kw_avg: l.power_kw_avg,
            status: l.status.as_str().to_string(),
            tags: l.tags.iter().map(|t| t.to_string()).collect(),
            tx: Tx {
                unit: "sats".to_string(),
                price_sats_per_kwh: l.tx.price_sats_per_kwh,
                amount_sats: l.tx.amount_sats,
                channel: l.tx.channel.as_str().to_string(),
                settlement_status: l.tx.settlement_status.as_str().to_string(),
                ln_invoice_id: l.tx.ln_invoice_id.as_deref().map(str::to_string),
                bitcoin_txid: l.tx.bitcoin_txid.as_deref().map(str::to_string),
            },
        }
    }
}

/// A validated, normalized log with its canonical JSON and leaf hash.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NormalizedLog {
    /// The normalized log.
    pub log: EnergyLog,
    /// Its canonical JSON text (RFC 8785): the bytes that are hashed.
    pub canonical_json: String,
    /// SHA-256(0x00 || canonical bytes), 64 lowercase hex.
    pub leaf_hash: String,
    /// Plausibility warnings.
    pub warnings: Vec<LogWarning>,
}

/// The state of a signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SignatureStatus {
    /// Verified (and by the trusted key, when one was given).
    Valid,
    /// The receipt carries no signature.
    Absent,
    /// The signature does not verify, or is malformed.
    Invalid,
    /// Valid, but by another key than the trusted one.
    UntrustedKey,
    /// Not checked because an earlier step failed.
    NotChecked,
}

impl From<CoreSignature> for SignatureStatus {
    fn from(s: CoreSignature) -> Self {
        match s {
            CoreSignature::Valid => SignatureStatus::Valid,
            CoreSignature::Absent => SignatureStatus::Absent,
            CoreSignature::Invalid => SignatureStatus::Invalid,
            CoreSignature::UntrustedKey => SignatureStatus::UntrustedKey,
            CoreSignature::NotChecked => SignatureStatus::NotChecked,
        }
    }
}

/// The outcome of one verification step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StepStatus {
    /// The step passed.
    Passed,
    /// The step failed.
    Failed,
    /// The step could not run (an earlier one failed) or had nothing to check.
    Skipped,
}

impl From<CoreStep> for StepStatus {
    fn from(s: CoreStep) -> Self {
        match s {
            CoreStep::Passed => StepStatus::Passed,
            CoreStep::Failed => StepStatus::Failed,
            CoreStep::Skipped => StepStatus::Skipped,
        }
    }
}

/// One step of a receipt verification: `parse`, `leaf_hash`, `inclusion`,
/// `head`, `signature`, `log_signature`, `anchors`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationStep {
    /// The step's name.
    pub name: String,
    /// Passed, failed or skipped.
    pub status: StepStatus,
    /// What was checked or what went wrong.
    pub detail: String,
}

/// Why a receipt is invalid: the stable code, the core's message and the
/// member path when there is one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationError {
    /// Stable code, e.g. `leaf_hash_mismatch`.
    pub code: String,
    /// Message naming the member and the rule.
    pub message: String,
    /// Member path, when there is one.
    pub member: Option<String>,
}

/// The state of one anchor of a receipt, as the core reports it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AnchorResult {
    /// The anchor's `type` (empty when it has none).
    pub anchor_type: String,
    /// `verified`, `pending`, `needs_header`, `invalid`, `unknown` or `not_checked`.
    pub status: String,
    /// What was found, one sentence for people.
    pub detail: String,
    /// When invalid: the step that failed (`format`, `network`, `head_chain`,
    /// `ots_parse`, `ots_digest`, `ots_replay`, `header`, `header_pow`,
    /// `merkle_root`, `raw_tx`, `tx_commitment`, `merkle_proof`, `tx_inclusion`).
    pub failed_step: Option<String>,
    /// The network whose proof-of-work rules were applied.
    pub network: Option<String>,
    /// The head hash the anchor commits to (the receipt's, or the last of
    /// the anchor's `heads` chain).
    pub anchored_head_hash: Option<String>,
    /// Block height (verified: the attested block; needs_header: the block
    /// whose header is missing).
    pub height: Option<u64>,
    /// Block hash (display hex): check that it is block `height` of the best
    /// chain with a node or explorer you trust.
    pub block_hash: Option<String>,
    /// Block time from the header, Unix seconds.
    pub block_time: Option<u64>,
    /// The Bitcoin transaction carrying the commitment (display hex), when known.
    pub txid: Option<String>,
    /// Calendars holding pending attestations.
    pub calendars: Vec<String>,
    /// What the verifier did not check, in words.
    pub not_checked: Option<String>,
}

/// Options of [`crate::verify_receipt_with_options`].
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct VerifyOptions {
    /// The gateway public key (64 hex) the caller trusts: when given, the
    /// head must be signed by it.
    #[uniffi(default)]
    pub gateway_key: Option<String>,
    /// `mainnet` (null: mainnet), `testnet`, `signet` or `regtest`: whose
    /// proof-of-work rules anchors are checked with.
    #[uniffi(default)]
    pub network: Option<String>,
    /// Block headers the caller trusts (160 hex each), by height. They take
    /// precedence over headers carried in the receipt's anchors.
    #[uniffi(default)]
    pub headers: std::collections::HashMap<u64, String>,
}

/// The structured result of verifying a receipt (SPEC section 5). Malformed
/// input is an invalid result with its reasons, never an exception.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Verification {
    /// True when every check passed.
    pub valid: bool,
    /// The recomputed leaf hash, when the log could be normalized.
    pub leaf_hash: Option<String>,
    /// The root the inclusion path leads to, when it could be folded.
    pub merkle_root: Option<String>,
    /// The hash of the batch head, when it could be read.
    pub head_hash: Option<String>,
    /// The gateway signature's state.
    pub signature: SignatureStatus,
    /// The signer's public key (hex), when a signature was present.
    pub signer: Option<String>,
    /// The device signature's state.
    pub log_signature: SignatureStatus,
    /// Each anchor's state.
    pub anchors: Vec<AnchorResult>,
    /// Each step, in order.
    pub steps: Vec<VerificationStep>,
    /// What failed (empty when valid).
    pub errors: Vec<VerificationError>,
    /// Plausibility warnings about the log.
    pub warnings: Vec<LogWarning>,
    /// The same result as the core's JSON text (as the CLI and the other
    /// bindings print it).
    pub json: String,
}

impl From<CoreVerification> for Verification {
    fn from(v: CoreVerification) -> Self {
        let json = v.to_json();
        Verification {
            valid: v.valid,
            leaf_hash: v.leaf_hash,
            merkle_root: v.merkle_root,
            head_hash: v.head_hash,
            signature: v.signature.into(),
            signer: v.signer,
            log_signature: v.log_signature.into(),
            anchors: v.anchors.into_iter().map(anchor).collect(),
            steps: v
                .steps
                .into_iter()
                .map(|s| VerificationStep {
                    name: s.name.to_string(),
                    status: s.status.into(),
                    detail: s.detail,
                })
                .collect(),
            errors: v
                .errors
                .into_iter()
                .map(|e| VerificationError {
                    code: e.code.to_string(),
                    message: e.message,
                    member: e.member,
                })
                .collect(),
            warnings: v.warnings.into_iter().map(LogWarning::from).collect(),
            json,
        }
    }
}

fn anchor(a: core_receipt::AnchorResult) -> AnchorResult {
    AnchorResult {
        anchor_type: a.anchor_type,
        status: a.status.to_string(),
        detail: a.detail,
        failed_step: a.failed_step.map(|f| f.as_str().to_string()),
        network: a.network.map(str::to_string),
        anchored_head_hash: a.anchored_head_hash,
        height: a.height,
        block_hash: a.block_hash,
        block_time: a.block_time,
        txid: a.txid,
        calendars: a.calendars,
        not_checked: a.not_checked,
    }
}

/// What a batch needs besides its logs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BatchParams {
    /// The gateway id.
    pub gateway_id: String,
    /// The batch id, unique per gateway.
    pub batch_id: String,
    /// 1, 2, 3, ... per gateway.
    pub seq: u64,
    /// The previous head's hash (64 hex); null exactly when `seq` is 1.
    pub prev_head_hash: Option<String>,
    /// Creation time, RFC 3339 (normalized to UTC in the head).
    pub created_at: String,
}

/// A plausibility warning about one log of a batch.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BatchWarning {
    /// Index of the log in the batch.
    pub log_index: u64,
    /// The warning.
    pub warning: LogWarning,
}

/// A built batch: its signed head and one receipt per log, in input order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BuiltBatch {
    /// The `embatch-1` head as canonical JSON text: the bytes hashed and signed.
    pub head_json: String,
    /// SHA-256(0x02 || JCS(head)), 64 lowercase hex.
    pub head_hash: String,
    /// RFC 9162 root over the logs' leaf hashes.
    pub merkle_root: String,
    /// Number of logs.
    pub log_count: u64,
    /// Ed25519 signature over the head (128 hex), when a key was given.
    pub signature: Option<String>,
    /// The signer's public key (64 hex), when a key was given.
    pub public_key: Option<String>,
    /// One `emreceipt-1` receipt per log, as canonical JSON text.
    pub receipts: Vec<String>,
    /// Plausibility warnings, per log index.
    pub warnings: Vec<BatchWarning>,
}
