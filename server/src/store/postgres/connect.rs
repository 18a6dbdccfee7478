//! How tollgate reaches PostgreSQL: the URL (libpq's `sslmode` and `sslrootcert` read
//! here, the rest by tokio-postgres), the TLS connector (rustls), and errors as one line
//! without the password.
//!
//! `sslmode` keeps libpq's meanings, with TLS by rustls (ARCHITECTURE.md, "Decisions"):
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | if the server offers it, else plain | not checked |
//! | `require` | always | not checked; with `sslrootcert=FILE`, as `verify-ca` |
//! | `verify-ca` | always | signed by the CA in `sslrootcert=FILE` (required) |
//! | `verify-full` | always | signed by `sslrootcert=FILE` (default: the system's roots) and issued for the URL's host |
//!
//! `allow` (plain first) is refused, as are client certificates (`sslcert`, `sslkey`) and
//! revocation lists (`sslcrl`): not supported. `sslrootcert=system` names the system's
//! roots explicitly and, as in libpq 16, only with `verify-full` (any public CA signs
//! certificates for someone: without the host name check that proves nothing).

use std::{fmt, path::PathBuf, sync::Arc};

use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        WebPkiServerVerifier,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms},
    pki_types::{pem::PemObject as _, CertificateDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is checked (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Not at all (`prefer`, `require`): the connection is encrypted, not authenticated.
    Nothing,
    /// Its chain up to a trusted CA, not its name (`verify-ca`).
    Chain,
    /// Its chain and that it was issued for the host (`verify-full`).
    Full,
}

/// Where trusted CAs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    System,
    File(PathBuf),
}

/// A parsed database URL: tokio-postgres' settings and tollgate's TLS choice.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub config: tokio_postgres::Config,
    pub verify: Verify,
    roots: Option<Roots>,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_struct("DatabaseUrl")
            .field("target", &self.target())
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// `%XX` escapes decoded (URL query values); invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DatabaseUrl {
    /// Parses a `postgres://` URL. Errors name the option, never a value of the URL's
    /// user information (the password).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut rest = Vec::new();
        let mut mode = None;
        let mut roots = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "sslmode" => mode = Some(value),
                "sslrootcert" if value == "system" => roots = Some(Roots::System),
                "sslrootcert" if !value.is_empty() => roots = Some(Roots::File(value.into())),
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                    return Err(format!(
                        "{key} is not supported (no client certificates or revocation lists): remove it from the URL"
                    ))
                }
                _ => rest.push(pair),
            }
        }
        let (ssl_mode, verify) = match mode.as_deref().unwrap_or("prefer") {
            "disable" => (SslMode::Disable, Verify::Nothing),
            "prefer" => (SslMode::Prefer, Verify::Nothing),
            "require" if roots.is_some() => (SslMode::Require, Verify::Chain),
            "require" => (SslMode::Require, Verify::Nothing),
            "verify-ca" => (SslMode::Require, Verify::Chain),
            "verify-full" => (SslMode::Require, Verify::Full),
            "allow" => {
                return Err(
                    "sslmode=allow is not supported: use prefer, require, verify-ca or verify-full"
                        .into(),
                )
            }
            other => {
                let other: String = other.chars().take(32).collect();
                return Err(format!(
                    "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        match (&roots, verify) {
            (None, Verify::Chain) => {
                return Err("sslmode=verify-ca needs sslrootcert=FILE, the CA that signed the server's certificate".into())
            }
            (Some(Roots::System), Verify::Nothing | Verify::Chain) => {
                return Err("sslrootcert=system needs sslmode=verify-full: any public CA signs certificates for some host".into())
            }
            _ => {}
        }
        let rebuilt = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: tokio_postgres::Config = rebuilt
            .parse()
            .map_err(|e| format!("not a valid PostgreSQL URL: {}", one_line(&e)))?;
        config.ssl_mode(ssl_mode);
        let roots = match (roots, verify) {
            (None, Verify::Full) => Some(Roots::System),
            (roots, _) => roots,
        };
        Ok(Self {
            config,
            verify,
            roots,
        })
    }

    /// `user@host:port/database`, for messages (no password).
    pub fn target(&self) -> String {
        let c = &self.config;
        let host = match c.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            c.get_user().unwrap_or(""),
            c.get_dbname().unwrap_or("")
        )
    }

    /// The TLS connector this URL asks for (reads `sslrootcert`, or the system's roots).
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        // ring, not aws-lc-rs: it builds with the C compiler alone, in seconds. Its
        // lack of post-quantum key exchange is why rustls deprecates it (ARCHITECTURE.md,
        // "Decisions").
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let roots = match &self.roots {
            Some(roots) => Some(Arc::new(load_roots(roots)?)),
            None => None,
        };
        let config = match (self.verify, roots) {
            (Verify::Full, Some(roots)) => {
                let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            (verify, roots) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier {
                    roots: roots.filter(|_| verify != Verify::Nothing),
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth(),
        };
        Ok(MakeRustlsConnect::new(config))
    }
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("sslmode=verify-full: no system root certificates found (install ca-certificates, or give sslrootcert=FILE)".into());
            }
        }
        Roots::File(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {shown}: no certificate in it"));
            }
        }
    }
    Ok(store)
}

