//! Bitcoin anchors of batch heads, verified offline.
//!
//! A receipt's `anchors` list may carry proofs that the batch head hash
//! (SPEC section 4) existed when a Bitcoin block was mined:
//!
//! * `opentimestamps`: `{"type": "opentimestamps", "ots": <hex or base64 of a
//!   detached .ots file whose digest is the head hash>, "headers": {"<height>":
//!   "<80-byte header hex>", ...}}`. The head hash is the SHA-256 of
//!   `0x02 || JCS(batch_head)`, so the `.ots` file is also a valid proof for a
//!   file holding those bytes (see [`head_preimage`]), and any OpenTimestamps
//!   client can check it.
//! * `bitcoin`: `{"type": "bitcoin", "raw_tx": <hex>, "merkle_proof":
//!   <merkleblock hex, as gettxoutproof returns>, "header": <80-byte hex,
//!   optional: the merkleblock has it>, "height": <number>}`; one output of
//!   the transaction is `OP_RETURN <32 bytes>` holding the head hash (a push
//!   of up to 80 bytes that ends with the head hash is accepted too).
//!
//! Both accept `"heads": [<batch head>, ...]`: later heads of the same
//! gateway, in order, each one's `prev_head_hash` the hash of the one
//! before (the first one's: the receipt's head), so that one anchor of a
//! later head covers every earlier batch; the anchored digest is then the
//! last head's hash. And both accept `"network"` (`mainnet`, `testnet`,
//! `signet`, `regtest`), which must be the verifier's network.
//!
//! Each anchor is reported as `verified` (height, block hash, block time),
//! `pending` (the calendars that will complete it), `needs_header` (the proof
//! reaches a Bitcoin block whose header was not given), `invalid` (which step
//! failed: [`AnchorResult::failed_step`]), or `unknown` (a type or attestation
//! this verifier does not check). What the verifier does not check is said
//! in [`AnchorResult::not_checked`]: that the block is in Bitcoin's best
//! chain at that height. The block hash is given so the caller can look it up.
//!
//! Modules: [`ots`] (the OpenTimestamps format), [`bitcoin`] (headers,
//! transactions, blocks), [`spv`] (merkle trees, branches, `merkleblock`).

pub mod bitcoin;
pub mod ots;
pub mod spv;

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::batch::BatchHead;
use crate::error::{Error, ErrorCode};
use crate::hash::{to_hex, Hash};
use crate::json::Value;
use crate::receipt::{AnchorResult, StepStatus, Verification, VerifyOptions};

pub use bitcoin::{BlockHeader, Network, Transaction};
pub use ots::{Attestation, DetachedTimestampFile, Op};
pub use spv::MerkleBlock;

/// The `type` of an OpenTimestamps anchor.
pub const TYPE_OPENTIMESTAMPS: &str = "opentimestamps";
/// The `type` of a Bitcoin transaction anchor.
pub const TYPE_BITCOIN: &str = "bitcoin";
/// Most later heads an anchor's `heads` chain may hold.
pub const MAX_CHAIN_HEADS: usize = 10_000;
/// Most block headers an anchor's `headers` may hold.
pub const MAX_ANCHOR_HEADERS: usize = 1_000;
/// Most anchors checked in one receipt (each is bounded on its own; this
/// bounds the whole receipt). Further anchors make the receipt invalid.
pub const MAX_ANCHORS: usize = 16;
/// Longest OP_RETURN push accepted as a commitment (standard relay limit).
pub const MAX_COMMITMENT_PUSH: usize = 80;

/// Anchor statuses.
pub mod status {
    /// The proof checks out against a header with valid proof of work.
    pub const VERIFIED: &str = "verified";
    /// Only calendar (pending) attestations: not in Bitcoin yet.
    pub const PENDING: &str = "pending";
    /// The proof reaches a Bitcoin block whose header was not supplied.
    pub const NEEDS_HEADER: &str = "needs_header";
    /// A step failed; see `failed_step`.
    pub const INVALID: &str = "invalid";
    /// A type (or only attestations) this verifier does not check.
    pub const UNKNOWN: &str = "unknown";
    /// Not checked because the receipt's batch head is malformed.
    pub const NOT_CHECKED: &str = "not_checked";
}

