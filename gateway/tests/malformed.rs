//! A corpus of malformed requests: each gets the right 4xx status and code,
//! the server stays healthy, and nothing is half-written.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

const JSON: &str = "application/json";

fn base() -> Value {
    serde_json::from_str(&log_json(1)).unwrap()
}

fn with(path: &[&str], v: Value) -> Vec<u8> {
    let mut b = base();
    let mut cur = &mut b;
    for p in &path[..path.len() - 1] {
        cur = &mut cur[*p];
    }
    cur[path[path.len() - 1]] = v;
    serde_json::to_vec(&b).unwrap()
}

fn without(path: &[&str]) -> Vec<u8> {
    let mut b = base();
    let mut cur = &mut b;
    for p in &path[..path.len() - 1] {
        cur = &mut cur[*p];
    }
    cur.as_object_mut().unwrap().remove(path[path.len() - 1]);
    serde_json::to_vec(&b).unwrap()
}

/// Replaces the first occurrence of `from` in the valid log's text.
fn text_edit(from: &str, to: &str) -> Vec<u8> {
    let t = log_json(1);
    assert!(t.contains(from), "{from}");
    t.replacen(from, to, 1).into_bytes()
}

struct Case {
    desc: String,
    content_type: Option<&'static str>,
    path: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn case(
    desc: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        desc: desc.into(),
        content_type: Some(JSON),
        path: "/api/v1/logs",
        body: body.into(),
        status,
        code,
    }
}

