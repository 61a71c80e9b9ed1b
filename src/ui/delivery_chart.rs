//! The delivery success rate over 24 h as a braille line, one point per hour, a gap where nothing was sent, the worst hour labelled.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine};
use ratatui::widgets::{Paragraph, Widget};

use super::delivery::{percent, rate_urgency};
use super::plot::{self, Axes};
use super::theme::{Palette, Urgency};

/// The rate line of `hours` (oldest first, percent; `None` for an hour without sends).
pub struct DeliveryChart<'a> {
    pub hours: &'a [Option<f64>],
    pub palette: Palette,
}

/// The lowest rate the axis starts at: at least five points under the worst hour, rounded
/// down to ten, at most 90%, so a day between 97% and 99% is not a flat line at the top and
/// the worst hour is never on the axis.
pub fn floor_percent(hours: &[Option<f64>]) -> f64 {
    let worst = hours
        .iter()
        .flatten()
        .copied()
        .filter(|r| r.is_finite())
        .fold(100.0_f64, f64::min)
        .clamp(0.0, 100.0);
    (((worst - 5.0) / 10.0).floor() * 10.0).clamp(0.0, 90.0)
}

impl DeliveryChart<'_> {
    fn color(&self, rate: f64) -> Color {
        self.palette
            .urgency(rate_urgency(rate))
            .fg
            .unwrap_or(Color::Reset)
    }
}

impl Widget for DeliveryChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let hours = self.hours;
        if hours.iter().all(Option::is_none) {
            Paragraph::new("no sends counted in 24h · logs with a delivered/failed pattern or the proxy feed this line")
                .style(self.palette.dim())
                .render(area, buf);
            return;
        }
        let floor = floor_percent(hours);
        let axes = Axes {
            top: "100%".to_string(),
            bottom: format!("{floor:.0}%"),
            left: format!("-{}h", hours.len()),
            middle: format!("-{}h", hours.len() / 2),
            right: "now".to_string(),
        };
        let plot = plot::frame(buf, area, &axes, self.palette.dim());
        if plot.is_empty() {
            return;
        }
        let last = hours.len().saturating_sub(1).max(1) as f64;
        let points: Vec<Option<(f64, f64)>> = hours
            .iter()
            .enumerate()
            .map(|(i, rate)| {
                rate.filter(|r| r.is_finite())
                    .map(|r| (i as f64 - last, r.clamp(0.0, 100.0)))
            })
            .collect();
        let worst = points
            .iter()
            .flatten()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, rate)| rate_urgency(*rate) != Urgency::Fine);
        let label_style = self.palette.urgency(Urgency::Critical);
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([-last, 0.0])
            .y_bounds([floor, 100.0])
            .paint(|ctx| {
                for pair in points.windows(2) {
                    if let [Some((x1, y1)), Some((x2, y2))] = *pair {
                        let color = self.color(y1.min(y2));
                        ctx.draw(&CanvasLine::new(x1, y1, x2, y2, color));
                    }
                }
                // A lone hour between two gaps is a dot.
                for (i, point) in points.iter().enumerate() {
                    let before = i.checked_sub(1).and_then(|j| points[j]);
                    let after = points.get(i + 1).copied().flatten();
                    if let (Some((x, y)), None, None) = (*point, before, after) {
                        ctx.draw(&CanvasLine::new(x, y, x, y, self.color(y)));
                    }
                }
                if let Some((x, y)) = worst {
                    let label = format!("▼{}", percent(y));
                    // Near the right edge the label ends at the edge instead of being cut.
                    let cell = last / f64::from(plot.width.max(1));
                    let room = -(label.chars().count() as f64) * cell;
                    ctx.print(x.min(room), y, Span::styled(label, label_style));
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

    #[test]
    fn the_axis_starts_below_the_worst_hour() {
        assert_eq!(floor_percent(&[Some(97.0), None, Some(99.0)]), 90.0);
        assert_eq!(floor_percent(&[Some(82.5), Some(100.0)]), 70.0);
        assert_eq!(floor_percent(&[Some(80.0)]), 70.0);
        assert_eq!(floor_percent(&[Some(f64::NAN), Some(-5.0)]), 0.0);
        assert_eq!(floor_percent(&[]), 90.0);
    }

    #[test]
    fn the_worst_hour_is_labelled_and_gaps_stay_gaps() {
        let mut hours = vec![Some(99.0); 24];
        hours[5] = None;
        hours[17] = Some(82.0);
        let mut buf = Buffer::empty(Rect::new(0, 0, 50, 8));
        let chart = DeliveryChart {
            hours: &hours,
            palette: Palette::new(Theme::Mono),
        };
        chart.render(buf.area, &mut buf);
        let drawn = text(&buf);
        assert!(drawn.contains("▼82.0%"), "{drawn}");
        assert!(drawn.contains("70%┤"), "{drawn}");
        assert!(drawn.contains("-24h") && drawn.contains("now"), "{drawn}");
    }

    #[test]
    fn the_label_of_the_newest_hour_ends_at_the_right_edge() {
        let mut hours = vec![None; 24];
        hours[23] = Some(80.0);
        let mut buf = Buffer::empty(Rect::new(0, 0, 40, 6));
        DeliveryChart {
            hours: &hours,
            palette: Palette::new(Theme::Mono),
        }
        .render(buf.area, &mut buf);
        assert!(text(&buf).contains("▼80.0%"), "{}", text(&buf));
    }

    #[test]
    fn nothing_sent_says_so_and_tiny_areas_do_not_panic() {
        let empty = vec![None; 24];
        let mut buf = Buffer::empty(Rect::new(0, 0, 60, 2));
        DeliveryChart {
            hours: &empty,
            palette: Palette::new(Theme::Mono),
        }
        .render(buf.area, &mut buf);
        assert!(text(&buf).contains("no sends counted"));
        let one = vec![Some(50.0)];
        for (w, h) in [(1, 1), (20, 5), (0, 0), (2, 40)] {
            let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
            DeliveryChart {
                hours: &one,
                palette: Palette::new(Theme::Dark),
            }
            .render(buf.area, &mut buf);
        }
    }
}
