//! RFC 9162 Merkle trees over leaf hashes: root, inclusion path, and the two
//! proof verifiers.

use kwh_btc_iot_core::merkle::{self, MerkleTree};
use wasm_bindgen::prelude::*;

use crate::convert::{hash_arg, hash_list_arg, hashes_to_js, js_error, u64_arg};

/// The RFC 9162 root over leaf hashes (64-hex strings), in order. The empty
/// list has the root SHA-256("").
#[wasm_bindgen(js_name = merkleRoot)]
pub fn merkle_root(
    #[wasm_bindgen(js_name = leafHashes, unchecked_param_type = "string[]")] leaf_hashes: JsValue,
) -> Result<String, JsValue> {
    let leaves = hash_list_arg(&leaf_hashes, "leafHashes").map_err(js_error)?;
    Ok(merkle::root(&leaves).to_hex())
}

/// The RFC 9162 inclusion path (audit path) of `leafHashes[index]`, leaf to
/// root, as 64-hex strings.
#[wasm_bindgen(js_name = inclusionProof, unchecked_return_type = "string[]")]
pub fn inclusion_proof(
    #[wasm_bindgen(js_name = leafHashes, unchecked_param_type = "string[]")] leaf_hashes: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
) -> Result<JsValue, JsValue> {
    let leaves = hash_list_arg(&leaf_hashes, "leafHashes").map_err(js_error)?;
    let index = u64_arg(&index, "index").map_err(js_error)?;
    let path = MerkleTree::new(leaves)
        .inclusion_path(index)
        .map_err(js_error)?;
    hashes_to_js(&path)
}

/// Verifies an RFC 9162 inclusion proof: `path` leads from `leafHash` at
/// `index` in a tree of `size` leaves to `root`. Returns `true`; throws an
/// `Error` whose `.code` says why otherwise (`invalid_proof`,
/// `index_out_of_range`, `invalid_hex`, ...), so a failed check can never be
/// mistaken for a passed one.
#[wasm_bindgen(js_name = verifyInclusion)]
pub fn verify_inclusion(
    #[wasm_bindgen(js_name = leafHash, unchecked_param_type = "string")] leaf_hash: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] size: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string[]")] path: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] root: JsValue,
) -> Result<bool, JsValue> {
    let leaf = hash_arg(&leaf_hash, "leafHash").map_err(js_error)?;
    let index = u64_arg(&index, "index").map_err(js_error)?;
    let size = u64_arg(&size, "size").map_err(js_error)?;
    let path = hash_list_arg(&path, "path").map_err(js_error)?;
    let root = hash_arg(&root, "root").map_err(js_error)?;
    merkle::verify_inclusion(&leaf, index, size, &path, &root).map_err(js_error)?;
    Ok(true)
}

/// Verifies an RFC 9162 consistency proof between a tree of `size1` leaves
/// with `root1` and a tree of `size2` leaves with `root2`. Returns `true`;
/// throws an `Error` with `.code` (`invalid_proof`, `invalid_hex`, ...)
/// otherwise.
#[wasm_bindgen(js_name = verifyConsistency)]
pub fn verify_consistency(
    #[wasm_bindgen(unchecked_param_type = "number")] size1: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] size2: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] root1: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] root2: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string[]")] proof: JsValue,
) -> Result<bool, JsValue> {
    let size1 = u64_arg(&size1, "size1").map_err(js_error)?;
    let size2 = u64_arg(&size2, "size2").map_err(js_error)?;
    let root1 = hash_arg(&root1, "root1").map_err(js_error)?;
    let root2 = hash_arg(&root2, "root2").map_err(js_error)?;
    let proof = hash_list_arg(&proof, "proof").map_err(js_error)?;
    merkle::verify_consistency(size1, size2, &root1, &root2, &proof).map_err(js_error)?;
    Ok(true)
}
