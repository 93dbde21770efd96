//! `GET /archive?folder=<path>`: a shared folder as one zip file, streamed as it is built.
//!
//! Phones open zip files natively, so a folder goes out as one: entries *stored* (photos and
//! videos do not compress, and a Pi should not spend its CPU trying), each followed by a data
//! descriptor (CRC-32 and sizes are known only once its bytes went out), zip64 records for
//! files of 4 GiB and more. The `zip` crate writes the format; this module feeds it the catalog's
//! entries from a blocking thread into a small bounded queue, so memory stays at a few chunks
//! whatever the folder's size and nothing is staged on disk.
//!
//! Only files the catalog offers go in, exactly as `/files/<id>` would serve them: a file that
//! changed since it was hashed, or shrinks while it is read, aborts the response (the
//! connection closes without a clean ending), so a client never gets a zip that looks whole
//! but holds other bytes than the catalog's. `server.max_folder_downloads` archives stream at
//! once (each holds one reader thread); more get `503`.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;

use super::{empty, text, Body};
use crate::watch::{Catalog, Entry};
use std::sync::Arc as Shared;

/// Bytes gathered before one body frame.
const CHUNK: usize = 256 << 10;
/// Frames queued ahead of the socket.
const QUEUE: usize = 4;
/// Entries at or above this size get zip64 records (the 32-bit fields end just below 4 GiB).
const ZIP64_AT: u64 = 0xFFFF_FFFF;

/// Counts archives streaming now, against `server.max_folder_downloads`.
#[derive(Default)]
pub struct Archives {
    running: Arc<AtomicUsize>,
}

/// One slot of [`Archives`], given back when the archive's thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Archives {
    fn take(&self, max: usize) -> Option<Slot> {
        let taken = self
            .running
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(self.running.clone()))
    }
}

/// The files of `folder` ('/'-separated, as in the catalog; empty = everything), sorted by path.
pub fn entries_of(catalog: &Catalog, folder: &str) -> Vec<Shared<Entry>> {
    let snap = catalog.snapshot();
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut files: Vec<Shared<Entry>> = snap
        .entries
        .values()
        .filter(|e| e.path.starts_with(&prefix))
        .cloned()
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Serves `/archive?folder=...`.
pub fn serve(
    catalog: Option<&Catalog>,
    archives: &Archives,
    max: usize,
    req: &Request<Incoming>,
) -> Response<Body> {
    let Some(catalog) = catalog.filter(|_| max > 0) else {
        return text(StatusCode::NOT_FOUND, "folder downloads are off");
    };
    let folder = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "folder")
        .map(|(_, v)| v.trim_matches('/').to_owned())
        .unwrap_or_default();
    let files = entries_of(catalog, &folder);
    if files.is_empty() {
        return text(
            StatusCode::NOT_FOUND,
            "no such folder, or it holds no files",
        );
    }
    // The archive unpacks into one folder named like the one asked for.
    let base = folder.rsplit('/').next().filter(|b| !b.is_empty());
    let base = base.unwrap_or("peerbox").to_owned();
    let body = if req.method() == Method::HEAD {
        empty()
    } else {
        let Some(slot) = archives.take(max) else {
            let mut res = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many folder downloads at once; try again shortly",
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return res;
        };
        stream(files, folder, base.clone(), slot)
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!(
        "attachment; filename*=UTF-8''{}.zip",
        super::files::percent_encode(&base)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// Builds the archive on a blocking thread; its bytes (or the error that ended it) go into a
/// bounded queue that the response body drains.
fn stream(files: Vec<Shared<Entry>>, folder: String, base: String, slot: Slot) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let out = QueueWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_zip(out, &files, &folder, &base, ZIP64_AT) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                tracing::warn!(%folder, error = %e, "folder download aborted");
            }
            let _ = tx.blocking_send(Err(e));
        }
    });
    QueueBody { rx }.boxed()
}

