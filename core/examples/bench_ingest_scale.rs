//! Heartbeat bulk ingest as the database grows, against two floors in the same run: a bare
//! `INSERT` into an unindexed table, and a bare `INSERT OR IGNORE` into a table keyed like a
//! deduplicating store (user, time, entity: the floor for deduplicated data). All three are WAL
//! files with the engine's settings (synchronous NORMAL, checkpoint every 4000 pages, 64 MiB page
//! cache) and hold the same rows. Each floor runs in a process of its own (this program started
//! again with `--floor`, taking orders on stdin): SQLite as bundled here pools the page caches of
//! every connection in a process (`SQLITE_ENABLE_MEMORY_MANAGEMENT`), and with the floors' filled
//! caches beside it the engine's hot pages were read back from the OS (135 against 221 k/s at
//! 10 M, batch 25); `SCALE_INPROC=1` runs them in this process, to show it. At each size the three are filled to it in bulks of 1000, then
//! measured in rounds, each round inserting the same new rows into each store in bulks of 25 and
//! of 1000 (the stores' order rotated round by round; the rows measured stay, so the table names
//! the rows held when each measurement began); min / median / max of the rounds'
//! heartbeats per second, and the ratios of the medians.
//!
//! `cargo run --release -p timeledger --example bench_ingest_scale [sizes=1000,100000,1000000,10000000] [rounds=5] [rows_per_round=20000]`
//!
//! Heartbeats look like a plugin's (`core/benches/heartbeats.rs`): one every 30 s per user, 17
//! files in 3 projects, with branch, language and a ~90-byte user agent; each bulk is one user's,
//! the users (100) taking turns. `SCALE_FLOORS=0` fills and measures the engine alone (to profile
//! it); the ratios need the floors.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use timeledger::*;

#[path = "../benches/common/plugin_beat.rs"]
mod plugin_beat;
use plugin_beat::beat;
#[path = "../benches/common/plain_floor.rs"]
mod plain_floor;
use plain_floor::Plain;
#[path = "../benches/common/helper_process.rs"]
mod helper_process;
use helper_process::Helper;

const USERS: i64 = 100;

/// The rows a store is given: the same sequence in every process (users taking turns).
struct Stream {
    next: Vec<u64>,
    turn: usize,
}

impl Stream {
    fn new() -> Self {
        Stream { next: vec![0u64; USERS as usize], turn: 0 }
    }

    fn bulks(&mut self, rows: usize, size: usize) -> Vec<(i64, Vec<Value>)> {
        bulks(&mut self.next, &mut self.turn, rows, size)
    }
}

/// The bulks that fill a store from `held` to at least `size` heartbeats, 100,000 at a time.
fn fill_steps(held: u64, size: u64) -> Vec<usize> {
    let mut steps = Vec::new();
    let mut h = held;
    while h < size {
        let n = ((size - h) as usize).min(100_000).div_ceil(1000) * 1000;
        steps.push(n);
        h += n as u64;
    }
    steps
}

/// A floor: its table, its copy of the stream and the round it was last given. Orders:
/// `fill <held> <size>` fills, `gen <rows> <batch>` makes the next round's bulks, `run` inserts
/// them and answers the rate in k heartbeats/s.
struct FloorState {
    plain: Plain,
    stream: Stream,
    pending: Vec<(i64, Vec<Value>)>,
}

impl FloorState {
    fn open(kind: &str, path: &Path) -> Self {
        FloorState { plain: Plain::open(path, kind == "keyed"), stream: Stream::new(), pending: Vec::new() }
    }

    fn order(&mut self, line: &str) -> Option<String> {
        let words: Vec<u64> = line.split(' ').skip(1).filter_map(|w| w.parse().ok()).collect();
        Some(match line.split(' ').next() {
            Some("fill") => {
                for n in fill_steps(words[0], words[1]) {
                    for (user, rows) in self.stream.bulks(n, 1000) {
                        self.plain.insert(user, &rows);
                    }
                }
                "ok".to_string()
            }
            Some("gen") => {
                self.pending = self.stream.bulks(words[0] as usize, words[1] as usize);
                "ok".to_string()
            }
            Some("run") => {
                let rows: usize = self.pending.iter().map(|(_, r)| r.len()).sum();
                let t = Instant::now();
                for (user, r) in &self.pending {
                    self.plain.insert(*user, r);
                }
                format!("{}", rows as f64 / t.elapsed().as_secs_f64() / 1000.0)
            }
            _ => return None,
        })
    }
}

/// A floor's process (`--floor <kind> <path>`): orders on stdin, answers on stdout.
fn floor_process(kind: &str, path: &Path) {
    let mut floor = FloorState::open(kind, path);
    helper_process::serve(|order| floor.order(order));
}

/// The parent's handle on a floor: its own process, or (`SCALE_INPROC=1`) a connection in
/// this one, which shares SQLite's page cache pool with the engine.
enum Floor {
    Process(Helper),
    Here(Box<FloorState>),
}

