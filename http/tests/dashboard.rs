//! The dashboard through `handle`: sign-in with CSRF and an HttpOnly SameSite=Strict cookie,
//! pages whose numbers equal the API's, sections hidden by tier, hostile names escaped, a CSP
//! without scripts or inline styles, sign-out.

use http::{Method, Request, Response};
use serde_json::json;
use timeledger::{Engine, Timestamp};
use timeledger_http::handle;

const MASTER: &str = "dashboard-master-key-01";

fn engine() -> (Engine, String, String) {
    let e = Engine::open(":memory:").unwrap();
    e.set_now(Some(Timestamp::parse("2026-12-01T12:00:00Z").unwrap().millis())).unwrap();
    e.set_master_key(MASTER).unwrap();
    e.upsert_user(&timeledger::UserInput {
        user_id: 10,
        username: "boss".into(),
        guild_id: Some(3),
        is_admin: Some(true),
        ..Default::default()
    })
    .unwrap();
    e.upsert_user(&timeledger::UserInput {
        user_id: 11,
        username: "<script>alert(1)</script>".into(),
        guild_id: Some(3),
        ..Default::default()
    })
    .unwrap();
    e.call("create_category", json!({"guild_id": 3, "name": "\"><img src=x onerror=alert(2)>"})).unwrap();
    e.call("create_category", json!({"guild_id": 3, "name": "Dev"})).unwrap();
    for (u, cat, s, en) in [
        (10, "Dev", "2026-11-30T09:00:00Z", "2026-11-30T12:00:00Z"),
        (11, "\"><img src=x onerror=alert(2)>", "2026-11-30T09:00:00Z", "2026-11-30T10:30:00Z"),
    ] {
        e.call("add_entry", json!({"guild_id": 3, "user_id": u, "category": cat, "start": s, "end": en})).unwrap();
    }
    e.call("clock_in", json!({"guild_id": 3, "user_id": 10, "category": "Dev", "at": "2026-12-01T11:00:00Z"})).unwrap();
    let beats: Vec<_> = (0..20).map(|i| json!({"entity": "<b>x.rs</b>", "time": 1_796_119_200 + i * 60, "project": "<i>p</i>", "language": "Rust"})).collect();
    e.call("ingest_heartbeats", json!({"guild_id": 3, "user_id": 10, "heartbeats": beats})).unwrap();
    let key = |tier: &str| {
        e.call("generate_key", json!({"guild_id": 3, "admin_user_id": 10, "master_key": MASTER, "tier": tier})).unwrap()
            ["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (premium, supporter) = (key("PREMIUM"), key("SUPPORTER"));
    (e, premium, supporter)
}

fn send(e: &Engine, method: Method, uri: &str, cookie: &str, form: Option<String>) -> Response<Vec<u8>> {
    let mut b = Request::builder().method(method).uri(uri).header("Cookie", cookie);
    let body = match form {
        Some(f) => {
            b = b.header("Content-Type", "application/x-www-form-urlencoded");
            f.into_bytes()
        }
        None => vec![],
    };
    handle(e, &b.body(body).unwrap())
}

fn text(res: &Response<Vec<u8>>) -> String {
    String::from_utf8(res.body().clone()).unwrap()
}

fn set_cookies(res: &Response<Vec<u8>>) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// Signs in as a browser would: GET / for the CSRF cookie and token, POST /login with both.
fn sign_in(e: &Engine, key: &str) -> String {
    let first = send(e, Method::GET, "/", "", None);
    assert_eq!(first.status(), 200);
    let csrf_cookie = set_cookies(&first).into_iter().find(|c| c.starts_with("tl_csrf=")).unwrap();
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    let token = csrf_cookie.split(['=', ';']).nth(1).unwrap().to_string();
    assert!(text(&first).contains(&format!("name=\"csrf\" value=\"{token}\"")));
    let cookie = format!("tl_csrf={token}");
    let res = send(e, Method::POST, "/login", &cookie, Some(format!("api_key={}&csrf={token}", key)));
    assert_eq!(res.status(), 303, "{}", text(&res));
    let key_cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("tl_key=")).unwrap();
    assert!(key_cookie.contains("HttpOnly") && key_cookie.contains("SameSite=Strict"));
    format!("{cookie}; tl_key={key}")
}

#[test]
fn signing_in_needs_the_csrf_token_and_a_working_key_and_signing_out_clears_the_key() {
    let (e, premium, _) = engine();
    // No token, a wrong token, a bad key.
    assert_eq!(send(&e, Method::POST, "/login", "", Some(format!("api_key={premium}"))).status(), 403);
    assert_eq!(
        send(
            &e,
            Method::POST,
            "/login",
            &format!("tl_csrf={}", "a".repeat(48)),
            Some(format!("api_key={premium}&csrf={}", "b".repeat(48)))
        )
        .status(),
        403
    );
    let bad = send(
        &e,
        Method::POST,
        "/login",
        &format!("tl_csrf={}", "a".repeat(48)),
        Some(format!("api_key=tl_live_nope&csrf={}", "a".repeat(48))),
    );
    assert_eq!(bad.status(), 401);
    assert!(set_cookies(&bad).iter().all(|c| !c.starts_with("tl_key=")));
    let cookie = sign_in(&e, &premium);
    let home = send(&e, Method::GET, "/", &cookie, None);
    assert_eq!(home.status(), 200);
    let html = text(&home);
    assert!(!html.contains(&premium), "the key never appears in a page");
    let token = cookie.split(['=', ';']).nth(1).unwrap();
    let out = send(&e, Method::POST, "/logout", &cookie, Some(format!("csrf={token}")));
    assert_eq!(out.status(), 303);
    assert!(set_cookies(&out).iter().any(|c| c.starts_with("tl_key=;") && c.contains("Max-Age=0")));
    assert_eq!(send(&e, Method::POST, "/logout", &cookie, Some("csrf=wrong".into())).status(), 403);
    // A revoked key signs the browser out.
    let id = e.list_keys(3).unwrap().into_iter().find(|k| k.tier == "PREMIUM").unwrap().key_id;
    e.revoke_key(&id).unwrap();
    let after = send(&e, Method::GET, "/", &cookie, None);
    assert_eq!(after.status(), 401);
    assert!(set_cookies(&after).iter().any(|c| c.starts_with("tl_key=;")));
}

#[test]
fn pages_show_the_api_s_numbers_escape_every_name_and_carry_a_strict_csp() {
    let (e, premium, _) = engine();
    let cookie = sign_in(&e, &premium);
    let home = send(&e, Method::GET, "/?timeframe=all", &cookie, None);
    let csp = home.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';") && !csp.contains("unsafe"));
    let html = text(&home);
    let status = e.call("guild_status", json!({"guild_id": 3})).unwrap();
    let total = format!("<span id=\"total-hours\">{:.2}</span>", status["total_time_hours"].as_f64().unwrap());
    assert!(html.contains(&total), "{html}");
    assert!(html.contains("<span id=\"active\">1</span>"));
    // Leaderboard rows equal the API's, in order.
    let board = e.call("leaderboard", json!({"guild_id": 3, "timeframe": "all"})).unwrap();
    let mut at = 0;
    for r in board["leaderboard"].as_array().unwrap() {
        let cell = format!("<td class=\"n\">{:.2}</td>", r["total_seconds"].as_f64().unwrap() / 3600.0);
        at = html[at..].find(&cell).map(|i| at + i).unwrap_or_else(|| panic!("{cell} missing after {at}"));
    }
    // Hostile names are text, never markup; no script or inline style anywhere.
    for raw in ["<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>"] {
        assert!(!html.contains(raw), "unescaped {raw}");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            && html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;")
    );
    assert!(!html.contains("style=") && !html.contains("onerror=alert(2)>"));
    // The only scripts are the served files (the charting library and the page's own).
    let scripts: Vec<&str> = html.match_indices("<script").map(|(i, _)| &html[i..i + 40]).collect();
    assert_eq!(scripts.len(), 2, "{scripts:?}");
    assert!(scripts.iter().all(|s| s.starts_with("<script src=\"/dashboard/")), "{scripts:?}");
    // A user page: coding numbers equal the API's; heartbeat fields escaped.
    let user = text(&send(&e, Method::GET, "/dashboard/user/10", &cookie, None));
    let stats = e.call("coding_stats", json!({"guild_id": 3, "user_id": 10, "timeframe": "last_30_days"})).unwrap();
    assert!(user.contains(&format!("<span id=\"coding-seconds\">{}</span>", stats["total_seconds"])), "{user}");
    assert!(user.contains("&lt;i&gt;p&lt;/i&gt;") && !user.contains("<i>p</i>"));
    assert!(user.contains("id=\"days-7\"") && user.contains("2026-11-30"));
    // Each day table carries what the chart script draws from: its last day and its length.
    for id in ["days-7", "days-30", "coding-days-7", "coding-days-30"] {
        assert!(user.contains(&format!("<table id=\"{id}\" data-chart=\"stacked\" data-end=\"")), "{id}");
    }
    // Users of another guild, unknown pages, bad timeframes: typed error pages.
    e.upsert_user(&timeledger::UserInput {
        user_id: 99,
        username: "other".into(),
        guild_id: Some(4),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(send(&e, Method::GET, "/dashboard/user/99", &cookie, None).status(), 404);
    assert_eq!(send(&e, Method::GET, "/dashboard/nothing", &cookie, None).status(), 400);
    let bad = send(&e, Method::GET, "/?timeframe=%3Cb%3E", &cookie, None);
    assert_eq!(bad.status(), 400);
    assert!(!text(&bad).contains("<b>"));
    let coding = text(&send(&e, Method::GET, "/dashboard/coding", &cookie, None));
    assert!(coding.contains("id=\"daily\"") && coding.contains("id=\"weekly\""));
    assert_eq!(
        send(&e, Method::GET, "/dashboard/style.css", "", None).headers()["content-type"],
        "text/css; charset=utf-8"
    );
}

#[test]
fn a_deployment_behind_tls_marks_its_cookies_secure() {
    let (e, _, _) = engine();
    let config = timeledger_http::Config { secure_cookies: true, ..Default::default() };
    let res = timeledger_http::handle_with(&e, &config, &Request::get("/").body(Vec::new()).unwrap());
    let cookies = set_cookies(&res);
    assert!(!cookies.is_empty() && cookies.iter().all(|c| c.ends_with("; Secure")), "{cookies:?}");
    assert!(set_cookies(&send(&e, Method::GET, "/", "", None)).iter().all(|c| !c.contains("Secure")));
}

#[test]
fn a_tier_sees_only_what_it_may_read() {
    let (e, _, supporter) = engine();
    let cookie = sign_in(&e, &supporter);
    let html = text(&send(&e, Method::GET, "/", &cookie, None));
    // SUPPORTER reads status and leaderboards, not sessions: no "Clocked in now" list.
    assert!(html.contains("id=\"leaderboard\"") && !html.contains("Clocked in now"));
    let user = text(&send(&e, Method::GET, "/dashboard/user/10", &cookie, None));
    assert!(!user.contains("days-7") && !user.contains("coding-seconds"));
}

#[test]
fn the_dashboard_serves_its_charting_library_and_script_itself() {
    let (e, _, _) = engine();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (path, file, kind) in [
        ("/dashboard/uplot.js", "vendor/uPlot.iife.min.js", "text/javascript"),
        ("/dashboard/uplot.css", "vendor/uPlot.min.css", "text/css"),
        ("/dashboard/app.js", "dashboard.js", "text/javascript"),
    ] {
        // Served without signing in (they hold no data), byte for byte the files in the tree.
        let res = send(&e, Method::GET, path, "", None);
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.body(), &std::fs::read(dir.join(file)).unwrap(), "{path}");
    }
    assert!(text(&send(&e, Method::GET, "/dashboard/icon.svg", "", None)).starts_with("<svg"));
}

#[test]
fn a_page_view_spends_one_request_however_many_sections_it_shows() {
    let (e, premium, _) = engine();
    let cookie = sign_in(&e, &premium);
    let remaining = || e.authorize_own_guild(&premium, "read_status", None).unwrap().remaining.unwrap();
    for page in ["/", "/dashboard/user/10", "/dashboard/coding"] {
        let before = remaining();
        assert_eq!(send(&e, Method::GET, page, &cookie, None).status(), 200, "{page}");
        // The page itself and the `remaining()` call after it: two requests.
        assert_eq!(remaining(), before - 2, "{page}");
    }
}

#[test]
fn key_actions_lists_what_a_tier_may_do_and_refuses_keys_authorize_refuses() {
    let (e, premium, supporter) = engine();
    let supporter_actions = e.key_actions(&supporter).unwrap();
    assert!(supporter_actions.contains(&"read_leaderboard") && !supporter_actions.contains(&"read_sessions"));
    let premium_actions = e.key_actions(&premium).unwrap();
    assert!(premium_actions.contains(&"read_sessions") && premium_actions.contains(&"read_heartbeats"));
    // Asking spends nothing.
    let before = e.authorize_own_guild(&premium, "read_status", None).unwrap().remaining.unwrap();
    for _ in 0..5 {
        e.key_actions(&premium).unwrap();
    }
    assert_eq!(e.authorize_own_guild(&premium, "read_status", None).unwrap().remaining.unwrap(), before - 1);
    assert_eq!(e.key_actions("not a key").unwrap_err().code(), "INVALID_API_KEY");
    let id = e.list_keys(3).unwrap().into_iter().find(|k| k.tier == "SUPPORTER").unwrap().key_id;
    e.revoke_key(&id).unwrap();
    assert_eq!(e.key_actions(&supporter).unwrap_err().code(), "KEY_REVOKED");
}
