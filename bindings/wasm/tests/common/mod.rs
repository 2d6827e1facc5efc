//! Helpers shared by the wasm-bindgen tests: reading JSON vectors with the
//! browser's/Node's own JSON.parse, and looking at thrown errors.
#![allow(dead_code)]

use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub fn parse(text: &str) -> JsValue {
    JSON::parse(text).expect("test data is JSON")
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).expect("Reflect.get")
}

pub fn text(v: &JsValue, key: &str) -> String {
    get(v, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

pub fn opt_text(v: &JsValue, key: &str) -> Option<String> {
    get(v, key).as_string()
}

pub fn num(v: &JsValue, key: &str) -> f64 {
    get(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

pub fn items(v: &JsValue, key: &str) -> Vec<JsValue> {
    get(v, key)
        .dyn_into::<Array>()
        .unwrap_or_else(|_| panic!("{key} is not an array"))
        .to_vec()
}

pub fn strings(v: &JsValue, key: &str) -> Vec<String> {
    items(v, key)
        .iter()
        .map(|s| s.as_string().expect("string item"))
        .collect()
}

pub fn stringify(v: &JsValue) -> String {
    JSON::stringify(v).expect("JSON.stringify").into()
}

/// The `.code` of a thrown error, checking it is a real `Error` with a
/// string code, a member that is a string or null, and a family.
pub fn code(err: &JsValue) -> String {
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "thrown value is not an Error: {err:?}"
    );
    let member = get(err, "member");
    assert!(
        member.is_null() || member.is_string(),
        "member is neither string nor null: {member:?}"
    );
    let family = text(err, "family");
    assert!(
        ["json", "validation", "merkle", "crypto"].contains(&family.as_str()),
        "family {family}"
    );
    let message = String::from(err.unchecked_ref::<js_sys::Error>().message());
    assert!(!message.is_empty(), "empty message");
    text(err, "code")
}

pub fn member(err: &JsValue) -> Option<String> {
    get(err, "member").as_string()
}

pub fn js_array<T: Into<JsValue> + Clone>(items: &[T]) -> JsValue {
    items
        .iter()
        .cloned()
        .map(Into::into)
        .collect::<Array>()
        .into()
}
