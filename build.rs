//! Embeds the web client (`web/`) gzipped: text assets are compressed once here, at build time,
//! so the binary carries about a third of their bytes and the daemon serves the gzip as it is
//! (`src/http/bundle.rs`). rust-embed's own `compression` feature was not taken: it brings zstd
//! (C) and inflates at runtime only for the daemon to gzip the same bytes again.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Extensions served compressed (what `bundle.rs` calls compressible).
const TEXT: &[&str] = &[
    "html",
    "css",
    "js",
    "mjs",
    "json",
    "webmanifest",
    "svg",
    "txt",
    "wasm",
];

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("web/ entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        // Hidden files (editor swap files, .gitkeep) are never served.
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if e.file_type().expect("file type").is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("inside web/");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn main() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("web");
    println!("cargo:rerun-if-changed=web");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut files = Vec::new();
    walk(&web, &web, &mut files);
    files.sort();
    let mut table = String::from(
        "/// The web client: (path, gzipped, bytes), sorted by path.\n\
         pub static FILES: &[(&str, bool, &[u8])] = &[\n",
    );
    for rel in &files {
        let data = std::fs::read(web.join(rel)).expect("read web/ file");
        let ext = rel.rsplit('.').next().unwrap_or_default();
        let mut gz = None;
        if TEXT.contains(&ext) && data.len() >= 256 {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(&data).expect("gzip");
            let z = enc.finish().expect("gzip");
            if z.len() < data.len() {
                gz = Some(z);
            }
        }
        let stored = out_dir
            .join("web")
            .join(format!("{rel}{}", if gz.is_some() { ".gz" } else { "" }));
        std::fs::create_dir_all(stored.parent().expect("parent")).expect("mkdir");
        std::fs::write(&stored, gz.as_deref().unwrap_or(&data)).expect("write");
        table.push_str(&format!(
            "    ({rel:?}, {}, include_bytes!({:?})),\n",
            gz.is_some(),
            stored.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("web_files.rs"), table).expect("write web_files.rs");
}
