//! Anchors: proofs that a batch head hash existed when a Bitcoin block was
//! mined, as a receipt's `anchors` list carries them (SPEC section 7).
//!
//! * `opentimestamps`: `{"type": "opentimestamps", "ots": <hex or base64 of
//!   a detached .ots file whose digest is the head hash>, "headers":
//!   {"<height>": "<80-byte header hex>", ...}}`.
//! * `bitcoin`: `{"type": "bitcoin", "raw_tx": <hex>, "merkle_proof":
//!   <merkleblock hex, as gettxoutproof returns>, "header": <80-byte hex,
//!   optional: the merkleblock has it>, "height": <number>}`.
//!
//! Both accept `"heads"`, the later heads of the same gateway whose last one
//! is the anchored head, and `"network"`. Any other `type` is kept as given
//! ([`Anchor::Unknown`]) and reported `unknown` by verifiers.
//!
//! [`Anchor::parse`] is the one reader (member paths in errors, each error
//! with the [`FailedStep`] verifiers report), [`Anchor::write_canonical`]
//! the one writer.
//!
//! ```
//! use kwh_btc_iot_core::model::anchor::Anchor;
//! let json = br#"{"type":"opentimestamps","ots":"00"}"#;
//! let e = Anchor::parse(&kwh_btc_iot_core::json::parse(json).unwrap(), "anchor").unwrap_err();
//! assert_eq!((e.step.as_str(), e.member.as_str()), ("ots_parse", "anchor.ots"));
//! let other = Anchor::parse(&kwh_btc_iot_core::json::parse(br#"{"type":"x","y":1}"#).unwrap(), "a").unwrap();
//! assert_eq!(other.type_name(), "x");
//! assert_eq!(other.to_json(), r#"{"type":"x","y":1}"#);
//! ```

use std::collections::BTreeMap;

use crate::encoding::base64::decode_hex_or_base64;
use crate::encoding::bitcoin::{BlockHeader, Network, Transaction};
use crate::encoding::hex;
use crate::encoding::ots::{self, DetachedTimestampFile};
use crate::encoding::spv::MerkleBlock;
use crate::error::FailedStep;
use crate::jcs;
use crate::json::Value;
use crate::model::head::BatchHead;

/// The `type` of an OpenTimestamps anchor.
pub const TYPE_OPENTIMESTAMPS: &str = "opentimestamps";
/// The `type` of a Bitcoin transaction anchor.
pub const TYPE_BITCOIN: &str = "bitcoin";
/// Most later heads an anchor's `heads` chain may hold.
pub const MAX_CHAIN_HEADS: usize = 10_000;
/// Most block headers an anchor's `headers` may hold.
pub const MAX_ANCHOR_HEADERS: usize = 1_000;

/// An anchor of a receipt: evidence that a head (or a later head of the same
/// gateway, through `heads`) existed by some Bitcoin block. One variant per
/// `type`; a new anchor type is a new variant here and a step in
/// `verify::anchor`.
///
/// ```
/// use kwh_btc_iot_core::{json, model::anchor::Anchor};
/// # use kwh_btc_iot_testkit::BitcoinAnchor;
/// let fixture = BitcoinAnchor::new(&[0x42; 32], 3, 101); // regtest block, tx at index 2
/// let a = Anchor::parse(&fixture.to_value(), "anchors[0]").unwrap();
/// assert_eq!(a.type_name(), "bitcoin");
/// // An unknown type is kept as given (a later version may verify it).
/// let later = Anchor::parse(&json::parse(br#"{"type":"rgb","x":1}"#).unwrap(), "a").unwrap();
/// assert!(matches!(later, Anchor::Unknown(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Anchor {
    /// A detached OpenTimestamps proof.
    OpenTimestamps(Box<OtsAnchor>),
    /// A Bitcoin transaction committing to the head hash, with its SPV proof.
    Bitcoin(Box<BitcoinAnchor>),
    /// A type this version does not know, kept as given.
    Unknown(Value<'static>),
}

