//! What a person looks at: preview grids (PNG), the training animation (GIF) and the score
//! curves (PNG, drawn with plotters).

use std::path::Path;

use image::{Rgb, RgbImage};

/// One [3, s, s] image in [-1, 1] to 8-bit RGB.
pub fn to_rgb(chw: &[f32], s: usize) -> RgbImage {
    RgbImage::from_fn(s as u32, s as u32, |x, y| {
        let px = |c: usize| {
            let v = chw[(c * s + y as usize) * s + x as usize];
            ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
        };
        Rgb([px(0), px(1), px(2)])
    })
}

/// `images` is [n, 3, s, s]; lays them out `cols` wide with a 2-pixel dark gap.
pub fn grid(images: &[f32], n: usize, s: usize, cols: usize) -> RgbImage {
    let rows = n.div_ceil(cols);
    let gap = 2;
    let (w, h) = (cols * (s + gap) + gap, rows * (s + gap) + gap);
    let mut out = RgbImage::from_pixel(w as u32, h as u32, Rgb([20, 20, 20]));
    for i in 0..n {
        let tile = to_rgb(&images[i * 3 * s * s..(i + 1) * 3 * s * s], s);
        let (x0, y0) = (gap + (i % cols) * (s + gap), gap + (i / cols) * (s + gap));
        image::imageops::replace(&mut out, &tile, x0 as i64, y0 as i64);
    }
    out
}

/// Saves through a temporary file and a rename, so readers never see half an image.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<(), String> {
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The preview grids as an animation, 0.4 s a frame, looping.
pub fn save_gif(frames: &[RgbImage], path: &Path) -> Result<(), String> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let tmp = path.with_extension("gif.tmp");
    {
        let f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut enc = GifEncoder::new_with_speed(std::io::BufWriter::new(f), 10);
        enc.set_repeat(Repeat::Infinite)
            .map_err(|e| e.to_string())?;
        for fr in frames {
            let rgba = image::DynamicImage::ImageRgb8(fr.clone()).to_rgba8();
            enc.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(400, 1),
            ))
            .map_err(|e| e.to_string())?;
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// D score (blue) and G score (red) against iteration, y in [0, 1], a grey line at the 0.5
/// equilibrium. No text: the plot stays font-free so it renders on any machine.
pub fn save_scores(iters: &[u64], d: &[f32], g: &[f32], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let (w, h) = (800u32, 400u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let xmax = iters.last().copied().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .build_cartesian_2d(0f64..xmax, 0f64..1f64)
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.5), (xmax, 0.5)],
                RGBColor(180, 180, 180),
            ))
            .map_err(|e| e.to_string())?;
        for (ys, color) in [(d, BLUE), (g, RED)] {
            chart
                .draw_series(LineSeries::new(
                    iters.iter().zip(ys).map(|(&x, &y)| (x as f64, y as f64)),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    let img = RgbImage::from_raw(w, h, buf).expect("buffer matches the plot size");
    save_png(&img, path)
}
