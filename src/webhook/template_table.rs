//! The message templates Meta told the relay about: latest status and quality per (WABA,
//! template id, language), kept in `<data dir>/templates.json` for `tokentop templates` and
//! the dashboard's `T` overlay, worst first.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::template_events::TemplateUpdate;
use crate::engine::fs::atomic_file::write_atomic;
use crate::engine::fs::private_fs::read_capped_no_follow;

pub const TEMPLATES_FILE: &str = "templates.json";
/// Templates kept at most; past it the ones changed longest ago are dropped first.
pub const MAX_TEMPLATES: usize = 10_000;
/// 10,000 templates with long names and rejection texts fit; a larger file is not ours.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// How much a template needs the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    Ok,
    /// Rejected, flagged, locked, over its limit, or quality yellow: a look, not an outage.
    Warning,
    /// Paused, disabled, or quality red: sends of it fail or soon will.
    Critical,
}

impl Attention {
    /// The word `check` uses for the same level.
    pub fn label(self) -> &'static str {
        match self {
            Attention::Ok => "OK",
            Attention::Warning => "WARNING",
            Attention::Critical => "CRITICAL",
        }
    }
}

/// One template as last heard of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub waba_id: String,
    pub template_id: u64,
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// When the status last changed (unix seconds).
    #[serde(default)]
    pub status_since: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub disable_date: Option<String>,
    #[serde(default)]
    pub quality: Option<String>,
    #[serde(default)]
    pub previous_quality: Option<String>,
    /// When the quality score last changed (unix seconds).
    #[serde(default)]
    pub quality_since: Option<i64>,
}

impl TemplateRecord {
    fn new(update: &TemplateUpdate) -> Self {
        Self {
            waba_id: update.waba_id.clone(),
            template_id: update.template_id,
            name: update.name.clone(),
            language: update.language.clone(),
            category: None,
            status: None,
            status_since: None,
            reason: None,
            detail: None,
            disable_date: None,
            quality: None,
            previous_quality: None,
            quality_since: None,
        }
    }

    /// Paused, disabled or red first; every other status and score is read as fine.
    pub fn attention(&self) -> Attention {
        let status = match self.status.as_deref() {
            Some("PAUSED" | "DISABLED") => Attention::Critical,
            Some("REJECTED" | "FLAGGED" | "LOCKED" | "LIMIT_EXCEEDED") => Attention::Warning,
            _ => Attention::Ok,
        };
        let quality = match self.quality.as_deref() {
            Some("RED") => Attention::Critical,
            Some("YELLOW") => Attention::Warning,
            _ => Attention::Ok,
        };
        status.max(quality)
    }

    /// Why, in words: Meta's reason, its explanation, and the date a disable takes effect.
    pub fn reason_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.reason.clone());
        parts.extend(self.detail.clone());
        if let Some(date) = &self.disable_date {
            let date = date
                .parse::<i64>()
                .map_or_else(|_| date.clone(), crate::format::format_unix);
            parts.push(format!("disabled from {date}"));
        }
        parts.join("; ")
    }

    /// The later of the last status change and the last quality change; `None` (sorted
    /// before any time) when neither is known.
    pub fn changed_at(&self) -> Option<i64> {
        self.status_since.max(self.quality_since)
    }

    /// Takes what `update` says, unless an update of the same kind already came from a later
    /// time (Meta's deliveries arrive out of order and are retried for days).
    fn apply(&mut self, update: &TemplateUpdate) {
        if !update.name.is_empty() {
            self.name.clone_from(&update.name);
        }
        if update.category.is_some() {
            self.category.clone_from(&update.category);
        }
        if let Some(event) = &update.event
            && self
                .status_since
                .is_none_or(|since| since <= update.at_unix)
        {
            if self.status.as_ref() != Some(event) {
                self.status = Some(event.clone());
                self.status_since = Some(update.at_unix);
            }
            self.reason.clone_from(&update.reason);
            self.detail.clone_from(&update.detail);
            self.disable_date.clone_from(&update.disable_date);
        }
        if let Some(quality) = &update.quality
            && self
                .quality_since
                .is_none_or(|since| since <= update.at_unix)
        {
            if self.quality.as_ref() != Some(quality) {
                self.quality = Some(quality.clone());
                self.quality_since = Some(update.at_unix);
            }
            self.previous_quality.clone_from(&update.previous_quality);
        }
    }
}

/// What `templates.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TemplateFile {
    templates: Vec<TemplateRecord>,
}

