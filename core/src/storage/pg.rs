//! PostgreSQL: the connection, its schema, the SQL rewrites shared by every query, and the
//! conversions between the engine's values and PostgreSQL's types.
//!
//! Queries are written once, in SQL both databases accept. What differs for every query is
//! rewritten here when a statement is first prepared on a connection (and cached):
//! `?N` parameters become `$N`; `INSERT OR IGNORE` becomes `INSERT ... ON CONFLICT DO NOTHING`;
//! SQLite's planner hints (`INDEXED BY`) are dropped; two-argument `MAX`/`MIN` become
//! `GREATEST`/`LEAST`; `total(x)` (SQLite's never-NULL float sum) becomes
//! `COALESCE(SUM(x), 0)::float8`; `SUM(x)` of integers stays an integer (`::bigint`).
//! A query that must differ in more than that says so where it is written
//! ([`super::Tx::is_postgres`]).
//!
//! Writers take one transaction-scoped advisory lock, so write transactions run one at a time
//! across every host, as they do on a SQLite file: the rules the engine checks before it writes
//! (one running session per user, no overlaps, exact rate-limit windows) hold across hosts.
//! Readers run at `REPEATABLE READ` (one snapshot per call, as SQLite's read transactions).

use std::error::Error as StdError;

use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Statement};

use super::pg_client::{Answer, Client, Op};
use rusqlite::types::Value;

use crate::error::{Error, Result};

/// The advisory lock every write transaction holds ("tl" in ASCII, then a version).
pub(crate) const WRITER_LOCK: i64 = 0x746c_0001;

/// A connection with its prepared statements.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    pub(crate) statements: rustc_hash::FxHashMap<String, Statement>,
}

/// Whether `path` names a PostgreSQL database.
pub(crate) fn is_url(path: &str) -> bool {
    path.starts_with("postgres://") || path.starts_with("postgresql://")
}

/// Connections an engine keeps open to the server at most (calls beyond wait for one).
pub(crate) const POOL_SIZE: u32 = 8;

