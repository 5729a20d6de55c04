//! Bad input and unlucky timing: "now" read under the write lock, the exact Retry-After, empty
//! intervals, errors at open, the durability setting, and breakdowns that add up.

use std::sync::Arc;

use serde_json::json;
use timeledger::*;

const MASTER: &str = "hardening-master-key-0";

fn ms(s: &str) -> i64 {
    Timestamp::parse(s).unwrap().millis()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn implicit_now_is_read_under_the_write_lock() {
    // Eight threads clock one user in and out with the wall clock. Were "now" read before the
    // lock, a clock-out could land before the start another thread wrote meanwhile (INVALID_INPUT
    // on `at`) or a clock-in inside a session closed meanwhile (SESSION_OVERLAP).
    let e = Arc::new(Engine::open(":memory:").unwrap());
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut unexpected = Vec::new();
                for n in 0..300 {
                    let r = if (i + n) % 2 == 0 {
                        e.clock_in(&ClockIn { guild_id: 1, user_id: 5, category: "Dev".into(), ..Default::default() })
                            .map(|_| ())
                    } else {
                        e.clock_out(&ClockOut { guild_id: 1, user_id: 5, at: None }).map(|_| ())
                    };
                    match r {
                        Ok(()) => {}
                        Err(err) if matches!(err.code(), "SESSION_ALREADY_ACTIVE" | "NO_ACTIVE_SESSION") => {}
                        Err(err) => unexpected.push(err.to_string()),
                    }
                }
                unexpected
            })
        })
        .collect();
    let unexpected: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(unexpected.is_empty(), "{} unexpected errors, e.g. {:?}", unexpected.len(), unexpected.first());
}

#[test]
fn retry_after_is_the_earliest_instant_a_request_is_admitted() {
    let e = Engine::open(":memory:").unwrap();
    e.set_master_key(MASTER).unwrap();
    let k = e
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 1,
            master_key: MASTER.into(),
            tier: Some("SUPPORTER".into()),
            ..Default::default()
        })
        .unwrap();
    let auth = |at: &str| {
        e.set_now(Some(ms(at))).unwrap();
        e.authorize(&AuthorizeRequest {
            api_key: k.api_key.clone(),
            guild_id: 1,
            action: "read_status".into(),
            target_user_id: None,
        })
    };
    for _ in 0..20 {
        auth("2026-12-01T12:00:30Z").unwrap();
    }
    let refused = auth("2026-12-01T12:00:30Z").unwrap_err();
    assert_eq!(refused.headers()["Retry-After"], "33");
    assert_eq!(refused.headers()["X-RateLimit-Reset"], "33");
    for early in ["2026-12-01T12:01:00Z", "2026-12-01T12:01:01Z", "2026-12-01T12:01:02Z", "2026-12-01T12:01:02.999Z"] {
        assert_eq!(auth(early).unwrap_err().code(), "RATE_001", "admitted early at {early}");
    }
    // A client that obeys the header exactly is admitted.
    auth("2026-12-01T12:01:03Z").unwrap();
}

#[test]
fn empty_entries_overlap_nothing() {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(ms("2026-12-01T18:00:00Z"))).unwrap();
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let add = |s: &str, t: &str| {
        e.add_entry(&NewEntry {
            guild_id: 1,
            user_id: 5,
            category: "Dev".into(),
            start: Timestamp::parse(s).unwrap(),
            end: Timestamp::parse(t).unwrap(),
            ..Default::default()
        })
    };
    add("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z").unwrap();
    // Strictly inside, and at either end: all empty, none overlaps.
    add("2026-12-01T09:30:00Z", "2026-12-01T09:30:00Z").unwrap();
    add("2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z").unwrap();
    add("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z").unwrap();
    add("2026-12-01T11:30:00Z", "2026-12-01T11:30:00Z").unwrap();
    // A longer entry around an empty one is not refused for it.
    add("2026-12-01T11:00:00Z", "2026-12-01T12:00:00Z").unwrap();
    // Real overlaps still are.
    assert_eq!(add("2026-12-01T09:59:00Z", "2026-12-01T10:30:00Z").unwrap_err().code(), "SESSION_OVERLAP");
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 7200);
}

