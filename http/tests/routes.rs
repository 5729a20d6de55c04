//! Every route of the clock-in API through `handle`: success, each error, headers, pagination,
//! and the OpenAPI document against the route table.

use base64::Engine as _;
use http::{Method, Request, Response};
use serde_json::{json, Value};
use timeledger::{Engine, Timestamp};
use timeledger_http::{handle, handle_with, openapi, routes, Config};

const MASTER: &str = "http-tests-master-key-01";
const G: i64 = 123456789;

fn send(e: &Engine, method: Method, uri: &str, key: Option<&str>, body: Option<Value>) -> Response<Vec<u8>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header("X-API-Key", k);
    }
    let bytes = match body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            v.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    handle(e, &b.body(bytes).unwrap())
}

fn json_of(res: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(res.body()).unwrap()
}

fn header<'a>(res: &'a Response<Vec<u8>>, name: &str) -> &'a str {
    res.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// An engine at a fixed instant with a category, an admin (10) and a worker (11), and a key of
/// each default tier for guild G.
fn setup() -> (Engine, [String; 4]) {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(Timestamp::parse("2026-12-01T12:00:00Z").unwrap().millis())).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.call("create_category", json!({"guild_id": G, "name": "Development"})).unwrap();
    e.call("upsert_user", json!({"user_id": 10, "username": "boss", "guild_id": G, "is_admin": true})).unwrap();
    e.call("upsert_user", json!({"user_id": 11, "username": "worker", "guild_id": G})).unwrap();
    let keys = ["SUPPORTER", "PREMIUM", "ENTERPRISE", "ADMIN"].map(|tier| {
        let res = send(
            &e,
            Method::POST,
            "/api/v1/auth/generate",
            None,
            Some(json!({"guild_id": G, "admin_user_id": 10, "master_key": MASTER, "tier": tier})),
        );
        assert_eq!(res.status(), 201, "{:?}", json_of(&res));
        json_of(&res)["api_key"].as_str().unwrap().to_string()
    });
    (e, keys)
}

#[test]
fn auth_generate_needs_the_master_key_and_answers_201_with_the_key() {
    let (e, _) = setup();
    let bad = send(
        &e,
        Method::POST,
        "/api/v1/auth/generate",
        None,
        Some(json!({"guild_id": G, "admin_user_id": 10, "master_key": "wrong-wrong-wrong-wrong"})),
    );
    assert_eq!(bad.status(), 401);
    assert_eq!(json_of(&bad)["code"], "INVALID_MASTER_KEY");
    let ok = send(
        &e,
        Method::POST,
        "/api/v1/auth/generate",
        None,
        Some(json!({"guild_id": G, "admin_user_id": 10, "master_key": MASTER, "tier": "PREMIUM"})),
    );
    assert_eq!(ok.status(), 201);
    assert!(json_of(&ok)["api_key"].as_str().unwrap().starts_with("tl_live_"));
}

#[test]
fn status_answers_the_seed_shape_with_rate_limit_headers() {
    let (e, [sup, ..]) = setup();
    let res = send(&e, Method::GET, &format!("/api/v1/guild/{G}/status"), Some(&sup), None);
    assert_eq!(res.status(), 200);
    let body = json_of(&res);
    for k in ["guild_id", "total_time_seconds", "total_time_hours", "total_users", "active_sessions", "categories"] {
        assert!(body.get(k).is_some(), "{k} missing from {body}");
    }
    assert_eq!(header(&res, "X-RateLimit-Limit"), "20");
    assert_eq!(header(&res, "X-RateLimit-Remaining"), "19");
    assert_eq!(header(&res, "X-API-Tier"), "SUPPORTER");
    assert_eq!(header(&res, "content-type"), "application/json");
}

#[test]
fn keys_are_read_from_every_place_a_client_puts_them() {
    let (e, [sup, ..]) = setup();
    let uri = format!("/api/v1/guild/{G}/status");
    let bearer = Request::get(&uri).header("Authorization", format!("Bearer {sup}")).body(vec![]).unwrap();
    assert_eq!(handle(&e, &bearer).status(), 200);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(":{sup}"));
    let basic = Request::get(&uri).header("Authorization", format!("Basic {basic}")).body(vec![]).unwrap();
    assert_eq!(handle(&e, &basic).status(), 200);
    let query = Request::get(format!("{uri}?api_key={sup}&_=123")).body(vec![]).unwrap();
    assert_eq!(handle(&e, &query).status(), 200);
    let none = send(&e, Method::GET, &uri, None, None);
    assert_eq!((none.status().as_u16(), json_of(&none)["code"].as_str()), (401, Some("MISSING_API_KEY")));
    let wrong = send(&e, Method::GET, &uri, Some("tl_live_nope"), None);
    assert_eq!((wrong.status().as_u16(), json_of(&wrong)["code"].as_str()), (401, Some("INVALID_API_KEY")));
}

