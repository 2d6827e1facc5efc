//! `kwh-btc-iot`: the one binary. Offline jobs (canon, hash, batch, merkle,
//! verify, keygen) call the core; `serve` runs the gateway.

mod anchor;
mod input;
mod keys;
#[cfg(feature = "server")]
mod serve;

use std::fs;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kwh_btc_iot_core::{
    self as core,
    build::{BatchParams, ReceiptLog},
    hash, merkle,
    model::emlog,
    time::Timestamp,
    Hash, MerkleTree, VerifyOptions,
};

#[derive(Parser)]
#[command(
    name = "kwh-btc-iot",
    version,
    about = "Canonical energy logs (emlog-1.1), Merkle batches and receipts that verify offline",
    long_about = "kwh-btc-iot turns energy meter readings into canonical JSON logs (emlog-1.1), hashes them \
as RFC 9162 Merkle leaves, batches them under signed heads and hands back receipts anyone can verify offline.",
    after_help = "Examples:\n  kwh-btc-iot hash log.json\n  kwh-btc-iot batch logs.jsonl --out batch1 --key gateway.key\n  kwh-btc-iot verify batch1/receipts.jsonl --gateway-key $(cat gateway.key.pub)\n  kwh-btc-iot serve --data-dir ./data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the canonical bytes (RFC 8785 of the normalized log), one line per log.
    #[command(
        after_help = "Examples:\n  kwh-btc-iot canon log.json\n  cat logs.jsonl | kwh-btc-iot canon -\n  echo '{\"b\":1,\"a\":2.50}' | kwh-btc-iot canon --jcs -"
    )]
    Canon {
        /// A JSON file, a JSON Lines file, or - for stdin.
        #[arg(default_value = "-")]
        file: String,
        /// Canonicalize any JSON (RFC 8785) instead of an emlog.
        #[arg(long)]
        jcs: bool,
        /// Report bad lines on stderr and go on (exit status 1 at the end).
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Print the leaf hash of each log, SHA-256(0x00 || canonical bytes), one per line.
    #[command(
        after_help = "Examples:\n  kwh-btc-iot hash log.json\n  kwh-btc-iot hash logs.jsonl > leaves.txt"
    )]
    Hash {
        /// A JSON file, a JSON Lines file, or - for stdin.
        #[arg(default_value = "-")]
        file: String,
        /// Report bad lines on stderr and go on (exit status 1 at the end).
        #[arg(long)]
        skip_invalid: bool,
        /// Worker threads (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Build one batch offline: DIR/batch.json and DIR/receipts.jsonl.
    #[command(
        after_help = "Examples:\n  kwh-btc-iot keygen --out gateway.key\n  kwh-btc-iot batch logs.jsonl --out batch1 --key gateway.key --gateway-id gw-1\n  kwh-btc-iot batch logs.jsonl --out batch2 --seq 2 --prev-head-hash $(jq -r .head_hash batch1/batch.json)"
    )]
    Batch {
        /// JSON Lines file of logs (or - for stdin).
        logs: String,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Ed25519 key file (from `keygen`) to sign the head.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The gateway id in the head.
        #[arg(long, default_value = "offline")]
        gateway_id: String,
        /// The batch id (default: batch_ and the first 16 hex characters of the root).
        #[arg(long)]
        batch_id: Option<String>,
        /// Sequence number of the batch.
        #[arg(long, default_value_t = 1)]
        seq: u64,
        /// Head hash of the previous batch (required when --seq > 1).
        #[arg(long)]
        prev_head_hash: Option<String>,
        /// Creation time, RFC 3339 (default: now).
        #[arg(long)]
        created_at: Option<String>,
        /// Write bad lines to DIR/rejected.jsonl and batch the rest.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// RFC 9162 Merkle tools over hex lines on stdin.
    Merkle {
        #[command(subcommand)]
        command: MerkleCommand,
    },
    /// Verify receipts (JSON or JSON Lines files); exit status 0 only if all are valid.
    #[command(
        after_help = "Examples:\n  kwh-btc-iot verify receipt.json\n  kwh-btc-iot verify batch1/receipts.jsonl --gateway-key 3b6a27bc...\n  kwh-btc-iot verify receipt.json --json"
    )]
    Verify {
        /// Receipt files (JSON or JSON Lines), or - for stdin.
        #[arg(required = true)]
        receipts: Vec<String>,
        /// The gateway public key (64 hex) to trust; the head must be signed by it.
        #[arg(long)]
        gateway_key: Option<String>,
        /// Bitcoin network whose proof-of-work rules the anchors are checked with:
        /// mainnet, testnet, signet or regtest.
        #[arg(long, default_value = "mainnet", value_name = "NETWORK")]
        network: String,
        /// A block header you trust, as HEIGHT:HEX (80 bytes, 160 hex; e.g. from
        /// `bitcoin-cli getblockheader $(bitcoin-cli getblockhash HEIGHT) false`);
        /// repeatable. An anchor's block at that height must be this one.
        #[arg(long = "header", value_name = "HEIGHT:HEX")]
        headers: Vec<String>,
        /// Print the structured result, one JSON object per receipt.
        #[arg(long)]
        json: bool,
    },
    /// Anchor batch heads in Bitcoin with your own wallet: the OP_RETURN
    /// transaction template, and attaching the mined proof to the gateway.
    Anchor {
        #[command(subcommand)]
        command: anchor::AnchorCommand,
    },
    /// Generate an Ed25519 key for signing batch heads (FILE, mode 0600, and FILE.pub).
    #[command(after_help = "Example:\n  kwh-btc-iot keygen --out gateway.key")]
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run the gateway: HTTP ingest, storage, batching, receipts.
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
}

