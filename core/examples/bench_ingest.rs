//! In-process baseline for the HTTP ingest benchmark: bulks of 25 distinct heartbeats through
//! `Engine::call_json("ingest_heartbeats", ...)` (the text road `timeledger serve` also takes) on
//! a WAL file, for a number of seconds; prints heartbeats per second.
//!
//! `cargo run --release -p timeledger --example bench_ingest [seconds] [db]`

use std::time::{Duration, Instant};

fn main() -> timeledger::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let path =
        args.next().unwrap_or_else(|| std::env::temp_dir().join("timeledger-bench-ingest.db").display().to_string());
    let engine = timeledger::Engine::open(&path)?;
    let started = Instant::now();
    let (mut n, mut t) = (0u64, 1_700_000_000u64 + (started.elapsed().as_nanos() as u64 % 1000) * 1_000_000);
    while started.elapsed() < Duration::from_secs(secs) {
        let beats: Vec<String> = (0..25)
            .map(|i| {
                t += 1;
                format!(r#"{{"entity":"/src/f{}.rs","type":"file","time":{t},"language":"Rust","project":"p"}}"#, i % 5)
            })
            .collect();
        let body = format!(r#"{{"guild_id":1,"user_id":2,"heartbeats":[{}]}}"#, beats.join(","));
        engine.call_json("ingest_heartbeats", &body)?;
        n += 25;
    }
    println!("in-process: {:.0} heartbeats/s", n as f64 / started.elapsed().as_secs_f64());
    Ok(())
}
