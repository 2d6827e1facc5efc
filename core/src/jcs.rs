//! RFC 8785 JSON Canonicalization Scheme (JCS) serialization.
//!
//! Members sorted by their names' UTF-16 code units, no whitespace, strings
//! with the minimal escapes of ECMAScript's `JSON.stringify`, numbers in the
//! ECMAScript `Number.prototype.toString` form (via `ryu-js`).
//!
//! ```
//! // RFC 8785 section 3.2.2's number examples:
//! let out = kwh_btc_iot_core::jcs::canonicalize(b"[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]").unwrap();
//! assert_eq!(out, b"[333333333.3333333,1e+30,4.5,0.002,1e-27]");
//! ```

use crate::error::Result;
use crate::json::{self, Value};

/// Canonicalizes any I-JSON text (RFC 8785). Duplicate members, lone
/// surrogates and out-of-range numbers are rejected by the parser.
///
/// ```
/// let out = kwh_btc_iot_core::jcs::canonicalize(br#"{"b": 1.0E2, "a": "\u00e9"}"#).unwrap();
/// assert_eq!(out, "{\"a\":\"\u{e9}\",\"b\":100}".as_bytes());
/// ```
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>> {
    let v = json::parse(input)?;
    let mut out = Vec::with_capacity(input.len());
    write_value(&mut out, &v);
    Ok(out)
}

/// Serializes a parsed value canonically.
///
/// ```
/// use kwh_btc_iot_core::{jcs, json};
/// let v = json::parse(br#"{"z":1,"a":[true,"\u0041"]}"#).unwrap();
/// assert_eq!(jcs::to_vec(&v), br#"{"a":[true,"A"],"z":1}"#);
/// ```
pub fn to_vec(v: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

/// Serializes a parsed value canonically as a `String`.
///
/// ```
/// use kwh_btc_iot_core::{jcs, json::Value};
/// let v = Value::Object(vec![("n".into(), Value::Number(1e21))]);
/// assert_eq!(jcs::to_string(&v), r#"{"n":1e+21}"#);
/// ```
pub fn to_string(v: &Value<'_>) -> String {
    String::from_utf8(to_vec(v)).expect("JCS output is UTF-8")
}

/// Appends the canonical form of `v` to `out`.
///
/// ```
/// use kwh_btc_iot_core::{jcs, json::Value};
/// let mut out = b"prefix:".to_vec();
/// jcs::write_value(&mut out, &Value::Array(vec![Value::Null, Value::Bool(false)]));
/// assert_eq!(out, b"prefix:[null,false]");
/// ```
pub fn write_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<&(std::borrow::Cow<'_, str>, Value<'_>)> = members.iter().collect();
            sorted.sort_by(|a, b| cmp_utf16(&a.0, &b.0));
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

/// Compares two strings by their UTF-16 code units, as RFC 8785 sorts names.
///
/// ```
/// use std::cmp::Ordering;
/// use kwh_btc_iot_core::jcs::cmp_utf16;
/// // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 (unlike in UTF-8).
/// assert_eq!(cmp_utf16("\u{1F600}", "\u{FB01}"), Ordering::Less);
/// assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
/// ```
pub fn cmp_utf16(a: &str, b: &str) -> std::cmp::Ordering {
    // Byte order equals code point order; it differs from UTF-16 order only
    // when a character above U+FFFF meets one in U+E000..U+FFFF.
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends a number in ECMAScript form. The caller guarantees it is finite.
///
/// ```
/// let mut out = Vec::new();
/// kwh_btc_iot_core::jcs::write_number(&mut out, 0.000001);
/// out.push(b' ');
/// kwh_btc_iot_core::jcs::write_number(&mut out, -0.0);
/// assert_eq!(out, b"0.000001 0");
/// ```
#[inline]
pub fn write_number(out: &mut Vec<u8>, n: f64) {
    debug_assert!(n.is_finite());
    if n == 0.0 {
        out.push(b'0'); // also -0
        return;
    }
    // Integers below 2^53 are by far the most common: print them directly.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 && n.abs() < 1e21 {
        write_int(out, n as i64);
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(n).as_bytes());
}

fn write_int(out: &mut Vec<u8>, mut i: i64) {
    let neg = i < 0;
    let mut tmp = [0u8; 24];
    let mut pos = tmp.len();
    if neg {
        i = -i;
    }
    loop {
        pos -= 1;
        tmp[pos] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        tmp[pos] = b'-';
    }
    out.extend_from_slice(&tmp[pos..]);
}

/// Appends a JSON string with RFC 8785 escaping.
///
/// ```
/// let mut out = Vec::new();
/// kwh_btc_iot_core::jcs::write_string(&mut out, "a\"\n\u{1}\u{e9}");
/// assert_eq!(out, "\"a\\\"\\n\\u0001\u{e9}\"".as_bytes());
/// ```
#[inline]
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn numbers_use_ecmascript_form() {
        assert_eq!(
            canon("[1E2, 0.000001, 1e-7, 1e21, 123456789012345680000, -0, 0.1, 5e-324]"),
            "[100,0.000001,1e-7,1e+21,123456789012345680000,0,0.1,5e-324]"
        );
        assert_eq!(
            canon("[9007199254740993, 4.5, -12.34, 1.7976931348623157e308]"),
            "[9007199254740992,4.5,-12.34,1.7976931348623157e+308]"
        );
    }

    #[test]
    fn strings_minimal_escapes() {
        assert_eq!(
            canon(r#""\u0041\u001f\u007f\/\u2028""#),
            "\"A\\u001f\u{7f}/\u{2028}\""
        );
    }

    #[test]
    fn keys_sorted_by_utf16() {
        // U+1F600 (D83D DE00 in UTF-16) sorts before U+FB01 in UTF-16, after it by code point.
        assert_eq!(
            canon("{\"\u{fb01}\":1,\"\u{1F600}\":2,\"a\":3}"),
            "{\"a\":3,\"\u{1F600}\":2,\"\u{fb01}\":1}"
        );
    }
}
