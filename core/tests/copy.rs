//! `Engine::copy_to`: a whole database moved to another (a SQLite file to PostgreSQL and back
//! when `TIMELEDGER_TEST_POSTGRES` names a server, else file to file to file), with keys that
//! keep working, sessions that keep their ids, and the same answers everywhere.

use serde_json::json;
use timeledger::*;

mod common;

const MASTER: &str = "copy-test-master-key-0001";

fn temp_file(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("timeledger-copy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite").display().to_string()
}

fn fill(e: &Engine) -> (String, String, String) {
    e.set_master_key(MASTER).unwrap();
    e.update_guild(&GuildUpdate { guild_id: 1, timezone: Some("Europe/Berlin".into()), ..Default::default() }).unwrap();
    for (id, name) in [(10, "ada"), (11, "<b>bob</b>")] {
        e.upsert_user(&UserInput { user_id: id, username: name.into(), guild_id: Some(1), ..Default::default() })
            .unwrap();
    }
    for name in ["Dev", "Old"] {
        e.create_category(&NewCategory { guild_id: 1, name: name.into(), ..Default::default() }).unwrap();
    }
    let t = |s: &str| Some(Timestamp::parse(s).unwrap());
    let entry = e
        .add_entry(&NewEntry {
            guild_id: 1,
            user_id: 10,
            category: "Dev".into(),
            start: t("2026-05-01T08:00:00Z").unwrap(),
            end: t("2026-05-01T10:30:00Z").unwrap(),
            description: Some("review".into()),
            ..Default::default()
        })
        .unwrap();
    e.archive_category(1, "Old").unwrap();
    e.clock_in(&ClockIn {
        guild_id: 1,
        user_id: 11,
        category: "Dev".into(),
        at: t("2026-06-01T11:00:00Z"),
        ..Default::default()
    })
    .unwrap();
    e.call(
        "ingest_heartbeats",
        json!({"guild_id": 1, "user_id": 10, "heartbeats": [
            {"entity": "src/lib.rs", "type": "file", "time": 1780300000, "project": "engine", "language": "Rust"},
            {"entity": "src/lib.rs", "type": "file", "time": 1780300060, "project": "engine", "language": "Rust"}]}),
    )
    .unwrap();
    let key = e
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 10,
            master_key: MASTER.into(),
            tier: Some("ENTERPRISE".into()),
            ..Default::default()
        })
        .unwrap();
    let revoked = e
        .generate_key(&GenerateKey { guild_id: 1, admin_user_id: 10, master_key: MASTER.into(), ..Default::default() })
        .unwrap();
    e.revoke_key(&revoked.key_id).unwrap();
    e.authorize_own_guild(&key.api_key, "read_status", None).unwrap();
    (key.api_key, revoked.api_key, entry.id)
}

/// The same questions, asked of both at one instant, get the same answers.
fn same_answers(a: &Engine, b: &Engine, key: &str, revoked: &str, session: &str) {
    for op in [
        json!(["guild_status", {"guild_id": 1}]),
        json!(["leaderboard", {"guild_id": 1, "timeframe": "all"}]),
        json!(["report", {"guild_id": 1, "timeframe": "all", "group_by": ["user", "category", "day"]}]),
        json!(["list_categories", {"guild_id": 1, "include_archived": true}]),
        json!(["list_members", {"guild_id": 1}]),
        json!(["coding_stats", {"guild_id": 1, "user_id": 10, "timeframe": "all"}]),
        json!(["get_session", {"guild_id": 1, "session_id": session}]),
        json!(["list_keys", {"guild_id": 1}]),
    ] {
        let (name, args) = (op[0].as_str().unwrap(), op[1].clone());
        assert_eq!(a.call(name, args.clone()).unwrap(), b.call(name, args).unwrap(), "{name}");
    }
    assert_eq!(b.authorize_own_guild(key, "manage_keys", None).unwrap().tier, "ENTERPRISE");
    assert_eq!(b.authorize_own_guild(revoked, "read_status", None).unwrap_err().code(), "KEY_REVOKED");
}

#[test]
fn a_database_copies_to_another_backend_and_back_with_the_same_answers() {
    let source = Engine::open(temp_file("source")).unwrap();
    let now = Timestamp::parse("2026-06-01T12:00:00Z").unwrap().millis();
    source.set_now(Some(now)).unwrap();
    let (key, revoked, session) = fill(&source);

    // There (PostgreSQL when a server is given), and back into a new file.
    let middle = Engine::open(common::shared_database("copy_middle")).unwrap();
    middle.set_now(Some(now)).unwrap();
    let there = source.copy_to(&middle).unwrap();
    assert_eq!(there.guilds_checked, 1);
    assert_eq!((there.rows["sessions"], there.rows["heartbeats"], there.rows["api_keys"]), (2, 2, 2), "{there:?}");
    same_answers(&source, &middle, &key, &revoked, &session);
    let back = Engine::open(temp_file("back")).unwrap();
    back.set_now(Some(now)).unwrap();
    assert_eq!(middle.copy_to(&back).unwrap().rows, there.rows);
    same_answers(&middle, &back, &key, &revoked, &session);

    // The copy keeps working: new rows get new ids (PostgreSQL's sequences moved past the copied
    // ones), the master key still mints keys.
    for e in [&middle, &back] {
        e.create_category(&NewCategory { guild_id: 1, name: "New".into(), ..Default::default() }).unwrap();
        e.clock_out(&ClockOut { guild_id: 1, user_id: 11, at: None }).unwrap();
        e.clock_in(&ClockIn { guild_id: 1, user_id: 10, category: "New".into(), ..Default::default() }).unwrap();
        e.generate_key(&GenerateKey { guild_id: 2, admin_user_id: 1, master_key: MASTER.into(), ..Default::default() })
            .unwrap();
    }

    // A target that holds data is refused, and keeps what it had.
    let err = source.copy_to(&back).unwrap_err();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("to")), "{err}");
    assert!(back.get_category(1, "New").is_ok());
}

#[test]
fn a_table_larger_than_one_read_of_the_source_copies_whole() {
    // More sessions than a PostgreSQL source sends per fetch of its cursor (10,000).
    let source = Engine::open(common::shared_database("copy_big")).unwrap();
    source.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let base = Timestamp::parse("2026-01-01T00:00:00Z").unwrap().millis();
    for batch in 0..13 {
        let entries: Vec<serde_json::Value> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                let start = base + (n / 500) * 3_600_000;
                json!({"user_id": n % 500, "category": "Dev", "start": Timestamp(start), "end": Timestamp(start + 1_800_000)})
            })
            .collect();
        let r = source.import_entries(&EntryBatch { guild_id: 1, entries }).unwrap();
        assert_eq!(r.imported, 1000, "{:?}", r.errors.first());
    }
    let target = Engine::open(temp_file("big_target")).unwrap();
    let copied = source.copy_to(&target).unwrap();
    assert_eq!(copied.rows["sessions"], 13_000);
    assert_eq!(target.list_sessions(&SessionQuery { guild_id: 1, ..Default::default() }).unwrap().meta.total, 13_000);
}
