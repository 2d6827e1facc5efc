//! What a verification reports: the [`Verification`] of a receipt, its
//! [`Step`]s, and one [`AnchorResult`] per anchor. Each has one writer,
//! `to_value` (JSON text derives from it).
//!
//! ```
//! # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
//! #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
//! #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
//! #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
//! #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
//! # use kwh_btc_iot_core::{build_batch, BatchParams, Keypair, time::Timestamp};
//! # let key = Keypair::from_seed(&[7; 32]);
//! # let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "batch-1".into(), seq: 1,
//! #     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
//! # let built = build_batch(&[log.as_slice()], params, Some(&key)).unwrap();
//! # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
//! # let receipt = built.receipts[0].to_json();
//! let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
//! assert!(v.valid);
//! assert!(v.steps.iter().all(|s| s.status.as_str() != "failed"));
//! assert!(v.to_json().starts_with(r#"{"anchors":[],"errors":[],"head_hash":""#));
//! ```

use std::borrow::Cow;

use crate::error::{Error, FailedStep, Warning};
use crate::jcs;
use crate::json::Value;
use crate::verify::{verify_receipt, VerifyOptions};

/// The state of a signature check.
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
/// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
/// # let receipt = built.receipts[0].to_json();
/// use kwh_btc_iot_core::verify::SignatureStatus;
/// let opts = VerifyOptions { gateway_key: Some(Keypair::from_seed(&[8; 32]).public_key()), ..Default::default() };
/// let v = verify_receipt(receipt.as_bytes(), &opts);
/// assert_eq!(v.signature, SignatureStatus::UntrustedKey);
/// assert_eq!(v.log_signature, SignatureStatus::Absent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    /// Verified (and by the trusted key, when one was given).
    Valid,
    /// The receipt carries no signature.
    Absent,
    /// The signature does not verify, or is malformed.
    Invalid,
    /// Valid, but by another key than the trusted one.
    UntrustedKey,
    /// Not checked because an earlier step failed to parse.
    NotChecked,
}

impl SignatureStatus {
    /// The snake_case name, as in the result's `signature` and `log_signature`.
    ///
    /// ```
    /// use kwh_btc_iot_core::verify::SignatureStatus;
    /// assert_eq!(SignatureStatus::UntrustedKey.as_str(), "untrusted_key");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Valid => "valid",
            SignatureStatus::Absent => "absent",
            SignatureStatus::Invalid => "invalid",
            SignatureStatus::UntrustedKey => "untrusted_key",
            SignatureStatus::NotChecked => "not_checked",
        }
    }
}

/// The result of one verification step.
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
/// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
/// # let receipt = built.receipts[0].to_json();
/// use kwh_btc_iot_core::verify::StepStatus;
/// let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
/// let anchors = v.steps.iter().find(|s| s.name == "anchors").unwrap();
/// assert_eq!(anchors.status, StepStatus::Skipped); // no anchors yet
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// The step passed.
    Passed,
    /// The step failed.
    Failed,
    /// The step could not run (an earlier one failed) or had nothing to check.
    Skipped,
}

impl StepStatus {
    /// The snake_case name.
    ///
    /// ```
    /// assert_eq!(kwh_btc_iot_core::verify::StepStatus::Skipped.as_str(), "skipped");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

// Compares with a status name, as callers often have it.
impl PartialEq<&str> for StepStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one anchor.
///
/// ```
/// # use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::{AnchorOptions, verify_receipt, VerifyOptions}};
/// # use kwh_btc_iot_testkit::BitcoinAnchor;
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
/// # let mut r = built.receipts[0].clone();
/// # let fixture = BitcoinAnchor::new(&built.batch.head_hash.0, 3, 101);
/// # r.anchors.push(fixture.to_anchor());
/// # let opts = VerifyOptions { anchor: AnchorOptions::for_network(Network::Regtest), ..Default::default() };
/// use kwh_btc_iot_core::verify::AnchorStatus;
/// let v = verify_receipt(r.to_json().as_bytes(), &opts);
/// assert_eq!(v.anchors[0].status, AnchorStatus::Verified);
/// assert_eq!(v.anchors[0].height, Some(101));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorStatus {
    /// The proof checks out against a header with valid proof of work.
    Verified,
    /// Only calendar (pending) attestations: not in Bitcoin yet.
    Pending,
    /// The proof reaches a Bitcoin block whose header was not supplied.
    NeedsHeader,
    /// A step failed; see `failed_step`.
    Invalid,
    /// A type (or only attestations) this verifier does not check.
    Unknown,
    /// Not checked because the receipt's batch head is malformed.
    NotChecked,
}

