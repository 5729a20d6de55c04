//! `authorize` with the shared limiter on a WAL file database and with the in-memory limiter,
//! against a bare indexed `SELECT` of a key row by its SHA-256 on the same file, in one run.
//!
//! `cargo bench -p timeledger --bench authorize`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use timeledger::*;

const MASTER: &str = "bench-master-key-0123456789";

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("timeledger-auth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("auth.db");
    let _ = std::fs::remove_file(&path);
    let engine = Engine::open(&path).unwrap();
    engine.set_master_key(MASTER).unwrap();
    // A tier whose limit is never reached during the run, and 10 000 other keys in the table.
    engine
        .set_tiers(&[TierDef {
            name: "BENCH".into(),
            rank: 1,
            per_minute: Some(1_000_000_000),
            per_hour: Some(1_000_000_000),
            per_day: None,
            permissions: vec!["read_status".into()],
            all_guilds: false,
        }])
        .unwrap();
    let gen = |g: i64| {
        engine
            .generate_key(&GenerateKey {
                guild_id: g,
                admin_user_id: 1,
                master_key: MASTER.into(),
                tier: Some("BENCH".into()),
                ..Default::default()
            })
            .unwrap()
    };
    for g in 0..10_000 {
        gen(1000 + g);
    }
    let key = gen(1);
    let req = AuthorizeRequest {
        api_key: key.api_key.clone(),
        guild_id: 1,
        action: "read_status".into(),
        target_user_id: None,
    };
    engine.authorize(&req).unwrap();

    let plain = Connection::open(&path).unwrap();
    let hash: [u8; 32] = Sha256::digest(key.api_key.as_bytes()).into();

    let mut g = c.benchmark_group("authorize");
    g.bench_function("shared_limiter_file_db", |b| b.iter(|| black_box(engine.authorize(&req).unwrap())));
    g.bench_function("bare_select_by_hash", |b| {
        b.iter(|| {
            let mut st = plain
                .prepare_cached("SELECT key_id, tier, guild_id, expires_at, revoked_at FROM api_keys WHERE hash = ?1")
                .unwrap();
            let row: (String, String, i64, Option<i64>, Option<i64>) =
                st.query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).unwrap();
            black_box(row)
        })
    });
    engine.set_rate_limiter("memory").unwrap();
    engine.authorize(&req).unwrap();
    g.bench_function("in_memory_limiter", |b| b.iter(|| black_box(engine.authorize(&req).unwrap())));
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
