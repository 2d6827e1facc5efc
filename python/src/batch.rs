//! Building batches: heads, signatures and receipts.

use kwh_btc_iot_core::build::BatchParams;
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_core::model::head::Keypair;
use kwh_btc_iot_core::time::Timestamp;
use kwh_btc_iot_core::{BuiltBatch, Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::bulk::{par_map, thread_count, Gathered};
use crate::convert::value_to_py;
use crate::errors::{err, member_error};
use crate::tree::{count_arg, hash_arg};

/// Reads a signing key: a 32-byte seed or its 64 hex characters. Error
/// messages never contain the key.
pub fn signing_key_arg(obj: &Bound<'_, PyAny>) -> PyResult<Keypair> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        let seed = <[u8; 32]>::try_from(bytes).map_err(|_| {
            err(member_error(
                ErrorCode::InvalidKey,
                "signing_key",
                format!("must be a 32-byte seed, got {} bytes", bytes.len()),
            ))
        })?;
        return Ok(Keypair::from_seed(&seed));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow().map_err(|_| {
            err(member_error(
                ErrorCode::InvalidKey,
                "signing_key",
                "is not valid text",
            ))
        })?;
        // A malformed key is a key problem, whatever the hex decoder calls it.
        return Keypair::from_hex(&s).map_err(|e| {
            err(Error {
                code: ErrorCode::InvalidKey,
                ..e
            })
        });
    }
    let t = obj.get_type().name()?;
    Err(err(member_error(
        ErrorCode::InvalidKey,
        "signing_key",
        format!("must be 32 bytes or 64 hex characters, got {t}"),
    )))
}

#[pyfunction]
pub fn public_key(signing_key: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(to_hex(&signing_key_arg(signing_key)?.public_key()))
}

#[pyfunction]
#[pyo3(signature = (logs, *, gateway_id, batch_id, seq, prev_head_hash, created_at, signing_key))]
#[allow(clippy::too_many_arguments)]
pub fn build_batch(
    py: Python<'_>,
    logs: &Bound<'_, PyAny>,
    gateway_id: String,
    batch_id: String,
    seq: i128,
    prev_head_hash: Option<&Bound<'_, PyAny>>,
    created_at: String,
    signing_key: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyBatch> {
    let seq = count_arg(seq, "seq").map_err(|_| {
        err(member_error(
            ErrorCode::OutOfRange,
            "seq",
            format!("must be within 1..2^53-1, got {seq}"),
        ))
    })?;
    let prev_head_hash: Option<Hash> = prev_head_hash
        .map(|h| hash_arg(h, "prev_head_hash"))
        .transpose()?;
    let created_at = Timestamp::parse(&created_at).map_err(|why| {
        err(member_error(
            ErrorCode::InvalidTimestamp,
            "created_at",
            format!("\"{created_at}\" {why}"),
        ))
    })?;
    let key = signing_key.map(signing_key_arg).transpose()?;
    let gathered = Gathered::from_iterable(logs, "logs")?;
    // An input that is not JSON at all stops the build like an invalid log
    // does in the core: the first one, named by its index.
    let mut sources = Vec::with_capacity(gathered.len());
    for (i, s) in gathered.sources().into_iter().enumerate() {
        match s {
            Ok(bytes) => sources.push(bytes),
            Err(e) => {
                return Err(err(Error {
                    code: e.code,
                    member: e.member.as_ref().map(|m| format!("[{i}].{m}")),
                    message: format!("log {i}: {}", e.message),
                }))
            }
        }
    }
    let params = BatchParams {
        gateway_id,
        batch_id,
        seq,
        prev_head_hash,
        created_at,
    };
    let built = py
        .detach(|| kwh_btc_iot_core::build_batch(&sources, params, key.as_ref()))
        .map_err(err)?;
    Ok(PyBatch { built })
}

/// A built batch: head, hash, signature, tree and receipts.
#[pyclass(frozen, module = "kwh_btc_iot._native", name = "Batch")]
pub struct PyBatch {
    built: BuiltBatch,
}

#[pymethods]
impl PyBatch {
    #[getter]
    fn head<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, &self.built.batch.head.to_value())
    }

    #[getter]
    fn head_canonical<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.built.batch.head.canonical_bytes())
    }

    #[getter]
    fn head_hash(&self) -> String {
        self.built.batch.head_hash.to_hex()
    }

    #[getter]
    fn merkle_root(&self) -> String {
        self.built.batch.head.merkle_root.to_hex()
    }

    #[getter]
    fn log_count(&self) -> u64 {
        self.built.batch.head.log_count
    }

    #[getter]
    fn signature(&self) -> Option<String> {
        self.built
            .batch
            .signature
            .as_ref()
            .map(|s| to_hex(&s.signature))
    }

    #[getter]
    fn public_key(&self) -> Option<String> {
        self.built
            .batch
            .signature
            .as_ref()
            .map(|s| to_hex(&s.public_key))
    }

    #[getter]
    fn leaf_hashes(&self) -> Vec<String> {
        self.built
            .batch
            .tree
            .leaves()
            .iter()
            .map(Hash::to_hex)
            .collect()
    }

    #[getter]
    fn warnings(&self) -> Vec<(usize, &'static str, String, String)> {
        self.built
            .warnings
            .iter()
            .map(|(i, w)| (*i, w.code, w.member.clone(), w.message.clone()))
            .collect()
    }

    fn receipts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for r in &self.built.receipts {
            list.append(value_to_py(py, &r.to_value())?)?;
        }
        Ok(list)
    }

    fn receipts_json(&self, py: Python<'_>) -> Vec<String> {
        let receipts = &self.built.receipts;
        py.detach(|| par_map(receipts, thread_count(None), || (), |_, r| r.to_json()))
    }

    fn receipt<'py>(&self, py: Python<'py>, index: i128) -> PyResult<Bound<'py, PyAny>> {
        let i = count_arg(index, "index")?;
        match self.built.receipts.get(i as usize) {
            Some(r) => value_to_py(py, &r.to_value()),
            None => Err(err(member_error(
                ErrorCode::IndexOutOfRange,
                "index",
                format!(
                    "must be less than the batch's log count {}, got {i}",
                    self.built.receipts.len()
                ),
            ))),
        }
    }

    fn inclusion_proof(&self, index: i128) -> PyResult<Vec<String>> {
        let i = count_arg(index, "index")?;
        self.built
            .batch
            .tree
            .inclusion_path(i)
            .map(|p| p.iter().map(Hash::to_hex).collect())
            .map_err(err)
    }
}
