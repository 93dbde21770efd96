//! `/uploads`: HTTP uploads over tus 1.0 ([`super::tus`]), saved through the seeder's incoming
//! store exactly like DataChannel uploads (name checks, quota, free-space reserve, partial files
//! with durable offsets, fsync, BLAKE3 check, no overwrite, resume after a restart).
//!
//! An upload's id is its partial's random key, so the URL is the capability to continue it.
//! Identity, for the quota and for resuming across transports: a `token` in `Upload-Metadata`
//! (the signaling resume token from `welcome`, verified by its MAC) makes the upload belong to
//! that peer name, the identity its DataChannel uploads have; without one it belongs to the
//! client's address (`addr:<ip>`). A forged token is refused (403).
//!
//! Store calls block on disk I/O: each runs on a blocking thread and holds the store's lock
//! only for that call. A PATCH body is written in slices of up to [`SLICE`] bytes; when the
//! body ends before the upload does, or breaks, or stalls for `seeder.stall_timeout_secs`, the
//! upload is parked with its bytes fsynced, so HEAD (and a restarted daemon) report them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::tus::{self, TusError};
use super::{empty, text, Body};
use crate::app::App;
use crate::seeder::incoming::{IncomingStore, StoreError, UploadHandle};

/// Bytes gathered from a PATCH body before one write to the store.
const SLICE: usize = 1 << 20;

type Store = Arc<Mutex<IncomingStore>>;

/// Runs `f` with the store locked, on a blocking thread.
async fn with_store<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&mut IncomingStore) -> T + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await
    .expect("store task panicked")
}

fn tus_response(status: StatusCode, msg: &str) -> Response<Body> {
    let mut res = if msg.is_empty() {
        let mut r = Response::new(empty());
        *r.status_mut() = status;
        r
    } else {
        text(status, msg)
    };
    let h = res.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn refusal(e: TusError) -> Response<Body> {
    let mut res = tus_response(e.status, &e.message);
    if e.status == StatusCode::PRECONDITION_FAILED {
        res.headers_mut()
            .insert("tus-version", HeaderValue::from_static(tus::VERSION));
    }
    res
}

fn store_refusal(e: &StoreError) -> Response<Body> {
    let status = tus::status_of(e.code());
    let mut res = tus_response(status, &e.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    res
}

fn with_offset(mut res: Response<Body>, offset: u64) -> Response<Body> {
    res.headers_mut()
        .insert("upload-offset", HeaderValue::from(offset));
    res
}

/// Handles every request under `/uploads`.
pub async fn handle(app: &App, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let store = match app.incoming.get() {
        Some(s) if app.config.server.http_transfers != crate::config::HttpTransfers::Off => {
            s.clone()
        }
        _ => return text(StatusCode::NOT_FOUND, "HTTP uploads are off"),
    };
    let h = req.headers();
    // A page on another site must not push files into this box (CORS preflights are not
    // answered either, so browsers would stop it anyway).
    let origin = h.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    if !crate::signal::origin_allowed(origin, host, &[]) {
        return text(
            StatusCode::FORBIDDEN,
            "uploads from this Origin are refused",
        );
    }
    let path = req.uri().path().to_owned();
    if path == tus::PATH || path == "/uploads/" {
        return match *req.method() {
            Method::OPTIONS => options(app),
            Method::POST => create(app, &store, peer, &req).await,
            _ => allow(
                tus_response(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
                "OPTIONS, POST",
            ),
        };
    }
    let Some(key) = tus::key_of(&path).map(str::to_owned) else {
        return tus_response(StatusCode::NOT_FOUND, "no such upload");
    };
    match *req.method() {
        Method::OPTIONS => options(app),
        Method::HEAD => head(&store, &key, &req).await,
        Method::PATCH => patch(app, &store, key, req).await,
        Method::DELETE => terminate(&store, key, &req).await,
        _ => allow(
            tus_response(StatusCode::METHOD_NOT_ALLOWED, "use HEAD, PATCH or DELETE"),
            "OPTIONS, HEAD, PATCH, DELETE",
        ),
    }
}

fn allow(mut res: Response<Body>, methods: &'static str) -> Response<Body> {
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(methods));
    res
}

fn options(app: &App) -> Response<Body> {
    let mut res = tus_response(StatusCode::NO_CONTENT, "");
    let h = res.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(tus::VERSION));
    h.insert("tus-extension", HeaderValue::from_static(tus::EXTENSIONS));
    h.insert(
        "tus-max-size",
        HeaderValue::from(app.config.seeder.max_upload_bytes),
    );
    res
}

async fn create(
    app: &App,
    store: &Store,
    peer: SocketAddr,
    req: &Request<Incoming>,
) -> Response<Body> {
    let c = match tus::parse_creation(req.headers()) {
        Ok(c) => c,
        Err(e) => return refusal(e),
    };
    let owner = match &c.token {
        Some(t) => match app.signal.name_of_token(t) {
            Some(name) => name,
            None => {
                return tus_response(
                    StatusCode::FORBIDDEN,
                    "the token in Upload-Metadata was not issued by this peerbox",
                )
            }
        },
        None => format!("addr:{}", peer.ip()),
    };
    let created = with_store(store, move |s| {
        let (h, offset) = s.begin(
            &owner,
            &c.name,
            c.folder.as_deref(),
            c.length,
            c.hash.as_deref(),
        )?;
        let key = s.key(h).unwrap_or_default().to_owned();
        // Nothing is written until a PATCH comes: park it with its (durable) offset.
        s.suspend(h);
        Ok::<_, StoreError>((key, offset))
    })
    .await;
    match created {
        Ok((key, offset)) => {
            tracing::info!(%peer, %key, offset, "HTTP upload created");
            let mut res = with_offset(tus_response(StatusCode::CREATED, ""), offset);
            let location = format!("{}/{key}", tus::PATH);
            if let Ok(v) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Err(e) => {
            tracing::info!(%peer, error = %e, "HTTP upload refused");
            store_refusal(&e)
        }
    }
}

async fn head(store: &Store, key: &str, req: &Request<Incoming>) -> Response<Body> {
    if let Err(e) = tus::check_resumable(req.headers()) {
        return refusal(e);
    }
    let key = key.to_owned();
    match with_store(store, move |s| s.status(&key)).await {
        None => tus_response(StatusCode::NOT_FOUND, ""),
        Some(st) => {
            let mut res = with_offset(tus_response(StatusCode::OK, ""), st.offset);
            res.headers_mut()
                .insert("upload-length", HeaderValue::from(st.size));
            res
        }
    }
}

async fn terminate(store: &Store, key: String, req: &Request<Incoming>) -> Response<Body> {
    if let Err(e) = tus::check_resumable(req.headers()) {
        return refusal(e);
    }
    match with_store(store, move |s| s.remove_parked(&key)).await {
        Ok(()) => tus_response(StatusCode::NO_CONTENT, ""),
        Err(e) if e.code() == crate::seeder::protocol::Code::Busy => {
            tus_response(StatusCode::LOCKED, "this upload is being written")
        }
        Err(e) => store_refusal(&e),
    }
}

/// Parks the upload (bytes fsynced, durable offset recorded) if the PATCH ends any other way
/// than through `finish`: the client went away and hyper dropped this request's future.
struct Writing {
    store: Store,
    handle: Option<UploadHandle>,
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                store.lock().unwrap_or_else(|p| p.into_inner()).suspend(h);
            });
        }
    }
}

