//! Streaming a shared file as chunk frames with bounded read-ahead.
//!
//! Frames are built in place (header + payload in one buffer) from a small pool, so a download
//! costs at most `read_ahead_chunks` frames of memory (64 KiB to 256 KiB each, the link's size). The file must still have its catalog
//! size when opened and must not shrink while read; otherwise the download fails with
//! `changed` instead of sending wrong bytes. The `end` message carries the catalog hash, so a
//! same-size in-place edit is caught by the receiver's verification.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::frame::{self, HEADER_BYTES};
use super::protocol::Code;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("file is gone: {0}")]
    NotFound(std::io::Error),
    #[error("file changed since it was announced ({0})")]
    Changed(String),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

impl DownloadError {
    pub fn code(&self) -> Code {
        match self {
            DownloadError::NotFound(_) => Code::NotFound,
            DownloadError::Changed(_) => Code::Changed,
            DownloadError::Io(_) => Code::Io,
        }
    }
}

/// Reads one file from an offset into ready-to-send frames.
pub struct DownloadReader {
    file: File,
    transfer_id: u32,
    size: u64,
    /// Where this download stops (the file size, or the end of a range).
    end: u64,
    next: u64,
    ready: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    read_ahead: usize,
    /// Whole frame size (header included).
    frame_bytes: usize,
}

impl DownloadReader {
    pub fn open(
        path: &Path,
        size: u64,
        offset: u64,
        transfer_id: u32,
        read_ahead: usize,
        frame_bytes: usize,
    ) -> Result<Self, DownloadError> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DownloadError::NotFound(e),
            _ => DownloadError::Io(e),
        })?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != size {
            return Err(DownloadError::Changed(format!(
                "size is {} instead of {size}",
                meta.len()
            )));
        }
        if offset > size {
            return Err(DownloadError::Changed("offset past the end".into()));
        }
        Ok(Self {
            file,
            transfer_id,
            size,
            end: size,
            next: offset,
            ready: VecDeque::new(),
            pool: Vec::new(),
            read_ahead: read_ahead.max(1),
            frame_bytes: frame_bytes.clamp(HEADER_BYTES + 1, frame::MAX_FRAME_BYTES),
        })
    }

    /// Sends only the bytes below `end` (a range request); never past the file size.
    pub fn until(mut self, end: u64) -> Self {
        self.end = end.min(self.size);
        self
    }

    /// Reads ahead until `read_ahead` frames are ready or the end is reached.
    pub fn fill(&mut self) -> Result<(), DownloadError> {
        while self.ready.len() < self.read_ahead && self.next < self.end {
            let payload = (self.frame_bytes - HEADER_BYTES) as u64;
            let want = (self.end - self.next).min(payload) as usize;
            let mut buf = self
                .pool
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.frame_bytes));
            buf.clear();
            buf.resize(HEADER_BYTES + want, 0);
            frame::write_header(&mut buf, self.transfer_id, self.next);
            let mut got = 0;
            while got < want {
                let n = self
                    .file
                    .read_at(&mut buf[HEADER_BYTES + got..], self.next + got as u64)?;
                if n == 0 {
                    return Err(DownloadError::Changed(format!(
                        "file ends at {} instead of {}",
                        self.next + got as u64,
                        self.size
                    )));
                }
                got += n;
            }
            self.next += want as u64;
            self.ready.push_back(buf);
        }
        Ok(())
    }

    /// The next frame to send, reading ahead as needed; `None` once every byte was handed out.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, DownloadError> {
        if self.ready.is_empty() {
            self.fill()?;
        }
        Ok(self.ready.pop_front())
    }

    /// Returns a sent frame's buffer to the pool.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < self.read_ahead && buf.capacity() >= self.frame_bytes {
            self.pool.push(buf);
        }
    }

    /// Fails with `changed` when the file no longer has its catalog size (checked before `end`,
    /// so a file that grew or shrank during the download is reported, not silently cut).
    pub fn check_unchanged(&self) -> Result<(), DownloadError> {
        let len = self.file.metadata()?.len();
        if len != self.size {
            return Err(DownloadError::Changed(format!(
                "size became {len} instead of {}",
                self.size
            )));
        }
        Ok(())
    }

    /// Whether every byte up to the catalog size was handed out.
    pub fn is_done(&self) -> bool {
        self.ready.is_empty() && self.next >= self.end
    }
}
