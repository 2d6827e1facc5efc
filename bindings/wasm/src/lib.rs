//! WASM bindings (scaffold; being built)
