//! Receipt verification.

use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::model::head::public_key_from_hex;
use kwh_btc_iot_core::verify::anchor::AnchorOptions;
use kwh_btc_iot_core::{
    verify_receipt as core_verify, ErrorCode, ReceiptVerifier, Verification, VerifyOptions,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};

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

/// Reads the anchor options: `network` (mainnet, testnet, signet, regtest;
/// default mainnet) and `headers`, a mapping `{height: header}` of block
/// headers the caller trusts (height an `int` or decimal `str`, header 160
/// hex characters or 80 bytes). The core's `AnchorOptions::from_parts` and
/// `trust_header` check them; errors name the member (`network`,
/// `headers.<height>`).
fn anchor_args(
    network: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<AnchorOptions> {
    let mut opts = AnchorOptions::from_parts(network, []).map_err(err)?;
    let Some(headers) = headers.filter(|h| !h.is_none()) else {
        return Ok(opts);
    };
    let dict = headers.cast::<PyDict>().map_err(|_| {
        err(member_error(
            ErrorCode::InvalidType,
            "headers",
            "must be a dict {height: header hex or 80 bytes}",
        ))
    })?;
    for (k, v) in dict.iter() {
        let height = if k.cast::<PyInt>().is_ok() || k.cast::<PyString>().is_ok() {
            k.str()?
                .to_cow()
                .map(|c| c.into_owned())
                .unwrap_or_default()
        } else {
            return Err(err(member_error(
                ErrorCode::InvalidType,
                "headers",
                format!(
                    "keys must be block heights (int or decimal str), got {}",
                    k.get_type().name()?
                ),
            )));
        };
        let hex = if let Ok(s) = v.cast::<PyString>() {
            s.to_cow().map(|c| c.into_owned()).unwrap_or_default()
        } else if let Ok(b) = v.cast::<PyBytes>() {
            to_hex(b.as_bytes())
        } else {
            return Err(err(member_error(
                ErrorCode::InvalidType,
                &format!("headers.{height}"),
                format!(
                    "must be an 80-byte block header (160 hex characters or bytes), got {}",
                    v.get_type().name()?
                ),
            )));
        };
        opts.trust_header(&height, &hex).map_err(err)?;
    }
    Ok(opts)
}

fn options(
    gateway_key: Option<&Bound<'_, PyAny>>,
    network: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<VerifyOptions> {
    let mut opts = gateway_key_arg(gateway_key)?;
    opts.anchor = anchor_args(network, headers)?;
    Ok(opts)
}

#[pyfunction]
#[pyo3(signature = (receipt, gateway_key=None, network=None, headers=None))]
pub fn verify_receipt(
    py: Python<'_>,
    receipt: &Bound<'_, PyAny>,
    gateway_key: Option<&Bound<'_, PyAny>>,
    network: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyVerification> {
    let opts = options(gateway_key, network, headers)?;
    let v = match json_input(receipt) {
        Ok(input) => {
            let bytes = input.as_bytes();
            py.detach(|| core_verify(bytes, &opts))
        }
        Err(e) => Verification::unreadable(e.clone()),
    };
    Ok(PyVerification { v })
}

#[pyfunction]
#[pyo3(signature = (receipts, gateway_key=None, threads=None, network=None, headers=None))]
pub fn verify_receipts(
    py: Python<'_>,
    receipts: &Bound<'_, PyAny>,
    gateway_key: Option<&Bound<'_, PyAny>>,
    threads: Option<usize>,
    network: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyVerification>> {
    let opts = options(gateway_key, network, headers)?;
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
                Err(e) => Verification::unreadable((*e).clone()),
            },
        )
    });
    Ok(results.into_iter().map(|v| PyVerification { v }).collect())
}

type AnchorTuple = (
    String,
    &'static str,
    String,
    Option<&'static str>,
    Option<&'static str>,
    Option<String>,
    Option<u64>,
    Option<String>,
    Option<u64>,
    Option<String>,
    Vec<String>,
    Option<String>,
);

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
    /// (type, status, detail, failed_step, network, anchored_head_hash,
    /// height, block_hash, block_time, txid, calendars, not_checked).
    #[getter]
    fn anchors(&self) -> Vec<AnchorTuple> {
        self.v
            .anchors
            .iter()
            .map(|a| {
                (
                    a.anchor_type.clone(),
                    a.status.as_str(),
                    a.detail.clone(),
                    a.failed_step.map(|f| f.as_str()),
                    a.network,
                    a.anchored_head_hash.clone(),
                    a.height,
                    a.block_hash.clone(),
                    a.block_time,
                    a.txid.clone(),
                    a.calendars.clone(),
                    a.not_checked.clone(),
                )
            })
            .collect()
    }
    #[getter]
    fn steps(&self) -> Vec<(&'static str, &'static str, String)> {
        self.v
            .steps
            .iter()
            .map(|s| (s.name, s.status.as_str(), s.detail.clone()))
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
