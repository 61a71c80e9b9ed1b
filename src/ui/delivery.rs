//! The delivery panel: success rates per window and source (the relay's `hooks` row with the
//! selected account's delivery and read rates), the log sparkline, the account's last test
//! message, top failure codes, then the phone's health and rate-limit headroom.

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::account_screen::{Body, Panel};
use super::format::{fit, sparkline};
use super::theme::{Palette, Urgency};
use crate::engine::delivery::{DeliverySource, RateSummary};
use crate::engine::telemetry_types::{TelemetrySnapshot, WebhookWindow};
use crate::format::hms;
use crate::tui::{AccountView, App};

const WINDOWS_SECS: [u64; 3] = [15 * 60, 3600, 24 * 3600];

/// The panel in `area`.
pub fn panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    let spark = app
        .telemetry
        .as_ref()
        .filter(|t| t.delivery_sparkline.iter().any(|v| *v > 0))
        .map(|t| format!("· logs 1h {} ", sparkline(&t.delivery_sparkline)))
        .unwrap_or_default();
    let selected = app.selected_account().map(AccountView::name);
    let mut lines = rate_lines(app.telemetry.as_ref(), selected, palette);
    if let Some(view) = app.selected_account() {
        lines.push(test_line(view, palette));
    }
    lines.push(failure_line(app.telemetry.as_ref(), palette));
    if let Some(view) = app.selected_account() {
        lines.extend(super::phone::lines(view.phone.as_ref(), palette, app.now));
    }
    Panel::titled(area, format!(" Delivery {spark}"), Body::lines(lines))
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

/// The rate rows, one per source; the relay's `hooks` row is the selected account's when the
/// relay has its statuses (else the fleet's), followed by its `read` rate.
fn rate_lines(
    telemetry: Option<&TelemetrySnapshot>,
    selected: Option<&str>,
    palette: &Palette,
) -> Vec<Line<'static>> {
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
        let rates = WINDOWS_SECS.map(|window| {
            telemetry.and_then(|t| {
                t.delivery
                    .iter()
                    .find(|row| row.source == source && row.window_secs == window)
                    .and_then(|row| row.rate)
            })
        });
        match (source, telemetry) {
            (DeliverySource::Webhooks, Some(t)) => {
                let hooks = hook_windows(t, rates, selected);
                lines.extend(hook_lines(&hooks, palette));
            }
            _ => {
                let percents = rates.map(|r| r.map(|r| r.percent));
                let hour = rates[1].map(|r| (r.delivered, r.failed));
                lines.push(rate_line(source_name(source), percents, hour, palette));
            }
        }
    }
    lines
}

/// `logs   99.1% 98.7%  98.0%  1204/16`: a percent per window, coloured, and the hour's counts.
fn rate_line(
    name: &str,
    percents: [Option<f64>; 3],
    hour_counts: Option<(u64, u64)>,
    palette: &Palette,
) -> Line<'static> {
    let mut spans = vec![Span::raw(fit(name, 5))];
    for value in percents {
        spans.push(match value {
            Some(value) => Span::styled(
                format!(" {:>5}", percent(value)),
                palette.urgency(rate_urgency(value)),
            ),
            None => Span::styled(format!(" {:>5}", "–"), palette.dim()),
        });
    }
    if let Some((delivered, failed)) = hour_counts {
        spans.push(Span::styled(
            format!("  {delivered}/{failed}"),
            palette.dim(),
        ));
    }
    Line::from(spans)
}

