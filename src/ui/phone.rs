//! Phone-number health and rate-limit headroom of the selected account (two lines at the
//! bottom of the delivery panel, three while Meta's webhook news is newer than the last poll).

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span};

use super::delivery::minutes;
use super::theme::{Palette, Urgency};
use crate::engine::telemetry_types::{PhoneNews, PhoneSnapshot};

pub(crate) fn quality_urgency(word: &str) -> Urgency {
    match word {
        "GREEN" | "AVAILABLE" | "CONNECTED" => Urgency::Fine,
        "YELLOW" | "LIMITED" => Urgency::Warn,
        "RED" | "BLOCKED" | "FLAGGED" | "RESTRICTED" | "BANNED" | "DISCONNECTED" => {
            Urgency::Critical
        }
        _ => Urgency::Neutral,
    }
}

/// The health line, Meta's webhook news since the last poll (if any), and the headroom line.
pub fn lines(
    phone: Option<&PhoneSnapshot>,
    palette: &Palette,
    now: DateTime<Utc>,
) -> Vec<Line<'static>> {
    let label = || Span::styled("phone ", palette.label());
    let Some(phone) = phone else {
        return vec![Line::from(vec![
            label(),
            Span::styled("not checked yet", palette.dim()),
        ])];
    };
    let mut health = vec![label()];
    let news = phone.webhook.as_ref();
    // Meta's newer word on the limit replaces the polled one.
    let limit_told = news.is_some_and(|n| n.current_limit.is_some());
    match (&phone.health, &phone.error) {
        (Some(h), _) => {
            let can_send = h.health.as_ref().and_then(|s| s.can_send_message.clone());
            let words = [
                h.quality_rating.clone(),
                h.status.clone(),
                h.messaging_limit.clone().filter(|_| !limit_told),
                can_send,
            ];
            for word in words.into_iter().flatten() {
                let style = palette.urgency(quality_urgency(&word));
                health.push(Span::styled(word, style));
                health.push(Span::raw(" "));
            }
        }
        (None, Some(error)) => {
            health.push(Span::styled(error.clone(), palette.urgency(Urgency::Warn)))
        }
        (None, None) if news.is_some() => {}
        (None, None) => health.push(Span::styled("no data", palette.dim())),
    }
    let mut lines = vec![Line::from(health)];
    if let Some(news) = news {
        lines.push(news_line(news, palette, now));
    }
    lines.push(headroom(phone, palette));
    lines
}

/// `phone limit TIER_10K ↑ THROUGHPUT_UPGRADE · webhook 2m ago`, under the health line.
fn news_line(news: &PhoneNews, palette: &Palette, now: DateTime<Utc>) -> Line<'static> {
    let (arrow, urgency) = match news.raised() {
        Some(true) => (" ↑", Urgency::Fine),
        Some(false) => (" ↓", Urgency::Critical),
        None => ("", Urgency::Neutral),
    };
    let mut spans = vec![Span::styled("phone ", palette.label())];
    if let Some(limit) = &news.current_limit {
        spans.push(Span::styled("limit ", palette.label()));
        spans.push(Span::styled(
            format!("{limit}{arrow}"),
            palette.urgency(urgency),
        ));
        spans.push(Span::raw(" "));
    }
    if let Some(event) = &news.event {
        spans.push(Span::styled(event.clone(), palette.urgency(urgency)));
        spans.push(Span::raw(" "));
    }
    let ago = crate::format::within((now - news.at).num_seconds());
    spans.push(Span::styled(format!("· webhook {ago} ago"), palette.dim()));
    Line::from(spans)
}

fn headroom(phone: &PhoneSnapshot, palette: &Palette) -> Line<'static> {
    let label = Span::styled("limit ", palette.label());
    let Some(percent) = phone.usage.max_percent() else {
        return Line::from(vec![
            label,
            Span::styled("no usage reported yet", palette.dim()),
        ]);
    };
    let urgency = match percent {
        p if p >= 90 => Urgency::Critical,
        p if p >= 75 => Urgency::Warn,
        _ => Urgency::Fine,
    };
    let mut spans = vec![
        label,
        Span::styled(
            format!("{percent}% of rate limit used"),
            palette.urgency(urgency),
        ),
    ];
    if let Some(wait) = phone.usage.regain_access_after() {
        spans.push(Span::styled(
            format!(" · throttled, regain in {}", minutes(wait)),
            palette.urgency(Urgency::Critical),
        ));
    }
    Line::from(spans)
}
