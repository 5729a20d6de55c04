//! Moving a whole database between backends (a SQLite file and PostgreSQL, either way): every
//! table copied row for row inside one write transaction on the target (all or nothing), read
//! from one snapshot of the source, then checked: row counts, and every guild's status and
//! all-time leaderboard equal on both sides.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aggregate::LeaderboardQuery;
use crate::error::{Error, Result};
use crate::sessions::SessionQuery;
use rusqlite::types::Value;

use crate::storage::{value_rows, Param, Tx};
use crate::store::Engine;

/// Every table of the schema with its columns, parents before children. Rollups and totals are
/// copied as they are (they are exact already).
const TABLES: &[(&str, &str)] = &[
    ("guilds", "guild_id, timezone, week_start, max_session_seconds, allow_overlap, heartbeat_timeout_seconds, longest_session_ms, created_at"),
    ("users", "user_id, username, display_name, avatar_url, email, slack_uid, trust_level, created_at, time_zone"),
    ("guild_members", "guild_id, user_id, is_admin"),
    ("categories", "category_id, guild_id, name, name_key, description, color, archived, created_at"),
    ("sessions", "id, public_id, guild_id, user_id, category_id, description, start_ms, end_ms, billable, auto_closed, created_at, updated_at"),
    ("rollup_day", "guild_id, day, user_id, category_id, seconds"),
    ("rollup_week", "guild_id, week, user_id, seconds"),
    ("totals_user_cat", "guild_id, user_id, category_id, seconds, sessions"),
    ("totals_user", "guild_id, user_id, seconds, sessions"),
    ("totals_cat", "guild_id, category_id, seconds, sessions"),
    ("hb_dims", "dim_id, category, project, language, editor, operating_system, machine, branch, user_agent"),
    ("hb_entities", "entity_id, entity"),
    ("heartbeats", "guild_id, user_id, time_ms, ident, entity_id, type, is_write, dim_id, lines, lineno, cursorpos, line_additions, line_deletions, project_root_count, dependencies, day_ms, joined"),
    ("hb_pending", "guild_id"),
    ("hb_rollup", "guild_id, user_id, kind, bucket, dim_id, ms"),
    ("master_key", "id, hash, set_at"),
    ("tiers", "name, rank, per_minute, per_hour, per_day, permissions, all_guilds"),
    ("api_keys", "key_id, hash, display_prefix, form, guild_id, owner_user_id, tier, permissions, name, parent_id, created_at, expires_at, revoked_at, grace_until, replaced_by, last_used_at, request_count"),
    ("rate_windows", "key_id, period_ms, window_start, current, previous"),
    ("key_events", "id, key_id, guild_id, event, detail, at"),
    ("settings", "name, value"),
];

/// Tables whose integer key the database assigns (PostgreSQL's identity sequences follow the
/// copied rows).
const IDENTITIES: &[(&str, &str)] = &[
    ("categories", "category_id"),
    ("sessions", "id"),
    ("hb_dims", "dim_id"),
    ("hb_entities", "entity_id"),
    ("key_events", "id"),
];

/// What [`Engine::copy_to`] moved and checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopySummary {
    /// Rows copied, by table (equal on both sides, checked).
    pub rows: BTreeMap<String, u64>,
    /// Guilds whose status and all-time leaderboard were compared (all equal).
    pub guilds_checked: u64,
}

/// Parameters per copy statement at most (SQLite allows 32,766, PostgreSQL 65,535).
const COPY_PARAMS: usize = 30_000;

/// Rows per copy statement at most.
const COPY_ROWS: usize = 500;

/// Rows a PostgreSQL source sends per fetch.
const FETCH_ROWS: usize = 10_000;

/// Calls `f` with each row of `select` (`n` columns): streamed from SQLite; from PostgreSQL
/// through a cursor, [`FETCH_ROWS`] at a time (its client would otherwise hold a whole table in
/// memory before the first row is copied).
fn each_row(src: &Tx<'_>, table: &str, columns: &str, mut f: impl FnMut(Vec<Value>) -> Result<()>) -> Result<()> {
    let n = columns.split(',').count();
    let select = format!("SELECT {columns} FROM {table}");
    let read = |r: &crate::storage::Row<'_>| (0..n).map(|i| r.value(i)).collect::<Result<Vec<Value>>>();
    if !src.is_postgres() {
        let mut stmt = src.prepare_cached(&select)?;
        let mut rows = stmt.query(())?;
        while let Some(r) = rows.next()? {
            f(read(&r)?)?;
        }
        return Ok(());
    }
    // A cursor per table: a prepared FETCH describes the columns of the cursor it was prepared on.
    src.execute(&format!("DECLARE tl_copy_{table} NO SCROLL CURSOR FOR {select}"), ())?;
    loop {
        let rows =
            src.prepare_cached(&format!("FETCH FORWARD {FETCH_ROWS} FROM tl_copy_{table}"))?.query_map((), read)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            f(row)?;
        }
    }
    src.execute(&format!("CLOSE tl_copy_{table}"), ())?;
    Ok(())
}

