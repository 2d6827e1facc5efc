//! SQLite storage: one file in the data directory, WAL journal,
//! `synchronous=FULL` (a commit is fsynced before it returns), one writer
//! connection (the group commit and the flushes) and a pool of readers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kwh_btc_iot_core::Hash;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::*;

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE logs (
  log_id INTEGER PRIMARY KEY,
  leaf_hash BLOB NOT NULL,
  site_id TEXT NOT NULL,
  iot_device_id TEXT NOT NULL,
  meter_id TEXT NOT NULL,
  ts_start_us INTEGER NOT NULL,
  canonical TEXT NOT NULL,
  log_signature BLOB,
  signer BLOB,
  received_at_us INTEGER NOT NULL,
  batch_seq INTEGER,
  leaf_index INTEGER
);
CREATE INDEX logs_unbatched ON logs(log_id) WHERE batch_seq IS NULL;
CREATE INDEX logs_batch ON logs(batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;
CREATE INDEX logs_device ON logs(iot_device_id, log_id);
CREATE TABLE batches (
  seq INTEGER PRIMARY KEY,
  batch_id TEXT NOT NULL UNIQUE,
  gateway_id TEXT NOT NULL,
  log_count INTEGER NOT NULL,
  merkle_root BLOB NOT NULL,
  prev_head_hash BLOB,
  created_at TEXT NOT NULL,
  head_hash BLOB NOT NULL,
  signature BLOB,
  public_key BLOB,
  anchor_status TEXT NOT NULL DEFAULT 'pending',
  leaves BLOB NOT NULL
);
"#,
    // 2: rejected MQTT payloads, raw (crate::mqtt::dead_letter).
    r#"
CREATE TABLE mqtt_dead_letters (
  id INTEGER PRIMARY KEY,
  fingerprint BLOB NOT NULL UNIQUE,
  received_at_us INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  payload_bytes INTEGER NOT NULL,
  error_code TEXT NOT NULL,
  error_message TEXT NOT NULL,
  error_member TEXT
);
"#,
    // 3: anchors of batch heads (crate::anchoring).
    r#"
CREATE TABLE anchors (
  id INTEGER PRIMARY KEY,
  batch_seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  data BLOB NOT NULL,
  header BLOB,
  height INTEGER,
  block_hash TEXT,
  txid TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_us INTEGER NOT NULL,
  last_error TEXT,
  created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
);
CREATE INDEX anchors_batch ON anchors(batch_seq, kind);
CREATE INDEX anchors_kind_status ON anchors(kind, status, batch_seq);
CREATE INDEX anchors_due ON anchors(kind, next_attempt_us) WHERE status = 'pending';
"#,
    // 4: one encoding for `anchors.data`, the anchor's canonical JSON
    // (crate::anchoring::stored): `.ots` bytes and node mode's raw
    // transactions written before become JSON.
    r#"
UPDATE anchors SET data = CAST(
  CASE WHEN header IS NOT NULL AND height IS NOT NULL AND status = 'anchored'
    THEN '{"headers":{"' || height || '":"' || lower(hex(header)) || '"},'
    ELSE '{' END
  || '"ots":"' || lower(hex(data)) || '","type":"opentimestamps"}' AS BLOB)
WHERE kind = 'opentimestamps' AND substr(CAST(data AS TEXT), 1, 1) <> '{';
UPDATE anchors SET data = CAST(
  '{"raw_tx":"' || lower(hex(data)) || '","type":"bitcoin_unconfirmed"}' AS BLOB)
WHERE kind = 'bitcoin' AND status <> 'anchored' AND substr(CAST(data AS TEXT), 1, 1) <> '{';
"#,
    // 5: which header source (or node) confirmed an anchor's block header.
    r#"
ALTER TABLE anchors ADD COLUMN confirmed_by TEXT;
"#,
    // 6: one reading, one log: each reading's (site, device, meter,
    // ts_start) current log; corrections name the log they replace; indexes
    // for the filters of GET /api/v1/logs.
    r#"
CREATE TABLE readings (
  site_id TEXT NOT NULL,
  iot_device_id TEXT NOT NULL,
  meter_id TEXT NOT NULL,
  ts_start_us INTEGER NOT NULL,
  log_id INTEGER NOT NULL,
  PRIMARY KEY (site_id, iot_device_id, meter_id, ts_start_us)
) WITHOUT ROWID;
INSERT INTO readings
  SELECT site_id, iot_device_id, meter_id, ts_start_us, max(log_id) FROM logs
  GROUP BY site_id, iot_device_id, meter_id, ts_start_us;
ALTER TABLE logs ADD COLUMN supersedes BLOB;
CREATE INDEX logs_site ON logs(site_id, log_id);
CREATE INDEX logs_meter ON logs(meter_id, log_id);
CREATE INDEX logs_ts_start ON logs(ts_start_us, log_id);
"#,
];

const ANCHOR_COLUMNS: &str =
    "id, batch_seq, kind, status, data, header, height, block_hash, txid, \
     attempts, next_attempt_us, last_error, created_us, updated_us, confirmed_by";

