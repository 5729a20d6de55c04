//! The engine handle: one SQLite connection behind a mutex, the schema and its migrations,
//! transactions, the clock, and a background checkpointer for files.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::storage::{pg, sqlite_transaction, Db, Mode, Tx, BACKSTOP_CHECKPOINT_PAGES};

use crate::error::{Error, Result};
use crate::time::{Clock, Millis, SystemClock};

/// Forward migrations, applied in order; `PRAGMA user_version` records how many have run.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: guilds, users, categories, sessions and their rollups.
    r#"
    CREATE TABLE guilds (
        guild_id INTEGER PRIMARY KEY,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        week_start TEXT NOT NULL DEFAULT 'monday',
        max_session_seconds INTEGER,
        allow_overlap INTEGER NOT NULL DEFAULT 0,
        heartbeat_timeout_seconds INTEGER NOT NULL DEFAULT 900,
        longest_session_ms INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE users (
        user_id INTEGER PRIMARY KEY,
        username TEXT NOT NULL,
        display_name TEXT,
        avatar_url TEXT,
        email TEXT,
        slack_uid TEXT,
        trust_level TEXT NOT NULL DEFAULT 'blue',
        created_at INTEGER NOT NULL
    );
    CREATE INDEX users_email ON users(email COLLATE NOCASE) WHERE email IS NOT NULL;
    CREATE INDEX users_slack ON users(slack_uid) WHERE slack_uid IS NOT NULL;
    CREATE TABLE guild_members (
        guild_id INTEGER NOT NULL REFERENCES guilds(guild_id),
        user_id INTEGER NOT NULL REFERENCES users(user_id),
        is_admin INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE categories (
        category_id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL REFERENCES guilds(guild_id),
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        description TEXT,
        color TEXT,
        archived INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        UNIQUE (guild_id, name_key)
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        guild_id INTEGER NOT NULL REFERENCES guilds(guild_id),
        user_id INTEGER NOT NULL REFERENCES users(user_id),
        category_id INTEGER NOT NULL REFERENCES categories(category_id),
        description TEXT,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        billable INTEGER NOT NULL DEFAULT 0,
        auto_closed INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK (end_ms IS NULL OR end_ms >= start_ms)
    );
    CREATE INDEX sessions_user ON sessions(guild_id, user_id, start_ms);
    CREATE INDEX sessions_start ON sessions(guild_id, start_ms);
    CREATE INDEX sessions_category ON sessions(category_id);
    CREATE UNIQUE INDEX sessions_running ON sessions(guild_id, user_id) WHERE end_ms IS NULL;
    -- Closed sessions only; running ones are added at read time up to "now".
    CREATE TABLE rollup_day (
        guild_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        category_id INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        PRIMARY KEY (guild_id, day, user_id, category_id)
    ) WITHOUT ROWID;
    CREATE TABLE totals_user_cat (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        category_id INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id, category_id)
    ) WITHOUT ROWID;
    CREATE TABLE totals_user (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE totals_cat (
        guild_id INTEGER NOT NULL,
        category_id INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        PRIMARY KEY (guild_id, category_id)
    ) WITHOUT ROWID;
    "#,
    // 2: heartbeats (WakaTime-compatible coding time) and their rollups.
    r#"
    -- Dimensions a heartbeat's duration is credited to (plus its user agent), interned; '' = absent.
    CREATE TABLE hb_dims (
        dim_id INTEGER PRIMARY KEY,
        category TEXT NOT NULL,
        project TEXT NOT NULL,
        language TEXT NOT NULL,
        editor TEXT NOT NULL,
        operating_system TEXT NOT NULL,
        machine TEXT NOT NULL,
        branch TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        UNIQUE (category, project, language, editor, operating_system, machine, branch, user_agent)
    );
    -- One b-tree: the key is the WakaTime identity (everything else of the identity is hashed
    -- into `ident`), so a duplicate is a key conflict and a user's heartbeats are stored in time order.
    CREATE TABLE heartbeats (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        ident INTEGER NOT NULL,
        entity TEXT NOT NULL,
        type TEXT NOT NULL,
        is_write INTEGER NOT NULL,
        dim_id INTEGER NOT NULL REFERENCES hb_dims(dim_id),
        lines INTEGER,
        lineno INTEGER,
        cursorpos INTEGER,
        line_additions INTEGER,
        line_deletions INTEGER,
        project_root_count INTEGER,
        dependencies TEXT,
        PRIMARY KEY (guild_id, user_id, time_ms, ident)
    ) WITHOUT ROWID;
    -- Milliseconds of coding time per local day and dimensions, and per UTC hour.
    CREATE TABLE hb_day (
        guild_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        dim_id INTEGER NOT NULL,
        ms INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id, day, dim_id)
    ) WITHOUT ROWID;
    CREATE INDEX hb_day_by_day ON hb_day(guild_id, day, user_id, ms);
    CREATE TABLE hb_hour (
        guild_id INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        ms INTEGER NOT NULL,
        PRIMARY KEY (guild_id, hour, user_id)
    ) WITHOUT ROWID;
    "#,
    // 3: API keys, tiers, rate-limit windows and the key audit trail. No key is stored in clear.
    r#"
    CREATE TABLE master_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        hash BLOB NOT NULL,
        set_at INTEGER NOT NULL
    );
    CREATE TABLE tiers (
        name TEXT PRIMARY KEY,
        rank INTEGER NOT NULL,
        per_minute INTEGER,
        per_hour INTEGER,
        per_day INTEGER,
        permissions TEXT NOT NULL,
        all_guilds INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        display_prefix TEXT NOT NULL,
        form TEXT NOT NULL,
        guild_id INTEGER NOT NULL,
        owner_user_id INTEGER,
        tier TEXT NOT NULL,
        permissions TEXT,
        name TEXT,
        parent_id TEXT REFERENCES api_keys(key_id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        grace_until INTEGER,
        replaced_by TEXT,
        last_used_at INTEGER,
        request_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX api_keys_guild ON api_keys(guild_id);
    CREATE INDEX api_keys_parent ON api_keys(parent_id);
    CREATE TABLE rate_windows (
        key_id TEXT NOT NULL,
        period_ms INTEGER NOT NULL,
        window_start INTEGER NOT NULL,
        current INTEGER NOT NULL,
        previous INTEGER NOT NULL,
        PRIMARY KEY (key_id, period_ms)
    ) WITHOUT ROWID;
    CREATE TABLE key_events (
        id INTEGER PRIMARY KEY,
        key_id TEXT,
        guild_id INTEGER,
        event TEXT NOT NULL,
        detail TEXT,
        at INTEGER NOT NULL
    );
    CREATE INDEX key_events_key ON key_events(key_id, id);
    "#,
    // 4: the coding rollups move into one table keyed by user first, so the rows an ingest
    // updates (a user's day per dimension and its UTC hour) sit on one or two pages, where the
    // three structures before (hb_day, its by-day index whose key held the changing total, and
    // hb_hour) each took one page per commit. Leaderboards read each member's key range instead.
    // Heartbeats name their entity by an interned id (a file path is most of a row, and plugins
    // send the same few files again and again: smaller rows mean fewer page splits per ingest),
    // and lose their foreign key on dim_id: the engine interns a dimension in the same
    // transaction that first uses it, and checking the key cost a lookup per heartbeat.
    r#"
    CREATE TABLE hb_entities (
        entity_id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL UNIQUE
    );
    INSERT INTO hb_entities (entity) SELECT DISTINCT entity FROM heartbeats;
    CREATE TABLE heartbeats_v4 (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        ident INTEGER NOT NULL,
        entity_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        is_write INTEGER NOT NULL,
        dim_id INTEGER NOT NULL,
        lines INTEGER,
        lineno INTEGER,
        cursorpos INTEGER,
        line_additions INTEGER,
        line_deletions INTEGER,
        project_root_count INTEGER,
        dependencies TEXT,
        PRIMARY KEY (guild_id, user_id, time_ms, ident)
    ) WITHOUT ROWID;
    INSERT INTO heartbeats_v4 SELECT h.guild_id, h.user_id, h.time_ms, h.ident, e.entity_id, h.type, h.is_write, h.dim_id,
        h.lines, h.lineno, h.cursorpos, h.line_additions, h.line_deletions, h.project_root_count, h.dependencies
        FROM heartbeats h JOIN hb_entities e ON e.entity = h.entity;
    DROP TABLE heartbeats;
    ALTER TABLE heartbeats_v4 RENAME TO heartbeats;
    -- Milliseconds of coding time: `kind` 0 per local day (`bucket` = day number) and dimensions,
    -- `kind` 1 per UTC hour (`bucket` = hours since the epoch; `dim_id` 0).
    CREATE TABLE hb_rollup (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        dim_id INTEGER NOT NULL,
        ms INTEGER NOT NULL,
        PRIMARY KEY (guild_id, user_id, kind, bucket, dim_id)
    ) WITHOUT ROWID;
    INSERT INTO hb_rollup SELECT guild_id, user_id, 0, day, dim_id, ms FROM hb_day;
    INSERT INTO hb_rollup SELECT guild_id, user_id, 1, hour, 0, ms FROM hb_hour;
    DROP INDEX hb_day_by_day;
    DROP TABLE hb_day;
    DROP TABLE hb_hour;
    "#,
    // 5: an index of session lengths, deployment settings (the key prefix) and a counter of
    // key-state changes. Every change
    // that can narrow what a key may do (revocation, expiry, rotation, tier, permissions,
    // parent, guild, the tier table) bumps `key_state.generation` through triggers, whichever
    // process or tool makes it, so a process caching keys in memory sees it on its next call.
    r#"
    -- Session lengths per guild, so the bound on the longest session can be re-read in one seek
    -- when that session is deleted or shortened.
    CREATE INDEX sessions_length ON sessions(guild_id, end_ms - start_ms) WHERE end_ms IS NOT NULL;
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE key_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO key_state (id, generation) VALUES (1, 0);
    CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, grace_until, replaced_by, tier,
        permissions, parent_id, guild_id, hash ON api_keys
        BEGIN UPDATE key_state SET generation = generation + 1 WHERE id = 1; END;
    CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
        BEGIN UPDATE key_state SET generation = generation + 1 WHERE id = 1; END;
    CREATE TRIGGER tiers_inserted AFTER INSERT ON tiers
        BEGIN UPDATE key_state SET generation = generation + 1 WHERE id = 1; END;
    CREATE TRIGGER tiers_updated AFTER UPDATE ON tiers
        BEGIN UPDATE key_state SET generation = generation + 1 WHERE id = 1; END;
    CREATE TRIGGER tiers_deleted AFTER DELETE ON tiers
        BEGIN UPDATE key_state SET generation = generation + 1 WHERE id = 1; END;
    "#,
    // 6: a user's own time zone (NULL: the guild's), for coding reads.
    r#"
    ALTER TABLE users ADD COLUMN time_zone TEXT;
    -- All-time leaderboards read the first totals in order instead of every member's.
    CREATE INDEX totals_user_rank ON totals_user(guild_id, seconds);
    CREATE INDEX totals_user_cat_rank ON totals_user_cat(guild_id, category_id, seconds);
    -- Red users (left out of every board) found without reading every user.
    CREATE INDEX users_red ON users(user_id) WHERE trust_level = 'red';
    "#,
    // 7: a user's closed seconds per local week, so the weekly board reads its first ranks from
    // an index instead of every member's days; filled from the day rollups.
    concat!(
        r#"
    CREATE TABLE rollup_week (
        guild_id INTEGER NOT NULL,
        week INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        seconds INTEGER NOT NULL,
        PRIMARY KEY (guild_id, week, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX rollup_week_rank ON rollup_week(guild_id, week, seconds);
    "#,
        crate::storage::weeks_from_days!(""),
        ";"
    ),
    // 8: a user's coding milliseconds per local day over all dimensions (`hb_rollup.kind` 2,
    // `dim_id` 0), so coding boards read one row per member and day instead of one per
    // dimension; filled from the rows per day and dimensions.
    concat!(crate::storage::day_totals_from_day_rows!(), ";"),
    // 9: each heartbeat's day prefix (`day_ms`: the user's coding milliseconds in the heartbeat's
    // local day before it; `joined`: the pair ending at it is credited), so a coding board reads
    // one heartbeat per member and partial day instead of the raw heartbeats around its edges;
    // the rows per UTC hour (`hb_rollup.kind` 1) are no longer needed. The prefixes depend on
    // the guild's zone, so each guild with heartbeats is listed in `hb_pending` and rebuilt by
    // the first engine that opens the database.
    r#"
    ALTER TABLE heartbeats ADD COLUMN day_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE heartbeats ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;
    DELETE FROM hb_rollup WHERE kind = 1;
    CREATE TABLE hb_pending (guild_id INTEGER PRIMARY KEY);
    INSERT INTO hb_pending SELECT DISTINCT guild_id FROM heartbeats;
    "#,
    // 10: sessions lose two thirds of their bytes beyond the plain row. A new session's public
    // id is its row id and `created_at` encrypted (`sessions::SessionIds`), so nothing is stored
    // for it; rows stored before keep their random id, indexed only where present. Row ids are
    // never reused (`AUTOINCREMENT`), so the id of a deleted session never names another. The
    // length index holds only sessions longer than four hours: the bound it keeps is never
    // lowered below that (see `rollup::apply`), and sessions are mostly shorter.
    r#"
    CREATE TABLE sessions_v10 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        public_id TEXT,
        guild_id INTEGER NOT NULL REFERENCES guilds(guild_id),
        user_id INTEGER NOT NULL REFERENCES users(user_id),
        category_id INTEGER NOT NULL REFERENCES categories(category_id),
        description TEXT,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER,
        billable INTEGER NOT NULL DEFAULT 0,
        auto_closed INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK (end_ms IS NULL OR end_ms >= start_ms)
    );
    INSERT INTO sessions_v10 SELECT id, public_id, guild_id, user_id, category_id, description, start_ms, end_ms,
        billable, auto_closed, created_at, updated_at FROM sessions ORDER BY id;
    DROP TABLE sessions;
    ALTER TABLE sessions_v10 RENAME TO sessions;
    CREATE UNIQUE INDEX sessions_public ON sessions(public_id) WHERE public_id IS NOT NULL;
    CREATE INDEX sessions_user ON sessions(guild_id, user_id, start_ms);
    CREATE INDEX sessions_start ON sessions(guild_id, start_ms);
    CREATE INDEX sessions_category ON sessions(category_id);
    CREATE UNIQUE INDEX sessions_running ON sessions(guild_id, user_id) WHERE end_ms IS NULL;
    CREATE INDEX sessions_length ON sessions(guild_id, end_ms - start_ms)
        WHERE end_ms IS NOT NULL AND end_ms - start_ms > 14400000;
    "#,
];

/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The embedded engine. Cheap to share: wrap it in an `Arc` and use it from any thread.
///
/// ```
/// let engine = timeledger::Engine::open(":memory:").unwrap();
/// assert_eq!(engine.schema_version().unwrap(), timeledger::SCHEMA_VERSION);
/// ```
pub struct Engine {
    pub(crate) db: Db,
    clock: Arc<dyn Clock>,
    /// When not `i64::MIN`, the frozen "now" set by [`Engine::set_now`].
    frozen: AtomicI64,
    /// The in-memory rate limiter, when chosen (see [`Engine::set_rate_limiter`]).
    limiter: crate::keys::Limiter,
    /// Key chains read by the shared limiter (see `keys::KeyCache`).
    key_cache: std::sync::Mutex<crate::keys::KeyCache>,
    /// Heartbeat dimension ids already committed (see `heartbeats::DimCache`).
    dims: crate::heartbeats::DimCache,
    /// Heartbeat entity ids already committed (see `heartbeats::EntityCache`).
    entities: crate::heartbeats::EntityCache,
    /// (guild, user) memberships known to be committed (never deleted), to skip upserts.
    members: Mutex<std::collections::HashSet<(i64, i64)>>,
    /// Per guild, sessions this engine added, and the count at which it next refreshes the
    /// database's statistics (see `Engine::sessions_added`).
    pub(crate) import_counts: Mutex<std::collections::HashMap<i64, (u64, u64)>>,
    /// Per guild, the heartbeat timeout (seconds) last read: a guess that lets an ingest read
    /// the heartbeats around a bulk in the same round trip as the guild's settings (checked
    /// against them, and read again if it was wrong).
    pub(crate) hb_timeouts: Mutex<std::collections::HashMap<i64, i64>>,
    /// Per (guild, user), on PostgreSQL: the user's latest heartbeats as this engine last wrote
    /// them (see `heartbeats::HbTail`).
    pub(crate) hb_tails: Mutex<std::collections::HashMap<(i64, i64), crate::heartbeats::HbTail>>,
    /// The database's session ids (its key read at open; again after a copy into it).
    session_ids: std::sync::RwLock<Arc<crate::sessions::SessionIds>>,
    /// Checkpoints the WAL of a file on a thread of its own (none for `:memory:`).
    _checkpointer: Option<Checkpointer>,
    /// The database file (none for `:memory:`), for reads on a connection of their own.
    file: Option<std::path::PathBuf>,
}

/// How often the background checkpointer looks for new commits to copy into the database.
pub const CHECKPOINT_EVERY_MS: u64 = 100;

/// The WAL is truncated to at most this many bytes after a checkpoint that emptied it.
const WAL_SIZE_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

/// A thread with its own connection that copies committed WAL frames into the database file
/// (a passive checkpoint: never waits for, nor blocks, readers and writers) whenever some
/// connection, in this process or another, committed since its last look. Commits therefore
/// never run a checkpoint (with its fsyncs) while holding the engine's lock.
struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_millis(0))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("timeledger-checkpoint".into())
            .spawn(move || {
                let mut seen: Option<i64> = None;
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(Duration::from_millis(CHECKPOINT_EVERY_MS));
                    // `data_version` moves when another connection commits: idle files cost one
                    // cheap read per period.
                    let Ok(version) = conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)) else {
                        continue;
                    };
                    if seen == Some(version) {
                        continue;
                    }
                    // A busy checkpoint (another process's) is simply tried again next period.
                    if conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0)).is_ok() {
                        seen = Some(version);
                    }
                }
            })
            .map_err(|e| Error::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens (creating if needed) a database file, or an in-memory database for `":memory:"`,
    /// with the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens a database with an injected clock.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self> {
        let path = path.as_ref();
        if path.as_os_str().is_empty() {
            return Err(Error::invalid("path", "is empty: give a file path, or \":memory:\" for a temporary database"));
        }
        if let Some(url) = path.to_str().filter(|p| pg::is_url(p)) {
            return Self::with_db(Db::Pg(pg::open(url)?), None, None, clock);
        }
        let conn = open_connection(path).map_err(|e| match e {
            Error::Storage(msg) => Error::Storage(format!("cannot open {}: {msg}", path.display())),
            other => other,
        })?;
        let file = (path.as_os_str() != ":memory:").then(|| path.to_path_buf());
        let checkpointer = if file.is_some() { Some(Checkpointer::start(path)?) } else { None };
        Self::with_db(Db::Sqlite(Mutex::new(conn)), file, checkpointer, clock)
    }

    fn with_db(
        db: Db,
        file: Option<std::path::PathBuf>,
        checkpointer: Option<Checkpointer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let engine = Engine {
            _checkpointer: checkpointer,
            file,
            db,
            clock,
            frozen: AtomicI64::new(i64::MIN),
            limiter: Default::default(),
            key_cache: Default::default(),
            dims: Default::default(),
            entities: Default::default(),
            members: Default::default(),
            import_counts: Default::default(),
            hb_timeouts: Default::default(),
            hb_tails: Default::default(),
            // Replaced below by the database's own before the engine answers anything.
            session_ids: std::sync::RwLock::new(Arc::new(crate::sessions::SessionIds::new([0; 16]))),
        };
        // A new database gets the default tiers (every tier one indexed row away) and its
        // session id key; a migrated one its heartbeats' day prefixes.
        let key = engine.write(|tx| {
            crate::keys::seed_default_tiers(tx)?;
            crate::heartbeats::rebuild_pending(tx)?;
            crate::sessions::session_key(tx)
        })?;
        engine.set_session_key(key);
        Ok(engine)
    }

    /// The database's session ids, as last read.
    pub(crate) fn session_ids(&self) -> Arc<crate::sessions::SessionIds> {
        Arc::clone(&self.session_ids.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Uses `key` for session ids from now on (the database's, read at open or after a copy).
    pub(crate) fn set_session_key(&self, key: [u8; 16]) {
        *self.session_ids.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(crate::sessions::SessionIds::new(key));
    }

    /// Chooses how hard a commit tries to survive: `"normal"` (the default: WAL with
    /// `synchronous=NORMAL`; a process crash or `kill -9` loses nothing acknowledged, a power loss
    /// or OS crash may lose the last commits) or `"full"` (`synchronous=FULL`: every commit is on
    /// disk before it is acknowledged, at the cost of an fsync per write transaction). It applies
    /// to this engine's connection; set it on every process that writes. On PostgreSQL every
    /// commit is durable as the server is configured (`synchronous_commit`); both modes are
    /// accepted and change nothing.
    pub fn set_durability(&self, mode: &str) -> Result<String> {
        let pragma = match mode {
            "normal" => "NORMAL",
            "full" => "FULL",
            other => return Err(Error::invalid("mode", format!("unknown durability {other:?} (normal or full)"))),
        };
        if let Some(c) = self.sqlite() {
            c.pragma_update(None, "synchronous", pragma)?;
        }
        Ok(mode.to_string())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        match self.sqlite() {
            Some(c) => Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?),
            None => self.read(|tx| {
                tx.prepare_cached("SELECT version FROM timeledger_schema WHERE id = 1")?.query_row((), |r| r.get(0))
            }),
        }
    }

    /// Whether this engine runs over PostgreSQL (else a SQLite file or memory).
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Pg(_))
    }

    /// Freezes the engine's clock at `now` (RFC 3339 handling is the caller's), or returns to
    /// the injected clock with `None`. Meant for tests and replays. An instant outside the
    /// engine's range (years 1000 to 9999) is `INVALID_INPUT` and changes nothing.
    pub fn set_now(&self, now: Option<Millis>) -> Result<()> {
        let value = match now {
            Some(t) if !(crate::time::MIN_INSTANT..=crate::time::MAX_INSTANT).contains(&t) => {
                return Err(Error::invalid("now", "instant must be between years 1000 and 9999"))
            }
            Some(t) => t,
            None => i64::MIN,
        };
        self.frozen.store(value, Ordering::SeqCst);
        Ok(())
    }

    /// Runs `f` with this engine's clock stopped at `at` (then as it was), so that two engines
    /// can be asked the same question at the same instant.
    pub(crate) fn at_instant<T>(&self, at: Millis, f: impl FnOnce() -> T) -> T {
        let before = self.frozen.swap(at, Ordering::SeqCst);
        let out = f();
        self.frozen.store(before, Ordering::SeqCst);
        out
    }

    /// The engine's current instant in milliseconds.
    pub fn now_ms(&self) -> Millis {
        match self.frozen.load(Ordering::SeqCst) {
            i64::MIN => self.clock.now_ms(),
            t => t,
        }
    }

    /// Writes a consistent copy of the database to `dest` using SQLite's online backup. On
    /// PostgreSQL use the server's own tools (`pg_dump`): `INVALID_INPUT`.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let Some(conn) = self.sqlite() else {
            return Err(Error::invalid("dest", "a PostgreSQL database is backed up with pg_dump"));
        };
        let mut out = Connection::open(dest)?;
        let backup = rusqlite::backup::Backup::new(&conn, &mut out)?;
        backup.run_to_completion(256, Duration::from_millis(0), None)?;
        Ok(())
    }

    pub(crate) fn known_member(&self, guild_id: i64, user_id: i64) -> bool {
        self.members.lock().unwrap_or_else(|p| p.into_inner()).contains(&(guild_id, user_id))
    }

    pub(crate) fn remember_member(&self, guild_id: i64, user_id: i64) {
        self.members.lock().unwrap_or_else(|p| p.into_inner()).insert((guild_id, user_id));
    }

    pub(crate) fn dim_cache(&self) -> &crate::heartbeats::DimCache {
        &self.dims
    }

    pub(crate) fn entity_cache(&self) -> &crate::heartbeats::EntityCache {
        &self.entities
    }

    pub(crate) fn limiter(&self) -> &crate::keys::Limiter {
        &self.limiter
    }

    pub(crate) fn key_cache(&self) -> &std::sync::Mutex<crate::keys::KeyCache> {
        &self.key_cache
    }

    /// The SQLite connection (none on PostgreSQL), held until the guard drops.
    fn sqlite(&self) -> Option<MutexGuard<'_, Connection>> {
        match &self.db {
            // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
            // back on drop), so a poisoned lock is safe to reuse.
            Db::Sqlite(c) => Some(c.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
            Db::Pg(_) => None,
        }
    }

    /// Runs `f` in an immediate (write) transaction, committed only if `f` succeeds.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.transaction(Mode::Write, f)
    }

    /// [`Engine::write`] for a batch that adds thousands of rows at once (see [`Mode::Bulk`]).
    pub(crate) fn write_bulk<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.transaction(Mode::Bulk, f)
    }

    /// Runs `f` in a read transaction on a read-only connection of its own, so a long read (an
    /// export) holds neither the engine's lock nor up any other call; WAL gives it a snapshot
    /// while writes go on. An in-memory database has one connection: [`Engine::read`] there.
    pub(crate) fn read_apart<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let Some(path) = &self.file else { return self.read(f) };
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        sqlite_transaction(&mut conn, Mode::Read, f)
    }

    /// Runs `f` in a read transaction: a consistent snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.db.transaction(Mode::Read, f)
    }
}

