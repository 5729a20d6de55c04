//! The native half of the `timeledger` npm package.
//!
//! One class, `NativeEngine`, whose `call(op, argsJson)` runs any engine operation and returns
//! its result as JSON text, and whose `callAsync` does the same on libuv's thread pool. JSON text
//! is the fastest road between V8 and Rust for nested data (`JSON.stringify`/`JSON.parse` are
//! native in V8; walking objects through N-API costs a call per property). The TypeScript layer
//! (`src/index.ts`) maps this to camelCase methods, typed results and `TimeledgerError`.
//!
//! Two rules keep results exact in JavaScript: integers under keys `id` or ending in `_id` (Discord-size
//! guild and user ids) are written as decimal strings, and so is any other integer a JS `number`
//! cannot hold exactly. Engine errors are thrown (or, from `callAsync`, rejected) as an `Error`
//! whose message is the marker `TimeledgerError ` followed by the error as JSON (code, status,
//! message, body, headers); the TypeScript layer turns that into a `TimeledgerError`. A panic, which the engine
//! should never raise, is caught and thrown the same way with the marker `TimeledgerPanic`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{json, Value};

/// The largest integer a JS `number` holds exactly (2^53 - 1).
const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// Markers that start the messages of thrown `Error`s; the TypeScript layer switches on them.
const ENGINE_ERROR: &str = "TimeledgerError ";
const PANIC_ERROR: &str = "TimeledgerPanic ";

fn engine_error(e: timeledger::Error) -> Error {
    let detail = json!({
        "code": e.code(),
        "status": e.status(),
        "message": e.to_string(),
        "body": e.to_json(),
        "headers": e.headers(),
    });
    Error::new(Status::GenericFailure, format!("{ENGINE_ERROR}{detail}"))
}

/// Rewrites integers JS cannot keep exact, and every integer id, as decimal strings.
fn js_safe(v: &mut Value, is_id: bool) {
    match v {
        Value::Number(n) => {
            let unsafe_int = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => is_id || !(-MAX_SAFE..=MAX_SAFE).contains(&i),
                (None, Some(_)) => true,
                _ => false,
            };
            if unsafe_int {
                *v = Value::String(n.to_string());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| js_safe(x, false)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                js_safe(x, k == "id" || k.ends_with("_id"));
            }
        }
        _ => {}
    }
}

/// A bulk ingest's outcomes as one flat JSON array: five items for a stored or duplicate
/// heartbeat (`status, id, entity, type, time`), two for a refused one (`status, message`; its
/// status is 400 or more, the others' under 300). V8 parses this in about a third of the time of
/// WakaTime's nested shape (`[{"data": {...}}, status]` per heartbeat), which the TypeScript layer
/// builds from it with the same keys in the same order.
fn flat_outcomes(outcomes: &[timeledger::IngestOutcome]) -> String {
    let mut out = String::with_capacity(outcomes.len() * 96 + 2);
    out.push('[');
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&o.status.to_string());
        out.push(',');
        // Strings and floats are written by serde_json, as the nested shape writes them.
        let rest = match &o.heartbeat {
            Ok(h) => serde_json::to_string(&(&h.id, &h.entity, h.kind, h.time)),
            Err(message) => serde_json::to_string(&(message,)),
        };
        // A tuple serialises as `[...]`: its items go in without the brackets.
        let rest = rest.unwrap_or_else(|_| "[null]".into());
        out.push_str(&rest[1..rest.len() - 1]);
    }
    out.push(']');
    out
}

/// Parses the arguments, runs the operation and writes the JS-safe JSON result.
fn run(engine: &timeledger::Engine, op: &str, args_json: &str) -> Result<String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if op == "ingest_heartbeats" {
            // `call_json` reads bulk bodies straight from the text and writes the responses as
            // text; they hold no integer ids, so nothing needs rewriting.
            return engine.call_json(op, args_json);
        }
        let args: Value = if args_json.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(args_json)
                .map_err(|e| timeledger::Error::invalid("args", format!("arguments are not valid JSON: {e}")))?
        };
        let mut out = engine.call(op, args)?;
        js_safe(&mut out, false);
        Ok::<String, timeledger::Error>(out.to_string())
    }));
    match outcome {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(engine_error(e)),
        Err(_) => Err(Error::new(Status::GenericFailure, format!("{PANIC_ERROR}the engine panicked in {op:?}"))),
    }
}