/// An `opentimestamps` anchor: a detached `.ots` proof over the head hash,
/// and what a verifier needs to check it offline.
///
/// ```
/// use kwh_btc_iot_core::{hash::Hash, model::anchor::Anchor};
/// // A calendar's first answer: the commitment with a pending attestation.
/// let ots = kwh_btc_iot_testkit::pending_proof(&Hash([0x42; 32]).0);
/// let Anchor::OpenTimestamps(a) = Anchor::opentimestamps(&ots, Default::default()).unwrap() else { unreachable!() };
/// assert_eq!(a.file.digest, [0x42; 32]);
/// assert!(a.headers.is_empty() && a.heads.is_empty() && a.network.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OtsAnchor {
    /// The `.ots` file bytes, as given (base64 in JSON); written back
    /// unchanged.
    pub ots: Vec<u8>,
    /// The file, decoded: the digest it stamps and its operations.
    pub file: DetachedTimestampFile,
    /// Block headers carried for the proof's Bitcoin attestations, by height.
    pub headers: BTreeMap<u64, BlockHeader>,
    /// Later heads of the same gateway, the last one the anchored head.
    pub heads: Vec<BatchHead>,
    /// The network the anchor is for (`None`: not stated).
    pub network: Option<Network>,
}

/// A `bitcoin` anchor: a transaction with an `OP_RETURN <head hash>` output
/// and the merkleblock (`gettxoutproof`) that puts it in a block.
///
/// ```
/// use kwh_btc_iot_core::model::anchor::Anchor;
/// let fixture = kwh_btc_iot_testkit::BitcoinAnchor::new(&[0x42; 32], 3, 101);
/// let Anchor::Bitcoin(a) = fixture.to_anchor() else { unreachable!() };
/// assert_eq!(a.height, 101);
/// assert_eq!(a.merkle_block.header, fixture.header);
/// assert_eq!(a.raw_tx, fixture.raw_tx);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BitcoinAnchor {
    /// The transaction bytes, as given (hex in JSON, as `getrawtransaction`
    /// prints them); written back unchanged.
    pub raw_tx: Vec<u8>,
    /// The transaction, decoded: one of its outputs must be
    /// `OP_RETURN <anchored head hash>`.
    pub tx: Transaction,
    /// The `merkleblock` bytes, as given (hex in JSON, as `gettxoutproof`
    /// prints them); written back unchanged.
    pub merkle_proof: Vec<u8>,
    /// The merkleblock, decoded (its header is the block's).
    pub merkle_block: MerkleBlock,
    /// Whether the anchor writes the block header on its own (`header`): as
    /// given for a parsed anchor; always for one built by [`Anchor::bitcoin`]
    /// (receipts carry it, so a reader need not decode the merkleblock).
    pub header_given: bool,
    /// The block's height, as stated by the anchor (the merkleblock does not
    /// carry it); a verifier with a header source checks it.
    pub height: u64,
    /// Later heads of the same gateway, the last one the anchored head.
    pub heads: Vec<BatchHead>,
    /// The network the anchor is for (`None`: not stated).
    pub network: Option<Network>,
}

/// Why an anchor could not be read: the verification step it fails, the
/// member at fault (`<base>.ots`, `<base>.heads[2].seq`, ...) and the rule.
///
/// ```
/// use kwh_btc_iot_core::{error::FailedStep, json, model::anchor::Anchor};
/// let v = json::parse(br#"{"type":"bitcoin","raw_tx":"zz","merkle_proof":"","height":1}"#).unwrap();
/// let e = Anchor::parse(&v, "anchors[0]").unwrap_err();
/// assert!(e.member.starts_with("anchors[0]."), "{e}");
/// assert!(matches!(e.step, FailedStep::Format | FailedStep::RawTx));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorError {
    /// The step verifiers report as `failed_step`.
    pub step: FailedStep,
    /// The member path at fault, under the base the caller gave
    /// (`anchors[0].heads[2].seq`).
    pub member: String,
    /// The rule that was broken (without the member in front).
    pub message: String,
}

impl std::fmt::Display for AnchorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (step {})", self.member, self.message, self.step)
    }
}

impl std::error::Error for AnchorError {}

/// `base.name`, or `name` alone when the anchor is the whole document
/// (an empty `base`).
pub(crate) fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

