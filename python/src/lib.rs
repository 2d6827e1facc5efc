//! Python bindings (scaffold; being built)