impl Floor {
    fn start(kind: &str, path: &Path, here: bool) -> Self {
        if here {
            return Floor::Here(Box::new(FloorState::open(kind, path)));
        }
        Floor::Process(Helper::start(&[std::ffi::OsStr::new("--floor"), kind.as_ref(), path.as_os_str()]))
    }

    fn ask(&mut self, order: &str) -> String {
        match self {
            Floor::Here(state) => state.order(order).expect("known order"),
            Floor::Process(helper) => helper.ask(order),
        }
    }
}

/// The next bulks: `rows` heartbeats in bulks of `size`, the users taking turns.
fn bulks(next: &mut [u64], turn: &mut usize, rows: usize, size: usize) -> Vec<(i64, Vec<Value>)> {
    let mut out = Vec::new();
    for _ in 0..rows / size {
        let u = *turn % next.len();
        *turn += 1;
        let first = next[u];
        next[u] += size as u64;
        out.push((u as i64 + 1, (first..first + size as u64).map(beat).collect()));
    }
    out
}

/// One bulk into the engine; the batch is built (its rows copied) by the caller, outside any
/// timing, as the floors get theirs.
fn ingest(engine: &Engine, batch: &HeartbeatBatch) -> Result<()> {
    let r = engine.ingest_heartbeats(batch)?;
    assert!(r.responses.iter().all(|o| o.status == 201), "every heartbeat is new");
    Ok(())
}

fn batch_of(user: i64, rows: &[Value]) -> HeartbeatBatch {
    HeartbeatBatch { guild_id: 1, user_id: user, heartbeats: Value::Array(rows.to_vec()), ..Default::default() }
}

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() -> Result<()> {
    let all: Vec<String> = std::env::args().collect();
    if all.get(1).map(String::as_str) == Some("--floor") && all.len() == 4 {
        floor_process(&all[2], Path::new(&all[3]));
        return Ok(());
    }
    let mut args = std::env::args().skip(1);
    let sizes: Vec<u64> = args
        .next()
        .unwrap_or_else(|| "1000,100000,1000000,10000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let per_round: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("timeledger-ingest-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    // `SCALE_FLOORS=0` measures the engine alone (to profile it).
    let floors = std::env::var("SCALE_FLOORS").map_or(true, |v| v != "0");
    let engine = Engine::open(dir.join("engine.db"))?;
    let here = std::env::var("SCALE_INPROC").is_ok_and(|v| v == "1");
    let mut bare = floors.then(|| Floor::start("bare", &dir.join("bare.db"), here));
    let mut keyed = floors.then(|| Floor::start("keyed", &dir.join("keyed.db"), here));
    let mut stream = Stream::new();
    let mut held = 0u64;
    println!("| heartbeats held | batch | engine k/s | bare unindexed k/s | bare keyed k/s | engine / unindexed | engine / keyed |");
    println!("|---|---|---|---|---|---|---|");
    for size in sizes {
        let t = Instant::now();
        for floor in bare.iter_mut().chain(keyed.iter_mut()) {
            floor.ask(&format!("fill {held} {size}"));
        }
        for n in fill_steps(held, size) {
            for (user, rows) in stream.bulks(n, 1000) {
                ingest(&engine, &batch_of(user, &rows))?;
            }
            held += n as u64;
        }
        eprintln!("filled to {held} heartbeats in {:.1?}", t.elapsed());
        for batch in [25usize, 1000] {
            let at = held;
            let (mut e, mut b, mut k) = (vec![], vec![], vec![]);
            for round in 0..rounds {
                let work = stream.bulks(per_round, batch);
                let batches: Vec<HeartbeatBatch> = work.iter().map(|(user, rows)| batch_of(*user, rows)).collect();
                held += (work.len() * batch) as u64;
                for floor in bare.iter_mut().chain(keyed.iter_mut()) {
                    floor.ask(&format!("gen {per_round} {batch}"));
                }
                let rate =
                    |floor: &mut Option<Floor>| floor.as_mut().map(|f| f.ask("run").parse::<f64>().expect("rate"));
                for step in 0..if floors { 3 } else { 1 } {
                    match if floors { (round + step) % 3 } else { 0 } {
                        0 => {
                            let t = Instant::now();
                            for b in &batches {
                                ingest(&engine, b)?;
                            }
                            e.push(per_round as f64 / t.elapsed().as_secs_f64() / 1000.0);
                        }
                        1 => b.extend(rate(&mut bare)),
                        _ => k.extend(rate(&mut keyed)),
                    }
                }
            }
            if !floors {
                let (e0, e1, e2) = stats(&mut e);
                println!("| {at} | {batch} | {e0:.1} / {e1:.1} / {e2:.1} | | | | |");
                continue;
            }
            let ((e0, e1, e2), (b0, b1, b2), (k0, k1, k2)) = (stats(&mut e), stats(&mut b), stats(&mut k));
            println!(
                "| {at} | {batch} | {e0:.1} / {e1:.1} / {e2:.1} | {b0:.1} / {b1:.1} / {b2:.1} | {k0:.1} / {k1:.1} / {k2:.1} | {:.2}x | {:.2}x |",
                e1 / b1,
                e1 / k1
            );
        }
    }
    drop((engine, bare, keyed));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
