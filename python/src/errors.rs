//! Core errors as Python exceptions.
//!
//! The exception classes live in pure Python (`kwh_btc_iot._errors`) so that
//! they are ordinary, picklable, typed classes; this module only picks the
//! class by the code's family and instantiates it with `(message, code, member)`.

use kwh_btc_iot_core::{Error, ErrorCode, ErrorFamily};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

const ERRORS_MODULE: &str = "kwh_btc_iot._errors";

static JSON_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static VALIDATION_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MERKLE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CRYPTO_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The Python exception for a core error, of the class of its family.
pub fn to_py_err(py: Python<'_>, e: Error) -> PyErr {
    let (cell, name) = match e.code.family() {
        ErrorFamily::Json => (&JSON_ERROR, "JsonError"),
        ErrorFamily::Validation => (&VALIDATION_ERROR, "ValidationError"),
        ErrorFamily::Merkle => (&MERKLE_ERROR, "MerkleError"),
        ErrorFamily::Crypto => (&CRYPTO_ERROR, "CryptoError"),
    };
    let class = match cell.import(py, ERRORS_MODULE, name) {
        Ok(c) => c,
        Err(import_error) => return import_error,
    };
    match class.call1((e.message, e.code.as_str(), e.member)) {
        Ok(instance) => PyErr::from_value(instance),
        Err(call_error) => call_error,
    }
}

/// `map_err` helper for core results.
pub fn err(e: Error) -> PyErr {
    Python::attach(|py| to_py_err(py, e))
}

/// An error about one argument or member, built here only for inputs that
/// never reach the core (Python objects that are not JSON, negative indexes).
pub fn member_error(code: ErrorCode, member: &str, rule: impl std::fmt::Display) -> Error {
    Error::member(code, member, rule)
}
