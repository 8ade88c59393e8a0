//! The contract every [`StateStore`] backend meets, as a test suite: a
//! backend's tests call [`run_all`] with a way to open its stores.

use super::quota::Usage;
use super::state::{BucketId, ErrorMark, Lockdown, LockdownSource, Mark, MarkKind, StateStore};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Opens a store for a connector; every store it opens shares one backend
/// (as separate processes would).
pub(crate) type Open<'a> = &'a dyn Fn(&str) -> Arc<dyn StateStore>;

/// Runs every check. Each uses its own connector names, so one backend
/// can serve them all.
pub(crate) fn run_all(open: Open<'_>) {
    a_key_is_held_once_and_free_after_release(open);
    attempts_stop_at_the_first_key_held(open);
    marks_round_trip_through_a_hold(open);
    usage_updates_are_never_lost(open);
    the_cursor_is_shared(open);
    clean_touches_only_its_own_connector(open);
    a_release_is_heard_by_a_watcher(open);
    a_peek_sees_marks_and_usage_without_taking_anything(open);
    the_line_goes_by_priority_then_arrival(open);
    history_adds_up_and_keeps_only_the_newest_days(open);
}

/// A simulated year of days, two writers: every count kept for the days
/// kept, and the history no bigger after a year than after its first
/// month.
fn history_adds_up_and_keeps_only_the_newest_days(open: Open<'_>) {
    use super::history::{History, Totals};
    let (a, b) = (open("history"), open("history"));
    a.prepare().unwrap();
    let day = |n: u32| {
        let date = jiff::civil::date(2025, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(n)))
            .unwrap();
        date.to_string()
    };
    let delta = |n: u32, key: &str| {
        let mut h = History::default();
        let d = h.days.entry(day(n)).or_default();
        d.keys.insert(
            key.into(),
            Totals {
                requests: 3,
                tokens: 100,
                ..Totals::default()
            },
        );
        d.clients.insert(
            "app".into(),
            Totals {
                requests: 3,
                rate_limited: 1,
                ..Totals::default()
            },
        );
        h
    };
    let mut size_after_a_month = 0;
    for n in 0..365 {
        a.add_history(&delta(n, "k1"), 30).unwrap();
        b.add_history(&delta(n, "k2"), 30).unwrap();
        if n == 29 {
            size_after_a_month = serde_json::to_string(&b.history().unwrap()).unwrap().len();
        }
    }
    let h = a.history().unwrap();
    assert_eq!(h.days.len(), 30, "{}", a.describe());
    assert_eq!(h.days.keys().next().unwrap(), &day(335));
    let last = &h.days[&day(364)];
    assert_eq!(last.keys["k1"].requests, 3);
    assert_eq!(last.keys["k2"].tokens, 100);
    assert_eq!(last.clients["app"].requests, 6);
    assert_eq!(last.clients["app"].rate_limited, 2);
    let size = serde_json::to_string(&h).unwrap().len();
    assert!(
        size <= size_after_a_month,
        "{size} > {size_after_a_month} after a year"
    );
}

fn the_line_goes_by_priority_then_arrival(open: Open<'_>) {
    use super::Priority;
    use super::line::Place;
    let (a, b) = (open("line"), open("line"));
    a.prepare().unwrap();
    let normal = Place::arriving(Priority::Normal);
    let Some(standing) = a.join_line("m", &normal).unwrap() else {
        return; // This backend keeps no line: priorities hold in-process only.
    };
    let later_normal = Place::arriving(Priority::Normal);
    let low = Place::arriving(Priority::Low);
    let high = Place::arriving(Priority::High);
    assert!(
        b.ahead("m", &later_normal, false).unwrap(),
        "{}",
        b.describe()
    );
    assert!(b.ahead("m", &low, false).unwrap());
    assert!(
        !b.ahead("m", &high, false).unwrap(),
        "a higher priority goes first"
    );
    assert!(
        !b.ahead("m", &normal, false).unwrap(),
        "nobody before the first"
    );
    assert!(
        !b.ahead("other-model", &low, false).unwrap(),
        "lines are per model"
    );
    // Our own places don't count when only other processes' are asked for.
    assert!(!b.ahead("m", &low, true).unwrap());
    drop(standing);
    assert!(
        !b.ahead("m", &low, false).unwrap(),
        "a call that left is not waited for"
    );
}