type Key = (String, u64, String);

/// The table in memory, with the file it is read from and written to.
#[derive(Debug)]
pub struct TemplateTable {
    path: PathBuf,
    templates: BTreeMap<Key, TemplateRecord>,
}

impl TemplateTable {
    /// Reads `<data_dir>/templates.json`: a missing file is an empty table; a bad one is an
    /// empty table and the problem, said in words.
    pub fn read(data_dir: &Path) -> (Self, Option<String>) {
        let path = data_dir.join(TEMPLATES_FILE);
        let (records, problem) = match read_capped_no_follow(&path, MAX_FILE_BYTES) {
            Ok(text) => match serde_json::from_str::<TemplateFile>(&text) {
                Ok(file) => (file.templates, None),
                Err(err) => (
                    Vec::new(),
                    Some(format!(
                        "{} is not a template table ({err}): read as empty",
                        path.display()
                    )),
                ),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(err) => (
                Vec::new(),
                Some(format!(
                    "cannot read {} ({err}): read as empty",
                    path.display()
                )),
            ),
        };
        let templates = records
            .into_iter()
            .map(|record| (key_of(&record), record))
            .collect();
        (Self { path, templates }, problem)
    }

    /// [`Self::read`], with a problem logged (the next template webhook rewrites the file).
    pub fn load(data_dir: &Path) -> Self {
        let (table, problem) = Self::read(data_dir);
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        table
    }

    /// Applies `updates` in memory; true when something changed.
    pub fn apply(&mut self, updates: &[TemplateUpdate]) -> bool {
        let mut changed = false;
        for update in updates {
            let key = (
                update.waba_id.clone(),
                update.template_id,
                update.language.clone(),
            );
            let record = self
                .templates
                .entry(key)
                .or_insert_with(|| TemplateRecord::new(update));
            let before = record.clone();
            record.apply(update);
            changed |= *record != before;
        }
        self.drop_oldest();
        changed
    }

    /// Keeps [`MAX_TEMPLATES`]: the ones changed longest ago go first, said in the log.
    fn drop_oldest(&mut self) {
        let excess = self.templates.len().saturating_sub(MAX_TEMPLATES);
        if excess == 0 {
            return;
        }
        let mut by_age: Vec<(Option<i64>, Key)> = self
            .templates
            .iter()
            .map(|(key, record)| (record.changed_at(), key.clone()))
            .collect();
        by_age.sort();
        for (_, key) in by_age.into_iter().take(excess) {
            self.templates.remove(&key);
        }
        tracing::warn!(
            "the template table holds at most {MAX_TEMPLATES} templates: dropped the {excess} changed longest ago"
        );
    }

    /// Rewrites the file crash-safe (0600).
    pub fn save(&self) -> std::io::Result<()> {
        let file = TemplateFile {
            templates: self.templates.values().cloned().collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &json)
    }

    /// Applies `updates` and saves the table when it changed; a failed write is logged, the
    /// table in memory stands.
    pub fn record(&mut self, updates: &[TemplateUpdate]) {
        if updates.is_empty() || !self.apply(updates) {
            return;
        }
        for update in updates {
            tracing::info!(
                "template {} ({}) of WABA {}: {}",
                update.name,
                update.language,
                update.waba_id,
                describe(update)
            );
        }
        if let Err(err) = self.save() {
            tracing::warn!("cannot write {}: {err}", self.path.display());
        }
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Every template, worst first, then the most recently changed, then by name.
    pub fn worst_first(&self) -> Vec<TemplateRecord> {
        let mut rows: Vec<TemplateRecord> = self.templates.values().cloned().collect();
        rows.sort_by_key(|r| {
            (
                Reverse(r.attention()),
                Reverse(r.changed_at()),
                r.name.clone(),
                r.language.clone(),
            )
        });
        rows
    }
}

fn key_of(record: &TemplateRecord) -> Key {
    (
        record.waba_id.clone(),
        record.template_id,
        record.language.clone(),
    )
}

fn describe(update: &TemplateUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(event) = &update.event {
        parts.push(format!("status {event}"));
    }
    if let Some(reason) = &update.reason {
        parts.push(format!("reason {reason}"));
    }
    if let Some(quality) = &update.quality {
        parts.push(format!("quality {quality}"));
    }
    parts.join(", ")
}

/// The `[[account]]` whose business-account-id is `waba_id`, else the WABA id itself.
pub fn account_of<'a>(waba_id: &'a str, accounts: &'a [(String, Option<String>)]) -> &'a str {
    accounts
        .iter()
        .find(|(_, waba)| waba.as_deref() == Some(waba_id))
        .map_or(waba_id, |(name, _)| name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: u64, at_unix: i64) -> TemplateUpdate {
        TemplateUpdate {
            waba_id: "waba".into(),
            template_id: id,
            name: format!("t{id}"),
            language: "en".into(),
            category: Some("UTILITY".into()),
            event: Some("APPROVED".into()),
            reason: None,
            quality: None,
            previous_quality: None,
            disable_date: None,
            detail: None,
            at_unix,
        }
    }

    fn status(id: u64, event: &str, at_unix: i64) -> TemplateUpdate {
        TemplateUpdate {
            event: Some(event.into()),
            ..update(id, at_unix)
        }
    }

    fn quality(id: u64, score: &str, at_unix: i64) -> TemplateUpdate {
        TemplateUpdate {
            event: None,
            category: None,
            name: String::new(),
            quality: Some(score.into()),
            ..update(id, at_unix)
        }
    }

    #[test]
    fn latest_status_and_quality_are_kept_with_when_each_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut table = TemplateTable::load(dir.path());
        assert!(table.apply(&[status(1, "APPROVED", 100), quality(1, "GREEN", 110)]));
        assert!(table.apply(&[status(1, "PAUSED", 200)]));
        // The same status again keeps its since; an older one (a retry) changes nothing.
        assert!(!table.apply(&[status(1, "PAUSED", 250)]));
        assert!(!table.apply(&[status(1, "APPROVED", 150)]));
        table.apply(&[quality(1, "RED", 300)]);
        table.save().unwrap();
        let (again, problem) = TemplateTable::read(dir.path());
        assert_eq!(problem, None);
        let rows = again.worst_first();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.name, "t1", "a quality update without a name keeps it");
        assert_eq!(row.category.as_deref(), Some("UTILITY"));
        assert_eq!(
            (row.status.as_deref(), row.status_since),
            (Some("PAUSED"), Some(200))
        );
        assert_eq!(
            (row.quality.as_deref(), row.quality_since),
            (Some("RED"), Some(300))
        );
        assert_eq!(row.attention(), Attention::Critical);
        assert_eq!(row.changed_at(), Some(300));
    }

