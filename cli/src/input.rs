//! Reading logs and receipts: one JSON document, or JSON Lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use anyhow::{Context, Result};
use kwh_btc_iot_core::json_lines;

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
    json_lines::records(&all)
        .into_iter()
        .map(|r| Record {
            line: r.line,
            bytes: r.bytes.to_vec(),
        })
        .collect()
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
        let Some(l) = json_lines::line_content(&buf) else {
            continue;
        };
        if json_lines::opens_document(l) {
            let mut rest = l.to_vec();
            rest.push(b'\n');
            r.read_to_end(&mut rest)?;
            return f(line, &rest);
        }
        f(line, l)?;
    }
}
