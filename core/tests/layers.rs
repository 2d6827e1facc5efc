//! The core's modules depend one way, down the layers of
//! docs/architecture.md: error/time -> encoding -> json/jcs, hash/merkle ->
//! model -> build, verify. This reads every source file's `crate::` and
//! `super::` paths (outside comments and `#[cfg(test)]` modules) and fails
//! on an upward dependency or on any cycle between modules.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of each top-level module; a module may use modules of a lower
/// or the same layer (without cycles: `jcs` uses `json`, `merkle` uses
/// `hash`, never the other way).
fn layer(top: &str) -> Option<u32> {
    Some(match top {
        "error" | "time" => 0,
        "encoding" => 1,
        "json" | "json_lines" | "jcs" | "hash" | "merkle" => 2,
        "model" => 3,
        "build" => 4,
        "verify" => 5,
        _ => return None,
    })
}

/// Every `.rs` file under `dir`.
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

/// `encoding/spv.rs` -> ["encoding", "spv"]; `model/mod.rs` -> ["model"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code a module depends on at run time: comments and the
/// `#[cfg(test)]` module dropped.
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.push(
            path.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    out
}

#[test]
fn the_core_modules_depend_one_way_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(&src, f)).collect();
    // Resolve a path to the longest module it names.
    let resolve = |p: &[String]| -> Option<Vec<String>> {
        (1..=p.len())
            .rev()
            .map(|n| p[..n].to_vec())
            .find(|m| modules.contains(m))
    };
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut upward = Vec::new();
    for f in &all {
        let m = module_of(&src, f);
        if m.is_empty() {
            continue; // lib.rs declares and re-exports every layer
        }
        let text = code(&fs::read_to_string(f).unwrap());
        let mut deps: Vec<Vec<String>> = paths_after(&text, "crate::");
        for p in paths_after(&text, "super::") {
            let mut base = m[..m.len() - 1].to_vec();
            base.extend(p);
            deps.push(base);
        }
        for d in deps {
            let Some(target) = resolve(&d) else { continue };
            if target == m || m.starts_with(&target) {
                continue; // itself, or its own parent (module docs, re-exports)
            }
            let (from, to) = (layer(&m[0]), layer(&target[0]));
            assert!(from.is_some(), "{m:?} has no layer: add it to layer()");
            assert!(to.is_some(), "{target:?} has no layer: add it to layer()");
            if m[0] != target[0] && to > from {
                upward.push(format!("{} uses {}", m.join("::"), target.join("::")));
            }
            graph.entry(m.clone()).or_default().insert(target);
        }
    }
    assert!(
        upward.is_empty(),
        "dependencies that do not point down:\n{}",
        upward.join("\n")
    );

    // No cycles between modules (depth-first search with colours).
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap();
                let cycle: Vec<String> = stack[i..].iter().map(|s| s.join("::")).collect();
                panic!("module cycle: {} -> {}", cycle.join(" -> "), n.join("::"));
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, state, stack);
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state, &mut Vec::new());
    }
    assert!(graph.len() > 10, "the test reads the modules: {graph:?}");
}

#[test]
fn the_checker_catches_an_upward_path() {
    let found = paths_after(
        "use crate::build::Batch; let x = super::spv::f();",
        "crate::",
    );
    assert_eq!(found, vec![vec!["build".to_string(), "Batch".to_string()]]);
}
