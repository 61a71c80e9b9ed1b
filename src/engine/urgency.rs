//! The one urgency rule: how urgent an account is (OK, WARNING, UNKNOWN, CRITICAL) and what a
//! person must do, following the time until sending stops. Used by `check`, the dashboard and
//! anything that alerts, so they never disagree. Pure: no clock, no I/O.
//!
//! Sending stops when the access token dies. A token that can no longer be refreshed (a dead
//! long-lived token) is therefore a WARNING while the access token still has time ("re-auth
//! needed within 59d"), and CRITICAL only inside `critical-before` or once the access token
//! itself is dead.

use std::time::Duration;

use serde::Serialize;

use super::reauth_hint;
use super::state::{AccountSnapshot, Inspection, TokenState};
use crate::config::RefreshPolicy;
use crate::format::{format_unix, left, span, within};
use crate::graph::Expiry;

/// How urgent an account is, in the monitoring-plugin order: the worst of several is the
/// maximum (CRITICAL > UNKNOWN > WARNING > OK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    #[default]
    Ok,
    Warning,
    /// Not known: not configured, or never inspected.
    Unknown,
    Critical,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Unknown => "UNKNOWN",
            Level::Critical => "CRITICAL",
        }
    }
}

/// The `[refresh]` windows: WARNING inside `warn-before`, CRITICAL inside `critical-before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub warn_before: Duration,
    pub critical_before: Duration,
}

impl From<&RefreshPolicy> for Windows {
    fn from(policy: &RefreshPolicy) -> Self {
        Self {
            warn_before: policy.warn_before,
            critical_before: policy.critical_before,
        }
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Windows {
    /// The countdown rule for `secs_left` until something lapses (negative: already past).
    pub fn level(&self, secs_left: i64) -> Level {
        if secs_left <= secs(self.critical_before) {
            Level::Critical
        } else if secs_left <= secs(self.warn_before) {
            Level::Warning
        } else {
            Level::Ok
        }
    }
}

/// An account's urgency and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Urgency {
    pub level: Level,
    /// One short phrase per thing that raised the level, in the order found.
    pub reasons: Vec<String>,
    /// Seconds until sending stops if nobody acts: the access token's time left, 0 once it
    /// is dead; `None` when it never expires or is not known.
    pub sending_stops_in: Option<i64>,
    /// Only a person can keep sending going: the token can no longer be refreshed.
    pub reauth_needed: bool,
}

impl Urgency {
    fn raise(&mut self, to: Level, reason: String) {
        self.level = self.level.max(to);
        self.reasons.push(reason);
    }

