//! Property: the same heartbeats ingested in random order, random batch splits and with random
//! duplicates give identical statusbar, stats and leaderboard results, equal to a brute force
//! over the sorted raw heartbeats.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{json, Value};
use timeledger::*;

const ZONES: &[&str] = &["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"];
const LANGS: &[&str] = &["Rust", "Go", "Python"];
const BASE: i64 = 1_762_000_000_000; // 2025-11-01T12:26:40Z, before New York's fall-back

#[derive(Debug, Clone)]
struct Beat {
    user: i64,
    time: i64, // ms, unique per user
    lang: usize,
}

#[derive(Debug, Clone)]
struct Case {
    zone: usize,
    timeout_min: i64,
    beats: Vec<Beat>,
    order: Vec<usize>,
    cuts: Vec<usize>,
    dups: Vec<usize>,
    windows: Vec<(i64, i64)>,
    /// `now` is this long after the last heartbeat, so rolling windows cut through the data.
    now_after: i64,
}

fn case() -> impl Strategy<Value = Case> {
    let gaps = proptest::collection::vec(
        (1i64..4, prop_oneof![1i64..600_000, 600_000i64..3_000_000, Just(900_000i64), Just(60_000i64)], 0usize..3),
        1..60,
    );
    (
        0..ZONES.len(),
        prop_oneof![Just(15i64), 1i64..60],
        gaps,
        proptest::collection::vec((0i64..8 * 3_600_000, 0i64..8 * 3_600_000), 1..4),
        0i64..30 * 3_600_000,
    )
        .prop_flat_map(|(zone, timeout_min, gaps, windows, now_after)| {
            let mut clock: BTreeMap<i64, i64> = BTreeMap::new();
            let beats: Vec<Beat> = gaps
                .into_iter()
                .map(|(user, gap, lang)| {
                    let t = clock.entry(user).or_insert(BASE);
                    *t += gap;
                    Beat { user, time: *t, lang }
                })
                .collect();
            let n = beats.len();
            (
                Just(zone),
                Just(timeout_min),
                Just(beats),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                proptest::collection::vec(0..n.max(1), 0..4),
                proptest::collection::vec(0..n.max(1), 0..6),
                Just(windows),
                Just(now_after),
            )
        })
        .prop_map(|(zone, timeout_min, beats, order, cuts, dups, windows, now_after)| Case {
            zone,
            timeout_min,
            beats,
            order,
            cuts,
            dups,
            windows,
            now_after,
        })
}

fn json_beat(b: &Beat) -> Value {
    json!({"entity": format!("f{}.x", b.lang), "time": b.time as f64 / 1000.0, "language": LANGS[b.lang], "project": "p"})
}

/// Brute force: ms per (user, language) inside [from, to).
fn brute(beats: &[Beat], timeout_ms: i64, from: i64, to: i64) -> BTreeMap<(i64, String), i64> {
    let mut sorted = beats.to_vec();
    sorted.sort_by_key(|b| (b.user, b.time));
    let mut out = BTreeMap::new();
    for w in sorted.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let gap = b.time - a.time;
        if a.user == b.user && gap > 0 && gap <= timeout_ms {
            let (s, e) = (a.time.max(from), b.time.min(to));
            if e > s {
                *out.entry((a.user, LANGS[a.lang].to_string())).or_insert(0) += e - s;
            }
        }
    }
    out
}

/// Brute force of a coding board over [from, to): whole seconds per user, users with none left out.
fn board_seconds(beats: &[Beat], timeout_ms: i64, from: i64, to: i64) -> BTreeMap<i64, i64> {
    let mut per_user: BTreeMap<i64, i64> = BTreeMap::new();
    for ((u, _), ms) in brute(beats, timeout_ms, from, to) {
        *per_user.entry(u).or_default() += ms;
    }
    per_user.into_iter().map(|(u, ms)| (u, ms / 1000)).filter(|(_, s)| *s > 0).collect()
}

/// A coding board's entries: total seconds per user.
fn board_entries(board: &Value) -> BTreeMap<i64, i64> {
    board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["user"]["id"].as_i64().unwrap(), e["total_seconds"].as_i64().unwrap()))
        .collect()
}

