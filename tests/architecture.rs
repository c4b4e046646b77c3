//! The module graph stays one-way (issue 16, ARCHITECTURE.md).
//!
//! Reads every `src/**/*.rs` (without comments, string literals and
//! `#[cfg(test)]` items), collects the `crate::…` and `super::…` paths each
//! file names, and builds the file-level dependency graph and the graph of
//! top-level modules. Fails on any cycle in either graph, on the forbidden
//! arrows listed in [`forbidden`], and on any file in `src/` over
//! [`MAX_LINES`] lines. Run `cargo test --test architecture -- --nocapture`
//! to print the module graph.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest a file in `src/` may grow before it has to be split.
const MAX_LINES: usize = 800;

/// The pure core: no I/O, deterministic, unit-testable without servers.
const CORE: &[&str] = &["model", "mapping", "plan", "report", "plural", "snapshot"];
/// What the core may use besides itself: configuration types and the
/// `--only` selector, neither of which does I/O.
const CORE_MAY_USE: &[&str] = &["config", "only"];
/// Modules that run things: executors, commands, the daemon.
const RUN: &[&str] = &[
    "sync",
    "apply",
    "reconcile",
    "events",
    "explain",
    "demo",
    "manual",
    "reviewed",
    "daemon",
    "cli",
    "init",
    "audit",
];
/// Code every source may share; every other child of `source/` is an adapter.
const SOURCE_SHARED: &[&str] = &["kit", "flatten", "fuzz"];

/// Problems known and owned elsewhere, each to be removed by the change
/// that fixes it (the test fails while a listed problem no longer occurs, so
/// this list only shrinks). Everything not listed fails at once.
const PENDING: &[&str] = &[];

/// A module path, e.g. `["source", "okta", "client"]`; `[]` is the crate root.
type ModPath = Vec<String>;

