//! Hexadecimal: one digit table for every hex reader in the crate.
//!
//! ```
//! use kwh_btc_iot_core::encoding::hex;
//! assert_eq!(hex::encode(&[0xde, 0xad]), "dead");
//! assert_eq!(hex::decode(b"DEad"), Some(vec![0xde, 0xad]));
//! assert_eq!(hex::decode_lower_array::<2>(b"DEad"), None); // lowercase only
//! ```

/// Digit values: 0-15 for `0-9a-f`, 16-31 for `A-F` (the 0x10 bit marks
/// uppercase), 0xff for any other byte.
const DIGITS: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 0x10 | (10 + i as u8);
        i += 1;
    }
    t
};

/// Lowercase hex of any bytes.
///
/// ```
/// assert_eq!(kwh_btc_iot_core::encoding::hex::encode(b"\x00\xff"), "00ff");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut v = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        v.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
    }
    String::from_utf8(v).expect("hex digits are ASCII")
}

/// Decodes hex in either case; `None` for an odd length or a byte that is
/// not a hex digit.
///
/// ```
/// use kwh_btc_iot_core::encoding::hex::decode;
/// assert_eq!(decode(b"0aFF"), Some(vec![0x0a, 0xff]));
/// assert_eq!(decode(b"abc"), None);
/// assert_eq!(decode(b"zz"), None);
/// ```
pub fn decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    let mut bad = 0u8;
    for p in s.chunks_exact(2) {
        let (h, l) = (DIGITS[p[0] as usize], DIGITS[p[1] as usize]);
        bad |= h | l;
        out.push((h << 4) | (l & 0x0f));
    }
    (bad & 0xe0 == 0).then_some(out)
}

/// Decodes exactly `2 * N` lowercase hex digits into `N` bytes; `None`
/// for another length, an uppercase digit or any other byte. One check of
/// all the digits at the end: receipts carry some twenty hashes each.
///
/// ```
/// use kwh_btc_iot_core::encoding::hex::decode_lower_array;
/// assert_eq!(decode_lower_array::<1>(b"7f"), Some([0x7f]));
/// assert_eq!(decode_lower_array::<1>(b"7F"), None);
/// ```
pub fn decode_lower_array<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, p) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (h, l) = (DIGITS[p[0] as usize], DIGITS[p[1] as usize]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Decodes hex in either case, for a JSON member: the error names
/// `member` and the rule (code `invalid_hex`).
///
/// ```
/// use kwh_btc_iot_core::encoding::hex::decode_member;
/// assert_eq!(decode_member("0A", "sig").unwrap(), vec![10]);
/// let e = decode_member("0", "sig").unwrap_err();
/// assert_eq!((e.code.as_str(), e.member.as_deref()), ("invalid_hex", Some("sig")));
/// ```
pub fn decode_member(s: &str, member: &str) -> crate::error::Result<Vec<u8>> {
    use crate::error::{Error, ErrorCode};
    decode(s.as_bytes()).ok_or_else(|| {
        Error::member(
            ErrorCode::InvalidHex,
            member,
            if s.len() % 2 != 0 {
                "hex must have an even number of characters"
            } else {
                "must be hex (0-9, a-f)"
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_against_a_reference() {
        for c in 0..=255u8 {
            let reference = (c as char).to_digit(16);
            let got = decode(&[c, b'0']).map(|v| u32::from(v[0] >> 4));
            assert_eq!(got, reference, "byte {c}");
            let lower = decode_lower_array::<1>(&[c, b'0']).map(|v| u32::from(v[0] >> 4));
            let want = reference.filter(|_| !c.is_ascii_uppercase());
            assert_eq!(lower, want, "byte {c}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(encode(&all).as_bytes()), Some(all.clone()));
        assert_eq!(
            decode(encode(&all).to_uppercase().as_bytes()),
            Some(all.clone())
        );
    }
}
