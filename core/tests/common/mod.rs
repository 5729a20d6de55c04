//! Shared by the integration tests: where a test's database lives. With
//! `TIMELEDGER_TEST_POSTGRES` set to a PostgreSQL server's URL (`scripts/test-all.sh` starts one),
//! the tests that use these helpers run on a new database of their own there; otherwise on a
//! temporary SQLite file (or in memory).
#![allow(dead_code)] // each test file uses some of these

use timeledger::Engine;

/// The PostgreSQL server the tests may use, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var("TIMELEDGER_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// A new, empty PostgreSQL database on the test server, as a URL.
pub fn new_postgres_database(server: &str, name: &str) -> String {
    let name = format!("timeledger_{}_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), std::process::id());
    let mut admin = postgres::Client::connect(server, postgres::NoTls).expect("the test PostgreSQL server");
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        admin.batch_execute(&sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    let (base, _) = server.rsplit_once('/').expect("a URL ending in /database");
    format!("{base}/{name}")
}

/// Where a test shares one database between processes: a PostgreSQL URL, or a new SQLite file.
pub fn shared_database(name: &str) -> String {
    if let Some(server) = postgres_server() {
        return new_postgres_database(&server, name);
    }
    let dir = std::env::temp_dir().join(format!("timeledger-shared-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir.join("shared.db").display().to_string()
}

/// A fresh engine: in memory, or on a new PostgreSQL database named after `name` (a database of
/// the same name made before is dropped first). PostgreSQL databases are copied from a template
/// that already holds the schema, made once per test process, so a property test can afford
/// one per case.
pub fn fresh_engine(name: &str) -> Engine {
    let Some(server) = postgres_server() else {
        return Engine::open(":memory:").expect("open in memory");
    };
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let url = new_postgres_database(&server, "template");
        drop(Engine::open(&url).expect("the template schema")); // its connection closes here
        url.rsplit_once('/').expect("a database name").1.to_string()
    });
    let name = format!("timeledger_{}_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), std::process::id());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("the test PostgreSQL server");
    let drop_sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    admin.batch_execute(&drop_sql).unwrap_or_else(|e| panic!("{drop_sql}: {e:?}"));
    // A template must have no session: the template engine's pool may still be closing (or
    // finishing a connection it began in the background) when the first copy is asked for.
    let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
    for attempt in 0.. {
        match admin.batch_execute(&create) {
            Ok(()) => break,
            Err(e) if attempt < 50 && e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) => {
                let _ = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&template.as_str()],
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("{create}: {e:?}"),
        }
    }
    let (base, _) = server.rsplit_once('/').expect("a URL ending in /database");
    Engine::open(format!("{base}/{name}")).expect("open on PostgreSQL")
}

/// One integer a query answers, with the user as `?1`, on either backend.
pub fn query_i64(db: &str, sql: &str, user: i64) -> i64 {
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(db, postgres::NoTls).expect("connect");
        let sql = sql.replace("?1", "$1");
        return c.query_one(sql.as_str(), &[&user]).expect("query").get::<_, i64>(0);
    }
    let c = rusqlite::Connection::open(db).expect("open");
    c.query_row(sql, [user], |r| r.get(0)).expect("query")
}

/// Rows of two integers (the second may be NULL), with the user as `?1`, on either backend.
pub fn query_pairs(db: &str, sql: &str, user: i64) -> Vec<(i64, Option<i64>)> {
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(db, postgres::NoTls).expect("connect");
        let sql = sql.replace("?1", "$1");
        return c.query(sql.as_str(), &[&user]).expect("query").iter().map(|r| (r.get(0), r.get(1))).collect();
    }
    let c = rusqlite::Connection::open(db).expect("open");
    let mut st = c.prepare(sql).expect("prepare");
    st.query_map([user], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").map(|x| x.expect("row")).collect()
}
