//! The OpenTimestamps anchoring worker: a tokio task, separate from ingest,
//! whose whole state is in storage (the `anchors` table), so restarts and
//! calendar outages lose nothing.
//!
//! Each round (every `tick`):
//! 1. claims the worker role
//!    ([`claim_anchoring`](crate::storage::IdentityStore::claim_anchoring):
//!    with PostgreSQL, one instance of several);
//! 2. submits every batch head without an `opentimestamps` anchor to every
//!    configured calendar (random nonce, commitment, `POST /digest`), merges
//!    the answers into one `.ots` and stores it `pending` (one answer is
//!    enough; calendars that failed are asked again at the next upgrades; if
//!    none answered, the head is tried again with backoff);
//! 3. upgrades the due pending anchors (`GET /timestamp/<msg>` for each
//!    pending attestation of a configured calendar; 404 = not yet). An answer
//!    that reaches a Bitcoin attestation at height H is merged into a copy of
//!    the proof, the header of block H is fetched from the header source, and
//!    the copy is verified by the core (`verify_ots_proof`, the
//!    configured network); only a verified proof is stored, as `anchored`
//!    with its header, height, block hash and txid. Anything else counts as
//!    an attempt: `next_attempt_us` backs off exponentially (from the upgrade
//!    interval, doubling, capped), `last_error` says why.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use kwh_btc_iot_core::encoding::bitcoin::{BlockHeader, Network};
use kwh_btc_iot_core::encoding::ots::DetachedTimestampFile;
use kwh_btc_iot_core::model::anchor;
use kwh_btc_iot_core::verify::{anchor::verify_ots_proof, AnchorStatus};

use super::calendar::{self, HeaderSource};
use super::stored::StoredAnchor;
use super::HttpClient;
use crate::backoff::delay as backoff;
use crate::clock::now_us;
use crate::storage::{anchor_status, AnchorRow, BatchRow, Storage};

/// The anchor kind this worker writes.
pub const KIND: &str = anchor::TYPE_OPENTIMESTAMPS;
/// Heads submitted per round at most.
pub const SUBMIT_PER_ROUND: i64 = 16;
/// Pending anchors upgraded per round at most.
pub const UPGRADE_PER_ROUND: i64 = 16;
/// A calendar that did not answer the submission is asked again at most this
/// many upgrade attempts.
pub const MAX_RESUBMITS: i64 = 8;

/// The public calendars (the reference client's defaults and Eternity Wall's).
pub const PUBLIC_CALENDARS: [&str; 3] = [
    "https://alice.btc.calendar.opentimestamps.org",
    "https://bob.btc.calendar.opentimestamps.org",
    "https://finney.calendar.eternitywall.com",
];

/// What the worker needs.
#[derive(Debug, Clone)]
pub struct OtsConfig {
    /// Calendar URLs (empty: no worker).
    pub calendars: Vec<String>,
    /// Proof-of-work rules for the verification before storing.
    pub network: Network,
    /// First retry delay of an upgrade (and of a failed submission).
    pub upgrade_interval: Duration,
    /// Longest retry delay.
    pub upgrade_max_interval: Duration,
    /// Where the headers of block H come from.
    pub headers: Option<HeaderSource>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// How often the worker looks for work.
    pub tick: Duration,
}

/// Called whenever an anchor row was stored or changed (the receipt cache).
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// The worker.
pub struct Worker {
    storage: Arc<dyn Storage>,
    cfg: OtsConfig,
    client: HttpClient,
    on_change: OnChange,
    /// Heads none of the calendars accepted yet: (failures, retry at).
    submit_retry: HashMap<i64, (i64, Instant)>,
    /// The newest batch seq seen at the last scan for heads to submit, and when.
    last_scan: Option<(i64, Instant)>,
}

/// Heads without an anchor are looked for when a new batch appears, when a
/// failed submission is due again, and at least this often.
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);

/// Runs the worker until `stop` is notified.
pub async fn run(
    storage: Arc<dyn Storage>,
    cfg: OtsConfig,
    on_change: OnChange,
    stop: Arc<tokio::sync::Notify>,
) {
    tracing::info!(
        calendars = %cfg.calendars.join(","),
        network = cfg.network.as_str(),
        headers = %cfg.headers.as_ref().map(|h| h.describe()).unwrap_or_else(|| "none".into()),
        "OpenTimestamps anchoring worker started"
    );
    if cfg.headers.is_none() {
        tracing::warn!(
            "no header source (--header-source): heads are submitted, but no proof can be verified \
             and stored as anchored until one is configured"
        );
    }
    let mut w = Worker::new(storage, cfg, on_change);
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            r = w.round() => if let Err(e) = r {
                tracing::warn!("anchoring round: {e:#}");
            },
        }
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(w.cfg.tick) => {}
        }
    }
}

