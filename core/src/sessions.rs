//! Sessions (time entries): clock in/out, switch, manual entries, overlap rules and the lazy
//! auto-close at a guild's maximum session length.

use std::collections::{HashMap, HashSet};

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes128;

use crate::storage::{params, MultiRow, Param, Tx};
use serde::{Deserialize, Serialize};

use crate::categories;
use crate::error::{Error, Result};
use crate::guilds::{ensure_guild, ensure_member, ensure_members, load_guild, Guild};
use crate::rollup::{self, Contribution};
use crate::store::Engine;
use crate::time::{floor_second, Millis};
use crate::wire::{self, Page, PageMeta, Timestamp};

/// A session as returned to hosts (ClockEye's time-entry shape plus Timeledger's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Opaque id, `ses_...`.
    pub id: String,
    /// The guild.
    pub guild_id: i64,
    /// The user.
    pub user_id: i64,
    /// The category's current name.
    pub category: String,
    /// Optional description.
    pub description: Option<String>,
    /// Start instant.
    pub start_time: Timestamp,
    /// End instant; `None` while running.
    pub end_time: Option<Timestamp>,
    /// Whole seconds; a running session counts up to now.
    pub duration: i64,
    /// Billable flag.
    pub billable: bool,
    /// Still running.
    pub running: bool,
    /// Closed by the engine at the guild's maximum session length.
    pub auto_closed: bool,
}

/// The result of a clock-in, in the clock-in API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockInResult {
    /// Always `true` (failures are errors).
    pub success: bool,
    /// The new session's id.
    pub session_id: String,
    /// Category name.
    pub category: String,
    /// Start instant.
    pub start_time: Timestamp,
    /// The user.
    pub user_id: i64,
    /// Description, if given.
    pub description: Option<String>,
    /// With `switch`, the session that was closed at the same instant.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub switched_from: Option<Session>,
}

/// Arguments of [`Engine::clock_in`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockIn {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The user (created on first sight with their id as username).
    #[serde(with = "wire::id")]
    pub user_id: i64,
    /// An existing, unarchived category (any case).
    pub category: String,
    /// Optional description.
    pub description: Option<String>,
    /// Start instant; default now. Not in the future.
    pub at: Option<Timestamp>,
    /// If a session is running, close it at the same instant and open this one, atomically.
    #[serde(default)]
    pub switch: bool,
}

/// Arguments of [`Engine::clock_out`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockOut {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The user.
    #[serde(with = "wire::id")]
    pub user_id: i64,
    /// End instant; default now. Not before the start, not in the future.
    pub at: Option<Timestamp>,
}

/// Arguments of [`Engine::add_entry`]: a manual, closed time entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The user.
    #[serde(with = "wire::id")]
    pub user_id: i64,
    /// An existing, unarchived category.
    pub category: String,
    /// Start instant.
    pub start: Timestamp,
    /// End instant, `>= start`.
    pub end: Timestamp,
    /// Billable flag.
    #[serde(default)]
    pub billable: bool,
    /// Optional description.
    pub description: Option<String>,
}

/// Arguments of [`Engine::import_entries`]: a batch of closed entries of one guild.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryBatch {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// Up to [`MAX_IMPORT_BATCH`] entries, each `{user_id, category, start, end, billable?,
    /// description?}` as [`Engine::add_entry`] takes them (without `guild_id`).
    pub entries: Vec<serde_json::Value>,
}

/// One refused entry of an import: its index in the batch and the error body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportError {
    /// Position in the batch (0-based).
    pub index: usize,
    /// The engine's error body: `error`, `message`, `code`, `field`.
    pub error: serde_json::Value,
}

/// Result of [`Engine::import_entries`]: all entries or none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportResult {
    /// Entries stored: the whole batch, or 0 when any was refused.
    pub imported: usize,
    /// The new sessions' ids, in the batch's order (empty when any was refused).
    pub session_ids: Vec<String>,
    /// Every refused entry, with the reason (empty when the batch was stored).
    pub errors: Vec<ImportError>,
}

/// The most entries one [`Engine::import_entries`] call takes.
pub const MAX_IMPORT_BATCH: usize = 10_000;

/// An entry of an import batch: [`NewEntry`] without the guild.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportItem {
    #[serde(with = "wire::id")]
    user_id: i64,
    category: String,
    start: Timestamp,
    end: Timestamp,
    #[serde(default)]
    billable: bool,
    description: Option<String>,
}

/// Arguments of [`Engine::update_session`]; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionUpdate {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The session's id.
    pub session_id: String,
    /// Move to another (unarchived) category.
    pub category: Option<String>,
    /// New start.
    pub start: Option<Timestamp>,
    /// New end (closes a running session).
    pub end: Option<Timestamp>,
    /// New description.
    pub description: Option<String>,
    /// New billable flag.
    pub billable: Option<bool>,
}

/// Filters and page of [`Engine::list_sessions`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// Only this user's sessions.
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub user_id: Option<i64>,
    /// Only this category's sessions.
    pub category: Option<String>,
    /// Only sessions that end after this instant (or are running).
    pub from: Option<Timestamp>,
    /// Only sessions that start before this instant.
    pub to: Option<Timestamp>,
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Page size, 1..=500 (default 50).
    pub per_page: Option<u32>,
}

