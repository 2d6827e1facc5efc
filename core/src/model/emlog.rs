//! The energy log, `emlog-1.1`: validation and normalization (SPEC section 1),
//! canonical bytes and the leaf hash (SPEC section 2).
//!
//! ```
//! # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
//! #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
//! #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
//! #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
//! #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
//! use kwh_btc_iot_core::model::emlog::{parse_log, Channel, Status};
//! let n = parse_log(log).unwrap();
//! assert_eq!((n.log.status, n.log.tx.channel), (Status::Ok, Channel::Ln));
//! assert_eq!(n.log.leaf_hash(), kwh_btc_iot_core::leaf_hash(log).unwrap());
//! ```

use std::borrow::Cow;

use crate::error::{Error, ErrorCode, Result, Warning};
use crate::hash::{leaf_hash_bytes, Hash};
use crate::jcs::{write_number, write_string};
use crate::json::{self, Value};
use crate::time::Timestamp;

/// The only schema version this core reads and writes.
pub const SCHEMA_VERSION: &str = "emlog-1.1";
/// Largest `tx.amount_sats`: every bitcoin there will ever be, in sats.
pub const MAX_AMOUNT_SATS: u64 = 2_100_000_000_000_000;
/// Maximum length of `site_id`, `iot_device_id`, `meter_id`, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Maximum number of tags.
pub const MAX_TAGS: usize = 16;
/// Maximum length of one tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Maximum length of `tx.ln_invoice_id`, in characters.
pub const MAX_INVOICE_CHARS: usize = 2048;
/// Maximum size of one log's JSON text, in bytes.
pub const MAX_LOG_BYTES: usize = 64 * 1024;

const TOP_MEMBERS: [&str; 12] = [
    "schema_version",
    "site_id",
    "iot_device_id",
    "meter_id",
    "ts_start",
    "ts_end",
    "interval_s",
    "energy_kwh",
    "power_kw_avg",
    "status",
    "tags",
    "tx",
];
const TX_MEMBERS: [&str; 7] = [
    "unit",
    "price_sats_per_kwh",
    "amount_sats",
    "channel",
    "settlement_status",
    "ln_invoice_id",
    "bitcoin_txid",
];

/// Slot of a top-level member (a `match` compiles to a length switch and
/// one comparison, cheaper than searching the name list).
fn top_index(k: &str) -> Option<usize> {
    Some(match k {
        "schema_version" => 0,
        "site_id" => 1,
        "iot_device_id" => 2,
        "meter_id" => 3,
        "ts_start" => 4,
        "ts_end" => 5,
        "interval_s" => 6,
        "energy_kwh" => 7,
        "power_kw_avg" => 8,
        "status" => 9,
        "tags" => 10,
        "tx" => 11,
        _ => return None,
    })
}

fn tx_index(k: &str) -> Option<usize> {
    Some(match k {
        "unit" => 0,
        "price_sats_per_kwh" => 1,
        "amount_sats" => 2,
        "channel" => 3,
        "settlement_status" => 4,
        "ln_invoice_id" => 5,
        "bitcoin_txid" => 6,
        _ => return None,
    })
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        ///
        /// ```
        /// use kwh_btc_iot_core::model::emlog::{Channel, SettlementStatus, Status};
        /// assert_eq!(Status::parse("estimated"), Some(Status::Estimated));
        /// assert_eq!(Channel::Onchain.as_str(), "onchain");
        /// assert_eq!(SettlementStatus::ALL.len(), 5);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $(#[doc = $text] $variant),+ }
        impl $name {
            /// Every allowed value, in SPEC order.
            pub const ALL: &'static [&'static str] = &[$($text),+];
            /// The JSON string form, as written in the canonical log.
            ///
            /// ```
            /// use kwh_btc_iot_core::model::emlog::{Channel, Status};
            /// assert_eq!(Status::Partial.as_str(), "partial");
            /// assert!(Channel::ALL.iter().all(|s| Channel::parse(s).unwrap().as_str() == *s));
            /// ```
            pub const fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            /// Parses the JSON string form, exactly (lowercase, no trimming).
            ///
            /// ```
            /// use kwh_btc_iot_core::model::emlog::{SettlementStatus, Status};
            /// assert_eq!(SettlementStatus::parse("paid"), Some(SettlementStatus::Paid));
            /// assert_eq!(Status::parse("OK"), None);
            /// ```
            pub fn parse(s: &str) -> Option<Self> { match s { $($text => Some($name::$variant),)+ _ => None } }
        }
    };
}

