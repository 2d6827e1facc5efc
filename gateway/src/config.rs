//! Configuration: command-line options, each also read from the environment
//! (`KWH_BTC_IOT_*`) and from a TOML file. Precedence: command line, then
//! environment, then the file, then the defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One option's value, by the precedence every option follows: the command
/// line or the environment (clap has merged those two, the command line
/// first), then the TOML file. `None` when neither sets it: the caller's
/// default applies.
pub fn arg_or_file<T: Clone>(arg: &Option<T>, file: &Option<T>) -> Option<T> {
    arg.as_ref().or(file.as_ref()).cloned()
}

/// Options of `kwh-btc-iot serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8000]. Anything but a loopback
    /// address requires authentication (an admin key or device keys) to be configured.
    #[arg(long, env = "KWH_BTC_IOT_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for the SQLite database and the gateway key [default: ./data].
    #[arg(long, env = "KWH_BTC_IOT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://...); SQLite in the data directory when absent.
    #[arg(
        long,
        env = "KWH_BTC_IOT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// TOML configuration file (every option below, plus `[[devices]]`).
    #[arg(long, env = "KWH_BTC_IOT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Gateway id in batch heads [default: "gw-" + 16 hex characters of the public key].
    #[arg(long, env = "KWH_BTC_IOT_GATEWAY_ID")]
    pub gateway_id: Option<String>,
    /// File holding the gateway's Ed25519 seed (hex) [default: DATA_DIR/gateway.key,
    /// created with mode 0600 on first start]. Several instances on one PostgreSQL
    /// database must share it.
    #[arg(long, env = "KWH_BTC_IOT_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Flush automatically once this many logs wait (0: never) [default: 10000].
    #[arg(long, env = "KWH_BTC_IOT_FLUSH_COUNT")]
    pub flush_count: Option<u64>,
    /// Flush automatically once the oldest waiting log is this many seconds old (0: never) [default: 60].
    #[arg(long, env = "KWH_BTC_IOT_FLUSH_AGE_S")]
    pub flush_age_s: Option<u64>,
    /// Largest batch; a flush takes at most this many logs [default: 1000000].
    #[arg(long, env = "KWH_BTC_IOT_MAX_BATCH_LOGS")]
    pub max_batch_logs: Option<u64>,
    /// Largest body of a single-log request, in bytes [default: 65536].
    #[arg(long, env = "KWH_BTC_IOT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest body of a bulk request, in bytes [default: 67108864].
    #[arg(long, env = "KWH_BTC_IOT_MAX_BULK_BYTES")]
    pub max_bulk_bytes: Option<usize>,
    /// Most logs in one bulk request [default: 100000].
    #[arg(long, env = "KWH_BTC_IOT_MAX_BULK_ITEMS")]
    pub max_bulk_items: Option<usize>,
    /// Bytes of bulk bodies being received or processed at once, over all
    /// requests; beyond it a bulk request is answered 503 with Retry-After
    /// [default: 64 MiB, at least --max-bulk-bytes].
    #[arg(long, env = "KWH_BTC_IOT_MAX_BULK_BYTES_IN_FLIGHT")]
    pub max_bulk_bytes_in_flight: Option<usize>,
    /// Requests per second allowed per key (per client address without keys); 0: no limit [default: 0].
    #[arg(long, env = "KWH_BTC_IOT_RATE_LIMIT_PER_S")]
    pub rate_limit_per_s: Option<f64>,
    /// Burst size of the rate limit [default: 2 x rate].
    #[arg(long, env = "KWH_BTC_IOT_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<f64>,
    /// Most rate-limit buckets held (one per key or client address); the least
    /// recently used goes first [default: 100000].
    #[arg(long, env = "KWH_BTC_IOT_RATE_LIMIT_MAX_CLIENTS")]
    pub rate_limit_max_clients: Option<usize>,
    /// Failed authentications (wrong keys) a client address may make in a burst
    /// before it gets 429 [default: 10].
    #[arg(long, env = "KWH_BTC_IOT_AUTH_FAIL_BURST")]
    pub auth_fail_burst: Option<f64>,
    /// Failed authentications per second a client address regains; 0 turns the
    /// limit off [default: 0.1, one every 10 s].
    #[arg(long, env = "KWH_BTC_IOT_AUTH_FAIL_PER_S")]
    pub auth_fail_per_s: Option<f64>,
    /// Host names (and addresses) clients may reach the gateway by, comma
    /// separated, besides the loopback names; other `Host` headers get 421.
    /// Enforced without keys always, with keys once any name is given.
    #[arg(
        long,
        env = "KWH_BTC_IOT_ALLOWED_HOSTS",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// SHA-256 (hex) of the admin key (flush, listing everything, metrics).
    #[arg(
        long,
        env = "KWH_BTC_IOT_ADMIN_KEY_SHA256",
        value_name = "HEX",
        hide_env_values = true
    )]
    pub admin_key_sha256: Option<String>,
    /// Device keys as `DEVICE_ID=SHA256HEX`, comma separated; each key may only
    /// write logs of its own iot_device_id.
    #[arg(
        long,
        env = "KWH_BTC_IOT_DEVICE_KEYS",
        value_name = "LIST",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub device_keys: Vec<String>,
    /// Device Ed25519 public keys as `DEVICE_ID=PUBKEYHEX`, comma separated; logs of
    /// these devices must carry `X-Log-Signature` (hex) over their canonical bytes.
    #[arg(
        long,
        env = "KWH_BTC_IOT_DEVICE_PUBLIC_KEYS",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub device_public_keys: Vec<String>,
    /// Seconds a client has to send a whole request head [default: 30].
    #[arg(
        long,
        env = "KWH_BTC_IOT_HEADER_READ_TIMEOUT_S",
        value_name = "SECONDS"
    )]
    pub header_read_timeout_s: Option<f64>,
    /// Longest wait, in seconds, between two reads of a request body [default: 60].
    #[arg(long, env = "KWH_BTC_IOT_BODY_READ_TIMEOUT_S", value_name = "SECONDS")]
    pub body_read_timeout_s: Option<f64>,
    /// Seconds a connection may stay open with no request in progress [default: 60].
    #[arg(long, env = "KWH_BTC_IOT_IDLE_TIMEOUT_S", value_name = "SECONDS")]
    pub idle_timeout_s: Option<f64>,
    /// Most HTTP connections open at once; more wait in the listen backlog
    /// [default: 1024, lowered to keep 128 descriptors of the open-file limit free].
    #[arg(long, env = "KWH_BTC_IOT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Serve HTTPS: the certificate chain, PEM (leaf first). Reloaded with the
    /// key on SIGHUP. Needs --tls-key.
    #[arg(
        long,
        env = "KWH_BTC_IOT_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1); keep it
    /// readable by the gateway's user only. Needs --tls-cert.
    #[arg(
        long,
        env = "KWH_BTC_IOT_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Worker threads of the runtime [default: number of CPUs].
    #[arg(long, env = "KWH_BTC_IOT_WORKERS")]
    pub workers: Option<usize>,
    /// The MQTT bridge (`--mqtt-url` and the other `--mqtt-*` options).
    #[command(flatten)]
    pub mqtt: crate::mqtt::MqttArgs,
    /// Bitcoin network whose proof-of-work rules anchors are verified with:
    /// mainnet, testnet, signet or regtest [default: mainnet].
    #[arg(long, env = "KWH_BTC_IOT_ANCHOR_NETWORK", value_name = "NETWORK")]
    pub anchor_network: Option<String>,
    /// OpenTimestamps calendar URLs, comma separated, or `none` to disable the
    /// anchoring worker [default: https://alice.btc.calendar.opentimestamps.org,
    /// https://bob.btc.calendar.opentimestamps.org, https://finney.calendar.eternitywall.com].
    #[arg(long, env = "KWH_BTC_IOT_OTS_CALENDARS", value_name = "URLS")]
    pub ots_calendars: Option<String>,
    /// Seconds before the first upgrade attempt of a pending timestamp; each
    /// further attempt waits twice as long [default: 60].
    #[arg(
        long,
        env = "KWH_BTC_IOT_OTS_UPGRADE_INTERVAL_S",
        value_name = "SECONDS"
    )]
    pub ots_upgrade_interval_s: Option<u64>,
    /// Longest wait between upgrade attempts [default: 3600].
    #[arg(
        long,
        env = "KWH_BTC_IOT_OTS_UPGRADE_MAX_INTERVAL_S",
        value_name = "SECONDS"
    )]
    pub ots_upgrade_max_interval_s: Option<u64>,
    /// Esplora-style API for block headers (`GET /block-height/H`,
    /// `GET /block/HASH/header`) [default: the Bitcoin Core node when
    /// --bitcoind-url is given, else https://blockstream.info/api for mainnet,
    /// https://blockstream.info/testnet/api for testnet,
    /// https://mempool.space/signet/api for signet, none for regtest].
    #[arg(long, env = "KWH_BTC_IOT_HEADER_SOURCE", value_name = "URL")]
    pub header_source: Option<String>,
    /// Let `POST /api/v1/batches/{id}/anchors` store an anchor whose block
    /// header could not be checked because neither a header source nor a
    /// Bitcoin Core node is configured (only the header's own proof of work
    /// is then checked: anyone with the admin key can make a block up)
    /// [default: off: such attaches are refused].
    #[arg(
        long,
        env = "KWH_BTC_IOT_ANCHOR_TRUST_ATTACHED_HEADERS",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub anchor_trust_attached_headers: Option<bool>,
    /// Bitcoin Core node mode (`--bitcoind-url` and the other `--bitcoind-*` options).
    #[command(flatten)]
    pub bitcoind: crate::anchoring::bitcoind::BitcoindArgs,
}

