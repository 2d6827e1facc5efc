//! Receipt verification: one function per step (parse, leaf hash,
//! inclusion, head, signature, log signature, anchors).

use crate::error::{Error, ErrorCode};
use crate::hash::{leaf_hash_bytes, Hash};
use crate::jcs;
use crate::json::{self, Value};
use crate::merkle;
use crate::model::emlog::{self, Normalized};
use crate::model::head::{BatchHead, Signature};
use crate::model::receipt::{ReceiptMembers, MAX_RECEIPT_BYTES, MAX_RECEIPT_DEPTH};
use crate::verify::anchor::{check_anchors, AnchorOptions};
use crate::verify::outcome::{SignatureStatus, Step, StepStatus, Verification, VerifyError};

/// Options for [`verify_receipt`].
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
/// let opts = VerifyOptions { gateway_key: Some(key.public_key()), ..Default::default() };
/// assert!(verify_receipt(receipt.as_bytes(), &opts).valid);
/// // Default: any signer is accepted (and reported as `signer`), mainnet proof of work.
/// assert!(verify_receipt(receipt.as_bytes(), &VerifyOptions::default()).valid);
/// ```
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The gateway public key the caller trusts; when set, the head signature
    /// must be present and by this key.
    pub gateway_key: Option<[u8; 32]>,
    /// How anchors are checked: the network whose proof-of-work rules apply
    /// (mainnet by default) and block headers the caller trusts.
    pub anchor: AnchorOptions,
}

struct Checker<'c> {
    result: Verification,
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
/// use kwh_btc_iot_core::verify::{ReceiptVerifier, VerifyOptions};
/// let mut v = ReceiptVerifier::new(VerifyOptions::default());
/// assert!(!v.verify(b"[]").valid);
/// ```
#[derive(Debug, Default)]
pub struct ReceiptVerifier {
    opts: VerifyOptions,
    cache: SignatureCache,
}

impl ReceiptVerifier {
    /// A verifier with these options and an empty cache of checked signatures.
    ///
    /// ```
    /// use kwh_btc_iot_core::{verify::{ReceiptVerifier, VerifyOptions}, Keypair};
    /// let opts = VerifyOptions { gateway_key: Some(Keypair::from_seed(&[7; 32]).public_key()), ..Default::default() };
    /// let mut v = ReceiptVerifier::new(opts);
    /// assert_eq!(v.verify(b"{}").errors[0].code, "missing_member");
    /// ```
    pub fn new(opts: VerifyOptions) -> Self {
        ReceiptVerifier {
            opts,
            cache: SignatureCache::default(),
        }
    }

    /// Verifies one receipt given as JSON bytes; the same result as
    /// [`verify_receipt`].
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
    /// use kwh_btc_iot_core::verify::{verify_receipt, ReceiptVerifier, VerifyOptions};
    /// let mut bulk = ReceiptVerifier::new(VerifyOptions::default());
    /// let text = built.receipts[0].to_json();
    /// let first = bulk.verify(text.as_bytes());
    /// assert_eq!(first, bulk.verify(text.as_bytes())); // second time: signature from the cache
    /// assert_eq!(first, verify_receipt(text.as_bytes(), &VerifyOptions::default()));
    /// ```
    pub fn verify(&mut self, input: &[u8]) -> Verification {
        verify_with(input, &self.opts, Some(&mut self.cache))
    }
}

impl Checker<'_> {
    fn step(&mut self, name: &'static str, status: StepStatus, detail: impl Into<String>) {
        self.result.steps.push(Step {
            name,
            status,
            detail: detail.into(),
        });
    }
    fn fail(&mut self, name: &'static str, e: Error) {
        self.step(name, StepStatus::Failed, e.message.clone());
        self.result.errors.push(e.into());
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
/// use kwh_btc_iot_core::verify::{verify_receipt, VerifyOptions};
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
        result: Verification {
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
        return c.result;
    }
    let value = match json::parse_with_depth(input, MAX_RECEIPT_DEPTH) {
        Ok(v) => v,
        Err(e) => {
            c.fail("parse", e);
            c.skip_rest(&STEPS[1..]);
            return c.result;
        }
    };
    verify_value(&value, opts, c)
}

