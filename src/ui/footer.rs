//! The footer on the bottom border: the keys, shortened to fit the width.

use ratatui::text::{Line, Span};

use super::theme::Palette;
use crate::tui::App;

const KEYS: [(&str, &str); 9] = [
    ("r", "refresh"),
    ("t", "test message"),
    ("tab", "account"),
    ("f", "focus"),
    ("↑↓", "scroll"),
    ("/", "filter"),
    ("p", "pause"),
    ("?", "help"),
    ("q", "quit"),
];

/// The keys that fit in `width`; `? help` and `q quit` always stay.
pub fn line(app: &App, width: u16, palette: &Palette) -> Line<'static> {
    let refreshing = app
        .selected_account()
        .is_some_and(|view| view.refresh_pending.is_some());
    let budget = usize::from(width.saturating_sub(4));
    let mut keys: Vec<(&str, &str)> = KEYS.to_vec();
    if refreshing {
        keys[0].1 = "refreshing…";
    }
    let text_width = |keys: &[(&str, &str)]| -> usize {
        keys.iter()
            .map(|(k, d)| k.chars().count() + d.chars().count() + 3)
            .sum::<usize>()
            + 1
    };
    // Drop the least needed keys first: scroll, focus, then the descriptions get shorter.
    for drop in ["↑↓", "f", "p", "/"] {
        if text_width(&keys) <= budget {
            break;
        }
        keys.retain(|(k, _)| *k != drop);
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
