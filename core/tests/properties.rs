//! Property: for random sessions, zones, windows and edits, every leaderboard, status and report
//! total equals a brute-force recomputation from the raw intervals.
//!
//! The brute force does not use the engine's day arithmetic: it walks each interval minute by
//! minute (every zone transition falls on a whole minute) and asks chrono-tz for the local date.

use std::collections::{BTreeMap, HashMap};

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use timeledger::time::Millis;

mod common;
use timeledger::*;

const ZONES: &[&str] =
    &["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Havana", "Europe/London"];
const CATS: &[&str] = &["Dev", "Ops", "Meet"];
const DAY: i64 = 86_400_000;

#[derive(Debug, Clone)]
struct Spec {
    user: i64,
    cat: usize,
    start: i64,
    len: i64,
}

/// `(session index, None = delete | Some((start s, length s, category)))`.
type Edit = (usize, Option<(i64, i64, usize)>);

#[derive(Debug, Clone)]
struct Case {
    zone: usize,
    zone_after: Option<usize>,
    base: Millis,
    sessions: Vec<Spec>,
    running: Vec<(i64, usize, i64)>,
    edits: Vec<Edit>,
    windows: Vec<(i64, i64)>,
    sunday: bool,
    /// A new week start (Sunday or Monday) set after the sessions, with or without a new zone.
    sunday_after: Option<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    let base = prop_oneof![Just("2025-03-06T00:00:00Z"), Just("2025-10-30T00:00:00Z"), Just("2025-10-01T00:00:00Z")]
        .prop_map(|s| Timestamp::parse(s).unwrap().millis());
    let spec = (1i64..5, 0usize..3, 0i64..10 * 86_400, prop_oneof![0i64..7200, 0i64..(2 * 86_400)])
        .prop_map(|(user, cat, start, len)| Spec { user, cat, start: start * 1000, len: len * 1000 });
    (
        0..ZONES.len(),
        proptest::option::of(0..ZONES.len()),
        base,
        proptest::collection::vec(spec, 0..25),
        proptest::collection::vec((1i64..5, 0usize..3, 0i64..(3 * 86_400)), 0..3),
        proptest::collection::vec(
            (0usize..30, proptest::option::of((0i64..10 * 86_400, 0i64..30_000, 0usize..3))),
            0..8,
        ),
        proptest::collection::vec((0i64..12 * 86_400, 0i64..(5 * 86_400)), 1..4),
        (any::<bool>(), proptest::option::of(any::<bool>())),
    )
        .prop_map(|(zone, zone_after, base, sessions, running, edits, windows, (sunday, sunday_after))| Case {
            zone,
            zone_after,
            base,
            sessions,
            running,
            edits,
            windows: windows.into_iter().map(|(a, l)| (a * 1000, l * 1000)).collect(),
            sunday,
            sunday_after,
        })
}

/// A raw interval as the brute force sees it.
#[derive(Debug, Clone)]
struct Raw {
    user: i64,
    cat: String,
    start: Millis,
    end: Option<Millis>,
}

fn brute_by_user(raw: &[Raw], from: Option<Millis>, to: Option<Millis>, now: Millis) -> BTreeMap<i64, i64> {
    let mut m = BTreeMap::new();
    for r in raw {
        let (s, e) = (
            from.map_or(r.start, |f| r.start.max(f)),
            to.map_or(r.end.unwrap_or(now), |t| r.end.unwrap_or(now).min(t)),
        );
        if e > s {
            *m.entry(r.user).or_insert(0) += (e - s) / 1000;
        }
    }
    m.retain(|_, v| *v > 0);
    m
}

