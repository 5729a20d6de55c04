//! Does a clock-in/clock-out pair cost more for a user with a long history? One WAL file, a user
//! with N past sessions and a fresh user, pairs measured interleaved round by round (the machine's
//! speed drifts), min / median / max of the rounds' means and the ratio of medians.
//!
//! `cargo run --release -p timeledger --example bench_history [past_sessions] [rounds]`

use std::time::Instant;

use timeledger::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let past: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let dir = std::env::temp_dir().join(format!("timeledger-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let e = Engine::open(dir.join("history.db"))?;
    e.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), ..Default::default() })?;
    let (veteran, fresh) = (1, 2);
    // Past sessions of one hour every two hours, ending before now.
    let first = e.now_ms() - past * 7_200_000 - 86_400_000;
    let started = Instant::now();
    for i in 0..past {
        let start = first + i * 7_200_000;
        e.add_entry(&NewEntry {
            guild_id: 1,
            user_id: veteran,
            category: "Dev".into(),
            start: Timestamp(start),
            end: Timestamp(start + 3_600_000),
            ..Default::default()
        })?;
    }
    eprintln!("{past} past sessions written in {:.1} s", started.elapsed().as_secs_f64());
    let mut times: [Vec<f64>; 2] = [vec![], vec![]];
    for _ in 0..rounds {
        for (k, user) in [fresh, veteran].into_iter().enumerate() {
            let n = 300;
            let t = Instant::now();
            for _ in 0..n {
                e.clock_in(&ClockIn { guild_id: 1, user_id: user, category: "Dev".into(), ..Default::default() })?;
                e.clock_out(&ClockOut { guild_id: 1, user_id: user, at: None })?;
            }
            times[k].push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    let mut medians = [0.0; 2];
    for (k, name) in ["fresh user", "user with history"].iter().enumerate() {
        let v = &mut times[k];
        v.sort_by(|a, b| a.total_cmp(b));
        medians[k] = v[v.len() / 2];
        println!("{name:>18}: pair min {:.1} / median {:.1} / max {:.1} us", v[0], medians[k], v[v.len() - 1]);
    }
    println!("ratio of medians (history / fresh) with {past} past sessions: {:.2}x", medians[1] / medians[0]);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
