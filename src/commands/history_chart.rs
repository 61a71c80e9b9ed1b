//! `tokentop history --chart`: each account's token lifetime chart on stdout, the dashboard's widget drawn into a buffer and printed as text.

use std::io::IsTerminal;
use std::process::ExitCode;

use chrono::Utc;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

use super::stdout;
use crate::config::{EnvSnapshot, Theme};
use crate::engine::history::HistoryEntry;
use crate::engine::history::lifetime::Lifetime;
use crate::ui::lifetime_chart::{self, LifetimeChart};
use crate::ui::theme::Palette;

/// Rows of one chart: the plot and its time labels.
pub const CHART_ROWS: u16 = 12;
/// Width when stdout is not a terminal and `--width` is not given.
pub const DEFAULT_WIDTH: u16 = 80;
/// The narrowest and widest chart `--width` takes (clap checks the same range).
pub const MIN_WIDTH: u16 = 30;
pub const MAX_WIDTH: u16 = 1000;

/// Prints one chart per account of `entries` (oldest first), or of `account` only.
pub fn print(
    entries: &[HistoryEntry],
    account: Option<&str>,
    width: Option<u16>,
    theme: Theme,
) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdout().is_terminal();
    let colour =
        terminal && theme != Theme::Mono && EnvSnapshot::from_process().get("NO_COLOR").is_none();
    let width = width.unwrap_or_else(|| terminal_width(terminal));
    let palette = Palette::new(if colour { theme } else { Theme::Mono });
    let now = Utc::now().timestamp();
    for (index, name) in accounts(entries, account).into_iter().enumerate() {
        if index > 0 {
            stdout::line("")?;
        }
        let lifetime = Lifetime::from_history(entries.iter().filter(|e| e.account == name));
        for line in chart_lines(name, &lifetime, now, width, palette, colour) {
            stdout::line(line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The terminal's width on a terminal, else [`DEFAULT_WIDTH`]; kept inside the allowed range.
fn terminal_width(terminal: bool) -> u16 {
    let width = if terminal {
        crossterm::terminal::size().map_or(DEFAULT_WIDTH, |(w, _)| w)
    } else {
        DEFAULT_WIDTH
    };
    width.clamp(MIN_WIDTH, MAX_WIDTH)
}

/// Account names in the order they first appear, or just `only`.
fn accounts<'a>(entries: &'a [HistoryEntry], only: Option<&'a str>) -> Vec<&'a str> {
    if let Some(name) = only {
        return vec![name];
    }
    let mut names: Vec<&str> = Vec::new();
    for entry in entries {
        if !names.contains(&entry.account.as_str()) {
            names.push(&entry.account);
        }
    }
    names
}

/// The title line and the chart of one account, as text (ANSI-coloured when `colour`).
pub fn chart_lines(
    name: &str,
    lifetime: &Lifetime,
    now: i64,
    width: u16,
    palette: Palette,
    colour: bool,
) -> Vec<String> {
    let window = lifetime.window(lifetime.span_secs(now), now, None);
    let mut lines = vec![format!(
        "{name} · token time left over {}",
        lifetime_chart::summary(&window)
    )];
    let area = Rect::new(0, 0, width, CHART_ROWS);
    let mut buf = Buffer::empty(area);
    LifetimeChart::new(&window, palette).render(area, &mut buf);
    lines.extend((0..area.height).map(|y| row_text(&buf, y, colour)));
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// One buffer row without trailing blanks; with `colour`, SGR codes where the style changes.
fn row_text(buf: &Buffer, y: u16, colour: bool) -> String {
    let mut text = String::new();
    let mut current = Style::new();
    for x in 0..buf.area.width {
        let cell = &buf[(x, y)];
        if colour {
            let style = Style::new().fg(cell.fg).add_modifier(cell.modifier);
            if style != current {
                text.push_str(&sgr(cell.fg, cell.modifier));
                current = style;
            }
        }
        text.push_str(cell.symbol());
    }
    let trimmed_len = text.trim_end_matches(' ').len();
    text.truncate(trimmed_len);
    if colour && current != Style::new() {
        text.push_str("\x1b[0m");
    }
    text
}

/// The escape sequence that sets exactly `fg` and bold.
fn sgr(fg: Color, modifier: Modifier) -> String {
    let colour = match fg {
        Color::Red => "31".to_string(),
        Color::Green => "32".to_string(),
        Color::Yellow => "33".to_string(),
        Color::Blue => "34".to_string(),
        Color::Cyan => "36".to_string(),
        Color::Gray => "37".to_string(),
        Color::DarkGray => "90".to_string(),
        Color::Rgb(r, g, b) => format!("38;2;{r};{g};{b}"),
        _ => "39".to_string(),
    };
    let bold = if modifier.contains(Modifier::BOLD) {
        "1"
    } else {
        "22"
    };
    format!("\x1b[0;{bold};{colour}m")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::DateTime;

    use super::*;
    use crate::engine::history::Outcome;
    use crate::engine::history::cause::{SendChannel, Trigger};
    use crate::graph::Expiry;

    const HOUR: i64 = 3600;
    const NOW: i64 = 1_800_000_000;

    fn lifetime() -> Lifetime {
        let rows = [(20, Outcome::Ok), (9, Outcome::Failed), (8, Outcome::Ok)].map(
            |(hours_ago, outcome)| {
                let mut e = HistoryEntry::new("main", Trigger::Scheduled, outcome);
                e.time = DateTime::from_timestamp(NOW - hours_ago * HOUR, 0).unwrap();
                if outcome == Outcome::Ok {
                    e.new_expires_at = Some(Expiry::At(e.time.timestamp() + 12 * HOUR));
                }
                e
            },
        );
        Lifetime::from_history(&rows)
    }

    #[test]
    fn plain_text_has_no_escapes_and_colour_resets_at_each_line_end() {
        let plain = chart_lines(
            "main",
            &lifetime(),
            NOW,
            60,
            Palette::new(Theme::Mono),
            false,
        );
        assert_eq!(
            plain[0],
            "main · token time left over 24h · 1 refresh · 1 failed ✗"
        );
        assert!(plain.iter().all(|l| !l.contains('\x1b')));
        assert!(plain.iter().any(|l| l.contains('✗')));
        assert!(plain.iter().all(|l| !l.ends_with(' ')));
        assert!(plain.iter().all(|l| l.chars().count() <= 60));

        let coloured = chart_lines(
            "main",
            &lifetime(),
            NOW,
            60,
            Palette::new(Theme::Dark),
            true,
        );
        assert!(coloured.iter().any(|l| l.contains("\x1b[0;1;31m✗")));
        for line in coloured.iter().filter(|l| l.contains('\x1b')) {
            assert!(line.ends_with("\x1b[0m"), "{line:?}");
        }
    }

    #[test]
    fn every_account_once_in_order_unless_one_is_asked_for() {
        let entry = |name: &str| HistoryEntry::new(name, SendChannel::Test, Outcome::Ok);
        let entries = [entry("b"), entry("a"), entry("b")];
        assert_eq!(accounts(&entries, None), vec!["b", "a"]);
        assert_eq!(accounts(&entries, Some("c")), vec!["c"]);
        assert_eq!(terminal_width(false), DEFAULT_WIDTH);
    }
}
