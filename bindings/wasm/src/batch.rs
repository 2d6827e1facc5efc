//! Batches and receipts: `buildBatch` (head, signature, one receipt per log)
//! and `verifyReceipt` (a structured result, never an exception for a bad
//! receipt).

use kwh_btc_iot_core::build::BatchParams;
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::json::Value;
use kwh_btc_iot_core::model::head::{public_key_from_hex, Keypair};
use kwh_btc_iot_core::time::Timestamp;
use kwh_btc_iot_core::verify::{
    verify_receipt as core_verify_receipt, Verification, VerifyOptions,
};
use kwh_btc_iot_core::{self as core, Error, ErrorCode};
use wasm_bindgen::prelude::*;

use crate::convert::{
    date_iso, for_each_json, hash_arg, js_error, js_error_at, json_bytes, key, key_bytes_arg, kind,
    to_js, type_name, u64_arg, JsList, Kind, Options,
};
use crate::log::{at_index, warning_value};
use kwh_btc_iot_core::verify::anchor::AnchorOptions;

const BUILD_OPTIONS: [&str; 6] = [
    "gatewayId",
    "batchId",
    "seq",
    "prevHeadHash",
    "createdAt",
    "signingKey",
];
const VERIFY_OPTIONS: [&str; 3] = ["gatewayKey", "network", "headers"];

/// Builds a batch over logs: the RFC 9162 tree over their leaf hashes (in the
/// order given), the `embatch-1` head, its hash, its Ed25519 signature when
/// `signingKey` is given, and one `emreceipt-1` receipt per log.
///
/// Options: `gatewayId`, `batchId` (1..128 characters), `seq` (1, 2, ...),
/// `prevHeadHash` (the previous head's hash, exactly when `seq > 1`),
/// `createdAt` (RFC 3339 string or `Date`; defaults to now), `signingKey`
/// (the 32-byte Ed25519 seed as 64 hex characters or a `Uint8Array`; omit
/// for an unsigned batch). Unknown options are refused. The first invalid
/// log stops the build; the error's `.index` and `.member` (`[i]....`) say
/// which.
#[wasm_bindgen(js_name = buildBatch, unchecked_return_type = "BuiltBatch")]
pub fn build_batch(
    #[wasm_bindgen(unchecked_param_type = "Array<LogInput | string | Uint8Array>")] logs: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BuildBatchOptions")] opts: JsValue,
) -> Result<JsValue, JsValue> {
    let list = JsList::new(&logs, "logs").map_err(js_error)?;
    let opts = Options::new(&opts, "opts", &BUILD_OPTIONS).map_err(js_error)?;
    let params = batch_params(&opts).map_err(js_error)?;
    let key_pair = match opts.get("signingKey").map_err(js_error)? {
        Some(v) => Some(Keypair::from_seed(
            &key_bytes_arg(&v, "signing_key").map_err(js_error)?,
        )),
        None => None,
    };
    let mut texts = Vec::with_capacity(list.len as usize);
    for_each_json(&list, |_, bytes| {
        texts.push(bytes.to_vec());
        Ok(())
    })
    .map_err(|(e, i)| js_error_at(at_index(e, i), i))?;
    let refs: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
    let built = core::build_batch(&refs, params, key_pair.as_ref()).map_err(|e| {
        // The core names the failing log in the member as "[i]..."; expose
        // the index as a number too.
        let index = e.member.as_deref().and_then(member_index);
        match index {
            Some(i) => js_error_at(e, i),
            None => js_error(e),
        }
    })?;
    let batch = &built.batch;
    to_js(&Value::Object(vec![
        (key("head"), batch.head.to_value()),
        (key("headHash"), Value::str(batch.head_hash.to_hex())),
        (
            key("signature"),
            batch
                .signature
                .as_ref()
                .map_or(Value::Null, |s| s.to_value()),
        ),
        (
            key("receipts"),
            Value::Array(built.receipts.iter().map(|r| r.to_value()).collect()),
        ),
        (
            key("warnings"),
            Value::Array(
                built
                    .warnings
                    .iter()
                    .map(|(i, w)| warning_value(w, Some(*i)))
                    .collect(),
            ),
        ),
    ]))
}

/// `"[12].tx.channel"` -> 12.
fn member_index(member: &str) -> Option<usize> {
    member.strip_prefix('[')?.split(']').next()?.parse().ok()
}

