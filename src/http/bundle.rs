//! The web client's files: embedded in the binary, or read from `--web-dir` during UI work.
//!
//! Embedded assets are gzipped at build time (`build.rs`): the binary carries the gzip, served
//! as it is; the plain body (for clients without gzip, and the ETag) is inflated once, on first
//! request, and kept. Files from `--web-dir` are gzipped as they are read.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_files.rs"));
}

/// The embedded file at `rel`: its bytes and whether they are gzipped.
fn embedded(rel: &str) -> Option<(bool, &'static [u8])> {
    let files = embedded::FILES;
    let i = files.binary_search_by(|(p, _, _)| (*p).cmp(rel)).ok()?;
    Some((files[i].1, files[i].2))
}

/// One servable file with everything needed to answer conditional and compressed requests.
#[derive(Debug)]
pub struct Asset {
    pub body: Bytes,
    pub gzip: Option<Bytes>,
    pub etag: String,
    pub content_type: String,
}

pub enum Bundle {
    Embedded(Mutex<HashMap<String, Arc<Asset>>>),
    Dir(PathBuf),
}

impl Bundle {
    pub fn new(web_dir: Option<&Path>) -> Self {
        match web_dir {
            Some(dir) => Bundle::Dir(dir.to_owned()),
            None => Bundle::Embedded(Mutex::new(HashMap::new())),
        }
    }

    /// Looks up a URL path; `None` means 404. Directory paths map to their `index.html`.
    pub async fn get(&self, url_path: &str) -> Option<Arc<Asset>> {
        let rel = relative_path(url_path)?;
        match self {
            Bundle::Embedded(cache) => {
                if let Some(hit) = cache.lock().ok()?.get(&rel) {
                    return Some(hit.clone());
                }
                let (gzipped, data) = embedded(&rel)?;
                let asset = Arc::new(if gzipped {
                    Asset::from_gzip(&rel, Bytes::from_static(data))?
                } else {
                    Asset::build(&rel, Bytes::from_static(data))
                });
                cache.lock().ok()?.insert(rel, asset.clone());
                Some(asset)
            }
            Bundle::Dir(root) => {
                let path = root.join(&rel);
                let meta = tokio::fs::symlink_metadata(&path).await.ok()?;
                if !meta.is_file() {
                    return None;
                }
                let data = tokio::fs::read(&path).await.ok()?;
                Some(Arc::new(Asset::build(&rel, Bytes::from(data))))
            }
        }
    }
}

/// Maps a URL path onto a relative file path, refusing anything that could leave the bundle.
fn relative_path(url_path: &str) -> Option<String> {
    let trimmed = url_path.trim_start_matches('/');
    let mut rel = if trimmed.is_empty() || trimmed.ends_with('/') {
        format!("{trimmed}index.html")
    } else {
        trimmed.to_owned()
    };
    if rel.contains('\\') || rel.contains('\0') || rel.contains('%') {
        return None;
    }
    if !Path::new(&rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    // Hidden files in web/ (editor swap files, .gitkeep) are never served.
    if rel.split('/').any(|part| part.starts_with('.')) {
        return None;
    }
    rel.shrink_to_fit();
    Some(rel)
}

impl Asset {
    /// An asset stored gzipped: the gzip is served as it is, the body inflated from it.
    fn from_gzip(rel: &str, gzip: Bytes) -> Option<Self> {
        use std::io::Read;
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut body)
            .ok()?;
        let body = Bytes::from(body);
        Some(Asset {
            etag: etag(&body),
            content_type: content_type(rel),
            body,
            gzip: Some(gzip),
        })
    }

    fn build(rel: &str, body: Bytes) -> Self {
        let content_type = content_type(rel);
        let etag = etag(&body);
        let gzip = compressible(&content_type)
            .then(|| gzip(&body))
            .flatten()
            .filter(|z| z.len() < body.len());
        Asset {
            body,
            gzip,
            etag,
            content_type,
        }
    }
}

fn etag(body: &[u8]) -> String {
    format!("\"{}\"", &blake3::hash(body).to_hex()[..32])
}

fn content_type(rel: &str) -> String {
    let mime = mime_guess::from_path(rel).first_or_octet_stream();
    match (mime.type_(), mime.subtype().as_str()) {
        (mime_guess::mime::TEXT, _) | (_, "javascript") | (_, "json") | (_, "manifest+json") => {
            format!("{}; charset=utf-8", mime.essence_str())
        }
        _ => mime.essence_str().to_owned(),
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.contains("javascript")
        || content_type.contains("json")
        || content_type.starts_with("image/svg")
        || content_type == "application/wasm"
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    if data.len() < 256 {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_bundle_are_refused() {
        for bad in [
            "/../Cargo.toml",
            "/a/../../x",
            "/.hidden",
            "/a%2f..",
            "/a\\b",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
        assert_eq!(relative_path("/").as_deref(), Some("index.html"));
        assert_eq!(relative_path("/app.js").as_deref(), Some("app.js"));
        assert_eq!(relative_path("/a/").as_deref(), Some("a/index.html"));
    }

    #[tokio::test]
    async fn embedded_assets_are_stored_gzipped_and_served_whole() {
        let bundle = Bundle::new(None);
        for rel in ["index.html", "js/app.js", "app.css", "vendor/tus.min.js"] {
            let (gzipped, data) = embedded(rel).expect(rel);
            assert!(gzipped, "{rel} is embedded gzipped");
            let disk =
                std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("web").join(rel)).unwrap();
            assert!(
                data.len() * 2 < disk.len(),
                "{rel}: {} of {}",
                data.len(),
                disk.len()
            );
            let asset = bundle.get(&format!("/{rel}")).await.expect(rel);
            assert!(asset.body == disk, "{rel}: the body is the file");
            assert_eq!(
                asset.gzip.as_deref(),
                Some(data),
                "{rel}: the gzip served is the embedded one"
            );
        }
        // A PNG is stored as it is.
        let (gzipped, _) = embedded("icon-192.png").unwrap();
        assert!(!gzipped);
        assert!(bundle.get("/icon-192.png").await.unwrap().gzip.is_none());
        assert!(bundle.get("/nope.js").await.is_none());
    }

    #[test]
    fn types_carry_charset_where_text() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.wasm"), "application/wasm");
        assert_eq!(content_type("i.png"), "image/png");
    }
}
