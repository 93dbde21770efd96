//! Free space on the incoming filesystem, for refusing uploads before any byte is written.

use std::os::fd::AsFd;

/// Bytes available to an unprivileged writer on the filesystem holding `fd`.
pub fn available_bytes(fd: impl AsFd) -> std::io::Result<u64> {
    let st = rustix::fs::fstatvfs(fd)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether `wanted` more bytes fit while keeping `reserve` free, given `committed` bytes already
/// promised to other accepted uploads.
pub fn fits(available: u64, reserve: u64, committed: u64, wanted: u64) -> bool {
    available
        .checked_sub(reserve)
        .and_then(|a| a.checked_sub(committed))
        .is_some_and(|a| a >= wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_never_overflows() {
        assert!(fits(100, 10, 20, 70));
        assert!(!fits(100, 10, 20, 71));
        assert!(!fits(5, 10, 0, 0));
        assert!(fits(u64::MAX, 0, 0, u64::MAX));
        assert!(!fits(1 << 40, 0, 0, u64::MAX));
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(d.path()).unwrap();
        assert!(available_bytes(&f).unwrap() > 0);
    }
}
