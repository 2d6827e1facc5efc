//! Anchor verification: whether an anchor of a receipt proves that its
//! batch head hash existed when a Bitcoin block was mined (the formats are
//! in [`crate::model::anchor`]).
//!
//! Each anchor is reported as `verified` (height, block hash, block time),
//! `pending` (the calendars that will complete it), `needs_header` (the proof
//! reaches a Bitcoin block whose header was not given), `invalid` (which step
//! failed: [`AnchorResult::failed_step`]), or `unknown` (a type or attestation
//! this verifier does not check). What the verifier does not check is said
//! in [`AnchorResult::not_checked`]: that the block is in Bitcoin's best
//! chain at that height. The block hash is given so the caller can look it up.
//!
//! ```
//! use kwh_btc_iot_core::verify::anchor::AnchorOptions;
//! let e = AnchorOptions::from_parts(Some("moon"), []).unwrap_err();
//! assert_eq!(e.member.as_deref(), Some("network"));
//! ```

use std::collections::BTreeMap;

use crate::encoding::bitcoin::{self, BlockHeader, Network, Transaction};
use crate::encoding::hex;
use crate::encoding::ots::{Attestation, DetachedTimestampFile, Op};
use crate::encoding::spv::{self, MerkleBlock};
use crate::error::{Error, ErrorCode, FailedStep};
use crate::hash::Hash;
use crate::json::Value;
use crate::model::anchor::join;
use crate::model::anchor::{
    Anchor, BitcoinAnchor, OtsAnchor, MAX_ANCHOR_HEADERS, TYPE_BITCOIN, TYPE_OPENTIMESTAMPS,
};
use crate::model::head::BatchHead;
use crate::verify::outcome::{AnchorResult, AnchorStatus, StepStatus};

/// Most anchors checked in one receipt (each is bounded on its own; this
/// bounds the whole receipt). Further anchors make the receipt invalid.
pub const MAX_ANCHORS: usize = 16;
/// Longest OP_RETURN push accepted as a commitment (standard relay limit).
pub const MAX_COMMITMENT_PUSH: usize = 80;

/// What the verifier of an anchor trusts the caller for.
///
/// ```
/// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
/// use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::AnchorOptions};
/// let opts = AnchorOptions::from_parts(Some("mainnet"), [("0", genesis_hex)]).unwrap();
/// assert_eq!(opts.network, Network::Mainnet);
/// assert_eq!(opts.headers[&0].block_hash_display(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnchorOptions {
    /// The network whose proof-of-work limit applies (default mainnet).
    pub network: Network,
    /// Block headers by height that the caller trusts (from its own node or
    /// header chain). They take precedence over headers carried in anchors.
    pub headers: BTreeMap<u64, BlockHeader>,
}

impl AnchorOptions {
    /// Options for a network, trusting no headers (anchors then rely on the
    /// headers they carry, checked for proof of work).
    ///
    /// ```
    /// use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::AnchorOptions};
    /// let opts = AnchorOptions::for_network(Network::Regtest);
    /// assert!(opts.headers.is_empty());
    /// assert_eq!(AnchorOptions::default().network, Network::Mainnet);
    /// ```
    pub fn for_network(network: Network) -> Self {
        AnchorOptions {
            network,
            headers: BTreeMap::new(),
        }
    }

