//! The account view as data before it is drawn: each panel's area, border titles and body
//! (lines or chart data). The loop skips a frame equal to the last one and otherwise paints
//! only the top border (the clock) and the bodies that changed over the last frame's cells.

use std::cell::Cell;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::delivery_chart::DeliveryChart;
use super::lifetime_chart::LifetimeChart;
use super::theme::Palette;
use crate::engine::history::lifetime::LifetimeWindow;
use crate::tui::App;

/// Rows of the history/delivery band at least (8 lines of content).
const MIDDLE_MIN_ROWS: u16 = 10;

/// One bordered panel: where it is, the titles on its border, what is inside.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub area: Rect,
    /// Titles on the top border, in the order they are set (left, then right-aligned).
    pub top: Vec<Line<'static>>,
    /// The title on the bottom border (the logs' keys).
    pub bottom: Option<Line<'static>>,
    pub body: Body,
}

/// What a panel shows inside its border.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    /// A paragraph: `style` covers every cell of the inside, text or not.
    Text {
        lines: Vec<Line<'static>>,
        style: Style,
    },
    Lifetime {
        window: LifetimeWindow,
        palette: Palette,
    },
    Delivery {
        hours: Vec<Option<f64>>,
        palette: Palette,
    },
}

impl Body {
    /// Lines in the terminal's default style.
    pub fn lines(lines: Vec<Line<'static>>) -> Self {
        Self::Text {
            lines,
            style: Style::new(),
        }
    }

    /// One line of `text`, every cell of the inside in `style` (the dim "nothing yet" texts).
    pub fn note(text: impl Into<String>, style: Style) -> Self {
        Self::Text {
            lines: vec![Line::from(text.into())],
            style,
        }
    }

    fn paint(&self, area: Rect, buf: &mut Buffer) {
        match self {
            Self::Empty => {}
            Self::Text { lines, style } => {
                Paragraph::new(lines.clone())
                    .style(*style)
                    .render(area, buf);
            }
            Self::Lifetime { window, palette } => {
                LifetimeChart::new(window, *palette).render(area, buf);
            }
            Self::Delivery { hours, palette } => DeliveryChart {
                hours,
                palette: *palette,
            }
            .render(area, buf),
        }
    }
}

impl Panel {
    /// A panel with `title` on its top border.
    pub fn titled(area: Rect, title: impl Into<Line<'static>>, body: Body) -> Self {
        Self {
            area,
            top: vec![title.into()],
            bottom: None,
            body,
        }
    }

    fn block(&self) -> Block<'static> {
        let block = self.top.iter().fold(super::panel_block(), |block, title| {
            block.title_top(title.clone())
        });
        match &self.bottom {
            Some(title) => block.title_bottom(title.clone()),
            None => block,
        }
    }

    /// The inside of the border: only the body paints there.
    fn inner(&self) -> Rect {
        super::panel_block().inner(self.area)
    }

    fn paint(&self, buf: &mut Buffer) {
        self.block().render(self.area, buf);
        self.body.paint(self.inner(), buf);
    }
}

/// Everything the account view draws, overlays aside.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountScreen {
    area: Rect,
    /// In painting order (a later border merges into an earlier one where they touch); the
    /// token panel first, the header on its top border.
    panels: Vec<Panel>,
    /// The keys on the charts' bottom border when the charts take the logs' place.
    footer: Option<(Rect, Line<'static>)>,
}

/// Where the panels go; a pure function of [`LayoutKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Areas {
    token: Rect,
    history: Rect,
    delivery: Rect,
    bottom: Bottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bottom {
    Logs(Rect),
    Shared {
        charts: [Rect; 2],
        logs: Rect,
    },
    /// The charts alone; the footer on the row given.
    Charts {
        charts: [Rect; 2],
        footer: Rect,
    },
}

/// Everything [`areas`] reads: the screen, the token panel's rows, whether charts show.
type LayoutKey = (Rect, u16, bool);

thread_local! {
    /// The last layout solved: the same key every tick at rest, and solving it again is a
    /// fair share of an idle tick.
    static LAST_LAYOUT: Cell<Option<(LayoutKey, Areas)>> = const { Cell::new(None) };
}

/// [`solve`] of `key`, remembered for the next call with the same key.
fn areas(key: LayoutKey) -> Areas {
    LAST_LAYOUT.with(|last| match last.get() {
        Some((kept, areas)) if kept == key => areas,
        _ => {
            let areas = solve(key);
            last.set(Some((key, areas)));
            areas
        }
    })
}

