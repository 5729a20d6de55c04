//! Latency of single `GET /api/v1/guild/1/status` requests through `handle`, one at a time, on a
//! database file: where the slow ones come from when no other request competes.
//!   cargo run --release -p timeledger-http --example status_latency [N=20000] [DB]
use std::time::Instant;

use serde_json::json;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("tl-status-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = std::env::args().nth(2).unwrap_or_else(|| dir.join("s.db").display().to_string());
    let e = timeledger::Engine::open(&db).unwrap();
    e.set_master_key("status-latency-master").unwrap();
    let key = e
        .call(
            "generate_key",
            json!({"guild_id": 1, "admin_user_id": 2, "master_key": "status-latency-master", "tier": "ADMIN"}),
        )
        .unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let req =
        || http::Request::get("/api/v1/guild/1/status").header("X-API-Key", key.as_str()).body(Vec::new()).unwrap();
    for _ in 0..1000 {
        assert_eq!(timeledger_http::handle(&e, &req()).status(), 200);
    }
    let mut us: Vec<f64> = Vec::with_capacity(n);
    for _ in 0..n {
        let r = req();
        let t = Instant::now();
        let res = timeledger_http::handle(&e, &r);
        us.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(res.status(), 200);
    }
    let mean = us.iter().sum::<f64>() / n as f64;
    us.sort_by(f64::total_cmp);
    let q = |p: f64| us[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{n} requests: mean {mean:.1} us, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        q(0.5),
        q(0.99),
        q(0.999),
        us[n - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
