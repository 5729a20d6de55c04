//! Moving in and out: the engine's own export round-trips, and WakaTime data dumps, Toggl and
//! Clockify CSV exports (made here in their documented shapes) import with equal totals, twice
//! without change, with refusals named.

mod common;

use serde_json::{json, Value};
use timeledger::*;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-transfer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A fresh engine named `name` (on PostgreSQL when `TIMELEDGER_TEST_POSTGRES` is set).
fn engine(name: &str) -> Engine {
    let e = common::fresh_engine(&format!("transfer_{name}"));
    e.set_now(Some(Timestamp::parse("2026-06-01T12:00:00Z").unwrap().millis())).unwrap();
    e
}

fn import(e: &Engine, format: &str, path: &std::path::Path, guild: Option<i64>, user: Option<i64>) -> ImportSummary {
    e.import_file(&ImportFile {
        format: format.into(),
        path: path.display().to_string(),
        guild_id: guild,
        user_id: user,
    })
    .unwrap()
}

#[test]
fn toggl_and_clockify_csv_exports_import_once_with_projects_users_and_refusals() {
    let e = engine("toggl");
    e.update_guild(&GuildUpdate { guild_id: 1, timezone: Some("Europe/Berlin".into()), ..Default::default() }).unwrap();
    let toggl = temp("toggl.csv");
    std::fs::write(
        &toggl,
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags,Amount ()\n\
         Ada,ada@example.org,Acme,Website,,\"Header, footer\",Yes,2026-03-02,09:00:00,2026-03-02,10:30:00,01:30:00,,\n\
         Ada,ada@example.org,Acme,Website,,Review,No,2026-03-02,11:00:00,2026-03-02,11:45:00,00:45:00,,\n\
         Bob,bob@example.org,,,,,No,2026-03-02,09:00:00,2026-03-02,09:30:00,00:30:00,,\n\
         Bob,bob@example.org,,Website,,Broken,No,2026-13-02,09:00:00,2026-03-02,09:30:00,00:30:00,,\n\
         Bob,bob@example.org,,Website,,Overlaps his own,No,2026-03-02,09:15:00,2026-03-02,09:20:00,00:05:00,,\n",
    )
    .unwrap();
    let s = import(&e, "toggl", &toggl, Some(1), None);
    assert_eq!((s.imported["session"], s.imported["category"], s.refused), (3, 2, 2), "{s:?}");
    assert_eq!(
        s.reasons.iter().map(|r| (r.line, r.code.as_str())).collect::<Vec<_>>(),
        [(5, "INVALID_INPUT"), (6, "SESSION_OVERLAP")]
    );
    // Local times in the guild's zone (Berlin is UTC+1 in March), description and billable kept.
    let ada = e.find_user_by_email("ada@example.org").unwrap();
    let page =
        e.list_sessions(&SessionQuery { guild_id: 1, user_id: Some(ada.user_id), ..Default::default() }).unwrap();
    let first = page.data.iter().find(|x| x.billable).unwrap();
    assert_eq!(
        (first.start_time.to_string().as_str(), first.description.as_deref()),
        ("2026-03-02T08:00:00Z", Some("Header, footer"))
    );
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 5400 + 2700 + 1800);
    assert!(e.get_category(1, "No project").is_ok());
    // Twice: nothing changes.
    let again = import(&e, "toggl", &toggl, Some(1), None);
    assert_eq!((again.imported.get("session"), again.duplicates["session"]), (None, 3), "{again:?}");
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 5400 + 2700 + 1800);

    let clockify = temp("clockify.csv");
    std::fs::write(
        &clockify,
        "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,End Date,End Time,Duration (h),Duration (decimal)\n\
         Mobile,Acme,Login screen,,Cleo,,cleo@example.org,,Yes,03/03/2026,01:00:00 PM,03/03/2026,03:00:00 PM,02:00:00,2.00\n",
    )
    .unwrap();
    let s = import(&e, "clockify", &clockify, Some(1), None);
    assert_eq!((s.imported["session"], s.refused), (1, 0), "{s:?}");
    let cleo = e.find_user_by_email("cleo@example.org").unwrap();
    let page =
        e.list_sessions(&SessionQuery { guild_id: 1, user_id: Some(cleo.user_id), ..Default::default() }).unwrap();
    assert_eq!(
        (page.data[0].start_time.to_string().as_str(), page.data[0].category.as_str()),
        ("2026-03-03T12:00:00Z", "Mobile")
    );
    // A file that is not the format is refused as a whole.
    let other = temp("other.csv");
    std::fs::write(&other, "when,what\n2026-03-03,lunch\n").unwrap();
    let err = e
        .import_file(&ImportFile {
            format: "clockify".into(),
            path: other.display().to_string(),
            guild_id: Some(1),
            user_id: None,
        })
        .unwrap_err();
    assert_eq!(err.field(), Some("path"), "{err}");
}