fn ingest(engine: &Engine, c: &Case, order: &[usize], with_dups: bool) {
    let mut seq: Vec<usize> = order.to_vec();
    if with_dups {
        for &d in &c.dups {
            seq.push(d % c.beats.len());
        }
    }
    let mut cuts: Vec<usize> = c.cuts.iter().map(|x| x % (seq.len() + 1)).collect();
    cuts.push(0);
    cuts.push(seq.len());
    cuts.sort();
    for w in cuts.windows(2) {
        // One batch per user per slice (a bulk belongs to one user).
        for user in 1..4 {
            let items: Vec<Value> =
                seq[w[0]..w[1]].iter().map(|&i| &c.beats[i]).filter(|b| b.user == user).map(json_beat).collect();
            if items.is_empty() {
                continue;
            }
            let r = engine
                .ingest_heartbeats(&HeartbeatBatch {
                    guild_id: 1,
                    user_id: user,
                    heartbeats: Value::Array(items),
                    ..Default::default()
                })
                .unwrap();
            assert!(r.responses.iter().all(|o| o.status == 201 || o.status == 202));
        }
    }
}

fn observe(engine: &Engine, c: &Case) -> Vec<Value> {
    let mut seen = vec![];
    for user in 1..4 {
        seen.push(engine.statusbar_today(1, user).unwrap());
        seen.push(engine.coding_stats(&UserWindow { guild_id: 1, user_id: user, ..Default::default() }).unwrap());
        seen.push(
            engine
                .coding_stats(&UserWindow {
                    guild_id: 1,
                    user_id: user,
                    timeframe: Some("last_7_days".into()),
                    ..Default::default()
                })
                .unwrap(),
        );
        for &(a, l) in &c.windows {
            let q = UserWindow {
                guild_id: 1,
                user_id: user,
                from: Some(Timestamp(BASE + a)),
                to: Some(Timestamp(BASE + a + l)),
                ..Default::default()
            };
            seen.push(engine.coding_stats(&q).unwrap());
        }
    }
    for period in ["daily", "weekly"] {
        let mut lb = engine
            .coding_leaderboard(&CodingLeaderboardQuery {
                guild_id: 1,
                period: Some(period.into()),
                ..Default::default()
            })
            .unwrap();
        lb.as_object_mut().unwrap().remove("generated_at");
        seen.push(lb);
    }
    seen
}

/// A fresh engine (on PostgreSQL when `TIMELEDGER_TEST_POSTGRES` is set) for one case.
fn engine_for(name: &str, c: &Case, now: i64) -> Engine {
    let engine = common::fresh_engine(&format!("hbprop_{name}"));
    engine.set_now(Some(now)).unwrap();
    engine
        .update_guild(&GuildUpdate {
            guild_id: 1,
            timezone: Some(ZONES[c.zone].into()),
            heartbeat_timeout_seconds: Some(c.timeout_min * 60),
            ..Default::default()
        })
        .unwrap();
    engine
}

