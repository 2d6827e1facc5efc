//! Flushing batches (what a flush decides is in [`flush`]; the storage only
//! reads and writes the rows), the per-batch tree cache, receipts, and the
//! automatic flush by count and age.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kwh_btc_iot_core::build::{Batch, ReceiptLog};
use kwh_btc_iot_core::model::anchor::{self, Anchor};
use kwh_btc_iot_core::model::head::{BatchHead, Keypair, Signature};
use kwh_btc_iot_core::time::Timestamp;
use kwh_btc_iot_core::{Hash, MerkleTree};
use tokio::sync::OnceCell;

use crate::clock;
use crate::error::{codes, AppError};
use crate::ingest::Pending;
use crate::storage::{leaves_from_blob, BatchRow, PlanFlush, Storage, StoredLog};

pub mod flush;

/// Leaves kept in cached trees at most (a tree costs about 64 bytes per leaf).
pub const MAX_CACHED_LEAVES: u64 = 4_000_000;

/// A batch with its whole tree, ready to serve proofs.
#[derive(Debug)]
pub struct CachedBatch {
    /// Head, hash, signature, tree.
    pub batch: Batch,
}

type Slot = Arc<OnceCell<Arc<CachedBatch>>>;

/// The anchors a receipt of a batch carries.
pub type AnchorList = Arc<Vec<Anchor>>;

/// How long a batch's anchor list is served from the cache. Changes made by
/// this process invalidate it at once; the time bound covers changes made by
/// another instance (PostgreSQL) or by node mode.
pub const ANCHOR_CACHE_TTL: Duration = Duration::from_secs(2);

/// Flushes and the tree cache.
pub struct Batcher {
    storage: Arc<dyn Storage>,
    key: Keypair,
    gateway_id: String,
    max_batch_logs: u64,
    flush_lock: tokio::sync::Mutex<()>,
    cache: Mutex<(HashMap<i64, Slot>, VecDeque<i64>)>,
    pending: Arc<Pending>,
    anchors: Mutex<HashMap<i64, (Instant, AnchorList)>>,
}

/// The typed anchor of a stored row (its `data` is the anchor's canonical
/// JSON: [`crate::anchoring::stored`]).
pub fn anchor_of(row: &crate::storage::AnchorRow) -> Result<Anchor, AppError> {
    use crate::anchoring::stored::StoredAnchor;
    match StoredAnchor::decode(&row.data) {
        Ok(StoredAnchor::Anchor(a)) => Ok(a),
        Ok(StoredAnchor::UnconfirmedTx(_)) => Err(AppError::storage(format!(
            "anchor {}: an unconfirmed transaction is not a proof",
            row.id
        ))),
        Err(e) => Err(AppError::storage(format!("anchor {}: {e:#}", row.id))),
    }
}

/// A head rebuilt from its stored row.
pub fn head_of(row: &BatchRow) -> Result<BatchHead, AppError> {
    let created_at = Timestamp::parse(&row.created_at)
        .map_err(|e| AppError::storage(format!("batch {}: stored created_at {e}", row.batch_id)))?;
    Ok(BatchHead {
        gateway_id: row.gateway_id.clone(),
        batch_id: row.batch_id.clone(),
        seq: row.seq as u64,
        log_count: row.log_count as u64,
        merkle_root: Hash(row.merkle_root),
        prev_head_hash: row.prev_head_hash.map(Hash),
        created_at,
    })
}

/// The stored signature of a batch.
pub fn signature_of(row: &BatchRow) -> Option<Signature> {
    match (row.signature, row.public_key) {
        (Some(signature), Some(public_key)) => Some(Signature {
            public_key,
            signature,
        }),
        _ => None,
    }
}

impl Batcher {
    /// A batcher.
    pub fn new(
        storage: Arc<dyn Storage>,
        key: Keypair,
        gateway_id: String,
        max_batch_logs: u64,
        pending: Arc<Pending>,
    ) -> Self {
        Batcher {
            storage,
            key,
            gateway_id,
            max_batch_logs,
            flush_lock: tokio::sync::Mutex::new(()),
            cache: Mutex::new((HashMap::new(), VecDeque::new())),
            pending,
            anchors: Mutex::new(HashMap::new()),
        }
    }

