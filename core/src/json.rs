//! A strict I-JSON (RFC 7493) parser.
//!
//! Hand-written rather than serde_json because the formats need what serde_json
//! does not give: duplicate member names are an error (never "last one wins"),
//! escaped lone surrogates are an error, numbers outside the IEEE-754 double
//! range are an error, nesting depth is bounded, and strings without escapes
//! are borrowed from the input so the hot path (millions of logs per second)
//! allocates little. See `docs/adr/0001-own-json-parser.md`.
//!
//! ```
//! use kwh_btc_iot_core::json::parse;
//! assert!(parse(br#"{"kwh":12.34}"#).is_ok());
//! assert_eq!(parse(br#""\udead""#).unwrap_err().code.as_str(), "lone_surrogate");
//! assert_eq!(parse(b"1e400").unwrap_err().code.as_str(), "number_out_of_range");
//! ```

use std::borrow::Cow;

use crate::error::{Error, ErrorCode, Result};

/// Default maximum nesting depth of arrays and objects.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// A parsed JSON value. Objects keep their members in input order (the parser
/// has already rejected duplicates).
///
/// ```
/// use kwh_btc_iot_core::json::{parse, Value};
/// let v = parse(br#"{"kwh":12.34,"tags":["peak"]}"#).unwrap();
/// assert_eq!(v.get("kwh"), Some(&Value::Number(12.34)));
/// assert_eq!(v.get("tags").map(Value::type_name), Some("array"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite IEEE-754 double.
    Number(f64),
    /// A string.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, members in input order.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The JSON type name (`null`, `boolean`, `number`, `string`, `array`,
    /// `object`), as error messages say it.
    ///
    /// ```
    /// use kwh_btc_iot_core::json::parse;
    /// assert_eq!(parse(b"null").unwrap().type_name(), "null");
    /// assert_eq!(parse(b"{}").unwrap().type_name(), "object");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Looks a member up by name in an object; `None` if absent or if `self` is
    /// not an object.
    ///
    /// ```
    /// use kwh_btc_iot_core::json::{parse, Value};
    /// let v = parse(br#"{"a":"x"}"#).unwrap();
    /// assert_eq!(v.get("a"), Some(&Value::str("x")));
    /// assert_eq!(v.get("b"), None);
    /// assert_eq!(parse(b"[1]").unwrap().get("a"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Copies every borrowed string, so the value outlives the input buffer.
    ///
    /// ```
    /// use kwh_btc_iot_core::json::{parse, Value};
    /// let owned: Value<'static> = {
    ///     let text = String::from(r#"["kept"]"#);
    ///     parse(text.as_bytes()).unwrap().into_owned()
    /// };
    /// assert_eq!(owned, Value::Array(vec![Value::str("kept")]));
    /// ```
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(n),
            Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
            Value::Array(a) => Value::Array(a.into_iter().map(Value::into_owned).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// An owned string value.
    ///
    /// ```
    /// use kwh_btc_iot_core::{jcs, json::Value};
    /// assert_eq!(jcs::to_string(&Value::str("gw-1")), r#""gw-1""#);
    /// ```
    pub fn str(s: impl Into<String>) -> Value<'static> {
        Value::String(Cow::Owned(s.into()))
    }

    /// An optional string: `null` when `None` (as `ln_invoice_id` is written).
    ///
    /// ```
    /// use kwh_btc_iot_core::json::Value;
    /// assert_eq!(Value::opt_str(None), Value::Null);
    /// assert_eq!(Value::opt_str(Some("ln")), Value::str("ln"));
    /// ```
    pub fn opt_str(s: Option<&str>) -> Value<'static> {
        match s {
            Some(s) => Value::str(s),
            None => Value::Null,
        }
    }
}

/// Parses UTF-8 bytes as one I-JSON value with the default depth limit.
///
/// ```
/// use kwh_btc_iot_core::json::{parse, Value};
/// assert_eq!(parse(b"[1, true]").unwrap(), Value::Array(vec![Value::Number(1.0), Value::Bool(true)]));
/// assert_eq!(parse(br#"{"a":1,"a":2}"#).unwrap_err().code.as_str(), "duplicate_member");
/// ```
pub fn parse(input: &[u8]) -> Result<Value<'_>> {
    parse_with_depth(input, DEFAULT_MAX_DEPTH)
}

