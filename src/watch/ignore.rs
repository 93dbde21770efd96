//! Names that are never offered: hidden files, partial downloads, editor and peerbox temp files.

use globset::{Glob, GlobSet, GlobSetBuilder};

#[derive(Debug, Clone)]
pub struct Ignore(GlobSet);

impl Ignore {
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            b.add(Glob::new(p).map_err(|e| format!("bad pattern `{p}`: {e}"))?);
        }
        b.build().map(Ignore).map_err(|e| e.to_string())
    }

    /// Matches one file or directory name (not a path).
    pub fn name(&self, name: &str) -> bool {
        self.0.is_match(name)
    }

    /// True when any component of a '/'-separated relative path is ignored.
    pub fn path(&self, rel: &str) -> bool {
        rel.split('/').any(|c| self.name(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchConfig;

    #[test]
    fn defaults_ignore_temp_and_hidden_but_not_ordinary_names() {
        let ig = Ignore::new(&WatchConfig::default().ignore).unwrap();
        for n in [
            ".hidden",
            "a.part",
            "x.tmp",
            "y.crdownload",
            "notes.txt~",
            ".peerbox-partial",
            "peerbox-1.partial",
            "~$doc.docx",
        ] {
            assert!(ig.name(n), "{n} should be ignored");
        }
        for n in [
            "photo.jpg",
            "report..pdf",
            "(test).txt",
            "partial.txt",
            "tmp",
            "ü😀.bin",
        ] {
            assert!(!ig.name(n), "{n} should be offered");
        }
        assert!(ig.path("a/.git/config"));
        assert!(!ig.path("a/b/c.txt"));
    }
}
