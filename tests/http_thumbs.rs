//! `GET /thumbs/<id>` against a real daemon: a JPEG in the share gets a small JPEG made on the
//! first request and cached by content hash in the state directory (the second request is a
//! cache hit); other files and files over the size limit get 404; turned off, 404.

mod common;

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};

use common::{get, wait_offered, write_settled, TestServer};

fn photo(w: u16, h: u16) -> Vec<u8> {
    let px: Vec<u8> = (0..w as usize * h as usize)
        .flat_map(|i| [(i % 251) as u8, 90, 200])
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

async fn server(tweak: impl FnOnce(&mut peerbox::Config)) -> TestServer {
    let srv = TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        c.watch.debounce_ms = 60_000;
        c.watch.rescan_secs = 0;
        let share = c.storage.share_dir.clone();
        write_settled(&share.join("pics/big.jpg"), &photo(1600, 1200));
        write_settled(&share.join("pics/notes.txt"), b"not a picture");
        write_settled(&share.join("pics/fake.jpg"), b"not a JPEG either");
        tweak(c);
    })
    .await;
    wait_offered(srv.addr, 3).await;
    srv
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {name}")) as u64
}

#[tokio::test]
async fn jpegs_get_a_cached_thumbnail_and_other_files_none() {
    let srv = server(|_| {}).await;
    let id = peerbox::watch::entry_id("pics/big.jpg");
    let res = get(srv.addr, &format!("/thumbs/{id}"), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("image/jpeg"));
    let etag = res.header("etag").unwrap().to_owned();
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(&res.body));
    d.decode().expect("the thumbnail is a JPEG");
    let info = d.info().unwrap();
    assert_eq!((info.width, info.height), (256, 192));
    assert!(res.body.len() < 40_000, "{} bytes", res.body.len());

    // Cached on disk, by content hash; the second request is a hit.
    let cached: Vec<_> = std::fs::read_dir(srv.dirs.path().join("state/thumbs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].ends_with("-256.jpg"));
    let again = get(srv.addr, &format!("/thumbs/{id}"), &[]).await;
    assert!(again.status == 200 && again.body == res.body);
    let m = get(srv.addr, "/metrics", &[]).await.text();
    assert_eq!(metric(&m, "peerbox_thumbnails_made_total"), 1);
    assert_eq!(metric(&m, "peerbox_thumbnails_cache_hits_total"), 1);
    let not_modified = get(
        srv.addr,
        &format!("/thumbs/{id}"),
        &[("If-None-Match", etag.as_str())],
    )
    .await;
    assert_eq!(not_modified.status, 304);

    // Not an image, not a decodable JPEG, not offered: 404 with a reason.
    let txt = peerbox::watch::entry_id("pics/notes.txt");
    assert_eq!(
        get(srv.addr, &format!("/thumbs/{txt}"), &[]).await.status,
        404
    );
    let fake = peerbox::watch::entry_id("pics/fake.jpg");
    assert_eq!(
        get(srv.addr, &format!("/thumbs/{fake}"), &[]).await.status,
        404
    );
    assert_eq!(get(srv.addr, "/thumbs/nope", &[]).await.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn large_sources_and_a_turned_off_switch_get_none() {
    let srv = server(|c| c.thumbnails.max_source_bytes = 1000).await;
    let id = peerbox::watch::entry_id("pics/big.jpg");
    let res = get(srv.addr, &format!("/thumbs/{id}"), &[]).await;
    assert_eq!(res.status, 404);
    assert!(res.text().contains("too large"), "{}", res.text());
    srv.stop().await;

    let srv = server(|c| c.thumbnails.enabled = false).await;
    assert_eq!(
        get(srv.addr, &format!("/thumbs/{id}"), &[]).await.status,
        404
    );
    srv.stop().await;
}
