//! The session leaderboards (top 10) of a guild with many members, all time and this week, each
//! against the plain `GROUP BY ... ORDER BY ... LIMIT 10` that gives the same answer over a plain
//! sessions table with the same rows (indexed by user and by start; the weekly query reads from a
//! day before the week, as a host knowing its sessions last under a day would), interleaved round
//! by round; min / median / max of the rounds' means.
//!
//! `cargo run --release -p timeledger --example bench_boards [users=10000] [sessions_per_user=1] [rounds=9]`
//!
//! Each user has one session a day (`sessions_per_user` days), 50 of them a running one; "now"
//! is the day after the last, so this week holds the last days' sessions (up to seven per user).

use std::time::Instant;

use timeledger::*;

const DAY: i64 = 86_400_000;

/// A board to measure: its timeframe, the plain query giving the same answer, its window.
type Board = (&'static str, &'static str, Option<(i64, i64)>);

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let users: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let per: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let dir = std::env::temp_dir().join(format!("timeledger-boards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let e = Engine::open(dir.join("engine.db"))?;
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
    let plain = rusqlite::Connection::open(dir.join("plain.db")).expect("plain");
    plain
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE sessions (id INTEGER PRIMARY KEY, guild_id INTEGER, user_id INTEGER,
             start_ms INTEGER, end_ms INTEGER); CREATE INDEX s_user ON sessions(guild_id, user_id);
             CREATE INDEX s_start ON sessions(guild_id, start_ms);",
        )
        .expect("schema");
    let origin = Timestamp::parse("2020-01-01T00:00:00Z")?.millis();
    let now = origin + per * DAY + 12 * 3_600_000;
    e.set_now(Some(now))?;
    let mut rows = Vec::new();
    for i in 0..users * per {
        let (u, k) = (1 + i % users, i / users);
        let start = origin + k * DAY + (u % 600) * 60_000;
        rows.push((u, start, Some(start + (1 + (u * 7919 + k * 31) % 480) * 60_000)));
    }
    for chunk in rows.chunks(MAX_IMPORT_BATCH) {
        let entries = chunk
            .iter()
            .map(|&(u, s, en)| serde_json::json!({"user_id": u, "category": "Dev", "start": Timestamp(s), "end": en.map(Timestamp)}))
            .collect();
        let r = e.import_entries(&EntryBatch { guild_id: 1, entries })?;
        assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    }
    for u in 1..=50.min(users) {
        e.clock_in(&ClockIn {
            guild_id: 1,
            user_id: u,
            category: "Dev".into(),
            at: Some(Timestamp(now - 3_600_000)),
            ..Default::default()
        })?;
        rows.push((u, now - 3_600_000, None));
    }
    let tx = plain.unchecked_transaction().expect("tx");
    for &(u, s, en) in &rows {
        tx.execute(
            "INSERT INTO sessions (guild_id, user_id, start_ms, end_ms) VALUES (1, ?1, ?2, ?3)",
            rusqlite::params![u, s, en],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    let week =
        e.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some("week".into()), ..Default::default() })?;
    let (from, to) = (week.start.expect("a week").millis(), week.end.expect("a week").millis());
    let boards: [Board; 2] = [
        (
            "all",
            "SELECT user_id, SUM(COALESCE(end_ms, ?3) - start_ms) / 1000 AS s FROM sessions
             WHERE guild_id = 1 AND ?1 IS NULL AND ?2 IS NULL GROUP BY user_id ORDER BY s DESC, user_id LIMIT 10",
            None,
        ),
        (
            "week",
            "SELECT user_id, SUM(MIN(COALESCE(end_ms, ?3), ?2) - MAX(start_ms, ?1)) / 1000 AS s FROM sessions
             WHERE guild_id = 1 AND start_ms >= ?1 - 86400000 AND start_ms < ?2 AND (end_ms IS NULL OR end_ms > ?1)
             GROUP BY user_id ORDER BY s DESC, user_id LIMIT 10",
            Some((from, to)),
        ),
    ];
    for (timeframe, sql, window) in boards {
        let q =
            LeaderboardQuery { guild_id: 1, timeframe: Some(timeframe.into()), limit: Some(10), ..Default::default() };
        let mut stmt = plain.prepare(sql).expect("prepare");
        let bounds = rusqlite::params![window.map(|w| w.0), window.map(|w| w.1), now];
        let mut plain_top = || -> Vec<(i64, i64)> {
            stmt.query_map(bounds, |r| Ok((r.get(0)?, r.get(1)?))).expect("q").map(|r| r.expect("row")).collect()
        };
        // The plain query must give the same answer, or the comparison means nothing.
        let ours: Vec<(i64, i64)> =
            e.leaderboard(&q)?.leaderboard.iter().map(|x| (x.user_id, x.total_seconds)).collect();
        let t = Instant::now();
        assert_eq!(plain_top(), ours, "{timeframe}: the plain query and the engine disagree");
        // About 0.2 s of plain queries a round (at least 3).
        let plain_n = ((0.2 / t.elapsed().as_secs_f64()) as usize).clamp(3, 50);
        let (mut engine_us, mut plain_us) = (vec![], vec![]);
        for _ in 0..rounds {
            let n = 50;
            let t = Instant::now();
            for _ in 0..n {
                assert_eq!(e.leaderboard(&q)?.leaderboard.len(), 10);
            }
            engine_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            let t = Instant::now();
            for _ in 0..plain_n {
                assert_eq!(plain_top().len(), 10);
            }
            plain_us.push(t.elapsed().as_secs_f64() * 1e6 / plain_n as f64);
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[0], v[v.len() / 2], v[v.len() - 1])
        };
        let (a, b, c) = stats(&mut engine_us);
        let (x, y, z) = stats(&mut plain_us);
        println!(
            "{users} users, {} sessions, {timeframe} top 10: engine {a:.1} / {b:.1} / {c:.1} us, plain GROUP BY {x:.1} / {y:.1} / {z:.1} us (min / median / max of {rounds}); {:.1}x (medians)",
            rows.len(),
            y / b
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
