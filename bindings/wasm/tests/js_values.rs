//! What JS can pass that JSON text cannot: NaN, undefined, BigInt, symbols,
//! cycles, lone surrogates in JS strings, Dates, typed arrays. Every
//! function either returns or throws an `Error` with a shared code; none
//! panics (a panic would be an `unreachable` trap in JS and abort this test).
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::{Array, BigInt, Date, JsString, Object, Reflect, Symbol, Uint8Array};
use kwh_btc_iot_wasm as kwh;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

const FOUNDING: &str = include_str!("../../../tests/vectors/founding_example.json");
const LEAF: &str = "fcfaf9b5e51b3c919213338d87566a3d7230ce7903f00ff4e41d8a93835aff21";
const SEED: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn set(o: &JsValue, path: &[&str], v: JsValue) {
    let mut target = o.clone();
    for k in &path[..path.len() - 1] {
        target = get(&target, k);
    }
    Reflect::set(&target, &JsValue::from_str(path[path.len() - 1]), &v).unwrap();
}

fn founding() -> JsValue {
    parse(FOUNDING)
}

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn lone_surrogate_text() -> JsValue {
    // A JS string with a raw (unescaped) lone surrogate inside a JSON string.
    let s = JsString::from("{\"a\":\"x")
        .concat(&JsString::from_char_code1(0xD800))
        .concat(&"\"}".into());
    s.into()
}

/// Values a careless or hostile caller may pass anywhere.
fn weird_values() -> Vec<(&'static str, JsValue)> {
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    let mut deep = Array::new();
    for _ in 0..5000 {
        let outer = Array::new();
        outer.push(&deep);
        deep = outer;
    }
    let throwing_to_json = parse("{}");
    set(
        &throwing_to_json,
        &["toJSON"],
        js_sys::Function::new_no_args("throw new Error('nope')").into(),
    );
    vec![
        ("undefined", JsValue::UNDEFINED),
        ("null", JsValue::NULL),
        ("true", JsValue::TRUE),
        ("42", JsValue::from_f64(42.0)),
        ("NaN", JsValue::from_f64(f64::NAN)),
        ("-Infinity", JsValue::from_f64(f64::NEG_INFINITY)),
        ("bigint", BigInt::from(7u64).into()),
        ("symbol", Symbol::for_("s").into()),
        ("function", js_sys::Function::new_no_args("return 1").into()),
        ("empty string", JsValue::from_str("")),
        ("not json", JsValue::from_str("{")),
        ("lone surrogate", lone_surrogate_text()),
        ("empty array", Array::new().into()),
        ("deep array", deep.into()),
        ("cyclic", cyclic.into()),
        ("throwing toJSON", throwing_to_json),
        (
            "invalid utf-8 bytes",
            Uint8Array::from(&[0xffu8, 0xfe, 0x7b][..]).into(),
        ),
        ("date", Date::new_0().into()),
        ("array of NaN", js_array(&[JsValue::from_f64(f64::NAN)])),
        ("hash", JsValue::from_str(LEAF)),
        ("array of hashes", js_array(&[JsValue::from_str(LEAF)])),
    ]
}

fn ok_or_coded<T>(what: &str, r: Result<T, JsValue>) {
    if let Err(e) = r {
        let c = code(&e);
        assert!(!c.is_empty(), "{what}: empty code");
    }
}

