//! The delivery panel: success rates per window and source, the log sparkline, the account's
//! last test message, top failure codes, then the phone's health and rate-limit headroom.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{fit, sparkline};
use super::theme::{Palette, Urgency};
use crate::engine::delivery::DeliverySource;
use crate::engine::telemetry_types::TelemetrySnapshot;
use crate::format::hms;
use crate::tui::{AccountView, App};

const WINDOWS_SECS: [u64; 3] = [15 * 60, 3600, 24 * 3600];

pub fn render(frame: &mut Frame, area: Rect, app: &App, palette: &Palette) {
    let spark = app
        .telemetry
        .as_ref()
        .filter(|t| t.delivery_sparkline.iter().any(|v| *v > 0))
        .map(|t| format!("· logs 1h {} ", sparkline(&t.delivery_sparkline)))
        .unwrap_or_default();
    let block = super::panel_block().title_top(format!(" Delivery {spark}"));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = rate_lines(app.telemetry.as_ref(), palette);
    if let Some(view) = app.selected_account() {
        lines.push(test_line(view, palette));
    }
    lines.push(failure_line(app.telemetry.as_ref(), palette));
    if let Some(view) = app.selected_account() {
        lines.extend(super::phone::lines(view.phone.as_ref(), palette, app.now));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn source_name(source: DeliverySource) -> &'static str {
    match source {
        DeliverySource::Logs => "logs",
        DeliverySource::TestSends => "test",
        DeliverySource::Analytics => "WABA",
        DeliverySource::Proxy => "proxy",
        DeliverySource::Webhooks => "hooks",
    }
}

fn has_rows(telemetry: Option<&TelemetrySnapshot>, source: DeliverySource) -> bool {
    telemetry.is_some_and(|t| {
        t.delivery
            .iter()
            .any(|row| row.source == source && row.rate.is_some())
    })
}

pub(crate) fn rate_urgency(percent: f64) -> Urgency {
    if percent >= 95.0 {
        Urgency::Fine
    } else if percent >= 80.0 {
        Urgency::Warn
    } else {
        Urgency::Critical
    }
}

fn rate_lines(telemetry: Option<&TelemetrySnapshot>, palette: &Palette) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        "rate   15m    1h   24h  1h ok/fail",
        palette.dim(),
    )];
    for source in DeliverySource::ALL {
        // The proxy's and the relay's rows appear once they have something: most setups have
        // neither.
        let optional = matches!(source, DeliverySource::Proxy | DeliverySource::Webhooks);
        if optional && !has_rows(telemetry, source) {
            continue;
        }
        let mut spans = vec![Span::raw(fit(source_name(source), 5))];
        let mut hour_counts = None;
        for window in WINDOWS_SECS {
            let rate = telemetry.and_then(|t| {
                t.delivery
                    .iter()
                    .find(|row| row.source == source && row.window_secs == window)
                    .and_then(|row| row.rate)
            });
            match rate {
                Some(rate) => {
                    spans.push(Span::styled(
                        format!(" {:>5}", percent(rate.percent)),
                        palette.urgency(rate_urgency(rate.percent)),
                    ));
                    if window == 3600 {
                        hour_counts = Some((rate.delivered, rate.failed));
                    }
                }
                None => spans.push(Span::styled(format!(" {:>5}", "–"), palette.dim())),
            }
        }
        if let Some((delivered, failed)) = hour_counts {
            spans.push(Span::styled(
                format!("  {delivered}/{failed}"),
                palette.dim(),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines
}

fn test_line(view: &AccountView, palette: &Palette) -> Line<'static> {
    let label = Span::styled("test  ", palette.label());
    if view.send_pending.is_some() {
        return Line::from(vec![
            label,
            Span::styled("sending…", palette.urgency(Urgency::Warn)),
        ]);
    }
    let Some((at, report)) = &view.last_send else {
        return Line::from(vec![
            label,
            Span::styled("none sent yet · t sends one", palette.dim()),
        ]);
    };
    let to = report.to.clone().unwrap_or_default();
    let (text, urgency) = if report.accepted {
        let status = report
            .message_status
            .clone()
            .unwrap_or_else(|| "accepted".to_string());
        (format!("{} {status} → {to}", hms(*at)), Urgency::Fine)
    } else {
        let error = report.error.clone().unwrap_or_else(|| "failed".to_string());
        (
            format!("{} FAILED → {to}: {error}", hms(*at)),
            Urgency::Critical,
        )
    };
    Line::from(vec![label, Span::styled(text, palette.urgency(urgency))])
}

fn failure_line(telemetry: Option<&TelemetrySnapshot>, palette: &Palette) -> Line<'static> {
    let label = Span::styled("fail  ", palette.label());
    let failures = telemetry
        .map(|t| t.top_failures.as_slice())
        .unwrap_or_default();
    if failures.is_empty() {
        return Line::from(vec![
            label,
            Span::styled("no failure codes in 24h", palette.dim()),
        ]);
    }
    let text: Vec<String> = failures
        .iter()
        .take(4)
        .map(|f| format!("{} ×{}", f.code, f.count))
        .collect();
    Line::from(vec![
        label,
        Span::styled(text.join(" · "), palette.urgency(Urgency::Warn)),
    ])
}

/// Seconds as `5m` for the regain estimate.
pub fn minutes(duration: Duration) -> String {
    format!("{}m", duration.as_secs().div_ceil(60))
}

/// `98.7%`, or `100%` so the column stays five wide.
pub(crate) fn percent(value: f64) -> String {
    if value >= 99.95 {
        "100%".to_string()
    } else {
        format!("{value:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Theme;
    use crate::engine::delivery::RateSummary;
    use crate::engine::telemetry_types::DeliveryRow;

    fn row_names(telemetry: Option<&TelemetrySnapshot>) -> Vec<String> {
        rate_lines(telemetry, &Palette::new(Theme::Mono))
            .iter()
            .skip(1)
            .map(|line| {
                line.to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_relays_row_appears_once_it_has_statuses() {
        let mut telemetry = TelemetrySnapshot::default();
        assert_eq!(row_names(Some(&telemetry)), ["logs", "test", "WABA"]);
        telemetry.delivery.push(DeliveryRow {
            source: DeliverySource::Webhooks,
            window_secs: 3600,
            rate: RateSummary::from_counts(9, 1),
        });
        assert_eq!(
            row_names(Some(&telemetry)),
            ["logs", "test", "WABA", "hooks"]
        );
    }
}