fn row_to_anchor(r: &rusqlite::Row<'_>) -> rusqlite::Result<AnchorRow> {
    Ok(AnchorRow {
        id: r.get(0)?,
        batch_seq: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        data: r.get(4)?,
        header: r.get(5)?,
        height: r.get(6)?,
        block_hash: r.get(7)?,
        txid: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_us: r.get(10)?,
        last_error: r.get(11)?,
        created_us: r.get(12)?,
        updated_us: r.get(13)?,
        confirmed_by: r.get(14)?,
    })
}

/// Marks `seq` and every earlier batch anchored (an anchored head commits to
/// every earlier one through `prev_head_hash`).
const MARK_ANCHORED: &str =
    "UPDATE batches SET anchor_status = 'anchored' WHERE seq <= ?1 AND anchor_status <> 'anchored'";

const LOG_COLUMNS: &str =
    "l.log_id, l.leaf_hash, l.canonical, l.log_signature, l.signer, l.received_at_us, \
     l.batch_seq, l.leaf_index, b.batch_id, l.iot_device_id, l.site_id, l.meter_id, \
     l.ts_start_us, l.supersedes";
const BATCH_COLUMNS: &str =
    "seq, batch_id, gateway_id, log_count, merkle_root, prev_head_hash, created_at, \
     head_hash, signature, public_key, anchor_status";

/// The SQLite storage.
pub struct SqliteStorage {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: std::path::PathBuf,
    durability: Arc<Durability>,
    synced: tokio::sync::watch::Receiver<u64>,
    leaves: Arc<std::sync::RwLock<LeafIndex>>,
    _lock: std::fs::File,
}

/// The leaf hash → log_id index, in memory. A B-tree index on 32 random
/// bytes makes every stored log rewrite one random page of the index, and
/// SQLite's WAL writes whole pages: 4 KiB of WAL per log, which is what bounds
/// ingest on this storage. So SQLite keeps no such index: the one writer
/// process (held by an exclusive lock on the data directory) keeps the first
/// 8 bytes of every leaf hash in memory (about 30 bytes per stored log), reads
/// the row to confirm a match, and rebuilds the map from the table at start.
/// PostgreSQL, shared by several processes, keeps its unique index.
#[derive(Default)]
struct LeafIndex {
    by_prefix: std::collections::HashMap<u64, i64>,
    /// Leaves whose 8-byte prefix is already taken by another leaf (rare).
    overflow: std::collections::HashMap<[u8; 32], i64>,
}

fn prefix(h: &[u8; 32]) -> u64 {
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

impl LeafIndex {
    /// The log_id of `leaf`, confirmed against the stored row.
    fn find(&self, conn: &Connection, leaf: &[u8; 32]) -> rusqlite::Result<Option<i64>> {
        let Some(&id) = self.by_prefix.get(&prefix(leaf)) else {
            return Ok(None);
        };
        let stored: Vec<u8> = conn
            .prepare_cached("SELECT leaf_hash FROM logs WHERE log_id = ?1")?
            .query_row([id], |r| r.get(0))?;
        if stored == leaf[..] {
            return Ok(Some(id));
        }
        Ok(self.overflow.get(leaf).copied())
    }

    fn add(&mut self, leaf: &[u8; 32], id: i64) {
        match self.by_prefix.entry(prefix(leaf)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.overflow.insert(*leaf, id);
            }
        }
    }
}

/// One writer process per data directory: an exclusive `flock` on a lock file.
fn lock_dir(dir: &Path) -> StoreResult<std::fs::File> {
    let path = dir.join("kwh-btc-iot.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Task(format!("opening {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(StoreError::Integrity(format!(
                "another gateway process uses {} (lock {} is held); one process per SQLite data directory \
                 (use PostgreSQL for several instances)",
                dir.display(),
                path.display()
            )));
        }
    }
    Ok(f)
}

/// Group fsync. The writer commits with `synchronous=OFF` (the frames reach
/// the WAL file through `write(2)`), numbers each commit, and wakes the syncer
/// thread; the syncer `fdatasync`s the WAL file and publishes the highest
/// commit it covers. A write returns only once its commit is covered, so an
/// answer still never precedes the fsync of what it reports, but one fsync
/// covers every commit made while the previous one ran, and the writer never
/// waits for the disk. Checkpoints run on their own connection with
/// `synchronous=FULL`, which syncs the WAL before and the database after
/// copying, so the WAL is only ever reused once its content is safe in the
/// database file. If an fsync fails, the storage refuses every later write
/// (as PostgreSQL does): the page cache can no longer be trusted.
struct Durability {
    written: std::sync::atomic::AtomicU64,
    wake: (Mutex<bool>, std::sync::Condvar),
    failed: Mutex<Option<String>>,
    synced: tokio::sync::watch::Sender<u64>,
}

