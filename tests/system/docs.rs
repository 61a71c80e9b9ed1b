//! The documentation cannot rot silently: every relative link in README.md and docs/*.md
//! resolves to a file (and a `#anchor` to a heading, by GitHub's slug rule),
//! docs/configuration.md documents every key the config reader knows, and the README stays a
//! short page for users. Self-contained: no `mod support`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The README is for a user with five minutes; the reference lives in docs/.
const README_MAX_LINES: usize = 250;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, as paths relative to the repository.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("a docs/ directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(repo()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    docs.insert(0, PathBuf::from("README.md"));
    docs
}

fn read(relative: &Path) -> String {
    std::fs::read_to_string(repo().join(relative))
        .unwrap_or_else(|err| panic!("{}: {err}", relative.display()))
}

/// The lines outside fenced code blocks, with their 1-based line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The line with the contents of its inline code spans blanked out, so that text such as
/// `` `{"data":[true]}` `` is never read as a link while `` [`x`](y) `` still is.
fn without_code_spans(line: &str) -> String {
    let mut in_code = false;
    line.chars()
        .map(|c| {
            if c == '`' {
                in_code = !in_code;
                c
            } else if in_code {
                'x'
            } else {
                c
            }
        })
        .collect()
}

/// Targets of the inline links and images (`[text](target)`) of a document, with their lines.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            targets.push((number, target.to_string()));
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and `_` dropped,
/// spaces turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// (level, text) of every heading outside code blocks.
fn headings(text: &str) -> Vec<(usize, String)> {
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let level = line.chars().take_while(|c| *c == '#').count();
            let rest = &line[level..];
            ((1..=6).contains(&level) && rest.starts_with(' '))
                .then(|| (level, rest.trim().to_string()))
        })
        .collect()
}

