//! `GET /files/<id>` against a real daemon: the seeder's catalog served over plain HTTP, with
//! Range, HEAD, ETag, and refusals for unknown and changed files.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use common::{get, random_bytes, request, TestServer};

const SIZE: usize = 3 * 1024 * 1024 + 17;

/// A daemon whose share folder holds `a.bin` and `b.bin` from before it started (already
/// settled, so hashed at once). File events are debounced for a minute, so a change made by
/// the test is seen by the HTTP handler's own check before the catalog reacts to it.
async fn server(data: &[u8], tweak: impl FnOnce(&mut peerbox::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        c.watch.debounce_ms = 60_000;
        c.watch.rescan_secs = 0;
        std::fs::create_dir_all(&c.storage.share_dir).unwrap();
        for name in ["a.bin", "b.bin"] {
            let path = c.storage.share_dir.join(name);
            std::fs::write(&path, data).unwrap();
            let old = SystemTime::now() - Duration::from_secs(3600);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        tweak(c);
    })
    .await
}

/// Waits until the file is hashed and served.
async fn ready(srv: &TestServer, id: &str) {
    for _ in 0..200 {
        if get(srv.addr, &format!("/files/{id}"), &[("Range", "bytes=0-0")])
            .await
            .status
            == 206
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("file {id} never became available");
}

#[tokio::test]
async fn full_range_head_and_refusals() {
    let data = random_bytes(SIZE);
    let srv = server(&data, |_| {}).await;
    let id = peerbox::watch::entry_id("a.bin");
    ready(&srv, &id).await;
    let etag = format!("\"{}\"", blake3::hash(&data).to_hex());

    let full = get(srv.addr, &format!("/files/{id}"), &[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(
        full.header("content-length"),
        Some(SIZE.to_string().as_str())
    );
    assert_eq!(full.header("etag"), Some(etag.as_str()));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert!(full
        .header("content-disposition")
        .unwrap()
        .contains("a.bin"));
    assert!(full.body == data, "whole file differs");

    let part = get(
        srv.addr,
        &format!("/files/{id}"),
        &[("Range", "bytes=1000-2999")],
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-2999/{SIZE}").as_str())
    );
    assert!(part.body == data[1000..3000]);

    let tail = get(srv.addr, &format!("/files/{id}"), &[("Range", "bytes=-10")]).await;
    assert_eq!(tail.status, 206);
    assert!(tail.body == data[SIZE - 10..]);

    // A stale If-Range gets the whole file; the current ETag gets the range.
    let stale = get(
        srv.addr,
        &format!("/files/{id}"),
        &[("Range", "bytes=0-9"), ("If-Range", "\"0000\"")],
    )
    .await;
    assert_eq!(stale.status, 200);
    let fresh = get(
        srv.addr,
        &format!("/files/{id}"),
        &[("Range", "bytes=0-9"), ("If-Range", etag.as_str())],
    )
    .await;
    assert_eq!(fresh.status, 206);

    let beyond = get(
        srv.addr,
        &format!("/files/{id}"),
        &[("Range", &format!("bytes={SIZE}-"))],
    )
    .await;
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{SIZE}").as_str())
    );

    let cached = get(
        srv.addr,
        &format!("/files/{id}"),
        &[("If-None-Match", etag.as_str())],
    )
    .await;
    assert_eq!(cached.status, 304);

    let addr = srv.addr;
    let path = format!("/files/{id}");
    let head = tokio::task::spawn_blocking(move || request(addr, "HEAD", &path, &[]))
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(SIZE.to_string().as_str())
    );
    assert!(head.body.is_empty());

    assert_eq!(get(srv.addr, "/files/nope", &[]).await.status, 404);

    // /metrics counts the bodies: ranges as 206, and every byte handed out.
    let m = get(srv.addr, "/metrics", &[]).await.text();
    let value = |name: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert!(value("peerbox_http_file_responses_total{status=\"206\"}") >= 3.0);
    assert!(value("peerbox_http_file_responses_total{status=\"200\"}") >= 2.0);
    assert!(value("peerbox_http_file_bytes_total") >= SIZE as f64);

    // Changed since hashing: refused, never served under the old hash; gone: 410.
    let b = peerbox::watch::entry_id("b.bin");
    ready(&srv, &b).await;
    std::fs::write(srv.dirs.path().join("share/b.bin"), b"edited").unwrap();
    assert_eq!(get(srv.addr, &format!("/files/{b}"), &[]).await.status, 409);
    std::fs::remove_file(srv.dirs.path().join("share/a.bin")).unwrap();
    assert_eq!(
        get(srv.addr, &format!("/files/{id}"), &[]).await.status,
        410
    );
    srv.stop().await;
}

#[tokio::test]
async fn can_be_turned_off() {
    let data = random_bytes(1000);
    let srv = server(&data, |c| c.server.http_downloads = false).await;
    let id = peerbox::watch::entry_id("a.bin");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(srv.addr, &format!("/files/{id}"), &[]).await.status,
        404
    );
    srv.stop().await;
}
