//! Image and labels loading: every kind of bad or unusual input is a clear error, a counted
//! skip, or a conversion; random and mutated bytes never panic the decoders.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dcgan::data::{self, DataError};
use image::{DynamicImage, ImageBuffer, Luma, Rgb, Rgba};

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dcgan-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn rgb(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    }))
}

fn jpeg_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A 20 x 20 palette (indexed) PNG, every pixel palette entry 1: (200, 30, 60).
fn palette_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 20, 20);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(vec![0, 0, 0, 200, 30, 60]);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&[1u8; 400]).unwrap();
    w.finish().unwrap();
    out
}

/// A 24 x 16 CMYK JPEG of one colour.
fn cmyk_jpeg(cmyk: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let pixels: Vec<u8> = cmyk.iter().copied().cycle().take(24 * 16 * 4).collect();
    jpeg_encoder::Encoder::new(&mut out, 95)
        .encode(&pixels, 24, 16, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn missing_empty_and_imageless_folders_are_clear_errors() {
    let missing = std::env::temp_dir().join("dcgan-no-such-folder-xyz");
    let e = data::load(&missing, None, 64).err().unwrap();
    assert!(matches!(e, DataError::Missing(_)));
    assert!(e.to_string().contains("dcgan-no-such-folder-xyz"));

    let empty = scratch("empty");
    assert!(matches!(
        data::load(&empty, None, 64).err().unwrap(),
        DataError::NoImages(_)
    ));

    let text = scratch("text");
    write(&text, "notes.txt", b"hello");
    assert!(matches!(
        data::load(&text, None, 64).err().unwrap(),
        DataError::NoImages(_)
    ));

    let file = text.join("notes.txt");
    assert!(matches!(
        data::load(&file, None, 64).err().unwrap(),
        DataError::NotADirectory(_)
    ));
}

#[test]
fn broken_files_are_skipped_and_named_and_odd_formats_are_converted() {
    let dir = scratch("mixed");
    let good = jpeg_bytes(&rgb(80, 60));
    write(&dir, "a_good.jpg", &good);
    write(&dir, "b_not_an_image.jpg", b"this is text with a .jpg name");
    write(&dir, "c_truncated.jpg", &good[..good.len() / 3]);
    let mut corrupt = png_bytes(&rgb(30, 30));
    let n = corrupt.len();
    corrupt[n / 2..n / 2 + 40].fill(0xAB);
    write(&dir, "d_corrupt.png", &corrupt);
    // Converted, not refused: grayscale, RGBA, 16-bit, tiny and large images, nested folders.
    let gray = DynamicImage::ImageLuma8(ImageBuffer::from_fn(50, 70, |x, _| Luma([x as u8])));
    write(&dir, "e_gray.png", &png_bytes(&gray));
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(40, 40, |x, y| {
        Rgba([x as u8, y as u8, 9, 128])
    }));
    write(&dir, "f_rgba.png", &png_bytes(&rgba));
    let deep = DynamicImage::ImageRgb16(ImageBuffer::from_fn(33, 21, |x, y| {
        Rgb([(x * 1000) as u16, (y * 2000) as u16, 65535])
    }));
    write(&dir, "g_16bit.png", &png_bytes(&deep));
    write(&dir, "h_tiny.png", &png_bytes(&rgb(3, 5)));
    write(&dir, "i_large.jpg", &jpeg_bytes(&rgb(2500, 1800)));
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    write(&dir.join("sub/deeper"), "j_nested.JPEG", &good);
    write(&dir, "k_palette.png", &palette_png());
    write(&dir, "l_cmyk.jpg", &cmyk_jpeg([0, 200, 150, 0]));

    let (ds, report) = data::load(&dir, None, 64).unwrap();
    assert_eq!(
        ds.len(),
        9,
        "good, gray, rgba, 16-bit, tiny, large, nested, palette, CMYK"
    );
    assert!(ds.samples.iter().all(|s| s.rgb.len() == 64 * 64 * 3));
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        skipped,
        ["b_not_an_image.jpg", "c_truncated.jpg", "d_corrupt.png"]
    );
    assert!(report.skipped.iter().all(|(_, why)| !why.is_empty()));
}

