//! The `T` overlay's state and keys: the template table read from the data dir when the
//! overlay opens and again every few seconds while it stays open (never while closed).

use std::path::Path;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use super::app::{App, Overlay, PAGE_ROWS};
use super::msg::Effect;
use crate::webhook::template_table::{TemplateRecord, TemplateTable};

/// How old the table shown may grow while the overlay is open.
pub const TEMPLATES_REREAD_SECS: i64 = 5;

/// The template table as last read, worst first.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatesView {
    pub rows: Vec<TemplateRecord>,
    pub read_at: DateTime<Utc>,
    /// Why the file could not be read (it is then shown as empty).
    pub problem: Option<String>,
}

impl TemplatesView {
    /// Reads `<data_dir>/templates.json` (the loop does this, never `App::update`).
    pub fn read(data_dir: &Path, now: DateTime<Utc>) -> Self {
        let (table, problem) = TemplateTable::read(data_dir);
        Self {
            rows: table.worst_first(),
            read_at: now,
            problem,
        }
    }
}

impl App {
    /// Opens the overlay at its top and asks the loop for the table.
    pub(super) fn show_templates(&mut self) -> Vec<Effect> {
        self.overlay = Some(Overlay::Templates { scroll: 0 });
        vec![Effect::ReadTemplates(self.data_dir.clone())]
    }

    pub(super) fn on_templates_key(&mut self, key: KeyEvent, scroll: usize) -> Vec<Effect> {
        let last = self
            .templates
            .as_ref()
            .map_or(0, |view| view.rows.len().saturating_sub(1));
        let scroll = match key.code {
            KeyCode::Char('q') => return vec![Effect::Quit],
            KeyCode::Esc | KeyCode::Char('T') | KeyCode::Enter => return Vec::new(),
            KeyCode::Up => scroll.saturating_sub(1),
            KeyCode::Down => scroll + 1,
            KeyCode::PageUp => scroll.saturating_sub(PAGE_ROWS),
            KeyCode::PageDown => scroll + PAGE_ROWS,
            KeyCode::Home => 0,
            KeyCode::End => last,
            _ => scroll,
        };
        self.overlay = Some(Overlay::Templates {
            scroll: scroll.min(last),
        });
        Vec::new()
    }

    /// On a tick: the table again when the overlay is open and what it shows has aged.
    pub(super) fn reread_templates(&self) -> Vec<Effect> {
        if !matches!(self.overlay, Some(Overlay::Templates { .. })) {
            return Vec::new();
        }
        let stale = self.templates.as_ref().is_none_or(|view| {
            let age_secs = self.now.signed_duration_since(view.read_at).num_seconds();
            !(0..TEMPLATES_REREAD_SECS).contains(&age_secs)
        });
        if stale {
            vec![Effect::ReadTemplates(self.data_dir.clone())]
        } else {
            Vec::new()
        }
    }
}
