//! `import_entries`: history in batches, with every rule of a single entry, all or nothing.

mod common;

use serde_json::{json, Value};
use timeledger::*;

/// A new engine (on PostgreSQL when `TIMELEDGER_TEST_POSTGRES` is set) with a category and an
/// archived one.
fn engine(name: &str) -> Engine {
    let e = common::fresh_engine(&format!("import_{name}"));
    e.set_now(Some(Timestamp::parse("2026-06-01T00:00:00Z").unwrap().millis())).unwrap();
    e.call("create_category", json!({"guild_id": 1, "name": "Dev"})).unwrap();
    e.call("create_category", json!({"guild_id": 1, "name": "Old"})).unwrap();
    e.call("archive_category", json!({"guild_id": 1, "name": "Old"})).unwrap();
    e
}

fn entry(user: i64, start: &str, end: &str) -> Value {
    json!({"user_id": user, "category": "Dev", "start": start, "end": end})
}

fn import(e: &Engine, entries: Vec<Value>) -> Value {
    e.call("import_entries", json!({"guild_id": 1, "entries": entries})).unwrap()
}

#[test]
fn a_batch_is_stored_whole_with_the_same_totals_as_single_entries() {
    let (bulk, single) = (engine("a_batch_is_stored_wh_bulk"), engine("a_batch_is_stored_wh_single"));
    let entries: Vec<Value> = (0..300)
        .map(|i| {
            let day = 1 + i % 28;
            let user = 10 + i / 28;
            entry(user, &format!("2026-03-{day:02}T09:00:00Z"), &format!("2026-03-{day:02}T10:15:00Z"))
        })
        .collect();
    let r = import(&bulk, entries.clone());
    assert_eq!((r["imported"].as_u64(), r["errors"].as_array().unwrap().len()), (Some(300), 0));
    assert_eq!(r["session_ids"].as_array().unwrap().len(), 300);
    for mut e in entries {
        e["guild_id"] = json!(1);
        single.call("add_entry", e).unwrap();
    }
    for (op, args) in [
        ("guild_status", json!({"guild_id": 1})),
        ("leaderboard", json!({"guild_id": 1, "timeframe": "all"})),
        ("report", json!({"guild_id": 1, "timeframe": "all", "group_by": ["user", "day"]})),
        ("list_categories", json!({"guild_id": 1})),
    ] {
        assert_eq!(bulk.call(op, args.clone()).unwrap(), single.call(op, args).unwrap(), "{op}");
    }
}

#[test]
fn one_refused_entry_stores_nothing_and_every_refusal_is_named() {
    let e = engine("one_refused_entry_stores");
    import(&e, vec![entry(2, "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z")]);
    let r = import(
        &e,
        vec![
            entry(2, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), // fine
            entry(2, "2026-03-01T09:30:00Z", "2026-03-01T09:45:00Z"), // overlaps a stored one
            json!({"user_id": 2, "category": "Nope", "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T10:00:00Z"}),
            json!({"user_id": 2, "category": "Old", "start": "2026-03-04T09:00:00Z", "end": "2026-03-04T10:00:00Z"}),
            entry(2, "2026-03-05T10:00:00Z", "2026-03-05T09:00:00Z"), // ends before it starts
            json!({"user_id": 2, "category": "Dev", "start": "2026-03-06T09:00:00Z"}), // no end
            json!({"user_id": 2, "category": "Dev", "start": "x", "end": "2026-03-06T09:00:00Z", "extra": 1}),
            entry(2, "2026-03-02T09:30:00Z", "2026-03-02T11:00:00Z"), // overlaps the first of this batch
        ],
    );
    assert_eq!(r["imported"], 0);
    let codes: Vec<(u64, &str)> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["error"]["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "SESSION_OVERLAP"),
            (2, "CATEGORY_NOT_FOUND"),
            (3, "CATEGORY_ARCHIVED"),
            (4, "INVALID_INPUT"),
            (5, "INVALID_INPUT"),
            (6, "INVALID_INPUT"),
            (7, "SESSION_OVERLAP")
        ]
    );
    assert_eq!(r["errors"][3]["error"]["field"], "end");
    assert_eq!(e.call("list_sessions", json!({"guild_id": 1})).unwrap()["meta"]["total"], 1);
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 3600);
}