#[test]
fn a_key_of_one_guild_is_refused_in_another_and_a_tier_without_the_action_is_403() {
    let (e, [sup, prem, ..]) = setup();
    let other = send(&e, Method::GET, "/api/v1/guild/999/status", Some(&prem), None);
    assert_eq!((other.status().as_u16(), json_of(&other)["code"].as_str()), (403, Some("WRONG_GUILD")));
    let res = send(&e, Method::GET, &format!("/api/v1/guild/{G}/sessions"), Some(&sup), None);
    assert_eq!((res.status().as_u16(), json_of(&res)["code"].as_str()), (403, Some("FORBIDDEN")));
    let bad_id = send(&e, Method::GET, "/api/v1/guild/not-a-number/status", Some(&sup), None);
    assert_eq!((bad_id.status().as_u16(), json_of(&bad_id)["field"].as_str()), (400, Some("guild_id")));
}

#[test]
fn clock_in_and_out_follow_the_tier_rules() {
    let (e, [sup, prem, ent, _]) = setup();
    let clockin = |key: &str, user: i64| {
        send(
            &e,
            Method::POST,
            &format!("/api/v1/guild/{G}/clockin"),
            Some(key),
            Some(json!({"user_id": user, "category": "Development", "description": "API work"})),
        )
    };
    assert_eq!(clockin(&sup, 10).status(), 403);
    assert_eq!(json_of(&clockin(&prem, 11))["code"], "FORBIDDEN"); // premium: admins only
    let ok = clockin(&prem, 10);
    assert_eq!(ok.status(), 200);
    let body = json_of(&ok);
    assert_eq!(
        (body["success"].as_bool(), body["category"].as_str(), body["user_id"].as_i64()),
        (Some(true), Some("Development"), Some(10))
    );
    assert!(body["session_id"].as_str().unwrap().starts_with("ses_"));
    assert_eq!(json_of(&clockin(&ent, 10))["code"], "SESSION_ALREADY_ACTIVE");
    assert_eq!(clockin(&ent, 11).status(), 200); // enterprise: any user
    let out =
        send(&e, Method::POST, &format!("/api/v1/guild/{G}/clockout"), Some(&ent), Some(json!({"user_id": "11"})));
    assert_eq!(out.status(), 200);
    let again =
        send(&e, Method::POST, &format!("/api/v1/guild/{G}/clockout"), Some(&ent), Some(json!({"user_id": 11})));
    assert_eq!((again.status().as_u16(), json_of(&again)["code"].as_str()), (409, Some("NO_ACTIVE_SESSION")));
    let other = send(
        &e,
        Method::POST,
        &format!("/api/v1/guild/{G}/clockin"),
        Some(&ent),
        Some(json!({"guild_id": 5, "user_id": 11, "category": "Development"})),
    );
    assert_eq!(json_of(&other)["field"], "guild_id");
}