fn fail(step: FailedStep, member: impl Into<String>, message: impl Into<String>) -> AnchorError {
    AnchorError {
        step,
        member: member.into(),
        message: message.into(),
    }
}

impl Anchor {
    /// Reads an anchor from JSON; `base` names it in member paths (a
    /// receipt's verifier passes `anchors[i]`). An object with a string
    /// `type` is required; unknown types are kept as [`Anchor::Unknown`].
    ///
    /// ```
    /// use kwh_btc_iot_core::{json, model::anchor::Anchor, error::FailedStep};
    /// let v = json::parse(br#"{"type":"bitcoin","height":-1}"#).unwrap();
    /// let e = Anchor::parse(&v, "anchor").unwrap_err();
    /// assert_eq!(e.step, FailedStep::Format);
    /// ```
    pub fn parse(v: &Value<'_>, base: &str) -> Result<Anchor, AnchorError> {
        let t = match (v, v.get("type")) {
            (Value::Object(_), Some(Value::String(t))) => t.as_ref(),
            _ => {
                return Err(fail(
                    FailedStep::Format,
                    base,
                    "must be an object with a string \"type\"",
                ))
            }
        };
        match t {
            TYPE_OPENTIMESTAMPS => parse_ots(v, base).map(|a| Anchor::OpenTimestamps(Box::new(a))),
            TYPE_BITCOIN => parse_bitcoin(v, base).map(|a| Anchor::Bitcoin(Box::new(a))),
            _ => Ok(Anchor::Unknown(v.clone().into_owned())),
        }
    }

    /// The anchor's `type`.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{json, model::anchor::Anchor};
    /// let a = Anchor::parse(&json::parse(br#"{"type":"later"}"#).unwrap(), "a").unwrap();
    /// assert_eq!(a.type_name(), "later");
    /// ```
    pub fn type_name(&self) -> &str {
        match self {
            Anchor::OpenTimestamps(_) => TYPE_OPENTIMESTAMPS,
            Anchor::Bitcoin(_) => TYPE_BITCOIN,
            Anchor::Unknown(v) => match v.get("type") {
                Some(Value::String(s)) => s,
                _ => "",
            },
        }
    }

    /// The later heads this anchor carries (empty for unknown types).
    ///
    /// ```
    /// # use kwh_btc_iot_core::{json, model::anchor::Anchor};
    /// let a = Anchor::parse(&json::parse(br#"{"type":"later"}"#).unwrap(), "a").unwrap();
    /// assert!(a.heads().is_empty());
    /// ```
    pub fn heads(&self) -> &[BatchHead] {
        match self {
            Anchor::OpenTimestamps(a) => &a.heads,
            Anchor::Bitcoin(a) => &a.heads,
            Anchor::Unknown(_) => &[],
        }
    }

    /// Sets the later heads an anchor of a later batch needs to cover an
    /// earlier one (no effect on unknown types).
    ///
    /// ```
    /// # use kwh_btc_iot_core::{json, model::anchor::Anchor};
    /// let mut a = Anchor::parse(&json::parse(br#"{"type":"later"}"#).unwrap(), "a").unwrap();
    /// a.set_heads(Vec::new());
    /// assert!(a.heads().is_empty());
    /// ```
    pub fn set_heads(&mut self, heads: Vec<BatchHead>) {
        match self {
            Anchor::OpenTimestamps(a) => a.heads = heads,
            Anchor::Bitcoin(a) => a.heads = heads,
            Anchor::Unknown(_) => {}
        }
    }

    /// An `opentimestamps` anchor from `.ots` bytes and the headers (by
    /// height) its Bitcoin attestations need.
    ///
    /// ```
    /// use kwh_btc_iot_core::model::anchor::Anchor;
    /// assert!(Anchor::opentimestamps(b"not an ots file", Default::default()).is_err());
    /// ```
    pub fn opentimestamps(
        ots: &[u8],
        headers: BTreeMap<u64, BlockHeader>,
    ) -> Result<Anchor, AnchorError> {
        let file = DetachedTimestampFile::parse(ots).map_err(|e| {
            fail(
                FailedStep::OtsParse,
                "ots",
                format!("{} ({})", e.message, e.code),
            )
        })?;
        Ok(Anchor::OpenTimestamps(Box::new(OtsAnchor {
            ots: ots.to_vec(),
            file,
            headers,
            heads: Vec::new(),
            network: None,
        })))
    }

