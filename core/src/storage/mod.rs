//! The SQL layer: the one place the domain modules (sessions, categories, guilds, heartbeats,
//! keys, rollups, aggregates, transfer) reach the database through. They see a transaction
//! ([`Tx`]), prepared statements ([`Stmt`]), rows ([`Row`], [`Rows`]) and parameters
//! ([`params!`](crate::storage::params), arrays of values), never a driver; every driver error
//! becomes the engine's [`Error`].
//!
//! Two backends: a SQLite file (rusqlite; the embedded default) and PostgreSQL (the synchronous
//! `postgres` client; [`pg`]). Queries are written once in SQL both accept; [`pg::translate`]
//! rewrites the few spellings that differ for every query, and a query that differs in more
//! asks [`Tx::is_postgres`] where it is written.

pub(crate) mod pg;
pub(crate) mod pg_client;
pub(crate) mod pg_tls;

use std::cell::RefCell;

use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::ToSql;

use crate::error::{Error, Result};

/// A value bound to a statement's parameter.
pub(crate) trait Param: ToSql {}
impl<T: ToSql + ?Sized> Param for T {}

/// A value read from a row's column.
pub(crate) trait Column: FromSql {}
impl<T: FromSql> Column for T {}

/// Parameters of one statement: `params![a, b]`, an array of values, or `()`.
pub(crate) trait Params {
    /// The SQLite driver's form of these parameters.
    fn sqlite(self) -> impl rusqlite::Params;
    /// The values, for PostgreSQL.
    fn values(self) -> Result<Vec<pg::PgParam>>;
}

fn value_of(p: &dyn ToSql) -> Result<pg::PgParam> {
    Ok(pg::PgParam(match p.to_sql()? {
        ToSqlOutput::Borrowed(v) => v.into(),
        ToSqlOutput::Owned(v) => v,
        _ => return Err(Error::Storage("a parameter of an unsupported kind".into())),
    }))
}

impl Params for &[&dyn Param] {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params_from_iter(self.iter().map(|p| *p as &dyn ToSql))
    }
    fn values(self) -> Result<Vec<pg::PgParam>> {
        self.iter().map(|p| value_of(*p as &dyn ToSql)).collect()
    }
}

impl<T: Param, const N: usize> Params for [T; N] {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params_from_iter(self)
    }
    fn values(self) -> Result<Vec<pg::PgParam>> {
        self.iter().map(|p| value_of(p as &dyn ToSql)).collect()
    }
}

impl Params for () {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params![]
    }
    fn values(self) -> Result<Vec<pg::PgParam>> {
        Ok(Vec::new())
    }
}

/// Parameters of mixed types, in order: `params![guild_id, name, None::<i64>]`.
macro_rules! params {
    () => { () };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::storage::Param),+] as &[&dyn $crate::storage::Param] };
}
pub(crate) use params;

/// The statement that fills `rollup_week` from `rollup_day`: each day's seconds added to the
/// week holding it, weeks keyed by their first local day under the guild's week start (day 0,
/// 1970-01-01, was a Thursday: three days after a Monday). `$filter` narrows the days read
/// (`""`: all guilds, for the migration that creates the table; `"AND d.guild_id = ?1"`: one
/// guild, after its week start changes). Both dialects read it as it is.
macro_rules! weeks_from_days {
    ($filter:literal) => {
        concat!(
            "INSERT INTO rollup_week (guild_id, week, user_id, seconds)
             SELECT d.guild_id, d.day - (((d.day + 3 - g.ws) % 7) + 7) % 7, d.user_id, SUM(d.seconds)
             FROM rollup_day d JOIN (SELECT guild_id, CASE week_start WHEN 'tuesday' THEN 1 WHEN 'wednesday' THEN 2
                 WHEN 'thursday' THEN 3 WHEN 'friday' THEN 4 WHEN 'saturday' THEN 5 WHEN 'sunday' THEN 6 ELSE 0 END AS ws
                 FROM guilds) g ON g.guild_id = d.guild_id ",
            $filter,
            " GROUP BY d.guild_id, d.day - (((d.day + 3 - g.ws) % 7) + 7) % 7, d.user_id HAVING SUM(d.seconds) <> 0"
        )
    };
}
pub(crate) use weeks_from_days;

