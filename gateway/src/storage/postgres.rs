//! PostgreSQL storage (sqlx): for sites that outgrow one machine. Several
//! gateway instances may share one database; flushes are serialized with a
//! transaction-scoped advisory lock, and a flush marks exactly the rows it
//! read (by their ids), so no log is ever in two batches and none is left out
//! of the tree it was marked for.

use async_trait::async_trait;
use kwh_btc_iot_core::Hash;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use super::*;

/// Advisory lock key of flushes ("kwh_btc1").
const FLUSH_LOCK: i64 = 0x6b77_685f_6274_6331;
/// Advisory lock key of migrations ("kwh_mig1").
const MIGRATE_LOCK: i64 = 0x6b77_685f_6d69_6731;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE kwh_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE logs (
  log_id BIGSERIAL PRIMARY KEY,
  leaf_hash BYTEA NOT NULL,
  site_id TEXT NOT NULL,
  iot_device_id TEXT NOT NULL,
  meter_id TEXT NOT NULL,
  ts_start_us BIGINT NOT NULL,
  canonical TEXT NOT NULL,
  log_signature BYTEA,
  signer BYTEA,
  received_at_us BIGINT NOT NULL,
  batch_seq BIGINT,
  leaf_index BIGINT
);
CREATE UNIQUE INDEX logs_leaf_hash ON logs(leaf_hash);
CREATE INDEX logs_unbatched ON logs(log_id) WHERE batch_seq IS NULL;
CREATE INDEX logs_batch ON logs(batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;
CREATE INDEX logs_device ON logs(iot_device_id, log_id);
CREATE TABLE batches (
  seq BIGINT PRIMARY KEY,
  batch_id TEXT NOT NULL UNIQUE,
  gateway_id TEXT NOT NULL,
  log_count BIGINT NOT NULL,
  merkle_root BYTEA NOT NULL,
  prev_head_hash BYTEA,
  created_at TEXT NOT NULL,
  head_hash BYTEA NOT NULL,
  signature BYTEA,
  public_key BYTEA,
  anchor_status TEXT NOT NULL DEFAULT 'pending',
  leaves BYTEA NOT NULL
);
"#,
    // 2: rejected MQTT payloads, raw (crate::mqtt::dead_letter).
    r#"
CREATE TABLE mqtt_dead_letters (
  id BIGSERIAL PRIMARY KEY,
  fingerprint BYTEA NOT NULL UNIQUE,
  received_at_us BIGINT NOT NULL,
  topic TEXT NOT NULL,
  payload BYTEA NOT NULL,
  payload_bytes BIGINT NOT NULL,
  error_code TEXT NOT NULL,
  error_message TEXT NOT NULL,
  error_member TEXT
);
"#,
    // 3: anchors of batch heads (crate::anchoring).
    r#"
CREATE TABLE anchors (
  id BIGSERIAL PRIMARY KEY,
  batch_seq BIGINT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  data BYTEA NOT NULL,
  header BYTEA,
  height BIGINT,
  block_hash TEXT,
  txid TEXT,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_us BIGINT NOT NULL,
  last_error TEXT,
  created_us BIGINT NOT NULL,
  updated_us BIGINT NOT NULL
);
CREATE INDEX anchors_batch ON anchors(batch_seq, kind);
CREATE INDEX anchors_kind_status ON anchors(kind, status, batch_seq);
CREATE INDEX anchors_due ON anchors(kind, next_attempt_us) WHERE status = 'pending';
"#,
    // 4: one encoding for `anchors.data`, the anchor's canonical JSON
    // (crate::anchoring::stored): `.ots` bytes and node mode's raw
    // transactions written before become JSON.
    r#"
UPDATE anchors SET data = convert_to(
  CASE WHEN header IS NOT NULL AND height IS NOT NULL AND status = 'anchored'
    THEN '{"headers":{"' || height::text || '":"' || encode(header, 'hex') || '"},'
    ELSE '{' END
  || '"ots":"' || encode(data, 'hex') || '","type":"opentimestamps"}', 'UTF8')
WHERE kind = 'opentimestamps' AND get_byte(data, 0) <> 123;
UPDATE anchors SET data = convert_to(
  '{"raw_tx":"' || encode(data, 'hex') || '","type":"bitcoin_unconfirmed"}', 'UTF8')
WHERE kind = 'bitcoin' AND status <> 'anchored' AND get_byte(data, 0) <> 123;
"#,
    // 5: which header source (or node) confirmed an anchor's block header.
    r#"
ALTER TABLE anchors ADD COLUMN confirmed_by TEXT;
"#,
    // 6: one reading, one log: each reading's (site, device, meter,
    // ts_start) current log, claimed by its primary key across instances;
    // corrections name the log they replace; indexes for the filters of
    // GET /api/v1/logs.
    r#"
CREATE TABLE readings (
  site_id TEXT NOT NULL,
  iot_device_id TEXT NOT NULL,
  meter_id TEXT NOT NULL,
  ts_start_us BIGINT NOT NULL,
  leaf_hash BYTEA NOT NULL,
  PRIMARY KEY (site_id, iot_device_id, meter_id, ts_start_us)
);
INSERT INTO readings
  SELECT DISTINCT ON (site_id, iot_device_id, meter_id, ts_start_us)
    site_id, iot_device_id, meter_id, ts_start_us, leaf_hash
  FROM logs ORDER BY site_id, iot_device_id, meter_id, ts_start_us, log_id DESC;
ALTER TABLE logs ADD COLUMN supersedes BYTEA;
CREATE INDEX logs_site ON logs(site_id, log_id);
CREATE INDEX logs_meter ON logs(meter_id, log_id);
CREATE INDEX logs_ts_start ON logs(ts_start_us, log_id);
"#,
];

