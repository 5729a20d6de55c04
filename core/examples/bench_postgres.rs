//! The engine over PostgreSQL, each figure against PostgreSQL's own floor in the same run,
//! interleaved round by round (the machine's speed drifts; compare ratios within a round), given
//! as min / median / max over the rounds:
//!
//! 1. heartbeat ingest, bulks of 25 and of 1,000 plugin-like heartbeats, against a bare multi-row
//!    `INSERT` of the same rows (the same fields) into an unindexed table, one statement per bulk;
//! 2. the weekly leaderboard and the guild status over 1 M sessions of 10,000 users, against the
//!    plain `GROUP BY` over the engine's own `sessions` table (checked to give the same answer);
//! 3. `authorize` (the shared limiter), p50 and p99 of single calls, against a bare indexed
//!    `SELECT` of the key row by its hash;
//! 4. ingest throughput with 1, 2 and 4 host processes, each with an engine of its own, sharing
//!    the database.
//!
//! Each part works in a database of its own, created (and dropped at the end) on the server the
//! URL names, which must let its user `CREATE DATABASE`:
//!
//! `cargo run --release -p timeledger --example bench_postgres -- postgres://postgres@127.0.0.1:54329/postgres [rounds=5] [sessions=1000000]`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use timeledger::*;

#[path = "../benches/common/plugin_beat.rs"]
mod plugin_beat;
use plugin_beat::beat;

const MASTER: &str = "bench-master-key-0123456789";
const CATS: [&str; 5] = ["Development", "Meetings", "Review", "Support", "Research"];
const USERS: i64 = 10_000;

fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2} / {:.2} / {:.2}", v[0], v[v.len() / 2], v[v.len() - 1])
}

fn percentile(ns: &mut [u64], q: f64) -> f64 {
    ns.sort_unstable();
    ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

/// The URL of `base` with its database name replaced by `db`.
fn with_db(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let cut = head.rfind('/').filter(|&i| i > "postgres://".len()).unwrap_or(head.len());
    format!("{}/{db}{query}", &head[..cut])
}

/// A new, empty database named `db` (dropped first if a previous run left it); its URL.
fn fresh_db(admin: &mut Client, base: &str, db: &str) -> String {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop db");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create db");
    with_db(base, db)
}

/// Part 1: ingest against the bare multi-row INSERT.
fn ingest(url: &str, rounds: usize) -> Result<()> {
    let engine = Engine::open(url)?;
    let mut bare = Client::connect(url, NoTls).expect("bare connection");
    bare.batch_execute(
        "CREATE TABLE bare (guild_id BIGINT, user_id BIGINT, time_ms BIGINT, entity TEXT, type TEXT, category TEXT,
           project TEXT, branch TEXT, language TEXT, is_write BOOLEAN, lines BIGINT, lineno BIGINT, cursorpos BIGINT,
           user_agent TEXT)",
    )
    .expect("bare table");
    // `BENCH_SIZES=25` (or `1000`) runs one bulk size only (for a profiler).
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![25, 1_000]);
    for &size in &sizes {
        let total = if size == 25 { 20_000u64 } else { 50_000 };
        let statement = {
            let rows: Vec<String> = (0..size)
                .map(|r| {
                    let b = r * 14;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10,
                        b + 11,
                        b + 12,
                        b + 13,
                        b + 14
                    )
                })
                .collect();
            bare.prepare(&format!("INSERT INTO bare VALUES {}", rows.join(", "))).expect("prepare bare")
        };
        let (mut ours, mut floor, mut ratio) = (vec![], vec![], vec![]);
        let mut next = 0u64;
        for round in 0..rounds {
            let user = 1 + round as i64 + if size == 25 { 0 } else { 1_000 };
            let beats: Vec<Value> = (next..next + total).map(beat).collect();
            next += total;
            // The bulks as a host holds them once it has read the requests (both sides start
            // from the same parsed JSON; building these copies is not the engine's work).
            let batches: Vec<HeartbeatBatch> = beats
                .chunks(size)
                .map(|chunk| HeartbeatBatch {
                    guild_id: 1,
                    user_id: user,
                    heartbeats: Value::Array(chunk.to_vec()),
                    ..Default::default()
                })
                .collect();
            let t = Instant::now();
            for batch in &batches {
                let r = engine.ingest_heartbeats(batch)?;
                assert!(r.responses.iter().all(|o| o.status == 201), "every heartbeat stored");
            }
            let a = total as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            for chunk in beats.chunks(size) {
                let mut owned: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::with_capacity(size * 14);
                for b in chunk {
                    let s = |k: &str| b[k].as_str().map(str::to_owned);
                    owned.push(Box::new(1i64));
                    owned.push(Box::new(user));
                    owned.push(Box::new((b["time"].as_f64().unwrap_or(0.0) * 1000.0).round() as i64));
                    owned.push(Box::new(s("entity")));
                    owned.push(Box::new(s("type")));
                    owned.push(Box::new(None::<String>));
                    owned.push(Box::new(s("project")));
                    owned.push(Box::new(s("branch")));
                    owned.push(Box::new(s("language")));
                    owned.push(Box::new(b["is_write"].as_bool()));
                    owned.push(Box::new(b["lines"].as_i64()));
                    owned.push(Box::new(b["lineno"].as_i64()));
                    owned.push(Box::new(b["cursorpos"].as_i64()));
                    owned.push(Box::new(s("user_agent")));
                }
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
                bare.execute(&statement, &refs).expect("bare insert");
            }
            let b = total as f64 / t.elapsed().as_secs_f64();
            println!(
                "  bulk {size}, round {round}: engine {a:.0} heartbeats/s, bare insert {b:.0} rows/s, {:.2}x",
                a / b
            );
            ours.push(a);
            floor.push(b);
            ratio.push(a / b);
        }
        println!(
            "ingest, bulks of {size} ({total} per round): engine {} heartbeats/s; bare multi-row INSERT {} rows/s; ratio {}",
            spread(ours),
            spread(floor),
            spread(ratio)
        );
    }
    Ok(())
}

