//! Topics and payloads of the MQTT bridge: `<prefix>/<site_id>/<iot_device_id>/<meter_id>`
//! carrying a full `emlog-1.1` log, a compact device payload, or either of
//! them inside a signature envelope. Every form becomes the text of a full
//! `emlog-1.1` log that goes through the same [`crate::ingest::prepare`] as
//! `POST /api/v1/logs`, so one reading has one leaf hash whichever way it came.
//! The formats are documented in `docs/mqtt.md`.

use std::borrow::Cow;

use axum::http::StatusCode;
use kwh_btc_iot_core::json::{self, Value};
use kwh_btc_iot_core::{Error as CoreError, ErrorCode};

use crate::error::AppError;

/// The dead-letter code of a reading whose topic names another site or
/// device than its payload (in the project's code registry).
pub use kwh_btc_iot_core::error::codes::TOPIC_MISMATCH;

/// `status` of a compact payload that has none: a meter that reports a
/// reading without saying otherwise reports a good one.
pub const DEFAULT_STATUS: &str = "ok";
/// `channel` of a compact payload that has none: a meter does not know how
/// its energy is settled, and `none` is the one value that claims no payment
/// rail. Devices settled over Lightning or on chain send `channel`.
pub const DEFAULT_CHANNEL: &str = "none";

/// Members a compact payload may have, besides the ids (which must agree
/// with the topic when given). Everything else is an `unknown_member`.
pub const COMPACT_MEMBERS: [&str; 13] = [
    "ts_start",
    "ts_end",
    "interval_s",
    "energy_kwh",
    "power_kw_avg",
    "status",
    "tags",
    "price_sats_per_kwh",
    "amount_sats",
    "channel",
    "settlement_status",
    "ln_invoice_id",
    "bitcoin_txid",
];
/// Compact members that belong in the log's `tx` object.
const TX_MEMBERS: [&str; 6] = [
    "price_sats_per_kwh",
    "amount_sats",
    "channel",
    "settlement_status",
    "ln_invoice_id",
    "bitcoin_txid",
];
const ID_MEMBERS: [&str; 3] = ["site_id", "iot_device_id", "meter_id"];

/// The ids a topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicIds {
    /// `site_id`.
    pub site_id: String,
    /// `iot_device_id`.
    pub iot_device_id: String,
    /// `meter_id`.
    pub meter_id: String,
}

impl TopicIds {
    /// The ids of `<prefix>/<site>/<device>/<meter>`; `None` for any other topic.
    ///
    /// ```
    /// use kwh_btc_iot_gateway::mqtt::payload::TopicIds;
    /// let ids = TopicIds::parse("energy", "energy/PLANT-01/gw-1/MTR-001").unwrap();
    /// assert_eq!((ids.site_id.as_str(), ids.meter_id.as_str()), ("PLANT-01", "MTR-001"));
    /// assert!(TopicIds::parse("energy", "energy/PLANT-01/gw-1").is_none());
    /// ```
    pub fn parse(prefix: &str, topic: &str) -> Option<TopicIds> {
        let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
        let mut levels = rest.split('/');
        let (s, d, m) = (levels.next()?, levels.next()?, levels.next()?);
        if levels.next().is_some() {
            return None;
        }
        Some(TopicIds {
            site_id: s.into(),
            iot_device_id: d.into(),
            meter_id: m.into(),
        })
    }

    fn get(&self, member: &str) -> &str {
        match member {
            "site_id" => &self.site_id,
            "iot_device_id" => &self.iot_device_id,
            _ => &self.meter_id,
        }
    }

    /// The acknowledgement topic: `<ack_prefix>/<site>/<device>/<meter>`.
    pub fn ack_topic(&self, ack_prefix: &str) -> String {
        format!(
            "{ack_prefix}/{}/{}/{}",
            self.site_id, self.iot_device_id, self.meter_id
        )
    }
}

/// Which form a payload had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A full `emlog-1.1` log (it has `schema_version`).
    Full,
    /// A compact device payload, completed from the topic and the defaults.
    Compact,
}

