//! Verification: whether a receipt proves its log, step by step
//! ([`receipt`]), and whether its anchors prove when ([`anchor`]). Results
//! are [`outcome`] types whose statuses are enums with `as_str`. Depends on
//! `model` and below, never on `build`.
//!
//! ```
//! use kwh_btc_iot_core::verify::{verify_receipt, StepStatus, VerifyOptions};
//! let v = verify_receipt(b"{}", &VerifyOptions::default());
//! assert!(!v.valid);
//! assert_eq!(v.steps[0].status, StepStatus::Failed);
//! ```

pub mod anchor;
pub mod outcome;
mod receipt;

pub use anchor::AnchorOptions;
pub use outcome::{
    AnchorResult, AnchorStatus, SignatureStatus, Step, StepStatus, Verification, VerifyError,
};
pub use receipt::{verify_receipt, verify_receipt_value, ReceiptVerifier, VerifyOptions};
