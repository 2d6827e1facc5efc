//! One error type for the whole core, with stable, shared error codes.
//!
//! Every binding (WASM, Python, Kotlin/Swift) and the gateway's HTTP error
//! bodies use [`ErrorCode::as_str`] as the machine-readable `code` and the
//! [`Error`]'s `Display` text as the human message. The codes never change
//! meaning once published; new ones may be added.
//!
//! ```
//! use kwh_btc_iot_core::{canonicalize_json, error::lookup};
//! let err = canonicalize_json(br#"{"a":1,"a":2}"#).unwrap_err();
//! assert_eq!(err.code.as_str(), "duplicate_member");
//! assert_eq!(lookup(err.code.as_str()).unwrap().http_status, 400);
//! ```

use std::fmt;

/// A stable, lowercase, snake_case error code (SPEC section 6).
///
/// ```
/// use kwh_btc_iot_core::{canonicalize, ErrorCode};
/// let err = canonicalize(br#"{"schema_version":"emlog-0.9"}"#).unwrap_err();
/// assert_eq!(err.code, ErrorCode::UnsupportedVersion);
/// assert_eq!(err.code.as_str(), "unsupported_version");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The bytes are not valid UTF-8.
    InvalidUtf8,
    /// The text is not JSON (syntax error, trailing data, bad escape).
    InvalidJson,
    /// An object has the same member name twice.
    DuplicateMember,
    /// A string contains an escaped lone UTF-16 surrogate.
    LoneSurrogate,
    /// A number is outside the IEEE-754 double range (or NaN/Infinity).
    NumberOutOfRange,
    /// Arrays/objects nested deeper than the limit.
    TooDeep,
    /// The input is larger than the limit.
    TooLarge,
    /// A member that is not part of the format.
    UnknownMember,
    /// A required member is absent.
    MissingMember,
    /// A member has the wrong JSON type.
    InvalidType,
    /// A member's value is not one of the allowed values.
    InvalidValue,
    /// `schema_version` (or another version tag) is not the supported one.
    UnsupportedVersion,
    /// A string is too short or too long.
    InvalidLength,
    /// A string holds a character its rule forbids.
    ForbiddenCharacter,
    /// A number is outside its member's range.
    OutOfRange,
    /// A number that must be an integer is not.
    NotAnInteger,
    /// Not an RFC 3339 date-time with offset.
    InvalidTimestamp,
    /// `ts_end` is not after `ts_start`.
    InvalidTimeRange,
    /// `interval_s` differs from `ts_end - ts_start`.
    IntervalMismatch,
    /// `tx.amount_sats` differs from `energy_kwh * price_sats_per_kwh` by more than 1 sat.
    AmountMismatch,
    /// The same tag twice.
    DuplicateTag,
    /// More tags than allowed.
    TooManyTags,
    /// Not lowercase hex of the expected length.
    InvalidHex,
    /// A recomputed leaf hash differs from the stated one.
    LeafHashMismatch,
    /// An inclusion or consistency proof does not verify.
    InvalidProof,
    /// An index outside the tree.
    IndexOutOfRange,
    /// A key is not a valid Ed25519 key.
    InvalidKey,
    /// A signature does not verify.
    InvalidSignature,
    /// A signature is valid but not by the trusted key.
    UntrustedKey,
    /// A trusted key was given but the receipt carries no signature.
    MissingSignature,
    /// A batch with no logs.
    EmptyBatch,
    /// An anchor is malformed or does not verify.
    InvalidAnchor,
}