fn run(c: Case) -> Result<(), TestCaseError> {
    let last = c.beats.iter().map(|b| b.time).max().unwrap_or(BASE);
    let now = last + c.now_after;
    let timeout_ms = c.timeout_min * 60_000;
    let tz: Tz = ZONES[c.zone].parse().unwrap();

    let sorted_engine = engine_for("sorted", &c, now);
    ingest(&sorted_engine, &c, &(0..c.beats.len()).collect::<Vec<_>>(), false);
    let shuffled_engine = engine_for("shuffled", &c, now);
    ingest(&shuffled_engine, &c, &c.order, true);
    let a = observe(&sorted_engine, &c);
    let b = observe(&shuffled_engine, &c);
    prop_assert_eq!(&a, &b);

    // Statusbar today against the brute force over today's local day.
    let today = Utc.timestamp_millis_opt(now).unwrap().with_timezone(&tz).date_naive();
    let day_start = |d: chrono::NaiveDate| -> i64 {
        // First instant whose local date is d: scan minutes around the naive midnight.
        let guess = d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() - 14 * 3_600_000;
        (0..(28 * 60))
            .map(|m| guess + m * 60_000)
            .find(|t| Utc.timestamp_millis_opt(*t).unwrap().with_timezone(&tz).date_naive() >= d)
            .unwrap()
    };
    let (f, t) = (day_start(today), day_start(today.succ_opt().unwrap()));
    for user in 1..4i64 {
        let expected: i64 =
            brute(&c.beats, timeout_ms, f, t).iter().filter(|((u, _), _)| *u == user).map(|(_, ms)| ms).sum();
        let got =
            a[(user as usize - 1) * (3 + c.windows.len())]["data"]["grand_total"]["total_seconds"].as_f64().unwrap();
        prop_assert_eq!((got * 1000.0).round() as i64, expected, "statusbar user {}", user);
    }
    // Stats over all time and the custom windows, per language.
    for user in 1..4i64 {
        let base = (user as usize - 1) * (3 + c.windows.len());
        let mut checks = vec![(base + 1, i64::MIN / 2, i64::MAX / 2)];
        for (k, &(wa, wl)) in c.windows.iter().enumerate() {
            checks.push((base + 3 + k, BASE + wa, BASE + wa + wl));
        }
        for (idx, from, to) in checks {
            let exp = brute(&c.beats, timeout_ms, from, to);
            let exact: BTreeMap<String, i64> =
                exp.iter().filter(|((u, _), _)| *u == user).map(|((_, l), ms)| (l.clone(), *ms)).collect();
            let total_s = exact.values().sum::<i64>() / 1000;
            let got: BTreeMap<String, i64> = a[idx]["languages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["name"].as_str().unwrap().to_string(), x["seconds"].as_i64().unwrap()))
                .collect();
            // The items add up to the total, each is its exact time floored or rounded up, and
            // none is 0 s.
            prop_assert_eq!(
                a[idx]["total_seconds"].as_i64().unwrap(),
                total_s,
                "total user {} window {}..{}",
                user,
                from,
                to
            );
            prop_assert_eq!(got.values().sum::<i64>(), total_s, "items add up, user {} window {}..{}", user, from, to);
            for (name, s) in &got {
                let ms = exact.get(name).copied().unwrap_or(0);
                prop_assert!(*s > 0 && (*s == ms / 1000 || *s == ms / 1000 + 1), "{} {} s for {} ms", name, s, ms);
            }
            for (name, ms) in &exact {
                prop_assert!(*ms < 1000 || got.contains_key(name), "{} ({} ms) is missing", name, ms);
            }
            let langs: BTreeMap<String, i64> =
                exact.iter().filter(|(n, _)| got.contains_key(*n)).map(|(n, _)| (n.clone(), got[n])).collect();
            prop_assert_eq!(got, langs, "stats user {} window {}..{}", user, from, to);
        }
    }
    // Leaderboards: daily = [now - 24h, now), weekly = [now - 7d, now).
    for (k, span) in [(0usize, 86_400_000i64), (1, 7 * 86_400_000)] {
        let per_user = board_seconds(&c.beats, timeout_ms, now - span, now);
        prop_assert_eq!(board_entries(&a[a.len() - 2 + k]), per_user, "leaderboard {}", k);
    }
    // Boards at more "now"s, where the windows' ends fall on, just before and just after
    // heartbeats, and inside the windows of the case, on both engines.
    let mut nows: Vec<i64> = c.windows.iter().map(|&(a, l)| BASE + a + l).collect();
    for b in c.beats.iter().step_by(7) {
        nows.extend([b.time - 1, b.time, b.time + 1, b.time + 86_400_000, b.time + 7 * 86_400_000 + 1]);
    }
    for now in nows {
        for engine in [&sorted_engine, &shuffled_engine] {
            engine.set_now(Some(now)).unwrap();
            for (period, span) in [("daily", 86_400_000i64), ("weekly", 7 * 86_400_000)] {
                let per_user = board_seconds(&c.beats, timeout_ms, now - span, now);
                let lb = engine
                    .coding_leaderboard(&CodingLeaderboardQuery {
                        guild_id: 1,
                        period: Some(period.into()),
                        ..Default::default()
                    })
                    .unwrap();
                prop_assert_eq!(board_entries(&lb), per_user, "{} board at {}", period, now);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn order_batching_and_duplicates_do_not_change_results(c in case()) {
        run(c)?;
    }
}

/// An ingest reads the heartbeats around a bulk with the guild's timeout as this engine last
/// saw it, and checks it against the settings it reads in the same round trip. When another
/// host (here a second engine on the same database) has changed the timeout since, the
/// neighbourhood is read again with the one in force: a gap longer than the old timeout and
/// shorter than the new one counts.
#[test]
fn a_timeout_changed_by_another_host_is_used_by_the_next_ingest() {
    let db = common::shared_database("hb_timeout_hosts");
    let (a, b) = (Engine::open(&db).unwrap(), Engine::open(&db).unwrap());
    let minute = 60_000;
    let settings = |timeout_min: i64| GuildUpdate {
        guild_id: 1,
        heartbeat_timeout_seconds: Some(timeout_min * 60),
        ..Default::default()
    };
    let beat = |at: i64| json!({"entity": "/src/a.rs", "type": "file", "time": (BASE + at) as f64 / 1000.0, "language": "Rust"});
    let ingest = |at: &[i64]| {
        let r = a
            .ingest_heartbeats(&HeartbeatBatch {
                guild_id: 1,
                user_id: 7,
                heartbeats: Value::Array(at.iter().map(|&t| beat(t)).collect()),
                ..Default::default()
            })
            .unwrap();
        assert!(r.responses.iter().all(|o| o.status == 201), "{:?}", r.responses);
    };
    let total = || {
        a.coding_stats(&UserWindow { guild_id: 1, user_id: 7, ..Default::default() }).unwrap()["total_seconds"]
            .as_i64()
            .unwrap()
    };
    b.update_guild(&settings(5)).unwrap();
    ingest(&[0, minute]);
    assert_eq!(total(), 60);
    // Longer on the other host: 1 min -> 12 min now counts (11 min); 12 -> 30 min does not.
    b.update_guild(&settings(15)).unwrap();
    ingest(&[12 * minute, 30 * minute]);
    assert_eq!(total(), 12 * 60);
    // Shorter again: 30 -> 34 min counts (4 min), 34 -> 40 min does not (6 > 5).
    b.update_guild(&settings(5)).unwrap();
    assert_eq!(total(), 60);
    ingest(&[34 * minute, 40 * minute]);
    assert_eq!(total(), 60 + 4 * 60);
}

/// On PostgreSQL an engine first tries a bulk that follows the user's latest heartbeat with what
/// it wrote last (one round trip, checked by the database before the writes). Heartbeats another
/// host stored for the same user in between, and a bulk repeating the latest heartbeat, give
/// the same totals and statuses as on a single host.
#[test]
fn heartbeats_another_host_stored_in_between_are_counted_once() {
    let db = common::shared_database("hb_tail_hosts");
    let (a, b) = (Engine::open(&db).unwrap(), Engine::open(&db).unwrap());
    let minute = 60_000;
    let beat = |at: i64| json!({"entity": "/src/a.rs", "type": "file", "time": (BASE + at) as f64 / 1000.0, "language": "Rust"});
    let ingest = |e: &Engine, at: &[i64]| -> Vec<u16> {
        e.ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: 7,
            heartbeats: Value::Array(at.iter().map(|&t| beat(t)).collect()),
            ..Default::default()
        })
        .unwrap()
        .responses
        .iter()
        .map(|o| o.status)
        .collect()
    };
    let total = || {
        b.coding_stats(&UserWindow { guild_id: 1, user_id: 7, ..Default::default() }).unwrap()["total_seconds"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(ingest(&a, &[0, minute]), [201, 201]);
    // The other host adds 2 min; this one, knowing only 0 and 1 min, adds 3 min.
    assert_eq!(ingest(&b, &[2 * minute]), [201]);
    assert_eq!(ingest(&a, &[3 * minute]), [201]);
    assert_eq!(total(), 3 * 60);
    // The latest heartbeat again, with a new one: a duplicate and one more minute.
    assert_eq!(ingest(&a, &[3 * minute, 4 * minute]), [202, 201]);
    assert_eq!(total(), 4 * 60);
    // The other host stores one between two this host knows of, then this host goes on.
    assert_eq!(ingest(&b, &[(4 * 60 + 30) * 1000]), [201]);
    assert_eq!(ingest(&a, &[5 * minute, 5 * minute]), [201, 202]);
    assert_eq!(total(), 5 * 60);
    assert_eq!(ingest(&a, &[5 * minute]), [202]);
    assert_eq!(total(), 5 * 60);
}
