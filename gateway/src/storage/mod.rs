//! Storage by concern, with two real implementations: SQLite (default,
//! embedded, WAL) and PostgreSQL (several gateway instances on one database).
//!
//! Each concern has its trait: [`LogStore`], [`BatchStore`], [`AnchorStore`],
//! [`DeadLetterStore`], [`IdentityStore`]; [`Storage`] is all of them, the one
//! handle the gateway holds. The backends speak SQL and nothing else: the
//! batcher decides sequence numbers, builds and signs heads
//! ([`crate::batcher::flush`]), and hands the batch to the store.
//!
//! The contract every implementation keeps:
//! - `insert_logs` writes a whole group of logs in one transaction and returns
//!   only once it is durable (the group commit of [`crate::ingest`]);
//!   a log whose leaf hash is already stored is not stored again, and the
//!   existing `log_id` is returned;
//! - `flush` takes the unbatched logs in acceptance (`log_id`) order, has the
//!   batcher's plan build the batch over them, marks each with its batch and
//!   leaf index, and stores the head, its signature and the leaf hashes in
//!   batch order, all in one transaction, serialized against every other flush
//!   on the same database: no log is ever in two batches.

use async_trait::async_trait;
use kwh_btc_iot_core::build::Batch;
use kwh_btc_iot_core::Hash;

pub mod postgres;
pub mod sqlite;

/// A storage error (always a server fault: bad input never reaches storage).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL.
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// Stored data does not match what it should (corruption, wrong key).
    #[error("{0}")]
    Integrity(String),
    /// A blocking task failed.
    #[error("task: {0}")]
    Task(String),
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A validated log ready to be stored.
#[derive(Debug, Clone)]
pub struct NewLog {
    /// SHA-256(0x00 || canonical).
    pub leaf_hash: [u8; 32],
    /// Site.
    pub site_id: String,
    /// Device.
    pub iot_device_id: String,
    /// Meter.
    pub meter_id: String,
    /// `ts_start` in microseconds since the epoch (for filters).
    pub ts_start_us: i64,
    /// Canonical JSON of the normalized log.
    pub canonical: String,
    /// The device's Ed25519 signature over the canonical bytes.
    pub log_signature: Option<[u8; 64]>,
    /// The key that made it.
    pub signer: Option<[u8; 32]>,
    /// When the gateway accepted it, microseconds since the epoch.
    pub received_at_us: i64,
    /// A correction: the leaf hash of the stored log of the same reading
    /// that this one replaces as the reading's current log (both stay
    /// stored; see `docs/spec.md`, "One reading, one log").
    pub supersedes: Option<[u8; 32]>,
}

/// What happened to one log of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// Its id (the existing one for a repeat; the stored log's for a
    /// conflict).
    pub log_id: i64,
    /// False when the same leaf hash was already stored, or on a conflict.
    pub created: bool,
    /// Nothing was stored: a different log of the same reading (site,
    /// device, meter and `ts_start`, to the microsecond) is the reading's
    /// current log; this is its leaf hash.
    pub conflict: Option<[u8; 32]>,
}

impl Inserted {
    /// A new log.
    pub fn created(log_id: i64) -> Inserted {
        Inserted {
            log_id,
            created: true,
            conflict: None,
        }
    }
    /// The same log again.
    pub fn duplicate(log_id: i64) -> Inserted {
        Inserted {
            log_id,
            created: false,
            conflict: None,
        }
    }
    /// A different log of a stored reading.
    pub fn conflict(log_id: i64, leaf_hash: [u8; 32]) -> Inserted {
        Inserted {
            log_id,
            created: false,
            conflict: Some(leaf_hash),
        }
    }
}