impl ErrorCode {
    /// The stable code string, e.g. `"duplicate_member"`.
    ///
    /// ```
    /// use kwh_btc_iot_core::ErrorCode;
    /// assert_eq!(ErrorCode::DuplicateMember.as_str(), "duplicate_member");
    /// assert_eq!(ErrorCode::DuplicateMember.to_string(), "duplicate_member");
    /// ```
    pub const fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidUtf8 => "invalid_utf8",
            InvalidJson => "invalid_json",
            DuplicateMember => "duplicate_member",
            LoneSurrogate => "lone_surrogate",
            NumberOutOfRange => "number_out_of_range",
            TooDeep => "too_deep",
            TooLarge => "too_large",
            UnknownMember => "unknown_member",
            MissingMember => "missing_member",
            InvalidType => "invalid_type",
            InvalidValue => "invalid_value",
            UnsupportedVersion => "unsupported_version",
            InvalidLength => "invalid_length",
            ForbiddenCharacter => "forbidden_character",
            OutOfRange => "out_of_range",
            NotAnInteger => "not_an_integer",
            InvalidTimestamp => "invalid_timestamp",
            InvalidTimeRange => "invalid_time_range",
            IntervalMismatch => "interval_mismatch",
            AmountMismatch => "amount_mismatch",
            DuplicateTag => "duplicate_tag",
            TooManyTags => "too_many_tags",
            InvalidHex => "invalid_hex",
            LeafHashMismatch => "leaf_hash_mismatch",
            InvalidProof => "invalid_proof",
            IndexOutOfRange => "index_out_of_range",
            InvalidKey => "invalid_key",
            InvalidSignature => "invalid_signature",
            UntrustedKey => "untrusted_key",
            MissingSignature => "missing_signature",
            EmptyBatch => "empty_batch",
            InvalidAnchor => "invalid_anchor",
        }
    }

    /// The family the code belongs to; bindings map families to exception classes.
    ///
    /// ```
    /// use kwh_btc_iot_core::{ErrorCode, ErrorFamily};
    /// assert_eq!(ErrorCode::TooDeep.family(), ErrorFamily::Json);
    /// assert_eq!(ErrorCode::AmountMismatch.family(), ErrorFamily::Validation);
    /// assert_eq!(ErrorCode::InvalidProof.family(), ErrorFamily::Merkle);
    /// ```
    pub const fn family(self) -> ErrorFamily {
        use ErrorCode::*;
        match self {
            InvalidUtf8 | InvalidJson | DuplicateMember | LoneSurrogate | NumberOutOfRange
            | TooDeep | TooLarge => ErrorFamily::Json,
            InvalidHex | LeafHashMismatch | InvalidProof | IndexOutOfRange | EmptyBatch => {
                ErrorFamily::Merkle
            }
            InvalidKey | InvalidSignature | UntrustedKey | MissingSignature | InvalidAnchor => {
                ErrorFamily::Crypto
            }
            _ => ErrorFamily::Validation,
        }
    }

    /// Every code, for tables and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidUtf8,
        ErrorCode::InvalidJson,
        ErrorCode::DuplicateMember,
        ErrorCode::LoneSurrogate,
        ErrorCode::NumberOutOfRange,
        ErrorCode::TooDeep,
        ErrorCode::TooLarge,
        ErrorCode::UnknownMember,
        ErrorCode::MissingMember,
        ErrorCode::InvalidType,
        ErrorCode::InvalidValue,
        ErrorCode::UnsupportedVersion,
        ErrorCode::InvalidLength,
        ErrorCode::ForbiddenCharacter,
        ErrorCode::OutOfRange,
        ErrorCode::NotAnInteger,
        ErrorCode::InvalidTimestamp,
        ErrorCode::InvalidTimeRange,
        ErrorCode::IntervalMismatch,
        ErrorCode::AmountMismatch,
        ErrorCode::DuplicateTag,
        ErrorCode::TooManyTags,
        ErrorCode::InvalidHex,
        ErrorCode::LeafHashMismatch,
        ErrorCode::InvalidProof,
        ErrorCode::IndexOutOfRange,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidSignature,
        ErrorCode::UntrustedKey,
        ErrorCode::MissingSignature,
        ErrorCode::EmptyBatch,
        ErrorCode::InvalidAnchor,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error families: JSON syntax, emlog validation, Merkle/proofs, signatures
/// and anchors. Bindings raise one exception class per family (Python
/// `JsonError`, `ValidationError`, ...).
///
/// ```
/// use kwh_btc_iot_core::{ErrorCode, ErrorFamily};
/// assert_eq!(ErrorCode::UntrustedKey.family(), ErrorFamily::Crypto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorFamily {
    /// Not I-JSON.
    Json,
    /// Valid JSON, invalid log (or head/receipt structure).
    Validation,
    /// Hashes, trees, proofs.
    Merkle,
    /// Keys, signatures, anchors.
    Crypto,
}

impl ErrorFamily {
    /// Lowercase name of the family, as `CodeEntry::family` and the bindings
    /// spell it.
    ///
    /// ```
    /// use kwh_btc_iot_core::ErrorFamily;
    /// assert_eq!(ErrorFamily::Validation.as_str(), "validation");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorFamily::Json => "json",
            ErrorFamily::Validation => "validation",
            ErrorFamily::Merkle => "merkle",
            ErrorFamily::Crypto => "crypto",
        }
    }
}

