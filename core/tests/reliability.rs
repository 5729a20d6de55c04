//! The reliability suite, at sizes that fit CI:
//! - crash: a child process writing sessions and heartbeats is killed with SIGKILL at random
//!   moments; after each kill the file passes `integrity_check`, every acknowledged write is
//!   there, and the rollups equal a recount from the raw rows;
//! - contention: several processes with several threads each clock one set of users in, out and
//!   over, ingest heartbeats and authorize on one file; no user ends with two running sessions or
//!   overlapping ones, the rollups stay consistent, and no error is outside the expected codes;
//! - fuzz: generated and mutated JSON arguments for every operation through `Engine::call` and
//!   `Engine::call_json`; no panic, and no bad input answered with a storage error
//!   (`TL_FUZZ_CASES` sets the count; CI runs 20,000).
//!
//! Child processes are this test binary run again with `--exact <child test>` and an environment
//! variable that tells the child test to act; without it the child tests return at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde_json::{json, Map, Value};
use timeledger::*;

mod common;

const MASTER: &str = "reliability-master-key";
/// Entries are 2 minutes long every 3 minutes from here; heartbeats sit in the gaps.
const BASE: i64 = 1_893_456_000_000; // 2030-01-01T00:00:00Z
const SLOT: i64 = 180_000;
const USERS: i64 = 5;
const TIMEOUT_MS: i64 = 900_000;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-reliability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small deterministic generator (xorshift), seeded from the clock unless `TL_SEED` is set.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::env::var("TL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        println!("seed {seed} (set TL_SEED to replay)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Crash

/// Slot `i` of the writer's sequence: user, entry start (ms).
fn slot(i: i64) -> (i64, i64) {
    (1 + i % USERS, BASE + i * SLOT)
}

/// Child: writes entries and heartbeats forever from slot `TL_CRASH_FROM`, appending one line to
/// `TL_CRASH_ACKS` after each call returns (so a line means the write was acknowledged).
#[test]
fn child_crash_writer() {
    let (Ok(db), Ok(acks), Ok(from)) =
        (std::env::var("TL_CRASH_DB"), std::env::var("TL_CRASH_ACKS"), std::env::var("TL_CRASH_FROM"))
    else {
        return;
    };
    let e = Engine::open(&db).unwrap();
    e.set_now(Some(BASE)).unwrap();
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(acks).unwrap();
    let mut i: i64 = from.parse().unwrap();
    loop {
        let (user, start) = slot(i);
        e.add_entry(&NewEntry {
            guild_id: 1,
            user_id: user,
            category: "Dev".into(),
            start: Timestamp(start),
            end: Timestamp(start + 120_000),
            ..Default::default()
        })
        .unwrap();
        writeln!(out, "entry {i}").unwrap();
        // Three heartbeats a minute apart in the slot's gap, for one user per slot.
        let t = (start + 120_000) as f64 / 1000.0;
        let beats = json!([{"entity": "a.rs", "time": t}, {"entity": "b.rs", "time": t + 20.0}, {"entity": "a.rs", "time": t + 40.0}]);
        let r = e.ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: user,
            heartbeats: beats,
            ..Default::default()
        });
        assert!(r.unwrap().responses.iter().all(|o| o.status == 201 || o.status == 202));
        writeln!(out, "beats {i}").unwrap();
        i += 1;
    }
}

/// A user's day rows and all-time total equal a recount from the closed sessions.
fn assert_session_rollups(conn: &Connection, user: i64) {
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [user], |r| r.get(0)).unwrap() };
    let raw = sum(
        "SELECT COALESCE(SUM((end_ms - start_ms) / 1000), 0) FROM sessions WHERE user_id = ?1 AND end_ms IS NOT NULL",
    );
    let days = sum("SELECT COALESCE(SUM(seconds), 0) FROM rollup_day WHERE user_id = ?1");
    let weeks = sum("SELECT COALESCE(SUM(seconds), 0) FROM rollup_week WHERE user_id = ?1");
    let total = sum("SELECT COALESCE(SUM(seconds), 0) FROM totals_user WHERE user_id = ?1");
    assert_eq!((days, weeks, total), (raw, raw, raw), "session rollups of user {user}");
}