    /// Options from what a caller typed: a network name (`None`: mainnet)
    /// and trusted headers as (height in decimal, 160 hex characters) pairs.
    /// This is the one conversion every binding and the CLI use; errors name
    /// the member (`network`, `headers.<height>`) and the rule.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::verify::AnchorOptions;
    /// assert_eq!(AnchorOptions::from_parts(None, [("0", genesis_hex)]).unwrap().headers.len(), 1);
    /// let e = AnchorOptions::from_parts(None, [("0", "00")]).unwrap_err();
    /// assert_eq!(e.member.as_deref(), Some("headers.0"));
    /// ```
    pub fn from_parts<'a>(
        network: Option<&str>,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let network = match network {
            None => Network::Mainnet,
            Some(s) => Network::parse(s).ok_or_else(|| {
                Error::member(
                    ErrorCode::InvalidValue,
                    "network",
                    format!("\"{s}\" is not mainnet, testnet, signet or regtest"),
                )
            })?,
        };
        let mut opts = AnchorOptions::for_network(network);
        for (height, header) in headers {
            opts.trust_header(height, header)?;
        }
        Ok(opts)
    }

    /// Adds a header the caller trusts at a height given in decimal (no sign,
    /// no leading zero). Errors name `headers.<height>`.
    ///
    /// ```
    /// # let genesis_hex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
    /// use kwh_btc_iot_core::verify::AnchorOptions;
    /// let mut opts = AnchorOptions::default();
    /// opts.trust_header("0", genesis_hex).unwrap();
    /// assert_eq!(opts.trust_header("00", genesis_hex).unwrap_err().member.as_deref(), Some("headers.00"));
    /// ```
    pub fn trust_header(&mut self, height: &str, header_hex: &str) -> Result<(), Error> {
        let member = || format!("headers.{height}");
        let h = match height.parse::<u64>() {
            Ok(h) if h.to_string() == height => h,
            _ => {
                return Err(Error::member(
                    ErrorCode::InvalidValue,
                    member(),
                    "the key must be a block height in decimal (an integer >= 0)",
                ))
            }
        };
        if self.headers.len() >= MAX_ANCHOR_HEADERS && !self.headers.contains_key(&h) {
            return Err(Error::member(
                ErrorCode::InvalidValue,
                "headers",
                format!("at most {MAX_ANCHOR_HEADERS} trusted headers"),
            ));
        }
        let header = BlockHeader::from_hex(header_hex).map_err(|e| {
            Error::member(
                ErrorCode::InvalidValue,
                member(),
                format!(
                    "is not a block header (80 bytes, 160 hex characters): {}",
                    e.message
                ),
            )
        })?;
        self.headers.insert(h, header);
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Fail {
    step: FailedStep,
    member: String,
    message: String,
}

fn fail(step: FailedStep, member: impl Into<String>, message: impl Into<String>) -> Fail {
    Fail {
        step,
        member: member.into(),
        message: message.into(),
    }
}

fn new_result(anchor_type: &str, status: AnchorStatus, detail: impl Into<String>) -> AnchorResult {
    AnchorResult {
        anchor_type: anchor_type.to_string(),
        status,
        detail: detail.into(),
        failed_step: None,
        network: None,
        anchored_head_hash: None,
        height: None,
        block_hash: None,
        block_time: None,
        txid: None,
        calendars: Vec::new(),
        not_checked: None,
    }
}

fn not_checked_note(block_hash: &str, height: u64, height_from: &str) -> String {
    format!(
        "that block {block_hash} is in Bitcoin's best chain at height {height} ({height_from}); \
         compare the block hash with a node or block explorer you trust"
    )
}

fn type_of<'a>(anchor: &'a Value<'_>) -> Option<&'a str> {
    match (anchor, anchor.get("type")) {
        (Value::Object(_), Some(Value::String(t))) => Some(t),
        _ => None,
    }
}

/// Verifies one anchor, given as JSON, for a receipt whose head is `head`
/// (already parsed). `index` names the anchor in member paths
/// (`anchors[index]`). Returns the result and, when the anchor is invalid,
/// the error to report.
///
/// ```
/// use kwh_btc_iot_core::verify::anchor::{verify_anchor, AnchorOptions};
/// use kwh_btc_iot_core::verify::AnchorStatus;
/// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
/// # let head = BatchHead { gateway_id: "g".into(), batch_id: "b".into(), seq: 1, log_count: 1,
/// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
/// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// let a = kwh_btc_iot_core::json::parse(br#"{"type":"someday"}"#).unwrap();
/// let (r, e) = verify_anchor(&a, 0, &head, &AnchorOptions::default());
/// assert_eq!((r.status, e), (AnchorStatus::Unknown, None));
/// ```
pub fn verify_anchor(
    anchor: &Value<'_>,
    index: usize,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> (AnchorResult, Option<Error>) {
    let base = format!("anchors[{index}]");
    let Some(t) = type_of(anchor) else {
        return untyped(index);
    };
    let run = Anchor::parse(anchor, &base)
        .map_err(|e| Fail {
            step: e.step,
            member: e.member,
            message: e.message,
        })
        .and_then(|a| verify_parsed(&a, &base, head, opts));
    match run {
        Ok(mut r) => {
            r.anchor_type = t.to_string();
            (r, None)
        }
        Err(f) => {
            let mut r = new_result(
                t,
                AnchorStatus::Invalid,
                format!("{}: {}", f.step, f.message),
            );
            r.failed_step = Some(f.step);
            r.network = Some(opts.network.as_str());
            let e = Error::member(
                ErrorCode::InvalidAnchor,
                f.member.clone(),
                format!("{} (step {})", f.message, f.step),
            );
            (r, Some(e))
        }
    }
}

/// Verifies one typed anchor (as the gateway does before storing it): the
/// same checks as [`verify_anchor`], with `base` naming it in member paths.
///
/// ```
/// use kwh_btc_iot_core::{json, model::anchor::Anchor, verify::anchor::{verify_typed_anchor, AnchorOptions}};
/// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
/// # let head = BatchHead { gateway_id: "g".into(), batch_id: "b".into(), seq: 1, log_count: 1,
/// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
/// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// let a = Anchor::parse(&json::parse(br#"{"type":"someday"}"#).unwrap(), "anchor").unwrap();
/// assert!(verify_typed_anchor(&a, "anchor", &head, &AnchorOptions::default()).is_ok());
/// ```
pub fn verify_typed_anchor(
    anchor: &Anchor,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, AnchorFailure> {
    verify_parsed(anchor, base, head, opts).map_err(AnchorFailure::from)
}

/// The checks of one typed anchor, whichever way it came in.
fn verify_parsed(
    anchor: &Anchor,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, Fail> {
    match anchor {
        Anchor::OpenTimestamps(o) => verify_ots_anchor(o, base, head, opts),
        Anchor::Bitcoin(b) => verify_bitcoin_anchor(b, base, head, opts),
        Anchor::Unknown(_) => {
            let t = anchor.type_name();
            Ok(new_result(
                t,
                AnchorStatus::Unknown,
                format!("anchor type \"{t}\" is not known to this verifier; not checked"),
            ))
        }
    }
}

fn untyped(index: usize) -> (AnchorResult, Option<Error>) {
    (
        new_result("", AnchorStatus::Invalid, "no type"),
        Some(Error::member(
            ErrorCode::InvalidAnchor,
            format!("anchors[{index}]"),
            "must be an object with a string \"type\"",
        )),
    )
}

/// The outcome of checking a receipt's anchors: one result each, the errors
/// of the invalid ones, and the `anchors` step.
///
/// ```
/// # use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::anchor::{check_anchors, AnchorOptions}};
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
/// # let head = &built.batch.head;
/// # let good = BitcoinAnchor::new(&built.batch.head_hash.0, 3, 101).to_value();
/// # let other = BitcoinAnchor::new(&[0; 32], 3, 101).to_value();
/// # let opts = AnchorOptions::for_network(Network::Regtest);
/// let out = check_anchors(&[good, other], Some(head), &opts);
/// assert_eq!(out.results[0].status.as_str(), "verified");
/// assert_eq!(out.results[1].failed_step.unwrap().as_str(), "tx_commitment");
/// assert_eq!(out.errors[0].code.as_str(), "invalid_anchor");
/// assert_eq!(out.step_status.as_str(), "failed");
/// ```
#[derive(Debug, Clone)]
pub struct AnchorsOutcome {
    /// One result per anchor, in order.
    pub results: Vec<AnchorResult>,
    /// Errors (code `invalid_anchor`) of the invalid anchors.
    pub errors: Vec<Error>,
    /// The `anchors` step's status: failed if any anchor is invalid, skipped
    /// when there are none.
    pub step_status: StepStatus,
    /// The `anchors` step's detail: a count per anchor status.
    pub step_detail: String,
}

/// Checks every anchor of a receipt. With `head` `None` (the receipt's
/// head is malformed), typed anchors are reported `not_checked`.
///
/// ```
/// # use kwh_btc_iot_core::{encoding::bitcoin::Network, verify::anchor::{check_anchors, AnchorOptions}};
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
/// # let head = &built.batch.head;
/// # let good = BitcoinAnchor::new(&built.batch.head_hash.0, 3, 101).to_value();
/// # let other = BitcoinAnchor::new(&[0; 32], 3, 101).to_value();
/// # let opts = AnchorOptions::for_network(Network::Regtest);
/// assert_eq!(check_anchors(&[good.clone()], Some(head), &opts).step_status.as_str(), "passed");
/// // Without a readable head, typed anchors are not checked.
/// assert_eq!(check_anchors(&[good], None, &opts).results[0].status.as_str(), "not_checked");
/// ```
pub fn check_anchors(
    anchors: &[Value<'_>],
    head: Option<&BatchHead>,
    opts: &AnchorOptions,
) -> AnchorsOutcome {
    let mut results = Vec::with_capacity(anchors.len());
    let mut errors = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        if i >= MAX_ANCHORS {
            let mut r = new_result(
                type_of(a).unwrap_or(""),
                AnchorStatus::Invalid,
                format!("format: only {MAX_ANCHORS} anchors per receipt are checked"),
            );
            r.failed_step = Some(FailedStep::Format);
            results.push(r);
            if i == MAX_ANCHORS {
                errors.push(Error::member(
                    ErrorCode::InvalidAnchor,
                    "anchors",
                    format!("has {} anchors, more than {MAX_ANCHORS}", anchors.len()),
                ));
            }
            continue;
        }
        let (r, e) = match head {
            Some(h) => verify_anchor(a, i, h, opts),
            None => match type_of(a) {
                Some(t) => (
                    new_result(
                        t,
                        AnchorStatus::NotChecked,
                        "not checked: the receipt's batch_head is malformed",
                    ),
                    None,
                ),
                _ => untyped(i),
            },
        };
        results.push(r);
        errors.extend(e);
    }
    let count = |s: AnchorStatus| results.iter().filter(|r| r.status == s).count();
    let (step_status, step_detail) = if anchors.is_empty() {
        (StepStatus::Skipped, "no anchors yet".to_string())
    } else if !errors.is_empty() {
        (
            StepStatus::Failed,
            format!(
                "{} of {} anchor(s) invalid",
                count(AnchorStatus::Invalid),
                anchors.len()
            ),
        )
    } else {
        let parts: Vec<String> = [
            AnchorStatus::Verified,
            AnchorStatus::Pending,
            AnchorStatus::NeedsHeader,
            AnchorStatus::Unknown,
            AnchorStatus::NotChecked,
        ]
        .into_iter()
        .filter(|s| count(*s) > 0)
        .map(|s| format!("{} {}", count(s), s.as_str()))
        .collect();
        (
            StepStatus::Passed,
            format!("{} anchor(s) reported: {}", anchors.len(), parts.join(", ")),
        )
    };
    AnchorsOutcome {
        results,
        errors,
        step_status,
        step_detail,
    }
}

/// The network check and the `heads` chain: the anchor's network must be
/// the verifier's, and each later head must follow the one before it (the
/// first one: the receipt's head). Returns the anchored head hash and the
/// chain's length.
fn anchored_hash(
    heads: &[BatchHead],
    network: Option<Network>,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<(Hash, usize), Fail> {
    if let Some(n) = network {
        if n != opts.network {
            return Err(fail(
                FailedStep::Network,
                join(base, "network"),
                format!(
                    "the anchor is for {n}, the verifier checks {}",
                    opts.network
                ),
            ));
        }
    }
    let mut prev = head.hash();
    let mut prev_seq = head.seq;
    for (k, h) in heads.iter().enumerate() {
        let hm = join(base, &format!("heads[{k}]"));
        if h.prev_head_hash != Some(prev) {
            return Err(fail(
                FailedStep::HeadChain,
                format!("{hm}.prev_head_hash"),
                format!(
                    "is {}, but the head before it hashes to {}",
                    h.prev_head_hash.map_or("null".into(), |x| x.to_hex()),
                    prev.to_hex()
                ),
            ));
        }
        if h.gateway_id != head.gateway_id {
            return Err(fail(
                FailedStep::HeadChain,
                format!("{hm}.gateway_id"),
                format!(
                    "is \"{}\", the receipt's gateway is \"{}\"",
                    h.gateway_id, head.gateway_id
                ),
            ));
        }
        if h.seq != prev_seq.saturating_add(1) {
            return Err(fail(
                FailedStep::HeadChain,
                format!("{hm}.seq"),
                format!("is {}, expected {}", h.seq, prev_seq.saturating_add(1)),
            ));
        }
        prev_seq = h.seq;
        prev = h.hash();
    }
    Ok((prev, heads.len()))
}

fn chain_label(anchored: &Hash, chain_len: usize) -> String {
    if chain_len > 0 {
        format!(
            "head hash (through {chain_len} later head(s) ending at {})",
            anchored.to_hex()
        )
    } else {
        "head hash".to_string()
    }
}

fn verify_ots_anchor(
    a: &OtsAnchor,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, Fail> {
    let (anchored, chain_len) = anchored_hash(&a.heads, a.network, base, head, opts)?;
    // Headers carried in the anchor; the verifier's own take precedence.
    let mut headers: BTreeMap<u64, (BlockHeader, HeaderOrigin)> = a
        .headers
        .iter()
        .map(|(h, hd)| (*h, (*hd, HeaderOrigin::Carried)))
        .collect();
    for (h, hd) in &opts.headers {
        headers.insert(*h, (*hd, HeaderOrigin::Trusted));
    }
    let label = chain_label(&anchored, chain_len);
    ots_core(&a.file, &anchored.0, &headers, opts.network, &label)
        .map(|mut r| {
            r.anchored_head_hash = Some(anchored.to_hex());
            r
        })
        .map_err(|f| Fail {
            member: if f.member.is_empty() {
                join(base, "ots")
            } else {
                join(base, &f.member)
            },
            ..f
        })
}

#[derive(Clone, Copy)]
enum HeaderOrigin {
    Trusted,
    Carried,
}

impl HeaderOrigin {
    fn describe(self) -> &'static str {
        match self {
            HeaderOrigin::Trusted => "header supplied by the verifier",
            HeaderOrigin::Carried => "header carried in the anchor",
        }
    }
}

/// Why a proof does not verify: the step that failed and why.
///
/// ```
/// use kwh_btc_iot_core::{encoding::{bitcoin::{Network, Transaction}, spv::MerkleBlock}, verify::anchor::verify_bitcoin_proof};
/// let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 3, 101);
/// let tx = Transaction::parse(&f.raw_tx).unwrap();
/// // The regtest header has far too little work for mainnet.
/// let e = verify_bitcoin_proof(&tx, &f.merkleblock, &[0x42; 32], 101, None, Network::Mainnet).unwrap_err();
/// assert_eq!(e.step.as_str(), "header_pow");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorFailure {
    /// The step (see [`AnchorResult::failed_step`]).
    pub step: FailedStep,
    /// The input at fault (`headers.<height>`, `raw_tx`, ...; empty for the proof itself).
    pub member: String,
    /// What went wrong, for people (match on `step`).
    pub message: String,
}

impl std::fmt::Display for AnchorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.message)
    }
}

impl From<Fail> for AnchorFailure {
    fn from(f: Fail) -> Self {
        AnchorFailure {
            step: f.step,
            member: f.member,
            message: f.message,
        }
    }
}

/// Verifies a detached OpenTimestamps proof for `digest` (its file hash op
/// must be SHA-256 for a 32-byte digest, or match the digest length
/// otherwise) against headers by height (trusted by the caller), with the
/// proof of work of `network`. The result's status is `verified`,
/// `needs_header`, `pending` or `unknown`; an error says which step failed.
///
/// ```
/// use std::collections::BTreeMap;
/// use kwh_btc_iot_core::{encoding::{bitcoin::Network, ots::DetachedTimestampFile}, verify::anchor::verify_ots_proof};
/// let digest = [0x42; 32];
/// let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let file = DetachedTimestampFile::parse(&ots).unwrap();
/// let r = verify_ots_proof(&file, &digest, &BTreeMap::from([(7, header)]), Network::Regtest).unwrap();
/// assert_eq!((r.status.as_str(), r.height), ("verified", Some(7)));
/// let r = verify_ots_proof(&file, &digest, &BTreeMap::new(), Network::Regtest).unwrap();
/// assert_eq!(r.status.as_str(), "needs_header");
/// ```
pub fn verify_ots_proof(
    file: &DetachedTimestampFile,
    digest: &[u8],
    headers: &BTreeMap<u64, BlockHeader>,
    network: Network,
) -> Result<AnchorResult, AnchorFailure> {
    let h = headers
        .iter()
        .map(|(k, v)| (*k, (*v, HeaderOrigin::Trusted)))
        .collect();
    ots_core(file, digest, &h, network, "digest").map_err(AnchorFailure::from)
}

fn ots_core(
    file: &DetachedTimestampFile,
    digest: &[u8],
    headers: &BTreeMap<u64, (BlockHeader, HeaderOrigin)>,
    network: Network,
    label: &str,
) -> Result<AnchorResult, Fail> {
    let sha256_expected = digest.len() == 32;
    if (sha256_expected && file.file_hash_op != Op::Sha256) || file.digest != digest {
        return Err(fail(
            FailedStep::OtsDigest,
            "",
            format!(
                "the proof is for the {} digest {}, not for the {label} {}",
                file.file_hash_op.name(),
                hex::encode(&file.digest),
                hex::encode(digest)
            ),
        ));
    }
    let reached = file.replay().map_err(|e| {
        fail(
            FailedStep::OtsReplay,
            "",
            format!("{} ({})", e.message, e.code),
        )
    })?;

    let mut verified: Vec<(u64, BlockHeader, Option<[u8; 32]>, HeaderOrigin)> = Vec::new();
    let mut needs: Vec<u64> = Vec::new();
    let mut calendars: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for r in &reached {
        match &r.attestation {
            Attestation::Bitcoin { height } => {
                let Some((header, source)) = headers.get(height) else {
                    needs.push(*height);
                    continue;
                };
                let hm = format!("headers.{height}");
                header.check_pow(network).map_err(|e| {
                    fail(
                        FailedStep::HeaderPow,
                        hm,
                        format!("block {height}: {}", e.message),
                    )
                })?;
                if r.msg.len() != 32 || r.msg[..] != header.merkle_root[..] {
                    return Err(fail(FailedStep::MerkleRoot,
                        "",
                        format!(
                            "the proof's message for block {height} is {}, but the header's merkle root is {}",
                            hex::encode(&r.msg),
                            hex::encode(&header.merkle_root)
                        ),
                    ));
                }
                verified.push((*height, *header, r.txid, *source));
            }
            Attestation::Pending { uri } => {
                if !calendars.contains(uri) {
                    calendars.push(uri.clone());
                }
            }
            other => others.push(other.to_string()),
        }
    }
    let mut res = new_result(TYPE_OPENTIMESTAMPS, AnchorStatus::Unknown, "");
    res.network = Some(network.as_str());
    res.calendars = calendars.clone();
    if let Some((height, header, txid, source)) = verified.iter().min_by_key(|v| v.0) {
        let bh = header.block_hash_display();
        let time = crate::time::Timestamp::from_unix(i64::from(header.time), 0).to_rfc3339();
        res.status = AnchorStatus::Verified;
        res.height = Some(*height);
        res.block_hash = Some(bh.clone());
        res.block_time = Some(u64::from(header.time));
        res.txid = txid.map(|t| bitcoin::display_hex(&t));
        res.detail = format!(
            "the {label} is committed in Bitcoin block {height} ({bh}, mined {time}){}; {}, proof of work checked ({network})",
            txid.map(|t| format!(" through transaction {}", bitcoin::display_hex(&t)))
                .unwrap_or_default(),
            source.describe()
        );
        res.not_checked = Some(not_checked_note(
            &bh,
            *height,
            "the height the proof states",
        ));
    } else if let Some(h) = needs.iter().min() {
        res.status = AnchorStatus::NeedsHeader;
        res.height = Some(*h);
        res.detail = format!(
            "the proof of the {label} reaches Bitcoin block {h}; give the header of that block (the anchor's \"headers\" or the verifier's options) to verify it"
        );
        res.not_checked = Some(format!(
            "the Bitcoin attestation at height {h}: no header was given"
        ));
    } else if !calendars.is_empty() {
        res.status = AnchorStatus::Pending;
        res.detail = format!(
            "pending at {} calendar(s): {}; ask them for the upgraded proof",
            calendars.len(),
            calendars.join(", ")
        );
        res.not_checked = Some("that the calendars will anchor the commitment in Bitcoin".into());
    } else {
        res.status = AnchorStatus::Unknown;
        res.detail = format!(
            "no Bitcoin or pending attestation this verifier checks (found: {})",
            others.join(", ")
        );
    }
    Ok(res)
}

fn verify_bitcoin_anchor(
    a: &BitcoinAnchor,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, Fail> {
    let (anchored, chain_len) = anchored_hash(&a.heads, a.network, base, head, opts)?;
    let label = chain_label(&anchored, chain_len);
    bitcoin_core(
        &a.tx,
        &a.merkle_block,
        &anchored.0,
        a.height,
        opts.headers.get(&a.height),
        opts.network,
        &label,
    )
    .map(|mut r| {
        r.anchored_head_hash = Some(anchored.to_hex());
        r
    })
    .map_err(|f| Fail {
        member: join(base, &f.member),
        ..f
    })
}

/// Verifies that transaction `tx` commits to `digest` in an `OP_RETURN`
/// output (a push of at most 80 bytes ending with the digest), that the
/// `merkleblock` proves it is in its block, and that the block's header has
/// valid proof of work for `network` (and, when the caller trusts a header
/// at `height`, that it is that header).
///
/// ```
/// use kwh_btc_iot_core::{encoding::bitcoin::{Network, Transaction}, verify::anchor::verify_bitcoin_proof};
/// let f = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 3, 101);
/// let tx = Transaction::parse(&f.raw_tx).unwrap();
/// let r = verify_bitcoin_proof(&tx, &f.merkleblock, &[0x42; 32], 101, Some(&f.header), Network::Regtest).unwrap();
/// assert_eq!(r.txid, Some(tx.txid_display()));
/// assert!(verify_bitcoin_proof(&tx, &f.merkleblock, &[0x43; 32], 101, None, Network::Regtest).is_err());
/// ```
pub fn verify_bitcoin_proof(
    tx: &Transaction,
    proof: &MerkleBlock,
    digest: &[u8; 32],
    height: u64,
    trusted_header: Option<&BlockHeader>,
    network: Network,
) -> Result<AnchorResult, AnchorFailure> {
    bitcoin_core(tx, proof, digest, height, trusted_header, network, "digest")
        .map_err(AnchorFailure::from)
}

fn bitcoin_core(
    tx: &Transaction,
    mb: &MerkleBlock,
    digest: &[u8; 32],
    height: u64,
    trusted_header: Option<&BlockHeader>,
    network: Network,
    label: &str,
) -> Result<AnchorResult, Fail> {
    spv::check_tx_not_64_bytes(tx).map_err(|e| fail(FailedStep::RawTx, "raw_tx", e.message))?;
    let vout = tx
        .outputs
        .iter()
        .position(|o| {
            o.op_return_data()
                .is_some_and(|d| d.len() <= MAX_COMMITMENT_PUSH && d.ends_with(digest))
        })
        .ok_or_else(|| {
            fail(
                FailedStep::TxCommitment,
                "raw_tx",
                format!(
                    "no OP_RETURN output of transaction {} holds the {label} {}",
                    tx.txid_display(),
                    hex::encode(digest)
                ),
            )
        })?;
    let source = match trusted_header {
        Some(t) if *t != mb.header => {
            return Err(fail(
                FailedStep::Header,
                "header",
                format!(
                    "the proof's block {} is not the verifier's block {} at height {height}",
                    mb.header.block_hash_display(),
                    t.block_hash_display()
                ),
            ))
        }
        Some(_) => "the header is the verifier's",
        None => "header from the proof",
    };
    let header = mb.header;
    header
        .check_pow(network)
        .map_err(|e| fail(FailedStep::HeaderPow, "header", e.message))?;
    let proven = mb.verify().map_err(|e| {
        fail(
            FailedStep::MerkleProof,
            "merkle_proof",
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let Some((index, _)) = proven.matches.iter().find(|(_, id)| *id == tx.txid) else {
        return Err(fail(
            FailedStep::TxInclusion,
            "merkle_proof",
            format!(
                "the merkle proof does not include transaction {} (it proves {})",
                tx.txid_display(),
                proven
                    .matches
                    .iter()
                    .map(|(_, t)| bitcoin::display_hex(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let bh = header.block_hash_display();
    let time = crate::time::Timestamp::from_unix(i64::from(header.time), 0).to_rfc3339();
    let mut res = new_result(
        TYPE_BITCOIN,
        AnchorStatus::Verified,
        format!(
            "the {label} is in output {vout} of transaction {}, index {index} of {} in block {bh} (mined {time}); {source}, proof of work checked ({network})",
            tx.txid_display(),
            mb.tree.total_transactions,
        ),
    );
    res.network = Some(network.as_str());
    res.height = Some(height);
    res.block_hash = Some(bh.clone());
    res.block_time = Some(u64::from(header.time));
    res.txid = Some(tx.txid_display());
    res.not_checked = Some(not_checked_note(
        &bh,
        height,
        "the height the anchor states",
    ));
    Ok(res)
}
