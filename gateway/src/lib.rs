//! The gateway (scaffold; being built)
