//! Profiles as a user meets them, in either mode: display name and about
//! text, avatars (and the uploads refused), the `user_updated` frames that
//! reach contacts live and nobody else, and `sync_profiles` after a
//! reconnect. `profiles.rs` runs it on the standalone server,
//! `distributed_profiles.rs` on the distributed roles.

use std::io::Write;
use std::time::Duration;

use image::ImageEncoder;
use serde_json::json;

use super::*;

/// A PNG of `w`×`h` with a gradient.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&img, w, h, image::ExtendedColorType::Rgb8)
        .expect("png");
    out
}

/// A JPEG of `w`×`h`.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([200, x as u8, y as u8]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(&img, w, h, image::ExtendedColorType::Rgb8)
        .expect("jpeg");
    out
}

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

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc_in = kind.to_vec();
    crc_in.extend_from_slice(data);
    c.extend_from_slice(&crc32(&crc_in).to_be_bytes());
    c
}

/// A real decompression bomb: a valid grayscale PNG of `side`×`side` zero
/// pixels, a few hundred KB that inflate to `side`² bytes.
pub fn png_bomb(side: u32) -> Vec<u8> {
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit gray, no interlace
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; side as usize + 1]; // filter byte + pixels
    for _ in 0..side {
        z.write_all(&row).expect("deflate");
    }
    let idat = z.finish().expect("deflate");
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", &idat));
    out.extend(chunk(b"IEND", b""));
    out
}

/// A valid PNG carrying a script in a text chunk (metadata that must not
/// survive).
pub fn png_with_script() -> Vec<u8> {
    let p = png(40, 40);
    let iend = p.len() - 12;
    let mut out = p[..iend].to_vec();
    out.extend(chunk(b"tEXt", b"Comment\0<script>alert(1)</script>"));
    out.extend_from_slice(&p[iend..]);
    out
}

/// The next `user_updated` about `who`.
async fn updated_about(ws: &mut Ws, who: &str) -> User {
    ws.next_where(|f| match f {
        Frame::UserUpdated(u) if u.user.id == who => Some(u.user),
        _ => None,
    })
    .await
}

/// `sync_profiles` with `since`; the answer.
async fn sync(ws: &mut Ws, since: Option<i64>) -> Profiles {
    let mut f = json!({"type": "sync_profiles"});
    if let Some(s) = since {
        f["since"] = json!(s);
    }
    ws.send(f).await;
    ws.next_profiles().await
}

