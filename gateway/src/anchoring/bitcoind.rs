//! Node mode: the gateway anchors batch heads itself through a Bitcoin Core
//! node's wallet (JSON-RPC), one `OP_RETURN <head hash>` transaction per
//! interval for the newest head, and turns each one into a `bitcoin` anchor
//! (raw transaction, `gettxoutproof` merkleblock, header, height) once it has
//! the configured number of confirmations.
//!
//! The RPC client speaks JSON-RPC 1.0 over HTTP POST (Bitcoin Core has no
//! TLS: run the node on the same host or reach it through a tunnel), with
//! basic authentication from `--bitcoind-user`/`--bitcoind-password` or the
//! node's cookie file, and the wallet path `/wallet/<name>` for the wallet
//! calls. The password and the cookie never appear in logs or errors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use kwh_btc_iot_core::build::anchor::op_return_template;
use kwh_btc_iot_core::encoding::bitcoin::Transaction;
use kwh_btc_iot_core::encoding::bitcoin::{self, BlockHeader, Network};
use kwh_btc_iot_core::encoding::hex::encode as to_hex;
use kwh_btc_iot_core::hash::Hash;
use kwh_btc_iot_core::model::anchor::Anchor;

use super::stored::StoredAnchor;
use kwh_btc_iot_core::verify::{anchor::verify_bitcoin_proof, AnchorStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::now_us;
use crate::config::arg_or_file;
use crate::http_client::{basic_auth, path_segment, HttpClient, HttpErrorKind};
use crate::storage::{AnchorRow, BatchRow, Storage};
use axum::http::Method;

/// The anchor kind this mode writes.
pub const KIND: &str = "bitcoin";

/// The `--bitcoind-*` options of `kwh-btc-iot serve`. Node mode runs only
/// when `--bitcoind-url` is given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BitcoindArgs {
    /// Bitcoin Core JSON-RPC URL (http://HOST:PORT, e.g. http://127.0.0.1:8332);
    /// enables node mode: the gateway anchors its newest batch head with an
    /// OP_RETURN transaction from the node's wallet.
    #[arg(long, env = "KWH_BTC_IOT_BITCOIND_URL", value_name = "URL")]
    pub bitcoind_url: Option<String>,
    /// Wallet to fund and sign with (RPC path /wallet/NAME) [default: the node's default wallet].
    #[arg(long, env = "KWH_BTC_IOT_BITCOIND_WALLET", value_name = "NAME")]
    pub bitcoind_wallet: Option<String>,
    /// The node's cookie file (DATADIR/.cookie, or DATADIR/regtest/.cookie);
    /// read at each connection. Alternative to --bitcoind-user/--bitcoind-password.
    #[arg(long, env = "KWH_BTC_IOT_BITCOIND_COOKIE_FILE", value_name = "FILE")]
    pub bitcoind_cookie_file: Option<PathBuf>,
    /// RPC user name (rpcuser or an rpcauth user).
    #[arg(long, env = "KWH_BTC_IOT_BITCOIND_USER", value_name = "NAME")]
    pub bitcoind_user: Option<String>,
    /// RPC password (prefer the environment or the file to the command line).
    #[arg(
        long,
        env = "KWH_BTC_IOT_BITCOIND_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub bitcoind_password: Option<String>,
    /// Seconds between anchoring transactions (the newest head not yet covered
    /// is anchored at most this often) [default: 600].
    #[arg(
        long,
        env = "KWH_BTC_IOT_BITCOIND_ANCHOR_INTERVAL_S",
        value_name = "SECONDS"
    )]
    pub bitcoind_anchor_interval_s: Option<u64>,
    /// Confirmations before an anchoring transaction becomes a receipt anchor [default: 1].
    #[arg(long, env = "KWH_BTC_IOT_BITCOIND_CONFIRMATIONS", value_name = "N")]
    pub bitcoind_confirmations: Option<u64>,
}

/// The `[bitcoind]` table of the TOML file (the option names without `bitcoind-`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitcoindFileConfig {
    url: Option<String>,
    wallet: Option<String>,
    cookie_file: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    anchor_interval_s: Option<u64>,
    confirmations: Option<u64>,
}

/// How the client authenticates.
#[derive(Clone)]
pub enum RpcAuth {
    /// rpcuser/rpcpassword (or rpcauth).
    UserPass {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// The cookie file (`__cookie__:<hex>`), read at each request.
    Cookie(PathBuf),
}

impl std::fmt::Debug for RpcAuth {
    // Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcAuth::UserPass { user, .. } => write!(f, "UserPass({user:?}, ***)"),
            RpcAuth::Cookie(p) => write!(f, "Cookie({})", p.display()),
        }
    }
}

/// The resolved node-mode configuration.
#[derive(Debug, Clone)]
pub struct BitcoindConfig {
    /// Host of the node.
    pub host: String,
    /// RPC port.
    pub port: u16,
    /// Wallet name (`None`: the node's default wallet, path `/`).
    pub wallet: Option<String>,
    /// Credentials.
    pub auth: RpcAuth,
    /// Time between anchoring transactions.
    pub anchor_interval: Duration,
    /// Confirmations required.
    pub confirmations: u64,
    /// Time limit of one RPC call (connect, send, answer).
    pub timeout: Duration,
    /// How often pending transactions are checked.
    pub poll_interval: Duration,
    /// How long a transaction may be unknown to the node (error -5) before
    /// it is marked failed and the head anchored again.
    pub drop_after: Duration,
}