#[test]
fn categories_leaderboard_sessions_and_report_read_query_values_as_their_types() {
    let (e, [sup, prem, ent, _]) = setup();
    let created =
        send(&e, Method::POST, &format!("/api/v1/guild/{G}/categories"), Some(&ent), Some(json!({"name": "Meetings"})));
    assert_eq!(created.status(), 201);
    assert_eq!(
        send(&e, Method::POST, &format!("/api/v1/guild/{G}/categories"), Some(&prem), Some(json!({"name": "X"})))
            .status(),
        403
    );
    let cats = json_of(&send(
        &e,
        Method::GET,
        &format!("/api/v1/guild/{G}/categories?include_archived=false"),
        Some(&sup),
        None,
    ));
    assert_eq!(cats.as_array().unwrap().len(), 2);
    let entries = [
        (10, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"),
        (11, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"),
        (11, "2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z"),
    ];
    for (user, start, end) in entries {
        let entry = json!({"user_id": user, "category": "Development", "start": start, "end": end});
        let res = send(&e, Method::POST, &format!("/api/v1/guild/{G}/sessions"), Some(&ent), Some(entry));
        assert_eq!(res.status(), 201, "{:?}", json_of(&res));
    }
    let board =
        send(&e, Method::GET, &format!("/api/v1/guild/{G}/leaderboard?timeframe=week&limit=5&_=123"), Some(&sup), None);
    assert_eq!(board.status(), 200, "{:?}", json_of(&board));
    let board = json_of(&board);
    assert_eq!(board["leaderboard"][0]["username"], "worker");
    assert_eq!(board["leaderboard"][0]["hours"], 2.0);
    let bad = send(&e, Method::GET, &format!("/api/v1/guild/{G}/leaderboard?limit=five"), Some(&sup), None);
    assert_eq!((bad.status().as_u16(), json_of(&bad)["field"].as_str()), (400, Some("limit")));
    let page = json_of(&send(
        &e,
        Method::GET,
        &format!("/api/v1/guild/{G}/sessions?user_id=11&per_page=1&page=2"),
        Some(&prem),
        None,
    ));
    assert_eq!(
        (page["meta"]["total"].as_i64(), page["meta"]["page"].as_i64(), page["data"].as_array().map(Vec::len)),
        (Some(2), Some(2), Some(1))
    );
    let id = page["data"][0]["id"].as_str().unwrap();
    let one = send(&e, Method::GET, &format!("/api/v1/guild/{G}/sessions/{id}"), Some(&prem), None);
    assert_eq!(json_of(&one)["id"], id);
    let missing = send(&e, Method::GET, &format!("/api/v1/guild/{G}/sessions/ses_nope"), Some(&prem), None);
    assert_eq!(missing.status(), 404);
    let report = json_of(&send(
        &e,
        Method::GET,
        &format!("/api/v1/guild/{G}/report?timeframe=all&group_by=user,day"),
        Some(&prem),
        None,
    ));
    assert_eq!(report["group_by"], json!(["user", "day"]));
    assert_eq!(report["total_seconds"], 3 * 3600);
}

#[test]
fn keys_are_listed_minted_from_the_calling_key_and_revoked_within_the_guild() {
    let (e, [sup, _, ent, _]) = setup();
    let list = json_of(&send(&e, Method::GET, &format!("/api/v1/guild/{G}/keys"), Some(&ent), None));
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(list.to_string().find("hash").is_none());
    let sub = send(
        &e,
        Method::POST,
        &format!("/api/v1/guild/{G}/keys"),
        Some(&ent),
        Some(json!({"tier": "SUPPORTER", "name": "customer"})),
    );
    assert_eq!(sub.status(), 201, "{:?}", json_of(&sub));
    let sub = json_of(&sub);
    assert_eq!(send(&e, Method::POST, &format!("/api/v1/guild/{G}/keys"), Some(&sup), Some(json!({}))).status(), 403);
    assert_eq!(send(&e, Method::POST, &format!("/api/v1/guild/{G}/keys"), None, Some(json!({}))).status(), 401);
    let key_id = sub["key_id"].as_str().unwrap();
    let other_guild = send(&e, Method::DELETE, &format!("/api/v1/guild/777/keys/{key_id}"), Some(&ent), None);
    assert_eq!(other_guild.status(), 403); // the enterprise key is not 777's
    let revoked = send(&e, Method::DELETE, &format!("/api/v1/guild/{G}/keys/{key_id}"), Some(&ent), None);
    assert_eq!(json_of(&revoked)["status"], "revoked");
    let use_it =
        send(&e, Method::GET, &format!("/api/v1/guild/{G}/status"), Some(sub["api_key"].as_str().unwrap()), None);
    assert_eq!(json_of(&use_it)["code"], "KEY_REVOKED");
}

#[test]
fn a_key_of_another_guild_cannot_be_revoked_or_confirmed() {
    let (e, [.., adm]) = setup();
    let elsewhere = e
        .generate_key(&timeledger::GenerateKey {
            guild_id: 5,
            admin_user_id: 1,
            master_key: MASTER.into(),
            ..Default::default()
        })
        .unwrap();
    let res = send(&e, Method::DELETE, &format!("/api/v1/guild/{G}/keys/{}", elsewhere.key_id), Some(&adm), None);
    assert_eq!((res.status().as_u16(), json_of(&res)["code"].as_str()), (404, Some("KEY_NOT_FOUND")));
    assert_eq!(e.get_key(&elsewhere.key_id).unwrap().status, "active");
}

#[test]
fn the_rate_limit_answers_429_with_the_exact_retry_after_and_the_error_body() {
    let (e, [sup, ..]) = setup();
    let uri = format!("/api/v1/guild/{G}/status");
    for _ in 0..20 {
        assert_eq!(send(&e, Method::GET, &uri, Some(&sup), None).status(), 200);
    }
    let res = send(&e, Method::GET, &uri, Some(&sup), None);
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "Retry-After"), "63"); // 12:01:03, when 3 s of the 20 requests have slid out
    assert_eq!(header(&res, "X-RateLimit-Remaining"), "0");
    assert_eq!(
        json_of(&res),
        json!({"error": "Rate limit exceeded", "message": "Limit: 20 requests/minute", "code": "RATE_001", "remaining": 0, "reset_in": 63, "tier": "SUPPORTER"})
    );
}

