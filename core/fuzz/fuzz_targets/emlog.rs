#![no_main]
//! The emlog parser never panics; an accepted log's canonical bytes are
//! accepted again and normalize to themselves.
use kwh_btc_iot_core as core;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = core::normalize(data) {
        let canonical = n.log.canonical_bytes();
        let again = core::canonicalize(&canonical).expect("canonical bytes are a valid log");
        assert_eq!(again, canonical);
    }
});
