//! Avatar images: what an upload must be, and the image kept in its place.
//!
//! An upload is checked before anything is decoded: its first bytes must
//! say PNG, JPEG or WebP, and the file must end where that image ends (no
//! data after the PNG's `IEND`, the JPEG's end of image or the WebP's RIFF
//! length: a file that is also a ZIP, a script or a page — a polyglot — is
//! refused). The header's width and height are checked before the pixels
//! are decoded (a few kilobytes that inflate to gigabytes — a decompression
//! bomb — never get their memory), and the decoder runs under a memory cap.
//! The image kept is never the upload: it is decoded, turned upright (EXIF
//! orientation), cropped to its central square, scaled to
//! [`AVATAR_SIDE`] pixels and encoded again as lossless WebP, so no
//! metadata, chunk or trailing byte of the upload survives.

use std::io::Cursor;

use chat_core::Code;
use chat_core::model::Avatar;
use image::error::LimitErrorKind;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Width and height of a stored avatar, in pixels.
pub const AVATAR_SIDE: u32 = 160;
/// Largest width or height of an upload, in pixels.
pub const MAX_UPLOAD_SIDE: u32 = 4096;
/// Most memory the decoder may take for one upload.
const MAX_DECODE_BYTES: u64 = 96 * 1024 * 1024;
/// The media type of every stored avatar.
pub const AVATAR_TYPE: &str = "image/webp";

/// Checks an upload and makes the avatar kept in its place. CPU-bound:
/// run it on a blocking thread.
pub fn reencode(upload: &[u8]) -> Result<Avatar, ApiError> {
    let format = format_of(upload)?;
    let end = image_end(format, upload)
        .ok_or_else(|| invalid(format!("the {} image is damaged or cut", name(format))))?;
    if end != upload.len() {
        return Err(invalid(format!(
            "{} bytes follow the end of the {} image: upload the image alone",
            upload.len() - end,
            name(format)
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(upload), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_UPLOAD_SIDE);
    limits.max_image_height = Some(MAX_UPLOAD_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(refused)?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(invalid("the image has no pixels"));
    }
    let side = w.min(h);
    let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let small = square.resize_exact(
        AVATAR_SIDE,
        AVATAR_SIDE,
        image::imageops::FilterType::Lanczos3,
    );
    let mut out = Vec::new();
    let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
    if small.color().has_alpha() {
        let px = small.to_rgba8();
        encoder.encode(
            &px,
            AVATAR_SIDE,
            AVATAR_SIDE,
            image::ExtendedColorType::Rgba8,
        )
    } else {
        let px = small.to_rgb8();
        encoder.encode(
            &px,
            AVATAR_SIDE,
            AVATAR_SIDE,
            image::ExtendedColorType::Rgb8,
        )
    }
    .map_err(|e| ApiError::internal("encoding an avatar", e))?;
    Ok(Avatar {
        tag: tag_of(&out),
        content_type: AVATAR_TYPE.into(),
        bytes: out,
    })
}

/// The tag of a stored image: 16 hex digits of its SHA-256.
fn tag_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidImage, msg)
}

fn name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        _ => "WebP",
    }
}

/// The format the first bytes announce, if it is one accepted.
fn format_of(b: &[u8]) -> Result<ImageFormat, ApiError> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(ImageFormat::Png)
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(ImageFormat::Jpeg)
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Ok(ImageFormat::WebP)
    } else {
        Err(invalid("an avatar must be a PNG, JPEG or WebP image"))
    }
}

/// A decoding failure as an answer: over a limit → `too_large`, anything
/// else → `invalid_image`.
fn refused(e: ImageError) -> ApiError {
    match e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => ApiError::new(
                Code::TooLarge,
                format!("an avatar may be at most {MAX_UPLOAD_SIDE}×{MAX_UPLOAD_SIDE} pixels"),
            ),
            _ => ApiError::new(Code::TooLarge, "the image needs too much memory to decode"),
        },
        other => invalid(format!("the image could not be read: {other}")),
    }
}

/// Where the image that starts `b` ends (the offset after its last byte),
/// walking the container's structure; `None` when it is cut short.
fn image_end(f: ImageFormat, b: &[u8]) -> Option<usize> {
    match f {
        ImageFormat::Png => png_end(b),
        ImageFormat::Jpeg => jpeg_end(b),
        _ => webp_end(b),
    }
}

/// After the `IEND` chunk.
fn png_end(b: &[u8]) -> Option<usize> {
    let mut at = 8;
    loop {
        let len = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = b.get(at + 4..at + 8)?;
        let next = at.checked_add(12)?.checked_add(len)?;
        if next > b.len() {
            return None;
        }
        if kind == b"IEND" {
            return Some(next);
        }
        at = next;
    }
}

