//! Names that are never offered: hidden files, partial downloads, editor and peerbox temp files.
//!
//! Shell globs matched against one name at a time (`glob::Pattern`, no regex engine): `*` any
//! run of characters, `?` one character, `[abc]`, `[a-z]` and `[!abc]` one of (not of) a set;
//! case-sensitive; a leading `.` needs no special pattern (`*` matches it).

use glob::{MatchOptions, Pattern};

#[derive(Debug, Clone)]
pub struct Ignore(Vec<Pattern>);

const NAME: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl Ignore {
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        patterns
            .iter()
            .map(|p| Pattern::new(p).map_err(|e| format!("bad pattern `{p}`: {e}")))
            .collect::<Result<_, _>>()
            .map(Ignore)
    }

    /// Matches one file or directory name (not a path).
    pub fn name(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.matches_with(name, NAME))
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

    /// Each default pattern config.toml documents, alone: what it catches and what it leaves.
    #[test]
    fn each_documented_pattern_matches_its_names_only() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (".*", &[".git", ".DS_Store", ".", "..x"], &["a.b", "x."]),
            (
                "*.part",
                &["a.part", ".part", "b.c.part"],
                &["a.part2", "part", "a.Part"],
            ),
            ("*.partial", &["x.partial"], &["x.partially"]),
            ("*.tmp", &["x.tmp"], &["tmp", "x.tmpl"]),
            ("*.crdownload", &["f.pdf.crdownload"], &["crdownload"]),
            ("*.swp", &[".notes.txt.swp", "a.swp"], &["swp", "a.swpx"]),
            ("*~", &["notes.txt~", "~"], &["~notes"]),
            ("~$*", &["~$doc.docx", "~$"], &["~doc", "a~$b"]),
            (
                "peerbox-*.partial",
                &["peerbox-1.partial", "peerbox-.partial"],
                &["peerbox-1.part", "xpeerbox-1.partial"],
            ),
            (
                "[ab]?.log",
                &["a1.log", "bz.log"],
                &["c1.log", "a.log", "a12.log"],
            ),
            ("[!a]*.bak", &["b.bak"], &["a.bak"]),
        ];
        for (pat, yes, no) in cases {
            let ig = Ignore::new(&[pat.to_string()]).unwrap();
            for n in *yes {
                assert!(ig.name(n), "{pat} should match {n}");
            }
            for n in *no {
                assert!(!ig.name(n), "{pat} should not match {n}");
            }
        }
        let documented = WatchConfig::default().ignore;
        for (pat, _, _) in &cases[..9] {
            assert!(documented.iter().any(|d| d == pat), "{pat} is a default");
        }
        assert_eq!(documented.len(), 9);
    }

    #[test]
    fn a_bad_pattern_is_a_clear_error() {
        let e = Ignore::new(&["ok".into(), "[ab".into()]).unwrap_err();
        assert!(e.contains("bad pattern `[ab`"), "{e}");
    }
}