/// `ots_calendars` in the TOML file: a list of URLs, or `"none"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CalendarList {
    /// URLs (an empty list disables the worker).
    List(Vec<String>),
    /// Comma-separated URLs, or `none`.
    Text(String),
}

/// One device in the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// The device's `iot_device_id`.
    pub iot_device_id: String,
    /// SHA-256 (hex) of its API key.
    pub key_sha256: Option<String>,
    /// Its Ed25519 public key (hex): its logs must be signed.
    pub public_key: Option<String>,
    /// The sites it may report for (`site_id`); absent: any.
    pub sites: Option<Vec<String>>,
    /// The meters it may report for (`meter_id`); absent: any.
    pub meters: Option<Vec<String>>,
}

/// The TOML file: the same names as the options, with `_` instead of `-`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    gateway_id: Option<String>,
    key_file: Option<PathBuf>,
    flush_count: Option<u64>,
    flush_age_s: Option<u64>,
    max_batch_logs: Option<u64>,
    max_body_bytes: Option<usize>,
    max_bulk_bytes: Option<usize>,
    max_bulk_items: Option<usize>,
    max_bulk_bytes_in_flight: Option<usize>,
    rate_limit_per_s: Option<f64>,
    rate_limit_burst: Option<f64>,
    rate_limit_max_clients: Option<usize>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    auth_fail_burst: Option<f64>,
    auth_fail_per_s: Option<f64>,
    admin_key_sha256: Option<String>,
    workers: Option<usize>,
    header_read_timeout_s: Option<f64>,
    body_read_timeout_s: Option<f64>,
    idle_timeout_s: Option<f64>,
    max_connections: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    devices: Vec<DeviceEntry>,
    /// The `[mqtt]` table.
    #[serde(default)]
    mqtt: crate::mqtt::MqttFileConfig,
    anchor_network: Option<String>,
    ots_calendars: Option<CalendarList>,
    ots_upgrade_interval_s: Option<u64>,
    ots_upgrade_max_interval_s: Option<u64>,
    header_source: Option<String>,
    anchor_trust_attached_headers: Option<bool>,
    /// The `[bitcoind]` table.
    #[serde(default)]
    bitcoind: crate::anchoring::bitcoind::BitcoindFileConfig,
}

