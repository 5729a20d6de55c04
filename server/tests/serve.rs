//! `timeledger serve` over a real socket: the binary on an ephemeral port, requests over TCP,
//! bad input that must get a typed 4xx while the server stays up, graceful shutdown on SIGTERM,
//! two processes sharing one file and one rate limit, and the admin subcommands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const MASTER: &str = "serve-tests-master-key-01";

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("timeledger-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("serve.db")
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(db: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_timeledger"))
            .args(["serve", "--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env("TIMELEDGER_MASTER_KEY", MASTER)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line}")).to_string();
        Server { child, addr }
    }

    /// One request on a fresh connection; returns status, headers (lower-case names) and body.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(body); // a server refusing a huge body may close early
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default().split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.as_bytes().to_vec())
    }

    fn json(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(k) = key {
            h.push(("X-API-Key", k));
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, _, body) = self.send(method, path, &h, &bytes);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn healthy(&self) -> bool {
        self.send("GET", "/healthz", &[], b"").0 == 200
    }

    fn key(&self, guild: i64, tier: &str) -> String {
        let (status, k) = self.json(
            "POST",
            "/api/v1/auth/generate",
            None,
            Some(json!({"guild_id": guild, "admin_user_id": 2, "master_key": MASTER, "tier": tier})),
        );
        assert_eq!(status, 201, "{k}");
        k["api_key"].as_str().unwrap().to_string()
    }

    /// SIGTERM, then the exit status and stderr (the access log).
    fn stop(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut log = String::new();
                self.child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
                return (status.success(), log);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the server did not stop within 10 s of SIGTERM");
    }
}