/// The public ids of sessions: `ses_` and 22 base62 digits, the row's id and creation instant
/// encrypted as one AES-128 block under the database's own key (`settings.session_id_key`,
/// drawn from the OS's secure source by the first engine that opens the database). As opaque and
/// as hard to guess as random ids, but nothing is stored for them: the row id and `created_at`
/// are in the row already, where a stored random id cost 23 bytes in the row and 35 in its unique
/// index. Decrypting a string that no session's id is gives a row id and instant that name no
/// row (or, for a forged one, not this guild's). Sessions stored before schema version 10 keep
/// the random id they were given (`public_id`, indexed only where present).
#[derive(Clone)]
pub(crate) struct SessionIds {
    cipher: Aes128,
}

/// The digits of session ids and API key ids.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The base62 digits of a session id (62^22 > 2^128).
const ID_DIGITS: usize = 22;

impl SessionIds {
    /// The ids of the database whose key is `key`.
    pub(crate) fn new(key: [u8; 16]) -> Self {
        SessionIds { cipher: Aes128::new(&GenericArray::from(key)) }
    }

    /// The public id of the session stored as row `id`, created at `created`.
    pub(crate) fn encode(&self, id: i64, created: Millis) -> String {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&id.to_be_bytes());
        block[8..].copy_from_slice(&created.to_be_bytes());
        let mut block = GenericArray::from(block);
        self.cipher.encrypt_block(&mut block);
        let mut n = u128::from_be_bytes(block.into());
        let mut digits = [b'0'; ID_DIGITS];
        for d in digits.iter_mut().rev() {
            *d = BASE62[(n % 62) as usize];
            n /= 62;
        }
        let mut out = String::with_capacity(4 + ID_DIGITS);
        out.push_str("ses_");
        out.extend(digits.iter().map(|&b| b as char));
        out
    }

    /// The row id and creation instant `public` encodes, if it has the form of an id of this
    /// schema (anything else may still be an id stored before it).
    pub(crate) fn decode(&self, public: &str) -> Option<(i64, Millis)> {
        let digits = public.strip_prefix("ses_")?.as_bytes();
        if digits.len() != ID_DIGITS {
            return None;
        }
        let mut n: u128 = 0;
        for &c in digits {
            let v = BASE62.iter().position(|&d| d == c)? as u128;
            n = n.checked_mul(62)?.checked_add(v)?;
        }
        let mut block = GenericArray::from(n.to_be_bytes());
        self.cipher.decrypt_block(&mut block);
        let block: [u8; 16] = block.into();
        let (id, created) = block.split_at(8);
        Some((i64::from_be_bytes(id.try_into().ok()?), i64::from_be_bytes(created.try_into().ok()?)))
    }
}

/// The database's session id key: read from `settings`, or drawn and stored by the first engine
/// that opens the database (several opening at once store one: the others' inserts do nothing
/// and they read the winner's).
pub(crate) fn session_key(tx: &Tx<'_>) -> Result<[u8; 16]> {
    const READ: &str = "SELECT value FROM settings WHERE name = 'session_id_key'";
    let mut stored: Option<String> = tx.prepare_cached(READ)?.query_opt((), |r| r.get(0))?;
    if stored.is_none() {
        let mut key = [0u8; 16];
        getrandom::fill(&mut key).map_err(|e| Error::Storage(format!("random source failed: {e}")))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        tx.prepare_cached(
            "INSERT INTO settings (name, value) VALUES ('session_id_key', ?1) ON CONFLICT (name) DO NOTHING",
        )?
        .execute([hex])?;
        stored = tx.prepare_cached(READ)?.query_opt((), |r| r.get(0))?;
    }
    let hex = stored.unwrap_or_default();
    let mut key = [0u8; 16];
    let valid = hex.len() == 32
        && key.iter_mut().enumerate().all(|(i, b)| {
            match hex.get(2 * i..2 * i + 2).map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(v)) => {
                    *b = v;
                    true
                }
                _ => false,
            }
        });
    if !valid {
        return Err(Error::Storage("settings.session_id_key is not 32 hexadecimal digits".into()));
    }
    Ok(key)
}

/// A stored session row.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    /// The random id of a session stored before schema version 10 (see [`SessionIds`]).
    public_id: Option<String>,
    created: Millis,
    guild_id: i64,
    user_id: i64,
    category_id: i64,
    category: String,
    description: Option<String>,
    start: Millis,
    end: Option<Millis>,
    billable: bool,
    auto_closed: bool,
}

impl Row {
    fn contribution(&self) -> Contribution {
        Contribution { user_id: self.user_id, category_id: self.category_id, start: self.start, end: self.end }
    }

    fn public_id(&self, ids: &SessionIds) -> String {
        self.public_id.clone().unwrap_or_else(|| ids.encode(self.id, self.created))
    }

    fn to_session(&self, ids: &SessionIds, now: Millis) -> Session {
        let end = self.end.unwrap_or_else(|| floor_second(now).max(self.start));
        Session {
            id: self.public_id(ids),
            guild_id: self.guild_id,
            user_id: self.user_id,
            category: self.category.clone(),
            description: self.description.clone(),
            start_time: Timestamp(self.start),
            end_time: self.end.map(Timestamp),
            duration: (end - self.start) / 1000,
            billable: self.billable,
            running: self.end.is_none(),
            auto_closed: self.auto_closed,
        }
    }
}

const ROW_SELECT: &str = "SELECT s.id, s.public_id, s.guild_id, s.user_id, s.category_id, c.name, s.description, s.start_ms, s.end_ms, s.billable, s.auto_closed, s.created_at
     FROM sessions s JOIN categories c ON c.category_id = s.category_id";