/// Parses with an explicit nesting limit (arrays and objects count one level
/// each); deeper input fails with `too_deep`.
///
/// ```
/// use kwh_btc_iot_core::json::parse_with_depth;
/// assert!(parse_with_depth(b"[[1]]", 2).is_ok());
/// assert_eq!(parse_with_depth(b"[[[1]]]", 2).unwrap_err().code.as_str(), "too_deep");
/// ```
pub fn parse_with_depth(input: &[u8], max_depth: usize) -> Result<Value<'_>> {
    let text = std::str::from_utf8(input).map_err(|e| {
        Error::new(
            ErrorCode::InvalidUtf8,
            format!("input is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    parse_str_with_depth(text, max_depth)
}

/// Parses a `&str` as one I-JSON value with the default depth limit.
///
/// ```
/// use kwh_btc_iot_core::json::{parse_str, Value};
/// assert_eq!(parse_str("\"\\u00e9\"").unwrap(), Value::str("\u{e9}"));
/// assert_eq!(parse_str(r#""\ud800""#).unwrap_err().code.as_str(), "lone_surrogate");
/// ```
pub fn parse_str(text: &str) -> Result<Value<'_>> {
    parse_str_with_depth(text, DEFAULT_MAX_DEPTH)
}

fn parse_str_with_depth(text: &str, max_depth: usize) -> Result<Value<'_>> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        max_depth,
    };
    // A leading byte-order mark is not JSON (RFC 8259 section 8.1 lets parsers
    // ignore it, I-JSON forbids it); report it plainly.
    if text.starts_with('\u{feff}') {
        return Err(p.syntax("a byte-order mark is not allowed"));
    }
    p.skip_ws();
    let v = p.value(0).map_err(finish_error)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.syntax("unexpected data after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

// Errors about a member are built on the way out: the innermost level makes
// an error whose `member` is the path so far (empty) and whose `message` is
// only the rule; each enclosing object or array prepends its key or index;
// `finish_error` writes the final message. Nothing is tracked on success.

fn prefix_key(mut e: Error, key: &str) -> Error {
    if let Some(m) = &mut e.member {
        *m = if m.is_empty() {
            key.to_string()
        } else if m.starts_with('[') {
            format!("{key}{m}")
        } else {
            format!("{key}.{m}")
        };
    }
    e
}

fn prefix_index(mut e: Error, i: usize) -> Error {
    if let Some(m) = &mut e.member {
        *m = if m.is_empty() || m.starts_with('[') {
            format!("[{i}]{m}")
        } else {
            format!("[{i}].{m}")
        };
    }
    e
}

fn finish_error(mut e: Error) -> Error {
    match e.member.as_deref() {
        None => e,
        Some("") if e.code == ErrorCode::NumberOutOfRange => {
            Error::member(e.code, "value", e.message)
        }
        Some("") => {
            e.member = None;
            e.message = format!("invalid JSON: {}", e.message);
            e
        }
        Some(m) => {
            e.message = format!("{m}: {}", e.message);
            e
        }
    }
}

fn relative(code: ErrorCode, rule: String) -> Error {
    Error {
        code,
        member: Some(String::new()),
        message: rule,
    }
}

impl<'a> Parser<'a> {
    fn lone_surrogate(&self, at: usize) -> Error {
        relative(
            ErrorCode::LoneSurrogate,
            format!("escaped lone UTF-16 surrogate at byte {at} (I-JSON forbids it)"),
        )
    }

    fn syntax(&self, what: &str) -> Error {
        Error::new(
            ErrorCode::InvalidJson,
            format!("invalid JSON at byte {}: {what}", self.pos),
        )
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b' ' || b == b'\n' || b == b'\r' || b == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn literal(&mut self, word: &str, v: Value<'a>) -> Result<Value<'a>> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > self.max_depth {
            return Err(Error::new(
                ErrorCode::TooDeep,
                format!(
                    "JSON nesting deeper than {} levels at byte {}",
                    self.max_depth, self.pos
                ),
            ));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut members: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(16);
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a member name in double quotes"));
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(prefix_key(
                    relative(
                        ErrorCode::DuplicateMember,
                        "member name appears more than once in the object (I-JSON forbids duplicates)".into(),
                    ),
                    &key,
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after the member name"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = match self.value(depth) {
                Ok(v) => v,
                Err(e) => return Err(prefix_key(e, &key)),
            };
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.syntax("expected ',' or '}' in object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            match self.value(depth) {
                Ok(v) => items.push(v),
                Err(e) => return Err(prefix_index(e, items.len())),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expected ',' or ']' in array")),
            }
        }
    }

    fn number(&mut self) -> Result<Value<'a>> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.syntax("invalid number"));
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.syntax("invalid number: digits expected after '.'"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.syntax("invalid number: digits expected in exponent"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.pos = i;
        let text = &self.src[start..i];
        if let Some(n) = fast_decimal(text.as_bytes()) {
            return Ok(Value::Number(n));
        }
        // Rust's parser is correctly rounded; the grammar was checked above.
        let n: f64 = text.parse().map_err(|_| self.syntax("invalid number"))?;
        if !n.is_finite() {
            return Err(relative(
                ErrorCode::NumberOutOfRange,
                format!("number {text} is outside the IEEE-754 double range"),
            ));
        }
        Ok(Value::Number(n))
    }

    fn hex4(&mut self) -> Result<u32> {
        let Some(h) = self.src.get(self.pos..self.pos + 4) else {
            return Err(self.syntax("truncated \\u escape"));
        };
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.syntax("invalid \\u escape"));
        }
        self.pos += 4;
        Ok(u32::from_str_radix(h, 16).expect("checked hex digits"))
    }

    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast scan to the first byte that needs attention; no escapes -> borrow.
        let rest = &self.bytes[start..];
        let n = plain_run(rest);
        self.pos = start + n;
        match rest.get(n) {
            None => return Err(self.syntax("unterminated string")),
            Some(b'"') => {
                let s = &self.src[start..self.pos];
                self.pos += 1;
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("control character in string must be escaped")),
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.src[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(self.syntax("unterminated escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let at = self.pos - 2;
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.src[self.pos..].starts_with("\\u") {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(self.lone_surrogate(at));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(self.lone_surrogate(at));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.lone_surrogate(at));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).expect("valid scalar value"));
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.syntax("invalid escape in string"));
                        }
                    }
                }
                Some(&c) if c < 0x20 => {
                    return Err(self.syntax("control character in string must be escaped"))
                }
                Some(_) => {
                    // Copy a run of plain bytes (char boundaries are safe: the
                    // run stops only at ASCII bytes).
                    let run = self.pos;
                    while let Some(&c) = self.bytes.get(self.pos) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.src[run..self.pos]);
                }
            }
        }
    }
}

