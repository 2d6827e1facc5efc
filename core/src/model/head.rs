//! The batch head, `embatch-1` (SPEC section 4), and the Ed25519
//! signatures of heads and logs: each type read from JSON with member paths
//! and written as canonical bytes.
//!
//! ```
//! use kwh_btc_iot_core::model::head::{BatchHead, Keypair};
//! use kwh_btc_iot_core::{hash::Hash, time::Timestamp};
//! let head = BatchHead {
//!     gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1, log_count: 1,
//!     merkle_root: Hash([0; 32]), prev_head_hash: None,
//!     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap(),
//! };
//! let text = head.canonical_bytes();
//! let parsed = BatchHead::parse(&kwh_btc_iot_core::json::parse(&text).unwrap(), "batch_head").unwrap();
//! assert_eq!(parsed, head);
//! let sig = Keypair::from_seed(&[1; 32]).sign(&text);
//! assert!(sig.verify(&text).is_ok());
//! ```

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::error::{Error, ErrorCode, Result};
use crate::hash::{head_hash_bytes, Hash};
use crate::jcs::{write_number, write_string};
use crate::json::Value;
use crate::time::Timestamp;

/// The only head version.
pub const HEAD_VERSION: &str = "embatch-1";
/// Maximum length of `gateway_id` and `batch_id`, in characters.
pub const MAX_BATCH_ID_CHARS: usize = 128;

/// An `embatch-1` head.
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
/// let head = &built.batch.head;
/// assert_eq!((head.seq, head.log_count, head.prev_head_hash), (1, 1, None));
/// assert_eq!(head.merkle_root, kwh_btc_iot_core::leaf_hash(log).unwrap()); // one leaf: root = leaf
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHead {
    /// The gateway that built and signed the batch (1..128 characters, no
    /// control characters).
    pub gateway_id: String,
    /// The batch identifier, unique per gateway, chosen by its batcher.
    pub batch_id: String,
    /// 1, 2, 3, ... per gateway, without gaps: the position in its chain.
    pub seq: u64,
    /// Number of logs (leaves) in the tree, at least 1.
    pub log_count: u64,
    /// RFC 9162 root over the logs' leaf hashes.
    pub merkle_root: Hash,
    /// Hash of the previous head; `None` for seq 1.
    pub prev_head_hash: Option<Hash>,
    /// When the batch was built, normalized RFC 3339 UTC.
    pub created_at: Timestamp,
}

