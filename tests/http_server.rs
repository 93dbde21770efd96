//! The HTTP side of the foundation against a real listener on an ephemeral port.

mod common;

use std::io::Read;

use common::{get, request, TestServer};

#[tokio::test]
async fn bundle_is_served_with_types_etag_and_security_headers() {
    let srv = TestServer::start().await;
    let res = get(srv.addr, "/", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(res.text().contains("peerbox"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    let csp = res.header("content-security-policy").expect("csp");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("http"), "no external origin in {csp}");
    let etag = res.header("etag").expect("etag").to_owned();

    let css = get(srv.addr, "/app.css", &[]).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let again = get(srv.addr, "/", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let other = get(srv.addr, "/", &[("If-None-Match", "\"something-else\"")]).await;
    assert_eq!(other.status, 200);
    srv.stop().await;
}

/// A browser asks for everything the page names (and `/favicon.ico` when it names no icon); a 404
/// there is an error in every phone's console.
#[tokio::test]
async fn every_file_the_page_names_is_served() {
    let srv = TestServer::start().await;
    let page = get(srv.addr, "/", &[]).await.text();
    let mut named = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for part in page.split(attr).skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            if !target.starts_with('#') && !target.contains(':') {
                named.push(target.to_owned());
            }
        }
    }
    assert!(page.contains("rel=\"icon\""), "the page names its icon");
    assert!(named.len() >= 3, "{named:?}");
    for target in named {
        let res = get(srv.addr, &format!("/{target}"), &[]).await;
        assert_eq!(res.status, 200, "{target}");
        if target.ends_with(".svg") {
            assert_eq!(
                res.header("content-type"),
                Some("image/svg+xml"),
                "{target}"
            );
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn gzip_only_when_the_client_accepts_it() {
    let srv = TestServer::start().await;
    let plain = get(srv.addr, "/", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);

    let zipped = get(srv.addr, "/", &[("Accept-Encoding", "br, gzip;q=0.8")]).await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, plain.body);

    let refused = get(srv.addr, "/", &[("Accept-Encoding", "gzip;q=0")]).await;
    assert_eq!(refused.header("content-encoding"), None);
    srv.stop().await;
}

#[tokio::test]
async fn healthz_reports_status_version_uptime() {
    let srv = TestServer::start().await;
    let res = get(srv.addr, "/healthz", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_secs"].is_u64());
    srv.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_clear_statuses() {
    let srv = TestServer::start().await;
    for path in ["/nope", "/../Cargo.toml", "/.hidden", "/src/lib.rs"] {
        assert_eq!(get(srv.addr, path, &[]).await.status, 404, "{path}");
    }
    let addr = srv.addr;
    let post =
        tokio::task::spawn_blocking(move || request(addr, "POST", "/", &[("Content-Length", "0")]))
            .await
            .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = tokio::task::spawn_blocking(move || request(addr, "HEAD", "/", &[]))
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("content-length").is_some());
    let metrics = get(srv.addr, "/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("peerbox_uptime_seconds"));
    srv.stop().await;
}

#[tokio::test]
async fn web_dir_serves_from_disk_for_ui_work() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><p>dev build</p>",
    )
    .unwrap();
    std::fs::write(web.path().join("app.js"), "export const x = 1;").unwrap();
    let dir = web.path().to_owned();
    let srv = TestServer::start_with(move |c| c.server.web_dir = Some(dir)).await;
    let page = get(srv.addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("dev build"));
    let js = get(srv.addr, "/app.js", &[]).await;
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(get(srv.addr, "/app.css", &[]).await.status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let srv = TestServer::start().await;
    let big = "x".repeat(40 * 1024);
    let res = get(srv.addr, "/", &[("X-Big", &big)]).await;
    assert_eq!(res.status, 431);
    // The daemon is still serving.
    assert_eq!(get(srv.addr, "/healthz", &[]).await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn qr_code_of_a_room_url_as_svg() {
    let srv = TestServer::start().await;
    let res = get(
        srv.addr,
        "/qr.svg?text=http%3A%2F%2F10.0.0.2%3A8080%2F%3Froom%3Dhome",
        &[],
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("image/svg+xml"));
    assert!(res.text().contains("<svg"));
    assert_eq!(get(srv.addr, "/qr.svg", &[]).await.status, 400);
    let long = "a".repeat(600);
    assert_eq!(
        get(srv.addr, &format!("/qr.svg?text={long}"), &[])
            .await
            .status,
        400
    );
    srv.stop().await;
}
