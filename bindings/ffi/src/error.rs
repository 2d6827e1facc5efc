//! One error enum for every call, mapped from the core's [`Error`].

use kwh_btc_iot_core::{Error, ErrorFamily};

/// An error from the core: a variant per family (Kotlin exception classes
/// `KwhException.Json`, `.Validation`, `.Merkle`, `.Crypto`), each with the
/// stable snake_case `code` shared by every binding (e.g. `duplicate_member`),
/// the `member` path it concerns (e.g. `tx.amount_sats`) and the core's
/// message, which is also the `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum KwhError {
    /// The input is not I-JSON (syntax, duplicate member, lone surrogate,
    /// number out of range, too deep, too large).
    #[error("{message}")]
    Json {
        /// Stable code, e.g. `invalid_json`.
        code: String,
        /// Member path, when the error concerns one member.
        member: Option<String>,
        /// The core's message, naming the member and the rule.
        message: String,
    },
    /// Valid JSON that breaks a rule of the format (emlog, head, receipt,
    /// batch parameters).
    #[error("{message}")]
    Validation {
        /// Stable code, e.g. `amount_mismatch`.
        code: String,
        /// Member path, when the error concerns one member.
        member: Option<String>,
        /// The core's message, naming the member and the rule.
        message: String,
    },
    /// Hashes, trees and proofs.
    #[error("{message}")]
    Merkle {
        /// Stable code, e.g. `invalid_proof`.
        code: String,
        /// Member path, when the error concerns one member.
        member: Option<String>,
        /// The core's message, naming the member and the rule.
        message: String,
    },
    /// Keys, signatures and anchors.
    #[error("{message}")]
    Crypto {
        /// Stable code, e.g. `invalid_key`.
        code: String,
        /// Member path, when the error concerns one member.
        member: Option<String>,
        /// The core's message, naming the member and the rule.
        message: String,
    },
}

impl KwhError {
    /// The stable code, whatever the family.
    pub fn code(&self) -> &str {
        match self {
            KwhError::Json { code, .. }
            | KwhError::Validation { code, .. }
            | KwhError::Merkle { code, .. }
            | KwhError::Crypto { code, .. } => code,
        }
    }

    /// The member path, whatever the family.
    pub fn member(&self) -> Option<&str> {
        match self {
            KwhError::Json { member, .. }
            | KwhError::Validation { member, .. }
            | KwhError::Merkle { member, .. }
            | KwhError::Crypto { member, .. } => member.as_deref(),
        }
    }
}

impl From<Error> for KwhError {
    fn from(e: Error) -> Self {
        let code = e.code.as_str().to_string();
        let (member, message) = (e.member, e.message);
        match e.code.family() {
            ErrorFamily::Json => KwhError::Json {
                code,
                member,
                message,
            },
            ErrorFamily::Validation => KwhError::Validation {
                code,
                member,
                message,
            },
            ErrorFamily::Merkle => KwhError::Merkle {
                code,
                member,
                message,
            },
            ErrorFamily::Crypto => KwhError::Crypto {
                code,
                member,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use kwh_btc_iot_core::ErrorCode;

    use super::*;

    /// Every core code lands in the variant of its family, with the core's
    /// code string, member and message; Display is the core's message.
    #[test]
    fn every_code_maps_to_its_family_with_message_as_display() {
        for &code in ErrorCode::ALL {
            let core = Error::member(code, "tx.channel", "must be one of ln, onchain, none");
            let e = KwhError::from(core.clone());
            assert_eq!(e.code(), code.as_str());
            assert_eq!(e.member(), Some("tx.channel"));
            assert_eq!(e.to_string(), core.to_string());
            let family_matches = matches!(
                (&e, code.family()),
                (KwhError::Json { .. }, ErrorFamily::Json)
                    | (KwhError::Validation { .. }, ErrorFamily::Validation)
                    | (KwhError::Merkle { .. }, ErrorFamily::Merkle)
                    | (KwhError::Crypto { .. }, ErrorFamily::Crypto)
            );
            assert!(family_matches, "{code} landed in {e:?}");
        }
    }

    #[test]
    fn error_without_member_keeps_none() {
        let e = KwhError::from(Error::new(
            ErrorCode::EmptyBatch,
            "a batch needs at least one log",
        ));
        assert_eq!(
            e,
            KwhError::Merkle {
                code: "empty_batch".into(),
                member: None,
                message: "a batch needs at least one log".into()
            }
        );
        assert_eq!(e.to_string(), "a batch needs at least one log");
    }
}