#[test]
fn open_refuses_an_empty_path_and_says_why_a_file_cannot_be_opened() {
    let err = Engine::open("").unwrap_err();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("path")));
    let dir = temp_dir("open");
    let missing = dir.join("no-such-folder").join("x.db");
    let msg = Engine::open(&missing).unwrap_err().to_string();
    assert!(msg.contains("no such directory") && msg.contains("no-such-folder"), "{msg}");
    let msg = Engine::open(&dir).unwrap_err().to_string();
    assert!(msg.contains("directory") && msg.contains(dir.to_str().unwrap()), "{msg}");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"not a database, only text ".repeat(200)).unwrap();
    let msg = Engine::open(&junk).unwrap_err().to_string();
    assert!(msg.contains("not a database") && msg.contains("junk.db"), "{msg}");
    let newer = dir.join("newer.db");
    drop(Engine::open(&newer).unwrap());
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    let msg = Engine::open(&newer).unwrap_err().to_string();
    assert!(msg.contains("newer than this engine") && msg.contains("newer.db"), "{msg}");
}

#[test]
fn durability_is_normal_or_full() {
    let dir = temp_dir("durability");
    let e = Engine::open(dir.join("d.db")).unwrap();
    assert_eq!(e.call("set_durability", json!({"mode": "full"})).unwrap(), json!({"durability": "full"}));
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    assert_eq!(e.set_durability("normal").unwrap(), "normal");
    let err = e.set_durability("paranoid").unwrap_err();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("mode")));
}

#[test]
fn coding_breakdowns_add_up_to_their_total_and_leave_out_empty_items() {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(ms("2026-12-01T18:00:00Z"))).unwrap();
    let t0 = ms("2026-12-01T09:00:00Z") as f64 / 1000.0;
    // Three languages each credited 0.6 s..: floored separately they lose seconds.
    let beats = json!([
        {"entity": "a", "time": t0, "language": "Rust"},
        {"entity": "b", "time": t0 + 1.6, "language": "Go"},
        {"entity": "c", "time": t0 + 3.2, "language": "Zig"},
        {"entity": "d", "time": t0 + 4.8, "language": "C"},
        {"entity": "e", "time": t0 + 5.1, "language": "Rust"}
    ]);
    e.ingest_heartbeats(&HeartbeatBatch { guild_id: 1, user_id: 9, heartbeats: beats, ..Default::default() }).unwrap();
    let s = e.coding_stats(&UserWindow { guild_id: 1, user_id: 9, ..Default::default() }).unwrap();
    let total = s["total_seconds"].as_i64().unwrap();
    assert_eq!(total, 5);
    for dim in ["languages", "projects", "editors", "operating_systems", "machines", "categories"] {
        let items = s[dim].as_array().unwrap();
        assert_eq!(items.iter().map(|x| x["seconds"].as_i64().unwrap()).sum::<i64>(), total, "{dim}: {items:?}");
        assert!(items.iter().all(|x| x["seconds"].as_i64().unwrap() > 0), "{dim}: {items:?}");
    }
    // C was credited 0.3 s: it rounds to nothing and is left out.
    assert!(s["languages"].as_array().unwrap().iter().all(|x| x["name"] != "C"), "{s}");
}

#[test]
fn the_bounded_overlap_check_agrees_with_a_brute_force() {
    // Entries of one user with random starts and lengths (some empty, some days long), with
    // deletes between: the engine's SESSION_OVERLAP must match a check against every stored
    // entry, though the engine reads only the guild's longest session back from the start.
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(ms("2026-12-01T00:00:00Z"))).unwrap();
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let base = ms("2026-01-01T00:00:00Z");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as i64
    };
    let mut stored: Vec<(String, i64, i64)> = Vec::new();
    for _ in 0..600 {
        if !stored.is_empty() && rnd(4) == 0 {
            let (id, ..) = stored.swap_remove(rnd(stored.len() as u64) as usize);
            e.delete_session(1, &id).unwrap();
            continue;
        }
        let start = base + rnd(60 * 86_400) * 1000;
        let len = match rnd(4) {
            0 => 0,
            1 => rnd(3 * 86_400) * 1000,
            _ => rnd(4 * 3600) * 1000,
        };
        let end = start + len;
        let clash = len > 0 && stored.iter().any(|(_, s, t)| t > s && *s < end && *t > start);
        let r = e.add_entry(&NewEntry {
            guild_id: 1,
            user_id: 5,
            category: "Dev".into(),
            start: Timestamp(start),
            end: Timestamp(end),
            ..Default::default()
        });
        match r {
            Ok(s) => {
                assert!(!clash, "accepted an overlapping entry {start}..{end}");
                stored.push((s.id, start, end));
            }
            Err(err) => {
                assert_eq!(err.code(), "SESSION_OVERLAP");
                assert!(clash, "refused a free slot {start}..{end}");
            }
        }
    }
    assert!(stored.len() > 20);
}