impl Durability {
    fn notify(&self, stop: bool) {
        let mut g = self.wake.0.lock().unwrap_or_else(|p| p.into_inner());
        if stop {
            *g = true;
        }
        self.wake.1.notify_all();
    }

    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn syncer(d: Arc<Durability>, db: std::path::PathBuf) {
    use std::sync::atomic::Ordering;
    let wal_path = std::path::PathBuf::from(format!("{}-wal", db.display()));
    let mut wal: Option<std::fs::File> = None;
    let mut synced = 0u64;
    loop {
        let target = {
            let mut stop = d.wake.0.lock().unwrap_or_else(|p| p.into_inner());
            while d.written.load(Ordering::Acquire) <= synced && !*stop {
                stop = d.wake.1.wait(stop).unwrap_or_else(|p| p.into_inner());
            }
            let target = d.written.load(Ordering::Acquire);
            if target <= synced {
                return; // stopped, nothing left to sync
            }
            target
        };
        let result = (|| -> std::io::Result<()> {
            if wal.is_none() {
                let f = match std::fs::OpenOptions::new().read(true).open(&wal_path) {
                    Ok(f) => f,
                    // No WAL yet: nothing was written that needs syncing.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && target == 1 => {
                        return Ok(())
                    }
                    Err(e) => return Err(e),
                };
                // The WAL file's directory entry must be durable too.
                if let Some(dir) = wal_path.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                wal = Some(f);
            }
            wal.as_ref().expect("opened").sync_data()
        })();
        match result {
            Ok(()) => {
                synced = target;
                let _ = d.synced.send(target);
            }
            Err(e) => {
                tracing::error!(
                    "fsync of {} failed: {e}; refusing further writes",
                    wal_path.display()
                );
                *d.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("fsync of the WAL failed: {e}"));
                let _ = d.synced.send(u64::MAX);
                return;
            }
        }
    }
}

/// WAL size that triggers a checkpoint. Larger ones copy pages rewritten by
/// many small commits fewer times, but their database fsync stalls the WAL
/// fsyncs behind it for longer (worse p99 in the single-log benchmark).
const CHECKPOINT_WAL_BYTES: u64 = 16 << 20;

fn checkpointer(d: Arc<Durability>, db: std::path::PathBuf) {
    let conn = match Connection::open(&db).and_then(|c| {
        configure(&c)?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("checkpoint connection: {e}");
            return;
        }
    };
    let wal_path = std::path::PathBuf::from(format!("{}-wal", db.display()));
    loop {
        {
            let stop = d.wake.0.lock().unwrap_or_else(|p| p.into_inner());
            let (stop, _) = d
                .wake
                .1
                .wait_timeout(stop, std::time::Duration::from_millis(500))
                .unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
        }
        let big = std::fs::metadata(&wal_path)
            .map(|m| m.len() > CHECKPOINT_WAL_BYTES)
            .unwrap_or(false);
        if big {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!("checkpoint: {e}");
            }
        }
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // Closing the last connection checkpoints and deletes the WAL: that
        // checkpoint must sync the database file first, so the writer goes
        // back to FULL before it closes.
        if let Ok(w) = self.writer.lock() {
            let _ = w.pragma_update(None, "synchronous", "FULL");
        }
        self.durability.notify(true);
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is fsynced before it returns. The writer connection
    // turns this off and leaves the fsync to the syncer thread (see
    // `Durability`), which is what lets commits and fsyncs overlap.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn row_to_log(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredLogRaw,)> {
    Ok((StoredLogRaw {
        log_id: r.get(0)?,
        leaf_hash: r.get(1)?,
        canonical: r.get(2)?,
        log_signature: r.get(3)?,
        signer: r.get(4)?,
        received_at_us: r.get(5)?,
        batch_seq: r.get(6)?,
        leaf_index: r.get(7)?,
        batch_id: r.get(8)?,
        iot_device_id: r.get(9)?,
        site_id: r.get(10)?,
        meter_id: r.get(11)?,
        ts_start_us: r.get(12)?,
        supersedes: r.get(13)?,
    },))
}

struct StoredLogRaw {
    log_id: i64,
    leaf_hash: Vec<u8>,
    canonical: String,
    log_signature: Option<Vec<u8>>,
    signer: Option<Vec<u8>>,
    received_at_us: i64,
    batch_seq: Option<i64>,
    leaf_index: Option<i64>,
    batch_id: Option<String>,
    iot_device_id: String,
    site_id: String,
    meter_id: String,
    ts_start_us: i64,
    supersedes: Option<Vec<u8>>,
}

impl StoredLogRaw {
    fn cook(self) -> StoreResult<StoredLog> {
        Ok(StoredLog {
            log_id: self.log_id,
            leaf_hash: fixed::<32>(Some(self.leaf_hash), "leaf_hash")?.expect("some"),
            canonical: self.canonical,
            log_signature: fixed::<64>(self.log_signature, "log_signature")?,
            signer: fixed::<32>(self.signer, "signer")?,
            received_at_us: self.received_at_us,
            batch_seq: self.batch_seq,
            leaf_index: self.leaf_index,
            batch_id: self.batch_id,
            iot_device_id: self.iot_device_id,
            site_id: self.site_id,
            meter_id: self.meter_id,
            ts_start_us: self.ts_start_us,
            supersedes: fixed::<32>(self.supersedes, "supersedes")?,
        })
    }
}

