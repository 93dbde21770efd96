//! Making one thumbnail from a JPEG's bytes, as cheaply as the file allows. No I/O.
//!
//! 1. The EXIF thumbnail (about 160x120) that cameras and phones embed: a few KB to decode,
//!    used when its shape matches the photo's (some are letterboxed 4:3 for a 16:9 photo).
//! 2. Otherwise the photo itself, decoded at 1/2, 1/4 or 1/8 scale *during* the DCT (so a
//!    12 MP photo costs the work and memory of a 0.2 MP one), then resized to the target.
//!
//! Either way the EXIF orientation is applied to the pixels, and the result is a baseline JPEG
//! whose longest side is at most `size` pixels (the EXIF one may be smaller).

use std::io::Cursor;

/// Why no thumbnail could be made (kept as a negative cache entry, except `TooLarge`).
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("not a JPEG this decoder can read: {0}")]
    Decode(String),
    #[error("{0} pixels is over the limit")]
    TooLarge(u64),
    #[error("cannot encode the thumbnail: {0}")]
    Encode(String),
}

/// Limits for one thumbnail.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest side of the thumbnail, in pixels.
    pub size: u16,
    /// Largest source image, in pixels (width x height).
    pub max_pixels: u64,
    /// JPEG quality of the thumbnail, 1..=100.
    pub quality: u8,
}

/// Decoded pixels: RGB (3 bytes each) or gray (1 byte).
struct Pixels {
    w: usize,
    h: usize,
    channels: usize,
    data: Vec<u8>,
}

/// A JPEG thumbnail of the JPEG `bytes`.
pub fn thumbnail(bytes: &[u8], limits: Limits) -> Result<Vec<u8>, MakeError> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok();
    let orientation = exif
        .as_ref()
        .and_then(|e| e.get_field(exif::Tag::Orientation, exif::In::PRIMARY))
        .and_then(|f| f.value.get_uint(0))
        .unwrap_or(1);
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder
        .read_info()
        .map_err(|e| MakeError::Decode(e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| MakeError::Decode("no image header".into()))?;
    let pixels = u64::from(info.width) * u64::from(info.height);
    if pixels > limits.max_pixels {
        return Err(MakeError::TooLarge(pixels));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let embedded = exif
        .as_ref()
        .and_then(embedded_thumbnail)
        .and_then(|t| decode(t, u16::MAX, u16::MAX, limits.max_pixels).ok())
        .filter(|t| same_shape(t.w, t.h, w, h));
    let px = match embedded {
        Some(t) => t,
        None => {
            let (tw, th) = fit(w, h, limits.size as usize);
            // The decoder picks the smallest scale (1/8 at best) at least this large.
            let px = decode_with(decoder, tw as u16, th as u16, limits.max_pixels)?;
            shrink(px, limits.size as usize)?
        }
    };
    encode(&orient(px, orientation), limits.quality)
}

/// The EXIF thumbnail's bytes (IFD1's JPEGInterchangeFormat), if the file has one.
fn embedded_thumbnail(exif: &exif::Exif) -> Option<&[u8]> {
    let at = |tag| exif.get_field(tag, exif::In::THUMBNAIL)?.value.get_uint(0);
    let off = at(exif::Tag::JPEGInterchangeFormat)? as usize;
    let len = at(exif::Tag::JPEGInterchangeFormatLength)? as usize;
    exif.buf().get(off..off.checked_add(len)?)
}

/// Aspect ratios within 3 %.
fn same_shape(w1: usize, h1: usize, w2: usize, h2: usize) -> bool {
    let (a, b) = ((w1 * h2) as f64, (w2 * h1) as f64);
    a > 0.0 && b > 0.0 && (a / b - 1.0).abs() < 0.03
}

/// The size of a `w` x `h` image fitted into a `size` square (never enlarged).
fn fit(w: usize, h: usize, size: usize) -> (usize, usize) {
    let long = w.max(h);
    if long <= size {
        return (w.max(1), h.max(1));
    }
    let scale = |n: usize| ((n * size + long / 2) / long).max(1);
    (scale(w), scale(h))
}

fn decode(bytes: &[u8], w: u16, h: u16, max_pixels: u64) -> Result<Pixels, MakeError> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info()
        .map_err(|e| MakeError::Decode(e.to_string()))?;
    decode_with(d, w, h, max_pixels)
}