impl BatchHead {
    /// JCS(head): the bytes that are hashed and signed.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
    /// let head = BatchHead { gateway_id: "g".into(), batch_id: "b".into(), seq: 1, log_count: 1,
    ///     merkle_root: Hash([0; 32]), prev_head_hash: None,
    ///     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// assert!(head.canonical_bytes().starts_with(br#"{"batch_id":"b","created_at":"#));
    /// ```
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(320);
        self.write_canonical(&mut out);
        out
    }

    /// Appends JCS(head) to `out`: the head's one writer.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
    /// # let head = BatchHead { gateway_id: "g".into(), batch_id: "b".into(), seq: 1, log_count: 1,
    /// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
    /// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let mut out = b"[".to_vec();
    /// head.write_canonical(&mut out);
    /// assert_eq!(&out[1..], &head.canonical_bytes()[..]);
    /// ```
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"batch_id\":");
        write_string(out, &self.batch_id);
        out.extend_from_slice(b",\"created_at\":");
        write_string(out, &self.created_at.to_rfc3339());
        out.extend_from_slice(b",\"gateway_id\":");
        write_string(out, &self.gateway_id);
        out.extend_from_slice(b",\"head_version\":\"embatch-1\",\"log_count\":");
        write_number(out, self.log_count as f64);
        out.extend_from_slice(b",\"merkle_root\":\"");
        out.extend_from_slice(self.merkle_root.to_hex().as_bytes());
        out.extend_from_slice(b"\",\"prev_head_hash\":");
        match &self.prev_head_hash {
            Some(h) => {
                out.push(b'"');
                out.extend_from_slice(h.to_hex().as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"seq\":");
        write_number(out, self.seq as f64);
        out.push(b'}');
    }

    /// The head as a JSON value, read back from its canonical bytes.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
    /// # let head = BatchHead { gateway_id: "g".into(), batch_id: "b".into(), seq: 1, log_count: 1,
    /// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
    /// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// assert_eq!(BatchHead::parse(&head.to_value(), "h").unwrap(), head);
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        crate::json::parse(&self.canonical_bytes())
            .expect("canonical JSON parses")
            .into_owned()
    }

    /// SHA-256(0x02 || JCS(head)): the head hash the next batch links to and
    /// anchors commit to.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
    /// # let head = BatchHead { gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1, log_count: 1,
    /// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
    /// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// use kwh_btc_iot_core::{build::anchor::head_preimage, hash::sha256};
    /// assert_eq!(head.hash(), sha256(&head_preimage(&head)));
    /// ```
    pub fn hash(&self) -> Hash {
        head_hash_bytes(&self.canonical_bytes())
    }

    /// Reads and checks a head from a JSON value. `created_at` must already
    /// be in normalized form, because the hash covers the bytes as given.
    ///
    /// ```
    /// # use kwh_btc_iot_core::{model::head::BatchHead, hash::Hash, time::Timestamp};
    /// # let head = BatchHead { gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1, log_count: 1,
    /// #     merkle_root: Hash([0; 32]), prev_head_hash: None,
    /// #     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// use kwh_btc_iot_core::json::parse;
    /// let text = head.canonical_bytes();
    /// assert_eq!(BatchHead::parse(&parse(&text).unwrap(), "batch_head").unwrap(), head);
    /// let bad = String::from_utf8(text).unwrap().replace("10:20:00Z", "11:20:00+01:00");
    /// let err = BatchHead::parse(&parse(bad.as_bytes()).unwrap(), "batch_head").unwrap_err();
    /// assert_eq!(err.member.as_deref(), Some("batch_head.created_at"));
    /// ```
    pub fn parse(v: &Value<'_>, member: &str) -> Result<BatchHead> {
        let Value::Object(members) = v else {
            return Err(Error::member(
                ErrorCode::InvalidType,
                member,
                "must be an object",
            ));
        };
        const NAMES: [&str; 8] = [
            "head_version",
            "gateway_id",
            "batch_id",
            "seq",
            "log_count",
            "merkle_root",
            "prev_head_hash",
            "created_at",
        ];
        for (key, _) in members {
            if !NAMES.contains(&key.as_ref()) {
                return Err(Error::member(
                    ErrorCode::UnknownMember,
                    format!("{member}.{key}"),
                    format!(
                        "is not a member of embatch-1 (allowed: {})",
                        NAMES.join(", ")
                    ),
                ));
            }
        }
        let m = |name: &str| format!("{member}.{name}");
        let get = |name: &str| {
            v.get(name)
                .ok_or_else(|| Error::member(ErrorCode::MissingMember, m(name), "is required"))
        };
        match get("head_version")? {
            Value::String(s) if s == HEAD_VERSION => {}
            _ => {
                return Err(Error::member(
                    ErrorCode::UnsupportedVersion,
                    m("head_version"),
                    format!("must be \"{HEAD_VERSION}\""),
                ))
            }
        }
        let gateway_id = id_string(get("gateway_id")?, &m("gateway_id"))?;
        let batch_id = id_string(get("batch_id")?, &m("batch_id"))?;
        let seq = positive_int(get("seq")?, &m("seq"))?;
        let log_count = positive_int(get("log_count")?, &m("log_count"))?;
        let merkle_root = hex_hash(get("merkle_root")?, &m("merkle_root"))?;
        let prev_head_hash = match get("prev_head_hash")? {
            Value::Null => None,
            other => Some(hex_hash(other, &m("prev_head_hash"))?),
        };
        if (seq == 1) != prev_head_hash.is_none() {
            return Err(Error::member(
                ErrorCode::InvalidValue,
                m("prev_head_hash"),
                "must be null exactly when seq is 1",
            ));
        }
        let created_at = match get("created_at")? {
            Value::String(s) => {
                let t = Timestamp::parse(s).map_err(|why| {
                    Error::member(
                        ErrorCode::InvalidTimestamp,
                        m("created_at"),
                        format!("\"{s}\" {why}"),
                    )
                })?;
                if t.to_rfc3339() != *s {
                    return Err(Error::member(
                        ErrorCode::InvalidTimestamp,
                        m("created_at"),
                        format!(
                            "must be in normalized UTC form ({}), got \"{s}\"",
                            t.to_rfc3339()
                        ),
                    ));
                }
                t
            }
            _ => {
                return Err(Error::member(
                    ErrorCode::InvalidType,
                    m("created_at"),
                    "must be a string",
                ))
            }
        };
        Ok(BatchHead {
            gateway_id,
            batch_id,
            seq,
            log_count,
            merkle_root,
            prev_head_hash,
            created_at,
        })
    }
}