fn corpus() -> Vec<Case> {
    let mut c = Vec::new();
    // --- not JSON at all (400) ---
    for (d, b) in [
        ("empty body", ""),
        ("open brace", "{"),
        ("close brace", "}"),
        ("bare word", "nul"),
        ("member without value", "{\"a\"}"),
        ("single quotes", "{'a':1}"),
        ("trailing comma in object", "{\"a\":1,}"),
        ("two documents", "{} {}"),
        ("bad escape", "{\"a\":\"\\x\"}"),
        ("leading zero", "{\"a\":01}"),
        ("plus sign", "{\"a\":+1}"),
        ("bare fraction", "{\"a\":.5}"),
        ("dangling dot", "{\"a\":1.}"),
        ("dangling exponent", "{\"a\":1e}"),
        ("NaN", "{\"a\":NaN}"),
        ("Infinity", "{\"a\":Infinity}"),
        ("minus Infinity", "{\"a\":-Infinity}"),
        ("comment", "{/*c*/}"),
        ("raw newline in string", "{\"a\":\"x\ny\"}"),
        ("raw tab in string", "{\"a\":\"x\ty\"}"),
        ("unterminated string", "{\"a\":\"x}"),
        ("hex number", "{\"a\":0x10}"),
        ("trailing garbage", "{\"a\":1}x"),
        ("missing colon", "{\"a\" 1}"),
        ("missing comma", "{\"a\":1 \"b\":2}"),
        ("unquoted key", "{a:1}"),
        ("true misspelled", "{\"a\":tru}"),
        ("short unicode escape", "{\"a\":\"\\u12\"}"),
    ] {
        // NaN and Infinity are not JSON tokens at all: a syntax error.
        c.push(case(format!("syntax: {d}"), b, 400, "invalid_json"));
    }
    // --- I-JSON rules (400) ---
    c.push(case(
        "duplicate member at top level",
        text_edit(
            "\"site_id\":\"PLANT-01\"",
            "\"site_id\":\"PLANT-01\",\"site_id\":\"PLANT-02\"",
        ),
        400,
        "duplicate_member",
    ));
    c.push(case(
        "duplicate member in tx",
        text_edit(
            "\"channel\":\"ln\"",
            "\"channel\":\"ln\",\"channel\":\"ln\"",
        ),
        400,
        "duplicate_member",
    ));
    c.push(case(
        "duplicate schema_version",
        text_edit(
            "{\"schema_version\"",
            "{\"schema_version\":\"emlog-1.1\",\"schema_version\"",
        ),
        400,
        "duplicate_member",
    ));
    c.push(case(
        "lone high surrogate",
        text_edit("\"MTR-1\"", "\"MTR-\\ud800\""),
        400,
        "lone_surrogate",
    ));
    c.push(case(
        "lone low surrogate",
        text_edit("\"MTR-1\"", "\"MTR-\\udc00\""),
        400,
        "lone_surrogate",
    ));
    c.push(case(
        "reversed surrogates",
        text_edit("\"MTR-1\"", "\"\\udc00\\ud800\""),
        400,
        "lone_surrogate",
    ));
    c.push(case(
        "huge number",
        text_edit("12.34", "1e400"),
        400,
        "number_out_of_range",
    ));
    c.push(case(
        "huge negative number",
        text_edit("12.34", "-1e400"),
        400,
        "number_out_of_range",
    ));
    c.push(case(
        "huge price",
        text_edit("\"price_sats_per_kwh\":100", "\"price_sats_per_kwh\":1e309"),
        400,
        "number_out_of_range",
    ));
    c.push(case(
        "deep nesting",
        format!("{}{}", "[".repeat(100), "]".repeat(100)),
        400,
        "too_deep",
    ));
    c.push(case(
        "deep nesting in tags",
        text_edit(
            "[\"peak\"]",
            &format!("{}{}", "[".repeat(30), "]".repeat(30)),
        ),
        400,
        "too_deep",
    ));
    c.push(case(
        "deep objects",
        format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40)),
        400,
        "too_deep",
    ));
    let mut inv = log_json(1).into_bytes();
    let p = inv.windows(5).position(|w| w == b"MTR-1").unwrap();
    for (d, bytes) in [
        ("0xff byte", vec![0xffu8]),
        ("lone continuation byte", vec![0x80]),
        ("overlong slash", vec![0xc0, 0xaf]),
        ("truncated 3-byte sequence", vec![0xe2, 0x82]),
        ("UTF-16 surrogate in UTF-8", vec![0xed, 0xa0, 0x80]),
        ("0xfe byte", vec![0xfe]),
    ] {
        let mut b = inv.clone();
        b.splice(p..p + 3, bytes);
        c.push(case(format!("invalid UTF-8: {d}"), b, 400, "invalid_utf8"));
    }
    inv.insert(0, 0xff);
    c.push(case(
        "invalid UTF-8 before the document",
        inv,
        400,
        "invalid_utf8",
    ));
    // --- sizes (413) ---
    c.push(case(
        "oversized body (70 KB)",
        format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)),
        413,
        "too_large",
    ));
    c.push(case(
        "oversized body (1 MB)",
        vec![b' '; 1 << 20],
        413,
        "too_large",
    ));
    c.push(case(
        "oversized tag list body",
        text_edit("[\"peak\"]", &format!("[\"{}\"]", "t".repeat(66_000))),
        413,
        "too_large",
    ));
    // --- content types (415) ---
    for (d, ct) in [
        ("text/plain", Some("text/plain")),
        ("no content type", None),
        ("xml", Some("application/xml")),
        (
            "latin-1 charset",
            Some("application/json; charset=iso-8859-1"),
        ),
        ("form", Some("application/x-www-form-urlencoded")),
        ("multipart", Some("multipart/form-data; boundary=x")),
        ("ndjson on the single route", Some("application/x-ndjson")),
    ] {
        c.push(Case {
            desc: format!("content type: {d}"),
            content_type: ct,
            path: "/api/v1/logs",
            body: log_json(1).into_bytes(),
            status: 415,
            code: "unsupported_media_type",
        });
    }
    // --- not an object (422) ---
    for (d, b) in [
        ("array", "[]"),
        ("string", "\"log\""),
        ("number", "42"),
        ("null", "null"),
        ("true", "true"),
    ] {
        c.push(case(format!("top level is {d}"), b, 422, "invalid_type"));
    }
    // --- wrong types (422) ---
    for (d, path, v) in [
        ("schema_version number", vec!["schema_version"], json!(1.1)),
        ("site_id number", vec!["site_id"], json!(1)),
        ("iot_device_id null", vec!["iot_device_id"], json!(null)),
        ("meter_id array", vec!["meter_id"], json!(["m"])),
        ("ts_start number", vec!["ts_start"], json!(1733047800)),
        ("ts_end object", vec!["ts_end"], json!({})),
        ("interval_s string", vec!["interval_s"], json!("300")),
        ("energy_kwh string", vec!["energy_kwh"], json!("12.34")),
        ("energy_kwh bool", vec!["energy_kwh"], json!(true)),
        ("power_kw_avg string", vec!["power_kw_avg"], json!("2.47")),
        ("status number", vec!["status"], json!(0)),
        ("tags object", vec!["tags"], json!({"peak": true})),
        ("tag number", vec!["tags"], json!([1])),
        ("tx array", vec!["tx"], json!([])),
        ("tx string", vec!["tx"], json!("ln")),
        (
            "price string",
            vec!["tx", "price_sats_per_kwh"],
            json!("100"),
        ),
        ("amount string", vec!["tx", "amount_sats"], json!("1234")),
        ("channel number", vec!["tx", "channel"], json!(1)),
        (
            "ln_invoice_id number",
            vec!["tx", "ln_invoice_id"],
            json!(5),
        ),
        (
            "bitcoin_txid bool",
            vec!["tx", "bitcoin_txid"],
            json!(false),
        ),
    ] {
        c.push(case(
            format!("wrong type: {d}"),
            with(&path, v),
            422,
            "invalid_type",
        ));
    }
    // --- missing and unknown members (422) ---
    for m in [
        "schema_version",
        "site_id",
        "iot_device_id",
        "meter_id",
        "ts_start",
        "ts_end",
        "energy_kwh",
        "status",
        "tx",
    ] {
        c.push(case(
            format!("missing {m}"),
            without(&[m]),
            422,
            "missing_member",
        ));
    }
    for m in ["price_sats_per_kwh", "channel"] {
        c.push(case(
            format!("missing tx.{m}"),
            without(&["tx", m]),
            422,
            "missing_member",
        ));
    }
    c.push(case(
        "unknown top-level member",
        with(&["extra"], json!(1)),
        422,
        "unknown_member",
    ));
    c.push(case(
        "unknown tx member",
        with(&["tx", "fee"], json!(1)),
        422,
        "unknown_member",
    ));
    c.push(case(
        "misspelled member",
        text_edit("\"meter_id\"", "\"meterid\""),
        422,
        "unknown_member",
    ));
    // --- values (422) ---
    c.push(case(
        "old schema version",
        with(&["schema_version"], json!("emlog-1.0")),
        422,
        "unsupported_version",
    ));
    c.push(case(
        "status not allowed",
        with(&["status"], json!("good")),
        422,
        "invalid_value",
    ));
    c.push(case(
        "channel not allowed",
        with(&["tx", "channel"], json!("cash")),
        422,
        "invalid_value",
    ));
    c.push(case(
        "settlement status not allowed",
        with(&["tx", "settlement_status"], json!("done")),
        422,
        "invalid_value",
    ));
    c.push(case(
        "unit not sats",
        with(&["tx", "unit"], json!("btc")),
        422,
        "invalid_value",
    ));
    c.push(case(
        "empty site_id",
        with(&["site_id"], json!("")),
        422,
        "invalid_length",
    ));
    c.push(case(
        "site_id of 129 chars",
        with(&["site_id"], json!("s".repeat(129))),
        422,
        "invalid_length",
    ));
    c.push(case(
        "slash in meter_id",
        with(&["meter_id"], json!("a/b")),
        422,
        "forbidden_character",
    ));
    c.push(case(
        "plus in site_id",
        with(&["site_id"], json!("a+b")),
        422,
        "forbidden_character",
    ));
    c.push(case(
        "hash in device id",
        with(&["iot_device_id"], json!("a#b")),
        422,
        "forbidden_character",
    ));
    c.push(case(
        "control char in meter_id",
        with(&["meter_id"], json!("a\u{1}b")),
        422,
        "forbidden_character",
    ));
    c.push(case(
        "negative energy",
        with(&["energy_kwh"], json!(-1)),
        422,
        "out_of_range",
    ));
    c.push(case(
        "negative power",
        with(&["power_kw_avg"], json!(-2.47)),
        422,
        "out_of_range",
    ));
    c.push(case(
        "negative price",
        with(&["tx", "price_sats_per_kwh"], json!(-100)),
        422,
        "out_of_range",
    ));
    c.push(case(
        "negative amount",
        with(&["tx", "amount_sats"], json!(-1)),
        422,
        "out_of_range",
    ));
    c.push(case(
        "amount beyond 21M BTC",
        text_edit(
            "\"price_sats_per_kwh\":100,\"amount_sats\":1234",
            "\"price_sats_per_kwh\":1e18,\"amount_sats\":2200000000000000",
        ),
        422,
        "out_of_range",
    ));
    c.push(case(
        "fractional amount",
        with(&["tx", "amount_sats"], json!(1234.5)),
        422,
        "not_an_integer",
    ));
    c.push(case(
        "fractional interval",
        with(&["interval_s"], json!(300.5)),
        422,
        "not_an_integer",
    ));
    c.push(case(
        "amount mismatch",
        with(&["tx", "amount_sats"], json!(9999)),
        422,
        "amount_mismatch",
    ));
    c.push(case(
        "amount off by 2 sats",
        with(&["tx", "amount_sats"], json!(1236)),
        422,
        "amount_mismatch",
    ));
    c.push(case(
        "amount zero for energy",
        with(&["tx", "amount_sats"], json!(0)),
        422,
        "amount_mismatch",
    ));
    c.push(case(
        "interval mismatch",
        with(&["interval_s"], json!(299)),
        422,
        "interval_mismatch",
    ));
    c.push(case(
        "interval mismatch large",
        with(&["interval_s"], json!(3600)),
        422,
        "interval_mismatch",
    ));
    c.push(case(
        "duplicate tag",
        with(&["tags"], json!(["peak", "peak"])),
        422,
        "duplicate_tag",
    ));
    c.push(case(
        "17 tags",
        with(
            &["tags"],
            json!((0..17).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
        422,
        "too_many_tags",
    ));
    c.push(case(
        "empty tag",
        with(&["tags"], json!([""])),
        422,
        "invalid_length",
    ));
    c.push(case(
        "65-char tag",
        with(&["tags"], json!(["t".repeat(65)])),
        422,
        "invalid_length",
    ));
    c.push(case(
        "uppercase txid",
        with(&["tx", "bitcoin_txid"], json!("A".repeat(64))),
        422,
        "invalid_hex",
    ));
    c.push(case(
        "short txid",
        with(&["tx", "bitcoin_txid"], json!("ab")),
        422,
        "invalid_hex",
    ));
    c.push(case(
        "empty invoice",
        with(&["tx", "ln_invoice_id"], json!("")),
        422,
        "invalid_length",
    ));
    // --- timestamps (422) ---
    for (d, v) in [
        ("space separator", "2025-12-01 10:10:00Z"),
        ("month 13", "2025-13-01T10:10:00Z"),
        ("no offset", "2025-12-01T10:10:00"),
        ("Feb 30", "2025-02-30T10:10:00Z"),
        ("leap second", "2025-12-01T10:10:60Z"),
        ("hour 24", "2025-12-01T24:00:00Z"),
        ("no seconds", "2025-12-01T10:10Z"),
        ("offset without colon", "2025-12-01T10:10:00+0100"),
        ("date only", "2025-12-01"),
        ("ten fractional digits", "2025-12-01T10:10:00.1234567891Z"),
        ("empty", ""),
        ("unix seconds as string", "1733047800"),
    ] {
        c.push(case(
            format!("bad ts_start: {d}"),
            with(&["ts_start"], json!(v)),
            422,
            "invalid_timestamp",
        ));
    }
    c.push(case(
        "ts_end before ts_start",
        text_edit(
            "\"ts_end\":\"2025-12-01T10:15:00Z\"",
            "\"ts_end\":\"2025-12-01T10:05:00Z\"",
        ),
        422,
        "invalid_time_range",
    ));
    c.push(case(
        "ts_end equals ts_start",
        text_edit(
            "\"ts_end\":\"2025-12-01T10:15:00Z\"",
            "\"ts_end\":\"2025-12-01T10:10:00Z\"",
        ),
        422,
        "invalid_time_range",
    ));
    // --- bulk route ---
    let bulk =
        |desc: &str, ct: Option<&'static str>, body: Vec<u8>, status: u16, code: &'static str| {
            Case {
                desc: format!("bulk: {desc}"),
                content_type: ct,
                path: "/api/v1/logs/bulk",
                body,
                status,
                code,
            }
        };
    c.push(bulk(
        "object instead of array",
        Some(JSON),
        b"{}".to_vec(),
        400,
        "invalid_json",
    ));
    c.push(bulk(
        "unterminated array",
        Some(JSON),
        b"[{}".to_vec(),
        400,
        "invalid_json",
    ));
    c.push(bulk(
        "trailing comma",
        Some(JSON),
        b"[1,]".to_vec(),
        400,
        "invalid_json",
    ));
    c.push(bulk(
        "garbage after array",
        Some(JSON),
        b"[] x".to_vec(),
        400,
        "invalid_json",
    ));
    c.push(bulk(
        "deep array",
        Some(JSON),
        format!("[{}{}]", "[".repeat(40), "]".repeat(40)).into_bytes(),
        400,
        "too_deep",
    ));
    c.push(bulk(
        "text/plain",
        Some("text/plain"),
        b"[]".to_vec(),
        415,
        "unsupported_media_type",
    ));
    c.push(bulk(
        "no content type",
        None,
        b"[]".to_vec(),
        415,
        "unsupported_media_type",
    ));
    // --- other routes ---
    c.push(Case {
        desc: "flush with a body of the wrong method".into(),
        content_type: Some(JSON),
        path: "/api/v1/batches",
        body: b"{}".to_vec(),
        status: 405,
        code: "method_not_allowed",
    });
    c.push(Case {
        desc: "unknown route".into(),
        content_type: Some(JSON),
        path: "/api/v1/log",
        body: log_json(1).into_bytes(),
        status: 404,
        code: "not_found",
    });
    c
}

#[tokio::test]
async fn malformed_requests_get_the_right_4xx_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    let cases = corpus();
    assert!(cases.len() >= 100, "corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut headers = Vec::new();
        if let Some(ct) = c.content_type {
            headers.push(("content-type", ct));
        }
        let r = post_with(&app, c.path, &headers, c.body.clone()).await;
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("<no JSON error body>");
        if r.status.as_u16() != c.status || code != c.code {
            failures.push(format!(
                "{}: want {} {}, got {} {} ({})",
                c.desc,
                c.status,
                c.code,
                r.status.as_u16(),
                code,
                r.text()
            ));
        }
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: message",
            c.desc
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Healthy, nothing half-written, and a good log still goes in.
    assert_eq!(get(&app, "/ready").await.status, StatusCode::OK);
    assert_eq!(all_logs(&app, "").await.len(), 0);
    assert_eq!(
        post_json(&app, "/api/v1/logs", log_json(1)).await.status,
        StatusCode::CREATED
    );
    let r = post_json(&app, "/api/v1/batches/flush", Vec::new()).await;
    assert_eq!(r.json()["log_count"], 1);
    eprintln!("malformed corpus: {} cases passed", cases.len());
    gw.shutdown().await;
}

#[tokio::test]
async fn malformed_path_and_query_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, app) = start(config(dir.path())).await;
    for (uri, status, code) in [
        ("/api/v1/logs/abc", 400, "invalid_parameter"),
        ("/api/v1/logs/-1", 400, "invalid_parameter"),
        (
            "/api/v1/logs/99999999999999999999999",
            400,
            "invalid_parameter",
        ),
        ("/api/v1/logs/5", 404, "not_found"),
        ("/api/v1/logs/abc/receipt", 400, "invalid_parameter"),
        ("/api/v1/receipts/xyz", 400, "invalid_hex"),
        (
            "/api/v1/receipts/ABCDEF0000000000000000000000000000000000000000000000000000000000",
            400,
            "invalid_hex",
        ),
        (
            "/api/v1/receipts/0000000000000000000000000000000000000000000000000000000000000000",
            404,
            "not_found",
        ),
        ("/api/v1/batches?limit=5000", 400, "invalid_parameter"),
        ("/api/v1/batches?cursor=-", 400, "invalid_parameter"),
        (
            "/api/v1/logs?to=2025-13-01T00:00:00Z",
            400,
            "invalid_timestamp",
        ),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(
            (r.status.as_u16(), r.code().as_str()),
            (status, code),
            "{uri}: {}",
            r.text()
        );
    }
    gw.shutdown().await;
}
