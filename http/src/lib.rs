//! # timeledger-http
//!
//! The services' HTTP APIs as one function from a request to a response, with no sockets and no
//! async runtime: a host (or `timeledger serve`) hands over method, path with query, headers and
//! body bytes, and sends back what comes out. Everything a client sees is decided here or in the
//! engine: key extraction and `authorize`, the permission each route needs, status codes,
//! rate-limit headers, bodies and error bodies.
//!
//! Routes are a table of data ([`routes`]); the OpenAPI 3.1 document served at
//! `/api/v1/openapi.json` is generated from the same table ([`openapi`]). Served: the clock-in
//! bot's REST API (`/api/v1/auth/generate` and `/api/v1/guild/{guild_id}/...`) and the
//! WakaTime / Hackatime API (under `/api/v1`, `/api/hackatime/v1` and `/api/compat/wakatime/v1`),
//! whose routes take guild and user from the key, and the time-entry API (`time-entries`,
//! `projects`, `reports/summary`) in the key's guild.
//!
//! ```
//! use timeledger::Engine;
//! let engine = Engine::open(":memory:").unwrap();
//! let req = http::Request::get("/api/v1/guild/1/status").body(Vec::new()).unwrap();
//! let res = timeledger_http::handle(&engine, &req);
//! assert_eq!(res.status(), 401); // no key
//! let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
//! assert_eq!(body["code"], "MISSING_API_KEY");
//! ```

use std::collections::BTreeMap;

pub mod dashboard;

use http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use timeledger::{AuthorizeRequest, Engine, Error, KeySources};

/// A deployment's limits for the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest request body accepted, in bytes (default 1 MiB); more is 413.
    pub max_body_bytes: usize,
    /// The most heartbeats one `heartbeats.bulk` request may carry (default 25, as WakaTime's
    /// API); more is 400.
    pub max_bulk_heartbeats: usize,
    /// Mark the dashboard's cookies `Secure` (browsers then send them over HTTPS only): set it
    /// when the deployment is reached through TLS (default false, so plain `http://localhost`
    /// works).
    pub secure_cookies: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_body_bytes: 1024 * 1024, max_bulk_heartbeats: 25, secure_cookies: false }
    }
}

/// What a route's handler gets: path parameters, query parameters (text, as they arrived), the
/// JSON body (`Null` when there is none) and the API key the request carried.
#[derive(Debug)]
pub struct Input {
    params: BTreeMap<&'static str, String>,
    query: BTreeMap<String, String>,
    /// Header names (lower case) and values.
    headers: BTreeMap<String, String>,
    body: Value,
    api_key: Option<String>,
    /// The guild and user of the key (routes that name neither), once authorized.
    owner: Option<(i64, i64)>,
    /// The guild a `KeyOnSession` route was authorized in.
    session_guild: Option<i64>,
    max_bulk: usize,
}

impl Input {
    /// The key owner's guild and user (WakaTime routes).
    fn own(&self) -> Result<(i64, i64), Error> {
        self.owner.ok_or_else(|| Error::Forbidden("this key belongs to no user".into()))
    }

