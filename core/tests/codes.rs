//! One code vocabulary: the core's registry (`error::REGISTRY`) against
//! `docs/spec.md`'s table (generated: `UPDATE_VECTORS=1`), the WASM
//! package's `ErrorCode` type, the Python package's `CODE_FAMILIES`, and the
//! Kotlin and Swift tests' family tables.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use kwh_btc_iot_core::error::{ErrorCode, REGISTRY};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The core's own codes (what bindings raise), code -> family.
fn core_families() -> BTreeMap<String, String> {
    ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.family().as_str().to_string()))
        .collect()
}

/// Every `"snake_case"` string literal in `text`.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let j = text[i..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}"))
        + i;
    &text[i..j]
}

fn table() -> String {
    let mut t = String::from("| code | family | HTTP |\n|---|---|---|\n");
    for e in REGISTRY {
        let status = if e.http_status == 0 {
            "-".to_string()
        } else {
            e.http_status.to_string()
        };
        t.push_str(&format!("| `{}` | {} | {} |\n", e.code, e.family, status));
    }
    t
}

#[test]
fn spec_table_is_the_registry() {
    let path = root().join("docs/spec.md");
    let spec = fs::read_to_string(&path).unwrap();
    let (b, e) = ("<!-- codes:begin -->\n", "<!-- codes:end -->");
    let want = table();
    let got = between(&spec, b, e);
    if got != want {
        if std::env::var_os("UPDATE_VECTORS").is_some() {
            let i = spec.find(b).unwrap() + b.len();
            let j = spec.find(e).unwrap();
            fs::write(&path, format!("{}{}{}", &spec[..i], want, &spec[j..])).unwrap();
        } else {
            panic!("docs/spec.md's code table drifted from the registry; run UPDATE_VECTORS=1 cargo test -p kwh-btc-iot-core --test codes\n--- want\n{want}--- got\n{got}");
        }
    }
}

#[test]
fn wasm_types_list_every_core_code_and_family() {
    let d = read("bindings/wasm/src/types.d.ts");
    let mut codes = quoted(between(&d, "export type ErrorCode =", ";"));
    codes.sort();
    let want: Vec<String> = core_families().into_keys().collect();
    assert_eq!(codes, want, "bindings/wasm/src/types.d.ts ErrorCode");
    let mut families = quoted(between(&d, "export type ErrorFamily =", ";"));
    families.sort();
    assert_eq!(families, ["crypto", "json", "merkle", "validation"]);
}

#[test]
fn python_code_families_are_the_registry() {
    let py = read("python/python/kwh_btc_iot/_errors.py");
    let body = between(&py, "CODE_FAMILIES: Dict[str, str] = {", "}");
    let q = quoted(body);
    let got: BTreeMap<String, String> = q.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    assert_eq!(got, core_families(), "python CODE_FAMILIES");
    let mut literal = quoted(between(&py, "ErrorCode = Literal[", "]"));
    literal.sort();
    assert_eq!(literal, core_families().into_keys().collect::<Vec<_>>());
}

/// Reads `listOf("a", "b").forEach { put(it, KwhException.Json::class.java) }`
/// (Kotlin) or `for c in ["a", "b"] { m[c] = "json" }` (Swift) groups.
fn grouped(
    text: &str,
    family_of_group: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(f) = family_of_group(line) {
            pending.extend(quoted(
                line.split("put(")
                    .next()
                    .unwrap()
                    .split("m[c]")
                    .next()
                    .unwrap(),
            ));
            for c in pending.drain(..) {
                out.insert(c, f.clone());
            }
        } else {
            pending.extend(quoted(line));
        }
    }
    out
}

#[test]
fn kotlin_family_table_is_the_registry() {
    let kt = read("bindings/kotlin/src/test/kotlin/io/github/kwhbtciot/Vectors.kt");
    let body = between(&kt, "val FAMILY_OF_CODE", "\n}\n");
    let got = grouped(body, |l| {
        let i = l.find("KwhException.")? + "KwhException.".len();
        let name: String = l[i..].chars().take_while(|c| c.is_alphanumeric()).collect();
        Some(name.to_lowercase())
    });
    assert_eq!(got, core_families(), "Kotlin FAMILY_OF_CODE");
}

#[test]
fn swift_family_table_is_the_registry() {
    let sw = read("bindings/swift/Tests/KwhBtcIotTests/Vectors.swift");
    let body = between(&sw, "let familyOfCode", "}()");
    let got = grouped(body, |l| {
        let i = l.find("m[c] = \"")? + "m[c] = \"".len();
        Some(l[i..].split('"').next()?.to_string())
    });
    assert_eq!(got, core_families(), "Swift familyOfCode");
}