/// Largest RPC answer accepted (a `getrawtransaction` of a 4 MB transaction, verbose).
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl BitcoindArgs {
    /// Resolves the options (command line / environment only); `None` when
    /// no `--bitcoind-url` is given.
    pub fn resolve(&self) -> anyhow::Result<Option<BitcoindConfig>> {
        self.resolve_with_file(&BitcoindFileConfig::default())
    }

    /// Resolves the options, the command line / environment first, then the
    /// `[bitcoind]` table of the TOML file.
    pub fn resolve_with_file(
        &self,
        file: &BitcoindFileConfig,
    ) -> anyhow::Result<Option<BitcoindConfig>> {
        let Some(url) = arg_or_file(&self.bitcoind_url, &file.url) else {
            return Ok(None);
        };
        let (host, port) = parse_url(&url)?;
        let wallet = arg_or_file(&self.bitcoind_wallet, &file.wallet);
        if let Some(w) = &wallet {
            if w.chars().any(|c| c.is_control()) {
                bail!("bitcoind_wallet: control characters are not allowed in a wallet name");
            }
        }
        let user = arg_or_file(&self.bitcoind_user, &file.user);
        let password = arg_or_file(&self.bitcoind_password, &file.password);
        let cookie = arg_or_file(&self.bitcoind_cookie_file, &file.cookie_file);
        let auth = match (user, password, cookie) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => bail!(
                "bitcoind_cookie_file and bitcoind_user/bitcoind_password are alternatives: give one"
            ),
            (Some(user), Some(password), None) => {
                if user.contains(':') {
                    bail!("bitcoind_user must not contain ':'");
                }
                RpcAuth::UserPass { user, password }
            }
            (Some(_), None, None) => bail!("bitcoind_user is set but bitcoind_password is not"),
            (None, Some(_), None) => bail!("bitcoind_password is set but bitcoind_user is not"),
            (None, None, Some(c)) => RpcAuth::Cookie(c),
            (None, None, None) => bail!(
                "bitcoind_url needs credentials: --bitcoind-cookie-file, or --bitcoind-user and --bitcoind-password"
            ),
        };
        let interval =
            arg_or_file(&self.bitcoind_anchor_interval_s, &file.anchor_interval_s).unwrap_or(600);
        if interval == 0 {
            bail!("bitcoind_anchor_interval_s must be at least 1");
        }
        let confirmations =
            arg_or_file(&self.bitcoind_confirmations, &file.confirmations).unwrap_or(1);
        if !(1..=1000).contains(&confirmations) {
            bail!("bitcoind_confirmations must be within 1..=1000");
        }
        let poll = Duration::from_secs(interval.clamp(1, 30));
        Ok(Some(BitcoindConfig {
            host,
            port,
            wallet,
            auth,
            anchor_interval: Duration::from_secs(interval),
            confirmations,
            timeout: Duration::from_secs(30),
            poll_interval: poll,
            drop_after: Duration::from_secs(interval.max(600) * 6),
        }))
    }
}

/// Parses `http://HOST[:PORT][/]` (default port 8332).
fn parse_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = match url.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") => r,
        Some((s, _)) => bail!(
            "bitcoind_url: scheme {s:?} is not supported; Bitcoin Core's RPC is plain http:// (use a tunnel for a remote node)"
        ),
        None => bail!("bitcoind_url {url:?}: expected http://HOST:PORT"),
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('@') {
        bail!("bitcoind_url: put the credentials in --bitcoind-user/--bitcoind-password or --bitcoind-cookie-file, not in the URL");
    }
    if authority.contains('/') || authority.contains('?') {
        bail!("bitcoind_url {url:?}: no path or query (the wallet is --bitcoind-wallet)");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .with_context(|| format!("bitcoind_url {url:?}: unterminated [IPv6] host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .with_context(|| format!("bitcoind_url {url:?}: port must be 1..65535"))?,
            None if after.is_empty() => 8332,
            None => bail!("bitcoind_url {url:?}: unexpected text after the host"),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .with_context(|| format!("bitcoind_url {url:?}: port must be 1..65535"))?,
            ),
            None => (authority.to_string(), 8332),
        }
    };
    if host.is_empty() || port == 0 {
        bail!("bitcoind_url {url:?}: a host and a port 1..65535 are required");
    }
    Ok((host, port))
}

impl BitcoindConfig {
    /// A configuration for `http://host:port` with user and password and the defaults.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> BitcoindConfig {
        BitcoindConfig {
            host: host.into(),
            port,
            wallet: None,
            auth: RpcAuth::UserPass {
                user: user.into(),
                password: password.into(),
            },
            anchor_interval: Duration::from_secs(600),
            confirmations: 1,
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            drop_after: Duration::from_secs(3600),
        }
    }

    /// The node URL (no credentials), for logs.
    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

/// An error of an RPC call.
#[derive(Debug)]
pub enum RpcError {
    /// The node answered with a JSON-RPC error object.
    Rpc {
        /// The method called.
        method: String,
        /// Bitcoin Core's error code (-5: not found, -8: invalid parameter, ...).
        code: i64,
        /// Its message.
        message: String,
    },
    /// The node refused the credentials (HTTP 401/403).
    Auth(String),
    /// The node could not be reached, timed out, or answered something else
    /// than JSON-RPC.
    Transport(String),
}