string_enum!(
    /// `status`: the meter's view of the reading.
    Status { Ok => "ok", Estimated => "estimated", Partial => "partial", Error => "error" }
);
string_enum!(
    /// `tx.channel`: how the energy is settled.
    Channel { Ln => "ln", Onchain => "onchain", None => "none" }
);
string_enum!(
    /// `tx.settlement_status`: the settlement state when the reading was logged.
    SettlementStatus {
        Pending => "pending", Invoiced => "invoiced", Paid => "paid",
        Expired => "expired", Failed => "failed",
    }
);

/// The economic part of a log.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let tx = kwh_btc_iot_core::normalize(log).unwrap().log.tx;
/// assert_eq!((tx.price_sats_per_kwh, tx.amount_sats), (100.0, 1234));
/// assert_eq!(tx.ln_invoice_id, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tx<'a> {
    /// Price in sats per kWh, finite and not negative.
    pub price_sats_per_kwh: f64,
    /// What the reading costs, in sats: `energy_kwh * price_sats_per_kwh`
    /// rounded, filled in when absent; a stated value may differ from it by
    /// at most 1 sat (`amount_mismatch`).
    pub amount_sats: u64,
    /// How the energy is settled: Lightning, on-chain or not at all.
    pub channel: Channel,
    /// The settlement state when the reading was logged (`pending` when
    /// absent); later payment does not change the logged value.
    pub settlement_status: SettlementStatus,
    /// The Lightning invoice (BOLT 11) or payment hash, at most 2048
    /// characters; `None` is written as `null`.
    pub ln_invoice_id: Option<Cow<'a, str>>,
    /// The on-chain transaction id (64 lowercase hex characters) once paid
    /// on chain; `None` is written as `null`.
    pub bitcoin_txid: Option<Cow<'a, str>>,
}

/// A normalized `emlog-1.1` log: every member present, derived values filled
/// in, timestamps in UTC. `tx.unit` is always `"sats"` and `schema_version`
/// always `"emlog-1.1"`, so they are not stored.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let log = kwh_btc_iot_core::normalize(log).unwrap().log;
/// assert_eq!(log.site_id, "PLANT-01");
/// assert_eq!(log.interval_s, 300);
/// assert_eq!(log.tags, ["peak"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyLog<'a> {
    /// The site (plant, building) the meter belongs to, e.g. `PLANT-01`;
    /// 1..128 characters, no control characters (as every id here).
    pub site_id: Cow<'a, str>,
    /// The device that reported the reading (a gateway or the meter
    /// itself), e.g. `gw-PLANT01-003`; the gateway checks it is configured.
    pub iot_device_id: Cow<'a, str>,
    /// The meter that measured the energy, e.g. `MTR-001`.
    pub meter_id: Cow<'a, str>,
    /// Start of the metering window, normalized to UTC.
    pub ts_start: Timestamp,
    /// End of the window, strictly after `ts_start`.
    pub ts_end: Timestamp,
    /// `ts_end - ts_start` in whole seconds; filled in when absent, refused
    /// when stated otherwise (`interval_mismatch`).
    pub interval_s: u64,
    /// Energy delivered in the window, in kWh, finite and not negative.
    pub energy_kwh: f64,
    /// Average power over the window in kW; computed from `energy_kwh` and
    /// `interval_s` when absent, a `power_mismatch` warning when it differs.
    pub power_kw_avg: f64,
    /// The meter's view of the reading (`ok`, `estimated`, ...).
    pub status: Status,
    /// Free labels (`peak`, ...), in the order given: at most 16, each at
    /// most 64 characters, no duplicates.
    pub tags: Vec<Cow<'a, str>>,
    /// The economic part: price, amount and settlement.
    pub tx: Tx<'a>,
}

