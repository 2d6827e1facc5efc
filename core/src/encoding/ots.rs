//! The OpenTimestamps proof format: detached timestamp files (`.ots`) and
//! timestamp trees, parsed and written byte for byte as the reference
//! implementation (python-opentimestamps 0.4.x) does, with its bounds.
//!
//! A timestamp is a tree. Each node stands for a message; its edges are
//! operations (append, prepend, hashes, ...) leading to child nodes, and its
//! leaves are attestations ("this message was in the calendar at URI ...",
//! "this message is the merkle root of Bitcoin block H"). Replaying the tree
//! from the stamped digest computes the message at every attestation.
//!
//! Bounds, as the reference implementation: a message or an op result is at
//! most [`MAX_MSG_LENGTH`] bytes (hexlify's input at most half of it), an
//! attestation payload at most [`MAX_PAYLOAD_SIZE`] bytes, a calendar URI at
//! most [`MAX_URI_LENGTH`] bytes of `[A-Za-z0-9-._/:]`, and a tree at most
//! [`MAX_DEPTH`] levels deep. On top of those, this implementation bounds the
//! size of a whole tree ([`MAX_NODES`], [`MAX_WORK_BYTES`], [`MAX_FILE_BYTES`])
//! so that the time to replay any input is bounded, and it accepts only the
//! minimal encoding of each number, so that parsing then writing gives back
//! the input byte for byte.
//!
//! ```
//! use kwh_btc_iot_core::encoding::ots::{Attestation, DetachedTimestampFile, Op, TimestampTree};
//! let digest = [7u8; 32];
//! let mut t = TimestampTree::default();
//! t.push_op(Op::Append(vec![1, 2, 3]), TimestampTree::with_attestation(Attestation::Pending {
//!     uri: "https://alice.btc.calendar.opentimestamps.org".into(),
//! }));
//! let file = DetachedTimestampFile::new(Op::Sha256, digest.to_vec(), t).unwrap();
//! let bytes = file.to_bytes().unwrap();
//! let back = DetachedTimestampFile::parse(&bytes).unwrap();
//! assert_eq!(back, file);
//! let reached = back.replay().unwrap();
//! assert_eq!(reached[0].msg, [&digest[..], &[1, 2, 3]].concat());
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

use super::binary::{write_varuint, Reader};
use super::{hex, DecodeError};

/// The magic bytes that start a detached timestamp file.
pub const MAGIC: &[u8; 31] = b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94";
/// The only major version of the detached file format.
pub const MAJOR_VERSION: u64 = 1;
/// Longest message an op accepts and longest result it may produce (reference: 4096).
pub const MAX_MSG_LENGTH: usize = 4096;
/// Longest attestation payload (reference: 8192).
pub const MAX_PAYLOAD_SIZE: usize = 8192;
/// Longest calendar URI in a pending attestation (reference: 1000).
pub const MAX_URI_LENGTH: usize = 1000;
/// Deepest tree: the root and 255 levels of ops below it (reference: recursion limit 256).
pub const MAX_DEPTH: usize = 256;
/// Most nodes (ops plus attestations) in one tree. Not in the reference; real
/// proofs have tens to a few hundred.
pub const MAX_NODES: usize = 20_000;
/// Most bytes all ops of a tree may read while replaying it (bounds the
/// hashing work of any input; real proofs need a few tens of KiB). Not in
/// the reference.
pub const MAX_WORK_BYTES: usize = 2 * 1024 * 1024;
/// Largest timestamp or detached file accepted, in bytes. Not in the reference.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// Characters allowed in a calendar URI (reference `ALLOWED_URI_CHARS`).
pub const ALLOWED_URI_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._/:";

/// Tag of a pending (calendar) attestation.
pub const TAG_PENDING: [u8; 8] = [0x83, 0xdf, 0xe3, 0x0d, 0x2e, 0xf9, 0x0c, 0x8e];
/// Tag of a Bitcoin block header attestation.
pub const TAG_BITCOIN: [u8; 8] = [0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01];
/// Tag of a Litecoin block header attestation.
pub const TAG_LITECOIN: [u8; 8] = [0x06, 0x86, 0x9a, 0x0d, 0x73, 0xd7, 0x1b, 0x45];
/// Tag of an Ethereum block header attestation (the reference's "dubious" notary).
pub const TAG_ETHEREUM: [u8; 8] = [0x30, 0xfe, 0x80, 0x87, 0xb5, 0xc7, 0xea, 0xd7];

type Result<T> = std::result::Result<T, DecodeError>;

/// An operation: an edge of the timestamp tree.
///
/// ```
/// use kwh_btc_iot_core::encoding::ots::Op;
/// let msg = Op::Append(b"!".to_vec()).apply(b"hi").unwrap();
/// assert_eq!(msg, b"hi!");
/// assert_eq!(Op::Sha256.apply(b"").unwrap()[..2], [0xe3, 0xb0]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `0x02` SHA-1 (20 bytes).
    Sha1,
    /// `0x03` RIPEMD-160 (20 bytes).
    Ripemd160,
    /// `0x08` SHA-256 (32 bytes).
    Sha256,
    /// `0x67` Keccak-256 (32 bytes; the original Keccak, as Ethereum).
    Keccak256,
    /// `0xf0` append the argument (1..=4096 bytes).
    Append(Vec<u8>),
    /// `0xf1` prepend the argument (1..=4096 bytes).
    Prepend(Vec<u8>),
    /// `0xf2` reverse the bytes.
    Reverse,
    /// `0xf3` lowercase hex of the bytes.
    Hexlify,
}

