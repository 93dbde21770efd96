//! HTTPS on the same port as plain HTTP, and the Host allow-list against DNS rebinding, over
//! real sockets with a real TLS client (rustls) that trusts only the daemon's certificate.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use peerbox::http::tls::{self, TlsConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Sends one request and returns the response head (status line and headers).
async fn head_of<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, host: &str, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split("\r\n\r\n").next().unwrap_or("").to_owned()
}

async fn plain(addr: SocketAddr, host: &str, path: &str) -> String {
    head_of(TcpStream::connect(addr).await.unwrap(), host, path).await
}

/// A TLS client that trusts exactly `cert_pem` and checks the name `server_name`.
async fn over_tls(
    addr: SocketAddr,
    cert_pem: &[u8],
    server_name: &str,
    path: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector.connect(name, tcp).await?;
    Ok(head_of(tls, &addr.to_string(), path).await)
}

/// The certificate the server generated; `run` makes it as it starts, so wait for it.
async fn generated_cert(srv: &TestServer) -> Vec<u8> {
    let path = srv.dirs.path().join("state/tls/cert.pem");
    for _ in 0..200 {
        if let Ok(pem) = std::fs::read(&path) {
            if !pem.is_empty() && plain(srv.addr, "x", "/healthz").await.contains("200") {
                return pem;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no certificate at {}", path.display());
}

#[tokio::test]
async fn self_signed_https_and_plain_http_share_one_port() {
    let srv = TestServer::start_with(|c| c.server.tls.enabled = true).await;
    let state = srv.dirs.path().join("state/tls");
    let pem = generated_cert(&srv).await;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
    }
    let head = over_tls(srv.addr, &pem, "localhost", "/healthz")
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let app = over_tls(srv.addr, &pem, "127.0.0.1", "/").await.unwrap();
    assert!(
        app.starts_with("HTTP/1.1 200"),
        "the certificate names the address: {app}"
    );
    // Plain HTTP on the same port: machine endpoints answer, the app moves to https.
    assert!(plain(srv.addr, "x", "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    let redirect = plain(srv.addr, "box.lan:8080", "/?room=kitchen").await;
    assert!(redirect.starts_with("HTTP/1.1 308"), "{redirect}");
    assert!(
        redirect
            .to_ascii_lowercase()
            .contains("location: https://box.lan:8080/?room=kitchen"),
        "{redirect}"
    );
    // A client that trusts some other certificate is refused by its own TLS check.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let err = over_tls(srv.addr, other.cert.pem().as_bytes(), "localhost", "/").await;
    assert!(err.is_err(), "a foreign trust root must not verify");
    srv.stop().await;
}

#[tokio::test]
async fn silent_and_garbage_tls_clients_are_dropped_and_others_served() {
    let srv = TestServer::start_with(|c| {
        c.server.tls.enabled = true;
        c.server.header_read_timeout_secs = 1;
    })
    .await;
    let pem = generated_cert(&srv).await;
    // Says nothing at all.
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    // Starts a handshake record and stalls.
    let mut stalled = TcpStream::connect(srv.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    // Sends garbage after a handshake byte.
    let mut garbage = TcpStream::connect(srv.addr).await.unwrap();
    garbage.write_all(&[0x16; 64]).await.unwrap();
    for s in [&mut silent, &mut stalled, &mut garbage] {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server closes such connections");
    }
    let head = over_tls(srv.addr, &pem, "localhost", "/healthz")
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    srv.stop().await;
}

#[tokio::test]
async fn a_configured_certificate_is_used_and_bad_files_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["peerbox.test".into()]).unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let (c2, k2) = (cert.clone(), key.clone());
    let srv = TestServer::start_with(move |c| {
        c.server.tls.enabled = true;
        c.server.tls.cert_file = Some(c2);
        c.server.tls.key_file = Some(k2);
    })
    .await;
    let head = over_tls(
        srv.addr,
        ck.cert.pem().as_bytes(),
        "peerbox.test",
        "/healthz",
    )
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !srv.dirs.path().join("state/tls").exists(),
        "no self-signed one was made"
    );
    srv.stop().await;

    // A key file that holds no key: a clear error naming the file, at start-up.
    std::fs::write(&key, "not a key\n").unwrap();
    let cfg = TlsConfig {
        enabled: true,
        cert_file: Some(cert.clone()),
        key_file: Some(key.clone()),
        ..Default::default()
    };
    let err = tls::load(&cfg, dir.path()).err().expect("refused");
    assert!(err.to_string().contains("k.pem"), "{err}");
    let half = TlsConfig {
        cert_file: Some(cert),
        ..cfg
    };
    assert!(tls::load(&half, dir.path()).is_err());
    let mut config = peerbox::Config::default();
    config.server.tls.key_file = Some(key);
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("server.tls"), "{e}");
}

#[test]
fn the_self_signed_certificate_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TlsConfig {
        enabled: true,
        ..Default::default()
    };
    let first = tls::load(&cfg, dir.path()).unwrap().fingerprint;
    let again = tls::load(&cfg, dir.path()).unwrap().fingerprint;
    assert_eq!(
        first, again,
        "phones that accepted it once keep trusting it"
    );
    assert_eq!(
        first.len(),
        32 * 3 - 1,
        "SHA-256 as colon-separated hex: {first}"
    );
    // A lost key means a new pair, never a certificate without its key.
    std::fs::remove_file(dir.path().join("tls/key.pem")).unwrap();
    let renewed = tls::load(&cfg, dir.path()).unwrap().fingerprint;
    assert_ne!(first, renewed);
}

#[tokio::test]
async fn host_allow_list_stops_dns_rebinding() {
    let srv = TestServer::start_with(|c| c.server.allowed_hosts = vec!["box.lan".into()]).await;
    let port = srv.addr.port();
    for (host, want) in [
        (format!("box.lan:{port}"), "200"),
        (format!("BOX.LAN.:{port}"), "200"),
        (format!("127.0.0.1:{port}"), "200"),
        (format!("[::1]:{port}"), "200"),
        (format!("localhost:{port}"), "200"),
        (format!("evil.example:{port}"), "403"),
        (format!("box.lan.evil.example:{port}"), "403"),
    ] {
        let head = plain(srv.addr, &host, "/").await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {want}")),
            "{host}: {head}"
        );
    }
    // The WebSocket upgrade is behind the same check.
    let ws = plain(srv.addr, "evil.example", "/ws").await;
    assert!(ws.starts_with("HTTP/1.1 403"), "{ws}");
    srv.stop().await;

    // Without a list every name is accepted (the default: LAN names vary).
    let open = TestServer::start().await;
    assert!(plain(open.addr, "anything.example", "/")
        .await
        .starts_with("HTTP/1.1 200"));
    open.stop().await;
}