fn row_to_batch(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawBatchRow> {
    Ok(RawBatchRow {
        seq: r.get(0)?,
        batch_id: r.get(1)?,
        gateway_id: r.get(2)?,
        log_count: r.get(3)?,
        merkle_root: r.get(4)?,
        prev_head_hash: r.get(5)?,
        created_at: r.get(6)?,
        head_hash: r.get(7)?,
        signature: r.get(8)?,
        public_key: r.get(9)?,
        anchor_status: r.get(10)?,
    })
}

impl SqliteStorage {
    /// Opens (creating and migrating) `dir/kwh-btc-iot.sqlite3`.
    pub fn open(dir: &Path) -> StoreResult<SqliteStorage> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Task(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("kwh-btc-iot.sqlite3");
        let lock = lock_dir(dir)?;
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        // Databases made before the in-memory index had a B-tree one.
        writer.execute_batch("DROP INDEX IF EXISTS logs_leaf_hash")?;
        let mut leaves = LeafIndex::default();
        {
            let mut st = writer.prepare("SELECT log_id, leaf_hash FROM logs")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let h: Vec<u8> = r.get(1)?;
                let h = fixed::<32>(Some(h), "leaf_hash")?.expect("some");
                leaves.add(&h, r.get(0)?);
            }
        }
        writer.pragma_update(None, "synchronous", "OFF")?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (tx, synced) = tokio::sync::watch::channel(0u64);
        let durability = Arc::new(Durability {
            written: std::sync::atomic::AtomicU64::new(0),
            wake: (Mutex::new(false), std::sync::Condvar::new()),
            failed: Mutex::new(None),
            synced: tx,
        });
        // Whatever earlier runs left in the WAL is made durable before the first answer.
        durability
            .written
            .store(1, std::sync::atomic::Ordering::Release);
        let (d, p) = (durability.clone(), path.clone());
        std::thread::Builder::new()
            .name("sqlite-fsync".into())
            .spawn(move || syncer(d, p))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let (d, p) = (durability.clone(), path.clone());
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpointer(d, p))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        durability.notify(false);
        Ok(SqliteStorage {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            path,
            durability,
            synced,
            leaves: Arc::new(std::sync::RwLock::new(leaves)),
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        if let Some(e) = self.durability.failure() {
            return Err(StoreError::Integrity(e));
        }
        let w = self.writer.clone();
        let d = self.durability.clone();
        let (out, seq) = tokio::task::spawn_blocking(move || {
            let mut conn = w.lock().unwrap_or_else(|p| p.into_inner());
            let out = f(&mut conn);
            // Numbered while the writer is held: commit order = number order.
            let seq = d.written.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
            drop(conn);
            d.notify(false);
            (out, seq)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        let out = out?;
        let mut rx = self.synced.clone();
        rx.wait_for(|s| *s >= seq)
            .await
            .map_err(|_| StoreError::Task("the fsync thread stopped".into()))?;
        if let Some(e) = self.durability.failure() {
            return Err(StoreError::Integrity(e));
        }
        Ok(out)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || with_reader(&pool, &path, f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// A point lookup by primary key, run in place: it takes microseconds,
    /// less than handing it to the blocking pool (receipt serving latency).
    fn read_now<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        with_reader(&self.readers, &self.path, f)
    }
}

fn with_reader<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let conn = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let conn = match conn {
        Some(c) => c,
        None => {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(std::time::Duration::from_secs(30))?;
            c
        }
    };
    let out = f(&conn);
    let mut p = pool.lock().unwrap_or_else(|p| p.into_inner());
    if p.len() < 16 {
        p.push(conn);
    }
    out
}

#[async_trait]
impl Storage for SqliteStorage {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }
}

#[async_trait]
impl IdentityStore for SqliteStorage {
    async fn check_identity(&self, gateway_id: &str, public_key: &[u8; 32]) -> StoreResult<()> {
        let (gid, pk) = (
            gateway_id.to_string(),
            kwh_btc_iot_core::encoding::hex::encode(public_key),
        );
        self.write(move |c| {
            let tx = c.transaction()?;
            let get = |k: &str| -> rusqlite::Result<Option<String>> {
                tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                    .optional()
            };
            let (old_id, old_pk) = (get("gateway_id")?, get("public_key")?);
            check_same(old_id.as_deref(), old_pk.as_deref(), &gid, &pk)?;
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('gateway_id', ?1)",
                [&gid],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('public_key', ?1)",
                [&pk],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl LogStore for SqliteStorage {
    async fn insert_logs(&self, logs: Vec<NewLog>) -> StoreResult<Vec<Inserted>> {
        let index = self.leaves.clone();
        self.write(move |c| {
            let mut index = index.write().unwrap_or_else(|p| p.into_inner());
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(logs.len());
            // New in this group: added to the index only once committed.
            let mut fresh: std::collections::HashMap<[u8; 32], i64> = std::collections::HashMap::new();
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO logs (leaf_hash, site_id, iot_device_id, meter_id, ts_start_us, canonical, \
                     log_signature, signer, received_at_us, supersedes) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                let mut current = tx.prepare_cached(
                    "SELECT r.log_id, l.leaf_hash FROM readings r JOIN logs l ON l.log_id = r.log_id \
                     WHERE r.site_id = ?1 AND r.iot_device_id = ?2 AND r.meter_id = ?3 AND r.ts_start_us = ?4",
                )?;
                let mut set_current = tx.prepare_cached(
                    "INSERT INTO readings (site_id, iot_device_id, meter_id, ts_start_us, log_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET log_id = excluded.log_id",
                )?;
                for l in &logs {
                    let known = match fresh.get(&l.leaf_hash) {
                        Some(id) => Some(*id),
                        None => index.find(&tx, &l.leaf_hash)?,
                    };
                    if let Some(log_id) = known {
                        out.push(Inserted::duplicate(log_id));
                        continue;
                    }
                    // One reading, one current log: a different log of the
                    // same reading is refused unless it corrects that one.
                    let now: Option<(i64, Vec<u8>)> = current
                        .query_row(params![l.site_id, l.iot_device_id, l.meter_id, l.ts_start_us], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?;
                    if let Some((log_id, leaf)) = now {
                        if l.supersedes.as_ref().map(|s| &s[..]) != Some(&leaf[..]) {
                            let leaf = fixed::<32>(Some(leaf), "leaf_hash")?.expect("some");
                            out.push(Inserted::conflict(log_id, leaf));
                            continue;
                        }
                    }
                    ins.execute(params![
                        &l.leaf_hash[..],
                        l.site_id,
                        l.iot_device_id,
                        l.meter_id,
                        l.ts_start_us,
                        l.canonical,
                        l.log_signature.as_ref().map(|s| &s[..]),
                        l.signer.as_ref().map(|s| &s[..]),
                        l.received_at_us,
                        l.supersedes.as_ref().map(|s| &s[..]),
                    ])?;
                    let log_id = tx.last_insert_rowid();
                    set_current.execute(params![l.site_id, l.iot_device_id, l.meter_id, l.ts_start_us, log_id])?;
                    fresh.insert(l.leaf_hash, log_id);
                    out.push(Inserted::created(log_id));
                }
            }
            tx.commit()?;
            for (h, id) in fresh {
                index.add(&h, id);
            }
            Ok(out)
        })
        .await
    }

    async fn log_by_id(&self, log_id: i64) -> StoreResult<Option<StoredLog>> {
        self.read_now(move |c| {
            let sql = format!("SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN batches b ON b.seq = l.batch_seq WHERE l.log_id = ?1");
            c.prepare_cached(&sql)?.query_row([log_id], row_to_log).optional()?.map(|r| r.0.cook()).transpose()
        })
    }

    async fn log_by_leaf(&self, leaf_hash: [u8; 32]) -> StoreResult<Option<StoredLog>> {
        let candidates: Vec<i64> = {
            let index = self.leaves.read().unwrap_or_else(|p| p.into_inner());
            index
                .by_prefix
                .get(&prefix(&leaf_hash))
                .copied()
                .into_iter()
                .chain(index.overflow.get(&leaf_hash).copied())
                .collect()
        };
        for id in candidates {
            if let Some(log) = self.log_by_id(id).await? {
                if log.leaf_hash == leaf_hash {
                    return Ok(Some(log));
                }
            }
        }
        Ok(None)
    }

    async fn list_logs(&self, f: LogFilter) -> StoreResult<Vec<StoredLog>> {
        self.read(move |c| {
            let mut sql = format!("SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN batches b ON b.seq = l.batch_seq WHERE 1=1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            let mut add = |cond: &str, v: rusqlite::types::Value| {
                args.push(v);
                sql.push_str(&format!(" AND {cond} ?{}", args.len()));
            };
            use rusqlite::types::Value as V;
            if let Some(v) = f.site_id { add("l.site_id =", V::Text(v)); }
            if let Some(v) = f.iot_device_id { add("l.iot_device_id =", V::Text(v)); }
            if let Some(v) = f.meter_id { add("l.meter_id =", V::Text(v)); }
            if let Some(v) = f.from_us { add("l.ts_start_us >=", V::Integer(v)); }
            if let Some(v) = f.to_us { add("l.ts_start_us <", V::Integer(v)); }
            if let Some(v) = f.batch_seq { add("l.batch_seq =", V::Integer(v)); }
            if let Some(v) = f.after { add("l.log_id >", V::Integer(v)); }
            match f.unbatched {
                Some(true) => sql.push_str(" AND l.batch_seq IS NULL"),
                Some(false) => sql.push_str(" AND l.batch_seq IS NOT NULL"),
                None => {}
            }
            args.push(V::Integer(f.limit));
            sql.push_str(&format!(" ORDER BY l.log_id LIMIT ?{}", args.len()));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), row_to_log)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(|r| r.0.cook())).collect()
        })
        .await
    }

    async fn oldest_unbatched(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT received_at_us FROM logs WHERE batch_seq IS NULL ORDER BY log_id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn count_unbatched(&self) -> StoreResult<i64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM logs WHERE batch_seq IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

#[async_trait]
impl BatchStore for SqliteStorage {
    async fn flush(&self, max_logs: u64, plan: PlanFlush) -> StoreResult<Option<Batch>> {
        self.write(move |c| {
            // IMMEDIATE: the write lock is taken before the reads, so the
            // logs read are the logs marked (one writer per database).
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let tip = chain_tip(
                tx.query_row(
                    "SELECT seq, head_hash FROM batches ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
            )?;
            let mut leaves: Vec<Hash> = Vec::new();
            {
                let mut st = tx.prepare(
                    "SELECT leaf_hash FROM logs WHERE batch_seq IS NULL ORDER BY log_id LIMIT ?1",
                )?;
                let mut q = st.query([max_logs as i64])?;
                while let Some(r) = q.next()? {
                    let h: Vec<u8> = r.get(0)?;
                    leaves.push(Hash(fixed::<32>(Some(h), "leaf_hash")?.expect("some")));
                }
            }
            if leaves.is_empty() {
                return Ok(None);
            }
            let (batch, row) = run_plan(plan, tip, leaves)?;
            let marked = tx.execute(
                "UPDATE logs SET batch_seq = ?1, leaf_index = t.idx \
                 FROM (SELECT log_id AS id, row_number() OVER (ORDER BY log_id) - 1 AS idx \
                       FROM logs WHERE batch_seq IS NULL ORDER BY log_id LIMIT ?2) AS t \
                 WHERE logs.log_id = t.id",
                params![row.seq, row.log_count],
            )?;
            if marked as i64 != row.log_count {
                return Err(StoreError::Integrity(format!(
                    "a flush read {} unbatched logs but marked {marked}",
                    row.log_count
                )));
            }
            tx.execute(
                "INSERT INTO batches (seq, batch_id, gateway_id, log_count, merkle_root, prev_head_hash, \
                 created_at, head_hash, signature, public_key, leaves) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    row.seq,
                    row.batch_id,
                    row.gateway_id,
                    row.log_count,
                    row.merkle_root,
                    row.prev_head_hash,
                    row.created_at,
                    row.head_hash,
                    row.signature,
                    row.public_key,
                    row.leaves
                ],
            )?;
            tx.commit()?;
            Ok(Some(batch))
        })
        .await
    }

    async fn batch_by_seq(&self, seq: i64) -> StoreResult<Option<BatchRow>> {
        self.read_now(move |c| {
            let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE seq = ?1");
            c.prepare_cached(&sql)?
                .query_row([seq], row_to_batch)
                .optional()?
                .map(RawBatchRow::decode)
                .transpose()
        })
    }

    async fn batch_by_id(&self, batch_id: &str) -> StoreResult<Option<BatchRow>> {
        let id = batch_id.to_string();
        self.read_now(move |c| {
            let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE batch_id = ?1");
            c.prepare_cached(&sql)?
                .query_row([id], row_to_batch)
                .optional()?
                .map(RawBatchRow::decode)
                .transpose()
        })
    }

    async fn batch_leaves(&self, seq: i64) -> StoreResult<Option<Vec<u8>>> {
        self.read(move |c| {
            Ok(
                c.query_row("SELECT leaves FROM batches WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn list_batches(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<BatchRow>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params![before.unwrap_or(i64::MAX), limit], row_to_batch)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(RawBatchRow::decode))
                .collect()
        })
        .await
    }

    async fn latest_batch(&self) -> StoreResult<Option<BatchRow>> {
        Ok(self
            .query_batches(
                format!("SELECT {BATCH_COLUMNS} FROM batches ORDER BY seq DESC LIMIT 1"),
                vec![],
            )
            .await?
            .pop())
    }

    async fn batches_in_range(&self, from_seq: i64, to_seq: i64) -> StoreResult<Vec<BatchRow>> {
        use rusqlite::types::Value as V;
        self.query_batches(
            format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
            ),
            vec![V::Integer(from_seq), V::Integer(to_seq)],
        )
        .await
    }
}

#[async_trait]
impl AnchorStore for SqliteStorage {
    async fn insert_anchor(&self, a: AnchorRow) -> StoreResult<i64> {
        self.insert_anchor_impl(a).await
    }

    async fn update_anchor(&self, a: AnchorRow) -> StoreResult<()> {
        self.update_anchor_impl(a).await
    }

    async fn anchors_of_batch(&self, seq: i64) -> StoreResult<Vec<AnchorRow>> {
        use rusqlite::types::Value as V;
        self.query_anchors(
            format!("SELECT {ANCHOR_COLUMNS} FROM anchors WHERE batch_seq = ?1 ORDER BY id"),
            vec![V::Integer(seq)],
        )
        .await
    }

    async fn anchors_due(
        &self,
        kind: &str,
        now_us: i64,
        limit: i64,
    ) -> StoreResult<Vec<AnchorRow>> {
        use rusqlite::types::Value as V;
        self.query_anchors(
            format!(
                "SELECT {ANCHOR_COLUMNS} FROM anchors WHERE kind = ?1 AND status = 'pending' \
                 AND next_attempt_us <= ?2 ORDER BY next_attempt_us, id LIMIT ?3"
            ),
            vec![V::Text(kind.into()), V::Integer(now_us), V::Integer(limit)],
        )
        .await
    }

    async fn covering_anchors(&self, seq: i64) -> StoreResult<Vec<AnchorRow>> {
        use rusqlite::types::Value as V;
        self.query_anchors(
            format!(
                "SELECT {ANCHOR_COLUMNS} FROM anchors a WHERE a.id IN (SELECT (SELECT b.id FROM anchors b \
                 WHERE b.kind = k.kind AND b.status = 'anchored' AND b.batch_seq >= ?1 \
                 ORDER BY b.batch_seq, b.id LIMIT 1) FROM (SELECT 'bitcoin' AS kind UNION ALL SELECT 'opentimestamps') k) \
                 ORDER BY a.kind"
            ),
            vec![V::Integer(seq)],
        )
        .await
    }

    async fn batches_without_anchor(&self, kind: &str, limit: i64) -> StoreResult<Vec<BatchRow>> {
        use rusqlite::types::Value as V;
        self.query_batches(
            format!(
                "SELECT {BATCH_COLUMNS} FROM batches b WHERE NOT EXISTS \
                 (SELECT 1 FROM anchors a WHERE a.batch_seq = b.seq AND a.kind = ?1) ORDER BY seq LIMIT ?2"
            ),
            vec![V::Text(kind.into()), V::Integer(limit)],
        )
        .await
    }

    async fn anchor_stats(&self) -> StoreResult<AnchorStats> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT kind, status, count(*) FROM anchors GROUP BY kind, status ORDER BY kind, status",
            )?;
            let counts = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let newest_anchored = c
                .prepare_cached(&format!(
                    "SELECT {ANCHOR_COLUMNS} FROM anchors WHERE status = 'anchored' \
                     ORDER BY batch_seq DESC, id DESC LIMIT 1"
                ))?
                .query_row([], row_to_anchor)
                .optional()?;
            Ok(AnchorStats {
                counts,
                newest_anchored,
            })
        })
        .await
    }
}

#[async_trait]
impl DeadLetterStore for SqliteStorage {
    async fn insert_dead_letters(
        &self,
        letters: Vec<crate::mqtt::NewDeadLetter>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO mqtt_dead_letters (fingerprint, received_at_us, topic, payload, payload_bytes, \
                     error_code, error_message, error_member) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (fingerprint) DO NOTHING",
                )?;
                for d in &letters {
                    ins.execute(params![
                        &d.fingerprint[..],
                        d.received_at_us,
                        d.topic,
                        d.payload,
                        d.payload_bytes,
                        d.error_code,
                        d.error_message,
                        d.error_member
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<crate::mqtt::DeadLetter>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, fingerprint, received_at_us, topic, payload, payload_bytes, error_code, error_message, \
                 error_member FROM mqtt_dead_letters WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = st.query_map(params![after.unwrap_or(0), limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, crate::mqtt::NewDeadLetter {
                    fingerprint: [0; 32],
                    received_at_us: r.get(2)?,
                    topic: r.get(3)?,
                    payload: r.get(4)?,
                    payload_bytes: r.get(5)?,
                    error_code: r.get(6)?,
                    error_message: r.get(7)?,
                    error_member: r.get(8)?,
                }))
            })?;
            rows.map(|r| {
                let (id, fp, mut letter) = r?;
                letter.fingerprint = fixed::<32>(Some(fp), "fingerprint")?.expect("some");
                Ok(crate::mqtt::DeadLetter { id, letter })
            })
            .collect()
        })
        .await
    }
}