/// What the verifier of an anchor trusts the caller for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnchorOptions {
    /// The network whose proof-of-work limit applies (default mainnet).
    pub network: Network,
    /// Block headers by height that the caller trusts (from its own node or
    /// header chain). They take precedence over headers carried in anchors.
    pub headers: BTreeMap<u64, BlockHeader>,
}

impl AnchorOptions {
    /// Options for a network, without headers.
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

/// The bytes whose SHA-256 is the head hash: `0x02 || JCS(head)`. Saved as a
/// file, they let any OpenTimestamps client verify an `opentimestamps` anchor
/// (`ots verify -f head.bin head.bin.ots`).
pub fn head_preimage(head: &BatchHead) -> Vec<u8> {
    let mut v = vec![crate::hash::HEAD_PREFIX];
    v.extend_from_slice(&head.canonical_bytes());
    v
}

/// An `opentimestamps` anchor object for a receipt: the `.ots` bytes (hex)
/// and the headers (by height) it needs.
pub fn opentimestamps_anchor(ots: &[u8], headers: &[(u64, BlockHeader)]) -> Value<'static> {
    let k = |s: &str| Cow::Owned(s.to_string());
    let mut m = vec![
        (k("type"), Value::str(TYPE_OPENTIMESTAMPS)),
        (k("ots"), Value::str(to_hex(ots))),
    ];
    if !headers.is_empty() {
        m.push((
            k("headers"),
            Value::Object(
                headers
                    .iter()
                    .map(|(h, hd)| (k(&h.to_string()), Value::str(to_hex(&hd.to_bytes()))))
                    .collect(),
            ),
        ));
    }
    Value::Object(m)
}

/// A `bitcoin` anchor object for a receipt.
pub fn bitcoin_anchor(
    raw_tx: &[u8],
    merkle_proof: &[u8],
    header: &BlockHeader,
    height: u64,
) -> Value<'static> {
    let k = |s: &str| Cow::Owned(s.to_string());
    Value::Object(vec![
        (k("type"), Value::str(TYPE_BITCOIN)),
        (k("raw_tx"), Value::str(to_hex(raw_tx))),
        (k("merkle_proof"), Value::str(to_hex(merkle_proof))),
        (k("header"), Value::str(to_hex(&header.to_bytes()))),
        (k("height"), Value::Number(height as f64)),
    ])
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

/// Decodes hex (either case) or, when the text is not hex, base64
/// (standard or URL-safe alphabet, padding optional).
pub fn decode_hex_or_base64(s: &str) -> Option<Vec<u8>> {
    if !s.is_empty() {
        if let Some(b) = bitcoin::hex_bytes(s.as_bytes()) {
            return Some(b);
        }
    }
    decode_base64(s)
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let t = s.trim_end_matches('=');
    if s.len() - t.len() > 2 || t.len() % 4 == 1 {
        return None;
    }
    if s.len() != t.len() && s.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    for chunk in t.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let n = chunk.len() - 1;
        // Bits below the last full byte must be zero (canonical encoding).
        let spare = match n {
            1 => acc & 0xffff,
            2 => acc & 0xff,
            _ => 0,
        };
        if spare != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[1..1 + n]);
    }
    Some(out)
}

/// Why an anchor is invalid: the step and the message, with a member path.
#[derive(Debug, Clone)]
struct Fail {
    step: &'static str,
    member: String,
    message: String,
}

fn fail(step: &'static str, member: impl Into<String>, message: impl Into<String>) -> Fail {
    Fail {
        step,
        member: member.into(),
        message: message.into(),
    }
}

