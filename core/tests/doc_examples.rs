//! Every public item of the core carries a runnable example in its doc
//! comment, as rs-merkle's do: this reads the source text of core/src and
//! fails on a `pub fn`, `pub const fn`, `pub struct`, `pub enum`, `pub trait`
//! or `pub type` (outside `#[cfg(test)]` modules) whose `///` lines have no
//! ```` ``` ```` fence, and on a `pub mod` whose `//!` docs have none.
//! `cargo test --doc` then runs what was found. Trait impl methods (`fn`
//! without `pub`) are exempt: their docs are the trait's.

use std::fs;
use std::path::{Path, PathBuf};

const KINDS: [&str; 6] = [
    "pub fn ",
    "pub const fn ",
    "pub struct ",
    "pub enum ",
    "pub trait ",
    "pub type ",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The item name after the keyword: `pub fn leaf_hash(` -> `leaf_hash`.
fn item_name(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Line indices (0-based) that belong to `#[cfg(test)]` modules: from the
/// attribute to the closing brace at the module's own indentation.
fn test_lines(lines: &[&str]) -> Vec<bool> {
    let mut skip = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim_start().starts_with("#[") {
                j += 1;
            }
            let decl = lines.get(j).copied().unwrap_or("");
            let t = decl.trim_start();
            if (t.starts_with("mod ") || t.starts_with("pub mod ")) && t.ends_with('{') {
                let indent = &decl[..decl.len() - t.len()];
                let close = format!("{indent}}}");
                let mut k = j + 1;
                while k < lines.len() && lines[k] != close {
                    k += 1;
                }
                for s in skip.iter_mut().take((k + 1).min(lines.len())).skip(i) {
                    *s = true;
                }
                i = k + 1;
                continue;
            }
        }
        i += 1;
    }
    skip
}

/// Whether the `///` and attribute lines right above line `at` hold a fence.
fn has_example(lines: &[&str], at: usize) -> bool {
    let mut i = at;
    while i > 0 {
        i -= 1;
        let t = lines[i].trim_start();
        if t.starts_with("///") {
            if t.contains("```") {
                return true;
            }
        } else if !t.starts_with("#[") {
            return false;
        }
    }
    false
}

/// The public items of one source file that lack an example, as
/// `path:line: name`.
fn missing_in(path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let skip = test_lines(&lines);
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if skip[n] {
            continue;
        }
        let t = line.trim_start();
        for kind in KINDS {
            if let Some(rest) = t.strip_prefix(kind) {
                if !has_example(&lines, n) {
                    out.push(format!(
                        "{}:{}: {}{}",
                        path.display(),
                        n + 1,
                        kind,
                        item_name(rest)
                    ));
                }
            }
        }
    }
    out
}

/// `pub mod x;` declared in `file`: the module's own file, to read its `//!`.
fn module_file(file: &Path, name: &str) -> PathBuf {
    let stem = file.file_stem().unwrap().to_string_lossy();
    let dir = if stem == "mod" || stem == "lib" {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// `pub mod` items whose inner docs (`//!` at the top of the module's file,
/// or right inside an inline `pub mod x {`) have no fence.
fn modules_missing_in(path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let skip = test_lines(&lines);
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("pub mod ") else {
            continue;
        };
        if skip[n] {
            continue;
        }
        let name = item_name(rest);
        let inner: Vec<String> = if rest.trim_end().ends_with(';') {
            let file = module_file(path, name);
            let body =
                fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            body.lines()
                .take_while(|l| l.trim_start().starts_with("//!") || l.trim().is_empty())
                .map(str::to_string)
                .collect()
        } else {
            lines[n + 1..]
                .iter()
                .take_while(|l| l.trim_start().starts_with("//!") || l.trim().is_empty())
                .map(|l| l.to_string())
                .collect()
        };
        let outer = has_example(&lines, n);
        if !outer && !inner.iter().any(|l| l.contains("```")) {
            out.push(format!("{}:{}: pub mod {name}", path.display(), n + 1));
        }
    }
    out
}

fn src_files() -> Vec<PathBuf> {
    let src = Path::new("src");
    let mut all = Vec::new();
    files(src, &mut all);
    all.sort();
    all
}

#[test]
fn every_public_item_has_a_doc_example() {
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in src_files() {
        let text = fs::read_to_string(&file).unwrap();
        missing.extend(missing_in(&file, &text));
        seen += text.lines().count();
        missing.extend(modules_missing_in(&file, &text));
    }
    assert!(seen > 0, "no source read");
    assert!(
        missing.is_empty(),
        "{} public items without a ``` example in their doc comment:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_should() {
    let src = "\
/// Documented.
///
/// ```
/// assert!(true);
/// ```
#[must_use]
pub fn with_example() {}

/// No example here.
#[inline]
pub const fn without() {}

pub struct Bare;

impl Bare {
    /// Also bare.
    pub fn method(&self) {}
}

#[cfg(test)]
mod tests {
    pub fn ignored() {}
}
";
    let got = missing_in(Path::new("x.rs"), src);
    assert_eq!(
        got,
        [
            "x.rs:11: pub const fn without",
            "x.rs:13: pub struct Bare",
            "x.rs:17: pub fn method",
        ]
    );
}