    #[test]
    fn the_file_is_private_and_a_bad_one_reads_as_empty_with_the_problem_said() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut table = TemplateTable::load(dir.path());
        let body = include_str!("../../tests/fixtures/webhook_message_template_status_update.json");
        table.record(&super::super::template_events::template_updates(
            body.as_bytes(),
            0,
        ));
        let path = dir.path().join(TEMPLATES_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(TemplateTable::read(dir.path()).0.len(), 1);
        std::fs::write(&path, "{\"templates\": [1,").unwrap();
        let (table, problem) = TemplateTable::read(dir.path());
        assert!(table.is_empty());
        assert!(problem.unwrap().contains("not a template table"));
    }

    #[test]
    fn worst_come_first_then_the_latest_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut table = TemplateTable::load(dir.path());
        table.apply(&[
            status(1, "APPROVED", 500),
            status(2, "REJECTED", 100),
            status(3, "DISABLED", 50),
            status(4, "APPROVED", 10),
            quality(4, "RED", 60),
            status(5, "PAUSED", 70),
            status(6, "SOMETHING_NEW", 600),
        ]);
        let order: Vec<u64> = table.worst_first().iter().map(|r| r.template_id).collect();
        assert_eq!(order, vec![5, 4, 3, 2, 6, 1]);
    }

    #[test]
    fn the_table_is_bounded_by_dropping_the_oldest_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut table = TemplateTable::load(dir.path());
        let updates: Vec<TemplateUpdate> = (0..MAX_TEMPLATES as u64 + 5)
            .map(|id| status(id, "APPROVED", 1_000 + id as i64))
            .collect();
        table.apply(&updates);
        assert_eq!(table.len(), MAX_TEMPLATES);
        let ids: Vec<u64> = table.worst_first().iter().map(|r| r.template_id).collect();
        assert!(!ids.contains(&4) && ids.contains(&5));
    }

    #[test]
    fn accounts_are_named_by_their_waba_else_the_waba_id_shows() {
        let accounts = vec![
            ("shop".to_string(), Some("111".to_string())),
            ("nowaba".to_string(), None),
        ];
        assert_eq!(account_of("111", &accounts), "shop");
        assert_eq!(account_of("222", &accounts), "222");
    }
}
