//! The receipt, `emreceipt-1` (SPEC section 5): one self-contained JSON
//! object that proves one log offline, and its verification.

use std::borrow::Cow;

use serde::Serialize;

use crate::batch::{BatchHead, Signature};
use crate::emlog::{self, Normalized};
use crate::error::{Error, ErrorCode, Warning};
use crate::hash::{leaf_hash_bytes, Hash};
use crate::jcs;
use crate::json::{self, Value};
use crate::merkle;

/// The only receipt version.
pub const RECEIPT_VERSION: &str = "emreceipt-1";
/// Largest receipt accepted by the verifier, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 1024 * 1024;
/// Longest inclusion path accepted (a tree of 2^64 leaves needs 64).
pub const MAX_PATH_LEN: usize = 64;

/// A receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The normalized log, as JSON.
    pub log: Value<'static>,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Its index in the batch.
    pub leaf_index: u64,
    /// RFC 9162 audit path, leaf to root.
    pub inclusion_path: Vec<Hash>,
    /// The batch head.
    pub batch_head: BatchHead,
    /// The gateway's signature over JCS(batch_head).
    pub head_signature: Option<Signature>,
    /// A device's signature over the log's canonical bytes, when the device signs.
    pub log_signature: Option<Signature>,
    /// Anchors (each an object with a `type`).
    pub anchors: Vec<Value<'static>>,
}

impl Receipt {
    /// The receipt as a JSON value.
    pub fn to_value(&self) -> Value<'static> {
        let k = |s: &str| Cow::Owned(s.to_string());
        let mut m = vec![
            (k("anchors"), Value::Array(self.anchors.clone())),
            (k("batch_head"), self.batch_head.to_value()),
            (
                k("head_signature"),
                self.head_signature
                    .as_ref()
                    .map_or(Value::Null, Signature::to_value),
            ),
            (
                k("inclusion_path"),
                Value::Array(
                    self.inclusion_path
                        .iter()
                        .map(|h| Value::str(h.to_hex()))
                        .collect(),
                ),
            ),
            (k("leaf_hash"), Value::str(self.leaf_hash.to_hex())),
            (k("leaf_index"), Value::Number(self.leaf_index as f64)),
            (k("log"), self.log.clone()),
        ];
        if let Some(s) = &self.log_signature {
            m.push((k("log_signature"), s.to_value()));
        }
        m.push((k("receipt_version"), Value::str(RECEIPT_VERSION)));
        Value::Object(m)
    }

    /// The receipt as canonical (RFC 8785) JSON text.
    pub fn to_json(&self) -> String {
        jcs::to_string(&self.to_value())
    }
}

/// The state of a signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// The snake_case name.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The step passed.
    Passed,
    /// The step failed.
    Failed,
    /// The step could not run (an earlier one failed) or had nothing to check.
    Skipped,
}

/// One step of the verification, for people who want to see each check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `parse`, `leaf_hash`, `inclusion`, `head`, `signature`, `log_signature`, `anchors`.
    pub name: &'static str,
    /// Passed, failed or skipped.
    pub status: StepStatus,
    /// What was checked or what went wrong.
    pub detail: String,
}

/// An error found while verifying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyError {
    /// Stable code.
    pub code: &'static str,
    /// Human message.
    pub message: String,
    /// Member path, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// The state of one anchor (see [`crate::anchor`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorResult {
    /// The anchor's `type` (or `""` when it has none).
    #[serde(rename = "type")]
    pub anchor_type: String,
    /// `verified`, `pending`, `needs_header`, `invalid`, `unknown` or
    /// `not_checked` (see [`crate::anchor::status`]).
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// When invalid: the step that failed (`format`, `network`, `head_chain`,
    /// `ots_parse`, `ots_digest`, `ots_replay`, `header`, `header_pow`,
    /// `merkle_root`, `raw_tx`, `tx_commitment`, `merkle_proof`, `tx_inclusion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<&'static str>,
    /// The network whose proof-of-work rules were applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'static str>,
    /// The head hash the anchor commits to (the receipt's head, or the last
    /// of the anchor's `heads` chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchored_head_hash: Option<String>,
    /// Block height (verified: the attested block; needs_header: the block
    /// whose header is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Block hash (display order), for the caller to check against its node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// Block time from the header, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_time: Option<u64>,
    /// The Bitcoin transaction carrying the commitment (display order), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txid: Option<String>,
    /// Calendars holding pending attestations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calendars: Vec<String>,
    /// What the verifier did not check (for a verified anchor: that the
    /// block is in Bitcoin's best chain at that height).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
}