/// The checks of `prefer`, `require` and `verify-ca`: the handshake's signatures always
/// (the server holds the certificate's key), the chain only when `roots` are given, the
/// name never.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// An error and its causes on one line: each cause once (a cause whose text its parent
/// already shows is skipped), a server message's DETAIL and HINT lines joined with "; ".
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(err);
    while let Some(err) = next {
        let part = err.to_string().replace('\n', "; ");
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_follow_libpq() {
        let parse =
            |q: &str| DatabaseUrl::parse(&format!("postgres://u:secret@db.example:5433/app{q}"));
        let ok = |q: &str| parse(q).unwrap();
        assert_eq!(ok("").config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(ok("").verify, Verify::Nothing);
        assert_eq!(
            ok("?sslmode=disable").config.get_ssl_mode(),
            SslMode::Disable
        );
        assert_eq!(
            ok("?sslmode=require").config.get_ssl_mode(),
            SslMode::Require
        );
        assert_eq!(ok("?sslmode=require").verify, Verify::Nothing);
        assert_eq!(
            ok("?sslmode=require&sslrootcert=/ca.pem").verify,
            Verify::Chain
        );
        assert_eq!(
            ok("?sslmode=verify-ca&sslrootcert=/ca.pem").verify,
            Verify::Chain
        );
        let full = ok("?sslmode=verify-full&application_name=x");
        assert_eq!(
            (full.verify, full.roots),
            (Verify::Full, Some(Roots::System))
        );
        assert_eq!(full.config.get_application_name(), Some("x"));
        let file = ok("?sslrootcert=%2Ftmp%2Fmy%20ca.pem&sslmode=verify-full");
        assert_eq!(file.roots, Some(Roots::File("/tmp/my ca.pem".into())));
        assert_eq!(file.target(), "u@db.example:5433/app");
        assert!(!format!("{file:?}").contains("secret"));
        for (query, says) in [
            ("?sslmode=allow", "sslmode=allow is not supported"),
            ("?sslmode=verify", "is not one of"),
            ("?sslmode=verify-ca", "needs sslrootcert"),
            (
                "?sslmode=require&sslrootcert=system",
                "needs sslmode=verify-full",
            ),
            ("?sslcert=/c.pem", "sslcert is not supported"),
            ("?port=x", "not a valid PostgreSQL URL"),
            ("?frobnicate=1", "unknown option `frobnicate`"),
        ] {
            let err = parse(query).unwrap_err();
            assert!(err.contains(says), "{query}: {err}");
            assert!(!err.contains("secret"), "{query}: {err}");
        }
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let url = DatabaseUrl::parse(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        let err = url.connector().err().unwrap();
        assert!(
            err.starts_with("sslrootcert /nonexistent/ca.pem: "),
            "{err}"
        );
    }
}