/// Opens and prepares a connection; every SQLite failure is described with its reason.
fn open_connection(path: &Path) -> Result<Connection> {
    let describe = |e: rusqlite::Error| open_error(path, e);
    let conn = if path.as_os_str() == ":memory:" {
        Connection::open_in_memory().map_err(describe)?
    } else {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(describe)?
    };
    conn.busy_timeout(Duration::from_secs(10)).map_err(describe)?;
    conn.set_prepared_statement_cache_capacity(128);
    // Checkpoints run on the engine's checkpoint thread (see `Checkpointer`), out of every
    // request's path; a commit checkpoints in line only as a backstop, past 16 MiB of WAL. Once
    // a checkpoint has emptied the WAL, the next commit trims the file to 16 MiB.
    // A 64 MiB page cache instead of 2 MiB: heartbeats are keyed by user, so the pages an
    // ingest touches are spread over every active user's slice of the tree; with the default
    // cache they are read back from the OS on most batches once a database outgrows it.
    set_wal(&conn).map_err(|e| match e {
        Error::Storage(_) => describe_again(path, &conn),
        other => other,
    })?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .map_err(describe)?;
    conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES).map_err(describe)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES).map_err(describe)?;
    migrate(&conn).map_err(|e| match e {
        Error::Storage(_) if user_version(&conn).is_err() => describe_again(path, &conn),
        other => other,
    })?;
    Ok(conn)
}

