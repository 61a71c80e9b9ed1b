#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The cluster on the dashboard (issue 13): the `CLUSTER` row with the selected account's
//! lease holder, the fleet's cluster row, the `c` overlay with every member's heartbeat, and
//! an unreachable Redis said in words. Drawn from an `App` with the status set directly: no
//! Redis needed.

use crate::dashboard_support;

use chrono::Duration;
use dashboard_support::*;
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use tokentop::config::Theme;
use tokentop::engine::EngineEvent;
use tokentop::engine::coordinator::{ClusterStatus, LeaseHolder, MemberBeat};
use tokentop::tui::{App, Overlay};

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

fn beat(member: &str, secs_ago: i64, this_process: bool) -> MemberBeat {
    MemberBeat {
        member: member.to_string(),
        last_seen: fixed_now() - Duration::seconds(secs_ago),
        this_process,
    }
}

/// Three members, web-2 refreshing production right now.
fn reachable() -> ClusterStatus {
    ClusterStatus {
        backend: "redis".to_string(),
        endpoint: "redis://tokentop@redis.internal:6379/0".to_string(),
        member: "web-1".to_string(),
        reachable: true,
        unreachable_since: None,
        last_error: None,
        latency_ms: Some(0.42),
        members: vec![
            beat("web-1", 2, true),
            beat("web-2", 5, false),
            beat("web-3", 9, false),
        ],
        leases: vec![LeaseHolder {
            account: "production".to_string(),
            holder: "web-2".to_string(),
            fence: 17,
        }],
        checked_at: fixed_now() - Duration::seconds(2),
    }
}

fn unreachable() -> ClusterStatus {
    ClusterStatus {
        reachable: false,
        unreachable_since: Some(fixed_now() - Duration::seconds(312)),
        last_error: Some("Connection refused (os error 111)".to_string()),
        latency_ms: None,
        members: Vec::new(),
        leases: Vec::new(),
        ..reachable()
    }
}

fn with_cluster(status: ClusterStatus) -> App {
    let mut app = app_with(healthy("production"));
    engine(&mut app, EngineEvent::Cluster(Box::new(status)));
    app
}

#[test]
fn reachable_cluster_shows_latency_members_and_the_lease_holder() {
    let app = with_cluster(reachable());
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("CLUSTER       ✓ Redis ok, 0.4 ms, 3 members · lease: web-2 (fence 17)"),
        "{text}"
    );
    assert_snapshot!("cluster_reachable_80x24", text);
}

#[test]
fn the_lease_shown_is_the_selected_accounts() {
    let mut app = with_cluster(reachable());
    app.update(key(crossterm::event::KeyCode::Tab));
    let text = screen(&app, 80, 24);
    assert!(text.contains("✓ Redis ok, 0.4 ms, 3 members"), "{text}");
    assert!(
        !text.contains("lease: web-2"),
        "staging holds no lease\n{text}"
    );
}

#[test]
fn unreachable_redis_is_said_in_words_with_since_when() {
    let app = with_cluster(unreachable());
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("✗ Redis unreachable since 2026-03-14 13:58:00 UTC"),
        "{text}"
    );
    assert_snapshot!("cluster_unreachable_80x24", text);
}

#[test]
fn unreachable_is_coloured_as_a_warning() {
    let mut app = with_cluster(unreachable());
    app.theme = Theme::Dark;
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| tokentop::ui::render(frame, &app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let row = (0..24)
        .find(|&y| buffer[(1, y)].symbol() == "C" && buffer[(2, y)].symbol() == "L")
        .expect("a CLUSTER row");
    assert_eq!(buffer[(15, row)].symbol(), "✗");
    assert_eq!(buffer[(15, row)].fg, Color::Yellow);
}

#[test]
fn c_shows_every_members_heartbeat_and_the_leases() {
    let mut app = with_cluster(reachable());
    app.update(ch('C'));
    assert_eq!(app.overlay, Some(Overlay::Cluster));
    let text = screen(&app, 80, 24);
    for expected in [
        "redis://tokentop@redis.internal:6379/0",
        "web-1 (this)            14:03:10 UTC, 2s ago",
        "web-2                   14:03:07 UTC, 5s ago",
        "web-3                   14:03:03 UTC, 9s ago",
        "production              web-2                   17",
    ] {
        assert!(text.contains(expected), "{expected:?}\n{text}");
    }
    assert_snapshot!("cluster_overlay_80x24", text);
    app.update(ch('C'));
    assert_eq!(app.overlay, None);
}

#[test]
fn c_without_a_cluster_says_how_to_get_one() {
    let mut app = app_with(healthy("production"));
    app.update(ch('C'));
    let text = screen(&app, 80, 24);
    assert!(text.contains("[cluster] redis-url"), "{text}");
}

#[test]
fn help_and_fleet_name_the_cluster_key_only_with_a_cluster() {
    let mut app = with_cluster(reachable());
    app.update(ch('?'));
    let text = screen(&app, 80, 24);
    assert!(text.contains("C               the cluster"), "{text}");

    let mut fleet = fleet_app(60);
    engine(&mut fleet, EngineEvent::Cluster(Box::new(unreachable())));
    let text = screen(&fleet, 80, 24);
    assert!(
        text.contains(" cluster ✗ Redis unreachable since 2026-03-14 13:58:00 UTC"),
        "{text}"
    );
    assert_snapshot!("cluster_fleet_80x24", text);
    let mut fleet = fleet_app(60);
    engine(&mut fleet, EngineEvent::Cluster(Box::new(reachable())));
    let text = screen(&fleet, 120, 40);
    assert!(
        text.contains(" cluster ✓ Redis ok, 0.4 ms, 3 members · 1 lease held · C details"),
        "{text}"
    );
    fleet.update(ch('C'));
    assert_eq!(fleet.overlay, Some(Overlay::Cluster));
}

/// Never a panic, whatever the size.
#[test]
fn every_small_size_draws() {
    for status in [reachable(), unreachable()] {
        let mut app = with_cluster(status);
        for overlay in [None, Some(Overlay::Cluster)] {
            app.overlay = overlay;
            for width in [1, 20, 59, 60, 61, 80] {
                for height in [1, 8, 15, 16, 17, 24] {
                    screen(&app, width, height);
                }
            }
        }
    }
}
