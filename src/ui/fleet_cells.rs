//! The cells of one fleet row: text and style per column, in a narrow form (`41d`) or, when
//! the column is wide enough, the long one (`41d 03:12:45`). Times use `crate::format`, colours
//! the one urgency rule, as the token panel does.

use ratatui::style::Style;

use super::delivery::{percent, rate_urgency};
use super::phone::quality_urgency;
use super::theme::{Palette, Urgency};
use super::token::{state_symbol, state_words, urgency_of};
use crate::engine::history::cause::Trigger;
use crate::engine::history::{HistoryEvent, Outcome};
use crate::engine::urgency::{self, long_lived_level};
use crate::engine::{Inspection, TokenClass, TokenState};
use crate::format::{left, span, within};
use crate::graph::Expiry;
use crate::tui::{AccountView, App};

/// Width from which a time is written in full (`41d 03:12:45`).
const FULL_TIME: usize = 12;
/// Width from which the state is written in full (`✗ re-auth required`).
const FULL_STATE: usize = 18;
/// Width from which the phone shows its status beside the quality rating.
const FULL_PHONE: usize = 12;
const HOUR: i64 = 3600;
const NOTHING: &str = "—";

/// A column of the fleet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    State,
    Name,
    Access,
    LongLived,
    /// The token's class: `biz-60d`, `business-60d`.
    Class,
    Phone,
    Rate,
    /// How many publish targets hold the current token.
    Publish,
    Last,
    Next,
}

/// What one row's cells are drawn from.
pub struct RowCtx<'a> {
    pub app: &'a App,
    pub view: &'a AccountView,
    pub urgency: urgency::Urgency,
}

/// The text (not yet cut to `width`) and style of one cell.
pub fn cell(col: Col, width: usize, ctx: &RowCtx, palette: &Palette) -> (String, Style) {
    let (text, urgency) = match col {
        Col::State => state(ctx, width),
        Col::Name => return (ctx.view.name().to_string(), Style::new()),
        Col::Access => access(ctx, width),
        Col::LongLived => long_lived(ctx, width),
        Col::Class => class(ctx, width),
        Col::Phone => phone(ctx, width),
        Col::Rate => rate(ctx),
        Col::Publish => super::publish::cell(&ctx.view.snapshot, width),
        Col::Last => last(ctx, width),
        Col::Next => return (next(ctx, width), Style::new()),
    };
    (text, palette.urgency(urgency))
}

/// True when a row of `view` may read differently a second later with no new event: a
/// countdown, the age of the last refresh, a test-send rate over the last hour. Errs towards
/// true; a page of rows that are all false is kept from tick to tick.
pub fn moves_with_time(view: &AccountView) -> bool {
    let snapshot = &view.snapshot;
    let counts_down = |inspection: Option<&Inspection>| {
        matches!(inspection.map(Inspection::expiry), Some(Expiry::At(_)))
    };
    counts_down(snapshot.access.as_ref())
        || counts_down(snapshot.long_lived.as_deref())
        || snapshot.next_refresh_at.is_some()
        || matches!(snapshot.state, TokenState::Backoff { .. })
        || view.last_refresh.is_some()
        || (view.history.iter())
            .any(|e| matches!(e.event(), HistoryEvent::Refresh | HistoryEvent::Send))
}

/// The state as a short word in narrow columns: `re-auth`, `never`.
fn short_word(state: &TokenState) -> &'static str {
    match state {
        TokenState::ReauthRequired { .. } => "re-auth",
        TokenState::NeverExpires => "never",
        other => other.label(),
    }
}

fn state(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let state = &ctx.view.snapshot.state;
    let text = if width >= FULL_STATE {
        state_words(state)
    } else {
        format!("{} {}", state_symbol(state), short_word(state))
    };
    (text, ctx.urgency.level.into())
}

/// `41d` / `41d 03:12:45`, `expired`, `never`, or `—` when not known.
fn countdown(
    ctx: &RowCtx,
    inspection: Option<&Inspection>,
    width: usize,
    colour: &dyn Fn(i64) -> Urgency,
) -> (String, Urgency) {
    match inspection.map(Inspection::expiry) {
        Some(Expiry::Never) => ("never".to_string(), Urgency::Fine),
        Some(Expiry::At(at)) => {
            let secs = at.saturating_sub(ctx.app.now.timestamp());
            let text = if secs < 0 {
                "expired".to_string()
            } else if width >= FULL_TIME {
                left(secs)
            } else {
                within(secs)
            };
            (text, colour(secs))
        }
        Some(Expiry::Unknown) | None => (NOTHING.to_string(), Urgency::Neutral),
    }
}

fn access(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let colour = |secs| urgency_of(ctx.app, secs);
    countdown(ctx, ctx.view.snapshot.access.as_ref(), width, &colour)
}

/// A separate long-lived token's countdown, coloured as the token panel colours it; `same`
/// when the (inspected) access token is its own long-lived token.
fn long_lived(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let snapshot = &ctx.view.snapshot;
    if snapshot.long_lived_token_masked.is_none() {
        let same = if snapshot.access.is_some() {
            "same"
        } else {
            NOTHING
        };
        return (same.to_string(), Urgency::Neutral);
    }
    let windows = ctx.app.windows();
    let colour = |secs| long_lived_level(&ctx.urgency, &windows, secs).into();
    countdown(ctx, snapshot.long_lived.as_deref(), width, &colour)
}

/// Width from which the class is written in full (`business-never`).
const FULL_CLASS: usize = 14;