/// Verifies an already parsed receipt value (the bindings hold one); the
/// same result as [`verify_receipt`] on its text.
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
/// use kwh_btc_iot_core::{json, verify::verify_receipt_value};
/// let value = json::parse(receipt.as_bytes()).unwrap();
/// assert_eq!(verify_receipt_value(&value, &VerifyOptions::default()), verify_receipt(receipt.as_bytes(), &VerifyOptions::default()));
/// ```
pub fn verify_receipt_value(value: &Value<'_>, opts: &VerifyOptions) -> Verification {
    verify_receipt(jcs::to_vec(value).as_slice(), opts)
}

fn verify_value(value: &Value<'_>, opts: &VerifyOptions, mut c: Checker<'_>) -> Verification {
    let parts = match ReceiptMembers::read(value) {
        Ok(p) => p,
        Err(e) => {
            c.fail("parse", e);
            c.skip_rest(&STEPS[1..]);
            return c.result;
        }
    };
    c.step(
        "parse",
        StepStatus::Passed,
        "receipt structure is emreceipt-1",
    );
    let mut canonical = Vec::new();
    let log_valid = step_leaf_hash(&mut c, &parts, &mut canonical);
    match step_head(&mut c, &parts) {
        Some(head) => {
            step_inclusion(&mut c, &parts, &head);
            let head_bytes = head.canonical_bytes();
            step_head_hash(&mut c, &head, &head_bytes);
            step_signature(&mut c, &parts, &head_bytes, opts);
            step_log_signature(&mut c, &parts, log_valid, &canonical);
            step_anchors(&mut c, &parts, Some(&head), opts);
        }
        None => {
            c.result.signature = SignatureStatus::NotChecked;
            c.step(
                "signature",
                StepStatus::Skipped,
                "not checked: batch_head is malformed",
            );
            step_log_signature(&mut c, &parts, log_valid, &canonical);
            step_anchors(&mut c, &parts, None, opts);
        }
    }
    c.result.valid = c.result.errors.is_empty();
    c.result
}

/// Step `leaf_hash`: the log normalized, canonicalized and hashed, against
/// the stated `leaf_hash`; its canonical bytes go to `canonical`. Whether
/// the log is valid.
fn step_leaf_hash(
    c: &mut Checker<'_>,
    parts: &ReceiptMembers<'_, '_>,
    canonical: &mut Vec<u8>,
) -> bool {
    // 1. The log: normalize, canonicalize, re-hash.
    let normalized: Option<Normalized<'_>> = match emlog::normalize_value(parts.log.clone()) {
        Ok(n) => {
            n.log.write_canonical(canonical);
            let leaf = leaf_hash_bytes(canonical);
            c.result.leaf_hash = Some(leaf.to_hex());
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
            c.fail("leaf_hash", e.nested("log"));
            None
        }
    };
    if let Some(n) = &normalized {
        c.result.warnings = n.warnings.clone();
    }

    normalized.is_some()
}

/// Step `head` (its failure): the batch head read; `None`, with `inclusion`
/// skipped and `head` failed, when it is malformed.
fn step_head(c: &mut Checker<'_>, parts: &ReceiptMembers<'_, '_>) -> Option<BatchHead> {
    // The head is needed for the inclusion check (log_count, merkle_root).
    match BatchHead::parse(parts.head, "batch_head") {
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
    }
}

