//! Keys and tenants: every path by which a key could act outside its guild, tier or lifetime is
//! tried and refused (mint, update, rotate, revoke, expiry, parent changes, both limiters,
//! several engines on one file), plus the correctness regressions found with them: key parsing
//! that never panics, limits that cannot overflow, a concurrent first open, the longest-session
//! bound, heartbeat neighbourhoods, future end times, redacted `Debug`, checked instants, one
//! rounding path and the sub-key depth.

use std::sync::Arc;

use serde_json::json;
use timeledger::*;

const MASTER: &str = "security-master-key-000";
const NOON: &str = "2026-08-20T12:00:00Z";

fn ms(s: &str) -> i64 {
    Timestamp::parse(s).unwrap().millis()
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-security-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sec.db")
}

fn engine_at(path: &str) -> Engine {
    let e = Engine::open(path).unwrap();
    e.set_now(Some(ms(NOON))).unwrap();
    e.set_master_key(MASTER).unwrap();
    e
}

fn generate(e: &Engine, guild: i64, tier: &str) -> NewKey {
    e.generate_key(&GenerateKey {
        guild_id: guild,
        admin_user_id: 1,
        master_key: MASTER.into(),
        tier: Some(tier.into()),
        ..Default::default()
    })
    .unwrap()
}

fn mint(e: &Engine, parent: &str, guild: i64, tier: Option<&str>) -> Result<NewKey> {
    e.mint_sub_key(&MintSubKey {
        parent_key: parent.into(),
        guild_id: guild,
        tier: tier.map(Into::into),
        ..Default::default()
    })
}

fn auth(e: &Engine, key: &str, guild: i64, action: &str) -> Result<Grant> {
    e.authorize(&AuthorizeRequest { api_key: key.into(), guild_id: guild, action: action.into(), target_user_id: None })
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    r.unwrap_err().code()
}