impl Op {
    /// The one-byte tag that precedes the op in the file.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!((Op::Sha256.tag(), Op::Append(vec![1]).tag(), Op::Hexlify.tag()), (0x08, 0xf0, 0xf3));
    /// ```
    pub fn tag(&self) -> u8 {
        match self {
            Op::Sha1 => 0x02,
            Op::Ripemd160 => 0x03,
            Op::Sha256 => 0x08,
            Op::Keccak256 => 0x67,
            Op::Append(_) => 0xf0,
            Op::Prepend(_) => 0xf1,
            Op::Reverse => 0xf2,
            Op::Hexlify => 0xf3,
        }
    }

    /// The reference implementation's name (`sha256`, `append`, ...).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::Keccak256.name(), "keccak256");
    /// assert_eq!(Op::Prepend(vec![0]).name(), "prepend");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Op::Sha1 => "sha1",
            Op::Ripemd160 => "ripemd160",
            Op::Sha256 => "sha256",
            Op::Keccak256 => "keccak256",
            Op::Append(_) => "append",
            Op::Prepend(_) => "prepend",
            Op::Reverse => "reverse",
            Op::Hexlify => "hexlify",
        }
    }

    /// The digest length of a hash op in bytes, `None` for the others.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::Ripemd160.digest_len(), Some(20));
    /// assert_eq!(Op::Reverse.digest_len(), None);
    /// ```
    pub fn digest_len(&self) -> Option<usize> {
        match self {
            Op::Sha1 | Op::Ripemd160 => Some(20),
            Op::Sha256 | Op::Keccak256 => Some(32),
            _ => None,
        }
    }

    /// The unary op with this tag (not append/prepend, which need an argument).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::unary_from_tag(0x08), Some(Op::Sha256));
    /// assert_eq!(Op::unary_from_tag(0xf0), None); // append needs its argument
    /// ```
    pub fn unary_from_tag(tag: u8) -> Option<Op> {
        Some(match tag {
            0x02 => Op::Sha1,
            0x03 => Op::Ripemd160,
            0x08 => Op::Sha256,
            0x67 => Op::Keccak256,
            0xf2 => Op::Reverse,
            0xf3 => Op::Hexlify,
            _ => return None,
        })
    }

    /// A file hash op of a detached file: the reference accepts sha1, ripemd160, sha256.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::file_hash_from_tag(0x02), Some(Op::Sha1));
    /// assert_eq!(Op::file_hash_from_tag(0x67), None); // keccak256 is not a file hash
    /// ```
    pub fn file_hash_from_tag(tag: u8) -> Option<Op> {
        match tag {
            0x02 => Some(Op::Sha1),
            0x03 => Some(Op::Ripemd160),
            0x08 => Some(Op::Sha256),
            _ => None,
        }
    }

    fn max_msg_len(&self) -> usize {
        match self {
            Op::Hexlify => MAX_MSG_LENGTH / 2,
            _ => MAX_MSG_LENGTH,
        }
    }

    /// The length of the result for a message of `msg_len` bytes, checking
    /// the reference's limits (without computing anything).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::Hexlify.result_len(10).unwrap(), 20);
    /// assert_eq!(Op::Sha1.result_len(1000).unwrap(), 20);
    /// assert!(Op::Append(vec![0; 4096]).result_len(1).is_err()); // over 4096 bytes
    /// ```
    pub fn result_len(&self, msg_len: usize) -> Result<usize> {
        if msg_len > self.max_msg_len() {
            return Err(DecodeError::new(
                "invalid_message",
                format!(
                    "message too long for {}: {msg_len} > {} bytes",
                    self.name(),
                    self.max_msg_len()
                ),
            ));
        }
        let r = match self {
            Op::Append(a) | Op::Prepend(a) => msg_len + a.len(),
            Op::Reverse | Op::Hexlify if msg_len == 0 => {
                return Err(DecodeError::new(
                    "invalid_message",
                    format!("can't {} an empty message", self.name()),
                ))
            }
            Op::Reverse => msg_len,
            Op::Hexlify => msg_len * 2,
            _ => self.digest_len().unwrap_or(0),
        };
        if r > MAX_MSG_LENGTH {
            return Err(DecodeError::new(
                "invalid_message",
                format!(
                    "result of {} too long: {r} > {MAX_MSG_LENGTH} bytes",
                    self.name()
                ),
            ));
        }
        Ok(r)
    }

    /// Applies the op to a message, checking the reference's limits.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Op;
    /// assert_eq!(Op::Reverse.apply(&[1, 2, 3]).unwrap(), [3, 2, 1]);
    /// assert_eq!(Op::Hexlify.apply(&[0xab]).unwrap(), b"ab");
    /// assert!(Op::Sha256.apply(&[]).is_ok());
    /// assert!(Op::Reverse.apply(&[]).is_err()); // an empty message is refused, as the reference does
    /// ```
    pub fn apply(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.result_len(msg.len())?;
        Ok(match self {
            Op::Append(a) => [msg, a].concat(),
            Op::Prepend(a) => [a, msg].concat(),
            Op::Reverse => msg.iter().rev().copied().collect(),
            Op::Hexlify => hex::encode(msg).into_bytes(),
            Op::Sha1 => sha1::Sha1::digest(msg).to_vec(),
            Op::Ripemd160 => ripemd::Ripemd160::digest(msg).to_vec(),
            Op::Sha256 => Sha256::digest(msg).to_vec(),
            Op::Keccak256 => sha3::Keccak256::digest(msg).to_vec(),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        if let Op::Append(a) | Op::Prepend(a) = self {
            write_varbytes(out, a);
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Append(a) | Op::Prepend(a) => {
                write!(f, "{} {}", self.name(), hex::encode(a))
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// An attestation: a leaf of the timestamp tree.
///
/// ```
/// # use kwh_btc_iot_core::encoding::ots::*;
/// # let digest = [0x42u8; 32];
/// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
/// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let file = DetachedTimestampFile::parse(&ots).unwrap();
/// let kinds: Vec<_> = file.timestamp.attestations().iter().map(|a| a.kind()).collect();
/// assert_eq!(kinds, ["pending", "bitcoin"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attestation {
    /// The message was submitted to the calendar at `uri`; ask it later for the
    /// complete proof.
    Pending {
        /// The calendar's URI (`[A-Za-z0-9-._/:]`, at most 1000 bytes).
        uri: String,
    },
    /// The message is the merkle root (header bytes 36..68) of Bitcoin block `height`.
    Bitcoin {
        /// Height of the block that attests the message (its header is needed
        /// to check it).
        height: u64,
    },
    /// The message is the merkle root of Litecoin block `height` (not verified here).
    Litecoin {
        /// Height of the block that attests the message (its header is needed
        /// to check it).
        height: u64,
    },
    /// Ethereum block `height` (the reference's "dubious" notary; not verified here).
    Ethereum {
        /// Height of the block that attests the message (its header is needed
        /// to check it).
        height: u64,
    },
    /// An attestation this implementation does not know; kept as is.
    Unknown {
        /// The 8-byte tag.
        tag: [u8; 8],
        /// The payload, at most [`MAX_PAYLOAD_SIZE`] bytes.
        payload: Vec<u8>,
    },
}

impl Attestation {
    /// The 8-byte tag that identifies the attestation kind in the file.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Attestation;
    /// assert_eq!(Attestation::Bitcoin { height: 0 }.tag(), [0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01]);
    /// ```
    pub fn tag(&self) -> [u8; 8] {
        match self {
            Attestation::Pending { .. } => TAG_PENDING,
            Attestation::Bitcoin { .. } => TAG_BITCOIN,
            Attestation::Litecoin { .. } => TAG_LITECOIN,
            Attestation::Ethereum { .. } => TAG_ETHEREUM,
            Attestation::Unknown { tag, .. } => *tag,
        }
    }

    /// A short name: `pending`, `bitcoin`, `litecoin`, `ethereum`, `unknown`.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Attestation;
    /// assert_eq!(Attestation::Litecoin { height: 1 }.kind(), "litecoin");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Attestation::Pending { .. } => "pending",
            Attestation::Bitcoin { .. } => "bitcoin",
            Attestation::Litecoin { .. } => "litecoin",
            Attestation::Ethereum { .. } => "ethereum",
            Attestation::Unknown { .. } => "unknown",
        }
    }

    /// The reference implementation's order (python-opentimestamps
    /// `TimeAttestation.__lt__`): by tag, then by URI, height or payload.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use kwh_btc_iot_core::encoding::ots::Attestation;
    /// let (a, b) = (Attestation::Bitcoin { height: 1 }, Attestation::Bitcoin { height: 2 });
    /// assert_eq!(a.cmp_reference(&b), Ordering::Less);
    /// // Bitcoin's tag (05 88 ...) sorts before pending's (83 df ...).
    /// assert_eq!(a.cmp_reference(&Attestation::Pending { uri: "https://a".into() }), Ordering::Less);
    /// ```
    pub fn cmp_reference(&self, other: &Attestation) -> std::cmp::Ordering {
        let key = |a: &Attestation| -> ([u8; 8], u64, Vec<u8>) {
            match a {
                Attestation::Pending { uri } => (a.tag(), 0, uri.as_bytes().to_vec()),
                Attestation::Bitcoin { height }
                | Attestation::Litecoin { height }
                | Attestation::Ethereum { height } => (a.tag(), *height, Vec::new()),
                Attestation::Unknown { tag, payload } => (*tag, 0, payload.clone()),
            }
        };
        key(self).cmp(&key(other))
    }

    /// The serialized payload (without tag and length).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::Attestation;
    /// assert_eq!(Attestation::Bitcoin { height: 300 }.payload(), [0xac, 0x02]); // LEB128 varuint
    /// assert_eq!(Attestation::Pending { uri: "https://a".into() }.payload()[0], 9); // length-prefixed URI
    /// ```
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            Attestation::Pending { uri } => write_varbytes(&mut p, uri.as_bytes()),
            Attestation::Bitcoin { height }
            | Attestation::Litecoin { height }
            | Attestation::Ethereum { height } => write_varuint(&mut p, *height),
            Attestation::Unknown { payload, .. } => p.extend_from_slice(payload),
        }
        p
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        let payload = self.payload();
        if payload.len() > MAX_PAYLOAD_SIZE {
            return Err(DecodeError::new(
                "too_long",
                format!(
                    "attestation payload is {} bytes, more than {MAX_PAYLOAD_SIZE}",
                    payload.len()
                ),
            ));
        }
        if let Attestation::Pending { uri } = self {
            check_uri(uri.as_bytes())?;
        }
        out.extend_from_slice(&self.tag());
        write_varbytes(out, &payload);
        Ok(())
    }

    fn parse(r: &mut Reader<'_>) -> Result<Attestation> {
        let tag: [u8; 8] = r.bytes(8, "attestation tag")?.try_into().unwrap_or([0; 8]);
        let at = r.at();
        let payload = r.varbytes(MAX_PAYLOAD_SIZE, 0, "attestation payload")?;
        let mut p = Reader::with_base(payload, at);
        let a = match tag {
            TAG_PENDING => {
                let uri = p.varbytes(MAX_URI_LENGTH, 0, "calendar URI")?;
                check_uri(uri)?;
                Attestation::Pending {
                    // check_uri allows ASCII only.
                    uri: String::from_utf8_lossy(uri).into_owned(),
                }
            }
            TAG_BITCOIN => Attestation::Bitcoin {
                height: p.varuint("block height")?,
            },
            TAG_LITECOIN => Attestation::Litecoin {
                height: p.varuint("block height")?,
            },
            TAG_ETHEREUM => Attestation::Ethereum {
                height: p.varuint("block height")?,
            },
            _ => {
                return Ok(Attestation::Unknown {
                    tag,
                    payload: payload.to_vec(),
                })
            }
        };
        if p.remaining() != 0 {
            return Err(DecodeError::new(
                "invalid_attestation",
                format!(
                    "{} attestation payload has {} extra bytes (at byte {})",
                    a.kind(),
                    p.remaining(),
                    at
                ),
            ));
        }
        Ok(a)
    }
}