/// The `hooks` numbers per window: the selected account's when the relay has its statuses,
/// else the fleet's (every status's delivery, the configured accounts' reads).
fn hook_windows(
    telemetry: &TelemetrySnapshot,
    fleet: [Option<RateSummary>; 3],
    selected: Option<&str>,
) -> [Option<WebhookWindow>; 3] {
    if let Some(rates) = selected.and_then(|a| telemetry.webhook_accounts.get(a)) {
        return WINDOWS_SECS.map(|window| rates.window(window).copied());
    }
    let mut windows = [None; 3];
    for ((slot, rate), window_secs) in windows.iter_mut().zip(fleet).zip(WINDOWS_SECS) {
        let Some(rate) = rate else { continue };
        let (delivered, read) = telemetry
            .webhook_accounts
            .values()
            .filter_map(|rates| rates.window(window_secs))
            .fold((0, 0), |(d, r), w| (d + w.delivered, r + w.read));
        let accounts = WebhookWindow::from_counts(delivered, read, 0);
        *slot = Some(WebhookWindow {
            read,
            read_percent: accounts.read_percent,
            ..WebhookWindow::from_counts(rate.delivered, 0, rate.failed)
        });
    }
    windows
}

/// The `hooks` row, and a `read` row under it once a read rate is known (read rates of 40 to
/// 80% are normal: not coloured as delivery is).
fn hook_lines(windows: &[Option<WebhookWindow>; 3], palette: &Palette) -> Vec<Line<'static>> {
    let delivery = windows.map(|w| w.and_then(|w| w.delivery_percent));
    let hour = windows[1].map(|w| (w.delivered, w.failed));
    let mut lines = vec![rate_line("hooks", delivery, hour, palette)];
    let reads = windows.map(|w| w.and_then(|w| w.read_percent));
    if reads.iter().any(Option::is_some) {
        let mut spans = vec![Span::raw(fit("read", 5))];
        for value in reads {
            let text = value.map_or_else(|| "–".to_string(), percent);
            spans.push(Span::styled(format!(" {text:>5}"), palette.dim()));
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
    use crate::engine::telemetry_types::{DeliveryRow, WebhookRates};

    fn row_names(telemetry: Option<&TelemetrySnapshot>) -> Vec<String> {
        rate_lines(telemetry, None, &Palette::new(Theme::Mono))
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

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_hooks_row_is_the_selected_accounts_with_its_read_rate_else_the_fleets() {
        let mut telemetry = TelemetrySnapshot::default();
        for window_secs in WINDOWS_SECS {
            telemetry.delivery.push(DeliveryRow {
                source: DeliverySource::Webhooks,
                window_secs,
                rate: RateSummary::from_counts(180, 20),
            });
        }
        let window = |delivered, read, failed| WebhookWindow::from_counts(delivered, read, failed);
        let shop = WebhookRates {
            last_15m: window(10, 5, 0),
            last_1h: window(98, 60, 2),
            last_24h: window(98, 60, 2),
            ..WebhookRates::default()
        };
        let cafe = WebhookRates {
            last_1h: window(40, 20, 10),
            ..WebhookRates::default()
        };
        telemetry.webhook_accounts.insert("shop".into(), shop);
        telemetry.webhook_accounts.insert("cafe".into(), cafe);
        let palette = Palette::new(Theme::Mono);
        let lines = text(&rate_lines(Some(&telemetry), Some("shop"), &palette));
        let hooks = lines.iter().position(|l| l.starts_with("hooks")).unwrap();
        assert_eq!(lines[hooks], "hooks  100% 98.0% 98.0%  98/2");
        assert_eq!(lines[hooks + 1], "read  50.0% 61.2% 61.2%");
        // Another account without statuses: the fleet's delivery, every account's reads
        // (80 of 138 delivered in the hour, 60 of 98 in the day).
        let lines = text(&rate_lines(Some(&telemetry), Some("other"), &palette));
        let hooks = lines.iter().position(|l| l.starts_with("hooks")).unwrap();
        assert_eq!(lines[hooks], "hooks 90.0% 90.0% 90.0%  180/20");
        assert_eq!(lines[hooks + 1], "read  50.0% 58.0% 61.2%");
        // Without per-account statuses there is no read row.
        telemetry.webhook_accounts.clear();
        let lines = text(&rate_lines(Some(&telemetry), Some("shop"), &palette));
        assert!(lines.last().unwrap().starts_with("hooks"), "{lines:?}");
    }
}