#[derive(Subcommand)]
enum MerkleCommand {
    /// The root of the leaf hashes (hex lines) on stdin.
    #[command(
        after_help = "Examples:\n  kwh-btc-iot hash logs.jsonl | kwh-btc-iot merkle root\n  printf '61\\n62\\n' | kwh-btc-iot merkle root --leaf-data"
    )]
    Root {
        /// Lines are hex of raw entries, hashed as leaves first.
        #[arg(long)]
        leaf_data: bool,
    },
    /// The inclusion path of leaf INDEX, as JSON.
    #[command(
        after_help = "Example:\n  kwh-btc-iot hash logs.jsonl | kwh-btc-iot merkle prove --index 2"
    )]
    Prove {
        /// Zero-based leaf index.
        #[arg(long)]
        index: u64,
        /// Lines are hex of raw entries, hashed as leaves first.
        #[arg(long)]
        leaf_data: bool,
    },
    /// The consistency proof from the first OLD_SIZE leaves to all of them, as JSON.
    Consistency {
        /// Size of the older tree.
        #[arg(long)]
        old_size: u64,
        /// Lines are hex of raw entries, hashed as leaves first.
        #[arg(long)]
        leaf_data: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Canon {
            file,
            jcs,
            skip_invalid,
        } => canon(&file, jcs, skip_invalid),
        Command::Hash {
            file,
            skip_invalid,
            threads,
        } => hash_cmd(
            &file,
            skip_invalid,
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        ),
        Command::Batch {
            logs,
            out,
            key,
            gateway_id,
            batch_id,
            seq,
            prev_head_hash,
            created_at,
            skip_invalid,
        } => batch(
            &logs,
            out,
            key,
            gateway_id,
            batch_id,
            seq,
            prev_head_hash,
            created_at,
            skip_invalid,
        ),
        Command::Merkle { command } => merkle_cmd(command),
        Command::Verify {
            receipts,
            gateway_key,
            network,
            headers,
            json,
        } => verify(&receipts, gateway_key, &network, &headers, json),
        Command::Anchor { command } => anchor::run(command).map(|()| ExitCode::SUCCESS),
        Command::Keygen { out, force } => keys::keygen(&out, force).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
    }
}

fn describe(e: &core::Error) -> String {
    match &e.member {
        Some(m) => format!("{} ({}, member {m})", e.message, e.code),
        None => format!("{} ({})", e.message, e.code),
    }
}

fn canon(file: &str, jcs: bool, skip_invalid: bool) -> Result<ExitCode> {
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut failed = 0usize;
    input::for_each_line(file, |line, bytes| {
        let r = if jcs {
            core::canonicalize_json(bytes)
        } else {
            core::canonicalize(bytes)
        };
        match r {
            Ok(c) => {
                out.write_all(&c)?;
                out.write_all(b"\n")?;
                Ok(())
            }
            Err(e) if skip_invalid => {
                failed += 1;
                eprintln!("{file}:{line}: {}", describe(&e));
                Ok(())
            }
            Err(e) => Err(anyhow!("{file}:{line}: {}", describe(&e))),
        }
    })?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Lines are hashed in batches, each batch split over the worker threads;
/// results are written in input order.
struct LineBatch {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize, usize)>,
}

