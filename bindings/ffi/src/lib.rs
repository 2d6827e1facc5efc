//! uniffi bindings (scaffold; being built)