/// Part 2: weekly leaderboard and guild status over `sessions` sessions. The sessions are
/// imported into a SQLite file (`import_entries`), then moved with `copy_to` (how a host moves
/// to PostgreSQL); `import_entries` straight into PostgreSQL is timed on a second guild at the end.
fn aggregates(url: &str, rounds: usize, sessions: i64) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("tl-bench-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = Engine::open(dir.join("agg.db"))?;
    let now = Timestamp::parse("2025-10-15T12:00:00Z")?.millis();
    file.set_now(Some(now))?;
    file.update_guild(&GuildUpdate { guild_id: 1, timezone: Some("America/New_York".into()), ..Default::default() })?;
    for c in CATS {
        file.create_category(&NewCategory { guild_id: 1, name: c.into(), ..Default::default() })?;
    }
    let t = Instant::now();
    import_sessions(&file, 1, sessions, now)?;
    for u in 0..50 {
        file.clock_in(&ClockIn {
            guild_id: 1,
            user_id: u,
            category: "Development".into(),
            at: Some(Timestamp(now - 3_600_000)),
            ..Default::default()
        })
        .ok();
    }
    let built = t.elapsed().as_secs_f64();
    println!(
        "built {sessions} sessions of {USERS} users in a SQLite file with import_entries in {built:.1} s ({:.0} entries/s)",
        sessions as f64 / built
    );
    let engine = Engine::open(url)?;
    engine.set_now(Some(now))?;
    let t = Instant::now();
    let copied = file.copy_to(&engine)?;
    println!(
        "copied to PostgreSQL (copy_to, verified) in {:.1} s: {} rows",
        t.elapsed().as_secs_f64(),
        copied.rows.values().sum::<u64>()
    );
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
    let mut plain = Client::connect(url, NoTls).expect("plain connection");
    plain.batch_execute("ANALYZE").expect("analyze");
    let q = LeaderboardQuery { guild_id: 1, timeframe: Some("week".into()), limit: Some(10), ..Default::default() };
    let board = engine.leaderboard(&q)?;
    let (from, to) = (board.start.map(|t| t.millis()).unwrap_or(0), board.end.map(|t| t.millis()).unwrap_or(0));
    let week = plain
        .prepare(
            "SELECT user_id, (SUM(LEAST(COALESCE(end_ms, $4::bigint / 1000 * 1000), $3::bigint) - GREATEST(start_ms, $2::bigint)) / 1000)::bigint AS secs
             FROM sessions WHERE guild_id = $1 AND start_ms < $3 AND (end_ms IS NULL OR end_ms > $2)
             GROUP BY user_id ORDER BY secs DESC, user_id LIMIT 10",
        )
        .expect("plain week");
    let status_q = plain
        .prepare(
            "SELECT c.name, (SUM(COALESCE(s.end_ms, $2::bigint / 1000 * 1000) - s.start_ms) / 1000)::bigint, COUNT(DISTINCT s.user_id)
             FROM sessions s JOIN categories c ON c.category_id = s.category_id WHERE s.guild_id = $1 GROUP BY c.name",
        )
        .expect("plain status");
    let plain_week = |plain: &mut Client| -> Vec<(i64, i64)> {
        plain.query(&week, &[&1i64, &from, &to, &now]).expect("week").iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let plain_status = |plain: &mut Client| -> i64 {
        plain.query(&status_q, &[&1i64, &now]).expect("status").iter().map(|r| r.get::<_, i64>(1)).sum()
    };
    let ours: Vec<(i64, i64)> = board.leaderboard.iter().map(|e| (e.user_id, e.total_seconds)).collect();
    assert_eq!(plain_week(&mut plain), ours, "baseline and engine disagree on the week");
    assert_eq!(
        plain_status(&mut plain),
        engine.guild_status(1)?.total_time_seconds,
        "baseline and engine disagree on status"
    );
    let time = |n: usize, f: &mut dyn FnMut()| -> f64 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    };
    let (mut wk_e, mut wk_p, mut wk_r, mut st_e, mut st_p, mut st_r) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let a = time(200, &mut || {
            std::hint::black_box(engine.leaderboard(&q).expect("board"));
        });
        let b = time(3, &mut || {
            std::hint::black_box(plain_week(&mut plain));
        });
        let c = time(200, &mut || {
            std::hint::black_box(engine.guild_status(1).expect("status"));
        });
        let d = time(3, &mut || {
            std::hint::black_box(plain_status(&mut plain));
        });
        println!(
            "  round {round}: weekly board {a:.3} ms vs GROUP BY {b:.1} ms ({:.0}x); status {c:.3} ms vs GROUP BY {d:.1} ms ({:.0}x)",
            b / a,
            d / c
        );
        wk_e.push(a);
        wk_p.push(b);
        wk_r.push(b / a);
        st_e.push(c);
        st_p.push(d);
        st_r.push(d / c);
    }
    println!(
        "weekly leaderboard, ms: engine {}; plain GROUP BY {}; speed-up {}",
        spread(wk_e),
        spread(wk_p),
        spread(wk_r)
    );
    println!("guild status, ms: engine {}; plain GROUP BY {}; speed-up {}", spread(st_e), spread(st_p), spread(st_r));
    engine.create_category(&NewCategory { guild_id: 2, name: "Development".into(), ..Default::default() })?;
    let n = 20_000.min(sessions);
    let t = Instant::now();
    import_sessions(&engine, 2, n, now)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "import_entries into PostgreSQL (a second guild): {n} entries in {secs:.1} s ({:.0} entries/s)",
        n as f64 / secs
    );
    Ok(())
}

