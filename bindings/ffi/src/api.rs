//! The exported functions: each converts its arguments, calls the core and
//! converts the result. No rule of the formats is decided here.

use kwh_btc_iot_core::{self as core, build, merkle, model::head, Error, ErrorCode, Hash};

use crate::error::KwhError;
use crate::types::{
    BatchParams, BatchWarning, BuiltBatch, EnergyLog, LogWarning, NormalizedLog, Verification,
    VerifyOptions,
};

type Result<T, E = KwhError> = std::result::Result<T, E>;

/// The core writes canonical JSON from validated UTF-8 only; the lossy
/// fallback is never taken but keeps the boundary panic-free.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hash(s: &str, member: &str) -> Result<Hash> {
    Ok(Hash::from_hex(s, member)?)
}

fn hashes(list: &[String], member: &str) -> Result<Vec<Hash>> {
    list.iter()
        .enumerate()
        .map(|(i, s)| hash(s, &format!("{member}[{i}]")))
        .collect()
}

fn hex_list(list: &[Hash]) -> Vec<String> {
    list.iter().map(Hash::to_hex).collect()
}

/// The leaf hash of an `emlog-1.1` log given as JSON text: SHA-256(0x00 ||
/// RFC 8785 bytes of the normalized log), 64 lowercase hex.
#[uniffi::export]
pub fn leaf_hash(log_json: String) -> Result<String> {
    Ok(core::leaf_hash(log_json.as_bytes())?.to_hex())
}

/// The canonical JSON text of a log: RFC 8785 of the normalized log.
#[uniffi::export]
pub fn canonicalize(log_json: String) -> Result<String> {
    Ok(text(core::canonicalize(log_json.as_bytes())?))
}

/// Validates and normalizes a log: the normalized log, its canonical JSON,
/// its leaf hash and the plausibility warnings.
#[uniffi::export]
pub fn normalize(log_json: String) -> Result<NormalizedLog> {
    let n = core::normalize(log_json.as_bytes())?;
    let canonical = n.log.canonical_bytes();
    Ok(NormalizedLog {
        log: EnergyLog::from(&n.log),
        leaf_hash: core::hash::leaf_hash_bytes(&canonical).to_hex(),
        canonical_json: text(canonical),
        warnings: n.warnings.into_iter().map(LogWarning::from).collect(),
    })
}

/// RFC 8785 canonicalization of any I-JSON text (duplicate members, lone
/// surrogates and out-of-range numbers are rejected).
#[uniffi::export]
pub fn canonicalize_json(json: String) -> Result<String> {
    Ok(text(core::canonicalize_json(json.as_bytes())?))
}

/// The RFC 9162 root over leaf hashes (64 hex each), in order. The empty
/// list gives SHA-256 of the empty string.
#[uniffi::export]
pub fn merkle_root(leaf_hashes: Vec<String>) -> Result<String> {
    Ok(merkle::root(&hashes(&leaf_hashes, "leaf_hashes")?).to_hex())
}

/// The RFC 9162 inclusion path (audit path, leaf to root) of the leaf at
/// `index` in the tree over `leaf_hashes`.
#[uniffi::export]
pub fn inclusion_proof(leaf_hashes: Vec<String>, index: u64) -> Result<Vec<String>> {
    Ok(hex_list(&merkle::inclusion_path(
        &hashes(&leaf_hashes, "leaf_hashes")?,
        index,
    )?))
}

/// The RFC 9162 consistency proof between the tree over the first
/// `old_size` leaves and the tree over all of them.
#[uniffi::export]
pub fn consistency_proof(leaf_hashes: Vec<String>, old_size: u64) -> Result<Vec<String>> {
    Ok(hex_list(&merkle::consistency_proof(
        &hashes(&leaf_hashes, "leaf_hashes")?,
        old_size,
    )?))
}

/// Verifies an inclusion path; returns normally when it leads from
/// `leaf_hash` at `index` in a tree of `size` leaves to `root`, and throws
/// (Merkle family: `invalid_proof`, `index_out_of_range`, `invalid_hex`)
/// otherwise.
#[uniffi::export]
pub fn verify_inclusion(
    leaf_hash: String,
    index: u64,
    size: u64,
    path: Vec<String>,
    root: String,
) -> Result<()> {
    let leaf = hash(&leaf_hash, "leaf_hash")?;
    let path = hashes(&path, "inclusion_path")?;
    let root = hash(&root, "root")?;
    Ok(merkle::verify_inclusion(&leaf, index, size, &path, &root)?)
}

/// Verifies an RFC 9162 consistency proof between a tree of `size1` leaves
/// with `root1` and one of `size2` leaves with `root2`; throws when it does
/// not hold.
#[uniffi::export]
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
) -> Result<()> {
    let root1 = hash(&root1, "root1")?;
    let root2 = hash(&root2, "root2")?;
    let proof = hashes(&proof, "consistency_proof")?;
    Ok(merkle::verify_consistency(
        size1, size2, &root1, &root2, &proof,
    )?)
}

