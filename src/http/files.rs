//! `GET /files/<id>` and `HEAD`: a shared file over plain HTTP, by the catalog id the seeder
//! advertises.
//!
//! Why: a browser (or `curl`) on the LAN can fetch a file without WebRTC, and the benchmarks
//! compare the WebRTC path against this one from the same daemon. The entry's BLAKE3 hash is
//! the `ETag`, so a client can verify the bytes and resume with `Range` + `If-Range`. A file
//! that changed on disk since it was hashed is refused (409; 410 when it is gone) rather than
//! served under a stale hash. The body streams from a blocking reader thread through a small
//! bounded queue: memory stays at a few chunks whatever the file size. A file truncated while
//! it streams ends the body early, which hyper turns into an aborted response (the length no
//! longer matches), never into wrong bytes under a clean ending.

use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::{empty, text, Body};
use crate::app::App;
use crate::watch::Entry;

/// Figures of `/files/<id>` for `/metrics`: responses by kind and body bytes handed to the
/// connection (a viewer's byte ranges show up here as partial responses).
#[derive(Default)]
pub struct Stats {
    full: AtomicU64,
    partial: AtomicU64,
    bytes: Arc<AtomicU64>,
}

impl crate::metrics::Source for Stats {
    fn render(&self, out: &mut crate::metrics::Exposition) {
        let name = "peerbox_http_file_responses_total";
        out.header(
            name,
            "Responses with a shared file's bytes, by status.",
            "counter",
        );
        out.sample(
            name,
            &[("status", "200")],
            self.full.load(Ordering::Relaxed) as f64,
        );
        out.sample(
            name,
            &[("status", "206")],
            self.partial.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "peerbox_http_file_bytes_total",
            "Bytes of shared files sent over plain HTTP (/files/<id>).",
            self.bytes.load(Ordering::Relaxed),
        );
    }
}

/// Bytes per read and per body frame.
const CHUNK: usize = 256 << 10;
/// Chunks read ahead of the socket.
const QUEUE: usize = 4;

/// Serves `/files/<id>`; `path` is the request path.
pub async fn serve(app: &App, req: &Request<Incoming>, path: &str) -> Response<Body> {
    let id = path.trim_start_matches("/files/");
    let entry = match app.catalog.get() {
        Some(catalog) if app.config.server.http_downloads => catalog.resolve(id),
        _ => None,
    };
    let Some(entry) = entry else {
        return text(StatusCode::NOT_FOUND, "no such file");
    };
    let real = entry.real();
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&real)?;
        let meta = file.metadata()?;
        Ok::<_, std::io::Error>((file, meta))
    })
    .await;
    let (file, meta) = match opened {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return text(StatusCode::GONE, "the file is gone");
        }
        _ => return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file"),
    };
    if !entry.still_matches(&meta) {
        return text(
            StatusCode::CONFLICT,
            "the file changed since it was hashed; try again shortly",
        );
    }
    let etag = format!("\"{}\"", entry.hash);
    if matches_etag(req, header::IF_NONE_MATCH, &etag) {
        let mut res = Response::new(empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        set_common(&mut res, &entry, &etag);
        return res;
    }
    let size = entry.size();
    // If-Range with another validator: the client's partial copy is stale, send it all.
    let if_range_ok = match req.headers().get(header::IF_RANGE) {
        None => true,
        Some(_) => matches_etag(req, header::IF_RANGE, &etag),
    };
    let range = match req.headers().get(header::RANGE) {
        Some(v) if if_range_ok => parse_range(v.to_str().unwrap_or(""), size),
        _ => Range::Full,
    };
    let (status, start, len) = match range {
        Range::Full => (StatusCode::OK, 0, size),
        Range::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Range::Unsatisfiable => {
            let mut res = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            );
            return res;
        }
    };
    let body = if req.method() == Method::HEAD {
        empty()
    } else {
        let stats = &app.file_stats;
        let kind = if status == StatusCode::OK {
            &stats.full
        } else {
            &stats.partial
        };
        kind.fetch_add(1, Ordering::Relaxed);
        stream(file, start, len, stats.bytes.clone())
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    set_common(&mut res, &entry, &etag);
    let h = res.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{size}", start + len - 1);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    res
}

