//! The web dashboard at `/`: pages rendered on the server from the same engine operations the
//! API answers with (no second source of numbers), readable without JavaScript.
//!
//! - Sign-in with an API key, kept in an `HttpOnly`, `SameSite=Strict` cookie (never in a URL
//!   or in a page); sign-out clears it. Every form carries a CSRF token that must equal the
//!   `tl_csrf` cookie (`SameSite=Strict`, `HttpOnly`).
//! - A page view spends one request of the key's rate limit (`authorize` for the page's own
//!   action); each further section is shown only if the key's tier allows its action
//!   ([`Engine::key_actions`], which spends nothing).
//! - `Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; ...`:
//!   no inline script or style. Ranking bars are SVG shapes whose sizes are attributes; the
//!   day charts are drawn by [uPlot](https://github.com/leeoniya/uPlot) (installed from npm by
//!   `http/assets/package-lock.json`, copied into `http/assets/vendor/` and compiled into this
//!   crate, so the server serves it itself) from the numbers in the tables below them, which
//!   work without JavaScript. Every text from the database is HTML-escaped.
//! - Times are shown in the guild's zone (the user's own zone on a user's coding sections).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use timeledger::{Engine, Error};

/// The key's cookie.
const KEY_COOKIE: &str = "tl_key";
/// The CSRF token's cookie.
const CSRF_COOKIE: &str = "tl_csrf";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The charting library, as installed from npm (`http/assets/vendor`, checked by the test command).
const UPLOT_JS: &str = include_str!("../assets/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uPlot.min.css");
/// The tab's icon: three bars.
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect x=\"1\" y=\"8\" width=\"4\" height=\"7\" fill=\"#3b82f6\"/>\
<rect x=\"6\" y=\"3\" width=\"4\" height=\"12\" fill=\"#3b82f6\"/><rect x=\"11\" y=\"6\" width=\"4\" height=\"9\" fill=\"#3b82f6\"/></svg>";
/// The dashboard's own script: draws the charts from the tables.
const APP_JS: &str = include_str!("../assets/dashboard.js");

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.4}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}\
td.n{text-align:right;font-variant-numeric:tabular-nums}nav a{margin-right:1rem}svg{display:block}.chart{width:100%;overflow:hidden}\
svg.bar{width:12rem;max-width:25vw;height:12px;fill:#3b82f6}h1,td{overflow-wrap:anywhere}select{max-width:100%}.muted{color:#666}form.inline{display:inline}\
@media (max-width:40rem){body{padding:.5rem}th,td{padding:.2rem}}";

/// Paths the dashboard answers (everything else is the API).
pub(crate) fn owns(path: &str) -> bool {
    path == "/" || path == "/login" || path == "/logout" || path.starts_with("/dashboard/")
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cookies(req: &Request<Vec<u8>>) -> BTreeMap<String, String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn random_token() -> String {
    let mut b = [0u8; 24];
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn page(status: StatusCode, title: &str, body: &str, set_cookies: &[String]) -> Response<Vec<u8>> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Timeledger</title><link rel=\"icon\" href=\"/dashboard/icon.svg\"><link rel=\"stylesheet\" href=\"/dashboard/uplot.css\"><link rel=\"stylesheet\" href=\"/dashboard/style.css\">\
         <script src=\"/dashboard/uplot.js\" defer></script><script src=\"/dashboard/app.js\" defer></script></head><body>{body}</body></html>",
        escape(title)
    );
    let mut res = Response::new(html.into_bytes());
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in set_cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}

fn redirect(to: &str, set_cookies: &[String]) -> Response<Vec<u8>> {
    let mut res = page(StatusCode::SEE_OTHER, "Redirect", "", set_cookies);
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}")
}

/// The CSRF token of this browser, and the cookie to set if it has none.
fn csrf(req: &Request<Vec<u8>>) -> (String, Vec<String>) {
    match cookies(req).get(CSRF_COOKIE).filter(|t| t.len() == 48) {
        Some(t) => (t.clone(), vec![]),
        None => {
            let t = random_token();
            let c = cookie(CSRF_COOKIE, &t, None);
            (t, vec![c])
        }
    }
}

fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Answers a dashboard request.
pub(crate) fn handle(engine: &Engine, req: &Request<Vec<u8>>, secure: bool) -> Response<Vec<u8>> {
    let mut res = answer(engine, req);
    if secure {
        let cookies: Vec<HeaderValue> = res
            .headers_mut()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| HeaderValue::from_str(&format!("{}; Secure", v.to_str().unwrap_or_default())).ok())
            .collect();
        res.headers_mut().remove(header::SET_COOKIE);
        for c in cookies {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    res
}

fn answer(engine: &Engine, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let path = req.uri().path();
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    match (req.method().clone(), path) {
        (Method::GET, "/dashboard/style.css") => asset(STYLE, "text/css; charset=utf-8"),
        (Method::GET, "/dashboard/uplot.css") => asset(UPLOT_CSS, "text/css; charset=utf-8"),
        (Method::GET, "/dashboard/uplot.js") => asset(UPLOT_JS, "text/javascript; charset=utf-8"),
        (Method::GET, "/dashboard/icon.svg") => asset(ICON, "image/svg+xml"),
        (Method::GET, "/dashboard/app.js") => asset(APP_JS, "text/javascript; charset=utf-8"),
        (Method::POST, "/login") | (Method::POST, "/logout") => {
            let fields = form_fields(req.body());
            let token = cookies(req).get(CSRF_COOKIE).cloned().unwrap_or_default();
            if token.len() != 48 || fields.get("csrf") != Some(&token) {
                return page(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "<h1>Forbidden</h1><p>The form's token did not match this browser's. <a href=\"/\">Start again</a>.</p>",
                    &[],
                );
            }
            if path == "/logout" {
                return redirect("/", &[cookie(KEY_COOKIE, "", Some(0))]);
            }
            let key = fields.get("api_key").map(|k| k.trim().to_string()).unwrap_or_default();
            match engine.authorize_own_guild(&key, "read_status", None) {
                Ok(_) if !key.contains([';', ',', ' ']) => redirect("/", &[cookie(KEY_COOKIE, &key, None)]),
                Ok(_) => sign_in(&token, Some("That key cannot be kept in a cookie."), vec![]),
                Err(e) => sign_in(&token, Some(&e.to_string()), vec![]),
            }
        }
        (Method::GET, _) => {
            let (token, set) = csrf(req);
            let Some(key) = cookies(req).get(KEY_COOKIE).filter(|k| !k.is_empty()).cloned() else {
                return sign_in(&token, None, set);
            };
            let view = View { engine, key: &key, token: &token, actions: Default::default() };
            let rendered = match path {
                "/" => view.guild(&query),
                "/dashboard/coding" => view.coding(),
                p => match p.strip_prefix("/dashboard/user/").and_then(|id| id.parse::<i64>().ok()) {
                    Some(user) => view.user(user),
                    None => Err(Error::invalid("path", "no such page")),
                },
            };
            match rendered {
                Ok((title, body)) => page(StatusCode::OK, &title, &body, &set),
                // The key stopped working (revoked, expired): sign in again.
                Err(Error::InvalidApiKey | Error::KeyRevoked | Error::KeyExpired) => {
                    let mut set = set;
                    set.push(cookie(KEY_COOKIE, "", Some(0)));
                    sign_in(&token, Some("Your key no longer works: sign in again."), set)
                }
                Err(e) => {
                    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                    let body = format!(
                        "<h1>{}</h1><p>{}</p><p><a href=\"/\">Back</a></p>",
                        status.as_u16(),
                        escape(&e.to_string())
                    );
                    page(status, "Error", &body, &set)
                }
            }
        }
        _ => page(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", "<h1>405</h1>", &[]),
    }
}

/// A static file of the dashboard's, cacheable for an hour.
fn asset(body: &'static str, content_type: &'static str) -> Response<Vec<u8>> {
    let mut res = Response::new(body.as_bytes().to_vec());
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}

fn sign_in(token: &str, problem: Option<&str>, set: Vec<String>) -> Response<Vec<u8>> {
    let problem = problem.map(|p| format!("<p role=\"alert\">{}</p>", escape(p))).unwrap_or_default();
    let body = format!(
        "<h1>Timeledger</h1>{problem}<form method=\"post\" action=\"/login\">\
         <label>API key <input name=\"api_key\" type=\"password\" autocomplete=\"off\" required></label>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"> <button>Sign in</button></form>",
        escape(token)
    );
    let status = if problem.is_empty() { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
    page(status, "Sign in", &body, &set)
}

struct View<'a> {
    engine: &'a Engine,
    key: &'a str,
    token: &'a str,
    /// What the key may do, read once per page.
    actions: std::cell::OnceCell<Vec<&'static str>>,
}

/// A horizontal bar scaled to `max`, as an SVG shape (no inline style, so the CSP holds).
fn bar(value: f64, max: f64) -> String {
    let w = if max > 0.0 { (value / max * 200.0).round().clamp(0.0, 200.0) } else { 0.0 };
    format!(
        "<svg class=\"bar\" viewBox=\"0 0 200 12\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect width=\"{w}\" height=\"12\"/></svg>"
    )
}

/// A table of hours by day and by one more key (category or project), with the attributes
/// `dashboard.js` draws its stacked bar chart from: `data-end` (the last day) and `data-days`.
fn day_table(b: &mut String, id: &str, title: &str, key: &str, today: i32, days: i32, rows: &[(String, String, f64)]) {
    let max = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    let _ = write!(
        b,
        "<h2>{}</h2><table id=\"{id}\" data-chart=\"stacked\" data-end=\"{}\" data-days=\"{days}\" aria-label=\"{0}\">\
         <tr><th>Day</th><th>{key}</th><th>Hours</th><th></th></tr>",
        escape(title),
        timeledger::time::format_day(today)
    );
    for (day, name, secs) in rows {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(day),
            escape(name),
            hours(*secs),
            bar(*secs, max)
        );
    }
    b.push_str("</table>");
}

fn hours(seconds: f64) -> String {
    format!("{:.2}", seconds / 3600.0)
}

impl View<'_> {
    /// Spends the page's one request: `authorize` for the page's own action in the key's
    /// guild. Gives the guild and the key's owner.
    fn enter(&self, action: &str) -> Result<(i64, Option<i64>), Error> {
        let g = self.engine.authorize_own_guild(self.key, action, None)?;
        Ok((g.guild_id, g.owner_user_id))
    }

    /// Whether the key's tier allows `action`, for showing a section (spends nothing more).
    fn may(&self, action: &str) -> Result<bool, Error> {
        if self.actions.get().is_none() {
            let _ = self.actions.set(self.engine.key_actions(self.key)?);
        }
        Ok(self.actions.get().is_some_and(|a| a.contains(&action)))
    }

    fn nav(&self, guild: i64, owner: Option<i64>) -> String {
        let me = owner.map(|u| format!("<a href=\"/dashboard/user/{u}\">My time</a>")).unwrap_or_default();
        format!(
            "<nav><a href=\"/\">Guild {guild}</a>{me}<a href=\"/dashboard/coding\">Coding leaderboards</a>\
             <form class=\"inline\" method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form></nav>",
            escape(self.token)
        )
    }

    fn zone(&self, guild: i64) -> chrono_tz::Tz {
        self.engine
            .guild_settings(guild)
            .ok()
            .and_then(|s| timeledger::time::parse_zone(&s.timezone).ok())
            .unwrap_or(chrono_tz::UTC)
    }

    fn local(&self, zone: chrono_tz::Tz, instant: &Value) -> String {
        instant
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }

    fn guild(&self, query: &BTreeMap<String, String>) -> Result<(String, String), Error> {
        let (guild, owner) = self.enter("read_status")?;
        let zone = self.zone(guild);
        let mut b = self.nav(guild, owner);
        let status = self.engine.call("guild_status", json!({"guild_id": guild}))?;
        let _ = write!(
            b,
            "<h1>Guild {guild}</h1><p><span id=\"total-hours\">{}</span> hours in all, {} members, <span id=\"active\">{}</span> clocked in now. Times in {}.</p>",
            status["total_time_hours"].as_f64().map(|h| format!("{h:.2}")).unwrap_or_default(),
            status["total_users"],
            status["active_sessions"],
            escape(zone.name())
        );
        if self.may("read_sessions")? {
            b.push_str("<h2>Clocked in now</h2><table><tr><th>User</th><th>Category</th><th>Since</th></tr>");
            for s in self.engine.running_sessions(guild)? {
                let who = self.engine.get_user(s.user_id).map(|u| u.username).unwrap_or_else(|_| s.user_id.to_string());
                let s = serde_json::to_value(&s).unwrap_or_default();
                let _ = write!(
                    b,
                    "<tr><td><a href=\"/dashboard/user/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                    s["user_id"].as_str().map(str::to_string).unwrap_or_else(|| s["user_id"].to_string()),
                    escape(&who),
                    escape(s["category"].as_str().unwrap_or_default()),
                    self.local(zone, &s["start_time"]),
                );
            }
            b.push_str("</table>");
        }
        if self.may("read_leaderboard")? {
            let timeframe = query.get("timeframe").cloned().unwrap_or_else(|| "week".into());
            let mut args = json!({"guild_id": guild, "timeframe": timeframe, "limit": 25});
            let category = query.get("category").filter(|c| !c.is_empty()).cloned();
            if let Some(c) = &category {
                args["category"] = json!(c);
            }
            let board = self.engine.call("leaderboard", args)?;
            let categories = self.engine.call("list_categories", json!({"guild_id": guild}))?;
            b.push_str(
                "<h2>Leaderboard</h2><form method=\"get\" action=\"/\"><label>Timeframe <select name=\"timeframe\">",
            );
            for tf in ["today", "week", "month", "year", "all"] {
                let sel = if tf == timeframe { " selected" } else { "" };
                let _ = write!(b, "<option{sel}>{tf}</option>");
            }
            b.push_str("</select></label> <label>Category <select name=\"category\"><option value=\"\">all</option>");
            for c in categories.as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                let sel = if category.as_deref() == Some(name) { " selected" } else { "" };
                let _ = write!(b, "<option{sel} value=\"{0}\">{0}</option>", escape(name));
            }
            b.push_str("</select></label> <button>Show</button></form>");
            b.push_str("<table id=\"leaderboard\"><tr><th>#</th><th>User</th><th>Hours</th><th></th></tr>");
            let rows = board["leaderboard"].as_array().cloned().unwrap_or_default();
            let max = rows.first().and_then(|r| r["total_seconds"].as_f64()).unwrap_or(0.0);
            for r in &rows {
                let secs = r["total_seconds"].as_f64().unwrap_or(0.0);
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td><a href=\"/dashboard/user/{}\">{}</a></td><td class=\"n\">{}</td><td>{}</td></tr>",
                    r["rank"],
                    r["user_id"],
                    escape(r["username"].as_str().unwrap_or_default()),
                    hours(secs),
                    bar(secs, max)
                );
            }
            b.push_str("</table>");
        }
        Ok((format!("Guild {guild}"), b))
    }

    fn user(&self, user: i64) -> Result<(String, String), Error> {
        let (guild, owner) = self.enter("read_status")?;
        if !self.engine.is_member(guild, user)? {
            return Err(Error::UserNotFound);
        }
        let zone = self.zone(guild);
        let person = self.engine.get_user(user)?;
        // Coding sections follow the member's own zone, as the coding operations do.
        let coding_zone =
            person.time_zone.as_deref().and_then(|z| timeledger::time::parse_zone(z).ok()).unwrap_or(zone);
        let name = person.username;
        let mut b = self.nav(guild, owner);
        let _ = write!(b, "<h1>{}</h1>", escape(&name));
        let now = self.engine.now_ms();
        if self.may("read_reports")? {
            // Whole calendar days of the guild's zone: today and the days before it.
            let today = timeledger::time::local_day(zone, now);
            for days in [7, 30] {
                let report = self.engine.call(
                    "report",
                    json!({"guild_id": guild, "user_id": user, "group_by": ["day", "category"], "timeframe": "custom",
                           "from": timeledger::time::format_instant(timeledger::time::day_start(zone, today - days + 1)),
                           "to": timeledger::time::format_instant(timeledger::time::day_start(zone, today + 1))}),
                )?;
                let rows: Vec<(String, String, f64)> = report["rows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        (
                            r["day"].as_str().unwrap_or_default().to_string(),
                            r["category"].as_str().unwrap_or_default().to_string(),
                            r["total_seconds"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .collect();
                let title = format!("Last {days} days by category");
                day_table(&mut b, &format!("days-{days}"), &title, "Category", today, days, &rows);
            }
        }
        if self.may("read_heartbeats")? {
            // Coding time per day and project: one summary per local day of the member's zone.
            let today = timeledger::time::local_day(coding_zone, now);
            let summaries = self.engine.call(
                "coding_summaries",
                json!({"guild_id": guild, "user_id": user, "start": timeledger::time::format_day(today - 29), "end": "today"}),
            )?;
            let mut rows = Vec::new();
            for d in summaries["data"].as_array().into_iter().flatten() {
                let day = d["range"]["date"].as_str().unwrap_or_default();
                for p in d["projects"].as_array().into_iter().flatten() {
                    let secs = p["total_seconds"].as_f64().unwrap_or(0.0);
                    rows.push((day.to_string(), p["name"].as_str().unwrap_or_default().to_string(), secs));
                }
            }
            for days in [7, 30] {
                let first = timeledger::time::format_day(today - days + 1);
                let window: Vec<_> = rows.iter().filter(|r| r.0 >= first).cloned().collect();
                let title = format!("Coding, last {days} days by project");
                day_table(&mut b, &format!("coding-days-{days}"), &title, "Project", today, days, &window);
            }
            let stats = self
                .engine
                .call("coding_stats", json!({"guild_id": guild, "user_id": user, "timeframe": "last_30_days"}))?;
            let _ = write!(
                b,
                "<h2>Coding, last 30 days: <span id=\"coding-seconds\">{}</span> s</h2>",
                stats["total_seconds"]
            );
            for (key, title) in [
                ("projects", "Projects"),
                ("languages", "Languages"),
                ("editors", "Editors"),
                ("operating_systems", "Operating systems"),
            ] {
                let items = stats[key].as_array().cloned().unwrap_or_default();
                let max = items.first().and_then(|i| i["seconds"].as_f64()).unwrap_or(0.0);
                let _ =
                    write!(b, "<h3>{title}</h3><table class=\"{key}\"><tr><th>Name</th><th>Hours</th><th></th></tr>");
                for i in items {
                    let secs = i["seconds"].as_f64().unwrap_or(0.0);
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                        escape(i["name"].as_str().unwrap_or_default()),
                        hours(secs),
                        bar(secs, max)
                    );
                }
                b.push_str("</table>");
            }
            let beats =
                self.engine.call("list_heartbeats", json!({"guild_id": guild, "user_id": user, "limit": 100}))?;
            b.push_str("<h2>Today's timeline (first 100 heartbeats)</h2><table><tr><th>Time</th><th>Project</th><th>Entity</th></tr>");
            for h in beats["data"].as_array().into_iter().flatten() {
                let at = h["time"].as_f64().map(|t| chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64));
                let at = at
                    .flatten()
                    .map(|t| t.with_timezone(&coding_zone).format("%H:%M:%S").to_string())
                    .unwrap_or_default();
                let _ = write!(
                    b,
                    "<tr><td>{at}</td><td>{}</td><td>{}</td></tr>",
                    escape(h["project"].as_str().unwrap_or_default()),
                    escape(h["entity"].as_str().unwrap_or_default())
                );
            }
            b.push_str("</table>");
        }
        Ok((name, b))
    }

    fn coding(&self) -> Result<(String, String), Error> {
        let (guild, owner) = self.enter("read_leaderboard")?;
        let mut b = self.nav(guild, owner);
        b.push_str("<h1>Coding leaderboards</h1>");
        for (period, title) in [("daily", "Last 24 hours"), ("weekly", "Last 7 days")] {
            let board =
                self.engine.call("coding_leaderboard", json!({"guild_id": guild, "period": period, "limit": 50}))?;
            let entries = board["entries"].as_array().cloned().unwrap_or_default();
            let max = entries.first().and_then(|e| e["total_seconds"].as_f64()).unwrap_or(0.0);
            let _ = write!(
                b,
                "<h2>{title}</h2><table id=\"{period}\"><tr><th>#</th><th>User</th><th>Hours</th><th></th></tr>"
            );
            for e in entries {
                let secs = e["total_seconds"].as_f64().unwrap_or(0.0);
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    e["rank"],
                    escape(e["user"]["username"].as_str().unwrap_or_default()),
                    hours(secs),
                    bar(secs, max)
                );
            }
            b.push_str("</table>");
        }
        Ok(("Coding leaderboards".into(), b))
    }
}