/// A normalized log and the plausibility warnings found on the way.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// let n = kwh_btc_iot_core::normalize(log).unwrap();
/// assert_eq!(n.log.meter_id, "MTR-001");
/// assert_eq!(n.warnings.len(), 1); // power_mismatch: 2.47 kW stated, 148 kW computed
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized<'a> {
    /// The normalized log, derived members filled in.
    pub log: EnergyLog<'a>,
    /// Non-fatal findings (e.g. `power_mismatch`); the log is valid anyway.
    pub warnings: Vec<Warning>,
}

/// Parses, validates and normalizes a log from JSON bytes.
///
/// ```
/// use kwh_btc_iot_core::model::emlog::parse_log;
/// let json = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"D","meter_id":"M",
///   "ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,
///   "status":"ok","tx":{"price_sats_per_kwh":100,"channel":"ln"}}"#;
/// let n = parse_log(json).unwrap();
/// assert_eq!(n.log.interval_s, 300);
/// assert_eq!(n.log.tx.amount_sats, 150);
/// assert_eq!(n.log.power_kw_avg, 18.0);
/// ```
pub fn parse_log(input: &[u8]) -> Result<Normalized<'_>> {
    if input.len() > MAX_LOG_BYTES {
        return Err(Error::new(
            ErrorCode::TooLarge,
            format!(
                "log is {} bytes, more than the {} byte limit",
                input.len(),
                MAX_LOG_BYTES
            ),
        ));
    }
    // A log is at most three levels deep (log, tx or tags); anything deeper is wrong anyway.
    let v = json::parse_with_depth(input, 8)?;
    normalize_value(v)
}

