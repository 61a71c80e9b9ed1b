//! Walks the spanned TOML document against the schema, collecting every problem with its line.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::EnvSnapshot;
use super::issues::{ConfigIssue, Invalid};

/// Longest value shown in an issue before it is cut with "…".
const MAX_SHOWN_CHARS: usize = 60;

pub(crate) type Item<'i> = Spanned<DeValue<'i>>;

/// A plain-string secret found in the file: its key and line, for the permission check.
#[derive(Debug, Clone)]
pub(crate) struct PlainSecret {
    pub key: String,
    pub line: usize,
}

/// State of one pass over one config file.
pub(crate) struct Ctx<'a> {
    text: &'a str,
    /// Byte offset where each line starts, so a line number is a binary search: counting
    /// newlines for every issue made loading quadratic in the number of accounts.
    line_starts: Vec<usize>,
    file: PathBuf,
    /// Relative paths in the file are relative to this directory.
    base_dir: PathBuf,
    pub env: &'a EnvSnapshot,
    pub issues: Vec<ConfigIssue>,
    pub plain_secrets: Vec<PlainSecret>,
    /// `[accounts] dir`: how many of its files to read (all when `None`).
    pub read_at_most: Option<usize>,
}

/// The full dotted name of `key` inside the table at `path`.
/// The strings of an array item, as written; `None` when it is not an array or holds
/// anything but strings.
pub(crate) fn string_array<'i>(item: &'i Item<'_>) -> Option<Vec<&'i str>> {
    match item.get_ref() {
        DeValue::Array(array) => array.iter().map(|e| e.get_ref().as_str()).collect(),
        _ => None,
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(text: &'a str, file: &Path, env: &'a EnvSnapshot) -> Self {
        let base_dir = file.parent().unwrap_or(Path::new(""));
        Self::with_base_dir(text, file, base_dir, env)
    }

    /// A text whose relative paths resolve against `base_dir` rather than its own directory
    /// (a Redis entry has none).
    pub(crate) fn with_base_dir(
        text: &'a str,
        file: &Path,
        base_dir: &Path,
        env: &'a EnvSnapshot,
    ) -> Self {
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|at| at + 1))
            .collect();
        Self {
            text,
            line_starts,
            file: file.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
            env,
            issues: Vec::new(),
            plain_secrets: Vec::new(),
            read_at_most: None,
        }
    }

    /// The directory relative paths resolve against.
    pub(crate) fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        // The number of line starts at or before the offset is the 1-based line.
        self.line_starts
            .partition_point(|start| *start <= span.start)
    }

    /// A path from the file, made relative to the config file's directory.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        let joined = self.base_dir.join(path);
        std::path::absolute(&joined).unwrap_or(joined)
    }

    pub(crate) fn issue(
        &mut self,
        span: &Range<usize>,
        key: String,
        value: Option<String>,
        invalid: Invalid,
    ) {
        let line = self.line(span);
        // A token pasted under the wrong key must not be echoed back in full.
        let masked = |text: &str| crate::mask::mask_meta_tokens(text).into_owned();
        self.issues.push(ConfigIssue {
            file: Some(self.file.clone()),
            line: Some(line),
            key,
            value: value.as_deref().map(masked),
            problem: masked(&invalid.problem),
            allowed: invalid.allowed,
        });
    }

    /// The value as written in the file, on one line and cut to a readable length.
    pub(crate) fn shown(&self, item: &Item<'_>) -> String {
        let raw = self.text.get(item.span()).unwrap_or("");
        let first_line = raw.lines().next().unwrap_or("");
        let mut shown: String = first_line.chars().take(MAX_SHOWN_CHARS).collect();
        if shown.len() < raw.len() {
            shown.push('…');
        }
        shown
    }

    /// Reports every key of `table` that is not in `allowed`.
    pub(crate) fn check_keys(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        header: &str,
        allowed: &[&str],
    ) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let invalid = Invalid::new(format!("unknown key in {header}"), allowed.join(", "));
                self.issue(&key.span(), join(path, key.get_ref()), None, invalid);
            }
        }
    }

    /// Reports that `key` is required but absent from the table that starts at `table_span`.
    pub(crate) fn missing(
        &mut self,
        table_span: &Range<usize>,
        path: &str,
        key: &str,
        allowed: &str,
    ) {
        let invalid = Invalid::new("missing (required)", allowed);
        self.issue(table_span, join(path, key), None, invalid);
    }

    pub(crate) fn wrong_type(&mut self, item: &Item<'_>, key: String, expected: &str) {
        let found = item.get_ref().type_str();
        let invalid = Invalid::new(format!("expected {expected}, found {found}"), expected);
        let value = Some(self.shown(item));
        self.issue(&item.span(), key, value, invalid);
    }

    /// A string value, or `None` (reported) when it has another type.
    pub(crate) fn string(&mut self, table: &DeTable<'_>, path: &str, key: &str) -> Option<String> {
        let item = table.get(key)?;
        match item.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.wrong_type(item, join(path, key), "a string");
                None
            }
        }
    }

    /// A string checked by `validate`; problems are reported with the value as written.
    pub(crate) fn checked<T>(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        key: &str,
        validate: impl Fn(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let item = table.get(key)?;
        let result = match item.get_ref() {
            DeValue::String(text) => validate(text),
            other => {
                // Every validator refuses "", and its own description of what it accepts is a
                // better "allowed" than the bare word "string".
                let allowed = validate("")
                    .err()
                    .map_or_else(|| "a string".to_string(), |i| i.allowed);
                let problem = format!("expected a string, found {}", other.type_str());
                Err(Invalid::new(problem, allowed))
            }
        };
        match result {
            Ok(value) => Some(value),
            Err(invalid) => {
                let shown = Some(self.shown(item));
                self.issue(&item.span(), join(path, key), shown, invalid);
                None
            }
        }
    }

    /// A numeric id written either as a string or as a TOML integer.
    pub(crate) fn id(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        key: &str,
        validate: impl Fn(&str) -> Result<String, Invalid>,
    ) -> Option<String> {
        let item = table.get(key)?;
        let text = match item.get_ref() {
            DeValue::Integer(integer) if integer.radix() == 10 => integer.as_str().to_string(),
            DeValue::String(text) => text.to_string(),
            _ => {
                self.wrong_type(item, join(path, key), "a string of digits");
                return None;
            }
        };
        match validate(&text) {
            Ok(id) => Some(id),
            Err(invalid) => {
                let shown = Some(self.shown(item));
                self.issue(&item.span(), join(path, key), shown, invalid);
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, table: &DeTable<'_>, path: &str, key: &str) -> Option<bool> {
        let item = table.get(key)?;
        match item.get_ref() {
            DeValue::Boolean(value) => Some(*value),
            _ => {
                self.wrong_type(item, join(path, key), "true or false");
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let allowed = names.join(", ");
        self.checked(table, path, key, |text| {
            options
                .iter()
                .find(|(name, _)| *name == text)
                .map(|(_, value)| *value)
                .ok_or_else(|| Invalid::new("not one of the allowed values", allowed.clone()))
        })
    }

    /// A non-empty array of strings whose first element (the program) is not empty.
    pub(crate) fn argv(
        &mut self,
        table: &DeTable<'_>,
        path: &str,
        key: &str,
    ) -> Option<Vec<String>> {
        const EXPECTED: &str =
            "a non-empty array of strings, program first, e.g. [\"/usr/bin/env\", \"arg\"]";
        let item = table.get(key)?;
        let strings: Option<Vec<String>> =
            string_array(item).map(|strings| strings.into_iter().map(str::to_string).collect());
        match strings {
            Some(argv)
                if argv
                    .first()
                    .is_some_and(|program| !program.trim().is_empty()) =>
            {
                Some(argv)
            }
            _ => {
                let value = Some(self.shown(item));
                self.issue(
                    &item.span(),
                    join(path, key),
                    value,
                    Invalid::new("not a command", EXPECTED),
                );
                None
            }
        }
    }

    /// A sub-table such as `[account.test-message]`.
    pub(crate) fn table<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        path: &str,
        key: &str,
    ) -> Option<(&'t DeTable<'i>, Range<usize>)> {
        let item = table.get(key)?;
        match item.get_ref() {
            DeValue::Table(sub) => Some((sub, item.span())),
            _ => {
                self.wrong_type(
                    item,
                    join(path, key),
                    &format!("a table [{}]", join(path, key)),
                );
                None
            }
        }
    }

    /// The tables of a `[[key]]` array; anything else is reported.
    pub(crate) fn array_of_tables<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
    ) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let expected = format!("[[{key}]] tables");
        let Some(item) = table.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(array) = item.get_ref() else {
            self.wrong_type(item, key.to_string(), &expected);
            return Vec::new();
        };
        let mut tables = Vec::new();
        for element in array.iter() {
            match element.get_ref() {
                DeValue::Table(sub) => tables.push((sub, element.span())),
                _ => self.wrong_type(element, key.to_string(), &expected),
            }
        }
        tables
    }
}
