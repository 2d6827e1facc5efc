//! Reading logs and receipts: one JSON document, or JSON Lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use anyhow::{Context, Result};
use kwh_btc_iot_core::json;

/// Opens a file, or stdin for `-`.
pub fn open(path: &str) -> Result<Box<dyn BufRead>> {
    if path == "-" {
        Ok(Box::new(BufReader::with_capacity(1 << 20, io::stdin())))
    } else {
        let f = File::open(path).with_context(|| format!("cannot open {path}"))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// One record of the input: its 1-based line number and its bytes.
pub struct Record {
    pub line: usize,
    pub bytes: Vec<u8>,
}

/// Reads the whole input. If it is one JSON document (possibly pretty
/// printed over many lines) it is one record; otherwise it is JSON Lines and
/// each non-blank line is a record.
pub fn read_records(path: &str) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    open(path)?
        .read_to_end(&mut all)
        .with_context(|| format!("cannot read {path}"))?;
    Ok(split_records(all))
}

/// Splits a whole input into records (see [`read_records`]).
pub fn split_records(all: Vec<u8>) -> Vec<Record> {
    let trimmed_start = all
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(all.len());
    let multi_line = all[trimmed_start..].iter().filter(|&&b| b == b'\n').count() > 1;
    if multi_line && json::parse(&all).is_ok() {
        let line = all[..trimmed_start].iter().filter(|&&b| b == b'\n').count() + 1;
        return vec![Record { line, bytes: all }];
    }
    all.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|(i, l)| Record {
            line: i + 1,
            bytes: strip_cr(l).to_vec(),
        })
        .collect()
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Streams JSON Lines without holding the whole input (for the hot paths).
/// Calls `f(line_number, bytes)` for each non-blank line. A single JSON
/// document spread over several lines is detected on the first line that
/// does not parse alone and handed over whole.
pub fn for_each_line(path: &str, mut f: impl FnMut(usize, &[u8]) -> Result<()>) -> Result<()> {
    let mut r = open(path)?;
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {path}"))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let l = strip_cr(buf.strip_suffix(b"\n").unwrap_or(&buf));
        // (Trimmed, not copied: this runs for every line of a million-line file.)
        let t = l.trim_ascii();
        if t.is_empty() {
            continue;
        }
        // A pretty-printed document starts with a line that is a lone '{' or '['.
        if t == b"{" || t == b"[" {
            let mut rest = l.to_vec();
            rest.push(b'\n');
            r.read_to_end(&mut rest)?;
            return f(line, &rest);
        }
        f(line, l)?;
    }
}