impl fmt::Display for Attestation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attestation::Pending { uri } => write!(f, "pending at {uri}"),
            Attestation::Bitcoin { height } => write!(f, "Bitcoin block {height}"),
            Attestation::Litecoin { height } => write!(f, "Litecoin block {height}"),
            Attestation::Ethereum { height } => write!(f, "Ethereum block {height}"),
            Attestation::Unknown { tag, payload } => write!(
                f,
                "unknown attestation {} ({} bytes)",
                hex::encode(tag),
                payload.len()
            ),
        }
    }
}

fn check_uri(uri: &[u8]) -> Result<()> {
    if uri.len() > MAX_URI_LENGTH {
        return Err(DecodeError::new(
            "invalid_uri",
            format!("calendar URI longer than {MAX_URI_LENGTH} bytes"),
        ));
    }
    if let Some(c) = uri.iter().find(|c| !ALLOWED_URI_CHARS.contains(c)) {
        return Err(DecodeError::new(
            "invalid_uri",
            format!("calendar URI contains the character 0x{c:02x}, not one of [A-Za-z0-9-._/:]"),
        ));
    }
    Ok(())
}

/// One edge or leaf of a timestamp node, in file order.
///
/// ```
/// # use kwh_btc_iot_core::encoding::ots::*;
/// # let digest = [0x42u8; 32];
/// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
/// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let file = DetachedTimestampFile::parse(&ots).unwrap();
/// // The root node holds one op (append the calendar's nonce) and its subtree.
/// assert!(matches!(&file.timestamp.items[..], [Item::Op(Op::Append(_), _)]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An attestation of this node's message.
    Attestation(Attestation),
    /// An op and the timestamp of its result.
    Op(Op, TimestampTree),
}