fn new_result(anchor_type: &str, status: &'static str, detail: impl Into<String>) -> AnchorResult {
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

/// Verifies one anchor for a receipt whose head is `head` (already parsed).
/// `index` names the anchor in member paths (`anchors[index]`). Returns the
/// result and, when the anchor is invalid, the error to report.
pub fn verify_anchor(
    anchor: &Value<'_>,
    index: usize,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> (AnchorResult, Option<Error>) {
    let base = format!("anchors[{index}]");
    let t = match anchor.get("type") {
        Some(Value::String(t)) if matches!(anchor, Value::Object(_)) => t.to_string(),
        _ => return untyped(index),
    };
    let run = match t.as_str() {
        TYPE_OPENTIMESTAMPS => verify_ots_anchor(anchor, &base, head, opts),
        TYPE_BITCOIN => verify_bitcoin_anchor(anchor, &base, head, opts),
        _ => {
            return (
                new_result(
                    &t,
                    status::UNKNOWN,
                    format!("anchor type \"{t}\" is not known to this verifier; not checked"),
                ),
                None,
            )
        }
    };
    match run {
        Ok(mut r) => {
            r.anchor_type = t;
            (r, None)
        }
        Err(f) => {
            let mut r = new_result(&t, status::INVALID, format!("{}: {}", f.step, f.message));
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

fn untyped(index: usize) -> (AnchorResult, Option<Error>) {
    (
        new_result("", status::INVALID, "no type"),
        Some(Error::member(
            ErrorCode::InvalidAnchor,
            format!("anchors[{index}]"),
            "must be an object with a string \"type\"",
        )),
    )
}

/// The outcome of checking a receipt's anchors: one result each, the errors
/// of the invalid ones, and the `anchors` step.
#[derive(Debug, Clone)]
pub struct AnchorsOutcome {
    /// One result per anchor, in order.
    pub results: Vec<AnchorResult>,
    /// Errors (code `invalid_anchor`) of the invalid anchors.
    pub errors: Vec<Error>,
    /// The `anchors` step's status.
    pub step_status: StepStatus,
    /// The `anchors` step's detail.
    pub step_detail: String,
}

/// Checks every anchor of a receipt. With `head` `None` (the receipt's
/// head is malformed), typed anchors are reported `not_checked`.
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
                anchor_type_of(a),
                status::INVALID,
                format!("format: only {MAX_ANCHORS} anchors per receipt are checked"),
            );
            r.failed_step = Some("format");
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
            None => match a.get("type") {
                Some(Value::String(t)) if matches!(a, Value::Object(_)) => (
                    new_result(
                        t,
                        status::NOT_CHECKED,
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
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let (step_status, step_detail) = if anchors.is_empty() {
        (StepStatus::Skipped, "no anchors yet".to_string())
    } else if !errors.is_empty() {
        (
            StepStatus::Failed,
            format!(
                "{} of {} anchor(s) invalid",
                count(status::INVALID),
                anchors.len()
            ),
        )
    } else {
        let parts: Vec<String> = [
            status::VERIFIED,
            status::PENDING,
            status::NEEDS_HEADER,
            status::UNKNOWN,
            status::NOT_CHECKED,
        ]
        .iter()
        .filter(|s| count(s) > 0)
        .map(|s| format!("{} {s}", count(s)))
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

/// Verifies a receipt as [`crate::verify_receipt`] does, with the caller's
/// anchor options (network, trusted headers) instead of `opts.anchor`: one
/// pass, the same as setting [`VerifyOptions::anchor`].
pub fn verify_receipt(
    input: &[u8],
    opts: &VerifyOptions,
    anchor_opts: &AnchorOptions,
) -> Verification {
    let opts = VerifyOptions {
        gateway_key: opts.gateway_key,
        anchor: anchor_opts.clone(),
    };
    crate::receipt::verify_receipt(input, &opts)
}

// ---------------------------------------------------------------------------
// Member readers

fn check_members(anchor: &Value<'_>, base: &str, allowed: &[&str]) -> Result<(), Fail> {
    if let Value::Object(members) = anchor {
        for (k, _) in members {
            if !allowed.contains(&k.as_ref()) {
                return Err(fail(
                    "format",
                    format!("{base}.{k}"),
                    format!(
                        "is not a member of a {} anchor (allowed: {})",
                        anchor_type_of(anchor),
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn anchor_type_of<'a>(anchor: &'a Value<'_>) -> &'a str {
    match anchor.get("type") {
        Some(Value::String(s)) => s,
        _ => "",
    }
}

fn get_str<'v>(anchor: &'v Value<'_>, base: &str, name: &str) -> Result<&'v str, Fail> {
    match anchor.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(fail(
            "format",
            format!("{base}.{name}"),
            format!("must be a string, got {}", other.type_name()),
        )),
        None => Err(fail("format", format!("{base}.{name}"), "is required")),
    }
}

fn get_height(v: &Value<'_>, member: &str) -> Result<u64, Fail> {
    match v {
        Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= 9_007_199_254_740_991.0 => {
            Ok(*n as u64)
        }
        other => Err(fail(
            "format",
            member,
            format!(
                "must be a block height (an integer >= 0), got {}",
                other.type_name()
            ),
        )),
    }
}

fn check_network(anchor: &Value<'_>, base: &str, opts: &AnchorOptions) -> Result<(), Fail> {
    if let Some(v) = anchor.get("network") {
        let m = format!("{base}.network");
        let Value::String(s) = v else {
            return Err(fail("format", m, "must be a string"));
        };
        let n = Network::parse(s).ok_or_else(|| {
            fail(
                "format",
                m.clone(),
                format!("\"{s}\" is not mainnet, testnet, signet or regtest"),
            )
        })?;
        if n != opts.network {
            return Err(fail(
                "network",
                m,
                format!(
                    "the anchor is for {n}, the verifier checks {}",
                    opts.network
                ),
            ));
        }
    }
    Ok(())
}

/// Follows the `heads` chain from the receipt's head; returns the anchored
/// head hash (the receipt's own when there is no chain).
fn anchored_hash(anchor: &Value<'_>, base: &str, head: &BatchHead) -> Result<(Hash, usize), Fail> {
    let mut prev = head.hash();
    let Some(heads) = anchor.get("heads") else {
        return Ok((prev, 0));
    };
    let m = format!("{base}.heads");
    let Value::Array(heads) = heads else {
        return Err(fail("format", m, "must be an array of batch heads"));
    };
    if heads.len() > MAX_CHAIN_HEADS {
        return Err(fail(
            "format",
            m,
            format!("has more than {MAX_CHAIN_HEADS} heads"),
        ));
    }
    let mut prev_seq = head.seq;
    for (k, hv) in heads.iter().enumerate() {
        let hm = format!("{m}[{k}]");
        let h = BatchHead::from_value(hv, &hm).map_err(|e| {
            let member = e.member.unwrap_or_else(|| hm.clone());
            // Error::member already put the member in front of the rule.
            let rule = e
                .message
                .strip_prefix(&format!("{member}: "))
                .unwrap_or(&e.message)
                .to_string();
            fail("head_chain", member, rule)
        })?;
        if h.prev_head_hash != Some(prev) {
            return Err(fail(
                "head_chain",
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
                "head_chain",
                format!("{hm}.gateway_id"),
                format!(
                    "is \"{}\", the receipt's gateway is \"{}\"",
                    h.gateway_id, head.gateway_id
                ),
            ));
        }
        if h.seq != prev_seq.saturating_add(1) {
            return Err(fail(
                "head_chain",
                format!("{hm}.seq"),
                format!("is {}, expected {}", h.seq, prev_seq.saturating_add(1)),
            ));
        }
        prev_seq = h.seq;
        prev = h.hash();
    }
    Ok((prev, heads.len()))
}

fn header_from_hex(s: &str, member: &str, step: &'static str) -> Result<BlockHeader, Fail> {
    BlockHeader::from_hex(s).map_err(|e| fail(step, member, e.message))
}

// ---------------------------------------------------------------------------
// opentimestamps

fn verify_ots_anchor(
    anchor: &Value<'_>,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, Fail> {
    check_members(
        anchor,
        base,
        &["type", "ots", "headers", "heads", "network"],
    )?;
    check_network(anchor, base, opts)?;
    let (anchored, chain_len) = anchored_hash(anchor, base, head)?;
    let ots_member = format!("{base}.ots");
    let text = get_str(anchor, base, "ots")?;
    if text.len() > 2 * ots::MAX_FILE_BYTES + 8 {
        return Err(fail(
            "ots_parse",
            ots_member,
            format!("is larger than {} bytes", ots::MAX_FILE_BYTES),
        ));
    }
    let bytes = decode_hex_or_base64(text).ok_or_else(|| {
        fail(
            "ots_parse",
            ots_member.clone(),
            "must be hex or base64 of a detached .ots file",
        )
    })?;
    // Headers carried in the anchor; the verifier's own take precedence.
    let mut headers = BTreeMap::new();
    if let Some(hv) = anchor.get("headers") {
        let hm = format!("{base}.headers");
        let Value::Object(members) = hv else {
            return Err(fail(
                "format",
                hm,
                "must be an object {\"<height>\": \"<header hex>\"}",
            ));
        };
        if members.len() > MAX_ANCHOR_HEADERS {
            return Err(fail(
                "format",
                hm,
                format!("has more than {MAX_ANCHOR_HEADERS} headers"),
            ));
        }
        for (k, v) in members {
            let km = format!("{hm}.{k}");
            let height: u64 = match k.parse::<u64>() {
                Ok(h) if h.to_string() == *k => h,
                _ => {
                    return Err(fail(
                        "format",
                        km,
                        "the key must be a block height in decimal",
                    ))
                }
            };
            let Value::String(s) = v else {
                return Err(fail("format", km, "must be an 80-byte header in hex"));
            };
            if !opts.headers.contains_key(&height) {
                headers.insert(
                    height,
                    (header_from_hex(s, &km, "header")?, HeaderSource::Carried),
                );
            }
        }
    }
    for (h, hd) in &opts.headers {
        headers.insert(*h, (*hd, HeaderSource::Trusted));
    }
    let file = DetachedTimestampFile::parse(&bytes).map_err(|e| {
        fail(
            "ots_parse",
            ots_member.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let label = if chain_len > 0 {
        format!(
            "head hash (through {chain_len} later head(s) ending at {})",
            anchored.to_hex()
        )
    } else {
        "head hash".to_string()
    };
    ots_core(&file, &anchored.0, &headers, opts.network, &label)
        .map(|mut r| {
            r.anchored_head_hash = Some(anchored.to_hex());
            r
        })
        .map_err(|f| Fail {
            member: if f.member.is_empty() {
                ots_member.clone()
            } else {
                format!("{base}.{}", f.member)
            },
            ..f
        })
}

#[derive(Clone, Copy)]
enum HeaderSource {
    Trusted,
    Carried,
}

impl HeaderSource {
    fn describe(self) -> &'static str {
        match self {
            HeaderSource::Trusted => "header supplied by the verifier",
            HeaderSource::Carried => "header carried in the anchor",
        }
    }
}

/// Why a proof does not verify: the step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorFailure {
    /// The step (see [`AnchorResult::failed_step`]).
    pub step: &'static str,
    /// The input at fault (`headers.<height>`, `raw_tx`, ...; empty for the proof itself).
    pub member: String,
    /// What went wrong.
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
pub fn verify_ots_proof(
    file: &DetachedTimestampFile,
    digest: &[u8],
    headers: &BTreeMap<u64, BlockHeader>,
    network: Network,
) -> Result<AnchorResult, AnchorFailure> {
    let h = headers
        .iter()
        .map(|(k, v)| (*k, (*v, HeaderSource::Trusted)))
        .collect();
    ots_core(file, digest, &h, network, "digest").map_err(AnchorFailure::from)
}

fn ots_core(
    file: &DetachedTimestampFile,
    digest: &[u8],
    headers: &BTreeMap<u64, (BlockHeader, HeaderSource)>,
    network: Network,
    label: &str,
) -> Result<AnchorResult, Fail> {
    let sha256_expected = digest.len() == 32;
    if (sha256_expected && file.file_hash_op != Op::Sha256) || file.digest != digest {
        return Err(fail(
            "ots_digest",
            "",
            format!(
                "the proof is for the {} digest {}, not for the {label} {}",
                file.file_hash_op.name(),
                to_hex(&file.digest),
                to_hex(digest)
            ),
        ));
    }
    let reached = file
        .replay()
        .map_err(|e| fail("ots_replay", "", format!("{} ({})", e.message, e.code)))?;

    let mut verified: Vec<(u64, BlockHeader, Option<[u8; 32]>, HeaderSource)> = Vec::new();
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
                    fail("header_pow", hm, format!("block {height}: {}", e.message))
                })?;
                if r.msg.len() != 32 || r.msg[..] != header.merkle_root[..] {
                    return Err(fail(
                        "merkle_root",
                        "",
                        format!(
                            "the proof's message for block {height} is {}, but the header's merkle root is {}",
                            to_hex(&r.msg),
                            to_hex(&header.merkle_root)
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
    let mut res = new_result(TYPE_OPENTIMESTAMPS, status::UNKNOWN, "");
    res.network = Some(network.as_str());
    res.calendars = calendars.clone();
    if let Some((height, header, txid, source)) = verified.iter().min_by_key(|v| v.0) {
        let bh = header.block_hash_display();
        let time = crate::time::Timestamp::from_unix(i64::from(header.time), 0).to_rfc3339();
        res.status = status::VERIFIED;
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
        res.status = status::NEEDS_HEADER;
        res.height = Some(*h);
        res.detail = format!(
            "the proof of the {label} reaches Bitcoin block {h}; give the header of that block (the anchor's \"headers\" or the verifier's options) to verify it"
        );
        res.not_checked = Some(format!(
            "the Bitcoin attestation at height {h}: no header was given"
        ));
    } else if !calendars.is_empty() {
        res.status = status::PENDING;
        res.detail = format!(
            "pending at {} calendar(s): {}; ask them for the upgraded proof",
            calendars.len(),
            calendars.join(", ")
        );
        res.not_checked = Some("that the calendars will anchor the commitment in Bitcoin".into());
    } else {
        res.status = status::UNKNOWN;
        res.detail = format!(
            "no Bitcoin or pending attestation this verifier checks (found: {})",
            others.join(", ")
        );
    }
    Ok(res)
}

// ---------------------------------------------------------------------------
// bitcoin

fn verify_bitcoin_anchor(
    anchor: &Value<'_>,
    base: &str,
    head: &BatchHead,
    opts: &AnchorOptions,
) -> Result<AnchorResult, Fail> {
    check_members(
        anchor,
        base,
        &[
            "type",
            "raw_tx",
            "merkle_proof",
            "header",
            "height",
            "heads",
            "network",
        ],
    )?;
    check_network(anchor, base, opts)?;
    let (anchored, chain_len) = anchored_hash(anchor, base, head)?;
    let height_m = format!("{base}.height");
    let height = get_height(
        anchor
            .get("height")
            .ok_or_else(|| fail("format", height_m.clone(), "is required"))?,
        &height_m,
    )?;
    let tx_m = format!("{base}.raw_tx");
    let tx = Transaction::from_hex(get_str(anchor, base, "raw_tx")?).map_err(|e| {
        fail(
            "raw_tx",
            tx_m.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let mp_m = format!("{base}.merkle_proof");
    let mb = MerkleBlock::from_hex(get_str(anchor, base, "merkle_proof")?).map_err(|e| {
        fail(
            "merkle_proof",
            mp_m.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let header_m = format!("{base}.header");
    if let Some(hv) = anchor.get("header") {
        let Value::String(s) = hv else {
            return Err(fail("format", header_m, "must be an 80-byte header in hex"));
        };
        let h = header_from_hex(s, &header_m, "header")?;
        if h != mb.header {
            return Err(fail(
                "header",
                header_m,
                "differs from the header inside merkle_proof",
            ));
        }
    }
    let label = if chain_len > 0 {
        format!(
            "head hash (through {chain_len} later head(s) ending at {})",
            anchored.to_hex()
        )
    } else {
        "head hash".to_string()
    };
    bitcoin_core(
        &tx,
        &mb,
        &anchored.0,
        height,
        opts.headers.get(&height),
        opts.network,
        &label,
    )
    .map(|mut r| {
        r.anchored_head_hash = Some(anchored.to_hex());
        r
    })
    .map_err(|f| Fail {
        member: format!("{base}.{}", f.member),
        ..f
    })
}

/// Verifies that transaction `tx` commits to `digest` in an `OP_RETURN`
/// output (a push of at most 80 bytes ending with the digest), that the
/// `merkleblock` proves it is in its block, and that the block's header has
/// valid proof of work for `network` (and, when the caller trusts a header
/// at `height`, that it is that header).
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
    spv::check_tx_not_64_bytes(tx).map_err(|e| fail("raw_tx", "raw_tx", e.message))?;
    let vout = tx
        .outputs
        .iter()
        .position(|o| {
            o.op_return_data()
                .is_some_and(|d| d.len() <= MAX_COMMITMENT_PUSH && d.ends_with(digest))
        })
        .ok_or_else(|| {
            fail(
                "tx_commitment",
                "raw_tx",
                format!(
                    "no OP_RETURN output of transaction {} holds the {label} {}",
                    tx.txid_display(),
                    to_hex(digest)
                ),
            )
        })?;
    let source = match trusted_header {
        Some(t) if *t != mb.header => {
            return Err(fail(
                "header",
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
        .map_err(|e| fail("header_pow", "header", e.message))?;
    let proven = mb.verify().map_err(|e| {
        fail(
            "merkle_proof",
            "merkle_proof",
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let Some((index, _)) = proven.matches.iter().find(|(_, id)| *id == tx.txid) else {
        return Err(fail(
            "tx_inclusion",
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
        status::VERIFIED,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex() {
        assert_eq!(decode_hex_or_base64("00ff").unwrap(), vec![0, 255]);
        assert_eq!(
            decode_hex_or_base64("AE9w").unwrap(),
            vec![0x00, 0x4f, 0x70]
        );
        assert_eq!(decode_hex_or_base64("AE8=").unwrap(), vec![0x00, 0x4f]);
        assert_eq!(decode_hex_or_base64("AE8").unwrap(), vec![0x00, 0x4f]);
        assert_eq!(decode_hex_or_base64("AA==").unwrap(), vec![0]);
        assert!(decode_hex_or_base64("AB==").is_none()); // non-zero spare bits
        assert!(decode_hex_or_base64("A").is_none());
        assert!(decode_hex_or_base64("AE9w!").is_none());
        assert!(decode_hex_or_base64("A===").is_none());
        assert_eq!(decode_hex_or_base64("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn template_is_core_createrawtransaction() {
        let h = Hash([0x11; 32]);
        let t = op_return_template(&h);
        assert_eq!(
            to_hex(&t),
            format!(
                "02000000000100000000000000002{}{}00000000",
                "26a20",
                "11".repeat(32)
            )
        );
    }
}