/// The statement that fills a user's coding milliseconds per local day, all dimensions together
/// (`hb_rollup` rows of `kind` 2, `dim_id` 0), from the rows per day and dimensions (`kind` 0):
/// the migration that adds them. Both dialects read it as it is.
macro_rules! day_totals_from_day_rows {
    () => {
        "INSERT INTO hb_rollup (guild_id, user_id, kind, bucket, dim_id, ms)
         SELECT guild_id, user_id, 2, bucket, 0, SUM(ms) FROM hb_rollup WHERE kind = 0
         GROUP BY guild_id, user_id, bucket HAVING SUM(ms) <> 0"
    };
}
pub(crate) use day_totals_from_day_rows;

/// `(?1, ?2), (?3, ?4)` for `rows` rows of `columns` parameters: the `VALUES` of a multi-row
/// statement, or (one row) the list of an `IN`.
pub(crate) fn value_rows(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["#"; columns].join(", "));
    fill_rows(&row, rows, 0)
}

/// `(?{after + 1}, ?{after + 2}, ...)`: a list of `n` parameters numbered after the statement's
/// first `after` (the list of an `IN` that follows fixed parameters).
pub(crate) fn value_list_after(n: usize, after: usize) -> String {
    fill_rows(&format!("({})", vec!["#"; n].join(", ")), 1, after)
}

/// `rows` copies of `row`, joined by commas, each `#` replaced by the next parameter after
/// `?{after}`: the one place parameter lists are numbered.
fn fill_rows(row: &str, rows: usize, after: usize) -> String {
    let mut sql = String::new();
    let mut next = after;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        for (i, part) in row.split('#').enumerate() {
            if i > 0 {
                next += 1;
                sql.push_str(&format!("?{next}"));
            }
            sql.push_str(part);
        }
    }
    sql
}

/// The values of rows of integers, in order, as statement parameters.
pub(crate) fn int_params<const N: usize>(rows: &[[i64; N]]) -> Vec<&dyn Param> {
    rows.iter().flat_map(|r| r.iter().map(|v| v as &dyn Param)).collect()
}

/// A statement over many rows of parameters (a multi-row `INSERT`, or a query over a `VALUES`
/// list), run in as few statements as the backend is best served by ([`MultiRow::chunk`]): on
/// PostgreSQL each statement is a round trip, so as many rows as possible each; in SQLite, in
/// process, one prepared one-row statement per row (the same text with one row), which measured
/// faster.
///
/// The text is `head`, then the rows, joined by commas, then `tail`. `row` is one row's text with
/// `#` where each of its parameters goes (`"(?1, #, #)"`, `"(CAST(# AS BIGINT))"`); `fixed`
/// parameters (`?1` .. `?fixed`) come before the rows' and are bound to every statement.
pub(crate) struct MultiRow {
    head: &'static str,
    row: &'static str,
    columns: usize,
    fixed: usize,
    tail: &'static str,
    /// The text for each row count, built when first used.
    texts: std::sync::OnceLock<Vec<std::sync::OnceLock<String>>>,
}

impl MultiRow {
    /// The most rows one statement takes.
    pub(crate) const MAX_ROWS: usize = 256;

    /// A statement of `row`'s parameters per row after `fixed` shared ones.
    pub(crate) const fn new(head: &'static str, fixed: usize, row: &'static str, tail: &'static str) -> Self {
        let mut columns = 0;
        let mut i = 0;
        while i < row.len() {
            if row.as_bytes()[i] == b'#' {
                columns += 1;
            }
            i += 1;
        }
        MultiRow { head, row, columns, fixed, tail, texts: std::sync::OnceLock::new() }
    }

    /// How many rows the next statement takes when `left` remain: on PostgreSQL 256 while that
    /// many are left, then 64, then the rest in one (so a bulk of up to 64 rows is one round
    /// trip; each count's statement is prepared once per connection, at most 65 per statement);
    /// in SQLite one.
    pub(crate) fn chunk(tx: &Tx<'_>, left: usize) -> usize {
        if !tx.is_postgres() {
            left.min(1)
        } else if left >= Self::MAX_ROWS {
            Self::MAX_ROWS
        } else if left >= 64 {
            64
        } else {
            left
        }
    }

