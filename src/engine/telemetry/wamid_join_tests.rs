//! The join of proxied sends and status webhooks, driven by an injected clock.

use super::*;

const MINUTE: i64 = 60_000;
const T0: i64 = 1_800_000_000_000;

fn join() -> WamidJoin {
    WamidJoin::new(Duration::from_secs(600))
}

fn row<'a>(snapshot: &'a ProxyUndelivered, account: &str) -> &'a UndeliveredRow {
    snapshot
        .accounts
        .iter()
        .find(|r| r.account == account)
        .unwrap_or_else(|| panic!("no row for {account} in {snapshot:?}"))
}

#[test]
fn accepted_then_delivered_is_never_undelivered() {
    let mut join = join();
    join.accepted("wamid.A", "shop", T0);
    join.status("wamid.A", DeliveryStatus::Sent, T0 + 1000);
    assert_eq!(join.tracked(), 1, "sent resolves nothing");
    join.status("wamid.A", DeliveryStatus::Delivered, T0 + 2000);
    assert_eq!(join.tracked(), 0);
    assert_eq!(join.next_wake_ms(), None, "nothing tracked: no timer");
    join.sweep(T0 + 60 * MINUTE);
    let snapshot = join.snapshot();
    assert_eq!(row(&snapshot, "shop").undelivered_total, 0);
    assert_eq!(row(&snapshot, "shop").overdue, 0);
}

#[test]
fn read_without_delivered_resolves_too() {
    let mut join = join();
    join.accepted("wamid.R", "shop", T0);
    join.status("wamid.R", DeliveryStatus::Read, T0 + 1000);
    join.sweep(T0 + 11 * MINUTE);
    assert_eq!(row(&join.snapshot(), "shop").undelivered_total, 0);
}

#[test]
fn a_silent_send_is_undelivered_once_at_its_deadline() {
    let mut join = join();
    join.accepted("wamid.S", "shop", T0);
    assert_eq!(join.next_wake_ms(), Some(T0 + 10 * MINUTE));
    join.sweep(T0 + 10 * MINUTE - 1);
    assert_eq!(row(&join.snapshot(), "shop").undelivered_total, 0);
    join.sweep(T0 + 10 * MINUTE);
    join.sweep(T0 + 11 * MINUTE);
    join.sweep(T0 + 12 * MINUTE);
    let snapshot = join.snapshot();
    let shop = row(&snapshot, "shop");
    assert_eq!(
        shop.undelivered_total, 1,
        "counted once however often swept"
    );
    assert_eq!(shop.overdue, 1);
    assert_eq!(shop.in_last_hour(T0 + 12 * MINUTE), 1);
    assert_eq!(shop.in_last_hour(T0 + 71 * MINUTE), 0, "an hour later");
    // Still tracked: the next wake is when it is forgotten, a day after it was accepted.
    assert_eq!(join.next_wake_ms(), Some(T0 + 24 * 60 * MINUTE));
}

#[test]
fn a_late_delivery_leaves_the_gauge_but_not_the_counter() {
    let mut join = join();
    join.accepted("wamid.L", "shop", T0);
    join.sweep(T0 + 10 * MINUTE);
    assert!(join.take_changed());
    join.status("wamid.L", DeliveryStatus::Delivered, T0 + 15 * MINUTE);
    assert!(join.take_changed(), "the gauge moved");
    let snapshot = join.snapshot();
    assert_eq!(row(&snapshot, "shop").undelivered_total, 1);
    assert_eq!(row(&snapshot, "shop").overdue, 0);
    assert_eq!(join.tracked(), 0);
}

#[test]
fn failed_resolves_the_send_as_failed_not_undelivered() {
    let mut join = join();
    join.accepted("wamid.F", "shop", T0);
    join.status("wamid.F", DeliveryStatus::Failed, T0 + 3000);
    join.sweep(T0 + 30 * MINUTE);
    assert_eq!(row(&join.snapshot(), "shop").undelivered_total, 0);
    assert_eq!(join.tracked(), 0);
}

#[test]
fn a_status_before_its_send_was_reported_still_resolves_it() {
    let mut join = join();
    join.status("wamid.E", DeliveryStatus::Delivered, T0);
    join.accepted("wamid.E", "shop", T0 + 10);
    assert_eq!(join.tracked(), 0);
    join.sweep(T0 + 20 * MINUTE);
    assert_eq!(row(&join.snapshot(), "shop").undelivered_total, 0);
    // An early status of a send never reported is forgotten after 5 minutes.
    join.status("wamid.other", DeliveryStatus::Read, T0 + 20 * MINUTE);
    assert_eq!(join.next_wake_ms(), Some(T0 + 25 * MINUTE));
    join.sweep(T0 + 25 * MINUTE);
    assert_eq!(join.next_wake_ms(), None);
}

