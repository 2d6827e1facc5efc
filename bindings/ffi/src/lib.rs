//! # kwh-btc-iot-ffi
//!
//! The uniffi shell around [`kwh_btc_iot_core`] for mobile apps: Kotlin
//! (Android, JVM) and Swift (iOS, macOS). It converts types and errors and
//! calls the core; every rule lives in the core.
//!
//! The generated APIs follow each language's conventions (`leafHash`,
//! `verifyReceipt`, ...). Errors cross the boundary as one enum, [`KwhError`],
//! with a variant per error family (Kotlin `KwhException.Json`,
//! `.Validation`, `.Merkle`, `.Crypto`; Swift `KwhError.json(...)`, ...) that
//! carries the core's stable `code`, the `member` path and the core's message.
//!
//! ```
//! use kwh_btc_iot_ffi as ffi;
//! let log = r#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"D","meter_id":"M",
//!   "ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,
//!   "status":"ok","tx":{"price_sats_per_kwh":100,"channel":"ln"}}"#;
//! let built = ffi::build_batch(
//!     vec![log.to_string()],
//!     ffi::BatchParams {
//!         gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1,
//!         prev_head_hash: None, created_at: "2025-12-01T10:20:00Z".into(),
//!     },
//!     Some("07".repeat(32)),
//! ).unwrap();
//! let v = ffi::verify_receipt(built.receipts[0].clone(), built.public_key.clone()).unwrap();
//! assert!(v.valid);
//! assert_eq!(v.signature, ffi::SignatureStatus::Valid);
//! ```

#![deny(missing_docs)]

mod api;
mod error;
mod types;

pub use api::*;
pub use error::KwhError;
pub use types::*;

uniffi::setup_scaffolding!();