/// Method, path, headers, body, the status it must get, and the error code.
type BadRequest<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[test]
fn serve_answers_the_api_and_bad_input_gets_a_typed_4xx_while_it_stays_up() {
    let server = Server::start(&temp_db("api"));
    assert!(server.healthy());
    let ent = server.key(1, "ENTERPRISE");
    assert_eq!(server.json("POST", "/api/v1/guild/1/categories", Some(&ent), Some(json!({"name": "Dev"}))).0, 201);
    let (status, body) =
        server.json("POST", "/api/v1/guild/1/clockin", Some(&ent), Some(json!({"user_id": 5, "category": "Dev"})));
    assert_eq!((status, body["success"].as_bool()), (200, Some(true)));
    let (status, _, _) = server.send("GET", "/api/v1/guild/1/status", &[("X-API-Key", &ent)], b"");
    assert_eq!(status, 200);
    let bad: Vec<BadRequest> = vec![
        (
            "POST",
            "/api/v1/guild/1/clockin",
            vec![("X-API-Key", &ent), ("Content-Type", "application/json")],
            b"{\"user_id\": ".to_vec(),
            400,
            "INVALID_INPUT",
        ),
        (
            "POST",
            "/api/v1/guild/1/clockin",
            vec![("X-API-Key", &ent), ("Content-Type", "application/json")],
            b"{\"a\": \"\xff\"}".to_vec(),
            400,
            "INVALID_INPUT",
        ),
        (
            "POST",
            "/api/v1/guild/1/clockin",
            vec![("X-API-Key", &ent), ("Content-Type", "application/json")],
            vec![b' '; 2 * 1024 * 1024],
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "POST",
            "/api/v1/guild/1/clockin",
            vec![("X-API-Key", &ent), ("Content-Type", "text/plain")],
            b"hi".to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        ("GET", "/api/v1/nowhere", vec![], vec![], 404, "ROUTE_NOT_FOUND"),
        ("DELETE", "/api/v1/guild/1/status", vec![("X-API-Key", &ent)], vec![], 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/api/v1/guild/1/status", vec![("X-API-Key", "tl_live_wrong")], vec![], 401, "INVALID_API_KEY"),
        ("GET", "/api/v1/guild/2/status", vec![("X-API-Key", &ent)], vec![], 403, "WRONG_GUILD"),
    ];
    for (method, path, headers, body, want, code) in bad {
        let (status, _, out) = server.send(method, path, &headers, &body);
        assert_eq!(status, want, "{method} {path}: {}", String::from_utf8_lossy(&out));
        let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
        assert_eq!(v["code"], code, "{method} {path}");
        assert!(server.healthy(), "the server went down after {method} {path}");
    }
    // A revoked key, and a tier without the permission.
    let sup = server.key(1, "SUPPORTER");
    assert_eq!(server.json("GET", "/api/v1/guild/1/sessions", Some(&sup), None).1["code"], "FORBIDDEN");
    let keys = server.json("GET", "/api/v1/guild/1/keys", Some(&ent), None).1;
    let sup_id = keys.as_array().unwrap().iter().find(|k| k["tier"] == "SUPPORTER").unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server.json("DELETE", &format!("/api/v1/guild/1/keys/{sup_id}"), Some(&ent), None).0, 200);
    assert_eq!(server.json("GET", "/api/v1/guild/1/status", Some(&sup), None).1["code"], "KEY_REVOKED");
    // The rate limit over the socket: RATE_001 with the exact Retry-After.
    let limited = server.key(1, "SUPPORTER");
    let mut last = (0, vec![], vec![]);
    for _ in 0..21 {
        last = server.send("GET", "/api/v1/guild/1/status", &[("X-API-Key", &limited)], b"");
    }
    assert_eq!(last.0, 429);
    let retry: u64 = last.1.iter().find(|(k, _)| k == "retry-after").map(|(_, v)| v.parse().unwrap()).unwrap();
    assert!((1..=120).contains(&retry), "Retry-After {retry}");
    assert_eq!(serde_json::from_slice::<Value>(&last.2).unwrap()["code"], "RATE_001");
    assert!(server.healthy());
    let (clean, log) = server.stop();
    assert!(clean, "SIGTERM must end the server cleanly: {log}");
    assert!(log.contains("GET /api/v1/guild/1/status 200"), "{log}");
    assert!(!log.contains(&ent) && !log.contains(&limited), "the access log must never hold a key");
}

#[test]
fn a_wakatime_plugin_conversation_over_the_socket() {
    let server = Server::start(&temp_db("waka"));
    let (_, k) = server.json(
        "POST",
        "/api/v1/auth/generate",
        None,
        Some(json!({"guild_id": 3, "admin_user_id": 9, "master_key": MASTER, "tier": "PREMIUM", "form": "uuid"})),
    );
    let key = k["api_key"].as_str().unwrap().to_string();
    // Basic auth with base64 of the key, as the plugins send it.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    let auth = format!("Basic {b64}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let beats: Vec<Value> = (0..25).map(|i| json!({"entity": format!("/src/m{}.py", i % 3), "time": now - 1500 + i * 60, "language": "Python", "project": "p"})).collect();
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("User-Agent", "wakatime/v1.90.0 (linux-6.1.0) go1.21.5 vim/9.0 vim-wakatime/11.1.1"),
        ("X-Machine-Name", "box"),
    ];
    let (status, _, body) =
        server.send("POST", "/api/v1/users/current/heartbeats.bulk", &headers, json!(beats).to_string().as_bytes());
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = server.send("GET", "/api/v1/users/current/statusbar/today", &headers, b"");
    assert_eq!(status, 200);
    let bar: Value = serde_json::from_slice(&body).unwrap();
    let total = bar["data"]["grand_total"]["total_seconds"].as_f64().unwrap();
    // 24 gaps of a minute, unless today began inside the run.
    assert!(total > 0.0 && total <= 1440.0, "{bar}");
    let (_, _, body) = server.send("GET", "/api/v1/users/current/summaries?start=today&end=today", &headers, b"");
    let summaries: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(summaries["cumulative_total"]["seconds"].as_f64().unwrap(), total);
    let many: Vec<Value> = (0..26).map(|i| json!({"entity": "x", "time": now - i})).collect();
    let (status, _, _) =
        server.send("POST", "/api/v1/users/current/heartbeats.bulk", &headers, json!(many).to_string().as_bytes());
    assert_eq!(status, 400);
    assert!(server.healthy());
    assert!(server.stop().0);
}

#[test]
fn two_serve_processes_on_one_file_share_a_key_s_limit() {
    let db = temp_db("two");
    let a = Server::start(&db);
    let b = Server::start(&db);
    let key = a.key(1, "SUPPORTER"); // 20 a minute
    let mut admitted = 0;
    for i in 0..30 {
        let server = if i % 2 == 0 { &a } else { &b };
        if server.send("GET", "/api/v1/guild/1/status", &[("X-API-Key", &key)], b"").0 == 200 {
            admitted += 1;
        }
    }
    // All within one minute unless the run straddles a minute boundary, where the sliding window
    // may let a few more through; never 30, as two separate limits would.
    assert!((20..=23).contains(&admitted), "{admitted} admitted across two processes");
    assert!(a.stop().0 && b.stop().0);
}

