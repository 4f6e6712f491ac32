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

/// The font of the plots' axes and legend: DejaVu Sans cut down to printable ASCII (14 KB),
/// built in so a plot looks the same on a machine with no fonts installed.
const FONT: &[u8] = include_bytes!("DejaVuSans-ascii.ttf");

fn register_font() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT)
            .map_err(|_| "the built-in plot font does not parse".to_string())
    })
    .clone()
}

/// Centred moving average over `window` points (shorter at the ends), so the trend of the
/// very noisy per-iteration scores is readable under the raw curve.
pub fn moving_average(ys: &[f32], window: usize) -> Vec<f32> {
    let half = window / 2;
    let mut prefix = vec![0f64; ys.len() + 1];
    for (i, &y) in ys.iter().enumerate() {
        prefix[i + 1] = prefix[i] + y as f64;
    }
    (0..ys.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(ys.len()));
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

type Chart<'a, 'b> = plotters::chart::ChartContext<
    'a,
    plotters::backend::BitMapBackend<'b>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;
type DrawError = plotters::drawing::DrawingAreaErrorKind<
    <plotters::backend::BitMapBackend<'static> as plotters::prelude::DrawingBackend>::ErrorType,
>;

/// A 900 x 450 line chart with axes (iteration against `y_desc` on [0, ymax]), what `draw`
/// puts in it, and a legend of the labelled series, saved as a PNG.
fn chart(
    path: &Path,
    xmax: f64,
    ymax: f64,
    y_desc: &str,
    legend_at: plotters::chart::SeriesLabelPosition,
    draw: impl FnOnce(&mut Chart) -> Result<(), DrawError>,
) -> Result<(), String> {
    use plotters::prelude::*;
    register_font()?;
    let (w, h) = (900u32, 450u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |e: DrawError| e.to_string();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..xmax.max(1.0), 0f64..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(y_desc)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(e)?;
        draw(&mut chart).map_err(e)?;
        chart
            .configure_series_labels()
            .position(legend_at)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    let img = RgbImage::from_raw(w, h, buf).expect("buffer matches the plot size");
    save_png(&img, path)
}

/// The D score ((mean p(real) + mean (1 - p(fake))) / 2) and the G score (mean p(fake)) against
/// iteration, as MATLAB's example plots them: raw per-iteration values faint, a moving average
/// on top, the 0.5 equilibrium as a grey line, axes and a legend.
pub fn save_scores(iters: &[u64], d: &[f32], g: &[f32], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let xmax = iters.last().copied().unwrap_or(1).max(1) as f64;
    chart(
        path,
        xmax,
        1.0,
        "score",
        SeriesLabelPosition::UpperRight,
        |chart| {
            chart.draw_series(LineSeries::new(
                [(0.0, 0.5), (xmax, 0.5)],
                RGBColor(150, 150, 150),
            ))?;
            let window = (iters.len() / 60).max(1) | 1;
            let series = [
                (
                    d,
                    RGBColor(31, 90, 200),
                    RGBColor(170, 195, 240),
                    "D score: (p(real) + 1 - p(fake)) / 2",
                ),
                (
                    g,
                    RGBColor(210, 40, 40),
                    RGBColor(245, 185, 185),
                    "G score: p(fake)",
                ),
            ];
            for (ys, _, faint, _) in series {
                chart.draw_series(LineSeries::new(
                    iters.iter().zip(ys).map(|(&x, &y)| (x as f64, y as f64)),
                    faint,
                ))?;
            }
            for (ys, strong, _, name) in series {
                chart
                    .draw_series(LineSeries::new(
                        iters
                            .iter()
                            .zip(moving_average(ys, window))
                            .map(|(&x, y)| (x as f64, y as f64)),
                        strong.stroke_width(2),
                    ))?
                    .label(if window > 1 {
                        format!("{name}, moving mean of {window} iterations")
                    } else {
                        name.to_string()
                    })
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], strong.stroke_width(2))
                    });
            }
            Ok(())
        },
    )
}

/// Sample quality against iteration: the SWD x 1000 of generated against real images at each
/// pyramid level (`levels` names them, `swd[level][point]`), and as a grey line the mean SWD
/// between two sets of real images, the floor that sampling noise reaches.
pub fn save_quality(
    iters: &[u64],
    levels: &[usize],
    swd: &[Vec<f64>],
    floor: &[f64],
    path: &Path,
) -> Result<(), String> {
    use plotters::prelude::*;
    let xmax = iters.last().copied().unwrap_or(1).max(1) as f64;
    let ymax = swd
        .iter()
        .flatten()
        .chain(floor)
        .fold(1.0f64, |m, &v| m.max(v))
        * 1.1;
    chart(
        path,
        xmax,
        ymax,
        "SWD x 1000",
        SeriesLabelPosition::UpperRight,
        |chart| {
            let colors = [
                RGBColor(31, 90, 200),
                RGBColor(40, 150, 60),
                RGBColor(210, 40, 40),
            ];
            for (k, (ys, size)) in swd.iter().zip(levels).enumerate() {
                let color = colors[k % colors.len()];
                let pts: Vec<(f64, f64)> =
                    iters.iter().zip(ys).map(|(&x, &y)| (x as f64, y)).collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                    .label(format!("generated vs real, {size}x{size} level"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
            }
            let grey = RGBColor(150, 150, 150);
            chart
                .draw_series(LineSeries::new(
                    iters.iter().zip(floor).map(|(&x, &y)| (x as f64, y)),
                    grey.stroke_width(2),
                ))?
                .label("real vs real, mean of the levels (the noise floor)")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], grey.stroke_width(2))
                });
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::moving_average;

    #[test]
    fn moving_average_is_centred_and_shrinks_at_the_ends() {
        let ys = [0.0, 1.0, 2.0, 3.0, 4.0, 10.0];
        let m = moving_average(&ys, 3);
        assert_eq!(m, vec![0.5, 1.0, 2.0, 3.0, 17.0 / 3.0, 7.0]);
        assert_eq!(moving_average(&ys, 1), ys.to_vec());
        assert!(moving_average(&[], 5).is_empty());
    }
}
