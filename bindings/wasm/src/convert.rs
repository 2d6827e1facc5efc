//! JS values in, JS values out, core errors thrown as JS `Error`s.
//!
//! The core parses JSON bytes with a strict I-JSON parser; this module makes
//! sure those bytes are exactly the data the caller passed:
//!
//! - a JS string is JSON text. Passing it to WebAssembly encodes it as UTF-8,
//!   which silently turns a lone UTF-16 surrogate into U+FFFD; such strings
//!   are refused (`lone_surrogate`) instead of hashed as something else.
//! - a `Uint8Array` (or Node `Buffer`) is UTF-8 JSON bytes, passed as they are.
//! - any other value is serialized with `JSON.stringify`, which silently turns
//!   `NaN` and `±Infinity` into `null`; those are refused
//!   (`number_out_of_range`, naming the member). `undefined` members are
//!   omitted, as `JSON.stringify` does (an optional member set to `undefined`
//!   is absent); `toJSON` is honoured (a `Date` becomes its ISO string).
//!
//! Every failure is a core [`Error`], thrown as a JS `Error` with `.code`,
//! `.member` and `.family`. Nothing here panics (with `panic = "abort"` a
//! panic would reach JS as an `unreachable` trap), and no JS exception from
//! a caller's value (a throwing getter, a proxy) crosses the module: every
//! look at a caller's value goes through `js/strict_json.js` or a `catch`
//! import.

use std::borrow::Cow;

use js_sys::{JsString, Reflect, Uint8Array, JSON};
use kwh_btc_iot_core::json::Value;
use kwh_btc_iot_core::{jcs, Error, ErrorCode, Hash};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Largest JSON input accepted, in bytes (UTF-8) or UTF-16 code units. The
/// core has its own, smaller limits for logs (64 KiB) and receipts (1 MiB);
/// this one keeps an absurd input from exhausting WebAssembly memory, which
/// would trap.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Largest number of hashes or logs in one array argument.
pub const MAX_ARRAY_LEN: u32 = 1 << 26;

#[wasm_bindgen(module = "/js/strict_json.js")]
extern "C" {
    #[wasm_bindgen(js_name = kindOf)]
    fn kind_of_js(value: &JsValue) -> u32;

    #[wasm_bindgen(js_name = encodeUtf8Into)]
    fn encode_utf8_into_js(s: &JsString, view: &Uint8Array) -> i32;

    #[wasm_bindgen(js_name = plainBytes)]
    fn plain_bytes_js(value: &JsValue) -> JsValue;

    #[wasm_bindgen(catch, js_name = dateIso)]
    fn date_iso_js(date: &JsValue) -> Result<String, JsValue>;

    #[wasm_bindgen(catch, js_name = stringifyStrict)]
    fn stringify_strict_js(value: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_name = joinJsonTexts)]
    fn join_json_texts(items: &JsValue, start: u32, end: u32) -> Result<JsValue, JsValue>;
}

/// What a caller's value is, found without any chance of a JS exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Undefined,
    Null,
    String,
    Number,
    BigInt,
    Boolean,
    Bytes,
    Array,
    Date,
    Object,
    Other,
}

pub fn kind(v: &JsValue) -> Kind {
    match kind_of_js(v) {
        0 => Kind::Undefined,
        1 => Kind::Null,
        2 => Kind::String,
        3 => Kind::Number,
        4 => Kind::BigInt,
        5 => Kind::Boolean,
        6 => Kind::Bytes,
        7 => Kind::Array,
        8 => Kind::Date,
        9 => Kind::Object,
        _ => Kind::Other,
    }
}

/// The JSON-ish type name of a JS value, for messages.
pub fn type_name(v: &JsValue) -> &'static str {
    match kind(v) {
        Kind::Undefined => "undefined",
        Kind::Null => "null",
        Kind::String => "string",
        Kind::Number => "number",
        Kind::BigInt => "bigint",
        Kind::Boolean => "boolean",
        Kind::Bytes => "Uint8Array",
        Kind::Array => "array",
        Kind::Date => "Date",
        Kind::Object => "object",
        Kind::Other => "function or symbol",
    }
}

