//! The documents, one type each, one codec each: read from JSON with member
//! paths in errors, written as canonical bytes (RFC 8785). Any other view
//! of a document derives from these two.
//!
//! - [`emlog`]: the energy log, `emlog-1.1` (validated and normalized);
//! - [`head`]: the batch head, `embatch-1`, and Ed25519 signatures;
//! - [`anchor`]: the anchors of a head (`opentimestamps`, `bitcoin`, others kept as given);
//! - [`receipt`]: the receipt, `emreceipt-1`.
//!
//! A new kind of evidence (a meter's signed record, a settlement) is a new
//! module here, used by `build` and `verify`.
//!
//! ```
//! use kwh_btc_iot_core::model::anchor::Anchor;
//! let v = kwh_btc_iot_core::json::parse(br#"{"type":"opentimestamps"}"#).unwrap();
//! assert_eq!(Anchor::parse(&v, "anchor").unwrap_err().member, "anchor.ots");
//! ```

pub mod anchor;
pub mod emlog;
pub mod head;
pub mod receipt;
