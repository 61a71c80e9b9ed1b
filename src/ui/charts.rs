//! The charts band of the account view: the selected account's token lifetime beside the delivery rate over 24 h; `c` shows or hides it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::delivery_chart::DeliveryChart;
use super::lifetime_chart::{self, LifetimeChart};
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

/// Draws both charts side by side in `area`, each in its own panel.
pub fn render(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)])
        .spacing(-1)
        .areas(area);
    lifetime_panel(frame, left, app, palette);
    delivery_panel(frame, right, app, palette);
}

fn lifetime_panel(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let block = super::panel_block();
    let inner = block.inner(area);
    let Some(view) = app.selected_account() else {
        frame.render_widget(block.title_top(" Token lifetime "), area);
        return;
    };
    let now = app.now.timestamp();
    let span_secs = view.lifetime.span_secs(now);
    let current = view.snapshot.access.as_ref().map(|i| i.info.expiry());
    // Projecting the fold onto the span walks only the expiry changes inside it.
    let window = view.lifetime.window(span_secs, now, current);
    let title = lifetime_chart::title(&window, area.width);
    frame.render_widget(block.title_top(title), area);
    frame.render_widget(LifetimeChart::new(&window, *palette), inner);
}

fn delivery_panel(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let block = super::panel_block().title_top(" Delivery rate 24h · app sends ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let hours = app
        .telemetry
        .as_ref()
        .map(|t| t.delivery_rate_24h.as_slice())
        .unwrap_or_default();
    let chart = DeliveryChart {
        hours,
        palette: *palette,
    };
    frame.render_widget(chart, inner);
}
