//! The bottom layer: bytes in and out. Hex and base64, one binary reader
//! and writer (CompactSize, varuint), and the binary formats the anchors
//! carry: Bitcoin headers, transactions and blocks ([`bitcoin`]),
//! `merkleblock` proofs ([`spv`]) and OpenTimestamps files ([`ots`]).
//!
//! Nothing here knows about logs, heads or receipts; every other layer may
//! use it.
//!
//! ```
//! use kwh_btc_iot_core::encoding::{bitcoin::BlockHeader, hex};
//! let genesis = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
//! let header = BlockHeader::from_hex(genesis).unwrap();
//! assert_eq!(hex::encode(&header.to_bytes()), genesis);
//! ```

pub mod base64;
pub mod binary;
pub mod bitcoin;
pub mod hex;
pub mod ots;
pub mod spv;

use std::fmt;

/// Why binary data was refused: a stable short code and a message with the
/// byte offset where it applies. The codes of each format are listed on
/// its parser ([`bitcoin`], [`spv`], [`ots`]).
///
/// ```
/// use kwh_btc_iot_core::encoding::bitcoin::Transaction;
/// let e = Transaction::from_hex("00").unwrap_err();
/// assert_eq!(e.code, "truncated");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Stable short code, such as `truncated`, `trailing_data`, `bad_hex`,
    /// `bad_compact_size`, `bad_varuint`, `insufficient_pow`, `bad_magic`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl DecodeError {
    /// An error with its code and message.
    ///
    /// ```
    /// let e = kwh_btc_iot_core::encoding::DecodeError::new("bad_hex", "must be hex");
    /// assert_eq!(e.to_string(), "must be hex (bad_hex)");
    /// ```
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        DecodeError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for DecodeError {}