#[wasm_bindgen_test]
fn every_function_returns_or_throws_a_coded_error_for_every_weird_value() {
    for (name, v) in weird_values() {
        ok_or_coded(name, kwh::normalize(v.clone()));
        ok_or_coded(name, kwh::canonicalize(v.clone()));
        ok_or_coded(name, kwh::canonicalize_json(v.clone()));
        ok_or_coded(name, kwh::leaf_hash(v.clone()));
        ok_or_coded(name, kwh::hash_logs(v.clone()));
        ok_or_coded(name, kwh::hash_logs(js_array(std::slice::from_ref(&v))));
        ok_or_coded(name, kwh::merkle_root(v.clone()));
        ok_or_coded(
            name,
            kwh::inclusion_proof(v.clone(), JsValue::from_f64(0.0)),
        );
        ok_or_coded(
            name,
            kwh::inclusion_proof(js_array(&[JsValue::from_str(LEAF)]), v.clone()),
        );
        let h = || JsValue::from_str(LEAF);
        let one = || JsValue::from_f64(1.0);
        let zero = || JsValue::from_f64(0.0);
        let empty = || js_array::<JsValue>(&[]);
        ok_or_coded(
            name,
            kwh::verify_inclusion(v.clone(), zero(), one(), empty(), h()),
        );
        ok_or_coded(
            name,
            kwh::verify_inclusion(h(), v.clone(), one(), empty(), h()),
        );
        ok_or_coded(
            name,
            kwh::verify_inclusion(h(), zero(), v.clone(), empty(), h()),
        );
        ok_or_coded(
            name,
            kwh::verify_inclusion(h(), zero(), one(), v.clone(), h()),
        );
        ok_or_coded(
            name,
            kwh::verify_inclusion(h(), zero(), one(), empty(), v.clone()),
        );
        ok_or_coded(
            name,
            kwh::verify_consistency(v.clone(), one(), h(), h(), empty()),
        );
        ok_or_coded(
            name,
            kwh::verify_consistency(one(), one(), h(), v.clone(), empty()),
        );
        ok_or_coded(
            name,
            kwh::verify_consistency(one(), one(), h(), h(), v.clone()),
        );
        ok_or_coded(
            name,
            kwh::build_batch(
                v.clone(),
                opts(&[
                    ("gatewayId", "g".into()),
                    ("batchId", "b".into()),
                    ("seq", one()),
                ]),
            ),
        );
        ok_or_coded(name, kwh::build_batch(js_array(&[founding()]), v.clone()));
        for opt in [
            "gatewayId",
            "batchId",
            "seq",
            "prevHeadHash",
            "createdAt",
            "signingKey",
        ] {
            let o = opts(&[
                ("gatewayId", "g".into()),
                ("batchId", "b".into()),
                ("seq", one()),
            ]);
            set(&o, &[opt], v.clone());
            ok_or_coded(name, kwh::build_batch(js_array(&[founding()]), o));
        }
        // A bad receipt is never an exception: it is an invalid result with a reason.
        let result = kwh::verify_receipt(v.clone(), JsValue::UNDEFINED)
            .expect("verifyReceipt must not throw for a bad receipt");
        assert_eq!(get(&result, "valid"), JsValue::FALSE, "{name}");
        let errors = items(&result, "errors");
        assert!(
            !errors.is_empty() && !text(&errors[0], "code").is_empty(),
            "{name}"
        );
        ok_or_coded(
            name,
            kwh::verify_receipt(JsValue::from_str("{}"), opts(&[("gatewayKey", v.clone())])),
        );
    }
}