/// Outcome of one upgrade attempt of one row.
enum Upgraded {
    Anchored {
        file: DetachedTimestampFile,
        height: u64,
        header: BlockHeader,
        block_hash: String,
        txid: Option<String>,
        /// The header source the header came from.
        confirmed_by: String,
    },
    NotYet {
        file: DetachedTimestampFile,
        changed: bool,
        errors: Vec<String>,
    },
}

impl Worker {
    /// A worker (public so tests can drive rounds themselves).
    pub fn new(storage: Arc<dyn Storage>, cfg: OtsConfig, on_change: OnChange) -> Self {
        let client = HttpClient::new(cfg.request_timeout);
        Worker {
            storage,
            cfg,
            client,
            on_change,
            submit_retry: HashMap::new(),
            last_scan: None,
        }
    }

    /// One round: claim, submit new heads, upgrade due ones, refresh metrics.
    pub async fn round(&mut self) -> anyhow::Result<()> {
        if !self.storage.claim_anchoring().await? {
            return Ok(());
        }
        self.submit_new().await?;
        self.upgrade_due().await?;
        Ok(())
    }

    fn known_calendar(&self, uri: &str) -> Option<&String> {
        let u = calendar::normalize(uri);
        self.cfg
            .calendars
            .iter()
            .find(|c| calendar::normalize(c) == u)
    }

    async fn submit_new(&mut self) -> anyhow::Result<()> {
        // The scan below reads every batch without an anchor; skip it when
        // nothing can have changed (cheap check of the newest seq).
        let latest = self.storage.latest_batch().await?.map_or(0, |b| b.seq);
        let now = Instant::now();
        let retry_due = self.submit_retry.values().any(|(_, at)| *at <= now);
        if let Some((seq, at)) = self.last_scan {
            if seq == latest && !retry_due && at.elapsed() < RESCAN_EVERY {
                return Ok(());
            }
        }
        self.last_scan = Some((latest, now));
        let batches = self
            .storage
            .batches_without_anchor(KIND, SUBMIT_PER_ROUND)
            .await?;
        if batches.len() as i64 == SUBMIT_PER_ROUND {
            // More may wait: scan again next round.
            self.last_scan = None;
        }
        self.submit_retry
            .retain(|seq, _| batches.iter().any(|b| b.seq == *seq));
        for b in batches {
            if let Some((_, at)) = self.submit_retry.get(&b.seq) {
                if *at > now {
                    continue;
                }
            }
            match self.stamp(&b).await {
                Ok(()) => {
                    self.submit_retry.remove(&b.seq);
                    (self.on_change)();
                }
                Err(e) => {
                    let n = self.submit_retry.get(&b.seq).map_or(0, |x| x.0) + 1;
                    let wait = backoff(self.cfg.upgrade_interval, self.cfg.upgrade_max_interval, n);
                    self.submit_retry.insert(b.seq, (n, Instant::now() + wait));
                    tracing::warn!(
                        seq = b.seq,
                        attempts = n,
                        retry_in_s = wait.as_secs_f64(),
                        "no calendar took the head: {e:#}"
                    );
                }
            }
        }
        Ok(())
    }