    /// Batches all unbatched logs (up to the batch size); `None` when there
    /// were none.
    pub async fn flush(&self) -> Result<Option<Arc<CachedBatch>>, AppError> {
        let _guard = self.flush_lock.lock().await;
        let started = Instant::now();
        let (gateway_id, key, at) = (self.gateway_id.clone(), self.key.clone(), clock::now());
        let plan: PlanFlush =
            Box::new(move |tip, leaves| flush::plan_batch(&gateway_id, &key, at, tip, leaves));
        let Some(batch) = self
            .storage
            .flush(self.max_batch_logs, plan)
            .await
            .map_err(AppError::storage)?
        else {
            return Ok(None);
        };
        let n = batch.head.log_count;
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("kwh_btc_iot_flush_duration_seconds").record(seconds);
        metrics::counter!("kwh_btc_iot_batches_total").increment(1);
        metrics::counter!("kwh_btc_iot_logs_batched_total").increment(n);
        let _ = self
            .pending
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_sub(n))
            });
        tracing::info!(batch_id = %batch.head.batch_id, seq = batch.head.seq, logs = n, seconds, "flushed");
        let seq = batch.head.seq as i64;
        let cached = Arc::new(CachedBatch { batch });
        let slot: Slot = Arc::new(OnceCell::new_with(Some(cached.clone())));
        self.remember(seq, slot);
        Ok(Some(cached))
    }

    fn remember(&self, seq: i64, slot: Slot) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.0.insert(seq, slot).is_none() {
            c.1.push_back(seq);
        }
        // Evict the oldest trees beyond the budget, keeping the newest one.
        loop {
            let total: u64 =
                c.0.values()
                    .filter_map(|s| s.get())
                    .map(|b| b.batch.head.log_count)
                    .sum();
            if total <= MAX_CACHED_LEAVES || c.1.len() <= 1 {
                break;
            }
            if let Some(old) = c.1.pop_front() {
                c.0.remove(&old);
            }
        }
    }

    /// The batch with seq `seq`, its tree rebuilt from the stored leaf hashes
    /// on first use and checked against the stored head.
    pub async fn batch(&self, seq: i64) -> Result<Arc<CachedBatch>, AppError> {
        let slot = {
            let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match c.0.get(&seq) {
                Some(s) => s.clone(),
                None => {
                    let s: Slot = Arc::new(OnceCell::new());
                    c.0.insert(seq, s.clone());
                    c.1.push_back(seq);
                    s
                }
            }
        };
        let storage = self.storage.clone();
        let b = slot
            .get_or_try_init(|| async move {
                let row = storage
                    .batch_by_seq(seq)
                    .await
                    .map_err(AppError::storage)?
                    .ok_or_else(|| AppError::not_found(format!("no batch with seq {seq}")))?;
                let blob = storage
                    .batch_leaves(seq)
                    .await
                    .map_err(AppError::storage)?
                    .unwrap_or_default();
                let leaves = leaves_from_blob(&blob).map_err(AppError::storage)?;
                let head = head_of(&row)?;
                let tree = tokio::task::spawn_blocking(move || MerkleTree::new(leaves))
                    .await
                    .map_err(AppError::storage)?;
                if tree.root() != head.merkle_root
                    || tree.size() != head.log_count
                    || head.hash().0 != row.head_hash
                {
                    return Err(AppError::storage(format!(
                        "batch {}: the stored leaf hashes do not recompute the stored head",
                        row.batch_id
                    )));
                }
                let batch = Batch {
                    head_hash: Hash(row.head_hash),
                    signature: signature_of(&row),
                    head,
                    tree,
                };
                Ok::<_, AppError>(Arc::new(CachedBatch { batch }))
            })
            .await?
            .clone();
        self.remember(seq, slot);
        Ok(b)
    }

    /// Forgets every cached anchor list (an anchor was stored or changed).
    pub fn invalidate_anchors(&self) {
        self.anchors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The anchors of the receipts of batch `seq`: for each kind, the
    /// batch's own anchored anchor, else the nearest anchored anchor of a
    /// later batch with the heads from `seq + 1` to it (at most
    /// `anchor::MAX_CHAIN_HEADS`); else, for OpenTimestamps, the batch's own
    /// pending proof (it verifies as `pending`). Cached per batch.
    pub async fn anchors(&self, seq: i64) -> Result<AnchorList, AppError> {
        if let Some((at, list)) = self
            .anchors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seq)
        {
            if at.elapsed() < ANCHOR_CACHE_TTL {
                return Ok(list.clone());
            }
        }
        let list = Arc::new(self.load_anchors(seq).await?);
        let mut c = self.anchors.lock().unwrap_or_else(|p| p.into_inner());
        if c.len() > 10_000 {
            c.retain(|_, (at, _)| at.elapsed() < ANCHOR_CACHE_TTL);
        }
        c.insert(seq, (Instant::now(), list.clone()));
        Ok(list)
    }

    async fn load_anchors(&self, seq: i64) -> Result<Vec<Anchor>, AppError> {
        let covering = self
            .storage
            .covering_anchors(seq)
            .await
            .map_err(AppError::storage)?;
        let mut out = Vec::new();
        let mut have_ots = false;
        for a in &covering {
            let mut v = anchor_of(a)?;
            if a.batch_seq > seq {
                if (a.batch_seq - seq) as usize > anchor::MAX_CHAIN_HEADS {
                    continue;
                }
                let rows = self
                    .storage
                    .batches_in_range(seq + 1, a.batch_seq)
                    .await
                    .map_err(AppError::storage)?;
                if rows.len() as i64 != a.batch_seq - seq {
                    return Err(AppError::storage(format!(
                        "batches {}..={} are not all stored",
                        seq + 1,
                        a.batch_seq
                    )));
                }
                let heads = rows.iter().map(head_of).collect::<Result<Vec<_>, _>>()?;
                v.set_heads(heads);
            }
            have_ots |= a.kind == anchor::TYPE_OPENTIMESTAMPS;
            out.push(v);
        }
        if !have_ots {
            let own = self
                .storage
                .anchors_of_batch(seq)
                .await
                .map_err(AppError::storage)?;
            if let Some(p) = own.iter().find(|a| {
                a.kind == anchor::TYPE_OPENTIMESTAMPS
                    && a.status == crate::storage::anchor_status::PENDING
            }) {
                out.push(anchor_of(p)?);
            }
        }
        Ok(out)
    }

    /// The `emreceipt-1` receipt of a stored log, as canonical JSON text.
    pub async fn receipt(&self, log: &StoredLog) -> Result<String, AppError> {
        let (Some(seq), Some(index)) = (log.batch_seq, log.leaf_index) else {
            return Err(AppError::new(
                axum::http::StatusCode::CONFLICT,
                codes::NOT_BATCHED,
                format!(
                    "log {} is not in a batch yet; retry after the next flush",
                    log.log_id
                ),
            ));
        };
        let cached = self.batch(seq).await?;
        let b = &cached.batch;
        let index = index as u64;
        if b.tree.leaves().get(index as usize).map(|h| h.0) != Some(log.leaf_hash) {
            return Err(AppError::storage(format!(
                "log {}: not at its leaf index in batch {}",
                log.log_id, b.head.batch_id
            )));
        }
        let log_signature = match (log.log_signature, log.signer) {
            (Some(signature), Some(public_key)) => Some(Signature {
                public_key,
                signature,
            }),
            _ => None,
        };
        let anchors = self.anchors(seq).await?.as_ref().clone();
        let receipt = b
            .receipt(
                index,
                ReceiptLog::Canonical(log.canonical.as_bytes()),
                log_signature,
                anchors,
            )
            .map_err(|e| AppError::storage(format!("log {}: {e}", log.log_id)))?;
        Ok(receipt.to_json())
    }
}

