//! `import_entries` into a database already holding many sessions, against the floor a bot author
//! would write: a bare `INSERT` of the same rows into a plain table with one index by user and
//! start, holding the same past rows (one transaction per batch), interleaved round by round; entries per second and the ratio, min / median / max.
//!
//! `cargo run --release -p timeledger --example bench_import [past_sessions=1000000] [rounds=5]`
//!
//! The plain table lives in a process of its own (this program started again with `--plain`,
//! taking orders on stdin): SQLite as bundled here pools the page caches of every connection in a
//! process (`SQLITE_ENABLE_MEMORY_MANAGEMENT`), so a floor beside the engine would take pages from
//! the engine's cache (or give it its own). `IMPORT_INPROC=1` keeps it in this process.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use timeledger::*;

#[path = "../benches/common/helper_process.rs"]
mod helper_process;
use helper_process::Helper;

const BATCH: usize = 10_000;
const PER_ROUND: usize = 100_000;
const USERS: i64 = 1_000;
const HOUR: i64 = 3_600_000;

/// Entry `i` of a stream: user `i % USERS`, one hour starting two hours after that user's
/// previous entry, from `origin`.
fn entry(origin: i64, i: i64) -> (i64, i64, i64) {
    let user = 1 + i % USERS;
    let start = origin + (i / USERS) * 2 * HOUR;
    (user, start, start + HOUR)
}

fn batch_json(rows: &[(i64, i64, i64)]) -> Vec<Value> {
    rows.iter()
        .map(|&(u, s, e)| json!({"user_id": u, "category": "Dev", "start": Timestamp(s), "end": Timestamp(e), "billable": true}))
        .collect()
}

/// The plain table a bot author would write, with one index by user and start.
fn open_plain(path: &Path) -> rusqlite::Connection {
    let plain = rusqlite::Connection::open(path).expect("plain db");
    plain
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
               category_id INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, billable INTEGER NOT NULL,
               description TEXT);
             CREATE INDEX IF NOT EXISTS sessions_user ON sessions(guild_id, user_id, start_ms);",
        )
        .expect("plain schema");
    plain
}

/// Inserts the rows in batches, one transaction each; answers rows per second.
fn plain_insert(plain: &rusqlite::Connection, rows: &[(i64, i64, i64)]) -> f64 {
    let t = Instant::now();
    for chunk in rows.chunks(BATCH) {
        let tx = plain.unchecked_transaction().expect("tx");
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO sessions (guild_id, user_id, category_id, start_ms, end_ms, billable) VALUES (1, ?1, 1, ?2, ?3, 1)")
                .expect("prepare");
            for (u, s, en) in chunk {
                ins.execute([u, s, en]).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    rows.len() as f64 / t.elapsed().as_secs_f64()
}

/// The plain table's process (`--plain <path>`): `rows <first> <n>` inserts entries
/// `first..first + n` and answers the rate.
fn plain_process(path: &Path, origin: i64) {
    let plain = open_plain(path);
    helper_process::serve(|line| {
        let w: Vec<i64> = line.strip_prefix("rows ")?.split(' ').filter_map(|x| x.parse().ok()).collect();
        let [first, n] = w[..] else { return None };
        let rows: Vec<(i64, i64, i64)> = (first..first + n).map(|i| entry(origin, i)).collect();
        Some(plain_insert(&plain, &rows).to_string())
    });
}

/// The plain table: in its own process, or (`IMPORT_INPROC=1`) a connection in this one.
enum Plain {
    Process(Helper),
    Here(rusqlite::Connection, i64),
}

impl Plain {
    fn insert(&mut self, first: i64, n: i64) -> f64 {
        match self {
            Plain::Here(conn, origin) => {
                let rows: Vec<(i64, i64, i64)> = (first..first + n).map(|i| entry(*origin, i)).collect();
                plain_insert(conn, &rows)
            }
            Plain::Process(helper) => helper.ask(&format!("rows {first} {n}")).parse().expect("rate"),
        }
    }
}

fn main() -> Result<()> {
    let origin = Timestamp::parse("2000-01-01T00:00:00Z")?.millis();
    let all: Vec<String> = std::env::args().collect();
    if all.get(1).map(String::as_str) == Some("--plain") && all.len() == 3 {
        plain_process(Path::new(&all[2]), origin);
        return Ok(());
    }
    let mut args = std::env::args().skip(1);
    let past: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("timeledger-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let e = Engine::open(dir.join("engine.db"))?;
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
    let plain_path = dir.join("plain.db");
    let mut plain = if std::env::var("IMPORT_INPROC").is_ok_and(|v| v == "1") {
        Plain::Here(open_plain(&plain_path), origin)
    } else {
        Plain::Process(Helper::start(&[std::ffi::OsStr::new("--plain"), plain_path.as_os_str()]))
    };
    let mut next: i64 = 0;
    let started = Instant::now();
    let (mut engine_rate, mut plain_rate) = (vec![], vec![]);
    let mut fill = |e: &Engine, n: i64, next: &mut i64| -> Result<(f64, f64)> {
        let rows: Vec<(i64, i64, i64)> = (*next..*next + n).map(|i| entry(origin, i)).collect();
        let t = Instant::now();
        for chunk in rows.chunks(BATCH) {
            let r = e.import_entries(&EntryBatch { guild_id: 1, entries: batch_json(chunk) })?;
            assert_eq!(r.imported, chunk.len(), "{:?}", r.errors.first());
        }
        let engine_rate = n as f64 / t.elapsed().as_secs_f64();
        let plain_rate = plain.insert(*next, n);
        *next += n;
        Ok((engine_rate, plain_rate))
    };
    fill(&e, past, &mut next)?;
    eprintln!("{past} past sessions imported in {:.1} s", started.elapsed().as_secs_f64());
    for _ in 0..rounds {
        let (a, b) = fill(&e, PER_ROUND as i64, &mut next)?;
        engine_rate.push(a);
        plain_rate.push(b);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let (emin, emed, emax) = stats(&mut engine_rate);
    let (pmin, pmed, pmax) = stats(&mut plain_rate);
    println!("import_entries after {past} sessions: {emin:.0} / {emed:.0} / {emax:.0} entries/s (min / median / max of {rounds} rounds of {PER_ROUND})");
    println!("bare INSERT into a plain indexed table, same rows: {pmin:.0} / {pmed:.0} / {pmax:.0} rows/s");
    println!("ratio of medians: {:.2}x", emed / pmed);
    drop((e, plain));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