impl AnchorStatus {
    /// Every status, in the order results are summarized.
    pub const ALL: &'static [AnchorStatus] = &[
        AnchorStatus::Verified,
        AnchorStatus::Pending,
        AnchorStatus::NeedsHeader,
        AnchorStatus::Invalid,
        AnchorStatus::Unknown,
        AnchorStatus::NotChecked,
    ];

    /// The snake_case name.
    ///
    /// ```
    /// assert_eq!(kwh_btc_iot_core::verify::AnchorStatus::NeedsHeader.as_str(), "needs_header");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            AnchorStatus::Verified => "verified",
            AnchorStatus::Pending => "pending",
            AnchorStatus::NeedsHeader => "needs_header",
            AnchorStatus::Invalid => "invalid",
            AnchorStatus::Unknown => "unknown",
            AnchorStatus::NotChecked => "not_checked",
        }
    }
}

/// One step of the verification, for people who want to see each check.
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
/// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
/// # let receipt = built.receipts[0].to_json();
/// let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
/// let names: Vec<_> = v.steps.iter().map(|s| s.name).collect();
/// assert_eq!(names[..3], ["parse", "leaf_hash", "inclusion"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `parse`, `leaf_hash`, `inclusion`, `head`, `signature`, `log_signature`, `anchors`.
    pub name: &'static str,
    /// Passed, failed or skipped (an earlier step failed, or nothing to
    /// check).
    pub status: StepStatus,
    /// What was checked or what went wrong.
    pub detail: String,
}

// Compares with a status name, as callers often have it.
impl PartialEq<&str> for AnchorStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for AnchorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error found while verifying.
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
/// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
/// # let receipt = built.receipts[0].to_json();
/// let mut forged = built.receipts[0].clone();
/// forged.log = forged.log.replace(r#"["peak"]"#, r#"["offpeak"]"#);
/// let v = verify_receipt(forged.to_json().as_bytes(), &VerifyOptions::default());
/// assert!(!v.valid);
/// assert!(v.errors.iter().any(|e| e.code == "leaf_hash_mismatch"), "{:?}", v.errors);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// A stable code from the registry ([`crate::error::REGISTRY`]), e.g.
    /// `leaf_hash_mismatch`, `invalid_anchor`.
    pub code: &'static str,
    /// The English message, naming the member and the rule.
    pub message: String,
    /// The member path in the receipt (`batch_head.seq`, `anchors[1]`),
    /// when the error concerns one member.
    pub member: Option<String>,
}

impl From<Error> for VerifyError {
    fn from(e: Error) -> Self {
        VerifyError {
            code: e.code.as_str(),
            message: e.message,
            member: e.member,
        }
    }
}