    /// Asks every calendar at once for the commitment; `(calendar, answer)`.
    async fn ask_all(
        &self,
        calendars: Vec<String>,
        commitment: [u8; 32],
    ) -> Vec<(
        String,
        anyhow::Result<kwh_btc_iot_core::encoding::ots::TimestampTree>,
    )> {
        let mut set = tokio::task::JoinSet::new();
        for c in calendars {
            let client = self.client.clone();
            set.spawn(async move {
                let r = calendar::submit(&client, &c, &commitment).await;
                (c, r)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok((c, r)) = r {
                let result = if r.is_ok() { "ok" } else { "error" };
                metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "submit", "calendar" => c.clone(), "result" => result).increment(1);
                out.push((c, r));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Submits one head to every calendar and stores the pending proof.
    async fn stamp(&self, b: &BatchRow) -> anyhow::Result<()> {
        let nonce = calendar::new_nonce()?;
        let commitment = calendar::commitment(&b.head_hash, &nonce);
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        for (c, r) in self.ask_all(self.cfg.calendars.clone(), commitment).await {
            match r {
                Ok(t) => answers.push(t),
                Err(e) => errors.push(format!("{c}: {e:#}")),
            }
        }
        if answers.is_empty() {
            return Err(anyhow!("{}", errors.join("; ")));
        }
        let file = calendar::build_file(&b.head_hash, &nonce, answers)?;
        let now = now_us();
        let row = AnchorRow {
            batch_seq: b.seq,
            kind: KIND.into(),
            status: anchor_status::PENDING.into(),
            data: StoredAnchor::ots(&file, None)?.encode(),
            next_attempt_us: now + self.cfg.upgrade_interval.as_micros() as i64,
            last_error: (!errors.is_empty()).then(|| format!("submit: {}", errors.join("; "))),
            created_us: now,
            updated_us: now,
            ..AnchorRow::default()
        };
        let id = self.storage.insert_anchor(row).await?;
        tracing::info!(
            seq = b.seq,
            anchor_id = id,
            failed_calendars = errors.len(),
            "head submitted to the calendars: pending"
        );
        Ok(())
    }

    async fn upgrade_due(&mut self) -> anyhow::Result<()> {
        let due = self
            .storage
            .anchors_due(KIND, now_us(), UPGRADE_PER_ROUND)
            .await?;
        for row in due {
            let mut row = row;
            let stored = StoredAnchor::decode(&row.data).and_then(|s| {
                s.ots_file()
                    .cloned()
                    .ok_or_else(|| anyhow!("not an opentimestamps anchor"))
            });
            let outcome = match stored {
                Ok(f) => self.upgrade(f, row.attempts).await,
                Err(e) => {
                    row.status = anchor_status::FAILED.into();
                    row.last_error = Some(format!("the stored proof does not parse: {e}"));
                    row.updated_us = now_us();
                    self.storage.update_anchor(row).await?;
                    (self.on_change)();
                    continue;
                }
            };
            let now = now_us();
            row.updated_us = now;
            match outcome {
                Upgraded::Anchored {
                    file,
                    height,
                    header,
                    block_hash,
                    txid,
                    confirmed_by,
                } => {
                    row.status = anchor_status::ANCHORED.into();
                    row.data = StoredAnchor::ots(&file, Some((height, header)))?.encode();
                    row.header = Some(header.to_bytes().to_vec());
                    row.height = Some(height as i64);
                    row.block_hash = Some(block_hash.clone());
                    row.txid = txid;
                    row.attempts += 1;
                    row.last_error = None;
                    row.confirmed_by = Some(confirmed_by);
                    tracing::info!(seq = row.batch_seq, height, block_hash = %block_hash, "head anchored in Bitcoin (OpenTimestamps)");
                    self.storage.update_anchor(row).await?;
                    (self.on_change)();
                }
                Upgraded::NotYet {
                    file,
                    changed,
                    errors,
                } => {
                    row.attempts += 1;
                    let wait = backoff(
                        self.cfg.upgrade_interval,
                        self.cfg.upgrade_max_interval,
                        row.attempts,
                    );
                    row.next_attempt_us = now + wait.as_micros() as i64;
                    row.last_error = Some(if errors.is_empty() {
                        "not in Bitcoin yet (the calendars have no upgrade)".to_string()
                    } else {
                        errors.join("; ")
                    });
                    if changed {
                        row.data = StoredAnchor::ots(&file, None)?.encode();
                    }
                    self.storage.update_anchor(row).await?;
                    if changed {
                        (self.on_change)();
                    }
                }
            }
        }
        Ok(())
    }

    async fn upgrade(&self, mut file: DetachedTimestampFile, attempts: i64) -> Upgraded {
        let mut errors = Vec::new();
        let mut changed = false;
        let digest: [u8; 32] = match file.digest.as_slice().try_into() {
            Ok(d) => d,
            Err(_) => {
                return Upgraded::NotYet {
                    file,
                    changed,
                    errors: vec!["the proof's digest is not 32 bytes".into()],
                }
            }
        };
        let pending = match calendar::pending(&file) {
            Ok(p) => p,
            Err(e) => {
                return Upgraded::NotYet {
                    file,
                    changed,
                    errors: vec![format!("{e:#}")],
                }
            }
        };
        // Calendars that did not take the commitment at submission: ask again.
        if attempts < MAX_RESUBMITS {
            if let Some(commitment) = calendar::commitment_of(&file) {
                let missing: Vec<String> = self
                    .cfg
                    .calendars
                    .iter()
                    .filter(|c| {
                        !pending
                            .iter()
                            .any(|(u, _)| calendar::normalize(u) == calendar::normalize(c))
                    })
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    for (c, r) in self.ask_all(missing, commitment).await {
                        match r.and_then(|t| calendar::add_answer(&mut file, &commitment, &t)) {
                            Ok(()) => changed = true,
                            Err(e) => errors.push(format!("submit {c}: {e:#}")),
                        }
                    }
                }
            }
        }
        for (uri, msg) in pending {
            let Some(cal) = self.known_calendar(&uri).cloned() else {
                errors.push(format!("{uri}: not a configured calendar; not asked"));
                continue;
            };
            let answer = calendar::upgrade(&self.client, &cal, &msg).await;
            let t = match answer {
                Ok(Some(t)) => t,
                Ok(None) => {
                    metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "upgrade", "calendar" => cal.clone(), "result" => "not_found").increment(1);
                    continue;
                }
                Err(e) => {
                    metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "upgrade", "calendar" => cal.clone(), "result" => "error").increment(1);
                    errors.push(format!("{e:#}"));
                    continue;
                }
            };
            match self.check_upgrade(&file, &digest, &msg, &t).await {
                Ok(Some(done)) => {
                    metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "upgrade", "calendar" => cal.clone(), "result" => "ok").increment(1);
                    return done;
                }
                Ok(None) => {
                    metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "upgrade", "calendar" => cal.clone(), "result" => "incomplete").increment(1);
                }
                Err(e) => {
                    metrics::counter!("kwh_btc_iot_ots_calendar_requests_total", "request" => "upgrade", "calendar" => cal.clone(), "result" => "invalid").increment(1);
                    errors.push(format!("{cal}: upgrade refused: {e:#}"));
                }
            }
        }
        Upgraded::NotYet {
            file,
            changed,
            errors,
        }
    }

    /// Merges an upgrade into a copy of the proof and verifies it with the
    /// core against the header source's header: `Some` when verified, `None`
    /// when the answer reaches no Bitcoin attestation yet, an error when it
    /// does not verify (tampered proof, wrong header, unreachable source).
    async fn check_upgrade(
        &self,
        file: &DetachedTimestampFile,
        digest: &[u8; 32],
        msg: &[u8],
        answer: &kwh_btc_iot_core::encoding::ots::TimestampTree,
    ) -> anyhow::Result<Option<Upgraded>> {
        let mut candidate = file.clone();
        candidate
            .timestamp
            .merge_at_message(digest, msg, answer)
            .map_err(|e| anyhow!("merging: {e}"))?;
        candidate.canonicalize();
        let heights = calendar::bitcoin_heights(&candidate)?;
        if heights.is_empty() {
            return Ok(None);
        }
        let source = self
            .cfg
            .headers
            .as_ref()
            .ok_or_else(|| anyhow!("no header source is configured (--header-source)"))?;
        let mut headers = BTreeMap::new();
        for h in heights {
            let header = source
                .header_at(&self.client, h)
                .await
                .map_err(|e| anyhow!("header of block {h}: {e:#}"))?;
            headers.insert(h, header);
        }
        let res = verify_ots_proof(&candidate, digest, &headers, self.cfg.network)
            .map_err(|f| anyhow!("the core refuses it at step {}: {}", f.step, f.message))?;
        if res.status != AnchorStatus::Verified {
            return Err(anyhow!(
                "the core reports it {}: {}",
                res.status,
                res.detail
            ));
        }
        let height = res
            .height
            .ok_or_else(|| anyhow!("verified without a height"))?;
        let header = *headers
            .get(&height)
            .ok_or_else(|| anyhow!("verified at {height} without its header"))?;
        Ok(Some(Upgraded::Anchored {
            file: candidate,
            height,
            header,
            block_hash: res
                .block_hash
                .unwrap_or_else(|| header.block_hash_display()),
            txid: res.txid,
            confirmed_by: source.describe(),
        }))
    }
}