#[test]
fn a_long_entry_early_in_the_batch_widens_the_overlap_check_of_later_ones() {
    let e = engine("a_long_entry_early_in_th");
    // The guild's longest session so far is 30 minutes; the batch brings a 10-hour one, then an
    // entry inside it that starts 9 hours after it.
    import(&e, vec![entry(2, "2026-03-01T09:00:00Z", "2026-03-01T09:30:00Z")]);
    let r = import(
        &e,
        vec![
            entry(3, "2026-03-02T00:00:00Z", "2026-03-02T10:00:00Z"),
            entry(3, "2026-03-02T09:00:00Z", "2026-03-02T09:30:00Z"),
        ],
    );
    assert_eq!((r["imported"].as_u64(), r["errors"][0]["index"].as_u64()), (Some(0), Some(1)));
    assert_eq!(r["errors"][0]["error"]["code"], "SESSION_OVERLAP");
    // Across batches the stored bound carries it: the long entry alone, then one inside it.
    assert_eq!(import(&e, vec![entry(3, "2026-03-02T00:00:00Z", "2026-03-02T10:00:00Z")])["imported"], 1);
    let r = import(&e, vec![entry(3, "2026-03-02T09:00:00Z", "2026-03-02T09:30:00Z")]);
    assert_eq!(r["errors"][0]["error"]["code"], "SESSION_OVERLAP", "{r}");
    assert!(e
        .add_entry(&NewEntry {
            guild_id: 1,
            user_id: 3,
            category: "Dev".into(),
            start: Timestamp::parse("2026-03-02T08:00:00Z").unwrap(),
            end: Timestamp::parse("2026-03-02T08:10:00Z").unwrap(),
            ..Default::default()
        })
        .is_err());
}