/// Verifies an `emreceipt-1` receipt given as JSON text. A malformed or
/// forged receipt is an invalid [`Verification`] listing its errors, never
/// an exception. `gateway_key` (64 hex) is the gateway public key the
/// caller trusts: when given, the head must be signed by it. Only a
/// malformed `gateway_key` throws (Crypto family, `invalid_key`).
///
/// Anchors are checked with mainnet's proof-of-work rules and the headers
/// the receipt carries; [`verify_receipt_with_options`] chooses the network
/// and adds trusted headers.
#[uniffi::export]
pub fn verify_receipt(receipt_json: String, gateway_key: Option<String>) -> Result<Verification> {
    verify_receipt_with_options(
        receipt_json,
        VerifyOptions {
            gateway_key,
            ..Default::default()
        },
    )
}

/// Verifies a receipt as [`verify_receipt`] does, with options: the
/// trusted gateway key, the Bitcoin `network` whose proof-of-work rules
/// anchors are checked with, and block `headers` (160 hex, by height) the
/// caller trusts. A malformed option throws, naming it (`gateway_key`,
/// `network`, `headers.<height>`).
///
/// ```
/// use kwh_btc_iot_ffi as ffi;
/// let e = ffi::verify_receipt_with_options("{}".into(), ffi::VerifyOptions {
///     network: Some("moon".into()), ..Default::default()
/// }).unwrap_err();
/// assert!(e.to_string().contains("network"));
/// ```
#[uniffi::export]
pub fn verify_receipt_with_options(
    receipt_json: String,
    options: VerifyOptions,
) -> Result<Verification> {
    let gateway_key = options
        .gateway_key
        .map(|k| head::public_key_from_hex(&k.to_ascii_lowercase(), "gateway_key"))
        .transpose()?;
    let opts = core::VerifyOptions {
        gateway_key,
        anchor: anchor_options(options.network.as_deref(), &options.headers)?,
    };
    Ok(core::verify_receipt(receipt_json.as_bytes(), &opts).into())
}

/// The core's anchor options from a network name and `{height: header hex}`
/// (checked by `AnchorOptions::from_parts`).
fn anchor_options(
    network: Option<&str>,
    headers: &std::collections::HashMap<u64, String>,
) -> Result<core::verify::anchor::AnchorOptions> {
    let heights: Vec<String> = headers.keys().map(|h| h.to_string()).collect();
    Ok(core::verify::anchor::AnchorOptions::from_parts(
        network,
        heights
            .iter()
            .zip(headers.values())
            .map(|(h, x)| (h.as_str(), x.as_str())),
    )?)
}

/// The Ed25519 public key (64 hex) of a signing key given as its 32-byte
/// secret seed in hex.
#[uniffi::export]
pub fn public_key(signing_key: String) -> Result<String> {
    let key = head::Keypair::from_hex(&signing_key)?;
    Ok(core::encoding::hex::encode(&key.public_key()))
}

/// Builds a batch over logs given as JSON text, in order: the `embatch-1`
/// head (signed when `signing_key`, a 64-hex secret seed, is given) and one
/// receipt per log. The first invalid log stops the build; its error names
/// the log's index (`[2].tx.channel`).
#[uniffi::export]
pub fn build_batch(
    logs: Vec<String>,
    params: BatchParams,
    signing_key: Option<String>,
) -> Result<BuiltBatch> {
    let key = signing_key
        .as_deref()
        .map(head::Keypair::from_hex)
        .transpose()?;
    let created_at = core::time::Timestamp::parse(&params.created_at)
        .map_err(|rule| Error::member(ErrorCode::InvalidTimestamp, "created_at", rule))?;
    let prev_head_hash = params
        .prev_head_hash
        .as_deref()
        .map(|h| hash(h, "prev_head_hash"))
        .transpose()?;
    let core_params = build::BatchParams {
        gateway_id: params.gateway_id,
        batch_id: params.batch_id,
        seq: params.seq,
        prev_head_hash,
        created_at,
    };
    let inputs: Vec<&[u8]> = logs.iter().map(|l| l.as_bytes()).collect();
    let built = core::build_batch(&inputs, core_params, key.as_ref())?;
    let b = &built.batch;
    Ok(BuiltBatch {
        head_json: text(b.head.canonical_bytes()),
        head_hash: b.head_hash.to_hex(),
        merkle_root: b.head.merkle_root.to_hex(),
        log_count: b.head.log_count,
        signature: b
            .signature
            .as_ref()
            .map(|s| core::encoding::hex::encode(&s.signature)),
        public_key: b
            .signature
            .as_ref()
            .map(|s| core::encoding::hex::encode(&s.public_key)),
        receipts: built.receipts.iter().map(|r| r.to_json()).collect(),
        warnings: built
            .warnings
            .into_iter()
            .map(|(i, w)| BatchWarning {
                log_index: i as u64,
                warning: w.into(),
            })
            .collect(),
    })
}