/// A core error: a stable code, the member it concerns (a path such as
/// `tx.amount_sats` or `tags[2]`, when there is one) and a message that names
/// the member and the rule.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1300,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let err = kwh_btc_iot_core::canonicalize(log).unwrap_err();
/// assert_eq!(err.code.as_str(), "amount_mismatch");
/// assert_eq!(err.member.as_deref(), Some("tx.amount_sats"));
/// assert!(err.to_string().starts_with("tx.amount_sats: "), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The stable code; bindings and HTTP bodies expose `code.as_str()`.
    pub code: ErrorCode,
    /// The member path (`tx.amount_sats`, `tags[2]`, `anchors[0].heads`)
    /// when the error concerns one member; `None` for whole-input errors.
    pub member: Option<String>,
    /// The English message, starting with the member path when there is one;
    /// for people, not for matching (match on `code`).
    pub message: String,
}

impl Error {
    /// An error about one member; the message is prefixed with the member name.
    ///
    /// ```
    /// use kwh_btc_iot_core::{Error, ErrorCode};
    /// let e = Error::member(ErrorCode::OutOfRange, "interval_s", "must be at most 86400");
    /// assert_eq!(e.to_string(), "interval_s: must be at most 86400");
    /// assert_eq!(e.member.as_deref(), Some("interval_s"));
    /// ```
    pub fn member(code: ErrorCode, member: impl Into<String>, rule: impl fmt::Display) -> Self {
        let member = member.into();
        let message = format!("{member}: {rule}");
        Error {
            code,
            member: Some(member),
            message,
        }
    }

    /// The same error about a member inside `prefix` (`log` turns member
    /// `tx.amount_sats` into `log.tx.amount_sats`, and the message with it).
    ///
    /// ```
    /// use kwh_btc_iot_core::{Error, ErrorCode};
    /// let e = Error::member(ErrorCode::OutOfRange, "energy_kwh", "must be >= 0").nested("log");
    /// assert_eq!(e.member.as_deref(), Some("log.energy_kwh"));
    /// assert_eq!(e.message, "log.energy_kwh: must be >= 0");
    /// ```
    pub fn nested(self, prefix: &str) -> Self {
        Error {
            member: self.member.map(|m| format!("{prefix}.{m}")),
            message: format!("{prefix}.{}", self.message),
            code: self.code,
        }
    }

    /// An error that concerns no single member.
    ///
    /// ```
    /// use kwh_btc_iot_core::{Error, ErrorCode};
    /// let e = Error::new(ErrorCode::EmptyBatch, "a batch needs at least one log");
    /// assert_eq!((e.member, e.message.as_str()), (None, "a batch needs at least one log"));
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            member: None,
            message: message.into(),
        }
    }
}

/// The core's result type: [`Error`] unless another error type is named.
///
/// ```
/// fn leaf(log: &[u8]) -> kwh_btc_iot_core::Result<String> {
///     Ok(kwh_btc_iot_core::leaf_hash(log)?.to_hex())
/// }
/// assert_eq!(leaf(b"[]").unwrap_err().code.as_str(), "invalid_type");
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The HTTP status of an error with this code: JSON syntax problems are
/// 400, an input over a size limit 413, a missing or bad signature 401, an
/// empty batch 409, any other well-formed but invalid input 422.
impl ErrorCode {
    /// The HTTP status the gateway answers with for this code.
    ///
    /// ```
    /// use kwh_btc_iot_core::ErrorCode;
    /// assert_eq!(ErrorCode::DuplicateMember.http_status(), 400);
    /// assert_eq!(ErrorCode::AmountMismatch.http_status(), 422);
    /// ```
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::TooLarge => 413,
            ErrorCode::MissingSignature | ErrorCode::InvalidSignature | ErrorCode::UntrustedKey => {
                401
            }
            ErrorCode::EmptyBatch => 409,
            c => match c.family() {
                ErrorFamily::Json => 400,
                _ => 422,
            },
        }
    }
}