impl AnchorResult {
    /// The result as a JSON value (members that are absent are left out).
    pub fn to_value(&self) -> Value<'static> {
        let k = |s: &str| Cow::Owned(s.to_string());
        let mut m = vec![
            (k("type"), Value::str(&self.anchor_type)),
            (k("status"), Value::str(self.status)),
            (k("detail"), Value::str(&self.detail)),
        ];
        let mut opt = |name: &str, v: Option<Value<'static>>| {
            if let Some(v) = v {
                m.push((k(name), v));
            }
        };
        opt("failed_step", self.failed_step.map(Value::str));
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub fn unreadable(e: Error) -> Verification {
        let mut v = verify_receipt(b"", &VerifyOptions::default());
        if let Some(first) = v.steps.first_mut() {
            first.detail = e.message.clone();
        }
        v.errors = vec![e.into()];
        v.valid = false;
        v
    }

    /// The result as JSON text.
    pub fn to_json(&self) -> String {
        // serde_json is not a core dependency; the result is small and flat,
        // so write it through the core's own JSON value.
        jcs::to_string(&self.to_value())
    }

    /// The result as a JSON value.
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
                                (
                                    "status",
                                    Value::str(match s.status {
                                        StepStatus::Passed => "passed",
                                        StepStatus::Failed => "failed",
                                        StepStatus::Skipped => "skipped",
                                    }),
                                ),
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

/// Options for [`verify_receipt`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The gateway public key the caller trusts; when set, the head signature
    /// must be present and by this key.
    pub gateway_key: Option<[u8; 32]>,
    /// How anchors are checked: the network whose proof-of-work rules apply
    /// (mainnet by default) and block headers the caller trusts.
    pub anchor: crate::anchor::AnchorOptions,
}

struct Checker<'c> {
    v: Verification,
    /// Head signatures already verified in this bulk run (see [`ReceiptVerifier`]).
    cache: Option<&'c mut SignatureCache>,
}

/// (public key, signature, head hash) triples whose Ed25519 check passed.
#[derive(Debug, Default)]
struct SignatureCache {
    verified: std::collections::HashSet<[u8; 128]>,
}

impl SignatureCache {
    const MAX: usize = 4096;

    fn key(sig: &Signature, head_hash: &Hash) -> [u8; 128] {
        let mut k = [0u8; 128];
        k[..32].copy_from_slice(&sig.public_key);
        k[32..96].copy_from_slice(&sig.signature);
        k[96..].copy_from_slice(&head_hash.0);
        k
    }
}

/// Verifies many receipts, checking each distinct signed head once: in a
/// batch every receipt carries the same head and signature, and the Ed25519
/// check is most of the cost of a receipt. The results are exactly those of
/// [`verify_receipt`] one by one.
///
/// ```
/// use kwh_btc_iot_core::receipt::{ReceiptVerifier, VerifyOptions};
/// let mut v = ReceiptVerifier::new(VerifyOptions::default());
/// assert!(!v.verify(b"[]").valid);
/// ```
#[derive(Debug, Default)]
pub struct ReceiptVerifier {
    opts: VerifyOptions,
    cache: SignatureCache,
}

impl ReceiptVerifier {
    /// A verifier with these options.
    pub fn new(opts: VerifyOptions) -> Self {
        ReceiptVerifier {
            opts,
            cache: SignatureCache::default(),
        }
    }

    /// Verifies one receipt given as JSON bytes.
    pub fn verify(&mut self, input: &[u8]) -> Verification {
        verify_with(input, &self.opts, Some(&mut self.cache))
    }
}

impl Checker<'_> {
    fn step(&mut self, name: &'static str, status: StepStatus, detail: impl Into<String>) {
        self.v.steps.push(Step {
            name,
            status,
            detail: detail.into(),
        });
    }
    fn fail(&mut self, name: &'static str, e: Error) {
        self.step(name, StepStatus::Failed, e.message.clone());
        self.v.errors.push(e.into());
    }
    fn skip_rest(&mut self, from: &[&'static str]) {
        for n in from {
            self.step(
                n,
                StepStatus::Skipped,
                "not checked: an earlier step failed",
            );
        }
    }
}

const STEPS: [&str; 7] = [
    "parse",
    "leaf_hash",
    "inclusion",
    "head",
    "signature",
    "log_signature",
    "anchors",
];

