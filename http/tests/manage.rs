//! The rest of the guild operations over HTTP: editing and deleting sessions and time entries
//! (the tier decides by the session's own user), categories by name, members, settings, key
//! rotation, CSV exports, and a user's own time zone for coding reads.

use http::{Method, Request, Response};
use serde_json::{json, Value};
use timeledger::{Engine, Timestamp};
use timeledger_http::handle;

const MASTER: &str = "manage-tests-master-key";
const G: i64 = 5;

struct Keys {
    supporter: String,
    premium: String,
    enterprise: String,
    other_guild: String,
}

/// Guild G with an admin (10), a worker (11), category "Dev", and one closed session of each.
fn setup() -> (Engine, Keys, String, String) {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(Timestamp::parse("2026-12-01T18:00:00Z").unwrap().millis())).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.call("upsert_user", json!({"user_id": 10, "username": "boss", "guild_id": G, "is_admin": true})).unwrap();
    e.call("upsert_user", json!({"user_id": 11, "username": "worker", "guild_id": G})).unwrap();
    e.call("create_category", json!({"guild_id": G, "name": "Dev"})).unwrap();
    let entry = |user: i64, start: &str, end: &str| {
        e.call("add_entry", json!({"guild_id": G, "user_id": user, "category": "Dev", "start": start, "end": end}))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let boss = entry(10, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z");
    let worker = entry(11, "2026-12-01T09:00:00Z", "2026-12-01T11:00:00Z");
    let key = |guild: i64, tier: &str| {
        e.call("generate_key", json!({"guild_id": guild, "admin_user_id": 10, "master_key": MASTER, "tier": tier}))
            .unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let keys = Keys {
        supporter: key(G, "SUPPORTER"),
        premium: key(G, "PREMIUM"),
        enterprise: key(G, "ENTERPRISE"),
        other_guild: key(G + 1, "ENTERPRISE"),
    };
    (e, keys, boss, worker)
}

fn request(
    e: &Engine,
    method: Method,
    uri: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response<Vec<u8>> {
    let mut b = Request::builder().method(method).uri(uri).header("X-API-Key", key);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let bytes = match body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            v.to_string().into_bytes()
        }
        None => vec![],
    };
    handle(e, &b.body(bytes).unwrap())
}

fn send(e: &Engine, method: Method, uri: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let res = request(e, method, uri, key, &[], body);
    (res.status().as_u16(), serde_json::from_slice(res.body()).unwrap())
}

#[test]
fn sessions_are_edited_and_deleted_by_whoever_may_write_that_session_s_user() {
    let (e, k, boss, worker) = setup();
    let path = |id: &str| format!("/api/v1/guild/{G}/sessions/{id}");
    // PREMIUM writes only admins' sessions: the boss's yes, the worker's no.
    let (status, s) = send(&e, Method::PUT, &path(&boss), &k.premium, Some(json!({"description": "standup"})));
    assert_eq!((status, s["description"].as_str(), s["duration"].as_i64()), (200, Some("standup"), Some(3600)));
    let (status, err) = send(&e, Method::PUT, &path(&worker), &k.premium, Some(json!({"description": "x"})));
    assert_eq!((status, err["code"].as_str()), (403, Some("FORBIDDEN")));
    assert_eq!(send(&e, Method::DELETE, &path(&worker), &k.premium, None).0, 403);
    // A session that does not exist is 404 once the key may write sessions at all ...
    let (status, err) = send(&e, Method::PUT, &path("ses_nope"), &k.premium, Some(json!({})));
    assert_eq!((status, err["code"].as_str()), (404, Some("SESSION_NOT_FOUND")));
    // ... and 403 for a tier that may not write sessions, which learns nothing of it.
    assert_eq!(send(&e, Method::PUT, &path("ses_nope"), &k.supporter, Some(json!({}))).1["code"], "FORBIDDEN");
    assert_eq!(send(&e, Method::PUT, &path(&worker), &k.supporter, Some(json!({}))).1["code"], "FORBIDDEN");
    // Another guild's key: wrong guild, whatever the session.
    assert_eq!(send(&e, Method::DELETE, &path(&worker), &k.other_guild, None).1["code"], "WRONG_GUILD");
    // The body cannot move a session to another user or guild.
    let (status, err) = send(&e, Method::PUT, &path(&worker), &k.enterprise, Some(json!({"user_id": 10})));
    assert_eq!((status, err["field"].as_str()), (400, Some("user_id")));
    // ENTERPRISE writes anyone's; an edit keeps the overlap rule and the rollups exact.
    let (status, s) =
        send(&e, Method::PUT, &path(&worker), &k.enterprise, Some(json!({"end": "2026-12-01T12:00:00Z"})));
    assert_eq!((status, s["duration"].as_i64()), (200, Some(10800)));
    let (status, err) =
        send(&e, Method::PUT, &path(&worker), &k.enterprise, Some(json!({"end": "2026-12-01T08:00:00Z"})));
    assert_eq!((status, err["field"].as_str()), (400, Some("end")));
    assert_eq!(e.guild_status(G).unwrap().total_time_seconds, 3600 + 10800);
    let (status, done) = send(&e, Method::DELETE, &path(&worker), &k.enterprise, None);
    assert_eq!((status, done["success"].as_bool()), (200, Some(true)));
    assert_eq!(send(&e, Method::GET, &path(&worker), &k.enterprise, None).0, 404);
    assert_eq!(e.guild_status(G).unwrap().total_time_seconds, 3600);
}

#[test]
fn time_entries_by_id_are_changed_and_deleted_in_the_key_s_own_guild() {
    let (e, k, boss, worker) = setup();
    let (status, s) = send(
        &e,
        Method::PUT,
        &format!("/api/v1/time-entries/{boss}"),
        &k.premium,
        Some(json!({"start_time": "2026-12-01T08:30:00Z", "billable": true, "project_id": "Dev"})),
    );
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["duration"].as_i64(), s["billable"].as_bool(), s["project_id"].as_str()),
        (Some(5400), Some(true), Some("Dev"))
    );
    assert_eq!(send(&e, Method::DELETE, &format!("/api/v1/time-entries/{worker}"), &k.premium, None).0, 403);
    // A key of another guild does not find this guild's entries.
    let (status, err) = send(&e, Method::DELETE, &format!("/api/v1/time-entries/{worker}"), &k.other_guild, None);
    assert_eq!((status, err["code"].as_str()), (404, Some("SESSION_NOT_FOUND")));
    assert_eq!(send(&e, Method::DELETE, &format!("/api/v1/time-entries/{worker}"), &k.enterprise, None).0, 200);
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/time-entries/{worker}"), &k.enterprise, None).0, 404);
}