/// The result of checking one anchor (see [`crate::model::anchor`]).
///
/// ```
/// # use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::{AnchorOptions, verify_receipt, VerifyOptions}};
/// # use kwh_btc_iot_testkit::BitcoinAnchor;
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
/// # let mut r = built.receipts[0].clone();
/// # let fixture = BitcoinAnchor::new(&built.batch.head_hash.0, 3, 101);
/// # r.anchors.push(fixture.to_anchor());
/// # let opts = VerifyOptions { anchor: AnchorOptions::for_network(Network::Regtest), ..Default::default() };
/// let v = verify_receipt(r.to_json().as_bytes(), &opts);
/// let a = &v.anchors[0];
/// assert_eq!((a.anchor_type.as_str(), a.network), ("bitcoin", Some("regtest")));
/// assert_eq!(a.anchored_head_hash.as_deref(), Some(built.batch.head_hash.to_hex().as_str()));
/// assert!(a.not_checked.is_some()); // best-chain membership is the caller's to check
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorResult {
    /// The anchor's `type` (or `""` when it has none).
    pub anchor_type: String,
    /// What the anchor proves.
    pub status: AnchorStatus,
    /// What was found.
    pub detail: String,
    /// When invalid: the step that failed (`format`, `network`, `head_chain`,
    /// `ots_parse`, `ots_digest`, `ots_replay`, `header`, `header_pow`,
    /// `merkle_root`, `raw_tx`, `tx_commitment`, `merkle_proof`, `tx_inclusion`).
    pub failed_step: Option<FailedStep>,
    /// The network whose proof-of-work rules were applied.
    pub network: Option<&'static str>,
    /// The head hash the anchor commits to (the receipt's head, or the last
    /// of the anchor's `heads` chain).
    pub anchored_head_hash: Option<String>,
    /// Block height (verified: the attested block; needs_header: the block
    /// whose header is missing).
    pub height: Option<u64>,
    /// Block hash (display order), for the caller to check against its node.
    pub block_hash: Option<String>,
    /// Block time from the header, Unix seconds.
    pub block_time: Option<u64>,
    /// The Bitcoin transaction carrying the commitment (display order), when known.
    pub txid: Option<String>,
    /// Calendars holding pending attestations.
    pub calendars: Vec<String>,
    /// What the verifier did not check (for a verified anchor: that the
    /// block is in Bitcoin's best chain at that height).
    pub not_checked: Option<String>,
}

impl AnchorResult {
    /// The result as a JSON value, members that are `None` or empty left out.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::{AnchorOptions, verify_receipt, VerifyOptions}};
    /// # use kwh_btc_iot_testkit::BitcoinAnchor;
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
    /// # let mut r = built.receipts[0].clone();
    /// # let fixture = BitcoinAnchor::new(&built.batch.head_hash.0, 3, 101);
    /// # r.anchors.push(fixture.to_anchor());
    /// # let opts = VerifyOptions { anchor: AnchorOptions::for_network(Network::Regtest), ..Default::default() };
    /// let v = verify_receipt(r.to_json().as_bytes(), &opts);
    /// let a = v.anchors[0].to_value();
    /// assert_eq!(a.get("status").unwrap(), &kwh_btc_iot_core::json::Value::str("verified"));
    /// assert!(a.get("failed_step").is_none()); // absent members are left out
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        let k = |s: &str| Cow::Owned(s.to_string());
        let mut m = vec![
            (k("type"), Value::str(&self.anchor_type)),
            (k("status"), Value::str(self.status.as_str())),
            (k("detail"), Value::str(&self.detail)),
        ];
        let mut opt = |name: &str, v: Option<Value<'static>>| {
            if let Some(v) = v {
                m.push((k(name), v));
            }
        };
        opt(
            "failed_step",
            self.failed_step.map(|f| Value::str(f.as_str())),
        );
        opt("network", self.network.map(Value::str));
        opt(
            "anchored_head_hash",
            self.anchored_head_hash.as_deref().map(Value::str),
        );
        opt("height", self.height.map(|h| Value::Number(h as f64)));
        opt("block_hash", self.block_hash.as_deref().map(Value::str));
        opt(
            "block_time",
            self.block_time.map(|t| Value::Number(t as f64)),
        );
        opt("txid", self.txid.as_deref().map(Value::str));
        opt(
            "calendars",
            (!self.calendars.is_empty())
                .then(|| Value::Array(self.calendars.iter().map(Value::str).collect())),
        );
        opt("not_checked", self.not_checked.as_deref().map(Value::str));
        Value::Object(m)
    }
}