/// Re-runs the cheapest read to get SQLite's own error code for a failure seen through `Error`.
fn describe_again(path: &Path, conn: &Connection) -> Error {
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Err(e) => open_error(path, e),
        Ok(_) => Error::Storage("the file could not be prepared for writing (read-only?)".into()),
    }
}

/// Says why a file could not be opened: no such directory, a directory, read-only, not a
/// database, or SQLite's own message.
fn open_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let parent_missing = path.parent().filter(|p| !p.as_os_str().is_empty()).filter(|p| !p.is_dir());
    let reason = match (e.sqlite_error_code(), parent_missing) {
        (Some(ErrorCode::NotADatabase), _) => "not a database (or an encrypted or corrupt one)".to_string(),
        (_, Some(dir)) => format!("no such directory: {}", dir.display()),
        (Some(ErrorCode::CannotOpen), _) if path.is_dir() => "it is a directory".to_string(),
        (Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied), _) => {
            "read-only: the file or its folder cannot be written (read-only file system or no permission)".to_string()
        }
        _ => e.to_string(),
    };
    Error::Storage(reason)
}

/// Switches a file to WAL. The switch needs a moment of exclusive access, which SQLite does not
/// wait for through the busy timeout: several processes or threads opening a new file at once
/// retry here (up to the same 10 s) instead of failing with "database is locked".
fn set_wal(conn: &Connection) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema up to date and stores the default tiers, in one immediate transaction that
/// re-reads the version once it holds the write lock: of several processes opening a new file at
/// once, one migrates and the others find the work done.
fn migrate(conn: &Connection) -> Result<()> {
    let newer = |version: i64| {
        Error::Storage(format!(
            "database schema version {version} is newer than this engine ({SCHEMA_VERSION}); upgrade timeledger"
        ))
    };
    let version = user_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(newer(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let work = || -> Result<()> {
        let version = user_version(conn)?;
        if version > SCHEMA_VERSION {
            return Err(newer(version));
        }
        let done = usize::try_from(version).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            conn.execute_batch(sql).map_err(|e| Error::Storage(format!("migration {} failed: {e}", i + 1)))?;
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    };
    match work() {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Random base62 string from the OS's secure source.
pub(crate) fn random_base62(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    RandomBlock::new().base62_into(&mut out, len)?;
    Ok(out)
}

/// Bytes from the OS's secure source, fetched a block at a time (many random digits cost a few
/// system calls instead of one each). A block lives for one call of the engine, so no two
/// processes (a fork) ever draw the same bytes.
pub(crate) struct RandomBlock {
    buf: Vec<u8>,
    used: usize,
}

impl RandomBlock {
    /// An empty block: the first byte asked for fetches 64 bytes, later fetches 4 KiB.
    pub(crate) fn new() -> Self {
        RandomBlock { buf: Vec::new(), used: 0 }
    }

    fn byte(&mut self) -> Result<u8> {
        if self.used == self.buf.len() {
            let size = if self.buf.is_empty() { 64 } else { 4096 };
            self.buf.resize(size, 0);
            getrandom::fill(&mut self.buf).map_err(|e| Error::Storage(format!("random source failed: {e}")))?;
            self.used = 0;
        }
        self.used += 1;
        Ok(self.buf[self.used - 1])
    }

    /// Appends `len` uniformly random base62 digits.
    fn base62_into(&mut self, out: &mut String, len: usize) -> Result<()> {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut left = len;
        while left > 0 {
            let b = self.byte()?;
            // Rejection sampling keeps the distribution uniform: 248 = 62 * 4.
            if b < 248 {
                out.push(ALPHABET[(b % 62) as usize] as char);
                left -= 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_one_block_are_distinct_and_uniform() {
        let mut block = RandomBlock::new();
        let mut seen = std::collections::HashSet::new();
        let mut counts = [0u32; 62];
        const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        // 20,000 strings of 10 random digits draw ~215,000 bytes: the block refills ~50 times.
        for _ in 0..20_000 {
            let mut id = String::new();
            block.base62_into(&mut id, 10).unwrap();
            assert_eq!(id.len(), 10);
            for c in id.chars() {
                counts[ALPHABET.find(c).expect("base62 digit")] += 1;
            }
            assert!(seen.insert(id), "random strings repeat");
        }
        // 200,000 digits: each of the 62 expected 3,226 times (sd ~56); a stuck or reused block
        // would skew this far beyond 10%.
        for (i, &n) in counts.iter().enumerate() {
            assert!((2_900..3_550).contains(&n), "digit {} drawn {n} times", &ALPHABET[i..=i]);
        }
        assert_eq!(random_base62(43).unwrap().len(), 43);
    }
}