    /// `re-auth needed within 59d`, or `re-auth required: sending is down`; `None` when no
    /// re-auth is needed.
    pub fn reauth_phrase(&self) -> Option<String> {
        self.reauth_needed
            .then(|| reauth_deadline(self.sending_stops_in))
    }
}

/// The one phrasing of a re-auth deadline, from the seconds until sending stops (`None`: the
/// access token never expires, or it is not known).
fn reauth_deadline(sending_stops_in: Option<i64>) -> String {
    match sending_stops_in {
        Some(secs) if secs > 0 => format!("re-auth needed within {}", within(secs)),
        Some(_) => "re-auth required: sending is down".to_string(),
        None => "re-auth required".to_string(),
    }
}

/// `re-auth needed before 2026-12-03 14:00:00 UTC`: a deadline as a date, for text that stays up
/// (an action hint) and so must not go stale.
pub fn reauth_before(at: i64) -> String {
    format!("re-auth needed before {}", format_unix(at))
}

/// The deadline an alert about a needed re-auth carries at `now`, in the words `check` and the
/// dashboard use, with the date while there is time: `re-auth needed before 2026-12-03 14:00:00
/// UTC (within 59d)`, `re-auth required: sending is down`. `stops_at`: when sending stops
/// (unix seconds), `None` when never or not known.
pub fn reauth_alert_phrase(stops_at: Option<i64>, now: i64) -> String {
    let stops_in = stops_at.map(|at| at.saturating_sub(now).max(0));
    match (stops_at, stops_in) {
        (Some(at), Some(secs)) if secs > 0 => {
            let words = reauth_deadline(stops_in);
            let within = words.trim_start_matches("re-auth needed ");
            format!("{} ({within})", reauth_before(at))
        }
        _ => reauth_deadline(stops_in),
    }
}

/// When sending stops for `snapshot` if nobody acts (unix seconds): now once the access token
/// is dead, `None` when it never expires or is not known.
pub fn sending_stops_at(snapshot: &AccountSnapshot, now: i64) -> Option<i64> {
    sending_stops_in(snapshot, now).map(|secs| now.saturating_add(secs))
}

/// The access token is dead for sending: the engine says so, Meta rejects it, or it expired.
fn access_dead(snapshot: &AccountSnapshot, now: i64) -> bool {
    matches!(
        snapshot.state,
        TokenState::Expired | TokenState::Invalid { .. }
    ) || snapshot.access.as_ref().is_some_and(|i| dead(i, now))
}

fn sending_stops_in(snapshot: &AccountSnapshot, now: i64) -> Option<i64> {
    if access_dead(snapshot, now) {
        return Some(0);
    }
    match snapshot.access.as_ref()?.expiry() {
        Expiry::At(at) => Some(at.saturating_sub(now).max(0)),
        Expiry::Never | Expiry::Unknown => None,
    }
}

/// Dead for exchanging: Meta rejects it, or it has expired.
fn dead(inspection: &Inspection, now: i64) -> bool {
    !inspection.info.is_valid || matches!(inspection.expiry(), Expiry::At(at) if at <= now)
}

/// Only re-auth keeps sending going: the engine said so (the state, or an action hint, which
/// it sets only when it cannot fix the account alone, e.g. exchanges can no longer extend the
/// token), or the long-lived token is dead. A failed account needs a restart, not re-auth.
fn reauth_needed(snapshot: &AccountSnapshot, now: i64) -> bool {
    match snapshot.state {
        TokenState::ReauthRequired { .. } => true,
        TokenState::Failed { .. } => false,
        _ => {
            snapshot.action_hint.is_some()
                || snapshot.long_lived.as_deref().is_some_and(|i| dead(i, now))
        }
    }
}

/// How urgent `snapshot` is at `now` (unix seconds) under `windows`.
pub fn urgency(snapshot: &AccountSnapshot, windows: &Windows, now: i64) -> Urgency {
    let mut urgency = Urgency {
        sending_stops_in: sending_stops_in(snapshot, now),
        reauth_needed: reauth_needed(snapshot, now),
        ..Urgency::default()
    };
    not_known(&mut urgency, snapshot);
    state(&mut urgency, &snapshot.state);
    access_countdown(&mut urgency, snapshot, windows, now);
    long_lived_countdown(&mut urgency, snapshot, windows, now);
    reauth(&mut urgency, windows);
    if snapshot.token_class == super::TokenClass::App {
        let reason = "an app token cannot send WhatsApp messages".to_string();
        urgency.raise(Level::Critical, reason);
    }
    if !snapshot.missing_scopes.is_empty() {
        let missing = snapshot.missing_scopes.join(", ");
        urgency.raise(Level::Warning, format!("missing scopes: {missing}"));
    }
    urgency
}

/// Not configured, or no answer from Meta: UNKNOWN.
fn not_known(urgency: &mut Urgency, snapshot: &AccountSnapshot) {
    if let Some(problem) = &snapshot.config_problem {
        urgency.raise(Level::Unknown, format!("not configured: {problem}"));
    } else if snapshot.access.is_none() {
        let why = snapshot
            .last_error
            .clone()
            .unwrap_or_else(|| "no answer from the Graph API".into());
        urgency.raise(Level::Unknown, why);
    }
}

/// States that say more than the countdowns. `ReauthRequired` is graded by [`reauth`].
fn state(urgency: &mut Urgency, state: &TokenState) {
    match state {
        // Sending is down, or nothing watches or refreshes the account any more. A revoked
        // account is down whatever its token's countdown says: the customer took the app's
        // access away (a never-expiring business token was only WARNING without this).
        TokenState::Expired
        | TokenState::Invalid { .. }
        | TokenState::Failed { .. }
        | TokenState::Revoked { .. } => urgency.raise(Level::Critical, state.label().to_string()),
        TokenState::Backoff { .. } => {
            urgency.raise(Level::Warning, "refresh failing, retrying".to_string())
        }
        _ => {}
    }
}

fn access_countdown(
    urgency: &mut Urgency,
    snapshot: &AccountSnapshot,
    windows: &Windows,
    now: i64,
) {
    let Some(Expiry::At(at)) = snapshot.access.as_ref().map(Inspection::expiry) else {
        return;
    };
    let secs_left = at.saturating_sub(now);
    let level = windows.level(secs_left);
    if level == Level::Ok {
        return;
    }
    let reason = if secs_left < 0 {
        format!(
            "access token expired {} ago",
            span(secs_left.saturating_neg())
        )
    } else {
        format!("access token expires in {}", left(secs_left))
    };
    urgency.raise(level, reason);
}

/// A separate long-lived token running out stops refreshes, not sending: at most a WARNING.
/// Once it is dead, [`reauth`] grades it.
fn long_lived_countdown(
    urgency: &mut Urgency,
    snapshot: &AccountSnapshot,
    windows: &Windows,
    now: i64,
) {
    let Some(Expiry::At(at)) = snapshot.long_lived.as_deref().map(Inspection::expiry) else {
        return;
    };
    let secs_left = at.saturating_sub(now);
    if secs_left > 0 && windows.level(secs_left) > Level::Ok {
        urgency.raise(
            Level::Warning,
            format!("long-lived token expires in {}", left(secs_left)),
        );
    }
}

/// How urgent a needed re-auth is: WARNING while the access token has time, by the
/// countdown rule inside `critical-before`, CRITICAL once it is dead.
fn reauth_level(windows: &Windows, sending_stops_in: Option<i64>) -> Level {
    sending_stops_in.map_or(Level::Warning, |secs| {
        windows.level(secs).max(Level::Warning)
    })
}

fn reauth(urgency: &mut Urgency, windows: &Windows) {
    if let Some(phrase) = urgency.reauth_phrase() {
        urgency.raise(reauth_level(windows, urgency.sending_stops_in), phrase);
    }
}

/// The level of the long-lived token's own countdown (`secs_left` of it), for its colour:
/// at most WARNING while it lives, as urgent as the re-auth it calls for once dead.
pub fn long_lived_level(urgency: &Urgency, windows: &Windows, secs_left: i64) -> Level {
    if secs_left <= 0 {
        reauth_level(windows, urgency.sending_stops_in)
    } else {
        windows.level(secs_left).min(Level::Warning)
    }
}

/// What a person must do about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remedy {
    /// A refresh may bring it back (the access token is dead, but what it is refreshed from
    /// is not): try that first.
    pub refresh_first: bool,
    /// What to do (or do if the refresh fails): the engine's own hint, else the re-auth text.
    pub text: String,
}