/// The structured result of verifying a receipt (SPEC section 5).
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
/// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
/// # let receipt = built.receipts[0].to_json();
/// let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
/// assert!(v.valid && v.errors.is_empty());
/// assert_eq!(v.head_hash, Some(built.batch.head_hash.to_hex()));
/// assert_eq!(v.signer, Some(kwh_btc_iot_core::encoding::hex::encode(&key.public_key())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub steps: Vec<Step>,
    /// What failed (empty when valid).
    pub errors: Vec<VerifyError>,
    /// Plausibility warnings about the log.
    pub warnings: Vec<Warning>,
}

impl Verification {
    /// The result for a receipt that could not even be turned into JSON text
    /// (a binding's object with a `NaN` member or a lone surrogate, a file
    /// that is not UTF-8): the shape of a receipt that fails to parse, with
    /// `e` as the reason.
    ///
    /// ```
    /// use kwh_btc_iot_core::{verify::Verification, Error, ErrorCode};
    /// let v = Verification::unreadable(Error::new(ErrorCode::InvalidUtf8, "receipt file is not UTF-8"));
    /// assert!(!v.valid);
    /// assert_eq!(v.errors[0].code, "invalid_utf8");
    /// assert_eq!(v.steps[0].detail, "receipt file is not UTF-8");
    /// ```
    pub fn unreadable(e: Error) -> Verification {
        let mut v = verify_receipt(b"", &VerifyOptions::default());
        if let Some(first) = v.steps.first_mut() {
            first.detail = e.message.clone();
        }
        v.errors = vec![e.into()];
        v.valid = false;
        v
    }

    /// The result as JSON text (RFC 8785), the form the CLI prints and the
    /// bindings return.
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
    /// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
    /// # let receipt = built.receipts[0].to_json();
    /// let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
    /// let again = kwh_btc_iot_core::canonicalize_json(v.to_json().as_bytes()).unwrap();
    /// assert_eq!(again, v.to_json().as_bytes()); // already canonical
    /// ```
    pub fn to_json(&self) -> String {
        // serde_json is not a core dependency; the result is small and flat,
        // so write it through the core's own JSON value.
        jcs::to_string(&self.to_value())
    }

    /// The result as a JSON value: the one writer, `to_json` derives from it.
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
    /// # use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
    /// # let receipt = built.receipts[0].to_json();
    /// let v = verify_receipt(receipt.as_bytes(), &VerifyOptions::default());
    /// assert_eq!(v.to_value().get("valid"), Some(&kwh_btc_iot_core::json::Value::Bool(true)));
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        let k = |s: &str| Cow::Owned(s.to_string());
        let opt = |s: &Option<String>| Value::opt_str(s.as_deref());
        let obj = |m: Vec<(&str, Value<'static>)>| {
            Value::Object(m.into_iter().map(|(n, v)| (k(n), v)).collect())
        };
        obj(vec![
            ("valid", Value::Bool(self.valid)),
            ("leaf_hash", opt(&self.leaf_hash)),
            ("merkle_root", opt(&self.merkle_root)),
            ("head_hash", opt(&self.head_hash)),
            ("signature", Value::str(self.signature.as_str())),
            ("signer", opt(&self.signer)),
            ("log_signature", Value::str(self.log_signature.as_str())),
            (
                "anchors",
                Value::Array(self.anchors.iter().map(AnchorResult::to_value).collect()),
            ),
            (
                "steps",
                Value::Array(
                    self.steps
                        .iter()
                        .map(|s| {
                            obj(vec![
                                ("name", Value::str(s.name)),
                                ("status", Value::str(s.status.as_str())),
                                ("detail", Value::str(&s.detail)),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "errors",
                Value::Array(
                    self.errors
                        .iter()
                        .map(|e| {
                            let mut m = vec![
                                ("code", Value::str(e.code)),
                                ("message", Value::str(&e.message)),
                            ];
                            if let Some(member) = &e.member {
                                m.push(("member", Value::str(member)));
                            }
                            obj(m)
                        })
                        .collect(),
                ),
            ),
            (
                "warnings",
                Value::Array(
                    self.warnings
                        .iter()
                        .map(|w| {
                            obj(vec![
                                ("code", Value::str(w.code)),
                                ("member", Value::str(&w.member)),
                                ("message", Value::str(&w.message)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }
}
