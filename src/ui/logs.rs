//! The log panel: per-level counts, pause and filter state, and the recent lines coloured by
//! level (the level is written as a word too), newest at the bottom. Its bottom border holds
//! the footer with the keys.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::account_screen::{Body, Panel};
use super::theme::Palette;
use crate::config::PatternLevel;
use crate::format::{hms, level_word};
use crate::tui::{App, Focus};

/// The panel in `area`, the keys on its bottom border.
pub fn panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    Panel {
        area,
        top: vec![
            Line::from(left_title(app)),
            counts_title(app, palette).right_aligned(),
        ],
        bottom: Some(super::footer::line(app, area.width, palette)),
        body: body(area, app, palette),
    }
}

fn body(area: Rect, app: &App, palette: &Palette) -> Body {
    let inner = super::panel_block().inner(area);
    let height = usize::from(inner.height);
    if app.logs.is_empty() {
        let text = if app.log_sources.is_empty() {
            "no log lines yet · add a [[log]] source to the config to tail your app's log"
                .to_string()
        } else {
            format!("waiting for lines from {}", app.log_sources.join(", "))
        };
        return Body::note(text, palette.dim());
    }
    let visible: Vec<_> = app.logs.visible_newest_first().collect();
    let skip = app.log_scroll.min(visible.len().saturating_sub(height));
    let lines: Vec<Line<'static>> = visible
        .into_iter()
        .skip(skip)
        .take(height)
        .rev()
        .map(|line| {
            let style = palette.level(line.level);
            let text_style = match line.level {
                Some(PatternLevel::Ok) | None => ratatui::style::Style::new(),
                Some(_) => style,
            };
            Line::from(vec![
                Span::styled(hms(line.received_at), palette.dim()),
                Span::raw(" "),
                Span::styled(format!("{:<5}", level_word(line.level)), style),
                Span::raw(" "),
                Span::styled(line.text.to_string(), text_style),
            ])
        })
        .collect();
    Body::lines(lines)
}

/// `Logs: backend · ‖ paused (+12) · filter /timeout/ · ↑ 30`
fn left_title(app: &App) -> String {
    let mut sources: Vec<&str> = Vec::new();
    for line in app.logs.visible_newest_first().take(200) {
        if !sources.contains(&&*line.source) && sources.len() < 3 {
            sources.push(&line.source);
        }
    }
    let mut title = if sources.is_empty() {
        "Logs".to_string()
    } else {
        format!("Logs: {}", sources.join(", "))
    };
    if app.logs.is_paused() {
        title.push_str(&format!(" · ‖ paused (+{})", app.logs.paused_len()));
    }
    if let Some(filter) = app.logs.filter() {
        title.push_str(&format!(" · filter /{}/", filter.as_str()));
    }
    if app.log_scroll > 0 {
        title.push_str(&format!(" · ↑{}", app.log_scroll));
    }
    super::focus_title(&title, app.focus == Focus::Logs)
}

/// Matches per level over the last hour from the engine, else over the lines held.
fn counts_title(app: &App, palette: &Palette) -> Line<'static> {
    let (window, ok, warn, error) = match &app.telemetry {
        Some(t) => ("1h", t.levels_1h.ok, t.levels_1h.warn, t.levels_1h.error),
        None => {
            let held = app.logs.counts();
            ("held", held.ok, held.warn, held.error)
        }
    };
    Line::from(vec![
        Span::raw(format!(" {window}: ")),
        Span::styled(format!("ok {ok}"), palette.level(Some(PatternLevel::Ok))),
        Span::raw(" · "),
        Span::styled(
            format!("warn {warn}"),
            palette.level(Some(PatternLevel::Warn)),
        ),
        Span::raw(" · "),
        Span::styled(
            format!("error {error}"),
            palette.level(Some(PatternLevel::Error)),
        ),
        Span::raw(" "),
    ])
}