fn id_string(v: &Value<'_>, member: &str) -> Result<String> {
    let Value::String(s) = v else {
        return Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a string, got {}", v.type_name()),
        ));
    };
    check_id(s, member)?;
    Ok(s.to_string())
}

/// Checks a gateway or batch id: 1..128 characters, no control characters.
///
/// ```
/// use kwh_btc_iot_core::model::head::check_id;
/// assert!(check_id("gw-PLANT01-003", "gateway_id").is_ok());
/// assert_eq!(check_id("", "gateway_id").unwrap_err().code.as_str(), "invalid_length");
/// assert_eq!(check_id("a\nb", "batch_id").unwrap_err().code.as_str(), "forbidden_character");
/// ```
pub fn check_id(s: &str, member: &str) -> Result<()> {
    let n = s.chars().count();
    if n == 0 || n > MAX_BATCH_ID_CHARS {
        return Err(Error::member(
            ErrorCode::InvalidLength,
            member,
            format!("must be 1..{MAX_BATCH_ID_CHARS} characters, got {n}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::member(
            ErrorCode::ForbiddenCharacter,
            member,
            "must not contain control characters",
        ));
    }
    Ok(())
}

pub(crate) fn positive_int(v: &Value<'_>, member: &str) -> Result<u64> {
    match v {
        Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= 9_007_199_254_740_991.0 => {
            Ok(*n as u64)
        }
        Value::Number(n) => Err(Error::member(
            ErrorCode::OutOfRange,
            member,
            format!("must be an integer within 1..2^53-1, got {n}"),
        )),
        other => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a number, got {}", other.type_name()),
        )),
    }
}

pub(crate) fn hex_hash(v: &Value<'_>, member: &str) -> Result<Hash> {
    match v {
        Value::String(s) => Hash::from_hex(s, member),
        other => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a hex string, got {}", other.type_name()),
        )),
    }
}

/// An Ed25519 signature with its public key, hex encoded (SPEC section 4/5).
///
/// ```
/// use kwh_btc_iot_core::Keypair;
/// let sig = Keypair::from_seed(&[7; 32]).sign(b"head bytes");
/// assert!(sig.verify(b"head bytes").is_ok());
/// assert_eq!(sig.verify(b"other bytes").unwrap_err().code.as_str(), "invalid_signature");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signer's Ed25519 public key (32 bytes; 64 hex characters in JSON).
    /// Trust comes from comparing it with a configured key, not from here.
    pub public_key: [u8; 32],
    /// The Ed25519 signature (R || S, 64 bytes; 128 hex characters in JSON)
    /// over the signed document's canonical bytes.
    pub signature: [u8; 64],
}

