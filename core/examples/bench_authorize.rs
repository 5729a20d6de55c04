//! `authorize` with the shared limiter, call by call: mean, median and p99 of single calls on a
//! WAL file holding 10,000 keys, against a bare indexed `SELECT` of a key row by its SHA-256 on
//! the same file, interleaved round by round (the machine's speed drifts; ratios within a round
//! are what to compare). Each figure is given as min / median / max over the rounds.
//!
//! `cargo run --release -p timeledger --example bench_authorize [rounds=7] [calls=20000]`

use std::time::Instant;

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use timeledger::*;

const MASTER: &str = "bench-master-key-0123456789";

/// Mean, median and p99 of the durations, in microseconds.
fn summary(mut ns: Vec<u64>) -> (f64, f64, f64) {
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0;
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (mean, at(0.5), at(0.99))
}

fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2} / {:.2} / {:.2}", v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let calls: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("timeledger-auth-tail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("auth.db");
    let engine = Engine::open(&path)?;
    engine.set_master_key(MASTER)?;
    engine.set_tiers(&[TierDef {
        name: "BENCH".into(),
        rank: 1,
        per_minute: Some(1_000_000_000),
        per_hour: Some(1_000_000_000),
        per_day: None,
        permissions: vec!["read_status".into()],
        all_guilds: false,
    }])?;
    let mut keys = Vec::new();
    for g in 0..10_000 {
        keys.push(
            engine
                .generate_key(&GenerateKey {
                    guild_id: g,
                    admin_user_id: 1,
                    master_key: MASTER.into(),
                    tier: Some("BENCH".into()),
                    ..Default::default()
                })?
                .api_key,
        );
    }
    let key = keys[4_242].clone();
    let request =
        AuthorizeRequest { api_key: key.clone(), guild_id: 4_242, action: "read_status".into(), target_user_id: None };
    let bare = Connection::open(&path).expect("second connection");
    let hash: Vec<u8> = Sha256::digest(key.as_bytes()).to_vec();
    let mut select =
        bare.prepare_cached("SELECT key_id, tier, revoked_at FROM api_keys WHERE hash = ?1").expect("select");
    let (mut a_mean, mut a_p50, mut a_p99, mut b_mean, mut b_p50, mut b_p99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let mut a = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            std::hint::black_box(engine.authorize(&request)?);
            a.push(t.elapsed().as_nanos() as u64);
        }
        let mut b = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let row: (String, String, Option<i64>) =
                select.query_row([&hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("the key row");
            std::hint::black_box(row);
            b.push(t.elapsed().as_nanos() as u64);
        }
        let (am, a50, a99) = summary(a);
        let (bm, b50, b99) = summary(b);
        println!(
            "round {round}: authorize mean {am:.2} us, p50 {a50:.2}, p99 {a99:.2} | bare select mean {bm:.2} us, p50 {b50:.2}, p99 {b99:.2}"
        );
        a_mean.push(am);
        a_p50.push(a50);
        a_p99.push(a99);
        b_mean.push(bm);
        b_p50.push(b50);
        b_p99.push(b99);
    }
    println!("authorize (shared limiter), us, min / median / max over {rounds} rounds of {calls} calls:");
    println!("  mean {}  p50 {}  p99 {}", spread(a_mean.clone()), spread(a_p50), spread(a_p99));
    println!("bare indexed select by hash:");
    println!("  mean {}  p50 {}  p99 {}", spread(b_mean.clone()), spread(b_p50), spread(b_p99));
    let ratios: Vec<f64> = a_mean.iter().zip(&b_mean).map(|(a, b)| a / b).collect();
    println!("mean ratio authorize / select per round: {}", spread(ratios));
    drop(select);
    drop(bare);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
