//! Ingest: validating a log with the core, and the group commit. Every
//! accepted log goes through one writer task that gathers the logs of all
//! requests waiting at that moment into one transaction, so one fsync makes a
//! whole group durable before any of its requests is answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use kwh_btc_iot_core::json_lines::{self, ArrayError};
use kwh_btc_iot_core::model::head::Signature;
use kwh_btc_iot_core::{Error as CoreError, ErrorCode};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::auth::Principal;
use crate::config::AuthConfig;
use crate::error::AppError;
use crate::storage::{Inserted, NewLog, Storage};

/// Largest group written in one transaction (a bulk request is never split).
pub const MAX_GROUP: usize = 16_384;
/// Groups written or waiting for their fsync at once.
pub const MAX_IN_FLIGHT: usize = 3;

struct Job {
    logs: Vec<NewLog>,
    reply: oneshot::Sender<Result<Vec<Inserted>, String>>,
}

/// The writer task's handle.
#[derive(Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Job>,
}

/// Logs stored but not yet batched (by this instance), and a signal for the
/// auto-flusher when that count reaches its threshold.
#[derive(Debug, Default)]
pub struct Pending {
    /// Count.
    pub count: AtomicU64,
    /// Signalled after each group.
    pub notify: Notify,
}

impl Ingestor {
    /// Starts the writer task.
    pub fn start(
        storage: Arc<dyn Storage>,
        pending: Arc<Pending>,
    ) -> (Ingestor, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(65_536);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        let handle = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Waiting for a slot lets the next group grow meanwhile.
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let mut n = first.logs.len();
                let mut jobs = vec![first];
                while n < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(j) => {
                            n += j.logs.len();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                let mut all = Vec::with_capacity(n);
                let mut sizes = Vec::with_capacity(jobs.len());
                let mut replies = Vec::with_capacity(jobs.len());
                for j in jobs {
                    sizes.push(j.logs.len());
                    all.extend(j.logs);
                    replies.push(j.reply);
                }
                metrics::histogram!("kwh_btc_iot_commit_group_logs").record(n as f64);
                // Several groups may be in flight: the storage orders the
                // writes, and one group's fsync overlaps the next one's write.
                let (storage, pending) = (storage.clone(), pending.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match storage.insert_logs(all).await {
                        Ok(results) => {
                            let created = results.iter().filter(|r| r.created).count() as u64;
                            metrics::counter!("kwh_btc_iot_logs_ingested_total").increment(created);
                            metrics::counter!("kwh_btc_iot_logs_duplicate_total")
                                .increment(n as u64 - created);
                            pending.count.fetch_add(created, Ordering::Relaxed);
                            let mut it = results.into_iter();
                            for (size, reply) in sizes.into_iter().zip(replies) {
                                let _ = reply.send(Ok(it.by_ref().take(size).collect()));
                            }
                            pending.notify.notify_one();
                        }
                        Err(e) => {
                            tracing::error!("storing a group of {n} logs failed: {e}");
                            for reply in replies {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                });
            }
            // Wait for the groups still in flight before the task ends.
            let _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32).await;
        });
        (Ingestor { tx }, handle)
    }

    /// Stores logs durably; the results are in input order.
    pub async fn submit(&self, logs: Vec<NewLog>) -> Result<Vec<Inserted>, AppError> {
        if logs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { logs, reply })
            .await
            .map_err(|_| AppError::storage("the writer task has stopped"))?;
        match rx.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(AppError::storage(e)),
            Err(_) => Err(AppError::storage("the writer task has stopped")),
        }
    }
}

/// A validated log, ready for the writer.
#[derive(Debug)]
pub struct Prepared {
    /// The row.
    pub log: NewLog,
    /// Plausibility warnings.
    pub warnings: Vec<kwh_btc_iot_core::Warning>,
}

