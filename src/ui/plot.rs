//! The frame around a braille chart: value labels down the left, time labels along the bottom, and the area left for the canvas.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// The labels of a chart's two axes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Axes {
    /// The value at the top and at the bottom of the plot (`24h`, `0`; `100%`, `80%`).
    pub top: String,
    pub bottom: String,
    /// The time at the left edge, the middle and the right edge (`-24h`, `-12h`, `now`).
    pub left: String,
    pub middle: String,
    pub right: String,
}

/// Below this many rows or columns a chart has no room for labels: only the plot is drawn.
const LABELLED_MIN_ROWS: u16 = 3;
const LABELLED_MIN_COLS: u16 = 12;

/// Draws the labels of `axes` into `area` and returns the rectangle left for the plot.
/// Never panics: a tiny area gets the plot alone (possibly empty).
pub fn frame(buf: &mut Buffer, area: Rect, axes: &Axes, style: Style) -> Rect {
    let area = area.intersection(buf.area);
    let label_cols = axes.top.chars().count().max(axes.bottom.chars().count());
    let label_cols = u16::try_from(label_cols).unwrap_or(u16::MAX);
    if area.height < LABELLED_MIN_ROWS || area.width < LABELLED_MIN_COLS.saturating_add(label_cols)
    {
        return area;
    }
    let plot = Rect {
        x: area.x + label_cols + 1,
        y: area.y,
        width: area.width - label_cols - 1,
        height: area.height - 1,
    };
    let axis_x = plot.x - 1;
    for y in plot.y..plot.bottom() {
        buf.set_string(axis_x, y, "│", style);
    }
    let last_row = plot.bottom() - 1;
    right_aligned(buf, area.x, plot.y, label_cols, &axes.top, style);
    right_aligned(buf, area.x, last_row, label_cols, &axes.bottom, style);
    buf.set_string(axis_x, plot.y, "┤", style);
    buf.set_string(axis_x, last_row, "┤", style);
    time_labels(buf, plot, axes, style);
    plot
}

fn right_aligned(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) {
    let len = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    buf.set_stringn(
        x + width.saturating_sub(len),
        y,
        text,
        usize::from(width),
        style,
    );
}

/// The left label under the plot's first column, the right one ending under its last, the
/// middle one centred when it touches neither.
fn time_labels(buf: &mut Buffer, plot: Rect, axes: &Axes, style: Style) {
    let y = plot.bottom();
    let width = usize::from(plot.width);
    let left_len = axes.left.chars().count();
    let right_len = axes.right.chars().count();
    if left_len + 1 + right_len > width {
        return;
    }
    buf.set_string(plot.x, y, &axes.left, style);
    let right_x = plot.right() - u16::try_from(right_len).unwrap_or(0);
    buf.set_string(right_x, y, &axes.right, style);
    let middle_len = axes.middle.chars().count();
    let middle_start = (width / 2).saturating_sub(middle_len / 2);
    if middle_start > left_len + 1 && middle_start + middle_len + 1 < width - right_len {
        let x = plot.x + u16::try_from(middle_start).unwrap_or(0);
        buf.set_string(x, y, &axes.middle, style);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn axes() -> Axes {
        Axes {
            top: "24h".into(),
            bottom: "0".into(),
            left: "-24h".into(),
            middle: "-12h".into(),
            right: "now".into(),
        }
    }

    fn rows(buf: &Buffer) -> Vec<String> {
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn labels_sit_beside_and_below_the_plot() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 30, 4));
        let area = buf.area;
        let plot = frame(&mut buf, area, &axes(), Style::new());
        assert_eq!(plot, Rect::new(4, 0, 26, 3));
        assert_eq!(
            rows(&buf),
            vec![
                "24h┤                          ",
                "   │                          ",
                "  0┤                          ",
                "    -24h       -12h        now",
            ]
        );
    }

    #[test]
    fn tiny_areas_get_the_plot_alone_and_never_panic() {
        for (w, h) in [(0, 0), (1, 1), (20, 5), (15, 2), (5, 20)] {
            let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
            let area = buf.area;
            let plot = frame(&mut buf, area, &axes(), Style::new());
            assert!(buf.area.union(plot) == buf.area || plot.is_empty());
        }
        // An area reaching past the buffer is cut to it.
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 3));
        let plot = frame(&mut buf, Rect::new(5, 1, 40, 40), &axes(), Style::new());
        assert_eq!(plot, Rect::new(5, 1, 5, 2));
    }
}