/// A payload turned into a full log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogText<'a> {
    /// The JSON text of a full `emlog-1.1` log (the payload itself when it
    /// was a plain full log).
    pub json: Cow<'a, [u8]>,
    /// The Ed25519 signature (hex) from an envelope.
    pub signature: Option<String>,
    /// The form of the log.
    pub form: Form,
    /// Whether it came in a signature envelope (`{"log", "signature"}`).
    pub enveloped: bool,
}

fn unprocessable(code: &'static str, member: &str, rule: impl std::fmt::Display) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        format!("{member}: {rule}"),
    )
    .member(member)
}

fn mismatch(member: &str, given: &str, ids: &TopicIds) -> AppError {
    let shown: String = given.chars().take(64).collect();
    unprocessable(
        TOPIC_MISMATCH,
        member,
        format!(
            "is {shown:?} in the payload but {:?} in the topic; they must agree",
            ids.get(member)
        ),
    )
}

/// Turns a payload into the text of a full log. Errors are the core's
/// (JSON syntax, types) or `topic_mismatch`, with the member named.
///
/// ```
/// use kwh_btc_iot_gateway::mqtt::payload::{to_log_json, Form, TopicIds};
/// let ids = TopicIds::parse("energy", "energy/S/D/M").unwrap();
/// let compact = br#"{"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,"price_sats_per_kwh":100}"#;
/// let t = to_log_json(&ids, compact).unwrap();
/// assert_eq!(t.form, Form::Compact);
/// let log = kwh_btc_iot_core::normalize(&t.json).unwrap().log;
/// assert_eq!((log.site_id.as_ref(), log.status.as_str(), log.tx.channel.as_str()), ("S", "ok", "none"));
/// ```
pub fn to_log_json<'a>(ids: &TopicIds, payload: &'a [u8]) -> Result<LogText<'a>, AppError> {
    if payload.len() > kwh_btc_iot_core::model::emlog::MAX_LOG_BYTES + 1024 {
        return Err(CoreError::new(
            ErrorCode::TooLarge,
            format!(
                "payload is {} bytes, more than the {} byte limit of a log",
                payload.len(),
                kwh_btc_iot_core::model::emlog::MAX_LOG_BYTES
            ),
        )
        .into());
    }
    // A log is three levels deep; an envelope adds one.
    let v = json::parse_with_depth(payload, 8)?;
    let Value::Object(members) = v else {
        return Err(CoreError::member(
            ErrorCode::InvalidType,
            "payload",
            format!("must be a JSON object, got {}", v.type_name()),
        )
        .into());
    };
    let (inner, signature, enveloped) = if members.iter().any(|(k, _)| k == "log") {
        let (log, signature) = envelope(members)?;
        (log, signature, true)
    } else {
        (members, None, false)
    };
    let prefix = if enveloped { "log." } else { "" };
    if inner.iter().any(|(k, _)| k == "schema_version") {
        check_ids(ids, &inner, prefix)?;
        let json = if enveloped {
            Cow::Owned(kwh_btc_iot_core::jcs::to_string(&Value::Object(inner)).into_bytes())
        } else {
            Cow::Borrowed(payload)
        };
        return Ok(LogText {
            json,
            signature,
            form: Form::Full,
            enveloped,
        });
    }
    let full = complete(ids, inner, prefix)?;
    Ok(LogText {
        json: Cow::Owned(kwh_btc_iot_core::jcs::to_string(&full).into_bytes()),
        signature,
        form: Form::Compact,
        enveloped,
    })
}

type Members<'a> = Vec<(Cow<'a, str>, Value<'a>)>;