fn row_from(r: &crate::storage::Row<'_>) -> Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        public_id: r.get(1)?,
        guild_id: r.get(2)?,
        user_id: r.get(3)?,
        category_id: r.get(4)?,
        category: r.get(5)?,
        description: r.get(6)?,
        start: r.get(7)?,
        end: r.get(8)?,
        billable: r.get(9)?,
        auto_closed: r.get(10)?,
        created: r.get(11)?,
    })
}

fn running_row(tx: &Tx<'_>, guild_id: i64, user_id: i64) -> Result<Option<Row>> {
    tx.prepare_cached(&format!("{ROW_SELECT} WHERE s.guild_id = ?1 AND s.user_id = ?2 AND s.end_ms IS NULL"))?
        .query_opt(params![guild_id, user_id], row_from)
}

/// The session of a guild a public id names: by the row id and instant it encodes, or (an id
/// of another form) by the random id stored before schema version 10.
fn row_by_public_id(tx: &Tx<'_>, ids: &SessionIds, guild_id: i64, public_id: &str) -> Result<Row> {
    let found = match ids.decode(public_id) {
        Some((id, created)) => tx
            .prepare_cached(&format!(
                "{ROW_SELECT} WHERE s.id = ?1 AND s.guild_id = ?2 AND s.created_at = ?3 AND s.public_id IS NULL"
            ))?
            .query_opt(params![id, guild_id, created], row_from)?,
        None => tx
            .prepare_cached(&format!(
                "{ROW_SELECT} WHERE s.public_id = ?1 AND s.guild_id = ?2 AND s.public_id IS NOT NULL"
            ))?
            .query_opt(params![public_id, guild_id], row_from)?,
    };
    found.ok_or_else(|| Error::SessionNotFound(public_id.to_string()))
}

