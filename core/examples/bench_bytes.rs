//! Bytes on disk per session and per heartbeat, against plain tables holding the same fields,
//! each file measured after its connection closed (the engine's WAL is checkpointed and removed
//! on close).
//!
//! Sessions: 1,000 users in one guild, two categories, one in ten with a description, imported
//! with `import_entries`; the plain table has the fields a session carries (guild, user,
//! category, start, end, billable, description) and no index, and again with the one index a bot
//! author would add (user and start). Heartbeats: 100 users, 3 projects, files, 30 s apart, in
//! batches of 1,000; the plain table holds time, user, entity, type, project, language, editor,
//! OS, branch, is_write as written by a plugin, with no index, and again with the dedup key.
//!
//! `cargo run --release -p timeledger --example bench_bytes [sessions=1000,100000] [heartbeats=100000]`

use rusqlite::{params, Connection};
use serde_json::{json, Value};
use timeledger::*;

const HOUR: i64 = 3_600_000;

fn size(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn plain(path: &std::path::Path, schema: &str) -> Connection {
    let _ = std::fs::remove_file(path);
    let c = Connection::open(path).expect("plain db");
    c.execute_batch(schema).expect("plain schema");
    c
}

fn sessions(dir: &std::path::Path, n: i64) -> Result<()> {
    let db = dir.join(format!("sessions-{n}.db"));
    let _ = std::fs::remove_file(&db);
    let origin = Timestamp::parse("2020-01-01T00:00:00Z")?.millis();
    let entry = |i: i64| {
        let user = 1 + i % 1000;
        let start = origin + (i / 1000) * 2 * HOUR + (i % 7) * 60_000;
        (
            user,
            if i % 3 == 0 { "Meetings" } else { "Development" },
            start,
            start + HOUR - (i % 11) * 60_000,
            i % 10 == 0,
        )
    };
    {
        let e = Engine::open(&db)?;
        for name in ["Development", "Meetings"] {
            e.create_category(&NewCategory { guild_id: 1, name: name.into(), ..Default::default() })?;
        }
        let mut i = 0;
        while i < n {
            let batch: Vec<Value> = (i..(i + 10_000).min(n))
                .map(|j| {
                    let (u, c, s, end, described) = entry(j);
                    let mut v = json!({"user_id": u, "category": c, "start": Timestamp(s), "end": Timestamp(end), "billable": j % 2 == 0});
                    if described {
                        v["description"] = json!("Sprint planning and review");
                    }
                    v
                })
                .collect();
            let r = e.import_entries(&EntryBatch { guild_id: 1, entries: batch })?;
            assert_eq!(r.imported as i64, (i + 10_000).min(n) - i);
            i += 10_000;
        }
    }
    let engine_bytes = size(&db);
    if std::env::var_os("BYTES_DETAIL").is_some() {
        detail(&db);
    }
    let mut plains = vec![];
    for (label, index) in
        [("no index", ""), ("index (guild, user, start)", "CREATE INDEX s_user ON s(guild_id, user_id, start_ms);")]
    {
        let path = dir.join(format!("plain-sessions-{n}.db"));
        let c = plain(
            &path,
            &format!(
                "PRAGMA journal_mode = WAL; CREATE TABLE s (id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
                 category_id INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, billable INTEGER NOT NULL, description TEXT); {index}"
            ),
        );
        c.execute_batch("BEGIN").expect("begin");
        {
            let mut st = c.prepare("INSERT INTO s (guild_id, user_id, category_id, start_ms, end_ms, billable, description) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)").expect("insert");
            for j in 0..n {
                let (u, cat, s, end, described) = entry(j);
                st.execute(params![
                    u,
                    if cat == "Meetings" { 2 } else { 1 },
                    s,
                    end,
                    j % 2 == 0,
                    described.then_some("Sprint planning and review")
                ])
                .expect("row");
            }
        }
        c.execute_batch("COMMIT").expect("commit");
        drop(c);
        plains.push((label, size(&path)));
    }
    println!(
        "{n} sessions: engine {} bytes ({:.1} B/session); plain {} {} ({:.1} B/session, engine {:.2}x); plain {} {} ({:.1} B/session, engine {:.2}x)",
        engine_bytes,
        engine_bytes as f64 / n as f64,
        plains[0].0,
        plains[0].1,
        plains[0].1 as f64 / n as f64,
        engine_bytes as f64 / plains[0].1 as f64,
        plains[1].0,
        plains[1].1,
        plains[1].1 as f64 / n as f64,
        engine_bytes as f64 / plains[1].1 as f64,
    );
    Ok(())
}