impl Signature {
    /// Appends `{"alg":"ed25519","public_key":hex,"signature":hex}` (its
    /// canonical form) to `out`.
    ///
    /// ```
    /// use kwh_btc_iot_core::model::head::{Keypair, Signature};
    /// let sig = Keypair::from_seed(&[1; 32]).sign(b"m");
    /// let mut out = Vec::new();
    /// sig.write_canonical(&mut out);
    /// let back = Signature::parse(&kwh_btc_iot_core::json::parse(&out).unwrap(), "sig").unwrap();
    /// assert_eq!(back, sig);
    /// ```
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"alg\":\"ed25519\",\"public_key\":\"");
        out.extend_from_slice(crate::encoding::hex::encode(&self.public_key).as_bytes());
        out.extend_from_slice(b"\",\"signature\":\"");
        out.extend_from_slice(crate::encoding::hex::encode(&self.signature).as_bytes());
        out.extend_from_slice(b"\"}");
    }

    /// The signature as a JSON value, read back from its canonical bytes.
    ///
    /// ```
    /// use kwh_btc_iot_core::model::head::{Keypair, Signature};
    /// let sig = Keypair::from_seed(&[1; 32]).sign(b"m");
    /// assert_eq!(Signature::parse(&sig.to_value(), "s").unwrap(), sig);
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        let mut out = Vec::with_capacity(200);
        self.write_canonical(&mut out);
        crate::json::parse(&out)
            .expect("canonical JSON parses")
            .into_owned()
    }

    /// Reads `{"alg":"ed25519","public_key":hex,"signature":hex}`.
    ///
    /// ```
    /// use kwh_btc_iot_core::{json::parse, Keypair, Signature};
    /// let sig = Keypair::from_seed(&[7; 32]).sign(b"m");
    /// assert_eq!(Signature::parse(&sig.to_value(), "head_signature").unwrap(), sig);
    /// let err = Signature::parse(&parse(br#"{"alg":"rsa"}"#).unwrap(), "head_signature").unwrap_err();
    /// assert!(err.member.unwrap().starts_with("head_signature"));
    /// ```
    pub fn parse(v: &Value<'_>, member: &str) -> Result<Signature> {
        let Value::Object(members) = v else {
            return Err(Error::member(
                ErrorCode::InvalidType,
                member,
                "must be an object or null",
            ));
        };
        for (key, _) in members {
            if !["alg", "public_key", "signature"].contains(&key.as_ref()) {
                return Err(Error::member(
                    ErrorCode::UnknownMember,
                    format!("{member}.{key}"),
                    "is not a member of a signature (allowed: alg, public_key, signature)",
                ));
            }
        }
        match v.get("alg") {
            Some(Value::String(s)) if s == "ed25519" => {}
            _ => {
                return Err(Error::member(
                    ErrorCode::InvalidValue,
                    format!("{member}.alg"),
                    "must be \"ed25519\"",
                ))
            }
        }
        let public_key = fixed_hex::<32>(v.get("public_key"), &format!("{member}.public_key"))?;
        let signature = fixed_hex::<64>(v.get("signature"), &format!("{member}.signature"))?;
        Ok(Signature {
            public_key,
            signature,
        })
    }

    /// Verifies (strictly: canonical S, canonical R, neither the key nor R
    /// of small order: the rules of libsodium's `crypto_sign_verify_detached`)
    /// over `message`.
    ///
    /// This is the cofactorless equation with the compressed `R` compared byte
    /// for byte, plus the two small-order checks. It refuses everything
    /// `ed25519-dalek`'s `verify_strict` refuses, and also a non-canonical
    /// encoding of `R`, which no signer produces; it skips `verify_strict`'s
    /// decompression of `R` (about a quarter of the cost).
    ///
    /// ```
    /// use kwh_btc_iot_core::Keypair;
    /// let key = Keypair::from_seed(&[7; 32]);
    /// let mut sig = key.sign(b"embatch-1 head");
    /// assert!(sig.verify(b"embatch-1 head").is_ok());
    /// sig.signature[0] ^= 1;
    /// assert!(sig.verify(b"embatch-1 head").is_err());
    /// ```
    pub fn verify(&self, message: &[u8]) -> Result<()> {
        let bad = || {
            Error::new(
                ErrorCode::InvalidSignature,
                "the Ed25519 signature does not verify",
            )
        };
        let key = verifying_key(&self.public_key)?;
        let r: &[u8] = &self.signature[..32];
        if key.is_weak() || SMALL_ORDER_ENCODINGS.iter().any(|e| e[..] == *r) {
            return Err(bad());
        }
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature);
        ed25519_dalek::Verifier::verify(&key, message, &sig).map_err(|_| bad())
    }
}

thread_local! {
    /// The last public key decompressed on this thread: receipts come by the
    /// thousand from one gateway key, and decompressing it (a square root in
    /// the field) is a tenth of a verification.
    static LAST_KEY: std::cell::Cell<Option<([u8; 32], VerifyingKey)>> =
        const { std::cell::Cell::new(None) };
}

fn verifying_key(bytes: &[u8; 32]) -> Result<VerifyingKey> {
    if let Some((b, k)) = LAST_KEY.with(|c| c.get()) {
        if b == *bytes {
            return Ok(k);
        }
    }
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| {
        Error::new(
            ErrorCode::InvalidKey,
            "public_key is not a valid Ed25519 point",
        )
    })?;
    LAST_KEY.with(|c| c.set(Some((*bytes, key))));
    Ok(key)
}

/// The canonical encodings of the eight points of small order (the 8-torsion
/// subgroup). After the byte-for-byte comparison of `R` with a canonical
/// compression, only these can stand for a small-order `R`.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = {
    [
        hex32("0100000000000000000000000000000000000000000000000000000000000000"),
        hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        hex32("0000000000000000000000000000000000000000000000000000000000000080"),
        hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
        hex32("0000000000000000000000000000000000000000000000000000000000000000"),
        hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    ]
};

const fn hex32(s: &str) -> [u8; 32] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nib(b[2 * i]) << 4 | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

