//! The charts band of the account view: the selected account's token lifetime beside the delivery rate over 24 h; `c` shows or hides it.

use ratatui::layout::Rect;

use super::account_screen::{Body, Panel};
use super::lifetime_chart;
use super::theme::Palette;
use crate::tui::{App, Charts};

/// From this terminal height on, the charts are drawn without asking (beside the logs).
pub const AUTO_MIN_HEIGHT: u16 = 34;
/// The band's rows when it shares the bottom of the screen with the logs.
pub const SHARED_MIN_ROWS: u16 = 8;
pub const SHARED_MAX_ROWS: u16 = 14;
/// Below this many rows the bottom of the screen is not split: the charts replace the logs.
pub const SPLIT_MIN_ROWS: u16 = 16;

/// Whether the charts are drawn on a terminal `height` rows tall.
pub fn visible(charts: Charts, height: u16) -> bool {
    match charts {
        Charts::Auto => height >= AUTO_MIN_HEIGHT,
        Charts::Shown => true,
        Charts::Hidden => false,
    }
}

/// Rows of the band out of the `bottom` rows below the history and delivery panels; `None`
/// when the band takes them all.
pub fn shared_rows(bottom: u16) -> Option<u16> {
    (bottom >= SPLIT_MIN_ROWS).then(|| (bottom / 2).clamp(SHARED_MIN_ROWS, SHARED_MAX_ROWS))
}

/// Both charts side by side, each in its own panel: the token lifetime in `left`, the
/// delivery rate in `right`.
pub fn panels([left, right]: [Rect; 2], app: &App, palette: &Palette) -> [Panel; 2] {
    [
        lifetime_panel(left, app, palette),
        delivery_panel(right, app, palette),
    ]
}

fn lifetime_panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    let Some(view) = app.selected_account() else {
        return Panel::titled(area, " Token lifetime ", Body::Empty);
    };
    let now = app.now.timestamp();
    let span_secs = view.lifetime.span_secs(now);
    let current = view.snapshot.access.as_ref().map(|i| i.info.expiry());
    // Projecting the fold onto the span walks only the expiry changes inside it.
    let window = view.lifetime.window(span_secs, now, current);
    let title = lifetime_chart::title(&window, area.width);
    // Without a line the chart is a sentence that stays the same as `now` moves on.
    let body = match lifetime_chart::note(&window) {
        Some(text) => Body::note(text, palette.dim()),
        None => Body::Lifetime {
            window,
            palette: *palette,
        },
    };
    Panel::titled(area, title, body)
}

fn delivery_panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    let hours = app
        .telemetry
        .as_ref()
        .map(|t| t.delivery_rate_24h.clone())
        .unwrap_or_default();
    let body = Body::Delivery {
        hours,
        palette: *palette,
    };
    Panel::titled(area, " Delivery rate 24h · app sends ", body)
}
