//! The WakaTime / Hackatime routes as an editor plugin and the CLI use them: a UUID key in
//! `Authorization: Basic`, the plugin's `User-Agent` and `X-Machine-Name`, bulks of at most 25,
//! one heartbeat, the status bar, stats, leaderboards and look-ups, under all three prefixes.

use base64::Engine as _;
use http::{Method, Request, Response};
use serde_json::{json, Value};
use timeledger::{Engine, Timestamp};
use timeledger_http::{handle, handle_with, Config};

const MASTER: &str = "wakatime-tests-master-01";
const UA: &str = "wakatime/v1.90.0 (linux-6.1.0-13-amd64-x86_64) go1.21.5 vscode/1.85.1 vscode-wakatime/24.4.0";
const NOON: &str = "2026-12-01T12:00:00Z";

fn setup() -> (Engine, String) {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(Timestamp::parse(NOON).unwrap().millis())).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.call(
        "upsert_user",
        json!({"user_id": 42, "username": "ada", "email": "ada@example.org", "slack_uid": "U42", "guild_id": 7}),
    )
    .unwrap();
    let k = e
        .call(
            "generate_key",
            json!({"guild_id": 7, "admin_user_id": 42, "master_key": MASTER, "tier": "PREMIUM", "form": "uuid"}),
        )
        .unwrap();
    let key = k["api_key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 36, "handed out as a bare UUID: {key}");
    (e, key)
}

fn plugin(e: &Engine, method: Method, uri: &str, key: &str, body: Option<Value>) -> Response<Vec<u8>> {
    let basic = base64::engine::general_purpose::STANDARD.encode(key);
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("Authorization", format!("Basic {basic}"))
        .header("User-Agent", UA)
        .header("X-Machine-Name", "ada-laptop");
    let bytes = match body {
        Some(v) => {
            b = b.header("Content-Type", "application/json");
            v.to_string().into_bytes()
        }
        None => vec![],
    };
    handle(e, &b.body(bytes).unwrap())
}

fn json_of(res: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(res.body()).unwrap()
}

/// 25 heartbeats a minute apart from 10:00 today, alternating two files.
fn bulk(from_min: i64) -> Value {
    let t0 = Timestamp::parse("2026-12-01T10:00:00Z").unwrap().millis() / 1000;
    json!((0..25)
        .map(|i| json!({"entity": format!("/src/f{}.rs", i % 2), "type": "file", "time": t0 + (from_min + i) * 60, "project": "ledger", "language": "Rust", "is_write": i % 3 == 0}))
        .collect::<Vec<_>>())
}

#[test]
fn a_plugin_conversation_counts_its_coding_time() {
    let (e, key) = setup();
    let res = plugin(&e, Method::POST, "/api/v1/users/current/heartbeats.bulk", &key, Some(bulk(0)));
    assert_eq!(res.status(), 201, "{:?}", json_of(&res));
    let body = json_of(&res);
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 25);
    assert!(responses.iter().all(|r| r[1] == 201));
    assert_eq!(res.headers()["X-API-Tier"], "PREMIUM");
    // Retrying the same bulk is harmless: duplicates, nothing counted twice.
    let again = json_of(&plugin(&e, Method::POST, "/api/v1/users/current/heartbeats.bulk", &key, Some(bulk(0))));
    assert!(again["responses"].as_array().unwrap().iter().all(|r| r[1] == 202));
    let bar = plugin(&e, Method::GET, "/api/v1/users/current/statusbar/today", &key, None);
    assert_eq!(bar.status(), 200);
    let bar = json_of(&bar);
    assert_eq!(bar["data"]["grand_total"]["total_seconds"], 24.0 * 60.0);
    assert_eq!(bar["data"]["editors"][0]["name"], "VS Code", "{bar}");
    assert_eq!(bar["data"]["operating_systems"][0]["name"], "Linux");
    assert_eq!(bar["data"]["machines"][0]["name"], "ada-laptop");
    let stats = json_of(&plugin(&e, Method::GET, "/api/hackatime/v1/users/current/stats?timeframe=today", &key, None));
    assert_eq!(stats["total_seconds"], 24 * 60);
    assert_eq!(stats["languages"][0]["name"], "Rust");
    let by_id = json_of(&plugin(&e, Method::GET, "/api/compat/wakatime/v1/users/42/stats", &key, None));
    assert_eq!(by_id["total_seconds"], 24 * 60);
    let board = json_of(&plugin(&e, Method::GET, "/api/v1/leaderboard/weekly?limit=5", &key, None));
    assert_eq!(board["entries"][0]["user"]["username"], "ada");
    assert_eq!(json_of(&plugin(&e, Method::GET, "/api/v1/leaderboard", &key, None))["period"], "daily");
    let mine = json_of(&plugin(&e, Method::GET, "/api/v1/my/heartbeats?limit=3", &key, None));
    assert_eq!(mine["data"].as_array().unwrap().len(), 3);
    let last = json_of(&plugin(&e, Method::GET, "/api/v1/my/heartbeats/most_recent", &key, None));
    assert_eq!(last["data"]["entity"], "/src/f0.rs");
    // The CLI's `wakatime --today`.
    let today = json_of(&plugin(&e, Method::GET, "/api/v1/users/current/summaries?start=today&end=today", &key, None));
    assert_eq!(today["cumulative_total"]["seconds"], 24.0 * 60.0);
    assert_eq!(today["data"][0]["range"]["date"], "2026-12-01");
    let me = json_of(&plugin(&e, Method::GET, "/api/v1/users/current", &key, None));
    assert_eq!(me["data"]["username"], "ada");
}

