//! The receipt, `emreceipt-1` (SPEC section 5): a log, its leaf hash and
//! inclusion path, the signed batch head, and the anchors of that head.
//!
//! [`Receipt::parse`] is its one reader, [`Receipt::write_canonical`] its
//! one writer; receipts are built by [`crate::build::Batch::receipt`] and
//! checked by [`crate::verify::verify_receipt`].
//!
//! ```
//! use kwh_btc_iot_core::{build_batch, model::receipt::Receipt};
//! # let log = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"d","meter_id":"m","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":1,"power_kw_avg":12,"status":"ok","tags":[],"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
//! # let params = kwh_btc_iot_core::build::BatchParams { gateway_id: "g".into(), batch_id: "b".into(), seq: 1,
//! #     prev_head_hash: None, created_at: kwh_btc_iot_core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
//! let built = build_batch(&[log.as_slice()], params, None).unwrap();
//! let text = built.receipts[0].to_json();
//! assert_eq!(Receipt::parse(text.as_bytes()).unwrap(), built.receipts[0]);
//! ```

use crate::error::{Error, ErrorCode};
use crate::hash::Hash;
use crate::jcs;
use crate::json::{self, Value};
use crate::model::anchor::Anchor;
use crate::model::emlog;
use crate::model::head::{hex_hash, BatchHead, Signature};

/// The only receipt version.
pub const RECEIPT_VERSION: &str = "emreceipt-1";
/// Largest receipt accepted, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 1024 * 1024;
/// Longest inclusion path accepted (a tree of 2^64 leaves needs 64).
pub const MAX_PATH_LEN: usize = 64;
/// Deepest JSON nesting accepted in a receipt.
pub const MAX_RECEIPT_DEPTH: usize = 32;

/// An `emreceipt-1` receipt.
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
/// use kwh_btc_iot_core::Receipt;
/// let r = &built.receipts[0];
/// assert_eq!((r.leaf_index, r.inclusion_path.len()), (0, 0));
/// assert_eq!(r.log.as_bytes(), kwh_btc_iot_core::canonicalize(log).unwrap());
/// assert_eq!(&Receipt::parse(r.to_json().as_bytes()).unwrap(), r);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The canonical JSON (RFC 8785) of the normalized log.
    pub log: String,
    /// The log's leaf hash, SHA-256(0x00 || log).
    pub leaf_hash: Hash,
    /// The log's 0-based position in the batch, in acceptance order.
    pub leaf_index: u64,
    /// The RFC 9162 inclusion path, leaf to root.
    pub inclusion_path: Vec<Hash>,
    /// The head of the batch the log is in; its `merkle_root` is what the
    /// inclusion path leads to.
    pub batch_head: BatchHead,
    /// The gateway's signature over JCS(batch_head); `None` (`null`) when
    /// the batch was built without a key.
    pub head_signature: Option<Signature>,
    /// A device's signature over the log's canonical bytes, when the device signs.
    pub log_signature: Option<Signature>,
    /// Anchors of the head (or of a later head, through `heads`).
    pub anchors: Vec<Anchor>,
}

