//! The header, drawn on the top border: account tabs (with each account's state symbol), the
//! UTC clock, and whether the dashboard is live, paused or stopped. Also the tab hit test for
//! mouse clicks, so drawing and clicking always agree.

use ratatui::text::{Line, Span};

use super::theme::Palette;
use super::token::state_symbol;
use crate::format::hms;
use crate::tui::App;

const BRAND: &str = " tokentop ";

/// Where one tab is drawn on the top row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabSlot {
    pub index: usize,
    pub x: u16,
    pub width: u16,
}

fn tab_label(app: &App, index: usize) -> String {
    let Some(view) = app.accounts.get(index) else {
        return String::new();
    };
    let number = if index < 9 {
        format!("{} ", index + 1)
    } else {
        String::new()
    };
    format!(
        " {number}{} {} ",
        view.name(),
        state_symbol(&view.snapshot.state)
    )
}

fn width_of(text: &str) -> u16 {
    u16::try_from(Line::from(text).width()).unwrap_or(u16::MAX)
}

/// The right part: `14:03:12 UTC ─ ● live`.
pub fn right_title(app: &App, palette: &Palette) -> Line<'static> {
    use super::theme::Urgency;
    let (mark, urgency): (std::borrow::Cow<'static, str>, _) = if !app.engine_running {
        ("■ stopped".into(), Urgency::Critical)
    } else if app.unread_account_files > 0 {
        let unread = app.unread_account_files;
        (
            format!("◌ reading {unread} more account files").into(),
            Urgency::Neutral,
        )
    } else if app.logs.is_paused() {
        ("‖ paused".into(), Urgency::Warn)
    } else {
        ("● live".into(), Urgency::Fine)
    };
    Line::from(vec![
        Span::raw(format!(" {} UTC ─ ", hms(app.now))),
        Span::styled(mark, palette.urgency(urgency)),
        Span::raw(" "),
    ])
}

/// Tabs that fit in a screen `screen_width` wide, scrolled so the selected one shows.
pub fn tab_slots(app: &App, screen_width: u16) -> Vec<TabSlot> {
    let right = u16::try_from(right_title(app, &Palette::new(crate::config::Theme::Mono)).width())
        .unwrap_or(u16::MAX);
    let start_x = 1 + width_of(BRAND) + 1;
    let limit = screen_width.saturating_sub(right + 2);
    let widths: Vec<u16> = (0..app.accounts.len())
        .map(|i| width_of(&tab_label(app, i)) + 1)
        .collect();
    // Drop tabs from the left until the selected one fits.
    let mut first = 0;
    while first < app.selected
        && start_x + widths[first..=app.selected].iter().sum::<u16>() - 1 > limit
    {
        first += 1;
    }
    let mut slots = Vec::new();
    let mut x = start_x;
    for (index, width) in widths.iter().enumerate().skip(first) {
        // The separator after the last tab is not drawn, so it need not fit.
        if x + width - 1 > limit {
            break;
        }
        slots.push(TabSlot {
            index,
            x,
            width: width - 1,
        });
        x += width;
    }
    slots
}

/// The left part: brand and tabs, the selected tab reversed and bracketed by `▸`.
pub fn left_title(app: &App, screen_width: u16, palette: &Palette) -> Line<'static> {
    let mut spans = vec![Span::styled(BRAND, palette.label()), Span::raw("─")];
    for slot in tab_slots(app, screen_width) {
        let label = tab_label(app, slot.index);
        if slot.index == app.selected {
            spans.push(Span::styled(
                label.replacen(' ', "▸", 1),
                palette.selected(),
            ));
        } else {
            spans.push(Span::raw(label));
        }
        spans.push(Span::raw("│"));
    }
    spans.pop();
    Line::from(spans)
}

/// The account whose tab is at (`column`, `row`), if any.
pub fn tab_at(app: &App, column: u16, row: u16) -> Option<usize> {
    if row != 0 {
        return None;
    }
    tab_slots(app, app.size.0)
        .into_iter()
        .find(|slot| column >= slot.x && column < slot.x + slot.width)
        .map(|slot| slot.index)
}
