//! Energy logs: normalize, canonical bytes, leaf hashes, and RFC 8785 for
//! any JSON.

use kwh_btc_iot_core::json::Value;
use kwh_btc_iot_core::{self as core, model::emlog, Error, Warning};
use wasm_bindgen::prelude::*;

use crate::convert::{
    for_each_json, hashes_to_js, js_error, js_error_at, json_bytes, key, to_js, JsList,
};

/// Validates and normalizes an `emlog-1.1` log: every member present,
/// derived and defaulted ones filled in, timestamps in UTC. Plausibility
/// findings that do not reject the log (e.g. `power_mismatch`) are returned
/// as `warnings`.
///
/// `log` is a log object, its JSON text, or UTF-8 JSON bytes. Throws an
/// `Error` with `.code` (e.g. `"unknown_member"`) and `.member`
/// (e.g. `"tx.amount_sats"`) when the log is not valid.
#[wasm_bindgen(unchecked_return_type = "Normalized")]
pub fn normalize(
    #[wasm_bindgen(unchecked_param_type = "LogInput | string | Uint8Array")] log: JsValue,
) -> Result<JsValue, JsValue> {
    let bytes = json_bytes(&log, "log").map_err(js_error)?;
    let n = core::normalize(&bytes).map_err(js_error)?;
    to_js(&Value::Object(vec![
        (key("log"), n.log.to_value()),
        (key("warnings"), warnings_value(&n.warnings)),
    ]))
}

/// The canonical bytes of a log: RFC 8785 (JCS) of the normalized log, the
/// bytes its leaf hash is computed over.
#[wasm_bindgen(unchecked_return_type = "Uint8Array")]
pub fn canonicalize(
    #[wasm_bindgen(unchecked_param_type = "LogInput | string | Uint8Array")] log: JsValue,
) -> Result<JsValue, JsValue> {
    let bytes = json_bytes(&log, "log").map_err(js_error)?;
    let canonical = core::canonicalize(&bytes).map_err(js_error)?;
    Ok(js_sys::Uint8Array::from(canonical.as_slice()).into())
}

/// RFC 8785 canonical JSON text of any I-JSON value. A string argument is
/// JSON text (to canonicalize the JSON string `"abc"`, pass `'"abc"'`).
/// Duplicate members, lone surrogates and numbers outside the IEEE-754
/// double range are refused.
#[wasm_bindgen(js_name = canonicalizeJson)]
pub fn canonicalize_json(
    #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
) -> Result<String, JsValue> {
    let bytes = json_bytes(&value, "value").map_err(js_error)?;
    let canonical = core::canonicalize_json(&bytes).map_err(js_error)?;
    String::from_utf8(canonical).map_err(|_| {
        js_error(Error::new(
            core::ErrorCode::InvalidUtf8,
            "canonical output is not UTF-8 (a bug in the core)",
        ))
    })
}

/// The leaf hash of a log: SHA-256(0x00 || canonical bytes), 64 lowercase
/// hex characters.
#[wasm_bindgen(js_name = leafHash)]
pub fn leaf_hash(
    #[wasm_bindgen(unchecked_param_type = "LogInput | string | Uint8Array")] log: JsValue,
) -> Result<String, JsValue> {
    let bytes = json_bytes(&log, "log").map_err(js_error)?;
    Ok(core::leaf_hash(&bytes).map_err(js_error)?.to_hex())
}

/// The leaf hashes of many logs, in order (the bulk path: one call, one
/// reused buffer). The first invalid log stops the call; the thrown error's
/// `.index` is its position and `.member` starts with `[index]`.
#[wasm_bindgen(js_name = hashLogs, unchecked_return_type = "string[]")]
pub fn hash_logs(
    #[wasm_bindgen(unchecked_param_type = "Array<LogInput | string | Uint8Array>")] logs: JsValue,
) -> Result<JsValue, JsValue> {
    let list = JsList::new(&logs, "logs").map_err(js_error)?;
    let mut canonical = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(list.len as usize);
    for_each_json(&list, |_, bytes| {
        out.push(emlog::leaf_hash_of_json_with(bytes, &mut canonical)?);
        Ok(())
    })
    .map_err(|(e, i)| js_error_at(at_index(e, i), i))?;
    hashes_to_js(&out)
}

/// Names the array position in an error about one log of many, as the
/// core's `build_batch` does: `log 3: ...`, member `[3].tx.channel`.
pub(crate) fn at_index(e: Error, i: usize) -> Error {
    let member = match e.member.as_deref() {
        None | Some("log") => format!("[{i}]"),
        Some(m) => format!("[{i}].{m}"),
    };
    Error {
        code: e.code,
        member: Some(member),
        message: format!("log {i}: {}", e.message),
    }
}

pub(crate) fn warnings_value(warnings: &[Warning]) -> Value<'static> {
    Value::Array(warnings.iter().map(|w| warning_value(w, None)).collect())
}

pub(crate) fn warning_value(w: &Warning, index: Option<usize>) -> Value<'static> {
    let mut members = vec![
        (key("code"), Value::str(w.code)),
        (key("member"), Value::str(&w.member)),
        (key("message"), Value::str(&w.message)),
    ];
    if let Some(i) = index {
        members.push((key("index"), Value::Number(i as f64)));
    }
    Value::Object(members)
}
