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

/// What a batch needs besides its logs; the gateway's batcher (or the CLI's
/// `batch` command) chooses them, the core only checks them.
///
/// ```
/// use kwh_btc_iot_core::{hash::Hash, time::Timestamp, BatchParams};
/// // The second batch of a gateway links to the first one's head hash.
/// let params = BatchParams {
///     gateway_id: "gw-PLANT01-003".into(), batch_id: "2025-12-01T10:25Z".into(), seq: 2,
///     prev_head_hash: Some(Hash([1; 32])),
///     created_at: Timestamp::parse("2025-12-01T10:25:00Z").unwrap(),
/// };
/// assert_eq!(params.seq, 2);
/// ```
#[derive(Debug, Clone)]
pub struct BatchParams {
    /// The signing gateway's id (1..128 characters, no control characters);
    /// every batch of one gateway forms one hash chain.
    pub gateway_id: String,
    /// The batch's id, unique per gateway, chosen by the batcher (same
    /// character rule as `gateway_id`).
    pub batch_id: String,
    /// Position in the gateway's chain: 1 for the first batch, then +1 per
    /// batch, at most 2^53-1 so JavaScript reads it exactly.
    pub seq: u64,
    /// The previous batch's head hash: `None` exactly when `seq` is 1.
    pub prev_head_hash: Option<Hash>,
    /// When the batch was closed, from the caller's clock (the core reads
    /// none); written in the head as RFC 3339 UTC.
    pub created_at: Timestamp,
}

/// A built batch: the head, its hash and signature, and the tree.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// # use kwh_btc_iot_core::{build_batch, BatchParams, Keypair, time::Timestamp};
/// # let key = Keypair::from_seed(&[7; 32]);
/// # let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "batch-1".into(), seq: 1,
/// #     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// # let built = build_batch(&[log.as_slice()], params, Some(&key)).unwrap();
/// let batch = &built.batch;
/// assert_eq!(batch.head.log_count, 1);
/// assert_eq!(batch.head.merkle_root, batch.tree.root());
/// assert_eq!(batch.head_hash, batch.head.hash());
/// assert!(batch.signature.as_ref().unwrap().verify(&batch.head.canonical_bytes()).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    /// The `embatch-1` head: ids, sequence, log count, Merkle root, previous
    /// head hash, creation time.
    pub head: BatchHead,
    /// SHA-256(0x02 || JCS(head)): what the next batch links to and what an
    /// anchor commits to.
    pub head_hash: Hash,
    /// Signature over JCS(head), when a key was given.
    pub signature: Option<Signature>,
    /// The Merkle tree over the leaf hashes, in input order.
    pub tree: MerkleTree,
}

impl Batch {
    /// Builds a batch over leaf hashes in acceptance order (the gateway keeps the
    /// hashes, not the logs), signing the head when a key is given. Checks the
    /// ids, `seq` and that `prev_head_hash` is given exactly when `seq > 1`.
    ///
    /// ```
    /// use kwh_btc_iot_core::{hash::leaf_hash_bytes, time::Timestamp, Batch, BatchParams};
    /// let params = || BatchParams { gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1,
    ///     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let batch = Batch::from_leaf_hashes(vec![leaf_hash_bytes(b"x")], params(), None).unwrap();
    /// assert!(batch.signature.is_none());
    /// assert_eq!(Batch::from_leaf_hashes(vec![], params(), None).unwrap_err().code.as_str(), "empty_batch");
    /// ```
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

    /// Builds a batch over normalized logs, hashing each once.
    ///
    /// ```
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
    /// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
    /// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
    /// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
    /// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// use kwh_btc_iot_core::{normalize, time::Timestamp, Batch, BatchParams, Keypair};
    /// let n = normalize(log).unwrap();
    /// let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "b-1".into(), seq: 1,
    ///     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
    /// let batch = Batch::from_logs(&[n.log.clone()], params, Some(&Keypair::from_seed(&[7; 32]))).unwrap();
    /// assert_eq!(batch.tree.leaves()[0], n.log.leaf_hash());
    /// ```
    pub fn from_logs(
        logs: &[EnergyLog<'_>],
        params: BatchParams,
        key: Option<&Keypair>,
    ) -> Result<Batch> {
        Batch::from_leaf_hashes(leaf_hashes(logs), params, key)
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

/// The leaf hashes of normalized logs, in order (one canonical buffer
/// reused for all of them).
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"d","meter_id":"m","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","interval_s":300,"energy_kwh":1,"power_kw_avg":12,"status":"ok","tags":[],"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":100,"channel":"ln","settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let n = kwh_btc_iot_core::normalize(log).unwrap();
/// let leaves = kwh_btc_iot_core::build::leaf_hashes(&[n.log.clone()]);
/// assert_eq!(leaves, vec![n.log.leaf_hash()]);
/// ```
pub fn leaf_hashes(logs: &[EnergyLog<'_>]) -> Vec<Hash> {
    let mut buf = Vec::with_capacity(512);
    logs.iter()
        .map(|l| {
            buf.clear();
            l.write_canonical(&mut buf);
            hash::leaf_hash_bytes(&buf)
        })
        .collect()
}

/// The log of a receipt, in the form the caller has it: the CLI and the
/// bindings hold parsed logs, the gateway holds stored canonical bytes.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// # use kwh_btc_iot_core::{build_batch, BatchParams, Keypair, time::Timestamp};
/// # let key = Keypair::from_seed(&[7; 32]);
/// # let params = BatchParams { gateway_id: "gw-1".into(), batch_id: "batch-1".into(), seq: 1,
/// #     prev_head_hash: None, created_at: Timestamp::parse("2025-12-01T10:20:00Z").unwrap() };
/// # let built = build_batch(&[log.as_slice()], params, Some(&key)).unwrap();
/// use kwh_btc_iot_core::{canonicalize, ReceiptLog};
/// let canon = canonicalize(log).unwrap();
/// let r = built.batch.receipt(0, ReceiptLog::Canonical(&canon), None, Vec::new()).unwrap();
/// assert_eq!(r.log.as_bytes(), canon);
/// ```
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