impl SqliteStorage {
    async fn query_anchors(
        &self,
        sql: String,
        args: Vec<rusqlite::types::Value>,
    ) -> StoreResult<Vec<AnchorRow>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), row_to_anchor)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn query_batches(
        &self,
        sql: String,
        args: Vec<rusqlite::types::Value>,
    ) -> StoreResult<Vec<BatchRow>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), row_to_batch)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(RawBatchRow::decode))
                .collect()
        })
        .await
    }
}

/// The anchor writes of [`AnchorStore`] for SQLite (called from the trait impl).
impl SqliteStorage {
    async fn insert_anchor_impl(&self, a: AnchorRow) -> StoreResult<i64> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut p = anchor_params(&a).to_vec();
            p.extend([
                &a.created_us as &dyn rusqlite::ToSql,
                &a.updated_us,
                &a.confirmed_by,
            ]);
            tx.execute(
                "INSERT INTO anchors (batch_seq, kind, status, data, header, height, block_hash, txid, attempts, \
                 next_attempt_us, last_error, created_us, updated_us, confirmed_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                rusqlite::params_from_iter(p),
            )?;
            let id = tx.last_insert_rowid();
            mark_if_anchored(&tx, &a)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    async fn update_anchor_impl(&self, a: AnchorRow) -> StoreResult<()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut p = anchor_params(&a).to_vec();
            p.extend([
                &a.updated_us as &dyn rusqlite::ToSql,
                &a.id,
                &a.confirmed_by,
            ]);
            let n = tx.execute(
                "UPDATE anchors SET batch_seq = ?1, kind = ?2, status = ?3, data = ?4, header = ?5, height = ?6, \
                 block_hash = ?7, txid = ?8, attempts = ?9, next_attempt_us = ?10, last_error = ?11, \
                 updated_us = ?12, confirmed_by = ?14 WHERE id = ?13",
                rusqlite::params_from_iter(p),
            )?;
            if n != 1 {
                return Err(StoreError::Integrity(format!("no anchor with id {}", a.id)));
            }
            mark_if_anchored(&tx, &a)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

/// An anchor's columns from `batch_seq` to `last_error`, in table order
/// (`?1` to `?11`): what an insert and an update both write.
fn anchor_params(a: &AnchorRow) -> [&dyn rusqlite::ToSql; 11] {
    [
        &a.batch_seq,
        &a.kind,
        &a.status,
        &a.data,
        &a.header,
        &a.height,
        &a.block_hash,
        &a.txid,
        &a.attempts,
        &a.next_attempt_us,
        &a.last_error,
    ]
}

/// An anchor stored as anchored marks its batch (and the earlier ones).
fn mark_if_anchored(tx: &rusqlite::Transaction<'_>, a: &AnchorRow) -> rusqlite::Result<()> {
    if a.status == anchor_status::ANCHORED {
        tx.execute(MARK_ANCHORED, [a.batch_seq])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchoring::stored::StoredAnchor;
    use kwh_btc_iot_core::encoding::ots::{Attestation, DetachedTimestampFile, Op, TimestampTree};
    use kwh_btc_iot_core::model::anchor::Anchor;

    #[test]
    fn migration_6_keeps_legacy_second_readings_and_makes_the_last_current() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        let insert = "INSERT INTO logs (leaf_hash, site_id, iot_device_id, meter_id, ts_start_us, canonical, \
                      received_at_us) VALUES (?1, 'S', 'D', ?2, ?3, '{}', 0)";
        // Two different logs of one reading (accepted before this rule), and
        // one of another reading.
        for (leaf, meter, ts) in [(1u8, "M", 10i64), (2, "M", 10), (3, "M", 20)] {
            conn.execute(insert, params![vec![leaf; 32], meter, ts])
                .unwrap();
        }
        conn.execute_batch(MIGRATIONS[5]).unwrap();
        let logs: i64 = conn
            .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(logs, 3, "no stored log is lost");
        let current: Vec<(i64, i64)> = conn
            .prepare("SELECT ts_start_us, log_id FROM readings ORDER BY ts_start_us")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            current,
            vec![(10, 2), (20, 3)],
            "the later log is the reading's current one"
        );
    }