fn hash_cmd(file: &str, skip_invalid: bool, threads: usize) -> Result<ExitCode> {
    const BATCH_LINES: usize = 16_384;
    let threads = threads.max(1);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut failed = 0usize;
    let mut batch = LineBatch {
        bytes: Vec::with_capacity(BATCH_LINES * 512),
        spans: Vec::with_capacity(BATCH_LINES),
    };
    let mut flush = |batch: &mut LineBatch,
                     out: &mut BufWriter<io::StdoutLock<'_>>|
     -> Result<()> {
        let spans = &batch.spans;
        let bytes = &batch.bytes;
        let per = spans.len().div_ceil(threads).max(1);
        let results: Vec<Vec<core::Result<Hash>>> = std::thread::scope(|s| {
            let handles: Vec<_> = spans
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || {
                        let mut buf = Vec::with_capacity(512);
                        chunk
                            .iter()
                            .map(|&(_, a, b)| emlog::leaf_hash_of_json_with(&bytes[a..b], &mut buf))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("hash worker"))
                .collect()
        });
        let mut line_out = [0u8; 65];
        line_out[64] = b'\n';
        for (r, &(line, _, _)) in results.into_iter().flatten().zip(spans.iter()) {
            match r {
                Ok(h) => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    for (i, b) in h.0.iter().enumerate() {
                        line_out[2 * i] = HEX[(b >> 4) as usize];
                        line_out[2 * i + 1] = HEX[(b & 0xf) as usize];
                    }
                    out.write_all(&line_out)?;
                }
                Err(e) if skip_invalid => {
                    failed += 1;
                    eprintln!("{file}:{line}: {}", describe(&e));
                }
                Err(e) => bail!("{file}:{line}: {}", describe(&e)),
            }
        }
        batch.bytes.clear();
        batch.spans.clear();
        Ok(())
    };
    input::for_each_line(file, |line, bytes| {
        let a = batch.bytes.len();
        batch.bytes.extend_from_slice(bytes);
        batch.spans.push((line, a, batch.bytes.len()));
        if batch.spans.len() == BATCH_LINES {
            flush(&mut batch, &mut out)?;
        }
        Ok(())
    })?;
    flush(&mut batch, &mut out)?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Whole seconds keep heads short; sub-second precision adds nothing here.
    Timestamp::from_unix(d.as_secs() as i64, 0)
}

