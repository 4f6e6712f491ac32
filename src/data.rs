//! Training images: a folder of JPEG/PNG files (recursive) and an optional ISIC labels CSV,
//! decoded once on worker threads, squash-resized to 64 x 64 and kept in memory; batches are
//! assembled (shuffle, random left-right flip, scale to [-1, 1]) ahead of the GPU.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;

/// The resize filter, recorded in each run's config: bicubic (Catmull-Rom) whose support widens
/// with the downscale factor, i.e. antialiased like MATLAB's imresize default.
pub const RESIZE_FILTER: &str = "bicubic (Catmull-Rom), antialiased";

#[derive(Debug)]
pub enum DataError {
    Missing(PathBuf),
    NotADirectory(PathBuf),
    NoImages(PathBuf),
    Io(PathBuf, std::io::Error),
    TooFew { usable: usize, batch: usize },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Missing(p) => write!(f, "{}: no such file or directory", p.display()),
            DataError::NotADirectory(p) => write!(f, "{}: not a directory", p.display()),
            DataError::NoImages(p) => {
                write!(f, "{}: no .jpg, .jpeg or .png images found", p.display())
            }
            DataError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            DataError::TooFew { usable, batch } => write!(
                f,
                "only {usable} usable images, fewer than one batch of {batch}; add images or \
                 lower --batch-size"
            ),
        }
    }
}

impl std::error::Error for DataError {}

/// One decoded image: 64 x 64 RGB, row-major, interleaved.
pub struct Sample {
    pub path: PathBuf,
    pub label: Option<String>,
    pub rgb: Vec<u8>,
}

pub struct Dataset {
    pub samples: Vec<Sample>,
    pub size: usize,
}

/// What loading had to leave out; reported once, after loading.
#[derive(Default, Debug)]
pub struct LoadReport {
    pub skipped: Vec<(PathBuf, String)>,
    pub labels_without_image: Vec<String>,
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("jpg" | "jpeg" | "png")
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io(dir.to_path_buf(), e))?;
    for entry in rd {
        let entry = entry.map_err(|e| DataError::Io(dir.to_path_buf(), e))?;
        let p = entry.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads `image,label` rows (header optional, blank lines and CRLF tolerated).
pub fn read_labels(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let text = std::fs::read(path).map_err(|e| DataError::Io(path.to_path_buf(), e))?;
    Ok(parse_labels(&text))
}

/// Parses labels CSV bytes; malformed rows (fewer than two columns) are ignored.
pub fn parse_labels(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut cols = line.split(',').map(|c| c.trim().trim_matches('"'));
        let (Some(name), Some(label)) = (cols.next(), cols.next()) else {
            continue;
        };
        if i == 0 && (name.eq_ignore_ascii_case("image") || name.eq_ignore_ascii_case("image_id")) {
            continue;
        }
        rows.push((name.to_string(), label.to_string()));
    }
    rows
}

/// Decodes and squash-resizes one file to `size` x `size` RGB.
pub fn decode(path: &Path, size: usize) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    decode_bytes(&bytes, size)
}

/// Decodes and squash-resizes encoded JPEG/PNG bytes; any malformed input is an error.
pub fn decode_bytes(bytes: &[u8], size: usize) -> Result<Vec<u8>, String> {
    // Images beyond this many pixels are refused before decoding rather than exhausting memory.
    const MAX_PIXELS: u64 = 100_000_000;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 || w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("unsupported image size {w} x {h}"));
    }
    // The JPEG decoder fills a truncated image's missing rows with grey instead of failing;
    // a file that stops before its end-of-image marker is refused here.
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let end = bytes
            .iter()
            .rposition(|&b| b != 0 && b != b'\n' && b != b'\r');
        if end.is_none_or(|e| e < 1 || bytes[e - 1..=e] != [0xFF, 0xD9]) {
            return Err("truncated JPEG: no end-of-image marker".into());
        }
    }
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    // to_rgb8 converts grayscale, alpha, 16-bit and palette images; the decoder handles CMYK.
    let rgb = img.to_rgb8();
    let small = image::imageops::resize(&rgb, size as u32, size as u32, FilterType::CatmullRom);
    Ok(small.into_raw())
}

/// Loads every image under `dir`; with `labels`, only the images the CSV names (rows naming
/// missing files are reported, not fatal).
pub fn load(
    dir: &Path,
    labels: Option<&Path>,
    size: usize,
) -> Result<(Dataset, LoadReport), DataError> {
    if !dir.exists() {
        return Err(DataError::Missing(dir.to_path_buf()));
    }
    if !dir.is_dir() {
        return Err(DataError::NotADirectory(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut report = LoadReport::default();
    let mut label_of: HashMap<String, String> = HashMap::new();
    if let Some(csv) = labels {
        if !csv.exists() {
            return Err(DataError::Missing(csv.to_path_buf()));
        }
        let rows = read_labels(csv)?;
        let stems: HashMap<String, &PathBuf> = files
            .iter()
            .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
            .collect();
        for (name, label) in rows {
            let stem = Path::new(&name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(&name)
                .to_string();
            if stems.contains_key(&stem) {
                label_of.insert(stem, label);
            } else {
                report.labels_without_image.push(name);
            }
        }
        files.retain(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| label_of.contains_key(s))
        });
    }
    if files.is_empty() {
        return Err(DataError::NoImages(dir.to_path_buf()));
    }
    // Decode on all cores, in order, so the dataset does not depend on thread timing.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(16);
    let chunk = files.len().div_ceil(threads);
    let decoded: Vec<Result<Vec<u8>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| decode(p, size)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("decoder thread panicked"))
            .collect()
    });
    let mut samples = Vec::new();
    for (path, r) in files.into_iter().zip(decoded) {
        match r {
            Ok(rgb) => {
                let label = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| label_of.get(s).cloned());
                samples.push(Sample { path, label, rgb });
            }
            Err(e) => report.skipped.push((path, e)),
        }
    }
    if samples.is_empty() {
        return Err(DataError::NoImages(dir.to_path_buf()));
    }
    Ok((Dataset { samples, size }, report))
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.samples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Planar [batch, 3, size, size] in [-1, 1] for the given samples; `flip[i]` mirrors
    /// sample i left-right.
    pub fn batch(&self, indices: &[usize], flip: &[bool]) -> Vec<f32> {
        let s = self.size;
        let mut out = vec![0f32; indices.len() * 3 * s * s];
        for (b, (&i, &f)) in indices.iter().zip(flip).enumerate() {
            let rgb = &self.samples[i].rgb;
            for y in 0..s {
                for x in 0..s {
                    let sx = if f { s - 1 - x } else { x };
                    for c in 0..3 {
                        out[((b * 3 + c) * s + y) * s + x] =
                            rgb[(y * s + sx) * 3 + c] as f32 / 127.5 - 1.0;
                    }
                }
            }
        }
        out
    }
}