/// Verifies a receipt given as JSON bytes. Never panics: malformed input is
/// an invalid result whose `errors` say why.
///
/// ```
/// use kwh_btc_iot_core::receipt::{verify_receipt, VerifyOptions};
/// let v = verify_receipt(b"{not json", &VerifyOptions::default());
/// assert!(!v.valid);
/// assert_eq!(v.errors[0].code, "invalid_json");
/// ```
pub fn verify_receipt(input: &[u8], opts: &VerifyOptions) -> Verification {
    verify_with(input, opts, None)
}

fn verify_with(
    input: &[u8],
    opts: &VerifyOptions,
    cache: Option<&mut SignatureCache>,
) -> Verification {
    let mut c = Checker {
        cache,
        v: Verification {
            valid: false,
            leaf_hash: None,
            merkle_root: None,
            head_hash: None,
            signature: SignatureStatus::NotChecked,
            signer: None,
            log_signature: SignatureStatus::NotChecked,
            anchors: Vec::new(),
            steps: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        },
    };
    if input.len() > MAX_RECEIPT_BYTES {
        c.fail(
            "parse",
            Error::new(
                ErrorCode::TooLarge,
                format!("receipt is larger than {MAX_RECEIPT_BYTES} bytes"),
            ),
        );
        c.skip_rest(&STEPS[1..]);
        return c.v;
    }
    let value = match json::parse_with_depth(input, 32) {
        Ok(v) => v,
        Err(e) => {
            c.fail("parse", e);
            c.skip_rest(&STEPS[1..]);
            return c.v;
        }
    };
    verify_value(&value, opts, c)
}

/// Verifies an already parsed receipt value.
pub fn verify_receipt_value(value: &Value<'_>, opts: &VerifyOptions) -> Verification {
    verify_receipt(jcs::to_vec(value).as_slice(), opts)
}

struct Parts<'v, 'a> {
    log: &'v Value<'a>,
    leaf_hash: Hash,
    leaf_index: u64,
    path: Vec<Hash>,
    head: &'v Value<'a>,
    head_signature: &'v Value<'a>,
    log_signature: Option<&'v Value<'a>>,
    anchors: &'v [Value<'a>],
}

