//! What the fleet view shows, as lines before they are drawn: the loop compares it with the
//! screen it drew last and skips a frame that would change nothing (a countdown shown as
//! `59d` on a tick inside the same second, an event about an account off the page). A tick
//! that moves nothing on the page but the clock keeps the last screen's rows and keys instead
//! of formatting them again (at rest, most ticks).

use std::sync::Arc;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use super::fleet::{body, header, layout, page, prompt_line, title};
use super::fleet_cells::moves_with_time;
use super::theme::Palette;
use crate::tui::App;

/// Everything the fleet view draws in `area`, overlays aside.
#[derive(Debug, Clone)]
pub struct FleetScreen {
    area: Rect,
    /// The top border: brand and counts on the left, the clock on the right.
    title: Line<'static>,
    right: Line<'static>,
    /// The keys on the bottom border.
    footer: Line<'static>,
    /// The column header, then the page of rows.
    table: Arc<[Line<'static>]>,
    /// Lines pinned to the bottom of the panel (the filter prompt, the cluster row), with
    /// their row inside the borders.
    pinned: Vec<(u16, Line<'static>)>,
    /// What `table` and `footer` were made from.
    made: Made,
}

/// What a screen's table and keys were made from: a later screen made from the same keeps
/// them. `rows` is held, so a new order cannot take its address.
#[derive(Debug, Clone)]
struct Made {
    changes: u64,
    rows: Arc<[usize]>,
    /// The page's accounts and how many events had changed each.
    page: Vec<(usize, u64)>,
    area: Rect,
    /// No row of the page moves with time ([`moves_with_time`]).
    still: bool,
}

impl Made {
    fn same(&self, other: &Self) -> bool {
        self.still
            && other.still
            && self.changes == other.changes
            && self.area == other.area
            && Arc::ptr_eq(&self.rows, &other.rows)
            && self.page == other.page
    }
}

/// Screens are equal when they show the same; how they were made does not matter.
impl PartialEq for FleetScreen {
    fn eq(&self, other: &Self) -> bool {
        self.area == other.area
            && self.title == other.title
            && self.right == other.right
            && self.footer == other.footer
            && self.table == other.table
            && self.pinned == other.pinned
    }
}

/// The fleet view of `app` in `area`: formats only the rows of the page on screen.
pub fn screen(app: &App, area: Rect, palette: &Palette) -> FleetScreen {
    screen_after(app, area, palette, None)
}

/// Like [`screen`], keeping the rows and keys of `drawn` (the screen drawn last) when nothing
/// but time changed since and no row of the page moves with time.
pub fn screen_after(
    app: &App,
    area: Rect,
    palette: &Palette,
    drawn: Option<&FleetScreen>,
) -> FleetScreen {
    let table = app.fleet_table();
    let right = super::header::right_title(app, palette).right_aligned();
    let title = title(&table, &right, area.width, palette);
    let inner = super::panel_block().inner(area);
    let prompt = app.fleet.editing || !app.fleet.filter.is_empty();
    let cluster = super::cluster::fleet_row(app, usize::from(inner.width), palette);
    let extra_rows = u16::from(prompt) + u16::from(cluster.is_some());
    let body_rows = inner.height.saturating_sub(1 + extra_rows);
    let shown = page(app, &table.rows, usize::from(body_rows));
    let made = Made {
        changes: app.changes,
        rows: Arc::clone(&table.rows),
        page: (shown.0.iter())
            .map(|&index| {
                (
                    index,
                    app.accounts.get(index).map_or(0, |view| view.changes),
                )
            })
            .collect(),
        area,
        still: (shown.0.iter()).all(|&index| {
            app.accounts
                .get(index)
                .is_some_and(|view| !moves_with_time(view))
        }),
    };
    let (footer, lines) = match drawn {
        Some(drawn) if made.same(&drawn.made) => (drawn.footer.clone(), Arc::clone(&drawn.table)),
        _ => {
            let columns = layout(inner.width, table.publishing, table.classified);
            let mut lines = vec![header(&columns, palette)];
            lines.extend(body(app, shown, &columns, palette));
            (
                super::footer::fleet_line(app, area.width, palette),
                lines.into(),
            )
        }
    };
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
        made,
    }
}

impl FleetScreen {
    /// Draws the screen into `frame`.
    pub fn paint(&self, frame: &mut Frame) {
        let block = self.block();
        let inner = block.inner(self.area);
        frame.render_widget(block, self.area);
        frame.render_widget(Paragraph::new(self.table.to_vec()), inner);
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

    #[test]
    fn a_tick_keeps_a_still_page_and_anything_else_formats_it_again() {
        let mut app = fleet(1000);
        let palette = Palette::new(Theme::Mono);
        let area = Rect::new(0, 0, 120, 40);
        let first = screen(&app, area, &palette);
        rows_formatted();
        app.update(Msg::Tick(at(1)));
        let next = screen_after(&app, area, &palette, Some(&first));
        assert_eq!(rows_formatted(), 0, "never-expiring rows are kept");
        assert!(Arc::ptr_eq(&next.table, &first.table));
        assert_ne!(next.right, first.right, "the clock moves");
        assert_eq!(next, screen(&app, area, &palette));
        rows_formatted();

        // An event about an account off the page keeps it; one on the page makes it again.
        let event = |name: &str| {
            let mut changed = AccountSnapshot::new(name);
            changed.state = TokenState::NeverExpires;
            Msg::Engine(EngineEvent::Account(Arc::new(changed)))
        };
        app.update(event("acct0999"));
        let kept = screen_after(&app, area, &palette, Some(&next));
        assert_eq!(rows_formatted(), 0, "acct0999 is not on the first page");
        app.update(event("acct0003"));
        let after = screen_after(&app, area, &palette, Some(&kept));
        assert_eq!(rows_formatted(), 37);
        // So does any other message (a key: the cursor moves).
        app.update(crate::tui::Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Down,
        )));
        let after = screen_after(&app, area, &palette, Some(&after));
        assert_eq!(rows_formatted(), 37);
        // Another size too.
        app.update(Msg::Tick(at(2)));
        let smaller = Rect::new(0, 0, 100, 30);
        screen_after(&app, smaller, &palette, Some(&after));
        assert_eq!(rows_formatted(), 27);
    }