fn decode_with<R: std::io::Read>(
    mut d: jpeg_decoder::Decoder<R>,
    w: u16,
    h: u16,
    max_pixels: u64,
) -> Result<Pixels, MakeError> {
    let err = |e: jpeg_decoder::Error| MakeError::Decode(e.to_string());
    // Progressive JPEGs keep every coefficient of the full image: bound that memory too.
    d.set_max_decoding_buffer_size(
        usize::try_from(max_pixels.saturating_mul(6)).unwrap_or(usize::MAX),
    );
    let (w, h) = d.scale(w, h).map_err(err)?;
    let data = d.decode().map_err(err)?;
    let format = d.info().map(|i| i.pixel_format);
    let channels = match format {
        Some(jpeg_decoder::PixelFormat::RGB24) => 3,
        Some(jpeg_decoder::PixelFormat::L8) => 1,
        other => return Err(MakeError::Decode(format!("pixel format {other:?}"))),
    };
    let (w, h) = (w as usize, h as usize);
    if data.len() < w * h * channels {
        return Err(MakeError::Decode("short pixel data".into()));
    }
    Ok(Pixels {
        w,
        h,
        channels,
        data,
    })
}

/// Resizes to fit `size` (when larger).
fn shrink(px: Pixels, size: usize) -> Result<Pixels, MakeError> {
    let (w, h) = fit(px.w, px.h, size);
    if (w, h) == (px.w, px.h) {
        return Ok(px);
    }
    let mut out = vec![0u8; w * h * px.channels];
    let bad = |e: resize::Error| MakeError::Decode(format!("resize: {e:?}"));
    let filter = resize::Type::Triangle;
    if px.channels == 3 {
        use rgb::FromSlice;
        resize::new(px.w, px.h, w, h, resize::Pixel::RGB8, filter)
            .map_err(bad)?
            .resize(px.data.as_rgb(), out.as_rgb_mut())
            .map_err(bad)?;
    } else {
        use rgb::FromSlice;
        resize::new(px.w, px.h, w, h, resize::Pixel::Gray8, filter)
            .map_err(bad)?
            .resize(px.data.as_gray(), out.as_gray_mut())
            .map_err(bad)?;
    }
    Ok(Pixels {
        w,
        h,
        channels: px.channels,
        data: out,
    })
}

/// Applies EXIF orientation `o` (1..=8) so the pixels stand upright.
fn orient(px: Pixels, o: u32) -> Pixels {
    if !(2..=8).contains(&o) {
        return px;
    }
    // Orientations 5..=8 swap the axes.
    let swap = o >= 5;
    let (w, h) = if swap { (px.h, px.w) } else { (px.w, px.h) };
    let c = px.channels;
    let mut data = vec![0u8; px.data.len()];
    for y in 0..h {
        for x in 0..w {
            // Where the pixel shown at (x, y) is stored in the source.
            let (sx, sy) = match o {
                2 => (px.w - 1 - x, y),
                3 => (px.w - 1 - x, px.h - 1 - y),
                4 => (x, px.h - 1 - y),
                5 => (y, x),
                6 => (y, px.h - 1 - x),
                7 => (px.w - 1 - y, px.h - 1 - x),
                _ => (px.w - 1 - y, x),
            };
            let from = (sy * px.w + sx) * c;
            let to = (y * w + x) * c;
            data[to..to + c].copy_from_slice(&px.data[from..from + c]);
        }
    }
    Pixels {
        w,
        h,
        channels: c,
        data,
    }
}