#[test]
fn batches_are_bounded_and_empty_ones_store_nothing() {
    let e = engine("batches_are_bounded_and_");
    let too_many: Vec<Value> = (0..=MAX_IMPORT_BATCH).map(|_| json!({})).collect();
    let err = e.call("import_entries", json!({"guild_id": 1, "entries": too_many})).unwrap_err();
    assert_eq!(err.field(), Some("entries"));
    assert_eq!(import(&e, vec![])["imported"], 0);
    let err = e.call("import_entries", json!({"guild_id": 1, "entries": "nope"})).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[test]
fn entries_in_order_after_a_user_s_history_and_around_a_running_session_keep_the_overlap_rule() {
    let e = engine("entries_in_order_after_a");
    import(&e, vec![entry(2, "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z")]);
    // Back to back with the stored one (half-open intervals), then later: stored.
    let r = import(
        &e,
        vec![
            entry(2, "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"),
            entry(2, "2026-03-01T12:00:00Z", "2026-03-01T13:00:00Z"),
        ],
    );
    assert_eq!(r["imported"], 2, "{r}");
    // Out of order inside a stored one: refused.
    let r = import(
        &e,
        vec![
            entry(2, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
            entry(2, "2026-03-01T12:30:00Z", "2026-03-01T12:40:00Z"),
        ],
    );
    assert_eq!((r["imported"].as_u64(), r["errors"][0]["index"].as_u64()), (Some(0), Some(1)));
    // A running session since May 30: an entry after its start overlaps it, one before does not.
    e.call("clock_in", json!({"guild_id": 1, "user_id": 4, "category": "Dev", "at": "2026-05-30T09:00:00Z"})).unwrap();
    let r = import(&e, vec![entry(4, "2026-05-31T09:00:00Z", "2026-05-31T10:00:00Z")]);
    assert_eq!(r["errors"][0]["error"]["code"], "SESSION_OVERLAP");
    assert_eq!(import(&e, vec![entry(4, "2026-05-29T09:00:00Z", "2026-05-29T10:00:00Z")])["imported"], 1);
}

#[test]
fn a_batch_of_many_users_and_days_equals_single_entries() {
    // More users and rollup rows than one multi-row statement holds on PostgreSQL (256 rows).
    let (bulk, single) = (engine("many_bulk"), engine("many_single"));
    let entries: Vec<Value> = (0..700)
        .map(|i| {
            let (user, day, hour) = (1000 + i % 350, 1 + (i % 350) % 13 + 13 * (i / 350), 8 + (i / 350) * 3);
            entry(
                user,
                &format!("2026-04-{day:02}T{hour:02}:00:00Z"),
                &format!("2026-04-{:02}T{hour:02}:20:00Z", day + 1),
            )
        })
        .collect();
    let r = import(&bulk, entries.clone());
    assert_eq!((r["imported"].as_u64(), r["errors"].as_array().unwrap().len()), (Some(700), 0), "{r}");
    for mut e in entries {
        e["guild_id"] = json!(1);
        single.call("add_entry", e).unwrap();
    }
    for (op, args) in [
        ("guild_status", json!({"guild_id": 1})),
        ("leaderboard", json!({"guild_id": 1, "timeframe": "all", "limit": 100})),
        ("report", json!({"guild_id": 1, "timeframe": "all", "group_by": ["user", "day"]})),
        ("list_categories", json!({"guild_id": 1})),
    ] {
        assert_eq!(bulk.call(op, args.clone()).unwrap(), single.call(op, args).unwrap(), "{op}");
    }
    assert_eq!(bulk.call("list_sessions", json!({"guild_id": 1})).unwrap()["meta"]["total"], 700);
}

#[test]
fn a_bulk_import_refreshes_postgres_statistics() {
    // PostgreSQL plans a guild it has no statistics of as nearly empty; an import of 1,000
    // sessions or more refreshes them (ANALYZE sets the table's row estimate).
    let Some(server) = common::postgres_server() else { return };
    let url = common::new_postgres_database(&server, "import_stats");
    let e = Engine::open(&url).unwrap();
    e.call("create_category", json!({"guild_id": 1, "name": "Dev"})).unwrap();
    let estimate = || {
        common::query_i64(
            &url,
            "SELECT reltuples::bigint + 0 * CAST(?1 AS BIGINT) FROM pg_class WHERE relname = 'sessions'",
            0,
        )
    };
    assert!(estimate() < 1000, "analyzed before any import");
    let entries: Vec<Value> = (0..1000)
        .map(|i| {
            let day = 1 + i % 28;
            entry(i, &format!("2026-03-{day:02}T09:00:00Z"), &format!("2026-03-{day:02}T10:00:00Z"))
        })
        .collect();
    assert_eq!(import(&e, entries)["imported"], 1000);
    assert_eq!(estimate(), 1000);
}

#[test]
fn batches_of_every_size_keep_working_past_the_connection_s_statement_cache() {
    // On PostgreSQL each row count is a statement text of its own, prepared per connection; a
    // connection keeps at most 128 and drops them all when full. 70 batch sizes x a few
    // statement kinds go past that several times.
    let e = engine("every_size");
    let mut user = 0;
    let mut expected = 0;
    for n in 1..=70 {
        let entries: Vec<Value> = (0..n)
            .map(|_| {
                user += 1;
                entry(user, "2026-03-02T09:00:00Z", "2026-03-02T09:10:00Z")
            })
            .collect();
        assert_eq!(import(&e, entries)["imported"], n);
        expected += n * 600;
    }
    let status = e.guild_status(1).unwrap();
    assert_eq!((status.total_time_seconds, status.total_users), (expected, user));
}