#[test]
fn a_wakatime_data_dump_streams_in_with_the_same_coding_time_as_the_api() {
    let (e, direct) = (engine("a_wakatime_data__a"), engine("a_wakatime_data__b"));
    let t0 = Timestamp::parse("2026-05-04T09:00:00Z").unwrap().millis() / 1000;
    let day = |d: i64| -> Vec<Value> {
        (0..1500)
            .map(|i| json!({"entity": format!("src/f{}.rs", i % 7), "type": "file", "category": "coding", "time": (t0 + d * 86_400 + i * 30) as f64 + 0.5,
                            "project": "engine", "language": "Rust", "is_write": i % 5 == 0, "machine_name_id": "m1", "user_agent_id": "a1",
                            "lines": 100 + i, "lineno": 3, "cursorpos": 7, "created_at": "2026-05-04T09:00:00Z"}))
            .collect()
    };
    let days: Vec<Value> = (0..3)
        .map(|d| json!({"date": format!("2026-05-0{}", 4 + d), "heartbeats": day(d), "grand_total": {}}))
        .collect();
    let dump = temp("wakatime.json");
    std::fs::write(
        &dump,
        json!({"user": {"username": "ada"}, "range": {"start": 0, "end": 0}, "days": days}).to_string(),
    )
    .unwrap();
    let s = import(&e, "wakatime", &dump, Some(1), Some(7));
    assert_eq!((s.imported["heartbeat"], s.refused), (4500, 0), "{s:?}");
    for d in &days {
        direct
            .ingest_heartbeats(&HeartbeatBatch {
                guild_id: 1,
                user_id: 7,
                heartbeats: d["heartbeats"].clone(),
                ..Default::default()
            })
            .unwrap();
    }
    let stats = |e: &Engine| e.call("coding_stats", json!({"guild_id": 1, "user_id": 7, "timeframe": "all"})).unwrap();
    assert_eq!(stats(&e), stats(&direct));
    assert!(stats(&e)["total_seconds"].as_i64().unwrap() > 3 * 1499 * 30 - 10);
    let again = import(&e, "wakatime", &dump, Some(1), Some(7));
    assert_eq!((again.imported.get("heartbeat"), again.duplicates["heartbeat"]), (None, 4500));
    // Missing user, broken file.
    assert_eq!(
        e.import_file(&ImportFile {
            format: "wakatime".into(),
            path: dump.display().to_string(),
            guild_id: Some(1),
            user_id: None
        })
        .unwrap_err()
        .field(),
        Some("user_id")
    );
    let broken = temp("broken.json");
    std::fs::write(&broken, "{\"days\": [{\"heartbeats\": [").unwrap();
    let err = e
        .import_file(&ImportFile {
            format: "wakatime".into(),
            path: broken.display().to_string(),
            guild_id: Some(1),
            user_id: Some(7),
        })
        .unwrap_err();
    assert_eq!(err.field(), Some("path"));

    // Cut off in the middle: the batches read before the break are stored and the error says
    // how many; the whole file then brings the rest, the stored ones counted as duplicates.
    let whole = std::fs::read_to_string(&dump).unwrap();
    let cut = temp("cut.json");
    std::fs::write(&cut, &whole[..whole.len() * 4 / 5]).unwrap();
    let fresh = engine("a_wakatime_data_");
    let err = fresh
        .import_file(&ImportFile {
            format: "wakatime".into(),
            path: cut.display().to_string(),
            guild_id: Some(1),
            user_id: Some(7),
        })
        .unwrap_err();
    let stored = fresh.call("list_heartbeats", json!({"guild_id": 1, "user_id": 7, "start": "2026-05-01T00:00:00Z", "end": "2026-05-10T00:00:00Z", "limit": 1})).unwrap();
    let message = err.to_string();
    assert!(message.contains("heartbeats read before that point are stored"), "{message}");
    let n: u64 = message.split("the ").nth(1).and_then(|t| t.split(' ').next()).unwrap().parse().unwrap();
    assert!(n >= 3000 && n.is_multiple_of(1000), "{message}");
    assert!(!stored["data"].as_array().unwrap().is_empty());
    let rest = import(&fresh, "wakatime", &dump, Some(1), Some(7));
    assert_eq!((rest.imported["heartbeat"], rest.duplicates["heartbeat"]), (4500 - n, n), "{rest:?}");
    assert_eq!(stats(&fresh), stats(&direct));
}

