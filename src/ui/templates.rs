//! The `T` overlay: the message templates the webhook relay heard of, worst first, paused,
//! disabled and red ones marked `✗` (rejected, flagged and yellow `!`) as well as coloured.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::format::within;
use crate::tui::{App, TemplatesView};
use crate::webhook::template_table::{Attention, TemplateRecord, account_of};

/// Widths of the fixed columns; the reason takes what is left.
const COLUMNS: [(&str, usize); 8] = [
    ("", 2),
    ("ACCOUNT", 13),
    ("TEMPLATE", 25),
    ("LANG", 6),
    ("CATEGORY", 15),
    ("STATUS", 11),
    ("QUALITY", 8),
    ("SINCE", 9),
];
/// Lines of the box that are not template rows: the summary, a gap, the column names, the
/// key hint.
const CHROME_LINES: usize = 4;

/// Draws the overlay over `area`, nearly all of it, the rows from `scroll` on.
pub fn render(frame: &mut Frame, area: Rect, app: &App, scroll: usize, palette: &Palette) {
    let width = area.width.saturating_sub(2);
    let most_rows = area.height.saturating_sub(2);
    // Borders and the horizontal padding.
    let inner_width = usize::from(width.saturating_sub(4));
    let room = usize::from(most_rows.saturating_sub(2)).saturating_sub(CHROME_LINES);
    let lines = match &app.templates {
        None => vec![Line::styled("reading the template table…", palette.dim())],
        Some(view) => lines(app, view, scroll, room, inner_width, palette),
    };
    // As tall as its lines, centred: a short table leaves the dashboard visible around it.
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(most_rows);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let block = ratatui::widgets::Block::bordered()
        .title(" Message templates ")
        .border_style(palette.accent())
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn lines(
    app: &App,
    view: &TemplatesView,
    scroll: usize,
    room: usize,
    width: usize,
    palette: &Palette,
) -> Vec<Line<'static>> {
    let mut lines = vec![summary(view, palette), Line::from("")];
    if view.rows.is_empty() {
        lines.push(Line::styled(
            "No templates yet: the webhook relay ([webhook] listen) records them as Meta reports them.",
            palette.dim(),
        ));
    } else {
        let header: String = COLUMNS.iter().map(|(name, w)| fit(name, *w)).collect();
        lines.push(Line::styled(
            fit(&(header + "REASON"), width),
            palette.label(),
        ));
        let shown = view.rows.iter().skip(scroll).take(room.max(1));
        for record in shown {
            lines.push(row(app, record, &app.account_wabas, width, palette));
        }
    }
    lines.push(hint(view.rows.len(), scroll, room, palette));
    lines
}

/// `12 templates · 2 critical · 1 warning`, and a file that could not be read.
fn summary(view: &TemplatesView, palette: &Palette) -> Line<'static> {
    let count = |level| view.rows.iter().filter(|r| r.attention() == level).count();
    let (critical, warning) = (count(Attention::Critical), count(Attention::Warning));
    let plural = if view.rows.len() == 1 { "" } else { "s" };
    let mut spans = vec![Span::raw(format!("{} template{plural}", view.rows.len()))];
    if critical > 0 {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("✗ {critical} paused, disabled or red"),
            palette.urgency(Urgency::Critical),
        ));
    }
    if warning > 0 {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("! {warning} rejected, flagged or yellow"),
            palette.urgency(Urgency::Warn),
        ));
    }
    if let Some(problem) = &view.problem {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            problem.clone(),
            palette.urgency(Urgency::Warn),
        ));
    }
    Line::from(spans)
}

fn row(
    app: &App,
    record: &TemplateRecord,
    accounts: &[(String, Option<String>)],
    width: usize,
    palette: &Palette,
) -> Line<'static> {
    let (mark, urgency) = match record.attention() {
        Attention::Critical => ("✗", Urgency::Critical),
        Attention::Warning => ("!", Urgency::Warn),
        Attention::Ok => ("✓", Urgency::Fine),
    };
    let dash = || "-".to_string();
    let since = match record.changed_at() {
        None => dash(),
        Some(at) => format!("{} ago", within(app.now.timestamp().saturating_sub(at))),
    };
    let cells = [
        mark.to_string(),
        account_of(&record.waba_id, accounts).to_string(),
        record.name.clone(),
        record.language.clone(),
        record.category.clone().unwrap_or_else(dash),
        record.status.clone().unwrap_or_else(dash),
        record.quality.clone().unwrap_or_else(dash),
        since,
    ];
    // A cell is cut one short of its column so that neighbours never touch.
    let mut text: String = cells
        .iter()
        .zip(COLUMNS)
        .map(|(cell, (_, w))| fit(&fit(cell, w.saturating_sub(1)), w))
        .collect();
    text.push_str(&record.reason_text());
    let style = match urgency {
        Urgency::Fine => ratatui::style::Style::new(),
        other => palette.urgency(other),
    };
    Line::styled(fit(&text, width), style)
}

/// The keys, and how many rows lie beyond the ones shown.
fn hint(total: usize, scroll: usize, room: usize, palette: &Palette) -> Line<'static> {
    let below = total.saturating_sub(scroll + room.max(1));
    let mut text = String::new();
    if scroll > 0 {
        text.push_str(&format!("↑ {scroll} more · "));
    }
    if below > 0 {
        text.push_str(&format!("↓ {below} more · "));
    }
    if total > room {
        text.push_str("↑ ↓ PgUp PgDn Home End scroll · ");
    }
    text.push_str("T or Esc closes");
    Line::styled(text, palette.dim())
}
