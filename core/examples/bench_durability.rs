//! What `set_durability("full")` costs: clock-in/clock-out pairs and heartbeat bulks of 25 on a
//! WAL file, `normal` and `full` interleaved round by round (the machine's speed drifts), with
//! min / median / max of the per-round means.
//!
//! `cargo run --release -p timeledger --example bench_durability [rounds]`

use std::time::Instant;

use serde_json::json;
use timeledger::*;

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!("min {:.1} / median {:.1} / max {:.1} us", v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() -> Result<()> {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let dir = std::env::temp_dir().join(format!("timeledger-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut engines = Vec::new();
    for mode in ["normal", "full"] {
        let e = Engine::open(dir.join(format!("{mode}.db")))?;
        e.set_durability(mode)?;
        e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
        engines.push((mode, e));
    }
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]), (vec![], vec![])];
    let mut t = 1_767_225_600.0_f64; // heartbeat times, increasing
    for round in 0..rounds {
        for (i, (_, e)) in engines.iter().enumerate() {
            let n = 200;
            let start = Instant::now();
            for _ in 0..n {
                e.clock_in(&ClockIn { guild_id: 1, user_id: 5, category: "Dev".into(), ..Default::default() })?;
                e.clock_out(&ClockOut { guild_id: 1, user_id: 5, at: None })?;
            }
            results[i].0.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
            let start = Instant::now();
            for _ in 0..n {
                let beats: Vec<_> = (0..25)
                    .map(|k| {
                        t += 1.0;
                        json!({"entity": format!("f{}.rs", k % 5), "time": t, "language": "Rust"})
                    })
                    .collect();
                e.ingest_heartbeats(&HeartbeatBatch {
                    guild_id: 1,
                    user_id: 5,
                    heartbeats: json!(beats),
                    ..Default::default()
                })?;
            }
            results[i].1.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    for (i, (mode, _)) in engines.iter().enumerate() {
        println!(
            "{mode:>6}: clock-in/out pair {}; bulk of 25 {}",
            stats(results[i].0.clone()),
            stats(results[i].1.clone())
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