    #[test]
    fn migration_4_turns_legacy_anchor_data_into_json() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let file = DetachedTimestampFile::new(
            Op::Sha256,
            vec![7; 32],
            TimestampTree::with_attestation(Attestation::Pending {
                uri: "https://calendar.example".into(),
            }),
        )
        .unwrap();
        let ots = file.to_bytes().unwrap();
        let header = [0x11u8; 80];
        let insert = "INSERT INTO anchors (batch_seq, kind, status, data, header, height, \
                      next_attempt_us, created_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0)";
        conn.execute(
            insert,
            params![
                1,
                "opentimestamps",
                "pending",
                ots,
                None::<Vec<u8>>,
                None::<i64>
            ],
        )
        .unwrap();
        conn.execute(
            insert,
            params![
                2,
                "opentimestamps",
                "anchored",
                ots,
                header.to_vec(),
                850_000
            ],
        )
        .unwrap();
        conn.execute(
            insert,
            params![
                3,
                "bitcoin",
                "pending",
                vec![1u8, 2, 3],
                None::<Vec<u8>>,
                None::<i64>
            ],
        )
        .unwrap();
        let anchored_json = br#"{"type":"later"}"#.to_vec();
        conn.execute(
            insert,
            params![
                4,
                "bitcoin",
                "anchored",
                anchored_json,
                None::<Vec<u8>>,
                None::<i64>
            ],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let data: Vec<Vec<u8>> = conn
            .prepare("SELECT data FROM anchors ORDER BY batch_seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let decoded: Vec<StoredAnchor> = data
            .iter()
            .map(|d| StoredAnchor::decode(d).unwrap())
            .collect();
        match &decoded[0] {
            StoredAnchor::Anchor(Anchor::OpenTimestamps(o)) => {
                assert_eq!(o.ots, ots);
                assert!(o.headers.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match &decoded[1] {
            StoredAnchor::Anchor(Anchor::OpenTimestamps(o)) => {
                assert_eq!(o.ots, ots);
                assert_eq!(o.headers.get(&850_000).map(|h| h.to_bytes()), Some(header));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decoded[2], StoredAnchor::UnconfirmedTx(vec![1, 2, 3]));
        assert_eq!(
            data[3], br#"{"type":"later"}"#,
            "JSON rows are left as they are"
        );
        // Written by this version: canonical JSON, read back the same.
        assert_eq!(
            StoredAnchor::decode(&decoded[1].encode()).unwrap(),
            decoded[1]
        );
    }
}
