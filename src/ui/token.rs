//! The token panel: the three countdowns (access token, long-lived token, data access) as
//! bars and text, token class, masked token, state in words, next refresh or retry, scopes,
//! the latest activity, and a banner that cannot be missed when sending is down.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::account_screen::{Body, Panel};
use super::format::{bar, fit};
use super::theme::{Palette, Urgency};
use crate::engine::urgency::{self, Level, Windows, long_lived_level, remedy};
use crate::engine::{AccountSnapshot, Inspection, TokenState};
use crate::format::{hms, left, span};
use crate::graph::Expiry;
use crate::tui::{AccountView, App};

const LABEL_WIDTH: usize = 14;
const WHAT_WIDTH: usize = 24;
const COUNTDOWN_WIDTH: usize = 21;
/// Data access lasts 90 days (REFERENCE.md); used when the token does not say when it began.
const DATA_ACCESS_SECS: i64 = 90 * 86_400;
/// Assumed lifetime for a bar whose token has no `issued_at`.
const DEFAULT_LIFETIME_SECS: i64 = 60 * 86_400;
const BODY_ROWS: u16 = 5;

/// A symbol for each state, shown next to the word and on the account's tab.
pub fn state_symbol(state: &TokenState) -> &'static str {
    match state {
        TokenState::Unknown => "?",
        TokenState::Valid => "✓",
        TokenState::NeverExpires => "∞",
        TokenState::Expiring => "◷",
        TokenState::Refreshing => "↻",
        TokenState::Backoff { .. } => "!",
        TokenState::Expired
        | TokenState::Invalid { .. }
        | TokenState::ReauthRequired { .. }
        | TokenState::Failed { .. }
        | TokenState::Revoked { .. } => "✗",
    }
}

/// The state as words: `✗ invalid (190/463)`.
pub fn state_words(state: &TokenState) -> String {
    let detail = match state {
        TokenState::Invalid { code, subcode } => match (code, subcode) {
            (Some(c), Some(s)) => format!(" ({c}/{s})"),
            (Some(c), None) => format!(" ({c})"),
            _ => String::new(),
        },
        TokenState::Revoked { event } => format!(" ({event})"),
        _ => String::new(),
    };
    format!("{} {}{detail}", state_symbol(state), state.label())
}

/// The dashboard's `[refresh]` warn and critical windows.
fn windows(app: &App) -> Windows {
    Windows {
        warn_before: app.warn_before,
        critical_before: app.critical_before,
    }
}

/// How urgent `secs` left on a countdown is under the warn / critical windows.
pub fn urgency_of(app: &App, secs: i64) -> Urgency {
    windows(app).level(secs).into()
}

/// The account's urgency by the one rule `check` uses too.
pub fn account_urgency(app: &App, snapshot: &AccountSnapshot) -> urgency::Urgency {
    urgency::urgency(snapshot, &windows(app), app.now.timestamp())
}

/// Rows the panel needs at this width (borders included).
pub fn height(app: &App, width: u16) -> u16 {
    let banner = app
        .selected_account()
        .map_or(0, |view| banner_lines(app, view, width).0.len() as u16);
    BODY_ROWS + 2 + banner + super::cluster::rows(app) + super::publish::rows(app)
}

/// The panel in `area`, the header on its top border.
pub fn panel(area: Rect, app: &App, palette: &Palette) -> Panel {
    let top = vec![
        super::header::left_title(app, area.width, palette),
        super::header::right_title(app, palette).right_aligned(),
    ];
    let body = body(area, app, palette);
    Panel {
        area,
        top,
        bottom: None,
        body,
    }
}

fn body(area: Rect, app: &App, palette: &Palette) -> Body {
    let inner = super::panel_block().inner(area);
    let Some(view) = app.selected_account() else {
        let text = "no accounts configured: add an [[account]] to the config file";
        return Body::note(text, palette.dim());
    };
    let (banner, level) = banner_lines(app, view, area.width);
    let mut lines: Vec<Line> = banner
        .into_iter()
        .map(|(text, headline)| {
            let style = if headline {
                palette.banner(level.into())
            } else {
                palette.urgency(level.into())
            };
            Line::styled(fit(&text, usize::from(inner.width)), style)
        })
        .collect();
    lines.extend(countdown_lines(
        app,
        view,
        usize::from(inner.width),
        palette,
    ));
    lines.push(state_line(app, view, palette));
    lines.push(activity_line(view, palette));
    lines.extend(super::publish::account_row(
        &view.snapshot,
        app.now.timestamp(),
        usize::from(inner.width),
        palette,
    ));
    lines.extend(super::cluster::account_row(
        app,
        view.name(),
        usize::from(inner.width),
        palette,
    ));
    Body::lines(lines)
}

/// Lines of the headline of the banner at most; the full reason is also in history.
const MAX_HEADLINE_LINES: usize = 2;

