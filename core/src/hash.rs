//! SHA-256 with the domain-separation prefixes of the formats.
//!
//! ```
//! use kwh_btc_iot_core::hash::{leaf_hash_bytes, node_hash};
//! // RFC 9162: a tree of two empty leaves.
//! let l = leaf_hash_bytes(b"");
//! assert_ne!(node_hash(&l, &l), l);
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

use crate::encoding::hex;
use crate::error::{Error, ErrorCode, Result};

/// Prefix of a Merkle leaf (RFC 9162).
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of a Merkle interior node (RFC 9162).
pub const NODE_PREFIX: u8 = 0x01;
/// Prefix of a batch head hash (SPEC section 4).
pub const HEAD_PREFIX: u8 = 0x02;

/// A 32-byte SHA-256 digest, shown as 64 lowercase hex characters.
///
/// ```
/// use kwh_btc_iot_core::hash::{sha256, Hash};
/// let h = sha256(b"abc");
/// assert_eq!(h.to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(Hash::from_hex(&h.to_hex(), "x").unwrap(), h);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// 64 lowercase hex characters, the form every document uses.
    ///
    /// ```
    /// let h = kwh_btc_iot_core::hash::sha256(b"");
    /// assert_eq!(h.to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /// ```
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parses exactly 64 lowercase hex characters; `member` names the input in errors.
    ///
    /// ```
    /// use kwh_btc_iot_core::Hash;
    /// let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    /// assert_eq!(Hash::from_hex(hex, "leaf_hash").unwrap().to_hex(), hex);
    /// let err = Hash::from_hex(&hex.to_uppercase(), "leaf_hash").unwrap_err();
    /// assert_eq!((err.code.as_str(), err.member.as_deref()), ("invalid_hex", Some("leaf_hash")));
    /// ```
    pub fn from_hex(s: &str, member: &str) -> Result<Hash> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(Error::member(
                ErrorCode::InvalidHex,
                member,
                format!(
                    "must be 64 lowercase hex characters, got {} characters",
                    s.chars().count()
                ),
            ));
        }
        hex::decode_lower_array(b).map(Hash).ok_or_else(|| {
            Error::member(
                ErrorCode::InvalidHex,
                member,
                "must be 64 lowercase hex characters (0-9, a-f)",
            )
        })
    }

    /// The 32 digest bytes, in the order SHA-256 produced them (not reversed).
    ///
    /// ```
    /// let h = kwh_btc_iot_core::hash::sha256(b"");
    /// assert_eq!(h.as_bytes()[..2], [0xe3, 0xb0]);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Plain SHA-256, without a domain prefix.
///
/// ```
/// let h = kwh_btc_iot_core::hash::sha256(b"abc");
/// assert_eq!(h.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// SHA-256(0x00 || data): the RFC 9162 leaf hash.
///
/// ```
/// use kwh_btc_iot_core::hash::leaf_hash_bytes;
/// assert_eq!(leaf_hash_bytes(b"").to_hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
/// ```
pub fn leaf_hash_bytes(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    Hash(h.finalize().into())
}

/// SHA-256(0x01 || left || right): an RFC 9162 interior node.
///
/// ```
/// use kwh_btc_iot_core::hash::{leaf_hash_bytes, node_hash, sha256};
/// let (a, b) = (leaf_hash_bytes(b"a"), leaf_hash_bytes(b"b"));
/// let mut pre = vec![0x01];
/// pre.extend_from_slice(a.as_bytes());
/// pre.extend_from_slice(b.as_bytes());
/// assert_eq!(node_hash(&a, &b), sha256(&pre));
/// ```
#[inline]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// SHA-256(0x02 || data): a batch head hash, over the head's canonical bytes
/// without its signature.
///
/// ```
/// use kwh_btc_iot_core::hash::{head_hash_bytes, sha256};
/// assert_eq!(head_hash_bytes(b"{}"), sha256(b"\x02{}"));
/// ```
pub fn head_hash_bytes(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([HEAD_PREFIX]);
    h.update(data);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_hex_accepts_exactly_lowercase_hex_and_round_trips() {
        let mut bytes = [0u8; 32];
        for round in 0..64u8 {
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = round.wrapping_mul(31).wrapping_add(i as u8 * 7);
            }
            let h = Hash(bytes);
            assert_eq!(Hash::from_hex(&h.to_hex(), "m").unwrap(), h);
        }
        let base = "0".repeat(64);
        for pos in [0usize, 1, 31, 62, 63] {
            for c in 0u8..=255 {
                let mut s = base.clone().into_bytes();
                s[pos] = c;
                let Ok(text) = String::from_utf8(s) else {
                    continue;
                };
                let ok = c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                let got = Hash::from_hex(&text, "m");
                assert_eq!(got.is_ok(), ok, "byte {c:#x} at {pos}");
                if let Ok(h) = got {
                    let v = if c.is_ascii_digit() {
                        c - b'0'
                    } else {
                        c - b'a' + 10
                    };
                    let want = if pos % 2 == 0 { v << 4 } else { v };
                    assert_eq!(h.0[pos / 2], want);
                } else {
                    let e = got.unwrap_err();
                    assert_eq!(e.code, ErrorCode::InvalidHex);
                    assert_eq!(e.member.as_deref(), Some("m"));
                }
            }
        }
        assert!(Hash::from_hex(&"0".repeat(63), "m").is_err());
        assert!(Hash::from_hex(&"é".repeat(32), "m").is_err());
    }
}