/// Validates and normalizes an already parsed JSON value.
///
/// ```
/// use kwh_btc_iot_core::{json::parse, model::emlog::normalize_value};
/// let v = parse(br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"D","meter_id":"M",
///   "ts_start":"2025-12-01T11:10:00+01:00","ts_end":"2025-12-01T10:15:00Z","energy_kwh":0.5,
///   "status":"ok","tx":{"price_sats_per_kwh":10,"channel":"none"}}"#).unwrap();
/// let n = normalize_value(v).unwrap();
/// assert_eq!(n.log.ts_start.to_rfc3339(), "2025-12-01T10:10:00Z");
/// assert_eq!(n.log.tx.amount_sats, 5);
/// ```
pub fn normalize_value(v: Value<'_>) -> Result<Normalized<'_>> {
    let Value::Object(members) = v else {
        return Err(Error::member(
            ErrorCode::InvalidType,
            "log",
            format!("must be a JSON object, got {}", v.type_name()),
        ));
    };
    let mut slots: [Option<Value<'_>>; 12] = Default::default();
    for (k, val) in members {
        match top_index(&k) {
            Some(i) => slots[i] = Some(val),
            None => return Err(unknown(&k, TOP_MEMBERS.as_slice(), "")),
        }
    }
    let [schema_version, site_id, iot_device_id, meter_id, ts_start, ts_end, interval_s, energy_kwh, power_kw_avg, status, tags, tx] =
        slots;

    match schema_version {
        None => return Err(missing("schema_version")),
        Some(Value::String(s)) if s == SCHEMA_VERSION => {}
        Some(Value::String(s)) => {
            return Err(Error::member(
                ErrorCode::UnsupportedVersion,
                "schema_version",
                format!("must be \"{SCHEMA_VERSION}\", got \"{}\"", truncate(&s)),
            ))
        }
        Some(other) => return Err(wrong_type("schema_version", "a string", &other)),
    }
    let site_id = id_member("site_id", site_id)?;
    let iot_device_id = id_member("iot_device_id", iot_device_id)?;
    let meter_id = id_member("meter_id", meter_id)?;
    let ts_start = timestamp_member("ts_start", ts_start)?;
    let ts_end = timestamp_member("ts_end", ts_end)?;
    let span = ts_end.nanos_since(&ts_start);
    if span <= 0 {
        return Err(Error::member(
            ErrorCode::InvalidTimeRange,
            "ts_end",
            format!(
                "must be after ts_start ({} is not after {})",
                ts_end.to_rfc3339(),
                ts_start.to_rfc3339()
            ),
        ));
    }
    let interval = match interval_s {
        None => {
            if span % 1_000_000_000 != 0 {
                return Err(Error::member(
                    ErrorCode::NotAnInteger,
                    "interval_s",
                    "ts_end - ts_start is not a whole number of seconds, so interval_s cannot be derived",
                ));
            }
            (span / 1_000_000_000) as u64
        }
        Some(v) => {
            let n = number("interval_s", &v)?;
            if n.fract() != 0.0 {
                return Err(Error::member(
                    ErrorCode::NotAnInteger,
                    "interval_s",
                    format!("must be an integer number of seconds, got {}", fmt_num(n)),
                ));
            }
            if span % 1_000_000_000 != 0 || n != (span / 1_000_000_000) as f64 {
                return Err(Error::member(
                    ErrorCode::IntervalMismatch,
                    "interval_s",
                    format!(
                        "must equal ts_end - ts_start ({} s), got {}",
                        fmt_span(span),
                        fmt_num(n)
                    ),
                ));
            }
            n as u64
        }
    };
    let energy_kwh = non_negative("energy_kwh", energy_kwh)?;
    let derived_power = energy_kwh * 3600.0 / interval as f64;
    let mut warnings = Vec::new();
    let power_kw_avg = match power_kw_avg {
        None => derived_power,
        Some(v) => {
            let p = non_negative_value("power_kw_avg", &v)?;
            let tolerance = f64::max(0.01, 0.01 * derived_power.abs());
            if (p - derived_power).abs() > tolerance || !derived_power.is_finite() {
                warnings.push(Warning {
                    code: crate::error::codes::POWER_MISMATCH,
                    member: "power_kw_avg".into(),
                    message: format!(
                        "power_kw_avg: given {} kW differs from energy_kwh * 3600 / interval_s = {} kW by more than max(0.01 kW, 1 %)",
                        fmt_num(p),
                        fmt_num(derived_power)
                    ),
                });
            }
            p
        }
    };
    if !power_kw_avg.is_finite() {
        return Err(Error::member(
            ErrorCode::OutOfRange,
            "power_kw_avg",
            "derived value is not finite",
        ));
    }
    let status = enum_member("status", status, Status::parse, Status::ALL)?;
    let tags = tags_member(tags)?;
    let tx = tx_member(tx, energy_kwh)?;

    Ok(Normalized {
        log: EnergyLog {
            site_id,
            iot_device_id,
            meter_id,
            ts_start,
            ts_end,
            interval_s: interval,
            energy_kwh,
            power_kw_avg,
            status,
            tags,
            tx,
        },
        warnings,
    })
}

fn tx_member(tx: Option<Value<'_>>, energy_kwh: f64) -> Result<Tx<'_>> {
    let members = match tx {
        None => return Err(missing("tx")),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(wrong_type("tx", "an object", &other)),
    };
    let mut slots: [Option<Value<'_>>; 7] = Default::default();
    for (k, val) in members {
        match tx_index(&k) {
            Some(i) => slots[i] = Some(val),
            None => return Err(unknown(&k, TX_MEMBERS.as_slice(), "tx.")),
        }
    }
    let [unit, price, amount, channel, settlement_status, ln_invoice_id, bitcoin_txid] = slots;
    match unit {
        None => {}
        Some(Value::String(s)) if s == "sats" => {}
        Some(Value::String(s)) => {
            return Err(Error::member(
                ErrorCode::InvalidValue,
                "tx.unit",
                format!("must be \"sats\", got \"{}\"", truncate(&s)),
            ))
        }
        Some(other) => return Err(wrong_type("tx.unit", "a string", &other)),
    }
    let price = non_negative("tx.price_sats_per_kwh", price)?;
    let product = energy_kwh * price;
    let amount_sats = match amount {
        None => {
            let derived = (product + 0.5).floor();
            // NaN-safe: a NaN product fails this test too.
            if derived.is_nan() || derived > MAX_AMOUNT_SATS as f64 {
                return Err(Error::member(
                    ErrorCode::OutOfRange,
                    "tx.amount_sats",
                    format!(
                        "derived amount energy_kwh * price_sats_per_kwh = {} exceeds {MAX_AMOUNT_SATS} sats",
                        fmt_num(product)
                    ),
                ));
            }
            derived as u64
        }
        Some(v) => {
            let n = number("tx.amount_sats", &v)?;
            if n.fract() != 0.0 {
                return Err(Error::member(
                    ErrorCode::NotAnInteger,
                    "tx.amount_sats",
                    format!("must be an integer number of sats, got {}", fmt_num(n)),
                ));
            }
            if !(0.0..=MAX_AMOUNT_SATS as f64).contains(&n) {
                return Err(Error::member(
                    ErrorCode::OutOfRange,
                    "tx.amount_sats",
                    format!("must be within 0..{MAX_AMOUNT_SATS}, got {}", fmt_num(n)),
                ));
            }
            if (n - product).abs().is_nan() || (n - product).abs() > 1.0 {
                return Err(Error::member(
                    ErrorCode::AmountMismatch,
                    "tx.amount_sats",
                    format!(
                        "must be within 1 sat of energy_kwh * price_sats_per_kwh = {}, got {}",
                        fmt_num(product),
                        fmt_num(n)
                    ),
                ));
            }
            n as u64
        }
    };
    let channel = enum_member("tx.channel", channel, Channel::parse, Channel::ALL)?;
    let settlement_status = match settlement_status {
        None => SettlementStatus::Pending,
        s => enum_member(
            "tx.settlement_status",
            s,
            SettlementStatus::parse,
            SettlementStatus::ALL,
        )?,
    };
    let ln_invoice_id = match ln_invoice_id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n == 0 || n > MAX_INVOICE_CHARS {
                return Err(Error::member(
                    ErrorCode::InvalidLength,
                    "tx.ln_invoice_id",
                    format!("must be 1..{MAX_INVOICE_CHARS} characters or null, got {n}"),
                ));
            }
            Some(s)
        }
        Some(other) => return Err(wrong_type("tx.ln_invoice_id", "a string or null", &other)),
    };
    let bitcoin_txid = match bitcoin_txid {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(Error::member(
                    ErrorCode::InvalidHex,
                    "tx.bitcoin_txid",
                    "must be 64 lowercase hex characters or null",
                ));
            }
            Some(s)
        }
        Some(other) => return Err(wrong_type("tx.bitcoin_txid", "a string or null", &other)),
    };
    Ok(Tx {
        price_sats_per_kwh: price,
        amount_sats,
        channel,
        settlement_status,
        ln_invoice_id,
        bitcoin_txid,
    })
}

