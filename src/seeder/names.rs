//! Names and folders that come from a remote peer, checked before they reach the disk.
//!
//! Hostile forms are refused rather than rewritten (so a user sees why), ordinary odd names are
//! kept byte for byte: `(test).txt`, `report..pdf`, emoji, 255-byte names. `./file.txt` is the
//! rewrites (`file.txt`), besides Unicode normalization: names and folders are saved in NFC, and
//! a name that differs from one on disk only in normalization is that name ([`nfc_twins`]), so
//! `café.txt` composed and decomposed never become two visually identical files.

use unicode_normalization::{is_nfc, UnicodeNormalization};

/// Longest file-name component in bytes (ext4, btrfs, tmpfs).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest folder path accepted in an offer.
pub const MAX_FOLDER_DEPTH: usize = 16;
/// Names the store uses inside the incoming directory; never taken by a peer.
pub const RESERVED: &[&str] = &[".peerbox-partial"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("absolute path or drive letter")]
    Absolute,
    #[error("`..` or `.` component")]
    Traversal,
    #[error("backslash in name")]
    Backslash,
    #[error("control character in name")]
    Control,
    #[error("bidirectional override in name")]
    Bidi,
    #[error("name component longer than 255 bytes")]
    TooLong,
    #[error("folder deeper than {MAX_FOLDER_DEPTH} levels")]
    TooDeep,
    #[error("reserved name")]
    Reserved,
    #[error("a file name may not contain `/`; use the folder field")]
    Slash,
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_component(c: &str) -> Result<(), NameError> {
    if c.is_empty() {
        return Err(NameError::Empty);
    }
    if c == "." || c == ".." {
        return Err(NameError::Traversal);
    }
    if c.contains('\\') {
        return Err(NameError::Backslash);
    }
    if c.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if c.chars().any(is_bidi) {
        return Err(NameError::Bidi);
    }
    if c.len() > MAX_COMPONENT_BYTES {
        return Err(NameError::TooLong);
    }
    if RESERVED.contains(&c) {
        return Err(NameError::Reserved);
    }
    Ok(())
}

fn check_whole(raw: &str) -> Result<&str, NameError> {
    // Strip first, so that `./C:x` is judged as the `C:x` it would be saved as.
    let mut s = raw;
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.starts_with('/') || s.starts_with('\\') {
        return Err(NameError::Absolute);
    }
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(NameError::Absolute);
    }
    Ok(s)
}

/// `s` in Unicode Normalization Form C.
pub fn nfc(s: &str) -> String {
    if is_nfc(s) {
        s.to_owned()
    } else {
        s.nfc().collect()
    }
}

/// The entries of `dir` whose names are not in NFC, keyed by their NFC form: a new name equal
/// to a key is the same name as that entry (numbered, or for a folder, that folder).
pub fn nfc_twins(
    dir: impl rustix::fd::AsFd,
) -> std::io::Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if !name.is_ascii() && !is_nfc(name) {
            out.insert(nfc(name), name.to_owned());
        }
    }
    Ok(out)
}

/// A file name from an offer: one component, returned (in NFC) as it will be saved.
pub fn file_name(raw: &str) -> Result<String, NameError> {
    let raw = nfc(raw);
    let s = check_whole(&raw)?;
    if s.contains('/') {
        return Err(NameError::Slash);
    }
    check_component(s)?;
    Ok(s.to_owned())
}

/// An optional relative folder from an offer: its components (in NFC), outermost first.
pub fn folder(raw: &str) -> Result<Vec<String>, NameError> {
    let raw = nfc(raw);
    let s = check_whole(&raw)?;
    let s = s.strip_suffix('/').unwrap_or(s);
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() > MAX_FOLDER_DEPTH {
        return Err(NameError::TooDeep);
    }
    parts
        .into_iter()
        .map(|p| check_component(p).map(|_| p.to_owned()))
        .collect()
}

/// The `n`th alternative of `name`: `a.txt` -> `a (1).txt`, staying within 255 bytes by
/// shortening the stem at a character boundary.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => name.split_at(i),
        _ => (name, ""),
    };
    let suffix = format!(" ({n}){ext}");
    let mut cut = MAX_COMPONENT_BYTES
        .saturating_sub(suffix.len())
        .min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &stem[..cut], suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:\\x",
            "c:x",
            "\\??\\c:\\x",
            "..",
            ".",
            "a\0b",
            "a\nb",
            "a\u{1b}[31mb",
            "evil\u{202E}txt.exe",
            "x\u{2066}y",
            "a\u{85}b",
            "",
            "./",
            "a/b",
            "a\\b",
            ".peerbox-partial",
            "./C:x",
            ".//etc/passwd",
        ] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "../x",
            "a/../b",
            "/abs",
            "a//b",
            "C:/x",
            "a/\u{202E}",
            "a/b\0",
            "./C:/x",
        ] {
            assert!(folder(bad).is_err(), "{bad:?}");
        }
        assert_eq!(file_name(&"a".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn ordinary_odd_names_are_kept() {
        for good in [
            "(test).txt",
            "report..pdf",
            "🎉 party.jpg",
            ".hidden",
            "a b",
            "note 10:30.txt",
        ] {
            assert_eq!(file_name(good).unwrap(), good);
        }
        assert_eq!(file_name("./file.txt").unwrap(), "file.txt");
        let long = "é".repeat(127) + "x"; // 255 bytes
        assert_eq!(file_name(&long).unwrap(), long);
        assert_eq!(folder("./a/b c/").unwrap(), vec!["a", "b c"]);
    }

    #[test]
    fn names_and_folders_arrive_in_nfc() {
        let composed = "caf\u{e9}.txt";
        let decomposed = "cafe\u{301}.txt";
        assert_eq!(file_name(decomposed).unwrap(), composed);
        assert_eq!(file_name(composed).unwrap(), composed);
        assert_eq!(
            folder("re\u{301}sume\u{301}/x").unwrap(),
            vec!["r\u{e9}sum\u{e9}", "x"]
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(decomposed), b"").unwrap();
        std::fs::write(d.path().join("plain.txt"), b"").unwrap();
        let dir = std::fs::File::open(d.path()).unwrap();
        let twins = nfc_twins(&dir).unwrap();
        assert_eq!(twins.len(), 1);
        assert_eq!(twins[composed], decomposed);
    }

    #[test]
    fn numbering_keeps_extension_and_limit() {
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("noext", 2), "noext (2)");
        assert_eq!(numbered(".hidden", 1), ".hidden (1)");
        let long = "é".repeat(125) + ".txt"; // 254 bytes
        let n = numbered(&long, 12);
        assert!(n.len() <= 255 && n.ends_with(" (12).txt"), "{n}");
    }
}