/// Every check made after a crash: integrity, acknowledged writes (those from line `from` on),
/// rollups against a recount. Returns the number of acknowledgement lines.
fn check_after_crash(db: &std::path::Path, acks: &str, from: usize) -> usize {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    for line in acks.lines().skip(from) {
        let Some((what, i)) = line.split_once(' ') else { continue }; // a line cut by the kill
        let Ok(i) = i.parse::<i64>() else { continue };
        let (user, start) = slot(i);
        let (sql, at) = match what {
            "entry" => ("SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND start_ms = ?2", start),
            "beats" => ("SELECT COUNT(*) FROM heartbeats WHERE user_id = ?1 AND time_ms = ?2", start + 160_000),
            _ => continue,
        };
        let n: i64 = conn.query_row(sql, [user, at], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "acknowledged {line} is missing");
    }
    // Session rollups equal a recount from the sessions table.
    for user in 1..=USERS {
        assert_session_rollups(&conn, user);
        // Coding rollups equal WakaTime's rule applied to the raw heartbeats.
        let mut stmt = conn.prepare("SELECT time_ms FROM heartbeats WHERE user_id = ?1 ORDER BY time_ms").unwrap();
        let times: Vec<i64> = stmt.query_map([user], |r| r.get(0)).unwrap().map(|t| t.unwrap()).collect();
        let recount: i64 = times.windows(2).map(|w| w[1] - w[0]).filter(|g| *g <= TIMEOUT_MS).sum();
        let rolled: i64 = conn
            .query_row("SELECT COALESCE(SUM(ms), 0) FROM hb_rollup WHERE user_id = ?1 AND kind = 0", [user], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rolled, recount, "coding rollups of user {user}");
    }
    acks.lines().count()
}

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_write() {
    let dir = temp_dir("crash");
    let db = dir.join("crash.db");
    let acks = dir.join("acks.txt");
    {
        let e = Engine::open(&db).unwrap();
        e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    }
    let mut rng = Rng::seeded();
    let exe = std::env::current_exe().unwrap();
    let mut checked = 0;
    for run in 0..24i64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_crash_writer", "--test-threads=1", "--nocapture"])
            .env("TL_CRASH_DB", &db)
            .env("TL_CRASH_ACKS", &acks)
            .env("TL_CRASH_FROM", (run * 100_000).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + rng.below(250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Writes acknowledged since the last kill; every earlier one again at the end.
        checked = check_after_crash(&db, &std::fs::read_to_string(&acks).unwrap_or_default(), checked);
    }
    let all = check_after_crash(&db, &std::fs::read_to_string(&acks).unwrap(), 0);
    assert!(all > 24, "the writer must have got work done between kills: {all} acknowledged writes");
    // The engine opens the file after all that and agrees with the recount.
    let e = Engine::open(&db).unwrap();
    assert!(e.guild_status(1).unwrap().total_time_seconds > 0);
}

// ---------------------------------------------------------------------------------------------
// Contention

/// Child: four threads doing random clock-ins (some switching), clock-outs, ingests and
/// authorizations until `TL_CONTEND_UNTIL`; writes the count of operations and every
/// unexpected error to `TL_CONTEND_OUT`.
#[test]
fn child_contender() {
    let (Ok(db), Ok(until), Ok(out), Ok(key)) = (
        std::env::var("TL_CONTEND_DB"),
        std::env::var("TL_CONTEND_UNTIL"),
        std::env::var("TL_CONTEND_OUT"),
        std::env::var("TL_CONTEND_KEY"),
    ) else {
        return;
    };
    let until: u128 = until.parse().unwrap();
    let e = std::sync::Arc::new(Engine::open(&db).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (e, key) = (std::sync::Arc::clone(&e), key.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t + 1) * 0x1234_5678) ^ u64::from(std::process::id()));
                let (mut ops, mut unexpected) = (0u64, Vec::new());
                while SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() < until {
                    let user = 1 + rng.below(3) as i64;
                    let r = match rng.below(5) {
                        0 | 1 => e
                            .clock_in(&ClockIn {
                                guild_id: 1,
                                user_id: user,
                                category: if rng.below(2) == 0 { "Dev" } else { "Ops" }.into(),
                                switch: rng.below(2) == 0,
                                ..Default::default()
                            })
                            .map(|_| ()),
                        2 => e.clock_out(&ClockOut { guild_id: 1, user_id: user, at: None }).map(|_| ()),
                        3 => {
                            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as f64 / 1000.0;
                            let beats = json!([{"entity": "x.rs", "time": now - rng.below(600) as f64}]);
                            e.ingest_heartbeats(&HeartbeatBatch {
                                guild_id: 1,
                                user_id: user,
                                heartbeats: beats,
                                ..Default::default()
                            })
                            .map(|_| ())
                        }
                        _ => e
                            .authorize(&AuthorizeRequest {
                                api_key: key.clone(),
                                guild_id: 1,
                                action: "read_status".into(),
                                target_user_id: None,
                            })
                            .map(|_| ()),
                    };
                    ops += 1;
                    if let Err(err) = r {
                        if !matches!(err.code(), "SESSION_ALREADY_ACTIVE" | "NO_ACTIVE_SESSION" | "RATE_001") {
                            unexpected.push(format!("{}: {err}", err.code()));
                        }
                    }
                }
                (ops, unexpected)
            })
        })
        .collect();
    let mut report = String::new();
    for t in threads {
        let (ops, unexpected) = t.join().unwrap();
        report.push_str(&format!("ops {ops}\n"));
        for u in unexpected {
            report.push_str(&format!("unexpected {u}\n"));
        }
    }
    std::fs::write(out, report).unwrap();
}