#[wasm_bindgen_test]
fn nan_and_infinity_are_refused_with_their_member_not_turned_into_null() {
    let log = founding();
    set(&log, &["tx", "ln_invoice_id"], JsValue::from_f64(f64::NAN));
    let e = kwh::leaf_hash(log).unwrap_err();
    assert_eq!(
        (code(&e), member(&e)),
        (
            "number_out_of_range".into(),
            Some("tx.ln_invoice_id".into())
        )
    );

    let log = founding();
    set(&log, &["energy_kwh"], JsValue::from_f64(f64::INFINITY));
    let e = kwh::hash_logs(js_array(&[founding(), log])).unwrap_err();
    assert_eq!(
        (code(&e), member(&e)),
        ("number_out_of_range".into(), Some("[1].energy_kwh".into()))
    );
    assert_eq!(num(&e, "index"), 1.0);

    let e = kwh::canonicalize_json(
        parse(r#"{"a":[0,{"b":1}]}"#)
            .tap(|v| set(&get(&get(v, "a"), "1"), &["b"], JsValue::from_f64(f64::NAN))),
    )
    .unwrap_err();
    assert_eq!(
        (code(&e), member(&e)),
        ("number_out_of_range".into(), Some("a[1].b".into()))
    );

    let r = parse(
        &kwh::build_batch(
            js_array(&[founding()]),
            opts(&[
                ("gatewayId", "g".into()),
                ("batchId", "b".into()),
                ("seq", JsValue::from_f64(1.0)),
            ]),
        )
        .map(|b| stringify(&items(&b, "receipts")[0]))
        .unwrap(),
    );
    set(&r, &["leaf_index"], JsValue::from_f64(f64::NAN));
    let v = kwh::verify_receipt(r, JsValue::UNDEFINED).unwrap();
    let errors = items(&v, "errors");
    assert_eq!(text(&errors[0], "code"), "number_out_of_range");
    assert_eq!(text(&errors[0], "member"), "leaf_index");
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl Tap for JsValue {}

#[wasm_bindgen_test]
fn lone_surrogates_in_js_strings_are_refused_but_a_real_replacement_character_is_text() {
    let e = kwh::canonicalize_json(lone_surrogate_text()).unwrap_err();
    assert_eq!(code(&e), "lone_surrogate");
    assert_eq!(
        kwh::canonicalize_json(JsValue::from_str("[\"\u{FFFD}\"]")).unwrap(),
        "[\"\u{FFFD}\"]"
    );
    // In an object the surrogate reaches the core escaped, which names the member.
    let log = founding();
    set(
        &log,
        &["meter_id"],
        JsString::from("M")
            .concat(&JsString::from_char_code1(0xDC00))
            .into(),
    );
    let e = kwh::leaf_hash(log.clone()).unwrap_err();
    assert_eq!(
        (code(&e), member(&e)),
        ("lone_surrogate".into(), Some("meter_id".into()))
    );
    // The bulk path falls back to the careful one and reports the same.
    let e =
        kwh::hash_logs(js_array(&[founding(), JsValue::from_str(&stringify(&log))])).unwrap_err();
    assert_eq!(code(&e), "lone_surrogate");
}

#[wasm_bindgen_test]
fn undefined_members_are_absent_and_dates_become_their_iso_string() {
    let log = founding();
    set(&log, &["tx", "ln_invoice_id"], JsValue::UNDEFINED);
    assert_eq!(kwh::leaf_hash(log).unwrap(), LEAF);
    let log = founding();
    set(
        &log,
        &["ts_start"],
        Date::new(&JsValue::from_str("2025-12-01T10:10:00Z")).into(),
    );
    assert_eq!(kwh::leaf_hash(log).unwrap(), LEAF);
}

#[wasm_bindgen_test]
fn bulk_and_single_paths_agree_for_every_input_form() {
    let text = JsValue::from_str(FOUNDING);
    let bytes: JsValue = Uint8Array::from(FOUNDING.as_bytes()).into();
    // A NUL inside a text and a Uint8Array both force the one-by-one path.
    let with_nul = JsValue::from_str("{\u{0}}");
    let all = kwh::hash_logs(js_array(&[
        text.clone(),
        founding(),
        bytes.clone(),
        text.clone(),
    ]))
    .unwrap();
    assert_eq!(
        stringify(&all),
        format!("[\"{LEAF}\",\"{LEAF}\",\"{LEAF}\",\"{LEAF}\"]")
    );
    let e = kwh::hash_logs(js_array(&[text.clone(), with_nul])).unwrap_err();
    assert_eq!(
        (code(&e), member(&e)),
        ("invalid_json".into(), Some("[1]".into()))
    );
    // More logs than one chunk.
    let many: Vec<JsValue> = (0..2500)
        .map(|i| if i % 2 == 0 { text.clone() } else { founding() })
        .collect();
    let hashes = kwh::hash_logs(js_array(&many))
        .unwrap()
        .dyn_into::<Array>()
        .unwrap();
    assert_eq!(hashes.length(), 2500);
    assert!(hashes
        .iter()
        .all(|h| h.as_string().as_deref() == Some(LEAF)));
    let mut bad = many.clone();
    bad[2100] = JsValue::from_str("[]");
    let e = kwh::hash_logs(js_array(&bad)).unwrap_err();
    assert_eq!(
        (code(&e), num(&e, "index")),
        ("invalid_type".into(), 2100.0)
    );
}

#[wasm_bindgen_test]
fn integer_arguments_must_be_safe_non_negative_integers() {
    let leaves = js_array(&[JsValue::from_str(LEAF), JsValue::from_str(LEAF)]);
    for bad in [-1.0, 0.5, 9_007_199_254_740_992.0, f64::NAN] {
        let e = kwh::inclusion_proof(leaves.clone(), JsValue::from_f64(bad)).unwrap_err();
        assert_eq!(
            (code(&e), member(&e)),
            ("out_of_range".into(), Some("index".into())),
            "{bad}"
        );
    }
    let e = kwh::inclusion_proof(leaves.clone(), JsValue::from_f64(2.0)).unwrap_err();
    assert_eq!(code(&e), "index_out_of_range");
    let via_bigint = kwh::inclusion_proof(leaves.clone(), BigInt::from(1u64).into()).unwrap();
    assert_eq!(
        stringify(&via_bigint),
        stringify(&kwh::inclusion_proof(leaves, JsValue::from_f64(1.0)).unwrap())
    );
}

#[wasm_bindgen_test]
fn build_batch_options_are_checked() {
    let logs = || js_array(&[founding()]);
    let base = || {
        opts(&[
            ("gatewayId", "gw".into()),
            ("batchId", "b-1".into()),
            ("seq", JsValue::from_f64(1.0)),
        ])
    };
    let err = |o: JsValue| {
        let e = kwh::build_batch(logs(), o).unwrap_err();
        (code(&e), member(&e))
    };
    // A typo must not silently give an unsigned batch.
    let o = base();
    set(&o, &["signingkey"], JsValue::from_str(SEED));
    assert_eq!(
        err(o),
        ("unknown_member".into(), Some("opts.signingkey".into()))
    );
    assert_eq!(
        err(JsValue::UNDEFINED),
        ("missing_member".into(), Some("opts".into()))
    );
    assert_eq!(
        err(opts(&[
            ("batchId", "b".into()),
            ("seq", JsValue::from_f64(1.0))
        ])),
        ("missing_member".into(), Some("gateway_id".into()))
    );
    let o = base();
    set(&o, &["seq"], JsValue::from_f64(2.0));
    assert_eq!(
        err(o),
        ("invalid_value".into(), Some("prev_head_hash".into()))
    );
    let o = base();
    set(
        &o,
        &["createdAt"],
        Date::new(&JsValue::from_str("not a date")).into(),
    );
    assert_eq!(
        err(o),
        ("invalid_timestamp".into(), Some("created_at".into()))
    );
    let o = base();
    set(&o, &["createdAt"], JsValue::from_str("2025-12-01 10:20:00"));
    assert_eq!(err(o).0, "invalid_timestamp");
    let o = base();
    set(&o, &["signingKey"], Uint8Array::new_with_length(31).into());
    assert_eq!(err(o), ("invalid_key".into(), Some("signing_key".into())));
    // Valid options: the key as hex or as bytes signs the same; a Date is
    // normalized; createdAt defaults to the current time.
    let with_key = |k: JsValue| {
        let o = base();
        set(&o, &["signingKey"], k);
        set(
            &o,
            &["createdAt"],
            Date::new(&JsValue::from_str("2025-12-01T11:20:00+01:00")).into(),
        );
        kwh::build_batch(logs(), o).unwrap()
    };
    let a = with_key(JsValue::from_str(SEED));
    let b = with_key(Uint8Array::from(&[7u8; 32][..]).into());
    assert_eq!(stringify(&a), stringify(&b));
    assert_eq!(text(&get(&a, "head"), "created_at"), "2025-12-01T10:20:00Z");
    let unsigned = kwh::build_batch(logs(), base()).unwrap();
    assert!(get(&unsigned, "signature").is_null());
    assert!(text(&get(&unsigned, "head"), "created_at").ends_with('Z'));
    let warnings = items(&unsigned, "warnings");
    assert_eq!(
        (text(&warnings[0], "code"), num(&warnings[0], "index")),
        ("power_mismatch".into(), 0.0)
    );
    let e = kwh::build_batch(js_array::<JsValue>(&[]), base()).unwrap_err();
    assert_eq!(code(&e), "empty_batch");
}

#[wasm_bindgen_test]
fn verify_receipt_checks_the_trusted_key_option() {
    let o = opts(&[
        ("gatewayId", "gw".into()),
        ("batchId", "b-1".into()),
        ("seq", JsValue::from_f64(1.0)),
        ("signingKey", JsValue::from_str(SEED)),
    ]);
    let built = kwh::build_batch(js_array(&[founding(), founding()]), o).unwrap();
    let receipt = items(&built, "receipts")[1].clone();
    let public_key = text(&get(&built, "signature"), "public_key");
    let v = kwh::verify_receipt(
        receipt.clone(),
        opts(&[("gatewayKey", JsValue::from_str(&public_key))]),
    )
    .unwrap();
    assert_eq!(
        (get(&v, "valid"), text(&v, "signature")),
        (JsValue::TRUE, "valid".into())
    );
    // Another valid key: untrusted.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let v = kwh::verify_receipt(
        receipt.clone(),
        opts(&[("gatewayKey", JsValue::from_str(other))]),
    )
    .unwrap();
    assert_eq!(
        (get(&v, "valid"), text(&v, "signature")),
        (JsValue::FALSE, "untrusted_key".into())
    );
    // A key that is not a key, or a misspelt option, is the caller's error: thrown.
    for bad in [
        JsValue::from_str("00"),
        JsValue::from_str(&"g".repeat(64)),
        Uint8Array::new_with_length(16).into(),
        JsValue::from_f64(1.0),
    ] {
        let e = kwh::verify_receipt(receipt.clone(), opts(&[("gatewayKey", bad)])).unwrap_err();
        assert!(["invalid_key", "invalid_type"].contains(&code(&e).as_str()));
    }
    let e = kwh::verify_receipt(receipt, opts(&[("gateway_key", JsValue::from_str(other))]))
        .unwrap_err();
    assert_eq!(code(&e), "unknown_member");
}