/// Codes the project emits beyond the core's [`ErrorCode`]s: the gateway's
/// HTTP errors and the MQTT bridge's dead-letter reasons. Every code lives
/// in [`REGISTRY`] with its family and HTTP status.
///
/// ```
/// use kwh_btc_iot_core::error::{codes, lookup};
/// assert_eq!(lookup(codes::RATE_LIMITED).unwrap().http_status, 429);
/// assert_eq!(lookup(codes::TOPIC_MISMATCH).unwrap().family, "mqtt");
/// ```
pub mod codes {
    /// No or unknown credentials (401).
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// Valid credentials that may not do this (403).
    pub const FORBIDDEN: &str = "forbidden";
    /// No such log, batch or route (404).
    pub const NOT_FOUND: &str = "not_found";
    /// The log exists but is not in a batch yet (409).
    pub const NOT_BATCHED: &str = "not_batched";
    /// Wrong `Content-Type` (415).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// Too many requests for this client (429).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A query or path parameter is malformed (400).
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// The storage failed: a real server fault (503).
    pub const STORAGE_ERROR: &str = "storage_error";
    /// The HTTP method is not allowed on this path (405).
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The client was too slow sending its request (408).
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// The gateway is at its limit of bulk bytes in flight; retry after the
    /// `Retry-After` seconds (503).
    pub const OVERLOADED: &str = "overloaded";
    /// The `Host` is not one the gateway serves (421).
    pub const HOST_NOT_ALLOWED: &str = "host_not_allowed";
    /// A state-changing request from a foreign origin (403).
    pub const CROSS_ORIGIN: &str = "cross_origin";
    /// A device id that is not configured (422).
    pub const UNKNOWN_DEVICE: &str = "unknown_device";
    /// A different log of a reading (site, device, meter, `ts_start`) that is
    /// already stored (409); the error names the stored log.
    pub const CONFLICTING_READING: &str = "conflicting_reading";
    /// An unexpected server fault (500).
    pub const INTERNAL: &str = "internal_error";
    /// An MQTT reading whose topic names another site or device than its payload.
    pub const TOPIC_MISMATCH: &str = "topic_mismatch";
    /// An MQTT topic that is not `<prefix>/<site_id>/<iot_device_id>/<meter_id>`.
    pub const INVALID_TOPIC: &str = "invalid_topic";
    /// A plausibility warning: `power_kw_avg` differs from `energy_kwh / interval`.
    pub const POWER_MISMATCH: &str = "power_mismatch";
}

/// One code of the project: its family and the HTTP status it is answered
/// with (0 where it is never an HTTP answer: anchor steps, warnings).
///
/// ```
/// use kwh_btc_iot_core::error::lookup;
/// let e = lookup("not_batched").unwrap();
/// assert_eq!((e.family, e.http_status), ("http", 409));
/// assert_eq!(lookup("tx_commitment").unwrap().http_status, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The stable snake_case code.
    pub code: &'static str,
    /// `json`, `validation`, `merkle`, `crypto` (the core's errors, which
    /// bindings raise as exception classes), `http` (gateway requests),
    /// `mqtt` (dead letters), `anchor_step` (an anchor's `failed_step`) or
    /// `warning`.
    pub family: &'static str,
    /// The HTTP status the gateway answers with, or 0 for codes that are
    /// never an HTTP answer (anchor steps, warnings, MQTT dead letters).
    pub http_status: u16,
}

const fn core_entry(c: ErrorCode) -> CodeEntry {
    CodeEntry {
        code: c.as_str(),
        family: c.family().as_str(),
        http_status: c.http_status(),
    }
}

const fn entry(code: &'static str, family: &'static str, http_status: u16) -> CodeEntry {
    CodeEntry {
        code,
        family,
        http_status,
    }
}