/// A core error as a thrown JS `Error` with `.code`, `.member`, `.family`.
pub fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    set(&err, "code", &JsValue::from_str(e.code.as_str()));
    set(
        &err,
        "member",
        &e.member.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    );
    set(&err, "family", &JsValue::from_str(e.code.family().as_str()));
    err.into()
}

/// [`js_error`] with an extra `.index` (the position in an array argument).
pub fn js_error_at(e: Error, index: usize) -> JsValue {
    let err = js_error(e);
    set(&err, "index", &JsValue::from_f64(index as f64));
    err
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Reflect.set only fails on frozen objects; ours are fresh.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn too_large(member: &str, n: usize) -> Error {
    Error::member(
        ErrorCode::TooLarge,
        member,
        format!(
            "is {n} bytes or more, larger than the {MAX_INPUT_BYTES} byte limit of this package"
        ),
    )
}

/// JSON text (string), UTF-8 JSON bytes (`Uint8Array`) or a JS value to
/// serialize: the bytes the core parses. `member` names the argument.
pub fn json_bytes(v: &JsValue, member: &str) -> Result<Vec<u8>, Error> {
    match kind(v) {
        Kind::String => js_string_bytes(v.unchecked_ref(), member),
        Kind::Bytes => {
            let bytes = plain_bytes(v, member)?;
            let n = bytes.length() as usize;
            if n > MAX_INPUT_BYTES {
                return Err(too_large(member, n));
            }
            Ok(bytes.to_vec())
        }
        Kind::Undefined => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            "is undefined; expected JSON text (string), UTF-8 JSON bytes (Uint8Array) or a JSON-serializable value",
        )),
        _ => stringify_strict(v, member),
    }
}

/// A caller's `Uint8Array` as a plain view of the same bytes.
fn plain_bytes(v: &JsValue, member: &str) -> Result<Uint8Array, Error> {
    let bytes = plain_bytes_js(v);
    if bytes.is_null() {
        return Err(Error::member(
            ErrorCode::InvalidType,
            member,
            "is a Uint8Array whose bytes cannot be read",
        ));
    }
    Ok(bytes.unchecked_into())
}

/// The UTF-8 bytes of a JS string, refusing lone surrogates (the UTF-8
/// encoder would silently turn them into U+FFFD).
pub fn js_string_bytes(s: &JsString, member: &str) -> Result<Vec<u8>, Error> {
    let units = s.length() as usize;
    if units > MAX_INPUT_BYTES {
        return Err(too_large(member, units));
    }
    let capacity = units * 3 + 1;
    let mut buf: Vec<u8> = Vec::with_capacity(capacity);
    // SAFETY: the view covers the vector's spare capacity and lives only for
    // the call; nothing allocates in WebAssembly memory meanwhile, so the
    // memory cannot grow and detach it. encodeInto writes at most
    // `capacity` bytes (3 per UTF-16 unit) and reports how many.
    let written = unsafe {
        let view = Uint8Array::view_mut_raw(buf.as_mut_ptr(), capacity);
        encode_utf8_into_js(s, &view)
    };
    if written < 0 {
        return Err(Error::member(
            ErrorCode::LoneSurrogate,
            member,
            "contains a lone UTF-16 surrogate, which is not Unicode text (encoding it would silently replace it with U+FFFD)",
        ));
    }
    let n = (written as usize).min(capacity);
    // SAFETY: encodeInto initialized the first `n` bytes.
    unsafe { buf.set_len(n) };
    if n > MAX_INPUT_BYTES {
        return Err(too_large(member, n));
    }
    Ok(buf)
}