/// A timestamp tree. The message it is for is not stored: it is given when
/// parsing and replaying (for a detached file, it is the file digest).
/// Items keep file order, so writing gives back the parsed bytes.
///
/// ```
/// # use kwh_btc_iot_core::encoding::ots::*;
/// # let digest = [0x42u8; 32];
/// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
/// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let file = DetachedTimestampFile::parse(&ots).unwrap();
/// let t = &file.timestamp;
/// assert_eq!(t.attestations().len(), 2);
/// assert_eq!(TimestampTree::parse(&t.to_bytes().unwrap(), &digest).unwrap(), *t);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimestampTree {
    /// Attestations and ops of this node, in file order.
    pub items: Vec<Item>,
}

/// An attestation reached by replaying a tree, with the message it attests.
///
/// ```
/// # use kwh_btc_iot_core::encoding::ots::*;
/// # let digest = [0x42u8; 32];
/// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
/// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let reached = DetachedTimestampFile::parse(&ots).unwrap().replay().unwrap();
/// let btc = reached.iter().find(|r| r.attestation.kind() == "bitcoin").unwrap();
/// assert_eq!(btc.msg, header.merkle_root);
/// assert!(btc.txid.is_some() && btc.depth > 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The message at the attestation (for Bitcoin: the block's merkle root,
    /// in header byte order).
    pub msg: Vec<u8>,
    /// The attestation.
    pub attestation: Attestation,
    /// Number of ops from the digest to the attestation.
    pub depth: usize,
    /// The txid (internal byte order) of the last Bitcoin transaction the
    /// path went through (a message that parses as a transaction, then
    /// SHA-256 twice), when there is one.
    pub txid: Option<[u8; 32]>,
}

struct Budget {
    nodes: usize,
    work: usize,
}