fn encode(px: &Pixels, quality: u8) -> Result<Vec<u8>, MakeError> {
    let mut out = Vec::with_capacity(px.w * px.h / 4);
    let color = if px.channels == 3 {
        jpeg_encoder::ColorType::Rgb
    } else {
        jpeg_encoder::ColorType::Luma
    };
    let (w, h) = (
        u16::try_from(px.w).map_err(|_| MakeError::Encode("too wide".into()))?,
        u16::try_from(px.h).map_err(|_| MakeError::Encode("too tall".into()))?,
    );
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&px.data, w, h, color)
        .map_err(|e| MakeError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        size: 64,
        max_pixels: 10_000_000,
        quality: 80,
    };

    /// A w x h JPEG: left half red, right half blue.
    pub(crate) fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut px = Vec::with_capacity(w as usize * h as usize * 3);
        for _y in 0..h {
            for x in 0..w {
                px.extend_from_slice(if x < w / 2 {
                    &[220, 20, 20]
                } else {
                    &[20, 20, 220]
                });
            }
        }
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// A single-colour w x h JPEG.
    fn solid(w: u16, h: u16, rgb: [u8; 3]) -> Vec<u8> {
        let px: Vec<u8> = (0..w as usize * h as usize).flat_map(|_| rgb).collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&px, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// `photo` with an EXIF block (APP1 right after SOI) holding `orientation` and `thumb`.
    pub(crate) fn with_exif(photo: &[u8], orientation: u16, thumb: &[u8]) -> Vec<u8> {
        let o = exif::Field {
            tag: exif::Tag::Orientation,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Short(vec![orientation]),
        };
        let mut w = exif::experimental::Writer::new();
        w.push_field(&o);
        w.set_jpeg(thumb, exif::In::THUMBNAIL);
        let mut tiff = Cursor::new(Vec::new());
        w.write(&mut tiff, false).unwrap();
        let tiff = tiff.into_inner();
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = photo[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&photo[2..]);
        out
    }

    #[test]
    fn the_embedded_thumbnail_is_used_and_turned_upright() {
        // The photo is red/blue; its EXIF thumbnail green, so we see which one was used.
        let photo = with_exif(&jpeg(1200, 800), 6, &solid(120, 80, [20, 200, 20]));
        let (w, h, px) = dims(&thumbnail(&photo, LIMITS).unwrap());
        assert_eq!((w, h), (80, 120));
        assert!(px[1] > 150 && px[0] < 100, "{:?}", &px[..3]);
        // A letterboxed thumbnail (another shape) is not used: the photo is decoded.
        let odd = with_exif(&jpeg(1200, 600), 1, &solid(120, 90, [20, 200, 20]));
        let (w, h, px) = dims(&thumbnail(&odd, LIMITS).unwrap());
        assert_eq!((w, h), (64, 32));
        assert!(px[0] > 150, "{:?}", &px[..3]);
    }

    fn dims(jpeg: &[u8]) -> (u16, u16, Vec<u8>) {
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(jpeg));
        let px = d.decode().unwrap();
        let i = d.info().unwrap();
        (i.width, i.height, px)
    }

    #[test]
    fn a_large_photo_is_scaled_into_the_box() {
        let t = thumbnail(&jpeg(1200, 800), LIMITS).unwrap();
        let (w, h, px) = dims(&t);
        assert_eq!((w, h), (64, 43));
        // Still red on the left, blue on the right.
        assert!(px[0] > 150 && px[2] < 100, "{:?}", &px[..3]);
        let last = (w as usize - 1) * 3;
        assert!(px[last + 2] > 150 && px[last] < 100);
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let (w, h, _) = dims(&thumbnail(&jpeg(40, 20), LIMITS).unwrap());
        assert_eq!((w, h), (40, 20));
    }

    #[test]
    fn limits_and_garbage_are_refused() {
        let tight = Limits {
            max_pixels: 1000,
            ..LIMITS
        };
        assert!(matches!(
            thumbnail(&jpeg(100, 100), tight),
            Err(MakeError::TooLarge(10_000))
        ));
        assert!(matches!(
            thumbnail(b"not a jpeg at all", LIMITS),
            Err(MakeError::Decode(_))
        ));
    }

    #[test]
    fn orientation_turns_the_pixels() {
        // A 2 x 1 gray image: pixel 1 left, pixel 2 right.
        let wide = || Pixels {
            w: 2,
            h: 1,
            channels: 1,
            data: vec![1, 2],
        };
        // 6: the camera was turned clockwise; shown upright it is 1 wide, 2 tall.
        let r = orient(wide(), 6);
        assert_eq!((r.w, r.h, r.data), (1, 2, vec![1, 2]));
        let r = orient(wide(), 8);
        assert_eq!((r.w, r.h, r.data), (1, 2, vec![2, 1]));
        let r = orient(wide(), 2);
        assert_eq!((r.w, r.h, r.data), (2, 1, vec![2, 1]));
    }

    #[test]
    fn fitting() {
        assert_eq!(fit(4000, 3000, 256), (256, 192));
        assert_eq!(fit(3000, 4000, 256), (192, 256));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(10000, 1, 256), (256, 1));
    }
}