/// A stored log.
#[derive(Debug, Clone)]
pub struct StoredLog {
    /// Id.
    pub log_id: i64,
    /// Leaf hash.
    pub leaf_hash: [u8; 32],
    /// Canonical JSON.
    pub canonical: String,
    /// Device signature.
    pub log_signature: Option<[u8; 64]>,
    /// Its key.
    pub signer: Option<[u8; 32]>,
    /// Accepted at (µs since the epoch).
    pub received_at_us: i64,
    /// Batch seq, once batched.
    pub batch_seq: Option<i64>,
    /// Index in the batch.
    pub leaf_index: Option<i64>,
    /// Batch id, once batched.
    pub batch_id: Option<String>,
    /// The device (for authorization).
    pub iot_device_id: String,
    /// Site (the reading's key, with device, meter and `ts_start_us`).
    pub site_id: String,
    /// Meter.
    pub meter_id: String,
    /// `ts_start` in µs.
    pub ts_start_us: i64,
    /// The log this one corrects, if it is a correction.
    pub supersedes: Option<[u8; 32]>,
}

/// Filters of `GET /api/v1/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Site.
    pub site_id: Option<String>,
    /// Device.
    pub iot_device_id: Option<String>,
    /// Meter.
    pub meter_id: Option<String>,
    /// `ts_start >= from` (µs).
    pub from_us: Option<i64>,
    /// `ts_start < to` (µs).
    pub to_us: Option<i64>,
    /// In this batch (seq).
    pub batch_seq: Option<i64>,
    /// Only (true) or never (false) unbatched logs.
    pub unbatched: Option<bool>,
    /// `log_id > after` (the cursor).
    pub after: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A stored batch.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Seq (1, 2, 3, ...).
    pub seq: i64,
    /// Batch id.
    pub batch_id: String,
    /// Gateway id.
    pub gateway_id: String,
    /// Number of logs.
    pub log_count: i64,
    /// Root.
    pub merkle_root: [u8; 32],
    /// Previous head hash.
    pub prev_head_hash: Option<[u8; 32]>,
    /// Creation time, normalized RFC 3339.
    pub created_at: String,
    /// Head hash.
    pub head_hash: [u8; 32],
    /// Head signature.
    pub signature: Option<[u8; 64]>,
    /// Key that signed.
    pub public_key: Option<[u8; 32]>,
    /// `pending` until anchored.
    pub anchor_status: String,
}

/// An anchor of one batch head (the `anchors` table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnchorRow {
    /// Assigned by [`AnchorStore::insert_anchor`].
    pub id: i64,
    /// The batch whose head hash is anchored.
    pub batch_seq: i64,
    /// `opentimestamps` or `bitcoin`.
    pub kind: String,
    /// `pending`, `anchored` or `failed`.
    pub status: String,
    /// opentimestamps: the `.ots` file (pending or complete); bitcoin: pending
    /// = the signed raw transaction, anchored = the JSON text of
    /// `anchor::bitcoin_anchor(...)`.
    pub data: Vec<u8>,
    /// The 80-byte header of the anchoring block, once known.
    pub header: Option<Vec<u8>>,
    /// Its height.
    pub height: Option<i64>,
    /// Its hash (display hex).
    pub block_hash: Option<String>,
    /// The transaction carrying the commitment (display hex).
    pub txid: Option<String>,
    /// Upgrade (or confirmation) attempts so far.
    pub attempts: i64,
    /// When the worker may try again (µs since the epoch).
    pub next_attempt_us: i64,
    /// What went wrong last time.
    pub last_error: Option<String>,
    /// Created (µs since the epoch).
    pub created_us: i64,
    /// Last changed (µs since the epoch).
    pub updated_us: i64,
    /// Which header source (or node) confirmed the block's header at its
    /// height before the anchor was stored as anchored (`attached, unchecked
    /// (...)` when the attach endpoint trusted the submitted header).
    pub confirmed_by: Option<String>,
}

/// Anchor statuses and kinds as stored.
pub mod anchor_status {
    /// Submitted, not in Bitcoin yet (or not confirmed).
    pub const PENDING: &str = "pending";
    /// Complete and verified.
    pub const ANCHORED: &str = "anchored";
    /// Given up.
    pub const FAILED: &str = "failed";
}

/// Counts of anchors, for the metrics.
#[derive(Debug, Clone, Default)]
pub struct AnchorStats {
    /// (kind, status, count).
    pub counts: Vec<(String, String, i64)>,
    /// The anchored anchor of the highest batch seq.
    pub newest_anchored: Option<AnchorRow>,
}