/// The user of a session of a guild, if there is such a session (for `authorize`).
pub(crate) fn session_user(tx: &Tx<'_>, ids: &SessionIds, guild_id: i64, public_id: &str) -> Result<Option<i64>> {
    match row_by_public_id(tx, ids, guild_id, public_id) {
        Ok(row) => Ok(Some(row.user_id)),
        Err(Error::SessionNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every session of a guild in id order, for an export; `f` sees each as its public shape.
pub(crate) fn for_each_session(
    tx: &Tx<'_>,
    ids: &SessionIds,
    guild_id: i64,
    now: Millis,
    mut f: impl FnMut(Session) -> Result<()>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(&format!("{ROW_SELECT} WHERE s.guild_id = ?1 ORDER BY s.id"))?;
    let mut rows = stmt.query([guild_id])?;
    while let Some(r) = rows.next()? {
        f(row_from(&r)?.to_session(ids, now))?;
    }
    Ok(())
}

/// A closed session as a file import compares them: (user, category, start, end).
type EntryKey = (i64, i64, Millis, Millis);

/// Which of `keys` are stored sessions of the guild (a file imported twice skips what it
/// stored the first time): one statement per many keys on PostgreSQL, an index seek each.
fn stored_among(tx: &Tx<'_>, guild_id: i64, keys: &[EntryKey]) -> Result<HashSet<EntryKey>> {
    static STORED: MultiRow = MultiRow::new(
        "SELECT s.user_id, s.category_id, s.start_ms, s.end_ms FROM (VALUES",
        1,
        "(CAST(# AS BIGINT), CAST(# AS BIGINT), CAST(# AS BIGINT), CAST(# AS BIGINT))",
        ") AS v JOIN sessions s ON s.guild_id = ?1 AND s.user_id = v.column1 AND s.start_ms = v.column3
           AND s.end_ms = v.column4 AND s.category_id = v.column2",
    );
    let rows: Vec<&dyn Param> = keys.iter().flat_map(|k| [&k.0 as &dyn Param, &k.1, &k.2, &k.3]).collect();
    let found = STORED.run(tx, params![guild_id], &rows, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(found.into_iter().collect())
}

/// Per user, the latest end of their closed sessions in a guild (`i64::MIN` for none), or `None`
/// if a session of theirs runs. Reads, per user, an index range as wide as the guild's longest
/// session; many users in one statement on PostgreSQL.
fn latest_ends(tx: &Tx<'_>, guild: &Guild, users: &[i64]) -> Result<HashMap<i64, Option<Millis>>> {
    static LATEST: MultiRow = MultiRow::new(
        "SELECT u.column1,
                EXISTS (SELECT 1 FROM sessions INDEXED BY sessions_running WHERE guild_id = ?1 AND user_id = u.column1 AND end_ms IS NULL),
                (SELECT MAX(end_ms) FROM sessions WHERE guild_id = ?1 AND user_id = u.column1
                   AND start_ms >= (SELECT MAX(start_ms) FROM sessions WHERE guild_id = ?1 AND user_id = u.column1) - ?2)
         FROM (VALUES",
        2,
        "(CAST(# AS BIGINT))",
        ") AS u",
    );
    let rows: Vec<&dyn Param> = users.iter().map(|u| u as &dyn Param).collect();
    let found = LATEST.run(tx, params![guild.id, guild.longest_session_ms], &rows, |r| {
        let (user, running, latest): (i64, bool, Option<Millis>) = (r.get(0)?, r.get(1)?, r.get(2)?);
        Ok((user, if running { None } else { Some(latest.unwrap_or(i64::MIN)) }))
    })?;
    Ok(found.into_iter().collect())
}

/// Closes, at `start + max`, every running session of the guild that has passed the guild's
/// maximum session length, and rolls them up. Called before every read or write of the guild
/// so no result ever shows a session running past the cap.
pub(crate) fn settle(tx: &Tx<'_>, guild: &Guild, now: Millis) -> Result<()> {
    let Some(max) = guild.max_session_ms else { return Ok(()) };
    let due: Vec<Row> = tx
        .prepare_cached(&format!("{ROW_SELECT} WHERE s.guild_id = ?1 AND s.end_ms IS NULL AND s.start_ms + ?2 <= ?3"))?
        .query_map(params![guild.id, max, now], row_from)?;
    for row in due {
        let end = row.start + max;
        tx.prepare_cached("UPDATE sessions SET end_ms = ?2, auto_closed = 1, updated_at = ?3 WHERE id = ?1")?
            .execute(params![row.id, end, now])?;
        rollup::apply(tx, guild, Contribution { end: Some(end), ..row.contribution() }, 1, 0)?;
    }
    Ok(())
}

fn check_overlap(
    tx: &Tx<'_>,
    guild: &Guild,
    user_id: i64,
    exclude: i64,
    start: Millis,
    end: Option<Millis>,
) -> Result<()> {
    // Intervals are half-open: an empty one, [t, t), overlaps nothing, whether it is the new
    // entry or one already stored.
    if guild.allow_overlap || end == Some(start) {
        return Ok(());
    }
    // A closed session that ends after `start` began at most the guild's longest session before
    // it, so the check reads an index range of that width, not the user's whole history; the
    // running session (at most one) is found through its own index.
    let earliest = start.saturating_sub(guild.longest_session_ms);
    let clash: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE guild_id = ?1 AND user_id = ?2 AND start_ms >= ?6
               AND start_ms < ?4 AND end_ms > ?5 AND end_ms > start_ms AND id <> ?3)
             OR EXISTS (SELECT 1 FROM sessions INDEXED BY sessions_running WHERE guild_id = ?1 AND user_id = ?2
               AND end_ms IS NULL AND start_ms < ?4 AND id <> ?3)",
        )?
        .query_row(params![guild.id, user_id, exclude, end.unwrap_or(i64::MAX), start, earliest], |r| r.get(0))?;
    if clash {
        return Err(Error::SessionOverlap);
    }
    Ok(())
}

fn check_description(d: &Option<String>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 2000 => Err(Error::invalid("description", "at most 2000 characters")),
        _ => Ok(()),
    }
}

/// The longest a manual entry (or an edited session) may be: 366 days. Longer spans are almost
/// always a typo in a year, and each one writes a rollup row per day under the write lock.
pub const MAX_ENTRY_SECONDS: i64 = 366 * 86_400;

fn check_span(start: Millis, end: Option<Millis>) -> Result<()> {
    if let Some(end) = end {
        if end < start {
            return Err(Error::invalid("end", "end must not be before start"));
        }
        if end - start > MAX_ENTRY_SECONDS * 1000 {
            return Err(Error::invalid("end", "an entry may be at most 366 days long"));
        }
    }
    Ok(())
}

fn not_future(field: &str, t: Millis, now: Millis) -> Result<Millis> {
    if t > now {
        return Err(Error::invalid(field, "must not be in the future"));
    }
    Ok(floor_second(t))
}

fn insert(
    tx: &Tx<'_>,
    guild: &Guild,
    user_id: i64,
    cat: &categories::CategoryRef,
    e: &Insert,
    now: Millis,
) -> Result<Row> {
    let row = insert_row(tx, guild, user_id, cat, e, now)?;
    rollup::apply(tx, guild, row.contribution(), 1, 1)?;
    Ok(row)
}

/// Closed sessions of an import not yet written: stored by multi-row statements.
#[derive(Default)]
struct NewRows {
    ids: Vec<i64>,
    numbers: Vec<[i64; 5]>,
    descriptions: Vec<Option<String>>,
}

impl NewRows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: i64,
        user: i64,
        cat: i64,
        description: Option<String>,
        start: Millis,
        end: Millis,
        billable: bool,
    ) {
        self.ids.push(id);
        self.numbers.push([user, cat, start, end, i64::from(billable)]);
        self.descriptions.push(description);
    }

    /// Writes the waiting rows (none is a no-op).
    fn write(&mut self, tx: &Tx<'_>, guild_id: i64, now: Millis) -> Result<()> {
        static INSERT: MultiRow = MultiRow::new(
            "INSERT INTO sessions (id, guild_id, user_id, category_id, description, start_ms, end_ms, billable, created_at, updated_at) VALUES",
            2,
            "(#, ?1, #, #, #, #, #, #, ?2, ?2)",
            "",
        );
        if self.ids.is_empty() {
            return Ok(());
        }
        let mut values: Vec<&dyn Param> = Vec::with_capacity(self.ids.len() * 7);
        for ((id, n), d) in self.ids.iter().zip(&self.numbers).zip(&self.descriptions) {
            values.extend_from_slice(&[id as &dyn Param, &n[0], &n[1], d, &n[2], &n[3], &n[4]]);
        }
        INSERT.execute(tx, params![guild_id, now], &values)?;
        *self = NewRows::default();
        Ok(())
    }
}

