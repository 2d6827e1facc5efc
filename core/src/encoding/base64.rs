//! Base64 (RFC 4648), standard or URL-safe alphabet, padding optional,
//! canonical only (the unused low bits of the last digit must be zero).
//!
//! ```
//! use kwh_btc_iot_core::encoding::base64;
//! assert_eq!(base64::decode("aGk="), Some(b"hi".to_vec()));
//! assert_eq!(base64::decode("aGk"), Some(b"hi".to_vec()));
//! assert_eq!(base64::decode("aGl="), None); // not canonical
//! ```

/// Decodes base64 text; `None` when it is not canonical base64.
///
/// ```
/// assert_eq!(kwh_btc_iot_core::encoding::base64::decode("-_8"), Some(vec![0xfb, 0xff]));
/// ```
pub fn decode(s: &str) -> Option<Vec<u8>> {
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

/// Decodes hex (either case) or, when the text is not hex, base64
/// (standard or URL-safe alphabet, padding optional): how binary members
/// such as an anchor's `ots` may be written.
///
/// ```
/// use kwh_btc_iot_core::encoding::base64::decode_hex_or_base64;
/// assert_eq!(decode_hex_or_base64("00ff"), Some(vec![0x00, 0xff]));
/// assert_eq!(decode_hex_or_base64("AP8="), Some(vec![0x00, 0xff]));
/// assert_eq!(decode_hex_or_base64("!"), None);
/// ```
pub fn decode_hex_or_base64(s: &str) -> Option<Vec<u8>> {
    if !s.is_empty() {
        if let Some(b) = super::hex::decode(s.as_bytes()) {
            return Some(b);
        }
    }
    decode(s)
}