fn tags_member(tags: Option<Value<'_>>) -> Result<Vec<Cow<'_, str>>> {
    let items = match tags {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("tags", "an array of strings", &other)),
    };
    if items.len() > MAX_TAGS {
        return Err(Error::member(
            ErrorCode::TooManyTags,
            "tags",
            format!("must have at most {MAX_TAGS} tags, got {}", items.len()),
        ));
    }
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let member = || format!("tags[{i}]");
        let Value::String(s) = item else {
            return Err(wrong_type(&member(), "a string", &item));
        };
        let n = s.chars().count();
        if n == 0 || n > MAX_TAG_CHARS {
            return Err(Error::member(
                ErrorCode::InvalidLength,
                member(),
                format!("must be 1..{MAX_TAG_CHARS} characters, got {n}"),
            ));
        }
        if out.contains(&s) {
            return Err(Error::member(
                ErrorCode::DuplicateTag,
                member(),
                format!(
                    "tag \"{}\" appears more than once (tags must be unique)",
                    truncate(&s)
                ),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// Checks an id by the rule of `site_id`, `iot_device_id` and `meter_id`
/// (1..128 characters, no control character, none of `/ + #`), for ids
/// given elsewhere, such as a gateway's configuration.
///
/// ```
/// use kwh_btc_iot_core::model::emlog::check_log_id;
/// assert!(check_log_id("PLANT-01", "sites").is_ok());
/// let e = check_log_id("PLANT/01", "sites").unwrap_err();
/// assert_eq!((e.code.as_str(), e.member.as_deref()), ("forbidden_character", Some("sites")));
/// ```
pub fn check_log_id(s: &str, member: &str) -> Result<()> {
    id_member(member, Some(Value::String(Cow::Borrowed(s)))).map(|_| ())
}

fn id_member<'a>(name: &str, v: Option<Value<'a>>) -> Result<Cow<'a, str>> {
    let s = match v {
        None => return Err(missing(name)),
        Some(Value::String(s)) => s,
        Some(other) => return Err(wrong_type(name, "a string", &other)),
    };
    let mut n = 0;
    for c in s.chars() {
        n += 1;
        if c.is_control() {
            return Err(Error::member(
                ErrorCode::ForbiddenCharacter,
                name,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        if matches!(c, '/' | '+' | '#') {
            return Err(Error::member(
                ErrorCode::ForbiddenCharacter,
                name,
                format!("must not contain '{c}' (ids become MQTT topic levels; '/', '+' and '#' are forbidden)"),
            ));
        }
    }
    if n == 0 || n > MAX_ID_CHARS {
        return Err(Error::member(
            ErrorCode::InvalidLength,
            name,
            format!("must be 1..{MAX_ID_CHARS} characters, got {n}"),
        ));
    }
    Ok(s)
}

fn timestamp_member(name: &str, v: Option<Value<'_>>) -> Result<Timestamp> {
    match v {
        None => Err(missing(name)),
        Some(Value::String(s)) => Timestamp::parse(&s).map_err(|why| {
            Error::member(
                ErrorCode::InvalidTimestamp,
                name,
                format!("\"{}\" {why}", truncate(&s)),
            )
        }),
        Some(other) => Err(wrong_type(name, "an RFC 3339 date-time string", &other)),
    }
}

fn enum_member<T>(
    name: &str,
    v: Option<Value<'_>>,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Result<T> {
    match v {
        None => Err(missing(name)),
        Some(Value::String(s)) => parse(&s).ok_or_else(|| {
            Error::member(
                ErrorCode::InvalidValue,
                name,
                format!(
                    "must be one of {}, got \"{}\"",
                    all.join(", "),
                    truncate(&s)
                ),
            )
        }),
        Some(other) => Err(wrong_type(
            name,
            &format!("one of the strings {}", all.join(", ")),
            &other,
        )),
    }
}

fn number(name: &str, v: &Value<'_>) -> Result<f64> {
    match v {
        Value::Number(n) => Ok(*n),
        other => Err(wrong_type(name, "a number", other)),
    }
}

fn non_negative_value(name: &str, v: &Value<'_>) -> Result<f64> {
    let n = number(name, v)?;
    if n < 0.0 {
        return Err(Error::member(
            ErrorCode::OutOfRange,
            name,
            format!("must be >= 0, got {}", fmt_num(n)),
        ));
    }
    // -0 is 0: normalizing it keeps the derived values' signs plain.
    Ok(if n == 0.0 { 0.0 } else { n })
}

fn non_negative(name: &str, v: Option<Value<'_>>) -> Result<f64> {
    match v {
        None => Err(missing(name)),
        Some(v) => non_negative_value(name, &v),
    }
}

fn missing(name: &str) -> Error {
    Error::member(ErrorCode::MissingMember, name, "is required")
}

fn unknown(key: &str, allowed: &[&str], prefix: &str) -> Error {
    Error::member(
        ErrorCode::UnknownMember,
        format!("{prefix}{}", truncate(key)),
        format!(
            "is not a member of emlog-1.1 (allowed here: {})",
            allowed.join(", ")
        ),
    )
}

fn wrong_type(name: &str, want: &str, got: &Value<'_>) -> Error {
    Error::member(
        ErrorCode::InvalidType,
        name,
        format!("must be {want}, got {}", got.type_name()),
    )
}

fn truncate(s: &str) -> Cow<'_, str> {
    if s.chars().count() <= 80 {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("{}...", s.chars().take(80).collect::<String>()))
    }
}

fn fmt_num(n: f64) -> String {
    let mut out = Vec::new();
    if n.is_finite() {
        write_number(&mut out, n);
        String::from_utf8(out).expect("ascii")
    } else {
        format!("{n}")
    }
}

fn fmt_span(span_ns: i128) -> String {
    if span_ns % 1_000_000_000 == 0 {
        (span_ns / 1_000_000_000).to_string()
    } else {
        format!("{}", span_ns as f64 / 1e9)
    }
}

fn write_ts(out: &mut Vec<u8>, t: &Timestamp) {
    let mut buf = [0u8; 32];
    let n = t.write_rfc3339_bytes(&mut buf);
    out.push(b'"');
    out.extend_from_slice(&buf[..n]);
    out.push(b'"');
}

impl EnergyLog<'_> {
    /// Appends the RFC 8785 canonical bytes of the normalized log. The member
    /// names are ASCII, so their UTF-16 order is the byte order written here.
    ///
    /// ```
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
    /// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
    /// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
    /// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
    /// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// let n = kwh_btc_iot_core::normalize(log).unwrap();
    /// let mut out = Vec::new();
    /// n.log.write_canonical(&mut out);
    /// assert_eq!(out, kwh_btc_iot_core::canonicalize_json(&out).unwrap());
    /// ```
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"energy_kwh\":");
        write_number(out, self.energy_kwh);
        out.extend_from_slice(b",\"interval_s\":");
        write_number(out, self.interval_s as f64);
        out.extend_from_slice(b",\"iot_device_id\":");
        write_string(out, &self.iot_device_id);
        out.extend_from_slice(b",\"meter_id\":");
        write_string(out, &self.meter_id);
        out.extend_from_slice(b",\"power_kw_avg\":");
        write_number(out, self.power_kw_avg);
        out.extend_from_slice(b",\"schema_version\":\"emlog-1.1\",\"site_id\":");
        write_string(out, &self.site_id);
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"tags\":[");
        for (i, t) in self.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(out, t);
        }
        out.extend_from_slice(b"],\"ts_end\":");
        write_ts(out, &self.ts_end);
        out.extend_from_slice(b",\"ts_start\":");
        write_ts(out, &self.ts_start);
        out.extend_from_slice(b",\"tx\":{\"amount_sats\":");
        write_number(out, self.tx.amount_sats as f64);
        out.extend_from_slice(b",\"bitcoin_txid\":");
        match &self.tx.bitcoin_txid {
            Some(s) => write_string(out, s),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"channel\":\"");
        out.extend_from_slice(self.tx.channel.as_str().as_bytes());
        out.extend_from_slice(b"\",\"ln_invoice_id\":");
        match &self.tx.ln_invoice_id {
            Some(s) => write_string(out, s),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"price_sats_per_kwh\":");
        write_number(out, self.tx.price_sats_per_kwh);
        out.extend_from_slice(b",\"settlement_status\":\"");
        out.extend_from_slice(self.tx.settlement_status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"unit\":\"sats\"}}");
    }

    /// The canonical bytes: RFC 8785 of the normalized log, `schema_version` and
    /// `tx.unit` included.
    ///
    /// ```
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
    /// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
    /// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
    /// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
    /// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// let n = kwh_btc_iot_core::normalize(log).unwrap();
    /// assert_eq!(n.log.canonical_bytes(), kwh_btc_iot_core::canonicalize(log).unwrap());
    /// ```
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_canonical(&mut out);
        out
    }

    /// The leaf hash: SHA-256(0x00 || canonical bytes).
    ///
    /// ```
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
    /// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
    /// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
    /// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
    /// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// use kwh_btc_iot_core::hash::leaf_hash_bytes;
    /// let n = kwh_btc_iot_core::normalize(log).unwrap();
    /// assert_eq!(n.log.leaf_hash(), leaf_hash_bytes(&n.log.canonical_bytes()));
    /// ```
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash_bytes(&self.canonical_bytes())
    }

    /// The normalized log as a JSON value (members in canonical order).
    ///
    /// ```
    /// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
    /// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
    /// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
    /// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
    /// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
    /// use kwh_btc_iot_core::jcs;
    /// let n = kwh_btc_iot_core::normalize(log).unwrap();
    /// let v = n.log.to_value();
    /// assert_eq!(v.get("interval_s").unwrap().type_name(), "number");
    /// assert_eq!(jcs::to_vec(&v), n.log.canonical_bytes());
    /// ```
    pub fn to_value(&self) -> Value<'static> {
        // A view derived from the one writer, not a second serializer.
        let mut out = Vec::with_capacity(512);
        self.write_canonical(&mut out);
        json::parse(&out)
            .expect("canonical JSON parses")
            .into_owned()
    }

    /// Copies every borrowed string, so the log outlives its JSON input.
    ///
    /// ```
    /// use kwh_btc_iot_core::model::emlog::EnergyLog;
    /// fn owned_log(json: &[u8]) -> EnergyLog<'static> {
    ///     kwh_btc_iot_core::normalize(json).unwrap().log.into_owned()
    /// }
    /// # let json = br#"{"schema_version":"emlog-1.1","site_id":"S","iot_device_id":"D","meter_id":"M",
    /// #   "ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,
    /// #   "status":"ok","tx":{"price_sats_per_kwh":100,"channel":"ln"}}"#.to_vec();
    /// let log = owned_log(&json);
    /// drop(json);
    /// assert_eq!(log.site_id, "S");
    /// ```
    pub fn into_owned(self) -> EnergyLog<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        EnergyLog {
            site_id: own(self.site_id),
            iot_device_id: own(self.iot_device_id),
            meter_id: own(self.meter_id),
            ts_start: self.ts_start,
            ts_end: self.ts_end,
            interval_s: self.interval_s,
            energy_kwh: self.energy_kwh,
            power_kw_avg: self.power_kw_avg,
            status: self.status,
            tags: self.tags.into_iter().map(own).collect(),
            tx: Tx {
                price_sats_per_kwh: self.tx.price_sats_per_kwh,
                amount_sats: self.tx.amount_sats,
                channel: self.tx.channel,
                settlement_status: self.tx.settlement_status,
                ln_invoice_id: self.tx.ln_invoice_id.map(own),
                bitcoin_txid: self.tx.bitcoin_txid.map(own),
            },
        }
    }
}

