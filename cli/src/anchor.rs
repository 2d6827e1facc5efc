//! `kwh-btc-iot anchor`: anchor a batch head with your own Bitcoin wallet.
//!
//! `template` prints the unsigned transaction `OP_RETURN <head hash>` (what
//! `bitcoin-cli createrawtransaction '[]' '[{"data":"<head hash>"}]'`
//! prints) for a wallet to fund, sign and broadcast; once it is mined,
//! `attach` checks the proof locally with the core and hands it to the
//! gateway (`POST /api/v1/batches/{id}/anchors`), after which every receipt
//! of that batch (and of the earlier ones) carries it.

#[cfg(feature = "server")]
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use kwh_btc_iot_core::build::anchor::{op_return_script, op_return_template};
use kwh_btc_iot_core::encoding::bitcoin::Network;
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_core::verify::AnchorOptions;

#[cfg(feature = "server")]
const TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read (a batch with its anchors is a few KB).
#[cfg(feature = "server")]
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// `anchor` subcommands.
#[derive(clap::Subcommand)]
pub enum AnchorCommand {
    /// Print the unsigned OP_RETURN transaction for a batch head (hex), to fund,
    /// sign and broadcast with a Bitcoin wallet.
    #[command(after_help = "Examples:\n  \
kwh-btc-iot anchor template --batch batch_2025-12-01T10-20-00_000001\n  \
kwh-btc-iot anchor template --head-hash 5f1c...e2 --json\n\n\
With Bitcoin Core:\n  \
T=$(kwh-btc-iot anchor template --batch ID)\n  \
F=$(bitcoin-cli fundrawtransaction $T | jq -r .hex)\n  \
S=$(bitcoin-cli signrawtransactionwithwallet $F | jq -r .hex)\n  \
bitcoin-cli sendrawtransaction $S")]
    Template(TemplateArgs),
    /// Verify a mined anchoring transaction locally, then attach it to the batch on the gateway.
    #[command(
        after_help = "Example (after the transaction TXID is mined in block BLOCK):\n  \
kwh-btc-iot anchor attach --batch ID \\\n    \
--raw-tx $(bitcoin-cli getrawtransaction TXID false BLOCK) \\\n    \
--merkle-proof $(bitcoin-cli gettxoutproof '[\"TXID\"]' BLOCK) \\\n    \
--header $(bitcoin-cli getblockheader BLOCK false) \\\n    \
--height $(bitcoin-cli getblockheader BLOCK | jq .height) --admin-key $KEY\n\n\
Each hex value may also be given as @FILE."
    )]
    #[cfg(feature = "server")]
    Attach(AttachArgs),
}

/// Where the gateway is.
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "KWH_BTC_IOT_URL",
        default_value = "http://127.0.0.1:8000",
        value_name = "URL"
    )]
    pub url: String,
    /// Admin API key (sent as `Authorization: Bearer KEY`); not needed when the
    /// gateway has no keys configured.
    #[arg(
        long,
        env = "KWH_BTC_IOT_ADMIN_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,
}

/// `anchor template`.
#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// The batch id (its head hash is fetched from the gateway).
    #[arg(long, value_name = "ID", required_unless_present = "head_hash")]
    pub batch: Option<String>,
    /// The head hash (64 hex), offline: nothing is fetched.
    #[arg(long, value_name = "HEX")]
    pub head_hash: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print {batch_id, head_hash, op_return_script, template} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `anchor attach`.