fn count(tx: &Tx<'_>, table: &str) -> Result<u64> {
    let n: i64 = tx.prepare_cached(&format!("SELECT COUNT(*) FROM {table}"))?.query_row((), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

impl Engine {
    /// Copies this whole database into `target`, which must hold nothing yet (a new SQLite file
    /// or a new PostgreSQL database; its default tiers are replaced by this one's). Keys move
    /// with their hashes, so every key keeps working; sessions keep their ids. Then checks
    /// both: every table's row count, and every guild's status and all-time leaderboard (first
    /// 1,000 places) equal. `INVALID_INPUT` if the target holds data; nothing is written to it
    /// unless the whole copy succeeds.
    pub fn copy_to(&self, target: &Engine) -> Result<CopySummary> {
        let mut summary = CopySummary::default();
        self.read(|src| {
            target.write(|dst| {
                // A new database holds its default tiers and its own session id key: both give
                // way to the source's (whose key its sessions' ids are made with).
                let own = |table: &str| match table {
                    "tiers" => "",
                    "settings" => " WHERE name <> 'session_id_key'",
                    _ => " WHERE 1 = 1",
                };
                for (table, _) in TABLES {
                    let filter = own(table);
                    let n: i64 = if filter.is_empty() {
                        0
                    } else {
                        dst.prepare_cached(&format!("SELECT COUNT(*) FROM {table}{filter}"))?.query_row((), |r| r.get(0))?
                    };
                    if n > 0 {
                        return Err(Error::invalid("to", format!("the target database is not empty (table {table})")));
                    }
                }
                dst.execute("DELETE FROM tiers", ())?;
                dst.execute("DELETE FROM settings", ())?;
                for (table, columns) in TABLES {
                    let n = columns.split(',').count();
                    // Rows go in multi-row statements (one round trip each on a server), kept
                    // under both databases' limits on parameters per statement.
                    let per_statement = (COPY_PARAMS / n).clamp(1, COPY_ROWS);
                    let mut copied = 0u64;
                    let mut values: Vec<Value> = Vec::with_capacity(per_statement * n);
                    let mut flush = |values: &mut Vec<Value>| -> Result<()> {
                        let pending = values.len() / n;
                        if pending > 0 {
                            let params: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
                            dst.prepare_cached(&format!("INSERT INTO {table} ({columns}) VALUES {}", value_rows(pending, n)))?
                                .execute(params.as_slice())?;
                            copied += pending as u64;
                            values.clear();
                        }
                        Ok(())
                    };
                    each_row(src, table, columns, |row| {
                        values.extend(row);
                        if values.len() / n == per_statement {
                            flush(&mut values)?;
                        }
                        Ok(())
                    })?;
                    flush(&mut values)?;
                    summary.rows.insert((*table).to_string(), copied);
                }
                // Key-state changes counted on the target start above anything the source saw.
                let generation: i64 = src
                    .prepare_cached("SELECT generation FROM key_state WHERE id = 1")?
                    .query_row((), |r| r.get(0))?;
                dst.execute("UPDATE key_state SET generation = generation + ?1 + 1 WHERE id = 1", [generation])?;
                if dst.is_postgres() {
                    for (table, column) in IDENTITIES {
                        dst.prepare_cached(&format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                        ))?
                        .query_row((), |_| Ok(()))?;
                    }
                }
                Ok(())
            })
        })?;
        // A bulk load leaves PostgreSQL without statistics of what it loaded: without them each
        // guild is planned as nearly empty (and a user's sessions found by scanning the guild).
        // The copy is committed: a failure here is not the copy's (autovacuum catches up).
        let _ = target.db.analyze("");
        target.set_session_key(target.write(crate::sessions::session_key)?);
        self.check_copy(target, &mut summary)?;
        Ok(summary)
    }

    /// The checks after a copy: counts, and each guild's status and all-time board.
    fn check_copy(&self, target: &Engine, summary: &mut CopySummary) -> Result<()> {
        let counts = |e: &Engine| -> Result<BTreeMap<String, u64>> {
            e.read(|tx| TABLES.iter().map(|(t, _)| Ok(((*t).to_string(), count(tx, t)?))).collect())
        };
        let (a, b) = (counts(self)?, counts(target)?);
        if a != b || a != summary.rows {
            return Err(Error::Storage(format!("the copy's row counts differ: source {a:?}, target {b:?}")));
        }
        let guilds: Vec<i64> = self.read(|tx| {
            tx.prepare_cached("SELECT guild_id FROM guilds ORDER BY guild_id")?.query_map((), |r| r.get(0))
        })?;
        for g in guilds {
            let board = |e: &Engine| {
                e.leaderboard(&LeaderboardQuery {
                    guild_id: g,
                    timeframe: Some("all".into()),
                    limit: Some(1000),
                    ..Default::default()
                })
            };
            // Both asked at one instant: a running session's time grows between two calls.
            let now = self.now_ms();
            // The newest sessions with their ids: an id the source gave names the same session.
            let newest =
                |e: &Engine| e.list_sessions(&SessionQuery { guild_id: g, per_page: Some(100), ..Default::default() });
            let here = self.at_instant(now, || Ok::<_, Error>((self.guild_status(g)?, board(self)?, newest(self)?)))?;
            let there = target
                .at_instant(now, || Ok::<_, Error>((target.guild_status(g)?, board(target)?, newest(target)?)))?;
            if here != there {
                return Err(Error::Storage(format!("guild {g} answers differently after the copy")));
            }
            summary.guilds_checked += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TABLES;
    use crate::store::Engine;

    #[test]
    fn every_table_of_the_schema_is_copied() {
        let e = Engine::open(":memory:").unwrap();
        let tables: Vec<String> = e
            .read(|tx| {
                tx.prepare_cached("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?
                    .query_map((), |r| r.get(0))
            })
            .unwrap();
        let mut copied: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        // key_state is a counter the copy raises, never copies; sqlite_sequence is SQLite's own
        // (the highest session row id, raised by the copied rows).
        copied.extend(["key_state", "sqlite_sequence"]);
        copied.sort_unstable();
        assert_eq!(tables, copied);
    }
}