/// Validates one log (core), checks the caller may write its device, and
/// checks the device's signature where its key is configured.
pub fn prepare(
    body: &[u8],
    principal: &Principal,
    auth: &AuthConfig,
    signature_hex: Option<&str>,
    received_at_us: i64,
) -> Result<Prepared, AppError> {
    let n = kwh_btc_iot_core::normalize(body)?;
    let log = &n.log;
    principal.require_device(&log.iot_device_id)?;
    // Exact ids only: a look-alike ("gw-S " or a full-width letter) of a
    // device that must sign would otherwise be stored unsigned.
    if auth.device_known(&log.iot_device_id) == Some(false) {
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::error::codes::UNKNOWN_DEVICE,
            format!(
                "iot_device_id: {:?} is not a configured device (devices are configured, so only their exact ids are accepted)",
                log.iot_device_id
            ),
        )
        .member("iot_device_id"));
    }
    // A device bound to sites or meters in the configuration writes only
    // those, whoever sends its logs (its key, the admin, the MQTT bridge).
    if let Some(rules) = auth.devices.get(log.iot_device_id.as_ref()) {
        for (allowed, value, member) in [
            (&rules.sites, log.site_id.as_ref(), "site_id"),
            (&rules.meters, log.meter_id.as_ref(), "meter_id"),
        ] {
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a == value) {
                    return Err(AppError::forbidden(format!(
                        "{member}: device {:?} is not bound to {member} {value:?} (the configuration binds it to {allowed:?})",
                        log.iot_device_id
                    ))
                    .member(member));
                }
            }
        }
    }
    let mut canonical = Vec::with_capacity(512);
    log.write_canonical(&mut canonical);
    let leaf = kwh_btc_iot_core::hash::leaf_hash_bytes(&canonical);
    let device_key = auth
        .devices
        .get(log.iot_device_id.as_ref())
        .and_then(|d| d.public_key);
    let (log_signature, signer) = match (device_key, signature_hex) {
        (None, None) => (None, None),
        (None, Some(_)) => {
            return Err(CoreError::member(
                ErrorCode::UntrustedKey,
                "X-Log-Signature",
                format!("no Ed25519 public key is configured for device {:?}, so its signature cannot be checked", log.iot_device_id),
            )
            .into())
        }
        (Some(_), None) => {
            return Err(CoreError::member(
                ErrorCode::MissingSignature,
                "X-Log-Signature",
                format!("device {:?} must sign its logs: send the Ed25519 signature over the canonical bytes as 128 hex characters", log.iot_device_id),
            )
            .into())
        }
        (Some(pk), Some(hex)) => {
            let bytes = kwh_btc_iot_core::encoding::hex::decode_member(hex.trim(), "X-Log-Signature")?;
            let sig: [u8; 64] = bytes.try_into().map_err(|_| {
                CoreError::member(ErrorCode::InvalidHex, "X-Log-Signature", "must be 128 hex characters (64 bytes)")
            })?;
            Signature { public_key: pk, signature: sig }.verify(&canonical).map_err(|e| {
                CoreError::member(e.code, "X-Log-Signature", "does not verify over the log's canonical bytes with the device's key")
            })?;
            (Some(sig), Some(pk))
        }
    };
    let row = NewLog {
        leaf_hash: leaf.0,
        site_id: log.site_id.to_string(),
        iot_device_id: log.iot_device_id.to_string(),
        meter_id: log.meter_id.to_string(),
        ts_start_us: crate::clock::unix_us(&log.ts_start),
        // The core writes canonical JSON, which is UTF-8.
        canonical: String::from_utf8(canonical).map_err(|_| {
            AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::error::codes::INTERNAL,
                "canonical bytes are not UTF-8",
            )
        })?,
        log_signature,
        signer,
        received_at_us,
        supersedes: None,
    };
    Ok(Prepared {
        log: row,
        warnings: n.warnings,
    })
}

fn json_err(message: impl Into<String>) -> AppError {
    CoreError::new(ErrorCode::InvalidJson, message).into()
}

/// Splits a JSON array into its elements (the core's
/// [`json_lines::array_items`]), each validated (and failing) on its own;
/// the errors say "bulk" in the API's words.
pub fn split_json_array(b: &[u8], max_depth: usize) -> Result<Vec<&[u8]>, AppError> {
    match json_lines::array_items(b, max_depth) {
        Ok(items) => Ok(items.into_iter().map(|r| r.bytes).collect()),
        Err(e) => Err(match e {
            ArrayError::NotAnArray => json_err("the bulk body must be a JSON array of logs (or NDJSON with Content-Type application/x-ndjson)").member("body"),
            ArrayError::TooDeep { .. } => CoreError::from(e).into(),
            ArrayError::Unterminated => json_err("the bulk array is not terminated"),
            ArrayError::EmptyElement { index } => json_err(format!(
                "the bulk array has an empty element at index {index}"
            )),
            ArrayError::Unbalanced => json_err("unbalanced '}' in the bulk array"),
            ArrayError::TrailingData => json_err("trailing data after the bulk array"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arrays_by_top_level_commas() {
        let b = br#" [ {"a":"x,]}"} , [1,[2]], "s\"]" ] "#;
        let items = split_json_array(b, 8).unwrap();
        assert_eq!(
            items,
            vec![&br#"{"a":"x,]}"}"#[..], b"[1,[2]]", br#""s\"]""#]
        );
        assert!(split_json_array(b"[]", 8).unwrap().is_empty());
        for bad in [&b"[1,]"[..], b"[1", b"{}", b"[1]x", b"[,1]", b"[1}"] {
            assert!(
                split_json_array(bad, 8).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            split_json_array(b"[[[[1]]]]", 2).unwrap_err().code,
            "too_deep"
        );
        let e = split_json_array(b"[1,,2]", 8).unwrap_err();
        assert_eq!(e.message, "the bulk array has an empty element at index 1");
        let e = split_json_array(b"{}", 8).unwrap_err();
        assert_eq!(e.member.as_deref(), Some("body"));
    }
}
