//! Where the token went and who took it: the `PUBLISH` row of the token panel (each target's
//! hold on the current token, when it was published, how many readers picked it up) and the
//! fleet's `PUB` cell. Shown only for accounts that publish or are read.

use ratatui::text::{Line, Span};

use super::format::fit;
use super::theme::{Palette, Urgency};
use crate::engine::AccountSnapshot;
use crate::format::within;
use crate::tui::App;

/// Width of the row labels, as in the token panel.
const LABEL_WIDTH: usize = 14;

/// Rows the token panel gives publishing for the selected account: one or none.
pub fn rows(app: &App) -> u16 {
    app.selected_account()
        .map_or(0, |view| u16::from(shown(&view.snapshot)))
}

fn shown(snapshot: &AccountSnapshot) -> bool {
    !snapshot.publish.is_empty() || !snapshot.consumers.is_quiet()
}

/// `✓ env-file token-file · published 12s ago · picked up by 2 of 3 readers`, or the first
/// target without the current token and why: `✗ on-refresh: exited with 3`.
pub fn summary(snapshot: &AccountSnapshot, now: i64) -> (String, Urgency) {
    let behind: Vec<_> = snapshot.publish.iter().filter(|t| !t.current).collect();
    let mut parts = Vec::new();
    let urgency = match behind.first() {
        None if snapshot.publish.is_empty() => Urgency::Neutral,
        None => {
            let targets: Vec<&str> = snapshot.publish.iter().map(|t| t.target).collect();
            parts.push(format!("✓ {}", targets.join(" ")));
            Urgency::Fine
        }
        Some(target) => {
            let why = target
                .last_failure
                .as_ref()
                .map_or("not published yet".to_string(), |f| f.message.clone());
            parts.push(format!("✗ {}: {why}", target.target));
            Urgency::Warn
        }
    };
    let consumers = &snapshot.consumers;
    if let Some(at) = consumers.published_at {
        parts.push(format!("published {} ago", within(now.saturating_sub(at))));
    }
    let (took, readers) = consumers.picked_up();
    if readers > 0 {
        parts.push(format!("picked up by {took} of {readers} readers"));
    }
    let mut urgency = urgency;
    if consumers.stale_sends > 0 {
        parts.push(format!(
            "{} sends with the old token",
            consumers.stale_sends
        ));
        urgency = Urgency::Warn;
    }
    (parts.join(" · "), urgency)
}

/// The token panel's `PUBLISH` row, when the account publishes or is read.
pub fn account_row(
    snapshot: &AccountSnapshot,
    now: i64,
    width: usize,
    palette: &Palette,
) -> Option<Line<'static>> {
    if !shown(snapshot) {
        return None;
    }
    let (text, urgency) = summary(snapshot, now);
    let room = width.saturating_sub(LABEL_WIDTH);
    Some(Line::from(vec![
        Span::styled(fit("PUBLISH", LABEL_WIDTH), palette.label()),
        Span::styled(fit(&text, room), palette.urgency(urgency)),
    ]))
}

/// The fleet cell: `3/3` of the targets hold the current token; wide, the first one behind.
pub fn cell(snapshot: &AccountSnapshot, width: usize) -> (String, Urgency) {
    let total = snapshot.publish.len();
    if total == 0 {
        return ("—".to_string(), Urgency::Neutral);
    }
    let behind: Vec<&str> = snapshot
        .publish
        .iter()
        .filter(|t| !t.current)
        .map(|t| t.target)
        .collect();
    let held = total - behind.len();
    let count = format!("{held}/{total}");
    match behind.first() {
        None => (format!("✓ {count}"), Urgency::Fine),
        Some(target) if width >= count.len() + target.len() + 3 => {
            (format!("✗ {count} {target}"), Urgency::Warn)
        }
        Some(_) => (format!("✗ {count}"), Urgency::Warn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::consumers::{ConsumerView, ReaderView};
    use crate::engine::publish::health::{FailReason, TargetFailure, TargetHealth};

    fn target(word: &'static str, current: bool) -> TargetHealth {
        TargetHealth {
            target: word,
            current,
            last_success_at: None,
            last_failure: (!current).then(|| TargetFailure {
                at: 5,
                reason: FailReason::Exit,
                message: "exited with 3".into(),
            }),
        }
    }

    fn reader(name: &str, picked_up: bool) -> ReaderView {
        ReaderView {
            name: name.into(),
            last_read_at: Some(1),
            picked_up,
        }
    }

    #[test]
    fn the_summary_says_where_it_went_when_and_who_took_it() {
        let mut snapshot = AccountSnapshot::new("a");
        assert!(!shown(&snapshot));
        snapshot.publish = vec![target("env-file", true), target("on-refresh", true)];
        snapshot.consumers = ConsumerView {
            published_at: Some(88),
            readers: vec![reader("eso", true), reader("n8n", false), reader("v", true)],
            stale_sends: 0,
        };
        let (text, urgency) = summary(&snapshot, 100);
        assert_eq!(
            text,
            "✓ env-file on-refresh · published 12s ago · picked up by 2 of 3 readers"
        );
        assert_eq!(urgency, Urgency::Fine);
        assert_eq!(cell(&snapshot, 10), ("✓ 2/2".to_string(), Urgency::Fine));
    }

    #[test]
    fn a_target_behind_or_a_stale_send_warns_and_names_it() {
        let mut snapshot = AccountSnapshot::new("a");
        snapshot.publish = vec![target("env-file", true), target("on-refresh", false)];
        let (text, urgency) = summary(&snapshot, 100);
        assert_eq!(text, "✗ on-refresh: exited with 3");
        assert_eq!(urgency, Urgency::Warn);
        assert_eq!(cell(&snapshot, 20).0, "✗ 1/2 on-refresh");
        assert_eq!(cell(&snapshot, 5).0, "✗ 1/2");
        snapshot.publish.clear();
        snapshot.consumers.stale_sends = 4;
        assert!(shown(&snapshot));
        assert_eq!(
            summary(&snapshot, 0),
            ("4 sends with the old token".into(), Urgency::Warn)
        );
    }
}