/// The default tiers plus a host tier of rank 0 that works in every guild.
fn with_everywhere_tier(e: &Engine) {
    let mut tiers = e.tiers().unwrap();
    tiers.push(TierDef {
        name: "EVERYWHERE".into(),
        rank: 0,
        per_minute: Some(100),
        per_hour: None,
        per_day: None,
        permissions: vec!["read_status".into()],
        all_guilds: true,
    });
    e.set_tiers(&tiers).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 1. Sub-keys stay inside their parent's guild, tier and permissions.

#[test]
fn a_sub_key_of_an_all_guilds_tier_cannot_be_minted_under_a_guild_key() {
    let e = engine_at(":memory:");
    with_everywhere_tier(&e);
    let ent = generate(&e, 1, "ENTERPRISE");
    assert_eq!(code(mint(&e, &ent.api_key, 1, Some("EVERYWHERE"))), "FORBIDDEN");
}

#[test]
fn a_sub_key_is_refused_wherever_an_ancestor_is_out_of_scope() {
    let e = engine_at(":memory:");
    with_everywhere_tier(&e);
    let ent = generate(&e, 1, "ENTERPRISE");
    let sub = mint(&e, &ent.api_key, 1, Some("SUPPORTER")).unwrap();
    // Forge what an older engine allowed: the sub-key's own tier works everywhere.
    let path = temp_db("forge");
    let file = engine_at(path.to_str().unwrap());
    with_everywhere_tier(&file);
    let fent = generate(&file, 1, "ENTERPRISE");
    let fsub = mint(&file, &fent.api_key, 1, Some("SUPPORTER")).unwrap();
    drop(file);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE api_keys SET tier = 'EVERYWHERE' WHERE key_id = ?1", [&fsub.key_id])
        .unwrap();
    let file = Engine::open(&path).unwrap();
    file.set_now(Some(ms(NOON))).unwrap();
    assert_eq!(code(auth(&file, &fsub.api_key, 777, "read_status")), "WRONG_GUILD");
    assert_eq!(code(auth(&file, &fent.api_key, 777, "read_status")), "WRONG_GUILD");
    assert!(auth(&file, &fsub.api_key, 1, "read_status").is_ok());
    assert_eq!(code(auth(&e, &sub.api_key, 777, "read_status")), "WRONG_GUILD");
}

#[test]
fn update_key_cannot_raise_a_sub_key_above_its_parent() {
    let e = engine_at(":memory:");
    let ent = generate(&e, 1, "ENTERPRISE");
    let sub = mint(&e, &ent.api_key, 1, Some("SUPPORTER")).unwrap();
    assert_eq!(code(e.update_key(&sub.key_id, Some("ADMIN"), None)), "FORBIDDEN");
    assert_eq!(code(auth(&e, &sub.api_key, 777, "read_status")), "WRONG_GUILD");
    assert_eq!(e.update_key(&sub.key_id, Some("PREMIUM"), None).unwrap().tier, "PREMIUM");
    // A root key is the host's to re-tier.
    assert_eq!(e.update_key(&ent.key_id, Some("ADMIN"), None).unwrap().tier, "ADMIN");
}

#[test]
fn a_sub_key_cannot_take_a_higher_tier_or_a_wider_permission_or_outlive_its_parent() {
    let e = engine_at(":memory:");
    let prem_parent = generate(&e, 1, "ENTERPRISE");
    let sub = e
        .mint_sub_key(&MintSubKey {
            parent_key: prem_parent.api_key.clone(),
            guild_id: 1,
            tier: Some("SUPPORTER".into()),
            permissions: Some(vec!["read_status".into()]),
            expires_at: Some(Timestamp(ms("2026-08-21T12:00:00Z"))),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(code(mint(&e, &sub.api_key, 1, Some("ENTERPRISE"))), "FORBIDDEN");
    assert_eq!(code(auth(&e, &sub.api_key, 1, "read_leaderboard")), "FORBIDDEN");
    e.set_now(Some(ms("2026-08-21T12:00:00Z"))).unwrap();
    assert_eq!(code(auth(&e, &sub.api_key, 1, "read_status")), "KEY_EXPIRED");
}

#[test]
fn rotating_or_revoking_a_parent_carries_its_sub_keys_along() {
    let e = engine_at(":memory:");
    let ent = generate(&e, 1, "ENTERPRISE");
    let sub = mint(&e, &ent.api_key, 1, Some("PREMIUM")).unwrap();
    let new = e.rotate_key(&ent.key_id, 0).unwrap();
    assert_eq!(code(auth(&e, &ent.api_key, 1, "read_status")), "KEY_REVOKED");
    assert!(auth(&e, &sub.api_key, 1, "read_status").is_ok());
    assert_eq!(code(auth(&e, &sub.api_key, 2, "read_status")), "WRONG_GUILD");
    e.revoke_key(&new.key_id).unwrap();
    assert_eq!(code(auth(&e, &sub.api_key, 1, "read_status")), "KEY_REVOKED");
}

// ---------------------------------------------------------------------------------------------
// 2. Key parsing never panics and never echoes the key.

#[test]
fn a_key_with_a_multibyte_character_at_the_checksum_cut_is_refused_not_a_panic() {
    let e = engine_at(":memory:");
    let key = format!("tk_live_{}é{}", "a".repeat(42), "b".repeat(5));
    assert_eq!(key.len(), 57);
    let err = auth(&e, &key, 1, "read_status").unwrap_err();
    assert_eq!(err.code(), "INVALID_API_KEY");
    assert!(!format!("{err} {err:?}").contains("aaaaaaaa"), "the error must not echo the key");
    let out = e.call_json("authorize", &json!({"api_key": key, "guild_id": 1, "action": "read_status"}).to_string());
    assert_eq!(out.unwrap_err().code(), "INVALID_API_KEY");
    for bad in ["é", "_live_", "tl_live_", "waka_", "é_live_aaaa", "tl_test_ééééééééééééééééééééééééééééé", "\u{0}"]
    {
        assert!(auth(&e, bad, 1, "read_status").is_err());
        assert!(auth(&e, &format!("{bad}{}", "é".repeat(40)), 1, "read_status").is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The in-memory limiter sees changes made by any process.

/// Waits out the in-memory limiter's documented refresh bound.
fn after_refresh() {
    std::thread::sleep(std::time::Duration::from_millis(MEMORY_LIMITER_REFRESH_MS + 20));
}

fn two_engines(name: &str) -> (Engine, Engine) {
    let path = temp_db(name);
    let b = engine_at(path.to_str().unwrap());
    let a = Engine::open(&path).unwrap();
    a.set_now(Some(ms(NOON))).unwrap();
    a.set_rate_limiter("memory").unwrap();
    (a, b)
}

#[test]
fn a_memory_limiter_sees_a_revocation_made_by_another_engine() {
    let (a, b) = two_engines("revoke");
    let k = generate(&b, 1, "ENTERPRISE");
    assert!(auth(&a, &k.api_key, 1, "read_status").is_ok());
    b.revoke_key(&k.key_id).unwrap();
    after_refresh();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_status")), "KEY_REVOKED");
}

#[test]
fn a_memory_limiter_sees_a_parent_revoked_elsewhere() {
    let (a, b) = two_engines("parent");
    let parent = generate(&b, 1, "ENTERPRISE");
    let sub = mint(&b, &parent.api_key, 1, Some("PREMIUM")).unwrap();
    assert!(auth(&a, &sub.api_key, 1, "read_status").is_ok());
    b.revoke_key(&parent.key_id).unwrap();
    after_refresh();
    assert_eq!(code(auth(&a, &sub.api_key, 1, "read_status")), "KEY_REVOKED");
}

#[test]
fn a_memory_limiter_sees_a_downgrade_and_a_rotation_grace_ending() {
    let (a, b) = two_engines("downgrade");
    let k = generate(&b, 1, "ENTERPRISE");
    assert_eq!(auth(&a, &k.api_key, 1, "manage_categories").unwrap().tier, "ENTERPRISE");
    b.update_key(&k.key_id, Some("SUPPORTER"), None).unwrap();
    after_refresh();
    assert_eq!(code(auth(&a, &k.api_key, 1, "manage_categories")), "FORBIDDEN");
    assert_eq!(auth(&a, &k.api_key, 1, "read_status").unwrap().tier, "SUPPORTER");
    b.rotate_key(&k.key_id, 60).unwrap();
    after_refresh();
    assert!(auth(&a, &k.api_key, 1, "read_status").is_ok());
    a.set_now(Some(ms(NOON) + 60_000)).unwrap();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_status")), "KEY_REVOKED");
}

#[test]
fn a_memory_limiter_sees_a_tier_table_change_and_an_expiry() {
    let (a, b) = two_engines("tiers");
    let k = b
        .generate_key(&GenerateKey {
            guild_id: 1,
            admin_user_id: 1,
            master_key: MASTER.into(),
            tier: Some("PREMIUM".into()),
            expires_at: Some(Timestamp(ms(NOON) + 1000)),
            ..Default::default()
        })
        .unwrap();
    assert!(auth(&a, &k.api_key, 1, "read_reports").is_ok());
    let mut tiers = b.tiers().unwrap();
    for t in &mut tiers {
        if t.name == "PREMIUM" {
            t.permissions.retain(|p| p != "read_reports");
        }
    }
    b.set_tiers(&tiers).unwrap();
    after_refresh();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_reports")), "FORBIDDEN");
    a.set_now(Some(ms(NOON) + 1000)).unwrap();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_status")), "KEY_EXPIRED");
}

#[test]
fn a_change_made_with_plain_sql_is_seen_too() {
    let path = temp_db("sql");
    let b = engine_at(path.to_str().unwrap());
    let k = generate(&b, 1, "PREMIUM");
    let a = Engine::open(&path).unwrap();
    a.set_now(Some(ms(NOON))).unwrap();
    a.set_rate_limiter("memory").unwrap();
    assert!(auth(&a, &k.api_key, 1, "read_status").is_ok());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE api_keys SET revoked_at = 0 WHERE key_id = ?1", [&k.key_id])
        .unwrap();
    after_refresh();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_status")), "KEY_REVOKED");
}

#[test]
fn the_shared_limiter_s_key_cache_sees_every_change_made_elsewhere_at_once() {
    // The shared limiter keeps key chains in the process too, checked against the key-state
    // counter inside each decision's transaction: a change by another engine (or plain SQL) is
    // seen by the very next call, with no refresh period.
    let path = temp_db("shared-cache");
    let b = engine_at(path.to_str().unwrap());
    let a = Engine::open(&path).unwrap();
    a.set_now(Some(ms(NOON))).unwrap();
    let k = generate(&b, 1, "ENTERPRISE");
    assert!(auth(&a, &k.api_key, 1, "manage_categories").is_ok());
    b.update_key(&k.key_id, Some("PREMIUM"), None).unwrap();
    assert_eq!(code(auth(&a, &k.api_key, 1, "manage_categories")), "FORBIDDEN");
    assert!(auth(&a, &k.api_key, 1, "read_reports").is_ok());
    let mut tiers = b.tiers().unwrap();
    for t in &mut tiers {
        if t.name == "PREMIUM" {
            t.permissions.retain(|p| p != "read_reports");
        }
    }
    b.set_tiers(&tiers).unwrap();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_reports")), "FORBIDDEN");
    // A parent revoked elsewhere refuses its sub-key.
    let parent = generate(&b, 1, "ENTERPRISE");
    let sub = mint(&b, &parent.api_key, 1, Some("PREMIUM")).unwrap();
    assert!(auth(&a, &sub.api_key, 1, "read_status").is_ok());
    b.revoke_key(&parent.key_id).unwrap();
    assert_eq!(code(auth(&a, &sub.api_key, 1, "read_status")), "KEY_REVOKED");
    // Rotation: the old key works through its grace, then not.
    b.rotate_key(&k.key_id, 60).unwrap();
    assert!(auth(&a, &k.api_key, 1, "read_status").is_ok());
    a.set_now(Some(ms(NOON) + 60_000)).unwrap();
    assert_eq!(code(auth(&a, &k.api_key, 1, "read_status")), "KEY_REVOKED");
    // Plain SQL.
    a.set_now(Some(ms(NOON))).unwrap();
    let other = generate(&b, 1, "PREMIUM");
    assert!(auth(&a, &other.api_key, 1, "read_status").is_ok());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE api_keys SET revoked_at = 0 WHERE key_id = ?1", [&other.key_id])
        .unwrap();
    assert_eq!(code(auth(&a, &other.api_key, 1, "read_status")), "KEY_REVOKED");
}

// ---------------------------------------------------------------------------------------------
// 4. Limits cannot overflow, and are bounded where they are set.

#[test]
fn huge_tier_limits_are_refused_at_set_tiers() {
    let e = engine_at(":memory:");
    let mut tiers = e.tiers().unwrap();
    tiers[0].per_day = Some(120_000_000_000);
    assert_eq!(code(e.set_tiers(&tiers)), "INVALID_INPUT");
    tiers[0].per_day = Some(MAX_TIER_LIMIT);
    e.set_tiers(&tiers).unwrap();
    let k = generate(&e, 1, &tiers[0].name);
    assert!(auth(&e, &k.api_key, 1, "read_status").is_ok());
}

// ---------------------------------------------------------------------------------------------
// 5. A fresh file opened by many at once.

#[test]
fn sixteen_threads_opening_a_new_file_at_once_all_succeed() {
    for round in 0..3 {
        let path = Arc::new(temp_db(&format!("open{round}")));
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    Engine::open(path.as_path()).map(|e| e.schema_version().unwrap())
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), SCHEMA_VERSION);
        }
        let e = Engine::open(path.as_path()).unwrap();
        assert_eq!(e.tiers().unwrap().len(), 4, "tiers seeded exactly once");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The longest-session bound follows deletes and edits; entries have a maximum length.

#[test]
fn deleting_a_very_long_entry_lowers_the_bound_again() {
    let e = engine_at(":memory:");
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let entry = |start: &str, end: &str| NewEntry {
        guild_id: 1,
        user_id: 5,
        category: "Dev".into(),
        start: Timestamp::parse(start).unwrap(),
        end: Timestamp::parse(end).unwrap(),
        ..Default::default()
    };
    assert_eq!(code(e.add_entry(&entry("1000-01-01T00:00:00Z", "9999-01-01T00:00:00Z"))), "INVALID_INPUT");
    let long = e.add_entry(&entry("2025-08-01T00:00:00Z", "2026-08-01T00:00:00Z")).unwrap();
    e.add_entry(&entry("2026-08-19T09:00:00Z", "2026-08-19T10:00:00Z")).unwrap();
    let five = e.add_entry(&entry("2026-08-20T09:00:00Z", "2026-08-20T14:00:00Z")).unwrap();
    let bound = || e.guild_settings(1).map(|_| ()).and_then(|_| e.call("guild_settings", json!({"guild_id": 1})));
    bound().unwrap();
    let longest = |name: &str| -> i64 {
        let path = temp_db(name);
        e.backup_to(&path).unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT longest_session_ms FROM guilds WHERE guild_id = 1", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(longest("bound0"), 365 * 86_400_000);
    // The year-long entry gone, the bound is the longest left (five hours)...
    e.delete_session(1, &long.id).unwrap();
    assert_eq!(longest("bound1"), 5 * 3_600_000);
    // ... and with none longer than four hours left, four hours: the length index holds only
    // longer sessions, and the bound stays at least every length (here one hour).
    e.delete_session(1, &five.id).unwrap();
    assert_eq!(longest("bound2"), 4 * 3_600_000);
    let board = e.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some("week".into()), ..Default::default() });
    assert_eq!(board.unwrap().leaderboard[0].total_seconds, 3600);
}

// ---------------------------------------------------------------------------------------------
// 7. A bulk spanning months reads only the neighbourhoods of its heartbeats.

#[test]
fn heartbeats_months_apart_in_one_bulk_count_as_separately_sent_ones() {
    let e = engine_at(":memory:");
    let day = 86_400i64;
    let t0 = ms("2026-01-05T10:00:00Z") / 1000;
    // History in between: 200 days with two heartbeats 5 minutes apart.
    let history: Vec<_> = (1..200)
        .flat_map(|d| {
            [json!({"entity": "h.rs", "time": t0 + d * day}), json!({"entity": "h.rs", "time": t0 + d * day + 300})]
        })
        .collect();
    e.ingest_heartbeats(&HeartbeatBatch { guild_id: 1, user_id: 9, heartbeats: json!(history), ..Default::default() })
        .unwrap();
    let before = e.coding_stats(&UserWindow { guild_id: 1, user_id: 9, ..Default::default() }).unwrap();
    assert_eq!(before["total_seconds"].as_f64().unwrap(), 199.0 * 300.0);
    // One offline bulk: a heartbeat a minute after two history points 208 days apart.
    let bulk = json!([{"entity": "a.rs", "time": t0 + day + 60}, {"entity": "a.rs", "time": t0 + 199 * day + 60}]);
    e.ingest_heartbeats(&HeartbeatBatch { guild_id: 1, user_id: 9, heartbeats: bulk, ..Default::default() }).unwrap();
    let after = e.coding_stats(&UserWindow { guild_id: 1, user_id: 9, ..Default::default() }).unwrap();
    // Each new heartbeat splits a 300 s pair into 60 + 240: totals unchanged, languages unchanged.
    assert_eq!(after["total_seconds"], before["total_seconds"]);
}

// ---------------------------------------------------------------------------------------------
// 8. A running session cannot be closed in the future.

#[test]
fn update_session_cannot_close_a_running_session_in_the_future() {
    let e = engine_at(":memory:");
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let r = e
        .clock_in(&ClockIn {
            guild_id: 1,
            user_id: 5,
            category: "Dev".into(),
            at: Some(Timestamp(ms("2026-08-20T11:00:00Z"))),
            ..Default::default()
        })
        .unwrap();
    let future = SessionUpdate {
        guild_id: 1,
        session_id: r.session_id.clone(),
        end: Some(Timestamp(ms("2026-08-21T00:00:00Z"))),
        ..Default::default()
    };
    let err = e.update_session(&future).unwrap_err();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("end")));
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 3600);
}

// ---------------------------------------------------------------------------------------------
// 9. Debug never prints a key.

#[test]
fn debug_output_of_key_arguments_and_results_holds_no_key() {
    let e = engine_at(":memory:");
    let k = generate(&e, 1, "ENTERPRISE");
    let gen = GenerateKey { master_key: MASTER.into(), ..Default::default() };
    let m = MintSubKey { parent_key: k.api_key.clone(), ..Default::default() };
    let a = AuthorizeRequest { api_key: k.api_key.clone(), ..Default::default() };
    let mut s = KeySources::default();
    s.headers.insert("X-API-Key".into(), k.api_key.clone());
    let printed = format!("{gen:?} {m:?} {a:?} {s:?} {k:?}");
    assert!(!printed.contains(MASTER), "{printed}");
    assert!(!printed.contains(&k.api_key), "{printed}");
    assert!(printed.contains(&k.key_id));
}

// ---------------------------------------------------------------------------------------------
// 10. Every Rust entry point checks its instants.

#[test]
fn out_of_range_instants_are_invalid_input_everywhere() {
    let e = engine_at(":memory:");
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    let bad = Timestamp::from_secs(i64::MIN);
    let err = e
        .clock_in(&ClockIn { guild_id: 1, user_id: 5, category: "Dev".into(), at: Some(bad), ..Default::default() })
        .unwrap_err();
    assert_eq!((err.code(), err.field()), ("INVALID_INPUT", Some("at")));
    let entry = NewEntry {
        guild_id: 1,
        user_id: 5,
        category: "Dev".into(),
        start: bad,
        end: Timestamp(0),
        ..Default::default()
    };
    assert_eq!(code(e.add_entry(&entry)), "INVALID_INPUT");
    let q = LeaderboardQuery {
        guild_id: 1,
        from: Some(Timestamp(i64::MAX)),
        to: Some(Timestamp(i64::MAX)),
        ..Default::default()
    };
    assert_eq!(code(e.leaderboard(&q)), "INVALID_INPUT");
    let gk = GenerateKey { master_key: MASTER.into(), expires_at: Some(Timestamp(i64::MAX)), ..Default::default() };
    assert_eq!(code(e.generate_key(&gk)), "INVALID_INPUT");
    // set_now refuses what it cannot represent, and the clock stays frozen where it was.
    assert_eq!(code(e.set_now(Some(i64::MIN))), "INVALID_INPUT");
    assert_eq!(e.now_ms(), ms(NOON));
}

// ---------------------------------------------------------------------------------------------
// 11. One rounding path: leaderboard and report agree with a sub-second "now".

#[test]
fn leaderboard_and_report_agree_to_the_second_with_a_sub_second_now() {
    let e = engine_at(":memory:");
    e.set_now(Some(ms("2026-08-20T14:00:00.375Z"))).unwrap();
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
    e.add_entry(&NewEntry {
        guild_id: 1,
        user_id: 5,
        category: "Dev".into(),
        start: Timestamp(ms("2026-08-18T00:00:00Z")),
        end: Timestamp(ms("2026-08-20T13:00:00Z")),
        ..Default::default()
    })
    .unwrap();
    let tf = Some("last_24_hours".to_string());
    let board = e.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: tf.clone(), ..Default::default() }).unwrap();
    let report = e.report(&ReportQuery { guild_id: 1, timeframe: tf, ..Default::default() }).unwrap();
    assert_eq!(board.leaderboard[0].total_seconds, report.total_seconds);
    assert_eq!(report.total_seconds, 86_400 - 3600);
}

