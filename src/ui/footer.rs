//! The footer on the bottom border: the keys, shortened to fit the width.

use ratatui::text::{Line, Span};

use super::theme::Palette;
use crate::tui::App;

const KEYS: [(&str, &str); 10] = [
    ("r", "refresh"),
    ("t", "test message"),
    ("tab", "account"),
    ("f", "focus"),
    ("↑↓", "scroll"),
    ("/", "filter"),
    ("p", "pause"),
    ("c", "chart"),
    ("?", "help"),
    ("q", "quit"),
];

/// The keys of the fleet view, before `? help` and `q quit`.
const FLEET_KEYS: [(&str, &str); 6] = [
    ("↑↓", "select"),
    ("enter", "open"),
    ("/", "filter"),
    ("s", "sort"),
    ("r", "refresh"),
    ("F", "account view"),
];

/// The keys of the account view that fit in `width`; `? help` and `q quit` always stay.
pub fn line(app: &App, width: u16, palette: &Palette) -> Line<'static> {
    let refreshing = app
        .selected_account()
        .is_some_and(|view| view.refresh_pending.is_some());
    let mut keys: Vec<(&str, String)> = KEYS.iter().map(|(k, d)| (*k, d.to_string())).collect();
    if refreshing {
        keys[0].1 = "refreshing…".to_string();
    }
    if app.fleet_offered() {
        // Before `? help`: the way back to the table of all accounts.
        keys.insert(keys.len() - 2, ("F", "fleet".to_string()));
    }
    if app.cluster.is_some() {
        keys.insert(keys.len() - 2, ("C", "cluster".to_string()));
    }
    // Drop the least needed keys first: scroll, focus, pause, filter (all in the help).
    fitted(keys, &["↑↓", "f", "p", "/", "C"], width, palette)
}

/// The keys of the fleet view that fit in `width`, with the sort order in use.
pub fn fleet_line(app: &App, width: u16, palette: &Palette) -> Line<'static> {
    let mut keys: Vec<(&str, String)> = FLEET_KEYS
        .iter()
        .map(|(k, d)| (*k, d.to_string()))
        .collect();
    for (key, what) in &mut keys {
        if *key == "s" {
            *what = format!("sort: {}", app.fleet.sort.label());
        }
    }
    if app.cluster.is_some() {
        keys.push(("C", "cluster".to_string()));
    }
    keys.extend([("?", "help".to_string()), ("q", "quit".to_string())]);
    fitted(keys, &["C", "r", "↑↓", "enter", "F"], width, palette)
}

/// `keys` after dropping those in `drops`, in order, until they fit in `width`.
fn fitted(
    mut keys: Vec<(&str, String)>,
    drops: &[&str],
    width: u16,
    palette: &Palette,
) -> Line<'static> {
    let budget = usize::from(width.saturating_sub(4));
    let text_width = |keys: &[(&str, String)]| -> usize {
        keys.iter()
            .map(|(k, d)| k.chars().count() + d.chars().count() + 3)
            .sum::<usize>()
            + 1
    };
    for drop in drops {
        if text_width(&keys) <= budget {
            break;
        }
        keys.retain(|(k, _)| k != drop);
    }
    let mut spans = vec![Span::raw(" ")];
    for (key, what) in keys {
        spans.push(Span::styled(key.to_string(), palette.accent()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    if let Some(last) = spans.last_mut() {
        *last = Span::raw(last.content.trim_end().to_string() + " ");
    }
    Line::from(spans)
}