/// What a person must do, when anything: `None` while tokentop copes on its own.
pub fn remedy(snapshot: &AccountSnapshot, urgency: &Urgency) -> Option<Remedy> {
    let access_dead = urgency.sending_stops_in == Some(0);
    let refresh_first = access_dead && !urgency.reauth_needed;
    if let Some(hint) = &snapshot.action_hint {
        return Some(Remedy {
            refresh_first,
            text: hint.clone(),
        });
    }
    if !(urgency.reauth_needed || access_dead) {
        return None;
    }
    let system_user = snapshot
        .long_lived
        .as_deref()
        .or(snapshot.access.as_ref())
        .is_some_and(|i| i.info.is_system_user());
    Some(Remedy {
        refresh_first,
        text: reauth_hint(&snapshot.name, system_user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::TokenInfo;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn inspection(token_type: &str, valid: bool, expires_at: i64) -> Inspection {
        let info: TokenInfo = serde_json::from_value(serde_json::json!({
            "is_valid": valid, "type": token_type, "expires_at": expires_at,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"]
        }))
        .unwrap();
        Inspection {
            checked_at: chrono::Utc::now(),
            info,
        }
    }

    /// A USER account: access token valid for `access_left`, state `state`, and a separate
    /// long-lived token with `long_lived_left` (`None`: the access token is its own).
    fn account(
        access_left: i64,
        long_lived_left: Option<i64>,
        state: TokenState,
    ) -> AccountSnapshot {
        let mut s = AccountSnapshot::new("a");
        s.state = state;
        s.access = Some(inspection("USER", true, NOW + access_left));
        s.long_lived = long_lived_left.map(|left| Box::new(inspection("USER", true, NOW + left)));
        s
    }

    fn reauth_state() -> TokenState {
        TokenState::ReauthRequired {
            reason: "the long-lived token has expired".into(),
        }
    }

    fn windows() -> Windows {
        Windows::from(&RefreshPolicy::default())
    }

    fn judge(s: &AccountSnapshot) -> Urgency {
        urgency(s, &windows(), NOW)
    }

    #[test]
    fn the_level_follows_the_time_until_sending_stops() {
        let mut never = account(0, None, TokenState::NeverExpires);
        never.access = Some(inspection("SYSTEM_USER", true, 0));
        let mut access_dead = account(-125, Some(-600), reauth_state());
        if let Some(access) = access_dead.access.as_mut() {
            access.info.is_valid = false;
        }
        let cases: Vec<(&str, AccountSnapshot, Level, Option<&str>)> = vec![
            (
                "dead long-lived, access 59d left",
                account(59 * DAY + 3600, Some(-600), reauth_state()),
                Level::Warning,
                Some("re-auth needed within 59d"),
            ),
            (
                "dead long-lived, access inside critical-before",
                account(12 * 3600, Some(-600), reauth_state()),
                Level::Critical,
                Some("re-auth needed within 12h"),
            ),
            (
                "dead long-lived, access inside warn-before",
                account(3 * DAY, Some(-600), reauth_state()),
                Level::Warning,
                Some("re-auth needed within 3d"),
            ),
            (
                "dead long-lived before the engine replanned",
                account(59 * DAY, Some(-600), TokenState::Valid),
                Level::Warning,
                Some("re-auth needed within 59d"),
            ),
            (
                "exchanges can no longer extend the token",
                AccountSnapshot {
                    action_hint: Some("re-auth needed before 2027-01-01 00:00 UTC".into()),
                    ..account(20 * DAY, Some(20 * DAY), TokenState::Valid)
                },
                Level::Warning,
                Some("re-auth needed within 20d"),
            ),
            (
                "access token dead",
                access_dead,
                Level::Critical,
                Some("re-auth required: sending is down"),
            ),
            (
                "access token expired",
                account(-10, None, TokenState::Expired),
                Level::Critical,
                Some("access token expired 00:00:10 ago"),
            ),
            ("never expiring", never, Level::Ok, None),
            (
                "far expiry",
                account(30 * DAY, None, TokenState::Valid),
                Level::Ok,
                None,
            ),
            (
                "inside warn-before",
                account(3 * DAY, None, TokenState::Expiring),
                Level::Warning,
                Some("access token expires in 3d 00:00:00"),
            ),
            (
                "inside critical-before",
                account(3600, None, TokenState::Expiring),
                Level::Critical,
                Some("access token expires in 01:00:00"),
            ),
            (
                "long-lived token inside critical-before, access 59d left",
                account(59 * DAY, Some(3600), TokenState::Valid),
                Level::Warning,
                Some("long-lived token expires in 01:00:00"),
            ),
            (
                "refresh failing",
                account(30 * DAY, None, TokenState::Backoff { retry_at: NOW + 10 }),
                Level::Warning,
                Some("refresh failing, retrying"),
            ),
            (
                "gave up on the account",
                AccountSnapshot {
                    state: TokenState::Failed {
                        reason: "panic".into(),
                    },
                    ..AccountSnapshot::new("a")
                },
                Level::Critical,
                Some("failed"),
            ),
            (
                "never inspected",
                AccountSnapshot::new("a"),
                Level::Unknown,
                Some("no answer from the Graph API"),
            ),
            (
                "not configured",
                AccountSnapshot {
                    config_problem: Some("missing app-secret".into()),
                    ..AccountSnapshot::new("a")
                },
                Level::Unknown,
                Some("not configured: missing app-secret"),
            ),
            (
                "missing scopes",
                AccountSnapshot {
                    missing_scopes: vec!["whatsapp_business_management".into()],
                    ..account(30 * DAY, None, TokenState::Valid)
                },
                Level::Warning,
                Some("missing scopes: whatsapp_business_management"),
            ),
        ];
        for (name, snapshot, level, reason) in cases {
            let got = judge(&snapshot);
            assert_eq!(got.level, level, "{name}: {got:?}");
            match reason {
                Some(reason) => assert!(
                    got.reasons.iter().any(|r| r == reason),
                    "{name}: no {reason:?} in {:?}",
                    got.reasons
                ),
                None => assert!(got.reasons.is_empty(), "{name}: {:?}", got.reasons),
            }
        }
    }

    #[test]
    fn a_revoked_account_is_critical_even_with_a_never_expiring_token() {
        let revoked = TokenState::Revoked {
            event: "PARTNER_APP_UNINSTALLED".into(),
        };
        let mut never = account(0, None, revoked);
        never.access = Some(inspection("SYSTEM_USER", true, 0));
        let urgency = judge(&never);
        assert_eq!(urgency.level, Level::Critical, "{urgency:?}");
        assert!(
            urgency.reasons.iter().any(|r| r == "revoked"),
            "{urgency:?}"
        );
    }

    #[test]
    fn sending_stops_when_the_access_token_dies() {
        let alive = judge(&account(59 * DAY, Some(-600), reauth_state()));
        assert_eq!(alive.sending_stops_in, Some(59 * DAY));
        assert!(alive.reauth_needed);
        let expired = judge(&account(-10, None, TokenState::Expired));
        assert_eq!(expired.sending_stops_in, Some(0));
        let mut never = account(0, None, TokenState::NeverExpires);
        never.access = Some(inspection("SYSTEM_USER", true, 0));
        assert_eq!(judge(&never).sending_stops_in, None);
        assert!(!judge(&never).reauth_needed);
    }

    #[test]
    fn the_windows_are_inclusive_at_their_edges() {
        let w = windows();
        assert_eq!(w.level(DAY), Level::Critical);
        assert_eq!(w.level(DAY + 1), Level::Warning);
        assert_eq!(w.level(7 * DAY), Level::Warning);
        assert_eq!(w.level(7 * DAY + 1), Level::Ok);
        assert_eq!(w.level(i64::MIN), Level::Critical);
        assert_eq!(w.level(i64::MAX), Level::Ok);
        let huge = Windows {
            warn_before: Duration::MAX,
            critical_before: Duration::MAX,
        };
        assert_eq!(huge.level(i64::MAX), Level::Critical);
    }

    #[test]
    fn the_long_lived_countdown_is_as_urgent_as_the_reauth_it_calls_for() {
        let w = windows();
        let weeks = judge(&account(59 * DAY, Some(-600), reauth_state()));
        assert_eq!(long_lived_level(&weeks, &w, -600), Level::Warning);
        assert_eq!(long_lived_level(&weeks, &w, 3600), Level::Warning);
        assert_eq!(long_lived_level(&weeks, &w, 30 * DAY), Level::Ok);
        let hours = judge(&account(3600, Some(-600), reauth_state()));
        assert_eq!(long_lived_level(&hours, &w, -600), Level::Critical);
    }

    #[test]
    fn extreme_expiries_never_panic() {
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for access in extremes {
            for long_lived in extremes {
                for now in [i64::MIN, 0, NOW, i64::MAX] {
                    let mut s = account(0, Some(0), reauth_state());
                    s.access = Some(inspection("USER", true, access));
                    s.long_lived = Some(Box::new(inspection("USER", true, long_lived)));
                    let got = urgency(&s, &windows(), now);
                    assert!(got.sending_stops_in.is_none_or(|secs| secs >= 0));
                }
            }
        }
    }

    #[test]
    fn the_remedy_is_the_one_reauth_text() {
        let s = account(59 * DAY, Some(-600), reauth_state());
        let reauth = remedy_of(&s);
        assert_eq!(reauth.text, reauth_hint("a", false));
        assert!(!reauth.refresh_first);

        let mut system = account(-10, None, TokenState::Expired);
        system.access = Some(inspection("SYSTEM_USER", true, NOW - 10));
        let expired = remedy_of(&system);
        assert_eq!(expired.text, reauth_hint("a", true));
        assert!(expired.refresh_first, "an expired access token may refresh");

        let mut hinted = account(30 * DAY, None, TokenState::Failed { reason: "x".into() });
        hinted.action_hint = Some("restart tokentop".into());
        assert_eq!(remedy_of(&hinted).text, "restart tokentop");

        let healthy = account(30 * DAY, None, TokenState::Valid);
        assert_eq!(remedy(&healthy, &judge(&healthy)), None);
    }

    #[test]
    fn alerts_carry_the_deadline_in_the_words_check_uses() {
        let s = account(59 * DAY, Some(-600), reauth_state());
        let phrase = judge(&s).reauth_phrase().unwrap();
        let alert = reauth_alert_phrase(sending_stops_at(&s, NOW), NOW);
        assert_eq!(phrase, "re-auth needed within 59d");
        assert_eq!(
            alert,
            format!("{} (within 59d)", reauth_before(NOW + 59 * DAY))
        );
        assert!(alert.starts_with("re-auth needed before 20"), "{alert}");
        assert_eq!(
            reauth_alert_phrase(Some(NOW), NOW),
            "re-auth required: sending is down"
        );
        assert_eq!(reauth_alert_phrase(None, NOW), "re-auth required");
    }

    fn remedy_of(s: &AccountSnapshot) -> Remedy {
        remedy(s, &judge(s)).unwrap()
    }
}
