//! API keys: budgets shared with parents, all-or-nothing windows, nothing in clear at rest, the
//! in-memory limiter, usage bookkeeping, and the limit holding across processes.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use timeledger::*;

mod common;

const MASTER: &str = "test-master-key-0123456789";

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-keys-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("keys.db")
}

fn tier(name: &str, rank: i64, per_minute: Option<i64>, per_hour: Option<i64>, perms: &[&str]) -> TierDef {
    TierDef {
        name: name.into(),
        rank,
        per_minute,
        per_hour,
        per_day: None,
        permissions: perms.iter().map(|s| s.to_string()).collect(),
        all_guilds: false,
    }
}

fn key(engine: &Engine, tier: &str) -> NewKey {
    engine
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 1,
            master_key: MASTER.into(),
            tier: Some(tier.into()),
            ..Default::default()
        })
        .unwrap()
}

fn auth(engine: &Engine, key: &str, action: &str) -> Result<Grant> {
    engine.authorize(&AuthorizeRequest {
        api_key: key.into(),
        guild_id: 1,
        action: action.into(),
        target_user_id: None,
    })
}

fn setup(engine: &Engine) {
    engine.set_now(Some(Timestamp::parse("2025-10-10T12:00:00Z").unwrap().millis())).unwrap();
    engine.set_master_key(MASTER).unwrap();
}

#[test]
fn sub_key_requests_count_against_the_parent_budget() {
    let e = Engine::open(":memory:").unwrap();
    setup(&e);
    e.set_tiers(&[
        tier("PARENT", 2, Some(4), None, &["read_status", "manage_keys"]),
        tier("CHILD", 1, Some(100), None, &["read_status"]),
    ])
    .unwrap();
    let parent = key(&e, "PARENT");
    let sub = e
        .mint_sub_key(&MintSubKey {
            parent_key: parent.api_key.clone(),
            guild_id: 1,
            tier: Some("CHILD".into()),
            ..Default::default()
        })
        .unwrap(); // spends 1 of 4
    assert_eq!(auth(&e, &sub.api_key, "read_status").unwrap().remaining, Some(2)); // the parent's window is the tightest
    auth(&e, &sub.api_key, "read_status").unwrap();
    auth(&e, &parent.api_key, "read_status").unwrap();
    let err = auth(&e, &sub.api_key, "read_status").unwrap_err();
    assert_eq!(err.code(), "RATE_001");
    assert_eq!(err.to_json()["tier"], "CHILD");
}

#[test]
fn a_refused_request_spends_nothing_from_any_window() {
    let e = Engine::open(":memory:").unwrap();
    setup(&e);
    e.set_tiers(&[
        tier("PARENT", 2, Some(10), None, &["read_status", "manage_keys"]),
        tier("CHILD", 1, Some(1), None, &["read_status"]),
    ])
    .unwrap();
    let parent = key(&e, "PARENT");
    let sub = e
        .mint_sub_key(&MintSubKey {
            parent_key: parent.api_key.clone(),
            guild_id: 1,
            tier: Some("CHILD".into()),
            ..Default::default()
        })
        .unwrap();
    auth(&e, &sub.api_key, "read_status").unwrap(); // parent: 2 of 10 spent
    for _ in 0..5 {
        assert_eq!(auth(&e, &sub.api_key, "read_status").unwrap_err().code(), "RATE_001");
    }
    // Refused by the child's own window: the parent's minute was not touched.
    assert_eq!(auth(&e, &parent.api_key, "read_status").unwrap().remaining, Some(7));
    // And the hour window is not spent when the minute refuses (all or nothing).
    e.set_tiers(&[
        tier("PARENT", 2, Some(10), None, &["read_status", "manage_keys"]),
        tier("CHILD", 1, Some(1), None, &["read_status"]),
        tier("BOTH", 3, Some(1), Some(5), &["read_status"]),
    ])
    .unwrap();
    let both = key(&e, "BOTH");
    assert_eq!(auth(&e, &both.api_key, "read_status").unwrap().window.as_deref(), Some("minute"));
    for _ in 0..3 {
        auth(&e, &both.api_key, "read_status").unwrap_err();
    }
    e.set_now(Some(Timestamp::parse("2025-10-10T12:05:00Z").unwrap().millis())).unwrap();
    let g = auth(&e, &both.api_key, "read_status").unwrap();
    assert_eq!(g.remaining, Some(0)); // minute: 1 - 1; the hour has 3 left, not 0
    assert_eq!(g.window.as_deref(), Some("minute"));
}

