//! Heartbeat ingestion and reads.
//!
//! 1. Bulk ingest (dedup + rollups) into a WAL file database, batches of 25 and 1000, against a
//!    bare `INSERT` of the same rows into an unindexed table, one transaction per batch, on
//!    another file in the same run (throughput in heartbeats/s; the ratio is what counts).
//! 2. `statusbar_today` for a user with 1 M heartbeats.
//! 3. Coding leaderboards (daily = rolling 24 h, weekly) over 300 users with 8 days of coding.
//! 4. Resident memory sampled while ingesting 10 M heartbeats in batches of 1000 (printed; it
//!    should stay flat). Set `TL_BENCH_MEMORY_HEARTBEATS` to change the count (0 skips).
//!
//! `cargo bench -p timeledger --bench heartbeats`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use timeledger::*;

#[path = "common/plugin_beat.rs"]
mod plugin_beat;
use plugin_beat::{beat, START_S};
#[path = "common/plain_floor.rs"]
mod plain_floor;
use plain_floor::Plain;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("timeledger-hb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One bulk of guild 1 through the typed API.
fn ingest(engine: &Engine, user: i64, rows: Vec<Value>) -> BulkResult {
    engine
        .ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: user,
            heartbeats: Value::Array(rows),
            ..Default::default()
        })
        .unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let d = dir();
    for batch in [25u64, 1000] {
        let engine = Engine::open(d.join(format!("ingest{batch}.db"))).unwrap();
        let mut bare = Plain::open(&d.join(format!("bare{batch}.db")), false);
        let mut g = c.benchmark_group(format!("bulk_ingest_batch_{batch}"));
        g.throughput(Throughput::Elements(batch));
        g.sample_size(30);
        // Each iteration sends the next batch of a stream, cycling over 50 users, as live plugins do.
        let mut next = 0u64;
        let mut make = move || {
            let user = (next / batch % 50) as i64;
            let rows: Vec<Value> = (next..next + batch).map(beat).collect();
            next += batch;
            (user, rows)
        };
        g.bench_function("engine", |b| {
            b.iter_batched(
                &mut make,
                |(user, rows)| {
                    let r = ingest(&engine, user, rows);
                    assert_eq!(r.stored() as u64, batch);
                },
                BatchSize::SmallInput,
            )
        });
        let mut next = 0u64;
        g.bench_function("bare_insert", |b| {
            b.iter_batched(
                || {
                    let user = (next / batch % 50) as i64;
                    let rows: Vec<Value> = (next..next + batch).map(beat).collect();
                    next += batch;
                    (user, rows)
                },
                |(user, rows)| bare.insert(user, &rows),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }

    // statusbar_today over a user with 1 M heartbeats (one every 30 s: about a year).
    let engine = Engine::open(d.join("statusbar.db")).unwrap();
    let n = 1_000_000u64;
    for start in (0..n).step_by(1000) {
        let rows: Vec<Value> = (start..start + 1000).map(beat).collect();
        ingest(&engine, 7, rows);
    }
    let last_ms = ((START_S + (n - 1) as f64 * 30.0) * 1000.0) as i64;
    engine.set_now(Some(last_ms + 60_000)).unwrap();
    let today = engine.statusbar_today(1, 7).unwrap();
    assert!(today["data"]["grand_total"]["total_seconds"].as_f64().unwrap() > 0.0);
    c.bench_function("statusbar_today_1M_heartbeats", |b| b.iter(|| black_box(engine.statusbar_today(1, 7).unwrap())));
    drop(engine);

    // Coding leaderboards over 300 users, each coding 8 hours a day (a heartbeat every 2 minutes)
    // for 8 days: whole days from the rollups, whole hours from the hour rows, the partial hours
    // at the window's edges from raw heartbeats (one read per active user).
    let engine = Engine::open(d.join("leaderboard.db")).unwrap();
    let day0 = START_S as i64;
    for user in 0..300i64 {
        for day in 0..8i64 {
            let rows: Vec<Value> = (0..240i64)
                .map(|i| {
                    json!({"entity": format!("src/file{}.rs", i % 7), "time": day0 + day * 86_400 + 9 * 3600 + user * 37 + i * 120,
                           "language": if i % 3 == 0 { "Go" } else { "Rust" }, "project": format!("p{}", user % 5)})
                })
                .collect();
            ingest(&engine, user, rows);
        }
    }
    engine.set_now(Some((day0 + 7 * 86_400 + 14 * 3600 + 1234) * 1000)).unwrap();
    for period in ["daily", "weekly"] {
        let q = CodingLeaderboardQuery { guild_id: 1, period: Some(period.into()), ..Default::default() };
        assert_eq!(engine.coding_leaderboard(&q).unwrap()["entries"].as_array().map(Vec::len), Some(100));
        c.bench_function(&format!("coding_leaderboard_{period}_300_users"), |b| {
            b.iter(|| black_box(engine.coding_leaderboard(&q).unwrap()))
        });
    }
    drop(engine);

    // Memory while ingesting many heartbeats in batches of 1000.
    let total: u64 =
        std::env::var("TL_BENCH_MEMORY_HEARTBEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    if total > 0 {
        let engine = Engine::open(d.join("memory.db")).unwrap();
        let mut samples = vec![];
        let t = std::time::Instant::now();
        for start in (0..total).step_by(1000) {
            let rows: Vec<Value> = (start..start + 1000).map(beat).collect();
            ingest(&engine, (start / 100_000) as i64, rows);
            if (start + 1000) % (total / 10).max(1000) == 0 {
                samples.push((start + 1000, rss_kib()));
            }
        }
        println!("memory while ingesting {total} heartbeats in batches of 1000 ({:.1?}):", t.elapsed());
        for (count, kib) in &samples {
            println!("  after {count:>9} heartbeats: RSS {:>7} KiB", kib);
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

criterion_group!(benches, bench);
criterion_main!(benches);