#[test]
fn bad_bodies_get_typed_4xx_in_the_error_shape() {
    let (e, [_, _, ent, _]) = setup();
    let uri = format!("/api/v1/guild/{G}/clockin");
    let raw = |ct: &str, body: &[u8]| {
        handle(
            &e,
            &Request::post(&uri).header("X-API-Key", &ent).header("Content-Type", ct).body(body.to_vec()).unwrap(),
        )
    };
    let malformed = raw("application/json", b"{\"user_id\": 10,\n \"category\": }");
    assert_eq!(malformed.status(), 400);
    let msg = json_of(&malformed)["message"].as_str().unwrap().to_string();
    assert!(msg.contains("line 2 column 14"), "position in the client's own body: {msg}");
    assert_eq!(json_of(&malformed)["field"], "body");
    let not_utf8 = raw("application/json", b"{\"user_id\": \"\xff\"}");
    assert_eq!((not_utf8.status().as_u16(), json_of(&not_utf8)["field"].as_str()), (400, Some("body")));
    let form = raw("application/x-www-form-urlencoded", b"user_id=10");
    assert_eq!((form.status().as_u16(), json_of(&form)["code"].as_str()), (415, Some("UNSUPPORTED_MEDIA_TYPE")));
    let list = raw("application/json; charset=utf-8", b"[1, 2]");
    assert_eq!((list.status().as_u16(), json_of(&list)["field"].as_str()), (400, Some("body")));
    let big = vec![b' '; 2 * 1024 * 1024];
    let res = raw("application/json", &big);
    assert_eq!((res.status().as_u16(), json_of(&res)["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));
    let small = Config { max_body_bytes: 10, ..Config::default() };
    let req = Request::post(&uri)
        .header("X-API-Key", &ent)
        .body(br#"{"user_id": 10, "category": "Development"}"#.to_vec())
        .unwrap();
    assert_eq!(handle_with(&e, &small, &req).status(), 413);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let (e, [sup, ..]) = setup();
    let res = send(&e, Method::GET, "/api/v1/nowhere", Some(&sup), None);
    assert_eq!((res.status().as_u16(), json_of(&res)["code"].as_str()), (404, Some("ROUTE_NOT_FOUND")));
    let res = send(&e, Method::PUT, &format!("/api/v1/guild/{G}/categories"), Some(&sup), None);
    assert_eq!(res.status(), 405);
    assert_eq!(header(&res, "Allow"), "GET, POST");
    assert_eq!(json_of(&res)["code"], "METHOD_NOT_ALLOWED");
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let e = Engine::open(":memory:").unwrap();
    let res = send(&e, Method::GET, "/api/v1/openapi.json", None, None);
    assert_eq!(res.status(), 200);
    let doc = json_of(&res);
    assert_eq!(doc, openapi());
    assert_eq!(doc["openapi"], "3.1.0");
    let mut listed = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            listed += 1;
            let route = routes().iter().find(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method));
            let route = route.unwrap_or_else(|| panic!("{method} {path} is documented but not routed"));
            assert_eq!(op["summary"], route.summary);
            let path_params = path.matches('{').count();
            assert_eq!(op["parameters"].as_array().unwrap().len(), path_params + route.query.len());
        }
    }
    assert_eq!(listed, routes().len(), "every route is documented once");
}

#[test]
fn the_readme_lists_every_route() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("## HTTP API").nth(1).unwrap().split("\n## ").next().unwrap();
    // The WakaTime routes are listed once, under /api/v1; the other prefixes mount the same.
    let mut listed = std::collections::BTreeSet::new();
    for r in routes() {
        let path =
            r.path.replacen("/api/hackatime/v1/", "/api/v1/", 1).replacen("/api/compat/wakatime/v1/", "/api/v1/", 1);
        assert!(section.contains(&format!("`{} {path}`", r.method)), "README misses {r:?}");
        listed.insert(format!("{} {path}", r.method));
    }
    let methods = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "];
    let rows = section
        .lines()
        .filter(|l| l.strip_prefix("| `").is_some_and(|rest| methods.iter().any(|m| rest.starts_with(m))))
        .count();
    assert_eq!(rows, listed.len(), "README lists a route that does not exist");
}
