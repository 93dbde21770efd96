use serde::{Deserialize, Serialize};

/// Settings of the image thumbnails shown in the web client's file list (`[thumbnails]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThumbsConfig {
    /// Make thumbnails at all (`/thumbs/<id>` answers 404 when off).
    pub enabled: bool,
    /// Longest side of a thumbnail, in pixels.
    pub size: u16,
    /// JPEG quality of thumbnails, 1..=100.
    pub quality: u8,
    /// Source files larger than this are not thumbnailed.
    pub max_source_bytes: u64,
    /// Source images with more pixels than this are not thumbnailed.
    pub max_pixels: u64,
    /// A request waits this long for its thumbnail, then gets 503 (the work goes on and
    /// lands in the cache).
    pub timeout_ms: u64,
    /// Thumbnails made at the same time (each on one blocking thread).
    pub concurrency: usize,
    /// Bytes the cache in `<state_dir>/thumbs/` may hold; the least recently used go first.
    pub cache_max_bytes: u64,
}

impl Default for ThumbsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            size: 256,
            quality: 75,
            max_source_bytes: 32 << 20,
            max_pixels: 50_000_000,
            timeout_ms: 5000,
            concurrency: 1,
            cache_max_bytes: 64 << 20,
        }
    }
}

impl ThumbsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("key `thumbnails.{key}`: {why}"));
        if !(16..=2048).contains(&self.size) {
            return bad("size", "must be between 16 and 2048");
        }
        if !(1..=100).contains(&self.quality) {
            return bad("quality", "must be between 1 and 100");
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return bad("concurrency", "must be between 1 and 64");
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms", "must be at least 1");
        }
        Ok(())
    }
}
