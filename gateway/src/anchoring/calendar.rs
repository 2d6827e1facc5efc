//! The OpenTimestamps calendar protocol (docs/anchoring.md section 4) over
//! the core's format: the commitment of a head hash, `POST /digest`,
//! merging the answers into one `.ots`, `GET /timestamp/<hex>` upgrades,
//! and the block headers the upgraded proof needs.

use anyhow::{anyhow, bail, Context};
use kwh_btc_iot_core::encoding::bitcoin::BlockHeader;
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::encoding::ots::{Attestation, DetachedTimestampFile, Op};
use kwh_btc_iot_core::encoding::ots::{Item, TimestampTree};
use sha2::{Digest, Sha256};

use super::{join_url, HttpClient};

/// Content type of calendar requests and answers.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// What calendars expect in `Accept` (as the reference client sends).
pub const ACCEPT_OTS: &str = "application/vnd.opentimestamps.v1";

/// A random 16-byte nonce: calendars learn only `SHA-256(head_hash || nonce)`.
pub fn new_nonce() -> anyhow::Result<[u8; 16]> {
    let mut n = [0u8; 16];
    getrandom::getrandom(&mut n).map_err(|e| anyhow!("no randomness for the nonce: {e}"))?;
    Ok(n)
}

/// `SHA-256(digest || nonce)`: what is sent to the calendars.
pub fn commitment(digest: &[u8; 32], nonce: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(digest);
    h.update(nonce);
    h.finalize().into()
}

/// A calendar URL in the form used to compare it with attestation URIs
/// (no trailing slash).
pub fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// `POST <calendar>/digest` with the commitment; the answer parsed as a
/// timestamp for the commitment. It must reach at least one attestation.
pub async fn submit(
    client: &HttpClient,
    calendar: &str,
    commitment: &[u8; 32],
) -> anyhow::Result<TimestampTree> {
    let url = join_url(calendar, "/digest");
    let r = client
        .post(&url, ACCEPT_OTS, OCTET_STREAM, commitment.to_vec())
        .await?;
    if r.status != 200 {
        bail!("{url}: HTTP {}", r.status);
    }
    let t = TimestampTree::parse(&r.body, commitment)
        .map_err(|e| anyhow!("{url}: the answer is not a timestamp: {e}"))?;
    let reached = t
        .replay(commitment)
        .map_err(|e| anyhow!("{url}: the answer does not replay: {e}"))?;
    if reached.is_empty() {
        bail!("{url}: the answer has no attestation");
    }
    Ok(t)
}

/// The `.ots` of `digest` from the calendars' answers for
/// `commitment = SHA-256(digest || nonce)`: `append(nonce)`, `sha256`, then
/// every answer merged at the commitment; canonical (the reference's order).
pub fn build_file(
    digest: &[u8; 32],
    nonce: &[u8],
    answers: Vec<TimestampTree>,
) -> anyhow::Result<DetachedTimestampFile> {
    let mut at_commitment = TimestampTree::default();
    for a in answers {
        at_commitment
            .merge(a)
            .map_err(|e| anyhow!("merging: {e}"))?;
    }
    let mut after_nonce = TimestampTree::default();
    after_nonce.push_op(Op::Sha256, at_commitment);
    let mut top = TimestampTree::default();
    top.push_op(Op::Append(nonce.to_vec()), after_nonce);
    let mut f = DetachedTimestampFile::new(Op::Sha256, digest.to_vec(), top)
        .map_err(|e| anyhow!("building the proof: {e}"))?;
    f.canonicalize();
    Ok(f)
}

/// The commitment of a file made by [`build_file`]: the message after the
/// first `append(16 bytes)`, `sha256` path from the digest.
pub fn commitment_of(f: &DetachedTimestampFile) -> Option<[u8; 32]> {
    f.timestamp.items.iter().find_map(|i| match i {
        Item::Op(Op::Append(nonce), child)
            if nonce.len() == 16
                && child
                    .items
                    .iter()
                    .any(|c| matches!(c, Item::Op(Op::Sha256, _))) =>
        {
            let d: [u8; 32] = f.digest.as_slice().try_into().ok()?;
            Some(commitment(&d, nonce))
        }
        _ => None,
    })
}

/// Merges a late calendar answer (for the commitment) into the file.
pub fn add_answer(
    f: &mut DetachedTimestampFile,
    commitment: &[u8; 32],
    answer: &TimestampTree,
) -> anyhow::Result<()> {
    let digest = f.digest.clone();
    f.timestamp
        .merge_at_message(&digest, commitment, answer)
        .map_err(|e| anyhow!("merging the answer: {e}"))?;
    f.canonicalize();
    Ok(())
}