/// Writes the zip of `files` (all under `folder`) into `out`, entries named `base/<rest>`.
pub fn write_zip<W: Write>(
    out: W,
    files: &[Shared<Entry>],
    folder: &str,
    base: &str,
    zip64_at: u64,
) -> io::Result<W> {
    let mut zip = zip::ZipWriter::new_stream(out);
    let skip = if folder.is_empty() {
        0
    } else {
        folder.len() + 1
    };
    for entry in files {
        let name = format!("{base}/{}", &entry.path[skip..]);
        let mut options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(0o644)
            .large_file(entry.size() >= zip64_at);
        if let Some(t) = zip_time(entry.mtime_ms()) {
            options = options.last_modified_time(t);
        }
        let mut file = std::fs::File::open(entry.real())?;
        if !entry.still_matches(&file.metadata()?) {
            return Err(io::Error::other(format!(
                "{} changed since it was hashed",
                entry.path
            )));
        }
        zip.start_file(name, options).map_err(io::Error::other)?;
        let copied = io::copy(&mut (&mut file).take(entry.size()), &mut zip)?;
        if copied != entry.size() {
            return Err(io::Error::other(format!(
                "{} shrank while it was read",
                entry.path
            )));
        }
    }
    let mut out = zip.finish().map_err(io::Error::other)?.into_inner();
    out.flush()?;
    Ok(out)
}

/// The entry's time for the zip header (local time is unknown here: UTC), if representable.
fn zip_time(mtime_ms: u64) -> Option<zip::DateTime> {
    let secs = i64::try_from(mtime_ms / 1000).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    zip::DateTime::try_from(t).ok()
}

/// A `Write` into the body's queue, in frames of [`CHUNK`] bytes; `BrokenPipe` once the client
/// went away.
struct QueueWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl QueueWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let frame = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(frame)))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for QueueWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

struct QueueBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl hyper::body::Body for QueueBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn entry(dir: &std::path::Path, path: &str, data: &[u8]) -> Shared<Entry> {
        let real = dir.join(path.replace('/', "_"));
        std::fs::write(&real, data).unwrap();
        let meta = std::fs::metadata(&real).unwrap();
        let stat = crate::watch::Stat::of(&meta);
        Shared::new(Entry::new(path, stat, blake3::hash(data), &real))
    }

    fn read_back(zip: Vec<u8>) -> Vec<(String, Vec<u8>, bool)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                assert_eq!(f.compression(), zip::CompressionMethod::Stored);
                let mut data = Vec::new();
                f.read_to_end(&mut data).unwrap();
                (f.name().to_owned(), data, f.is_file())
            })
            .collect()
    }

    #[test]
    fn a_folder_goes_out_stored_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            entry(dir.path(), "trip/day 1/a.jpg", b"first"),
            entry(dir.path(), "trip/b\u{fc}.txt", &[7u8; 70_000]),
            entry(dir.path(), "trip/empty", b""),
        ];
        let out = write_zip(Vec::new(), &files, "trip", "trip", ZIP64_AT).unwrap();
        let got = read_back(out);
        let names: Vec<_> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            names,
            ["trip/day 1/a.jpg", "trip/b\u{fc}.txt", "trip/empty"]
        );
        assert_eq!(got[1].1, vec![7u8; 70_000]);
        assert_eq!(got[0].1, b"first");
    }

    #[test]
    fn zip64_records_read_back() {
        // Threshold lowered so small files take the zip64 path the 4 GiB ones take.
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            entry(dir.path(), "a/x", b"zip64 entry"),
            entry(dir.path(), "a/y", b"y"),
        ];
        let out = write_zip(Vec::new(), &files, "a", "a", 1).unwrap();
        let got = read_back(out);
        assert_eq!(got[0].1, b"zip64 entry");
        assert_eq!(got[1].1, b"y");
    }

    #[test]
    fn a_file_changed_since_hashing_aborts_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![entry(dir.path(), "a/x", b"original")];
        std::fs::write(files[0].real(), b"edited in place, longer").unwrap();
        let err = write_zip(Vec::new(), &files, "a", "a", ZIP64_AT).unwrap_err();
        assert!(
            err.to_string().contains("changed since it was hashed"),
            "{err}"
        );
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let a = Archives::default();
        let one = a.take(2).unwrap();
        let _two = a.take(2).unwrap();
        assert!(a.take(2).is_none());
        drop(one);
        assert!(a.take(2).is_some());
    }
}