/// The banner when a person must act (sending is down, or re-auth is needed): headline, then
/// what to do, both wrapped, and how urgent it is. Each line comes with whether it belongs to
/// the headline.
fn banner_lines(app: &App, view: &AccountView, width: u16) -> (Vec<(String, bool)>, Level) {
    let snapshot = &view.snapshot;
    let urgency = account_urgency(app, snapshot);
    // While the access token still sends, say until when.
    let deadline = urgency
        .reauth_phrase()
        .filter(|_| urgency.sending_stops_in != Some(0))
        .map(|phrase| format!(" · {phrase}"))
        .unwrap_or_default();
    let headline = match &snapshot.state {
        TokenState::ReauthRequired { reason } => format!("✗ RE-AUTH REQUIRED: {reason}{deadline}"),
        TokenState::Invalid { .. } => format!(
            "✗ TOKEN INVALID{}: Meta rejects it, sending is down",
            state_words(&snapshot.state).trim_start_matches("✗ invalid")
        ),
        TokenState::Expired => "✗ TOKEN EXPIRED: sending is down".to_string(),
        TokenState::Failed { reason } => format!("✗ FAILED: {reason}"),
        _ if urgency.reauth_needed => {
            format!("! RE-AUTH NEEDED: tokentop can no longer extend this token{deadline}")
        }
        _ => return (Vec::new(), urgency.level),
    };
    let hint = match remedy(snapshot, &urgency) {
        Some(r) if r.refresh_first => format!("press r to refresh now. If that fails: {}", r.text),
        Some(r) => r.text,
        None => "press r to refresh now".to_string(),
    };
    let text_width = usize::from(width.saturating_sub(3));
    let mut headline = wrap(&headline, text_width);
    if headline.len() > MAX_HEADLINE_LINES {
        headline.truncate(MAX_HEADLINE_LINES);
        if let Some(last) = headline.last_mut() {
            last.push_str(" …");
        }
    }
    let mut lines: Vec<(String, bool)> = headline
        .into_iter()
        .map(|line| (format!(" {line}"), true))
        .collect();
    lines.extend(
        wrap(&format!("→ what to do: {hint}"), text_width)
            .into_iter()
            .map(|line| (line, false)),
    );
    // A banner is never green or grey: someone must act, soon or now.
    let level = if urgency.level == Level::Critical {
        Level::Critical
    } else {
        Level::Warning
    };
    (lines, level)
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(10);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let needed =
            current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
        if !current.is_empty() && needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn countdown_lines(
    app: &App,
    view: &AccountView,
    width: usize,
    palette: &Palette,
) -> Vec<Line<'static>> {
    let snapshot = &view.snapshot;
    let access = snapshot.access.as_ref();
    // The class says more than Meta's type (`business-60d` rather than `SYSTEM_USER`).
    let token_type = match snapshot.token_class {
        crate::engine::TokenClass::Unknown => access
            .and_then(|a| a.info.token_type.clone())
            .unwrap_or_else(|| "?".to_string()),
        class => class.word().to_string(),
    };
    let masked = snapshot
        .access_token_masked
        .clone()
        .unwrap_or_else(|| "no token".to_string());
    let access_what = format!("{token_type}  {masked}");
    let now = app.now.timestamp();
    let by_windows = |secs| urgency_of(app, secs);
    let access_row = countdown_row(
        now,
        "ACCESS TOKEN",
        &access_what,
        expiry_of(access),
        &by_windows,
        width,
        palette,
    );
    let long_lived_row = match (&snapshot.long_lived_token_masked, &snapshot.long_lived) {
        (None, _) => Line::from(vec![
            Span::styled(fit("LONG-LIVED", LABEL_WIDTH), palette.label()),
            Span::styled("same token (renewed with each refresh)", palette.dim()),
        ]),
        (Some(masked), inspection) => {
            let inspection = inspection.as_deref();
            let kind = inspection
                .and_then(|i| i.info.token_type.clone())
                .unwrap_or_else(|| "?".to_string());
            // Its running out stops refreshes, not sending: coloured by the one rule.
            let account = account_urgency(app, snapshot);
            let by_rule = |secs| long_lived_level(&account, &windows(app), secs).into();
            countdown_row(
                now,
                "LONG-LIVED",
                &format!("{kind}  {masked}"),
                expiry_of(inspection),
                &by_rule,
                width,
                palette,
            )
        }
    };
    let data = access.map(|a| {
        let expiry = a.info.data_access_expiry();
        let total = match expiry {
            Expiry::At(at) => DATA_ACCESS_SECS.max(at.saturating_sub(a.checked_at.timestamp())),
            _ => DATA_ACCESS_SECS,
        };
        (expiry, total)
    });
    let data_row = countdown_row(
        now,
        "DATA ACCESS",
        &scopes_text(snapshot),
        data.unwrap_or((Expiry::Unknown, DATA_ACCESS_SECS)),
        &by_windows,
        width,
        palette,
    );
    vec![access_row, long_lived_row, data_row]
}

fn expiry_of(inspection: Option<&Inspection>) -> (Expiry, i64) {
    match inspection {
        Some(i) => {
            let lifetime = match (i.info.expires_at, i.info.issued_at) {
                (Some(end), Some(start)) if end > start => end - start,
                _ => DEFAULT_LIFETIME_SECS,
            };
            (i.expiry(), lifetime)
        }
        None => (Expiry::Unknown, DEFAULT_LIFETIME_SECS),
    }
}