/// `GET /catalog.json`: the entries the seeder offers, for a page whose WebRTC link to the
/// seeder failed (it then downloads with `/files/<id>`). The catalog version is the ETag, so a
/// page that polls it gets a bodiless 304 while nothing changed.
pub fn catalog(app: &App, req: &Request<Incoming>) -> Response<Body> {
    let catalog = match app.catalog.get() {
        Some(c) if app.config.server.http_downloads => c,
        _ => return text(StatusCode::NOT_FOUND, "no catalog over HTTP"),
    };
    let snap = catalog.snapshot();
    let etag = format!("\"v{}\"", snap.version);
    let mut res = if matches_etag(req, header::IF_NONE_MATCH, &etag) {
        let mut res = Response::new(empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let files: Vec<crate::seeder::protocol::FileInfo> =
            snap.entries.values().map(|e| (&**e).into()).collect();
        let body = serde_json::json!({"version": snap.version, "files": files}).to_string();
        let mut res = Response::new(super::full(body));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

fn set_common(res: &mut Response<Body>, entry: &Entry, etag: &str) {
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex etag"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(mime) = HeaderValue::from_str(entry.mime) {
        h.insert(header::CONTENT_TYPE, mime);
    }
    let name = entry.path.rsplit('/').next().unwrap_or("file");
    let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(name));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
}

/// RFC 5987 encoding: everything but unreserved characters as `%XX`.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// True when the header lists `etag` (weak or strong form) or `*`.
fn matches_etag(req: &Request<Incoming>, name: header::HeaderName, etag: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    Full,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range; several ranges or an unreadable header get the whole file (a server may
/// ignore `Range`), a well-formed range outside the file gets 416.
fn parse_range(value: &str, size: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // Suffix: the last N bytes.
        (true, false) => match num(last) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if size > 0 => Range::Part(size.saturating_sub(n), size - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (false, _) => {
            let Some(start) = num(first) else {
                return Range::Full;
            };
            let end = if last.trim().is_empty() {
                Some(u64::MAX)
            } else {
                num(last)
            };
            match end {
                None => Range::Full,
                Some(end) if end < start => Range::Full,
                Some(_) if start >= size => Range::Unsatisfiable,
                Some(end) => Range::Part(start, end.min(size - 1)),
            }
        }
        (true, true) => Range::Full,
    }
}

/// `len` bytes from `start`, read on a blocking thread into a bounded queue.
fn stream(mut file: std::fs::File, start: u64, len: u64, sent: Arc<AtomicU64>) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    tokio::task::spawn_blocking(move || {
        if file.seek(SeekFrom::Start(start)).is_err() {
            return;
        }
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => return, // truncated or unreadable: the body ends short
                Ok(n) => n,
            };
            buf.truncate(n);
            left -= n as u64;
            if tx.blocking_send(Bytes::from(buf)).is_err() {
                return; // the client went away
            }
        }
    });
    FileBody { rx, sent }.boxed()
}

struct FileBody {
    rx: mpsc::Receiver<Bytes>,
    sent: Arc<AtomicU64>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let sent = self.sent.clone();
        self.rx.poll_recv(cx).map(|chunk| {
            chunk.map(|b| {
                sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(Frame::data(b))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), Range::Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Range::Full);
        assert_eq!(parse_range("bytes=9-3", 100), Range::Full);
        assert_eq!(parse_range("items=0-1", 100), Range::Full);
        assert_eq!(parse_range("bytes=x-1", 100), Range::Full);
    }

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(percent_encode("a b\"ü.txt"), "a%20b%22%C3%BC.txt");
    }
}