    /// The text for `n` rows (1 to [`MultiRow::MAX_ROWS`]), built once per process.
    pub(crate) fn sql(&self, n: usize) -> &str {
        let n = n.clamp(1, Self::MAX_ROWS);
        let texts = self.texts.get_or_init(|| (0..=Self::MAX_ROWS).map(|_| std::sync::OnceLock::new()).collect());
        texts[n].get_or_init(|| format!("{} {} {}", self.head, fill_rows(self.row, n, self.fixed), self.tail))
    }

    /// Runs the statement over `rows` (each `columns` values) with `fixed` values first; `f`
    /// reads each row a statement returns.
    pub(crate) fn run<T>(
        &self,
        tx: &Tx<'_>,
        fixed: &[&dyn Param],
        rows: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each_statement(tx, fixed, rows, |stmt, values| {
            let mut found = stmt.query(values)?;
            while let Some(r) = found.next()? {
                out.push(f(&r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a statement that returns no rows over `rows`, as [`Tx::execute_later`] does (on
    /// PostgreSQL sent with the transaction's next statement or its commit).
    pub(crate) fn execute(&self, tx: &Tx<'_>, fixed: &[&dyn Param], rows: &[&dyn Param]) -> Result<()> {
        self.each_chunk(tx, fixed, rows, |sql, values| tx.execute_later(sql, values))
    }

    fn each_statement(
        &self,
        tx: &Tx<'_>,
        fixed: &[&dyn Param],
        rows: &[&dyn Param],
        mut f: impl FnMut(&mut Stmt<'_>, &[&dyn Param]) -> Result<()>,
    ) -> Result<()> {
        self.each_chunk(tx, fixed, rows, |sql, values| f(&mut tx.prepare_cached(sql)?, values))
    }

    /// Calls `f` with each statement's text and parameters.
    fn each_chunk(
        &self,
        tx: &Tx<'_>,
        fixed: &[&dyn Param],
        rows: &[&dyn Param],
        mut f: impl FnMut(&str, &[&dyn Param]) -> Result<()>,
    ) -> Result<()> {
        if fixed.len() != self.fixed || self.columns == 0 || !rows.len().is_multiple_of(self.columns) {
            return Err(Error::Storage(format!("{}: parameters do not match the statement", self.head)));
        }
        let total = rows.len() / self.columns;
        let mut at = 0;
        let mut values: Vec<&dyn Param> = Vec::with_capacity(fixed.len() + total.min(Self::MAX_ROWS) * self.columns);
        while at < total {
            let n = Self::chunk(tx, total - at);
            values.clear();
            values.extend_from_slice(fixed);
            values.extend_from_slice(&rows[at * self.columns..(at + n) * self.columns]);
            f(self.sql(n), &values)?;
            at += n;
        }
        Ok(())
    }
}

/// The database of an engine: one SQLite connection (calls take turns on it), or a pool of
/// PostgreSQL connections (calls run side by side; writers still take turns, on the server).
pub(crate) enum Db {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    Pg(pg::Pool),
}

/// How a transaction starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A consistent snapshot.
    Read,
    /// Serialised with every other writer (of every process or host).
    Write,
    /// A write that may add thousands of pages at once (an import batch): on SQLite its commit
    /// leaves the WAL's copy into the database file to the checkpoint thread until the WAL
    /// holds [`BULK_BACKSTOP_CHECKPOINT_PAGES`], instead of copying the batch's pages in line.
    Bulk,
}

/// The WAL size (pages of 4 KiB) at which a commit checkpoints in line (16 MiB). Under a steady
/// stream of writes the background checkpoints keep copying pages but the WAL never becomes
/// empty at the moment a write starts, so it would never restart from its beginning: this
/// commit's checkpoint finds nearly every page copied already, and the next write restarts the
/// WAL, trimmed to the engine's size limit.
pub(crate) const BACKSTOP_CHECKPOINT_PAGES: i64 = 4_096;

/// The in-line checkpoint threshold of a [`Mode::Bulk`] commit (64 MiB): a 10,000-entry import
/// batch writes thousands of pages that the checkpoint thread has not seen yet, and copying them
/// in line (7% of the import's time in `perf`, serial with its `fsync`) held the write lock.
/// Back-to-back imports let the
/// WAL grow to about this size; the next ordinary commit over 16 MiB trims it again.
pub(crate) const BULK_BACKSTOP_CHECKPOINT_PAGES: i64 = 16_384;

impl Db {
    /// Runs `f` in a transaction, committed only if `f` succeeds.
    pub(crate) fn transaction<T>(&self, mode: Mode, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match self {
            // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
            // back on drop), so a poisoned lock is safe to reuse.
            Db::Sqlite(c) => sqlite_transaction(&mut c.lock().unwrap_or_else(|p| p.into_inner()), mode, f),
            Db::Pg(pool) => pg::checkout(pool)?.transaction(mode, f),
        }
    }

    /// Refreshes PostgreSQL's statistics of `tables` (`""` for every table) after a bulk load,
    /// outside any transaction (it blocks neither readers nor writers). PostgreSQL plans from
    /// statistics: a guild they have not seen yet is planned as nearly empty, and a user's
    /// sessions are then looked for by scanning the whole guild. SQLite names its indexes in the
    /// queries: nothing to do there.
    pub(crate) fn analyze(&self, tables: &str) -> Result<()> {
        match self {
            Db::Sqlite(_) => Ok(()),
            Db::Pg(pool) => {
                pg::checkout(pool)?.client.batch_execute(&format!("ANALYZE {tables}")).map_err(pg::pg_error)
            }
        }
    }
}

/// Runs `f` in a transaction on a SQLite connection, committed only if `f` succeeds.
pub(crate) fn sqlite_transaction<T>(
    c: &mut rusqlite::Connection,
    mode: Mode,
    f: impl FnOnce(&Tx<'_>) -> Result<T>,
) -> Result<T> {
    let behavior = match mode {
        Mode::Read => rusqlite::TransactionBehavior::Deferred,
        Mode::Write | Mode::Bulk => rusqlite::TransactionBehavior::Immediate,
    };
    let bulk = mode == Mode::Bulk;
    let (out, committed) = {
        let tx = Tx::Sqlite(c.transaction_with_behavior(behavior)?);
        let out = f(&tx)?;
        let committed = match tx {
            Tx::Sqlite(t) => {
                // The threshold is the connection's: raised for this commit only, set back
                // below whatever the commit's outcome.
                if bulk {
                    t.pragma_update(None, "wal_autocheckpoint", BULK_BACKSTOP_CHECKPOINT_PAGES)?;
                }
                t.commit()
            }
            Tx::Pg(_) => Ok(()),
        };
        (out, committed)
    };
    if bulk {
        // A setting of the connection (no I/O): were it to fail, the commit above still stands
        // and must not be reported as failed; later commits would then checkpoint later.
        let _ = c.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES);
    }
    committed?;
    Ok(out)
}

impl pg::PgConn {
    /// Runs `f` in a transaction on this connection, committed only if `f` succeeds.
    ///
    /// Nothing is sent until `f` runs its first statement: the transaction's start (and, for a
    /// writer, the lock) goes out with it, in one round trip, and the statements left waiting
    /// ([`Tx::execute_later`]) go out with the `COMMIT`. A transaction that runs no statement
    /// costs nothing.
    pub(crate) fn transaction<T>(&mut self, mode: Mode, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let pg::PgConn { client, statements } = self;
        let (begin, lock) = match mode {
            Mode::Read => ("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", None),
            Mode::Write | Mode::Bulk => (
                "START TRANSACTION ISOLATION LEVEL READ COMMITTED",
                // Prepared once per connection: cheaper for the server than the same query as text.
                Some(pg::prepare(client, statements, "SELECT pg_advisory_xact_lock(?1)")?),
            ),
        };
        let tx = Tx::Pg(PgTx {
            client: RefCell::new(client),
            statements: RefCell::new(statements),
            begin: RefCell::new(Some(begin)),
            lock,
            later: RefCell::new(Vec::new()),
            open: std::cell::Cell::new(false),
        });
        let out = f(&tx)?;
        if let Tx::Pg(p) = tx {
            p.commit()?;
        }
        Ok(out)
    }
}

/// A transaction: read (a consistent snapshot) or write (serialised with every other writer).
pub(crate) enum Tx<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Pg(PgTx<'c>),
}

/// A PostgreSQL transaction (made by [`pg::PgConn::transaction`], rolled back when dropped
/// uncommitted), its connection's prepared statements, and what waits to be sent.
pub(crate) struct PgTx<'c> {
    client: RefCell<&'c mut pg_client::Client>,
    statements: RefCell<&'c mut rustc_hash::FxHashMap<String, tokio_postgres::Statement>>,
    /// What starts the transaction, until it is sent (with the first statement).
    begin: RefCell<Option<&'static str>>,
    /// A writer's lock (taken right after the start): the statement; its parameter is
    /// [`pg::WRITER_LOCK`].
    lock: Option<tokio_postgres::Statement>,
    /// Statements whose answers nobody reads, sent with the next statement or the commit.
    later: RefCell<Vec<(tokio_postgres::Statement, Vec<pg::PgParam>)>>,
    /// Started on the server, and neither committed nor rolled back.
    open: std::cell::Cell<bool>,
}

/// What a statement of [`PgTx::send`] answers.
#[derive(Clone, Copy)]
enum Want {
    Rows,
    Count,
}

impl PgTx<'_> {
    /// Sends the transaction's start if it is still waiting, the statements waiting, `stmts`,
    /// and `end` (`COMMIT`) if given, all at once; the answers to `stmts`, in order.
    fn send(
        &self,
        stmts: Vec<(tokio_postgres::Statement, Vec<pg::PgParam>, Want)>,
        end: Option<&str>,
    ) -> Result<Vec<pg_client::Answer>> {
        let begin = self.begin.borrow_mut().take();
        let later = std::mem::take(&mut *self.later.borrow_mut());
        if begin.is_none() && later.is_empty() && stmts.is_empty() && end.is_none() {
            return Ok(Vec::new());
        }
        let refs: Vec<Vec<&(dyn tokio_postgres::types::ToSql + Sync)>> =
            later.iter().map(|(_, p)| refs(p)).chain(stmts.iter().map(|(_, p, _)| refs(p))).collect();
        let lock_key: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&pg::WRITER_LOCK];
        let mut ops: Vec<pg_client::Op<'_>> = Vec::with_capacity(refs.len() + 3);
        if let Some(b) = begin {
            self.open.set(true);
            ops.push(pg_client::Op::Simple(b));
            if let Some(lock) = &self.lock {
                ops.push(pg_client::Op::Query(lock, &lock_key));
            }
        }
        let first = ops.len() + later.len();
        for ((stmt, _), params) in later.iter().zip(&refs) {
            ops.push(pg_client::Op::Execute(stmt, params));
        }
        for ((stmt, _, want), params) in stmts.iter().zip(&refs[later.len()..]) {
            ops.push(match want {
                Want::Rows => pg_client::Op::Query(stmt, params),
                Want::Count => pg_client::Op::Execute(stmt, params),
            });
        }
        if let Some(e) = end {
            ops.push(pg_client::Op::Simple(e));
        }
        let mut answers = self.client.borrow_mut().pipeline(&ops).map_err(pg::pg_error)?;
        answers.truncate(first + stmts.len());
        Ok(answers.split_off(first))
    }

    /// Commits what the transaction did (nothing is sent if it ran no statement).
    fn commit(self) -> Result<()> {
        if self.begin.borrow().is_some() && self.later.borrow().is_empty() {
            return Ok(());
        }
        let out = self.send(Vec::new(), Some("COMMIT"));
        // Committed, or (on an error) rolled back by the server, or the connection is gone.
        self.open.set(false);
        out.map(|_| ())
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            // A failure here means the connection is gone, and the server rolls back on its own.
            let _ = self.client.get_mut().batch_execute("ROLLBACK");
        }
    }
}

/// Runs prepared PostgreSQL statements (a [`PgTx`] with its connection's lifetime erased).
pub(crate) trait PgRun {
    fn run(&self, stmt: &tokio_postgres::Statement, params: Vec<pg::PgParam>) -> Result<Vec<tokio_postgres::Row>>;
    fn exec(&self, stmt: &tokio_postgres::Statement, params: Vec<pg::PgParam>) -> Result<u64>;
}

fn refs(params: &[pg::PgParam]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
}

impl PgRun for PgTx<'_> {
    fn run(&self, stmt: &tokio_postgres::Statement, params: Vec<pg::PgParam>) -> Result<Vec<tokio_postgres::Row>> {
        match self.send(vec![(stmt.clone(), params, Want::Rows)], None)?.pop() {
            Some(pg_client::Answer::Rows(rows)) => Ok(rows),
            _ => Err(Error::Storage("PostgreSQL: no rows answered a query".into())),
        }
    }
    fn exec(&self, stmt: &tokio_postgres::Statement, params: Vec<pg::PgParam>) -> Result<u64> {
        match self.send(vec![(stmt.clone(), params, Want::Count)], None)?.pop() {
            Some(pg_client::Answer::Changed(n)) => Ok(n),
            _ => Err(Error::Storage("PostgreSQL: no row count answered a statement".into())),
        }
    }
}

/// A prepared statement, cached by its text on the connection.
pub(crate) enum Stmt<'t> {
    Sqlite(rusqlite::CachedStatement<'t>),
    Pg(&'t dyn PgRun, tokio_postgres::Statement),
}

/// One row of a result.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

/// The rows of a query, read one at a time.
pub(crate) enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Pg(std::vec::IntoIter<tokio_postgres::Row>, Option<tokio_postgres::Row>),
}

/// The driver's "no row" answer, told apart from every other failure.
fn none_if_no_row<T>(r: rusqlite::Result<Result<T>>) -> Result<Option<T>> {
    match r {
        Ok(v) => v.map(Some),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Tx<'_> {
    /// Whether this transaction is on PostgreSQL (for the few queries written twice).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Tx::Pg(_))
    }

    /// The statement for `sql`, prepared once per connection.
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        match self {
            Tx::Sqlite(t) => Ok(Stmt::Sqlite(t.prepare_cached(sql)?)),
            Tx::Pg(p) => {
                let stmt = pg::prepare(&mut p.client.borrow_mut(), &mut p.statements.borrow_mut(), sql)?;
                Ok(Stmt::Pg(p, stmt))
            }
        }
    }

    /// Runs a statement once; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs a statement whose answer the caller does not need, as part of this transaction: in
    /// SQLite now; on PostgreSQL sent with the next statement or with the `COMMIT` (no round
    /// trip of its own). A failure fails that next statement or the commit, and so the
    /// transaction, as it would have failed it here.
    pub(crate) fn execute_later(&self, sql: &str, params: impl Params) -> Result<()> {
        match self {
            Tx::Sqlite(_) => self.execute(sql, params).map(|_| ()),
            Tx::Pg(p) => {
                let stmt = pg::prepare(&mut p.client.borrow_mut(), &mut p.statements.borrow_mut(), sql)?;
                p.later.borrow_mut().push((stmt, params.values()?));
                Ok(())
            }
        }
    }

    /// Runs independent queries (each a text and its parameters) in order, each seeing what the
    /// ones before it wrote; `f(i, row)` reads the rows of query `i`, query by query. On
    /// PostgreSQL they go out together, in one round trip; in SQLite one after the other.
    pub(crate) fn together(
        &self,
        queries: &[(&str, &[&dyn Param])],
        mut f: impl FnMut(usize, &Row<'_>) -> Result<()>,
    ) -> Result<()> {
        match self {
            Tx::Sqlite(_) => {
                for (i, (sql, params)) in queries.iter().enumerate() {
                    let mut stmt = self.prepare_cached(sql)?;
                    let mut rows = stmt.query(*params)?;
                    while let Some(r) = rows.next()? {
                        f(i, &r)?;
                    }
                }
                Ok(())
            }
            Tx::Pg(p) => {
                let mut stmts = Vec::with_capacity(queries.len());
                for (sql, params) in queries {
                    let stmt = pg::prepare(&mut p.client.borrow_mut(), &mut p.statements.borrow_mut(), sql)?;
                    stmts.push((stmt, params.values()?, Want::Rows));
                }
                for (i, answer) in p.send(stmts, None)?.into_iter().enumerate() {
                    if let pg_client::Answer::Rows(rows) = answer {
                        for r in &rows {
                            f(i, &Row::Pg(r))?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.prepare_cached(sql)?.query_opt(params, f)
    }
}

impl Stmt<'_> {
    /// Runs the statement; the number of rows it changed.
    pub(crate) fn execute(&mut self, params: impl Params) -> Result<usize> {
        match self {
            Stmt::Sqlite(s) => Ok(s.execute(params.sqlite())?),
            Stmt::Pg(run, s) => Ok(run.exec(s, params.values()?)? as usize),
        }
    }

    /// The first row, which must exist (none is a storage error).
    pub(crate) fn query_row<T>(&mut self, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.query_opt(params, f)?.ok_or_else(|| Error::Storage("the query returned no row".into()))
    }

    /// The first row, if any.
    pub(crate) fn query_opt<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Stmt::Sqlite(s) => none_if_no_row(s.query_row(params.sqlite(), |r| Ok(f(&Row::Sqlite(r))))),
            Stmt::Pg(run, s) => match run.run(s, params.values()?)?.first() {
                Some(r) => f(&Row::Pg(r)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// Every row, each mapped by `f`.
    pub(crate) fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(&r)?);
        }
        Ok(out)
    }

    /// The rows, to be read one at a time (a reader may stop early).
    pub(crate) fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        match self {
            Stmt::Sqlite(s) => Ok(Rows::Sqlite(s.query(params.sqlite())?)),
            Stmt::Pg(run, s) => Ok(Rows::Pg(run.run(s, params.values()?)?.into_iter(), None)),
        }
    }
}

impl Rows<'_> {
    /// The next row, or `None` after the last.
    pub(crate) fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(r) => Ok(r.next()?.map(Row::Sqlite)),
            Rows::Pg(it, slot) => {
                *slot = it.next();
                Ok(slot.as_ref().map(Row::Pg))
            }
        }
    }
}

impl Row<'_> {
    /// Column `index` (from 0) as `T`; a NULL or a value of another type is a storage error.
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T> {
        match self {
            Row::Sqlite(r) => Ok(r.get(index)?),
            Row::Pg(r) => {
                let v = pg::column(r, index)?;
                T::column_result(ValueRef::from(&v))
                    .map_err(|e| Error::Storage(format!("column {index}: {e} (from {})", describe(&v))))
            }
        }
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a float",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
    }
}