/// Every line of an export without what a round trip may change (ids of sessions and
/// heartbeats, key lines: secrets never travel, so keys do not come back).
fn normalized(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] != "key")
        .map(|mut v| {
            if v["type"] == "session" {
                v.as_object_mut().unwrap().remove("id");
            }
            v.to_string()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_engine_s_own_export_round_trips_and_imports_twice_without_change() {
    let e = engine("the_engine_s_own");
    e.set_master_key("transfer-master-key-0001").unwrap();
    e.update_guild(&GuildUpdate {
        guild_id: 1,
        timezone: Some("Asia/Kolkata".into()),
        allow_overlap: Some(false),
        ..Default::default()
    })
    .unwrap();
    e.upsert_user(&UserInput {
        user_id: 10,
        username: "boss".into(),
        email: Some("b@x.org".into()),
        guild_id: Some(1),
        is_admin: Some(true),
        time_zone: Some("Asia/Tokyo".into()),
        ..Default::default()
    })
    .unwrap();
    e.upsert_user(&UserInput {
        user_id: 11,
        username: "<b>hostile, \"name\"</b>".into(),
        guild_id: Some(1),
        ..Default::default()
    })
    .unwrap();
    e.upsert_user(&UserInput { user_id: 12, username: "elsewhere".into(), guild_id: Some(2), ..Default::default() })
        .unwrap();
    for (g, name) in [(1, "Dev"), (1, "Old"), (2, "Ops")] {
        e.create_category(&NewCategory {
            guild_id: g,
            name: name.into(),
            color: Some("#112233".into()),
            ..Default::default()
        })
        .unwrap();
    }
    let add = |g: i64, u: i64, cat: &str, s: &str, en: &str| {
        e.add_entry(&NewEntry {
            guild_id: g,
            user_id: u,
            category: cat.into(),
            start: Timestamp::parse(s).unwrap(),
            end: Timestamp::parse(en).unwrap(),
            billable: true,
            description: Some("x".into()),
        })
        .unwrap();
    };
    add(1, 10, "Dev", "2026-05-01T09:00:00Z", "2026-05-01T11:00:00Z");
    add(1, 11, "Old", "2026-05-02T09:00:00Z", "2026-05-02T10:00:00Z");
    add(2, 12, "Ops", "2026-05-03T09:00:00Z", "2026-05-03T09:20:00Z");
    e.archive_category(1, "Old").unwrap();
    e.clock_in(&ClockIn {
        guild_id: 1,
        user_id: 11,
        category: "Dev".into(),
        at: Some(Timestamp::parse("2026-06-01T10:00:00Z").unwrap()),
        ..Default::default()
    })
    .unwrap();
    let beats: Vec<Value> = (0..50)
        .map(|i| json!({"entity": "a.rs", "time": 1_777_000_000 + i * 60, "language": "Rust", "project": "p"}))
        .collect();
    e.ingest_heartbeats(&HeartbeatBatch {
        guild_id: 1,
        user_id: 10,
        heartbeats: json!(beats),
        user_agent: Some("wakatime/1.0 (linux) vim/9.0 vim-wakatime/1.0".into()),
        ..Default::default()
    })
    .unwrap();
    let key = e
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 10,
            master_key: "transfer-master-key-0001".into(),
            ..Default::default()
        })
        .unwrap();

    let out = temp("export.jsonl");
    let written = e.export_file(&out.display().to_string(), None).unwrap();
    assert_eq!(
        (
            written.lines["guild"],
            written.lines["user"],
            written.lines["session"],
            written.lines["heartbeat"],
            written.lines["key"]
        ),
        (2, 3, 4, 50, 1)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains(&key.api_key) && !text.contains(&key.api_key[key.api_key.len() - 12..]),
        "no key secret in an export"
    );

    let copy = engine("the_engine_s_own_copy");
    let s = import(&copy, "timeledger", &out, None, None);
    assert_eq!((s.imported["session"], s.imported["heartbeat"], s.skipped["key"], s.refused), (4, 50, 1, 0), "{s:?}");
    for g in [1, 2] {
        for (op, args) in [
            ("guild_status", json!({"guild_id": g})),
            ("guild_settings", json!({"guild_id": g})),
            ("leaderboard", json!({"guild_id": g, "timeframe": "all"})),
            ("report", json!({"guild_id": g, "timeframe": "all", "group_by": ["user", "category", "day"]})),
            ("list_categories", json!({"guild_id": g, "include_archived": true})),
            ("list_members", json!({"guild_id": g})),
            ("coding_stats", json!({"guild_id": g, "user_id": 10, "timeframe": "all"})),
        ] {
            assert_eq!(copy.call(op, args.clone()).unwrap(), e.call(op, args).unwrap(), "{op} of guild {g}");
        }
    }
    let back = temp("export-again.jsonl");
    copy.export_file(&back.display().to_string(), None).unwrap();
    assert_eq!(normalized(&back), normalized(&out));
    // Twice: nothing new.
    let again = import(&copy, "timeledger", &out, None, None);
    assert!(again.imported.is_empty(), "{again:?}");
    assert_eq!((again.duplicates["session"], again.duplicates["heartbeat"], again.refused), (4, 50, 0));
    // A file that is not an export.
    let not = temp("not.jsonl");
    std::fs::write(&not, "{\"type\": \"meta\", \"format\": \"something else\"}\nnot json\n").unwrap();
    assert_eq!(import(&copy, "timeledger", &not, None, None).refused, 2);
    assert_eq!(
        copy.import_file(&ImportFile { format: "toml".into(), path: "x".into(), guild_id: None, user_id: None })
            .unwrap_err()
            .field(),
        Some("format")
    );
}