#[test]
fn processes_and_threads_on_one_file_keep_every_rule() {
    // On a SQLite file, or (TIMELEDGER_TEST_POSTGRES) on one PostgreSQL database shared by
    // three processes, each a host with its own pool of connections (four threads using it).
    let dir = temp_dir("contend");
    let db = common::shared_database("contend");
    let key = {
        let e = Engine::open(&db).unwrap();
        e.set_master_key(MASTER).unwrap();
        for name in ["Dev", "Ops"] {
            e.create_category(&NewCategory { guild_id: 1, name: name.into(), ..Default::default() }).unwrap();
        }
        e.generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 1,
            master_key: MASTER.into(),
            tier: Some("ENTERPRISE".into()),
            ..Default::default()
        })
        .unwrap()
        .api_key
    };
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 2_000;
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let outs: Vec<_> = (0..3).map(|i| dir.join(format!("out{i}.txt"))).collect();
    let children: Vec<_> = outs
        .iter()
        .map(|out| {
            Command::new(&exe)
                .args(["--exact", "child_contender", "--test-threads=1"])
                .env("TL_CONTEND_DB", &db)
                .env("TL_CONTEND_UNTIL", until.to_string())
                .env("TL_CONTEND_OUT", out)
                .env("TL_CONTEND_KEY", &key)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a contender process failed");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "contention must stay bounded in time");
    let mut ops = 0;
    for out in &outs {
        let text = std::fs::read_to_string(out).unwrap();
        let unexpected: Vec<&str> = text.lines().filter(|l| l.starts_with("unexpected")).collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
        ops += text.lines().filter_map(|l| l.strip_prefix("ops ")).map(|n| n.parse::<u64>().unwrap()).sum::<u64>();
    }
    assert!(ops > 100, "the contenders must have worked: {ops} operations");
    for user in 1..=3i64 {
        let running =
            common::query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE user_id = ?1 AND end_ms IS NULL", user);
        assert!(running <= 1, "user {user} has {running} running sessions");
        let spans = common::query_pairs(
            &db,
            "SELECT start_ms, end_ms FROM sessions WHERE user_id = ?1 ORDER BY start_ms, id",
            user,
        );
        for w in spans.windows(2) {
            let ((_, end), (start, _)) = (w[0], w[1]);
            assert!(end.is_some_and(|e| e <= start), "user {user}: overlapping sessions {w:?}");
        }
        let sum = |sql: &str| common::query_i64(&db, sql, user);
        let raw = sum(
            "SELECT CAST(COALESCE(SUM((end_ms - start_ms) / 1000), 0) AS BIGINT) FROM sessions WHERE user_id = ?1 AND end_ms IS NOT NULL",
        );
        let days = sum("SELECT CAST(COALESCE(SUM(seconds), 0) AS BIGINT) FROM rollup_day WHERE user_id = ?1");
        let weeks = sum("SELECT CAST(COALESCE(SUM(seconds), 0) AS BIGINT) FROM rollup_week WHERE user_id = ?1");
        let total = sum("SELECT CAST(COALESCE(SUM(seconds), 0) AS BIGINT) FROM totals_user WHERE user_id = ?1");
        assert_eq!((days, weeks, total), (raw, raw, raw), "session rollups of user {user}");
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzz

/// Argument names seen in the scenarios, per operation (the valid starting points).
fn corpus() -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    for f in std::fs::read_dir(dir).unwrap() {
        let path = f.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let steps: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for s in steps {
                if let Some(op) = s["op"].as_str() {
                    out.entry(op.into()).or_default().push(s.get("args").cloned().unwrap_or(json!({})));
                }
            }
        }
    }
    out
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 3 { 9 } else { 12 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(200) as i64 - 100),
        3 => json!([i64::MIN, i64::MAX, u64::MAX as f64 as i64, 1 << 53, -1, 0][rng.below(6) as usize]),
        4 => json!(u64::MAX - rng.below(10)),
        5 => json!([1e300, -1e-300, 0.5, 1760083200.123, 4102444800.0, -0.0][rng.below(6) as usize]),
        6 => json!(
            [
                "",
                " ",
                "é",
                "💥",
                "2025-10-10T12:00:00Z",
                "9999-12-31T23:59:59Z",
                "0000-01-01T00:00:00Z",
                "tl_live_x",
                "\u{0}",
                "a\"b"
            ][rng.below(10) as usize]
        ),
        7 => json!("x".repeat(rng.below(5000) as usize)),
        8 => json!((rng.below(u64::MAX / 2) as i64).to_string()),
        9 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
        10 => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(
                    ["entity", "time", "name", "x", "tier", "permissions"][rng.below(6) as usize].into(),
                    random_value(rng, depth + 1),
                );
            }
            Value::Object(m)
        }
        _ => {
            let mut v = json!(1);
            for _ in 0..rng.below(200) {
                v = json!([v]);
            }
            v
        }
    }
}

