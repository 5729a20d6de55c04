//! A blocking PostgreSQL connection that can send several statements at once.
//!
//! The engine's calls are synchronous; the PostgreSQL client (`tokio-postgres`) is
//! asynchronous, and pipelines: requests made together go out together and their answers come
//! back in order, in one round trip. This wraps one connection and a single-threaded runtime of
//! its own (as the `postgres` crate's blocking client does), and adds [`Client::pipeline`], which
//! the blocking client has no way to do: a write transaction's `BEGIN` rides with its first
//! statement, its last writes with its `COMMIT`, and independent statements go out together
//! ([`super::Tx::together`]). On this project's machines a round trip (a wake-up of the server
//! and one of the client) costs about 0.1 ms, more than most statements.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row, Statement};

/// One connection and the runtime that drives it (only while a call waits on it).
pub(crate) struct Client {
    // Dropped first (fields drop in order): the connection then says goodbye to the server.
    inner: tokio_postgres::Client,
    driver: Driver,
}

/// The runtime and the connection's task; when dropped, waits a moment for the connection to
/// close (the client, dropped before it, asked it to) rather than cutting the socket.
struct Driver {
    runtime: tokio::runtime::Runtime,
    connection: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(1), connection).await });
        }
    }
}

/// One request of a pipeline.
pub(crate) enum Op<'a> {
    /// Statements in the simple protocol, no parameters (`BEGIN ...`, `COMMIT`).
    Simple(&'a str),
    /// A prepared statement and its parameters; its rows are returned.
    Query(&'a Statement, &'a [&'a (dyn ToSql + Sync)]),
    /// A prepared statement and its parameters; the number of rows it changed is returned.
    Execute(&'a Statement, &'a [&'a (dyn ToSql + Sync)]),
}

/// The answer to one [`Op`].
pub(crate) enum Answer {
    /// Nothing to read (a simple statement).
    Done,
    /// A query's rows.
    Rows(Vec<Row>),
    /// How many rows a statement changed.
    Changed(u64),
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Answer, Error>> + 'a>>;

impl Client {
    /// Connects as `config` says, over `tls`.
    pub(crate) fn connect<T>(config: &tokio_postgres::Config, tls: T) -> Result<Client, crate::error::Error>
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + 'static + Send,
        T::Stream: Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::error::Error::Storage(format!("cannot start the PostgreSQL client: {e}")))?;
        let (inner, connection) = runtime.block_on(config.connect(tls)).map_err(connect_error)?;
        // The connection's task reads and writes the socket; on a single-threaded runtime it
        // runs while a call blocks on the runtime, which is the only time there is work for it.
        let connection = runtime.spawn(async move {
            let _ = connection.await;
        });
        Ok(Client { inner, driver: Driver { runtime, connection: Some(connection) } })
    }

    /// Runs statements in the simple protocol (no parameters, no rows read).
    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.driver.runtime.block_on(self.inner.batch_execute(sql))
    }

    /// Prepares a statement, its parameters' types inferred by the server.
    pub(crate) fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.driver.runtime.block_on(self.inner.prepare(sql))
    }

    /// Prepares a statement with its parameters' types given.
    pub(crate) fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        self.driver.runtime.block_on(self.inner.prepare_typed(sql, types))
    }

    /// Whether the connection is closed (the server went away, or a fatal error).
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Sends every request at once, in order, and waits for every answer: one round trip. The
    /// server runs them in order, each seeing the effects of the ones before; a failed one
    /// aborts the transaction it is in, and so fails the ones after it. The answers come in the
    /// order of `ops`; the result is the first error, if any.
    pub(crate) fn pipeline(&mut self, ops: &[Op<'_>]) -> Result<Vec<Answer>, Error> {
        let inner = &self.inner;
        let mut pending: Vec<Pending<'_>> = ops
            .iter()
            .map(|op| -> Pending<'_> {
                match *op {
                    Op::Simple(sql) => Box::pin(async move { inner.batch_execute(sql).await.map(|_| Answer::Done) }),
                    Op::Query(stmt, params) => {
                        Box::pin(async move { inner.query(stmt, params).await.map(Answer::Rows) })
                    }
                    Op::Execute(stmt, params) => {
                        Box::pin(async move { inner.execute(stmt, params).await.map(Answer::Changed) })
                    }
                }
            })
            .collect();
        let mut answers: Vec<Option<Result<Answer, Error>>> = ops.iter().map(|_| None).collect();
        // Each request is queued for the connection when its future is first polled: polling
        // them in order, every time, sends them in order.
        self.driver.runtime.block_on(std::future::poll_fn(|cx| {
            let mut waiting = false;
            for (future, answer) in pending.iter_mut().zip(answers.iter_mut()) {
                if answer.is_none() {
                    match future.as_mut().poll(cx) {
                        Poll::Ready(a) => *answer = Some(a),
                        Poll::Pending => waiting = true,
                    }
                }
            }
            if waiting {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        answers.into_iter().map(|a| a.unwrap_or(Ok(Answer::Done))).collect()
    }
}

/// A failure to connect, with its causes ("error performing TLS handshake: invalid peer
/// certificate: ...").
fn connect_error(e: Error) -> crate::error::Error {
    crate::error::Error::Storage(format!("cannot connect to PostgreSQL: {}", super::pg::chain(&e)))
}
