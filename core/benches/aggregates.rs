//! Weekly leaderboard and guild status over 1 M sessions and 10 k users, each against the plain
//! `GROUP BY` over the sessions table that a host would otherwise write, on the same file in the
//! same run.
//!
//! `cargo bench -p timeledger --bench aggregates`. The database is built once per run in a
//! temporary directory through `import_entries` (under a minute in release mode).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use rusqlite::Connection;
use timeledger::*;

const USERS: i64 = 10_000;
const PER_USER: i64 = 100;
const GUILD: i64 = 1;
const CATS: [&str; 5] = ["Development", "Meetings", "Review", "Support", "Research"];

fn build(path: &std::path::Path) -> (Engine, i64) {
    let engine = Engine::open(path).unwrap();
    let now = Timestamp::parse("2025-10-15T12:00:00Z").unwrap().millis();
    engine.set_now(Some(now)).unwrap();
    engine
        .update_guild(&GuildUpdate { guild_id: GUILD, timezone: Some("America/New_York".into()), ..Default::default() })
        .unwrap();
    for c in CATS {
        engine.create_category(&NewCategory { guild_id: GUILD, name: c.into(), ..Default::default() }).unwrap();
    }
    let year_ago = now - 365 * 86_400_000;
    let slot = 365 * 86_400_000 / PER_USER; // one session per user per 3.65-day slot: never overlapping
    let t = Instant::now();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..PER_USER {
        let mut entries = Vec::with_capacity(USERS as usize);
        for u in 0..USERS {
            let start = year_ago + i * slot + (rand() % 40_000) as i64 * 1000;
            let len = (1800 + rand() % 9000) as i64 * 1000;
            let category = CATS[(rand() % 5) as usize];
            entries.push(serde_json::json!({"user_id": u, "category": category, "start": Timestamp(start), "end": Timestamp(start + len)}));
        }
        // One slot of every user per batch (the batch limit is 10,000 entries).
        for chunk in entries.chunks(MAX_IMPORT_BATCH) {
            let r = engine.import_entries(&EntryBatch { guild_id: GUILD, entries: chunk.to_vec() }).unwrap();
            assert!(r.errors.is_empty(), "{:?}", r.errors.first());
        }
    }
    // A few running sessions, as a live guild has.
    for u in 0..50 {
        engine
            .clock_in(&ClockIn {
                guild_id: GUILD,
                user_id: u,
                category: "Development".into(),
                at: Some(Timestamp(now - 3_600_000)),
                ..Default::default()
            })
            .ok();
    }
    eprintln!("built {} sessions in {:.1?}", USERS * PER_USER, t.elapsed());
    (engine, now)
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("timeledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.db");
    let _ = std::fs::remove_file(&path);
    let (engine, now) = build(&path);
    let plain = Connection::open(&path).unwrap();
    let q = LeaderboardQuery { guild_id: GUILD, timeframe: Some("week".into()), limit: Some(10), ..Default::default() };
    let board = engine.leaderboard(&q).unwrap();
    let (from, to) = (board.start.unwrap().millis(), board.end.unwrap().millis());

    // The plain query must give the same answer, or the comparison means nothing.
    let mut plain_week = plain
        .prepare(
            "SELECT user_id, SUM(MIN(COALESCE(end_ms, ?4 / 1000 * 1000), ?3) - MAX(start_ms, ?2)) / 1000 AS secs
             FROM sessions WHERE guild_id = ?1 AND start_ms < ?3 AND (end_ms IS NULL OR end_ms > ?2)
             GROUP BY user_id ORDER BY secs DESC, user_id LIMIT 10",
        )
        .unwrap();
    let top: Vec<(i64, i64)> = plain_week
        .query_map([GUILD, from, to, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ours: Vec<(i64, i64)> = board.leaderboard.iter().map(|e| (e.user_id, e.total_seconds)).collect();
    assert_eq!(top, ours, "baseline and engine disagree");
    let mut plain_status = plain
        .prepare(
            "SELECT c.name, SUM(COALESCE(s.end_ms, ?2 / 1000 * 1000) - s.start_ms) / 1000, COUNT(DISTINCT s.user_id)
             FROM sessions s JOIN categories c ON c.category_id = s.category_id WHERE s.guild_id = ?1 GROUP BY c.name",
        )
        .unwrap();
    let status = engine.guild_status(GUILD).unwrap();
    let plain_total: i64 =
        plain_status.query_map([GUILD, now], |r| r.get::<_, i64>(1)).unwrap().map(Result::unwrap).sum();
    assert_eq!(plain_total, status.total_time_seconds, "baseline and engine disagree on status");

    let mut g = c.benchmark_group("weekly_leaderboard_1M_sessions");
    g.sample_size(20);
    g.bench_function("engine", |b| b.iter(|| black_box(engine.leaderboard(&q).unwrap())));
    g.bench_function("plain_group_by", |b| {
        b.iter(|| {
            let rows: Vec<(i64, i64)> = plain_week
                .query_map([GUILD, from, to, now], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            black_box(rows)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("guild_status_1M_sessions");
    g.sample_size(20);
    g.bench_function("engine", |b| b.iter(|| black_box(engine.guild_status(GUILD).unwrap())));
    g.bench_function("plain_group_by", |b| {
        b.iter(|| {
            let rows: Vec<(String, i64, i64)> = plain_status
                .query_map([GUILD, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            black_box(rows)
        })
    });
    g.finish();
    drop(plain_week);
    drop(plain_status);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