fn a_peek_sees_marks_and_usage_without_taking_anything(open: Open<'_>) {
    let (a, b) = (open("peek"), open("peek"));
    a.prepare().unwrap();
    let hold = a.try_hold("k1").unwrap().unwrap();
    a.mark(hold.as_ref(), &Mark::Lockdown(lockdown(60)))
        .unwrap();
    drop(hold);
    let bucket = BucketId::Key("k2".into());
    a.update_usage(&bucket, &mut |u| {
        u.bucket_mut("k2").learned.clear();
        u.next_id = 7;
        true
    })
    .unwrap();
    let looks = b
        .peek(&[("k1", BucketId::Key("k1".into())), ("k2", bucket.clone())])
        .unwrap();
    assert_eq!(looks.len(), 2);
    let (marks1, _) = looks[0].as_ref().expect("not held");
    let (marks2, usage2) = looks[1].as_ref().expect("not held");
    assert!(marks1.lockdown.is_some() && marks1.error.is_none());
    assert!(marks2.is_empty());
    assert_eq!(usage2.next_id, 7, "the usage record as it stands");
    // Nothing was taken: both keys are free for another holder.
    for key in ["k1", "k2"] {
        assert!(b.try_hold(key).unwrap().is_some(), "{key} is free");
    }
    // A held key is seen as held, and nothing of it is read.
    let hold = a.try_hold("k2").unwrap().unwrap();
    assert!(b.is_held("k2").unwrap() && !b.is_held("k1").unwrap());
    let looks = b.peek(&[("k2", bucket)]).unwrap();
    assert!(looks[0].is_none());
    drop(hold);
    assert!(!b.is_held("k2").unwrap());
}

fn lockdown(secs: i64) -> Lockdown {
    let now = Timestamp::now();
    Lockdown {
        until: Some(now + jiff::SignedDuration::from_secs(secs)),
        reason: "429 RESOURCE_EXHAUSTED".into(),
        source: LockdownSource::RetryInfo,
        since: now,
        models: Vec::new(),
    }
}

fn a_key_is_held_once_and_free_after_release(open: Open<'_>) {
    let (a, b) = (open("hold"), open("hold"));
    a.prepare().unwrap();
    let hold = a.try_hold("k1").unwrap().expect("a fresh key is free");
    assert_eq!(hold.key(), "k1");
    assert!(a.try_hold("k1").unwrap().is_none(), "held once");
    assert!(b.try_hold("k1").unwrap().is_none(), "by every store");
    assert!(b.holder("k1").unwrap().is_some(), "and its holder is known");
    assert!(b.try_hold("k2").unwrap().is_some(), "other keys stay free");
    drop(hold);
    assert!(b.holder("k1").unwrap().is_none());
    assert!(b.try_hold("k1").unwrap().is_some(), "free after release");
}

fn attempts_stop_at_the_first_key_held(open: Open<'_>) {
    use super::state::Attempt;
    let store = open("each");
    store.prepare().unwrap();
    let busy = store.try_hold("k1").unwrap().unwrap();
    let marked = store.try_hold("k2").unwrap().unwrap();
    store
        .mark(marked.as_ref(), &Mark::Lockdown(lockdown(60)))
        .unwrap();
    drop(marked);
    let bucket = |k: &str| BucketId::Key(k.to_string());
    let keys = ["k1", "k2", "k3", "k4"].map(|k| (k, bucket(k)));
    let attempts = store.attempt_each(&keys, false).unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(matches!(attempts[0], Attempt::Busy));
    assert!(matches!(&attempts[1], Attempt::Marked(m) if m.lockdown.is_some()));
    assert!(matches!(&attempts[2], Attempt::Held(h, m) if h.key() == "k3" && m.is_empty()));
    assert!(
        store.try_hold("k4").unwrap().is_some(),
        "k4 was not touched"
    );
    // Told to take marked keys, it takes k2 with its marks.
    let attempts = store.attempt_each(&keys[1..2], true).unwrap();
    assert!(matches!(&attempts[0], Attempt::Held(h, m) if h.key() == "k2" && m.lockdown.is_some()));
    drop(busy);
}