/// Changes one thing about valid arguments: a value replaced, a key dropped or added, or the
/// whole argument replaced.
fn mutate(rng: &mut Rng, args: &Value) -> Value {
    let mut args = args.clone();
    let Some(map) = args.as_object_mut() else { return random_value(rng, 0) };
    let keys: Vec<String> = map.keys().cloned().collect();
    for _ in 0..1 + rng.below(3) {
        match (rng.below(4), keys.is_empty()) {
            (0, false) => {
                let k = &keys[rng.below(keys.len() as u64) as usize];
                map.insert(k.clone(), random_value(rng, 0));
            }
            (1, false) => {
                map.remove(&keys[rng.below(keys.len() as u64) as usize]);
            }
            (2, _) => {
                map.insert(
                    ["guild_id", "user_id", "at", "start", "end", "from", "to", "limit", "bogus"]
                        [rng.below(9) as usize]
                        .into(),
                    random_value(rng, 0),
                );
            }
            _ => return random_value(rng, 0),
        }
    }
    args
}

#[test]
fn fuzzed_arguments_for_every_operation_get_typed_errors_and_no_panic() {
    let cases: u64 = std::env::var("TL_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let corpus = corpus();
    let sandbox = temp_dir("fuzz-files");
    let mut rng = Rng::seeded();
    let mut e = Engine::open(":memory:").unwrap();
    let fresh = |e: &mut Engine| {
        *e = Engine::open(":memory:").unwrap();
        e.set_now(Some(BASE)).unwrap();
        e.set_master_key(MASTER).unwrap();
        e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    };
    fresh(&mut e);
    let (mut ok, mut refused) = (0u64, BTreeMap::<&'static str, u64>::new());
    let started = Instant::now();
    for case in 0..cases {
        if case % 2_000 == 0 {
            fresh(&mut e); // keep the database small so the run measures calls, not growth
        }
        let op = OPERATIONS[rng.below(OPERATIONS.len() as u64) as usize];
        let seeds = corpus.get(op).cloned().unwrap_or_else(|| vec![json!({})]);
        let base = &seeds[rng.below(seeds.len() as u64) as usize];
        let args = if rng.below(10) == 0 { base.clone() } else { mutate(&mut rng, base) };
        // Operations on files read and write only inside this test's folder (a struct's fields
        // may also arrive as a JSON array, so arrays are replaced too).
        let args = if op == "export_file" || op == "import_file" {
            let path = json!(sandbox.join(format!("f{}", rng.below(3))).display().to_string());
            match args {
                Value::Object(mut m) => {
                    m.insert("path".into(), path);
                    Value::Object(m)
                }
                Value::Array(_) => json!({"path": path}),
                other => other,
            }
        } else {
            args
        };
        let text = if rng.below(2) == 0 {
            args.to_string()
        } else {
            format!("{}{}", args, ["", "}", "\u{ff}", " ,"][rng.below(4) as usize])
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if rng.below(2) == 0 {
                e.call(op, args.clone()).map(|_| ())
            } else {
                e.call_json(op, &text).map(|_| ())
            }
        }));
        match outcome {
            Err(_) => panic!("panic in {op} with {text}"),
            Ok(Ok(())) => ok += 1,
            Ok(Err(err)) => {
                assert_ne!(err.code(), "STORAGE_ERROR", "bad input to {op} reached storage: {err} with {text}");
                *refused.entry(err.code()).or_default() += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{cases} cases in {secs:.1} s ({:.0}/s): {ok} accepted, refused {refused:?}", cases as f64 / secs);
    assert!(ok > cases / 50, "the fuzzer must also reach the operations' success paths: {ok}");
}

/// Commits never checkpoint in line (below the 16 MiB backstop): the engine's checkpoint thread
/// copies them into the database file shortly after, with no further call, and stops with the
/// engine.
#[test]
fn committed_pages_reach_the_database_file_without_a_checkpoint_in_any_commit() {
    let dir = temp_dir("checkpointer");
    let db = dir.join("ckpt.db");
    let e = Engine::open(&db).unwrap();
    let before = std::fs::metadata(&db).unwrap().len();
    let beats: Vec<Value> =
        (0..2000).map(|i| json!({"entity": format!("src/file_{i}.rs"), "time": 1_760_000_000 + i * 30})).collect();
    for chunk in beats.chunks(500) {
        e.ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: 9,
            heartbeats: json!(chunk),
            ..Default::default()
        })
        .unwrap();
    }
    let wal = std::fs::metadata(dir.join("ckpt.db-wal")).unwrap().len();
    assert!(wal > 100_000, "the writes went to the WAL ({wal} bytes)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&db).unwrap().len() <= before {
        assert!(Instant::now() < deadline, "no checkpoint copied the WAL into the file within 10 s");
        std::thread::sleep(Duration::from_millis(CHECKPOINT_EVERY_MS));
    }
    drop(e); // joins the checkpoint thread
    let _ = std::fs::remove_dir_all(&dir);
}