/// `{"log": <full or compact>, "signature": "<128 hex>"}`.
fn envelope(members: Members<'_>) -> Result<(Members<'_>, Option<String>), AppError> {
    let (mut log, mut signature) = (None, None);
    for (k, v) in members {
        match k.as_ref() {
            "log" => log = Some(v),
            "signature" => match v {
                Value::String(s) => signature = Some(s.into_owned()),
                other => {
                    return Err(CoreError::member(
                        ErrorCode::InvalidType,
                        "signature",
                        format!(
                            "must be a string (128 hex characters), got {}",
                            other.type_name()
                        ),
                    )
                    .into())
                }
            },
            other => {
                return Err(CoreError::member(
                    ErrorCode::UnknownMember,
                    other.chars().take(64).collect::<String>(),
                    "is not a member of a signed payload (allowed: log, signature)",
                )
                .into())
            }
        }
    }
    match log {
        Some(Value::Object(m)) => Ok((m, signature)),
        Some(other) => Err(CoreError::member(
            ErrorCode::InvalidType,
            "log",
            format!("must be a JSON object, got {}", other.type_name()),
        )
        .into()),
        None => unreachable!("an envelope has a log member"),
    }
}

/// Ids in the payload must be strings equal to the topic's.
fn check_ids(ids: &TopicIds, members: &Members<'_>, prefix: &str) -> Result<(), AppError> {
    for (k, v) in members {
        if let Some(id) = ID_MEMBERS.iter().find(|m| **m == k.as_ref()) {
            match v {
                Value::String(s) if s.as_ref() == ids.get(id) => {}
                Value::String(s) => return Err(mismatch(&format!("{prefix}{id}"), s, ids)),
                other => {
                    return Err(CoreError::member(
                        ErrorCode::InvalidType,
                        format!("{prefix}{id}"),
                        format!("must be a string, got {}", other.type_name()),
                    )
                    .into())
                }
            }
        }
    }
    Ok(())
}

/// A compact payload completed into a full log: ids from the topic,
/// `schema_version`, `status` and `channel` defaults, `tx` members moved
/// into `tx`. Everything else the core derives or defaults (SPEC section 1).
fn complete<'a>(ids: &TopicIds, members: Members<'a>, prefix: &str) -> Result<Value<'a>, AppError> {
    check_ids(ids, &members, prefix)?;
    let mut top: Members<'a> = vec![
        (
            "schema_version".into(),
            Value::str(kwh_btc_iot_core::model::emlog::SCHEMA_VERSION),
        ),
        ("site_id".into(), Value::str(ids.site_id.clone())),
        (
            "iot_device_id".into(),
            Value::str(ids.iot_device_id.clone()),
        ),
        ("meter_id".into(), Value::str(ids.meter_id.clone())),
    ];
    let mut tx: Members<'a> = Vec::new();
    let (mut has_status, mut has_channel) = (false, false);
    for (k, v) in members {
        if ID_MEMBERS.contains(&k.as_ref()) {
            continue;
        }
        if !COMPACT_MEMBERS.contains(&k.as_ref()) {
            let shown: String = k.chars().take(64).collect();
            return Err(CoreError::member(
                ErrorCode::UnknownMember,
                format!("{prefix}{shown}"),
                format!("is not a member of a compact payload (allowed: {}; or send a full emlog-1.1 log with schema_version)", COMPACT_MEMBERS.join(", ")),
            )
            .into());
        }
        has_status |= k == "status";
        has_channel |= k == "channel";
        if TX_MEMBERS.contains(&k.as_ref()) {
            tx.push((k, v));
        } else {
            top.push((k, v));
        }
    }
    if !has_status {
        top.push(("status".into(), Value::str(DEFAULT_STATUS)));
    }
    if !has_channel {
        tx.push(("channel".into(), Value::str(DEFAULT_CHANNEL)));
    }
    top.push(("tx".into(), Value::Object(tx)));
    Ok(Value::Object(top))
}