fn marks_round_trip_through_a_hold(open: Open<'_>) {
    let (a, b) = (open("marks"), open("marks"));
    a.prepare().unwrap();
    assert!(a.marks("k1").unwrap().is_empty());
    let hold = a.try_hold("k1").unwrap().unwrap();
    let ld = lockdown(60);
    a.mark(hold.as_ref(), &Mark::Lockdown(ld.clone())).unwrap();
    let error = ErrorMark {
        reason: "401".into(),
        since: Timestamp::now(),
    };
    let hold2 = a.try_hold("k2").unwrap().unwrap();
    a.mark(hold2.as_ref(), &Mark::Error(error.clone())).unwrap();
    drop(hold2);
    assert_eq!(b.marks("k1").unwrap().lockdown.as_ref(), Some(&ld));
    assert_eq!(b.marks("k2").unwrap().error.as_ref(), Some(&error));
    let all = b.all_marks().unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all["k1"].lockdown.as_ref(), Some(&ld));
    assert!(all["k2"].error.is_some());
    assert!(a.clear(hold.as_ref(), MarkKind::Lockdown).unwrap());
    assert!(!a.clear(hold.as_ref(), MarkKind::Lockdown).unwrap());
    assert!(b.marks("k1").unwrap().is_empty());
    assert!(!a.clear(hold.as_ref(), MarkKind::Error).unwrap());
}

fn usage_updates_are_never_lost(open: Open<'_>) {
    let bucket = BucketId::Group("g".into());
    open("usage").prepare().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = open("usage");
            let bucket = bucket.clone();
            std::thread::spawn(move || {
                for _ in 0..40 {
                    store
                        .update_usage(&bucket, &mut |u: &mut Usage| {
                            u.next_id += 1;
                            true
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = open("usage");
    assert_eq!(store.usage(&bucket).next_id, 320);
    // An update that declines to save changes nothing.
    store
        .update_usage(&bucket, &mut |u: &mut Usage| {
            u.next_id = 0;
            false
        })
        .unwrap();
    assert_eq!(store.usage(&bucket).next_id, 320);
    assert_eq!(
        store.usage(&BucketId::Key("g".into())).next_id,
        0,
        "a key's bucket is not its namesake group's"
    );
}

fn the_cursor_is_shared(open: Open<'_>) {
    let (a, b) = (open("cursor"), open("cursor"));
    a.prepare().unwrap();
    assert_eq!(a.cursor(), 0);
    a.set_cursor(7);
    assert_eq!(b.cursor(), 7);
    b.set_cursor(12_345);
    assert_eq!(a.cursor(), 12_345);
    assert_eq!(open("cursor_other").cursor(), 0);
}

fn clean_touches_only_its_own_connector(open: Open<'_>) {
    let (mine, longer, other) = (open("local"), open("local_b"), open("remote"));
    mine.prepare().unwrap();
    for store in [&mine, &longer, &other] {
        let hold = store.try_hold("k1").unwrap().unwrap();
        store
            .mark(hold.as_ref(), &Mark::Lockdown(lockdown(600)))
            .unwrap();
        let hold = store.try_hold("k2").unwrap().unwrap();
        store
            .mark(
                hold.as_ref(),
                &Mark::Error(ErrorMark {
                    reason: "bad".into(),
                    since: Timestamp::now(),
                }),
            )
            .unwrap();
        store
            .update_usage(&BucketId::Key("k1".into()), &mut |u: &mut Usage| {
                u.next_id = 5;
                true
            })
            .unwrap();
    }
    let held = mine.try_hold("k3").unwrap().unwrap();
    let report = mine.clean().unwrap();
    assert_eq!(
        (report.lockdowns, report.errors, report.held),
        (1, 1, 1),
        "{report:?}"
    );
    assert!(mine.all_marks().unwrap().is_empty());
    assert!(mine.try_hold("k3").unwrap().is_none(), "a live hold stays");
    drop(held);
    for store in [&longer, &other] {
        assert_eq!(store.all_marks().unwrap().len(), 2, "{}", store.describe());
    }
}

fn a_release_is_heard_by_a_watcher(open: Open<'_>) {
    let (a, b) = (open("watch"), open("watch"));
    a.prepare().unwrap();
    let hold = a.try_hold("k1").unwrap().unwrap();
    let heard = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = heard.clone();
    let Some(_guard) = b.watch(Arc::new(move || {
        flag.store(true, std::sync::atomic::Ordering::SeqCst)
    })) else {
        return; // This backend can't tell: waiters poll.
    };
    // Let a watch that subscribes in the background settle first.
    std::thread::sleep(Duration::from_millis(300));
    heard.store(false, std::sync::atomic::Ordering::SeqCst);
    drop(hold);
    let start = Instant::now();
    while !heard.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "a release was not heard"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
