//! The tus 1.0 resumable-upload protocol (core, creation, termination) without I/O: what a
//! request asks for, checked, and which status a refusal gets. [`super::uploads`] carries it out
//! against the incoming store.
//!
//! Why our own: the Rust tus server crates found (tus-protocol 0.1, fileloft-core 0.3, salvo-tus)
//! keep their own upload state (ids, offsets, metadata) behind storage traits, which would put a
//! second record of every upload beside the incoming store's sidecars and their durable-offset
//! rules; they are new single-maintainer 0.x releases needing Rust 1.92+ (the project builds
//! with 1.85); and their fixed error mappings have no way to say "no space" (507) or "quota"
//! clearly. tus itself is five methods and six headers; the part that needs care, saving, is the
//! store's. See docs/protocol.md, "HTTP uploads (tus)".

use base64::Engine;
use hyper::header::HeaderMap;
use hyper::StatusCode;

use crate::seeder::protocol::Code;

pub const VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str = "creation,termination";
/// The collection URL; an upload lives at `/uploads/<key>`.
pub const PATH: &str = "/uploads";
/// The media type of a PATCH body.
pub const PATCH_TYPE: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` value accepted.
const MAX_METADATA_BYTES: usize = 8192;

/// A refusal: the HTTP status and a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TusError {
    pub status: StatusCode,
    pub message: String,
}

fn err(status: StatusCode, message: impl Into<String>) -> TusError {
    TusError {
        status,
        message: message.into(),
    }
}

/// A `POST /uploads`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub length: u64,
    /// `filename` (or `name`) from the metadata; the store checks it as it checks offers.
    pub name: String,
    pub folder: Option<String>,
    /// `blake3`: the whole file's hash, checked when the last byte arrives.
    pub hash: Option<String>,
    /// `token`: a signaling resume token naming the peer identity the upload belongs to.
    pub token: Option<String>,
}

/// A `PATCH /uploads/<key>`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub content_length: Option<u64>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn number(h: &HeaderMap, name: &str) -> Result<Option<u64>, TusError> {
    match header(h, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| err(StatusCode::BAD_REQUEST, format!("{name} is not a number"))),
    }
}

/// Every request but OPTIONS must speak tus 1.0.0 (412 otherwise).
pub fn check_resumable(h: &HeaderMap) -> Result<(), TusError> {
    match header(h, "tus-resumable") {
        Some(VERSION) => Ok(()),
        Some(v) => Err(err(
            StatusCode::PRECONDITION_FAILED,
            format!("tus version {v} is not supported; use {VERSION}"),
        )),
        None => Err(err(
            StatusCode::PRECONDITION_FAILED,
            "missing Tus-Resumable header",
        )),
    }
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(value: &str) -> Result<Vec<(String, Vec<u8>)>, TusError> {
    if value.len() > MAX_METADATA_BYTES {
        return Err(err(StatusCode::BAD_REQUEST, "Upload-Metadata is too long"));
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or("");
        let val = parts.next().unwrap_or("");
        if parts.next().is_some() || key.is_empty() || !key.is_ascii() {
            return Err(err(StatusCode::BAD_REQUEST, "malformed Upload-Metadata"));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("Upload-Metadata names `{key}` twice"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(val)
            .map_err(|_| {
                err(
                    StatusCode::BAD_REQUEST,
                    format!("Upload-Metadata `{key}` is not base64"),
                )
            })?;
        out.push((key.to_owned(), bytes));
    }
    Ok(out)
}

fn text_field(meta: &[(String, Vec<u8>)], key: &str) -> Result<Option<String>, TusError> {
    match meta.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => String::from_utf8(v.clone()).map(Some).map_err(|_| {
            err(
                StatusCode::BAD_REQUEST,
                format!("Upload-Metadata `{key}` is not UTF-8"),
            )
        }),
    }
}

/// Checks a creation request: tus version, a known length (deferred lengths are not offered),
/// and metadata with a file name.
pub fn parse_creation(h: &HeaderMap) -> Result<Creation, TusError> {
    check_resumable(h)?;
    if header(h, "upload-defer-length").is_some() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "Upload-Defer-Length is not supported; send Upload-Length",
        ));
    }
    let Some(length) = number(h, "upload-length")? else {
        return Err(err(StatusCode::BAD_REQUEST, "missing Upload-Length"));
    };
    let meta = parse_metadata(header(h, "upload-metadata").unwrap_or(""))?;
    let name = match text_field(&meta, "filename")? {
        Some(n) => n,
        None => text_field(&meta, "name")?.ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "Upload-Metadata needs `filename` (the file's name)",
            )
        })?,
    };
    let folder = text_field(&meta, "folder")?.filter(|f| !f.is_empty());
    let hash = text_field(&meta, "blake3")?;
    let token = text_field(&meta, "token")?.filter(|t| !t.is_empty());
    Ok(Creation {
        length,
        name,
        folder,
        hash,
        token,
    })
}

/// Checks a PATCH: tus version, body type and the offset it continues from.
pub fn parse_patch(h: &HeaderMap) -> Result<Patch, TusError> {
    check_resumable(h)?;
    let ctype = header(h, "content-type").unwrap_or("");
    if !ctype.eq_ignore_ascii_case(PATCH_TYPE) {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a PATCH body must be {PATCH_TYPE}"),
        ));
    }
    let Some(offset) = number(h, "upload-offset")? else {
        return Err(err(StatusCode::BAD_REQUEST, "missing Upload-Offset"));
    };
    Ok(Patch {
        offset,
        content_length: number(h, "content-length")?,
    })
}

/// The upload key in `/uploads/<key>`: 32 lowercase hex digits (a partial's name), or `None`.
pub fn key_of(path: &str) -> Option<&str> {
    let key = path.strip_prefix(PATH)?.strip_prefix('/')?;
    (key.len() == 32
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(key)
}

/// How a store refusal is told over HTTP.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::BadName | Code::BadMessage | Code::ShortTransfer => StatusCode::BAD_REQUEST,
        Code::TooLarge | Code::BadChunk => StatusCode::PAYLOAD_TOO_LARGE,
        Code::Quota | Code::RefusedType => StatusCode::FORBIDDEN,
        Code::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        Code::Busy => StatusCode::SERVICE_UNAVAILABLE,
        Code::UnknownTransfer | Code::NotFound => StatusCode::NOT_FOUND,
        Code::BadOffset => StatusCode::CONFLICT,
        // tus's own code for content that does not match its checksum.
        Code::HashMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn metadata_pairs_decode() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(m[0].0, "filename");
        assert_eq!(m[0].1, b"world_domination_plan.pdf");
        assert_eq!(m[1], ("is_confidential".to_string(), vec![]));
        for bad in ["a b c", "a !!", "a YQ==,a YQ=="] {
            assert!(parse_metadata(bad).is_err(), "{bad}");
        }
        assert!(parse_metadata(&"a".repeat(9000)).is_err());
    }

    #[test]
    fn creation_needs_version_length_and_name() {
        let ok = [
            ("tus-resumable", "1.0.0"),
            ("upload-length", "5"),
            (
                "upload-metadata",
                "filename YS50eHQ=,blake3 YWJj,token dA==",
            ),
        ];
        let c = parse_creation(&headers(&ok)).unwrap();
        assert_eq!(c.name, "a.txt");
        assert_eq!(c.length, 5);
        assert_eq!(c.hash.as_deref(), Some("abc"));
        assert_eq!(c.token.as_deref(), Some("t"));
        let status = |h: &[(&'static str, &str)]| parse_creation(&headers(h)).unwrap_err().status;
        assert_eq!(status(&ok[1..]), StatusCode::PRECONDITION_FAILED);
        assert_eq!(status(&[ok[0], ok[2]]), StatusCode::BAD_REQUEST);
        assert_eq!(status(&[ok[0], ok[1]]), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&[ok[0], ("upload-length", "-1"), ok[2]]),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&[ok[0], ("upload-defer-length", "1"), ok[2]]),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn patch_needs_type_and_offset() {
        let ok = [
            ("tus-resumable", "1.0.0"),
            ("content-type", PATCH_TYPE),
            ("upload-offset", "7"),
        ];
        assert_eq!(parse_patch(&headers(&ok)).unwrap().offset, 7);
        let status = |h: &[(&'static str, &str)]| parse_patch(&headers(h)).unwrap_err().status;
        assert_eq!(
            status(&[ok[0], ("content-type", "text/plain"), ok[2]]),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(status(&ok[..2]), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn keys_are_partial_names_only() {
        let k = "0123456789abcdef0123456789abcdef";
        assert_eq!(key_of(&format!("/uploads/{k}")), Some(k));
        for bad in [
            "/uploads/",
            "/uploads/../x",
            "/uploads/0123456789ABCDEF0123456789abcdef",
            "/uploadsx/0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(key_of(bad), None, "{bad}");
        }
    }
}