/// Imports `sessions` sessions of [`USERS`] users (fewer if `sessions` is small) over the year
/// before `now` into `guild`, in batches of the largest size.
fn import_sessions(engine: &Engine, guild: i64, sessions: i64, now: i64) -> Result<()> {
    let users = USERS.min(sessions);
    let per_user = (sessions / users).max(1);
    let year_ago = now - 365 * 86_400_000;
    let slot = 365 * 86_400_000 / per_user;
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ guild as u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let cats: &[&str] = if guild == 1 { &CATS } else { &CATS[..1] };
    let mut batch = Vec::with_capacity(MAX_IMPORT_BATCH);
    for i in 0..per_user {
        for u in 0..users {
            let start = year_ago + i * slot + (rand() % 40_000) as i64 * 1000;
            let len = (1800 + rand() % 9000) as i64 * 1000;
            let category = cats[(rand() % cats.len() as u64) as usize];
            batch.push(
                json!({"user_id": u, "category": category, "start": Timestamp(start), "end": Timestamp(start + len)}),
            );
            if batch.len() == MAX_IMPORT_BATCH {
                let r = engine.import_entries(&EntryBatch { guild_id: guild, entries: std::mem::take(&mut batch) })?;
                assert!(r.errors.is_empty(), "{:?}", r.errors.first());
            }
        }
    }
    if !batch.is_empty() {
        let r = engine.import_entries(&EntryBatch { guild_id: guild, entries: batch })?;
        assert!(r.errors.is_empty(), "{:?}", r.errors.first());
    }
    Ok(())
}

