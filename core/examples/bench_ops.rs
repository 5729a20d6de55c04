//! Per-call costs of `authorize` (shared limiter, WAL file), `clock_in`/`clock_out`, and bulk
//! ingest of 1000 heartbeats, through the typed Rust API. Prints one JSON object.
//!
//! The binding bench scripts (`bindings-python/bench.py`, ...) run this first and then the same
//! operations through their language, in the same run, to report ratios.
//! `cargo run --release -p timeledger --example bench_ops`

use std::time::Instant;

use serde_json::{json, Value};
use timeledger::*;

const MASTER: &str = "bench-master-key-0123456789";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn beats(batch: u64, n: u64) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let k = batch * n + i;
                json!({"entity": format!("src/file{}.rs", k % 17), "time": 1_735_689_600.0 + k as f64 * 30.0,
                       "project": "bench", "language": "Rust", "is_write": k.is_multiple_of(5)})
            })
            .collect(),
    )
}

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("timeledger-bench-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Storage(e.to_string()))?;
    let engine = Engine::open(dir.join("ops.db"))?;
    engine.set_master_key(MASTER)?;
    engine.set_tiers(&[TierDef {
        name: "BENCH".into(),
        rank: 1,
        per_minute: Some(1_000_000_000),
        per_hour: None,
        per_day: None,
        permissions: vec!["read_status".into()],
        all_guilds: false,
    }])?;
    let key = engine.generate_key(&GenerateKey {
        guild_id: 1,
        admin_user_id: 1,
        master_key: MASTER.into(),
        tier: Some("BENCH".into()),
        ..Default::default()
    })?;
    engine.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
    let req = AuthorizeRequest {
        api_key: key.api_key.clone(),
        guild_id: 1,
        action: "read_status".into(),
        target_user_id: None,
    };

    let mut auth = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        engine.authorize(&req)?;
        auth.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (mut cin, mut cout) = (Vec::new(), Vec::new());
    for _ in 0..1500 {
        let t = Instant::now();
        engine.clock_in(&ClockIn { guild_id: 1, user_id: 7, category: "Dev".into(), ..Default::default() })?;
        cin.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        engine.clock_out(&ClockOut { guild_id: 1, user_id: 7, at: None })?;
        cout.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut ingest = Vec::new();
    for b in 0..40 {
        let batch = HeartbeatBatch { guild_id: 1, user_id: 9, heartbeats: beats(b, 1000), ..Default::default() };
        let t = Instant::now();
        engine.ingest_heartbeats(&batch)?;
        ingest.push(1000.0 / t.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        json!({"authorize_us": median(auth), "clock_in_us": median(cin), "clock_out_us": median(cout), "ingest_per_s": median(ingest)})
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
