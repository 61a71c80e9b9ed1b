//! The refresh history panel of the selected account: time, trigger, outcome, latency, and
//! the new expiry or the error code/subcode, newest first. Successful routine inspections are
//! left out so refreshes, sends and failures stay visible.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::format::{ahead, hms, latency};
use crate::graph::Expiry;
use crate::tui::{App, Focus};

/// True for the rows the panel shows.
pub fn shown(entry: &HistoryEntry) -> bool {
    entry.event != HistoryEvent::Inspect || entry.outcome != Outcome::Ok
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let title = super::focus_title("Refresh history", app.focus == Focus::History);
    let block = super::panel_block().title_top(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = app.selected_account() else {
        return;
    };
    let rows: Vec<&HistoryEntry> = view.history.iter().rev().filter(|e| shown(e)).collect();
    if rows.is_empty() {
        let text = "no refreshes yet · r refreshes now";
        frame.render_widget(Paragraph::new(text).style(palette.dim()), inner);
        return;
    }
    let height = usize::from(inner.height);
    let skip = view.history_scroll.min(rows.len().saturating_sub(height));
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(skip)
        .take(height)
        .map(|entry| row(entry, palette))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn row(entry: &HistoryEntry, palette: &Palette) -> Line<'static> {
    let what = match entry.event {
        HistoryEvent::Refresh => entry.trigger.clone(),
        HistoryEvent::Inspect => "check".to_string(),
        HistoryEvent::Send => "test send".to_string(),
        HistoryEvent::Publish => "publish".to_string(),
        HistoryEvent::Alert => "alert".to_string(),
    };
    let (outcome, urgency) = match entry.outcome {
        Outcome::Ok => ("ok", Urgency::Fine),
        Outcome::Failed => ("FAIL", Urgency::Critical),
        Outcome::Skipped => ("skip", Urgency::Neutral),
    };
    let detail = match (&entry.error, entry.new_expires_at) {
        (Some(error), _) => match (error.code, error.subcode) {
            (Some(code), Some(sub)) => format!("{code}/{sub} {}", error.class),
            (Some(code), None) => format!("{code} {}", error.class),
            _ => error.class.clone(),
        },
        (None, Some(Expiry::Never)) => "never".to_string(),
        (None, Some(Expiry::At(at))) => ahead(at, entry.time.timestamp()),
        (None, Some(Expiry::Unknown) | None) => entry.detail.clone().unwrap_or_default(),
    };
    Line::from(vec![
        Span::styled(hms(entry.time), palette.dim()),
        Span::raw(" "),
        Span::raw(fit(&what, 10)),
        Span::raw(" "),
        Span::styled(fit(outcome, 4), palette.urgency(urgency)),
        Span::raw(format!(
            " {:>5} ",
            entry.latency_ms.map(latency).unwrap_or_default()
        )),
        Span::raw(detail),
    ])
}