/// Validates and normalizes a log and returns its canonical bytes.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// use kwh_btc_iot_core::model::emlog::canonicalize_log;
/// let canon = canonicalize_log(log).unwrap();
/// // Canonical bytes are a fixed point.
/// assert_eq!(canonicalize_log(&canon).unwrap(), canon);
/// ```
pub fn canonicalize_log(input: &[u8]) -> Result<Vec<u8>> {
    Ok(parse_log(input)?.log.canonical_bytes())
}

/// JSON text → validated, normalized, canonical, leaf-hashed, reusing `buf`
/// for the canonical bytes (the bulk path).
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// use kwh_btc_iot_core::model::emlog::{leaf_hash_of_json, leaf_hash_of_json_with};
/// let mut buf = Vec::new();
/// let h = leaf_hash_of_json_with(log, &mut buf).unwrap();
/// assert_eq!(h, leaf_hash_of_json(log).unwrap());
/// assert_eq!(buf, kwh_btc_iot_core::canonicalize(log).unwrap());
/// ```
pub fn leaf_hash_of_json_with(input: &[u8], buf: &mut Vec<u8>) -> Result<Hash> {
    let n = parse_log(input)?;
    buf.clear();
    n.log.write_canonical(buf);
    Ok(leaf_hash_bytes(buf))
}

/// JSON text to leaf hash: validated, normalized, canonicalized, hashed.
///
/// ```
/// # let log = br#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",
/// #   "meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",
/// #   "interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],
/// #   "tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",
/// #   "settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}"#;
/// use kwh_btc_iot_core::model::emlog::leaf_hash_of_json;
/// assert_eq!(leaf_hash_of_json(log).unwrap(), kwh_btc_iot_core::leaf_hash(log).unwrap());
/// assert!(leaf_hash_of_json(b"{}").is_err());
/// ```
pub fn leaf_hash_of_json(input: &[u8]) -> Result<Hash> {
    leaf_hash_of_json_with(input, &mut Vec::with_capacity(512))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_slots_follow_the_name_lists() {
        for (i, m) in TOP_MEMBERS.iter().enumerate() {
            assert_eq!(top_index(m), Some(i));
        }
        for (i, m) in TX_MEMBERS.iter().enumerate() {
            assert_eq!(tx_index(m), Some(i));
        }
        assert_eq!(top_index("unit"), None);
        assert_eq!(tx_index("site_id"), None);
    }
}