/// Anchoring: the network, the OpenTimestamps worker, Bitcoin Core node mode.
#[derive(Debug, Clone, Default)]
pub struct AnchorConfig {
    /// Proof-of-work rules for every anchor the gateway verifies.
    pub network: kwh_btc_iot_core::encoding::bitcoin::Network,
    /// The OpenTimestamps worker (`None`: off; also the library default, so
    /// embedding the gateway never contacts the public calendars unasked).
    pub ots: Option<crate::anchoring::worker::OtsConfig>,
    /// Node mode, when a node is configured.
    pub bitcoind: Option<crate::anchoring::bitcoind::BitcoindConfig>,
    /// Where the attach endpoint checks an anchor's block header at its
    /// height (`--header-source`, else the node; the same as the worker's).
    pub headers: Option<crate::anchoring::calendar::HeaderSource>,
    /// `--anchor-trust-attached-headers`: without a header source or node,
    /// attach anyway (only the header's proof of work checked). Off by default.
    pub trust_attached_headers: bool,
}

impl AnchorConfig {
    fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<AnchorConfig> {
        use crate::anchoring::calendar::HeaderSource;
        use kwh_btc_iot_core::encoding::bitcoin::Network;
        let network = match arg_or_file(&args.anchor_network, &file.anchor_network) {
            None => Network::Mainnet,
            Some(n) => Network::parse(n.trim()).with_context(|| {
                format!("anchor_network: must be mainnet, testnet, signet or regtest, got {n:?}")
            })?,
        };
        let bitcoind = args.bitcoind.resolve_with_file(&file.bitcoind)?;
        let calendars: Vec<String> = match (&args.ots_calendars, &file.ots_calendars) {
            (Some(t), _) | (None, Some(CalendarList::Text(t))) => split_calendars(t),
            (None, Some(CalendarList::List(l))) => {
                if l.len() == 1 && l[0].trim().eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    l.iter().map(|c| c.trim().to_string()).collect()
                }
            }
            (None, None) => crate::anchoring::worker::PUBLIC_CALENDARS
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        for c in &calendars {
            check_http_url(c, "ots_calendars")?;
        }
        let header_source = match arg_or_file(&args.header_source, &file.header_source) {
            Some(u) => {
                check_http_url(&u, "header_source")?;
                Some(HeaderSource::Esplora(u.trim().to_string()))
            }
            None => match (&bitcoind, network) {
                (Some(b), _) => Some(HeaderSource::Bitcoind(b.clone())),
                (None, Network::Mainnet) => {
                    Some(HeaderSource::Esplora("https://blockstream.info/api".into()))
                }
                (None, Network::Testnet) => Some(HeaderSource::Esplora(
                    "https://blockstream.info/testnet/api".into(),
                )),
                (None, Network::Signet) => Some(HeaderSource::Esplora(
                    "https://mempool.space/signet/api".into(),
                )),
                (None, _) => None,
            },
        };
        let interval = arg_or_file(&args.ots_upgrade_interval_s, &file.ots_upgrade_interval_s)
            .unwrap_or(60)
            .max(1);
        let max_interval = arg_or_file(
            &args.ots_upgrade_max_interval_s,
            &file.ots_upgrade_max_interval_s,
        )
        .unwrap_or(3600)
        .max(interval);
        let ots = (!calendars.is_empty()).then(|| crate::anchoring::worker::OtsConfig {
            calendars,
            network,
            upgrade_interval: std::time::Duration::from_secs(interval),
            upgrade_max_interval: std::time::Duration::from_secs(max_interval),
            headers: header_source.clone(),
            request_timeout: std::time::Duration::from_secs(30),
            tick: std::time::Duration::from_secs(1),
        });
        let trust_attached_headers = arg_or_file(
            &args.anchor_trust_attached_headers,
            &file.anchor_trust_attached_headers,
        )
        .unwrap_or(false);
        Ok(AnchorConfig {
            network,
            ots,
            bitcoind,
            headers: header_source,
            trust_attached_headers,
        })
    }
}

