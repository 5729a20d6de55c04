//! The time-entry API in the key's own guild: entries with `project_id` (the category), the
//! `{data, meta}` envelope, projects, and the summary report; tiers decide whose entries a key
//! may write.

use http::{Method, Request, Response};
use serde_json::{json, Value};
use timeledger::{Engine, Timestamp};
use timeledger_http::handle;

const MASTER: &str = "time-entry-tests-master";

fn setup() -> (Engine, String, String) {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(Timestamp::parse("2026-12-01T18:00:00Z").unwrap().millis())).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.call("upsert_user", json!({"user_id": 10, "username": "boss", "guild_id": 4, "is_admin": true})).unwrap();
    e.call("upsert_user", json!({"user_id": 11, "username": "worker", "guild_id": 4})).unwrap();
    let key = |tier: &str| {
        let k = e
            .call("generate_key", json!({"guild_id": 4, "admin_user_id": 10, "master_key": MASTER, "tier": tier}))
            .unwrap();
        k["api_key"].as_str().unwrap().to_string()
    };
    let (prem, ent) = (key("PREMIUM"), key("ENTERPRISE"));
    (e, prem, ent)
}

fn send(e: &Engine, method: Method, uri: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let b = Request::builder().method(method).uri(uri).header("Authorization", format!("Bearer {key}"));
    let (b, bytes) = match body {
        Some(v) => (b.header("Content-Type", "application/json"), v.to_string().into_bytes()),
        None => (b, vec![]),
    };
    let res: Response<Vec<u8>> = handle(e, &b.body(bytes).unwrap());
    (res.status().as_u16(), serde_json::from_slice(res.body()).unwrap())
}

#[test]
fn time_entries_are_written_listed_and_read_in_the_key_s_guild() {
    let (e, prem, ent) = setup();
    assert_eq!(send(&e, Method::POST, "/api/v1/projects", &ent, Some(json!({"name": "API"}))).0, 201);
    assert_eq!(send(&e, Method::POST, "/api/v1/projects", &prem, Some(json!({"name": "X"}))).0, 403);
    let projects = send(&e, Method::GET, "/api/v1/projects", &prem, None).1;
    assert_eq!(projects[0]["name"], "API");
    let entry = json!({"project_id": "API", "start_time": "2026-12-01T09:00:00Z", "end_time": "2026-12-01T12:30:00Z", "description": "Working on API integration", "billable": true});
    // PREMIUM writes only guild admins' entries: its owner (10) is one, user 11 is not.
    let (status, created) = send(&e, Method::POST, "/api/v1/time-entries", &prem, Some(entry.clone()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["user_id"].as_i64(), created["project_id"].as_str(), created["duration"].as_i64()),
        (Some(10), Some("API"), Some(12600))
    );
    assert_eq!(created["billable"], true);
    let mut for_worker = entry.clone();
    for_worker["user_id"] = json!(11);
    assert_eq!(send(&e, Method::POST, "/api/v1/time-entries", &prem, Some(for_worker.clone())).1["code"], "FORBIDDEN");
    for_worker["start_time"] = json!("2026-12-01T13:00:00Z");
    for_worker["end_time"] = json!("2026-12-01T14:00:00Z");
    assert_eq!(send(&e, Method::POST, "/api/v1/time-entries", &ent, Some(for_worker)).0, 201);
    let (status, page) = send(&e, Method::GET, "/api/v1/time-entries?per_page=1&page=1&_=x", &prem, None);
    assert_eq!(status, 200);
    assert_eq!((page["meta"]["total"].as_i64(), page["meta"]["per_page"].as_i64()), (Some(2), Some(1)));
    assert_eq!(page["data"][0]["project_id"], "API");
    let mine = send(&e, Method::GET, "/api/v1/time-entries?user_id=10", &prem, None).1;
    assert_eq!(mine["meta"]["total"], 1);
    let id = created["id"].as_str().unwrap();
    let one = send(&e, Method::GET, &format!("/api/v1/time-entries/{id}"), &prem, None).1;
    assert_eq!((one["id"].as_str(), one["project_id"].as_str()), (Some(id), Some("API")));
    let summary = send(&e, Method::GET, "/api/v1/reports/summary?timeframe=today&group_by=user", &prem, None).1;
    assert_eq!(summary["total_seconds"], 12600 + 3600);
    assert_eq!(summary["rows"].as_array().unwrap().len(), 2);
    // Another guild's key sees none of it.
    let other = e
        .call("generate_key", json!({"guild_id": 5, "admin_user_id": 1, "master_key": MASTER, "tier": "ENTERPRISE"}))
        .unwrap();
    let other = other["api_key"].as_str().unwrap();
    assert_eq!(send(&e, Method::GET, "/api/v1/time-entries", other, None).1["meta"]["total"], 0);
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/time-entries/{id}"), other, None).0, 404);
}