impl Receipt {
    /// Reads a receipt: I-JSON of at most [`MAX_RECEIPT_BYTES`], only
    /// emreceipt-1 members, a valid log (normalized), head, signatures and
    /// anchors. Errors name the member path and the rule. It does not check
    /// hashes or signatures: that is [`crate::verify::verify_receipt`].
    ///
    /// ```
    /// use kwh_btc_iot_core::model::receipt::Receipt;
    /// let e = Receipt::parse(b"[]").unwrap_err();
    /// assert_eq!(e.code.as_str(), "invalid_type");
    /// assert_eq!(Receipt::parse(b"{").unwrap_err().code.as_str(), "invalid_json");
    /// ```
    pub fn parse(input: &[u8]) -> Result<Receipt, Error> {
        if input.len() > MAX_RECEIPT_BYTES {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!("receipt is larger than {MAX_RECEIPT_BYTES} bytes"),
            ));
        }
        let value = json::parse_with_depth(input, MAX_RECEIPT_DEPTH)?;
        let m = ReceiptMembers::read(&value)?;
        let log = emlog::normalize_value(m.log.clone()).map_err(|e| e.nested("log"))?;
        let mut canonical = Vec::new();
        log.log.write_canonical(&mut canonical);
        let batch_head = BatchHead::parse(m.head, "batch_head")?;
        let head_signature = match m.head_signature {
            Value::Null => None,
            v => Some(Signature::parse(v, "head_signature")?),
        };
        let log_signature = m
            .log_signature
            .map(|v| Signature::parse(v, "log_signature"))
            .transpose()?;
        let anchors = m
            .anchors
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Anchor::parse(a, &format!("anchors[{i}]")).map_err(|e| {
                    Error::member(
                        ErrorCode::InvalidAnchor,
                        e.member,
                        format!("{} (step {})", e.message, e.step),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Receipt {
            log: String::from_utf8(canonical).expect("canonical JSON is UTF-8"),
            leaf_hash: m.leaf_hash,
            leaf_index: m.leaf_index,
            inclusion_path: m.path,
            batch_head,
            head_signature,
            log_signature,
            anchors,
        })
    }

    /// Appends the receipt's canonical JSON (RFC 8785) to `out`.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{build_batch, model::receipt::Receipt};
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"d","meter_id":"m","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":1,"power_kw_avg":12,"status":"ok","tags":[],"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// # let params = kwh_btc_iot_core::build::BatchParams { gateway_id: "g".into(), batch_id: "b".into(), seq: 1,
    /// #     prev_head_hash: None, created_at: kwh_btc_iot_core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let r = &build_batch(&[log.as_slice()], params, None).unwrap().receipts[0];
    /// let mut out = Vec::new();
    /// r.write_canonical(&mut out);
    /// assert_eq!(out, kwh_btc_iot_core::canonicalize_json(&out).unwrap());
    /// ```
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.reserve(self.log.len() + 512 + 67 * self.inclusion_path.len());
        out.extend_from_slice(b"{\"anchors\":[");
        for (i, a) in self.anchors.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            a.write_canonical(out);
        }
        out.extend_from_slice(b"],\"batch_head\":");
        self.batch_head.write_canonical(out);
        out.extend_from_slice(b",\"head_signature\":");
        match &self.head_signature {
            Some(s) => s.write_canonical(out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"inclusion_path\":[");
        for (i, h) in self.inclusion_path.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(h.to_hex().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"leaf_hash\":\"");
        out.extend_from_slice(self.leaf_hash.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"leaf_index\":");
        jcs::write_number(out, self.leaf_index as f64);
        out.extend_from_slice(b",\"log\":");
        out.extend_from_slice(self.log.as_bytes());
        if let Some(s) = &self.log_signature {
            out.extend_from_slice(b",\"log_signature\":");
            s.write_canonical(out);
        }
        out.extend_from_slice(b",\"receipt_version\":\"emreceipt-1\"}");
    }

    /// The receipt as a JSON value, read back from its canonical bytes.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{build_batch, model::receipt::Receipt};
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"d","meter_id":"m","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":1,"power_kw_avg":12,"status":"ok","tags":[],"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// # let params = kwh_btc_iot_core::build::BatchParams { gateway_id: "g".into(), batch_id: "b".into(), seq: 1,
    /// #     prev_head_hash: None, created_at: kwh_btc_iot_core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let r = &build_batch(&[log.as_slice()], params, None).unwrap().receipts[0];
    /// assert!(r.to_value().get("log").is_some());
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        json::parse(self.to_json().as_bytes())
            .expect("canonical JSON parses")
            .into_owned()
    }

    /// The receipt as canonical (RFC 8785) JSON text.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{build_batch, model::receipt::Receipt};
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"d","meter_id":"m","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":1,"power_kw_avg":12,"status":"ok","tags":[],"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// # let params = kwh_btc_iot_core::build::BatchParams { gateway_id: "g".into(), batch_id: "b".into(), seq: 1,
    /// #     prev_head_hash: None, created_at: kwh_btc_iot_core::time::Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let r = &build_batch(&[log.as_slice()], params, None).unwrap().receipts[0];
    /// assert!(r.to_json().ends_with(r#""receipt_version":"emreceipt-1"}"#));
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        String::from_utf8(out).expect("canonical JSON is UTF-8")
    }
}

/// The members of an `emreceipt-1` envelope, each still JSON except the
/// plain ones: what [`Receipt::parse`] reads each member's codec from, and
/// what verifiers walk step by step (a malformed log or head still lets the
/// other steps run).
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
/// use kwh_btc_iot_core::{json, model::receipt::ReceiptMembers};
/// let text = built.receipts[0].to_json();
/// let v = json::parse(text.as_bytes()).unwrap();
/// let m = ReceiptMembers::read(&v).unwrap();
/// assert_eq!(m.leaf_hash, built.receipts[0].leaf_hash);
/// assert!(m.anchors.is_empty() && m.log_signature.is_none());
/// ```
#[derive(Debug)]
pub struct ReceiptMembers<'v, 'a> {
    /// `log`, as given (still to be normalized).
    pub log: &'v Value<'a>,
    /// `leaf_hash`, read as 64 lowercase hex characters.
    pub leaf_hash: Hash,
    /// `leaf_index`, an integer within 0..2^53-1.
    pub leaf_index: u64,
    /// `inclusion_path`, at most [`MAX_PATH_LEN`] hashes, leaf to root.
    pub path: Vec<Hash>,
    /// `batch_head`, as given (still to be read by `BatchHead::parse`).
    pub head: &'v Value<'a>,
    /// `head_signature`, as given (may be `null`).
    pub head_signature: &'v Value<'a>,
    /// `log_signature`, when present and not `null`.
    pub log_signature: Option<&'v Value<'a>>,
    /// `anchors`, as given.
    pub anchors: &'v [Value<'a>],
}

impl<'v, 'a> ReceiptMembers<'v, 'a> {
    /// Reads the envelope: an object with only emreceipt-1 members, the
    /// right version, and well-formed `leaf_hash`, `leaf_index`,
    /// `inclusion_path` and `anchors` (an array).
    ///
    /// ```
    /// use kwh_btc_iot_core::{json, model::receipt::ReceiptMembers};
    /// let e = ReceiptMembers::read(&json::parse(b"[]").unwrap()).unwrap_err();
    /// assert_eq!(e.member.as_deref(), Some("receipt"));
    /// ```
    pub fn read(v: &'v Value<'a>) -> Result<ReceiptMembers<'v, 'a>, Error> {
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
        let leaf_hash = hex_hash(get("leaf_hash")?, "leaf_hash")?;
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
                    hex_hash(h, "inclusion_path")
                        .or_else(|_| hex_hash(h, &format!("inclusion_path[{i}]")))
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
        Ok(ReceiptMembers {
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
}
