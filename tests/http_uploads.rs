//! `/uploads` (tus 1.0) against a real daemon: uploads land through the incoming store, resume
//! across requests and restarts, and refusals (hostile names, quota, space, hash, forged
//! tokens) come back as clear statuses with nothing written. tests/web/suites/connect.mjs runs
//! tus-js-client against the same routes.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::{parse_response, random_bytes, HttpResponse, TestServer};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One request with a body; `Connection: close`.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    h: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in h {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw, method == "HEAD")
}

async fn call(
    addr: SocketAddr,
    method: &'static str,
    path: String,
    h: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> HttpResponse {
    tokio::task::spawn_blocking(move || {
        let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        send(addr, method, &path, &hs, &body)
    })
    .await
    .unwrap()
}

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");

async fn create(addr: SocketAddr, len: usize, metadata: &str) -> HttpResponse {
    call(
        addr,
        "POST",
        "/uploads".into(),
        vec![
            (TUS.0, TUS.1.into()),
            ("Upload-Length", len.to_string()),
            ("Upload-Metadata", metadata.into()),
        ],
        vec![],
    )
    .await
}

async fn patch(addr: SocketAddr, url: &str, offset: usize, data: &[u8]) -> HttpResponse {
    call(
        addr,
        "PATCH",
        url.into(),
        vec![
            (TUS.0, TUS.1.into()),
            ("Content-Type", "application/offset+octet-stream".into()),
            ("Upload-Offset", offset.to_string()),
        ],
        data.to_vec(),
    )
    .await
}

async fn head(addr: SocketAddr, url: &str) -> HttpResponse {
    call(
        addr,
        "HEAD",
        url.into(),
        vec![(TUS.0, TUS.1.into())],
        vec![],
    )
    .await
}

fn meta(name: &str, data: &[u8]) -> String {
    format!(
        "filename {},blake3 {}",
        b64(name),
        b64(blake3::hash(data).to_hex().as_str())
    )
}

async fn server_in(root: &Path, tweak: impl FnOnce(&mut peerbox::Config)) -> TestServer {
    let root = root.to_owned();
    TestServer::start_with(move |c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        c.storage.share_dir = root.join("share");
        c.storage.incoming_dir = root.join("incoming");
        c.storage.state_dir = root.join("state");
        c.watch.rescan_secs = 0;
        tweak(c);
    })
    .await
}

/// Files in incoming (the hidden partial directory aside) and entries in the partial directory.
fn contents(incoming: &Path) -> (Vec<String>, usize) {
    let mut files: Vec<String> = std::fs::read_dir(incoming)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".peerbox-partial")
        .collect();
    files.sort();
    let partials = std::fs::read_dir(incoming.join(".peerbox-partial"))
        .map(|d| d.count())
        .unwrap_or(0);
    (files, partials)
}