async fn patch(app: &App, store: &Store, key: String, req: Request<Incoming>) -> Response<Body> {
    let p = match tus::parse_patch(req.headers()) {
        Ok(p) => p,
        Err(e) => return refusal(e),
    };
    let k = key.clone();
    let Some(st) = with_store(store, move |s| s.status(&k)).await else {
        return tus_response(StatusCode::NOT_FOUND, "no such upload");
    };
    if st.active {
        return tus_response(StatusCode::LOCKED, "this upload is being written");
    }
    if p.offset != st.offset {
        let msg = format!("Upload-Offset {} does not match {}", p.offset, st.offset);
        return with_offset(tus_response(StatusCode::CONFLICT, &msg), st.offset);
    }
    if p.content_length.is_some_and(|n| n > st.size - st.offset) {
        return tus_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body goes past Upload-Length",
        );
    }
    let (h, offset) = match with_store(store, move |s| s.resume(&key)).await {
        Ok(pair) => pair,
        Err(e) => return store_refusal(&e),
    };
    let mut writing = Writing {
        store: store.clone(),
        handle: Some(h),
    };
    let stall = Duration::from_secs(app.config.seeder.stall_timeout_secs);
    let mut body = req.into_body();
    let mut at = offset;
    let mut buf: Vec<u8> = Vec::with_capacity(SLICE);
    let mut ended = false;
    let mut broke: Option<StatusCode> = None;
    while !ended {
        let next = tokio::select! {
            f = tokio::time::timeout(stall, body.frame()) => f,
            // Shutting down: park what arrived (fsynced) instead of waiting for the whole body.
            () = app.shutdown.cancelled() => {
                broke = Some(StatusCode::SERVICE_UNAVAILABLE);
                Ok(None)
            }
        };
        match next {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Ok(None) => ended = true,
            Ok(Some(Err(_))) => broke = Some(StatusCode::BAD_REQUEST),
            Err(_) => broke = Some(StatusCode::REQUEST_TIMEOUT),
        }
        if broke.is_some() {
            ended = true;
        }
        if buf.len() >= SLICE || (ended && !buf.is_empty()) {
            let data = std::mem::replace(&mut buf, Vec::with_capacity(SLICE));
            let n = data.len() as u64;
            let wrote = with_store(store, move |s| {
                let r = s.write(h, at, &data);
                if r.is_err() {
                    s.discard(h);
                }
                r
            })
            .await;
            if let Err(e) = wrote {
                writing.handle = None;
                return store_refusal(&e);
            }
            at += n;
        }
    }
    if let Some(status) = broke {
        // The client stopped sending (or the daemon is stopping): keep what arrived, fsynced,
        // for a resume.
        writing.handle = None;
        with_store(store, move |s| s.suspend(h)).await;
        return tus_response(status, "the request body broke off; HEAD for the offset");
    }
    writing.handle = None;
    if at == st.size {
        return match with_store(store, move |s| s.finish(h, None)).await {
            Ok(name) => {
                tracing::info!(%name, bytes = st.size, "HTTP upload saved");
                let mut res = with_offset(tus_response(StatusCode::NO_CONTENT, ""), at);
                if let Ok(v) = HeaderValue::from_str(&super::files::percent_encode(&name)) {
                    res.headers_mut().insert("peerbox-saved-as", v);
                }
                res
            }
            Err(e) => store_refusal(&e),
        };
    }
    with_store(store, move |s| s.suspend(h)).await;
    with_offset(tus_response(StatusCode::NO_CONTENT, ""), at)
}
