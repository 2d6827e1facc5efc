use kwh_btc_iot_core::{self as core, hash, json, model::emlog};
use std::time::Instant;
fn main() {
    let f = include_str!("../../tests/vectors/founding_example.json");
    let compact = String::from_utf8(core::canonicalize_json(f.as_bytes()).unwrap()).unwrap();
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |s| s.parse().unwrap());
    let logs: Vec<String> = (0..n)
        .map(|i| compact.replace("MTR-001", &format!("MTR-{i:07}")))
        .collect();
    let t = Instant::now();
    for l in &logs {
        std::hint::black_box(json::parse(l.as_bytes()).unwrap());
    }
    println!(
        "parse      {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for l in &logs {
        std::hint::black_box(emlog::parse_log(l.as_bytes()).unwrap());
    }
    println!(
        "parse+norm {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let parsed: Vec<_> = logs
        .iter()
        .map(|l| emlog::parse_log(l.as_bytes()).unwrap().log)
        .collect();
    let mut buf = Vec::new();
    let t = Instant::now();
    for p in &parsed {
        buf.clear();
        p.write_canonical(&mut buf);
        std::hint::black_box(&buf);
    }
    println!(
        "canonical  {:.0} ns ({} bytes)",
        t.elapsed().as_nanos() as f64 / n as f64,
        buf.len()
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(hash::leaf_hash_bytes(std::hint::black_box(&buf)));
    }
    println!(
        "sha256     {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for l in &logs {
        std::hint::black_box(emlog::leaf_hash_of_json_with(l.as_bytes(), &mut buf).unwrap());
    }
    println!(
        "all        {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