fn split_calendars(t: &str) -> Vec<String> {
    if t.trim().eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    t.split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

fn check_http_url(u: &str, what: &str) -> anyhow::Result<()> {
    let ok =
        u.trim().parse::<axum::http::Uri>().ok().filter(|x| {
            matches!(x.scheme_str(), Some("http") | Some("https")) && x.host().is_some()
        });
    if ok.is_none() {
        bail!("{what}: {u:?} is not an http:// or https:// URL");
    }
    Ok(())
}

/// A device's access rules.
#[derive(Debug, Clone, Default)]
pub struct DeviceRules {
    /// Ed25519 key its logs must be signed with.
    pub public_key: Option<[u8; 32]>,
    /// The only `site_id`s its logs may name (`None`: any).
    pub sites: Option<Vec<String>>,
    /// The only `meter_id`s its logs may name (`None`: any).
    pub meters: Option<Vec<String>>,
}

/// Who may do what.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// SHA-256 of the admin key.
    pub admin_key_sha256: Option<[u8; 32]>,
    /// SHA-256 of a device key → the device it may write.
    pub device_keys: HashMap<[u8; 32], String>,
    /// Per-device rules (signing keys).
    pub devices: HashMap<String, DeviceRules>,
}

impl AuthConfig {
    /// True when any key is configured: then every `/api/v1` call but
    /// `GET /api/v1/gateway` needs one.
    pub fn enabled(&self) -> bool {
        self.admin_key_sha256.is_some() || !self.device_keys.is_empty()
    }