/// The class, in full when there is room (`business-60d`), else short (`biz-60d`); an app token
/// (it cannot send) critical, a class only a person can keep alive a warning.
fn class(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let class = ctx.view.snapshot.token_class;
    let text = if width >= FULL_CLASS {
        class.word()
    } else {
        match class {
            TokenClass::UserShort => "usr-sh",
            TokenClass::UserLong => "usr-lg",
            TokenClass::SystemNever => "sys-nev",
            TokenClass::System60d => "sys-60d",
            TokenClass::BusinessNever => "biz-nev",
            TokenClass::Business60d => "biz-60d",
            TokenClass::App => "app",
            TokenClass::Unknown => NOTHING,
        }
    };
    let urgency = match class {
        TokenClass::App => Urgency::Critical,
        TokenClass::Business60d if ctx.view.snapshot.action_hint.is_some() => Urgency::Warn,
        TokenClass::Unknown => Urgency::Neutral,
        _ => Urgency::Fine,
    };
    (text.to_string(), urgency)
}

fn severity(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::Neutral => 0,
        Urgency::Fine => 1,
        Urgency::Warn => 2,
        Urgency::Critical => 3,
    }
}

/// Quality rating, then the status when there is room: `GREEN CONNECTED`, coloured by the
/// worse of the two.
fn phone(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let Some(phone) = &ctx.view.phone else {
        return (NOTHING.to_string(), Urgency::Neutral);
    };
    let Some(health) = &phone.health else {
        return match phone.error {
            Some(_) => ("error".to_string(), Urgency::Warn),
            None => (NOTHING.to_string(), Urgency::Neutral),
        };
    };
    let mut words = vec![health.quality_rating.as_deref(), health.status.as_deref()];
    if width < FULL_PHONE {
        words.truncate(1);
    }
    let words: Vec<&str> = words.into_iter().flatten().collect();
    let urgency = words
        .iter()
        .map(|w| quality_urgency(w))
        .max_by_key(|u| severity(*u))
        .unwrap_or(Urgency::Neutral);
    if words.is_empty() {
        (NOTHING.to_string(), Urgency::Neutral)
    } else {
        (words.join(" "), urgency)
    }
}

/// Delivery over the last hour: Meta's own word (the relay's status webhooks) when the
/// account has some, else its test sends.
fn rate(ctx: &RowCtx) -> (String, Urgency) {
    let webhooks = ctx
        .app
        .telemetry
        .as_ref()
        .and_then(|t| t.webhook_accounts.get(ctx.view.name()))
        .and_then(|rates| rates.last_1h.delivery_percent);
    match webhooks {
        Some(rate) => (percent(rate), rate_urgency(rate)),
        None => test_send_rate(ctx),
    }
}

/// Delivery of the account's test sends over the last hour, from its history.
fn test_send_rate(ctx: &RowCtx) -> (String, Urgency) {
    let since = ctx.app.now.timestamp() - HOUR;
    let (mut delivered, mut failed) = (0u32, 0u32);
    let recent = ctx
        .view
        .history
        .iter()
        .rev()
        .take_while(|e| e.time.timestamp() >= since);
    for entry in recent.filter(|e| e.event() == HistoryEvent::Send) {
        match entry.outcome {
            Outcome::Ok => delivered += 1,
            Outcome::Failed => failed += 1,
            Outcome::Skipped => {}
        }
    }
    let total = delivered + failed;
    if total == 0 {
        return (NOTHING.to_string(), Urgency::Neutral);
    }
    let rate = f64::from(delivered) * 100.0 / f64::from(total);
    (percent(rate), rate_urgency(rate))
}

/// The newest refresh, from history or a forced refresh: `ok 2h`, with `ago` and its trigger
/// when they fit: `FAIL 59m ago retry`.
fn last(ctx: &RowCtx, width: usize) -> (String, Urgency) {
    let view = ctx.view;
    if view.refresh_pending.is_some() || view.snapshot.state == TokenState::Refreshing {
        return ("↻ now".to_string(), Urgency::Warn);
    }
    let from_history = view
        .history
        .iter()
        .rev()
        .find(|e| e.event() == HistoryEvent::Refresh)
        .map(|e| (e.time, e.outcome, e.cause.word()));
    let forced = view.last_refresh.as_ref().map(|(at, report)| {
        let outcome = if report.ok {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        (*at, outcome, Trigger::Forced.word())
    });
    let newest = [from_history, forced]
        .into_iter()
        .flatten()
        .max_by_key(|r| r.0);
    let Some((at, outcome, trigger)) = newest else {
        return (NOTHING.to_string(), Urgency::Neutral);
    };
    let (word, urgency) = match outcome {
        Outcome::Ok => ("ok", Urgency::Fine),
        Outcome::Failed => ("FAIL", Urgency::Critical),
        Outcome::Skipped => ("skip", Urgency::Neutral),
    };
    let age = within((ctx.app.now - at).num_seconds());
    let short = format!("{word} {age}");
    let text = [format!("{short} ago {trigger}"), format!("{short} ago")]
        .into_iter()
        .find(|text| text.chars().count() <= width)
        .unwrap_or(short);
    (text, urgency)
}

/// When the next refresh or retry is: `in 21d` / `in 21d 03:12:45`, `due`, `none`.
fn next(ctx: &RowCtx, width: usize) -> String {
    let snapshot = &ctx.view.snapshot;
    let now = ctx.app.now.timestamp();
    let at = match (&snapshot.state, snapshot.next_refresh_at) {
        (TokenState::Backoff { retry_at }, _) => *retry_at,
        (TokenState::ReauthRequired { .. }, _) => return "none".to_string(),
        (_, Some(at)) => at,
        (_, None) => return NOTHING.to_string(),
    };
    let secs = at.saturating_sub(now);
    match secs {
        s if s <= 0 => "due".to_string(),
        s if width >= FULL_TIME + 3 => format!("in {}", span(s)),
        s => format!("in {}", within(s)),
    }
}
