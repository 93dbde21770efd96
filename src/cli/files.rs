//! Which files a terminal-client command works on: the catalog entries `get` fetches and where
//! each lands (never outside the output directory), whether one is already there, and the
//! local files and folders `send` sends with their folder on the daemon.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::remote::{Exit, Failure};
use crate::seeder::protocol::FileInfo;

/// The files `paths` name in `catalog` (a file's path, or a folder: everything below it), each
/// with where it goes below `out`: a file by its name, a folder's files in its tree.
pub(super) fn select(
    catalog: &[FileInfo],
    paths: &[String],
    out: &Path,
) -> Result<Vec<(FileInfo, PathBuf)>, Failure> {
    let mut chosen = Vec::new();
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    for p in paths {
        let p = p.trim_matches('/');
        let before = chosen.len();
        for f in catalog {
            let rel = if f.path == p {
                f.path.rsplit('/').next().unwrap_or(&f.path)
            } else if p.is_empty() || f.path.starts_with(&format!("{p}/")) {
                // Keep the folder itself: `get URL album` makes `album/...`.
                let parent = p.rfind('/').map_or(0, |i| i + 1);
                &f.path[parent..]
            } else {
                continue;
            };
            if seen.insert(f.id.clone()) {
                chosen.push((f.clone(), safe_join(out, rel)?));
            }
        }
        if chosen.len() == before && !catalog.iter().any(|f| f.path == p) {
            missing.push(p.to_owned());
        }
    }
    if !missing.is_empty() {
        return Err(Failure::new(
            Exit::NoInput,
            format!("not offered by the daemon: {}", missing.join(", ")),
        ));
    }
    Ok(chosen)
}

/// `out/rel`, refusing a catalog path that would leave `out`.
fn safe_join(out: &Path, rel: &str) -> Result<PathBuf, Failure> {
    let mut p = out.to_path_buf();
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(Failure::new(
                Exit::Protocol,
                format!("the daemon offered an unsafe path: {rel:?}"),
            ));
        }
        p.push(part);
    }
    Ok(p)
}

/// Whether `dest` already holds `file` (same size and BLAKE3).
pub(super) fn holds(dest: &Path, file: &FileInfo) -> Result<bool, Failure> {
    match std::fs::metadata(dest) {
        Ok(m) if m.len() != file.size => Ok(false),
        Ok(_) => {
            let io = |e: std::io::Error| Failure::new(Exit::Io, format!("{}: {e}", dest.display()));
            let f = std::fs::File::open(dest).map_err(io)?;
            let hash = crate::watch::hash::hash_file(&f, file.size).map_err(io)?;
            Ok(hash.to_hex().as_str() == file.hash)
        }
        Err(_) => Ok(false),
    }
}

/// The files to send: each FILE, and every file below a FILE that is a folder (sent into that
/// folder's tree), with its name and folder on the daemon.
pub(super) fn sources(
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, String, Option<String>)>, Failure> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for f in files {
        let meta = match std::fs::metadata(f) {
            Ok(m) => m,
            Err(_) => {
                missing.push(f.display().to_string());
                continue;
            }
        };
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if meta.is_dir() {
            walk(f, &name, &mut out)?;
        } else {
            out.push((f.clone(), name, None));
        }
    }
    if !missing.is_empty() {
        return Err(Failure::new(
            Exit::NoInput,
            format!("no such file: {}", missing.join(", ")),
        ));
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    folder: &str,
    out: &mut Vec<(PathBuf, String, Option<String>)>,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(Exit::Io, format!("{}: {e}", dir.display()));
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let kind = e.file_type().map_err(io)?;
        if kind.is_dir() {
            walk(&e.path(), &format!("{folder}/{name}"), out)?;
        } else if kind.is_file() {
            out.push((e.path(), name, Some(folder.to_owned())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileInfo {
        serde_json::from_value(serde_json::json!({
            "id": path, "path": path, "size": 1, "mtime_ms": 0, "mime": "", "hash": "h"
        }))
        .unwrap()
    }

    #[test]
    fn select_files_and_folders() {
        let cat = [
            file("a.txt"),
            file("album/x.jpg"),
            file("album/day/y.jpg"),
            file("albums/z"),
        ];
        let out = Path::new("/o");
        let got = select(&cat, &["album".into(), "a.txt".into()], out).unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|(f, p)| (f.path.as_str(), p.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("album/x.jpg", PathBuf::from("/o/album/x.jpg")),
                ("album/day/y.jpg", PathBuf::from("/o/album/day/y.jpg")),
                ("a.txt", PathBuf::from("/o/a.txt")),
            ]
        );
        let sub = select(&cat, &["album/day/".into()], out).unwrap();
        assert_eq!(sub[0].1, PathBuf::from("/o/day/y.jpg"));
        let e = select(&cat, &["nope".into(), "alb".into()], out).unwrap_err();
        assert_eq!(e.exit, Exit::NoInput);
        assert!(e.message.contains("nope, alb"), "{}", e.message);
    }

    #[test]
    fn unsafe_catalog_paths_are_refused() {
        // Only a hostile daemon would offer these; nothing may be written outside `/o`.
        let cat = [file("a/../../x"), file("b/..")];
        for ask in ["a", "b/.."] {
            let e = select(&cat, &[ask.into()], Path::new("/o")).unwrap_err();
            assert_eq!(e.exit, Exit::Protocol, "{ask}");
        }
        // A file asked for by its path lands under its own name.
        let cat = [file("../etc/passwd")];
        let got = select(&cat, &["../etc/passwd".into()], Path::new("/o")).unwrap();
        assert_eq!(got[0].1, PathBuf::from("/o/passwd"));
    }
}
