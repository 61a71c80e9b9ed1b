//! The `check` report in words: one line per account, as `check` prints it.

use super::model::{AccountReport, ExpiryReport};
use crate::engine::delivery::RateSummary;
use crate::engine::telemetry_types::WebhookRates;
use crate::format::left as format_left;

fn describe(expiry: &Option<ExpiryReport>) -> String {
    match expiry {
        Some(ExpiryReport { never: true, .. }) => "never".to_string(),
        Some(ExpiryReport {
            seconds_left: Some(left),
            ..
        }) => format_left(*left),
        _ => "unknown".to_string(),
    }
}

fn describe_rate(rate: Option<RateSummary>) -> String {
    match rate {
        Some(r) => format!(
            "{:.1}% ({}/{})",
            r.percent,
            r.delivered,
            r.delivered + r.failed
        ),
        None => "-".to_string(),
    }
}

/// `webhooks 1h: 98.2% delivered, 61.0% read (1,203 messages)`: Meta's own word on the
/// account's messages over the last hour.
pub fn webhook_line(webhooks: &WebhookRates) -> String {
    let hour = &webhooks.last_1h;
    let percent =
        |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}%"));
    format!(
        "webhooks 1h: {} delivered, {} read ({} messages)",
        percent(hour.delivery_percent),
        percent(hour.read_percent),
        grouped(hour.outcomes())
    )
}

/// `1,203`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `production: OK - valid; access 41d 03:12:45 (SYSTEM_USER EAAG…x9Qf); ...; phone GREEN CONNECTED AVAILABLE; ...`
pub fn account_line(report: &AccountReport) -> String {
    let long_lived = match &report.long_lived_token {
        None => "same token".to_string(),
        Some(_) => describe(&report.long_lived_expiry),
    };
    let scopes = if report.missing_scopes.is_empty() {
        "ok".to_string()
    } else {
        format!("missing {}", report.missing_scopes.join(", "))
    };
    let mut line = format!(
        "{}: {} - {}; access {} ({} {}); long-lived {}; data access {}; scopes {}",
        report.name,
        report.status.label(),
        report.state,
        describe(&report.access_expiry),
        report.token_type.as_deref().unwrap_or("type unknown"),
        report.access_token.as_deref().unwrap_or("no token"),
        long_lived,
        describe(&report.data_access_expiry),
        scopes
    );
    line.push_str(&format!("; class {}", report.token_class.word()));
    if report.purpose != crate::config::Purpose::Both {
        line.push_str(&format!("; purpose {}", report.purpose.word()));
    }
    if !report.labels.is_empty() {
        let labels: Vec<String> = report
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        line.push_str(&format!("; labels {}", labels.join(",")));
    }
    if let Some(phone) = &report.phone {
        let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_string());
        match &phone.error {
            Some(err) if phone.quality_rating.is_none() => {
                line.push_str(&format!("; phone unknown ({err})"))
            }
            _ => line.push_str(&format!(
                "; phone {} {} {}",
                field(&phone.quality_rating),
                field(&phone.status),
                field(&phone.can_send_message)
            )),
        }
    }
    if let Some(percent) = report.headroom.as_ref().and_then(|h| h.max_percent) {
        line.push_str(&format!("; rate-limit usage {percent}%"));
    }
    let d = &report.delivery_1h;
    line.push_str(&format!(
        "; delivery 1h logs {} test {} waba {}",
        describe_rate(d.logs),
        describe_rate(d.test_sends),
        describe_rate(d.analytics)
    ));
    if let Some(rate) = d.webhooks {
        line.push_str(&format!(" webhooks {}", describe_rate(Some(rate))));
    }
    match report.refresh_rate.as_ref().map(|r| (r, r.windows.last())) {
        Some((_, Some(longest))) if longest.attempted == 0 => {
            line.push_str(&format!("; no refreshes in {}", longest.window));
        }
        Some((rates, _)) => line.push_str(&format!("; refresh ok {}", rates.describe(true))),
        None => {}
    }
    if !report.reasons.is_empty() {
        line.push_str(&format!(" [{}]", report.reasons.join("; ")));
    }
    if let Some(webhooks) = &report.webhooks {
        line.push_str(&format!("\n  {}", webhook_line(webhooks)));
    }
    if let Some(hint) = &report.action_hint {
        line.push_str(&format!("\n  what to do: {hint}"));
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_account_with_webhook_statuses_gets_a_line_of_metas_word() {
        let s = snapshot(NOW + 30 * 86_400, true);
        let line_with = |webhooks: Option<WebhookRates>| {
            let extras = Extras {
                webhooks,
                ..Extras::default()
            };
            account_line(&account_report(&s, &RefreshPolicy::default(), NOW, &extras))
        };
        assert!(!line_with(None).contains("webhooks 1h"));
        let rates = WebhookRates {
            last_1h: WebhookWindow::from_counts(1_181, 720, 22),
            ..WebhookRates::default()
        };
        let text = line_with(Some(rates));
        assert!(
            text.contains("\n  webhooks 1h: 98.2% delivered, 61.0% read (1,203 messages)"),
            "{text}"
        );
        let quiet = line_with(Some(WebhookRates::default()));
        assert!(
            quiet.contains("webhooks 1h: - delivered, - read (0 messages)"),
            "{quiet}"
        );
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }

    use super::super::fixtures::{NOW, snapshot};
    use super::super::model::Extras;
    use super::super::rules::account_report;
    use super::*;
    use crate::config::RefreshPolicy;
    use crate::engine::telemetry_types::WebhookWindow;
    #[test]
    fn the_line_says_the_refresh_rate_or_that_there_were_no_refreshes() {
        use crate::engine::history::refresh_stats::{RefreshRates, account_rates};
        use crate::engine::history::{HistoryEntry, Outcome};
        let s = snapshot(NOW + 30 * 86_400, true);
        let line = |rates: RefreshRates| {
            let extras = Extras {
                refresh_rate: Some(rates),
                ..Extras::default()
            };
            account_line(&account_report(&s, &RefreshPolicy::default(), NOW, &extras))
        };
        let none = line(RefreshRates::default());
        assert!(none.contains("; no refreshes in 30d"), "{none}");
        let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        let mut entry = HistoryEntry::new(
            "a",
            crate::engine::history::cause::Trigger::Scheduled,
            Outcome::Ok,
        );
        entry.time = now - chrono::Duration::days(2);
        let some = line(account_rates([&entry], "a", now));
        assert!(
            some.contains("; refresh ok 24h no refreshes · 7d 1/1 · 30d 1/1"),
            "{some}"
        );
        let without = account_line(&account_report(
            &s,
            &RefreshPolicy::default(),
            NOW,
            &Extras::default(),
        ));
        assert!(!without.contains("refresh"), "{without}");
    }
}
