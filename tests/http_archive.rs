//! `GET /archive?folder=`: a shared folder as one streamed zip, against a real daemon. The zip
//! is read back with the `zip` crate's reader (a real implementation of the format) and must
//! hold the same tree and bytes; a file edited after hashing aborts the response instead of
//! ending it cleanly.

mod common;

use std::io::{Cursor, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{get, random_bytes, wait_offered, write_settled, TestServer};

/// The tree in the share folder: (path, size).
const TREE: &[(&str, usize)] = &[
    ("trip/day 1/beach.jpg", 1_500_000),
    ("trip/day 1/notes \u{fc}.txt", 10),
    ("trip/day 2/empty.bin", 0),
    ("trip/map.png", 300_000),
    ("other/x.bin", 5),
];

async fn server(tweak: impl FnOnce(&mut peerbox::Config)) -> (TestServer, Vec<Vec<u8>>) {
    let data: Vec<Vec<u8>> = TREE.iter().map(|(_, n)| random_bytes(*n)).collect();
    let d = data.clone();
    let srv = TestServer::start_with(move |c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        c.watch.debounce_ms = 60_000;
        c.watch.rescan_secs = 0;
        for ((path, _), bytes) in TREE.iter().zip(&d) {
            write_settled(&c.storage.share_dir.join(path), bytes);
        }
        tweak(c);
    })
    .await;
    // Every file hashed and offered.
    wait_offered(srv.addr, TREE.len()).await;
    (srv, data)
}

fn unzip(body: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(body)).expect("a readable zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_owned(), data)
        })
        .collect()
}

#[tokio::test]
async fn a_folder_downloads_as_one_zip_with_its_tree() {
    let (srv, data) = server(|_| {}).await;
    let res = get(srv.addr, "/archive?folder=trip", &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/zip"));
    assert_eq!(
        res.header("content-disposition"),
        Some("attachment; filename*=UTF-8''trip.zip")
    );
    // Streamed as it is built: no length known up front.
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    let got = unzip(res.body);
    let want: Vec<(String, Vec<u8>)> = TREE
        .iter()
        .zip(&data)
        .filter(|((p, _), _)| p.starts_with("trip/"))
        .map(|((p, _), d)| (p.to_string(), d.clone()))
        .collect();
    let mut want = want;
    want.sort();
    assert_eq!(got.len(), want.len());
    for ((gn, gd), (wn, wd)) in got.iter().zip(&want) {
        assert_eq!(gn, wn);
        assert!(gd == wd, "{gn} differs");
    }

    // A sub-folder unpacks under its own name; the whole share under "peerbox".
    let sub = unzip(
        get(srv.addr, "/archive?folder=trip%2Fday%201", &[])
            .await
            .body,
    );
    let names: Vec<_> = sub.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["day 1/beach.jpg", "day 1/notes \u{fc}.txt"]);
    let all = unzip(get(srv.addr, "/archive", &[]).await.body);
    assert_eq!(all.len(), TREE.len());
    assert!(all.iter().all(|(n, _)| n.starts_with("peerbox/")));

    // A folder that is not there, or a prefix that is no folder.
    assert_eq!(get(srv.addr, "/archive?folder=nope", &[]).await.status, 404);
    assert_eq!(get(srv.addr, "/archive?folder=tr", &[]).await.status, 404);
    assert_eq!(get(srv.addr, "/archive?folder=..", &[]).await.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn a_file_edited_after_hashing_aborts_the_download() {
    let (srv, _) = server(|_| {}).await;
    std::fs::write(
        srv.dirs.path().join("share/trip/map.png"),
        b"edited in place",
    )
    .unwrap();
    let addr = srv.addr;
    let raw = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req = format!(
            "GET /archive?folder=trip HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        raw
    })
    .await
    .unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    // Bytes of the first files went out, then the connection closed without the last chunk.
    assert!(raw.len() > 100_000, "{} bytes", raw.len());
    assert!(
        !raw.ends_with(b"0\r\n\r\n"),
        "the broken archive ended cleanly"
    );
    srv.stop().await;
}

#[tokio::test]
async fn folder_downloads_can_be_turned_off() {
    let (srv, _) = server(|c| c.server.max_folder_downloads = 0).await;
    assert_eq!(get(srv.addr, "/archive?folder=trip", &[]).await.status, 404);
    srv.stop().await;
}