/// Step `inclusion`: the path folded from the stated leaf hash to the head's
/// `merkle_root`.
fn step_inclusion(c: &mut Checker<'_>, parts: &ReceiptMembers<'_, '_>, h: &BatchHead) {
    match merkle::root_from_inclusion_path(
        &parts.leaf_hash,
        parts.leaf_index,
        h.log_count,
        &parts.path,
    ) {
        Ok(r) => {
            c.result.merkle_root = Some(r.to_hex());
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
}

/// Step `head`: the head's hash, SHA-256(0x02 || JCS(head)).
fn step_head_hash(c: &mut Checker<'_>, h: &BatchHead, head_bytes: &[u8]) {
    c.result.head_hash = Some(crate::hash::head_hash_bytes(head_bytes).to_hex());
    c.step(
        "head",
        StepStatus::Passed,
        format!(
            "batch {} seq {} of gateway {}",
            h.batch_id, h.seq, h.gateway_id
        ),
    );
}

/// Step `signature`: the gateway's Ed25519 signature over JCS(batch_head),
/// and the trusted key when one is given.
fn step_signature(
    c: &mut Checker<'_>,
    parts: &ReceiptMembers<'_, '_>,
    head_bytes: &[u8],
    opts: &VerifyOptions,
) {
    match parts.head_signature {
        Value::Null => {
            c.result.signature = SignatureStatus::Absent;
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
        sv => match Signature::parse(sv, "head_signature") {
            Err(e) => {
                c.result.signature = SignatureStatus::Invalid;
                c.fail("signature", e);
            }
            Ok(sig) => {
                c.result.signer = Some(crate::encoding::hex::encode(&sig.public_key));
                let head_hash = crate::hash::head_hash_bytes(head_bytes);
                let key = SignatureCache::key(&sig, &head_hash);
                let cached = c
                    .cache
                    .as_ref()
                    .is_some_and(|cache| cache.verified.contains(&key));
                let checked = if cached {
                    Ok(())
                } else {
                    sig.verify(head_bytes)
                };
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
                        c.result.signature = SignatureStatus::Invalid;
                        let e = Error {
                            member: Some("head_signature".into()),
                            message: format!("head_signature: {}", e.message),
                            ..e
                        };
                        c.fail("signature", e);
                    }
                    Ok(()) => match opts.gateway_key {
                        Some(trusted) if trusted != sig.public_key => {
                            c.result.signature = SignatureStatus::UntrustedKey;
                            c.fail(
                                "signature",
                                Error::member(
                                    ErrorCode::UntrustedKey,
                                    "head_signature.public_key",
                                    format!(
                                        "the head is signed by {}, not by the trusted gateway key {}",
                                        crate::encoding::hex::encode(&sig.public_key),
                                        crate::encoding::hex::encode(&trusted)
                                    ),
                                ),
                            );
                        }
                        trusted => {
                            c.result.signature = SignatureStatus::Valid;
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
}

/// Step `log_signature`: the device's signature over the log's canonical
/// bytes, when the receipt carries one.
fn step_log_signature(
    c: &mut Checker<'_>,
    parts: &ReceiptMembers<'_, '_>,
    log_valid: bool,
    canonical: &[u8],
) {
    match parts.log_signature {
        None => {
            c.result.log_signature = SignatureStatus::Absent;
            c.step(
                "log_signature",
                StepStatus::Skipped,
                "the log is not signed by its device",
            );
        }
        Some(sv) => match (Signature::parse(sv, "log_signature"), log_valid) {
            (Err(e), _) => {
                c.result.log_signature = SignatureStatus::Invalid;
                c.fail("log_signature", e);
            }
            (Ok(_), false) => {
                c.step(
                    "log_signature",
                    StepStatus::Skipped,
                    "not checked: the log is invalid",
                );
            }
            (Ok(sig), true) => match sig.verify(canonical) {
                Ok(()) => {
                    c.result.log_signature = SignatureStatus::Valid;
                    c.step(
                        "log_signature",
                        StepStatus::Passed,
                        "the device's Ed25519 signature over the log verifies",
                    );
                }
                Err(e) => {
                    c.result.log_signature = SignatureStatus::Invalid;
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
}

/// Step `anchors`: each anchor reported as verified / pending /
/// needs_header / invalid / unknown; an unknown type is not fatal.
fn step_anchors(
    c: &mut Checker<'_>,
    parts: &ReceiptMembers<'_, '_>,
    head: Option<&BatchHead>,
    opts: &VerifyOptions,
) {
    let anchors = check_anchors(parts.anchors, head, &opts.anchor);
    c.result.anchors = anchors.results;
    c.result
        .errors
        .extend(anchors.errors.into_iter().map(VerifyError::from));
    c.step("anchors", anchors.step_status, anchors.step_detail);
}