/// The whole scenario. `wait` is how long a publish may take to arrive (a
/// silence is checked after it).
pub async fn scenario(api: &Api, wait: Duration) {
    let ann = api.register("ann").await;
    let ben = api.register("ben").await;
    let eve = api.register("eve").await;
    let g = ann.group("friends", &[&ben]).await;
    let e = eve.group("eve alone", &[]).await;

    // Defaults until set.
    let me = ann.me().await.ok();
    assert_eq!(
        (me.display_name.as_str(), me.about.as_str(), &me.avatar),
        ("ann", "", &None)
    );
    assert_eq!(me.updated_at, me.created_at);

    // Who listens: ben in the group, ann's other device, eve elsewhere.
    let mut ben_ws = ben.ws().await;
    ben_ws.subscribe(&g, None).await;
    let mut ann_ws = ann.ws().await;
    let mut eve_ws = eve.ws().await;
    eve_ws.subscribe(&e, None).await;
    let first = sync(&mut ben_ws, None).await;
    assert!(first.complete && first.users.is_empty(), "{first:?}");

    // A display name and an about text, each on its own.
    let u = ann
        .update_me(json!({"display_name": "  Анна 🌸 Ünïcode  "}))
        .await
        .ok();
    assert_eq!(u.display_name, "Анна 🌸 Ünïcode", "trimmed");
    assert_eq!(u.name, "ann", "the login name stays");
    assert!(u.updated_at > u.created_at);
    let seen = updated_about(&mut ben_ws, &ann.id).await;
    assert_eq!(seen.display_name, "Анна 🌸 Ünïcode", "a contact, live");
    assert_eq!(
        updated_about(&mut ann_ws, &ann.id).await.display_name,
        "Анна 🌸 Ünïcode",
        "the user's other device"
    );
    let u = ann
        .update_me(json!({"about": "line one\nline two"}))
        .await
        .ok();
    assert_eq!(
        (u.display_name.as_str(), u.about.as_str()),
        ("Анна 🌸 Ünïcode", "line one\nline two")
    );
    updated_about(&mut ben_ws, &ann.id).await;

    // Bad input changes nothing.
    for (body, code) in [
        (json!({"display_name": ""}), "invalid_display_name"),
        (json!({"display_name": "   "}), "invalid_display_name"),
        (json!({"display_name": "a\nb"}), "invalid_display_name"),
        (
            json!({"display_name": "\u{200B}\u{200D}"}),
            "invalid_display_name",
        ),
        (
            json!({"display_name": "x".repeat(65)}),
            "invalid_display_name",
        ),
        (json!({"display_name": "nul\u{0}"}), "invalid_display_name"),
        (json!({"about": "y".repeat(501)}), "invalid_about"),
        (json!({"about": "bell\u{7}"}), "invalid_about"),
        (json!({}), "bad_json"),
        (json!({"name": "renamed"}), "bad_json"),
        (json!({"display_name": 7}), "bad_json"),
    ] {
        let r = ann.update_me(body.clone()).await.refused();
        assert_eq!(r, (400, code), "{body}: {r:?}");
    }
    assert_eq!(
        ann.update_me(json!({"display_name": "ок".repeat(32)}))
            .await
            .ok()
            .display_name
            .chars()
            .count(),
        64,
        "64 characters are fine"
    );
    ann.update_me(json!({"display_name": "Анна 🌸 Ünïcode"}))
        .await
        .ok();
    updated_about(&mut ben_ws, &ann.id).await;
    assert_eq!(
        updated_about(&mut ben_ws, &ann.id).await.display_name,
        "Анна 🌸 Ünïcode",
        "the changes in order"
    );

    // An avatar: re-encoded, served with its tag, told to contacts.
    let u = ann.put_avatar(png(300, 200)).await.ok();
    let tag = u.avatar.clone().expect("a tag");
    assert_eq!(
        updated_about(&mut ben_ws, &ann.id).await.avatar.as_deref(),
        Some(tag.as_str())
    );
    let (st, h, body) = ben.avatar(&ann.id).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "image/webp");
    assert_eq!(h["etag"], format!("\"{tag}\"").as_str());
    assert_eq!(h["x-content-type-options"], "nosniff");
    let img = image::load_from_memory_with_format(&body, image::ImageFormat::WebP).expect("webp");
    assert_eq!((img.width(), img.height()), (160, 160), "a small square");
    let path = format!("/api/v1/users/{}/avatar", ann.id);
    let (st, _, _) = api
        .get_bytes(
            &path,
            Some(&ben.token),
            &[("if-none-match", &format!("\"{tag}\""))],
        )
        .await;
    assert_eq!(st, 304, "unchanged");
    let (st, h, again) = api.get_bytes(&format!("{path}?v={tag}"), None, &[]).await;
    assert_eq!((st, again == body), (200, true), "the URL a profile names");
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    for anonymous in [path.clone(), format!("{path}?v=0123456789abcdef")] {
        let (st, _, _) = api.get_bytes(&anonymous, None, &[]).await;
        assert_eq!(st, 404, "{anonymous}: an id alone tells nothing");
    }
    let (st, _, _) = api
        .get_bytes(
            &format!("/api/v1/users/{}/avatar", ben.id),
            Some(&ann.token),
            &[],
        )
        .await;
    assert_eq!(st, 404, "no avatar");
    let users = ben.users(&[&ann.id]).await.ok();
    assert_eq!(users[0].avatar.as_deref(), Some(tag.as_str()));
    // The same picture again: the same tag. A JPEG works too.
    assert_eq!(ann.put_avatar(png(300, 200)).await.ok().avatar, u.avatar);
    updated_about(&mut ben_ws, &ann.id).await;

    // Uploads refused, and the avatar kept.
    let mut zip_after = png(32, 32);
    zip_after
        .extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00payload<script>alert(1)</script>PK\x05\x06");
    let mut page = b"<!doctype html><script>alert(1)</script>".to_vec();
    page.extend(png(8, 8));
    let mut too_wide = png(1, 1);
    too_wide[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    let crc = crc32(&too_wide[12..29]);
    too_wide[29..33].copy_from_slice(&crc.to_be_bytes());
    let j = jpeg(64, 64);
    for (upload, want, what) in [
        (b"just some text".to_vec(), (400, "invalid_image"), "text"),
        (Vec::new(), (400, "invalid_image"), "empty"),
        (
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            (400, "invalid_image"),
            "gif",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
            (400, "invalid_image"),
            "svg",
        ),
        (zip_after, (400, "invalid_image"), "png + zip (a polyglot)"),
        (page, (400, "invalid_image"), "html + png (a polyglot)"),
        (
            j[..j.len() / 2].to_vec(),
            (400, "invalid_image"),
            "a cut jpeg",
        ),
        (too_wide, (413, "too_large"), "50000 pixels wide"),
        (png_bomb(12_000), (413, "too_large"), "a decompression bomb"),
    ] {
        let r = ann.put_avatar(upload).await.refused();
        assert_eq!(r, want, "{what}: {r:?}");
    }
    // Over the size limit: answered before the body is read, and the
    // connection closed (so on a client of its own).
    let alone = ann.via(&Api::new(api.base.clone()));
    let r = alone
        .put_avatar(vec![0x89; 6 * 1024 * 1024])
        .await
        .refused();
    assert_eq!(r, (413, "too_large"), "6 MiB");
    assert_eq!(ann.me().await.ok().avatar, Some(tag.clone()), "unchanged");

    // Metadata never survives: what is served is our encoding.
    let u = ann.put_avatar(png_with_script()).await.ok();
    assert_ne!(u.avatar, Some(tag.clone()));
    let (_, _, served) = ben.avatar(&ann.id).await;
    assert!(!served.windows(7).any(|w| w == b"<script"));
    assert!(served.starts_with(b"RIFF") && &served[8..12] == b"WEBP");
    updated_about(&mut ben_ws, &ann.id).await;
    let u = ann.put_avatar(jpeg(500, 300)).await.ok();
    assert!(u.avatar.is_some());
    updated_about(&mut ben_ws, &ann.id).await;

    // Removed: no image, and contacts told.
    let u = ann.delete_avatar().await.ok();
    assert_eq!(u.avatar, None);
    assert_eq!(updated_about(&mut ben_ws, &ann.id).await.avatar, None);
    assert_eq!(ben.avatar(&ann.id).await.0, 404);
    assert_eq!(u.display_name, "Анна 🌸 Ünïcode", "the rest is kept");

    // Nobody else heard any of it.
    tokio::time::sleep(wait).await;
    let heard = eve_ws.until_pong().await;
    assert!(
        !heard.iter().any(|f| matches!(f, Frame::UserUpdated(_))),
        "a stranger hears no profile change: {heard:?}"
    );

    // On resume: ben away while ann changes again (and eve, a stranger).
    let before = sync(&mut ben_ws, Some(first.as_of)).await;
    assert!(before.complete);
    assert!(before.users.iter().any(|u| u.id == ann.id));
    assert!(!before.users.iter().any(|u| u.id == eve.id));
    drop(ben_ws);
    ann.update_me(json!({"about": "changed while ben was away"}))
        .await
        .ok();
    eve.update_me(json!({"display_name": "Eve the stranger"}))
        .await
        .ok();
    let mut ben_ws = ben.ws().await;
    let back = sync(&mut ben_ws, Some(before.as_of)).await;
    assert!(back.complete, "{back:?}");
    let found: Vec<_> = back.users.iter().filter(|u| u.id == ann.id).collect();
    assert_eq!(found.len(), 1, "{back:?}");
    assert_eq!(found[0].about, "changed while ben was away");
    assert!(
        !back.users.iter().any(|u| u.id == eve.id),
        "only contacts: {back:?}"
    );
    let week_ago = back.as_of - 8 * 24 * 3600 * 1000;
    let old = sync(&mut ben_ws, Some(week_ago)).await;
    assert!(!old.complete && old.users.is_empty(), "too old to list");

    // A login answers the profile with the account.
    let again = api.login("ann").await;
    let me = again.me().await.ok();
    assert_eq!(me.about, "changed while ben was away");
}