    /// With devices configured (`[[devices]]`, `--device-keys`,
    /// `--device-public-keys`): is `id` exactly one of them? `None` when no
    /// device is configured (any id is accepted).
    pub fn device_known(&self, id: &str) -> Option<bool> {
        if self.devices.is_empty() && self.device_keys.is_empty() {
            return None;
        }
        Some(self.devices.contains_key(id) || self.device_keys.values().any(|d| d == id))
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// PostgreSQL URL, or SQLite when `None`.
    pub database_url: Option<String>,
    /// Gateway id override.
    pub gateway_id: Option<String>,
    /// Key file.
    pub key_file: PathBuf,
    /// Auto flush by count (0: off).
    pub flush_count: u64,
    /// Auto flush by age in seconds (0: off).
    pub flush_age_s: u64,
    /// Largest batch.
    pub max_batch_logs: u64,
    /// Single-log body limit.
    pub max_body_bytes: usize,
    /// Bulk body limit.
    pub max_bulk_bytes: usize,
    /// Bulk item limit.
    pub max_bulk_items: usize,
    /// Bulk body bytes in flight over all requests.
    pub max_bulk_bytes_in_flight: usize,
    /// Rate limit per key, per second (0: off).
    pub rate_limit_per_s: f64,
    /// Burst.
    pub rate_limit_burst: f64,
    /// Most rate-limit buckets held (LRU).
    pub rate_limit_max_clients: usize,
    /// Failed authentications per address in a burst.
    pub auth_fail_burst: f64,
    /// Failed authentications regained per second (0: no limit).
    pub auth_fail_per_s: f64,
    /// Host names besides the loopback ones (lowercase, no port).
    pub allowed_hosts: Vec<String>,
    /// Keys.
    pub auth: AuthConfig,
    /// Runtime workers.
    pub workers: Option<usize>,
    /// Connection limits and timeouts.
    pub limits: crate::server::ConnLimits,
    /// HTTPS: the certificate chain and key files (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The MQTT bridge, when a broker URL is configured.
    pub mqtt: Option<crate::mqtt::MqttConfig>,
    /// Anchoring (off in `Config::default()`; `Config::resolve` turns the
    /// public calendars on unless `--ots-calendars none`).
    pub anchor: AnchorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            gateway_id: None,
            key_file: PathBuf::from("./data/gateway.key"),
            flush_count: 10_000,
            flush_age_s: 60,
            max_batch_logs: 1_000_000,
            max_body_bytes: 64 * 1024,
            max_bulk_bytes: 64 * 1024 * 1024,
            max_bulk_items: 100_000,
            max_bulk_bytes_in_flight: 64 * 1024 * 1024,
            rate_limit_per_s: 0.0,
            rate_limit_burst: 0.0,
            rate_limit_max_clients: 100_000,
            auth_fail_burst: 10.0,
            auth_fail_per_s: 0.1,
            allowed_hosts: Vec::new(),
            auth: AuthConfig::default(),
            workers: None,
            limits: crate::server::ConnLimits::default(),
            tls: None,
            mqtt: None,
            anchor: AnchorConfig::default(),
        }
    }
}

/// SHA-256 of an API key, as stored.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn parse_hash(s: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let h = kwh_btc_iot_core::Hash::from_hex(s.trim(), what).map_err(|e| {
        anyhow::anyhow!(
            "{what}: must be 64 lowercase hex characters (a SHA-256), {}",
            e.message
        )
    })?;
    Ok(h.0)
}

fn seconds(v: Option<f64>, default: Duration, what: &str) -> anyhow::Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s > 0.0 && s.is_finite() && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => bail!("{what} must be a number of seconds within (0, 86400], got {s}"),
    }
}