#[test]
fn a_file_engine_exports_on_a_connection_of_its_own_the_same_lines_and_keeps_answering() {
    let dir = temp("file-engine");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("t.db");
    let _ = std::fs::remove_file(&db);
    let (file, memory) = (Engine::open(&db).unwrap(), engine("a_file_engine_ex"));
    let t0 = Timestamp::parse("2026-05-04T09:00:00Z").unwrap().millis() / 1000;
    for e in [&file, &memory] {
        e.set_now(Some(Timestamp::parse("2026-06-01T12:00:00Z").unwrap().millis())).unwrap();
        e.upsert_user(&UserInput { user_id: 7, username: "ada".into(), guild_id: Some(1), ..Default::default() })
            .unwrap();
        let beats: Vec<Value> = (0..3000)
            .map(|i| json!({"entity": "a.rs", "type": "file", "time": t0 + i * 20, "project": "p", "language": "Rust"}))
            .collect();
        e.ingest_heartbeats(&HeartbeatBatch {
            guild_id: 1,
            user_id: 7,
            heartbeats: json!(beats),
            ..Default::default()
        })
        .unwrap();
    }
    let (a, b) = (dir.join("file.jsonl"), dir.join("memory.jsonl"));
    // Another thread uses the engine while the export streams.
    let file = std::sync::Arc::new(file);
    let other = {
        let file = std::sync::Arc::clone(&file);
        std::thread::spawn(move || {
            for _ in 0..20 {
                file.statusbar_today(1, 7).unwrap();
            }
        })
    };
    assert_eq!(file.export_file(&a.display().to_string(), None).unwrap().lines["heartbeat"], 3000);
    other.join().unwrap();
    memory.export_file(&b.display().to_string(), None).unwrap();
    assert_eq!(normalized(&a), normalized(&b));
}
