//! TLS to PostgreSQL, through rustls (the `ring` provider), chosen by the URL as libpq chooses it.
//!
//! The URL's `sslmode` says what the connection requires of the server:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | no |
//! | `require` | always | no; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by a root of `sslrootcert` |
//! | `verify-full` | always | signed by a root, and issued to the URL's host |
//!
//! `sslrootcert` names a PEM file of root certificates; `sslrootcert=system` (or no
//! `sslrootcert` under `verify-ca`/`verify-full`) takes the operating system's roots. Client
//! certificates (`sslcert`, `sslkey`) are refused with `INVALID_INPUT`, as is any other value the
//! engine cannot honour: a connection is never weaker than its URL asks.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// What the URL asks of the connection, with the TLS parameters taken out of the URL (the
/// PostgreSQL client knows `sslmode` only as disable/prefer/require, and no `sslrootcert`).
pub(crate) struct Tls {
    /// The URL without `sslmode` and `sslrootcert`.
    pub(crate) url: String,
    /// The mode the PostgreSQL client negotiates with.
    pub(crate) mode: tokio_postgres::config::SslMode,
    /// The TLS client, `None` for `sslmode=disable`.
    pub(crate) connector: Option<MakeRustlsConnect>,
}

/// How the server's certificate is checked.
enum Check {
    /// Not at all (`prefer`, `require`): encrypted against a passive listener only.
    None,
    /// Signed by one of the roots, whatever host it names (`verify-ca`).
    Chain(RootCertStore),
    /// Signed by one of the roots and issued to the host connected to (`verify-full`).
    Full(RootCertStore),
}

/// Reads the TLS parameters of a `postgres://` URL and builds the TLS client they ask for.
pub(crate) fn from_url(url: &str) -> Result<Tls> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(decode(value)?),
            "sslrootcert" => root = Some(decode(value)?),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(Error::invalid(
                    "path",
                    format!("{key}: client certificates and revocation lists are not supported; connect with a password or trust"),
                ));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    use tokio_postgres::config::SslMode;
    let roots = |required: bool| -> Result<Option<RootCertStore>> {
        match root.as_deref() {
            Some("system") => system_roots().map(Some),
            Some(path) => file_roots(path).map(Some),
            None if required => system_roots().map(Some),
            None => Ok(None),
        }
    };
    let (mode, check) = match mode.as_deref().unwrap_or("prefer") {
        "disable" => return Ok(Tls { url, mode: SslMode::Disable, connector: None }),
        "allow" | "prefer" => (SslMode::Prefer, Check::None),
        "require" => (SslMode::Require, roots(false)?.map_or(Check::None, Check::Chain)),
        "verify-ca" => (SslMode::Require, Check::Chain(roots(true)?.unwrap_or_else(RootCertStore::empty))),
        "verify-full" => (SslMode::Require, Check::Full(roots(true)?.unwrap_or_else(RootCertStore::empty))),
        other => {
            return Err(Error::invalid(
                "path",
                format!("sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"),
            ))
        }
    };
    Ok(Tls { url, mode, connector: Some(MakeRustlsConnect::new(client_config(check)?)) })
}

/// A rustls client with this engine's provider (never the process's default, which a host may
/// have set otherwise) and the check asked for.
fn client_config(check: Check) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Storage(format!("TLS: {e}")))?;
    let verifier = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::invalid("path", format!("sslrootcert: {e}")))
    };
    let config = match check {
        Check::Full(roots) => builder.with_webpki_verifier(verifier(roots)?).with_no_client_auth(),
        Check::Chain(roots) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient { chain: Some(verifier(roots)?), provider }))
            .with_no_client_auth(),
        Check::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient { chain: None, provider }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Root certificates from a PEM file.
fn file_roots(path: &str) -> Result<RootCertStore> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<_, _>>())
        .map_err(|e| Error::invalid("path", format!("sslrootcert={path}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::invalid("path", format!("sslrootcert={path}: no certificate in the file")));
    }
    Ok(roots)
}

/// The operating system's root certificates.
fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(Error::invalid(
            "path",
            "sslrootcert: the system has no root certificates; name a PEM file with sslrootcert=PATH",
        ));
    }
    Ok(roots)
}

/// Undoes a URL's percent-encoding (a path in `sslrootcert` may carry `%2F` and the like).
fn decode(value: &str) -> Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = hex else {
                return Err(Error::invalid("path", format!("bad percent-encoding in {value:?}")));
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("path", format!("{value:?} is not UTF-8")))
}

/// The checks weaker than `verify-full`: `verify-ca` (`chain`: the chain must lead to a root;
/// the host the certificate names is not compared) and `prefer`/`require` without roots (no
/// chain: any certificate is taken, libpq's meaning of these modes). The handshake's signatures
/// are checked either way, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // The chain is checked before the name: a name error means the chain was good.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_tls_parameters_out_of_the_url() {
        let t = from_url("postgres://u@h:5/db?sslmode=disable&application_name=x").unwrap();
        assert_eq!(t.url, "postgres://u@h:5/db?application_name=x");
        assert!(t.connector.is_none());
        let t = from_url("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(t.url, "postgres://u@h/db");
        assert!(matches!(t.mode, tokio_postgres::config::SslMode::Require));
        let t = from_url("postgres://u@h/db").unwrap();
        assert!(matches!(t.mode, tokio_postgres::config::SslMode::Prefer));
        assert!(t.connector.is_some());
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for url in [
            "postgres://h/db?sslmode=verify",
            "postgres://h/db?sslmode=require&sslcert=/c.pem",
            "postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/root.pem",
            "postgres://h/db?sslrootcert=%zz",
        ] {
            let err = from_url(url).err().unwrap_or_else(|| panic!("{url} was taken"));
            assert_eq!(err.code(), "INVALID_INPUT", "{url}: {err}");
        }
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("tl-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let url = format!("postgres://h/db?sslmode=verify-ca&sslrootcert={}", f.display());
        let err = from_url(&url).err().expect("an empty root file was taken");
        assert_eq!(err.code(), "INVALID_INPUT");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
