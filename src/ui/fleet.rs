//! The fleet view: every account in one table, k9s-style, worst first by default. The top
//! border counts the accounts by urgency, the bottom border holds the keys, and a prompt row
//! shows the name filter. Columns narrow, then drop, as the terminal gets narrower.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::fleet_cells::{Col, RowCtx, cell};
use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::engine::urgency::Level;
use crate::tui::{App, FleetTable};

const BRAND: &str = " tokentop ";

/// One column: what, its narrow and wide widths, and its titles for each.
struct Spec {
    col: Col,
    narrow: usize,
    wide: usize,
    narrow_title: &'static str,
    wide_title: &'static str,
}

const fn spec(col: Col, narrow: usize, wide: usize, titles: (&'static str, &'static str)) -> Spec {
    Spec {
        col,
        narrow,
        wide,
        narrow_title: titles.0,
        wide_title: titles.1,
    }
}

/// In screen order. The name column is sized apart (see [`layout`]).
const SPECS: [Spec; 10] = [
    spec(Col::State, 12, 18, ("STATE", "STATE")),
    spec(Col::Name, NAME_MIN, NAME_MIN, ("ACCOUNT", "ACCOUNT")),
    spec(Col::Access, 7, 12, ("ACCESS", "ACCESS")),
    spec(Col::LongLived, 7, 12, ("LONG", "LONG-LIVED")),
    spec(Col::Class, 7, 14, ("CLASS", "CLASS")),
    spec(Col::Phone, 6, 16, ("PHONE", "PHONE")),
    spec(Col::Rate, 5, 7, ("1H", "RATE 1H")),
    spec(Col::Publish, 5, 14, ("PUB", "PUBLISHED")),
    spec(Col::Last, 8, 20, ("LAST", "LAST REFRESH")),
    spec(Col::Next, 6, 15, ("NEXT", "NEXT REFRESH")),
];
/// Dropped in this order while the columns do not fit.
const DROP: [Col; 6] = [
    // The class first: the 80-column table stays as it was.
    Col::Class,
    Col::Publish,
    Col::Rate,
    Col::Next,
    Col::Phone,
    Col::LongLived,
];
/// Widened in this order while there is room.
const WIDEN: [Col; 9] = [
    Col::State,
    Col::Access,
    Col::LongLived,
    Col::Last,
    Col::Class,
    Col::Phone,
    Col::Next,
    Col::Rate,
    Col::Publish,
];
const NAME_MIN: usize = 12;
const NAME_GOOD: usize = 20;
const NAME_MAX: usize = 32;

/// A column as laid out: which, how wide, and whether it uses its wide form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub col: Col,
    pub width: usize,
}

fn spec_of(col: Col) -> &'static Spec {
    // Every `Col` has one entry in SPECS, so the search always finds it; the fallback is
    // the first entry only to avoid a panic path.
    SPECS.iter().find(|s| s.col == col).unwrap_or(&SPECS[0])
}

fn used(columns: &[Column]) -> usize {
    columns.iter().map(|c| c.width).sum::<usize>() + columns.len().saturating_sub(1)
}

fn grow(columns: &mut [Column], col: Col, to: usize, room: usize) {
    let spare = room.saturating_sub(used(columns));
    if let Some(c) = columns.iter_mut().find(|c| c.col == col) {
        c.width = to.max(c.width).min(c.width + spare);
    }
}

