//! The one HTTP port: web bundle, health, metrics, and the `/ws` signaling upgrade.

pub mod archive;
pub mod bundle;
pub mod conn;
pub mod files;
mod guard;
pub mod thumbs;
pub mod tls;
pub mod tus;
pub mod uploads;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use guard::{host_refused, https_redirect};

/// A response body. Its error ends the response as an abort (the connection is closed without
/// a clean ending), which is how a streamed body that cannot go on tells the client.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Same-origin only: no CDN, no fonts, no frames. `wasm-unsafe-eval` lets the hash worker run
/// WebAssembly; `blob:` covers downloads the client assembles itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
worker-src 'self' blob:; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A response with a plain-text body and the headers every response carries.
pub fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut body = msg.into();
    body.push('\n');
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut res = Response::new(full(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Entry point for every request on the port.
pub async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    secure: bool,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let mut res = if let Some(refused) = host_refused(&app, &req) {
        refused
    } else if let Some(redirect) = https_redirect(&app, secure, &req) {
        redirect
    } else if path == "/ws" {
        app.signal.upgrade(&app, peer, req).await
    } else if path == "/share-target" && req.method() == Method::POST {
        // Files shared to the installed app are taken by its service worker; this POST got
        // through without one (plain http, or not installed): the page explains.
        let mut res = text(StatusCode::SEE_OTHER, "see /?share=nosw");
        res.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/?share=nosw"));
        res
    } else if path == tus::PATH || path.starts_with("/uploads/") {
        uploads::handle(&app, peer, req).await
    } else {
        match *req.method() {
            Method::GET | Method::HEAD => get(&app, &req, &path).await,
            _ => {
                let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                res
            }
        }
    };
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(res)
}

async fn get(app: &App, req: &Request<Incoming>, path: &str) -> Response<Body> {
    match path {
        "/healthz" => json(
            StatusCode::OK,
            &serde_json::json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_secs": app.started.elapsed().as_secs(),
            }),
        ),
        "/qr.svg" => qr_svg(req.uri().query().unwrap_or("")),
        "/client.json" => json(StatusCode::OK, &client_settings(app)),
        "/catalog.json" => files::catalog(app, req),
        "/archive" => {
            let s = &app.config.server;
            let catalog = app.catalog.get().filter(|_| s.http_downloads);
            archive::serve(catalog, &app.archives, s.max_folder_downloads, req)
        }
        p if p.starts_with("/files/") => files::serve(app, req, p).await,
        p if p.starts_with("/thumbs/") => thumbs::serve(app, req, p).await,
        "/metrics" => {
            let mut res = Response::new(full(metrics(app)));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        }
        _ => match app.bundle.get(path).await {
            Some(asset) => serve_asset(req, &asset),
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

fn serve_asset(req: &Request<Incoming>, asset: &bundle::Asset) -> Response<Body> {
    let etag = HeaderValue::from_str(&asset.etag).expect("hex etag is a valid header");
    let not_modified = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == asset.etag || t == "*");
    let mut res = if not_modified {
        let mut res = Response::new(empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let body = match &asset.gzip {
            Some(z) if accepts_gzip(req) => {
                let mut res = Response::new(z.clone());
                res.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                res
            }
            _ => Response::new(asset.body.clone()),
        };
        let (mut parts, bytes) = body.into_parts();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&asset.content_type).expect("mime is a valid header"),
        );
        let body = if req.method() == Method::HEAD {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            empty()
        } else {
            full(bytes)
        };
        Response::from_parts(parts, body)
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag);
    // Files keep their names across releases, so browsers revalidate every time (a cheap 304).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    res
}

/// True when `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// What the web client needs to know before it moves files: whether and when it may use plain
/// HTTP with this box (`server.http_transfers`), and where.
fn client_settings(app: &App) -> serde_json::Value {
    let s = &app.config.server;
    let on = s.http_transfers != crate::config::HttpTransfers::Off;
    serde_json::json!({
        "http_transfers": s.http_transfers,
        "http_downloads": on && s.http_downloads && app.catalog.get().is_some(),
        "http_uploads": on && app.incoming.get().is_some(),
        "uploads_url": tus::PATH,
        // What the file list offers besides transfers: viewing images, audio and video from
        // `/files/<id>`, thumbnails, folders as one zip. Plain HTTP reads, whatever
        // `http_transfers` says.
        "previews": s.http_downloads && app.catalog.get().is_some(),
        "thumbnails": s.http_downloads && app.thumbs.enabled(),
        "folder_downloads": s.http_downloads && s.max_folder_downloads > 0,
        // The rooms the seeder is in: the page lists the server's files before its WebRTC link
        // is up only there.
        "seeder_rooms": app.seeder_rooms.get().map(|r| r.borrow().clone()).unwrap_or_default(),
    })
}

/// Longest text `/qr.svg` encodes; a room URL is far shorter.
const MAX_QR_TEXT: usize = 512;

/// `GET /qr.svg?text=<url-encoded>`: the web client's "bring another phone in" code, drawn by
/// the same encoder as the terminal banner so the page needs no QR library.
fn qr_svg(query: &str) -> Response<Body> {
    let wanted = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "text")
        .map(|(_, v)| v.into_owned());
    let Some(wanted) = wanted.filter(|t| !t.is_empty() && t.len() <= MAX_QR_TEXT) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("qr.svg needs ?text= with 1 to {MAX_QR_TEXT} bytes of UTF-8"),
        );
    };
    let Ok(code) = qrcode::QrCode::new(wanted.as_bytes()) else {
        return text(StatusCode::BAD_REQUEST, "text does not fit in a QR code");
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    let mut res = Response::new(full(svg));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    res
}

/// Prometheus text exposition of every module's counters.
fn metrics(app: &App) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP peerbox_uptime_seconds Seconds since the daemon started.\n\
         # TYPE peerbox_uptime_seconds gauge\npeerbox_uptime_seconds {}",
        app.started.elapsed().as_secs()
    );
    let _ = writeln!(
        out,
        "# HELP peerbox_http_connections Open HTTP connections.\n\
         # TYPE peerbox_http_connections gauge\npeerbox_http_connections {}",
        app.http_connections.load(Ordering::Relaxed)
    );
    // Tasks alive in the runtime (connections, sessions, transfers, timers): the soak test
    // watches this for leaks.
    let _ = writeln!(
        out,
        "# HELP peerbox_runtime_alive_tasks Tasks alive in the async runtime.\n\
         # TYPE peerbox_runtime_alive_tasks gauge\npeerbox_runtime_alive_tasks {}",
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    );
    app.signal.render_metrics(&mut out);
    app.metrics.render(&mut out);
    out
}
