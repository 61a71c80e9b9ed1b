//! Pure render functions of the dashboard, one file per panel, all drawing from `&App`.
//! Nothing here does I/O or reads the clock: the same `App` always draws the same screen.
//!
//! ```text
//! ┌ header.rs: tabs (accounts) ─────────────────────────── clock ─ live ┐  token.rs draws
//! │ token.rs: access / long-lived / data-access countdowns, banner      │  the top band
//! ├ history.rs: refresh history ─────┬ delivery.rs: rates, test send,  ┤  (its own height,
//! │   (50% of the width)             │ phone.rs: phone health, usage   │  at most half);
//! ├ charts.rs: lifetime_chart.rs ────┬ delivery_chart.rs ───────────────┤  middle band 45%
//! │   time left, braille, ✗ failures │ delivery rate 24h, braille line  │  of the rest;
//! ├ logs.rs: the application's log lines (filter, pause) ──────────────┤  charts from 34
//! └ footer.rs: keys ───────────────────────────────────────────────────┘  rows or on `c`
//! The charts share the bottom with the logs when it has 16 rows, else replace them (the
//! footer then sits on the charts' bottom border); plot.rs draws their axis labels.
//! overlay.rs: help and the send confirmation, drawn over everything; below 60x16 only a
//! "terminal too small" line. With `[cluster]`, cluster.rs adds a `CLUSTER` row to the token
//! panel, a row above the fleet's footer, and the `C` overlay of members and leases. templates.rs
//! draws the `T` overlay of message templates. Colours come from theme.rs, urgency from `engine::urgency`.
//!
//! The fleet view (the default above six accounts, `F` switches) replaces all of the above:
//! ┌ tokentop ─ 60 accounts · 4 critical · 9 warning ───────────── clock ─ live ┐
//! │ fleet.rs: STATE ACCOUNT ACCESS LONG-LIVED PHONE 1H LAST NEXT (header row)  │
//! │▸one row per account (fleet_cells.rs), worst first; columns narrow, then    │
//! │ drop as the width shrinks; the cursor row reversed                         │
//! │ /filter prompt (while a name filter is set)                                │
//! └ footer.rs: fleet keys ─────────────────────────────────────────────────────┘
//! ```
//! fleet_screen.rs holds that view as lines before drawing, so the loop can skip a tick
//! that changes none of them; account_screen.rs does the same for the account view, panel by
//! panel (each panel file builds its `Panel`: titles and body), and screens.rs is either.

pub mod account_screen;
pub mod charts;
pub mod cluster;
pub mod delivery;
pub mod delivery_chart;
pub mod fleet;
pub mod fleet_cells;
pub mod fleet_screen;
pub mod footer;
pub mod format;
pub mod header;
pub mod history;
pub mod lifetime_chart;
pub mod logs;
pub mod overlay;
pub mod phone;
pub mod plot;
pub mod publish;
pub mod screens;
pub mod templates;
pub mod theme;
pub mod token;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::merge::MergeStrategy;
use ratatui::widgets::{Block, Paragraph};

use crate::tui::{App, View};
use theme::Palette;

/// Smallest terminal the dashboard draws in; below it a notice says so.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// Draws the whole dashboard.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let palette = Palette::new(app.theme);
    if app.view == View::Fleet {
        fleet::render(frame, area, app, &palette);
    } else {
        account_screen::screen(app, area, &palette).paint(frame);
    }
    overlay::render(frame, area, app, &palette);
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{})",
        area.width, area.height
    );
    let row = Rect {
        y: area.y + area.height / 2,
        height: 1.min(area.height),
        ..area
    };
    frame.render_widget(Paragraph::new(text).centered(), row);
}

/// What `app` shows in `area` when that can be told without drawing: either view with no
/// overlay open, in a terminal big enough for it. The loop draws a screen only when it differs
/// from the one drawn last, and paints over that one what changed; `None` (any other screen)
/// is always drawn whole.
pub fn screen(app: &App, area: Rect, drawn: Option<&screens::Screen>) -> Option<screens::Screen> {
    let drawable = area.width >= MIN_WIDTH && area.height >= MIN_HEIGHT;
    if !drawable || app.overlay.is_some() {
        return None;
    }
    let palette = Palette::new(app.theme);
    Some(match app.view {
        View::Fleet => {
            let drawn = match drawn {
                Some(screens::Screen::Fleet(drawn)) => Some(drawn),
                _ => None,
            };
            screens::Screen::Fleet(fleet_screen::screen_after(app, area, &palette, drawn))
        }
        View::Account => screens::Screen::Account(account_screen::screen(app, area, &palette)),
    })
}

/// Every panel's block: borders merge where panels touch.
pub(crate) fn panel_block<'a>() -> Block<'a> {
    Block::bordered().merge_borders(MergeStrategy::Exact)
}

/// A panel title, marked with `▸` when the panel has the focus.
pub(crate) fn focus_title(title: &str, focused: bool) -> String {
    if focused {
        format!("▸{title} ")
    } else {
        format!(" {title} ")
    }
}