/// `JSON.stringify(v)`, refusing what it would silently change.
fn stringify_strict(v: &JsValue, member: &str) -> Result<Vec<u8>, Error> {
    let text = stringify_strict_js(v).map_err(|e| {
        Error::member(
            ErrorCode::InvalidJson,
            member,
            format!("cannot be serialized as JSON: {}", describe_js_error(&e)),
        )
    })?;
    if kind(&text) == Kind::String {
        return js_string_bytes(text.unchecked_ref(), member);
    }
    if text.is_null() {
        // A NaN or an Infinity: name its member.
        let (path, n) = find_non_finite(v, 0).unwrap_or((String::new(), f64::NAN));
        let at = if path.is_empty() {
            member.to_string()
        } else {
            path
        };
        let what = if n.is_nan() {
            "NaN"
        } else if n > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        return Err(Error::member(
            ErrorCode::NumberOutOfRange,
            at,
            format!(
                "is {what}, which JSON cannot represent (JSON.stringify would turn it into null)"
            ),
        ));
    }
    Err(Error::member(
        ErrorCode::InvalidType,
        member,
        format!("a {} is not JSON-serializable", type_name(v)),
    ))
}

/// The member path of the first NaN/Infinity under `v` (`""` when `v` is
/// one) and the number. Only runs after the strict serializer met one.
fn find_non_finite(v: &JsValue, depth: usize) -> Option<(String, f64)> {
    let join = |outer: String, (inner, n): (String, f64)| {
        let path = if inner.is_empty() {
            outer
        } else if inner.starts_with('[') {
            format!("{outer}{inner}")
        } else {
            format!("{outer}.{inner}")
        };
        (path, n)
    };
    match kind(v) {
        Kind::Number => {
            let n = v.as_f64()?;
            (!n.is_finite()).then(|| (String::new(), n))
        }
        _ if depth > 64 => None,
        Kind::Array => {
            let list = JsList::new(v, "value").ok()?;
            (0..list.len).find_map(|i| {
                let found = find_non_finite(&list.get(i).ok()?, depth + 1)?;
                Some(join(format!("[{i}]"), found))
            })
        }
        Kind::Object => {
            let keys = Reflect::own_keys(v).ok()?;
            keys.iter().find_map(|key| {
                let name = key.as_string()?;
                let child = Reflect::get(v, &key).ok()?;
                Some(join(name, find_non_finite(&child, depth + 1)?))
            })
        }
        _ => None,
    }
}

/// The message of whatever JS threw (read without letting it throw again).
pub fn describe_js_error(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    if kind(e) == Kind::Object {
        if let Some(m) = Reflect::get(e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
        {
            return m;
        }
    }
    "an exception was thrown".to_string()
}

/// A JS array argument, read through `Reflect` so that even a hostile
/// array-like proxy cannot throw across the module.
pub struct JsList<'a> {
    pub value: &'a JsValue,
    pub len: u32,
    member: String,
}

impl<'a> JsList<'a> {
    pub fn new(v: &'a JsValue, member: &str) -> Result<Self, Error> {
        if kind(v) != Kind::Array {
            return Err(Error::member(
                ErrorCode::InvalidType,
                member,
                format!("must be an array, got {}", type_name(v)),
            ));
        }
        let len = Reflect::get(v, &JsValue::from_str("length"))
            .ok()
            .and_then(|l| l.as_f64())
            .unwrap_or(-1.0);
        if !(0.0..=f64::from(MAX_ARRAY_LEN)).contains(&len) {
            return Err(Error::member(
                ErrorCode::TooLarge,
                member,
                format!("has a length of {len}, outside 0..={MAX_ARRAY_LEN}"),
            ));
        }
        Ok(JsList {
            value: v,
            len: len as u32,
            member: member.to_string(),
        })
    }

    pub fn get(&self, i: u32) -> Result<JsValue, Error> {
        Reflect::get_u32(self.value, i).map_err(|e| {
            Error::member(
                ErrorCode::InvalidType,
                format!("{}[{i}]", self.member),
                format!("cannot be read: {}", describe_js_error(&e)),
            )
        })
    }
}