/// Row ids for `n` new sessions, taken before their rows are written (an import answers their
/// public ids as it goes): on SQLite the next ones above every id the table ever used (the
/// writer holds the file's lock, and `AUTOINCREMENT` records the highest); on PostgreSQL drawn
/// from the table's sequence, as other hosts draw theirs, in one round trip.
fn reserve_row_ids(tx: &Tx<'_>, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if tx.is_postgres() {
        return tx
            .prepare_cached(
                "SELECT nextval(pg_get_serial_sequence('sessions', 'id')) FROM generate_series(1, CAST(?1 AS BIGINT))",
            )?
            .query_map([n as i64], |r| r.get(0));
    }
    let top: i64 = tx
        .prepare_cached(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'sessions'), 0),
                        COALESCE((SELECT MAX(id) FROM sessions), 0))",
        )?
        .query_row((), |r| r.get(0))?;
    Ok((1..=n as i64).map(|i| top + i).collect())
}

/// Stores a session row without its rollups (the caller adds them).
fn insert_row(
    tx: &Tx<'_>,
    guild: &Guild,
    user_id: i64,
    cat: &categories::CategoryRef,
    e: &Insert,
    now: Millis,
) -> Result<Row> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO sessions (guild_id, user_id, category_id, description, start_ms, end_ms, billable, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
        )?
        .query_row(params![guild.id, user_id, cat.id, e.description, e.start, e.end, e.billable, now], |r| r.get(0))?;
    let row = Row {
        id,
        public_id: None,
        created: now,
        guild_id: guild.id,
        user_id,
        category_id: cat.id,
        category: cat.name.clone(),
        description: e.description.clone(),
        start: e.start,
        end: e.end,
        billable: e.billable,
        auto_closed: false,
    };
    Ok(row)
}

struct Insert {
    start: Millis,
    end: Option<Millis>,
    billable: bool,
    description: Option<String>,
}