fn batch_params(opts: &Options) -> Result<BatchParams, Error> {
    if opts.is_none() {
        return Err(Error::member(
            ErrorCode::MissingMember,
            "opts",
            "is required: { gatewayId, batchId, seq, prevHeadHash?, createdAt?, signingKey? }",
        ));
    }
    let text = |name: &str, member: &str| -> Result<String, Error> {
        match opts.get(name)? {
            None => Err(Error::member(
                ErrorCode::MissingMember,
                member,
                format!("is required (option {name})"),
            )),
            Some(v) => v.as_string().ok_or_else(|| {
                Error::member(
                    ErrorCode::InvalidType,
                    member,
                    format!("must be a string (option {name}), got {}", type_name(&v)),
                )
            }),
        }
    };
    let gateway_id = text("gatewayId", "gateway_id")?;
    let batch_id = text("batchId", "batch_id")?;
    let seq = match opts.get("seq")? {
        None => {
            return Err(Error::member(
                ErrorCode::MissingMember,
                "seq",
                "is required (option seq: 1, 2, 3, ...)",
            ))
        }
        Some(v) => u64_arg(&v, "seq")?,
    };
    let prev_head_hash = match opts.get("prevHeadHash")? {
        None => None,
        Some(v) => Some(hash_arg(&v, "prev_head_hash")?),
    };
    let created_at = match opts.get("createdAt")? {
        None => now()?,
        Some(v) => match kind(&v) {
            Kind::Date => {
                let iso = date_iso(&v).ok_or_else(|| {
                    Error::member(
                        ErrorCode::InvalidTimestamp,
                        "created_at",
                        "is an invalid Date",
                    )
                })?;
                parse_timestamp(&iso)?
            }
            Kind::String => parse_timestamp(&v.as_string().unwrap_or_default())?,
            _ => {
                return Err(Error::member(
                    ErrorCode::InvalidType,
                    "created_at",
                    format!(
                        "must be an RFC 3339 string or a Date (option createdAt), got {}",
                        type_name(&v)
                    ),
                ))
            }
        },
    };
    Ok(BatchParams {
        gateway_id,
        batch_id,
        seq,
        prev_head_hash,
        created_at,
    })
}

fn parse_timestamp(s: &str) -> Result<Timestamp, Error> {
    Timestamp::parse(s).map_err(|why| {
        Error::member(
            ErrorCode::InvalidTimestamp,
            "created_at",
            format!("\"{s}\" {why}"),
        )
    })
}

/// The current time, from the JS clock (the core has none).
fn now() -> Result<Timestamp, Error> {
    let ms = js_sys::Date::now();
    let secs = (ms / 1000.0).floor();
    let nanos = ((ms - secs * 1000.0) * 1_000_000.0) as u32;
    if !(0.0..=253_402_300_799.0).contains(&secs) {
        return Err(Error::member(
            ErrorCode::InvalidTimestamp,
            "created_at",
            "the clock is outside years 1970..9999",
        ));
    }
    Ok(Timestamp::from_unix(secs as i64, nanos))
}

/// Verifies an `emreceipt-1` receipt offline: recomputes the leaf hash from
/// the log, folds the inclusion path to the head's Merkle root, checks the
/// head's Ed25519 signature (by `gatewayKey` when given), reports anchors.
///
/// Never throws for a bad receipt: malformed or forged input is a result
/// with `valid: false` and `errors` naming the code, member and rule. Throws
/// only for a bad option (e.g. a `gatewayKey` that is not an Ed25519 key).
#[wasm_bindgen(js_name = verifyReceipt, unchecked_return_type = "Verification")]
pub fn verify_receipt(
    #[wasm_bindgen(unchecked_param_type = "Receipt | string | Uint8Array")] receipt: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "VerifyOptions")] opts: JsValue,
) -> Result<JsValue, JsValue> {
    let opts = Options::new(&opts, "opts", &VERIFY_OPTIONS).map_err(js_error)?;
    let gateway_key = match opts.get("gatewayKey").map_err(js_error)? {
        None => None,
        Some(v) => {
            let bytes = key_bytes_arg(&v, "gateway_key").map_err(js_error)?;
            Some(public_key_from_hex(&to_hex(&bytes), "gateway_key").map_err(js_error)?)
        }
    };
    let network = opts
        .get("network")
        .map_err(js_error)?
        .map(|v| v.as_string().unwrap_or_else(|| type_name(&v).into()));
    let mut anchor = AnchorOptions::from_parts(network.as_deref(), []).map_err(js_error)?;
    if let Some(h) = opts.get("headers").map_err(js_error)? {
        read_headers(&h, &mut anchor).map_err(js_error)?;
    }
    let opts = VerifyOptions {
        gateway_key,
        anchor,
    };
    let v = match json_bytes(&receipt, "receipt") {
        Ok(bytes) => core_verify_receipt(&bytes, &opts),
        Err(e) => Verification::unreadable(e),
    };
    js_sys::JSON::parse(&v.to_json())
}

/// Trusted headers `{height: header hex}`, read as JSON and checked by the
/// core (`AnchorOptions::trust_header`). Errors name `headers` or
/// `headers.<key>`.
fn read_headers(h: &JsValue, anchor: &mut AnchorOptions) -> Result<(), Error> {
    let shape = |m: String| {
        Error::member(
            ErrorCode::InvalidValue,
            m,
            "must be {\"<height>\": \"<80-byte header, 160 hex>\"}",
        )
    };
    if kind(h) != Kind::Object {
        return Err(shape("headers".into()));
    }
    let text = json_bytes(h, "headers")?;
    let Value::Object(members) = kwh_btc_iot_core::json::parse(&text)? else {
        return Err(shape("headers".into()));
    };
    for (k, v) in &members {
        let Value::String(x) = v else {
            return Err(shape(format!("headers.{k}")));
        };
        anchor.trust_header(k, x)?;
    }
    Ok(())
}
