//! `kwh_btc_iot._native`: the pyo3 shell around `kwh-btc-iot-core`.
//!
//! Private: Python code imports the typed facade `kwh_btc_iot`, which
//! documents every function. This crate only converts arguments, results and
//! errors and calls the core; no format logic lives here.

use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_core::{merkle, model::emlog, Error};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

mod batch;
mod bulk;
mod convert;
mod errors;
mod tree;
mod verify;

use bulk::{par_map, thread_count, Gathered};
use convert::{json_input, value_to_py};
use errors::err;

type WarningTuple = (&'static str, String, String);
type ErrorTuple = (usize, &'static str, String);

#[pyfunction]
fn normalize<'py>(
    py: Python<'py>,
    log: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Vec<WarningTuple>)> {
    let input = json_input(log).map_err(err)?;
    let n = kwh_btc_iot_core::normalize(input.as_bytes()).map_err(err)?;
    let warnings = n
        .warnings
        .into_iter()
        .map(|w| (w.code, w.member, w.message))
        .collect();
    Ok((value_to_py(py, &n.log.to_value())?, warnings))
}

#[pyfunction]
fn canonicalize<'py>(py: Python<'py>, log: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let input = json_input(log).map_err(err)?;
    let out = kwh_btc_iot_core::canonicalize(input.as_bytes()).map_err(err)?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn canonicalize_json<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = json_input(value).map_err(err)?;
    let out = kwh_btc_iot_core::canonicalize_json(input.as_bytes()).map_err(err)?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn leaf_hash(log: &Bound<'_, PyAny>) -> PyResult<String> {
    let input = json_input(log).map_err(err)?;
    kwh_btc_iot_core::leaf_hash(input.as_bytes())
        .map(|h| h.to_hex())
        .map_err(err)
}

/// Bulk hash results, ready to become Python objects: computed with the
/// interpreter released.
struct Hashed {
    /// The 64 hex characters of each successful hash, back to back.
    hex: Vec<u8>,
    /// Per input: Some(offset into `hex`) or None when it failed.
    slots: Vec<Option<usize>>,
    errors: Vec<ErrorTuple>,
    root: String,
}

fn finish(results: Vec<Result<Hash, Error>>, line_numbers: Option<&[usize]>) -> Hashed {
    let mut hex = Vec::with_capacity(results.len() * 64);
    let mut slots = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    let mut root = merkle::RootBuilder::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(h) => {
                root.push(h);
                slots.push(Some(hex.len()));
                hex.extend_from_slice(h.to_hex().as_bytes());
            }
            Err(e) => {
                let message = match line_numbers {
                    Some(lines) => format!("line {}: {}", lines[i], e.message),
                    None => e.message,
                };
                errors.push((i, e.code.as_str(), message));
                slots.push(None);
            }
        }
    }
    Hashed {
        hex,
        slots,
        errors,
        root: root.root().to_hex(),
    }
}

/// A list of hex strings (None where an item failed), the errors, and the
/// RFC 9162 root over the hashes that succeeded.
fn hashed_to_py(
    py: Python<'_>,
    h: Hashed,
) -> PyResult<(Bound<'_, PyList>, Vec<ErrorTuple>, String)> {
    let list = PyList::empty(py);
    for slot in &h.slots {
        match slot {
            Some(at) => {
                let hex = std::str::from_utf8(&h.hex[*at..*at + 64]).expect("hex is ASCII");
                list.append(PyString::new(py, hex))?;
            }
            None => list.append(py.None())?,
        }
    }
    Ok((list, h.errors, h.root))
}

#[pyfunction]
#[pyo3(signature = (logs, threads=None))]
fn hash_logs<'py>(
    py: Python<'py>,
    logs: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Vec<ErrorTuple>, String)> {
    let gathered = Gathered::from_iterable(logs, "logs")?;
    let sources = gathered.sources();
    let threads = thread_count(threads);
    let hashed = py.detach(|| {
        let results = par_map(
            &sources,
            threads,
            || Vec::with_capacity(512),
            |buf, s| match s {
                Ok(bytes) => emlog::leaf_hash_of_json_with(bytes, buf),
                Err(e) => Err((*e).clone()),
            },
        );
        finish(results, None)
    });
    hashed_to_py(py, hashed)
}

fn hash_jsonl_text(text: &[u8], threads: usize) -> Hashed {
    let lines: Vec<(usize, &[u8])> = kwh_btc_iot_core::json_lines::lines(text)
        .map(|r| (r.line, r.bytes))
        .collect();
    let results = par_map(
        &lines,
        threads,
        || Vec::with_capacity(512),
        |buf, (_, line)| emlog::leaf_hash_of_json_with(line, buf),
    );
    let numbers: Vec<usize> = lines.into_iter().map(|(n, _)| n).collect();
    finish(results, Some(&numbers))
}

#[pyfunction]
#[pyo3(signature = (data, threads=None))]
fn hash_jsonl_bytes<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Vec<ErrorTuple>, String)> {
    let text = data.as_bytes();
    let threads = thread_count(threads);
    let hashed = py.detach(|| hash_jsonl_text(text, threads));
    hashed_to_py(py, hashed)
}

#[pyfunction]
#[pyo3(signature = (path, threads=None))]
fn hash_jsonl_path<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyList>, Vec<ErrorTuple>, String)> {
    let threads = thread_count(threads);
    let hashed = py.detach(|| std::fs::read(&path).map(|text| hash_jsonl_text(&text, threads)))?;
    hashed_to_py(py, hashed)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize_json, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(hash_logs, m)?)?;
    m.add_function(wrap_pyfunction!(hash_jsonl_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(hash_jsonl_path, m)?)?;
    m.add_function(wrap_pyfunction!(tree::merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(tree::verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(tree::verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(batch::build_batch, m)?)?;
    m.add_function(wrap_pyfunction!(batch::public_key, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_receipt, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_receipts, m)?)?;
    m.add_class::<tree::PyMerkleTree>()?;
    m.add_class::<batch::PyBatch>()?;
    m.add_class::<verify::PyVerification>()?;
    Ok(())
}
