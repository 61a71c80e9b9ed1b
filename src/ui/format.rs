//! Terminal-only text shapes of the panels: bars, sparklines, fixed-width cells. Countdowns,
//! clock times and durations are in [`crate::format`], shared with the headless commands.

/// A bar of `width` cells, `fraction` (0..=1) of them full.
pub fn bar(fraction: f64, width: usize) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((fraction * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// One block character per value, scaled to the largest.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 {
                BARS[0]
            } else {
                let index = (v * 7).div_ceil(max) as usize;
                BARS[index.min(7)]
            }
        })
        .collect()
}

/// Pads or cuts `text` to exactly `width` characters.
pub fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        format!("{text}{}", " ".repeat(width - count))
    } else if width == 0 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sparklines_stay_in_range() {
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(f64::NAN, 2), "░░");
        assert_eq!(bar(7.0, 3), "███");
        assert_eq!(sparkline(&[0, 1, 8]), "▁▂█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