/// How long a call waits for a free connection (or for the server to accept a new one).
const CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Makes and checks the pool's connections.
pub(crate) struct Manager {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Manager {
    fn connect_client(&self) -> Result<Client> {
        match &self.tls {
            Some(tls) => Client::connect(&self.config, tls.clone()),
            None => Client::connect(&self.config, NoTls),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = Error;

    fn connect(&self) -> Result<PgConn> {
        Ok(PgConn { client: self.connect_client()?, statements: Default::default() })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<()> {
        conn.client.batch_execute("").map_err(pg_error)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// The engine's connections to one database.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// Connects (over TLS when the URL's `sslmode` asks for it: [`super::pg_tls`]), brings the
/// schema to this build's version, and opens the pool.
pub(crate) fn open(url: &str) -> Result<Pool> {
    let tls = super::pg_tls::from_url(url)?;
    let mut config: tokio_postgres::Config =
        tls.url.parse().map_err(|e| Error::invalid("path", format!("not a PostgreSQL URL: {e}")))?;
    config.ssl_mode(tls.mode);
    let manager = Manager { config, tls: tls.connector };
    let mut client = manager.connect_client()?;
    migrate(&mut client)?;
    drop(client);
    r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(1))
        // A connection that broke is found by its failing call (`has_broken` drops it): no
        // extra round trip per call to test it first.
        .test_on_check_out(false)
        .connection_timeout(CHECKOUT_TIMEOUT)
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(manager)
        .map_err(|e| Error::Storage(format!("cannot connect to PostgreSQL: {e}")))
}

/// An error with its causes ("error performing TLS handshake: invalid peer certificate: ...").
pub(crate) fn chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// A connection of the pool, for one call.
pub(crate) fn checkout(pool: &Pool) -> Result<r2d2::PooledConnection<Manager>> {
    pool.get().map_err(|e| Error::Storage(format!("no PostgreSQL connection available: {e}")))
}

/// The schema (this build's version, [`crate::SCHEMA_VERSION`]) of a new PostgreSQL database:
/// the same tables, keys and indexes as the SQLite file's migrations produce, in PostgreSQL's
/// types (`TXT` stands for text compared byte by byte, as SQLite does).
const SCHEMA: &str = r#"
CREATE TABLE guilds (
    guild_id BIGINT PRIMARY KEY,
    timezone TXT NOT NULL DEFAULT 'UTC',
    week_start TXT NOT NULL DEFAULT 'monday',
    max_session_seconds BIGINT,
    allow_overlap BIGINT NOT NULL DEFAULT 0,
    heartbeat_timeout_seconds BIGINT NOT NULL DEFAULT 900,
    longest_session_ms BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    user_id BIGINT PRIMARY KEY,
    username TXT NOT NULL,
    display_name TXT,
    avatar_url TXT,
    email TXT,
    slack_uid TXT,
    trust_level TXT NOT NULL DEFAULT 'blue',
    created_at BIGINT NOT NULL,
    time_zone TXT
);
CREATE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX users_slack ON users (slack_uid) WHERE slack_uid IS NOT NULL;
CREATE INDEX users_red ON users (user_id) WHERE trust_level = 'red';
CREATE TABLE guild_members (
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id),
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    is_admin BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
);
CREATE TABLE categories (
    category_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id),
    name TXT NOT NULL,
    name_key TXT NOT NULL,
    description TXT,
    color TXT,
    archived BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (guild_id, name_key)
);
CREATE TABLE sessions (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    public_id TXT,
    guild_id BIGINT NOT NULL REFERENCES guilds (guild_id),
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    category_id BIGINT NOT NULL REFERENCES categories (category_id),
    description TXT,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    billable BIGINT NOT NULL DEFAULT 0,
    auto_closed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (end_ms IS NULL OR end_ms >= start_ms)
);
CREATE UNIQUE INDEX sessions_public ON sessions (public_id) WHERE public_id IS NOT NULL;
CREATE INDEX sessions_user ON sessions (guild_id, user_id, start_ms);
CREATE INDEX sessions_start ON sessions (guild_id, start_ms);
CREATE INDEX sessions_category ON sessions (category_id);
CREATE UNIQUE INDEX sessions_running ON sessions (guild_id, user_id) WHERE end_ms IS NULL;
CREATE INDEX sessions_length ON sessions (guild_id, (end_ms - start_ms))
    WHERE end_ms IS NOT NULL AND end_ms - start_ms > 14400000;
CREATE TABLE rollup_day (
    guild_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    seconds BIGINT NOT NULL,
    PRIMARY KEY (guild_id, day, user_id, category_id)
);
CREATE TABLE rollup_week (
    guild_id BIGINT NOT NULL,
    week BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    seconds BIGINT NOT NULL,
    PRIMARY KEY (guild_id, week, user_id)
);
CREATE INDEX rollup_week_rank ON rollup_week (guild_id, week, seconds);
CREATE TABLE totals_user_cat (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    seconds BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id, category_id)
);
CREATE INDEX totals_user_cat_rank ON totals_user_cat (guild_id, category_id, seconds);
CREATE TABLE totals_user (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    seconds BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX totals_user_rank ON totals_user (guild_id, seconds);
CREATE TABLE totals_cat (
    guild_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    seconds BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    PRIMARY KEY (guild_id, category_id)
);
CREATE TABLE hb_dims (
    dim_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    category TXT NOT NULL,
    project TXT NOT NULL,
    language TXT NOT NULL,
    editor TXT NOT NULL,
    operating_system TXT NOT NULL,
    machine TXT NOT NULL,
    branch TXT NOT NULL,
    user_agent TXT NOT NULL,
    UNIQUE (category, project, language, editor, operating_system, machine, branch, user_agent)
);
CREATE TABLE hb_entities (
    entity_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    entity TXT NOT NULL UNIQUE
);
CREATE TABLE heartbeats (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    ident BIGINT NOT NULL,
    entity_id BIGINT NOT NULL,
    type TXT NOT NULL,
    is_write BIGINT NOT NULL,
    dim_id BIGINT NOT NULL,
    lines BIGINT,
    lineno BIGINT,
    cursorpos BIGINT,
    line_additions BIGINT,
    line_deletions BIGINT,
    project_root_count BIGINT,
    dependencies TXT,
    day_ms BIGINT NOT NULL DEFAULT 0,
    joined BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, time_ms, ident)
);
-- Guilds whose heartbeats' day prefixes a migration left to rebuild.
CREATE TABLE hb_pending (guild_id BIGINT PRIMARY KEY);
-- Coding milliseconds: `kind` 0 per local day (`bucket` = day number) and dimensions, 2 per
-- local day over all dimensions (`dim_id` 0). (`kind` 1, per UTC hour, was dropped in version 9.)
CREATE TABLE hb_rollup (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    dim_id BIGINT NOT NULL,
    ms BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id, kind, bucket, dim_id)
);
CREATE TABLE master_key (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    hash BYTEA NOT NULL,
    set_at BIGINT NOT NULL
);
CREATE TABLE tiers (
    name TXT PRIMARY KEY,
    rank BIGINT NOT NULL,
    per_minute BIGINT,
    per_hour BIGINT,
    per_day BIGINT,
    permissions TXT NOT NULL,
    all_guilds BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE api_keys (
    key_id TXT PRIMARY KEY,
    hash BYTEA NOT NULL UNIQUE,
    display_prefix TXT NOT NULL,
    form TXT NOT NULL,
    guild_id BIGINT NOT NULL,
    owner_user_id BIGINT,
    tier TXT NOT NULL,
    permissions TXT,
    name TXT,
    parent_id TXT REFERENCES api_keys (key_id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    grace_until BIGINT,
    replaced_by TXT,
    last_used_at BIGINT,
    request_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_guild ON api_keys (guild_id);
CREATE INDEX api_keys_parent ON api_keys (parent_id);
CREATE TABLE rate_windows (
    key_id TXT NOT NULL,
    period_ms BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    current BIGINT NOT NULL,
    previous BIGINT NOT NULL,
    PRIMARY KEY (key_id, period_ms)
);
CREATE TABLE key_events (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    key_id TXT,
    guild_id BIGINT,
    event TXT NOT NULL,
    detail TXT,
    at BIGINT NOT NULL
);
CREATE INDEX key_events_key ON key_events (key_id, id);
CREATE TABLE settings (
    name TXT PRIMARY KEY,
    value TXT NOT NULL
);
CREATE TABLE key_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO key_state (id, generation) VALUES (1, 0);
CREATE FUNCTION timeledger_key_state_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE key_state SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, grace_until, replaced_by, tier,
    permissions, parent_id, guild_id, hash ON api_keys
    FOR EACH ROW EXECUTE FUNCTION timeledger_key_state_bump();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION timeledger_key_state_bump();
CREATE TRIGGER tiers_changed AFTER INSERT OR UPDATE OR DELETE ON tiers
    FOR EACH ROW EXECUTE FUNCTION timeledger_key_state_bump();
"#;

/// Creates the schema in an empty database, under the writers' lock (several hosts may open a
/// new database at once); refuses a database written by a newer engine.
fn migrate(client: &mut Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "START TRANSACTION ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITER_LOCK});
             CREATE TABLE IF NOT EXISTS timeledger_schema (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)"
        ))
        .map_err(pg_error)?;
    let result = migrate_in_transaction(client);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match client.batch_execute(end) {
        Err(e) if result.is_ok() => Err(pg_error(e)),
        _ => result,
    }
}

fn migrate_in_transaction(client: &mut Client) -> Result<()> {
    let select = client.prepare("SELECT version FROM timeledger_schema WHERE id = 1").map_err(pg_error)?;
    let rows = match client.pipeline(&[Op::Query(&select, &[])]).map_err(pg_error)?.pop() {
        Some(Answer::Rows(rows)) => rows,
        _ => Vec::new(),
    };
    let version: Option<i64> = match rows.first() {
        Some(r) => Some(r.try_get(0).map_err(pg_error)?),
        None => None,
    };
    match version {
        None => client
            .batch_execute(&format!(
                "{}; INSERT INTO timeledger_schema (id, version) VALUES (1, {})",
                SCHEMA.replace(" TXT", " TEXT COLLATE \"C\""),
                crate::SCHEMA_VERSION
            ))
            .map_err(pg_error),
        Some(v) if v > crate::SCHEMA_VERSION => Err(Error::Storage(format!(
            "database schema version {v} is newer than this engine ({}); upgrade timeledger",
            crate::SCHEMA_VERSION
        ))),
        Some(v) if v < FIRST_VERSION => Err(Error::Storage(format!(
            "database schema version {v} has no PostgreSQL migration to {} in this build",
            crate::SCHEMA_VERSION
        ))),
        Some(v) if v < crate::SCHEMA_VERSION => {
            for sql in &MIGRATIONS[(v - FIRST_VERSION) as usize..] {
                client.batch_execute(sql).map_err(pg_error)?;
            }
            client
                .batch_execute(&format!(
                    "UPDATE timeledger_schema SET version = {} WHERE id = 1",
                    crate::SCHEMA_VERSION
                ))
                .map_err(pg_error)
        }
        Some(_) => Ok(()),
    }
}

/// The first schema version written to PostgreSQL (the one of the first engine that ran on it).
const FIRST_VERSION: i64 = 6;

/// Forward migrations of a PostgreSQL database: the `i`-th takes version `FIRST_VERSION + i` to
/// the next; twins of the SQLite file's migrations from that version on.
const MIGRATIONS: &[&str] = &[
    // 7: a user's closed seconds per local week (the weekly board's index).
    concat!(
        "CREATE TABLE rollup_week (guild_id BIGINT NOT NULL, week BIGINT NOT NULL, user_id BIGINT NOT NULL,
            seconds BIGINT NOT NULL, PRIMARY KEY (guild_id, week, user_id));
         CREATE INDEX rollup_week_rank ON rollup_week (guild_id, week, seconds);",
        crate::storage::weeks_from_days!(""),
    ),
    // 8: a user's coding milliseconds per local day over all dimensions (`hb_rollup.kind` 2).
    crate::storage::day_totals_from_day_rows!(),
    // 9: each heartbeat's day prefix; the rows per UTC hour go; guilds listed for a rebuild.
    "ALTER TABLE heartbeats ADD COLUMN day_ms BIGINT NOT NULL DEFAULT 0, ADD COLUMN joined BIGINT NOT NULL DEFAULT 0;
     DELETE FROM hb_rollup WHERE kind = 1;
     CREATE TABLE hb_pending (guild_id BIGINT PRIMARY KEY);
     INSERT INTO hb_pending SELECT DISTINCT guild_id FROM heartbeats",
    // 10: new sessions store no public id (it is encrypted from the row); the stored ones stay
    // unique where present; the length index keeps only sessions longer than four hours.
    "ALTER TABLE sessions ALTER COLUMN public_id DROP NOT NULL;
     ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_public_id_key;
     CREATE UNIQUE INDEX IF NOT EXISTS sessions_public ON sessions (public_id) WHERE public_id IS NOT NULL;
     DROP INDEX IF EXISTS sessions_length;
     CREATE INDEX sessions_length ON sessions (guild_id, (end_ms - start_ms))
         WHERE end_ms IS NOT NULL AND end_ms - start_ms > 14400000",
];

// Every version from the first on has its migration.
const _: () = assert!(FIRST_VERSION + MIGRATIONS.len() as i64 == crate::SCHEMA_VERSION);

/// Whether `e` is a check statement's failure (a division by zero on purpose: a statement that
/// fails the transaction when what the engine assumed of the database is not so).
pub(crate) fn is_failed_check(e: &Error) -> bool {
    matches!(e, Error::Storage(m) if m.starts_with("PostgreSQL: ") && m.ends_with("(22012)"))
}

/// The engine's error for a PostgreSQL failure, with the server's own message when it has one.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => Error::Storage(format!("PostgreSQL: {e}")),
    }
}