#[allow(clippy::too_many_arguments)]
fn batch(
    logs: &str,
    out_dir: PathBuf,
    key: Option<PathBuf>,
    gateway_id: String,
    batch_id: Option<String>,
    seq: u64,
    prev_head_hash: Option<String>,
    created_at: Option<String>,
    skip_invalid: bool,
) -> Result<ExitCode> {
    let key = key.map(|k| keys::load(&k)).transpose()?;
    let prev_head_hash = prev_head_hash
        .map(|h| Hash::from_hex(h.trim(), "--prev-head-hash"))
        .transpose()?;
    let created_at = match created_at {
        Some(s) => Timestamp::parse(&s).map_err(|why| anyhow!("--created-at \"{s}\" {why}"))?,
        None => now(),
    };
    if seq > 1 && prev_head_hash.is_none() {
        bail!("--prev-head-hash is required when --seq is greater than 1 (the heads form a chain)");
    }
    let records = input::read_records(logs)?;
    let bar = if io::stderr().is_terminal() && records.len() >= 10_000 {
        let b = ProgressBar::new(records.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:40}] {pos}/{len} logs ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_message("hashing");
        b
    } else {
        ProgressBar::hidden()
    };
    let mut normalized = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    let mut warnings = 0usize;
    for (i, r) in records.iter().enumerate() {
        match emlog::parse_log(&r.bytes) {
            Ok(n) => {
                warnings += n.warnings.len();
                normalized.push(n.log);
            }
            Err(e) if skip_invalid => rejected.push((r, e)),
            Err(e) => {
                bar.abandon();
                bail!("{logs}:{}: {}", r.line, describe(&e));
            }
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.set_position(records.len() as u64);
    if normalized.is_empty() {
        bar.abandon();
        bail!("{logs}: no valid log to batch (empty_batch)");
    }
    bar.set_message("building tree");
    // The tree needs the root before the id; hash once and reuse the leaves.
    let leaves: Vec<Hash> = core::build::leaf_hashes(&normalized);
    let batch_id =
        batch_id.unwrap_or_else(|| format!("batch_{}", &merkle::root(&leaves).to_hex()[..16]));
    let params = BatchParams {
        gateway_id,
        batch_id,
        seq,
        prev_head_hash,
        created_at,
    };
    let b = core::Batch::from_leaf_hashes(leaves, params, key.as_ref())?;

    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let head_json = serde_json::json!({
        "head": serde_json::from_slice::<serde_json::Value>(&b.head.canonical_bytes())?,
        "head_hash": b.head_hash.to_hex(),
        "signature": b.signature.as_ref().map(|s| {
            let mut text = Vec::new();
            s.write_canonical(&mut text);
            serde_json::from_slice::<serde_json::Value>(&text).expect("canonical JSON")
        }),
    });
    fs::write(
        out_dir.join("batch.json"),
        serde_json::to_string_pretty(&head_json)? + "\n",
    )?;

    bar.set_message("writing receipts");
    let f = fs::File::create(out_dir.join("receipts.jsonl"))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut text = Vec::with_capacity(4096);
    for (i, log) in normalized.iter().enumerate() {
        // The batch was built from these very logs: each is hashed once.
        let r = b.receipt(i as u64, ReceiptLog::Trusted(log), None, Vec::new())?;
        text.clear();
        r.write_canonical(&mut text);
        w.write_all(&text)?;
        w.write_all(b"\n")?;
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    w.flush()?;
    let rejected_path = out_dir.join("rejected.jsonl");
    if skip_invalid {
        let mut w = BufWriter::new(fs::File::create(&rejected_path)?);
        for (r, e) in &rejected {
            let line = serde_json::json!({
                "line": r.line,
                "error": {"code": e.code.as_str(), "message": e.message, "member": e.member},
                "input": String::from_utf8_lossy(&r.bytes),
            });
            writeln!(w, "{line}")?;
        }
        w.flush()?;
    }
    bar.finish_and_clear();
    eprintln!(
        "batch {} (seq {}): {} logs, root {}, head {}{}{}{}",
        b.head.batch_id,
        b.head.seq,
        b.head.log_count,
        b.head.merkle_root,
        b.head_hash,
        if b.signature.is_some() {
            ", signed"
        } else {
            ", unsigned"
        },
        if warnings > 0 {
            format!(", {warnings} warning(s)")
        } else {
            String::new()
        },
        if skip_invalid {
            format!(
                ", {} rejected -> {}",
                rejected.len(),
                rejected_path.display()
            )
        } else {
            String::new()
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn read_hex_lines(leaf_data: bool) -> Result<Vec<Hash>> {
    let mut s = String::new();
    io::stdin().read_to_string(&mut s)?;
    // Leaf data: every line is an entry, an empty line the empty entry
    // (RFC 6962's reference leaves start with it). Leaf hashes: blank lines
    // are skipped.
    s.lines()
        .enumerate()
        .filter(|(_, l)| leaf_data || !l.trim().is_empty())
        .map(|(i, l)| {
            let l = l.trim();
            if leaf_data {
                Ok(hash::leaf_hash_bytes(
                    &kwh_btc_iot_core::encoding::hex::decode_member(l, "entry")
                        .map_err(|e| anyhow!("stdin:{}: {e}", i + 1))?,
                ))
            } else {
                Hash::from_hex(&l.to_ascii_lowercase(), "leaf hash")
                    .map_err(|e| anyhow!("stdin:{}: {e}", i + 1))
            }
        })
        .collect()
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(Hash::to_hex).collect()
}

fn merkle_cmd(cmd: MerkleCommand) -> Result<ExitCode> {
    match cmd {
        MerkleCommand::Root { leaf_data } => {
            let mut b = core::RootBuilder::new();
            for l in read_hex_lines(leaf_data)? {
                b.push(l);
            }
            println!("{}", b.root());
        }
        MerkleCommand::Prove { index, leaf_data } => {
            let tree = MerkleTree::new(read_hex_lines(leaf_data)?);
            let path = tree
                .inclusion_path(index)
                .map_err(|e| anyhow!(describe(&e)))?;
            let out = serde_json::json!({
                "leaf_index": index,
                "tree_size": tree.size(),
                "leaf_hash": tree.leaves()[index as usize].to_hex(),
                "root": tree.root().to_hex(),
                "inclusion_path": hexes(&path),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        MerkleCommand::Consistency {
            old_size,
            leaf_data,
        } => {
            let tree = MerkleTree::new(read_hex_lines(leaf_data)?);
            let proof = tree
                .consistency_proof(old_size)
                .map_err(|e| anyhow!(describe(&e)))?;
            let out = serde_json::json!({
                "old_size": old_size,
                "old_root": merkle::root(&tree.leaves()[..old_size as usize]).to_hex(),
                "new_size": tree.size(),
                "new_root": tree.root().to_hex(),
                "consistency_proof": hexes(&proof),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(
    files: &[String],
    gateway_key: Option<String>,
    network: &str,
    header_args: &[String],
    json: bool,
) -> Result<ExitCode> {
    let gateway_key = gateway_key
        .map(|k| core::model::head::public_key_from_hex(&k.to_ascii_lowercase(), "--gateway-key"))
        .transpose()
        .map_err(|e| anyhow!("{}", e.message))?;
    let mut anchor_opts =
        core::verify::anchor::AnchorOptions::for_network(anchor::parse_network(network)?);
    for a in header_args {
        anchor::add_trusted_header(&mut anchor_opts, a)?;
    }
    // Receipts of one batch share a signed head: check it once.
    let mut verifier = core::ReceiptVerifier::new(VerifyOptions {
        gateway_key,
        anchor: anchor_opts,
    });
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut ok, mut bad) = (0usize, 0usize);
    for file in files {
        let records = input::read_records(file)?;
        if records.is_empty() {
            bail!("{file}: no receipt found");
        }
        for r in records {
            let v = verifier.verify(&r.bytes);
            if v.valid {
                ok += 1;
            } else {
                bad += 1;
            }
            if json {
                let mut value: serde_json::Value = serde_json::from_str(&v.to_json())?;
                value["source"] = serde_json::json!(format!("{file}:{}", r.line));
                writeln!(out, "{value}")?;
            } else if v.valid {
                writeln!(
                    out,
                    "OK    {file}:{}  leaf {}  root {}  signature {}{}",
                    r.line,
                    v.leaf_hash.as_deref().unwrap_or("-"),
                    v.merkle_root.as_deref().unwrap_or("-"),
                    v.signature.as_str(),
                    if v.warnings.is_empty() {
                        String::new()
                    } else {
                        format!("  ({} warning(s))", v.warnings.len())
                    }
                )?;
            } else {
                let why: Vec<String> = v
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .collect();
                writeln!(out, "FAIL  {file}:{}  {}", r.line, why.join("; "))?;
            }
            if !json {
                for a in &v.anchors {
                    writeln!(out, "      {}", describe_anchor(a))?;
                    if let Some(n) = &a.not_checked {
                        writeln!(out, "        not checked: {n}")?;
                    }
                }
            }
        }
    }
    out.flush()?;
    if !json {
        eprintln!("{ok} valid, {bad} invalid");
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One line about an anchor: type, status and, as they apply, the failed
/// step, network, height, block hash, txid, calendars.
fn describe_anchor(a: &core::verify::AnchorResult) -> String {
    let mut s = format!(
        "anchor {}: {}",
        if a.anchor_type.is_empty() {
            "?"
        } else {
            &a.anchor_type
        },
        a.status
    );
    if let Some(step) = a.failed_step.map(|f| f.as_str()) {
        s.push_str(&format!(" at step {step}"));
    }
    if let Some(n) = a.network {
        s.push_str(&format!(" ({n})"));
    }
    if let Some(h) = a.height {
        s.push_str(&format!("  height {h}"));
    }
    if let Some(b) = &a.block_hash {
        s.push_str(&format!("  block {b}"));
    }
    if let Some(t) = a.block_time {
        s.push_str(&format!(
            "  mined {}",
            Timestamp::from_unix(t as i64, 0).to_rfc3339()
        ));
    }
    if let Some(t) = &a.txid {
        s.push_str(&format!("  txid {t}"));
    }
    if !a.calendars.is_empty() {
        s.push_str(&format!("  calendars {}", a.calendars.join(", ")));
    }
    if a.status != core::verify::AnchorStatus::Verified && !a.detail.is_empty() {
        let detail = a
            .failed_step
            .and_then(|st| a.detail.strip_prefix(&format!("{st}: ")))
            .unwrap_or(&a.detail);
        s.push_str(&format!("  ({detail})"));
    }
    s
}
