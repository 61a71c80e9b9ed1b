//! Layering: no top-level module imports one that imports it back; no terminal code in the engine.
//!
//! The edges are read from the source text: every `crate::B` path (in `use` lines and inline)
//! in a file under `src/A/` or `src/A.rs` is an edge `A -> B`. Comments, doc comments and
//! string literals do not count; `super::` paths stay inside a module and do not count either.
//! `#[cfg(test)]` code counts like any other code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Pairs of top-level modules that may reference each other, and why. The pair is one layer
/// for the cycle check: a cycle through any other module still fails.
const ALLOWED_PAIRS: &[(&str, &str, &str)] = &[(
    "tui",
    "ui",
    // The dashboard in two halves: `ui` draws `tui::App` (pure render functions), and `tui`'s
    // event loop calls `ui::render` and asks `ui` where the tabs and charts are for mouse
    // clicks. Splitting them takes moving `App` out of `tui`, a change of its own.
    "the dashboard's state and its drawing",
)];

/// The engine's side never reaches the terminal.
const ENGINE_MODULES: &[&str] = &["engine", "graph", "sim"];
const TERMINAL_MODULES: &[&str] = &["tui", "ui"];
const TERMINAL_CRATES: &[&str] = &["ratatui", "crossterm"];

/// `A -> B`, with the first place (`src/a/b.rs:12`) that says so.
type Edges = BTreeMap<(String, String), String>;

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let edges = crate_edges();
    // The scanner must see the edges that are there, or this test would pass on nothing.
    for (from, to) in [
        ("commands", "serve"),
        ("engine", "config"),
        ("serve", "report"),
    ] {
        assert!(
            edges.contains_key(&(from.to_string(), to.to_string())),
            "the scanner no longer sees {from} -> {to}; edges: {:?}",
            edges.keys().collect::<Vec<_>>()
        );
    }
    for (a, b, why) in ALLOWED_PAIRS {
        let both_ways = edges.contains_key(&(a.to_string(), b.to_string()))
            && edges.contains_key(&(b.to_string(), a.to_string()));
        assert!(
            both_ways,
            "{a} and {b} ({why}) no longer reference each other both ways: \
             remove them from ALLOWED_PAIRS"
        );
    }
    let layers = contract(&edges, ALLOWED_PAIRS);
    if let Some(cycle) = find_cycle(&layers) {
        panic!(
            "top-level modules import each other in a circle: {}\n{}",
            cycle.join(" -> "),
            evidence(&cycle, &layers)
        );
    }
}

#[test]
fn the_engine_never_references_terminal_code() {
    let mut offences = Vec::new();
    for file in rust_files(&src_dir()) {
        let Some(module) = top_level_module(&file) else {
            continue;
        };
        if !ENGINE_MODULES.contains(&module.as_str()) {
            continue;
        }
        let code = strip_comments_and_literals(&read(&file));
        for (target, offset) in crate_paths(&code) {
            if TERMINAL_MODULES.contains(&target.as_str()) {
                offences.push(format!("{}: crate::{target}", place(&file, &code, offset)));
            }
        }
        for name in TERMINAL_CRATES {
            for offset in word_offsets(&code, name) {
                offences.push(format!("{}: {name}", place(&file, &code, offset)));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "engine, graph and sim must not reference terminal code:\n{}",
        offences.join("\n")
    );
}

#[test]
fn edges_come_from_code_not_from_comments_or_strings() {
    let code = strip_comments_and_literals(
        r##"//! See [`crate::tui`].
/* crate::ui /* nested crate::cli */ crate::proxy */
use crate::{config::Settings, engine::{a, b}, format};
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::commands \" crate::serve";
    let _ = r#"crate::sim "# ;
    let _ = crate::graph::parse(x);
    let _ = pub_crate_ish::crate_like;
    '"'
}
pub(crate) fn g() -> char { '\'' }
"##,
    );
    let found: BTreeSet<String> = crate_paths(&code).into_iter().map(|(m, _)| m).collect();
    let expected: BTreeSet<String> = ["config", "engine", "format", "graph"]
        .map(String::from)
        .into();
    assert_eq!(found, expected, "{code}");
    assert!(word_offsets("use ratatui::Frame; my_ratatui", "ratatui").len() == 1);
}

#[test]
fn a_cycle_of_three_is_found_and_an_allowed_pair_is_one_layer() {
    let edge = |a: &str, b: &str| ((a.to_string(), b.to_string()), format!("src/{a}.rs:1"));
    let three: Edges = [
        edge("a", "b"),
        edge("b", "c"),
        edge("c", "a"),
        edge("c", "d"),
    ]
    .into();
    let cycle = find_cycle(&contract(&three, &[])).unwrap_or_default();
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    assert_eq!(cycle.first(), cycle.last());

    let pair: Edges = [edge("x", "y"), edge("y", "x"), edge("y", "z")].into();
    assert_eq!(find_cycle(&contract(&pair, &[("x", "y", "")])), None);
    let through: Edges = [
        edge("x", "y"),
        edge("y", "x"),
        edge("y", "z"),
        edge("z", "x"),
    ]
    .into();
    assert!(find_cycle(&contract(&through, &[("x", "y", "")])).is_some());
}

/// Every `A -> B` edge between distinct top-level modules.
fn crate_edges() -> Edges {
    let mut edges = Edges::new();
    for file in rust_files(&src_dir()) {
        let Some(from) = top_level_module(&file) else {
            continue;
        };
        let code = strip_comments_and_literals(&read(&file));
        for (to, offset) in crate_paths(&code) {
            if to != from {
                edges
                    .entry((from.clone(), to))
                    .or_insert_with(|| place(&file, &code, offset));
            }
        }
    }
    edges
}

/// The edges between layers: each allowed pair becomes one node `a+b`.
fn contract(edges: &Edges, pairs: &[(&str, &str, &str)]) -> Edges {
    let layer = |module: &str| {
        pairs
            .iter()
            .find(|(a, b, _)| module == *a || module == *b)
            .map_or_else(|| module.to_string(), |(a, b, _)| format!("{a}+{b}"))
    };
    let mut layers = Edges::new();
    for ((from, to), place) in edges {
        let (from, to) = (layer(from), layer(to));
        if from != to {
            layers.entry((from, to)).or_insert_with(|| place.clone());
        }
    }
    layers
}

/// A cycle as `[a, b, ..., a]`, if there is one.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(start, &next, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit<'a>(
    node: &'a str,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle: Vec<String> = path[at..].iter().map(|n| n.to_string()).collect();
        cycle.push(node.to_string());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for to in next.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(to, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

/// Where each edge of the cycle comes from.
fn evidence(cycle: &[String], edges: &Edges) -> String {
    cycle
        .windows(2)
        .map(|pair| {
            let key = (pair[0].clone(), pair[1].clone());
            let place = edges.get(&key).map_or("?", String::as_str);
            format!("  {} -> {}: {place}", pair[0], pair[1])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn read(file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// `engine` for `src/engine/...` and `src/engine.rs`; none for the crate roots.
fn top_level_module(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src_dir()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(module) => Some(module.to_string()),
        None => Some(first.to_string()),
    }
}

/// `src/serve/status.rs:8` for a byte offset into the stripped text (lines are kept).
fn place(file: &Path, code: &str, offset: usize) -> String {
    let line = code[..offset].matches('\n').count() + 1;
    let relative = file.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")));
    format!("{}:{line}", relative.unwrap_or(file).display())
}

/// The top-level module named by each `crate::` path, with its offset: `crate::a::x` names
/// `a`, `crate::{a::x, b}` names `a` and `b`.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for offset in word_offsets(code, "crate") {
        let rest = code[offset + "crate".len()..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group).into_iter().map(|m| (m, offset)));
        } else if let Some(module) = leading_ident(rest) {
            found.push((module, offset));
        }
    }
    found
}

/// The first identifier of each element of a `{a::x, b::{c, d}, e}` group (its text after
/// the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut element_start = true;
    for (at, c) in group.char_indices() {
        if depth == 0 && element_start && is_ident_char(c) {
            heads.extend(leading_ident(&group[at..]));
            element_start = false;
        }
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => element_start = true,
            _ => {}
        }
    }
    heads
}