/// The newest stored batch head: what the next batch chains onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Its seq.
    pub seq: i64,
    /// Its head hash (the next head's `prev_head_hash`).
    pub head_hash: [u8; 32],
}

/// Builds the batch of a flush from the chain tip and the leaf hashes of the
/// unbatched logs, in acceptance order. The batcher supplies it (it chooses
/// the seq, builds and signs the head); the backend runs it inside its flush
/// transaction, between reading and writing, so that the read, the decision
/// and the write are one atomic step.
pub type PlanFlush = Box<dyn FnOnce(Option<ChainTip>, Vec<Hash>) -> StoreResult<Batch> + Send>;

/// The `batches` row a flush inserts, column by column.
#[derive(Debug, Clone)]
pub struct NewBatchRow {
    /// Seq.
    pub seq: i64,
    /// Batch id.
    pub batch_id: String,
    /// Gateway id.
    pub gateway_id: String,
    /// Number of logs.
    pub log_count: i64,
    /// Merkle root.
    pub merkle_root: Vec<u8>,
    /// Previous head hash (none for seq 1).
    pub prev_head_hash: Option<Vec<u8>>,
    /// Creation time, normalized RFC 3339.
    pub created_at: String,
    /// Head hash.
    pub head_hash: Vec<u8>,
    /// Head signature.
    pub signature: Option<Vec<u8>>,
    /// The key that made it.
    pub public_key: Option<Vec<u8>>,
    /// The leaf hashes, concatenated in batch order.
    pub leaves: Vec<u8>,
}

impl NewBatchRow {
    /// The columns of a batch.
    pub fn of(batch: &Batch) -> NewBatchRow {
        let h = &batch.head;
        NewBatchRow {
            seq: h.seq as i64,
            batch_id: h.batch_id.clone(),
            gateway_id: h.gateway_id.clone(),
            log_count: h.log_count as i64,
            merkle_root: h.merkle_root.0.to_vec(),
            prev_head_hash: h.prev_head_hash.map(|p| p.0.to_vec()),
            created_at: h.created_at.to_rfc3339(),
            head_hash: batch.head_hash.0.to_vec(),
            signature: batch.signature.as_ref().map(|s| s.signature.to_vec()),
            public_key: batch.signature.as_ref().map(|s| s.public_key.to_vec()),
            leaves: leaves_to_blob(batch.tree.leaves()),
        }
    }
}

/// Runs a flush's plan on what the backend read and checks that the batch
/// covers exactly those leaves and follows the tip; returns the batch and
/// the row to insert. Called by every backend inside its flush transaction.
pub(crate) fn run_plan(
    plan: PlanFlush,
    tip: Option<ChainTip>,
    leaves: Vec<Hash>,
) -> StoreResult<(Batch, NewBatchRow)> {
    let n = leaves.len();
    let batch = plan(tip, leaves)?;
    let row = NewBatchRow::of(&batch);
    if row.log_count as usize != n || row.seq != tip.map_or(1, |t| t.seq + 1) {
        return Err(StoreError::Integrity(format!(
            "flush planned batch seq {} with {} logs, but {} unbatched logs follow seq {}",
            row.seq,
            row.log_count,
            n,
            tip.map_or(0, |t| t.seq)
        )));
    }
    Ok((batch, row))
}

/// Concatenated 32-byte hashes → hashes.
pub fn leaves_from_blob(blob: &[u8]) -> StoreResult<Vec<Hash>> {
    if blob.len() % 32 != 0 {
        return Err(StoreError::Integrity(
            "stored leaf hashes are not a multiple of 32 bytes".into(),
        ));
    }
    Ok(blob
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().expect("32 bytes")))
        .collect())
}

/// Hashes → concatenated bytes.
pub fn leaves_to_blob(leaves: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(leaves.len() * 32);
    for h in leaves {
        out.extend_from_slice(&h.0);
    }
    out
}

