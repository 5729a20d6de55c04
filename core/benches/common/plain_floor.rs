//! The floor the ingest benchmarks measure the engine against (`benches/heartbeats.rs` and the
//! example `bench_ingest_scale`): the same plugin-like rows, already typed, inserted into a plain
//! table with the engine's settings, so the two benchmarks' ratios are against the same floor.

use std::path::Path;

use rusqlite::{params, Connection};
use serde_json::Value;

/// A plain table on its own WAL file: unindexed, or keyed like a deduplicating store (guild,
/// user, time, entity).
pub struct Plain {
    conn: Connection,
    sql: &'static str,
}

impl Plain {
    /// Creates the table with the engine's own settings (WAL, synchronous NORMAL, checkpoint
    /// every 4000 pages, 64 MiB page cache), so a ratio measures the engine's work, not its
    /// configuration.
    pub fn open(path: &Path, keyed: bool) -> Self {
        let conn = Connection::open(path).expect("open");
        let key = if keyed { ", PRIMARY KEY (guild_id, user_id, time_ms, entity)) WITHOUT ROWID" } else { ")" };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000;
             PRAGMA cache_size = -65536;
             CREATE TABLE plain (guild_id INTEGER NOT NULL, user_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,
               entity TEXT NOT NULL, type TEXT, category TEXT, project TEXT, branch TEXT, language TEXT, is_write INTEGER,
               lines INTEGER, lineno INTEGER, cursorpos INTEGER, user_agent TEXT{key};"
        ))
        .expect("schema");
        let sql = if keyed {
            "INSERT OR IGNORE INTO plain VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        } else {
            "INSERT INTO plain VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        };
        Plain { conn, sql }
    }

    /// One user's rows, already typed, in one transaction.
    pub fn insert(&mut self, user: i64, rows: &[Value]) {
        let tx = self.conn.transaction().expect("tx");
        {
            let mut st = tx.prepare_cached(self.sql).expect("prepare");
            for r in rows {
                st.execute(params![
                    1,
                    user,
                    (r["time"].as_f64().unwrap_or(0.0) * 1000.0) as i64,
                    r["entity"].as_str(),
                    r["type"].as_str(),
                    "coding",
                    r["project"].as_str(),
                    r["branch"].as_str(),
                    r["language"].as_str(),
                    r["is_write"].as_bool(),
                    r["lines"].as_i64(),
                    r["lineno"].as_i64(),
                    r["cursorpos"].as_i64(),
                    r["user_agent"].as_str(),
                ])
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
}
