//! The CLI as a user runs it, against the conformance vectors.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(name);
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn bin() -> Command {
    Command::cargo_bin("kwh-btc-iot").unwrap()
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hash_and_canon_match_every_accepted_vector() {
    let v = vectors("emlog.json");
    let cases = v["cases"].as_array().unwrap();
    let ok: Vec<&Value> = cases.iter().filter(|c| c["want_err"].is_null()).collect();
    // Several vectors as JSON Lines in one run (inputs are one line each).
    let jsonl: String = ok
        .iter()
        .filter(|c| !c["input"].as_str().unwrap().contains('\n'))
        .map(|c| format!("{}\n", c["input"].as_str().unwrap()))
        .collect();
    let want_hashes: Vec<&str> = ok
        .iter()
        .filter(|c| !c["input"].as_str().unwrap().contains('\n'))
        .map(|c| c["leaf_hash"].as_str().unwrap())
        .collect();
    let got = stdout(bin().arg("hash").arg("-").write_stdin(jsonl.clone()));
    assert_eq!(got.lines().collect::<Vec<_>>(), want_hashes);
    let want_canon: Vec<&str> = ok
        .iter()
        .filter(|c| !c["input"].as_str().unwrap().contains('\n'))
        .map(|c| c["canonical"].as_str().unwrap())
        .collect();
    let got = stdout(bin().arg("canon").write_stdin(jsonl));
    assert_eq!(got.lines().collect::<Vec<_>>(), want_canon);
}

#[test]
fn pretty_printed_founding_example_is_one_log() {
    let v = vectors("emlog.json");
    let founding = &v["cases"][0];
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/founding_example.json");
    let got = stdout(bin().arg("hash").arg(&p));
    assert_eq!(got.trim(), founding["leaf_hash"].as_str().unwrap());
}

#[test]
fn blank_lines_crlf_and_an_indented_opening_brace_are_read_as_a_user_means_them() {
    let v = vectors("emlog.json");
    let founding = v["cases"][0]["leaf_hash"].as_str().unwrap();
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/founding_example.json");
    let compact: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    let line = serde_json::to_string(&compact).unwrap();
    // JSON Lines with blank, whitespace-only and CRLF lines: one hash per log,
    // and errors count lines as an editor does.
    let jsonl = format!("\n  \t\n{line}\r\n\r\n{line}\n   \n");
    let got = stdout(bin().arg("hash").arg("-").write_stdin(jsonl));
    assert_eq!(got.lines().collect::<Vec<_>>(), vec![founding, founding]);
    let bad = format!("\n{line}\n\n{{\"schema_version\": 1}}\n");
    let out = bin()
        .arg("hash")
        .arg("-")
        .write_stdin(bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":4:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A pretty-printed document whose first line is an indented lone brace.
    let pretty = format!(
        "  {{  \r\n{}\n",
        &serde_json::to_string_pretty(&compact).unwrap()[1..]
    );
    let got = stdout(bin().arg("hash").arg("-").write_stdin(pretty));
    assert_eq!(got.trim(), founding);
}

#[test]
fn every_rejected_vector_fails_with_its_code_and_line() {
    let v = vectors("emlog.json");
    for c in v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["want_err"].is_null())
    {
        let input = c["input"].as_str().unwrap();
        if input.contains('\n') {
            continue;
        }
        let out = bin()
            .arg("hash")
            .write_stdin(format!("\n{input}\n"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", c["desc"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(c["want_err"].as_str().unwrap()),
            "{}: {err}",
            c["desc"]
        );
        assert!(err.contains("-:2:"), "line number missing: {err}");
    }
}

#[test]
fn canon_jcs_matches_vectors() {
    let v = vectors("jcs.json");
    for c in v["cases"].as_array().unwrap() {
        let input = c["input"].as_str().unwrap();
        let out = bin()
            .args(["canon", "--jcs", "-"])
            .write_stdin(input.to_string())
            .output()
            .unwrap();
        match c["canonical"].as_str() {
            Some(want) => {
                assert!(out.status.success(), "{}", c["desc"]);
                assert_eq!(
                    String::from_utf8(out.stdout)
                        .unwrap()
                        .trim_end_matches('\n'),
                    want,
                    "{}",
                    c["desc"]
                );
            }
            None => assert!(!out.status.success(), "{}", c["desc"]),
        }
    }
}

#[test]
fn merkle_root_and_prove_match_vectors() {
    let v = vectors("merkle.json");
    for t in v["trees"].as_array().unwrap() {
        let data: String = t["leaf_data_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| format!("{}\n", h.as_str().unwrap()))
            .collect();
        let root = stdout(
            bin()
                .args(["merkle", "root", "--leaf-data"])
                .write_stdin(data.clone()),
        );
        assert_eq!(root.trim(), t["root"].as_str().unwrap(), "{}", t["desc"]);
        let leaves: String = t["leaf_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| format!("{}\n", h.as_str().unwrap()))
            .collect();
        let root = stdout(bin().args(["merkle", "root"]).write_stdin(leaves.clone()));
        assert_eq!(root.trim(), t["root"].as_str().unwrap());
        for inc in t["inclusion"].as_array().unwrap() {
            let i = inc["index"].as_u64().unwrap().to_string();
            let out: Value = serde_json::from_str(&stdout(
                bin()
                    .args(["merkle", "prove", "--index", &i])
                    .write_stdin(leaves.clone()),
            ))
            .unwrap();
            assert_eq!(out["inclusion_path"], inc["path"]);
        }
    }
    let out = bin()
        .args(["merkle", "prove", "--index", "5"])
        .write_stdin("00".repeat(32))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("index_out_of_range"));
    let out = bin()
        .args(["merkle", "root"])
        .write_stdin("xyz\n")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin:1"));
}

#[test]
fn keygen_batch_verify_and_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = d.join("gw.key");
    let public = stdout(bin().args(["keygen", "--out"]).arg(&key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        bin()
            .args(["keygen", "--out"])
            .arg(&key)
            .output()
            .unwrap()
            .status
            .code()
            == Some(2),
        "overwrote a key"
    );
    let b = vectors("batch.json");
    let mut logs: String = b["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}\n",
                serde_json::from_str::<Value>(l.as_str().unwrap()).unwrap()
            )
        })
        .collect();
    fs::write(d.join("logs.jsonl"), &logs).unwrap();
    stdout(
        bin()
            .arg("batch")
            .arg(d.join("logs.jsonl"))
            .arg("--out")
            .arg(d.join("b1"))
            .arg("--key")
            .arg(&key)
            .args([
                "--gateway-id",
                "gw-PLANT01",
                "--batch-id",
                "batch_2025-12-01T10-20",
                "--created-at",
                "2025-12-01T10:20:00Z",
            ]),
    );
    let batch: Value = serde_json::from_slice(&fs::read(d.join("b1/batch.json")).unwrap()).unwrap();
    assert_eq!(batch["head"], b["head"]);
    assert_eq!(batch["head_hash"], b["head_hash"]);
    assert_eq!(
        batch["signature"]["public_key"].as_str().unwrap(),
        public.trim()
    );
    let receipts = fs::read_to_string(d.join("b1/receipts.jsonl")).unwrap();
    assert_eq!(receipts.lines().count(), 3);
    let out = stdout(
        bin()
            .arg("verify")
            .arg(d.join("b1/receipts.jsonl"))
            .args(["--gateway-key", public.trim()]),
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("OK")).count(), 3);

    // The wrong trusted key, a changed log, a changed path, a changed head.
    let other = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    let out = bin()
        .arg("verify")
        .arg(d.join("b1/receipts.jsonl"))
        .args(["--gateway-key", other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("untrusted_key"));
    let first = receipts.lines().next().unwrap();
    for (from, to, code) in [
        ("\"MTR-001\"", "\"MTR-00X\"", "leaf_hash_mismatch"),
        (
            "\"inclusion_path\":[\"",
            "\"inclusion_path\":[\"0",
            "invalid_hex",
        ),
        ("\"seq\":1", "\"seq\":1.5", "out_of_range"),
        ("\"log_count\":3", "\"log_count\":2", "invalid_signature"),
    ] {
        assert!(first.contains(from), "{from}");
        let bad = first.replacen(from, to, 1);
        fs::write(d.join("bad.json"), &bad).unwrap();
        let out = bin()
            .args(["verify", "--json"])
            .arg(d.join("bad.json"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{from}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], false);
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["code"] == code),
            "{from}: {v}"
        );
    }

    // A bad line: a clear error with its line number; --skip-invalid keeps the rest.
    logs.push_str("{\"schema_version\":\"emlog-1.1\"}\n");
    fs::write(d.join("logs.jsonl"), &logs).unwrap();
    let out = bin()
        .arg("batch")
        .arg(d.join("logs.jsonl"))
        .arg("--out")
        .arg(d.join("b2"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("logs.jsonl:4"));
    assert!(
        !d.join("b2/receipts.jsonl").exists(),
        "nothing written for a failed batch"
    );
    stdout(
        bin()
            .arg("batch")
            .arg(d.join("logs.jsonl"))
            .arg("--out")
            .arg(d.join("b2"))
            .arg("--skip-invalid"),
    );
    let rejected = fs::read_to_string(d.join("b2/rejected.jsonl")).unwrap();
    let r: Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(r["line"], 4);
    assert_eq!(r["error"]["code"], "missing_member");
    assert_eq!(
        fs::read_to_string(d.join("b2/receipts.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    let out = stdout(bin().arg("verify").arg(d.join("b2/receipts.jsonl")));
    assert!(out.contains("signature absent"));

    // seq > 1 needs the previous head hash.
    let out = bin()
        .arg("batch")
        .arg(d.join("logs.jsonl"))
        .arg("--out")
        .arg(d.join("b3"))
        .args(["--seq", "2", "--skip-invalid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn receipt_vectors_through_verify() {
    let v = vectors("receipts.json");
    let dir = tempfile::tempdir().unwrap();
    for c in v["cases"].as_array().unwrap() {
        let receipt = c["receipt"].as_str().unwrap();
        if receipt.trim().is_empty() {
            continue;
        }
        let p = dir.path().join("r.json");
        fs::write(&p, receipt).unwrap();
        let mut cmd = bin();
        cmd.args(["verify", "--json"]).arg(&p);
        if let Some(k) = c["gateway_key"].as_str() {
            cmd.args(["--gateway-key", k]);
        }
        let out = cmd.output().unwrap();
        let want_valid = c["want_valid"].as_bool().unwrap();
        assert_eq!(
            out.status.code(),
            Some(if want_valid { 0 } else { 1 }),
            "{}",
            c["desc"]
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let codes: Vec<&str> = got["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = c["want_errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(codes, want, "{}", c["desc"]);
    }
}

#[test]
fn leaf_data_reads_an_empty_line_as_the_empty_entry() {
    // RFC 6962's reference leaves start with the empty entry; the roots of
    // sizes 1 and 8 are the reference implementation's.
    let root = |input: &str| {
        stdout(
            bin()
                .args(["merkle", "root", "--leaf-data"])
                .write_stdin(input.to_string()),
        )
        .trim()
        .to_string()
    };
    assert_eq!(
        root("\n"),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    let leaves = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let text: String = leaves.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(
        root(&text),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    // CRLF line ends are the same entries.
    assert_eq!(root(&text.replace('\n', "\r\n")), root(&text));
    // Leaf hashes (not data): blank lines are still skipped.
    let hashes = "\n6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\n\n";
    assert_eq!(
        stdout(bin().args(["merkle", "root"]).write_stdin(hashes)).trim(),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}