pub(crate) fn fixed<const N: usize>(
    v: Option<Vec<u8>>,
    what: &str,
) -> StoreResult<Option<[u8; N]>> {
    match v {
        None => Ok(None),
        Some(b) => b
            .try_into()
            .map(Some)
            .map_err(|_| StoreError::Integrity(format!("stored {what} has the wrong length"))),
    }
}

/// A `batches` row as both backends read it (bytes not yet checked for length).
pub(crate) struct RawBatchRow {
    pub seq: i64,
    pub batch_id: String,
    pub gateway_id: String,
    pub log_count: i64,
    pub merkle_root: Vec<u8>,
    pub prev_head_hash: Option<Vec<u8>>,
    pub created_at: String,
    pub head_hash: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    pub public_key: Option<Vec<u8>>,
    pub anchor_status: String,
}

impl RawBatchRow {
    /// Checks the lengths of the stored hashes, keys and signature.
    pub(crate) fn decode(self) -> StoreResult<BatchRow> {
        Ok(BatchRow {
            seq: self.seq,
            batch_id: self.batch_id,
            gateway_id: self.gateway_id,
            log_count: self.log_count,
            merkle_root: fixed::<32>(Some(self.merkle_root), "merkle_root")?.expect("some"),
            prev_head_hash: fixed::<32>(self.prev_head_hash, "prev_head_hash")?,
            created_at: self.created_at,
            head_hash: fixed::<32>(Some(self.head_hash), "head_hash")?.expect("some"),
            signature: fixed::<64>(self.signature, "signature")?,
            public_key: fixed::<32>(self.public_key, "public_key")?,
            anchor_status: self.anchor_status,
        })
    }
}

/// The tip a flush read (`SELECT seq, head_hash ... ORDER BY seq DESC LIMIT 1`).
pub(crate) fn chain_tip(last: Option<(i64, Vec<u8>)>) -> StoreResult<Option<ChainTip>> {
    last.map(|(seq, h)| {
        Ok(ChainTip {
            seq,
            head_hash: fixed::<32>(Some(h), "head_hash")?.expect("some"),
        })
    })
    .transpose()
}

/// Refuses a second identity on one database.
pub(crate) fn check_same(
    old_id: Option<&str>,
    old_pk: Option<&str>,
    id: &str,
    pk: &str,
) -> StoreResult<()> {
    if let Some(old) = old_pk {
        if old != pk {
            return Err(StoreError::Integrity(format!(
                "this database belongs to the gateway key {old}, but the key file holds {pk}: \
                 restore the original key file (or pass --key-file) instead of starting a new chain"
            )));
        }
    }
    if let Some(old) = old_id {
        if old != id {
            return Err(StoreError::Integrity(format!(
                "this database belongs to gateway_id {old:?}, not {id:?}"
            )));
        }
    }
    Ok(())
}

/// Accepted logs: the group commit of ingest, lookups, pages, and what waits
/// for the next flush.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Stores a group of logs in one durable transaction.
    async fn insert_logs(&self, logs: Vec<NewLog>) -> StoreResult<Vec<Inserted>>;
    /// A log by id.
    async fn log_by_id(&self, log_id: i64) -> StoreResult<Option<StoredLog>>;
    /// A log by leaf hash.
    async fn log_by_leaf(&self, leaf_hash: [u8; 32]) -> StoreResult<Option<StoredLog>>;
    /// A page of logs, by ascending `log_id`.
    async fn list_logs(&self, filter: LogFilter) -> StoreResult<Vec<StoredLog>>;
    /// `received_at` (µs) of the oldest unbatched log.
    async fn oldest_unbatched(&self) -> StoreResult<Option<i64>>;
    /// Number of unbatched logs.
    async fn count_unbatched(&self) -> StoreResult<i64>;
}