    /// The route's query parameters with `guild_id`: the key's own guild.
    fn own_guild_args(&self, spec: &[(&'static str, Kind)]) -> Result<Map<String, Value>, Error> {
        let mut args = self.query_args(spec)?;
        args.insert("guild_id".into(), json!(self.own()?.0));
        Ok(args)
    }

    /// The route's query parameters with `{guild_id, user_id}` of the key's owner.
    fn own_args(&self, spec: &[(&'static str, Kind)]) -> Result<Map<String, Value>, Error> {
        let mut args = self.own_guild_args(spec)?;
        args.insert("user_id".into(), json!(self.own()?.1));
        Ok(args)
    }

    /// The user a `{user}` segment names: `current` (the key's owner) or the id of a member of
    /// the key's guild (users of other guilds are not found).
    fn user_param(&self, engine: &Engine) -> Result<i64, Error> {
        match self.text("user").as_str() {
            "current" => Ok(self.own()?.1),
            other => {
                let id = other.parse().map_err(|_| Error::invalid("user", "must be \"current\" or a user id"))?;
                member(engine, self, id)
            }
        }
    }

    /// `{guild_id, user_id, heartbeats, user_agent?, machine_name?}` for an ingest: the plugin's
    /// `User-Agent` and `X-Machine-Name` fill the heartbeats' editor, OS and machine.
    fn ingest_args(&self, heartbeats: Value) -> Result<Map<String, Value>, Error> {
        let mut args = self.own_args(&[])?;
        args.insert("heartbeats".into(), heartbeats);
        if let Some(ua) = self.headers.get("user-agent") {
            args.insert("user_agent".into(), json!(ua));
        }
        if let Some(m) = self.headers.get("x-machine-name") {
            args.insert("machine_name".into(), json!(m));
        }
        if let Some(z) = self.headers.get("timezone") {
            args.insert("time_zone".into(), json!(z));
        }
        Ok(args)
    }

    /// The session a path names (`{session_id}` or `{id}`).
    fn session_param(&self) -> String {
        self.params.get("session_id").or_else(|| self.params.get("id")).cloned().unwrap_or_default()
    }

    /// `{guild_id, session_id}` of a `KeyOnSession` route, with the body's fields (an edit).
    fn session_args(&self) -> Result<Map<String, Value>, Error> {
        let mut m = match &self.body {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            _ => return Err(Error::invalid("body", "must be a JSON object")),
        };
        for k in ["guild_id", "session_id", "user_id"] {
            if m.remove(k).is_some() {
                return Err(Error::invalid(k, "is set by the path and the session, not the body"));
            }
        }
        let guild = self.session_guild.ok_or_else(|| Error::Forbidden("no guild was authorized".into()))?;
        m.insert("guild_id".into(), json!(guild));
        m.insert("session_id".into(), json!(self.session_param()));
        Ok(m)
    }

    /// A path parameter that is a 64-bit id.
    fn id(&self, name: &'static str) -> Result<i64, Error> {
        let raw = self.params.get(name).map(String::as_str).unwrap_or_default();
        raw.parse().map_err(|_| Error::invalid(name, format!("{raw:?} is not a 64-bit integer id")))
    }

    /// A path parameter as text.
    fn text(&self, name: &'static str) -> String {
        self.params.get(name).cloned().unwrap_or_default()
    }

    /// The body's fields (an empty object for no body), with `guild_id` from the path.
    fn body_with_guild(&self) -> Result<Map<String, Value>, Error> {
        let mut m = match &self.body {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            _ => return Err(Error::invalid("body", "must be a JSON object")),
        };
        let guild = self.id("guild_id")?;
        if let Some(given) = m.get("guild_id") {
            let same = given.as_i64() == Some(guild) || given.as_str().and_then(|s| s.parse().ok()) == Some(guild);
            if !same {
                return Err(Error::invalid("guild_id", "the body names another guild than the path"));
            }
        }
        m.insert("guild_id".into(), json!(guild));
        Ok(m)
    }

    /// Query parameters read as the operation's types: `ints` as integers, `bools` as booleans,
    /// `lists` split on commas, everything else as text. Unknown parameters are ignored.
    fn query_args(&self, spec: &[(&'static str, Kind)]) -> Result<Map<String, Value>, Error> {
        let mut m = Map::new();
        for &(name, kind) in spec {
            let Some(raw) = self.query.get(name) else { continue };
            let v = match kind {
                Kind::Text => json!(raw),
                Kind::Int => json!(raw
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| Error::invalid(name, format!("{raw:?} is not an integer")))?),
                Kind::Bool => match raw.trim() {
                    "true" | "1" | "yes" => json!(true),
                    "false" | "0" | "no" => json!(false),
                    _ => return Err(Error::invalid(name, format!("{raw:?} is not true or false"))),
                },
                Kind::List => json!(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()),
            };
            m.insert(name.into(), v);
        }
        Ok(m)
    }
}

/// How a query parameter is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, as it arrived.
    Text,
    /// A whole number.
    Int,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// A comma-separated list.
    List,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: the route carries its own credential (the master key) or none.
    Open,
    /// A key allowed to do this action in the path's guild.
    Key {
        /// The action `authorize` is asked about.
        action: &'static str,
        /// The body's `user_id` is the user acted on (tiers that may act only on guild admins
        /// need it).
        targets: bool,
    },
    /// A key allowed to do this action in its own guild, acting for its owner (the WakaTime
    /// and time-entry routes, which name no guild).
    OwnKey {
        /// The action `authorize` is asked about.
        action: &'static str,
    },
    /// As `OwnKey`, for an action on the user the body's `user_id` names (default: the key's
    /// owner).
    OwnKeyOnUser {
        /// The action `authorize` is asked about.
        action: &'static str,
    },
    /// A key allowed to do this action on the session the path names (`{session_id}` or
    /// `{id}`), in the path's guild (`{guild_id}`) or, on routes that name none, the key's own:
    /// the user acted on is the session's own.
    KeyOnSession {
        /// The action `authorize` is asked about.
        action: &'static str,
    },
    /// A key, checked by the operation itself (which spends the request), as minting does.
    KeyCheckedByCall {
        /// The action the operation checks.
        action: &'static str,
    },
}

/// One route: method, path pattern (`{name}` segments are parameters), who may call it, the
/// query parameters it reads, its success status, and the handler (a few lines that call the
/// engine).
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, e.g. `/api/v1/guild/{guild_id}/status`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Query parameters and how they are read.
    pub query: &'static [(&'static str, Kind)],
    /// Success status.
    pub status: u16,
    /// One line for the docs.
    pub summary: &'static str,
    handler: fn(&Engine, &Input) -> Result<Value, Error>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    fn copy(&self) -> Route {
        Route {
            method: self.method.clone(),
            path: self.path,
            access: self.access,
            query: self.query,
            status: self.status,
            summary: self.summary,
            handler: self.handler,
        }
    }

    /// The path parameters if `path` matches this route's pattern.
    fn matches(&self, path: &str) -> Option<BTreeMap<&'static str, String>> {
        let mut params = BTreeMap::new();
        let mut want = self.path.trim_end_matches('/').split('/');
        let mut got = path.trim_end_matches('/').split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(w), Some(g)) => {
                    if let Some(name) = w.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                        if g.is_empty() {
                            return None;
                        }
                        let decoded: String = form_urlencoded::parse(format!("x={}", g.replace('+', "%2B")).as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default();
                        params.insert(name, decoded);
                    } else if w != g {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
}

/// `user` if it is a member of the key's guild, else `USER_NOT_FOUND`: a key of one guild never
/// sees the profile of another guild's user.
fn member(engine: &Engine, input: &Input, user: i64) -> Result<i64, Error> {
    if engine.is_member(input.own()?.0, user)? {
        Ok(user)
    } else {
        Err(Error::UserNotFound)
    }
}

/// A user found by a look-up, if a member of the key's guild.
fn member_lookup(engine: &Engine, input: &Input, op: &str, arg: &str, value: String) -> Result<Value, Error> {
    let user = call(engine, op, Map::from_iter([(arg.to_string(), json!(value))]))?;
    member(engine, input, user["user_id"].as_i64().unwrap_or_default())?;
    Ok(user)
}

fn call(engine: &Engine, op: &str, args: Map<String, Value>) -> Result<Value, Error> {
    engine.call(op, Value::Object(args))
}

/// Merges the route's query parameters into the body-with-guild arguments.
fn guild_query(input: &Input, spec: &[(&'static str, Kind)]) -> Result<Map<String, Value>, Error> {
    let mut args = input.query_args(spec)?;
    args.insert("guild_id".into(), json!(input.id("guild_id")?));
    Ok(args)
}

const LEADERBOARD_QUERY: &[(&str, Kind)] = &[
    ("timeframe", Kind::Text),
    ("category", Kind::Text),
    ("limit", Kind::Int),
    ("offset", Kind::Int),
    ("from", Kind::Text),
    ("to", Kind::Text),
];
const SESSIONS_QUERY: &[(&str, Kind)] = &[
    ("user_id", Kind::Text),
    ("category", Kind::Text),
    ("from", Kind::Text),
    ("to", Kind::Text),
    ("page", Kind::Int),
    ("per_page", Kind::Int),
];
const REPORT_QUERY: &[(&str, Kind)] = &[
    ("timeframe", Kind::Text),
    ("group_by", Kind::List),
    ("user_id", Kind::Text),
    ("category", Kind::Text),
    ("from", Kind::Text),
    ("to", Kind::Text),
];
const PAGE_QUERY: &[(&str, Kind)] = &[("page", Kind::Int), ("per_page", Kind::Int)];
const CATEGORIES_QUERY: &[(&str, Kind)] = &[("include_archived", Kind::Bool)];

/// The status of a route whose handler answers `[body, status]` itself.
const STATUS_FROM_HANDLER: u16 = 0;

const STATS_QUERY: &[(&str, Kind)] = &[("timeframe", Kind::Text), ("from", Kind::Text), ("to", Kind::Text)];
const MY_HEARTBEATS_QUERY: &[(&str, Kind)] = &[("start", Kind::Text), ("end", Kind::Text), ("limit", Kind::Int)];
const CODING_BOARD_QUERY: &[(&str, Kind)] = &[("limit", Kind::Int), ("offset", Kind::Int)];
const SUMMARIES_QUERY: &[(&str, Kind)] = &[("start", Kind::Text), ("end", Kind::Text)];

/// Where WakaTime-compatible clients find the API: WakaTime's own prefix and Hackatime's two.
const WAKATIME_PREFIXES: [&str; 3] = ["/api/v1", "/api/hackatime/v1", "/api/compat/wakatime/v1"];

/// The WakaTime / Hackatime routes under one prefix. Their paths are built once per process
/// (`Box::leak` of a few dozen short strings, so the table stays `&'static str`).
fn wakatime_routes(prefix: &str) -> Vec<Route> {
    let p = |tail: &str| -> &'static str { Box::leak(format!("{prefix}{tail}").into_boxed_str()) };
    let read = Access::OwnKey { action: "read_heartbeats" };
    fn board(e: &Engine, i: &Input, period: &str) -> Result<Value, Error> {
        let mut a = i.own_guild_args(CODING_BOARD_QUERY)?;
        a.insert("period".into(), json!(period));
        call(e, "coding_leaderboard", a)
    }
    vec![
        Route {
            method: Method::POST,
            path: p("/users/current/heartbeats"),
            access: Access::OwnKey { action: "write_heartbeats" },
            query: &[],
            status: STATUS_FROM_HANDLER,
            summary: "One heartbeat, as editor plugins send it: 201 {data} or 400 {error}",
            handler: |e, i| {
                if !i.body.is_object() {
                    return Err(Error::invalid("body", "one heartbeat object (send lists to heartbeats.bulk)"));
                }
                let out = call(e, "ingest_heartbeats", i.ingest_args(i.body.clone())?)?;
                let mut pair = out["responses"][0].clone();
                // A duplicate is stored already: WakaTime answers it 201 too.
                if pair[1] == json!(202) {
                    pair[1] = json!(201);
                }
                // WakaTime's `{error}` body, with the engine's code and message beside it.
                if pair[1] == json!(400) {
                    let message = pair[0]["error"].clone();
                    pair[0]["code"] = json!("INVALID_INPUT");
                    pair[0]["message"] = message;
                    pair[0]["field"] = json!("heartbeats");
                }
                Ok(pair)
            },
        },
        Route {
            method: Method::POST,
            path: p("/users/current/heartbeats.bulk"),
            access: Access::OwnKey { action: "write_heartbeats" },
            query: &[],
            status: 201,
            summary: "A bulk of heartbeats (at most 25 by default): 201 {responses: [[body, status], ...]}",
            handler: |e, i| {
                let beats = match &i.body {
                    Value::Array(a) if a.len() > i.max_bulk => {
                        return Err(Error::invalid(
                            "heartbeats",
                            format!("at most {} heartbeats per request", i.max_bulk),
                        ))
                    }
                    Value::Array(_) => i.body.clone(),
                    Value::Object(_) => json!([i.body.clone()]),
                    _ => return Err(Error::invalid("body", "a list of heartbeat objects")),
                };
                call(e, "ingest_heartbeats", i.ingest_args(beats)?)
            },
        },
        Route {
            method: Method::GET,
            path: p("/users/current/statusbar/today"),
            access: read,
            query: &[],
            status: 200,
            summary: "Today's coding time for the editor's status bar",
            handler: |e, i| call(e, "statusbar_today", i.own_args(&[])?),
        },
        Route {
            method: Method::GET,
            path: p("/users/{user}/summaries"),
            access: read,
            query: SUMMARIES_QUERY,
            status: 200,
            summary: "Summaries, one item a day: ?start=&end= (YYYY-MM-DD, today, yesterday; default today)",
            handler: |e, i| {
                let mut a = i.own_args(SUMMARIES_QUERY)?;
                a.insert("user_id".into(), json!(i.user_param(e)?));
                for k in ["start", "end"] {
                    a.entry(k).or_insert_with(|| json!("today"));
                }
                call(e, "coding_summaries", a)
            },
        },
        Route {
            method: Method::GET,
            path: p("/users/current"),
            access: Access::OwnKey { action: "read_heartbeats" },
            query: &[],
            status: 200,
            summary: "The key's owner: {data: user}",
            handler: |e, i| {
                let user = call(e, "get_user", Map::from_iter([("user_id".to_string(), json!(i.own()?.1))]))?;
                Ok(json!({ "data": user }))
            },
        },
        Route {
            method: Method::GET,
            path: p("/users/{user}/stats"),
            access: read,
            query: STATS_QUERY,
            status: 200,
            summary: "Coding stats of a user (`current` or an id) over a timeframe",
            handler: |e, i| {
                let mut a = i.own_args(STATS_QUERY)?;
                a.insert("user_id".into(), json!(i.user_param(e)?));
                call(e, "coding_stats", a)
            },
        },
        Route {
            method: Method::GET,
            path: p("/stats"),
            access: read,
            query: STATS_QUERY,
            status: 200,
            summary: "The key owner's coding stats over a timeframe",
            handler: |e, i| call(e, "coding_stats", i.own_args(STATS_QUERY)?),
        },
        Route {
            method: Method::GET,
            path: p("/leaderboard"),
            access: Access::OwnKey { action: "read_leaderboard" },
            query: CODING_BOARD_QUERY,
            status: 200,
            summary: "Coding leaderboard of the last 24 hours",
            handler: |e, i| board(e, i, "daily"),
        },
        Route {
            method: Method::GET,
            path: p("/leaderboard/daily"),
            access: Access::OwnKey { action: "read_leaderboard" },
            query: CODING_BOARD_QUERY,
            status: 200,
            summary: "Coding leaderboard of the last 24 hours",
            handler: |e, i| board(e, i, "daily"),
        },
        Route {
            method: Method::GET,
            path: p("/leaderboard/weekly"),
            access: Access::OwnKey { action: "read_leaderboard" },
            query: CODING_BOARD_QUERY,
            status: 200,
            summary: "Coding leaderboard of the last 7 days",
            handler: |e, i| board(e, i, "weekly"),
        },
        Route {
            method: Method::GET,
            path: p("/my/heartbeats"),
            access: read,
            query: MY_HEARTBEATS_QUERY,
            status: 200,
            summary: "The owner's raw heartbeats in [start, end) (default today), at most limit (<= 100)",
            handler: |e, i| call(e, "list_heartbeats", i.own_args(MY_HEARTBEATS_QUERY)?),
        },
        Route {
            method: Method::GET,
            path: p("/my/heartbeats/most_recent"),
            access: read,
            query: &[],
            status: 200,
            summary: "The owner's most recent heartbeat",
            handler: |e, i| call(e, "most_recent_heartbeat", i.own_args(&[])?),
        },
        Route {
            method: Method::GET,
            path: p("/users/lookup_email/{email}"),
            access: Access::OwnKey { action: "read_users" },
            query: &[],
            status: 200,
            summary: "A user by e-mail",
            handler: |e, i| member_lookup(e, i, "find_user_by_email", "email", i.text("email")),
        },
        Route {
            method: Method::GET,
            path: p("/users/lookup_slack_uid/{slack_uid}"),
            access: Access::OwnKey { action: "read_users" },
            query: &[],
            status: 200,
            summary: "A user by Slack id",
            handler: |e, i| member_lookup(e, i, "find_user_by_slack_uid", "slack_uid", i.text("slack_uid")),
        },
        Route {
            method: Method::GET,
            path: p("/users/{user}/trust_factor"),
            access: Access::OwnKey { action: "read_users" },
            query: &[],
            status: 200,
            summary: "A user's trust level: {trust_level, trust_value} (blue 0, red 1, green 2, yellow 3)",
            handler: |e, i| {
                let user = call(e, "get_user", Map::from_iter([("user_id".to_string(), json!(i.user_param(e)?))]))?;
                let level = user["trust_level"].as_str().unwrap_or("blue").to_string();
                let value = ["blue", "red", "green", "yellow"].iter().position(|l| *l == level).unwrap_or(0);
                Ok(json!({ "trust_level": level, "trust_value": value }))
            },
        },
    ]
}

const ENTRIES_QUERY: &[(&str, Kind)] = &[
    ("user_id", Kind::Text),
    ("project_id", Kind::Text),
    ("from", Kind::Text),
    ("to", Kind::Text),
    ("page", Kind::Int),
    ("per_page", Kind::Int),
];

/// A session as a time entry: the engine's fields plus `project_id` (the category).
fn entry(mut session: Value) -> Value {
    if let Some(cat) = session.get("category").cloned() {
        session["project_id"] = cat;
    }
    session
}

/// The time-entry API (`/api/v1/time-entries`, `projects`, `reports/summary`): the key's own
/// guild; projects are the guild's categories.
fn time_entry_routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::GET,
            path: "/api/v1/time-entries",
            access: Access::OwnKey { action: "read_sessions" },
            query: ENTRIES_QUERY,
            status: 200,
            summary: "Time entries, newest first: {data, meta {total, page, per_page}}",
            handler: |e, i| {
                let mut a = i.own_guild_args(ENTRIES_QUERY)?;
                if let Some(p) = a.remove("project_id") {
                    a.insert("category".into(), p);
                }
                let mut page = call(e, "list_sessions", a)?;
                if let Some(data) = page.get_mut("data").and_then(Value::as_array_mut) {
                    for s in data.iter_mut() {
                        *s = entry(s.take());
                    }
                }
                Ok(page)
            },
        },
        Route {
            method: Method::POST,
            path: "/api/v1/time-entries",
            access: Access::OwnKeyOnUser { action: "write_sessions" },
            query: &[],
            status: 201,
            summary: "Add a time entry: {project_id, start_time, end_time, user_id?, description?, billable?}",
            handler: |e, i| {
                let Value::Object(body) = &i.body else {
                    return Err(Error::invalid("body", "must be a JSON object"));
                };
                let mut a = i.own_args(&[])?;
                for (from, to) in [("project_id", "category"), ("start_time", "start"), ("end_time", "end")] {
                    if let Some(v) = body.get(from).or_else(|| body.get(to)) {
                        a.insert(to.into(), v.clone());
                    }
                }
                for k in ["user_id", "description", "billable"] {
                    if let Some(v) = body.get(k) {
                        a.insert(k.into(), v.clone());
                    }
                }
                Ok(entry(call(e, "add_entry", a)?))
            },
        },
        Route {
            method: Method::GET,
            path: "/api/v1/time-entries/{id}",
            access: Access::OwnKey { action: "read_sessions" },
            query: &[],
            status: 200,
            summary: "One time entry",
            handler: |e, i| {
                let mut a = i.own_guild_args(&[])?;
                a.insert("session_id".into(), json!(i.text("id")));
                Ok(entry(call(e, "get_session", a)?))
            },
        },
        Route {
            method: Method::PUT,
            path: "/api/v1/time-entries/{id}",
            access: Access::KeyOnSession { action: "write_sessions" },
            query: &[],
            status: 200,
            summary: "Change a time entry (fields given change): {project_id?, start_time?, end_time?, description?, billable?}",
            handler: |e, i| {
                let mut a = i.session_args()?;
                for (from, to) in [("project_id", "category"), ("start_time", "start"), ("end_time", "end")] {
                    if let Some(v) = a.remove(from) {
                        a.insert(to.into(), v);
                    }
                }
                Ok(entry(call(e, "update_session", a)?))
            },
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/time-entries/{id}",
            access: Access::KeyOnSession { action: "write_sessions" },
            query: &[],
            status: 200,
            summary: "Delete a time entry",
            handler: |e, i| call(e, "delete_session", i.session_args()?),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/users",
            access: Access::OwnKey { action: "read_users" },
            query: PAGE_QUERY,
            status: 200,
            summary: "The guild's members, by id: {data: [user + is_admin], meta}",
            handler: |e, i| call(e, "list_members", i.own_guild_args(PAGE_QUERY)?),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/projects",
            access: Access::OwnKey { action: "read_categories" },
            query: CATEGORIES_QUERY,
            status: 200,
            summary: "The guild's projects (its categories) with their totals",
            handler: |e, i| call(e, "list_categories", i.own_guild_args(CATEGORIES_QUERY)?),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/projects",
            access: Access::OwnKey { action: "manage_categories" },
            query: &[],
            status: 201,
            summary: "Create a project (a category): {name, description?, color?}",
            handler: |e, i| {
                let Value::Object(body) = &i.body else {
                    return Err(Error::invalid("body", "must be a JSON object"));
                };
                let mut a = i.own_guild_args(&[])?;
                a.extend(body.iter().filter(|(k, _)| *k != "guild_id").map(|(k, v)| (k.clone(), v.clone())));
                call(e, "create_category", a)
            },
        },
        Route {
            method: Method::GET,
            path: "/api/v1/reports/summary",
            access: Access::OwnKey { action: "read_reports" },
            query: REPORT_QUERY,
            status: 200,
            summary: "Summary report of the key's guild: ?timeframe=&group_by=user,category,day&from=&to=",
            handler: |e, i| call(e, "report", i.own_guild_args(REPORT_QUERY)?),
        },
    ]
}

/// Every route: the clock-in API, the time-entry API, then the WakaTime family under each of its
/// prefixes.
fn table() -> &'static [Route] {
    static TABLE: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all: Vec<Route> = CLOCK_IN_ROUTES.iter().map(Route::copy).collect();
        all.extend(time_entry_routes());
        for prefix in WAKATIME_PREFIXES {
            all.extend(wakatime_routes(prefix));
        }
        all
    })
}