/// The columns for a table `width` cells wide (the cursor column included); the publish
/// column only when some account publishes, the class column only when some account's class
/// is known (else either would be a column of dashes).
pub fn layout(width: u16, publish: bool, class: bool) -> Vec<Column> {
    let room = usize::from(width).saturating_sub(1);
    let mut columns: Vec<Column> = SPECS
        .iter()
        .filter(|s| publish || s.col != Col::Publish)
        .filter(|s| class || s.col != Col::Class)
        .map(|s| Column {
            col: s.col,
            width: s.narrow,
        })
        .collect();
    for col in DROP {
        if used(&columns) <= room {
            break;
        }
        columns.retain(|c| c.col != col);
    }
    grow(&mut columns, Col::Name, NAME_GOOD, room);
    for col in WIDEN {
        let wide = spec_of(col).wide;
        let extra = columns
            .iter()
            .find(|c| c.col == col)
            .map_or(0, |c| wide.saturating_sub(c.width));
        if used(&columns) + extra <= room {
            grow(&mut columns, col, wide, room);
        }
    }
    grow(&mut columns, Col::Name, NAME_MAX, room);
    columns
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    super::fleet_screen::screen(app, area, palette).paint(frame);
}

pub(super) fn header(columns: &[Column], palette: &Palette) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, column) in columns.iter().enumerate() {
        let spec = spec_of(column.col);
        let title = if column.width >= spec.wide {
            spec.wide_title
        } else {
            spec.narrow_title
        };
        let gap = if i + 1 < columns.len() { " " } else { "" };
        spans.push(Span::styled(
            format!("{}{gap}", fit(title, column.width)),
            palette.label(),
        ));
    }
    Line::from(spans)
}

/// The rows of the page the cursor is on (`height` rows a page), and the cursor: only the
/// rows of that page are formatted.
pub(super) fn page<'r>(
    app: &App,
    rows: &'r [usize],
    height: usize,
) -> (&'r [usize], Option<usize>) {
    let cursor = app.fleet_cursor(rows);
    let position = rows.iter().position(|&r| Some(r) == cursor).unwrap_or(0);
    let height = height.max(1);
    let first = (position / height * height).min(rows.len());
    (&rows[first..rows.len().min(first + height)], cursor)
}

/// The lines of `page` (from [`page`]), the cursor row reversed and marked `▸`, or what an
/// empty table says.
pub(super) fn body(
    app: &App,
    (page, cursor): (&[usize], Option<usize>),
    columns: &[Column],
    palette: &Palette,
) -> Vec<Line<'static>> {
    if page.is_empty() {
        let text = if app.accounts.is_empty() {
            "no accounts configured: add an [[account]] to the config file".to_string()
        } else {
            format!("no account name contains {:?}", app.fleet.filter)
        };
        return vec![Line::styled(text, palette.dim())];
    }
    page.iter()
        .filter_map(|&index| {
            let at_cursor = Some(index) == cursor;
            let line = row(app, index, columns, at_cursor, palette)?;
            Some(if at_cursor {
                line.style(palette.selected())
            } else {
                line
            })
        })
        .collect()
}

#[cfg(test)]
thread_local! {
    /// Fleet rows formatted on this thread: a test checks that only the page on screen is.
    pub(super) static ROWS_FORMATTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn row(
    app: &App,
    index: usize,
    columns: &[Column],
    at_cursor: bool,
    palette: &Palette,
) -> Option<Line<'static>> {
    #[cfg(test)]
    ROWS_FORMATTED.with(|rows| rows.set(rows.get() + 1));
    let ctx = RowCtx {
        app,
        view: app.accounts.get(index)?,
        urgency: app.urgency_of(index)?,
    };
    let mut spans = vec![Span::raw(if at_cursor { "▸" } else { " " })];
    for (i, column) in columns.iter().enumerate() {
        let (text, style) = cell(column.col, column.width, &ctx, palette);
        spans.push(Span::styled(fit(&text, column.width), style));
        if i + 1 < columns.len() {
            spans.push(Span::raw(" "));
        }
    }
    Some(Line::from(spans))
}

/// `/prod▏  12 of 60 · Enter keeps · Esc clears`
pub(super) fn prompt_line(
    app: &App,
    shown: usize,
    total: usize,
    palette: &Palette,
) -> Line<'static> {
    let mut spans = vec![
        Span::styled("/", palette.accent()),
        Span::raw(app.fleet.filter.clone()),
    ];
    let help = if app.fleet.editing {
        spans.push(Span::styled("▏", palette.accent()));
        "Enter keeps · Esc clears"
    } else {
        "/ edits · Esc clears"
    };
    spans.push(Span::styled(
        format!("  {shown} of {total} accounts · {help}"),
        palette.dim(),
    ));
    Line::from(spans)
}

