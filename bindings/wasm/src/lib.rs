//! # kwh-btc-iot-wasm
//!
//! The WebAssembly shell of `kwh-btc-iot-core` for browsers and Node: it
//! converts JS values into the bytes the core parses, calls the core, and
//! turns core errors into thrown `Error`s with `.code`, `.member` and
//! `.family`. There is no logic of its own here: if some appears, it belongs
//! in the core.
//!
//! ```js
//! import init, { leafHash, verifyReceipt } from "kwh-btc-iot";
//! await init();                                   // browsers (the web build)
//! const leaf = leafHash(log);                     // 64 hex characters
//! const v = verifyReceipt(receipt, { gatewayKey }); // { valid, errors, ... }
//! ```
//!
//! Built with the `wasm-release` profile and `wasm-bindgen` 0.2.130 by
//! `bindings/wasm/build.sh`; see `bindings/wasm/README.md`.

mod batch;
mod convert;
mod log;
mod tree;

pub use batch::{build_batch, verify_receipt};
pub use convert::MAX_INPUT_BYTES;
pub use log::{canonicalize, canonicalize_json, hash_logs, leaf_hash, normalize};
pub use tree::{inclusion_proof, merkle_root, verify_consistency, verify_inclusion};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");