#[tokio::test]
async fn upload_in_parts_resumes_across_a_restart_and_lands_whole() {
    let root = tempfile::tempdir().unwrap();
    let incoming: PathBuf = root.path().join("incoming");
    let data = random_bytes(3 * 1024 * 1024 + 77);
    let srv = server_in(root.path(), |_| {}).await;
    let opts = call(srv.addr, "OPTIONS", "/uploads".into(), vec![], vec![]).await;
    assert_eq!(opts.status, 204);
    assert_eq!(opts.header("tus-extension"), Some("creation,termination"));

    let created = create(srv.addr, data.len(), &meta("report (1).pdf", &data)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let url = created.header("location").unwrap().to_owned();
    assert!(url.starts_with("/uploads/"), "{url}");
    let first = 1024 * 1024 + 5;
    let r = patch(srv.addr, &url, 0, &data[..first]).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some(first.to_string().as_str()));
    // A PATCH at the wrong offset is a conflict that names the right one.
    let r = patch(srv.addr, &url, 0, &data[..10]).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.header("upload-offset"), Some(first.to_string().as_str()));
    srv.stop().await;
    assert_eq!(contents(&incoming).0, Vec::<String>::new());

    // A new daemon on the same folders: the parked partial is found by its URL.
    let srv = server_in(root.path(), |_| {}).await;
    let h = head(srv.addr, &url).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("upload-offset"), Some(first.to_string().as_str()));
    assert_eq!(
        h.header("upload-length"),
        Some(data.len().to_string().as_str())
    );
    let r = patch(srv.addr, &url, first, &data[first..]).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("peerbox-saved-as"), Some("report%20%281%29.pdf"));
    assert_eq!(
        std::fs::read(incoming.join("report (1).pdf")).unwrap(),
        data
    );
    assert_eq!(contents(&incoming), (vec!["report (1).pdf".to_string()], 0));
    assert_eq!(head(srv.addr, &url).await.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn refusals_are_clear_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let incoming = root.path().join("incoming");
    let srv = server_in(root.path(), |c| c.seeder.per_peer_quota_bytes = 1_000_000).await;
    let data = random_bytes(1000);
    for hostile in [
        "../escape.txt",
        "a/b.txt",
        "evil\u{202E}txt.exe",
        "x\ny",
        ".peerbox-partial",
    ] {
        let r = create(srv.addr, data.len(), &meta(hostile, &data)).await;
        assert_eq!(r.status, 400, "{hostile:?}: {}", r.text());
    }
    let r = create(
        srv.addr,
        data.len(),
        &format!("filename {},folder {}", b64("a"), b64("../up")),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = create(srv.addr, 2_000_000, &meta("big.bin", &data)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("quota"), "{}", r.text());
    let r = create(
        srv.addr,
        data.len(),
        &format!("{},token {}", meta("t.bin", &data), b64("6e616d65.00.00")),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Quota counts parked uploads of the same identity: two of 600 kB do not fit in 1 MB.
    let r = create(srv.addr, 600_000, &meta("one.bin", &random_bytes(1))).await;
    assert_eq!(r.status, 201);
    let one = r.header("location").unwrap().to_owned();
    let r = create(srv.addr, 600_000, &meta("two.bin", &random_bytes(2))).await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Termination removes the parked partial.
    let r = call(
        srv.addr,
        "DELETE",
        one.clone(),
        vec![(TUS.0, TUS.1.into())],
        vec![],
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(head(srv.addr, &one).await.status, 404);
    // Content that does not match the declared BLAKE3: 460, nothing saved.
    let r = create(srv.addr, data.len(), &meta("bad.bin", &data)).await;
    let url = r.header("location").unwrap().to_owned();
    let mut other = data.clone();
    other[7] ^= 1;
    let r = patch(srv.addr, &url, 0, &other).await;
    assert_eq!(r.status, 460, "{}", r.text());
    // Protocol errors.
    let r = call(
        srv.addr,
        "POST",
        "/uploads".into(),
        vec![("Upload-Length", "1".into())],
        vec![],
    )
    .await;
    assert_eq!(r.status, 412);
    let r = call(
        srv.addr,
        "PATCH",
        url.clone(),
        vec![(TUS.0, TUS.1.into()), ("Upload-Offset", "0".into())],
        vec![1],
    )
    .await;
    assert_eq!(r.status, 415);
    let r = call(
        srv.addr,
        "POST",
        "/uploads".into(),
        vec![
            (TUS.0, TUS.1.into()),
            ("Upload-Length", "1".into()),
            ("Origin", "http://evil.example".into()),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(contents(&incoming), (Vec::<String>::new(), 0));
    srv.stop().await;

    // No space: nothing is created.
    let srv = server_in(root.path(), |c| {
        c.seeder.free_space_reserve_bytes = u64::MAX / 2
    })
    .await;
    let r = create(srv.addr, data.len(), &meta("full.bin", &data)).await;
    assert_eq!(r.status, 507, "{}", r.text());
    assert_eq!(contents(&incoming), (Vec::<String>::new(), 0));
    srv.stop().await;
}

#[tokio::test]
async fn off_means_no_uploads() {
    let root = tempfile::tempdir().unwrap();
    let srv = server_in(root.path(), |c| {
        c.server.http_transfers = peerbox::config::HttpTransfers::Off
    })
    .await;
    let r = create(srv.addr, 1, &meta("a", b"x")).await;
    assert_eq!(r.status, 404);
    let settings = common::get(srv.addr, "/client.json", &[]).await;
    assert!(
        settings.text().contains(r#""http_transfers":"off""#),
        "{}",
        settings.text()
    );
    srv.stop().await;
}

/// docs/protocol.md, "Saving uploads": names arrive in NFC, and names that differ only in
/// normalization are one name, whichever spelling comes first (the DataChannel side:
/// tests/conformance/names.rs).
#[tokio::test]
async fn unicode_normalization_in_either_order_over_tus() {
    let root = tempfile::tempdir().unwrap();
    let incoming: PathBuf = root.path().join("incoming");
    let srv = server_in(root.path(), |_| {}).await;
    let composed = "caf\u{e9}.txt";
    let decomposed = "cafe\u{301}.txt";
    for (i, (first, second)) in [(composed, decomposed), (decomposed, composed)]
        .into_iter()
        .enumerate()
    {
        let folder = format!("r{i}");
        for (name, want) in [(first, composed), (second, "caf\u{e9} (1).txt")] {
            let data = format!("{i} {name}").into_bytes();
            let m = format!("{},folder {}", meta(name, &data), b64(&folder));
            let created = create(srv.addr, data.len(), &m).await;
            assert_eq!(created.status, 201, "{}", created.text());
            let url = created.header("location").unwrap().to_owned();
            let r = patch(srv.addr, &url, 0, &data).await;
            assert_eq!(r.status, 204, "{}", r.text());
            let saved = incoming.join(&folder).join(want);
            assert_eq!(
                std::fs::read(&saved).unwrap(),
                data,
                "{name:?} saved as {want:?}"
            );
        }
        let (files, _) = contents(&incoming.join(&folder));
        assert_eq!(
            files,
            vec!["caf\u{e9} (1).txt", composed],
            "no twin in {folder}"
        );
    }
    srv.stop().await;
}