/// Flushes when `flush_count` logs wait or the oldest has waited
/// `flush_age_s` seconds; stops when `stop` is notified.
pub async fn auto_flush(
    batcher: Arc<Batcher>,
    storage: Arc<dyn Storage>,
    pending: Arc<Pending>,
    flush_count: u64,
    flush_age_s: u64,
    stop: Arc<tokio::sync::Notify>,
) {
    if flush_count == 0 && flush_age_s == 0 {
        return;
    }
    let tick = if flush_age_s > 0 {
        Duration::from_millis((flush_age_s * 250).clamp(50, 1000))
    } else {
        Duration::from_secs(1)
    };
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            _ = pending.notify.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
        let by_count = flush_count > 0 && pending.count.load(Ordering::Relaxed) >= flush_count;
        let by_age = flush_age_s > 0
            && !by_count
            && match storage.oldest_unbatched().await {
                Ok(Some(t)) => clock::now_us() - t >= (flush_age_s as i64) * 1_000_000,
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!("auto flush: {e}");
                    false
                }
            };
        if by_count || by_age {
            match batcher.flush().await {
                Ok(Some(b)) => tracing::debug!(batch_id = %b.batch.head.batch_id, "auto flush"),
                Ok(None) => pending.count.store(0, Ordering::Relaxed),
                Err(e) => tracing::warn!("auto flush failed: {}", e.message),
            }
        }
    }
}
