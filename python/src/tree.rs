//! Merkle trees and proof verification.

use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_core::{merkle, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::errors::{err, member_error};

/// Reads a hash given as 64 lowercase hex characters or 32 raw bytes.
pub fn hash_arg(obj: &Bound<'_, PyAny>, member: &str) -> PyResult<Hash> {
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow().map_err(|_| {
            err(member_error(
                ErrorCode::InvalidHex,
                member,
                "is not valid text",
            ))
        })?;
        return Hash::from_hex(&s, member).map_err(err);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        return <[u8; 32]>::try_from(bytes).map(Hash).map_err(|_| {
            err(member_error(
                ErrorCode::InvalidHex,
                member,
                format!("must be 32 bytes, got {} bytes", bytes.len()),
            ))
        });
    }
    let t = obj.get_type().name()?;
    Err(err(member_error(
        ErrorCode::InvalidHex,
        member,
        format!("must be a 64-character hex string or 32 bytes, got {t}"),
    )))
}

/// Reads a list of hashes; `member` names the list (items are `member[i]`).
pub fn hashes_arg(obj: &Bound<'_, PyAny>, member: &str) -> PyResult<Vec<Hash>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(err(member_error(
            ErrorCode::InvalidHex,
            member,
            "must be a list of hashes, not a single one",
        )));
    }
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in obj.try_iter()?.enumerate() {
        out.push(hash_arg(&item?, &format!("{member}[{i}]"))?);
    }
    Ok(out)
}

/// A size or index: a non-negative integer.
pub fn count_arg(value: i128, member: &str) -> PyResult<u64> {
    u64::try_from(value).map_err(|_| {
        err(member_error(
            ErrorCode::IndexOutOfRange,
            member,
            format!("must be a non-negative integer below 2^64, got {value}"),
        ))
    })
}

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

/// An RFC 9162 Merkle tree held in memory.
#[pyclass(frozen, module = "kwh_btc_iot._native", name = "MerkleTree")]
pub struct PyMerkleTree {
    tree: merkle::MerkleTree,
}

#[pymethods]
impl PyMerkleTree {
    #[new]
    fn new(py: Python<'_>, leaf_hashes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let leaves = hashes_arg(leaf_hashes, "leaf_hashes")?;
        let tree = py.detach(move || merkle::MerkleTree::new(leaves));
        Ok(PyMerkleTree { tree })
    }

    #[getter]
    fn root(&self) -> String {
        self.tree.root().to_hex()
    }

    #[getter]
    fn size(&self) -> u64 {
        self.tree.size()
    }

    fn leaf_hash(&self, index: i128) -> PyResult<String> {
        let i = count_arg(index, "index")?;
        self.tree
            .leaves()
            .get(i as usize)
            .map(Hash::to_hex)
            .ok_or_else(|| {
                err(member_error(
                    ErrorCode::IndexOutOfRange,
                    "index",
                    format!(
                        "must be less than the tree size {}, got {i}",
                        self.tree.size()
                    ),
                ))
            })
    }

    fn inclusion_proof(&self, index: i128) -> PyResult<Vec<String>> {
        let i = count_arg(index, "index")?;
        self.tree
            .inclusion_path(i)
            .map(|p| hex_list(&p))
            .map_err(err)
    }

    fn consistency_proof(&self, old_size: i128) -> PyResult<Vec<String>> {
        let m = count_arg(old_size, "old_size")?;
        self.tree
            .consistency_proof(m)
            .map(|p| hex_list(&p))
            .map_err(err)
    }
}

#[pyfunction]
pub fn merkle_root(py: Python<'_>, leaf_hashes: &Bound<'_, PyAny>) -> PyResult<String> {
    let leaves = hashes_arg(leaf_hashes, "leaf_hashes")?;
    Ok(py.detach(move || merkle::root(&leaves)).to_hex())
}

#[pyfunction]
pub fn verify_inclusion(
    leaf_hash: &Bound<'_, PyAny>,
    index: i128,
    size: i128,
    path: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let leaf = hash_arg(leaf_hash, "leaf_hash")?;
    let index = count_arg(index, "index")?;
    let size = count_arg(size, "size")?;
    let path = hashes_arg(path, "path")?;
    let root = hash_arg(root, "root")?;
    merkle::verify_inclusion(&leaf, index, size, &path, &root).map_err(err)?;
    Ok(true)
}

#[pyfunction]
pub fn verify_consistency(
    size1: i128,
    size2: i128,
    root1: &Bound<'_, PyAny>,
    root2: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let size1 = count_arg(size1, "size1")?;
    let size2 = count_arg(size2, "size2")?;
    let root1 = hash_arg(root1, "root1")?;
    let root2 = hash_arg(root2, "root2")?;
    let proof = hashes_arg(proof, "proof")?;
    merkle::verify_consistency(size1, size2, &root1, &root2, &proof).map_err(err)?;
    Ok(true)
}