#[test]
fn no_key_or_master_key_is_stored_in_clear() {
    let path = temp_db("clear");
    let mut secrets = vec![MASTER.to_string()];
    {
        let e = Engine::open(&path).unwrap();
        setup(&e);
        for (t, form) in [("PREMIUM", "live"), ("ENTERPRISE", "test"), ("SUPPORTER", "uuid")] {
            let k = e
                .generate_key(&GenerateKey {
                    guild_id: 1,
                    admin_user_id: 1,
                    master_key: MASTER.into(),
                    tier: Some(t.into()),
                    form: Some(form.into()),
                    ..Default::default()
                })
                .unwrap();
            auth(&e, &k.api_key, "read_status").unwrap();
            let rotated = e.rotate_key(&k.key_id, 60).unwrap();
            secrets.push(k.api_key.clone());
            secrets.push(rotated.api_key);
        }
        let ent =
            e.list_keys(1).unwrap().into_iter().find(|k| k.tier == "ENTERPRISE" && k.replaced_by.is_none()).unwrap();
        assert!(serde_json::to_string(&ent).unwrap().find("hash").is_none());
    }
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let text = String::from_utf8_lossy(&bytes);
    for s in &secrets {
        // The whole key, and the secret part without its prefix, never appear.
        let secret_part = s.trim_start_matches("tl_live_").trim_start_matches("tl_test_").trim_start_matches("waka_");
        assert!(!text.contains(s.as_str()), "key found in clear");
        assert!(!text.contains(&secret_part[..24.min(secret_part.len())]), "key material found in clear");
    }
}

#[test]
fn the_in_memory_limiter_agrees_with_the_shared_one_and_sees_revocations() {
    let shared = Engine::open(":memory:").unwrap();
    let memory = Engine::open(":memory:").unwrap();
    memory.set_rate_limiter("memory").unwrap();
    let mut seen = vec![];
    for e in [&shared, &memory] {
        setup(e);
        let k = key(e, "SUPPORTER");
        let mut out = vec![];
        for i in 0..25 {
            e.set_now(Some(Timestamp::parse("2025-10-10T12:00:00Z").unwrap().millis() + i * 7_000)).unwrap();
            out.push(auth(e, &k.api_key, "read_status").map(|g| g.remaining).map_err(|x| x.code()));
        }
        e.revoke_key(&k.key_id).unwrap();
        out.push(auth(e, &k.api_key, "read_status").map(|g| g.remaining).map_err(|x| x.code()));
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].last().unwrap(), &Err("KEY_REVOKED"));
    assert!(matches!(memory.set_rate_limiter("redis"), Err(Error::InvalidInput { .. })));
}

#[test]
fn usage_is_counted_and_last_used_is_throttled() {
    let e = Engine::open(":memory:").unwrap();
    setup(&e);
    let k = key(&e, "PREMIUM");
    let t0 = Timestamp::parse("2025-10-10T12:00:00Z").unwrap().millis();
    for dt in [0, 1_000, 2_000] {
        e.set_now(Some(t0 + dt)).unwrap();
        auth(&e, &k.api_key, "read_status").unwrap();
    }
    let info = e.get_key(&k.key_id).unwrap();
    assert_eq!(info.request_count, 3);
    assert_eq!(info.last_used_at, Some(Timestamp(t0)));
    e.set_now(Some(t0 + 6_000)).unwrap();
    auth(&e, &k.api_key, "read_status").unwrap();
    assert_eq!(e.get_key(&k.key_id).unwrap().last_used_at, Some(Timestamp(t0 + 6_000)));
    // Refusals are not requests.
    auth(&e, &k.api_key, "manage_keys").unwrap_err();
    assert_eq!(e.get_key(&k.key_id).unwrap().request_count, 4);
}

#[test]
fn rotation_grace_never_outlives_the_old_key() {
    let e = Engine::open(":memory:").unwrap();
    setup(&e);
    let t0 = Timestamp::parse("2025-10-10T12:00:00Z").unwrap().millis();
    let k = e
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 1,
            master_key: MASTER.into(),
            expires_at: Some(Timestamp(t0 + 30_000)),
            ..Default::default()
        })
        .unwrap();
    let new = e.rotate_key(&k.key_id, 3600).unwrap();
    assert_eq!(e.get_key(&k.key_id).unwrap().grace_until, Some(Timestamp(t0 + 30_000)));
    assert_eq!(new.expires_at, Some(Timestamp(t0 + 30_000)));
    assert_eq!(e.rotate_key(&k.key_id, 10).unwrap_err().code(), "KEY_REVOKED");
}

