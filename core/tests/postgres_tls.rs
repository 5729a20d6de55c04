//! TLS to PostgreSQL: each `sslmode` against a server whose certificate names `localhost` only,
//! signed by a throwaway CA (`scripts/pg-cluster.sh` makes both). The role `tls_only` is refused
//! in the clear by the server, so a call that succeeds as `tls_only` went over TLS.
//!
//! Runs when `TIMELEDGER_TEST_POSTGRES` and `TIMELEDGER_TEST_POSTGRES_TLS` (the folder of
//! `ca.crt` and `other-ca.crt`) are set, as `scripts/test-all.sh` sets them.

mod common;

use timeledger::{ClockIn, Engine, NewCategory};

struct Setup {
    port: String,
    database: String,
    ca: String,
    other_ca: String,
}

fn setup(name: &str) -> Option<Setup> {
    let server = common::postgres_server()?;
    let Some(dir) = std::env::var("TIMELEDGER_TEST_POSTGRES_TLS").ok().filter(|d| !d.is_empty()) else {
        eprintln!("TIMELEDGER_TEST_POSTGRES_TLS is not set: the TLS tests did not run");
        return None;
    };
    let url = common::new_postgres_database(&server, name);
    let database = url.rsplit_once('/').unwrap().1.to_string();
    let port = server.rsplit_once(':').unwrap().1.split('/').next().unwrap().to_string();
    Some(Setup { port, database, ca: format!("{dir}/ca.crt"), other_ca: format!("{dir}/other-ca.crt") })
}

impl Setup {
    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://tls_only@{host}:{}/{}?{query}", self.port, self.database)
    }
}

/// Opens the engine and makes one write and one read through it.
fn use_engine(url: &str) -> timeledger::Result<()> {
    let engine = Engine::open(url)?;
    engine.create_category(&NewCategory { guild_id: 1, name: "Dev".into(), description: None, color: None })?;
    let started =
        engine.clock_in(&ClockIn { guild_id: 1, user_id: 7, category: "Dev".into(), ..Default::default() })?;
    assert!(started.success);
    assert_eq!(engine.guild_status(1)?.active_sessions, 1);
    Ok(())
}

fn refused(url: &str, code: &str, words: &str) {
    match Engine::open(url) {
        Ok(_) => panic!("{url} connected"),
        Err(e) => {
            assert_eq!(e.code(), code, "{url}: {e}");
            assert!(e.to_string().contains(words), "{url}: {e} (expected {words:?})");
        }
    }
}

#[test]
fn verify_full_connects_to_the_host_its_certificate_names() {
    let Some(s) = setup("tls_full") else { return };
    use_engine(&s.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", s.ca))).unwrap();
    // The same role in the clear is refused by the server: the call above was encrypted.
    refused(&s.url("localhost", "sslmode=disable"), "STORAGE_ERROR", "no encryption");
}

#[test]
fn verify_full_refuses_another_host_and_another_ca() {
    let Some(s) = setup("tls_refuse") else { return };
    // The certificate names localhost, not 127.0.0.1.
    refused(&s.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", s.ca)), "STORAGE_ERROR", "certificate");
    // Signed by a CA the client does not trust.
    refused(
        &s.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", s.other_ca)),
        "STORAGE_ERROR",
        "certificate",
    );
    refused(
        &s.url("localhost", &format!("sslmode=verify-ca&sslrootcert={}", s.other_ca)),
        "STORAGE_ERROR",
        "certificate",
    );
    // `require` with a root file checks the chain, as libpq does.
    refused(
        &s.url("localhost", &format!("sslmode=require&sslrootcert={}", s.other_ca)),
        "STORAGE_ERROR",
        "certificate",
    );
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_host() {
    let Some(s) = setup("tls_ca") else { return };
    use_engine(&s.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={}", s.ca))).unwrap();
}

#[test]
fn require_and_prefer_encrypt_without_checking() {
    let Some(s) = setup("tls_require") else { return };
    use_engine(&s.url("127.0.0.1", "sslmode=require")).unwrap();
    // No sslmode is `prefer`: TLS when the server offers it (this server does).
    let engine = Engine::open(s.url("127.0.0.1", "application_name=timeledger-test")).unwrap();
    assert_eq!(engine.guild_status(1).unwrap().active_sessions, 1);
}

#[test]
fn bad_tls_parameters_are_invalid_input() {
    let Some(s) = setup("tls_bad") else { return };
    refused(&s.url("localhost", "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"), "INVALID_INPUT", "sslrootcert");
    refused(&s.url("localhost", "sslmode=maybe"), "INVALID_INPUT", "sslmode=maybe");
    refused(&s.url("localhost", &format!("sslmode=verify-full&sslcert={}", s.ca)), "INVALID_INPUT", "sslcert");
}