#[test]
fn members_are_listed_read_and_written_within_the_guild() {
    let (e, k, _, _) = setup();
    e.call("upsert_user", json!({"user_id": 99, "username": "elsewhere", "guild_id": G + 1})).unwrap();
    let (status, page) = send(&e, Method::GET, "/api/v1/users?per_page=1&page=2", &k.premium, None);
    assert_eq!(status, 200);
    assert_eq!(page["meta"], json!({"total": 2, "page": 2, "per_page": 1}));
    assert_eq!((page["data"][0]["user_id"].as_i64(), page["data"][0]["is_admin"].as_bool()), (Some(11), Some(false)));
    let (_, all) = send(&e, Method::GET, &format!("/api/v1/guild/{G}/users"), &k.premium, None);
    let ids: Vec<i64> = all["data"].as_array().unwrap().iter().map(|u| u["user_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [10, 11]);
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/guild/{G}/users"), &k.supporter, None).0, 403);
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/guild/{G}/users/11"), &k.premium, None).1["username"], "worker");
    // A user of another guild is not found through this guild.
    assert_eq!(
        send(&e, Method::GET, &format!("/api/v1/guild/{G}/users/99"), &k.premium, None).1["code"],
        "USER_NOT_FOUND"
    );
    let (status, u) = send(
        &e,
        Method::PUT,
        &format!("/api/v1/guild/{G}/users/12"),
        &k.premium,
        Some(json!({"username": "new", "time_zone": "Asia/Kolkata", "is_admin": true})),
    );
    assert_eq!((status, u["time_zone"].as_str()), (200, Some("Asia/Kolkata")), "{u}");
    assert!(e.is_admin(G, 12).unwrap());
    let (status, err) = send(
        &e,
        Method::PUT,
        &format!("/api/v1/guild/{G}/users/12"),
        &k.premium,
        Some(json!({"username": "n", "time_zone": "Mars/Base"})),
    );
    assert_eq!((status, err["field"].as_str()), (400, Some("time_zone")));
    let (status, err) = send(
        &e,
        Method::PUT,
        &format!("/api/v1/guild/{G}/users/12"),
        &k.premium,
        Some(json!({"username": "n", "trust_level": "red"})),
    );
    assert_eq!((status, err["field"].as_str()), (400, Some("trust_level")));
    assert_eq!(
        send(&e, Method::PUT, &format!("/api/v1/guild/{G}/users/12"), &k.supporter, Some(json!({"username": "n"}))).0,
        403
    );
}

#[test]
fn categories_are_read_changed_and_deleted_by_name() {
    let (e, k, _, _) = setup();
    let base = format!("/api/v1/guild/{G}/categories");
    assert_eq!(send(&e, Method::GET, &format!("{base}/dev"), &k.supporter, None).1["name"], "Dev");
    assert_eq!(send(&e, Method::GET, &format!("{base}/Ops"), &k.supporter, None).1["code"], "CATEGORY_NOT_FOUND");
    assert_eq!(send(&e, Method::PATCH, &format!("{base}/Dev"), &k.premium, Some(json!({"color": "#00ff00"}))).0, 403);
    let (status, c) = send(
        &e,
        Method::PATCH,
        &format!("{base}/Dev"),
        &k.enterprise,
        Some(json!({"new_name": "Development", "color": "#00ff00"})),
    );
    assert_eq!((status, c["name"].as_str(), c["color"].as_str()), (200, Some("Development"), Some("#00ff00")), "{c}");
    let (status, err) = send(&e, Method::DELETE, &format!("{base}/Development"), &k.enterprise, None);
    assert_eq!((status, err["code"].as_str()), (409, Some("CATEGORY_IN_USE")));
    assert_eq!(send(&e, Method::POST, &base, &k.enterprise, Some(json!({"name": "Spare time"}))).0, 201);
    assert_eq!(send(&e, Method::DELETE, &format!("{base}/Spare%20time"), &k.enterprise, None).0, 200);
    assert_eq!(send(&e, Method::GET, &format!("{base}/Spare%20time"), &k.enterprise, None).0, 404);
}

#[test]
fn settings_are_read_and_changed_and_keys_rotated_within_the_guild() {
    let (e, k, _, _) = setup();
    let path = format!("/api/v1/guild/{G}/settings");
    assert_eq!(send(&e, Method::GET, &path, &k.supporter, None).1["timezone"], "UTC");
    assert_eq!(send(&e, Method::PATCH, &path, &k.supporter, Some(json!({"timezone": "Europe/Paris"}))).0, 403);
    let (status, s) =
        send(&e, Method::PATCH, &path, &k.premium, Some(json!({"timezone": "Europe/Paris", "week_start": "sunday"})));
    assert_eq!((status, s["timezone"].as_str()), (200, Some("Europe/Paris")), "{s}");
    assert_eq!(send(&e, Method::PATCH, &path, &k.premium, Some(json!({"timezone": "Nowhere"}))).1["field"], "timezone");
    // Rotation: a new key at once; the old one stops (no grace) and another guild's key is not found.
    let keys = send(&e, Method::GET, &format!("/api/v1/guild/{G}/keys"), &k.enterprise, None).1;
    let supporter_id = keys.as_array().unwrap().iter().find(|x| x["tier"] == "SUPPORTER").unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = format!("/api/v1/guild/{G}/keys/{supporter_id}/rotate");
    assert_eq!(send(&e, Method::POST, &rotate, &k.premium, None).0, 403);
    let (status, new) = send(&e, Method::POST, &rotate, &k.enterprise, None);
    assert_eq!(status, 201, "{new}");
    let new_key = new["api_key"].as_str().unwrap();
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/guild/{G}/status"), new_key, None).0, 200);
    assert_eq!(send(&e, Method::GET, &format!("/api/v1/guild/{G}/status"), &k.supporter, None).0, 401);
    let foreign = format!("/api/v1/guild/{}/keys/{supporter_id}/rotate", G + 1);
    assert_eq!(send(&e, Method::POST, &foreign, &k.other_guild, None).1["code"], "KEY_NOT_FOUND");
}

fn csv_of(res: &Response<Vec<u8>>) -> Vec<Vec<String>> {
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = String::from_utf8(res.body().clone()).unwrap();
    // A small reader for the writer's RFC 4180 output (quoted cells may hold commas and quotes).
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn sessions_and_reports_export_as_csv_every_page_at_once() {
    let (e, k, _, _) = setup();
    // 600 one-minute entries: more than one page of the export's page size.
    for i in 0..600 {
        let start = Timestamp::parse("2026-11-01T00:00:00Z").unwrap().millis() + i * 120_000;
        e.call(
            "add_entry",
            json!({"guild_id": G, "user_id": 10, "category": "Dev", "start": Timestamp(start), "end": Timestamp(start + 60_000),
                   "description": if i == 0 { "=cmd|' /C calc'!A0, \"quoted\"" } else { "plain" }}),
        )
        .unwrap();
    }
    let res = request(&e, Method::GET, &format!("/api/v1/guild/{G}/sessions.csv"), &k.premium, &[], None);
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("sessions.csv"));
    assert!(res.headers().contains_key("x-ratelimit-remaining"));
    let rows = csv_of(&res);
    assert_eq!(rows.len(), 1 + 602);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    assert!(["id", "user_id", "category", "start_time", "end_time", "duration", "billable"]
        .iter()
        .all(|c| rows[0].contains(&c.to_string())));
    // A formula-looking description is neutralised; commas and quotes survive the round trip.
    let first = rows.iter().find(|r| r[col("description")].contains("calc")).unwrap();
    assert_eq!(first[col("description")], "'=cmd|' /C calc'!A0, \"quoted\"");
    let total: i64 = rows[1..].iter().map(|r| r[col("duration")].parse::<i64>().unwrap()).sum();
    assert_eq!(total, 600 * 60 + 3600 + 7200);
    // Accept: text/csv on the time entries, one page when a page is asked for.
    let res = request(
        &e,
        Method::GET,
        "/api/v1/time-entries?page=2&per_page=10",
        &k.premium,
        &[("Accept", "text/csv")],
        None,
    );
    assert_eq!(csv_of(&res).len(), 11);
    // A report's rows.
    let res = request(
        &e,
        Method::GET,
        &format!("/api/v1/guild/{G}/report.csv?group_by=user&timeframe=all"),
        &k.premium,
        &[],
        None,
    );
    let rows = csv_of(&res);
    let secs = rows[0].iter().position(|c| c == "total_seconds").unwrap();
    let uid = rows[0].iter().position(|c| c == "user_id").unwrap();
    let boss = rows.iter().find(|r| r[uid] == "10").unwrap();
    assert_eq!(boss[secs], (600 * 60 + 3600).to_string());
    // Routes without a CSV form say so; the key is still checked first.
    let res =
        request(&e, Method::GET, &format!("/api/v1/guild/{G}/status"), &k.premium, &[("Accept", "text/csv")], None);
    assert_eq!(res.status(), 406);
    assert_eq!(
        request(&e, Method::GET, &format!("/api/v1/guild/{G}/sessions.csv"), "tl_live_bad", &[], None).status(),
        401
    );
    assert_eq!(
        request(&e, Method::GET, &format!("/api/v1/guild/{G}/nothing.csv"), &k.premium, &[], None).status(),
        404
    );
}

#[test]
fn a_user_s_own_time_zone_decides_their_coding_day() {
    let (e, k, _, _) = setup();
    // 18:00 UTC on Dec 1 is already Dec 2 in Tokyo (UTC+9): heartbeats at 15:30-16:00 UTC
    // (00:30-01:00 Dec 2 in Tokyo) are "today" for a Tokyo user and for a UTC user alike, but
    // heartbeats at 14:00 UTC (23:00 Dec 1 in Tokyo) are today only in UTC.
    let beats: Vec<Value> = [14 * 60, 14 * 60 + 1, 15 * 60 + 30, 15 * 60 + 31]
        .iter()
        .map(|m| json!({"entity": "a.rs", "time": Timestamp::parse("2026-12-01T00:00:00Z").unwrap().millis() / 1000 + m * 60, "language": "Rust"}))
        .collect();
    let bulk = |zone: Option<&str>| {
        let mut h = vec![("User-Agent", "wakatime/v1.90.0 (linux) go1.21 vscode/1.85.1 vscode-wakatime/24.4.0")];
        if let Some(z) = zone {
            h.push(("TimeZone", z));
        }
        request(&e, Method::POST, "/api/v1/users/current/heartbeats.bulk", &k.premium, &h, Some(json!(beats)))
    };
    let today = || {
        let res = request(&e, Method::GET, "/api/v1/users/current/statusbar/today", &k.premium, &[], None);
        let v: Value = serde_json::from_slice(res.body()).unwrap();
        (
            v["data"]["grand_total"]["total_seconds"].as_f64().unwrap(),
            v["data"]["range"]["timezone"].as_str().unwrap().to_string(),
        )
    };
    // No zone of their own: the guild's (UTC), both minutes count.
    assert_eq!(bulk(None).status(), 201);
    assert_eq!(today(), (120.0, "UTC".to_string()));
    // The plugin's TimeZone header sets the user's zone while they have none ...
    assert_eq!(bulk(Some("Asia/Tokyo")).status(), 201);
    assert_eq!(e.get_user(10).unwrap().time_zone.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(today(), (60.0, "Asia/Tokyo".to_string()));
    // ... and never overrides one the user has; a name that is no zone is ignored.
    assert_eq!(bulk(Some("Europe/Paris")).status(), 201);
    assert_eq!(bulk(Some("Not/AZone")).status(), 201);
    assert_eq!(e.get_user(10).unwrap().time_zone.as_deref(), Some("Asia/Tokyo"));
    let res = request(&e, Method::GET, "/api/v1/users/current/summaries?start=today&end=today", &k.premium, &[], None);
    let s: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(
        (s["data"][0]["range"]["date"].as_str(), s["cumulative_total"]["seconds"].as_f64()),
        (Some("2026-12-02"), Some(60.0))
    );
    // Yesterday in Tokyo holds the other minute; stats over "today" agree.
    let res = request(
        &e,
        Method::GET,
        "/api/v1/users/current/summaries?start=yesterday&end=yesterday",
        &k.premium,
        &[],
        None,
    );
    let s: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(s["cumulative_total"]["seconds"].as_f64(), Some(60.0));
    let res = request(&e, Method::GET, "/api/v1/users/current/stats?timeframe=today", &k.premium, &[], None);
    let s: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(s["total_seconds"].as_i64(), Some(60), "{s}");
    // Clearing it ("") brings back the guild's zone.
    e.call("upsert_user", json!({"user_id": 10, "username": "boss", "time_zone": ""})).unwrap();
    assert_eq!(today(), (120.0, "UTC".to_string()));
}
