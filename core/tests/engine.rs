//! Storage, concurrency and error-shape behaviour of the engine.

use std::sync::Arc;
use std::thread;

use serde_json::json;
use timeledger::*;

mod common;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("timeledger.db")
}

fn dev(engine: &Engine, guild_id: i64) {
    engine.create_category(&NewCategory { guild_id, name: "Dev".into(), ..Default::default() }).unwrap();
}

#[test]
fn file_database_persists_across_reopen_in_wal_mode() {
    let path = temp_db("persist");
    {
        let e = Engine::open(&path).unwrap();
        dev(&e, 1);
        e.add_entry(&NewEntry {
            guild_id: 1,
            user_id: 5,
            category: "Dev".into(),
            start: Timestamp::parse("2025-01-01T10:00:00Z").unwrap(),
            end: Timestamp::parse("2025-01-01T11:00:00Z").unwrap(),
            ..Default::default()
        })
        .unwrap();
    }
    let e = Engine::open(&path).unwrap();
    assert_eq!(e.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 3600);
    let mode: String =
        rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_database_from_a_newer_engine_is_refused() {
    let path = temp_db("newer");
    drop(Engine::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    let err = Engine::open(&path).unwrap_err();
    assert_eq!(err.code(), "STORAGE_ERROR");
    assert!(err.to_string().contains("newer"));
}

#[test]
fn threads_sharing_one_engine_lose_no_writes() {
    let e = Arc::new(Engine::open(":memory:").unwrap());
    e.set_now(Some(Timestamp::parse("2025-06-01T00:00:00Z").unwrap().millis())).unwrap();
    dev(&e, 1);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let e = Arc::clone(&e);
            thread::spawn(move || {
                for i in 0..50i64 {
                    let start = Timestamp::parse("2025-01-01T00:00:00Z").unwrap().millis() + i * 3_600_000;
                    e.add_entry(&NewEntry {
                        guild_id: 1,
                        user_id: t,
                        category: "Dev".into(),
                        start: Timestamp(start),
                        end: Timestamp(start + 60_000),
                        ..Default::default()
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = e.guild_status(1).unwrap();
    assert_eq!(s.total_time_seconds, 8 * 50 * 60);
    assert_eq!(s.total_users, 8);
    let page = e.list_sessions(&SessionQuery { guild_id: 1, ..Default::default() }).unwrap();
    assert_eq!(page.meta.total, 400);
}

#[test]
fn two_engines_on_one_file_serialise_clock_ins() {
    // Two handles stand for two processes: the unique running-session index and immediate
    // transactions make exactly one of two racing clock-ins win.
    let path = temp_db("two");
    let a = Arc::new(Engine::open(&path).unwrap());
    let b = Arc::new(Engine::open(&path).unwrap());
    dev(&a, 1);
    let mut wins = 0;
    for user in 0..40i64 {
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let ci = move |e: Arc<Engine>| {
            thread::spawn(move || {
                e.clock_in(&ClockIn { guild_id: 1, user_id: user, category: "Dev".into(), ..Default::default() })
            })
        };
        let (x, y) = (ci(a2), ci(b2));
        let results = [x.join().unwrap(), y.join().unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "exactly one clock-in wins: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(Error::SessionAlreadyActive))));
        wins += ok;
    }
    assert_eq!(wins, 40);
    assert_eq!(b.guild_status(1).unwrap().active_sessions, 40);
}

#[test]
fn online_backup_copies_everything() {
    let path = temp_db("backup");
    let e = Engine::open(":memory:").unwrap();
    dev(&e, 1);
    e.backup_to(&path).unwrap();
    let copy = Engine::open(&path).unwrap();
    assert_eq!(copy.list_categories(1, false).unwrap()[0].name, "Dev");
}

#[test]
fn snowflake_ids_round_trip_exactly_as_numbers_or_strings() {
    let e = Engine::open(":memory:").unwrap();
    let big = i64::MAX; // 9223372036854775807, past 2^53
    e.call("create_category", json!({"guild_id": big.to_string(), "name": "Dev"})).unwrap();
    let r = e.call("clock_in", json!({"guild_id": big, "user_id": "1234567890123456789", "category": "Dev"})).unwrap();
    assert_eq!(r["user_id"].as_i64(), Some(1_234_567_890_123_456_789));
    let s = e.guild_status(big).unwrap();
    assert_eq!(s.guild_id, big);
    let err = e.call("guild_status", json!({"guild_id": "9223372036854775808"})).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    let err = e.call("guild_status", json!({"guild_id": 1.5})).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[test]
fn unknown_argument_names_are_rejected_with_the_field() {
    let e = Engine::open(":memory:").unwrap();
    let err = e.call("guild_status", json!({"guild_id": 1, "guild": 2})).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert_eq!(err.to_json()["field"], "guild");
    let err = e.call("clock_in", json!({"guild_id": 1, "user_id": 2})).unwrap_err();
    assert_eq!(err.to_json()["field"], "category");
}

#[test]
fn call_json_rejects_malformed_json() {
    let e = Engine::open(":memory:").unwrap();
    assert_eq!(e.call_json("guild_status", "{nope").unwrap_err().code(), "INVALID_INPUT");
    let out = e.call_json("guild_status", r#"{"guild_id": 3}"#).unwrap();
    assert!(out.contains(r#""guild_id":3"#));
}

#[test]
fn every_error_has_a_stable_code_status_and_seed_body() {
    let cases: Vec<(Error, &str, u16)> = vec![
        (Error::invalid("x", "bad"), "INVALID_INPUT", 400),
        (Error::UserNotFound, "USER_NOT_FOUND", 404),
        (Error::CategoryNotFound("a".into()), "CATEGORY_NOT_FOUND", 404),
        (Error::CategoryArchived("a".into()), "CATEGORY_ARCHIVED", 409),
        (Error::CategoryExists("a".into()), "CATEGORY_EXISTS", 409),
        (Error::CategoryInUse(2), "CATEGORY_IN_USE", 409),
        (Error::SessionNotFound("s".into()), "SESSION_NOT_FOUND", 404),
        (Error::SessionAlreadyActive, "SESSION_ALREADY_ACTIVE", 409),
        (Error::NoActiveSession, "NO_ACTIVE_SESSION", 409),
        (Error::SessionOverlap, "SESSION_OVERLAP", 409),
        (Error::Storage("x".into()), "STORAGE_ERROR", 500),
    ];
    for (e, code, status) in cases {
        assert_eq!(e.code(), code);
        assert_eq!(e.status(), status);
        let body = e.to_json();
        assert_eq!(body["code"], code);
        assert!(body["error"].is_string() && body["message"].is_string());
    }
    let limited =
        Error::RateLimited { limit: 60, window: "minute", remaining: 0, reset_in: 42, tier: "PREMIUM".into() };
    assert_eq!(
        limited.to_json(),
        json!({"error": "Rate limit exceeded", "message": "Limit: 60 requests/minute", "code": "RATE_001",
               "remaining": 0, "reset_in": 42, "tier": "PREMIUM"})
    );
}

#[test]
fn a_failed_call_leaves_nothing_half_written() {
    let e = Engine::open(":memory:").unwrap();
    dev(&e, 1);
    e.clock_in(&ClockIn { guild_id: 1, user_id: 1, category: "Dev".into(), ..Default::default() }).unwrap();
    // Switch to an archived category fails after the running session would have been closed.
    e.create_category(&NewCategory { guild_id: 1, name: "Old".into(), ..Default::default() }).unwrap();
    e.archive_category(1, "Old").unwrap();
    let err = e
        .clock_in(&ClockIn { guild_id: 1, user_id: 1, category: "Old".into(), switch: true, ..Default::default() })
        .unwrap_err();
    assert_eq!(err.code(), "CATEGORY_ARCHIVED");
    let still = e.active_session(1, 1).unwrap().unwrap();
    assert_eq!(still.category, "Dev");
    assert!(still.running);
}

#[test]
fn users_are_found_by_email_ignoring_case_and_by_slack_id() {
    let e = Engine::open(":memory:").unwrap();
    e.upsert_user(&UserInput {
        user_id: 3,
        username: "ana".into(),
        email: Some("Ana@Example.org".into()),
        slack_uid: Some("U123".into()),
        guild_id: Some(1),
        is_admin: Some(true),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(e.find_user_by_email("ana@example.ORG").unwrap().user_id, 3);
    assert_eq!(e.find_user_by_slack_uid("U123").unwrap().username, "ana");
    assert_eq!(e.find_user_by_slack_uid("U999").unwrap_err().code(), "USER_NOT_FOUND");
    assert!(e.is_admin(1, 3).unwrap());
    e.set_admin(1, 3, false).unwrap();
    assert!(!e.is_admin(1, 3).unwrap());
    // Updating keeps fields that are not given.
    let u = e.upsert_user(&UserInput { user_id: 3, username: "ana2".into(), ..Default::default() }).unwrap();
    assert_eq!((u.username.as_str(), u.email.as_deref()), ("ana2", Some("Ana@Example.org")));
}

/// Coding reads that go through every kind of rollup row: whole days, whole hours, raw edges.
fn coding_reads(e: &Engine) -> serde_json::Value {
    let board = |period: &str| {
        e.coding_leaderboard(&CodingLeaderboardQuery { guild_id: 1, period: Some(period.into()), ..Default::default() })
            .unwrap()
    };
    let stats = e.coding_stats(&UserWindow { guild_id: 1, user_id: 7, ..Default::default() }).unwrap();
    let raw = e
        .list_heartbeats(&HeartbeatQuery {
            guild_id: 1,
            user_id: 8,
            start: Some(Timestamp::parse("2025-03-08T00:00:00Z").unwrap()),
            end: Some(Timestamp::parse("2025-03-09T00:00:00Z").unwrap()),
            limit: Some(100),
        })
        .unwrap();
    json!([e.statusbar_today(1, 7).unwrap(), stats, board("daily"), board("weekly"), raw])
}

#[test]
fn a_version_3_database_keeps_its_heartbeats_and_rollups() {
    let path = temp_db("migrate4");
    let now = Timestamp::parse("2025-03-10T20:10:00Z").unwrap().millis();
    let expected = {
        let e = Engine::open(&path).unwrap();
        e.set_now(Some(now)).unwrap();
        e.update_guild(&GuildUpdate { guild_id: 1, timezone: Some("Asia/Kolkata".into()), ..Default::default() })
            .unwrap();
        for user in [7i64, 8] {
            // Three days of a heartbeat every 2 minutes, with a gap longer than the timeout each hour.
            let beats: Vec<_> = (0..2160)
                .filter(|i| i % 30 < 20)
                .map(|i| json!({"entity": format!("f{}.rs", i % 5), "time": (now - 3 * 86_400_000) / 1000 + i * 120 + user, "language": "Rust"}))
                .collect();
            e.ingest_heartbeats(&HeartbeatBatch {
                guild_id: 1,
                user_id: user,
                heartbeats: json!(beats),
                ..Default::default()
            })
            .unwrap();
        }
        coding_reads(&e)
    };
    assert!(expected[3]["entries"][1]["total_seconds"].as_i64().unwrap() > 0, "{expected}");
    assert_eq!(expected[4].as_array().unwrap().len(), 100);
    // Put the database back to schema 3: no day prefixes (schema 9), no week rollups (schema 7),
    // no user time zones or total
    // indexes (schema 6), no settings or
    // key-state counter (schema 5), entities
    // in the heartbeat rows, rollups in the version-2 tables.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TABLE rollup_week; ALTER TABLE users DROP COLUMN time_zone; DROP INDEX totals_user_rank; DROP INDEX totals_user_cat_rank; DROP INDEX users_red;
             DROP TRIGGER api_keys_changed; DROP TRIGGER api_keys_deleted; DROP TRIGGER tiers_inserted;
             DROP TRIGGER tiers_updated; DROP TRIGGER tiers_deleted; DROP TABLE settings; DROP TABLE key_state;
             DROP INDEX sessions_length; DROP TABLE hb_pending;
             CREATE TABLE heartbeats_v3 (guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,
               ident INTEGER NOT NULL, entity TEXT NOT NULL, type TEXT NOT NULL, is_write INTEGER NOT NULL,
               dim_id INTEGER NOT NULL REFERENCES hb_dims(dim_id), lines INTEGER, lineno INTEGER, cursorpos INTEGER,
               line_additions INTEGER, line_deletions INTEGER, project_root_count INTEGER, dependencies TEXT,
               PRIMARY KEY (guild_id, user_id, time_ms, ident)) WITHOUT ROWID;
             INSERT INTO heartbeats_v3 SELECT h.guild_id, h.user_id, h.time_ms, h.ident, e.entity, h.type, h.is_write,
               h.dim_id, h.lines, h.lineno, h.cursorpos, h.line_additions, h.line_deletions, h.project_root_count,
               h.dependencies FROM heartbeats h JOIN hb_entities e ON e.entity_id = h.entity_id;
             DROP TABLE heartbeats;
             DROP TABLE hb_entities;
             ALTER TABLE heartbeats_v3 RENAME TO heartbeats;
             CREATE TABLE hb_day (guild_id INTEGER NOT NULL, day INTEGER NOT NULL, user_id INTEGER NOT NULL,
               dim_id INTEGER NOT NULL, ms INTEGER NOT NULL, PRIMARY KEY (guild_id, user_id, day, dim_id)) WITHOUT ROWID;
             CREATE INDEX hb_day_by_day ON hb_day(guild_id, day, user_id, ms);
             CREATE TABLE hb_hour (guild_id INTEGER NOT NULL, hour INTEGER NOT NULL, user_id INTEGER NOT NULL,
               ms INTEGER NOT NULL, PRIMARY KEY (guild_id, hour, user_id)) WITHOUT ROWID;
             INSERT INTO hb_day SELECT guild_id, bucket, user_id, dim_id, ms FROM hb_rollup WHERE kind = 0;
             INSERT INTO hb_hour SELECT guild_id, bucket, user_id, ms FROM hb_rollup WHERE kind = 1;
             DROP TABLE hb_rollup;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    let e = Engine::open(&path).unwrap();
    e.set_now(Some(now)).unwrap();
    assert_eq!(e.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(coding_reads(&e), expected);
}

#[test]
fn a_version_6_database_gets_its_week_rollups() {
    let db = match common::postgres_server() {
        Some(server) => common::new_postgres_database(&server, "migrate6"),
        None => temp_db("migrate6").display().to_string(),
    };
    // A Thursday; New York's clocks went forward on Sunday 2025-03-09, the first day of a week.
    let now = Timestamp::parse("2025-03-13T15:00:00Z").unwrap().millis();
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    // This week's board and the three weeks before it, each also read over a window one second
    // longer (answered from day rollups and raw sessions, never from week rollups).
    let boards = |e: &Engine| -> Vec<(Leaderboard, Vec<LeaderboardEntry>)> {
        let first = e
            .leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some("week".into()), ..Default::default() })
            .unwrap()
            .start
            .unwrap();
        let day = chrono::DateTime::from_timestamp_millis(first.0).unwrap().with_timezone(&tz).date_naive();
        (0..4)
            .map(|k| {
                let from = time::date_start(tz, day - chrono::Duration::days(7 * k));
                let to = time::date_start(tz, day - chrono::Duration::days(7 * k - 7));
                let q = |to: i64| LeaderboardQuery {
                    guild_id: 1,
                    timeframe: Some("custom".into()),
                    from: Some(Timestamp(from)),
                    to: Some(Timestamp(to)),
                    limit: Some(3),
                    ..Default::default()
                };
                (e.leaderboard(&q(to)).unwrap(), e.leaderboard(&q(to + 1000)).unwrap().leaderboard)
            })
            .collect()
    };
    let expected = {
        let e = Engine::open(&db).unwrap();
        e.set_now(Some(now)).unwrap();
        e.update_guild(&GuildUpdate {
            guild_id: 1,
            timezone: Some("America/New_York".into()),
            week_start: Some("sunday".into()),
            allow_overlap: Some(true),
            ..Default::default()
        })
        .unwrap();
        dev(&e, 1);
        for user in 1..=5i64 {
            for k in 1..40i64 {
                let start = now - k * 17 * 3_600_000 - user * 3_600_000;
                let entry = NewEntry {
                    guild_id: 1,
                    user_id: user,
                    category: "Dev".into(),
                    start: Timestamp(start),
                    end: Timestamp(start + (k % 5 + 1) * 20 * 60_000),
                    ..Default::default()
                };
                e.add_entry(&entry).unwrap();
            }
        }
        boards(&e)
    };
    for (board, longer) in &expected {
        assert_eq!(board.leaderboard.len(), 3, "{board:?}");
        assert_eq!(&board.leaderboard, longer);
    }
    // Back to schema 6: no week rollups (nor what versions 8 and 9 add: no heartbeats here).
    let back =
        "DROP TABLE rollup_week; ALTER TABLE heartbeats DROP COLUMN day_ms; ALTER TABLE heartbeats DROP COLUMN joined;
        DROP TABLE hb_pending";
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        c.batch_execute(&format!("{back}; UPDATE timeledger_schema SET version = 6")).unwrap();
    } else {
        rusqlite::Connection::open(&db).unwrap().execute_batch(&format!("{back}; PRAGMA user_version = 6")).unwrap();
    }
    let e = Engine::open(&db).unwrap();
    e.set_now(Some(now)).unwrap();
    assert_eq!(e.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(boards(&e), expected);
}

#[test]
fn a_version_7_database_gets_its_coding_day_totals_and_day_prefixes() {
    let db = match common::postgres_server() {
        Some(server) => common::new_postgres_database(&server, "migrate7"),
        None => temp_db("migrate7").display().to_string(),
    };
    // Five members coding over ten days in New York (a DST change among them), in two projects
    // and two languages, so each day has several rows per dimension.
    let start = Timestamp::parse("2025-03-03T13:00:00Z").unwrap().millis() / 1000;
    let nows: Vec<i64> = [(9i64, 0i64), (9, 1), (9, 29 * 60_000 + 17_345), (6, 7 * 3_600_000)]
        .iter()
        .map(|&(day, extra)| (start + day * 86_400) * 1000 + 3 * 3_600_000 + extra)
        .collect();
    let boards = |e: &Engine| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for &now in &nows {
            e.set_now(Some(now)).unwrap();
            for period in ["daily", "weekly"] {
                let q = CodingLeaderboardQuery { guild_id: 1, period: Some(period.into()), ..Default::default() };
                out.push(e.coding_leaderboard(&q).unwrap());
            }
        }
        out
    };
    let expected = {
        let e = Engine::open(&db).unwrap();
        e.update_guild(&GuildUpdate { guild_id: 1, timezone: Some("America/New_York".into()), ..Default::default() })
            .unwrap();
        for user in 1..=5i64 {
            for day in 0..10i64 {
                let beats: Vec<serde_json::Value> = (0..240i64)
                    .map(|i| {
                        json!({"entity": format!("src/f{}.rs", i % 5), "time": start + day * 86_400 + user * 900 + i * 40,
                               "project": format!("p{}", (i / 60) % 2), "language": if i % 3 == 0 { "Go" } else { "Rust" }})
                    })
                    .collect();
                let r = e
                    .ingest_heartbeats(&HeartbeatBatch {
                        guild_id: 1,
                        user_id: user,
                        heartbeats: serde_json::Value::Array(beats),
                        ..Default::default()
                    })
                    .unwrap();
                assert!(r.responses.iter().all(|o| o.status == 201));
            }
        }
        boards(&e)
    };
    for b in &expected {
        let entries = b["entries"].as_array().unwrap();
        assert!(!entries.is_empty(), "{b}");
        assert!(entries.iter().all(|x| x["total_seconds"].as_f64().unwrap() > 0.0), "{b}");
    }
    // Back to schema 7: no day totals, no day prefixes.
    let back = "DELETE FROM hb_rollup WHERE kind = 2; ALTER TABLE heartbeats DROP COLUMN day_ms;
        ALTER TABLE heartbeats DROP COLUMN joined; DROP TABLE hb_pending";
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        c.batch_execute(&format!("{back}; UPDATE timeledger_schema SET version = 7")).unwrap();
    } else {
        rusqlite::Connection::open(&db).unwrap().execute_batch(&format!("{back}; PRAGMA user_version = 7")).unwrap();
    }
    let e = Engine::open(&db).unwrap();
    assert_eq!(e.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(boards(&e), expected);
}

/// Where a session-id test's database lives: a new PostgreSQL database, or a new SQLite file.
fn id_test_db(name: &str) -> String {
    match common::postgres_server() {
        Some(server) => common::new_postgres_database(&server, name),
        None => temp_db(name).display().to_string(),
    }
}

#[test]
fn session_ids_name_one_session_of_one_guild_and_never_another() {
    let db = id_test_db("ids");
    let now = Timestamp::parse("2026-03-02T12:00:00Z").unwrap().millis();
    let e = Engine::open(&db).unwrap();
    e.set_now(Some(now)).unwrap();
    dev(&e, 1);
    dev(&e, 2);
    let entry = |user: i64, h: u32| NewEntry {
        guild_id: 1,
        user_id: user,
        category: "Dev".into(),
        start: Timestamp::parse(&format!("2026-03-01T{h:02}:00:00Z")).unwrap(),
        end: Timestamp::parse(&format!("2026-03-01T{h:02}:30:00Z")).unwrap(),
        ..Default::default()
    };
    let a = e.add_entry(&entry(5, 9)).unwrap();
    let imported = e
        .import_entries(&EntryBatch {
            guild_id: 1,
            entries: (10..13)
                .map(|h| json!({"user_id": 5, "category": "Dev", "start": format!("2026-03-01T{h}:00:00Z"), "end": format!("2026-03-01T{h}:30:00Z")}))
                .collect(),
        })
        .unwrap();
    let clocked =
        e.clock_in(&ClockIn { guild_id: 1, user_id: 6, category: "Dev".into(), ..Default::default() }).unwrap();
    let mut ids = vec![a.id.clone(), clocked.session_id.clone()];
    ids.extend(imported.session_ids.iter().cloned());
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    for id in &ids {
        assert!(id.starts_with("ses_") && id.len() == 26, "{id}");
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert_eq!(&e.get_session(1, id).unwrap().id, id);
        // Another guild's id is no session of this one.
        assert_eq!(e.get_session(2, id).unwrap_err().code(), "SESSION_NOT_FOUND");
    }
    // Each imported id names the entry imported at its place.
    for (k, id) in imported.session_ids.iter().enumerate() {
        let s = e.get_session(1, id).unwrap();
        assert_eq!(s.start_time, Timestamp::parse(&format!("2026-03-01T{}:00:00Z", 10 + k)).unwrap());
    }
    // Listing answers the same ids.
    let listed: std::collections::HashSet<String> = e
        .list_sessions(&SessionQuery { guild_id: 1, ..Default::default() })
        .unwrap()
        .data
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ids.iter().cloned().collect());
    // Forged and malformed ids name nothing (each digit changed in turn, values past 128 bits,
    // other characters, other lengths).
    let mut forged: Vec<String> = (4..26)
        .map(|i| {
            let mut b = a.id.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            String::from_utf8(b).unwrap()
        })
        .collect();
    forged.extend(
        [
            "ses_zzzzzzzzzzzzzzzzzzzzzz",
            "ses_!!!!!!!!!!!!!!!!!!!!!!",
            "ses_",
            "",
            "ses_ééééééééééé",
            "ses_000000000000000000",
        ]
        .map(String::from),
    );
    forged.push(format!("{}0", a.id));
    forged.push(format!("ses_{}", "9".repeat(10_000)));
    for id in &forged {
        assert_eq!(e.get_session(1, id).unwrap_err().code(), "SESSION_NOT_FOUND", "{id}");
        assert_eq!(e.delete_session(1, id).unwrap_err().code(), "SESSION_NOT_FOUND", "{id}");
    }
    // A deleted session's id never names a later one, even one made at the same instant by the
    // same user.
    e.delete_session(1, &clocked.session_id).unwrap();
    let again = e.clock_in(&ClockIn { guild_id: 1, user_id: 6, category: "Dev".into(), ..Default::default() }).unwrap();
    assert_ne!(again.session_id, clocked.session_id);
    assert_eq!(e.get_session(1, &clocked.session_id).unwrap_err().code(), "SESSION_NOT_FOUND");
    // The key lives in the database: reopened, every id still names its session.
    drop(e);
    let e = Engine::open(&db).unwrap();
    e.set_now(Some(now)).unwrap();
    for id in ids.iter().filter(|id| **id != clocked.session_id).chain([&again.session_id]) {
        assert_eq!(&e.get_session(1, id).unwrap().id, id);
    }
    // Another database's key gives the same history other ids.
    let other = Engine::open(":memory:").unwrap();
    other.set_now(Some(now)).unwrap();
    dev(&other, 1);
    let b = other.add_entry(&entry(5, 9)).unwrap();
    assert_ne!(b.id, a.id);
    assert_eq!(other.get_session(1, &a.id).unwrap_err().code(), "SESSION_NOT_FOUND");
}

#[test]
fn a_version_9_database_keeps_its_session_ids() {
    let db = id_test_db("migrate9");
    let now = Timestamp::parse("2026-03-02T12:00:00Z").unwrap().millis();
    let before = {
        let e = Engine::open(&db).unwrap();
        e.set_now(Some(now)).unwrap();
        dev(&e, 1);
        for h in 0..5i64 {
            let start = now - (20 - 3 * h) * 3_600_000;
            e.add_entry(&NewEntry {
                guild_id: 1,
                user_id: 5,
                category: "Dev".into(),
                start: Timestamp(start),
                end: Timestamp(start + (h + 1) * 30 * 60_000),
                ..Default::default()
            })
            .unwrap();
        }
        e.clock_in(&ClockIn {
            guild_id: 1,
            user_id: 6,
            category: "Dev".into(),
            at: Some(Timestamp(now - 600_000)),
            ..Default::default()
        })
        .unwrap();
        e.guild_status(1).unwrap()
    };
    // Back to schema 9: every session with a stored random id (here of the old form: `ses_`
    // and 18 digits), unique; no session id key; the length index over every closed session.
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        c.batch_execute(
            "UPDATE sessions SET public_id = 'ses_' || lpad(id::text, 18, '0');
             ALTER TABLE sessions ALTER COLUMN public_id SET NOT NULL;
             DROP INDEX sessions_public;
             ALTER TABLE sessions ADD CONSTRAINT sessions_public_id_key UNIQUE (public_id);
             DROP INDEX sessions_length;
             CREATE INDEX sessions_length ON sessions (guild_id, (end_ms - start_ms)) WHERE end_ms IS NOT NULL;
             DELETE FROM settings WHERE name = 'session_id_key';
             UPDATE timeledger_schema SET version = 9",
        )
        .unwrap();
    } else {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(
                "CREATE TABLE sessions_v9 (id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE,
                   guild_id INTEGER NOT NULL REFERENCES guilds(guild_id), user_id INTEGER NOT NULL REFERENCES users(user_id),
                   category_id INTEGER NOT NULL REFERENCES categories(category_id), description TEXT,
                   start_ms INTEGER NOT NULL, end_ms INTEGER, billable INTEGER NOT NULL DEFAULT 0,
                   auto_closed INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                   CHECK (end_ms IS NULL OR end_ms >= start_ms));
                 INSERT INTO sessions_v9 SELECT id, 'ses_' || substr('000000000000000000' || id, -18), guild_id, user_id,
                   category_id, description, start_ms, end_ms, billable, auto_closed, created_at, updated_at FROM sessions;
                 DROP TABLE sessions;
                 ALTER TABLE sessions_v9 RENAME TO sessions;
                 CREATE INDEX sessions_user ON sessions(guild_id, user_id, start_ms);
                 CREATE INDEX sessions_start ON sessions(guild_id, start_ms);
                 CREATE INDEX sessions_category ON sessions(category_id);
                 CREATE UNIQUE INDEX sessions_running ON sessions(guild_id, user_id) WHERE end_ms IS NULL;
                 CREATE INDEX sessions_length ON sessions(guild_id, end_ms - start_ms) WHERE end_ms IS NOT NULL;
                 DELETE FROM settings WHERE name = 'session_id_key';
                 PRAGMA user_version = 9;",
            )
            .unwrap();
    }
    let e = Engine::open(&db).unwrap();
    e.set_now(Some(now)).unwrap();
    assert_eq!(e.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(e.guild_status(1).unwrap(), before);
    let legacy = |id: i64| format!("ses_{id:018}");
    let listed: Vec<String> = e
        .list_sessions(&SessionQuery { guild_id: 1, ..Default::default() })
        .unwrap()
        .data
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut expected: Vec<String> = (1..=6).map(legacy).collect();
    expected.reverse(); // newest first: the running session started last
    assert_eq!(listed, expected);
    // The old ids keep working for every call that takes one.
    assert_eq!(e.get_session(1, &legacy(2)).unwrap().id, legacy(2));
    let moved = e
        .update_session(&SessionUpdate {
            guild_id: 1,
            session_id: legacy(3),
            description: Some("moved".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((moved.id.as_str(), moved.description.as_deref()), (legacy(3).as_str(), Some("moved")));
    let out = e.clock_out(&ClockOut { guild_id: 1, user_id: 6, ..Default::default() }).unwrap();
    assert_eq!(out.id, legacy(6));
    e.delete_session(1, &legacy(1)).unwrap();
    assert_eq!(e.get_session(1, &legacy(1)).unwrap_err().code(), "SESSION_NOT_FOUND");
    // New sessions get ids of the new form, beside the old ones.
    let fresh = e
        .add_entry(&NewEntry {
            guild_id: 1,
            user_id: 7,
            category: "Dev".into(),
            start: Timestamp(now - 3_600_000),
            end: Timestamp(now),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(fresh.id.len(), 26);
    assert_eq!(e.get_session(1, &fresh.id).unwrap().user_id, 7);
    assert_eq!(e.list_sessions(&SessionQuery { guild_id: 1, ..Default::default() }).unwrap().meta.total, 6);
}
