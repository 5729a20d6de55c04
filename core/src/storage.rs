//! The SQL layer: the one place the domain modules (sessions, categories, guilds, heartbeats,
//! keys, rollups, aggregates, transfer) reach the database through. They see a transaction
//! ([`Tx`]), prepared statements ([`Stmt`]), rows ([`Row`], [`Rows`]) and parameters
//! ([`params!`](crate::storage::params), arrays of values), never the driver; every driver error
//! becomes the engine's [`Error`]. Today's driver is SQLite (rusqlite); a second backend plugs in
//! here, with the dialect differences of a query kept next to it.

use rusqlite::types::FromSql;
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
    /// The driver's form of these parameters.
    fn sqlite(self) -> impl rusqlite::Params;
}

impl Params for &[&dyn Param] {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params_from_iter(self.iter().map(|p| *p as &dyn ToSql))
    }
}

impl<T: Param, const N: usize> Params for [T; N] {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params_from_iter(self)
    }
}

impl Params for () {
    fn sqlite(self) -> impl rusqlite::Params {
        rusqlite::params![]
    }
}

/// Parameters of mixed types, in order: `params![guild_id, name, None::<i64>]`.
macro_rules! params {
    () => { () };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::storage::Param),+] as &[&dyn $crate::storage::Param] };
}
pub(crate) use params;

/// A transaction: read (a consistent snapshot) or write (serialised with every other writer).
pub(crate) struct Tx<'c>(pub(crate) rusqlite::Transaction<'c>);

/// A prepared statement, cached by its text on the connection.
pub(crate) struct Stmt<'t>(rusqlite::CachedStatement<'t>);

/// One row of a result.
pub(crate) struct Row<'r>(&'r rusqlite::Row<'r>);

/// The rows of a query, read one at a time.
pub(crate) struct Rows<'s>(rusqlite::Rows<'s>);

/// The driver's "no row" answer, told apart from every other failure.
fn none_if_no_row<T>(r: rusqlite::Result<Result<T>>) -> Result<Option<T>> {
    match r {
        Ok(v) => v.map(Some),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Tx<'_> {
    /// The statement for `sql`, prepared once per connection.
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        Ok(Stmt(self.0.prepare_cached(sql)?))
    }

    /// Runs a statement once; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
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
        Ok(self.0.execute(params.sqlite())?)
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
        none_if_no_row(self.0.query_row(params.sqlite(), |r| Ok(f(&Row(r)))))
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
        Ok(Rows(self.0.query(params.sqlite())?))
    }
}

impl Rows<'_> {
    /// The next row, or `None` after the last.
    pub(crate) fn next(&mut self) -> Result<Option<Row<'_>>> {
        Ok(self.0.next()?.map(Row))
    }
}

impl Row<'_> {
    /// Column `index` (from 0) as `T`; a NULL or a value of another type is a storage error.
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T> {
        Ok(self.0.get(index)?)
    }
}