/// Child side of the multi-process test: does nothing unless spawned by it.
#[test]
fn child_authorizer() {
    let (Ok(db), Ok(key), Ok(until)) =
        (std::env::var("TL_CHILD_DB"), std::env::var("TL_CHILD_KEY"), std::env::var("TL_CHILD_UNTIL"))
    else {
        return;
    };
    let until: i64 = until.parse().unwrap();
    let start: i64 = std::env::var("TL_CHILD_START").unwrap().parse().unwrap();
    let e = Engine::open(&db).unwrap();
    let mut lines = String::new();
    let mut attempts = 0u64;
    // Start together, so every process contends from the first request.
    while (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64) < start {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The engine reads the wall clock itself, inside its write lock; the call's instant lies
    // between `before` and `after`.
    let clock = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    loop {
        let before = clock();
        if before >= until {
            break;
        }
        attempts += 1;
        let result = auth(&e, &key, "read_status");
        let after = clock();
        match result {
            Ok(g) => lines.push_str(&format!("ok {before} {after} {}\n", g.remaining.unwrap())),
            Err(Error::RateLimited { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    lines.push_str(&format!("attempts {attempts}\n"));
    std::fs::write(std::env::var("TL_CHILD_OUT").unwrap(), lines).unwrap();
}

#[test]
fn the_limit_holds_across_processes_sharing_the_file() {
    // On a SQLite file, or (TIMELEDGER_TEST_POSTGRES) on one PostgreSQL database: each process
    // is then a host of its own with its own connection.
    const LIMIT: i64 = 25;
    const PROCS: usize = 4;
    let path = common::shared_database("procs");
    let e = Engine::open(&path).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.set_tiers(&[tier("BURST", 1, Some(LIMIT), None, &["read_status"])]).unwrap();
    let k = key(&e, "BURST");
    // Run until 3 s into the next minute: every process crosses a window boundary.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut boundary = (now / 60_000 + 1) * 60_000;
    if boundary - now < 5_000 {
        boundary += 60_000; // leave the children time to start before the boundary
    }
    let until = boundary + 3_000;
    let start = now + 1_500; // every child is running by then
    let exe = std::env::current_exe().unwrap();
    let out_dir = temp_db("procs-out");
    let outs: Vec<_> = (0..PROCS).map(|i| out_dir.with_file_name(format!("child{i}.txt"))).collect();
    let children: Vec<_> = outs
        .iter()
        .map(|out| {
            Command::new(&exe)
                .args(["--exact", "child_authorizer", "--test-threads=1"])
                .env("TL_CHILD_DB", &path)
                .env("TL_CHILD_KEY", &k.api_key)
                .env("TL_CHILD_UNTIL", until.to_string())
                .env("TL_CHILD_START", start.to_string())
                .env("TL_CHILD_OUT", out)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child process failed");
    }
    let mut per_window: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut straddling = 0;
    let mut attempts = vec![];
    for out in &outs {
        let text = std::fs::read_to_string(out).unwrap();
        let last = text.lines().last().unwrap_or_default();
        attempts.push(last.trim_start_matches("attempts ").parse::<u64>().unwrap_or(0));
        for line in text.lines().filter(|l| l.starts_with("ok ")) {
            let parts: Vec<i64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
            let (before, after, remaining) = (parts[0], parts[1], parts[2]);
            if before / 60_000 == after / 60_000 {
                per_window.entry(before / 60_000).or_default().push(remaining);
            } else {
                straddling += 1; // a call across the boundary cannot be placed in one window
            }
        }
    }
    assert!(per_window.len() >= 2, "the run must span a window boundary: {per_window:?}");
    assert!(straddling <= PROCS, "at most one call per process can straddle the boundary: {straddling}");
    for (w, remaining) in &per_window {
        assert!(remaining.len() as i64 <= LIMIT, "window {w} admitted {} > {LIMIT}", remaining.len());
    }
    // The first window starts fresh: its admissions saw LIMIT-1, LIMIT-2, ... each exactly once.
    let (_, first) = per_window.iter().next().unwrap();
    let mut sorted = first.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<i64> = (0..first.len() as i64).map(|i| LIMIT - 1 - i).collect();
    assert_eq!(sorted, expected, "remaining counts seen across processes are inconsistent");
    assert_eq!(first.len() as i64, LIMIT, "processes racing for a whole window should use all of it");
    // Every process contended for the whole run (which of them wins a slot is up to the lock).
    assert!(attempts.iter().all(|&n| n > 100), "every process made requests: {attempts:?}");
}