/// Part 3: authorize call by call against a bare select of the key row.
fn authorize(url: &str, rounds: usize) -> Result<()> {
    let engine = Engine::open(url)?;
    engine.set_master_key(MASTER)?;
    engine.set_tiers(&[TierDef {
        name: "BENCH".into(),
        rank: 1,
        per_minute: Some(1_000_000_000),
        per_hour: Some(1_000_000_000),
        per_day: None,
        permissions: vec!["read_status".into()],
        all_guilds: false,
    }])?;
    let mut key = String::new();
    for g in 0..1_000 {
        let k = engine.generate_key(&GenerateKey {
            guild_id: g,
            admin_user_id: 1,
            master_key: MASTER.into(),
            tier: Some("BENCH".into()),
            ..Default::default()
        })?;
        if g == 424 {
            key = k.api_key;
        }
    }
    let request =
        AuthorizeRequest { api_key: key.clone(), guild_id: 424, action: "read_status".into(), target_user_id: None };
    let mut bare = Client::connect(url, NoTls).expect("bare connection");
    let select = bare.prepare("SELECT key_id, tier, revoked_at FROM api_keys WHERE hash = $1").expect("select");
    let hash: Vec<u8> = Sha256::digest(key.as_bytes()).to_vec();
    let calls = 2_000;
    let (mut a50, mut a99, mut b50, mut b99) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let mut a = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            std::hint::black_box(engine.authorize(&request)?);
            a.push(t.elapsed().as_nanos() as u64);
        }
        let mut b = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let row = bare.query_one(&select, &[&hash]).expect("the key row");
            std::hint::black_box(row.get::<_, String>(0));
            b.push(t.elapsed().as_nanos() as u64);
        }
        let (x50, x99, y50, y99) =
            (percentile(&mut a, 0.5), percentile(&mut a, 0.99), percentile(&mut b, 0.5), percentile(&mut b, 0.99));
        println!("  round {round}: authorize p50 {x50:.1} us, p99 {x99:.1} us | bare select p50 {y50:.1} us, p99 {y99:.1} us");
        a50.push(x50);
        a99.push(x99);
        b50.push(y50);
        b99.push(y99);
    }
    println!("authorize (shared limiter), us: p50 {}, p99 {}", spread(a50), spread(a99));
    println!("bare indexed select by hash, us: p50 {}, p99 {}", spread(b50), spread(b99));
    Ok(())
}

/// One host process of part 4: bulks of 25 heartbeats for its own users for `secs` seconds;
/// prints how many it stored.
fn host(url: &str, first_user: i64, secs: f64) -> Result<()> {
    let engine = Engine::open(url)?;
    let started = Instant::now();
    let (mut n, mut i) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs_f64(secs) {
        let beats: Vec<Value> = (i..i + 25).map(beat).collect();
        i += 25;
        let r = engine.ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: first_user + (i / 25 % 8) as i64,
            heartbeats: Value::Array(beats),
            ..Default::default()
        })?;
        n += r.responses.iter().filter(|o| o.status == 201).count() as u64;
    }
    println!("{n} {}", started.elapsed().as_secs_f64());
    Ok(())
}

/// Part 4: total ingest throughput of 1, 2 and 4 processes sharing the database.
fn hosts(url: &str, rounds: usize) -> Result<()> {
    Engine::open(url)?; // the schema, made once before the hosts race to open it
    let exe = std::env::current_exe().expect("own path");
    let mut results: Vec<(usize, Vec<f64>)> = vec![(1, vec![]), (2, vec![]), (4, vec![])];
    let mut base = 0;
    for round in 0..rounds {
        for (n, rates) in results.iter_mut() {
            let children: Vec<_> = (0..*n)
                .map(|_| {
                    base += 100;
                    Command::new(&exe)
                        .args(["host", url, &base.to_string(), "3"])
                        .stdout(Stdio::piped())
                        .spawn()
                        .expect("spawn host")
                })
                .collect();
            let mut total = 0.0;
            for c in children {
                let out = c.wait_with_output().expect("host");
                assert!(out.status.success(), "a host failed");
                let text = String::from_utf8_lossy(&out.stdout);
                let mut it = text.split_whitespace();
                let stored: f64 = it.next().and_then(|s| s.parse().ok()).expect("count");
                let secs: f64 = it.next().and_then(|s| s.parse().ok()).expect("seconds");
                total += stored / secs;
            }
            println!("  round {round}: {n} host process(es): {total:.0} heartbeats/s in all");
            rates.push(total);
        }
    }
    for (n, rates) in results {
        println!("ingest with {n} host process(es), bulks of 25, heartbeats/s in all: {}", spread(rates));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("host") {
        let first: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
        let secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3.0);
        return host(&args[1], first, secs);
    }
    let base = args
        .first()
        .cloned()
        .or_else(|| std::env::var("TIMELEDGER_TEST_POSTGRES").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:54329/postgres".into());
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let sessions: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let only = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "1234".into());
    let mut admin = Client::connect(&base, NoTls).expect("connect to the server");
    let version: String = admin.query_one("SHOW server_version", &[]).expect("version").get(0);
    println!("PostgreSQL {version}; {rounds} rounds");
    let parts: [(&str, char); 4] =
        [("tl_bench_ingest", '1'), ("tl_bench_agg", '2'), ("tl_bench_auth", '3'), ("tl_bench_hosts", '4')];
    for (db, part) in parts {
        if !only.contains(part) {
            continue;
        }
        let url = fresh_db(&mut admin, &base, db);
        match part {
            '1' => ingest(&url, rounds)?,
            '2' => aggregates(&url, rounds, sessions)?,
            '3' => authorize(&url, rounds)?,
            _ => hosts(&url, rounds)?,
        }
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop db");
    }
    Ok(())
}