/// Makes the core's errors about a completed log name the members as the
/// device sent them: `tx.channel` of a compact payload is `channel`, and
/// members inside an envelope get the `log.` prefix.
pub fn payload_member(mut e: AppError, form: Form, enveloped: bool) -> AppError {
    // Over HTTP the signature is a header; over MQTT it is the envelope's member.
    if e.member.as_deref() == Some("X-Log-Signature") {
        e.message = e.message.replace("X-Log-Signature", "signature");
        e.member = Some("signature".into());
        return e;
    }
    if let Some(m) = e.member.take() {
        let short = match form {
            Form::Compact => m.strip_prefix("tx.").unwrap_or(&m),
            Form::Full => &m,
        };
        let new = if enveloped {
            format!("log.{short}")
        } else {
            short.to_string()
        };
        if let Some(rest) = e.message.strip_prefix(&format!("{m}:")) {
            e.message = format!("{new}:{rest}");
        }
        e.member = Some(new);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> TopicIds {
        TopicIds::parse("energy", "energy/PLANT-01/gw-PLANT01-003/MTR-001").unwrap()
    }

    const FULL: &str = r#"{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003","meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],"tx":{"price_sats_per_kwh":100,"channel":"ln"}}"#;

    fn leaf(t: &LogText<'_>) -> String {
        kwh_btc_iot_core::leaf_hash(&t.json).unwrap().to_hex()
    }

    #[test]
    fn topics_need_exactly_three_levels_under_the_prefix() {
        assert_eq!(
            TopicIds::parse("a/b", "a/b/s/d/m").unwrap().iot_device_id,
            "d"
        );
        for bad in [
            "energy/s/d",
            "energy/s/d/m/x",
            "energyx/s/d/m",
            "other/s/d/m",
            "energy",
        ] {
            assert!(TopicIds::parse("energy", bad).is_none(), "{bad}");
        }
        // Empty levels parse; the core rejects the empty id later.
        assert_eq!(
            TopicIds::parse("energy", "energy//d/m").unwrap().site_id,
            ""
        );
        assert_eq!(
            ids().ack_topic("energy-ack"),
            "energy-ack/PLANT-01/gw-PLANT01-003/MTR-001"
        );
    }

    #[test]
    fn a_full_log_passes_through_unchanged() {
        let t = to_log_json(&ids(), FULL.as_bytes()).unwrap();
        assert_eq!(t.form, Form::Full);
        assert!(matches!(t.json, Cow::Borrowed(_)));
        assert_eq!(
            leaf(&t),
            kwh_btc_iot_core::leaf_hash(FULL.as_bytes())
                .unwrap()
                .to_hex()
        );
    }

    #[test]
    fn the_compact_form_of_a_reading_has_the_full_forms_leaf_hash() {
        let compact = br#"{"ts_start":"2025-12-01T11:10:00+01:00","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"power_kw_avg":2.47,"tags":["peak"],"price_sats_per_kwh":100,"channel":"ln"}"#;
        let t = to_log_json(&ids(), compact).unwrap();
        assert_eq!(t.form, Form::Compact);
        assert_eq!(
            leaf(&t),
            leaf(&to_log_json(&ids(), FULL.as_bytes()).unwrap())
        );
        // Defaults: status ok, channel none, tags [], settlement pending.
        let min = br#"{"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":100}"#;
        let t = to_log_json(&ids(), min).unwrap();
        let canon = String::from_utf8(kwh_btc_iot_core::canonicalize(&t.json).unwrap()).unwrap();
        assert!(
            canon.contains(r#""status":"ok""#) && canon.contains(r#""channel":"none""#),
            "{canon}"
        );
        assert!(
            canon.contains(r#""tags":[]"#) && canon.contains(r#""settlement_status":"pending""#),
            "{canon}"
        );
        assert!(
            canon.contains(r#""amount_sats":100"#) && canon.contains(r#""interval_s":300"#),
            "{canon}"
        );
        // Ids equal to the topic's are allowed.
        let with_ids = br#"{"site_id":"PLANT-01","meter_id":"MTR-001","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":100}"#;
        assert_eq!(leaf(&to_log_json(&ids(), with_ids).unwrap()), leaf(&t));
    }

    #[test]
    fn ids_that_disagree_with_the_topic_are_rejected() {
        let e = to_log_json(&ids(), FULL.replace("MTR-001", "MTR-002").as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.member.as_deref()),
            (TOPIC_MISMATCH, Some("meter_id"))
        );
        assert!(
            e.message.contains("MTR-002") && e.message.contains("MTR-001"),
            "{}",
            e.message
        );
        let e = to_log_json(&ids(), br#"{"iot_device_id":"other","energy_kwh":1}"#).unwrap_err();
        assert_eq!(
            (e.code, e.member.as_deref()),
            (TOPIC_MISMATCH, Some("iot_device_id"))
        );
        let e = to_log_json(&ids(), br#"{"site_id":7}"#).unwrap_err();
        assert_eq!(
            (e.code, e.member.as_deref()),
            ("invalid_type", Some("site_id"))
        );
    }

    #[test]
    fn bad_payloads_are_named() {
        let cases: &[(&[u8], &str, Option<&str>)] = &[
            (b"", "invalid_json", None),
            (b"{", "invalid_json", None),
            (b"[1]", "invalid_type", Some("payload")),
            (b"\xff{}", "invalid_utf8", None),
            (
                br#"{"energy_kwh":1,"energy_kwh":2}"#,
                "duplicate_member",
                Some("energy_kwh"),
            ),
            (br#"{"energy":1}"#, "unknown_member", Some("energy")),
            (br#"{"log":{},"sig":"00"}"#, "unknown_member", Some("sig")),
            (br#"{"log":[]}"#, "invalid_type", Some("log")),
            (
                br#"{"log":{},"signature":1}"#,
                "invalid_type",
                Some("signature"),
            ),
            (br#"{"log":{"x":1}}"#, "unknown_member", Some("log.x")),
        ];
        for (payload, code, member) in cases {
            let e = to_log_json(&ids(), payload).unwrap_err();
            assert_eq!(
                e.code,
                *code,
                "{}: {}",
                String::from_utf8_lossy(payload),
                e.message
            );
            if member.is_some() {
                assert_eq!(
                    e.member.as_deref(),
                    *member,
                    "{}",
                    String::from_utf8_lossy(payload)
                );
            }
        }
        let big = vec![b' '; 70_000];
        assert_eq!(to_log_json(&ids(), &big).unwrap_err().code, "too_large");
    }

    #[test]
    fn envelopes_carry_a_signature_and_either_form() {
        let env = format!(r#"{{"signature":"ab","log":{FULL}}}"#);
        let t = to_log_json(&ids(), env.as_bytes()).unwrap();
        assert_eq!((t.form, t.signature.as_deref()), (Form::Full, Some("ab")));
        assert_eq!(
            leaf(&t),
            leaf(&to_log_json(&ids(), FULL.as_bytes()).unwrap())
        );
        let env = br#"{"log":{"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1,"price_sats_per_kwh":100}}"#;
        let t = to_log_json(&ids(), env).unwrap();
        assert_eq!((t.form, t.signature), (Form::Compact, None));
    }

    #[test]
    fn errors_name_the_payloads_members() {
        let e = AppError::from(CoreError::member(
            ErrorCode::MissingMember,
            "tx.price_sats_per_kwh",
            "is required",
        ));
        let e = payload_member(e, Form::Compact, false);
        assert_eq!(e.member.as_deref(), Some("price_sats_per_kwh"));
        assert_eq!(e.message, "price_sats_per_kwh: is required");
        let e = payload_member(
            AppError::from(CoreError::member(ErrorCode::InvalidValue, "status", "bad")),
            Form::Compact,
            true,
        );
        assert_eq!(
            (e.member.as_deref(), e.message.as_str()),
            (Some("log.status"), "log.status: bad")
        );
        let e = payload_member(
            AppError::from(CoreError::member(
                ErrorCode::InvalidValue,
                "tx.channel",
                "bad",
            )),
            Form::Full,
            false,
        );
        assert_eq!(e.member.as_deref(), Some("tx.channel"));
    }
}
