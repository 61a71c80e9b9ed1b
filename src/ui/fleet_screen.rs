//! What the fleet view shows, as lines before they are drawn: the loop compares it with the
//! screen it drew last and skips a frame that would change nothing (a countdown shown as
//! `59d` on a tick inside the same second, an event about an account off the page).

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

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
    let columns = layout(inner.width, table.publishing, table.classified);
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
        let block = self.block();
        let inner = block.inner(self.area);
        frame.render_widget(block, self.area);
        frame.render_widget(Paragraph::new(self.table.clone()), inner);
        for (offset, line) in &self.pinned {
            frame.render_widget(Paragraph::new(line.clone()), row_at(inner, *offset));
        }
    }
}

impl FleetScreen {
    /// The border with its titles: brand and counts, the clock, the keys.
    fn block(&self) -> ratatui::widgets::Block<'static> {
        super::panel_block()
            .title_top(self.title.clone())
            .title_top(self.right.clone())
            .title_bottom(self.footer.clone())
    }

    /// True when `self` shows what `drawn` showed except on the top border (the clock's next
    /// second, the counts): only that row needs painting.
    pub fn same_below_top(&self, drawn: &Self) -> bool {
        self.area == drawn.area
            && self.footer == drawn.footer
            && self.table == drawn.table
            && self.pinned == drawn.pinned
    }

    /// Paints the top border into `buffer`, which must already hold a painting of a screen
    /// [`same_below_top`](Self::same_below_top) this one: the row is cleared first, because a
    /// border merged into a cell keeps the letter of a longer title painted there before.
    pub fn paint_top(&self, buffer: &mut Buffer) {
        ratatui::widgets::Clear.render(self.top_row(), buffer);
        self.block().render(self.area, buffer);
    }
}

impl FleetScreen {
    /// The top border's row, which [`paint_top`](Self::paint_top) paints.
    pub fn top_row(&self) -> Rect {
        Rect {
            height: self.area.height.min(1),
            ..self.area
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::config::{Settings, Theme};
    use crate::engine::{AccountSnapshot, EngineEvent, TokenState};
    use crate::tui::{Msg, View};
    use crate::ui::fleet::ROWS_FORMATTED;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0)
            .single()
            .unwrap_or_default()
    }

    /// A fleet of `count` accounts the engine reported (no config): never-expiring tokens.
    fn fleet(count: usize) -> App {
        let settings = Settings {
            data_dir: PathBuf::new(),
            ..Settings::default()
        };
        let mut app = App::new(&settings, PathBuf::new(), at(0));
        for i in 0..count {
            let mut snapshot = AccountSnapshot::new(&format!("acct{i:04}"));
            snapshot.state = TokenState::NeverExpires;
            app.update(Msg::Engine(EngineEvent::Account(std::sync::Arc::new(
                snapshot,
            ))));
        }
        app.view = View::Fleet;
        app
    }

    fn rows_formatted() -> usize {
        ROWS_FORMATTED.with(|rows| rows.replace(0))
    }

    #[test]
    fn a_thousand_accounts_format_only_the_rows_on_screen_and_grade_each_once() {
        let mut app = fleet(1000);
        let palette = Palette::new(Theme::Mono);
        let area = Rect::new(0, 0, 120, 40);
        rows_formatted();
        let first = screen(&app, area, &palette);
        // 40 rows less two borders and the column header.
        assert_eq!(rows_formatted(), 37);
        assert_eq!(app.fleet_keys_made(), 1000, "every account graded once");
        assert_eq!(first.table.len(), 38);

        app.update(Msg::Tick(at(1)));
        let next = screen(&app, area, &palette);
        assert_eq!(
            rows_formatted(),
            37,
            "a tick formats the page again, no more"
        );
        assert_eq!(app.fleet_keys_made(), 1000, "nothing to grade again");
        assert_eq!(next.table, first.table, "never-expiring rows do not change");
        assert_ne!(next.right, first.right, "the clock does");

        let mut changed = AccountSnapshot::new("acct0500");
        changed.state = TokenState::Expired;
        app.update(Msg::Engine(EngineEvent::Account(std::sync::Arc::new(
            changed,
        ))));
        let after = screen(&app, area, &palette);
        assert_eq!(rows_formatted(), 37);
        assert_eq!(app.fleet_keys_made(), 1001, "only the changed account");
        let top = format!("{:?}", after.table[1]);
        assert!(
            top.contains("acct0500"),
            "the expired account moves to the top: {top}"
        );
    }

    /// A terminal of `area`'s size with `screen` painted whole.
    fn painted(screen: &FleetScreen) -> ratatui::Terminal<ratatui::backend::TestBackend> {
        let backend = ratatui::backend::TestBackend::new(screen.area.width, screen.area.height);
        let mut terminal = ratatui::Terminal::new(backend).unwrap_or_else(|e| panic!("{e}"));
        terminal
            .draw(|frame| screen.paint(frame))
            .unwrap_or_else(|e| panic!("{e}"));
        terminal
    }

    #[test]
    fn painting_only_the_top_border_over_the_last_frame_shows_what_a_whole_paint_would() {
        let mut app = fleet(1000);
        let palette = Palette::new(Theme::Mono);
        let area = Rect::new(0, 0, 120, 40);
        let first = screen(&app, area, &palette);
        app.update(Msg::Tick(at(1)));
        let mut next = screen(&app, area, &palette);
        // A counts title that got shorter: letters painted there before must not survive.
        next.title = Line::from("┤ tokentop ├");
        assert!(
            next.same_below_top(&first),
            "only the clock and the counts differ"
        );
        assert_ne!(next.right, first.right);

        let mut terminal = painted(&first);
        let last = terminal.backend().buffer().clone();
        terminal
            .draw(|frame| {
                frame.buffer_mut().content.clone_from(&last.content);
                next.paint_top(frame.buffer_mut());
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            terminal.backend().buffer(),
            painted(&next).backend().buffer()
        );

        let mut moved = next.clone();
        moved.table.pop();
        assert!(
            !moved.same_below_top(&first),
            "a row changed: paint it whole"
        );
    }
}
