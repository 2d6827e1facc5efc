#![no_main]
//! The canonicalizer never panics, and its output is a fixed point.
use kwh_btc_iot_core::jcs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = jcs::canonicalize(data) {
        let again = jcs::canonicalize(&out).expect("canonical output parses");
        assert_eq!(again, out, "canonical output is not a fixed point");
    }
});