fn heartbeats(dir: &std::path::Path, n: i64) -> Result<()> {
    let db = dir.join(format!("beats-{n}.db"));
    let _ = std::fs::remove_file(&db);
    let t0 = Timestamp::parse("2026-01-05T08:00:00Z")?.millis() / 1000;
    let beat = |i: i64| {
        let user = 1 + i % 100;
        let k = i / 100;
        let project = ["engine", "website", "bot"][(k / 40 % 3) as usize];
        (user, t0 + k * 30, format!("/home/dev{user}/src/{project}/src/module{}.rs", k % 17), project, k % 5 == 0)
    };
    {
        let e = Engine::open(&db)?;
        let mut i = 0;
        while i < n {
            // One user's slice per call: batches are per user.
            let mut by_user: std::collections::BTreeMap<i64, Vec<Value>> = Default::default();
            for j in i..(i + 1000).min(n) {
                let (u, t, entity, project, write) = beat(j);
                by_user.entry(u).or_default().push(json!({"entity": entity, "type": "file", "time": t, "project": project,
                    "language": "Rust", "editor": "vim", "operating_system": "Linux", "branch": "main", "is_write": write}));
            }
            for (u, beats) in by_user {
                e.ingest_heartbeats(&HeartbeatBatch {
                    guild_id: 1,
                    user_id: u,
                    heartbeats: json!(beats),
                    ..Default::default()
                })?;
            }
            i += 1000;
        }
    }
    let engine_bytes = size(&db);
    let mut plains = vec![];
    for (label, index) in
        [("no index", ""), ("dedup key (user, time, entity)", "CREATE UNIQUE INDEX h_key ON h(user_id, time, entity);")]
    {
        let path = dir.join(format!("plain-beats-{n}.db"));
        let c = plain(
            &path,
            &format!(
                "PRAGMA journal_mode = WAL; CREATE TABLE h (time REAL NOT NULL, user_id INTEGER NOT NULL, entity TEXT NOT NULL, type TEXT NOT NULL,
                 project TEXT, language TEXT, editor TEXT, operating_system TEXT, branch TEXT, is_write INTEGER NOT NULL); {index}"
            ),
        );
        c.execute_batch("BEGIN").expect("begin");
        {
            let mut st = c
                .prepare("INSERT INTO h VALUES (?1, ?2, ?3, 'file', ?4, 'Rust', 'vim', 'Linux', 'main', ?5)")
                .expect("insert");
            for j in 0..n {
                let (u, t, entity, project, write) = beat(j);
                st.execute(params![t as f64, u, entity, project, write]).expect("row");
            }
        }
        c.execute_batch("COMMIT").expect("commit");
        drop(c);
        plains.push((label, size(&path)));
    }
    println!(
        "{n} heartbeats: engine {} bytes ({:.1} B/heartbeat); plain {} {} ({:.1} B/heartbeat, engine {:.2}x); plain {} {} ({:.1} B/heartbeat, engine {:.2}x)",
        engine_bytes,
        engine_bytes as f64 / n as f64,
        plains[0].0,
        plains[0].1,
        plains[0].1 as f64 / n as f64,
        engine_bytes as f64 / plains[0].1 as f64,
        plains[1].0,
        plains[1].1,
        plains[1].1 as f64 / n as f64,
        engine_bytes as f64 / plains[1].1 as f64,
    );
    Ok(())
}

/// Bytes per table and index (SQLite's `dbstat`), largest first.
fn detail(db: &std::path::Path) {
    let c = Connection::open(db).expect("open");
    let rows: Vec<(String, i64)> = match c.prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
    {
        Ok(mut st) => st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|it| it.filter_map(|x| x.ok()).collect())
            .unwrap_or_default(),
        Err(e) => {
            println!("  (no dbstat: {e})");
            return;
        }
    };
    for (name, bytes) in rows.iter().take(14) {
        println!("  {name:<28} {bytes:>12}");
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let session_sizes: Vec<i64> =
        args.next().unwrap_or_else(|| "1000,100000".into()).split(',').filter_map(|s| s.parse().ok()).collect();
    let beat_count: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("timeledger-bytes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for n in session_sizes {
        sessions(&dir, n)?;
    }
    if beat_count > 0 {
        heartbeats(&dir, beat_count)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