static CLOCK_IN_ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        access: Access::Open,
        query: &[],
        status: 200,
        summary: "This API's OpenAPI 3.1 document",
        handler: |_, _| Ok(openapi()),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/auth/generate",
        access: Access::Open,
        query: &[],
        status: 201,
        summary: "Generate a key with the master key: {guild_id, admin_user_id, master_key, tier?, name?, expires_at?, form?}",
        handler: |e, i| match &i.body {
            Value::Object(m) => call(e, "generate_key", m.clone()),
            _ => Err(Error::invalid("body", "must be a JSON object")),
        },
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/status",
        access: Access::Key { action: "read_status", targets: false },
        query: &[],
        status: 200,
        summary: "Guild status: total time, users, active sessions, seconds per category",
        handler: |e, i| call(e, "guild_status", guild_query(i, &[])?),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/clockin",
        access: Access::Key { action: "clock_in_out", targets: true },
        query: &[],
        status: 200,
        summary: "Clock a user in: {user_id, category, description?, at?, switch?}",
        handler: |e, i| call(e, "clock_in", i.body_with_guild()?),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/clockout",
        access: Access::Key { action: "clock_in_out", targets: true },
        query: &[],
        status: 200,
        summary: "Clock a user out: {user_id, at?}",
        handler: |e, i| call(e, "clock_out", i.body_with_guild()?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/categories",
        access: Access::Key { action: "read_categories", targets: false },
        query: CATEGORIES_QUERY,
        status: 200,
        summary: "The guild's categories with their totals",
        handler: |e, i| call(e, "list_categories", guild_query(i, CATEGORIES_QUERY)?),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/categories",
        access: Access::Key { action: "manage_categories", targets: false },
        query: &[],
        status: 201,
        summary: "Create a category: {name, description?, color?}",
        handler: |e, i| call(e, "create_category", i.body_with_guild()?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/leaderboard",
        access: Access::Key { action: "read_leaderboard", targets: false },
        query: LEADERBOARD_QUERY,
        status: 200,
        summary: "Session leaderboard over a timeframe, optionally for one category",
        handler: |e, i| call(e, "leaderboard", guild_query(i, LEADERBOARD_QUERY)?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/sessions",
        access: Access::Key { action: "read_sessions", targets: false },
        query: SESSIONS_QUERY,
        status: 200,
        summary: "Sessions, newest first, filtered and paginated ({data, meta})",
        handler: |e, i| call(e, "list_sessions", guild_query(i, SESSIONS_QUERY)?),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/sessions",
        access: Access::Key { action: "write_sessions", targets: true },
        query: &[],
        status: 201,
        summary: "Add a manual entry: {user_id, category, start, end, billable?, description?}",
        handler: |e, i| call(e, "add_entry", i.body_with_guild()?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/sessions/{session_id}",
        access: Access::Key { action: "read_sessions", targets: false },
        query: &[],
        status: 200,
        summary: "One session",
        handler: |e, i| {
            let mut args = guild_query(i, &[])?;
            args.insert("session_id".into(), json!(i.text("session_id")));
            call(e, "get_session", args)
        },
    },
    Route {
        method: Method::PUT,
        path: "/api/v1/guild/{guild_id}/sessions/{session_id}",
        access: Access::KeyOnSession { action: "write_sessions" },
        query: &[],
        status: 200,
        summary: "Change a session (fields given change): {category?, start?, end?, description?, billable?}",
        handler: |e, i| call(e, "update_session", i.session_args()?),
    },
    Route {
        method: Method::DELETE,
        path: "/api/v1/guild/{guild_id}/sessions/{session_id}",
        access: Access::KeyOnSession { action: "write_sessions" },
        query: &[],
        status: 200,
        summary: "Delete a session",
        handler: |e, i| call(e, "delete_session", i.session_args()?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/categories/{name}",
        access: Access::Key { action: "read_categories", targets: false },
        query: &[],
        status: 200,
        summary: "One category with its total",
        handler: |e, i| {
            let mut a = guild_query(i, &[])?;
            a.insert("name".into(), json!(i.text("name")));
            call(e, "get_category", a)
        },
    },
    Route {
        method: Method::PATCH,
        path: "/api/v1/guild/{guild_id}/categories/{name}",
        access: Access::Key { action: "manage_categories", targets: false },
        query: &[],
        status: 200,
        summary: "Change a category: {new_name?, description?, color?, archived?} (history stays with it)",
        handler: |e, i| {
            let mut a = i.body_with_guild()?;
            a.insert("name".into(), json!(i.text("name")));
            call(e, "update_category", a)
        },
    },
    Route {
        method: Method::DELETE,
        path: "/api/v1/guild/{guild_id}/categories/{name}",
        access: Access::Key { action: "manage_categories", targets: false },
        query: &[],
        status: 200,
        summary: "Delete a category no session uses (else CATEGORY_IN_USE: archive it instead)",
        handler: |e, i| {
            let mut a = guild_query(i, &[])?;
            a.insert("name".into(), json!(i.text("name")));
            call(e, "delete_category", a)
        },
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/users",
        access: Access::Key { action: "read_users", targets: false },
        query: PAGE_QUERY,
        status: 200,
        summary: "The guild's members, by id: {data: [user + is_admin], meta}",
        handler: |e, i| call(e, "list_members", guild_query(i, PAGE_QUERY)?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/users/{user_id}",
        access: Access::Key { action: "read_users", targets: false },
        query: &[],
        status: 200,
        summary: "A member of the guild (USER_NOT_FOUND for anyone else)",
        handler: |e, i| {
            let user = i.id("user_id")?;
            if !e.is_member(i.id("guild_id")?, user)? {
                return Err(Error::UserNotFound);
            }
            call(e, "get_user", Map::from_iter([("user_id".to_string(), json!(user))]))
        },
    },
    Route {
        method: Method::PUT,
        path: "/api/v1/guild/{guild_id}/users/{user_id}",
        access: Access::Key { action: "admin_write", targets: false },
        query: &[],
        status: 200,
        summary: "Create or update a member: {username, display_name?, avatar_url?, email?, slack_uid?, time_zone?, is_admin?}",
        handler: |e, i| {
            let mut a = i.body_with_guild()?;
            if a.get("user_id").is_some_and(|u| target_user(&json!({"user_id": u})).ok().flatten() != i.id("user_id").ok()) {
                return Err(Error::invalid("user_id", "the body names another user than the path"));
            }
            a.insert("user_id".into(), json!(i.id("user_id")?));
            // Trust levels are global (they hide a user from every guild's boards): not a guild's call.
            if a.contains_key("trust_level") {
                return Err(Error::invalid("trust_level", "is set by the deployment, not by a guild's key"));
            }
            call(e, "upsert_user", a)
        },
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/settings",
        access: Access::Key { action: "read_status", targets: false },
        query: &[],
        status: 200,
        summary: "The guild's settings: time zone, week start, maximum session length, overlaps, heartbeat timeout",
        handler: |e, i| call(e, "guild_settings", guild_query(i, &[])?),
    },
    Route {
        method: Method::PATCH,
        path: "/api/v1/guild/{guild_id}/settings",
        access: Access::Key { action: "admin_write", targets: false },
        query: &[],
        status: 200,
        summary: "Change the guild's settings: {timezone?, week_start?, max_session_seconds?, allow_overlap?, heartbeat_timeout_seconds?}",
        handler: |e, i| call(e, "update_guild", i.body_with_guild()?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/report",
        access: Access::Key { action: "read_reports", targets: false },
        query: REPORT_QUERY,
        status: 200,
        summary: "Summary report grouped by user, category and/or day (group_by=user,day)",
        handler: |e, i| call(e, "report", guild_query(i, REPORT_QUERY)?),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/guild/{guild_id}/keys",
        access: Access::Key { action: "manage_keys", targets: false },
        query: &[],
        status: 200,
        summary: "The guild's keys (metadata only, never a key or its hash)",
        handler: |e, i| call(e, "list_keys", guild_query(i, &[])?),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/keys",
        access: Access::KeyCheckedByCall { action: "manage_keys" },
        query: &[],
        status: 201,
        summary: "Mint a sub-key of the calling key: {tier?, permissions?, name?, expires_at?, form?}",
        handler: |e, i| {
            let mut args = i.body_with_guild()?;
            args.insert("parent_key".into(), json!(i.api_key.clone().unwrap_or_default()));
            call(e, "mint_sub_key", args)
        },
    },
    Route {
        method: Method::POST,
        path: "/api/v1/guild/{guild_id}/keys/{key_id}/rotate",
        access: Access::Key { action: "manage_keys", targets: false },
        query: &[],
        status: 201,
        summary: "Rotate one of the guild's keys: a new key now, the old one until {grace_seconds?} (default 0)",
        handler: |e, i| {
            let key_id = i.text("key_id");
            if e.get_key(&key_id)?.guild_id != i.id("guild_id")? {
                return Err(Error::KeyNotFound);
            }
            let mut a = Map::new();
            if let Some(g) = i.body.get("grace_seconds") {
                a.insert("grace_seconds".into(), g.clone());
            }
            a.insert("key_id".into(), json!(key_id));
            call(e, "rotate_key", a)
        },
    },
    Route {
        method: Method::DELETE,
        path: "/api/v1/guild/{guild_id}/keys/{key_id}",
        access: Access::Key { action: "manage_keys", targets: false },
        query: &[],
        status: 200,
        summary: "Revoke one of the guild's keys (its sub-keys stop with it)",
        handler: |e, i| {
            let key_id = i.text("key_id");
            // A key of another guild is not this guild's to revoke, nor to confirm it exists.
            if e.get_key(&key_id)?.guild_id != i.id("guild_id")? {
                return Err(Error::KeyNotFound);
            }
            call(e, "revoke_key", Map::from_iter([("key_id".to_string(), json!(key_id))]))
        },
    },
];

/// Every route, in the order they are matched.
pub fn routes() -> &'static [Route] {
    table()
}

/// The OpenAPI 3.1 document of [`routes`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in table() {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|n| n.strip_suffix('}')))
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for (name, kind) in r.query {
            let schema = match kind {
                Kind::Int => json!({"type": "integer"}),
                Kind::Bool => json!({"type": "boolean"}),
                Kind::List => json!({"type": "string", "description": "comma-separated"}),
                Kind::Text => json!({"type": "string"}),
            };
            params.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method, r.path),
            "parameters": params,
            "responses": {
                (if r.status == STATUS_FROM_HANDLER { 201 } else { r.status }).to_string(): {"description": "Success", "content": {"application/json": {}}},
                "default": {"description": "The engine's error body", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if let Access::Key { action, .. }
        | Access::OwnKey { action }
        | Access::OwnKeyOnUser { action }
        | Access::KeyOnSession { action }
        | Access::KeyCheckedByCall { action } = r.access
        {
            op["security"] = json!([{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]);
            op["x-timeledger-action"] = json!(action);
        }
        if matches!(r.method, Method::POST | Method::PUT) {
            op["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Timeledger", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
                "Basic": {"type": "http", "scheme": "basic"}
            },
            "schemas": {"Error": {"type": "object", "required": ["error", "message", "code"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"},
                "field": {"type": "string"}, "remaining": {"type": "integer"}, "reset_in": {"type": "integer"},
                "tier": {"type": "string"}}}}
        }
    })
}

/// A response as plain parts, for hosts and bindings that do not use the `http` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes (JSON).
    pub body: Vec<u8>,
}

/// Answers a request given as plain parts: method, URL (path and query, or an absolute URL),
/// header pairs and body bytes. A method, URL or header that HTTP does not allow is a 400 in the
/// error shape, never a panic.
///
/// ```
/// let engine = timeledger::Engine::open(":memory:").unwrap();
/// let r = timeledger_http::handle_parts(&engine, &Default::default(), "GET", "/api/v1/openapi.json", &[], Vec::new());
/// assert_eq!(r.status, 200);
/// let bad = timeledger_http::handle_parts(&engine, &Default::default(), "G E T", "/", &[], Vec::new());
/// assert_eq!(bad.status, 400);
/// ```
pub fn handle_parts(
    engine: &Engine,
    config: &Config,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Reply {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let res = match builder.body(body) {
        Ok(req) => handle_with(engine, config, &req),
        Err(e) => plain_error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &format!("not a valid HTTP request: {e}")),
    };
    let headers = res
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    Reply { status: res.status().as_u16(), headers, body: res.into_body() }
}

/// Answers one request with the default [`Config`].
pub fn handle(engine: &Engine, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    handle_with(engine, &Config::default(), req)
}

/// Answers one request.
pub fn handle_with(engine: &Engine, config: &Config, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    let path = req.uri().path();
    if dashboard::owns(path) {
        if req.body().len() > config.max_body_bytes {
            return plain_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the body is too large");
        }
        return dashboard::handle(engine, req, config.secure_cookies);
    }
    let wants_csv = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().unwrap_or_default().to_ascii_lowercase().contains("text/csv"));
    let mut allowed: Vec<&str> = Vec::new();
    // `GET .../sessions.csv` is `GET .../sessions` answered in CSV.
    let csv_path = path.strip_suffix(".csv").filter(|p| !p.is_empty() && !p.ends_with('/'));
    let tries = [(path, wants_csv)].into_iter().chain(csv_path.map(|p| (p, true)));
    for (path, csv) in tries {
        for route in table() {
            let Some(params) = route.matches(path) else { continue };
            if route.method == req.method() {
                return run(engine, config, route, params, req, csv);
            }
            allowed.push(route.method.as_str());
        }
        if !allowed.is_empty() {
            break;
        }
    }
    if allowed.is_empty() {
        let msg = format!("no route for {} {path}", req.method());
        return plain_error(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", &msg);
    }
    let msg = format!("{path} answers {}", allowed.join(", "));
    let mut res = plain_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", &msg);
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// Routes that also answer in CSV (`Accept: text/csv` or the path with `.csv`): lists (every
/// page at once unless `page` is given) and reports (their rows).
const CSV_ROUTES: &[&str] = &[
    "/api/v1/guild/{guild_id}/sessions",
    "/api/v1/time-entries",
    "/api/v1/guild/{guild_id}/report",
    "/api/v1/reports/summary",
    "/api/v1/guild/{guild_id}/users",
    "/api/v1/users",
];

/// What a handler answered, before it is a response.
enum Answer {
    Json(Value),
    Csv(Vec<u8>),
}

/// The page size an export without `page` reads with.
const CSV_PAGE: u32 = 500;

/// Runs a CSV route's handler: a list's every page (or the one asked for), or a report.
fn run_csv(engine: &Engine, route: &Route, input: &mut Input) -> Result<Vec<u8>, Error> {
    if !input.query.contains_key("page") {
        input.query.insert("per_page".into(), CSV_PAGE.to_string());
    }
    let first = (route.handler)(engine, input)?;
    let mut rows: Vec<Value> = Vec::new();
    if let Some(report_rows) = first.get("rows").and_then(Value::as_array) {
        rows.extend(report_rows.iter().cloned());
    } else {
        let total = first["meta"]["total"].as_u64().unwrap_or(0);
        rows.extend(first["data"].as_array().cloned().unwrap_or_default());
        if !input.query.contains_key("page") {
            let mut page = 1;
            while (rows.len() as u64) < total {
                page += 1;
                input.query.insert("page".into(), page.to_string());
                let more = (route.handler)(engine, input)?;
                let data = more["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    break;
                }
                rows.extend(data);
            }
        }
    }
    Ok(to_csv(&rows))
}

/// Objects as CSV (RFC 4180): a header of every field in first-seen order, one line each.
/// Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn to_csv(rows: &[Value]) -> Vec<u8> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for k in row.as_object().into_iter().flat_map(Map::keys) {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let cell = |v: Option<&Value>| -> String {
        let text = match v {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = columns.iter().map(|c| cell(Some(&json!(c)))).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for row in rows {
        let line: Vec<String> = columns.iter().map(|c| cell(row.get(c))).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn run(
    engine: &Engine,
    config: &Config,
    route: &Route,
    params: BTreeMap<&'static str, String>,
    req: &Request<Vec<u8>>,
    csv: bool,
) -> Response<Vec<u8>> {
    if csv && (route.method != Method::GET || !CSV_ROUTES.contains(&route.path)) {
        let msg = format!("{} {} answers JSON only", route.method, route.path);
        return plain_error(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", &msg);
    }
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let body = req.body();
    if body.len() > config.max_body_bytes {
        let msg = format!("the body has {} bytes; at most {} are accepted", body.len(), config.max_body_bytes);
        return plain_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", &msg);
    }
    let body = match parse_body(req) {
        Ok(v) => v,
        Err(res) => return *res,
    };
    // The key, from the headers and the `api_key` query parameter.
    let mut sources = KeySources::default();
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            sources.headers.insert(name.as_str().to_string(), v.to_string());
        }
    }
    if let Some(k) = query.get("api_key") {
        sources.query.insert("api_key".into(), k.clone());
    }
    let headers = sources.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    let input = Input {
        params,
        query,
        headers,
        body,
        api_key: None,
        owner: None,
        session_guild: None,
        max_bulk: config.max_bulk_heartbeats,
    };
    let outcome = (|| {
        let api_key = engine.extract_key(&sources)?;
        let mut input = Input { api_key, ..input };
        let mut grant_headers = BTreeMap::new();
        match route.access {
            Access::Open => {}
            Access::Key { action, targets } => {
                let target_user_id = if targets { target_user(&input.body)? } else { None };
                let grant = engine.authorize(&AuthorizeRequest {
                    api_key: input.api_key.clone().ok_or(Error::MissingApiKey)?,
                    guild_id: input.id("guild_id")?,
                    action: action.into(),
                    target_user_id,
                })?;
                grant_headers = grant.headers;
            }
            Access::OwnKey { action } | Access::OwnKeyOnUser { action } => {
                let key = input.api_key.clone().ok_or(Error::MissingApiKey)?;
                let target = match route.access {
                    Access::OwnKeyOnUser { .. } => target_user(&input.body)?,
                    _ => None,
                };
                let grant = engine.authorize_own_guild(&key, action, target)?;
                input.owner = grant.owner_user_id.map(|u| (grant.guild_id, u));
                grant_headers = grant.headers;
            }
            Access::KeyOnSession { action } => {
                let key = input.api_key.clone().ok_or(Error::MissingApiKey)?;
                let guild = if input.params.contains_key("guild_id") { Some(input.id("guild_id")?) } else { None };
                let grant = engine.authorize_on_session(&key, guild, action, &input.session_param())?;
                input.owner = grant.owner_user_id.map(|u| (grant.guild_id, u));
                input.session_guild = Some(grant.guild_id);
                grant_headers = grant.headers;
            }
            Access::KeyCheckedByCall { .. } => {
                if input.api_key.is_none() {
                    return Err(Error::MissingApiKey);
                }
            }
        }
        if csv {
            return Ok((Answer::Csv(run_csv(engine, route, &mut input)?), grant_headers));
        }
        Ok((Answer::Json((route.handler)(engine, &input)?), grant_headers))
    })();
    match outcome {
        Ok((Answer::Csv(csv), headers)) => {
            let mut res = json_response(StatusCode::OK, &Value::Null, &headers);
            *res.body_mut() = csv;
            let name = route.path.rsplit('/').next().unwrap_or("export");
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Ok((Answer::Json(value), headers)) => {
            // A handler may choose its status (one heartbeat answers its own 201 or 400).
            let (status, value) = match value {
                Value::Array(mut pair) if route.status == STATUS_FROM_HANDLER && pair.len() == 2 => {
                    let status = pair.pop().and_then(|s| s.as_u64()).unwrap_or(500);
                    (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK), pair.pop().unwrap_or(Value::Null))
                }
                v => (StatusCode::from_u16(route.status).unwrap_or(StatusCode::OK), v),
            };
            json_response(status, &value, &headers)
        }
        Err(e) => error_response(&e),
    }
}

/// The body as JSON: `Null` when empty; 415 for a type other than JSON; 400 (naming the byte,
/// line and column in the client's own body) for bytes that are not UTF-8 or not JSON.
fn parse_body(req: &Request<Vec<u8>>) -> Result<Value, Box<Response<Vec<u8>>>> {
    let body = req.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            let msg = format!("the body must be application/json, not {essence:?}");
            return Err(Box::new(plain_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", &msg)));
        }
    }
    if let Err(e) = std::str::from_utf8(body) {
        let err = Error::invalid("body", format!("not UTF-8 at byte {}", e.valid_up_to()));
        return Err(Box::new(error_response(&err)));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's message ends with the line and column in the client's own body.
        let err = Error::invalid("body", format!("malformed JSON: {e}"));
        Box::new(error_response(&err))
    })
}

/// The `user_id` a targeted action acts on, from the body.
fn target_user(body: &Value) -> Result<Option<i64>, Error> {
    match body.get("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| Error::invalid("user_id", "not a 64-bit id")),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| Error::invalid("user_id", "not a 64-bit id")),
        Some(_) => Err(Error::invalid("user_id", "must be an integer or a decimal string")),
    }
}

fn json_response(status: StatusCode, value: &Value, headers: &BTreeMap<String, String>) -> Response<Vec<u8>> {
    let mut res = Response::new(value.to_string().into_bytes());
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            res.headers_mut().insert(name, value);
        }
    }
    res
}

fn error_response(e: &Error) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.to_json(), &e.headers())
}

/// An error of the HTTP layer itself (no route, wrong method, body too large, wrong type), in
/// the engine's error shape.
fn plain_error(status: StatusCode, code: &str, message: &str) -> Response<Vec<u8>> {
    let title = status.canonical_reason().unwrap_or("Error");
    json_response(status, &json!({"error": title, "message": message, "code": code}), &BTreeMap::new())
}