/// After the end-of-image marker: segments are skipped by their lengths,
/// entropy-coded data up to the next marker (a 0xFF not followed by 0x00 or
/// a restart marker).
fn jpeg_end(b: &[u8]) -> Option<usize> {
    let mut at = 2; // after SOI
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        at += 2;
        match marker {
            0xD9 => return Some(at),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
        if len < 2 {
            return None;
        }
        at = at.checked_add(len)?;
        if at > b.len() {
            return None;
        }
        if marker == 0xDA {
            // Start of scan: entropy-coded data follows, up to a marker.
            loop {
                let i = at + b.get(at..)?.iter().position(|&x| x == 0xFF)?;
                match *b.get(i + 1)? {
                    0x00 | 0xD0..=0xD7 | 0xFF => at = i + 1,
                    _ => {
                        at = i;
                        break;
                    }
                }
            }
        }
    }
}

/// After the RIFF container (its length counts everything after the first
/// eight bytes).
fn webp_end(b: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    let end = len.checked_add(8)?;
    (end <= b.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage, RgbaImage};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&img, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, 40, y as u8]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .write_image(&img, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn webp(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, _| image::Rgba([0, x as u8, 0, 200]));
        let mut out = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(&img, w, h, image::ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn code(r: Result<Avatar, ApiError>) -> Code {
        r.expect_err("refused").code
    }

    #[test]
    fn png_jpeg_and_webp_become_small_square_webp() {
        for (upload, what) in [
            (png(300, 200), "png"),
            (jpeg(120, 500), "jpeg"),
            (webp(64, 64), "webp"),
        ] {
            let a = reencode(&upload).unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(a.content_type, "image/webp");
            assert_eq!(a.tag.len(), 16);
            let back = image::load_from_memory_with_format(&a.bytes, ImageFormat::WebP).unwrap();
            assert_eq!((back.width(), back.height()), (AVATAR_SIDE, AVATAR_SIDE));
            assert_eq!(
                reencode(&upload).unwrap().tag,
                a.tag,
                "the same image, the same tag"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(code(reencode(b"")), Code::InvalidImage);
        assert_eq!(code(reencode(b"hello, world")), Code::InvalidImage);
        assert_eq!(
            code(reencode(b"GIF89a\x01\x00\x01\x00")),
            Code::InvalidImage
        );
        assert_eq!(
            code(reencode(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>")),
            Code::InvalidImage
        );
        let p = png(20, 20);
        assert_eq!(
            code(reencode(&p[..p.len() - 20])),
            Code::InvalidImage,
            "cut"
        );
        let j = jpeg(20, 20);
        assert_eq!(code(reencode(&j[..j.len() / 2])), Code::InvalidImage, "cut");
        // A damaged body inside an intact container.
        let mut bad = p.clone();
        for b in &mut bad[40..60] {
            *b ^= 0x5A;
        }
        assert_eq!(code(reencode(&bad)), Code::InvalidImage);
    }

    #[test]
    fn polyglots_are_refused() {
        let zip =
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload.html<script>alert(1)</script>PK\x05\x06";
        for (mut img, what) in [
            (png(16, 16), "png"),
            (jpeg(16, 16), "jpeg"),
            (webp(16, 16), "webp"),
        ] {
            img.extend_from_slice(zip);
            assert_eq!(code(reencode(&img)), Code::InvalidImage, "{what}+zip");
        }
        // A page with an image inside does not start as an image.
        let mut page = b"<html><script>alert(1)</script>".to_vec();
        page.extend_from_slice(&png(8, 8));
        assert_eq!(code(reencode(&page)), Code::InvalidImage);
    }

    #[test]
    fn metadata_never_survives() {
        // A tEXt chunk with a script, before IEND: a valid PNG, kept as pixels only.
        let p = png(32, 32);
        let iend = p.len() - 12;
        let mut chunk = Vec::new();
        let data = b"Comment\0<script>alert(1)</script>";
        chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(data);
        let mut crc_in = b"tEXt".to_vec();
        crc_in.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&crc_in).to_be_bytes());
        let mut with = p[..iend].to_vec();
        with.extend_from_slice(&chunk);
        with.extend_from_slice(&p[iend..]);
        let a = reencode(&with).expect("a valid PNG");
        assert!(!a.bytes.windows(7).any(|w| w == b"<script"));
        assert!(!a.bytes.windows(7).any(|w| w == b"Comment"));
    }

    #[test]
    fn bombs_are_refused_before_decoding() {
        // A PNG that says 20000×20000 (1.2 GB of pixels) in a few hundred bytes.
        let mut p = png(1, 1);
        p[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        p[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&p[12..29]);
        p[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(code(reencode(&p)), Code::TooLarge);
    }

    /// CRC-32 of PNG chunks (IEEE, reflected).
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
}