#[test]
fn labels_csv_with_or_without_header_crlf_blank_lines_and_missing_rows() {
    let dir = scratch("labels");
    let img = jpeg_bytes(&rgb(64, 64));
    for n in ["ISIC_1", "ISIC_2", "ISIC_3"] {
        write(&dir, &format!("{n}.jpg"), &img);
    }
    let with_header = "image,label\r\nISIC_1,benign\r\n\r\nISIC_2,malignant\r\nISIC_9,benign\r\n";
    write(&dir, "with_header.csv", with_header.as_bytes());
    let (ds, report) = data::load(&dir, Some(&dir.join("with_header.csv")), 64).unwrap();
    assert_eq!(ds.len(), 2, "only the images the CSV names");
    assert_eq!(report.labels_without_image, ["ISIC_9"]);
    let labels: Vec<_> = ds
        .samples
        .iter()
        .map(|s| s.label.clone().unwrap())
        .collect();
    assert_eq!(labels, ["benign", "malignant"]);

    write(
        &dir,
        "no_header.csv",
        b"ISIC_3,benign\nISIC_1,unknown-label\n\n",
    );
    let (ds, report) = data::load(&dir, Some(&dir.join("no_header.csv")), 64).unwrap();
    assert_eq!(ds.len(), 2);
    assert!(report.labels_without_image.is_empty());
    assert_eq!(
        data::parse_labels(b"image_id,label\nA,b\n,\njunk\n"),
        [
            ("A".to_string(), "b".to_string()),
            (String::new(), String::new())
        ]
    );

    let e = data::load(&dir, Some(&dir.join("absent.csv")), 64)
        .err()
        .unwrap();
    assert!(e.to_string().contains("absent.csv"));
}

/// A bounded property test: random bytes and random mutations of valid JPEG and PNG files
/// must come back as Ok or Err from the decoder and the CSV parser, never as a panic.
#[test]
fn random_and_mutated_bytes_never_panic_the_loaders() {
    let seeds = [jpeg_bytes(&rgb(48, 40)), png_bytes(&rgb(36, 52))];
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut cases = 0;
    while Instant::now() < deadline {
        let r = next();
        let bytes: Vec<u8> = if r % 4 == 0 {
            (0..(next() % 2048)).map(|_| next() as u8).collect()
        } else {
            let mut b = seeds[(r as usize / 4) % 2].clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[i] = next() as u8,
                    1 => b.truncate(i.max(1)),
                    _ => b.insert(i, next() as u8),
                }
            }
            b
        };
        let _ = data::decode_bytes(&bytes, 64);
        let _ = data::parse_labels(&bytes);
        cases += 1;
    }
    assert!(cases > 50, "only {cases} cases in the time budget");
}

#[test]
fn fewer_usable_images_than_one_batch_is_refused_by_the_trainer() {
    let dir = scratch("few");
    for i in 0..3 {
        write(&dir, &format!("x{i}.png"), &png_bytes(&rgb(20, 20)));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dcgan"))
        .args(["train", "--batch-size", "4", "--iterations", "1", "--data"])
        .arg(&dir)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("only 3 usable images"), "{err}");
}

#[test]
fn palette_png_and_cmyk_jpeg_decode_to_their_colours() {
    let pal = data::decode_bytes(&palette_png(), 64).unwrap();
    assert_eq!(pal.len(), 64 * 64 * 3);
    assert!(pal.chunks(3).all(|p| p == [200, 30, 60]), "palette colour");
    // CMYK (0, 200, 150, 0): no cyan, much magenta and yellow, no black: a red, within JPEG's
    // rounding.
    let red = data::decode_bytes(&cmyk_jpeg([0, 200, 150, 0]), 64).unwrap();
    let mean = |c: usize| {
        red.iter()
            .skip(c)
            .step_by(3)
            .map(|&v| v as f64)
            .sum::<f64>()
            / 4096.0
    };
    let (r, g, b) = (mean(0), mean(1), mean(2));
    assert!(
        r > 235.0 && g < 80.0 && b < 120.0 && b > g,
        "CMYK red came out as {r:.0} {g:.0} {b:.0}"
    );
    let white = data::decode_bytes(&cmyk_jpeg([0, 0, 0, 0]), 64).unwrap();
    assert!(white.iter().all(|&v| v > 245), "CMYK white");
}