impl RpcError {
    /// The RPC error code, when the node gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Rpc {
                method,
                code,
                message,
            } => write!(f, "bitcoind {method}: error {code}: {message}"),
            RpcError::Auth(m) | RpcError::Transport(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RpcError {}

/// Bitcoin Core RPC error codes used here.
pub mod codes {
    /// RPC_INVALID_ADDRESS_OR_KEY: e.g. no such transaction or block.
    pub const NOT_FOUND: i64 = -5;
    /// RPC_WALLET_INSUFFICIENT_FUNDS.
    pub const INSUFFICIENT_FUNDS: i64 = -6;
    /// RPC_IN_WARMUP: the node is starting.
    pub const IN_WARMUP: i64 = -28;
    /// RPC_VERIFY_ALREADY_IN_CHAIN.
    pub const ALREADY_IN_CHAIN: i64 = -27;
    /// RPC_WALLET_NOT_FOUND.
    pub const WALLET_NOT_FOUND: i64 = -18;
    /// RPC_METHOD_NOT_FOUND (also: the wallet is disabled).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// RPC_VERIFY_ERROR (e.g. bad-txns-inputs-missingorspent).
    pub const VERIFY_ERROR: i64 = -25;
    /// RPC_VERIFY_REJECTED (refused by the mempool policy).
    pub const VERIFY_REJECTED: i64 = -26;
}

/// A Bitcoin Core JSON-RPC client.
#[derive(Debug, Clone)]
pub struct RpcClient {
    cfg: BitcoindConfig,
    http: HttpClient,
}

/// The fields of the wallet's `gettransaction <txid>` used here.
#[derive(Debug, Clone)]
pub struct WalletTx {
    /// Confirmations: 0 unconfirmed, negative when conflicted.
    pub confirmations: i64,
    /// The block holding it, once mined.
    pub blockhash: Option<String>,
}

/// The fields of `getrawtransaction <txid> true` used here.
#[derive(Debug, Clone)]
pub struct TxStatus {
    /// The raw transaction.
    pub hex: Vec<u8>,
    /// Confirmations (0 or absent while in the mempool).
    pub confirmations: u64,
    /// The block holding it, once mined.
    pub blockhash: Option<String>,
}

impl RpcClient {
    /// A client for the configured node.
    pub fn new(cfg: BitcoindConfig) -> RpcClient {
        let http = HttpClient::new(cfg.timeout).with_max_body(MAX_RESPONSE_BYTES);
        RpcClient { cfg, http }
    }

    /// The configuration.
    pub fn config(&self) -> &BitcoindConfig {
        &self.cfg
    }

    fn authorization(&self) -> Result<String, RpcError> {
        let (user, password) = match &self.cfg.auth {
            RpcAuth::UserPass { user, password } => (user.clone(), password.clone()),
            RpcAuth::Cookie(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    RpcError::Auth(format!(
                        "bitcoind cookie file {}: {e} (is the node running, and is the file readable by the gateway?)",
                        path.display()
                    ))
                })?;
                let line = text.lines().next().unwrap_or("").trim();
                let (u, p) = line.split_once(':').ok_or_else(|| {
                    RpcError::Auth(format!(
                        "bitcoind cookie file {}: expected USER:PASSWORD",
                        path.display()
                    ))
                })?;
                (u.to_string(), p.to_string())
            }
        };
        Ok(basic_auth(&user, &password))
    }

    /// Calls a node-level method (path `/`).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_at("/", method, params).await
    }

    /// Calls a wallet method (path `/wallet/<name>`, or `/` without a wallet name).
    pub async fn call_wallet(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let path = match &self.cfg.wallet {
            Some(w) => format!("/wallet/{}", path_segment(w)),
            None => "/".to_string(),
        };
        self.call_at(&path, method, params).await
    }

    async fn call_at(&self, path: &str, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = serde_json::to_vec(&json!({
            "jsonrpc": "1.0",
            "id": "kwh-btc-iot",
            "method": method,
            "params": params,
        }))
        .map_err(|e| RpcError::Transport(format!("bitcoind {method}: {e}")))?;
        let auth = self.authorization()?;
        let url = self.cfg.url();
        let r = self
            .http
            .request(
                Method::POST,
                &format!("{url}{path}"),
                &[
                    ("authorization", auth.as_str()),
                    ("accept", "application/json"),
                ],
                Some(("application/json", body)),
            )
            .await
            .map_err(|e| {
                // The message names the node's URL (no credentials in it)
                // and the failure; the Authorization header is never shown.
                if e.kind == HttpErrorKind::Timeout {
                    return RpcError::Transport(format!(
                        "bitcoind {method}: no answer from {url} within {} s",
                        self.cfg.timeout.as_secs_f64()
                    ));
                }
                let prefix = format!("{url}{path}: ");
                let why = e.message.strip_prefix(&prefix).unwrap_or(&e.message);
                RpcError::Transport(format!("bitcoind {method} at {url}: {why}"))
            })?;
        let (status, body) = (r.status, r.body);
        if status == 401 || status == 403 {
            return Err(RpcError::Auth(format!(
                "bitcoind at {url} refused the credentials (HTTP {status}); check --bitcoind-user/--bitcoind-password or --bitcoind-cookie-file"
            )));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| {
            RpcError::Transport(format!(
                "bitcoind {method} at {url}: HTTP {status} with a body that is not JSON-RPC: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(RpcError::Rpc {
                method: method.to_string(),
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_string(),
            });
        }
        if status != 200 {
            return Err(RpcError::Transport(format!(
                "bitcoind {method} at {url}: HTTP {status}"
            )));
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `getblockchaininfo`.
    pub async fn getblockchaininfo(&self) -> Result<Value, RpcError> {
        self.call("getblockchaininfo", json!([])).await
    }

    /// `createrawtransaction [] [{"data": hex}]`: the unsigned template.
    pub async fn createrawtransaction_data(&self, data: &[u8]) -> Result<Vec<u8>, RpcError> {
        let v = self
            .call(
                "createrawtransaction",
                json!([[], [{ "data": to_hex(data) }]]),
            )
            .await?;
        hex_result("createrawtransaction", &v)
    }

    /// `fundrawtransaction hex`: the funded transaction.
    pub async fn fundrawtransaction(&self, tx: &[u8]) -> Result<Vec<u8>, RpcError> {
        let v = self
            .call_wallet("fundrawtransaction", json!([to_hex(tx)]))
            .await?;
        hex_result("fundrawtransaction", v.get("hex").unwrap_or(&Value::Null))
    }

    /// `signrawtransactionwithwallet hex`: the signed transaction; an error
    /// when the wallet could not sign every input.
    pub async fn signrawtransactionwithwallet(&self, tx: &[u8]) -> Result<Vec<u8>, RpcError> {
        let v = self
            .call_wallet("signrawtransactionwithwallet", json!([to_hex(tx)]))
            .await?;
        if v.get("complete").and_then(Value::as_bool) != Some(true) {
            return Err(RpcError::Rpc {
                method: "signrawtransactionwithwallet".into(),
                code: 0,
                message: format!(
                    "the wallet could not sign every input: {}",
                    v.get("errors").unwrap_or(&Value::Null)
                ),
            });
        }
        hex_result(
            "signrawtransactionwithwallet",
            v.get("hex").unwrap_or(&Value::Null),
        )
    }

    /// `sendrawtransaction hex`: the txid.
    pub async fn sendrawtransaction(&self, tx: &[u8]) -> Result<String, RpcError> {
        let v = self.call("sendrawtransaction", json!([to_hex(tx)])).await?;
        string_result("sendrawtransaction", &v)
    }

    /// `getrawtransaction txid true [blockhash]`.
    pub async fn getrawtransaction(
        &self,
        txid: &str,
        blockhash: Option<&str>,
    ) -> Result<TxStatus, RpcError> {
        let params = match blockhash {
            Some(b) => json!([txid, true, b]),
            None => json!([txid, true]),
        };
        let v = self.call("getrawtransaction", params).await?;
        let hex = hex_result("getrawtransaction", v.get("hex").unwrap_or(&Value::Null))?;
        Ok(TxStatus {
            hex,
            confirmations: v.get("confirmations").and_then(Value::as_u64).unwrap_or(0),
            blockhash: v
                .get("blockhash")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `gettransaction txid` (wallet): confirmations (negative when
    /// conflicted) and the block, for the wallet's own transactions.
    pub async fn gettransaction(&self, txid: &str) -> Result<WalletTx, RpcError> {
        let v = self.call_wallet("gettransaction", json!([txid])).await?;
        Ok(WalletTx {
            confirmations: v.get("confirmations").and_then(Value::as_i64).unwrap_or(0),
            blockhash: v
                .get("blockhash")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `gettxoutproof [txid] blockhash`: the merkleblock bytes.
    pub async fn gettxoutproof(&self, txid: &str, blockhash: &str) -> Result<Vec<u8>, RpcError> {
        let v = self
            .call("gettxoutproof", json!([[txid], blockhash]))
            .await?;
        hex_result("gettxoutproof", &v)
    }

    /// `getblockheader hash false`: the 80 bytes.
    pub async fn getblockheader_raw(&self, blockhash: &str) -> Result<BlockHeader, RpcError> {
        let v = self
            .call("getblockheader", json!([blockhash, false]))
            .await?;
        let s = string_result("getblockheader", &v)?;
        BlockHeader::from_hex(&s).map_err(|e| bad_result("getblockheader", e.to_string()))
    }

    /// `getblockheader hash true`: the verbose object (height, confirmations, ...).
    pub async fn getblockheader_verbose(&self, blockhash: &str) -> Result<Value, RpcError> {
        self.call("getblockheader", json!([blockhash, true])).await
    }

    /// `getblockhash height`.
    pub async fn getblockhash(&self, height: u64) -> Result<String, RpcError> {
        let v = self.call("getblockhash", json!([height])).await?;
        string_result("getblockhash", &v)
    }

    /// The height of a block (from `getblockheader hash true`).
    pub async fn block_height(&self, blockhash: &str) -> Result<i64, RpcError> {
        let v = self.getblockheader_verbose(blockhash).await?;
        v.get("height")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad_result("getblockheader", "no height in the answer".into()))
    }

    /// Checks that the node's chain is `network` (Bitcoin Core's
    /// `getblockchaininfo.chain`: main, test, testnet4, signet, regtest).
    pub async fn check_chain(&self, network: Network) -> anyhow::Result<()> {
        let info = self.getblockchaininfo().await?;
        let chain = info
            .get("chain")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("bitcoind getblockchaininfo: no \"chain\" in the answer"))?;
        let node = Network::parse(chain).ok_or_else(|| {
            anyhow!(
                "bitcoind at {} is on an unknown chain {chain:?}",
                self.cfg.url()
            )
        })?;
        if node != network {
            bail!(
                "bitcoind at {} is on chain {chain:?} ({node}) but the gateway anchors on {network} (--anchor-network); refusing to anchor on the wrong chain",
                self.cfg.url()
            );
        }
        Ok(())
    }
}

fn bad_result(method: &str, msg: String) -> RpcError {
    RpcError::Transport(format!("bitcoind {method}: unexpected answer: {msg}"))
}

fn string_result(method: &str, v: &Value) -> Result<String, RpcError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| bad_result(method, format!("expected a string, got {v}")))
}

fn hex_result(method: &str, v: &Value) -> Result<Vec<u8>, RpcError> {
    let s = string_result(method, v)?;
    bitcoin::decode_hex(&s).map_err(|e| bad_result(method, e.to_string()))
}

/// The height of a block, asked from the configured node (the attach
/// endpoint uses it when the request gives no `height`).
pub async fn block_height_of(cfg: &BitcoindConfig, block_hash: &str) -> anyhow::Result<i64> {
    if block_hash.len() != 64 || !block_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("block hash {block_hash:?}: expected 64 hex characters");
    }
    let client = RpcClient::new(cfg.clone());
    Ok(client.block_height(block_hash).await?)
}

/// A check to run when the gateway starts: an error when the node answers
/// and is on another chain than `network` (or refuses the credentials);
/// `Ok` when it is right or cannot be reached now (node mode retries).
pub async fn preflight(cfg: &BitcoindConfig, network: Network) -> anyhow::Result<()> {
    match RpcClient::new(cfg.clone()).check_chain(network).await {
        Ok(()) => Ok(()),
        Err(e) => match e.downcast_ref::<RpcError>() {
            Some(RpcError::Transport(_)) => {
                tracing::warn!(error = %e, "bitcoind not reachable at start; node mode will retry");
                Ok(())
            }
            Some(RpcError::Rpc {
                code: codes::IN_WARMUP,
                ..
            }) => Ok(()),
            _ => Err(e),
        },
    }
}

/// Backoff after `attempts` failures: 5 s doubling up to 10 minutes (from
/// 10 s after the first failure).
fn backoff(attempts: i64) -> Duration {
    crate::backoff::delay(
        Duration::from_secs(5),
        Duration::from_secs(600),
        attempts.saturating_add(1),
    )
}

/// Node mode: until `stop` is notified, anchors the newest batch head every
/// `anchor_interval` (when no bitcoin anchor, pending or anchored, covers it
/// yet) and turns confirmed transactions into anchors. Refuses to start
/// (logs the error and returns) when the node is on another chain than
/// `network`; a node that is down is retried with backoff.
pub async fn run_node_mode(
    storage: Arc<dyn Storage>,
    cfg: BitcoindConfig,
    network: Network,
    stop: Arc<tokio::sync::Notify>,
) {
    run_node_mode_with(storage, cfg, network, None, stop).await
}

/// Called when an anchor changed (the batcher drops its cached anchor lists).
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// [`run_node_mode`] calling `on_change` each time an anchor becomes
/// `anchored`, so that receipts carry it at once (without it they do after
/// the batcher's cache time).
pub async fn run_node_mode_with(
    storage: Arc<dyn Storage>,
    cfg: BitcoindConfig,
    network: Network,
    on_change: Option<OnChange>,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut node = NodeMode::new(storage, cfg, network);
    node.on_change = on_change;
    if let Err(e) = node.run(stop).await {
        tracing::error!(error = %format!("{e:#}"), "bitcoind node mode stopped");
    }
}

/// The node-mode worker (public for tests: [`NodeMode::tick`] runs one round).
pub struct NodeMode {
    storage: Arc<dyn Storage>,
    rpc: RpcClient,
    network: Network,
    last_send: Option<tokio::time::Instant>,
    chain_checked: bool,
    /// Set when a transaction failed: the head is anchored again at once.
    failed: std::sync::atomic::AtomicBool,
    on_change: Option<OnChange>,
}

impl NodeMode {
    /// A worker for the configured node.
    pub fn new(storage: Arc<dyn Storage>, cfg: BitcoindConfig, network: Network) -> NodeMode {
        NodeMode {
            storage,
            rpc: RpcClient::new(cfg),
            network,
            last_send: None,
            chain_checked: false,
            failed: std::sync::atomic::AtomicBool::new(false),
            on_change: None,
        }
    }

    /// Called after an anchor became `anchored` (e.g. to drop cached
    /// receipt anchor lists).
    pub fn with_on_change(mut self, f: OnChange) -> NodeMode {
        self.on_change = Some(f);
        self
    }

    /// Checks the node's chain once: a wrong chain is an error that stops
    /// node mode; an unreachable node is retried.
    pub async fn check_chain(&mut self) -> anyhow::Result<()> {
        if !self.chain_checked {
            self.rpc.check_chain(self.network).await?;
            self.chain_checked = true;
        }
        Ok(())
    }

    async fn run(mut self, stop: Arc<tokio::sync::Notify>) -> anyhow::Result<()> {
        let cfg = self.rpc.config().clone();
        tracing::info!(
            url = %cfg.url(),
            wallet = ?cfg.wallet,
            network = %self.network,
            interval_s = cfg.anchor_interval.as_secs(),
            confirmations = cfg.confirmations,
            "bitcoind node mode"
        );
        let mut failures = 0i64;
        loop {
            // A round is cut short by stop: whatever it left half done (a
            // transaction stored but not sent) the next round completes.
            let round = tokio::select! {
                _ = stop.notified() => return Ok(()),
                r = async {
                    self.check_chain().await?;
                    self.tick().await
                } => r,
            };
            let wait = match round {
                Ok(()) => {
                    failures = 0;
                    cfg.poll_interval
                }
                Err(e) => match e.downcast_ref::<RpcError>() {
                    // The node is down, starting, or refuses the credentials
                    // (they may be fixed on the node's side): retried.
                    Some(RpcError::Auth(_)) => {
                        failures += 1;
                        tracing::error!(error = %e, "bitcoind node mode: authentication failed; retrying");
                        backoff(failures)
                    }
                    Some(_) => {
                        failures += 1;
                        tracing::warn!(error = %format!("{e:#}"), "bitcoind node mode: round failed; retrying");
                        backoff(failures).min(cfg.poll_interval.max(Duration::from_secs(5)))
                    }
                    // Wrong chain: a configuration error; nothing is sent.
                    None if !self.chain_checked => return Err(e),
                    // Storage and other errors: retried.
                    None => {
                        failures += 1;
                        tracing::warn!(error = %format!("{e:#}"), "bitcoind node mode: round failed; retrying");
                        backoff(failures)
                    }
                },
            };
            tokio::select! {
                _ = stop.notified() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round: completes confirmed transactions, marks dropped ones
    /// failed, then anchors the newest head when it is due.
    pub async fn tick(&mut self) -> anyhow::Result<()> {
        // Of several instances on one PostgreSQL database, one anchors.
        if !self.storage.claim_anchoring().await? {
            return Ok(());
        }
        self.poll_pending().await?;
        self.maybe_anchor_latest().await
    }

    /// Anchors the newest batch head now when no bitcoin anchor (pending or
    /// anchored) covers it, ignoring the interval. Returns the txid sent.
    pub async fn anchor_latest_now(&mut self) -> anyhow::Result<Option<String>> {
        let Some(batch) = self.storage.latest_batch().await? else {
            return Ok(None);
        };
        if self.covered(batch.seq).await? {
            return Ok(None);
        }
        let txid = self.send_anchor(&batch).await?;
        Ok(Some(txid))
    }

    async fn maybe_anchor_latest(&mut self) -> anyhow::Result<()> {
        let interval = self.rpc.config().anchor_interval;
        if self
            .failed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            self.last_send = None;
        }
        if let Some(t) = self.last_send {
            if t.elapsed() < interval {
                return Ok(());
            }
        }
        self.anchor_latest_now().await?;
        Ok(())
    }

    /// Whether a bitcoin anchor, pending or anchored, exists at `seq` or later.
    async fn covered(&self, seq: i64) -> anyhow::Result<bool> {
        if self
            .storage
            .covering_anchors(seq)
            .await?
            .iter()
            .any(|a| a.kind == KIND)
        {
            return Ok(true);
        }
        let pending = self.storage.anchors_due(KIND, i64::MAX, 1000).await?;
        Ok(pending.iter().any(|a| a.batch_seq >= seq))
    }

    async fn send_anchor(&mut self, batch: &BatchRow) -> anyhow::Result<String> {
        let head = Hash(batch.head_hash);
        let template = op_return_template(&head);
        let funded = self
            .rpc
            .fundrawtransaction(&template)
            .await
            .context("funding the anchoring transaction (is the wallet loaded and funded?)")?;
        let signed = self.rpc.signrawtransactionwithwallet(&funded).await?;
        let tx = Transaction::parse(&signed)
            .map_err(|e| anyhow!("the wallet's signed transaction does not parse: {e}"))?;
        if !tx
            .outputs
            .iter()
            .any(|o| o.op_return_data().as_deref() == Some(head.0.as_slice()))
        {
            bail!(
                "the wallet's transaction lost the OP_RETURN output of head {}",
                head.to_hex()
            );
        }
        let txid = tx.txid_display();
        let now = now_us();
        // Stored before it is sent: a crash between the two leaves a pending
        // row whose transaction the node does not know; it is then marked
        // failed after drop_after and the head anchored again.
        let mut row = AnchorRow {
            batch_seq: batch.seq,
            kind: KIND.into(),
            status: "pending".into(),
            data: StoredAnchor::UnconfirmedTx(signed.clone()).encode(),
            txid: Some(txid.clone()),
            next_attempt_us: now,
            created_us: now,
            updated_us: now,
            ..AnchorRow::default()
        };
        row.id = self.storage.insert_anchor(row.clone()).await?;
        // One transaction per interval, whether the node takes it or not
        // (a refused one is marked failed below; not re-sent in a loop).
        self.last_send = Some(tokio::time::Instant::now());
        match self.rpc.sendrawtransaction(&signed).await {
            Ok(sent) if sent == txid => {}
            Ok(other) => {
                tracing::warn!(expected = %txid, got = %other, "sendrawtransaction returned another txid")
            }
            Err(e @ RpcError::Transport(_)) => {
                // Kept pending: the rebroadcast in poll_pending sends it again.
                tracing::warn!(error = %e, txid = %txid, "sendrawtransaction failed; will rebroadcast");
            }
            Err(e) => {
                row.status = "failed".into();
                row.last_error = Some(e.to_string());
                row.updated_us = now_us();
                self.storage.update_anchor(row).await?;
                return Err(e.into());
            }
        }
        tracing::info!(batch = %batch.batch_id, seq = batch.seq, txid = %txid, "anchoring transaction sent");
        Ok(txid)
    }

    /// Checks every due pending bitcoin anchor once.
    pub async fn poll_pending(&mut self) -> anyhow::Result<()> {
        let due = self.storage.anchors_due(KIND, now_us(), 100).await?;
        for row in due {
            self.poll_one(row).await?;
        }
        Ok(())
    }

    async fn poll_one(&self, mut row: AnchorRow) -> anyhow::Result<()> {
        let Some(txid) = row.txid.clone() else {
            row.status = "failed".into();
            row.last_error = Some("pending bitcoin anchor without a txid".into());
            row.updated_us = now_us();
            self.storage.update_anchor(row).await?;
            return Ok(());
        };
        let cfg = self.rpc.config().clone();
        // The wallet knows its own transactions, mined or not, without
        // -txindex; a node without that wallet answers -5 / -18 and the
        // node-level getrawtransaction (mempool, or -txindex) is asked instead.
        let (confirmations, blockhash) = match self.rpc.gettransaction(&txid).await {
            Ok(s) => (s.confirmations, s.blockhash),
            Err(e)
                if matches!(
                    e.code(),
                    Some(codes::NOT_FOUND | codes::WALLET_NOT_FOUND | codes::METHOD_NOT_FOUND)
                ) =>
            {
                match self.rpc.getrawtransaction(&txid, None).await {
                    Ok(s) => (s.confirmations as i64, s.blockhash),
                    Err(e) if e.code() == Some(codes::NOT_FOUND) => (0, None),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        if confirmations < 0 {
            // Conflicted: an input was spent by a transaction in the chain.
            return self
                .fail(
                    row,
                    format!(
                        "transaction {txid} conflicts with a transaction in the chain ({confirmations} confirmations); the head will be anchored again"
                    ),
                )
                .await;
        }
        if confirmations == 0 {
            // Unconfirmed: is it still in the mempool?
            match self.rpc.getrawtransaction(&txid, None).await {
                Ok(_) => {
                    row.last_error = None;
                    return self.check_later(row, cfg.poll_interval).await;
                }
                Err(e) if e.code() == Some(codes::NOT_FOUND) => {
                    // Dropped (evicted, expired, or the node restarted without
                    // its mempool): rebroadcast; give up after drop_after.
                    let age = Duration::from_micros((now_us() - row.created_us).max(0) as u64);
                    let raw_tx = StoredAnchor::decode(&row.data)?
                        .raw_tx()
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| anyhow!("anchor {}: no stored transaction", row.id))?;
                    match self.rpc.sendrawtransaction(&raw_tx).await {
                        Ok(_) => {
                            tracing::info!(txid = %txid, "anchoring transaction was not in the mempool; rebroadcast");
                            row.last_error = Some("not in the mempool; rebroadcast".into());
                            return self.check_later(row, cfg.poll_interval).await;
                        }
                        Err(e2) if age >= cfg.drop_after => {
                            return self
                                .fail(
                                    row,
                                    format!(
                                        "transaction {txid} dropped from the mempool ({e}) and its rebroadcast was refused ({e2}) after {} s; the head will be anchored again",
                                        age.as_secs()
                                    ),
                                )
                                .await;
                        }
                        Err(e2) => {
                            row.last_error =
                                Some(format!("not in the mempool; rebroadcast refused: {e2}"));
                            return self.retry_later(row).await;
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        if (confirmations as u64) < cfg.confirmations {
            row.last_error = None;
            return self.check_later(row, cfg.poll_interval).await;
        }
        let blockhash = blockhash.ok_or_else(|| {
            anyhow!("bitcoind: transaction {txid} is confirmed but has no blockhash")
        })?;
        let status = self.rpc.getrawtransaction(&txid, Some(&blockhash)).await?;
        let proof = self.rpc.gettxoutproof(&txid, &blockhash).await?;
        let header = self.rpc.getblockheader_raw(&blockhash).await?;
        let height = self.rpc.block_height(&blockhash).await?;
        let batch = self
            .storage
            .batch_by_seq(row.batch_seq)
            .await?
            .ok_or_else(|| anyhow!("batch {} of anchor {} is gone", row.batch_seq, row.id))?;
        match build_anchor(
            &status.hex,
            &proof,
            &header,
            height,
            &batch.head_hash,
            self.network,
        ) {
            Ok(value) => {
                row.status = "anchored".into();
                row.data = value.into_bytes();
                row.header = Some(header.to_bytes().to_vec());
                row.height = Some(height);
                row.block_hash = Some(header.block_hash_display());
                row.last_error = None;
                row.confirmed_by = Some(
                    super::calendar::HeaderSource::Bitcoind(self.rpc.config().clone()).describe(),
                );
                row.updated_us = now_us();
                tracing::info!(txid = %txid, seq = row.batch_seq, height, block = %header.block_hash_display(), "batch head anchored in Bitcoin");
                self.storage.update_anchor(row).await?;
                if let Some(f) = &self.on_change {
                    f();
                }
            }
            Err(e) => {
                row.last_error = Some(format!("{e:#}"));
                tracing::warn!(txid = %txid, error = %format!("{e:#}"), "anchor does not verify; retrying later");
                self.retry_later(row).await?;
            }
        }
        Ok(())
    }

    async fn check_later(&self, mut row: AnchorRow, after: Duration) -> anyhow::Result<()> {
        row.next_attempt_us = now_us() + after.as_micros() as i64;
        row.updated_us = now_us();
        self.storage.update_anchor(row).await?;
        Ok(())
    }

    async fn fail(&self, mut row: AnchorRow, why: String) -> anyhow::Result<()> {
        tracing::warn!(txid = ?row.txid, seq = row.batch_seq, reason = %why, "anchoring transaction failed");
        row.status = "failed".into();
        row.last_error = Some(why);
        row.updated_us = now_us();
        self.storage.update_anchor(row).await?;
        self.failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn retry_later(&self, mut row: AnchorRow) -> anyhow::Result<()> {
        row.attempts += 1;
        row.next_attempt_us = now_us() + backoff(row.attempts).as_micros() as i64;
        row.updated_us = now_us();
        self.storage.update_anchor(row).await?;
        Ok(())
    }
}

/// Builds the `bitcoin` anchor JSON text for a head hash from the node's
/// data and verifies it with the core under `network`.
pub fn build_anchor(
    raw_tx: &[u8],
    merkle_proof: &[u8],
    header: &BlockHeader,
    height: i64,
    head_hash: &[u8; 32],
    network: Network,
) -> anyhow::Result<String> {
    let height = u64::try_from(height).map_err(|_| anyhow!("negative height {height}"))?;
    let anchor = Anchor::bitcoin(raw_tx, merkle_proof, height)
        .map_err(|e| anyhow!("{}: {} (step {})", e.member, e.message, e.step))?;
    let Anchor::Bitcoin(b) = &anchor else {
        unreachable!("Anchor::bitcoin builds a bitcoin anchor")
    };
    if b.merkle_block.header != *header {
        bail!(
            "header: the merkleblock's block {} is not block {}",
            b.merkle_block.header.block_hash_display(),
            header.block_hash_display()
        );
    }
    // The proof is checked against the head hash, with the node's header
    // trusted at that height.
    let res = verify_bitcoin_proof(
        &b.tx,
        &b.merkle_block,
        head_hash,
        height,
        Some(header),
        network,
    )
    .map_err(|f| {
        anyhow!(
            "the anchor does not verify: step {}: {} ({})",
            f.step,
            f.message,
            f.member
        )
    })?;
    if res.status != AnchorStatus::Verified {
        bail!("the anchor is {}, not verified", res.status.as_str());
    }
    Ok(anchor.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_5_s_doubling_up_to_10_minutes() {
        let secs: Vec<u64> = (-1..10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
    }

    #[test]
    fn url_parsing() {
        assert_eq!(
            parse_url("http://127.0.0.1:18443").unwrap(),
            ("127.0.0.1".into(), 18443)
        );
        assert_eq!(parse_url("http://node").unwrap(), ("node".into(), 8332));
        assert_eq!(parse_url("http://[::1]:1/").unwrap(), ("::1".into(), 1));
        assert!(parse_url("https://node")
            .unwrap_err()
            .to_string()
            .contains("plain http"));
        assert!(parse_url("http://u:p@node").is_err());
        assert!(parse_url("http://node/wallet/x").is_err());
        assert!(parse_url("node:8332").is_err());
    }

    #[test]
    fn resolve_rules() {
        let mut a = BitcoindArgs::default();
        assert!(a.resolve().unwrap().is_none());
        a.bitcoind_url = Some("http://127.0.0.1:18443".into());
        assert!(a.resolve().unwrap_err().to_string().contains("credentials"));
        a.bitcoind_user = Some("u".into());
        assert!(a
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("bitcoind_password"));
        a.bitcoind_password = Some("secret".into());
        let c = a.resolve().unwrap().unwrap();
        assert_eq!(c.confirmations, 1);
        assert_eq!(c.anchor_interval, Duration::from_secs(600));
        assert!(!format!("{c:?}").contains("secret"));
        a.bitcoind_cookie_file = Some("/x/.cookie".into());
        assert!(a
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("alternatives"));
        a.bitcoind_cookie_file = None;
        a.bitcoind_confirmations = Some(0);
        assert!(a
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("bitcoind_confirmations"));
    }

    #[test]
    fn toml_table_and_precedence() {
        let file: BitcoindFileConfig = toml::from_str(
            "url = \"http://10.0.0.2:18443\"\nwallet = \"w\"\ncookie_file = \"/n/.cookie\"\nanchor_interval_s = 60\nconfirmations = 2\n",
        )
        .unwrap();
        let c = BitcoindArgs::default()
            .resolve_with_file(&file)
            .unwrap()
            .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.2", 18443));
        assert_eq!(c.wallet.as_deref(), Some("w"));
        assert!(matches!(c.auth, RpcAuth::Cookie(_)));
        assert_eq!((c.anchor_interval.as_secs(), c.confirmations), (60, 2));
        // The command line / environment wins.
        let args = BitcoindArgs {
            bitcoind_confirmations: Some(6),
            ..BitcoindArgs::default()
        };
        assert_eq!(
            args.resolve_with_file(&file)
                .unwrap()
                .unwrap()
                .confirmations,
            6
        );
        assert!(toml::from_str::<BitcoindFileConfig>("rpcport = 1").is_err());
    }
}