fn fixed_hex<const N: usize>(v: Option<&Value<'_>>, member: &str) -> Result<[u8; N]> {
    let Some(Value::String(s)) = v else {
        return Err(Error::member(
            ErrorCode::MissingMember,
            member,
            "is required as a hex string",
        ));
    };
    let bytes = crate::encoding::hex::decode_member(s, member)?;
    if s.bytes().any(|b| b.is_ascii_uppercase()) || bytes.len() != N {
        return Err(Error::member(
            ErrorCode::InvalidHex,
            member,
            format!("must be {} lowercase hex characters", N * 2),
        ));
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// An Ed25519 key pair for signing batch heads (or device logs).
///
/// ```
/// use kwh_btc_iot_core::Keypair;
/// let key = Keypair::from_seed(&[7; 32]);
/// // Debug shows the public key, never the seed.
/// assert!(format!("{key:?}").starts_with("Keypair(public_key="));
/// assert_eq!(Keypair::from_seed(&key.seed()).public_key(), key.public_key());
/// ```
#[derive(Clone)]
pub struct Keypair(SigningKey);

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(
            f,
            "Keypair(public_key={})",
            crate::encoding::hex::encode(&self.public_key())
        )
    }
}

impl Keypair {
    /// From a 32-byte secret seed (the caller supplies the randomness).
    ///
    /// ```
    /// use kwh_btc_iot_core::{encoding::hex, Keypair};
    /// // RFC 8032 section 7.1, test 1.
    /// let seed = hex::decode_lower_array(b"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    /// let key = Keypair::from_seed(&seed);
    /// assert_eq!(hex::encode(&key.public_key()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    /// ```
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair(SigningKey::from_bytes(seed))
    }

    /// From 64 hex characters of secret seed (surrounding whitespace, such as a
    /// key file's newline, is ignored).
    ///
    /// ```
    /// use kwh_btc_iot_core::Keypair;
    /// let key = Keypair::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n").unwrap();
    /// assert_eq!(key.public_key()[0], 0xd7);
    /// assert_eq!(Keypair::from_hex("abcd").unwrap_err().code.as_str(), "invalid_key");
    /// ```
    pub fn from_hex(s: &str) -> Result<Keypair> {
        let bytes = crate::encoding::hex::decode_member(s.trim(), "signing_key")?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::member(
                ErrorCode::InvalidKey,
                "signing_key",
                "must be 32 bytes (64 hex characters)",
            )
        })?;
        Ok(Keypair::from_seed(&seed))
    }

    /// The 32-byte Ed25519 public key, the one verifiers configure as trusted.
    ///
    /// ```
    /// use kwh_btc_iot_core::Keypair;
    /// let key = Keypair::from_seed(&[7; 32]);
    /// assert_eq!(key.sign(b"x").public_key, key.public_key());
    /// ```
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The 32-byte secret seed, for storing the key; keep it secret.
    ///
    /// ```
    /// use kwh_btc_iot_core::Keypair;
    /// assert_eq!(Keypair::from_seed(&[7; 32]).seed(), [7; 32]);
    /// ```
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Signs `message` (the head's canonical bytes) and returns the signature
    /// with the public key.
    ///
    /// ```
    /// use kwh_btc_iot_core::Keypair;
    /// let key = Keypair::from_seed(&[7; 32]);
    /// // Ed25519 is deterministic: the same message, the same signature.
    /// assert_eq!(key.sign(b"m"), key.sign(b"m"));
    /// ```
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            public_key: self.public_key(),
            signature: self.0.sign(message).to_bytes(),
        }
    }
}

/// Parses a 64-hex-character Ed25519 public key.
///
/// ```
/// use kwh_btc_iot_core::model::head::public_key_from_hex;
/// let pk = public_key_from_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "trusted_key").unwrap();
/// assert_eq!(pk[31], 0x1a);
/// assert_eq!(public_key_from_hex("00", "trusted_key").unwrap_err().member.as_deref(), Some("trusted_key"));
/// ```
pub fn public_key_from_hex(s: &str, member: &str) -> Result<[u8; 32]> {
    let h = Hash::from_hex(s.trim(), member).map_err(|_| {
        Error::member(
            ErrorCode::InvalidKey,
            member,
            "must be 64 lowercase hex characters",
        )
    })?;
    VerifyingKey::from_bytes(&h.0).map_err(|_| {
        Error::member(
            ErrorCode::InvalidKey,
            member,
            "is not a valid Ed25519 public key",
        )
    })?;
    Ok(h.0)
}
