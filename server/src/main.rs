//! `timeledger`: the engine's HTTP APIs on a socket, and admin subcommands.
//!
//! ```text
//! timeledger serve [--db PATH] [--listen ADDR] [--workers N]
//!                                                   (defaults timeledger.db, 127.0.0.1:8080, N = cores)
//! timeledger keys create --guild ID --admin USER_ID [--tier TIER] [--name NAME] [--form live|test|uuid]
//! timeledger keys list --guild ID
//! timeledger keys revoke KEY_ID
//! timeledger backup DEST                            (a consistent copy of --db, online)
//! timeledger import --format timeledger|wakatime|toggl|clockify FILE [--guild ID] [--user ID]
//! timeledger export FILE [--guild ID]                (JSON lines; never a key's secret)
//! ```
//!
//! The master key comes from the environment (`TIMELEDGER_MASTER_KEY`) or a file
//! (`TIMELEDGER_MASTER_KEY_FILE`), never from the command line. Every request goes to
//! `timeledger_http::handle_with` on one of `--workers` engine threads, which take requests in
//! arrival order (a fair queue: the engine's lock alone let late requests overtake early ones,
//! and the slowest 1 % waited five times the median); `GET /healthz` answers `ok`. SIGINT and
//! SIGTERM stop accepting, let requests in flight finish, and exit. One access-log line per
//! request goes to stderr with the path but never the query (it may carry `api_key`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use timeledger::{Engine, GenerateKey};
use timeledger_http::Config;

