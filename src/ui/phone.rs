//! Phone-number health and rate-limit headroom of the selected account (two lines at the
//! bottom of the delivery panel).

use ratatui::text::{Line, Span};

use super::delivery::minutes;
use super::theme::{Palette, Urgency};
use crate::engine::telemetry_types::PhoneSnapshot;

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

pub fn lines(phone: Option<&PhoneSnapshot>, palette: &Palette) -> Vec<Line<'static>> {
    let label = || Span::styled("phone ", palette.label());
    let Some(phone) = phone else {
        return vec![Line::from(vec![
            label(),
            Span::styled("not checked yet", palette.dim()),
        ])];
    };
    let mut health = vec![label()];
    match (&phone.health, &phone.error) {
        (Some(h), _) => {
            let can_send = h.health.as_ref().and_then(|s| s.can_send_message.clone());
            let words = [
                h.quality_rating.clone(),
                h.status.clone(),
                h.messaging_limit.clone(),
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
        (None, None) => health.push(Span::styled("no data", palette.dim())),
    }
    vec![Line::from(health), headroom(phone, palette)]
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