/// Calls `f(index, json_bytes)` for every item of an array of JSON inputs,
/// in order, with exactly the bytes [`json_bytes`] would give for each item.
/// Items go through JS in chunks joined by NUL (one string crossing per
/// chunk instead of several calls per item); a chunk that cannot (bytes, a
/// NaN, a lone surrogate, a NUL in a text, ...) is converted item by item,
/// so errors are the same as for one item. An error comes with its index.
pub fn for_each_json(
    list: &JsList<'_>,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), Error>,
) -> Result<(), (Error, usize)> {
    const CHUNK: u32 = 1024;
    let n = list.len;
    let mut start = 0;
    while start < n {
        let end = n.min(start + CHUNK);
        // A chunk with a lone surrogate is refused here and redone item by
        // item, which names the item.
        let joined = join_json_texts(list.value, start, end)
            .ok()
            .filter(|v| kind(v) == Kind::String)
            .and_then(|v| js_string_bytes(v.unchecked_ref(), "logs").ok());
        let pieces = joined
            .as_ref()
            .map(|t| t.split(|b| *b == 0).collect::<Vec<_>>());
        match pieces {
            Some(pieces) if pieces.len() == (end - start) as usize => {
                for (k, piece) in pieces.iter().enumerate() {
                    let i = start as usize + k;
                    f(i, piece).map_err(|e| (e, i))?;
                }
            }
            _ => {
                for i in start..end {
                    let at = i as usize;
                    let bytes = list
                        .get(i)
                        .and_then(|item| json_bytes(&item, "log"))
                        .map_err(|e| (e, at))?;
                    f(at, &bytes).map_err(|e| (e, at))?;
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// A hex hash argument: exactly 64 lowercase hex characters.
pub fn hash_arg(v: &JsValue, member: &str) -> Result<Hash, Error> {
    match v.as_string() {
        Some(s) => Hash::from_hex(&s, member),
        None => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a hex string, got {}", type_name(v)),
        )),
    }
}

/// An array of hex hashes. The array is serialized once and parsed by the
/// core's JSON parser, which is much faster than one boundary crossing per item.
pub fn hash_list_arg(v: &JsValue, member: &str) -> Result<Vec<Hash>, Error> {
    JsList::new(v, member)?;
    let text = JSON::stringify(v).map_err(|e| {
        Error::member(
            ErrorCode::InvalidJson,
            member,
            format!("cannot be serialized as JSON: {}", describe_js_error(&e)),
        )
    })?;
    let bytes = js_string_bytes(&text, member)?;
    let parsed = kwh_btc_iot_core::json::parse_with_depth(&bytes, 1).map_err(|e| Error {
        // Only a nested array or object (too_deep) can fail here.
        code: e.code,
        member: Some(member.to_string()),
        message: format!(
            "{member}: must be a flat array of hex strings ({})",
            e.message
        ),
    })?;
    let Value::Array(items) = parsed else {
        return Err(Error::member(
            ErrorCode::InvalidType,
            member,
            "must be an array",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Hash::from_hex(s, &format!("{member}[{i}]")),
            other => Err(Error::member(
                ErrorCode::InvalidType,
                format!("{member}[{i}]"),
                format!("must be a hex string, got {}", other.type_name()),
            )),
        })
        .collect()
}

/// A non-negative integer argument (a number or a BigInt) up to 2^53-1.
pub fn u64_arg(v: &JsValue, member: &str) -> Result<u64, Error> {
    const MAX_SAFE: u64 = 9_007_199_254_740_991;
    match kind(v) {
        Kind::Number => {
            let n = v.as_f64().unwrap_or(f64::NAN);
            if n.fract() == 0.0 && (0.0..=MAX_SAFE as f64).contains(&n) {
                return Ok(n as u64);
            }
            Err(Error::member(
                ErrorCode::OutOfRange,
                member,
                format!("must be an integer within 0..2^53-1, got {n}"),
            ))
        }
        Kind::BigInt => match u64::try_from(v.clone()) {
            Ok(n) if n <= MAX_SAFE => Ok(n),
            _ => Err(Error::member(
                ErrorCode::OutOfRange,
                member,
                "must be an integer within 0..2^53-1",
            )),
        },
        _ => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a number, got {}", type_name(v)),
        )),
    }
}

/// An options object, or `None` for `undefined`/`null`. Members it does not
/// know are refused: a typo such as `signingkey` must not silently produce
/// an unsigned batch.
pub struct Options(Option<JsValue>);

impl Options {
    pub fn new(v: &JsValue, member: &str, allowed: &[&str]) -> Result<Options, Error> {
        match kind(v) {
            Kind::Undefined | Kind::Null => return Ok(Options(None)),
            Kind::Object => {}
            _ => {
                return Err(Error::member(
                    ErrorCode::InvalidType,
                    member,
                    format!("must be an object, got {}", type_name(v)),
                ))
            }
        }
        let keys = Reflect::own_keys(v).map_err(|e| {
            Error::member(
                ErrorCode::InvalidType,
                member,
                format!("cannot be read: {}", describe_js_error(&e)),
            )
        })?;
        for key in keys.iter() {
            let Some(name) = key.as_string() else {
                continue;
            };
            if !allowed.contains(&name.as_str()) {
                return Err(Error::member(
                    ErrorCode::UnknownMember,
                    format!("{member}.{name}"),
                    format!("is not an option here (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(Options(Some(v.clone())))
    }

    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// `opts[name]`, with `undefined` and `null` as `None`.
    pub fn get(&self, name: &str) -> Result<Option<JsValue>, Error> {
        let Some(o) = &self.0 else { return Ok(None) };
        let v = Reflect::get(o, &JsValue::from_str(name)).map_err(|e| {
            Error::member(
                ErrorCode::InvalidType,
                name,
                format!("cannot be read: {}", describe_js_error(&e)),
            )
        })?;
        Ok((!v.is_undefined() && !v.is_null()).then_some(v))
    }
}

/// 32 key bytes from 64 hex characters or a 32-byte `Uint8Array`.
pub fn key_bytes_arg(v: &JsValue, member: &str) -> Result<[u8; 32], Error> {
    match kind(v) {
        Kind::String => {
            let s = v.as_string().unwrap_or_default();
            let h = Hash::from_hex(s.trim(), member).map_err(|_| {
                Error::member(
                    ErrorCode::InvalidKey,
                    member,
                    "must be 64 lowercase hex characters (32 bytes)",
                )
            })?;
            Ok(h.0)
        }
        Kind::Bytes => {
            let bytes = plain_bytes(v, member)?;
            if bytes.length() != 32 {
                return Err(Error::member(
                    ErrorCode::InvalidKey,
                    member,
                    format!("must be 32 bytes, got a Uint8Array of {}", bytes.length()),
                ));
            }
            let mut out = [0u8; 32];
            bytes.copy_to(&mut out);
            Ok(out)
        }
        _ => Err(Error::member(
            ErrorCode::InvalidType,
            member,
            format!("must be a hex string or a Uint8Array, got {}", type_name(v)),
        )),
    }
}

/// The ISO string of a real `Date` (`None` for an invalid one).
pub fn date_iso(v: &JsValue) -> Option<String> {
    date_iso_js(v).ok().filter(|s| !s.is_empty())
}

/// A core JSON value as a JS value (through canonical JSON text and
/// `JSON.parse`: numbers round-trip exactly, one boundary crossing).
pub fn to_js(v: &Value<'_>) -> Result<JsValue, JsValue> {
    JSON::parse(&jcs::to_string(v))
}

/// Hex hashes as a JS array of strings.
pub fn hashes_to_js(hashes: &[Hash]) -> Result<JsValue, JsValue> {
    let mut text = String::with_capacity(2 + hashes.len() * 67);
    text.push('[');
    for (i, h) in hashes.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push('"');
        text.push_str(&h.to_hex());
        text.push('"');
    }
    text.push(']');
    JSON::parse(&text)
}

/// An object member name for [`Value::Object`].
pub fn key(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}