    /// A `bitcoin` anchor from a transaction, its merkleblock and the
    /// block's height (the header is the merkleblock's).
    ///
    /// ```
    /// use kwh_btc_iot_core::model::anchor::Anchor;
    /// let e = Anchor::bitcoin(&[0], &[], 1).unwrap_err();
    /// assert_eq!(e.step.as_str(), "raw_tx");
    /// ```
    pub fn bitcoin(raw_tx: &[u8], merkle_proof: &[u8], height: u64) -> Result<Anchor, AnchorError> {
        let tx = Transaction::parse(raw_tx).map_err(|e| {
            fail(
                FailedStep::RawTx,
                "raw_tx",
                format!("{} ({})", e.message, e.code),
            )
        })?;
        let merkle_block = MerkleBlock::parse(merkle_proof).map_err(|e| {
            fail(
                FailedStep::MerkleProof,
                "merkle_proof",
                format!("{} ({})", e.message, e.code),
            )
        })?;
        Ok(Anchor::Bitcoin(Box::new(BitcoinAnchor {
            raw_tx: raw_tx.to_vec(),
            tx,
            merkle_proof: merkle_proof.to_vec(),
            merkle_block,
            header_given: true,
            height,
            heads: Vec::new(),
            network: None,
        })))
    }

    /// Appends the anchor's canonical JSON (RFC 8785) to `out`: binary
    /// members as lowercase hex, `headers` keys in JCS order.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{json, model::anchor::Anchor};
    /// let a = Anchor::parse(&json::parse(br#"{ "z": [1.0], "type": "t" }"#).unwrap(), "a").unwrap();
    /// let mut out = Vec::new();
    /// a.write_canonical(&mut out);
    /// assert_eq!(out, br#"{"type":"t","z":[1]}"#);
    /// ```
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Anchor::Unknown(v) => jcs::write_value(out, v),
            Anchor::OpenTimestamps(a) => {
                out.push(b'{');
                if !a.headers.is_empty() {
                    out.extend_from_slice(b"\"headers\":{");
                    // JCS orders keys as strings: "100" before "99".
                    let mut keys: Vec<(String, &BlockHeader)> = a
                        .headers
                        .iter()
                        .map(|(h, hd)| (h.to_string(), hd))
                        .collect();
                    keys.sort_by(|x, y| x.0.cmp(&y.0));
                    for (i, (k, hd)) in keys.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        jcs::write_string(out, k);
                        out.extend_from_slice(b":\"");
                        out.extend_from_slice(hex::encode(&hd.to_bytes()).as_bytes());
                        out.push(b'"');
                    }
                    out.extend_from_slice(b"},");
                }
                write_heads(out, &a.heads);
                write_network(out, a.network);
                out.extend_from_slice(b"\"ots\":\"");
                out.extend_from_slice(hex::encode(&a.ots).as_bytes());
                out.extend_from_slice(b"\",\"type\":\"opentimestamps\"}");
            }
            Anchor::Bitcoin(a) => {
                out.push(b'{');
                if a.header_given {
                    out.extend_from_slice(b"\"header\":\"");
                    out.extend_from_slice(
                        hex::encode(&a.merkle_block.header.to_bytes()).as_bytes(),
                    );
                    out.extend_from_slice(b"\",");
                }
                write_heads(out, &a.heads);
                out.extend_from_slice(b"\"height\":");
                jcs::write_number(out, a.height as f64);
                out.extend_from_slice(b",\"merkle_proof\":\"");
                out.extend_from_slice(hex::encode(&a.merkle_proof).as_bytes());
                out.extend_from_slice(b"\",");
                write_network(out, a.network);
                out.extend_from_slice(b"\"raw_tx\":\"");
                out.extend_from_slice(hex::encode(&a.raw_tx).as_bytes());
                out.extend_from_slice(b"\",\"type\":\"bitcoin\"}");
            }
        }
    }

    /// The anchor's canonical JSON text.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{json, model::anchor::Anchor};
    /// let a = Anchor::parse(&json::parse(br#"{"type":"t"}"#).unwrap(), "a").unwrap();
    /// assert_eq!(a.to_json(), r#"{"type":"t"}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        String::from_utf8(out).expect("canonical JSON is UTF-8")
    }
}