fn scopes_text(snapshot: &AccountSnapshot) -> String {
    if !snapshot.missing_scopes.is_empty() {
        let names: Vec<&str> = snapshot
            .missing_scopes
            .iter()
            .map(|s| s.trim_start_matches("whatsapp_business_"))
            .collect();
        return format!("✗ missing {}", names.join(", "));
    }
    match &snapshot.access {
        Some(_) => "✓ messaging ✓ management".to_string(),
        None => "scopes not checked yet".to_string(),
    }
}

/// One countdown: label, what, bar and time left, the last two coloured by `colour` of the
/// seconds left.
fn countdown_row(
    now: i64,
    label: &str,
    what: &str,
    (expiry, lifetime_secs): (Expiry, i64),
    colour: &dyn Fn(i64) -> Urgency,
    width: usize,
    palette: &Palette,
) -> Line<'static> {
    let (text, urgency, fraction) = match expiry {
        Expiry::Never => ("never expires".to_string(), Urgency::Fine, Some(1.0)),
        Expiry::Unknown => ("unknown".to_string(), Urgency::Neutral, None),
        Expiry::At(at) => {
            let secs = at.saturating_sub(now);
            let fraction = secs as f64 / lifetime_secs.max(1) as f64;
            (left(secs), colour(secs), Some(fraction))
        }
    };
    let bar_width = width.saturating_sub(LABEL_WIDTH + WHAT_WIDTH + 1 + COUNTDOWN_WIDTH + 1);
    let bar_text = match fraction {
        Some(f) if bar_width >= 4 => bar(f, bar_width),
        _ => " ".repeat(bar_width),
    };
    Line::from(vec![
        Span::styled(fit(label, LABEL_WIDTH), palette.label()),
        Span::raw(fit(what, WHAT_WIDTH)),
        Span::raw(" "),
        Span::styled(bar_text, palette.urgency(urgency)),
        Span::raw(" "),
        Span::styled(
            format!("{text:>width$}", width = COUNTDOWN_WIDTH),
            palette.urgency(urgency),
        ),
    ])
}

fn state_line(app: &App, view: &AccountView, palette: &Palette) -> Line<'static> {
    let snapshot = &view.snapshot;
    let now = app.now.timestamp();
    let next = match (&snapshot.state, snapshot.next_refresh_at) {
        (TokenState::Backoff { retry_at }, _) => {
            format!("next retry in {}", span(retry_at.saturating_sub(now)))
        }
        (TokenState::ReauthRequired { .. }, _) => "no refresh possible".to_string(),
        (_, Some(at)) if at <= now => "refresh due now".to_string(),
        (_, Some(at)) => format!("next refresh in {}", span(at.saturating_sub(now))),
        (TokenState::NeverExpires, None) => "no refresh needed".to_string(),
        (_, None) => "no refresh scheduled".to_string(),
    };
    let checked = snapshot
        .access
        .as_ref()
        .map(|a| format!("  · checked {}", hms(a.checked_at)))
        .unwrap_or_default();
    Line::from(vec![
        Span::styled(fit("STATE", LABEL_WIDTH), palette.label()),
        Span::styled(
            state_words(&snapshot.state),
            palette.urgency(account_urgency(app, snapshot).level.into()),
        ),
        Span::raw(format!("  · {next}")),
        Span::styled(checked, palette.dim()),
    ])
}

/// The latest thing that happened to the account, most pressing first.
fn activity_line(view: &AccountView, palette: &Palette) -> Line<'static> {
    let snapshot = &view.snapshot;
    let (text, urgency) =
        if view.refresh_pending.is_some() || snapshot.state == TokenState::Refreshing {
            ("↻ refreshing…".to_string(), Urgency::Warn)
        } else if let Some(problem) = &snapshot.config_problem {
            (format!("✗ config: {problem}"), Urgency::Critical)
        } else {
            let refresh = view.last_refresh.as_ref().map(|(at, report)| {
                let outcome = if report.ok { "ok" } else { "FAILED" };
                let urgency = if report.ok {
                    Urgency::Fine
                } else {
                    Urgency::Critical
                };
                (
                    *at,
                    format!("{} forced refresh {outcome}: {}", hms(*at), report.message),
                    urgency,
                )
            });
            let alert = view.last_alert.as_ref().map(|(at, message)| {
                (
                    *at,
                    format!("{} ALERT: {message}", hms(*at)),
                    Urgency::Critical,
                )
            });
            match [refresh, alert]
                .into_iter()
                .flatten()
                .max_by_key(|(at, _, _)| *at)
            {
                Some((_, text, urgency)) => (text, urgency),
                None => match &snapshot.last_error {
                    Some(error) => (format!("last error: {error}"), Urgency::Warn),
                    None => ("—".to_string(), Urgency::Neutral),
                },
            }
        };
    Line::from(vec![
        Span::styled(fit("LAST", LABEL_WIDTH), palette.label()),
        Span::styled(text, palette.urgency(urgency)),
    ])
}
