//! Building batches: the Merkle tree over the logs' leaf hashes, the signed
//! head, and the one receipt constructor that the CLI, the gateway and the
//! bindings all call ([`Batch::receipt`]).

use crate::error::{Error, ErrorCode, Result};
use crate::hash::{self, head_hash_bytes, Hash};
use crate::merkle::MerkleTree;
use crate::model::anchor::Anchor;
use crate::model::emlog::EnergyLog;
use crate::model::head::{check_id, BatchHead, Keypair, Signature};
use crate::model::receipt::Receipt;
use crate::time::Timestamp;

/// What a batch needs besides its logs.
#[derive(Debug, Clone)]
pub struct BatchParams {
    /// The gateway id.
    pub gateway_id: String,
    /// The batch id.
    pub batch_id: String,
    /// Sequence number (1 for the first batch).
    pub seq: u64,
    /// Previous head hash (`None` for seq 1).
    pub prev_head_hash: Option<Hash>,
    /// Creation time (the core has no clock).
    pub created_at: Timestamp,
}

/// A built batch: the head, its hash and signature, and the tree.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The head.
    pub head: BatchHead,
    /// SHA-256(0x02 || JCS(head)).
    pub head_hash: Hash,
    /// Signature over JCS(head), when a key was given.
    pub signature: Option<Signature>,
    /// The Merkle tree over the leaf hashes, in input order.
    pub tree: MerkleTree,
}

impl Batch {
    /// Builds a batch over leaf hashes (in acceptance order).
    pub fn from_leaf_hashes(
        leaves: Vec<Hash>,
        params: BatchParams,
        key: Option<&Keypair>,
    ) -> Result<Batch> {
        if leaves.is_empty() {
            return Err(Error::new(
                ErrorCode::EmptyBatch,
                "a batch needs at least one log",
            ));
        }
        check_id(&params.gateway_id, "gateway_id")?;
        check_id(&params.batch_id, "batch_id")?;
        if params.seq == 0 || params.seq > 9_007_199_254_740_991 {
            return Err(Error::member(
                ErrorCode::OutOfRange,
                "seq",
                "must be within 1..2^53-1",
            ));
        }
        if (params.seq == 1) != params.prev_head_hash.is_none() {
            return Err(Error::member(
                ErrorCode::InvalidValue,
                "prev_head_hash",
                "must be given exactly when seq is greater than 1",
            ));
        }
        let tree = MerkleTree::new(leaves);
        let head = BatchHead {
            gateway_id: params.gateway_id,
            batch_id: params.batch_id,
            seq: params.seq,
            log_count: tree.size(),
            merkle_root: tree.root(),
            prev_head_hash: params.prev_head_hash,
            created_at: params.created_at,
        };
        let bytes = head.canonical_bytes();
        let head_hash = head_hash_bytes(&bytes);
        let signature = key.map(|k| k.sign(&bytes));
        Ok(Batch {
            head,
            head_hash,
            signature,
            tree,
        })
    }

    /// Builds a batch over normalized logs.
    pub fn from_logs(
        logs: &[EnergyLog<'_>],
        params: BatchParams,
        key: Option<&Keypair>,
    ) -> Result<Batch> {
        let mut buf = Vec::with_capacity(512);
        let leaves = logs
            .iter()
            .map(|l| {
                buf.clear();
                l.write_canonical(&mut buf);
                hash::leaf_hash_bytes(&buf)
            })
            .collect();
        Batch::from_leaf_hashes(leaves, params, key)
    }

    /// The receipt of the log at `index`: the one receipt constructor the
    /// CLI, the gateway and the bindings call. The log is given parsed or as
    /// its stored canonical bytes ([`ReceiptLog`]); it must be the log whose
    /// leaf hash is at that index (checked, unless the caller built the batch
    /// from these very logs: [`ReceiptLog::Trusted`]). The device's
    /// signature and the anchors are carried as given.
    ///
    /// ```
    /// use kwh_btc_iot_core::build::{Batch, BatchParams, ReceiptLog};
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, time::Timestamp};
    /// let log = br#"{"a":1}"#; // any canonical bytes
    /// let batch = Batch::from_leaf_hashes(vec![leaf_hash_bytes(log)], BatchParams {
    ///     gateway_id: "g".into(), batch_id: "b".into(), seq: 1, prev_head_hash: None,
    ///     created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() }, None).unwrap();
    /// let r = batch.receipt(0, ReceiptLog::Canonical(log), None, Vec::new()).unwrap();
    /// assert_eq!(r.log, r#"{"a":1}"#);
    /// assert!(batch.receipt(0, ReceiptLog::Canonical(b"{}"), None, Vec::new()).is_err());
    /// ```
    pub fn receipt(
        &self,
        index: u64,
        log: ReceiptLog<'_>,
        log_signature: Option<Signature>,
        anchors: Vec<Anchor>,
    ) -> Result<Receipt> {
        let leaf_hash = self
            .tree
            .leaves()
            .get(index as usize)
            .copied()
            .ok_or_else(|| {
                Error::member(
                    ErrorCode::IndexOutOfRange,
                    "leaf_index",
                    format!("batch has {} logs", self.tree.size()),
                )
            })?;
        let (canonical, given) = match log {
            ReceiptLog::Parsed(l) => {
                let mut buf = Vec::with_capacity(512);
                l.write_canonical(&mut buf);
                let h = hash::leaf_hash_bytes(&buf);
                (buf, Some(h))
            }
            ReceiptLog::Canonical(b) => (b.to_vec(), Some(hash::leaf_hash_bytes(b))),
            ReceiptLog::Trusted(l) => {
                let mut buf = Vec::with_capacity(512);
                l.write_canonical(&mut buf);
                (buf, None)
            }
        };
        if given.is_some_and(|h| h != leaf_hash) {
            return Err(Error::member(
                ErrorCode::LeafHashMismatch,
                "log",
                format!("is not the log at index {index} of the batch"),
            ));
        }
        let log = String::from_utf8(canonical)
            .map_err(|_| Error::member(ErrorCode::InvalidUtf8, "log", "must be UTF-8"))?;
        Ok(Receipt {
            log,
            leaf_hash,
            leaf_index: index,
            inclusion_path: self.tree.inclusion_path(index)?,
            batch_head: self.head.clone(),
            head_signature: self.signature.clone(),
            log_signature,
            anchors,
        })
    }
}

/// The log of a receipt, as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum ReceiptLog<'a> {
    /// A normalized log; its leaf hash is checked against the batch.
    Parsed(&'a EnergyLog<'a>),
    /// The stored canonical bytes of a normalized log; checked likewise.
    Canonical(&'a [u8]),
    /// A normalized log the batch was built from at this very index (its
    /// hash is not computed twice).
    Trusted(&'a EnergyLog<'a>),
}