fn pair<'a>(s: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    s.split_once('=')
        .map(|(a, b)| (a.trim(), b.trim()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .with_context(|| format!("{what}: entries must be DEVICE_ID=HEX, got {s:?}"))
}

impl Config {
    /// Resolves the options: command line / environment, then the file, then defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let data_dir = arg_or_file(&args.data_dir, &file.data_dir).unwrap_or(d.data_dir);
        let key_file = arg_or_file(&args.key_file, &file.key_file)
            .unwrap_or_else(|| data_dir.join("gateway.key"));
        let mut auth = AuthConfig::default();
        if let Some(h) = arg_or_file(&args.admin_key_sha256, &file.admin_key_sha256) {
            auth.admin_key_sha256 = Some(parse_hash(&h, "admin_key_sha256")?);
        }
        for dev in &file.devices {
            kwh_btc_iot_core::model::head::check_id(&dev.iot_device_id, "devices.iot_device_id")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some(k) = &dev.key_sha256 {
                auth.device_keys.insert(
                    parse_hash(k, "devices.key_sha256")?,
                    dev.iot_device_id.clone(),
                );
            }
            let rules = auth.devices.entry(dev.iot_device_id.clone()).or_default();
            for (list, what) in [
                (&dev.sites, "devices.sites"),
                (&dev.meters, "devices.meters"),
            ] {
                match list {
                    Some(l) if l.is_empty() => bail!("{what}: an empty list would refuse every log of device {:?}; leave it out to allow any", dev.iot_device_id),
                    Some(l) => {
                        for id in l {
                            kwh_btc_iot_core::model::emlog::check_log_id(id, what).map_err(|e| anyhow::anyhow!("{e}"))?;
                        }
                    }
                    None => {}
                }
            }
            rules.sites = dev.sites.clone();
            rules.meters = dev.meters.clone();
            if let Some(pk) = &dev.public_key {
                rules.public_key = Some(
                    kwh_btc_iot_core::model::head::public_key_from_hex(pk, "devices.public_key")
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                );
            }
        }
        for entry in &args.device_keys {
            let (dev, h) = pair(entry, "device_keys")?;
            auth.device_keys
                .insert(parse_hash(h, "device_keys")?, dev.to_string());
        }
        for entry in &args.device_public_keys {
            let (dev, pk) = pair(entry, "device_public_keys")?;
            auth.devices.entry(dev.to_string()).or_default().public_key = Some(
                kwh_btc_iot_core::model::head::public_key_from_hex(pk, "device_public_keys")
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        let rate = arg_or_file(&args.rate_limit_per_s, &file.rate_limit_per_s)
            .unwrap_or(d.rate_limit_per_s);
        if !(rate >= 0.0 && rate.is_finite()) {
            bail!("rate_limit_per_s must be a number >= 0");
        }
        let cfg = Config {
            listen: arg_or_file(&args.listen, &file.listen).unwrap_or(d.listen),
            database_url: arg_or_file(&args.database_url, &file.database_url),
            gateway_id: arg_or_file(&args.gateway_id, &file.gateway_id),
            key_file,
            flush_count: arg_or_file(&args.flush_count, &file.flush_count).unwrap_or(d.flush_count),
            flush_age_s: arg_or_file(&args.flush_age_s, &file.flush_age_s).unwrap_or(d.flush_age_s),
            max_batch_logs: arg_or_file(&args.max_batch_logs, &file.max_batch_logs)
                .unwrap_or(d.max_batch_logs)
                .max(1),
            max_body_bytes: arg_or_file(&args.max_body_bytes, &file.max_body_bytes)
                .unwrap_or(d.max_body_bytes),
            max_bulk_bytes: arg_or_file(&args.max_bulk_bytes, &file.max_bulk_bytes)
                .unwrap_or(d.max_bulk_bytes),
            max_bulk_items: arg_or_file(&args.max_bulk_items, &file.max_bulk_items)
                .unwrap_or(d.max_bulk_items)
                .max(1),
            max_bulk_bytes_in_flight: arg_or_file(
                &args.max_bulk_bytes_in_flight,
                &file.max_bulk_bytes_in_flight,
            )
            .unwrap_or(d.max_bulk_bytes_in_flight),
            rate_limit_per_s: rate,
            rate_limit_burst: arg_or_file(&args.rate_limit_burst, &file.rate_limit_burst)
                .unwrap_or(rate * 2.0)
                .max(1.0),
            rate_limit_max_clients: arg_or_file(
                &args.rate_limit_max_clients,
                &file.rate_limit_max_clients,
            )
            .unwrap_or(d.rate_limit_max_clients)
            .max(1),
            auth_fail_burst: arg_or_file(&args.auth_fail_burst, &file.auth_fail_burst)
                .unwrap_or(d.auth_fail_burst)
                .max(1.0),
            auth_fail_per_s: {
                let r = arg_or_file(&args.auth_fail_per_s, &file.auth_fail_per_s)
                    .unwrap_or(d.auth_fail_per_s);
                if !(r >= 0.0 && r.is_finite()) {
                    bail!("auth_fail_per_s must be a number >= 0");
                }
                r
            },
            allowed_hosts: if args.allowed_hosts.is_empty() {
                &file.allowed_hosts
            } else {
                &args.allowed_hosts
            }
            .iter()
            .map(|h| crate::guard::host_name(h))
            .filter(|h| !h.is_empty())
            .collect(),
            auth,
            workers: arg_or_file(&args.workers, &file.workers),
            tls: match (
                arg_or_file(&args.tls_cert, &file.tls_cert),
                arg_or_file(&args.tls_key, &file.tls_key),
            ) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => bail!("tls_cert and tls_key go together: give both, or neither"),
            },
            limits: crate::server::ConnLimits {
                header_read_timeout: seconds(
                    arg_or_file(&args.header_read_timeout_s, &file.header_read_timeout_s),
                    d.limits.header_read_timeout,
                    "header_read_timeout_s",
                )?,
                body_read_timeout: seconds(
                    arg_or_file(&args.body_read_timeout_s, &file.body_read_timeout_s),
                    d.limits.body_read_timeout,
                    "body_read_timeout_s",
                )?,
                idle_timeout: seconds(
                    arg_or_file(&args.idle_timeout_s, &file.idle_timeout_s),
                    d.limits.idle_timeout,
                    "idle_timeout_s",
                )?,
                max_connections: match arg_or_file(&args.max_connections, &file.max_connections) {
                    None => d.limits.max_connections,
                    Some(0) => bail!("max_connections must be at least 1"),
                    Some(n) => {
                        let capped = crate::server::cap_to_file_limit(n);
                        if capped < n {
                            tracing::warn!(
                                "max_connections {n} lowered to {capped}: the open-file limit must keep {} descriptors free",
                                crate::server::RESERVED_FDS
                            );
                        }
                        capped
                    }
                },
            },
            mqtt: crate::mqtt::MqttConfig::resolve(&args.mqtt, &file.mqtt)?,
            anchor: AnchorConfig::resolve(args, &file)?,
            data_dir,
        };
        if let Some(id) = &cfg.gateway_id {
            kwh_btc_iot_core::model::head::check_id(id, "gateway_id")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(cfg)
    }

    fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_or_environment_comes_before_the_file() {
        let (set, unset) = (Some("arg".to_string()), None::<String>);
        let file = Some("file".to_string());
        assert_eq!(arg_or_file(&set, &file).as_deref(), Some("arg"));
        assert_eq!(arg_or_file(&unset, &file).as_deref(), Some("file"));
        assert_eq!(arg_or_file(&set, &None).as_deref(), Some("arg"));
        assert_eq!(arg_or_file::<u64>(&None, &None), None);
    }

    #[test]
    fn each_option_resolves_by_that_precedence() {
        let dir = std::env::temp_dir().join(format!("kwh-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gateway.toml");
        std::fs::write(
            &path,
            "flush_count = 7\nflush_age_s = 9\n[mqtt]\nurl = \"mqtt://file:1883\"\nkeep_alive_s = 40\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            config: Some(path),
            flush_count: Some(3),
            ..Default::default()
        };
        args.mqtt.mqtt_keep_alive_s = Some(50);
        let c = Config::resolve(&args).unwrap();
        assert_eq!((c.flush_count, c.flush_age_s), (3, 9));
        let m = c.mqtt.unwrap();
        assert_eq!(m.keep_alive, Duration::from_secs(50));
        assert_eq!(c.max_bulk_items, Config::default().max_bulk_items);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