#[test]
fn admin_subcommands_create_list_revoke_and_back_up() {
    let db = temp_db("admin");
    let exe = env!("CARGO_BIN_EXE_timeledger");
    let run = |args: &[&str], master: bool| {
        let mut c = Command::new(exe);
        c.args(args).args(["--db", db.to_str().unwrap()]);
        if master {
            c.env("TIMELEDGER_MASTER_KEY", MASTER);
        } else {
            c.env_remove("TIMELEDGER_MASTER_KEY");
        }
        c.output().unwrap()
    };
    let refused = run(&["keys", "create", "--guild", "1", "--admin", "2"], false);
    assert!(!refused.status.success());
    let created = run(&["keys", "create", "--guild", "1", "--admin", "2", "--tier", "PREMIUM", "--form", "uuid"], true);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let k: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(k["tier"], "PREMIUM");
    let listed: Value = serde_json::from_slice(&run(&["keys", "list", "--guild", "1"], false).stdout).unwrap();
    assert_eq!(listed[0]["key_id"], k["key_id"]);
    assert!(!String::from_utf8_lossy(&run(&["keys", "list", "--guild", "1"], false).stdout)
        .contains(k["api_key"].as_str().unwrap()));
    let revoked: Value =
        serde_json::from_slice(&run(&["keys", "revoke", k["key_id"].as_str().unwrap()], false).stdout).unwrap();
    assert_eq!(revoked["status"], "revoked");
    let copy = db.with_file_name("copy.db");
    assert!(run(&["backup", copy.to_str().unwrap()], false).status.success());
    let e = timeledger::Engine::open(&copy).unwrap();
    assert_eq!(e.list_keys(1).unwrap()[0].status, "revoked");
    assert!(!run(&["bogus"], false).status.success());
}

#[test]
fn import_and_export_subcommands_move_a_database_and_report_what_they_did() {
    let db = temp_db("transfer");
    let exe = env!("CARGO_BIN_EXE_timeledger");
    let run = |db: &std::path::Path, args: &[&str]| {
        let out = Command::new(exe).args(args).args(["--db", db.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let csv = db.with_file_name("toggl.csv");
    std::fs::write(
        &csv,
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags\n\
         Ada,ada@example.org,,Docs,,Guide,Yes,2026-03-02,09:00:00,2026-03-02,10:30:00,01:30:00,\n",
    )
    .unwrap();
    let first = run(&db, &["import", "--format", "toggl", csv.to_str().unwrap(), "--guild", "1"]);
    assert_eq!(first["imported"]["session"], 1);
    assert_eq!(
        run(&db, &["import", "--format", "toggl", csv.to_str().unwrap(), "--guild", "1"])["duplicates"]["session"],
        1
    );
    let dump = db.with_file_name("all.jsonl");
    assert_eq!(run(&db, &["export", dump.to_str().unwrap()])["lines"]["session"], 1);
    let other = db.with_file_name("other.db");
    assert_eq!(run(&other, &["import", "--format", "timeledger", dump.to_str().unwrap()])["imported"]["session"], 1);
    let e = timeledger::Engine::open(&other).unwrap();
    assert_eq!(e.guild_status(1).unwrap().total_time_seconds, 5400);
    let missing = Command::new(exe).args(["import", "--db", other.to_str().unwrap(), "x.csv"]).output().unwrap();
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("--format"));

    // copy: a whole database into an empty one, checked; a second copy into it is refused.
    let target = db.with_file_name("copied.db");
    let copy = |to: &std::path::Path| {
        Command::new(exe)
            .args(["copy", "--from", other.to_str().unwrap(), "--to", to.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = copy(&target);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["rows"]["sessions"].as_u64(), summary["guilds_checked"].as_u64()), (Some(1), Some(1)));
    assert_eq!(timeledger::Engine::open(&target).unwrap().guild_status(1).unwrap().total_time_seconds, 5400);
    let again = copy(&target);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