/// One source file as the graph sees it.
struct File {
    rel: String,
    module: ModPath,
    code: String,
    lines: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `source/okta/mod.rs` → `["source", "okta"]`; `lib.rs` → `[]`.
fn module_of(rel: &str) -> ModPath {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Replaces comments and string/char literals with spaces, keeping line breaks.
fn strip_comments_and_strings(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) && {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, c[j]);
                j += 1;
            }
            i = j;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Index just past the item starting at `i`: to its `;` or its closing `}`.
fn item_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < c.len() {
        match c[i] {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ';' if depth == 0 => return i + 1,
            '{' if depth == 0 => {
                let mut braces = 0;
                while i < c.len() {
                    if c[i] == '{' {
                        braces += 1;
                    } else if c[i] == '}' {
                        braces -= 1;
                        if braces == 0 {
                            // `use a::{b, c};` ends at its `;`.
                            let rest: String = c[i + 1..].iter().take(8).collect();
                            if rest.trim_start().starts_with(';') {
                                return i + 1 + rest.find(';').unwrap_or(0) + 1;
                            }
                            return i + 1;
                        }
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    c.len()
}

/// Removes `#[cfg(test)]` items; returns the code and the test-only
/// `mod name;` declarations (whose files are skipped).
fn strip_test_items(code: &str) -> (String, Vec<String>) {
    const MARK: &str = "#[cfg(test)]";
    let c: Vec<char> = code.chars().collect();
    let text: String = c.iter().collect();
    let mut out = String::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '#' && text[char_offset(&text, i)..].starts_with(MARK) {
            let mut j = i + MARK.chars().count();
            // Further attributes on the same item.
            loop {
                while j < c.len() && c[j].is_whitespace() {
                    j += 1;
                }
                if c.get(j) == Some(&'#') {
                    j = item_end_attr(&c, j);
                } else {
                    break;
                }
            }
            let end = item_end(&c, j);
            let item: String = c[j..end].iter().collect();
            let words: Vec<&str> = item
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            if item.trim_end().ends_with(';')
                && let Some(pos) = words.iter().position(|w| *w == "mod")
            {
                test_mods.push(words[pos + 1].to_string());
            }
            for ch in &c[i..end] {
                out.push(if *ch == '\n' { '\n' } else { ' ' });
            }
            i = end;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    (out, test_mods)
}

fn item_end_attr(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        match c[i] {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    c.len()
}

fn char_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}

/// Tokens of a path: identifiers and the punctuation a use tree needs.
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let c: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if ch.is_whitespace() {
            i += 1;
        } else {
            out.push(ch.to_string());
            i += 1;
        }
    }
    out
}

/// Reads a use tree at `t[i]` under `base`, pushing every full path.
fn read_tree(t: &[String], mut i: usize, base: ModPath, out: &mut Vec<ModPath>) -> usize {
    let mut path = base;
    loop {
        match t.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    match t.get(i).map(String::as_str) {
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        None => return i,
                        _ => i = read_tree(t, i, path.clone(), out),
                    }
                }
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                if word != "self" && word != "as" {
                    path.push(word.to_string());
                }
                i += 1;
                if t.get(i).map(String::as_str) == Some("as") {
                    i += 2;
                }
                if t.get(i).map(String::as_str) == Some("::") {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

/// Every module path a file names through `crate::` or `super::`.
fn referenced_paths(file: &File) -> Vec<ModPath> {
    let t = tokens(&file.code);
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < t.len() {
        let after_sep = i > 0 && t[i - 1] == "::";
        let start = (t[i] == "crate" || t[i] == "$crate" || t[i] == "super")
            && t[i + 1] == "::"
            && !after_sep;
        if !start {
            i += 1;
            continue;
        }
        let mut base: ModPath = if t[i] == "super" {
            let mut m = file.module.clone();
            m.pop();
            m
        } else {
            Vec::new()
        };
        i += 2;
        while t.get(i).map(String::as_str) == Some("super")
            && t.get(i + 1).map(String::as_str) == Some("::")
        {
            base.pop();
            i += 2;
        }
        i = read_tree(&t, i, base, &mut out).max(i + 1);
    }
    out
}

fn load() -> Vec<File> {
    let src = src_dir();
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    let mut files = Vec::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for path in paths {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "main.rs" {
            continue; // the binary is its own crate
        }
        let raw = fs::read_to_string(&path).unwrap();
        let (code, test_mods) = strip_test_items(&strip_comments_and_strings(&raw));
        let module = module_of(&rel);
        for name in test_mods {
            let mut child = module.clone();
            child.push(name);
            test_only.insert(child);
        }
        files.push(File {
            rel,
            module,
            code,
            lines: raw.lines().count(),
        });
    }
    files.retain(|f| !test_only.iter().any(|t| f.module.starts_with(t)));
    files
}

/// File-level edges: `from file → to file`, resolved to the longest module
/// prefix that is a file.
fn file_edges(files: &[File]) -> BTreeMap<String, BTreeSet<String>> {
    let by_module: BTreeMap<&ModPath, &str> =
        files.iter().map(|f| (&f.module, f.rel.as_str())).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let entry = edges.entry(f.rel.clone()).or_default();
        for path in referenced_paths(f) {
            let target = (1..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n].to_vec()));
            if let Some(to) = target
                && *to != f.rel
            {
                entry.insert((*to).to_string());
            }
        }
    }
    edges
}

fn module_of_file(files: &[File], rel: &str) -> ModPath {
    files
        .iter()
        .find(|f| f.rel == rel)
        .map(|f| f.module.clone())
        .unwrap_or_default()
}

/// Top-level module graph (`source`, `plan`, …), without self-arrows.
fn module_edges(
    files: &[File],
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let top = |rel: &str| module_of_file(files, rel).first().cloned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        let Some(a) = top(from) else { continue };
        let entry = out.entry(a.clone()).or_default();
        for to in tos {
            if let Some(b) = top(to)
                && b != a
            {
                entry.insert(b);
            }
        }
    }
    out
}

/// Strongly connected components with more than one node (Tarjan), each
/// given as one concrete cycle through its nodes.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        sccs: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            if !t.index.contains_key(w.as_str()) {
                visit(t, w);
                let lw = t.low[w.as_str()];
                let lv = t.low[v];
                t.low.insert(v, lv.min(lw));
            } else if t.on.contains(w.as_str()) {
                let iw = t.index[w.as_str()];
                let lv = t.low[v];
                t.low.insert(v, lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            t.sccs.push(scc);
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.sccs
        .into_iter()
        .filter(|s| s.len() > 1)
        .map(|scc| {
            let members: BTreeSet<&str> = scc.iter().copied().collect();
            let start = *members.iter().next().unwrap();
            // Breadth-first from `start` back to `start` inside the component.
            let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut last = start;
            'bfs: while let Some(v) = queue.pop_front() {
                for w in graph.get(v).into_iter().flatten() {
                    let w = w.as_str();
                    if w == start {
                        last = v;
                        break 'bfs;
                    }
                    if members.contains(w) && !prev.contains_key(w) {
                        prev.insert(w, v);
                        queue.push_back(w);
                    }
                }
            }
            let mut cycle = vec![start.to_string()];
            let mut v = last;
            let mut back = vec![];
            while v != start {
                back.push(v.to_string());
                v = prev[v];
            }
            back.reverse();
            cycle.extend(back);
            cycle.push(start.to_string());
            if members.len() + 1 > cycle.len() {
                let all: Vec<&str> = members.iter().copied().collect();
                cycle.push(format!("(one of the cycles among {})", all.join(", ")));
            }
            cycle
        })
        .collect()
}

/// Why the arrow `from → to` (module paths) is forbidden, if it is.
fn forbidden(from: &ModPath, to: &ModPath) -> Option<&'static str> {
    let (a, b) = (from.first()?.as_str(), to.first()?.as_str());
    if a == b && a != "source" {
        return None;
    }
    if CORE.contains(&a) && !CORE.contains(&b) && !CORE_MAY_USE.contains(&b) {
        return Some("the core (model, mapping, plan, report, snapshot) does no I/O");
    }
    if a == "source" && (b == "target" || b == "state" || b == "emulator" || RUN.contains(&b)) {
        return Some("a source knows neither the target, the state nor the run");
    }
    if a == "source" && b == "source" {
        let adapter = |m: &ModPath| {
            m.get(1)
                .filter(|x| !SOURCE_SHARED.contains(&x.as_str()))
                .cloned()
        };
        if let (Some(x), Some(y)) = (adapter(from), adapter(to))
            && x != y
        {
            return Some("one adapter never uses another: shared code goes to source/kit");
        }
    }
    let scim_client = b == "scim" && to.get(1).is_some_and(|m| m == "client");
    if a == "emulator" && (b == "source" || b == "target" || scim_client || RUN.contains(&b)) {
        return Some("the emulator stands alone: it may use only the SCIM protocol module");
    }
    None
}