/// Batches: the flush that writes them, and reads of their rows and leaves.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// In one transaction, serialized against every other flush on the same
    /// database: reads the chain tip and the leaf hashes of at most
    /// `max_logs` unbatched logs (by `log_id`), hands them to `plan`, marks
    /// those logs with the planned batch's seq and their leaf index, and
    /// inserts the batch. `None` (and `plan` not called) when no log waits.
    async fn flush(&self, max_logs: u64, plan: PlanFlush) -> StoreResult<Option<Batch>>;
    /// A batch by seq.
    async fn batch_by_seq(&self, seq: i64) -> StoreResult<Option<BatchRow>>;
    /// A batch by id.
    async fn batch_by_id(&self, batch_id: &str) -> StoreResult<Option<BatchRow>>;
    /// The leaf hashes of a batch, in batch order.
    async fn batch_leaves(&self, seq: i64) -> StoreResult<Option<Vec<u8>>>;
    /// A page of batches by descending seq (`before`: seq < before).
    async fn list_batches(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<BatchRow>>;
    /// The newest batch.
    async fn latest_batch(&self) -> StoreResult<Option<BatchRow>>;
    /// Batches `from_seq..=to_seq`, ascending.
    async fn batches_in_range(&self, from_seq: i64, to_seq: i64) -> StoreResult<Vec<BatchRow>>;
}

/// Anchors of batch heads (the `anchors` table) and the batches' anchor status.
#[async_trait]
pub trait AnchorStore: Send + Sync {
    /// Stores an anchor; returns its id. An anchor stored as `anchored` marks
    /// its batch and every earlier one `anchored`.
    async fn insert_anchor(&self, a: AnchorRow) -> StoreResult<i64>;
    /// Updates an anchor by id; when it is `anchored`, marks its batch and
    /// every earlier one `anchored`.
    async fn update_anchor(&self, a: AnchorRow) -> StoreResult<()>;
    /// The anchors of a batch, by id.
    async fn anchors_of_batch(&self, seq: i64) -> StoreResult<Vec<AnchorRow>>;
    /// Pending anchors of a kind whose `next_attempt_us <= now_us`, earliest first.
    async fn anchors_due(&self, kind: &str, now_us: i64, limit: i64)
        -> StoreResult<Vec<AnchorRow>>;
    /// For each kind, the anchored anchor of the lowest batch seq `>= seq`
    /// (lowest id among equals).
    async fn covering_anchors(&self, seq: i64) -> StoreResult<Vec<AnchorRow>>;
    /// Batches with no anchor of this kind (any status), ascending seq.
    async fn batches_without_anchor(&self, kind: &str, limit: i64) -> StoreResult<Vec<BatchRow>>;
    /// Counts by kind and status, and the newest anchored anchor.
    async fn anchor_stats(&self) -> StoreResult<AnchorStats>;
}

/// Rejected MQTT payloads, kept raw.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Keeps rejected MQTT payloads durably, in one transaction; a letter
    /// whose fingerprint (topic and payload) is already kept is not kept again.
    async fn insert_dead_letters(
        &self,
        letters: Vec<crate::mqtt::NewDeadLetter>,
    ) -> StoreResult<()>;
    /// A page of dead letters by ascending id (`after`: id > after).
    async fn list_dead_letters(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<crate::mqtt::DeadLetter>>;
}

/// Whose database this is, and which instance leads the anchoring.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Records the gateway identity on first start; refuses another one later
    /// (a lost key file must not silently start a new chain).
    async fn check_identity(&self, gateway_id: &str, public_key: &[u8; 32]) -> StoreResult<()>;
    /// Claims the anchoring worker's role for this process. SQLite: always
    /// true (one process per data directory). PostgreSQL: a session advisory
    /// lock held on a dedicated connection, so that of several instances only
    /// one submits and upgrades; if that instance dies, its connection closes
    /// and another one takes over.
    async fn claim_anchoring(&self) -> StoreResult<bool> {
        Ok(true)
    }
}

/// One backend, every concern: the handle the rest of the gateway holds
/// (`Arc<dyn Storage>`). The methods of each concern are called on it
/// directly; a backend implements each concern's trait and this one.
#[async_trait]
pub trait Storage:
    LogStore + BatchStore + AnchorStore + DeadLetterStore + IdentityStore + 'static
{
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Is the storage reachable?
    async fn ping(&self) -> StoreResult<()>;
}
