//! The token lifetime chart: time left on the access token over a span, in braille, failed refreshes marked `✗`; for the dashboard and `tokentop history --chart`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine};
use ratatui::widgets::{Paragraph, Widget};

use super::plot::{self, Axes};
use super::theme::{Palette, Urgency};
use crate::engine::history::lifetime::LifetimeWindow;
use crate::format::within;

/// The mark of a failed refresh: a glyph, so it reads without colour.
pub const FAILURE_MARK: &str = "✗";

/// The chart of one window (no border: the caller's panel or the command draws that).
pub struct LifetimeChart<'a> {
    pub window: &'a LifetimeWindow,
    pub palette: Palette,
    /// The colour of the line; `Reset` in the mono theme.
    pub line_color: Color,
}

impl<'a> LifetimeChart<'a> {
    pub fn new(window: &'a LifetimeWindow, palette: Palette) -> Self {
        let line_color = palette.accent().fg.unwrap_or(Color::Reset);
        Self {
            window,
            palette,
            line_color,
        }
    }
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// An axis amount: whole days from two days on when exact (or from a week on, rounded down),
/// else whole hours from two hours on, else minutes; `36h` says more than `1d`.
pub fn amount(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= 7 * DAY || (secs >= 2 * DAY && secs % DAY == 0) {
        format!("{}d", secs / DAY)
    } else if secs >= 2 * HOUR {
        format!("{}h", secs / HOUR)
    } else {
        within(secs)
    }
}

/// The panel title that fits in `width` columns: `Token lifetime · 3d · 4 refreshes · 1
/// failed ✗`, shorter forms keeping the failure count (the colourless reader's cue) longest.
pub fn title(window: &LifetimeWindow, width: u16) -> String {
    let span = amount(window.now.saturating_sub(window.from));
    let failed = match window.failures.len() {
        0 => String::new(),
        n => format!(" · {n} failed {FAILURE_MARK}"),
    };
    [
        format!(" Token lifetime · {} ", summary(window)),
        format!(" Lifetime {span}{failed} "),
        format!(" {span}{failed} "),
    ]
    .into_iter()
    .find(|t| t.chars().count() + 2 <= usize::from(width))
    .unwrap_or_default()
}

/// `7d · 3 refreshes · 1 failed ✗`: what the chart shows, in words.
pub fn summary(window: &LifetimeWindow) -> String {
    let span = amount(window.now.saturating_sub(window.from));
    let renewals = match window.renewals {
        1 => "1 refresh".to_string(),
        n => format!("{n} refreshes"),
    };
    let mut text = format!("{span} · {renewals}");
    if !window.failures.is_empty() {
        text.push_str(&format!(
            " · {} failed {FAILURE_MARK}",
            window.failures.len()
        ));
    }
    text
}

/// The sentence drawn instead of a chart with nothing to plot (in the dim style).
pub fn note(window: &LifetimeWindow) -> Option<&'static str> {
    if !window.lines.is_empty() || !window.failures.is_empty() {
        return None;
    }
    Some(if window.never {
        "∞ the token never expires: nothing counts down"
    } else {
        "no expiry known yet: the chart starts with the first inspection"
    })
}

impl Widget for LifetimeChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let window = self.window;
        if let Some(text) = note(window) {
            Paragraph::new(text)
                .style(self.palette.dim())
                .render(area, buf);
            return;
        }
        let span_secs = window.now.saturating_sub(window.from).max(1);
        let axes = Axes {
            top: amount(window.max_left),
            bottom: "0".to_string(),
            left: format!("-{}", amount(span_secs)),
            middle: format!("-{}", amount(span_secs / 2)),
            right: "now".to_string(),
        };
        let plot = plot::frame(buf, area, &axes, self.palette.dim());
        if plot.is_empty() {
            return;
        }
        let now = window.now;
        // x: seconds before now (negative), y: seconds left.
        let point = |(at, left): (i64, i64)| (at.saturating_sub(now) as f64, left as f64);
        let failure_style = self.palette.urgency(Urgency::Critical);
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([-(span_secs as f64), 0.0])
            .y_bounds([0.0, window.max_left as f64])
            .paint(|ctx| {
                for line in &window.lines {
                    for pair in line.windows(2) {
                        let (x1, y1) = point(pair[0]);
                        let (x2, y2) = point(pair[1]);
                        ctx.draw(&CanvasLine::new(x1, y1, x2, y2, self.line_color));
                    }
                }
                for failure in &window.failures {
                    let (x, y) = point(*failure);
                    ctx.print(x, y, Span::styled(FAILURE_MARK, failure_style));
                }
            })
            .render(plot, buf);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Theme;
    use crate::engine::history::lifetime::LifetimeWindow;

    const HOUR: i64 = 3600;

    fn text(buf: &Buffer) -> String {
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    fn window() -> LifetimeWindow {
        LifetimeWindow {
            from: 0,
            now: 24 * HOUR,
            lines: vec![vec![
                (0, 24 * HOUR),
                (12 * HOUR, 12 * HOUR),
                (12 * HOUR, 24 * HOUR),
                (24 * HOUR, 12 * HOUR),
            ]],
            failures: vec![(11 * HOUR, 13 * HOUR)],
            renewals: 1,
            max_left: 24 * HOUR,
            never: false,
        }
    }

    #[test]
    fn the_sawtooth_is_braille_with_the_failure_marked_by_a_glyph() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 8));
        let window = window();
        LifetimeChart::new(&window, Palette::new(Theme::Mono)).render(buf.area, &mut buf);
        let drawn = text(&buf);
        assert!(drawn.contains(FAILURE_MARK), "{drawn}");
        assert!(
            drawn
                .chars()
                .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
        );
        assert!(drawn.starts_with("24h┤"), "{drawn}");
        assert!(drawn.contains("-24h") && drawn.contains("-12h"), "{drawn}");
        assert_eq!(summary(&window), "24h · 1 refresh · 1 failed ✗");
        assert_eq!(title(&window, 40), " Lifetime 24h · 1 failed ✗ ");
        assert_eq!(title(&window, 12), "");
        assert_eq!(title(&window, 20), " 24h · 1 failed ✗ ");
    }

    #[test]
    fn axis_amounts_say_hours_until_days_are_whole() {
        let cases = [
            (90, "1m"),
            (6 * HOUR, "6h"),
            (DAY, "24h"),
            (DAY + DAY / 2, "36h"),
            (3 * DAY, "3d"),
            (3 * DAY + DAY / 2, "84h"),
            (59 * DAY + 23 * HOUR, "59d"),
            (-5, "0s"),
            (i64::MAX, "106751991167300d"),
        ];
        for (secs, text) in cases {
            assert_eq!(amount(secs), text, "{secs}");
        }
    }

    #[test]
    fn no_line_says_why_and_tiny_areas_do_not_panic() {
        let never = LifetimeWindow {
            never: true,
            ..LifetimeWindow::default()
        };
        let mut buf = Buffer::empty(Rect::new(0, 0, 60, 2));
        LifetimeChart::new(&never, Palette::new(Theme::Mono)).render(buf.area, &mut buf);
        assert!(text(&buf).contains("never expires"));
        let window = window();
        for (w, h) in [(1, 1), (20, 5), (3, 30), (0, 0), (200, 1)] {
            let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
            LifetimeChart::new(&window, Palette::new(Theme::Dark)).render(buf.area, &mut buf);
        }
    }
}
