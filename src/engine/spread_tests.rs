//! The slices: sticky, full batches, even; the rotation: each slice once per interval.

use super::*;

fn app(id: &str) -> AppKey {
    Some(id.to_string())
}

fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

fn slices_of(slots: usize, accounts: &[(String, AppKey)]) -> Slices {
    let mut slices = Slices::new(slots);
    slices.follow(accounts.iter().map(|(n, a)| (n.as_str(), a.clone())));
    slices
}

fn one_app(count: usize) -> Vec<(String, AppKey)> {
    names("acct", count)
        .into_iter()
        .map(|n| (n, app("1")))
        .collect()
}

#[test]
fn one_slice_a_minute_within_bounds() {
    assert_eq!(slot_count(Duration::from_secs(15 * 60)), 15);
    assert_eq!(slot_count(Duration::from_secs(60)), 1);
    assert_eq!(slot_count(Duration::from_secs(10)), 1);
    assert_eq!(slot_count(Duration::from_secs(90)), 1);
    assert_eq!(slot_count(Duration::from_secs(7 * 24 * 3600)), MAX_SLOTS);
}

#[test]
fn a_small_fleet_stays_in_one_request_in_the_last_slice() {
    let slices = slices_of(15, &one_app(3));
    let mut expected = vec![0; 15];
    expected[14] = 1;
    assert_eq!(slices.requests_per_slot(), expected.as_slice());
    assert!((0..3).all(|i| slices.slot_of(&format!("acct{i}")) == 14));
}

#[test]
fn a_large_fleet_fills_batches_and_spreads_evenly() {
    let slices = slices_of(15, &one_app(2000));
    let requests = slices.requests_per_slot();
    // 2,000 accounts are 40 full batches: 3 or 2 a slice, never more than the share.
    assert_eq!(requests.iter().sum::<usize>(), 40);
    assert!(requests.iter().all(|&n| n == 2 || n == 3), "{requests:?}");
    let mut per_slot = vec![0usize; 15];
    for i in 0..2000 {
        per_slot[slices.slot_of(&format!("acct{i}"))] += 1;
    }
    assert!(per_slot.iter().all(|n| n % 50 == 0), "{per_slot:?}");
}

#[test]
fn a_thousand_accounts_cost_one_or_two_requests_a_minute() {
    // The rate docs/refresh.md states for the default check-interval.
    let slices = slices_of(slot_count(Duration::from_secs(15 * 60)), &one_app(1000));
    let requests = slices.requests_per_slot();
    assert_eq!(requests.iter().sum::<usize>(), 20);
    assert!(requests.iter().all(|&n| n == 1 || n == 2), "{requests:?}");
}

#[test]
fn many_small_apps_take_one_request_each_spread_over_the_slices() {
    let accounts: Vec<(String, AppKey)> = (0..30)
        .flat_map(|a| (0..10).map(move |i| (format!("app{a}-{i}"), app(&a.to_string()))))
        .collect();
    let slices = slices_of(15, &accounts);
    assert_eq!(slices.requests_per_slot(), vec![2; 15].as_slice());
    // One app's accounts share one slice (one batch).
    assert!((0..10).all(|i| slices.slot_of(&format!("app7-{i}")) == slices.slot_of("app7-0")));
}

#[test]
fn accounts_without_app_cost_nothing() {
    let accounts = vec![("a".to_string(), None), ("b".to_string(), None)];
    let slices = slices_of(15, &accounts);
    assert_eq!(slices.requests_per_slot().iter().sum::<usize>(), 0);
}

#[test]
fn a_reload_keeps_every_running_account_in_its_slice_and_fills_holes() {
    let mut accounts = one_app(2000);
    let mut slices = slices_of(15, &accounts);
    let before: Vec<usize> = accounts.iter().map(|(n, _)| slices.slot_of(n)).collect();
    // 100 leave, 150 arrive.
    let removed: Vec<(String, AppKey)> = accounts.drain(..100).collect();
    accounts.extend(names("new", 150).into_iter().map(|n| (n, app("1"))));
    slices.follow(accounts.iter().map(|(n, a)| (n.as_str(), a.clone())));
    for (i, (name, _)) in accounts.iter().enumerate().take(1900) {
        assert_eq!(slices.slot_of(name), before[i + 100], "{name} moved");
    }
    assert!(removed.iter().all(|(n, _)| !slices.members.contains_key(n)));
    // 2,050 accounts: 41 batches at best; the holes are filled first.
    let requests = slices.requests_per_slot();
    assert_eq!(requests.iter().sum::<usize>(), 41, "{requests:?}");
    assert!(requests.iter().all(|&n| n <= 3), "{requests:?}");
}

#[test]
fn an_account_moving_to_another_app_is_placed_again() {
    let mut slices = slices_of(15, &one_app(60));
    let mut moved = one_app(60);
    moved[0].1 = app("2");
    slices.follow(moved.iter().map(|(n, a)| (n.as_str(), a.clone())));
    assert_eq!(slices.members["acct0"].app, app("2"));
    // App 1: 59 accounts in 2 batches; app 2: 1 request.
    assert_eq!(slices.requests_per_slot().iter().sum::<usize>(), 3);
}

#[test]
fn every_slice_comes_round_once_per_interval_in_order() {
    let start = Instant::now();
    let interval = Duration::from_secs(15 * 60);
    let mut rotation = Rotation::new(start, interval, 15, 0.5);
    assert_eq!(rotation.due(start), None);
    let mut turns = Vec::new();
    for _ in 0..30 {
        let at = rotation.next_at();
        assert_eq!(rotation.due(at - Duration::from_millis(1)), None);
        turns.push((at, rotation.due(at).unwrap()));
    }
    let slots: Vec<usize> = turns.iter().map(|(_, s)| *s).collect();
    assert_eq!(slots, (0..30).map(|n| n % 15).collect::<Vec<_>>());
    assert!(turns.windows(2).all(|w| w[1].0 - w[0].0 == SLOT_TARGET));
    // The last slice's first turn is within one interval of start-up.
    let (last_first, _) = turns[14];
    assert!(last_first <= start + interval && last_first > start + interval - SLOT_TARGET);
}

#[test]
fn a_late_rotation_hands_out_every_missed_turn() {
    let start = Instant::now();
    let mut rotation = Rotation::new(start, Duration::from_secs(300), 5, 0.0);
    let late = start + Duration::from_secs(200);
    let mut handed = Vec::new();
    while let Some(slot) = rotation.due(late) {
        handed.push(slot);
    }
    assert_eq!(handed, vec![0, 1, 2]);
}