fn solve((area, token_rows, charts): LayoutKey) -> Areas {
    // Panels overlap by one row/column so neighbours share a border.
    let rest = area.height.saturating_sub(token_rows) + 1;
    let middle_rows = (rest * 45 / 100).max(MIDDLE_MIN_ROWS);
    let [token, middle, bottom] = Layout::vertical([
        Constraint::Length(token_rows),
        Constraint::Length(middle_rows),
        Constraint::Fill(1),
    ])
    .spacing(-1)
    .areas(area);
    let [history, delivery] = halves(middle);
    let bottom = match (charts, super::charts::shared_rows(bottom.height)) {
        (false, _) => Bottom::Logs(bottom),
        (true, Some(rows)) => {
            let [charts, logs] = Layout::vertical([Constraint::Length(rows), Constraint::Fill(1)])
                .spacing(-1)
                .areas(bottom);
            Bottom::Shared {
                charts: halves(charts),
                logs,
            }
        }
        (true, None) => Bottom::Charts {
            charts: halves(bottom),
            footer: Rect {
                x: bottom.x.saturating_add(1),
                y: bottom.bottom().saturating_sub(1),
                width: bottom.width.saturating_sub(2),
                height: 1.min(bottom.height),
            },
        },
    };
    Areas {
        token,
        history,
        delivery,
        bottom,
    }
}

/// The left half and the rest, sharing the border between them.
fn halves(area: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)])
        .spacing(-1)
        .areas(area)
}

/// The account view of `app` in `area` (at least the minimum size).
pub fn screen(app: &App, area: Rect, palette: &Palette) -> AccountScreen {
    let token_rows = super::token::height(app, area.width).min(area.height / 2);
    let charts = super::charts::visible(app.charts, area.height);
    let areas = areas((area, token_rows, charts));
    let mut panels = vec![
        super::token::panel(areas.token, app, palette),
        super::history::panel(areas.history, app, palette),
        super::delivery::panel(areas.delivery, app, palette),
    ];
    let mut footer = None;
    match areas.bottom {
        Bottom::Logs(logs) => panels.push(super::logs::panel(logs, app, palette)),
        Bottom::Shared { charts, logs } => {
            panels.extend(super::charts::panels(charts, app, palette));
            panels.push(super::logs::panel(logs, app, palette));
        }
        Bottom::Charts {
            charts,
            footer: row,
        } => {
            panels.extend(super::charts::panels(charts, app, palette));
            let keys = super::footer::line(app, area.width, palette);
            footer = Some((row, keys));
        }
    }
    AccountScreen {
        area,
        panels,
        footer,
    }
}

impl AccountScreen {
    /// Draws the whole screen into `frame`.
    pub fn paint(&self, frame: &mut Frame) {
        let buf = frame.buffer_mut();
        for panel in &self.panels {
            panel.paint(buf);
        }
        if let Some((row, keys)) = &self.footer {
            Paragraph::new(keys.clone()).render(*row, buf);
        }
    }

    /// True when `self` has every border of `drawn` (the top one aside): then painting the
    /// top border and the bodies that changed over `drawn`'s cells draws `self`.
    pub fn paints_over(&self, drawn: &Self) -> bool {
        self.area == drawn.area
            && self.footer == drawn.footer
            && self.panels.len() == drawn.panels.len()
            && self
                .panels
                .iter()
                .zip(&drawn.panels)
                .enumerate()
                .all(|(i, (panel, old))| {
                    panel.area == old.area
                        && panel.bottom == old.bottom
                        && (i == 0 || panel.top == old.top)
                })
    }

    /// Paints into `buf`, which must hold a painting of `drawn`, what differs from it
    /// (see [`paints_over`](Self::paints_over)): the top border, the bodies. Returns the
    /// parts painted; no other cell changed.
    pub fn paint_over(&self, drawn: &Self, buf: &mut Buffer) -> Vec<Rect> {
        let mut parts = Vec::new();
        for (i, (panel, old)) in self.panels.iter().zip(&drawn.panels).enumerate() {
            if i == 0 && panel.top != old.top {
                parts.push(paint_top_row(panel, buf));
            }
            if panel.body != old.body {
                let inner = panel.inner();
                // Nothing else paints inside a border, and a whole paint starts from blanks.
                Clear.render(inner, buf);
                panel.body.paint(inner, buf);
                parts.push(inner);
            }
        }
        parts
    }
}