/// Advisory lock key of the anchoring worker ("kwh_anc1"), held for a session.
const ANCHOR_LOCK: i64 = 0x6b77_685f_616e_6331;

const ANCHOR_COLUMNS: &str =
    "id, batch_seq, kind, status, data, header, height, block_hash, txid, \
     attempts, next_attempt_us, last_error, created_us, updated_us, confirmed_by";

const MARK_ANCHORED: &str =
    "UPDATE batches SET anchor_status = 'anchored' WHERE seq <= $1 AND anchor_status <> 'anchored'";

fn anchor_row(r: &PgRow) -> StoreResult<AnchorRow> {
    Ok(AnchorRow {
        id: r.try_get(0)?,
        batch_seq: r.try_get(1)?,
        kind: r.try_get(2)?,
        status: r.try_get(3)?,
        data: r.try_get(4)?,
        header: r.try_get(5)?,
        height: r.try_get(6)?,
        block_hash: r.try_get(7)?,
        txid: r.try_get(8)?,
        attempts: r.try_get(9)?,
        next_attempt_us: r.try_get(10)?,
        last_error: r.try_get(11)?,
        created_us: r.try_get(12)?,
        updated_us: r.try_get(13)?,
        confirmed_by: r.try_get(14)?,
    })
}

const LOG_COLUMNS: &str =
    "l.log_id, l.leaf_hash, l.canonical, l.log_signature, l.signer, l.received_at_us, \
     l.batch_seq, l.leaf_index, b.batch_id, l.iot_device_id, l.site_id, l.meter_id, \
     l.ts_start_us, l.supersedes";
const BATCH_COLUMNS: &str =
    "seq, batch_id, gateway_id, log_count, merkle_root, prev_head_hash, created_at, \
     head_hash, signature, public_key, anchor_status";

/// The PostgreSQL storage.
pub struct PostgresStorage {
    pool: PgPool,
    /// The connection holding the anchoring worker's advisory lock (and
    /// whether it holds it).
    anchor_lock: tokio::sync::Mutex<Option<(sqlx::PgConnection, bool)>>,
}