/// Every code the project emits, once: the core's validation, JSON, Merkle
/// and crypto errors, the gateway's HTTP errors, the MQTT dead-letter
/// reasons, the anchor failed steps and the warnings. `docs/spec.md`, the
/// bindings' types and the gateway are checked against it
/// (`core/tests/codes.rs`).
///
/// ```
/// use kwh_btc_iot_core::error::{lookup, REGISTRY};
/// assert_eq!(lookup("rate_limited").unwrap().http_status, 429);
/// assert_eq!(lookup("duplicate_member").unwrap().family, "json");
/// assert!(REGISTRY.len() > 50);
/// ```
pub const REGISTRY: &[CodeEntry] = &[
    core_entry(ErrorCode::InvalidUtf8),
    core_entry(ErrorCode::InvalidJson),
    core_entry(ErrorCode::DuplicateMember),
    core_entry(ErrorCode::LoneSurrogate),
    core_entry(ErrorCode::NumberOutOfRange),
    core_entry(ErrorCode::TooDeep),
    core_entry(ErrorCode::TooLarge),
    core_entry(ErrorCode::UnknownMember),
    core_entry(ErrorCode::MissingMember),
    core_entry(ErrorCode::InvalidType),
    core_entry(ErrorCode::InvalidValue),
    core_entry(ErrorCode::UnsupportedVersion),
    core_entry(ErrorCode::InvalidLength),
    core_entry(ErrorCode::ForbiddenCharacter),
    core_entry(ErrorCode::OutOfRange),
    core_entry(ErrorCode::NotAnInteger),
    core_entry(ErrorCode::InvalidTimestamp),
    core_entry(ErrorCode::InvalidTimeRange),
    core_entry(ErrorCode::IntervalMismatch),
    core_entry(ErrorCode::AmountMismatch),
    core_entry(ErrorCode::DuplicateTag),
    core_entry(ErrorCode::TooManyTags),
    core_entry(ErrorCode::InvalidHex),
    core_entry(ErrorCode::LeafHashMismatch),
    core_entry(ErrorCode::InvalidProof),
    core_entry(ErrorCode::IndexOutOfRange),
    core_entry(ErrorCode::InvalidKey),
    core_entry(ErrorCode::InvalidSignature),
    core_entry(ErrorCode::UntrustedKey),
    core_entry(ErrorCode::MissingSignature),
    core_entry(ErrorCode::EmptyBatch),
    core_entry(ErrorCode::InvalidAnchor),
    entry(codes::UNAUTHORIZED, "http", 401),
    entry(codes::FORBIDDEN, "http", 403),
    entry(codes::NOT_FOUND, "http", 404),
    entry(codes::NOT_BATCHED, "http", 409),
    entry(codes::UNSUPPORTED_MEDIA_TYPE, "http", 415),
    entry(codes::RATE_LIMITED, "http", 429),
    entry(codes::INVALID_PARAMETER, "http", 400),
    entry(codes::STORAGE_ERROR, "http", 503),
    entry(codes::METHOD_NOT_ALLOWED, "http", 405),
    entry(codes::REQUEST_TIMEOUT, "http", 408),
    entry(codes::OVERLOADED, "http", 503),
    entry(codes::HOST_NOT_ALLOWED, "http", 421),
    entry(codes::CROSS_ORIGIN, "http", 403),
    entry(codes::UNKNOWN_DEVICE, "http", 422),
    entry(codes::CONFLICTING_READING, "http", 409),
    entry(codes::INTERNAL, "http", 500),
    entry(codes::TOPIC_MISMATCH, "mqtt", 0),
    entry(codes::INVALID_TOPIC, "mqtt", 0),
    entry("format", "anchor_step", 0),
    entry("network", "anchor_step", 0),
    entry("head_chain", "anchor_step", 0),
    entry("ots_parse", "anchor_step", 0),
    entry("ots_digest", "anchor_step", 0),
    entry("ots_replay", "anchor_step", 0),
    entry("header", "anchor_step", 0),
    entry("header_pow", "anchor_step", 0),
    entry("merkle_root", "anchor_step", 0),
    entry("raw_tx", "anchor_step", 0),
    entry("merkle_proof", "anchor_step", 0),
    entry("tx_inclusion", "anchor_step", 0),
    entry("tx_commitment", "anchor_step", 0),
    entry(codes::POWER_MISMATCH, "warning", 0),
];

/// The registry entry of a code.
///
/// ```
/// assert!(kwh_btc_iot_core::error::lookup("no_such_code").is_none());
/// ```
pub fn lookup(code: &str) -> Option<&'static CodeEntry> {
    REGISTRY.iter().find(|e| e.code == code)
}

