//! Receipt verification.

use kwh_btc_iot_core::batch::public_key_from_hex;
use kwh_btc_iot_core::hash::to_hex;
use kwh_btc_iot_core::receipt::{SignatureStatus, Step, StepStatus, VerifyError};
use kwh_btc_iot_core::{
    verify_receipt as core_verify, Error, ErrorCode, ReceiptVerifier, Verification, VerifyOptions,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::bulk::{par_map, thread_count, Gathered};
use crate::convert::json_input;
use crate::errors::{err, member_error};

/// Reads the trusted gateway key: 64 hex characters or 32 bytes.
fn gateway_key_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<VerifyOptions> {
    let Some(obj) = obj else {
        return Ok(VerifyOptions::default());
    };
    let hex = if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow()
            .map_err(|_| {
                err(member_error(
                    ErrorCode::InvalidKey,
                    "gateway_key",
                    "is not valid text",
                ))
            })?
            .into_owned()
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        if b.as_bytes().len() != 32 {
            return Err(err(member_error(
                ErrorCode::InvalidKey,
                "gateway_key",
                format!("must be 32 bytes, got {} bytes", b.as_bytes().len()),
            )));
        }
        to_hex(b.as_bytes())
    } else {
        let t = obj.get_type().name()?;
        return Err(err(member_error(
            ErrorCode::InvalidKey,
            "gateway_key",
            format!("must be 64 hex characters or 32 bytes, got {t}"),
        )));
    };
    let key = public_key_from_hex(&hex, "gateway_key").map_err(err)?;
    Ok(VerifyOptions {
        gateway_key: Some(key),
        ..Default::default()
    })
}

/// The result for an input that is not JSON text at all (a Python object
/// that has no JSON form): invalid at the parse step, like unparsable text.
fn unreadable(e: &Error) -> Verification {
    let mut steps = vec![Step {
        name: "parse",
        status: StepStatus::Failed,
        detail: e.message.clone(),
    }];
    for name in [
        "leaf_hash",
        "inclusion",
        "head",
        "signature",
        "log_signature",
        "anchors",
    ] {
        steps.push(Step {
            name,
            status: StepStatus::Skipped,
            detail: "not checked: an earlier step failed".into(),
        });
    }
    Verification {
        valid: false,
        leaf_hash: None,
        merkle_root: None,
        head_hash: None,
        signature: SignatureStatus::NotChecked,
        signer: None,
        log_signature: SignatureStatus::NotChecked,
        anchors: Vec::new(),
        steps,
        errors: vec![VerifyError {
            code: e.code.as_str(),
            message: e.message.clone(),
            member: e.member.clone(),
        }],
        warnings: Vec::new(),
    }
}

#[pyfunction]
#[pyo3(signature = (receipt, gateway_key=None))]
pub fn verify_receipt(
    py: Python<'_>,
    receipt: &Bound<'_, PyAny>,
    gateway_key: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyVerification> {
    let opts = gateway_key_arg(gateway_key)?;
    let v = match json_input(receipt) {
        Ok(input) => {
            let bytes = input.as_bytes();
            py.detach(|| core_verify(bytes, &opts))
        }
        Err(e) => unreadable(&e),
    };
    Ok(PyVerification { v })
}

#[pyfunction]
#[pyo3(signature = (receipts, gateway_key=None, threads=None))]
pub fn verify_receipts(
    py: Python<'_>,
    receipts: &Bound<'_, PyAny>,
    gateway_key: Option<&Bound<'_, PyAny>>,
    threads: Option<usize>,
) -> PyResult<Vec<PyVerification>> {
    let opts = gateway_key_arg(gateway_key)?;
    let gathered = Gathered::from_iterable(receipts, "receipts")?;
    let sources = gathered.sources();
    let threads = thread_count(threads);
    let results = py.detach(|| {
        par_map(
            &sources,
            threads,
            // One bulk verifier per thread: each distinct signed head is
            // checked once, not once per receipt.
            || ReceiptVerifier::new(opts.clone()),
            |verifier, s| match s {
                Ok(bytes) => verifier.verify(bytes),
                Err(e) => unreadable(e),
            },
        )
    });
    Ok(results.into_iter().map(|v| PyVerification { v }).collect())
}

fn step_status(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Passed => "passed",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
    }
}

/// The structured result of verifying one receipt; immutable.
#[pyclass(frozen, module = "kwh_btc_iot._native", name = "Verification")]
pub struct PyVerification {
    v: Verification,
}

#[pymethods]
impl PyVerification {
    #[getter]
    fn valid(&self) -> bool {
        self.v.valid
    }
    #[getter]
    fn leaf_hash(&self) -> Option<String> {
        self.v.leaf_hash.clone()
    }
    #[getter]
    fn merkle_root(&self) -> Option<String> {
        self.v.merkle_root.clone()
    }
    #[getter]
    fn head_hash(&self) -> Option<String> {
        self.v.head_hash.clone()
    }
    #[getter]
    fn signature(&self) -> &'static str {
        self.v.signature.as_str()
    }
    #[getter]
    fn signer(&self) -> Option<String> {
        self.v.signer.clone()
    }
    #[getter]
    fn log_signature(&self) -> &'static str {
        self.v.log_signature.as_str()
    }
    #[getter]
    fn anchors(&self) -> Vec<(String, &'static str, String)> {
        self.v
            .anchors
            .iter()
            .map(|a| (a.anchor_type.clone(), a.status, a.detail.clone()))
            .collect()
    }
    #[getter]
    fn steps(&self) -> Vec<(&'static str, &'static str, String)> {
        self.v
            .steps
            .iter()
            .map(|s| (s.name, step_status(s.status), s.detail.clone()))
            .collect()
    }
    #[getter]
    fn errors(&self) -> Vec<(&'static str, String, Option<String>)> {
        self.v
            .errors
            .iter()
            .map(|e| (e.code, e.message.clone(), e.member.clone()))
            .collect()
    }
    #[getter]
    fn warnings(&self) -> Vec<(&'static str, String, String)> {
        self.v
            .warnings
            .iter()
            .map(|w| (w.code, w.member.clone(), w.message.clone()))
            .collect()
    }
    fn to_json(&self) -> String {
        self.v.to_json()
    }
}