/// Refreshes the anchor gauges every 5 s until `stop` is notified (every
/// instance does, whichever one anchors: they read the same storage).
pub async fn metrics_loop(storage: Arc<dyn Storage>, stop: Arc<tokio::sync::Notify>) {
    loop {
        if let Err(e) = update_metrics(storage.as_ref()).await {
            tracing::debug!("anchor metrics: {e:#}");
        }
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Refreshes the anchor gauges from storage.
pub async fn update_metrics(storage: &dyn Storage) -> anyhow::Result<()> {
    let stats = storage.anchor_stats().await?;
    for kind in [anchor::TYPE_OPENTIMESTAMPS, anchor::TYPE_BITCOIN] {
        for status in [
            anchor_status::PENDING,
            anchor_status::ANCHORED,
            anchor_status::FAILED,
        ] {
            let n = stats
                .counts
                .iter()
                .find(|(k, s, _)| k == kind && s == status)
                .map_or(0, |c| c.2);
            metrics::gauge!("kwh_btc_iot_anchors", "kind" => kind, "status" => status)
                .set(n as f64);
        }
    }
    if let Some(a) = stats.newest_anchored {
        metrics::gauge!("kwh_btc_iot_anchored_batch_seq").set(a.batch_seq as f64);
        if let Some(h) = a.height {
            metrics::gauge!("kwh_btc_iot_anchored_height").set(h as f64);
        }
        if let Some(b) = storage.batch_by_seq(a.batch_seq).await? {
            if let Ok(t) = kwh_btc_iot_core::time::Timestamp::parse(&b.created_at) {
                let age = (now_us() - crate::clock::unix_us(&t)) as f64 / 1e6;
                metrics::gauge!("kwh_btc_iot_anchored_batch_age_seconds").set(age.max(0.0));
            }
        }
    }
    Ok(())
}