fn brute_by_day(raw: &[Raw], tz: Tz, from: Millis, to: Millis, now: Millis) -> BTreeMap<String, i64> {
    let mut m: BTreeMap<String, i64> = BTreeMap::new();
    for r in raw {
        let (s, e) = (r.start.max(from), r.end.unwrap_or(now).min(to));
        if e <= s {
            continue; // outside the window (walking it would add a negative piece)
        }
        let mut minute = s - s.rem_euclid(60_000);
        while minute < e {
            let a = s.max(minute);
            let b = e.min(minute + 60_000);
            let date = Utc.timestamp_millis_opt(minute).unwrap().with_timezone(&tz).date_naive();
            *m.entry(date.format("%Y-%m-%d").to_string()).or_insert(0) += b - a;
            minute += 60_000;
        }
    }
    // Every piece is whole seconds except where a minute splits one; totals per day are whole.
    m.into_iter().map(|(k, v)| (k, v / 1000)).filter(|(_, v)| *v > 0).collect()
}

fn run(c: Case) -> Result<(), TestCaseError> {
    let engine = common::fresh_engine("props_aggregates");
    let g = 77;
    let now = c.base + 13 * DAY; // after every generated entry: entries may not end in the future
    engine.set_now(Some(now)).unwrap();
    engine
        .update_guild(&GuildUpdate {
            guild_id: g,
            timezone: Some(ZONES[c.zone].into()),
            allow_overlap: Some(true),
            week_start: Some(if c.sunday { "sunday" } else { "monday" }.into()),
            ..Default::default()
        })
        .unwrap();
    for cat in CATS {
        engine.create_category(&NewCategory { guild_id: g, name: (*cat).into(), ..Default::default() }).unwrap();
    }
    let mut ids = Vec::new();
    let mut raw: Vec<Raw> = Vec::new();
    for s in &c.sessions {
        let (start, end) = (c.base + s.start, c.base + s.start + s.len);
        let e = engine
            .add_entry(&NewEntry {
                guild_id: g,
                user_id: s.user,
                category: CATS[s.cat].into(),
                start: Timestamp(start),
                end: Timestamp(end),
                ..Default::default()
            })
            .unwrap();
        ids.push(e.id);
        raw.push(Raw { user: s.user, cat: CATS[s.cat].into(), start, end: Some(end) });
    }
    for &(user, cat, ago) in &c.running {
        let at = now - ago * 1000;
        if engine
            .clock_in(&ClockIn {
                guild_id: g,
                user_id: user,
                category: CATS[cat].into(),
                at: Some(Timestamp(at)),
                ..Default::default()
            })
            .is_ok()
        {
            let r = engine.active_session(g, user).unwrap().unwrap();
            ids.push(r.id);
            raw.push(Raw { user, cat: CATS[cat].into(), start: at, end: None });
        }
    }
    for &(i, ref change) in &c.edits {
        if ids.is_empty() {
            break;
        }
        let i = i % ids.len();
        if ids[i].is_empty() {
            continue;
        }
        match change {
            None => {
                engine.delete_session(g, &ids[i]).unwrap();
                ids[i].clear();
                raw[i].end = Some(raw[i].start);
                raw[i].user = -1;
            }
            Some((start, len, cat)) => {
                let start = c.base + start * 1000;
                let running = raw[i].end.is_none();
                let (start, end) = if running { (raw[i].start, None) } else { (start, Some(start + len * 1000)) };
                engine
                    .update_session(&SessionUpdate {
                        guild_id: g,
                        session_id: ids[i].clone(),
                        start: Some(Timestamp(start)),
                        end: end.map(Timestamp),
                        category: Some(CATS[*cat].into()),
                        ..Default::default()
                    })
                    .unwrap();
                raw[i] = Raw { user: raw[i].user, cat: CATS[*cat].into(), start, end };
            }
        }
    }
    raw.retain(|r| r.user >= 0);
    let zone = c.zone_after.unwrap_or(c.zone);
    if c.zone_after.is_some() || c.sunday_after.is_some() {
        engine
            .update_guild(&GuildUpdate {
                guild_id: g,
                timezone: c.zone_after.map(|z| ZONES[z].into()),
                week_start: c.sunday_after.map(|s| if s { "sunday" } else { "monday" }.into()),
                ..Default::default()
            })
            .unwrap();
    }
    let tz: Tz = ZONES[zone].parse().unwrap();

    // Status: all time.
    let status = engine.guild_status(g).unwrap();
    let all = brute_by_user(&raw, None, None, now);
    prop_assert_eq!(status.total_time_seconds, all.values().sum::<i64>());
    let mut by_cat: BTreeMap<String, i64> = BTreeMap::new();
    for r in &raw {
        *by_cat.entry(r.cat.clone()).or_default() += (r.end.unwrap_or(now) - r.start) / 1000;
    }
    prop_assert_eq!(status.categories.clone(), by_cat);
    prop_assert_eq!(status.active_sessions, raw.iter().filter(|r| r.end.is_none()).count() as i64);

    // Leaderboards over every named timeframe and the random custom windows.
    let mut frames: Vec<(String, Option<Timestamp>, Option<Timestamp>)> =
        ["all", "today", "week", "month", "year", "last_24_hours", "last_7_days", "last_30_days"]
            .iter()
            .map(|t| (t.to_string(), None, None))
            .collect();
    for &(a, l) in &c.windows {
        frames.push(("custom".into(), Some(Timestamp(c.base + a)), Some(Timestamp(c.base + a + l))));
    }
    // The whole week before this one, as a custom window (read from the week rollups).
    let this_week = engine
        .leaderboard(&LeaderboardQuery { guild_id: g, timeframe: Some("week".into()), ..Default::default() })
        .unwrap();
    let first = this_week.start.unwrap().0;
    let first_day = Utc.timestamp_millis_opt(first).unwrap().with_timezone(&tz).date_naive();
    let before = timeledger::time::date_start(tz, first_day - chrono::Duration::days(7));
    frames.push(("custom".into(), Some(Timestamp(before)), Some(Timestamp(first))));
    for (tf, from, to) in frames {
        let q = LeaderboardQuery {
            guild_id: g,
            timeframe: Some(tf.clone()),
            from,
            to,
            limit: Some(1000),
            ..Default::default()
        };
        let board = engine.leaderboard(&q).unwrap();
        let (wf, wt) = (board.start.map(|t| t.0), board.end.map(|t| t.0));
        let expected = brute_by_user(&raw, wf, wt, now);
        let got: BTreeMap<i64, i64> = board.leaderboard.iter().map(|e| (e.user_id, e.total_seconds)).collect();
        prop_assert_eq!(&got, &expected, "leaderboard {}", tf);
        // Ranks: sorted by seconds desc, ties share.
        for w in board.leaderboard.windows(2) {
            prop_assert!(w[0].total_seconds >= w[1].total_seconds);
            let ranked =
                if w[0].total_seconds == w[1].total_seconds { w[0].rank == w[1].rank } else { w[1].rank > w[0].rank };
            prop_assert!(ranked, "ranks {:?}", board.leaderboard);
        }
        // Report by day over the same window adds up exactly and matches the brute force.
        if let (Some(f), Some(t)) = (wf, wt) {
            let report = engine
                .report(&ReportQuery {
                    guild_id: g,
                    timeframe: Some(tf.clone()),
                    from,
                    to,
                    group_by: Some(vec![GroupKey::Day]),
                    ..Default::default()
                })
                .unwrap();
            let got: BTreeMap<String, i64> =
                report.rows.iter().map(|r| (r.day.clone().unwrap_or_default(), r.total_seconds)).collect();
            prop_assert_eq!(report.total_seconds, got.values().sum::<i64>());
            prop_assert_eq!(report.total_seconds, expected.values().sum::<i64>(), "report total {}", tf);
            prop_assert_eq!(got, brute_by_day(&raw, tz, f, t, now), "report days {}", tf);
        }
    }
    // Report grouped by user and category over all time.
    let report = engine
        .report(&ReportQuery {
            guild_id: g,
            timeframe: Some("all".into()),
            group_by: Some(vec![GroupKey::User, GroupKey::Category]),
            ..Default::default()
        })
        .unwrap();
    let mut expected: HashMap<(i64, String), i64> = HashMap::new();
    for r in &raw {
        let s = (r.end.unwrap_or(now) - r.start) / 1000;
        if s > 0 {
            *expected.entry((r.user, r.cat.clone())).or_default() += s;
        }
    }
    expected.retain(|_, v| *v > 0);
    let got: HashMap<(i64, String), i64> = report
        .rows
        .iter()
        .map(|r| ((r.user_id.unwrap_or_default(), r.category.clone().unwrap_or_default()), r.total_seconds))
        .collect();
    prop_assert_eq!(got, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn aggregates_equal_brute_force(c in case()) {
        run(c)?;
    }
}

/// Users' closed sessions (user, category index, start hour, length in minutes), running
/// sessions (user, category index, started minutes ago), red users, and a page to ask for.
type TopCase = (Vec<(i64, usize, i64, i64)>, Vec<(i64, usize, i64)>, Vec<i64>, u32, u32);

fn top_case() -> impl Strategy<Value = TopCase> {
    (
        prop::collection::vec((1i64..40, 0usize..3, 0i64..2000, 1i64..4), 0..120),
        prop::collection::vec((1i64..40, 0usize..3, 1i64..600), 0..6),
        prop::collection::vec(1i64..40, 0..4),
        1u32..12,
        0u32..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The all-time and weekly boards' top-N from the indexes on totals and week rollups equal
    /// the same page cut from the whole board (ranks, ties, red users, running sessions, one
    /// category or all); the whole weekly board is read over a window one second longer than the
    /// week, which the engine answers from day rollups and raw sessions.
    #[test]
    fn top_n_equals_the_whole_board_cut((closed, running, red, limit, offset) in top_case()) {
        let e = common::fresh_engine("props_top");
        // A Thursday: the week so far holds three and a half days.
        let now = Utc.with_ymd_and_hms(2026, 6, 4, 12, 0, 0).unwrap().timestamp_millis();
        e.set_now(Some(now)).unwrap();
        for c in CATS {
            e.create_category(&NewCategory { guild_id: 1, name: (*c).into(), ..Default::default() }).unwrap();
        }
        e.update_guild(&GuildUpdate { guild_id: 1, allow_overlap: Some(true), ..Default::default() }).unwrap();
        for (u, c, hour, minutes) in closed {
            // Even hours long ago, odd ones in this week (from Sunday 22:00, across its start).
            let start = if hour % 2 == 0 {
                now - 3000 * 3_600_000 + hour * 3_600_000
            } else {
                now - 86 * 3_600_000 + (hour % 82) * 3_600_000
            };
            // Lengths from a few values, so that ties are common.
            e.add_entry(&NewEntry { guild_id: 1, user_id: u, category: CATS[c].into(), start: Timestamp(start),
                end: Timestamp(start + minutes * 30 * 60_000), ..Default::default() }).unwrap();
        }
        for (u, c, ago) in running {
            let _ = e.clock_in(&ClockIn { guild_id: 1, user_id: u, category: CATS[c].into(),
                at: Some(Timestamp(now - ago * 60_000)), ..Default::default() });
        }
        for u in red {
            e.upsert_user(&UserInput { user_id: u, username: format!("u{u}"), trust_level: Some("red".into()), ..Default::default() }).unwrap();
        }
        for (timeframe, category) in [("all", None), ("all", Some("Dev".to_string())), ("week", None), ("week", Some("Dev".to_string()))] {
            let board = |limit: u32, offset: u32| {
                e.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some(timeframe.into()), category: category.clone(),
                    limit: Some(limit), offset: Some(offset), ..Default::default() }).unwrap()
            };
            let top = board(limit, offset);
            let whole = match (top.start, top.end) {
                (Some(from), Some(to)) => e.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some("custom".into()),
                    from: Some(from), to: Some(Timestamp(to.0 + 1000)), category: category.clone(), limit: Some(1000),
                    ..Default::default() }).unwrap().leaderboard,
                _ => board(1000, 0).leaderboard,
            };
            let page: Vec<_> = whole.iter().skip(offset as usize).take(limit as usize).cloned().collect();
            prop_assert_eq!(top.leaderboard, page, "{}", timeframe);
        }
    }
}
