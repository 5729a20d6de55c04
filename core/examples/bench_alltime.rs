//! The all-time session leaderboard (top 10) of a guild with many members, against the plain
//! `GROUP BY ... ORDER BY ... LIMIT 10` over a plain sessions table with the same rows,
//! interleaved round by round; min / median / max of the rounds' means.
//!
//! `cargo run --release -p timeledger --example bench_alltime [users=10000] [sessions_per_user=1] [rounds=9]`

use std::time::Instant;

use timeledger::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let users: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let per: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let dir = std::env::temp_dir().join(format!("timeledger-alltime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let e = Engine::open(dir.join("engine.db"))?;
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
    let plain = rusqlite::Connection::open(dir.join("plain.db")).expect("plain");
    plain
        .execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE sessions (id INTEGER PRIMARY KEY, guild_id INTEGER, user_id INTEGER,
             start_ms INTEGER, end_ms INTEGER); CREATE INDEX s_user ON sessions(guild_id, user_id);",
        )
        .expect("schema");
    let origin = Timestamp::parse("2020-01-01T00:00:00Z")?.millis();
    let mut rows = Vec::new();
    for i in 0..users * per {
        let (u, k) = (1 + i % users, i / users);
        let start = origin + k * 86_400_000 + (u % 600) * 60_000;
        rows.push((u, start, start + (1 + (u * 7919) % 480) * 60_000));
    }
    for chunk in rows.chunks(MAX_IMPORT_BATCH) {
        let entries = chunk
            .iter()
            .map(|&(u, s, en)| serde_json::json!({"user_id": u, "category": "Dev", "start": Timestamp(s), "end": Timestamp(en)}))
            .collect();
        let r = e.import_entries(&EntryBatch { guild_id: 1, entries })?;
        assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    }
    let tx = plain.unchecked_transaction().expect("tx");
    for &(u, s, en) in &rows {
        tx.execute("INSERT INTO sessions (guild_id, user_id, start_ms, end_ms) VALUES (1, ?1, ?2, ?3)", [u, s, en])
            .expect("insert");
    }
    tx.commit().expect("commit");
    let q = LeaderboardQuery { guild_id: 1, timeframe: Some("all".into()), limit: Some(10), ..Default::default() };
    let mut stmt = plain
        .prepare("SELECT user_id, SUM(end_ms - start_ms) / 1000 AS s FROM sessions WHERE guild_id = 1 GROUP BY user_id ORDER BY s DESC LIMIT 10")
        .expect("prepare");
    let (mut engine_us, mut plain_us) = (vec![], vec![]);
    for _ in 0..rounds {
        let n = 50;
        let t = Instant::now();
        for _ in 0..n {
            assert_eq!(e.leaderboard(&q)?.leaderboard.len(), 10);
        }
        engine_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            let top: Vec<(i64, i64)> =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("q").map(|r| r.expect("row")).collect();
            assert_eq!(top.len(), 10);
        }
        plain_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let (a, b, c) = stats(&mut engine_us);
    let (x, y, z) = stats(&mut plain_us);
    println!("{users} users, {} sessions: all-time top 10: engine {a:.1} / {b:.1} / {c:.1} us, plain GROUP BY {x:.1} / {y:.1} / {z:.1} us (min / median / max of {rounds}); {:.1}x faster (medians)", users * per, y / b);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