#[test]
fn module_graph_is_one_way_and_files_are_small() {
    let files = load();
    let edges = file_edges(&files);
    let modules = module_edges(&files, &edges);
    println!("module graph (top level):");
    for (from, tos) in &modules {
        println!(
            "  {from} -> {}",
            tos.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let mut problems = Vec::new();
    for cycle in cycles(&edges) {
        problems.push(format!(
            "file cycle: {}",
            cycle.join(" -> ").replace(" -> (", " (")
        ));
    }
    for cycle in cycles(&modules) {
        problems.push(format!(
            "module cycle: {}",
            cycle.join(" -> ").replace(" -> (", " (")
        ));
    }
    for (from, tos) in &edges {
        let fm = module_of_file(&files, from);
        for to in tos {
            if let Some(why) = forbidden(&fm, &module_of_file(&files, to)) {
                problems.push(format!("forbidden arrow: {from} -> {to} ({why})"));
            }
        }
    }
    for f in &files {
        if f.lines > MAX_LINES {
            problems.push(format!(
                "too long: src/{} has {} lines (max {MAX_LINES})",
                f.rel, f.lines
            ));
        }
    }
    for p in &problems {
        println!("{p}");
    }
    let is_pending = |p: &String| PENDING.iter().any(|k| p.starts_with(k));
    let stale: Vec<&&str> = PENDING
        .iter()
        .filter(|k| !problems.iter().any(|p| p.starts_with(**k)))
        .collect();
    let new: Vec<&String> = problems.iter().filter(|p| !is_pending(p)).collect();
    assert!(stale.is_empty(), "fixed, so remove from PENDING: {stale:?}");
    assert!(
        new.is_empty(),
        "{} architecture problem(s) (see ARCHITECTURE.md):\n{}",
        new.len(),
        new.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The reader itself: paths in use trees, `super::`, comments, strings and
/// test modules are read as documented, so the graph test cannot pass by
/// reading nothing.
#[test]
fn reader_finds_paths_and_skips_tests_comments_and_strings() {
    let code = r#"
use crate::a::{b::C, d, e::{f as g, self}};
use super::h::I;
// use crate::comment::X;
const S: &str = "crate::string::X";
fn x() { crate::call::y(); }
#[cfg(test)]
mod tests { use crate::tested::Z; }
#[cfg(test)]
mod more;
"#;
    let (code, test_mods) = strip_test_items(&strip_comments_and_strings(code));
    let file = File {
        rel: "p/q.rs".into(),
        module: vec!["p".into(), "q".into()],
        code,
        lines: 0,
    };
    let got: BTreeSet<String> = referenced_paths(&file)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    let want: BTreeSet<String> = ["a::b::C", "a::d", "a::e::f", "a::e", "p::h::I", "call::y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
    assert_eq!(test_mods, vec!["more".to_string()]);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_string(), "b".into(), "a".into()]]
    );
    assert!(forbidden(&vec!["plan".into()], &vec!["state".into()]).is_some());
    assert!(
        forbidden(
            &vec!["source".into(), "okta".into()],
            &vec!["source".into(), "msgraph".into(), "proto".into()]
        )
        .is_some()
    );
    assert!(
        forbidden(
            &vec!["source".into(), "okta".into()],
            &vec!["source".into(), "kit".into()]
        )
        .is_none()
    );
}
