//! Storage-only throughput: groups of logs committed durably, without HTTP.
//! `cargo run --release -p kwh-btc-iot-gateway --example storage_bench -- DIR [GROUP] [GROUPS]`
use std::sync::Arc;
use std::time::Instant;

use kwh_btc_iot_gateway::clock::now_us;
use kwh_btc_iot_gateway::ingest::prepare;
use kwh_btc_iot_gateway::storage::{sqlite::SqliteStorage, Storage};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "/tmp/storage-bench".into()),
    );
    let group: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let groups: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let _ = std::fs::remove_dir_all(&dir);
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir)?);
    let auth = Default::default();
    let p = kwh_btc_iot_gateway::auth::Principal::Open;
    let start = Instant::now();
    let mut n = 0u64;
    for g in 0..groups {
        let mut logs = Vec::with_capacity(group);
        for i in 0..group {
            let json = format!(
                r#"{{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"D","meter_id":"M-{g}-{i}","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,"status":"ok","tx":{{"price_sats_per_kwh":100,"channel":"ln"}}}}"#
            );
            logs.push(
                prepare(json.as_bytes(), &p, &auth, None, now_us())
                    .map_err(|e| anyhow::anyhow!(e.message))?
                    .log,
            );
        }
        n += storage.insert_logs(logs).await?.len() as u64;
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "group {group}: {groups} commits, {n} logs in {s:.2} s: {:.0} commits/s, {:.0} logs/s",
        groups as f64 / s,
        n as f64 / s
    );
    Ok(())
}