// ---------------------------------------------------------------------------------------------
// 12. Sub-key depth is checked at mint.

#[test]
fn sub_keys_nest_at_most_to_the_chain_limit_and_deeper_mints_are_a_4xx() {
    let e = engine_at(":memory:");
    let mut key = generate(&e, 1, "ENTERPRISE").api_key;
    for _ in 1..MAX_KEY_CHAIN {
        key = mint(&e, &key, 1, None).unwrap().api_key;
        assert!(auth(&e, &key, 1, "read_status").is_ok());
    }
    let err = mint(&e, &key, 1, None).unwrap_err();
    assert_eq!((err.code(), err.status()), ("INVALID_INPUT", 400));
    assert!(auth(&e, &key, 1, "read_status").is_ok());
}

/// Editing one session is an action on that session's user, under both limiters: a tier that
/// writes only admins' sessions may touch an admin's and no one else's, another guild's key is
/// refused before the session is looked up, and a session that does not exist is
/// `SESSION_NOT_FOUND` only for a key that passed every other check.
#[test]
fn a_session_s_own_user_decides_who_may_edit_it() {
    for limiter in ["shared", "memory"] {
        let e = engine_at(":memory:");
        e.set_rate_limiter(limiter).unwrap();
        e.upsert_user(&UserInput {
            user_id: 1,
            username: "admin".into(),
            guild_id: Some(1),
            is_admin: Some(true),
            ..Default::default()
        })
        .unwrap();
        e.upsert_user(&UserInput { user_id: 2, username: "worker".into(), guild_id: Some(1), ..Default::default() })
            .unwrap();
        e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() }).unwrap();
        let entry = |user: i64, hour: u32| {
            e.add_entry(&NewEntry {
                guild_id: 1,
                user_id: user,
                category: "Dev".into(),
                start: Timestamp(ms(&format!("2026-08-20T{hour:02}:00:00Z"))),
                end: Timestamp(ms(&format!("2026-08-20T{hour:02}:30:00Z"))),
                ..Default::default()
            })
            .unwrap()
            .id
        };
        let (admins, workers) = (entry(1, 8), entry(2, 9));
        let premium = generate(&e, 1, "PREMIUM").api_key;
        let supporter = generate(&e, 1, "SUPPORTER").api_key;
        let elsewhere = generate(&e, 2, "ENTERPRISE").api_key;
        let on = |key: &str, guild: Option<i64>, id: &str| e.authorize_on_session(key, guild, "write_sessions", id);
        assert_eq!(on(&premium, Some(1), &admins).unwrap().guild_id, 1, "{limiter}");
        assert!(matches!(on(&premium, None, &admins), Ok(g) if g.guild_id == 1));
        assert!(matches!(on(&premium, Some(1), &workers), Err(Error::Forbidden(_))), "{limiter}");
        assert!(matches!(on(&premium, Some(1), "ses_missing"), Err(Error::SessionNotFound(_))));
        assert!(matches!(on(&supporter, Some(1), "ses_missing"), Err(Error::Forbidden(_))));
        assert!(matches!(on(&elsewhere, Some(1), &workers), Err(Error::WrongGuild)));
        assert!(matches!(on("tl_live_nope", Some(1), &workers), Err(Error::InvalidApiKey)));
    }
}