impl Row<'_> {
    /// Column `index` as it is stored, whatever its type (for copying rows between databases).
    pub(crate) fn value(&self, index: usize) -> Result<Value> {
        match self {
            Row::Sqlite(r) => Ok(r.get::<_, Value>(index)?),
            Row::Pg(r) => pg::column(r, index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(c: &rusqlite::Connection) -> i64 {
        c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_bulk_commit_raises_the_checkpoint_threshold_for_itself_only() {
        let dir = std::env::temp_dir().join(format!("timeledger-bulk-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = rusqlite::Connection::open(dir.join("t.db")).unwrap();
        c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
        c.pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES).unwrap();
        c.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        // 6,000 pages in one commit: past the ordinary threshold, under the bulk one.
        let fill = |tx: &Tx<'_>| {
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
                 INSERT INTO t SELECT zeroblob(4000) FROM n",
                params![],
            )?;
            Ok(())
        };
        let file = |name: &str| std::fs::metadata(dir.join(name)).unwrap().len();
        sqlite_transaction(&mut c, Mode::Bulk, fill).unwrap();
        assert_eq!(threshold(&c), BACKSTOP_CHECKPOINT_PAGES, "set back after the commit");
        assert!(file("t.db") < 1 << 20, "the bulk commit was not copied in line ({} bytes)", file("t.db"));
        assert!(file("t.db-wal") > 6_000 * 4096, "its pages wait in the WAL ({} bytes)", file("t.db-wal"));
        // An ordinary commit past the threshold checkpoints in line: both commits' pages reach
        // the file.
        sqlite_transaction(&mut c, Mode::Write, fill).unwrap();
        assert!(file("t.db") > 12_000 * 4096, "copied in line: {} bytes", file("t.db"));
        // A bulk write that fails leaves the threshold as it was.
        let failed = sqlite_transaction(&mut c, Mode::Bulk, |_| -> Result<()> { Err(Error::invalid("x", "no")) });
        assert!(failed.is_err());
        assert_eq!(threshold(&c), BACKSTOP_CHECKPOINT_PAGES);
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