/// `sql` (written for both databases) in PostgreSQL's words; see the module's documentation.
pub(crate) fn translate(sql: &str) -> String {
    let mut s = sql.to_string();
    // INSERT OR IGNORE INTO ... -> INSERT INTO ... ON CONFLICT DO NOTHING
    if let Some(at) = s.find("INSERT OR IGNORE INTO") {
        s.replace_range(at..at + "INSERT OR IGNORE INTO".len(), "INSERT INTO");
        match s.find(" RETURNING ") {
            Some(r) => s.insert_str(r, " ON CONFLICT DO NOTHING"),
            None => s.push_str(" ON CONFLICT DO NOTHING"),
        }
    }
    // INDEXED BY name: a SQLite planner hint.
    while let Some(at) = s.find(" INDEXED BY ") {
        let rest = &s[at + " INDEXED BY ".len()..];
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        s.replace_range(at..at + " INDEXED BY ".len() + len, "");
    }
    // SQLite's CROSS JOIN with ON fixes the join order; PostgreSQL spells that join JOIN.
    let mut from = 0;
    while let Some(found) = s[from..].find(" CROSS JOIN ") {
        let at = from + found;
        let words: Vec<&str> = s[at + " CROSS JOIN ".len()..].split_whitespace().take(3).collect();
        if words.get(2) == Some(&"ON") {
            s.replace_range(at..at + " CROSS JOIN ".len(), " JOIN ");
        }
        from = at + 1;
    }
    let s = placeholders(&rewrite_calls(&s));
    null_tests_last(&s)
}

