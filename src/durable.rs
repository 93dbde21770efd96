//! Replacing a small state file so that a crash leaves either the old or the new content,
//! never a torn one: write a temp file beside it, fsync, rename over, fsync the directory.
//! Used for the hash cache, the resume-token key and the generated TLS certificate.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Atomically replaces `path` with `data`. `mode` applies when the file is created (the
/// process umask still masks it), so secrets can be born private.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_with(path, mode, |w| w.write_all(data))
}

/// Like [`write_atomic`], with the content written by `fill` (through a buffer), so a large file
/// never needs to be held in memory whole.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    let mut buf = std::io::BufWriter::with_capacity(64 << 10, &mut f);
    fill(&mut buf)?;
    buf.flush()?;
    drop(buf);
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