const USAGE: &str = "usage:
  timeledger serve [--db PATH] [--listen ADDR] [--workers N] [--secure-cookies true]
  timeledger keys create --guild ID --admin USER_ID [--tier TIER] [--name NAME] [--form live|test|uuid]
  timeledger keys list --guild ID
  timeledger keys revoke KEY_ID
  timeledger backup DEST
  timeledger copy --from DB --to DB   (a SQLite file or postgres://...; the target must be empty)
  timeledger import --format timeledger|wakatime|toggl|clockify FILE [--guild ID] [--user ID]
  timeledger export FILE [--guild ID]
options: --db PATH (default timeledger.db; or a postgres://user@host:port/db URL); --workers N: threads running engine calls, taking
requests in arrival order (default: the number of cores; 0: tokio's blocking pool);
--secure-cookies true: the dashboard's cookies only over HTTPS (behind TLS); the master key comes from TIMELEDGER_MASTER_KEY or
the file named by TIMELEDGER_MASTER_KEY_FILE";

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("timeledger: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Positional words and `--flag value` pairs.
fn parse(args: &[String]) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
    let (mut words, mut flags) = (Vec::new(), BTreeMap::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            if name == "help" {
                return Err(USAGE.into());
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
            flags.insert(name.to_string(), value.clone());
        } else {
            words.push(a.clone());
        }
    }
    Ok((words, flags))
}

fn master_key() -> Result<Option<String>, String> {
    if let Ok(k) = std::env::var("TIMELEDGER_MASTER_KEY") {
        return Ok(Some(k.trim().to_string()));
    }
    match std::env::var("TIMELEDGER_MASTER_KEY_FILE") {
        Ok(path) => std::fs::read_to_string(&path)
            .map(|k| Some(k.trim().to_string()))
            .map_err(|e| format!("cannot read the master key file {path}: {e}")),
        Err(_) => Ok(None),
    }
}

fn id(flags: &BTreeMap<String, String>, name: &str) -> Result<i64, String> {
    let v = flags.get(name).ok_or_else(|| format!("--{name} is required\n{USAGE}"))?;
    v.parse().map_err(|_| format!("--{name} must be a 64-bit integer id, not {v:?}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let (words, flags) = parse(args)?;
    let db = flags.get("db").cloned().unwrap_or_else(|| "timeledger.db".into());
    let open = || Engine::open(&db).map_err(|e| e.to_string());
    let print = |v: serde_json::Value| println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve"] => {
            let workers = match flags.get("workers") {
                None => std::thread::available_parallelism().map_or(2, usize::from),
                Some(n) => n.parse().map_err(|_| format!("--workers must be a whole number, not {n:?}"))?,
            };
            let secure_cookies = match flags.get("secure-cookies").map(String::as_str) {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => return Err(format!("--secure-cookies must be true or false, not {other:?}")),
            };
            let config = Config { secure_cookies, ..Config::default() };
            serve(open()?, flags.get("listen").map_or("127.0.0.1:8080", String::as_str), workers, config)
        }
        ["keys", "create"] => {
            let engine = open()?;
            let master = master_key()?.ok_or("set TIMELEDGER_MASTER_KEY or TIMELEDGER_MASTER_KEY_FILE")?;
            engine.set_master_key(&master).map_err(|e| e.to_string())?;
            let k = engine
                .generate_key(&GenerateKey {
                    guild_id: id(&flags, "guild")?,
                    admin_user_id: id(&flags, "admin")?,
                    master_key: master,
                    tier: flags.get("tier").cloned(),
                    name: flags.get("name").cloned(),
                    form: flags.get("form").cloned(),
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            print(serde_json::to_value(&k).unwrap_or_default());
            Ok(())
        }
        ["keys", "list"] => {
            let keys = open()?.list_keys(id(&flags, "guild")?).map_err(|e| e.to_string())?;
            print(serde_json::to_value(&keys).unwrap_or_default());
            Ok(())
        }
        ["keys", "revoke", key_id] => {
            let k = open()?.revoke_key(key_id).map_err(|e| e.to_string())?;
            print(serde_json::to_value(&k).unwrap_or_default());
            Ok(())
        }
        ["copy"] => {
            let from = flags.get("from").ok_or_else(|| format!("--from is required\n{USAGE}"))?;
            let to = flags.get("to").ok_or_else(|| format!("--to is required\n{USAGE}"))?;
            let source = Engine::open(from).map_err(|e| e.to_string())?;
            let target = Engine::open(to).map_err(|e| e.to_string())?;
            let summary = source.copy_to(&target).map_err(|e| e.to_string())?;
            print(serde_json::to_value(&summary).unwrap_or_default());
            Ok(())
        }
        ["backup", dest] => {
            open()?.backup_to(dest).map_err(|e| e.to_string())?;
            eprintln!("timeledger: {db} copied to {dest}");
            Ok(())
        }
        ["import", file] => {
            let format = flags.get("format").ok_or_else(|| format!("--format is required\n{USAGE}"))?;
            let args = timeledger::ImportFile {
                format: format.clone(),
                path: file.to_string(),
                guild_id: flags.contains_key("guild").then(|| id(&flags, "guild")).transpose()?,
                user_id: flags.contains_key("user").then(|| id(&flags, "user")).transpose()?,
            };
            let summary = open()?.import_file_with_progress(&args, progress_bar()).map_err(|e| e.to_string())?;
            eprintln!();
            print(serde_json::to_value(&summary).unwrap_or_default());
            Ok(())
        }
        ["export", file] => {
            let guild = flags.contains_key("guild").then(|| id(&flags, "guild")).transpose()?;
            let summary = open()?.export_file(file, guild).map_err(|e| e.to_string())?;
            print(serde_json::to_value(&summary).unwrap_or_default());
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

/// A progress bar on stderr when it is a terminal (nothing otherwise).
fn progress_bar() -> Box<dyn FnMut(u64, u64)> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return Box::new(|_, _| {});
    }
    Box::new(|done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(0).min(100);
        let filled = (pct / 5) as usize;
        eprint!(
            "\r[{}{}] {pct:3}% {:.1}/{:.1} MiB",
            "#".repeat(filled),
            " ".repeat(20 - filled),
            done as f64 / 1048576.0,
            total as f64 / 1048576.0
        );
    })
}

struct Server {
    engine: Engine,
    config: Config,
    /// Where engine calls run.
    workers: Workers,
}

type Job = Box<dyn FnOnce() + Send>;

/// Engine calls run on `N` threads of their own that take requests from one queue in arrival
/// order (with `N = 0`, on tokio's blocking pool, as many at once as arrive). The engine's lock
/// alone is not fair: with a thread per request, late requests overtook early ones and the
/// slowest 1 % waited five times the median.
enum Workers {
    Pool(std::sync::mpsc::Sender<Job>),
    Unbounded,
}

impl Workers {
    fn new(n: usize) -> Result<Workers, String> {
        if n == 0 {
            return Ok(Workers::Unbounded);
        }
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("timeledger-worker-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the server is gone
                    }
                })
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        }
        Ok(Workers::Pool(tx))
    }

    /// Runs `f` on a worker; `None` if it panicked (never expected: the engine does not panic).
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        match self {
            Workers::Unbounded => tokio::task::spawn_blocking(f).await.ok(),
            Workers::Pool(tx) => {
                let (done, answer) = tokio::sync::oneshot::channel();
                let job: Job = Box::new(move || {
                    let _ = done.send(f());
                });
                tx.send(job).ok()?;
                answer.await.ok()
            }
        }
    }
}

fn serve(engine: Engine, listen: &str, workers: usize, config: Config) -> Result<(), String> {
    if let Some(master) = master_key()? {
        engine.set_master_key(&master).map_err(|e| e.to_string())?;
    }
    let state = Arc::new(Server { engine, config, workers: Workers::new(workers)? });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on http://{addr}");
        let app = Router::new().route("/healthz", get(|| async { "ok" })).fallback(api).with_state(state);
        axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.map_err(|e| e.to_string())?;
        eprintln!("timeledger: stopped");
        Ok(())
    })
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": status.canonical_reason().unwrap_or("Error"), "message": message, "code": code});
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    res
}

async fn api(State(s): State<Arc<Server>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let res = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, s.config.max_body_bytes)).await {
        Err(_) => json_error(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "the body took too long to arrive"),
        Ok(Err(_)) => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!("at most {} bytes are accepted", s.config.max_body_bytes),
        ),
        Ok(Ok(bytes)) => {
            let req = axum::http::Request::from_parts(parts, bytes.to_vec());
            let state = Arc::clone(&s);
            // The engine blocks (SQLite): off the async threads, on the engine's workers.
            match s.workers.run(move || timeledger_http::handle_with(&state.engine, &state.config, &req)).await {
                Some(res) => res.map(Body::from),
                None => json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "the request could not be answered"),
            }
        }
    };
    // The path only: a query may carry `api_key`.
    eprintln!("{method} {path} {} {:.1}ms", res.status().as_u16(), started.elapsed().as_secs_f64() * 1000.0);
    res
}