/// Counts of accounts per level, worst first, with each level's word and short word.
fn counts(table: &FleetTable) -> [(usize, &'static str, &'static str, Level); 4] {
    [
        (Level::Critical, "critical", "crit"),
        (Level::Unknown, "unknown", "unkn"),
        (Level::Warning, "warning", "warn"),
        (Level::Ok, "ok", "ok"),
    ]
    .map(|(level, word, short)| (table.count(level), word, short, level))
}

/// The top border: brand, then `60 accounts · 4 critical · 9 warning · 47 ok`, shortened
/// until it fits beside the clock.
pub(super) fn title(
    table: &FleetTable,
    right: &Line,
    width: u16,
    palette: &Palette,
) -> Line<'static> {
    let room = usize::from(width).saturating_sub(right.width() + 2 + BRAND.len() + 2);
    let counts = counts(table);
    let total = table.total;
    let spans = |short: bool, with_ok: bool| -> Vec<Span<'static>> {
        let mut spans = vec![Span::raw(format!(" {total} accounts"))];
        for (count, word, short_word, level) in counts {
            if count == 0 || (level == Level::Ok && !with_ok) {
                continue;
            }
            let word = if short { short_word } else { word };
            spans.push(Span::raw(" · "));
            let style = palette.urgency(Urgency::from(level));
            spans.push(Span::styled(format!("{count} {word}"), style));
        }
        spans.push(Span::raw(" "));
        spans
    };
    let fits = |s: &[Span]| s.iter().map(Span::width).sum::<usize>() <= room;
    let summary = [(false, true), (false, false), (true, false)]
        .into_iter()
        .map(|(short, with_ok)| spans(short, with_ok))
        .find(|s| fits(s.as_slice()))
        .unwrap_or_else(|| vec![Span::raw(format!(" {total} "))]);
    let mut line = vec![Span::styled(BRAND, palette.label()), Span::raw("─")];
    line.extend(summary);
    Line::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(width: u16) -> Vec<Col> {
        layout(width, true, true)
            .into_iter()
            .map(|c| c.col)
            .collect()
    }

    #[test]
    fn columns_drop_as_the_width_shrinks_and_always_fit() {
        assert_eq!(cols(200).len(), 10);
        assert_eq!(cols(78).len(), 9, "all but the class fit at 80 columns");
        assert!(cols(86).contains(&Col::Class));
        assert!(!cols(72).contains(&Col::Publish));
        assert!(
            cols(72).contains(&Col::Rate),
            "the publish column goes first"
        );
        let without: Vec<Col> = layout(200, false, false)
            .into_iter()
            .map(|c| c.col)
            .collect();
        assert_eq!(
            without.len(),
            8,
            "no publish column when no account publishes, no class column when none is known"
        );
        assert!(!without.contains(&Col::Class));
        assert!(!without.contains(&Col::Publish));
        assert!(!cols(58).contains(&Col::Rate));
        assert!(!cols(58).contains(&Col::Next));
        for width in 58..=300u16 {
            let columns = layout(width, true, true);
            assert!(used(&columns) < usize::from(width), "{width}: {columns:?}");
        }
        for width in 0..58u16 {
            let _ = layout(width, true, true);
        }
    }

    #[test]
    fn wider_screens_widen_columns_and_the_name() {
        let at = |width: u16, col: Col| {
            layout(width, false, false)
                .into_iter()
                .find(|c| c.col == col)
                .map(|c| c.width)
        };
        assert_eq!(at(78, Col::Access), Some(7));
        assert_eq!(at(118, Col::Access), Some(12));
        assert!(at(118, Col::Name).unwrap_or(0) >= NAME_GOOD);
        assert_eq!(at(198, Col::Name), Some(NAME_MAX));
    }
}