fn log_row(r: &PgRow) -> StoreResult<StoredLog> {
    Ok(StoredLog {
        log_id: r.try_get(0)?,
        leaf_hash: fixed::<32>(Some(r.try_get(1)?), "leaf_hash")?.expect("some"),
        canonical: r.try_get(2)?,
        log_signature: fixed::<64>(r.try_get(3)?, "log_signature")?,
        signer: fixed::<32>(r.try_get(4)?, "signer")?,
        received_at_us: r.try_get(5)?,
        batch_seq: r.try_get(6)?,
        leaf_index: r.try_get(7)?,
        batch_id: r.try_get(8)?,
        iot_device_id: r.try_get(9)?,
        site_id: r.try_get(10)?,
        meter_id: r.try_get(11)?,
        ts_start_us: r.try_get(12)?,
        supersedes: fixed::<32>(r.try_get(13)?, "supersedes")?,
    })
}

fn batch_row(r: &PgRow) -> StoreResult<BatchRow> {
    RawBatchRow {
        seq: r.try_get(0)?,
        batch_id: r.try_get(1)?,
        gateway_id: r.try_get(2)?,
        log_count: r.try_get(3)?,
        merkle_root: r.try_get(4)?,
        prev_head_hash: r.try_get(5)?,
        created_at: r.try_get(6)?,
        head_hash: r.try_get(7)?,
        signature: r.try_get(8)?,
        public_key: r.try_get(9)?,
        anchor_status: r.try_get(10)?,
    }
    .decode()
}

