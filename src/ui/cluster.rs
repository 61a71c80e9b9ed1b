//! The cluster on the dashboard (only with `[cluster]`): the `CLUSTER` row of the token panel
//! (Redis state and latency, who holds the selected account's lease), the fleet's cluster
//! row, and the `C` overlay with every member's last heartbeat and every held lease.
//! Unreachable is said in words and a symbol, never by colour alone.

use ratatui::text::{Line, Span};

use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::engine::coordinator::ClusterStatus;
use crate::format::{hms, within};
use crate::tui::App;

/// Width of the row labels, as in the token panel.
const LABEL_WIDTH: usize = 14;
/// Said after the state when there is room: how to see the members.
const HINT: &str = " · C details";
/// Members and leases listed in the overlay at most (a cluster has a few hosts).
const MAX_LISTED: usize = 64;

/// Rows the token panel gives the cluster: one with `[cluster]`, else none.
pub fn rows(app: &App) -> u16 {
    u16::from(app.cluster.is_some())
}

/// `✓ Redis ok, 0.4 ms, 3 members` or `✗ Redis unreachable since …: error`, and how urgent.
fn state(status: &ClusterStatus) -> (String, Urgency) {
    if status.reachable {
        return (format!("✓ {}", status.summary()), Urgency::Fine);
    }
    let error = status
        .last_error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    // A warning, as in `check`: tokens keep working from the cache meanwhile.
    (format!("✗ {}{error}", status.summary()), Urgency::Warn)
}

/// The token panel's `CLUSTER` row for `account`, cut to `width`.
pub fn account_row(
    app: &App,
    account: &str,
    width: usize,
    palette: &Palette,
) -> Option<Line<'static>> {
    let status = app.cluster.as_ref()?;
    let (mut text, urgency) = state(status);
    if let Some(lease) = status.lease_of(account) {
        text.push_str(&format!(
            " · lease: {} (fence {})",
            lease.holder, lease.fence
        ));
    }
    Some(Line::from(with_hint(
        vec![Span::styled(fit("CLUSTER", LABEL_WIDTH), palette.label())],
        text,
        urgency,
        width.saturating_sub(LABEL_WIDTH),
        palette,
    )))
}

/// The fleet view's row: the state and how many leases are held, cut to `width`.
pub fn fleet_row(app: &App, width: usize, palette: &Palette) -> Option<Line<'static>> {
    let status = app.cluster.as_ref()?;
    let (mut text, urgency) = state(status);
    if status.reachable {
        let leases = status.leases.len();
        let plural = if leases == 1 { "" } else { "s" };
        text.push_str(&format!(" · {leases} lease{plural} held"));
    }
    let label = " cluster ";
    Some(Line::from(with_hint(
        vec![Span::styled(label, palette.label())],
        text,
        urgency,
        width.saturating_sub(label.len()),
        palette,
    )))
}

/// `spans`, then `text` in `urgency`'s style, then the `c` hint if all fit in `width`.
fn with_hint(
    mut spans: Vec<Span<'static>>,
    text: String,
    urgency: Urgency,
    width: usize,
    palette: &Palette,
) -> Vec<Span<'static>> {
    let style = palette.urgency(urgency);
    if text.chars().count() + HINT.chars().count() <= width {
        spans.push(Span::styled(text, style));
        spans.push(Span::styled(HINT, palette.dim()));
    } else {
        spans.push(Span::styled(fit(&text, width), style));
    }
    spans
}

/// The overlay's lines: where Redis is, its state, every member's last heartbeat, every
/// held lease. `None` until the first status arrived.
pub fn overlay_lines(app: &App, palette: &Palette) -> Option<Vec<Line<'static>>> {
    let status = app.cluster.as_ref()?;
    let (text, urgency) = state(status);
    let field = |name: &str| Span::styled(format!("{name:<10}"), palette.label());
    let mut lines = vec![
        Line::from(vec![field("redis"), Span::raw(status.endpoint.clone())]),
        Line::from(vec![
            field("state"),
            Span::styled(text, palette.urgency(urgency)),
        ]),
        Line::from(vec![
            field("checked"),
            Span::raw(format!(
                "{} UTC by {} (this process)",
                hms(status.checked_at),
                status.member
            )),
        ]),
        Line::from(""),
    ];
    lines.extend(member_lines(app, status, palette));
    lines.push(Line::from(""));
    lines.extend(lease_lines(status, palette));
    Some(lines)
}

fn member_lines(app: &App, status: &ClusterStatus, palette: &Palette) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!("{:<24}LAST HEARTBEAT", "MEMBER"),
        palette.label(),
    )];
    if status.members.is_empty() {
        let why = if status.reachable {
            "no member has sent a heartbeat yet"
        } else {
            "not known while Redis is unreachable"
        };
        lines.push(Line::styled(why, palette.dim()));
    }
    for beat in status.members.iter().take(MAX_LISTED) {
        let this = if beat.this_process { " (this)" } else { "" };
        let age = app.now.signed_duration_since(beat.last_seen).num_seconds();
        lines.push(Line::from(vec![
            Span::raw(fit(&format!("{}{this}", beat.member), 23) + " "),
            Span::raw(format!("{} UTC, {} ago", hms(beat.last_seen), within(age))),
        ]));
    }
    lines
}

fn lease_lines(status: &ClusterStatus, palette: &Palette) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!("{:<24}{:<24}FENCE", "LEASE (ACCOUNT)", "HOLDER"),
        palette.label(),
    )];
    if status.leases.is_empty() {
        let why = if status.reachable {
            "none held: no refresh is running"
        } else {
            "not known while Redis is unreachable"
        };
        lines.push(Line::styled(why, palette.dim()));
    }
    for lease in status.leases.iter().take(MAX_LISTED) {
        lines.push(Line::raw(format!(
            "{} {} {}",
            fit(&lease.account, 23),
            fit(&lease.holder, 23),
            lease.fence
        )));
    }
    lines
}
