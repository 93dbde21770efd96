//! Optional HTTPS, so phones get a secure context (OPFS, service workers) for large downloads.
//!
//! Either a configured certificate and key, or a self-signed certificate generated on first
//! start and kept in the state directory, so a phone that accepted it once keeps trusting it
//! across restarts. The generated certificate follows the rules iOS enforces even for
//! user-accepted certificates: at most 825 days, serverAuth, names in subjectAltName.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Accept TLS on the listener (plain HTTP keeps working on the same port).
    pub enabled: bool,
    /// PEM certificate chain; with `key_file`. Unset: a self-signed one in the state directory.
    pub cert_file: Option<PathBuf>,
    /// PEM private key matching `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Plain-HTTP requests for the web app are redirected to https on the same port.
    pub redirect_http: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: false,
            cert_file: None,
            key_file: None,
            redirect_http: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls: cert_file and key_file must be set together")]
    HalfConfigured,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready acceptor plus what the banner shows so users can check the certificate.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the leaf certificate, as browsers show it.
    pub fingerprint: String,
    pub cert_path: PathBuf,
}

/// Self-signed certificates are replaced this long before their end.
const RENEW_AFTER: Duration = Duration::from_secs(795 * 24 * 3600);
const VALID_DAYS: i64 = 825;

pub fn load(config: &TlsConfig, state_dir: &Path) -> Result<Tls, TlsError> {
    let (cert_path, key_path) = match (&config.cert_file, &config.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => {
            let dir = state_dir.join("tls");
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            if needs_new(&c) || !k.exists() {
                generate(&dir, &c, &k)?;
            }
            (c, k)
        }
        _ => return Err(TlsError::HalfConfigured),
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_owned(),
            source,
        })
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert_path)?)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|c: &Vec<_>| !c.is_empty())
        .ok_or(TlsError::Pem {
            path: cert_path.clone(),
            what: "certificate",
        })?;
    let key = PrivateKeyDer::from_pem_slice(&read(&key_path)?).map_err(|_| TlsError::Pem {
        path: key_path.clone(),
        what: "private key",
    })?;
    let fingerprint = sha256_colons(&certs[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        fingerprint,
        cert_path,
    })
}

fn needs_new(cert: &Path) -> bool {
    let age = std::fs::metadata(cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    !matches!(age, Some(a) if a < RENEW_AFTER)
}

/// Names a phone may use for this box: localhost, the host name (plain and `.local`), and every
/// interface address at generation time.
fn subject_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    if !host.is_empty() && host != "localhost" {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    if let Ok(ifs) = if_addrs::get_if_addrs() {
        names.extend(ifs.into_iter().map(|i| i.ip().to_string()));
    }
    names.dedup();
    names
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let mut params = rcgen::CertificateParams::new(subject_names())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "peerbox (self-signed)");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let write = |path: &Path, data: &str, mode: u32| {
        crate::durable::write_atomic(path, data.as_bytes(), mode).map_err(|source| {
            TlsError::Write {
                path: path.to_owned(),
                source,
            }
        })
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    // Key first: a crash between the two leaves a key without a certificate, which the next
    // start regenerates, never a certificate whose key is gone.
    write(key_path, &key.serialize_pem(), 0o600)?;
    write(cert_path, &cert.pem(), 0o644)?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn sha256_colons(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