#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// The batch id whose head the transaction anchors.
    #[arg(long, value_name = "ID")]
    pub batch: String,
    /// The mined transaction (hex or @FILE), e.g. `bitcoin-cli getrawtransaction TXID false BLOCK`.
    #[arg(long, value_name = "HEX")]
    pub raw_tx: String,
    /// The merkleblock proving it is in its block (hex or @FILE): `bitcoin-cli gettxoutproof '["TXID"]' BLOCK`.
    #[arg(long, value_name = "HEX")]
    pub merkle_proof: String,
    /// The block's 80-byte header (160 hex or @FILE): `bitcoin-cli getblockheader BLOCK false`;
    /// it must be the merkleblock's [default: the merkleblock's header].
    #[arg(long, value_name = "HEX")]
    pub header: Option<String>,
    /// The block's height [default: looked up by the gateway's Bitcoin Core node, if it has one].
    #[arg(long, value_name = "N")]
    pub height: Option<u64>,
    /// Proof-of-work rules of the local check: mainnet, testnet, signet or regtest
    /// (the gateway checks again with its own --anchor-network).
    #[arg(long, default_value = "mainnet", value_name = "NETWORK")]
    pub network: String,
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Parses `--network`.
pub fn parse_network(s: &str) -> Result<Network> {
    match s {
        "mainnet" | "testnet" | "signet" | "regtest" => Ok(Network::parse(s).expect("known")),
        _ => bail!("--network {s:?}: expected mainnet, testnet, signet or regtest"),
    }
}

/// Runs an `anchor` subcommand.
pub fn run(cmd: AnchorCommand) -> Result<()> {
    match cmd {
        AnchorCommand::Template(a) => template(a),
        #[cfg(feature = "server")]
        AnchorCommand::Attach(a) => online::attach(a),
    }
}