/// The pending attestations of a file: (calendar URI, message to ask for).
pub fn pending(f: &DetachedTimestampFile) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for r in f
        .replay()
        .map_err(|e| anyhow!("replaying the proof: {e}"))?
    {
        if let Attestation::Pending { uri } = r.attestation {
            if !out.iter().any(|(u, m)| *u == uri && *m == r.msg) {
                out.push((uri, r.msg));
            }
        }
    }
    Ok(out)
}

/// The heights of the Bitcoin attestations a file reaches, lowest first.
pub fn bitcoin_heights(f: &DetachedTimestampFile) -> anyhow::Result<Vec<u64>> {
    let mut hs: Vec<u64> = f
        .replay()
        .map_err(|e| anyhow!("replaying the proof: {e}"))?
        .into_iter()
        .filter_map(|r| match r.attestation {
            Attestation::Bitcoin { height } => Some(height),
            _ => None,
        })
        .collect();
    hs.sort_unstable();
    hs.dedup();
    Ok(hs)
}

/// `GET <calendar>/timestamp/<msg hex>`: `Some(timestamp for msg)` when the
/// calendar has the upgrade, `None` on 404 (not yet).
pub async fn upgrade(
    client: &HttpClient,
    calendar: &str,
    msg: &[u8],
) -> anyhow::Result<Option<TimestampTree>> {
    let url = join_url(calendar, &format!("/timestamp/{}", to_hex(msg)));
    let r = client.get(&url, ACCEPT_OTS).await?;
    match r.status {
        200 => {}
        404 => return Ok(None),
        s => bail!("{url}: HTTP {s}"),
    }
    let t = TimestampTree::parse(&r.body, msg)
        .map_err(|e| anyhow!("{url}: the answer is not a timestamp: {e}"))?;
    Ok(Some(t))
}

/// Where block headers come from.
#[derive(Debug, Clone)]
pub enum HeaderSource {
    /// An Esplora-style HTTP API: `GET {base}/block-height/H` -> block hash
    /// (text), `GET {base}/block/HASH/header` -> header (hex).
    Esplora(String),
    /// The Bitcoin Core node of node mode (`getblockhash`, `getblockheader`).
    Bitcoind(super::bitcoind::BitcoindConfig),
}

impl HeaderSource {
    /// For messages: the URL or the node.
    pub fn describe(&self) -> String {
        match self {
            HeaderSource::Esplora(u) => u.clone(),
            HeaderSource::Bitcoind(c) => format!("the node at {}", c.url()),
        }
    }

    /// The header of block `height`; its hash must be the one the source
    /// named for that height. (The proof is then checked against it by the
    /// core: a header whose merkle root does not match is refused there.)
    pub async fn header_at(&self, client: &HttpClient, height: u64) -> anyhow::Result<BlockHeader> {
        match self {
            HeaderSource::Esplora(base) => {
                let url = join_url(base, &format!("/block-height/{height}"));
                let r = client.get(&url, "text/plain").await?;
                if r.status != 200 {
                    bail!("{url}: HTTP {}", r.status);
                }
                let hash = String::from_utf8_lossy(&r.body).trim().to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("{url}: the answer is not a block hash");
                }
                let url = join_url(base, &format!("/block/{hash}/header"));
                let r = client.get(&url, "text/plain").await?;
                if r.status != 200 {
                    bail!("{url}: HTTP {}", r.status);
                }
                let text = String::from_utf8_lossy(&r.body).trim().to_string();
                let h = BlockHeader::from_hex(&text)
                    .map_err(|e| anyhow!("{url}: not a block header: {}", e.message))?;
                if h.block_hash_display() != hash {
                    bail!(
                        "{url}: the header hashes to {}, not {hash}",
                        h.block_hash_display()
                    );
                }
                Ok(h)
            }
            HeaderSource::Bitcoind(cfg) => {
                let rpc = super::bitcoind::RpcClient::new(cfg.clone());
                let hash = rpc
                    .getblockhash(height)
                    .await
                    .with_context(|| format!("getblockhash {height}"))?;
                let h = rpc
                    .getblockheader_raw(&hash)
                    .await
                    .with_context(|| format!("getblockheader {hash}"))?;
                if h.block_hash_display() != hash {
                    bail!(
                        "the node's header of block {height} hashes to {}, not {hash}",
                        h.block_hash_display()
                    );
                }
                Ok(h)
            }
        }
    }
}
