#![no_main]
//! The receipt verifier never panics; whatever it gets, a result with a
//! reason comes back.
use kwh_btc_iot_core::{verify_receipt, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = verify_receipt(data, &VerifyOptions::default());
    assert!(v.valid || !v.errors.is_empty());
});
