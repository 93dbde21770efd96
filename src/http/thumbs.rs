//! `GET /thumbs/<id>`: a small JPEG of a shared image, for the web client's file list
//! ([`crate::thumbs`] makes and caches it). `404` with a reason for files that get none (the
//! page then shows the file-type icon), `503` when it could not be made in time. The page asks
//! with `?v=<hash>` so a changed image gets a new URL, and browsers may keep the answer a week.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{empty, full, text, Body};
use crate::app::App;
use crate::thumbs::Outcome;

pub async fn serve(app: &App, req: &Request<Incoming>, path: &str) -> Response<Body> {
    let id = path.trim_start_matches("/thumbs/");
    let entry = match app.catalog.get() {
        Some(c) if app.thumbs.enabled() => c.resolve(id),
        _ => None,
    };
    let Some(entry) = entry else {
        return text(StatusCode::NOT_FOUND, "no such file");
    };
    let etag = format!("\"t-{}\"", entry.hash);
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let mut res = if cached {
        let mut res = Response::new(empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        match app.thumbs.get(&entry).await {
            Outcome::Jpeg(jpeg) => {
                let mut res = Response::new(full(jpeg));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
                res
            }
            Outcome::None(why) => return text(StatusCode::NOT_FOUND, why),
            Outcome::Busy => {
                let mut res = text(StatusCode::SERVICE_UNAVAILABLE, "busy making thumbnails");
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                return res;
            }
        }
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=604800"),
    );
    res
}