fn read_parts<'v, 'a>(v: &'v Value<'a>) -> Result<Parts<'v, 'a>, Error> {
    const NAMES: [&str; 9] = [
        "receipt_version",
        "log",
        "leaf_hash",
        "leaf_index",
        "inclusion_path",
        "batch_head",
        "head_signature",
        "log_signature",
        "anchors",
    ];
    let Value::Object(members) = v else {
        return Err(Error::member(
            ErrorCode::InvalidType,
            "receipt",
            format!("must be an object, got {}", v.type_name()),
        ));
    };
    for (k, _) in members {
        if !NAMES.contains(&k.as_ref()) {
            return Err(Error::member(
                ErrorCode::UnknownMember,
                k.to_string(),
                format!(
                    "is not a member of emreceipt-1 (allowed: {})",
                    NAMES.join(", ")
                ),
            ));
        }
    }
    let get = |name: &str| {
        v.get(name)
            .ok_or_else(|| Error::member(ErrorCode::MissingMember, name, "is required"))
    };
    match get("receipt_version")? {
        Value::String(s) if s == RECEIPT_VERSION => {}
        _ => {
            return Err(Error::member(
                ErrorCode::UnsupportedVersion,
                "receipt_version",
                format!("must be \"{RECEIPT_VERSION}\""),
            ))
        }
    }
    let leaf_hash = crate::batch::hex_hash(get("leaf_hash")?, "leaf_hash")?;
    let leaf_index = match get("leaf_index")? {
        Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= 9_007_199_254_740_991.0 => {
            *n as u64
        }
        Value::Number(n) => {
            return Err(Error::member(
                ErrorCode::OutOfRange,
                "leaf_index",
                format!("must be an integer >= 0, got {n}"),
            ))
        }
        other => {
            return Err(Error::member(
                ErrorCode::InvalidType,
                "leaf_index",
                format!("must be a number, got {}", other.type_name()),
            ))
        }
    };
    let path = match get("inclusion_path")? {
        Value::Array(items) if items.len() <= MAX_PATH_LEN => items
            .iter()
            .enumerate()
            // The member name is only formatted for an error (twenty
            // `format!`s per receipt were a tenth of its parse).
            .map(|(i, h)| {
                crate::batch::hex_hash(h, "inclusion_path")
                    .or_else(|_| crate::batch::hex_hash(h, &format!("inclusion_path[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Array(_) => {
            return Err(Error::member(
                ErrorCode::InvalidProof,
                "inclusion_path",
                format!("has more than {MAX_PATH_LEN} hashes"),
            ))
        }
        other => {
            return Err(Error::member(
                ErrorCode::InvalidType,
                "inclusion_path",
                format!("must be an array of hex strings, got {}", other.type_name()),
            ))
        }
    };
    let anchors = match get("anchors")? {
        Value::Array(items) => items.as_slice(),
        other => {
            return Err(Error::member(
                ErrorCode::InvalidType,
                "anchors",
                format!("must be an array, got {}", other.type_name()),
            ))
        }
    };
    Ok(Parts {
        log: get("log")?,
        leaf_hash,
        leaf_index,
        path,
        head: get("batch_head")?,
        head_signature: get("head_signature")?,
        log_signature: v.get("log_signature").filter(|s| !matches!(s, Value::Null)),
        anchors,
    })
}

fn verify_value(value: &Value<'_>, opts: &VerifyOptions, mut c: Checker<'_>) -> Verification {
    let parts = match read_parts(value) {
        Ok(p) => p,
        Err(e) => {
            c.fail("parse", e);
            c.skip_rest(&STEPS[1..]);
            return c.v;
        }
    };
    c.step(
        "parse",
        StepStatus::Passed,
        "receipt structure is emreceipt-1",
    );

    // 1. The log: normalize, canonicalize, re-hash.
    let mut canonical = Vec::new();
    let normalized: Option<Normalized<'_>> = match emlog::normalize_value(parts.log.clone()) {
        Ok(n) => {
            n.log.write_canonical(&mut canonical);
            let leaf = leaf_hash_bytes(&canonical);
            c.v.leaf_hash = Some(leaf.to_hex());
            if leaf == parts.leaf_hash {
                c.step(
                    "leaf_hash",
                    StepStatus::Passed,
                    format!("log hashes to leaf {}", leaf.to_hex()),
                );
            } else {
                c.fail(
                    "leaf_hash",
                    Error::member(
                        ErrorCode::LeafHashMismatch,
                        "leaf_hash",
                        format!(
                            "the log hashes to {}, the receipt says {}",
                            leaf.to_hex(),
                            parts.leaf_hash.to_hex()
                        ),
                    ),
                );
            }
            Some(n)
        }
        Err(e) => {
            let e = Error {
                member: e.member.map(|m| format!("log.{m}")),
                ..e
            };
            let e = Error {
                message: format!("log.{}", e.message),
                ..e
            };
            c.fail("leaf_hash", e);
            None
        }
    };
    if let Some(n) = &normalized {
        c.v.warnings = n.warnings.clone();
    }

    // The head is needed for the inclusion check (log_count, merkle_root).
    let head = match BatchHead::from_value(parts.head, "batch_head") {
        Ok(h) => Some(h),
        Err(e) => {
            c.step(
                "inclusion",
                StepStatus::Skipped,
                "not checked: batch_head is malformed",
            );
            c.fail("head", e);
            None
        }
    };

    // 2. The inclusion path, folded from the stated leaf hash.
    if let Some(h) = &head {
        match merkle::root_from_inclusion_path(
            &parts.leaf_hash,
            parts.leaf_index,
            h.log_count,
            &parts.path,
        ) {
            Ok(r) => {
                c.v.merkle_root = Some(r.to_hex());
                if r == h.merkle_root {
                    c.step(
                        "inclusion",
                        StepStatus::Passed,
                        format!(
                            "leaf {} of {} leads to merkle_root {}",
                            parts.leaf_index,
                            h.log_count,
                            r.to_hex()
                        ),
                    );
                } else {
                    c.fail(
                        "inclusion",
                        Error::member(
                            ErrorCode::InvalidProof,
                            "inclusion_path",
                            format!(
                                "inclusion_path: leads to root {}, batch_head.merkle_root is {}",
                                r.to_hex(),
                                h.merkle_root.to_hex()
                            ),
                        ),
                    );
                }
            }
            Err(e) => c.fail("inclusion", e),
        }
        let hb = h.canonical_bytes();
        c.v.head_hash = Some(crate::hash::head_hash_bytes(&hb).to_hex());
        c.step(
            "head",
            StepStatus::Passed,
            format!(
                "batch {} seq {} of gateway {}",
                h.batch_id, h.seq, h.gateway_id
            ),
        );

        // 3. The gateway's signature over JCS(batch_head).
        match parts.head_signature {
            Value::Null => {
                c.v.signature = SignatureStatus::Absent;
                if opts.gateway_key.is_some() {
                    c.fail(
                        "signature",
                        Error::member(
                            ErrorCode::MissingSignature,
                            "head_signature",
                            "head_signature: is null but a trusted gateway key was given",
                        ),
                    );
                } else {
                    c.step(
                        "signature",
                        StepStatus::Skipped,
                        "the batch head is not signed",
                    );
                }
            }
            sv => match Signature::from_value(sv, "head_signature") {
                Err(e) => {
                    c.v.signature = SignatureStatus::Invalid;
                    c.fail("signature", e);
                }
                Ok(sig) => {
                    c.v.signer = Some(crate::hash::to_hex(&sig.public_key));
                    let head_hash = crate::hash::head_hash_bytes(&hb);
                    let key = SignatureCache::key(&sig, &head_hash);
                    let cached = c
                        .cache
                        .as_ref()
                        .is_some_and(|cache| cache.verified.contains(&key));
                    let checked = if cached { Ok(()) } else { sig.verify(&hb) };
                    if checked.is_ok() && !cached {
                        if let Some(cache) = c.cache.as_mut() {
                            if cache.verified.len() >= SignatureCache::MAX {
                                cache.verified.clear();
                            }
                            cache.verified.insert(key);
                        }
                    }
                    match checked {
                        Err(e) => {
                            c.v.signature = SignatureStatus::Invalid;
                            let e = Error {
                                member: Some("head_signature".into()),
                                message: format!("head_signature: {}", e.message),
                                ..e
                            };
                            c.fail("signature", e);
                        }
                        Ok(()) => match opts.gateway_key {
                            Some(trusted) if trusted != sig.public_key => {
                                c.v.signature = SignatureStatus::UntrustedKey;
                                c.fail(
                                    "signature",
                                    Error::member(
                                        ErrorCode::UntrustedKey,
                                        "head_signature.public_key",
                                        format!(
                                            "the head is signed by {}, not by the trusted gateway key {}",
                                            crate::hash::to_hex(&sig.public_key),
                                            crate::hash::to_hex(&trusted)
                                        ),
                                    ),
                                );
                            }
                            trusted => {
                                c.v.signature = SignatureStatus::Valid;
                                let by = if trusted.is_some() {
                                    "the trusted gateway key"
                                } else {
                                    "the key in the receipt"
                                };
                                c.step(
                                    "signature",
                                    StepStatus::Passed,
                                    format!("Ed25519 signature by {by} verifies"),
                                );
                            }
                        },
                    }
                }
            },
        }
    } else {
        c.v.signature = SignatureStatus::NotChecked;
        c.step(
            "signature",
            StepStatus::Skipped,
            "not checked: batch_head is malformed",
        );
    }

    // The device's signature over the log's canonical bytes, when present.
    match parts.log_signature {
        None => {
            c.v.log_signature = SignatureStatus::Absent;
            c.step(
                "log_signature",
                StepStatus::Skipped,
                "the log is not signed by its device",
            );
        }
        Some(sv) => match (Signature::from_value(sv, "log_signature"), &normalized) {
            (Err(e), _) => {
                c.v.log_signature = SignatureStatus::Invalid;
                c.fail("log_signature", e);
            }
            (Ok(_), None) => {
                c.step(
                    "log_signature",
                    StepStatus::Skipped,
                    "not checked: the log is invalid",
                );
            }
            (Ok(sig), Some(_)) => match sig.verify(&canonical) {
                Ok(()) => {
                    c.v.log_signature = SignatureStatus::Valid;
                    c.step(
                        "log_signature",
                        StepStatus::Passed,
                        "the device's Ed25519 signature over the log verifies",
                    );
                }
                Err(e) => {
                    c.v.log_signature = SignatureStatus::Invalid;
                    let e = Error {
                        member: Some("log_signature".into()),
                        message: format!("log_signature: {}", e.message),
                        ..e
                    };
                    c.fail("log_signature", e);
                }
            },
        },
    }

    // 4. Anchors (crate::anchor): each reported as verified / pending /
    // needs_header / invalid / unknown; an unknown type is not fatal.
    let anchors = crate::anchor::check_anchors(parts.anchors, head.as_ref(), &opts.anchor);
    c.v.anchors = anchors.results;
    c.v.errors
        .extend(anchors.errors.into_iter().map(VerifyError::from));
    c.step("anchors", anchors.step_status, anchors.step_detail);

    c.v.valid = c.v.errors.is_empty();
    c.v
}