/// Every anchor a document has, with GitHub's `-1`, `-2` suffixes for repeated headings.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = BTreeSet::new();
    for (_, heading) in headings(text) {
        let base = slug(&heading);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// What is wrong with the relative links of one document (`doc` relative to the repository),
/// one message per broken link naming the file, the line, the link and the problem.
fn broken_links(doc: &Path, text: &str) -> Vec<String> {
    let dir = doc.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (line, target) in link_targets(text) {
        let problem = link_problem(doc, dir, text, &target);
        if let Some(problem) = problem {
            problems.push(format!(
                "{}:{line}: link `{target}`: {problem}",
                doc.display()
            ));
        }
    }
    problems
}

fn link_problem(doc: &Path, dir: &Path, text: &str, target: &str) -> Option<String> {
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
    {
        return None;
    }
    if target.is_empty() {
        return Some("empty target".into());
    }
    if target.starts_with('/') {
        return Some("absolute path; write it relative to the document".into());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let target_doc = if path.is_empty() {
        doc.to_path_buf()
    } else {
        let resolved = normalize(&dir.join(path));
        if !repo().join(&resolved).exists() {
            return Some(format!("{} does not exist", resolved.display()));
        }
        resolved
    };
    let anchor = anchor?;
    if target_doc.extension().is_none_or(|ext| ext != "md") {
        return Some(format!(
            "an anchor on {}, which is not a Markdown file",
            target_doc.display()
        ));
    }
    // A link to a heading of the same document is checked against the text given, so that
    // the checker's own test can use a document that is not on disk.
    let target_text = if path.is_empty() {
        text.to_string()
    } else {
        read(&target_doc)
    };
    let known = anchors(&target_text);
    (!known.contains(anchor)).then(|| {
        format!(
            "no heading with the anchor `#{anchor}` in {} (its anchors: {})",
            target_doc.display(),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// `docs/../README.md` as `README.md`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other.as_os_str()),
        }
    }
    parts.iter().collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        checked += link_targets(&text).len();
        problems.extend(broken_links(&doc, &text));
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser broken?"
    );
    assert!(
        problems.is_empty(),
        "{} broken link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn broken_links_are_reported_with_file_line_and_reason() {
    let doc = Path::new("docs/example.md");
    let text = "# Example\n\n## A `code` heading, with punctuation!\n\n\
        [ok](configuration.md#graph) [ok](#a-code-heading-with-punctuation) \
        [ok](../README.md) [ok](https://example.com/x) `[not a link](nowhere.md)`\n\
        ```\n[in a code block](nowhere.md)\n```\n\
        [missing file](nowhere.md)\n\
        [missing anchor](configuration.md#no-such-key)\n\
        [missing local anchor](#no-such-heading)\n\
        [anchor on a directory](../deploy/#x)\n";
    let problems = broken_links(doc, text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("docs/example.md:9: link `nowhere.md`: docs/nowhere.md does not exist"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("`#no-such-key` in docs/configuration.md"),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains("`#no-such-heading` in docs/example.md"),
        "{problems:#?}"
    );
    assert!(problems[3].contains("not a Markdown file"), "{problems:#?}");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("`tokentop check --json`"), "tokentop-check---json");
    assert_eq!(
        slug("Metrics, probes and `/status` for on-call"),
        "metrics-probes-and-status-for-on-call"
    );
    assert_eq!(slug("`[account.test-message]`"), "accounttest-message");
    assert_eq!(slug("Property tests (fuzzing)"), "property-tests-fuzzing");
    let repeated = anchors("# A\n## Notes\n```\n# Not a heading\n```\n## Notes\n");
    assert_eq!(
        repeated.into_iter().collect::<Vec<_>>(),
        ["a", "notes", "notes-1"]
    );
}

/// The keys documented in each `## `[table]`` / `## `[[table]]`` section of
/// docs/configuration.md: the first cell of each table row, `| `key` | ...`.
fn documented_keys(text: &str) -> HashMap<String, BTreeSet<String>> {
    let mut sections: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut current: Option<String> = None;
    for (_, line) in prose_lines(text) {
        if line.starts_with('#') {
            let title = line.trim_start_matches('#').trim();
            current = title
                .strip_prefix('`')
                .and_then(|t| t.strip_suffix('`'))
                .map(|t| t.trim_matches(['[', ']']).to_string())
                .filter(|_| title.starts_with("`["));
            if let Some(table) = &current {
                sections.entry(table.clone()).or_default();
            }
            continue;
        }
        let (Some(table), Some(row)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((key, _)) = row.split_once("` |") {
            sections.get_mut(table).unwrap().insert(key.to_string());
        }
    }
    sections
}

#[test]
fn configuration_md_documents_every_config_key() {
    let path = Path::new("docs/configuration.md");
    let sections = documented_keys(&read(path));
    let known = tokentop::config::known_keys();
    let missing: Vec<String> = known
        .iter()
        .filter(|(table, key)| !sections.get(*table).is_some_and(|keys| keys.contains(*key)))
        .map(|(table, key)| match sections.get(*table) {
            None => format!("{table}.{key} (no section headed `[{table}]` or `[[{table}]]`)"),
            Some(_) => format!("{table}.{key} (no row `| `{key}` |` in the `[{table}]` section)"),
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} does not document {} key(s) the config reader knows (tokentop::config::known_keys):\n{}",
        path.display(),
        missing.len(),
        missing.join("\n")
    );
    let unknown: Vec<String> = sections
        .iter()
        .flat_map(|(table, keys)| keys.iter().map(move |key| (table, key)))
        .filter(|(table, key)| !known.iter().any(|(t, k)| t == table && k == key))
        .map(|(table, key)| format!("{table}.{key}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "{} documents key(s) the config reader does not know: {unknown:?}",
        path.display()
    );
}

#[test]
fn the_readme_stays_short() {
    let lines = read(Path::new("README.md")).lines().count();
    assert!(
        lines < README_MAX_LINES,
        "README.md has {lines} lines; keep it under {README_MAX_LINES} and move reference text into docs/"
    );
}

/// The rows of docs/ARCHITECTURE.md: the directory of each `### \`src/...\`` table (and the
/// `## \`src/\`` one) with the names in its first column.
fn architecture_rows(text: &str) -> HashMap<String, BTreeSet<String>> {
    let mut rows: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut dir: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line
            .strip_prefix("## ")
            .or_else(|| line.strip_prefix("### "))
        {
            dir = heading
                .trim()
                .strip_prefix("`src/")
                .and_then(|rest| rest.strip_suffix('`'))
                .map(|rest| format!("src/{rest}"));
            continue;
        }
        let (Some(dir), Some(cells)) = (&dir, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((name, _)) = cells.split_once('`') {
            rows.entry(dir.clone())
                .or_default()
                .insert(name.to_string());
        }
    }
    rows
}

/// Every directory under src/ with the `.rs` files and subdirectories it holds.
fn source_tree() -> HashMap<String, BTreeSet<String>> {
    let mut tree = HashMap::new();
    let mut pending = vec![repo().join("src")];
    while let Some(dir) = pending.pop() {
        let relative = dir.strip_prefix(repo()).unwrap().display().to_string() + "/";
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                names.insert(format!("{name}/"));
                pending.push(path);
            } else if name.ends_with(".rs") {
                names.insert(name);
            }
        }
        tree.insert(relative, names);
    }
    tree
}

#[test]
fn the_codebase_map_names_every_module_and_nothing_that_is_gone() {
    let map = architecture_rows(&read(Path::new("docs/ARCHITECTURE.md")));
    let mut problems = Vec::new();
    for (dir, files) in source_tree() {
        // lib.rs and main.rs are the crate roots the map itself describes.
        let wanted: BTreeSet<_> = files
            .into_iter()
            .filter(|f| !(dir == "src/" && (f == "lib.rs" || f == "main.rs")))
            .collect();
        let Some(listed) = map.get(&dir) else {
            problems.push(format!("{dir}: no table (`### \\`{dir}\\``)"));
            continue;
        };
        for missing in wanted.difference(listed) {
            problems.push(format!("{dir}{missing}: not in the table of {dir}"));
        }
        for gone in listed.difference(&wanted) {
            problems.push(format!("{dir}{gone}: listed, but there is no such file"));
        }
    }
    problems.sort();
    assert!(
        problems.is_empty(),
        "docs/ARCHITECTURE.md is out of date:\n{}",
        problems.join("\n")
    );
}
