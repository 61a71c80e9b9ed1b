//! The fleet view's budget (issue 14 §5): 1,000 accounts redraw in under 10 ms.
//!
//! `cargo bench --bench fleet` builds a dashboard of 1,000 accounts in every state (the
//! builder of the snapshot tests: phones, refresh history, test sends), opens the fleet view,
//! and draws it into a 200x60 `TestBackend` 100 times; it prints the median and the slowest
//! draw. Each draw is a whole frame of the visible page and ratatui's buffer diff; the urgency
//! of every account and the sort are made by the first draw and then kept (`tui/fleet_index.rs`
//! grades again only an account that changed), so the slowest draw is the first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/dashboard_support/mod.rs"]
mod dashboard_support;

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokentop::tui::View;

const ACCOUNTS: usize = 1_000;
const DRAWS: usize = 100;
const BUDGET_MS: f64 = 10.0;

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() {
    let app = dashboard_support::fleet_app(ACCOUNTS);
    assert_eq!(app.view, View::Fleet, "1,000 accounts open on the fleet");
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut times: Vec<Duration> = (0..DRAWS)
        .map(|_| {
            let start = Instant::now();
            terminal
                .draw(|frame| tokentop::ui::render(frame, &app))
                .unwrap();
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = ms(times[DRAWS / 2]);
    let slowest = ms(times[DRAWS - 1]);
    let verdict = if slowest < BUDGET_MS { "ok" } else { "OVER" };
    println!(
        "fleet view, {ACCOUNTS} accounts at 200x60, {DRAWS} draws: median {median:.2} ms, \
         slowest {slowest:.2} ms (budget < {BUDGET_MS} ms: {verdict})"
    );
}
