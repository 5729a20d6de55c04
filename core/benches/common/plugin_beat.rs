//! The heartbeat stream the ingest benchmarks share (`benches/heartbeats.rs`, the examples
//! `bench_ingest_scale` and `bench_postgres`), so that they measure the same rows.

use serde_json::{json, Value};

/// 2025-01-01T00:00:00Z, the first heartbeat's time.
pub const START_S: f64 = 1_735_689_600.0;

/// A VS Code plugin's user agent (about 90 bytes, as plugins send it).
pub const UA: &str = "wakatime/v1.90.0 (linux-6.5.0-14-generic-x86_64) go1.21.5 vscode/1.85.1 vscode-wakatime/24.4.0";

/// A plugin-like heartbeat `i` of a stream: one every 30 s, 17 files in 3 projects, Rust and
/// Markdown, with branch, editor position and user agent.
pub fn beat(i: u64) -> Value {
    let file = i % 17;
    json!({
        "entity": format!("/home/dev/project{}/src/file{file}.rs", i % 3),
        "type": "file",
        "time": START_S + i as f64 * 30.0 + 0.125,
        "project": format!("project{}", i % 3),
        "branch": "main",
        "language": if file.is_multiple_of(4) { "Markdown" } else { "Rust" },
        "is_write": i.is_multiple_of(5),
        "lines": 100 + file,
        "lineno": 10 + i % 50,
        "cursorpos": 3 + i % 40,
        "user_agent": UA,
    })
}
