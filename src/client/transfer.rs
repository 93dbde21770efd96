//! Downloads and uploads over a [`Client`]: resume from where an earlier attempt stopped, and
//! the BLAKE3 of the whole file checked before anything is called done.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Client, ClientError, Incoming};
use crate::seeder::frame;
use crate::seeder::protocol::{FileInfo, Message};

/// A finished download.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// Bytes received in this call (the file's size minus what a resume started from).
    pub received: u64,
    /// Where the download started: 0, or the bytes already held.
    pub resumed_at: u64,
    /// From the request to the last byte.
    pub elapsed: Duration,
    /// From the request to the first frame.
    pub first_byte: Option<Duration>,
}

/// A finished upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The name the seeder saved it under, relative to its incoming folder.
    pub saved_as: String,
    /// Where the upload started (the seeder's durable offset of an earlier attempt).
    pub resumed_at: u64,
    pub elapsed: Duration,
}

fn io(what: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |e| ClientError::Io(what.display().to_string(), e)
}

/// The partial file [`Client::download`] writes to until it is verified, and resumes from.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

impl Client {
    /// Downloads `file` into `dest`: bytes go to `<dest>.part`, which a later call resumes
    /// from; the whole file's BLAKE3 is checked against the catalog before it is renamed to
    /// `dest`. `progress(bytes held, size)` is called as frames arrive.
    pub async fn download(
        &mut self,
        file: &FileInfo,
        dest: &Path,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Downloaded, ClientError> {
        let part = part_path(dest);
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&part)
            .map_err(io(&part))?;
        let mut held = out.metadata().map_err(io(&part))?.len();
        if held > file.size {
            out.set_len(0).map_err(io(&part))?;
            held = 0;
        }
        // The hash runs over everything held so far, then over what arrives.
        let mut hasher = blake3::Hasher::new();
        out.seek(SeekFrom::Start(0)).map_err(io(&part))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = held;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = out.read(&mut buf[..want]).map_err(io(&part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        let mut result = Ok(());
        let done = self
            .stream(file, held, |data| {
                if result.is_ok() {
                    result = out.write_all(data);
                    hasher.update(data);
                    held += data.len() as u64;
                    progress(held, file.size);
                }
            })
            .await?;
        result.map_err(io(&part))?;
        out.sync_all().map_err(io(&part))?;
        let ours = hasher.finalize().to_hex();
        if ours.as_str() != file.hash {
            // Wrong bytes must never be resumed from: start over next time.
            let _ = std::fs::remove_file(&part);
            return Err(ClientError::Transfer(format!(
                "{}: the received file hashes to {ours}, the catalog says {}",
                file.path, file.hash
            )));
        }
        std::fs::rename(&part, dest).map_err(io(dest))?;
        Ok(done)
    }

    /// Streams all of `file` to `on_data` (a sink other than a file: memory, stdout) and checks
    /// the whole file's BLAKE3 against the catalog.
    pub async fn fetch(
        &mut self,
        file: &FileInfo,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Downloaded, ClientError> {
        let mut hasher = blake3::Hasher::new();
        let done = self
            .stream(file, 0, |d| {
                hasher.update(d);
                on_data(d);
            })
            .await?;
        let ours = hasher.finalize().to_hex();
        if ours.as_str() != file.hash {
            return Err(ClientError::Transfer(format!(
                "{}: the received bytes hash to {ours}, the catalog says {}",
                file.path, file.hash
            )));
        }
        Ok(done)
    }

    /// Requests `file` from byte `offset` and hands each chunk's bytes to `on_data`, in order;
    /// fails unless the frames are contiguous and `end` names the catalog's size and hash
    /// (the caller hashes: it may hold the bytes before `offset`).
    pub async fn stream(
        &mut self,
        file: &FileInfo,
        offset: u64,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Downloaded, ClientError> {
        let id = self.new_transfer_id();
        let start = Instant::now();
        self.send(Message::Download {
            transfer_id: id,
            file_id: file.id.clone(),
            offset,
        })
        .await?;
        let mut next = offset;
        let mut first_byte = None;
        loop {
            match self.next().await? {
                Incoming::Frame(raw) => {
                    let c = frame::decode(&raw)
                        .map_err(|e| ClientError::Transfer(format!("bad frame: {e}")))?;
                    if c.transfer_id != id || c.offset != next {
                        return Err(ClientError::Transfer(format!(
                            "frame of transfer {} at {}, expected {id} at {next}",
                            c.transfer_id, c.offset
                        )));
                    }
                    first_byte.get_or_insert_with(|| start.elapsed());
                    on_data(c.data);
                    next += c.data.len() as u64;
                }
                Incoming::Control(Message::End {
                    transfer_id,
                    size,
                    hash,
                }) if transfer_id == id => {
                    if size != next || size != file.size || hash != file.hash {
                        return Err(ClientError::Transfer(format!(
                            "end says {size} bytes {hash}; received up to {next}, catalog {} {}",
                            file.size, file.hash
                        )));
                    }
                    return Ok(Downloaded {
                        received: next - offset,
                        resumed_at: offset,
                        elapsed: start.elapsed(),
                        first_byte,
                    });
                }
                Incoming::Control(Message::Refuse { code, message, .. }) => {
                    return Err(ClientError::Refused(format!(
                        "{code:?}: {}",
                        message.unwrap_or_default()
                    )));
                }
                Incoming::Control(Message::Error { code, message, .. }) => {
                    return Err(ClientError::Transfer(format!(
                        "{code:?}: {}",
                        message.unwrap_or_default()
                    )));
                }
                Incoming::Control(_) => {}
            }
        }
    }

    /// Uploads the file at `path` to the seeder as `name` (in `folder`, if given). An upload of
    /// the same file (same name, size and hash) under the same name that was cut off earlier
    /// continues from the seeder's durable offset. `progress(bytes confirmed durable, size)`.
    pub async fn upload(
        &mut self,
        path: &Path,
        name: &str,
        folder: Option<&str>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Uploaded, ClientError> {
        let start = Instant::now();
        let mut f = std::fs::File::open(path).map_err(io(path))?;
        let size = f.metadata().map_err(io(path))?.len();
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(&mut f).map_err(io(path))?;
        let hash = hasher.finalize().to_hex().to_string();
        let id = self.new_transfer_id();
        self.send(Message::Offer {
            transfer_id: id,
            name: name.to_owned(),
            size,
            hash: hash.clone(),
            folder: folder.map(str::to_owned),
        })
        .await?;
        let resumed_at = loop {
            match self.next().await? {
                Incoming::Control(Message::Accept {
                    transfer_id,
                    offset,
                }) if transfer_id == id => break offset,
                Incoming::Control(Message::Refuse { code, message, .. }) => {
                    return Err(ClientError::Refused(format!(
                        "{code:?}: {}",
                        message.unwrap_or_default()
                    )));
                }
                _ => {}
            }
        };
        f.seek(SeekFrom::Start(resumed_at)).map_err(io(path))?;
        let mut buf = vec![0u8; self.max_payload()];
        let mut offset = resumed_at;
        while offset < size {
            let n = f.read(&mut buf).map_err(io(path))?;
            if n == 0 {
                return Err(ClientError::Transfer(format!(
                    "{} shrank while sending",
                    path.display()
                )));
            }
            self.send_chunk(id, offset, &buf[..n]).await?;
            offset += n as u64;
            // Durable-progress acks that came in meanwhile.
            while let Some(ev) = self.held.front() {
                if !matches!(
                    ev,
                    crate::seeder::peer::PeerEvent::Message { binary: false, .. }
                ) {
                    break;
                }
                match self.next().await? {
                    Incoming::Control(Message::Progress { offset, .. }) => progress(offset, size),
                    Incoming::Control(Message::Error { code, message, .. }) => {
                        return Err(ClientError::Transfer(format!(
                            "{code:?}: {}",
                            message.unwrap_or_default()
                        )));
                    }
                    _ => {}
                }
            }
        }
        self.send(Message::End {
            transfer_id: id,
            size,
            hash,
        })
        .await?;
        loop {
            match self.next().await? {
                Incoming::Control(Message::Done { transfer_id, name }) if transfer_id == id => {
                    progress(size, size);
                    return Ok(Uploaded {
                        saved_as: name.unwrap_or_default(),
                        resumed_at,
                        elapsed: start.elapsed(),
                    });
                }
                Incoming::Control(Message::Progress { offset, .. }) => progress(offset, size),
                Incoming::Control(Message::Error { code, message, .. }) => {
                    return Err(ClientError::Transfer(format!(
                        "{code:?}: {}",
                        message.unwrap_or_default()
                    )));
                }
                _ => {}
            }
        }
    }
}