/// Paints the top row of `panel`'s border as a whole paint leaves it, and returns that row.
/// No other panel reaches the screen's top row, so the border is painted alone onto blanks
/// and the row copied (painting it over the last frame would merge its sides into the titles
/// of the panels below). Two rows tall, the border's top row is drawn as at any height.
fn paint_top_row(panel: &Panel, buf: &mut Buffer) -> Rect {
    let top = Rect {
        height: panel.area.height.min(2),
        ..panel.area
    };
    let mut alone = Buffer::empty(top);
    panel.block().render(top, &mut alone);
    let row = Rect {
        height: top.height.min(1),
        ..top
    };
    super::screens::copy_cells(buf, &alone, row);
    row
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::{DateTime, TimeZone, Utc};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::config::{Settings, Theme};
    use crate::engine::{AccountSnapshot, EngineEvent, TokenState};
    use crate::tui::{Focus, Msg, View};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0)
            .single()
            .unwrap_or_default()
    }

    /// One valid account whose next refresh counts down to the second.
    fn one_account() -> App {
        let settings = Settings {
            data_dir: PathBuf::new(),
            ..Settings::default()
        };
        let mut app = App::new(&settings, PathBuf::new(), at(0));
        let mut snapshot = AccountSnapshot::new("main");
        snapshot.state = TokenState::Valid;
        snapshot.next_refresh_at = Some(at(3600).timestamp());
        app.update(Msg::Engine(EngineEvent::Account(std::sync::Arc::new(
            snapshot,
        ))));
        app.view = View::Account;
        app
    }

    fn screen_of(app: &App) -> AccountScreen {
        screen(app, Rect::new(0, 0, 120, 40), &Palette::new(Theme::Mono))
    }

    fn terminal() -> Terminal<TestBackend> {
        Terminal::new(TestBackend::new(120, 40)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn whole(screen: &AccountScreen) -> Buffer {
        let mut terminal = terminal();
        terminal
            .draw(|frame| screen.paint(frame))
            .unwrap_or_else(|e| panic!("{e}"));
        terminal.backend().buffer().clone()
    }

    /// `screen` painted over a whole painting of `drawn`.
    fn over(screen: &AccountScreen, drawn: &AccountScreen) -> Buffer {
        let last = whole(drawn);
        let mut terminal = terminal();
        terminal
            .draw(|frame| {
                frame.buffer_mut().content.clone_from(&last.content);
                screen.paint_over(drawn, frame.buffer_mut());
            })
            .unwrap_or_else(|e| panic!("{e}"));
        terminal.backend().buffer().clone()
    }

    fn changed_bodies(screen: &AccountScreen, drawn: &AccountScreen) -> Vec<usize> {
        (0..screen.panels.len())
            .filter(|i| screen.panels[*i].body != drawn.panels[*i].body)
            .collect()
    }

    #[test]
    fn a_tick_paints_the_clock_and_the_countdown_over_the_last_frame_as_a_whole_paint_would() {
        let mut app = one_account();
        let first = screen_of(&app);
        assert_eq!(screen_of(&app), first, "nothing moved: the loop skips");
        app.update(Msg::Tick(at(1)));
        let next = screen_of(&app);
        assert!(next.paints_over(&first));
        assert_ne!(next.panels[0].top, first.panels[0].top, "the clock");
        assert_eq!(changed_bodies(&next, &first), [0], "the countdown alone");
        assert_eq!(over(&next, &first), whole(&next));
    }

    #[test]
    fn a_shorter_top_title_or_body_leaves_nothing_of_the_longer_one() {
        let app = one_account();
        let first = screen_of(&app);
        let mut next = first.clone();
        // Letters of a longer title on a border row, or of a longer line, must not survive.
        next.panels[0].top[0] = Line::from(" t ");
        next.panels[1].body = Body::note("x", Style::new());
        next.panels[2].body = Body::Empty;
        assert!(next.paints_over(&first));
        assert_eq!(changed_bodies(&next, &first), [1, 2]);
        assert_eq!(over(&next, &first), whole(&next));
        assert_eq!(over(&first, &next), whole(&first));
    }

    #[test]
    fn a_changed_border_or_size_is_painted_whole() {
        let mut app = one_account();
        let first = screen_of(&app);
        app.focus = Focus::Logs;
        let focused = screen_of(&app);
        assert!(!focused.paints_over(&first), "the panel titles moved `▸`");
        let smaller = screen(&app, Rect::new(0, 0, 100, 30), &Palette::new(Theme::Mono));
        assert!(!smaller.paints_over(&focused));
    }

    #[test]
    fn the_layout_remembered_is_the_one_solved_for_the_same_key() {
        let keys = [
            (Rect::new(0, 0, 120, 40), 8, true),
            (Rect::new(0, 0, 120, 40), 8, true),
            (Rect::new(0, 0, 120, 40), 9, true),
            (Rect::new(0, 0, 120, 40), 9, false),
            (Rect::new(0, 0, 100, 30), 9, false),
            (Rect::new(0, 0, 100, 20), 8, true),
            (Rect::new(0, 0, 120, 40), 8, true),
        ];
        for key in keys {
            assert_eq!(areas(key), solve(key), "{key:?}");
        }
    }
}