/// `"heads":[...],` when there are heads.
fn write_heads(out: &mut Vec<u8>, heads: &[BatchHead]) {
    if !heads.is_empty() {
        out.extend_from_slice(b"\"heads\":[");
        for (i, h) in heads.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            h.write_canonical(out);
        }
        out.extend_from_slice(b"],");
    }
}

/// `"network":"...",` when stated.
fn write_network(out: &mut Vec<u8>, network: Option<Network>) {
    if let Some(n) = network {
        out.extend_from_slice(b"\"network\":");
        jcs::write_string(out, n.as_str());
        out.push(b',');
    }
}

fn check_members(
    v: &Value<'_>,
    base: &str,
    kind: &str,
    allowed: &[&str],
) -> Result<(), AnchorError> {
    if let Value::Object(members) = v {
        for (k, _) in members {
            if !allowed.contains(&k.as_ref()) {
                return Err(fail(
                    FailedStep::Format,
                    join(base, k),
                    format!(
                        "is not a member of a {kind} anchor (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn get_str<'v>(v: &'v Value<'_>, base: &str, name: &str) -> Result<&'v str, AnchorError> {
    match v.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(fail(
            FailedStep::Format,
            join(base, name),
            format!("must be a string, got {}", other.type_name()),
        )),
        None => Err(fail(FailedStep::Format, join(base, name), "is required")),
    }
}

fn parse_network(v: &Value<'_>, base: &str) -> Result<Option<Network>, AnchorError> {
    let Some(n) = v.get("network") else {
        return Ok(None);
    };
    let m = join(base, "network");
    let Value::String(s) = n else {
        return Err(fail(FailedStep::Format, m, "must be a string"));
    };
    Network::parse(s).map(Some).ok_or_else(|| {
        fail(
            FailedStep::Format,
            m,
            format!("\"{s}\" is not mainnet, testnet, signet or regtest"),
        )
    })
}

fn parse_heads(v: &Value<'_>, base: &str) -> Result<Vec<BatchHead>, AnchorError> {
    let Some(heads) = v.get("heads") else {
        return Ok(Vec::new());
    };
    let m = join(base, "heads");
    let Value::Array(heads) = heads else {
        return Err(fail(
            FailedStep::Format,
            m,
            "must be an array of batch heads",
        ));
    };
    if heads.len() > MAX_CHAIN_HEADS {
        return Err(fail(
            FailedStep::Format,
            m,
            format!("has more than {MAX_CHAIN_HEADS} heads"),
        ));
    }
    heads
        .iter()
        .enumerate()
        .map(|(k, hv)| {
            let hm = format!("{m}[{k}]");
            BatchHead::parse(hv, &hm).map_err(|e| {
                let member = e.member.unwrap_or_else(|| hm.clone());
                // Error::member already put the member in front of the rule.
                let rule = e
                    .message
                    .strip_prefix(&format!("{member}: "))
                    .unwrap_or(&e.message)
                    .to_string();
                fail(FailedStep::HeadChain, member, rule)
            })
        })
        .collect()
}

fn header_from_hex(s: &str, member: &str) -> Result<BlockHeader, AnchorError> {
    BlockHeader::from_hex(s).map_err(|e| fail(FailedStep::Header, member, e.message))
}

fn parse_ots(v: &Value<'_>, base: &str) -> Result<OtsAnchor, AnchorError> {
    check_members(
        v,
        base,
        TYPE_OPENTIMESTAMPS,
        &["type", "ots", "headers", "heads", "network"],
    )?;
    let network = parse_network(v, base)?;
    let heads = parse_heads(v, base)?;
    let ots_member = join(base, "ots");
    let text = get_str(v, base, "ots")?;
    if text.len() > 2 * ots::MAX_FILE_BYTES + 8 {
        return Err(fail(
            FailedStep::OtsParse,
            ots_member,
            format!("is larger than {} bytes", ots::MAX_FILE_BYTES),
        ));
    }
    let bytes = decode_hex_or_base64(text).ok_or_else(|| {
        fail(
            FailedStep::OtsParse,
            ots_member.clone(),
            "must be hex or base64 of a detached .ots file",
        )
    })?;
    let mut headers = BTreeMap::new();
    if let Some(hv) = v.get("headers") {
        let hm = join(base, "headers");
        let Value::Object(members) = hv else {
            return Err(fail(
                FailedStep::Format,
                hm,
                "must be an object {\"<height>\": \"<header hex>\"}",
            ));
        };
        if members.len() > MAX_ANCHOR_HEADERS {
            return Err(fail(
                FailedStep::Format,
                hm,
                format!("has more than {MAX_ANCHOR_HEADERS} headers"),
            ));
        }
        for (k, hv) in members {
            let km = format!("{hm}.{k}");
            let height: u64 = match k.parse::<u64>() {
                Ok(h) if h.to_string() == *k => h,
                _ => {
                    return Err(fail(
                        FailedStep::Format,
                        km,
                        "the key must be a block height in decimal",
                    ))
                }
            };
            let Value::String(s) = hv else {
                return Err(fail(
                    FailedStep::Format,
                    km,
                    "must be an 80-byte header in hex",
                ));
            };
            headers.insert(height, header_from_hex(s, &km)?);
        }
    }
    let file = DetachedTimestampFile::parse(&bytes).map_err(|e| {
        fail(
            FailedStep::OtsParse,
            ots_member.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    Ok(OtsAnchor {
        ots: bytes,
        file,
        headers,
        heads,
        network,
    })
}

fn parse_bitcoin(v: &Value<'_>, base: &str) -> Result<BitcoinAnchor, AnchorError> {
    check_members(
        v,
        base,
        TYPE_BITCOIN,
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
    let network = parse_network(v, base)?;
    let heads = parse_heads(v, base)?;
    let height_m = join(base, "height");
    let height = match v.get("height") {
        Some(Value::Number(n))
            if n.fract() == 0.0 && *n >= 0.0 && *n <= 9_007_199_254_740_991.0 =>
        {
            *n as u64
        }
        Some(other) => {
            return Err(fail(
                FailedStep::Format,
                height_m,
                format!(
                    "must be a block height (an integer >= 0), got {}",
                    other.type_name()
                ),
            ))
        }
        None => return Err(fail(FailedStep::Format, height_m, "is required")),
    };
    let tx_m = join(base, "raw_tx");
    let raw_tx_text = get_str(v, base, "raw_tx")?;
    let tx = Transaction::from_hex(raw_tx_text).map_err(|e| {
        fail(
            FailedStep::RawTx,
            tx_m.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let mp_m = join(base, "merkle_proof");
    let mp_text = get_str(v, base, "merkle_proof")?;
    let merkle_block = MerkleBlock::from_hex(mp_text).map_err(|e| {
        fail(
            FailedStep::MerkleProof,
            mp_m.clone(),
            format!("{} ({})", e.message, e.code),
        )
    })?;
    let header_m = join(base, "header");
    let header_given = match v.get("header") {
        None => false,
        Some(Value::String(s)) => {
            let h = header_from_hex(s, &header_m)?;
            if h != merkle_block.header {
                return Err(fail(
                    FailedStep::Header,
                    header_m,
                    "differs from the header inside merkle_proof",
                ));
            }
            true
        }
        Some(_) => {
            return Err(fail(
                FailedStep::Format,
                header_m,
                "must be an 80-byte header in hex",
            ))
        }
    };
    Ok(BitcoinAnchor {
        // Both decoded above, so hex.
        raw_tx: hex::decode(raw_tx_text.as_bytes()).unwrap_or_default(),
        tx,
        merkle_proof: hex::decode(mp_text.as_bytes()).unwrap_or_default(),
        merkle_block,
        header_given,
        height,
        heads,
        network,
    })
}