/// `($N IS NULL OR rest)` becomes `(rest OR $N IS NULL)`: the same test, but PostgreSQL types a
/// parameter where it first meets it, and `rest` (`category_id = $N`) gives it a type.
fn null_tests_last(sql: &str) -> String {
    let mut s = sql.to_string();
    let mut from = 0;
    while let Some(found) = s[from..].find("($") {
        let open = from + found;
        let digits: String = s[open + 2..].chars().take_while(char::is_ascii_digit).collect();
        let head = format!("(${digits} IS NULL OR ");
        if digits.is_empty() || !s[open..].starts_with(&head) {
            from = open + 1;
            continue;
        }
        let Some(close) = matching(&s, open) else { break };
        let rest = s[open + head.len()..close].to_string();
        s.replace_range(open..=close, &format!("({rest} OR ${digits} IS NULL)"));
        from = open + 1;
    }
    s
}

/// Rewrites function calls: `MAX(a, b)` / `MIN(a, b)` (scalar) to `GREATEST` / `LEAST`,
/// `total(x)` to a float sum that is never NULL, `SUM(x)` to an integer sum.
fn rewrite_calls(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < sql.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let call = ["MAX(", "MIN(", "total(", "SUM("].into_iter().find(|f| word_start && sql[i..].starts_with(f));
        let Some(f) = call else {
            let c = sql[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let open = i + f.len() - 1;
        let Some(close) = matching(sql, open) else {
            out.push_str(&sql[i..]);
            break;
        };
        let inner = rewrite_calls(&sql[open + 1..close]);
        let two_args = top_level_commas(&inner) > 0;
        match f {
            "MAX(" if two_args => out.push_str(&format!("GREATEST({inner})")),
            "MIN(" if two_args => out.push_str(&format!("LEAST({inner})")),
            "total(" => out.push_str(&format!("COALESCE(SUM({inner}), 0)::float8")),
            "SUM(" => out.push_str(&format!("SUM({inner})::bigint")),
            _ => out.push_str(&format!("{f}{inner})")),
        }
        i = close + 1;
    }
    out
}

/// The index of the parenthesis closing the one at `open`.
fn matching(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in s[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn top_level_commas(s: &str) -> usize {
    let (mut depth, mut quoted, mut n) = (0i32, false, 0);
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

/// `?N` to `$N` outside string literals.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

/// A parameter's value, bound to whatever type PostgreSQL gave the parameter.
#[derive(Debug)]
pub(crate) struct PgParam(pub(crate) Value);

impl ToSql for PgParam {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::INT8 if f.fract() == 0.0 => (*f as i64).to_sql(ty, out),
                _ => f.to_string().to_sql(ty, out),
            },
            Value::Text(t) => match *ty {
                Type::INT8 => t.parse::<i64>()?.to_sql(ty, out),
                Type::FLOAT8 => t.parse::<f64>()?.to_sql(ty, out),
                Type::BYTEA => t.as_bytes().to_sql(ty, out),
                _ => t.to_sql(ty, out),
            },
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `i` of a PostgreSQL row as the value SQLite would have given.
pub(crate) fn column(row: &tokio_postgres::Row, i: usize) -> Result<Value> {
    let ty = row.columns().get(i).map(|c| c.type_().clone()).ok_or_else(|| Error::Storage(format!("no column {i}")))?;
    let get_err = |e: tokio_postgres::Error| Error::Storage(format!("PostgreSQL column {i}: {e}"));
    Ok(match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(get_err)?.map_or(Value::Null, Value::Integer),
        Type::INT4 => {
            row.try_get::<_, Option<i32>>(i).map_err(get_err)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::INT2 => {
            row.try_get::<_, Option<i16>>(i).map_err(get_err)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::BOOL => {
            row.try_get::<_, Option<bool>>(i).map_err(get_err)?.map_or(Value::Null, |v| Value::Integer(v.into()))
        }
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(get_err)?.map_or(Value::Null, Value::Real),
        Type::FLOAT4 => {
            row.try_get::<_, Option<f32>>(i).map_err(get_err)?.map_or(Value::Null, |v| Value::Real(v.into()))
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map_err(get_err)?.map_or(Value::Null, Value::Blob),
        _ => row.try_get::<_, Option<String>>(i).map_err(get_err)?.map_or(Value::Null, Value::Text),
    })
}

/// Prepares `sql` (already translated) on this connection once: parameters PostgreSQL typed
/// as small integers from their context (`?3 / 1000`) are widened to 64 bits, since every
/// integer the engine binds is one.
pub(crate) fn prepare(
    tx: &mut Client,
    statements: &mut rustc_hash::FxHashMap<String, Statement>,
    sql: &str,
) -> Result<Statement> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let translated = translate(sql);
    let in_sql = |e: tokio_postgres::Error| match pg_error(e) {
        Error::Storage(m) => {
            Error::Storage(format!("{m} in: {}", translated.split_whitespace().collect::<Vec<_>>().join(" ")))
        }
        other => other,
    };
    let first = tx.prepare(&translated).map_err(in_sql)?;
    let widened: Vec<Type> = first
        .params()
        .iter()
        .map(|t| match *t {
            Type::INT2 | Type::INT4 => Type::INT8,
            Type::FLOAT4 | Type::NUMERIC => Type::FLOAT8,
            Type::UNKNOWN => Type::TEXT,
            ref t => t.clone(),
        })
        .collect();
    let stmt = if widened.as_slice() != first.params() {
        tx.prepare_typed(&translated, &widened).map_err(in_sql)?
    } else {
        first
    };
    if statements.len() >= MAX_STATEMENTS {
        // Each prepared statement holds server memory (a multi-row insert's plan, 50-110 KB,
        // measured with pg_log_backend_memory_contexts); multi-row statements come in a text per
        // row count, so a long-lived connection would gather hundreds. Dropping them closes them
        // on the server; the hot ones are prepared again on their next use.
        statements.clear();
    }
    statements.insert(sql.to_string(), stmt.clone());
    Ok(stmt)
}

/// The most prepared statements one connection keeps.
const MAX_STATEMENTS: usize = 128;

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn translation_rewrites_what_differs_and_nothing_else() {
        assert_eq!(translate("SELECT a FROM t WHERE b = ?1 AND c = '?'"), "SELECT a FROM t WHERE b = $1 AND c = '?'");
        assert_eq!(
            translate("INSERT OR IGNORE INTO t (a) VALUES (?1)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(translate("SELECT x FROM t INDEXED BY t_rank WHERE g = ?1"), "SELECT x FROM t WHERE g = $1");
        assert_eq!(
            translate("SELECT 1 FROM a m CROSS JOIN b r ON r.k = m.k CROSS JOIN c"),
            "SELECT 1 FROM a m JOIN b r ON r.k = m.k CROSS JOIN c"
        );
        assert_eq!(
            translate("SELECT MAX(a), MAX(0, ?2 - MIN(b, c)), total(MAX(d, 1)), SUM(e) FROM t"),
            "SELECT MAX(a), GREATEST(0, $2 - LEAST(b, c)), COALESCE(SUM(GREATEST(d, 1)), 0)::float8, SUM(e)::bigint FROM t"
        );
        assert_eq!(translate("SELECT MAXIMUM(a), xSUM(b) FROM t"), "SELECT MAXIMUM(a), xSUM(b) FROM t");
        assert_eq!(
            translate("SELECT a FROM t WHERE (?2 IS NULL OR b = ?2) AND (?3 IS NULL OR c IS NULL OR c > ?3)"),
            "SELECT a FROM t WHERE (b = $2 OR $2 IS NULL) AND (c IS NULL OR c > $3 OR $3 IS NULL)"
        );
    }
}