fn template(a: TemplateArgs) -> Result<()> {
    let head = match &a.head_hash {
        Some(h) => Hash::from_hex(&h.to_ascii_lowercase(), "--head-hash")
            .map_err(|e| anyhow!("--head-hash: {} (64 hex characters)", e.message))?,
        #[cfg(feature = "server")]
        None => online::batch_head_hash(&a.gateway, a.batch.as_deref().expect("clap requires it"))?,
        #[cfg(not(feature = "server"))]
        None => bail!(
            "--batch needs the gateway's API, and this build has no server feature: give --head-hash"
        ),
    };
    let tx = op_return_template(&head);
    if a.json {
        let v = serde_json::json!({
            "batch_id": a.batch,
            "head_hash": head.to_hex(),
            "op_return_script": to_hex(&op_return_script(&head)),
            "template": to_hex(&tx),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", to_hex(&tx));
    }
    Ok(())
}

/// What needs the gateway: its API over HTTP (fetching a batch's head
/// hash, attaching an anchor). Built with the `server` feature only.
#[cfg(feature = "server")]
mod online {
    use super::*;
    use anyhow::Context;
    use kwh_btc_iot_core::encoding::bitcoin::{self, BlockHeader, Transaction};
    use kwh_btc_iot_core::encoding::spv::MerkleBlock;
    use kwh_btc_iot_core::verify::anchor::verify_bitcoin_proof;
    use kwh_btc_iot_gateway::http_client::{
        join_url, path_segment, HttpClient, HttpErrorKind, HttpResponse, Method,
    };

    /// One call to the gateway's API: `path` below `--url`, with the admin key
    /// when one is given; a refused or unreachable gateway is an error naming the URL.
    fn call(
        g: &GatewayArgs,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(String, HttpResponse)> {
        if !(g.url.starts_with("http://") || g.url.starts_with("https://")) {
            bail!(
                "--url {:?}: expected http://HOST[:PORT][/PATH] or https://...",
                g.url
            );
        }
        let authority = g.url.split("://").nth(1).unwrap_or("").split('/').next();
        if authority.is_some_and(|a| a.contains('@')) {
            bail!("--url: no credentials in the URL; use --admin-key");
        }
        let url = join_url(&g.url, path);
        let bearer = g
            .admin_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| format!("Bearer {k}"));
        let mut headers = vec![("accept", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        let r = HttpClient::new(TIMEOUT)
            .with_max_body(MAX_RESPONSE_BYTES)
            .blocking_request(
                method,
                &url,
                &headers,
                body.map(|b| ("application/json", b)),
            )
            .map_err(|e| match e.kind {
                HttpErrorKind::Connect | HttpErrorKind::Timeout => {
                    anyhow!("{e} (is the gateway running at --url?)")
                }
                _ => anyhow!("{e}"),
            })?;
        Ok((url, r))
    }

    /// The body as JSON.
    fn json_body(r: &HttpResponse) -> Result<serde_json::Value> {
        serde_json::from_slice(&r.body).map_err(|_| {
            anyhow!(
                "HTTP {} with a body that is not JSON: {}",
                r.status,
                r.body_excerpt(300)
            )
        })
    }

    /// The gateway's error message (`{"error": {"code", "message", "member"}}`),
    /// or the body text.
    fn error_text(r: &HttpResponse) -> String {
        match serde_json::from_slice::<serde_json::Value>(&r.body) {
            Ok(v) if v["error"].is_object() => {
                let e = &v["error"];
                let mut s = format!(
                    "{} ({})",
                    e["message"].as_str().unwrap_or("?"),
                    e["code"].as_str().unwrap_or("?")
                );
                if let Some(m) = e["member"].as_str() {
                    s.push_str(&format!(", member {m}"));
                }
                s
            }
            _ => r.body_excerpt(300),
        }
    }

    /// `GET /api/v1/batches/{id}`: the batch detail.
    fn fetch_batch(g: &GatewayArgs, id: &str) -> Result<serde_json::Value> {
        let path = format!("/api/v1/batches/{}", path_segment(id));
        let (url, r) = call(g, Method::GET, &path, None)?;
        if r.status != 200 {
            bail!("{url}: HTTP {}: {}", r.status, error_text(&r));
        }
        json_body(&r)
    }

    pub(super) fn batch_head_hash(g: &GatewayArgs, id: &str) -> Result<Hash> {
        let b = fetch_batch(g, id)?;
        let hh = b["head_hash"]
            .as_str()
            .ok_or_else(|| anyhow!("the gateway's batch {id:?} has no head_hash"))?;
        Hash::from_hex(hh, "head_hash")
            .map_err(|e| anyhow!("the gateway's batch {id:?}: head_hash: {}", e.message))
    }

    /// Reads a hex option: the text, or the file after `@`.
    fn hex_input(opt: &str, value: &str) -> Result<Vec<u8>> {
        let text = match value.strip_prefix('@') {
            Some(path) => {
                std::fs::read_to_string(path).with_context(|| format!("{opt} @{path}"))?
            }
            None => value.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            bail!("{opt}: empty");
        }
        bitcoin::decode_hex(t).map_err(|e| anyhow!("{opt}: {}", e.message))
    }

    fn option_of(member: &str, header_given: bool) -> &'static str {
        match member {
            "raw_tx" => "--raw-tx",
            "merkle_proof" => "--merkle-proof",
            "header" if header_given => "--header",
            "header" => "--merkle-proof (its header)",
            _ => "the proof",
        }
    }

    pub(super) fn attach(a: AttachArgs) -> Result<()> {
        let network = parse_network(&a.network)?;
        // 1. The inputs parse (each error names its option).
        let raw_tx = hex_input("--raw-tx", &a.raw_tx)?;
        let tx = Transaction::parse(&raw_tx).map_err(|e| anyhow!("--raw-tx: {e}"))?;
        let proof = hex_input("--merkle-proof", &a.merkle_proof)?;
        let mb = MerkleBlock::parse(&proof).map_err(|e| anyhow!("--merkle-proof: {e}"))?;
        let header = match &a.header {
            Some(h) => {
                let b = hex_input("--header", h)?;
                Some(BlockHeader::parse(&b).map_err(|e| anyhow!("--header: {e}"))?)
            }
            None => None,
        };
        // 2. The batch's head hash, from the gateway.
        let head = batch_head_hash(&a.gateway, &a.batch)?;
        // 3. The core's check, as a receipt verifier will do it.
        let ok = verify_bitcoin_proof(
            &tx,
            &mb,
            &head.0,
            a.height.unwrap_or(0),
            header.as_ref(),
            network,
        )
        .map_err(|f| {
            anyhow!(
                "the anchor does not verify locally ({network} rules) at step {}: {} (input {})",
                f.step,
                f.message,
                option_of(&f.member, header.is_some())
            )
        })?;
        eprintln!(
            "verified locally: transaction {} in block {} ({network})",
            tx.txid_display(),
            ok.block_hash.as_deref().unwrap_or("?")
        );
        // 4. The gateway stores it (and checks it again under its own network).
        let mut body = serde_json::json!({
            "type": "bitcoin",
            "raw_tx": to_hex(&raw_tx),
            "merkle_proof": to_hex(&proof),
        });
        if let Some(h) = &header {
            body["header"] = serde_json::json!(to_hex(&h.to_bytes()));
        }
        if let Some(h) = a.height {
            body["height"] = serde_json::json!(h);
        }
        let path = format!("/api/v1/batches/{}/anchors", path_segment(&a.batch));
        let (_, r) = call(
            &a.gateway,
            Method::POST,
            &path,
            Some(serde_json::to_vec(&body)?),
        )?;
        if !(200..300).contains(&r.status) {
            bail!(
                "the gateway refused the anchor: HTTP {}: {}",
                r.status,
                error_text(&r)
            );
        }
        let stored = json_body(&r)?;
        println!("{}", serde_json::to_string_pretty(&stored)?);
        Ok(())
    }
}

/// Adds `--header HEIGHT:HEX` (a header the verifier trusts at a height) to
/// the options: the core's `AnchorOptions::trust_header` checks the height
/// and the header (and the limit on their number); two different headers
/// for one height are an error.
pub fn add_trusted_header(opts: &mut AnchorOptions, arg: &str) -> Result<()> {
    let (height, hex) = arg.split_once(':').ok_or_else(|| {
        anyhow!("--header {arg:?}: expected HEIGHT:HEX (the block height, a colon, the 80-byte header as 160 hex characters)")
    })?;
    let (height, hex) = (height.trim(), hex.trim());
    // The core's message names its member (`headers.<height>`); here the
    // option is named instead.
    let core_error = |e: kwh_btc_iot_core::Error| {
        let rule = match &e.member {
            Some(m) => e
                .message
                .strip_prefix(&format!("{m}: "))
                .unwrap_or(&e.message)
                .to_string(),
            None => e.message.clone(),
        };
        anyhow!("--header {height}:…: {rule}")
    };
    let mut one = AnchorOptions::default();
    one.trust_header(height, hex).map_err(core_error)?;
    let (h, header) = one.headers.pop_first().expect("one header was added");
    match opts.headers.get(&h) {
        Some(prev) if *prev != header => bail!("--header: two different headers for height {h}"),
        Some(_) => Ok(()),
        None => opts.trust_header(height, hex).map_err(core_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_headers_parse() {
        let hex = "02000000b96394585a281b7e5f438fd1c9ed492645a1fd61cb3802040000000000000000007ee445d23ad061af4a36b809501fab1ac4f2d7e7a739817dd0cbb7ec661b8a1e376755f58616186272def6";
        let mut opts = AnchorOptions::default();
        add_trusted_header(&mut opts, &format!("358000:{hex}")).unwrap();
        assert_eq!(to_hex(&opts.headers[&358000].to_bytes()), hex);
        // The same header twice is fine; another one at that height is not.
        add_trusted_header(&mut opts, &format!("358000:{hex}")).unwrap();
        let other = format!("{}{}", &hex[..150], "0000000000");
        let e = add_trusted_header(&mut opts, &format!("358000:{other}")).unwrap_err();
        assert!(
            e.to_string()
                .contains("two different headers for height 358000"),
            "{e}"
        );
        let e = add_trusted_header(&mut opts, hex).unwrap_err();
        assert!(e.to_string().contains("expected HEIGHT:HEX"), "{e}");
        let e = add_trusted_header(&mut opts, &format!("-1:{hex}")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--header -1:…: the key must be a block height in decimal"),
            "{e}"
        );
        let e = add_trusted_header(&mut opts, "5:abcd").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--header 5:…: is not a block header (80 bytes, 160 hex characters)"),
            "{e}"
        );
        assert_eq!(opts.headers.len(), 1);
        assert!(parse_network("main").is_err());
        assert_eq!(parse_network("regtest").unwrap(), Network::Regtest);
    }
}
