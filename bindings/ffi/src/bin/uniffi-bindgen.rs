//! The `uniffi-bindgen` of the workspace, pinned to the same uniffi version as
//! the library: generates the Kotlin and Swift sources from the compiled
//! library's metadata (`generate --library target/debug/libkwh_btc_iot_ffi.so`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