fn close(tx: &Tx<'_>, guild: &Guild, row: &Row, end: Millis, now: Millis) -> Result<Row> {
    if end < row.start {
        return Err(Error::invalid("at", "clock-out must not be before the session's start"));
    }
    tx.prepare_cached("UPDATE sessions SET end_ms = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![row.id, end, now])?;
    let closed = Row { end: Some(end), ..row.clone() };
    rollup::apply(tx, guild, closed.contribution(), 1, 0)?;
    Ok(closed)
}

impl Engine {
    /// Runs `f` in a write transaction on a settled guild (created if new).
    fn with_guild<T>(&self, guild_id: i64, f: impl FnOnce(&Tx<'_>, &Guild, Millis) -> Result<T>) -> Result<T> {
        self.with_guild_in(false, guild_id, f)
    }

    /// [`Engine::with_guild`], in a bulk write (`bulk`: an import batch, see
    /// [`Engine::write_bulk`]) or an ordinary one.
    fn with_guild_in<T>(
        &self,
        bulk: bool,
        guild_id: i64,
        f: impl FnOnce(&Tx<'_>, &Guild, Millis) -> Result<T>,
    ) -> Result<T> {
        let body = |tx: &Tx<'_>| {
            // "Now" is read once the write lock is held: a write that waited for the lock acts at
            // the instant it runs, so an implicit clock-out is never before a start that another
            // thread wrote while it waited, and never carries the time it started waiting.
            let now = self.now_ms();
            ensure_guild(tx, guild_id, now)?;
            let guild = load_guild(tx, guild_id)?;
            settle(tx, &guild, now)?;
            // `settle` may have raised the longest-session bound.
            let guild = load_guild(tx, guild_id)?;
            f(tx, &guild, now)
        };
        if bulk {
            self.write_bulk(body)
        } else {
            self.write(body)
        }
    }

    /// Clocks a user in. A second clock-in is `SESSION_ALREADY_ACTIVE` unless `switch` is set,
    /// which closes the running session and opens the new one at the same instant, atomically.
    ///
    /// ```
    /// use timeledger::{ClockIn, Engine, NewCategory};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.create_category(&NewCategory { guild_id: 1, name: "Development".into(), ..Default::default() }).unwrap();
    /// let r = engine.clock_in(&ClockIn { guild_id: 1, user_id: 42, category: "development".into(), ..Default::default() }).unwrap();
    /// assert!(r.success && r.session_id.starts_with("ses_"));
    /// assert_eq!(r.category, "Development");
    /// ```
    pub fn clock_in(&self, input: &ClockIn) -> Result<ClockInResult> {
        let ids = self.session_ids();
        check_description(&input.description)?;
        self.with_guild(input.guild_id, |tx, guild, now| {
            let at = not_future("at", Timestamp::checked_opt(input.at, "at")?.unwrap_or(now), now)?;
            let cat = categories::find_open(tx, guild.id, &input.category)?;
            ensure_member(tx, guild.id, input.user_id, now)?;
            let switched_from = match running_row(tx, guild.id, input.user_id)? {
                Some(_) if !input.switch => return Err(Error::SessionAlreadyActive),
                Some(running) => Some(close(tx, guild, &running, at, now)?.to_session(&ids, now)),
                None => None,
            };
            check_overlap(tx, guild, input.user_id, 0, at, None)?;
            let row = insert(
                tx,
                guild,
                input.user_id,
                &cat,
                &Insert { start: at, end: None, billable: false, description: input.description.clone() },
                now,
            )?;
            Ok(ClockInResult {
                success: true,
                session_id: row.public_id(&ids),
                category: row.category,
                start_time: Timestamp(row.start),
                user_id: row.user_id,
                description: row.description,
                switched_from,
            })
        })
        .inspect(|_| self.sessions_added(input.guild_id, 1))
    }

    /// Clocks a user out; `NO_ACTIVE_SESSION` if nothing is running (including a session the
    /// guild's maximum length already closed).
    pub fn clock_out(&self, input: &ClockOut) -> Result<Session> {
        let ids = self.session_ids();
        self.with_guild(input.guild_id, |tx, guild, now| {
            let at = not_future("at", Timestamp::checked_opt(input.at, "at")?.unwrap_or(now), now)?;
            let running = running_row(tx, guild.id, input.user_id)?.ok_or(Error::NoActiveSession)?;
            Ok(close(tx, guild, &running, at, now)?.to_session(&ids, now))
        })
    }

    /// The user's running session in the guild, if any.
    pub fn active_session(&self, guild_id: i64, user_id: i64) -> Result<Option<Session>> {
        let ids = self.session_ids();
        let now = self.now_ms();
        self.read_guild(guild_id, now, |tx, _| Ok(running_row(tx, guild_id, user_id)?.map(|r| r.to_session(&ids, now))))
    }

    /// Adds a closed manual entry. Overlap with another session of the user is
    /// `SESSION_OVERLAP` unless the guild allows it.
    pub fn add_entry(&self, input: &NewEntry) -> Result<Session> {
        let ids = self.session_ids();
        check_description(&input.description)?;
        let (start, end) = (floor_second(input.start.checked("start")?), floor_second(input.end.checked("end")?));
        check_span(start, Some(end))?;
        self.with_guild(input.guild_id, |tx, guild, now| {
            let cat = categories::find_open(tx, guild.id, &input.category)?;
            ensure_member(tx, guild.id, input.user_id, now)?;
            check_overlap(tx, guild, input.user_id, 0, start, Some(end))?;
            let e = Insert { start, end: Some(end), billable: input.billable, description: input.description.clone() };
            Ok(insert(tx, guild, input.user_id, &cat, &e, now)?.to_session(&ids, now))
        })
        .inspect(|_| self.sessions_added(input.guild_id, 1))
    }

    /// Imports a batch of closed entries (history from another tool) in one transaction, with
    /// every rule of [`Engine::add_entry`]: an existing, unarchived category, `end >= start`, at
    /// most 366 days, no overlap with the user's sessions nor with other entries of the batch
    /// (unless the guild allows overlaps). All or nothing: if any entry is refused, none is
    /// stored and every refused entry is listed with its reason.
    ///
    /// ```
    /// use serde_json::json;
    /// let engine = timeledger::Engine::open(":memory:").unwrap();
    /// engine.call("create_category", json!({"guild_id": 1, "name": "Dev"})).unwrap();
    /// let entry = |h: u32| json!({"user_id": 2, "category": "Dev",
    ///     "start": format!("2026-01-05T{h:02}:00:00Z"), "end": format!("2026-01-05T{h:02}:30:00Z")});
    /// let r = engine.call("import_entries", json!({"guild_id": 1, "entries": [entry(9), entry(10)]})).unwrap();
    /// assert_eq!(r["imported"], 2);
    /// // The same again overlaps both: nothing is stored, both are named.
    /// let r = engine.call("import_entries", json!({"guild_id": 1, "entries": [entry(9), entry(10)]})).unwrap();
    /// assert_eq!((r["imported"].as_u64(), r["errors"][1]["error"]["code"].as_str()), (Some(0), Some("SESSION_OVERLAP")));
    /// ```
    pub fn import_entries(&self, batch: &EntryBatch) -> Result<ImportResult> {
        Ok(self.store_entries(batch, false)?.0)
    }

    /// [`Engine::import_entries`] for file imports: an entry equal to a stored one (same user,
    /// category, start and end) is a duplicate and skipped, a refused entry is reported, and the
    /// rest is stored. Returns the result and the number of duplicates.
    pub(crate) fn import_entries_lenient(&self, batch: &EntryBatch) -> Result<(ImportResult, usize)> {
        self.store_entries(batch, true)
    }

    fn store_entries(&self, batch: &EntryBatch, lenient: bool) -> Result<(ImportResult, usize)> {
        let session_ids = self.session_ids();
        if batch.entries.len() > MAX_IMPORT_BATCH {
            return Err(Error::invalid("entries", format!("at most {MAX_IMPORT_BATCH} entries per call")));
        }
        let mut duplicates = 0;
        let mut errors = Vec::new();
        let refuse = |errors: &mut Vec<ImportError>, index: usize, e: Error| {
            errors.push(ImportError { index, error: e.to_json() });
        };
        // Parse and check what needs no database first.
        let mut items = Vec::with_capacity(batch.entries.len());
        for (index, raw) in batch.entries.iter().enumerate() {
            let parsed = ImportItem::deserialize(raw).map_err(wire::args_error).and_then(|it| {
                check_description(&it.description)?;
                let (start, end) = (floor_second(it.start.checked("start")?), floor_second(it.end.checked("end")?));
                check_span(start, Some(end))?;
                Ok((it, start, end))
            });
            match parsed {
                Ok(item) => items.push((index, item)),
                Err(e) => refuse(&mut errors, index, e),
            }
        }
        let mut ids = Vec::with_capacity(items.len());
        let stored = self.with_guild_in(true, batch.guild_id, |tx, stored_guild, now| {
            let mut guild = stored_guild.clone();
            // Each category once; an entry naming a missing or archived one is refused.
            let mut categories: HashMap<String, std::result::Result<categories::CategoryRef, serde_json::Value>> =
                HashMap::new();
            let mut ready = Vec::with_capacity(items.len());
            for (index, (it, start, end)) in items {
                if !categories.contains_key(&it.category) {
                    let found = match categories::find_open(tx, guild.id, &it.category) {
                        Err(e @ Error::Storage(_)) => return Err(e),
                        found => found.map_err(|e| e.to_json()),
                    };
                    categories.insert(it.category.clone(), found);
                }
                match &categories[&it.category] {
                    Ok(cat) => ready.push((index, it, cat.clone(), start, end)),
                    Err(e) => errors.push(ImportError { index, error: e.clone() }),
                }
            }
            // The batch's users, made members at once, with, per user, the latest end of any of
            // their sessions (stored or from this batch), or `None` while a session of theirs
            // runs: an entry starting at or after it overlaps nothing, so history imported in
            // order needs no look-up per entry.
            let mut users: Vec<i64> = Vec::new();
            let mut seen = HashSet::new();
            for (_, it, ..) in &ready {
                if seen.insert(it.user_id) {
                    users.push(it.user_id);
                }
            }
            ensure_members(tx, guild.id, &users, now)?;
            let mut frontier = latest_ends(tx, stored_guild, &users)?;
            let mut pending = rollup::Pending::default();
            // New rows wait here and are written in multi-row statements: before an overlap
            // check reads the sessions table, and at the end.
            let mut rows = NewRows::default();
            let mut row_ids = reserve_row_ids(tx, ready.len())?.into_iter();
            // File imports skip entries equal to a stored session or to one stored earlier in
            // this batch: the stored ones are looked up for the whole batch at once.
            let (mut stored_keys, mut batch_keys) = (HashSet::new(), HashSet::new());
            if lenient {
                let keys: Vec<EntryKey> = ready.iter().map(|(_, it, cat, s, e)| (it.user_id, cat.id, *s, *e)).collect();
                stored_keys = stored_among(tx, guild.id, &keys)?;
            }
            for (index, it, cat, start, end) in ready {
                let key: EntryKey = (it.user_id, cat.id, start, end);
                let attempt = (|| {
                    if lenient && (stored_keys.contains(&key) || batch_keys.contains(&key)) {
                        return Ok(None);
                    }
                    let front = frontier.get(&it.user_id).copied().flatten();
                    if front.is_none_or(|f| start < f) {
                        rows.write(tx, guild.id, now)?;
                        check_overlap(tx, &guild, it.user_id, 0, start, Some(end))?;
                    }
                    if let Some(Some(f)) = frontier.get_mut(&it.user_id) {
                        *f = (*f).max(end);
                    }
                    let id =
                        row_ids.next().ok_or_else(|| Error::Storage("fewer session ids reserved than asked".into()))?;
                    pending
                        .add(&guild, Contribution { user_id: it.user_id, category_id: cat.id, start, end: Some(end) });
                    rows.push(id, it.user_id, cat.id, it.description, start, end, it.billable);
                    if lenient {
                        batch_keys.insert(key);
                    }
                    // The stored bound moved with this entry; later entries' overlap checks
                    // must read as wide a range.
                    guild.longest_session_ms = guild.longest_session_ms.max(end - start);
                    Ok(Some(session_ids.encode(id, now)))
                })();
                match attempt {
                    Ok(Some(id)) => ids.push(id),
                    Ok(None) => duplicates += 1,
                    Err(e @ Error::Storage(_)) => return Err(e),
                    Err(e) => refuse(&mut errors, index, e),
                }
            }
            if errors.is_empty() || lenient {
                rows.write(tx, guild.id, now)?;
                pending.write(tx, stored_guild)?;
                Ok(true)
            } else {
                // Roll the whole batch back; the errors are the answer.
                Err(Error::invalid("entries", "refused"))
            }
        });
        errors.sort_by_key(|e| e.index);
        match stored {
            Ok(_) => {
                self.sessions_added(batch.guild_id, ids.len());
                Ok((ImportResult { imported: ids.len(), session_ids: ids, errors }, duplicates))
            }
            Err(e) if !errors.is_empty() && e.field() == Some("entries") => {
                Ok((ImportResult { imported: 0, session_ids: Vec::new(), errors }, 0))
            }
            Err(e) => Err(e),
        }
    }

    /// Counts sessions this engine added to a guild; each time the count doubles (from 1,000
    /// on), the database's statistics of the sessions table are refreshed, so a guild that grew
    /// fast (an import, a new guild's first weeks) is planned at its size
    /// ([`crate::storage::Db::analyze`]; nothing on SQLite).
    /// The write is committed by then: a failure here (statistics are an optimisation) is not
    /// the caller's, and is not reported.
    fn sessions_added(&self, guild_id: i64, n: usize) {
        const FIRST: u64 = 1_000;
        if !matches!(self.db, crate::storage::Db::Pg(_)) || n == 0 {
            return;
        }
        let due = {
            let mut map = self.import_counts.lock().unwrap_or_else(|p| p.into_inner());
            let (count, next) = map.entry(guild_id).or_insert((0, FIRST));
            *count += n as u64;
            let due = *count >= *next;
            if due {
                *next = (*count * 2).max(FIRST);
            }
            due
        };
        if due {
            let _ = self.db.analyze("sessions");
        }
    }

    /// The guild's running sessions (who is clocked in now), earliest start first.
    pub fn running_sessions(&self, guild_id: i64) -> Result<Vec<Session>> {
        let ids = self.session_ids();
        let now = self.now_ms();
        self.read_guild(guild_id, now, |tx, _| {
            let mut stmt = tx.prepare_cached(&format!(
                "{ROW_SELECT} WHERE s.guild_id = ?1 AND s.end_ms IS NULL ORDER BY s.start_ms, s.id"
            ))?;
            let rows = stmt.query_map([guild_id], row_from)?;
            Ok(rows.into_iter().map(|r| r.to_session(&ids, now)).collect())
        })
    }

    /// One session by id.
    pub fn get_session(&self, guild_id: i64, session_id: &str) -> Result<Session> {
        let ids = self.session_ids();
        let now = self.now_ms();
        self.read_guild(guild_id, now, |tx, _| {
            Ok(row_by_public_id(tx, &ids, guild_id, session_id)?.to_session(&ids, now))
        })
    }

    /// Changes a session; its rollups move with it in the same transaction.
    pub fn update_session(&self, input: &SessionUpdate) -> Result<Session> {
        let ids = self.session_ids();
        check_description(&input.description)?;
        self.with_guild(input.guild_id, |tx, guild, now| {
            let old = row_by_public_id(tx, &ids, guild.id, &input.session_id)?;
            let cat = match &input.category {
                Some(name) => {
                    let c = categories::find(tx, guild.id, name)?;
                    if c.archived && c.id != old.category_id {
                        return Err(Error::CategoryArchived(c.name));
                    }
                    c
                }
                None => categories::CategoryRef { id: old.category_id, name: old.category.clone(), archived: false },
            };
            let start = Timestamp::checked_opt(input.start, "start")?.map_or(old.start, floor_second);
            let end = match Timestamp::checked_opt(input.end, "end")? {
                // Closing a running session is a clock-out: not in the future. A closed entry may
                // be moved anywhere, as `add_entry` may create one ahead (a planned entry).
                Some(t) if old.end.is_none() => Some(not_future("end", t, now)?),
                Some(t) => Some(floor_second(t)),
                None => old.end,
            };
            if old.end.is_none() && start > floor_second(now) {
                return Err(Error::invalid("start", "a running session cannot start in the future"));
            }
            check_span(start, end)?;
            check_overlap(tx, guild, old.user_id, old.id, start, end)?;
            let new = Row {
                category_id: cat.id,
                category: cat.name,
                start,
                end,
                description: input.description.clone().or(old.description.clone()),
                billable: input.billable.unwrap_or(old.billable),
                ..old.clone()
            };
            tx.prepare_cached(
                "UPDATE sessions SET category_id = ?2, start_ms = ?3, end_ms = ?4, description = ?5, billable = ?6, updated_at = ?7 WHERE id = ?1",
            )?
            .execute(params![new.id, new.category_id, new.start, new.end, new.description, new.billable, now])?;
            rollup::apply(tx, guild, old.contribution(), -1, -1)?;
            rollup::apply(tx, guild, new.contribution(), 1, 1)?;
            // A running session moved back past the cap is closed by the next settle.
            settle(tx, guild, now)?;
            let row = tx.prepare_cached(&format!("{ROW_SELECT} WHERE s.id = ?1"))?.query_opt([new.id], row_from)?;
            Ok(row.ok_or_else(|| Error::SessionNotFound(input.session_id.clone()))?.to_session(&ids, now))
        })
    }

    /// Deletes a session and takes it out of every aggregate.
    pub fn delete_session(&self, guild_id: i64, session_id: &str) -> Result<()> {
        let ids = self.session_ids();
        self.with_guild(guild_id, |tx, guild, _| {
            let old = row_by_public_id(tx, &ids, guild.id, session_id)?;
            tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?.execute([old.id])?;
            rollup::apply(tx, guild, old.contribution(), -1, -1)
        })
    }

    /// Lists sessions, newest first, with filters and pagination.
    pub fn list_sessions(&self, q: &SessionQuery) -> Result<Page<Session>> {
        let ids = self.session_ids();
        let page = q.page.unwrap_or(1);
        let per_page = q.per_page.unwrap_or(50);
        if page == 0 {
            return Err(Error::invalid("page", "pages start at 1"));
        }
        if !(1..=500).contains(&per_page) {
            return Err(Error::invalid("per_page", "must be 1 to 500"));
        }
        let now = self.now_ms();
        self.read_guild(q.guild_id, now, |tx, _| {
            let category_id = match &q.category {
                Some(name) => Some(categories::find(tx, q.guild_id, name)?.id),
                None => None,
            };
            let filter = "s.guild_id = ?1 AND (?2 IS NULL OR s.user_id = ?2) AND (?3 IS NULL OR s.category_id = ?3)
                 AND (?4 IS NULL OR s.end_ms IS NULL OR s.end_ms > ?4) AND (?5 IS NULL OR s.start_ms < ?5)";
            let (from, to) = (Timestamp::checked_opt(q.from, "from")?, Timestamp::checked_opt(q.to, "to")?);
            let args = params![q.guild_id, q.user_id, category_id, from, to];
            let total: u64 = tx
                .prepare_cached(&format!("SELECT COUNT(*) FROM sessions s WHERE {filter}"))?
                .query_row(args, |r| r.get(0))?;
            let offset = i64::from(page - 1) * i64::from(per_page);
            let data = tx
                .prepare_cached(&format!(
                    "{ROW_SELECT} WHERE {filter} ORDER BY s.start_ms DESC, s.id DESC LIMIT ?6 OFFSET ?7"
                ))?
                .query_map(params![q.guild_id, q.user_id, category_id, from, to, per_page, offset], row_from)?
                .into_iter()
                .map(|row| row.to_session(&ids, now))
                .collect();
            Ok(Page { data, meta: PageMeta { total, page, per_page } })
        })
    }
}
