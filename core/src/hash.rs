//! SHA-256 with the domain-separation prefixes of the formats.

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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parses exactly 64 lowercase hex characters; `member` names the input in errors.
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

    /// The bytes.
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

/// Plain SHA-256.
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
#[inline]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

/// SHA-256(0x02 || data): a batch head hash.
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
