//! What the fleet view shows, as lines before they are drawn: the loop compares it with the
//! screen it drew last and skips a frame that would change nothing (a countdown shown as
//! `59d` on a tick inside the same second, an event about an account off the page).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::fleet::{body, header, layout, prompt_line, title};
use super::theme::Palette;
use crate::tui::App;

/// Everything the fleet view draws in `area`, overlays aside.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetScreen {
    area: Rect,
    /// The top border: brand and counts on the left, the clock on the right.
    title: Line<'static>,
    right: Line<'static>,
    /// The keys on the bottom border.
    footer: Line<'static>,
    /// The column header, then the page of rows.
    table: Vec<Line<'static>>,
    /// Lines pinned to the bottom of the panel (the filter prompt, the cluster row), with
    /// their row inside the borders.
    pinned: Vec<(u16, Line<'static>)>,
}

/// The fleet view of `app` in `area`: formats only the rows of the page on screen.
pub fn screen(app: &App, area: Rect, palette: &Palette) -> FleetScreen {
    let table = app.fleet_table();
    let right = super::header::right_title(app, palette).right_aligned();
    let title = title(&table, &right, area.width, palette);
    let footer = super::footer::fleet_line(app, area.width, palette);
    let inner = super::panel_block().inner(area);
    let prompt = app.fleet.editing || !app.fleet.filter.is_empty();
    let cluster = super::cluster::fleet_row(app, usize::from(inner.width), palette);
    let extra_rows = u16::from(prompt) + u16::from(cluster.is_some());
    let body_rows = inner.height.saturating_sub(1 + extra_rows);
    let columns = layout(inner.width, table.publishing);
    let mut lines = vec![header(&columns, palette)];
    lines.extend(body(
        app,
        &table.rows,
        &columns,
        usize::from(body_rows),
        palette,
    ));
    let mut pinned = Vec::new();
    let mut bottom = inner.height;
    if prompt && bottom >= 2 {
        bottom -= 1;
        let line = prompt_line(app, table.rows.len(), table.total, palette);
        pinned.push((bottom, line));
    }
    if let Some(line) = cluster
        && bottom >= 2
    {
        pinned.push((bottom - 1, line));
    }
    FleetScreen {
        area,
        title,
        right,
        footer,
        table: lines,
        pinned,
    }
}

impl FleetScreen {
    /// Draws the screen into `frame`.
    pub fn paint(&self, frame: &mut Frame) {
        let block = super::panel_block()
            .title_top(self.title.clone())
            .title_top(self.right.clone())
            .title_bottom(self.footer.clone());
        let inner = block.inner(self.area);
        frame.render_widget(block, self.area);
        frame.render_widget(Paragraph::new(self.table.clone()), inner);
        for (offset, line) in &self.pinned {
            frame.render_widget(Paragraph::new(line.clone()), row_at(inner, *offset));
        }
    }
}

/// Row `offset` of `inner`, one row high.
fn row_at(inner: Rect, offset: u16) -> Rect {
    Rect {
        y: inner.y + offset,
        height: 1,
        ..inner
    }
}