/// An open engine: a SQLite file (or `:memory:`) and its caches. Calls from the main thread and
/// from the async variants share it; the engine takes its own lock.
#[napi]
pub struct NativeEngine {
    inner: Arc<timeledger::Engine>,
}

#[napi]
impl NativeEngine {
    /// Opens a database file (created if missing) or `":memory:"`.
    #[napi(constructor)]
    pub fn new(path: String) -> Result<Self> {
        match catch_unwind(|| timeledger::Engine::open(&path)) {
            Ok(Ok(engine)) => Ok(NativeEngine { inner: Arc::new(engine) }),
            Ok(Err(e)) => Err(engine_error(e)),
            Err(_) => {
                Err(Error::new(Status::GenericFailure, format!("{PANIC_ERROR}the engine panicked while opening")))
            }
        }
    }

    /// Runs operation `op` (snake_case) with arguments as JSON text; returns the result as JSON text.
    #[napi]
    pub fn call(&self, op: String, args_json: String) -> Result<String> {
        run(&self.inner, &op, &args_json)
    }

    /// `ingest_heartbeats` with its outcomes as one flat JSON array (see [`flat_outcomes`]).
    #[napi]
    pub fn ingest(&self, args_json: String) -> Result<String> {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.inner.ingest_heartbeats_text(&args_json)));
        match outcome {
            Ok(Ok(outcomes)) => Ok(flat_outcomes(&outcomes)),
            Ok(Err(e)) => Err(engine_error(e)),
            Err(_) => Err(Error::new(
                Status::GenericFailure,
                format!("{PANIC_ERROR}the engine panicked in \"ingest_heartbeats\""),
            )),
        }
    }

    /// Like `call`, on libuv's thread pool: the promise resolves to the result as JSON text.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn call_async(&self, op: String, args_json: String) -> AsyncTask<CallTask> {
        AsyncTask::new(CallTask { engine: Arc::clone(&self.inner), op, args_json })
    }

    /// Freezes the clock at `ms` (Unix milliseconds), or returns to the wall clock with `null`.
    #[napi]
    pub fn set_now(&self, ms: Option<i64>) -> Result<()> {
        self.inner.set_now(ms).map_err(engine_error)
    }

    /// The engine's current instant in Unix milliseconds.
    #[napi]
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    /// Answers an HTTP request (method, path with query, header pairs, body) with the engine's
    /// HTTP API.
    #[napi]
    pub fn handle(&self, method: String, url: String, headers: Vec<Vec<String>>, body: Buffer) -> HttpReply {
        let pairs: Vec<(String, String)> = headers
            .into_iter()
            .filter_map(|mut kv| {
                let v = kv.pop()?;
                let k = kv.pop()?;
                Some((k, v))
            })
            .collect();
        let config = timeledger_http::Config::default();
        let reply = catch_unwind(AssertUnwindSafe(|| {
            timeledger_http::handle_parts(&self.inner, &config, &method, &url, &pairs, body.to_vec())
        }))
        .unwrap_or_else(|_| timeledger_http::Reply {
            status: 500,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"error":"Internal error","code":"INTERNAL","message":"the engine panicked"}"#.to_vec(),
        });
        HttpReply {
            status: u32::from(reply.status),
            headers: reply.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
            body: reply.body.into(),
        }
    }

    /// Every operation name `call` accepts.
    #[napi]
    pub fn operations() -> Vec<String> {
        timeledger::OPERATIONS.iter().map(|s| s.to_string()).collect()
    }
}

/// An HTTP response: status, header pairs, body.
#[napi(object)]
pub struct HttpReply {
    /// Status code.
    pub status: u32,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    /// Body bytes (JSON).
    pub body: Buffer,
}

/// One operation run off the main thread.
pub struct CallTask {
    engine: Arc<timeledger::Engine>,
    op: String,
    args_json: String,
}

impl Task for CallTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        run(&self.engine, &self.op, &self.args_json)
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}
