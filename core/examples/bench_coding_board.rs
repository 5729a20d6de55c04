//! The coding leaderboards (`daily` = the last 24 hours, `weekly` = the last 7 days; top 100, the
//! default page) of a guild whose members code every day, at several positions of "now" in the
//! hour: on the hour, one millisecond past it, and mid-hour. Each position is measured against
//! the board on the hour in the same rounds (the cheapest position: its window has no partial
//! hour), interleaved; min / median / max of the rounds' means.
//!
//! `cargo run --release -p timeledger --example bench_coding_board [users=300] [days=35] [rounds=7]`
//!
//! Each user codes 8 hours a day (09:00 to 17:00 UTC, shifted by a few seconds per user), a
//! heartbeat every 30 s over 7 files in 3 projects: 300 users for 35 days is 10.08 M heartbeats.
//! "Now" is on the last day at 14:00, inside everyone's coding hours, so both ends of both
//! windows fall where every member has heartbeats.

use std::time::Instant;

use serde_json::{json, Value};
use timeledger::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let users: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let days: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(35);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let dir = std::env::temp_dir().join(format!("timeledger-coding-board-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let engine = Engine::open(dir.join("engine.db"))?;
    let day0 = Timestamp::parse("2025-01-06T00:00:00Z")?.millis() / 1000;
    let t = Instant::now();
    let mut count = 0u64;
    for day in 0..days {
        for user in 1..=users {
            let beats: Vec<Value> = (0..960i64)
                .map(|i| {
                    json!({"entity": format!("src/file{}.rs", i % 7), "time": day0 + day * 86_400 + 9 * 3600 + user * 7 + i * 30,
                           "language": if i % 3 == 0 { "Go" } else { "Rust" }, "project": format!("p{}", (user + i / 320) % 3)})
                })
                .collect();
            count += beats.len() as u64;
            let r = engine.ingest_heartbeats(&HeartbeatBatch {
                guild_id: 1,
                user_id: user,
                heartbeats: Value::Array(beats),
                ..Default::default()
            })?;
            assert!(r.responses.iter().all(|o| o.status == 201));
        }
    }
    eprintln!("ingested {count} heartbeats in {:.1?}", t.elapsed());
    let on_hour = (day0 + (days - 1) * 86_400 + 14 * 3600) * 1000;
    let positions = [("1 ms past the hour", on_hour + 1), ("mid-hour (14:29:17.345)", on_hour + 29 * 60_000 + 17_345)];
    for period in ["daily", "weekly"] {
        let q = CodingLeaderboardQuery { guild_id: 1, period: Some(period.into()), ..Default::default() };
        let board_us = |now: i64, n: usize| -> Result<f64> {
            engine.set_now(Some(now))?;
            let t = Instant::now();
            for _ in 0..n {
                let b = engine.coding_leaderboard(&q)?;
                assert_eq!(b["entries"].as_array().map(Vec::len), Some(100.min(users as usize)));
            }
            Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
        };
        for (name, now) in positions {
            let (mut base, mut at) = (vec![], vec![]);
            for _ in 0..rounds {
                base.push(board_us(on_hour, 20)?);
                at.push(board_us(now, 20)?);
            }
            let stats = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[0], v[v.len() / 2], v[v.len() - 1])
            };
            let ((a, b, c), (x, y, z)) = (stats(&mut at), stats(&mut base));
            println!(
                "{users} users, {count} heartbeats, {period}: {name} {a:.0} / {b:.0} / {c:.0} us, on the hour {x:.0} / {y:.0} / {z:.0} us (min / median / max of {rounds}); {:.2}x the on-the-hour board",
                b / y
            );
        }
    }
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
