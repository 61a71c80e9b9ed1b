//! The refresh history panel of the selected account: the refresh success rate over 24 h, 7 d
//! and 30 d on its first line, then time, trigger, outcome, latency, and the new expiry or the
//! error code/subcode, newest first. Successful routine inspections are left out so refreshes,
//! sends and failures stay visible.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::account_screen::{Body, Panel};
use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::engine::history::refresh_stats::RefreshRates;
use crate::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use crate::format::{ahead, hms, latency};
use crate::graph::Expiry;
use crate::tui::{App, Focus};

/// True for the rows the panel shows.
pub fn shown(entry: &HistoryEntry) -> bool {
    entry.event() != HistoryEvent::Inspect || entry.outcome != Outcome::Ok
}

/// The panel in `area`.
pub fn panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    let title = super::focus_title("Refresh history", app.focus == Focus::History);
    Panel::titled(area, title, body(area, app, palette))
}

fn body(area: Rect, app: &App, palette: &Palette) -> Body {
    let inner = super::panel_block().inner(area);
    let Some(view) = app.selected_account() else {
        return Body::Empty;
    };
    let rows: Vec<&HistoryEntry> = view.history.iter().rev().filter(|e| shown(e)).collect();
    if rows.is_empty() {
        return Body::note("no refreshes yet · r refreshes now", palette.dim());
    }
    let mut lines: Vec<Line> = Vec::new();
    if let Some((_, rates)) = &view.refresh_rates {
        lines.push(rate_line(rates, usize::from(inner.width), palette));
    }
    let height = usize::from(inner.height).saturating_sub(lines.len());
    let skip = view.history_scroll.min(rows.len().saturating_sub(height));
    lines.extend(
        rows.into_iter()
            .skip(skip)
            .take(height)
            .map(|entry| row(entry, palette)),
    );
    Body::lines(lines)
}

/// `refresh ok 24h 12/12 · 7d 83/84 (1 transient) · 30d 300/301 (1 transient)`, shortened to
/// `width`: the failure classes go first (but those of the longest window), then the rest of
/// them, then the word `refresh`, then `no refreshes` becomes `–`. Warning-coloured while a
/// refresh of the last 24 h failed.
fn rate_line(rates: &RefreshRates, width: usize, palette: &Palette) -> Line<'static> {
    let day_failed = rates
        .windows
        .first()
        .is_some_and(|w| !w.failures.is_empty());
    let style = if day_failed {
        palette.urgency(Urgency::Warn)
    } else {
        palette.dim()
    };
    let text = match rates.windows.last() {
        Some(longest) if longest.attempted == 0 => format!("no refreshes in {}", longest.window),
        _ => [
            format!("refresh ok {}", rates.describe(true)),
            format!("refresh ok {}", rates.describe_longest_failures()),
            format!("refresh ok {}", rates.describe(false)),
            format!("ok {}", rates.describe(false)),
            format!("ok {}", rates.describe(false).replace("no refreshes", "–")),
        ]
        .into_iter()
        .find(|text| text.chars().count() <= width)
        .unwrap_or_else(|| format!("ok {}", rates.describe(false).replace("no refreshes", "–"))),
    };
    Line::styled(fit(&text, width), style)
}

fn row(entry: &HistoryEntry, palette: &Palette) -> Line<'static> {
    let what = match entry.event() {
        HistoryEvent::Refresh => entry.cause.word().to_string(),
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