/// The step of an anchor's verification that failed, reported as an
/// anchor result's `failed_step` (SPEC section 7).
///
/// ```
/// use kwh_btc_iot_core::error::FailedStep;
/// assert_eq!(FailedStep::OtsParse.as_str(), "ots_parse");
/// assert_eq!(FailedStep::parse("tx_commitment"), Some(FailedStep::TxCommitment));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailedStep {
    /// The anchor's JSON: members, types, sizes.
    Format,
    /// The anchor's `network` is not the verifier's.
    Network,
    /// The `heads` chain does not link the receipt's head to the anchored one.
    HeadChain,
    /// The `.ots` bytes are not a detached OpenTimestamps file.
    OtsParse,
    /// The `.ots` file is for another digest.
    OtsDigest,
    /// Replaying the `.ots` operations failed.
    OtsReplay,
    /// A block header is malformed or differs from the one in the proof.
    Header,
    /// A block header's proof of work is insufficient for the network.
    HeaderPow,
    /// The proof's message is not the header's merkle root.
    MerkleRoot,
    /// The transaction is malformed.
    RawTx,
    /// The merkleblock is malformed.
    MerkleProof,
    /// The transaction is not in the merkleblock's tree.
    TxInclusion,
    /// No output of the transaction commits to the head hash.
    TxCommitment,
}

impl FailedStep {
    /// Every step, for tables and tests.
    pub const ALL: &'static [FailedStep] = &[
        FailedStep::Format,
        FailedStep::Network,
        FailedStep::HeadChain,
        FailedStep::OtsParse,
        FailedStep::OtsDigest,
        FailedStep::OtsReplay,
        FailedStep::Header,
        FailedStep::HeaderPow,
        FailedStep::MerkleRoot,
        FailedStep::RawTx,
        FailedStep::MerkleProof,
        FailedStep::TxInclusion,
        FailedStep::TxCommitment,
    ];

    /// The snake_case name, as written in an anchor result's `failed_step`.
    ///
    /// ```
    /// use kwh_btc_iot_core::FailedStep;
    /// assert_eq!(FailedStep::HeaderPow.as_str(), "header_pow");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            FailedStep::Format => "format",
            FailedStep::Network => "network",
            FailedStep::HeadChain => "head_chain",
            FailedStep::OtsParse => "ots_parse",
            FailedStep::OtsDigest => "ots_digest",
            FailedStep::OtsReplay => "ots_replay",
            FailedStep::Header => "header",
            FailedStep::HeaderPow => "header_pow",
            FailedStep::MerkleRoot => "merkle_root",
            FailedStep::RawTx => "raw_tx",
            FailedStep::MerkleProof => "merkle_proof",
            FailedStep::TxInclusion => "tx_inclusion",
            FailedStep::TxCommitment => "tx_commitment",
        }
    }

    /// The step named `s` (exact snake_case), if any.
    ///
    /// ```
    /// use kwh_btc_iot_core::FailedStep;
    /// assert_eq!(FailedStep::parse("merkle_root"), Some(FailedStep::MerkleRoot));
    /// assert_eq!(FailedStep::parse("Merkle_Root"), None);
    /// ```
    pub fn parse(s: &str) -> Option<FailedStep> {
        FailedStep::ALL.iter().copied().find(|f| f.as_str() == s)
    }
}

// Compares with a step name, as callers often have it.
impl PartialEq<&str> for FailedStep {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for FailedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-fatal finding: a plausibility check that did not reject the input
/// (the log is still accepted and hashed as given).
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// // 12.34 kWh over 300 s is 148 kW on average, not 2.47: accepted, with a warning.
/// let n = kwh_btc_iot_core::normalize(log).unwrap();
/// assert_eq!(n.warnings[0].code, "power_mismatch");
/// assert_eq!(n.warnings[0].member, "power_kw_avg");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Stable warning code, e.g. `power_mismatch`.
    pub code: &'static str,
    /// The member concerned.
    pub member: String,
    /// A human message naming the member and the finding.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s}"
            );
        }
    }

    #[test]
    fn the_registry_holds_every_code_once() {
        let mut seen = std::collections::HashSet::new();
        for e in REGISTRY {
            assert!(seen.insert(e.code), "{} twice", e.code);
        }
        for c in ErrorCode::ALL {
            assert_eq!(lookup(c.as_str()), Some(&core_entry(*c)));
        }
        for f in FailedStep::ALL {
            assert_eq!(lookup(f.as_str()).map(|e| e.family), Some("anchor_step"));
        }
    }

    #[test]
    fn member_error_names_member_and_rule() {
        let e = Error::member(ErrorCode::OutOfRange, "energy_kwh", "must be >= 0, got -1");
        assert_eq!(e.to_string(), "energy_kwh: must be >= 0, got -1");
        assert_eq!(e.member.as_deref(), Some("energy_kwh"));
    }
}