impl Budget {
    fn new() -> Self {
        Budget { nodes: 0, work: 0 }
    }
    fn node(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(DecodeError::new(
                "too_large",
                format!("timestamp has more than {MAX_NODES} ops and attestations"),
            ));
        }
        Ok(())
    }
    fn work(&mut self, msg_len: usize) -> Result<()> {
        self.work += msg_len;
        if self.work > MAX_WORK_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("replaying the timestamp would process more than {MAX_WORK_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

impl TimestampTree {
    /// A node with one attestation and no ops.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let t = TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 });
    /// assert_eq!(t.attestations(), [&Attestation::Bitcoin { height: 7 }]);
    /// ```
    pub fn with_attestation(a: Attestation) -> Self {
        TimestampTree {
            items: vec![Item::Attestation(a)],
        }
    }

    /// Adds an op edge with the subtree of its result, after the node's items.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, Op, TimestampTree};
    /// let mut t = TimestampTree::default();
    /// t.push_op(Op::Sha256, TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 }));
    /// assert_eq!(t.depth(), 2);
    /// ```
    pub fn push_op(&mut self, op: Op, child: TimestampTree) {
        self.items.push(Item::Op(op, child));
    }

    /// Adds an attestation of this node's message, after the node's items.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let mut t = TimestampTree::default();
    /// t.push_attestation(Attestation::Pending { uri: "https://alice.btc.calendar.opentimestamps.org".into() });
    /// assert_eq!(t.replay(b"msg").unwrap()[0].msg, b"msg");
    /// ```
    pub fn push_attestation(&mut self, a: Attestation) {
        self.items.push(Item::Attestation(a));
    }

    /// Parses a timestamp (the serialization without the detached file
    /// header, as calendars return it) for the message `msg`. The whole input
    /// must be consumed.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let t = TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 });
    /// let bytes = t.to_bytes().unwrap();
    /// assert_eq!(TimestampTree::parse(&bytes, &[0x42; 32]).unwrap(), t);
    /// assert_eq!(TimestampTree::parse(&[bytes.clone(), vec![0]].concat(), &[0x42; 32]).unwrap_err().code, "trailing_data");
    /// ```
    pub fn parse(bytes: &[u8], msg: &[u8]) -> Result<TimestampTree> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("timestamp is larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        if msg.len() > MAX_MSG_LENGTH {
            return Err(DecodeError::new(
                "invalid_message",
                format!("message longer than {MAX_MSG_LENGTH} bytes"),
            ));
        }
        let mut r = Reader::new(bytes);
        let mut budget = Budget::new();
        let t = TimestampTree::parse_node(&mut r, msg.len(), 0, &mut budget)?;
        end(&r)?;
        Ok(t)
    }

    fn parse_node(
        r: &mut Reader<'_>,
        msg_len: usize,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<TimestampTree> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!(
                    "timestamp is nested deeper than {MAX_DEPTH} levels (at byte {})",
                    r.at()
                ),
            ));
        }
        let mut items = Vec::new();
        loop {
            let tag = r.u8("tag")?;
            let (tag, more) = if tag == 0xff {
                (r.u8("tag")?, true)
            } else {
                (tag, false)
            };
            budget.node()?;
            if tag == 0x00 {
                items.push(Item::Attestation(Attestation::parse(r)?));
            } else {
                let at = r.at() - 1;
                let op = match tag {
                    0xf0 | 0xf1 => {
                        let arg = r.varbytes(MAX_MSG_LENGTH, 1, "op argument")?.to_vec();
                        if tag == 0xf0 {
                            Op::Append(arg)
                        } else {
                            Op::Prepend(arg)
                        }
                    }
                    t => Op::unary_from_tag(t).ok_or_else(|| {
                        DecodeError::new(
                            "unknown_op",
                            format!("unknown operation tag 0x{t:02x} (at byte {at})"),
                        )
                    })?,
                };
                let result_len = op.result_len(msg_len).map_err(|e| DecodeError {
                    message: format!("{} (op at byte {at})", e.message),
                    ..e
                })?;
                budget.work(msg_len)?;
                let child = TimestampTree::parse_node(r, result_len, depth + 1, budget)?;
                items.push(Item::Op(op, child));
            }
            if !more {
                break;
            }
        }
        Ok(TimestampTree { items })
    }

    /// Writes the timestamp (without a detached file header). Fails on a
    /// node with no items, which the format cannot express.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let mut out = Vec::new();
    /// TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 }).write(&mut out).unwrap();
    /// assert_eq!(out, [0x00, 0x05, 0x88, 0x96, 0x0d, 0x73, 0xd7, 0x19, 0x01, 0x01, 0x07]);
    /// assert!(TimestampTree::default().write(&mut out).is_err()); // an empty node
    /// ```
    pub fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.write_at(out, 0)
    }

    fn write_at(&self, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("timestamp is nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let Some((last, rest)) = self.items.split_last() else {
            return Err(DecodeError::new(
                "empty_timestamp",
                "a timestamp node without ops or attestations can't be written",
            ));
        };
        for item in rest {
            out.push(0xff);
            item.write(out, depth)?;
        }
        last.write(out, depth)
    }

    /// The serialization as bytes (without a detached file header).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let t = TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 });
    /// assert_eq!(t.to_bytes().unwrap().len(), 11); // 0x00, tag, length, varuint height
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Replays the tree from `msg`: every attestation with the message it attests.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// let file = DetachedTimestampFile::parse(&ots).unwrap();
    /// let reached = file.timestamp.replay(&digest).unwrap();
    /// assert_eq!(reached.len(), 2);
    /// assert_eq!(reached, file.replay().unwrap());
    /// ```
    pub fn replay(&self, msg: &[u8]) -> Result<Vec<Reached>> {
        let mut out = Vec::new();
        let mut budget = Budget::new();
        self.replay_into(msg, 0, None, &mut budget, &mut out)?;
        Ok(out)
    }

    fn replay_into(
        &self,
        msg: &[u8],
        depth: usize,
        txid: Option<[u8; 32]>,
        budget: &mut Budget,
        out: &mut Vec<Reached>,
    ) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("timestamp is nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        for item in &self.items {
            budget.node()?;
            match item {
                Item::Attestation(a) => out.push(Reached {
                    msg: msg.to_vec(),
                    attestation: a.clone(),
                    depth,
                    txid,
                }),
                Item::Op(op, child) => {
                    budget.work(msg.len())?;
                    let next = op.apply(msg)?;
                    // A Bitcoin transaction on the path: msg -> sha256 -> sha256.
                    let mut txid = txid;
                    if *op == Op::Sha256
                        && msg.len() >= 60
                        && child
                            .items
                            .iter()
                            .any(|i| matches!(i, Item::Op(Op::Sha256, _)))
                        && super::bitcoin::Transaction::parse(msg).is_ok()
                    {
                        let mut id = [0u8; 32];
                        id.copy_from_slice(&Sha256::digest(&next));
                        txid = Some(id);
                    }
                    child.replay_into(&next, depth + 1, txid, budget, out)?;
                }
            }
        }
        Ok(())
    }

    /// Puts the tree in the reference implementation's form, the one its
    /// writer produces: in each node, attestations first and then ops, each
    /// sorted as python-opentimestamps sorts them, duplicates merged. Files
    /// written after this read back byte for byte in python-opentimestamps
    /// and javascript-opentimestamps. Parsing keeps the file's order, so
    /// this is only needed for trees built or merged here.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, Op, TimestampTree};
    /// let mut t = TimestampTree::default();
    /// t.push_op(Op::Sha256, TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 }));
    /// t.push_attestation(Attestation::Bitcoin { height: 5 });
    /// t.canonicalize(); // attestations before ops
    /// assert_eq!(t.attestations()[0], &Attestation::Bitcoin { height: 5 });
    /// ```
    pub fn canonicalize(&mut self) {
        self.canonicalize_at(0);
    }

    fn canonicalize_at(&mut self, depth: usize) {
        let items = std::mem::take(&mut self.items);
        let mut atts: Vec<Attestation> = Vec::new();
        let mut ops: Vec<(Op, TimestampTree)> = Vec::new();
        for item in items {
            match item {
                Item::Attestation(a) => {
                    if !atts.contains(&a) {
                        atts.push(a);
                    }
                }
                Item::Op(op, child) => match ops.iter_mut().find(|(o, _)| *o == op) {
                    // Depth was checked when the trees were built or parsed;
                    // a failure here can only come from a tree already too deep.
                    Some((_, mine)) => {
                        let _ = mine.merge_at_depth(child, depth + 1);
                    }
                    None => ops.push((op, child)),
                },
            }
        }
        atts.sort_by(|a, b| a.cmp_reference(b));
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        self.items = atts.into_iter().map(Item::Attestation).collect();
        for (op, mut child) in ops {
            if depth + 1 < MAX_DEPTH {
                child.canonicalize_at(depth + 1);
            }
            self.items.push(Item::Op(op, child));
        }
    }

    /// Every attestation in the tree, without replaying: a node's own
    /// before those below it, in file order.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// let file = DetachedTimestampFile::parse(&ots).unwrap();
    /// assert_eq!(file.timestamp.attestations()[1], &Attestation::Bitcoin { height: 7 });
    /// ```
    pub fn attestations(&self) -> Vec<&Attestation> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(t) = stack.pop() {
            for item in &t.items {
                if let Item::Attestation(a) = item {
                    out.push(a);
                }
            }
            for item in t.items.iter().rev() {
                if let Item::Op(_, c) = item {
                    stack.push(c);
                }
            }
        }
        out
    }

    /// Depth of the tree (a node alone is 1).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// assert_eq!(TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 }).depth(), 1);
    /// ```
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((t, d)) = stack.pop() {
            max = max.max(d);
            for item in &t.items {
                if let Item::Op(_, c) = item {
                    stack.push((c, d + 1));
                }
            }
        }
        max
    }

    /// Merges another timestamp for the same message into this one, as the
    /// reference does: attestations not already present are added, an op
    /// already present has its subtree merged, a new op is added.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, TimestampTree};
    /// let mut t = TimestampTree::with_attestation(Attestation::Pending { uri: "https://a".into() });
    /// t.merge(TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 })).unwrap();
    /// t.merge(TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 })).unwrap(); // already present
    /// assert_eq!(t.attestations().len(), 2);
    /// ```
    pub fn merge(&mut self, other: TimestampTree) -> Result<()> {
        self.merge_at_depth(other, 0)?;
        if self.depth() > MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("merged timestamp would be deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn merge_at_depth(&mut self, other: TimestampTree, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("merged timestamp would be deeper than {MAX_DEPTH} levels"),
            ));
        }
        for item in other.items {
            match item {
                Item::Attestation(a) => {
                    if !self
                        .items
                        .iter()
                        .any(|i| matches!(i, Item::Attestation(b) if *b == a))
                    {
                        self.items.push(Item::Attestation(a));
                    }
                }
                Item::Op(op, child) => {
                    match self
                        .items
                        .iter_mut()
                        .find(|i| matches!(i, Item::Op(o, _) if *o == op))
                    {
                        Some(Item::Op(_, mine)) => mine.merge_at_depth(child, depth + 1)?,
                        _ => self.items.push(Item::Op(op, child)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Merges `other` (a timestamp for `target`, such as a calendar's answer
    /// for a pending commitment) at every node of this tree whose message,
    /// replayed from `msg`, is `target`. Returns how many nodes matched; an
    /// error `not_found` when none did.
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, Op, TimestampTree};
    /// // A pending proof: sha256(msg) sent to a calendar.
    /// let mut t = TimestampTree::default();
    /// t.push_op(Op::Sha256, TimestampTree::with_attestation(Attestation::Pending { uri: "https://a".into() }));
    /// let commitment = Op::Sha256.apply(b"msg").unwrap();
    /// // The calendar's later answer for that commitment:
    /// let upgrade = TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 });
    /// assert_eq!(t.merge_at_message(b"msg", &commitment, &upgrade).unwrap(), 1);
    /// assert_eq!(t.attestations().len(), 2);
    /// ```
    pub fn merge_at_message(
        &mut self,
        msg: &[u8],
        target: &[u8],
        other: &TimestampTree,
    ) -> Result<usize> {
        let mut budget = Budget::new();
        let n = self.merge_at_message_inner(msg, target, other, 0, &mut budget)?;
        if n == 0 {
            return Err(DecodeError::new(
                "not_found",
                format!(
                    "no node of the timestamp has the message {}",
                    hex::encode(target)
                ),
            ));
        }
        if self.depth() > MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("merged timestamp would be deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(n)
    }

    fn merge_at_message_inner(
        &mut self,
        msg: &[u8],
        target: &[u8],
        other: &TimestampTree,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<usize> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::new(
                "too_deep",
                format!("timestamp is nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let mut n = 0;
        for item in self.items.iter_mut() {
            budget.node()?;
            if let Item::Op(op, child) = item {
                budget.work(msg.len())?;
                let next = op.apply(msg)?;
                n += child.merge_at_message_inner(&next, target, other, depth + 1, budget)?;
            }
        }
        if msg == target {
            self.merge_at_depth(other.clone(), depth)?;
            n += 1;
        }
        Ok(n)
    }
}

impl Item {
    fn write(&self, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        match self {
            Item::Attestation(a) => {
                out.push(0x00);
                a.write(out)
            }
            Item::Op(op, child) => {
                if let Op::Append(a) | Op::Prepend(a) = op {
                    if a.is_empty() || a.len() > MAX_MSG_LENGTH {
                        return Err(DecodeError::new(
                            "too_long",
                            format!("{} argument must be 1 to {MAX_MSG_LENGTH} bytes", op.name()),
                        ));
                    }
                }
                op.write(out);
                child.write_at(out, depth + 1)
            }
        }
    }
}

/// A detached timestamp file (`.ots`): the hash op and digest of the stamped
/// file, and the timestamp tree for that digest.
///
/// ```
/// # use kwh_btc_iot_core::encoding::ots::*;
/// # let digest = [0x42u8; 32];
/// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
/// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
/// let file = DetachedTimestampFile::parse(&ots).unwrap();
/// assert_eq!((file.file_hash_op.clone(), file.digest.clone()), (Op::Sha256, digest.to_vec()));
/// assert_eq!(file.to_bytes().unwrap(), ots); // parse then write gives the bytes back
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedTimestampFile {
    /// How the file was hashed: sha1, ripemd160 or sha256.
    pub file_hash_op: Op,
    /// The file's digest (20 or 32 bytes, as the op).
    pub digest: Vec<u8>,
    /// The proof for the digest.
    pub timestamp: TimestampTree,
}

impl DetachedTimestampFile {
    /// A detached file; the digest length must match the op (20 bytes for
    /// sha1/ripemd160, 32 for sha256).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{Attestation, DetachedTimestampFile, Op, TimestampTree};
    /// let t = || TimestampTree::with_attestation(Attestation::Bitcoin { height: 7 });
    /// assert!(DetachedTimestampFile::new(Op::Sha1, vec![0; 20], t()).is_ok());
    /// assert!(DetachedTimestampFile::new(Op::Sha256, vec![0; 20], t()).is_err()); // wrong length
    /// ```
    pub fn new(file_hash_op: Op, digest: Vec<u8>, timestamp: TimestampTree) -> Result<Self> {
        match file_hash_op.digest_len() {
            Some(n) if Op::file_hash_from_tag(file_hash_op.tag()).is_some() => {
                if digest.len() != n {
                    return Err(DecodeError::new(
                        "digest_length",
                        format!(
                            "a {} digest is {n} bytes, got {}",
                            file_hash_op.name(),
                            digest.len()
                        ),
                    ));
                }
            }
            _ => {
                return Err(DecodeError::new(
                    "unknown_file_hash_op",
                    format!(
                        "{} is not a file hash op (sha1, ripemd160, sha256)",
                        file_hash_op.name()
                    ),
                ))
            }
        }
        Ok(DetachedTimestampFile {
            file_hash_op,
            digest,
            timestamp,
        })
    }

    /// Parses a whole `.ots` file: magic, version 1, file hash op, digest, tree.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// assert!(DetachedTimestampFile::parse(&ots).is_ok());
    /// assert!(ots.starts_with(b"\x00OpenTimestamps\x00\x00Proof\x00"));
    /// assert_eq!(DetachedTimestampFile::parse(&ots[1..]).unwrap_err().code, "bad_magic");
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(DecodeError::new(
                "too_large",
                format!("file is larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        let mut r = Reader::new(bytes);
        let magic = r.bytes(MAGIC.len() as u64, "header magic").map_err(|_| {
            DecodeError::new(
                "bad_magic",
                "not an OpenTimestamps proof (header magic missing)",
            )
        })?;
        if magic != MAGIC {
            return Err(DecodeError::new(
                "bad_magic",
                "not an OpenTimestamps proof (wrong header magic)",
            ));
        }
        let major = r.varuint("major version")?;
        if major != MAJOR_VERSION {
            return Err(DecodeError::new(
                "unsupported_version",
                format!("version {major} detached timestamp files are not supported (only {MAJOR_VERSION})"),
            ));
        }
        let at = r.at();
        let tag = r.u8("file hash op")?;
        let file_hash_op = Op::file_hash_from_tag(tag).ok_or_else(|| {
            DecodeError::new(
                "unknown_file_hash_op",
                format!("unknown file hash op tag 0x{tag:02x} (at byte {at}); expected sha1 (0x02), ripemd160 (0x03) or sha256 (0x08)"),
            )
        })?;
        let n = file_hash_op.digest_len().unwrap_or(32);
        let digest = r.bytes(n as u64, "file digest")?.to_vec();
        let mut budget = Budget::new();
        let timestamp = TimestampTree::parse_node(&mut r, n, 0, &mut budget)?;
        end(&r)?;
        Ok(DetachedTimestampFile {
            file_hash_op,
            digest,
            timestamp,
        })
    }

    /// Appends the file (magic, version, hash op, digest, tree) to `out`.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// let file = DetachedTimestampFile::parse(&ots).unwrap();
    /// let mut out = Vec::new();
    /// file.write(&mut out).unwrap();
    /// assert_eq!(out, ots);
    /// ```
    pub fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.file_hash_op.digest_len() != Some(self.digest.len())
            || Op::file_hash_from_tag(self.file_hash_op.tag()).is_none()
        {
            return Err(DecodeError::new(
                "digest_length",
                "file hash op and digest length differ",
            ));
        }
        out.extend_from_slice(MAGIC);
        write_varuint(out, MAJOR_VERSION);
        out.push(self.file_hash_op.tag());
        out.extend_from_slice(&self.digest);
        self.timestamp.write(out)
    }

    /// The `.ots` file as bytes.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// assert_eq!(DetachedTimestampFile::parse(&ots).unwrap().to_bytes().unwrap(), ots);
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write(&mut out)?;
        Ok(out)
    }

    /// Puts the tree in the reference implementation's form (see
    /// [`TimestampTree::canonicalize`]).
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// let mut file = DetachedTimestampFile::parse(&ots).unwrap();
    /// file.canonicalize();
    /// assert_eq!(file.replay().unwrap().len(), 2); // same proof, reference order
    /// ```
    pub fn canonicalize(&mut self) {
        self.timestamp.canonicalize();
    }

    /// Replays the tree from the file's digest: every attestation with the
    /// message it attests.
    ///
    /// ```
    /// # use kwh_btc_iot_core::encoding::ots::*;
    /// # let digest = [0x42u8; 32];
    /// # // A calendar-shaped proof: pending at alice, then Bitcoin block 7 (regtest).
    /// # let (ots, header) = kwh_btc_iot_testkit::ots_proof(&digest, 7);
    /// let reached = DetachedTimestampFile::parse(&ots).unwrap().replay().unwrap();
    /// assert_eq!(reached[1].attestation, Attestation::Bitcoin { height: 7 });
    /// assert_eq!(reached[1].msg, header.merkle_root);
    /// ```
    pub fn replay(&self) -> Result<Vec<Reached>> {
        self.timestamp.replay(&self.digest)
    }

    /// Hashes a whole file's bytes with this file's hash op (no length
    /// limit: files are hashed as a stream, not as an op).
    ///
    /// ```
    /// use kwh_btc_iot_core::encoding::ots::{DetachedTimestampFile, Op};
    /// let d = DetachedTimestampFile::hash_file(&Op::Sha256, b"abc").unwrap();
    /// assert_eq!(d[..3], [0xba, 0x78, 0x16]);
    /// assert_eq!(DetachedTimestampFile::hash_file(&Op::Reverse, b"abc"), None); // not a file hash
    /// ```
    pub fn hash_file(op: &Op, data: &[u8]) -> Option<Vec<u8>> {
        Some(match op {
            Op::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Op::Ripemd160 => ripemd::Ripemd160::digest(data).to_vec(),
            Op::Sha256 => Sha256::digest(data).to_vec(),
            Op::Keccak256 => sha3::Keccak256::digest(data).to_vec(),
            _ => return None,
        })
    }
}

fn write_varbytes(out: &mut Vec<u8>, b: &[u8]) {
    write_varuint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Refuses bytes after the timestamp (`trailing_data`).
fn end(r: &Reader<'_>) -> Result<()> {
    match r.end_or_trailing() {
        None => Ok(()),
        Some(n) => Err(DecodeError::new(
            "trailing_data",
            format!(
                "{n} bytes of trailing data after the timestamp (at byte {})",
                r.at()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varuint_round_trip_and_minimality() {
        for v in [0u64, 1, 127, 128, 300, 358391, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varuint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varuint("x").unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
        assert_eq!(
            Reader::new(&[0x80, 0x00]).varuint("x").unwrap_err().code,
            "bad_varuint"
        );
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&too_big).varuint("x").unwrap_err().code,
            "bad_varuint"
        );
        assert_eq!(
            Reader::new(&[0x80]).varuint("x").unwrap_err().code,
            "truncated"
        );
    }

    #[test]
    fn op_limits() {
        assert!(Op::Hexlify.apply(&[0u8; 2048]).is_ok());
        assert_eq!(
            Op::Hexlify.apply(&[0u8; 2049]).unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(Op::Reverse.apply(&[]).unwrap_err().code, "invalid_message");
        assert_eq!(
            Op::Append(vec![1; 4000]).apply(&[0; 97]).unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(Op::Hexlify.apply(&[0xab, 0x01]).unwrap(), b"ab01");
        assert_eq!(Op::Reverse.apply(&[1, 2, 3]).unwrap(), vec![3, 2, 1]);
        assert_eq!(
            hex::encode(&Op::Keccak256.apply(b"").unwrap()),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex::encode(&Op::Ripemd160.apply(b"").unwrap()),
            "9c1185a5c5e9fc54612808977ee8f548b2258d31"
        );
        assert_eq!(
            hex::encode(&Op::Sha1.apply(b"").unwrap()),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