/// The length of the plain run at the start of `b`: the index of the first
/// quote, backslash or control character (or `b.len()`). Eight bytes at a
/// time (SWAR): in each word, a byte equal to `"` or `\\` or below 0x20 sets
/// its high bit. A borrow can also set high bits above a real hit, never
/// below one, so the lowest bit set is the first hit.
fn plain_run(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let q = w ^ (LO * b'"' as u64);
        let s = w ^ (LO * b'\\' as u64);
        let hit = ((q.wrapping_sub(LO) & !q)
            | (s.wrapping_sub(LO) & !s)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STOP[b[i] as usize] {
        i += 1;
    }
    i
}

/// Bytes that end the plain run of a string: quote, backslash, controls.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Clinger's fast path: a decimal without exponent whose digits fit in 53
/// bits, divided by an exactly representable power of ten, is correctly
/// rounded by one IEEE division. Covers almost every meter reading.
#[inline]
fn fast_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut frac_digits = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(c - b'0'),
            b'.' => frac_digits = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    if mantissa >= 1 << 53 {
        return None;
    }
    let v = mantissa as f64 / POW10[frac_digits.unwrap_or(0)];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_decimal_agrees_with_the_full_parser() {
        for s in [
            "0",
            "-0",
            "12.34",
            "2.47",
            "0.1",
            "0.3",
            "123456789012345",
            "9007199254740991",
            "1.7976931348623",
            "0.00000000000001",
            "-3.14159",
            "100",
            "99.99",
        ] {
            let want: f64 = s.parse().unwrap();
            assert_eq!(
                fast_decimal(s.as_bytes()).map(f64::to_bits),
                Some(want.to_bits()),
                "{s}"
            );
        }
        assert_eq!(fast_decimal(b"9007199254740993"), None);
        assert_eq!(fast_decimal(b"1e5"), None);
    }

    fn code(s: &str) -> &'static str {
        parse(s.as_bytes()).unwrap_err().code.as_str()
    }

    #[test]
    fn accepts_plain_values() {
        assert_eq!(parse(b" null ").unwrap(), Value::Null);
        assert_eq!(parse(b"-0.5e1").unwrap(), Value::Number(-5.0));
        assert_eq!(
            parse(br#""a\u00e9\ud83d\ude00""#).unwrap(),
            Value::str("a\u{e9}\u{1F600}")
        );
        assert!(matches!(
            parse(br#""plain""#).unwrap(),
            Value::String(Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn rejects_what_i_json_forbids() {
        assert_eq!(code(r#"{"a":1,"a":1}"#), "duplicate_member");
        assert_eq!(code(r#"{"a":{"b":1,"b":2}}"#), "duplicate_member");
        assert_eq!(code(r#""\ud800""#), "lone_surrogate");
        assert_eq!(code(r#""\udc00\ud800""#), "lone_surrogate");
        assert_eq!(code("1e400"), "number_out_of_range");
        assert_eq!(code("-1e309"), "number_out_of_range");
        assert_eq!(code("NaN"), "invalid_json");
        assert_eq!(code("Infinity"), "invalid_json");
        assert_eq!(code("01"), "invalid_json");
        assert_eq!(code("1."), "invalid_json");
        assert_eq!(code("[1,]"), "invalid_json");
        assert_eq!(code("{\"a\":1,}"), "invalid_json");
        assert_eq!(code("\"a\u{1}\""), "invalid_json");
        assert_eq!(code("\u{feff}{}"), "invalid_json");
        assert_eq!(code("{} x"), "invalid_json");
        assert_eq!(code(""), "invalid_json");
        assert_eq!(
            parse(&[b'"', 0xff, b'"']).unwrap_err().code.as_str(),
            "invalid_utf8"
        );
    }

    #[test]
    fn duplicate_member_names_the_path() {
        let e = parse(br#"{"tx":{"unit":"sats","unit":"sats"}}"#).unwrap_err();
        assert_eq!(e.member.as_deref(), Some("tx.unit"));
    }

    #[test]
    fn escaped_duplicates_are_duplicates() {
        assert_eq!(code(r#"{"a":1,"\u0061":2}"#), "duplicate_member");
    }

    #[test]
    fn depth_is_bounded_without_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(code(&deep), "too_deep");
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(ok.as_bytes()).is_ok());
        let too = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(code(&too), "too_deep");
    }
}

#[cfg(test)]
mod plain_run_tests {
    use super::{plain_run, STOP};

    fn naive(b: &[u8]) -> usize {
        b.iter().position(|&c| STOP[c as usize]).unwrap_or(b.len())
    }

    #[test]
    fn finds_the_first_quote_backslash_or_control_like_a_byte_scan() {
        // Every byte value at every position of runs up to 40 bytes, over
        // backgrounds that tempt the word tricks (0x20, 0x21, 0x7f, 0x80, 0xff,
        // bytes next to the quote and the backslash).
        for bg in [
            b'a', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xff,
        ] {
            for len in 0..40usize {
                for pos in 0..len {
                    for c in 0u8..=255 {
                        let mut v = vec![bg; len];
                        v[pos] = c;
                        assert_eq!(
                            plain_run(&v),
                            naive(&v),
                            "bg {bg:#x} len {len} pos {pos} byte {c:#x}"
                        );
                        // a second hit later must not move the first
                        if pos + 3 < len {
                            v[pos + 3] = b'"';
                            assert_eq!(plain_run(&v), naive(&v));
                        }
                    }
                }
            }
        }
    }
}