#[test]
fn accounts_are_counted_apart_and_duplicates_once() {
    let mut join = join();
    join.accepted("wamid.1", "shop", T0);
    join.accepted("wamid.1", "shop", T0 + 5);
    join.accepted("wamid.2", "billing", T0);
    join.accepted("wamid.3", "billing", T0 + 1000);
    join.status("wamid.3", DeliveryStatus::Delivered, T0 + 2000);
    join.sweep(T0 + 11 * MINUTE);
    let snapshot = join.snapshot();
    assert_eq!(row(&snapshot, "shop").undelivered_total, 1);
    assert_eq!(row(&snapshot, "billing").undelivered_total, 1);
    assert_eq!(
        snapshot
            .accounts
            .iter()
            .map(|r| r.account.as_str())
            .collect::<Vec<_>>(),
        ["billing", "shop"],
        "sorted by name"
    );
}

#[test]
fn eviction_is_bounded_counts_the_oldest_and_spares_the_newest() {
    let mut join = WamidJoin::with_capacity(Duration::from_secs(600), 3);
    for n in 0..10 {
        join.accepted(&format!("wamid.{n}"), "shop", T0 + n);
    }
    assert_eq!(join.tracked(), 3);
    let snapshot = join.snapshot();
    assert_eq!(snapshot.evicted_total, 7);
    join.sweep(T0 + 11 * MINUTE);
    assert_eq!(row(&join.snapshot(), "shop").undelivered_total, 3);
    // The newest were kept: their statuses still resolve them.
    let mut join = WamidJoin::with_capacity(Duration::from_secs(600), 2);
    for n in 0..3 {
        join.accepted(&format!("wamid.{n}"), "shop", T0 + n);
    }
    join.status("wamid.1", DeliveryStatus::Delivered, T0 + 100);
    join.status("wamid.2", DeliveryStatus::Delivered, T0 + 100);
    assert_eq!(join.tracked(), 0);
}

#[test]
fn overdue_sends_are_forgotten_after_a_day_and_leave_the_gauge() {
    let mut join = join();
    join.accepted("wamid.O", "shop", T0);
    join.sweep(T0 + 10 * MINUTE);
    join.sweep(T0 + 24 * 60 * MINUTE);
    assert_eq!(join.tracked(), 0);
    assert_eq!(join.next_wake_ms(), None);
    let snapshot = join.snapshot();
    assert_eq!(row(&snapshot, "shop").undelivered_total, 1);
    assert_eq!(row(&snapshot, "shop").overdue, 0);
}

#[test]
fn the_early_set_is_bounded() {
    let mut join = join();
    for n in 0..(MAX_EARLY + 50) {
        join.status(&format!("wamid.{n}"), DeliveryStatus::Delivered, T0);
    }
    assert_eq!(join.early.len(), MAX_EARLY);
    assert_eq!(join.early_order.len(), MAX_EARLY);
}

#[tokio::test(start_paused = true)]
async fn the_task_reports_at_the_deadline_and_sleeps_while_empty() {
    let clock = Clock::virtual_at(1_800_000_000);
    let (inputs, rx) = mpsc::unbounded_channel();
    let (hub, mut reports) = mpsc::unbounded_channel();
    tokio::spawn(run(
        WamidJoin::new(Duration::from_secs(120)),
        clock.clone(),
        rx,
        hub,
    ));
    let first = reports.recv().await;
    assert!(matches!(first, Some(TelemetryInput::ProxyUndelivered(_))));
    let at_ms = clock.now().timestamp_millis();
    inputs
        .send(JoinInput::Accepted {
            wamid: "wamid.T".into(),
            account: "shop".into(),
            at_ms,
        })
        .unwrap();
    inputs
        .send(JoinInput::Accepted {
            wamid: "wamid.D".into(),
            account: "shop".into(),
            at_ms,
        })
        .unwrap();
    inputs
        .send(JoinInput::Statuses(vec![(
            "wamid.D".into(),
            DeliveryStatus::Delivered,
        )]))
        .unwrap();
    let report = loop {
        match reports.recv().await {
            Some(TelemetryInput::ProxyUndelivered(snapshot))
                if snapshot.accounts.iter().any(|r| r.undelivered_total > 0) =>
            {
                break snapshot;
            }
            Some(_) => {}
            None => panic!("the join stopped"),
        }
    };
    let waited = clock.now().timestamp_millis() - at_ms;
    assert!(
        (120_000..121_000).contains(&waited),
        "reported {waited} ms after the send"
    );
    assert_eq!(report.accounts[0].undelivered_total, 1);
    assert_eq!(report.accounts[0].overdue, 1);
}