impl PostgresStorage {
    /// Connects and applies migrations (serialized across instances).
    pub async fn connect(url: &str) -> StoreResult<PostgresStorage> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(url)
            .await?;
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS kwh_schema_migrations (version INT PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM kwh_schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO kwh_schema_migrations (version) VALUES ($1)")
                .bind(i as i32 + 1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(PostgresStorage {
            pool,
            anchor_lock: tokio::sync::Mutex::new(None),
        })
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for PostgresStorage {
    async fn check_identity(&self, gateway_id: &str, public_key: &[u8; 32]) -> StoreResult<()> {
        let pk = kwh_btc_iot_core::encoding::hex::encode(public_key);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await?;
        let get = |k: &'static str| {
            sqlx::query_scalar::<_, String>("SELECT value FROM kwh_meta WHERE key = $1").bind(k)
        };
        let old_id = get("gateway_id").fetch_optional(&mut *tx).await?;
        let old_pk = get("public_key").fetch_optional(&mut *tx).await?;
        check_same(old_id.as_deref(), old_pk.as_deref(), gateway_id, &pk)?;
        for (k, v) in [("gateway_id", gateway_id.to_string()), ("public_key", pk)] {
            sqlx::query(
                "INSERT INTO kwh_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_anchoring(&self) -> StoreResult<bool> {
        let mut slot = self.anchor_lock.lock().await;
        if let Some((conn, held)) = slot.as_mut() {
            let alive = sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok();
            if alive && *held {
                return Ok(true);
            }
            if !alive {
                *slot = None;
            }
        }
        if slot.is_none() {
            *slot = Some((self.pool.acquire().await?.detach(), false));
        }
        let (conn, held) = slot.as_mut().expect("set above");
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(ANCHOR_LOCK)
            .fetch_one(&mut *conn)
            .await?;
        *held = got;
        Ok(got)
    }
}

#[async_trait]
impl LogStore for PostgresStorage {
    async fn insert_logs(&self, logs: Vec<NewLog>) -> StoreResult<Vec<Inserted>> {
        use std::collections::HashMap;
        type Key<'a> = (&'a str, &'a str, &'a str, i64);
        fn key(l: &NewLog) -> Key<'_> {
            (&l.site_id, &l.iot_device_id, &l.meter_id, l.ts_start_us)
        }
        let n = logs.len();
        let hashes: Vec<Vec<u8>> = logs.iter().map(|l| l.leaf_hash.to_vec()).collect();
        let mut tx = self.pool.begin().await?;
        // 1. Logs stored before: idempotent repeats.
        let known: HashMap<Vec<u8>, i64> = sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT log_id, leaf_hash FROM logs WHERE leaf_hash = ANY($1)",
        )
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, h)| (h, id))
        .collect();
        // 2. In input order: a repeat, the same log earlier in the group, a
        // second log of a reading claimed earlier in the group, or a
        // candidate that claims its reading.
        enum Plan {
            Known(i64),
            SameAs(usize),
            ConflictWith(usize),
            Candidate,
        }
        let mut plan = Vec::with_capacity(n);
        let mut by_leaf: HashMap<&[u8; 32], usize> = HashMap::new();
        let mut by_key: HashMap<Key<'_>, usize> = HashMap::new();
        let mut candidates = Vec::new();
        for (i, l) in logs.iter().enumerate() {
            if let Some(id) = known.get(&l.leaf_hash[..]) {
                plan.push(Plan::Known(*id));
            } else if let Some(&j) = by_leaf.get(&l.leaf_hash) {
                plan.push(Plan::SameAs(j));
            } else if let Some(&j) = by_key.get(&key(l)) {
                plan.push(Plan::ConflictWith(j));
            } else {
                by_leaf.insert(&l.leaf_hash, i);
                by_key.insert(key(l), i);
                candidates.push(i);
                plan.push(Plan::Candidate);
            }
        }
        // 3. Claim the readings. The primary key serializes claims across
        // gateway instances: a concurrent claim waits for the other
        // transaction and then loses.
        let mut won = vec![false; n];
        let (fresh, corrections): (Vec<usize>, Vec<usize>) = candidates
            .iter()
            .partition(|&&i| logs[i].supersedes.is_none());
        if !fresh.is_empty() {
            let col = |f: &dyn Fn(&NewLog) -> String| {
                fresh.iter().map(|&i| f(&logs[i])).collect::<Vec<_>>()
            };
            let claimed: Vec<(Vec<u8>,)> = sqlx::query_as(
                "INSERT INTO readings (site_id, iot_device_id, meter_id, ts_start_us, leaf_hash) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bytea[]) \
                 ON CONFLICT DO NOTHING RETURNING leaf_hash",
            )
            .bind(col(&|l| l.site_id.clone()))
            .bind(col(&|l| l.iot_device_id.clone()))
            .bind(col(&|l| l.meter_id.clone()))
            .bind(
                fresh
                    .iter()
                    .map(|&i| logs[i].ts_start_us)
                    .collect::<Vec<_>>(),
            )
            .bind(
                fresh
                    .iter()
                    .map(|&i| logs[i].leaf_hash.to_vec())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *tx)
            .await?;
            for (h,) in claimed {
                if let Some(&i) = h
                    .as_slice()
                    .try_into()
                    .ok()
                    .and_then(|h: &[u8; 32]| by_leaf.get(h))
                {
                    won[i] = true;
                }
            }
        }
        for &i in &corrections {
            let l = &logs[i];
            let old = l.supersedes.expect("a correction").to_vec();
            let moved = sqlx::query(
                "UPDATE readings SET leaf_hash = $5 WHERE site_id = $1 AND iot_device_id = $2 \
                 AND meter_id = $3 AND ts_start_us = $4 AND leaf_hash = $6",
            )
            .bind(&l.site_id)
            .bind(&l.iot_device_id)
            .bind(&l.meter_id)
            .bind(l.ts_start_us)
            .bind(l.leaf_hash.to_vec())
            .bind(old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            won[i] = moved == 1;
        }
        // 4. Who holds the readings the others lost to.
        let lost: Vec<usize> = candidates.iter().copied().filter(|&i| !won[i]).collect();
        let mut holders: HashMap<Key<'_>, (i64, Vec<u8>)> = HashMap::new();
        if !lost.is_empty() {
            let col = |f: &dyn Fn(&NewLog) -> String| {
                lost.iter().map(|&i| f(&logs[i])).collect::<Vec<_>>()
            };
            let rows: Vec<(String, String, String, i64, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT r.site_id, r.iot_device_id, r.meter_id, r.ts_start_us, l.log_id, r.leaf_hash \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS k(s, d, m, t) \
                 JOIN readings r ON r.site_id = k.s AND r.iot_device_id = k.d AND r.meter_id = k.m \
                 AND r.ts_start_us = k.t JOIN logs l ON l.leaf_hash = r.leaf_hash",
            )
            .bind(col(&|l| l.site_id.clone()))
            .bind(col(&|l| l.iot_device_id.clone()))
            .bind(col(&|l| l.meter_id.clone()))
            .bind(lost.iter().map(|&i| logs[i].ts_start_us).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            for (s, d, m, t, id, h) in rows {
                if let Some(&i) = by_key.get(&(&s[..], &d[..], &m[..], t)) {
                    holders.insert(key(&logs[i]), (id, h));
                }
            }
        }
        // 5. Store the winners.
        let winners: Vec<&NewLog> = candidates
            .iter()
            .filter(|&&i| won[i])
            .map(|&i| &logs[i])
            .collect();
        let mut new_ids: HashMap<Vec<u8>, i64> = HashMap::new();
        if !winners.is_empty() {
            let created: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                "INSERT INTO logs (leaf_hash, site_id, iot_device_id, meter_id, ts_start_us, canonical, log_signature, \
                 signer, received_at_us, supersedes) \
                 SELECT h, s, d, m, t, c, sg, sr, r, sp FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], \
                 $5::int8[], $6::text[], $7::bytea[], $8::bytea[], $9::int8[], $10::bytea[]) WITH ORDINALITY \
                 AS u(h, s, d, m, t, c, sg, sr, r, sp, ord) ORDER BY ord \
                 ON CONFLICT (leaf_hash) DO NOTHING RETURNING log_id, leaf_hash",
            )
            .bind(winners.iter().map(|l| l.leaf_hash.to_vec()).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.site_id.clone()).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.iot_device_id.clone()).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.meter_id.clone()).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.ts_start_us).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.canonical.clone()).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.log_signature.map(|s| s.to_vec())).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.signer.map(|s| s.to_vec())).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.received_at_us).collect::<Vec<_>>())
            .bind(winners.iter().map(|l| l.supersedes.map(|s| s.to_vec())).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
            new_ids = created.into_iter().map(|(id, h)| (h, id)).collect();
        }
        tx.commit().await?;
        // 6. The answers, in input order.
        let mut out: Vec<Inserted> = Vec::with_capacity(n);
        for (i, p) in plan.iter().enumerate() {
            let l = &logs[i];
            let r = match *p {
                Plan::Known(id) => Inserted::duplicate(id),
                Plan::SameAs(j) => {
                    let first = out[j];
                    if first.conflict.is_some() {
                        first
                    } else {
                        Inserted::duplicate(first.log_id)
                    }
                }
                Plan::ConflictWith(j) => match out[j] {
                    Inserted {
                        conflict: Some(_), ..
                    } => out[j],
                    first => Inserted::conflict(first.log_id, logs[j].leaf_hash),
                },
                Plan::Candidate if won[i] => {
                    let id = *new_ids.get(&l.leaf_hash[..]).ok_or_else(|| {
                        StoreError::Integrity("a claimed reading's log was not inserted".into())
                    })?;
                    Inserted::created(id)
                }
                Plan::Candidate => {
                    let (id, h) = holders.get(&key(l)).ok_or_else(|| {
                        StoreError::Integrity("a reading neither claimed nor held".into())
                    })?;
                    if h[..] == l.leaf_hash[..] {
                        // Stored meanwhile by another instance.
                        Inserted::duplicate(*id)
                    } else {
                        Inserted::conflict(
                            *id,
                            fixed::<32>(Some(h.clone()), "leaf_hash")?.expect("some"),
                        )
                    }
                }
            };
            out.push(r);
        }
        Ok(out)
    }

    async fn log_by_id(&self, log_id: i64) -> StoreResult<Option<StoredLog>> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN batches b ON b.seq = l.batch_seq WHERE l.log_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(log_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(log_row)
            .transpose()
    }

    async fn log_by_leaf(&self, leaf_hash: [u8; 32]) -> StoreResult<Option<StoredLog>> {
        let sql = format!("SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN batches b ON b.seq = l.batch_seq WHERE l.leaf_hash = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(leaf_hash.to_vec())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(log_row)
            .transpose()
    }

    async fn list_logs(&self, f: LogFilter) -> StoreResult<Vec<StoredLog>> {
        let mut sql = format!(
            "SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN batches b ON b.seq = l.batch_seq WHERE 1=1"
        );
        let mut n = 0;
        let mut cond = |c: &str| {
            n += 1;
            sql.push_str(&format!(" AND {c} ${n}"));
        };
        if f.site_id.is_some() {
            cond("l.site_id =");
        }
        if f.iot_device_id.is_some() {
            cond("l.iot_device_id =");
        }
        if f.meter_id.is_some() {
            cond("l.meter_id =");
        }
        if f.from_us.is_some() {
            cond("l.ts_start_us >=");
        }
        if f.to_us.is_some() {
            cond("l.ts_start_us <");
        }
        if f.batch_seq.is_some() {
            cond("l.batch_seq =");
        }
        if f.after.is_some() {
            cond("l.log_id >");
        }
        match f.unbatched {
            Some(true) => sql.push_str(" AND l.batch_seq IS NULL"),
            Some(false) => sql.push_str(" AND l.batch_seq IS NOT NULL"),
            None => {}
        }
        sql.push_str(&format!(" ORDER BY l.log_id LIMIT ${}", n + 1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in [f.site_id, f.iot_device_id, f.meter_id]
            .into_iter()
            .flatten()
        {
            q = q.bind(s);
        }
        for v in [f.from_us, f.to_us, f.batch_seq, f.after]
            .into_iter()
            .flatten()
        {
            q = q.bind(v);
        }
        q = q.bind(f.limit);
        q.fetch_all(&self.pool).await?.iter().map(log_row).collect()
    }

    async fn oldest_unbatched(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT received_at_us FROM logs WHERE batch_seq IS NULL ORDER BY log_id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count_unbatched(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM logs WHERE batch_seq IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[async_trait]
impl BatchStore for PostgresStorage {
    async fn flush(&self, max_logs: u64, plan: PlanFlush) -> StoreResult<Option<Batch>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FLUSH_LOCK)
            .execute(&mut *tx)
            .await?;
        let tip = chain_tip(
            sqlx::query_as("SELECT seq, head_hash FROM batches ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?,
        )?;
        let unbatched: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT log_id, leaf_hash FROM logs WHERE batch_seq IS NULL ORDER BY log_id LIMIT $1",
        )
        .bind(max_logs as i64)
        .fetch_all(&mut *tx)
        .await?;
        if unbatched.is_empty() {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(unbatched.len());
        let mut leaves = Vec::with_capacity(unbatched.len());
        for (id, h) in unbatched {
            ids.push(id);
            leaves.push(Hash(fixed::<32>(Some(h), "leaf_hash")?.expect("some")));
        }
        let (batch, row) = run_plan(plan, tip, leaves)?;
        // Marks exactly the logs read, by id: a log committed meanwhile by
        // another instance (with a lower id than some read) stays unbatched.
        let marked = sqlx::query(
            "UPDATE logs SET batch_seq = $1, leaf_index = u.ord - 1 \
             FROM unnest($2::int8[]) WITH ORDINALITY AS u(id, ord) \
             WHERE logs.log_id = u.id AND logs.batch_seq IS NULL",
        )
        .bind(row.seq)
        .bind(&ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked as i64 != row.log_count {
            return Err(StoreError::Integrity(format!(
                "a flush read {} unbatched logs but marked {marked}",
                row.log_count
            )));
        }
        sqlx::query(
            "INSERT INTO batches (seq, batch_id, gateway_id, log_count, merkle_root, prev_head_hash, created_at, \
             head_hash, signature, public_key, leaves) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.seq)
        .bind(&row.batch_id)
        .bind(&row.gateway_id)
        .bind(row.log_count)
        .bind(&row.merkle_root)
        .bind(&row.prev_head_hash)
        .bind(&row.created_at)
        .bind(&row.head_hash)
        .bind(&row.signature)
        .bind(&row.public_key)
        .bind(&row.leaves)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(batch))
    }

    async fn batch_by_seq(&self, seq: i64) -> StoreResult<Option<BatchRow>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE seq = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(batch_row)
            .transpose()
    }

    async fn batch_by_id(&self, batch_id: &str) -> StoreResult<Option<BatchRow>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches WHERE batch_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(batch_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(batch_row)
            .transpose()
    }

    async fn batch_leaves(&self, seq: i64) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT leaves FROM batches WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_batches(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<BatchRow>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(batch_row)
            .collect()
    }

    async fn latest_batch(&self) -> StoreResult<Option<BatchRow>> {
        let sql = format!("SELECT {BATCH_COLUMNS} FROM batches ORDER BY seq DESC LIMIT 1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(batch_row)
            .transpose()
    }

    async fn batches_in_range(&self, from_seq: i64, to_seq: i64) -> StoreResult<Vec<BatchRow>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE seq >= $1 AND seq <= $2 ORDER BY seq"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from_seq)
            .bind(to_seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(batch_row)
            .collect()
    }
}

#[async_trait]
impl AnchorStore for PostgresStorage {
    async fn insert_anchor(&self, a: AnchorRow) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = bind_anchor(
            sqlx::query(
                "INSERT INTO anchors (batch_seq, kind, status, data, header, height, block_hash, txid, attempts, \
                 next_attempt_us, last_error, created_us, updated_us, confirmed_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            ),
            &a,
        )
        .bind(a.created_us)
        .bind(a.updated_us)
        .bind(a.confirmed_by.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        mark_if_anchored(&mut tx, &a).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn update_anchor(&self, a: AnchorRow) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let n = bind_anchor(
            sqlx::query(
                "UPDATE anchors SET batch_seq = $1, kind = $2, status = $3, data = $4, header = $5, height = $6, \
                 block_hash = $7, txid = $8, attempts = $9, next_attempt_us = $10, last_error = $11, \
                 updated_us = $12, confirmed_by = $14 WHERE id = $13",
            ),
            &a,
        )
        .bind(a.updated_us)
        .bind(a.id)
        .bind(a.confirmed_by.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Integrity(format!("no anchor with id {}", a.id)));
        }
        mark_if_anchored(&mut tx, &a).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn anchors_of_batch(&self, seq: i64) -> StoreResult<Vec<AnchorRow>> {
        let sql = format!("SELECT {ANCHOR_COLUMNS} FROM anchors WHERE batch_seq = $1 ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(anchor_row)
            .collect()
    }

    async fn anchors_due(
        &self,
        kind: &str,
        now_us: i64,
        limit: i64,
    ) -> StoreResult<Vec<AnchorRow>> {
        let sql = format!(
            "SELECT {ANCHOR_COLUMNS} FROM anchors WHERE kind = $1 AND status = 'pending' \
             AND next_attempt_us <= $2 ORDER BY next_attempt_us, id LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(now_us)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(anchor_row)
            .collect()
    }

    async fn covering_anchors(&self, seq: i64) -> StoreResult<Vec<AnchorRow>> {
        let sql = format!(
            "SELECT {ANCHOR_COLUMNS} FROM anchors a WHERE a.id IN (SELECT (SELECT b.id FROM anchors b \
             WHERE b.kind = k.kind AND b.status = 'anchored' AND b.batch_seq >= $1 \
             ORDER BY b.batch_seq, b.id LIMIT 1) FROM (VALUES ('bitcoin'), ('opentimestamps')) AS k(kind)) \
             ORDER BY a.kind"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(anchor_row)
            .collect()
    }

    async fn batches_without_anchor(&self, kind: &str, limit: i64) -> StoreResult<Vec<BatchRow>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches b WHERE NOT EXISTS \
             (SELECT 1 FROM anchors a WHERE a.batch_seq = b.seq AND a.kind = $1) ORDER BY seq LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(batch_row)
            .collect()
    }

    async fn anchor_stats(&self) -> StoreResult<AnchorStats> {
        let counts: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, status, count(*) FROM anchors GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.pool)
        .await?;
        let sql = format!(
            "SELECT {ANCHOR_COLUMNS} FROM anchors WHERE status = 'anchored' \
             ORDER BY batch_seq DESC, id DESC LIMIT 1"
        );
        let newest_anchored = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(anchor_row)
            .transpose()?;
        Ok(AnchorStats {
            counts,
            newest_anchored,
        })
    }
}

#[async_trait]
impl DeadLetterStore for PostgresStorage {
    async fn insert_dead_letters(
        &self,
        letters: Vec<crate::mqtt::NewDeadLetter>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for d in letters {
            sqlx::query(
                "INSERT INTO mqtt_dead_letters (fingerprint, received_at_us, topic, payload, payload_bytes, error_code, \
                 error_message, error_member) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(d.fingerprint.to_vec())
            .bind(d.received_at_us)
            .bind(d.topic)
            .bind(d.payload)
            .bind(d.payload_bytes)
            .bind(d.error_code)
            .bind(d.error_message)
            .bind(d.error_member)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_dead_letters(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<crate::mqtt::DeadLetter>> {
        let rows = sqlx::query(
            "SELECT id, fingerprint, received_at_us, topic, payload, payload_bytes, error_code, error_message, error_member \
             FROM mqtt_dead_letters WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::mqtt::DeadLetter {
                    id: r.try_get(0)?,
                    letter: crate::mqtt::NewDeadLetter {
                        fingerprint: fixed::<32>(Some(r.try_get(1)?), "fingerprint")?
                            .expect("some"),
                        received_at_us: r.try_get(2)?,
                        topic: r.try_get(3)?,
                        payload: r.try_get(4)?,
                        payload_bytes: r.try_get(5)?,
                        error_code: r.try_get(6)?,
                        error_message: r.try_get(7)?,
                        error_member: r.try_get(8)?,
                    },
                })
            })
            .collect()
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds an anchor's columns from `batch_seq` to `last_error`, in table
/// order (`$1` to `$11`): what an insert and an update both write.
fn bind_anchor<'q>(q: PgQuery<'q>, a: &'q AnchorRow) -> PgQuery<'q> {
    q.bind(a.batch_seq)
        .bind(&a.kind)
        .bind(&a.status)
        .bind(&a.data)
        .bind(&a.header)
        .bind(a.height)
        .bind(&a.block_hash)
        .bind(&a.txid)
        .bind(a.attempts)
        .bind(a.next_attempt_us)
        .bind(&a.last_error)
}

/// An anchor stored as anchored marks its batch (and the earlier ones).
async fn mark_if_anchored(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    a: &AnchorRow,
) -> Result<(), sqlx::Error> {
    if a.status == anchor_status::ANCHORED {
        sqlx::query(MARK_ANCHORED)
            .bind(a.batch_seq)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