#[test]
fn one_heartbeat_answers_201_with_data_or_its_own_400() {
    let (e, key) = setup();
    let one = json!({"entity": "main.rs", "time": Timestamp::parse("2026-12-01T11:00:00Z").unwrap().millis() / 1000});
    let res = plugin(&e, Method::POST, "/api/v1/users/current/heartbeats", &key, Some(one.clone()));
    assert_eq!(res.status(), 201);
    assert_eq!(json_of(&res)["data"]["entity"], "main.rs");
    assert_eq!(plugin(&e, Method::POST, "/api/v1/users/current/heartbeats", &key, Some(one)).status(), 201);
    let bad = plugin(&e, Method::POST, "/api/v1/users/current/heartbeats", &key, Some(json!({"time": 1})));
    assert_eq!(bad.status(), 400);
    assert!(json_of(&bad)["error"].is_string());
    let list = plugin(&e, Method::POST, "/api/v1/users/current/heartbeats", &key, Some(bulk(0)));
    assert_eq!((list.status().as_u16(), json_of(&list)["field"].as_str()), (400, Some("body")));
}

#[test]
fn a_bulk_of_more_than_the_cap_is_refused_whole() {
    let (e, key) = setup();
    let mut beats = bulk(0).as_array().unwrap().clone();
    beats.push(json!({"entity": "x", "time": 1764590000}));
    let res = plugin(&e, Method::POST, "/api/v1/users/current/heartbeats.bulk", &key, Some(json!(beats)));
    assert_eq!((res.status().as_u16(), json_of(&res)["field"].as_str()), (400, Some("heartbeats")));
    let bar = json_of(&plugin(&e, Method::GET, "/api/v1/users/current/statusbar/today", &key, None));
    assert_eq!(bar["data"]["grand_total"]["total_seconds"], 0.0, "nothing of a refused bulk is stored");
    let wide = Config { max_bulk_heartbeats: 100, ..Config::default() };
    let basic = base64::engine::general_purpose::STANDARD.encode(&key);
    let req = Request::post("/api/v1/users/current/heartbeats.bulk")
        .header("Authorization", format!("Basic {basic}"))
        .body(json!(beats).to_string().into_bytes())
        .unwrap();
    assert_eq!(handle_with(&e, &wide, &req).status(), 201);
}

#[test]
fn keys_act_for_their_owner_in_their_own_guild() {
    let (e, key) = setup();
    // The waka_ spelling works too; a wrong key is 401; a key without the permission 403.
    let waka = format!("waka_{key}");
    assert_eq!(plugin(&e, Method::GET, "/api/v1/users/current/statusbar/today", &waka, None).status(), 200);
    let wrong =
        plugin(&e, Method::GET, "/api/v1/users/current/statusbar/today", "00000000-0000-4000-8000-000000000000", None);
    assert_eq!(json_of(&wrong)["code"], "INVALID_API_KEY");
    let sup = e
        .call("generate_key", json!({"guild_id": 7, "admin_user_id": 42, "master_key": MASTER, "form": "uuid"}))
        .unwrap();
    let forbidden = plugin(
        &e,
        Method::POST,
        "/api/v1/users/current/heartbeats.bulk",
        sup["api_key"].as_str().unwrap(),
        Some(bulk(0)),
    );
    assert_eq!((forbidden.status().as_u16(), json_of(&forbidden)["code"].as_str()), (403, Some("FORBIDDEN")));
    let trust = json_of(&plugin(&e, Method::GET, "/api/v1/users/42/trust_factor", &key, None));
    assert_eq!(trust, json!({"trust_level": "blue", "trust_value": 0}));
    let by_mail = json_of(&plugin(&e, Method::GET, "/api/v1/users/lookup_email/ada@example.org", &key, None));
    assert_eq!(by_mail["user_id"], 42);
    let by_slack = json_of(&plugin(&e, Method::GET, "/api/v1/users/lookup_slack_uid/U42", &key, None));
    assert_eq!(by_slack["username"], "ada");
}

#[test]
fn a_key_never_shows_a_user_of_another_guild() {
    let (e, key) = setup();
    e.call(
        "upsert_user",
        json!({"user_id": 99, "username": "eve", "email": "eve@example.org", "slack_uid": "U99", "guild_id": 8}),
    )
    .unwrap();
    for uri in [
        "/api/v1/users/lookup_email/eve@example.org",
        "/api/v1/users/lookup_slack_uid/U99",
        "/api/v1/users/99/trust_factor",
        "/api/v1/users/99/stats",
    ] {
        let res = plugin(&e, Method::GET, uri, &key, None);
        assert_eq!((res.status().as_u16(), json_of(&res)["code"].as_str()), (404, Some("USER_NOT_FOUND")), "{uri}");
        assert!(!String::from_utf8_lossy(res.body()).contains("eve"), "{uri}");
    }
}