fn leading_ident(text: &str) -> Option<String> {
    let end = text
        .char_indices()
        .find(|(_, c)| !is_ident_char(*c))
        .map_or(text.len(), |(at, _)| at);
    (end > 0).then(|| text[..end].to_string())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Offsets of `word` standing alone (not inside a longer identifier).
fn word_offsets(code: &str, word: &str) -> Vec<usize> {
    code.match_indices(word)
        .filter(|(at, _)| {
            let before = code[..*at].chars().next_back();
            let after = code[at + word.len()..].chars().next();
            !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
        })
        .map(|(at, _)| at)
        .collect()
}

/// The source with comments, strings and character literals blanked out (newlines kept, so
/// line numbers still match).
fn strip_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |out: &mut String, from: &[char]| {
        for c in from {
            out.push(if *c == '\n' { '\n' } else { ' ' });
        }
    };
    while i < chars.len() {
        let end = match chars[i] {
            '/' if chars.get(i + 1) == Some(&'/') => line_comment_end(&chars, i),
            '/' if chars.get(i + 1) == Some(&'*') => block_comment_end(&chars, i),
            '"' => string_end(&chars, i),
            'r' if starts_raw_string(&chars, i) => raw_string_end(&chars, i),
            '\'' => char_literal_end(&chars, i),
            _ => None,
        };
        match end {
            Some(end) => {
                blank(&mut out, &chars[i..end]);
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

fn line_comment_end(chars: &[char], from: usize) -> Option<usize> {
    Some(
        chars[from..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |n| from + n),
    )
}

/// Block comments nest.
fn block_comment_end(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = from;
    while i + 1 < chars.len() {
        match (chars[i], chars[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    Some(chars.len())
}

fn string_end(chars: &[char], from: usize) -> Option<usize> {
    let mut i = from + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    Some(chars.len())
}

/// `r"`, `r#"`, `br##"`, ... and not the `r` ending an identifier.
fn starts_raw_string(chars: &[char], at: usize) -> bool {
    let before = at.checked_sub(1).map(|b| chars[b]);
    let prefix_ok = match before {
        Some('b') => !at.checked_sub(2).is_some_and(|b| is_ident_char(chars[b])),
        Some(c) => !is_ident_char(c),
        None => true,
    };
    let hashes = chars[at + 1..].iter().take_while(|c| **c == '#').count();
    prefix_ok && chars.get(at + 1 + hashes) == Some(&'"')
}

fn raw_string_end(chars: &[char], from: usize) -> Option<usize> {
    let hashes = chars[from + 1..].iter().take_while(|c| **c == '#').count();
    let mut i = from + 2 + hashes;
    while i < chars.len() {
        if chars[i] == '"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(chars.len())
}

/// `'x'`, `'\n'`, `'\''`, `'\u{1F600}'`; a lifetime (`'a`) is code and gives `None`.
fn char_literal_end(chars: &[char], from: usize) -> Option<usize> {
    match chars.get(from + 1) {
        Some('\\') => {
            let close = chars[from + 3..].iter().position(|c| *c == '\'')?;
            Some(from + 3 + close + 1)
        }
        Some(_) if chars.get(from + 2) == Some(&'\'') => Some(from + 3),
        _ => None,
    }
}
