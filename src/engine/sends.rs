//! Sending through the send guard: refresh first when the token is about to expire, and
//! refresh-and-retry once when Meta says the token is dead (code 190).

use secrecy::SecretString;
use tokio::time::Instant;

use super::account::AccountLink;
use super::clock::Clock;
use super::events::SendReport;
use super::history::cause::{SendChannel, Trigger};
use super::history::{HistoryEntry, HistoryError, Outcome};
use super::source::TokenSource;
use crate::config::RefreshPolicy;
use crate::graph::{ErrorClass, GraphError, OutgoingMessage};

/// The log lines existing WhatsApp backends and their alerts use; keep verbatim.
pub const LOG_EXPIRING_REFRESHING: &str =
    "WhatsApp token is expired or expiring soon, refreshing...";
pub const LOG_EXPIRED_ATTEMPTING: &str = "WhatsApp token expired, attempting refresh";

/// The account's test message, to `to` or the configured recipient.
pub fn test_message(link: &AccountLink, to: Option<&str>) -> Result<OutgoingMessage, String> {
    let settings = &link.settings.test_message;
    let to = to
        .map(|t| t.trim_start_matches('+').to_string())
        .or_else(|| settings.to.clone())
        .ok_or_else(|| {
            format!(
                "account {} has no test recipient: set [account.test-message] to, or pass --to NUMBER",
                link.settings.name
            )
        })?;
    Ok(match &settings.text {
        Some(body) => OutgoingMessage::Text {
            to,
            body: body.clone(),
        },
        None => OutgoingMessage::Template {
            to,
            name: settings.template.clone(),
            language: settings.language.clone(),
        },
    })
}

/// Sends `message` for the account through the guard; returns the report and the history
/// entry to record.
pub async fn send_guarded(
    link: &AccountLink,
    source: &dyn TokenSource,
    policy: &RefreshPolicy,
    clock: &Clock,
    message: &OutgoingMessage,
) -> (SendReport, HistoryEntry) {
    let started = Instant::now();
    let name = link.settings.name.clone();
    let mut report = SendReport::not_accepted(&name, Some(recipient(message).to_string()), None);
    let result = attempt(link, source, policy, clock, message, &mut report).await;
    let outcome = match &result {
        Ok(sent) => {
            report.accepted = true;
            report.message_id = sent.message_id.clone();
            report.message_status = sent.message_status.clone();
            Outcome::Ok
        }
        Err(err) => {
            report.error = Some(err.to_string());
            report.error_code = err.code;
            report.error_title = err.user_title.clone();
            Outcome::Failed
        }
    };
    report.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut entry = HistoryEntry::new(&name, SendChannel::Test, outcome);
    entry.latency_ms = Some(report.latency_ms);
    entry.detail = Some(format!("{} to {}", kind(message), recipient(message)));
    if let Err(err) = &result {
        entry.error = Some(Box::new(HistoryError::from(err)));
    }
    (report, entry)
}

async fn attempt(
    link: &AccountLink,
    source: &dyn TokenSource,
    policy: &RefreshPolicy,
    clock: &Clock,
    message: &OutgoingMessage,
    report: &mut SendReport,
) -> Result<crate::graph::SendResult, GraphError> {
    let name = &link.settings.name;
    let (Some(app), Some(phone)) = (&link.app, &link.settings.phone_number_id) else {
        return Err(super::source::local_error(&format!(
            "account {name} cannot send: app-id, app-secret and phone-number-id are required"
        )));
    };
    let (token, refreshed) = guarded_token(link, policy, clock).await?;
    report.refreshed = refreshed;
    match source.send(app, &token, phone, message).await {
        Ok(sent) => Ok(sent.value),
        Err(err) if err.class == ErrorClass::TokenDead => {
            tracing::warn!(account = %name, "{LOG_EXPIRED_ATTEMPTING}");
            let stale = Some(super::store::fingerprint(&token));
            let fresh = link
                .refresh(Trigger::AuthError, stale)
                .await
                .map_err(|_| err)?;
            report.refreshed = true;
            source
                .send(app, &fresh.token, phone, message)
                .await
                .map(|sent| sent.value)
        }
        Err(err) => Err(err),
    }
}

/// The account's token for a send, refreshed first when it expires within the send guard (or
/// is missing); true when it was refreshed. A failed refresh leaves the current token to try.
pub(crate) async fn guarded_token(
    link: &AccountLink,
    policy: &RefreshPolicy,
    clock: &Clock,
) -> Result<(SecretString, bool), GraphError> {
    let name = &link.settings.name;
    let view = link.token.borrow().clone();
    let guard_secs = i64::try_from(policy.send_guard.as_secs()).unwrap_or(i64::MAX);
    let expiring = view
        .expires_at
        .is_some_and(|at| at.saturating_sub(clock.now_unix()) <= guard_secs);
    if expiring || view.token.is_none() {
        tracing::warn!(account = %name, "{LOG_EXPIRING_REFRESHING}");
        if let Ok(fresh) = link
            .refresh(Trigger::SendGuard, view.fingerprint.clone())
            .await
        {
            return Ok((fresh.token, true));
        }
    }
    match view.token {
        Some(token) => Ok((token, false)),
        None => Err(super::source::local_error(&format!(
            "account {name} has no access token"
        ))),
    }
}

fn recipient(message: &OutgoingMessage) -> &str {
    match message {
        OutgoingMessage::Template { to, .. } | OutgoingMessage::Text { to, .. } => to,
    }
}

fn kind(message: &OutgoingMessage) -> String {
    match message {
        OutgoingMessage::Template { name, .. } => format!("template {name}"),
        OutgoingMessage::Text { .. } => "text".to_string(),
    }
}