    #[test]
    fn a_kept_page_is_what_a_fresh_one_shows_as_time_and_events_go_by() {
        let mut app = fleet(60);
        let palette = Palette::new(Theme::Mono);
        let area = Rect::new(0, 0, 120, 40);
        let mut drawn = screen(&app, area, &palette);
        for step in 1..400_i64 {
            if step % 37 == 0 {
                // An account on the page starts counting down: the page moves with time now.
                let mut snapshot = AccountSnapshot::new(&format!("acct{:04}", step % 60));
                snapshot.state = TokenState::Valid;
                snapshot.next_refresh_at = Some(at(0).timestamp() + 500);
                app.update(Msg::Engine(EngineEvent::Account(Arc::new(snapshot))));
            }
            if step % 53 == 0 {
                app.update(Msg::Key(crossterm::event::KeyEvent::from(
                    crossterm::event::KeyCode::Char('s'),
                )));
            }
            if step % 7 == 0 {
                // On the page or off it (37 rows of 60).
                let mut snapshot = AccountSnapshot::new(&format!("acct{:04}", step % 60));
                snapshot.state = TokenState::NeverExpires;
                snapshot.phone_number_id = Some(format!("{step}"));
                app.update(Msg::Engine(EngineEvent::Account(Arc::new(snapshot))));
            }
            if step % 91 == 0 {
                app.update(Msg::Engine(EngineEvent::Account(Arc::new({
                    let mut snapshot = AccountSnapshot::new(&format!("acct{:04}", step % 60));
                    snapshot.state = TokenState::NeverExpires;
                    snapshot
                }))));
            }
            app.update(Msg::Tick(at(step)));
            let kept = screen_after(&app, area, &palette, Some(&drawn));
            let fresh = screen(&app, area, &palette);
            assert_eq!(kept, fresh, "step {step}");
            drawn = kept;
        }
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
        moved.table = moved.table[..moved.table.len() - 1].into();
        assert!(
            !moved.same_below_top(&first),
            "a row changed: paint it whole"
        );
    }
}
