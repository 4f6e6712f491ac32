//! Sample quality as sliced Wasserstein distance (SWD; Karras et al. 2018, "Progressive
//! growing of GANs", §5): how far the distribution of 7 x 7 patches of generated images lies
//! from that of real ones, per level of a Laplacian pyramid (fine detail at 64 x 64, coarser
//! structure at 32 and 16). Unlike FID it needs no pretrained network, so nothing is downloaded.
//!
//! Per level, each image gives 128 patches at random places; each set of patches is normalised
//! per colour channel; the distance is the mean, over 512 random unit directions, of the L1
//! distance between the sorted projections of the two sets (an estimate of the 1-Wasserstein
//! distance of the projected distributions), reported x 1000 as in that paper. Two sets of
//! real images give the floor that sampling noise alone reaches.

use rand::{RngExt, SeedableRng};

/// Patch side.
pub const PATCH: usize = 7;
/// Patches per image per level.
pub const PATCHES_PER_IMAGE: usize = 128;
/// Random directions per repeat, and repeats.
pub const DIRECTIONS: usize = 128;
pub const REPEATS: usize = 4;
/// The coarsest pyramid level.
pub const MIN_LEVEL: usize = 16;

const DESC: usize = 3 * PATCH * PATCH;

/// Planar images [n, 3, size, size].
#[derive(Clone, Debug)]
pub struct Images {
    pub data: Vec<f32>,
    pub n: usize,
    pub size: usize,
}

impl Images {
    pub fn new(data: Vec<f32>, n: usize, size: usize) -> Images {
        assert_eq!(data.len(), n * 3 * size * size, "planar [n, 3, size, size]");
        Images { data, n, size }
    }
    fn image(&self, i: usize) -> &[f32] {
        let per = 3 * self.size * self.size;
        &self.data[i * per..(i + 1) * per]
    }
}

/// One image's planes [3, s, s] blurred by the 5-tap binomial filter [1 4 6 4 1] / 16 along
/// both axes (mirrored borders, as OpenCV's pyrDown and pyrUp), then every other pixel kept.
fn pyr_down(img: &[f32], s: usize) -> Vec<f32> {
    let b = blur(img, s, 1.0);
    let h = s / 2;
    let mut out = vec![0.0; 3 * h * h];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..h {
                out[(c * h + y) * h + x] = b[(c * s + 2 * y) * s + 2 * x];
            }
        }
    }
    out
}

/// [3, h, h] to [3, 2h, 2h]: zeros between the pixels, then the blur with 4x gain.
fn pyr_up(img: &[f32], h: usize) -> Vec<f32> {
    let s = 2 * h;
    let mut z = vec![0.0; 3 * s * s];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..h {
                z[(c * s + 2 * y) * s + 2 * x] = img[(c * h + y) * h + x];
            }
        }
    }
    blur(&z, s, 4.0)
}

fn blur(img: &[f32], s: usize, gain: f32) -> Vec<f32> {
    const K: [f32; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];
    let mirror = |i: isize| -> usize {
        let n = s as isize;
        let i = if i < 0 { -i } else { i };
        (if i >= n { 2 * (n - 1) - i } else { i }) as usize
    };
    let mut tmp = vec![0.0; img.len()];
    let mut out = vec![0.0; img.len()];
    for c in 0..3 {
        let plane = c * s * s;
        for y in 0..s {
            for x in 0..s {
                let mut v = 0.0;
                for (t, k) in K.iter().enumerate() {
                    v += k * img[plane + y * s + mirror(x as isize + t as isize - 2)];
                }
                tmp[plane + y * s + x] = v / 16.0;
            }
        }
        for y in 0..s {
            for x in 0..s {
                let mut v = 0.0;
                for (t, k) in K.iter().enumerate() {
                    v += k * tmp[plane + mirror(y as isize + t as isize - 2) * s + x];
                }
                out[plane + y * s + x] = v / 16.0 * gain;
            }
        }
    }
    out
}

/// The Laplacian pyramid of one image, finest first: band-pass levels down to MIN_LEVEL,
/// whose level is the low-pass image itself.
pub fn laplacian_pyramid(img: &[f32], size: usize) -> Vec<(Vec<f32>, usize)> {
    let mut levels = vec![(img.to_vec(), size)];
    let mut s = size;
    while s / 2 >= MIN_LEVEL && s.is_multiple_of(2) {
        let down = pyr_down(&levels.last().unwrap().0, s);
        let up = pyr_up(&down, s / 2);
        for (v, u) in levels.last_mut().unwrap().0.iter_mut().zip(up) {
            *v -= u;
        }
        s /= 2;
        levels.push((down, s));
    }
    levels
}

/// PATCHES_PER_IMAGE patches of every image at every pyramid level, as [level][patch][DESC],
/// each level normalised per channel over the whole set (mean 0, standard deviation 1).
fn descriptors(images: &Images, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sets: Vec<Vec<f32>> = Vec::new();
    for i in 0..images.n {
        let pyr = laplacian_pyramid(images.image(i), images.size);
        sets.resize(pyr.len(), Vec::new());
        for (set, (level, s)) in sets.iter_mut().zip(&pyr) {
            for _ in 0..PATCHES_PER_IMAGE {
                let y0 = rng.random_range(0..=s - PATCH);
                let x0 = rng.random_range(0..=s - PATCH);
                for c in 0..3 {
                    for y in 0..PATCH {
                        let row = (c * s + y0 + y) * s + x0;
                        set.extend_from_slice(&level[row..row + PATCH]);
                    }
                }
            }
        }
    }
    for set in &mut sets {
        let per = PATCH * PATCH;
        for c in 0..3 {
            let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
            for d in set.chunks_exact(DESC) {
                for &v in &d[c * per..(c + 1) * per] {
                    sum += v as f64;
                    sq += v as f64 * v as f64;
                    n += 1.0;
                }
            }
            let mean = sum / n;
            let std = (sq / n - mean * mean).max(0.0).sqrt().max(1e-8);
            for d in set.chunks_exact_mut(DESC) {
                for v in &mut d[c * per..(c + 1) * per] {
                    *v = ((*v as f64 - mean) / std) as f32;
                }
            }
        }
    }
    sets
}

/// Every descriptor projected on every direction, one sorted column per direction.
fn sorted_projections(set: &[f32], dirs: &[f32]) -> Vec<Vec<f32>> {
    let n = set.len() / DESC;
    let columns: Vec<&[f32]> = dirs.chunks_exact(DESC).collect();
    let project = |dir: &[f32]| {
        let mut col: Vec<f32> = set.chunks_exact(DESC).map(|d| dot(d, dir)).collect();
        col.sort_unstable_by(f32::total_cmp);
        debug_assert_eq!(col.len(), n);
        col
    };
    // Directions split over the cores: each column is computed and sorted on its own.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = columns.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = columns
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(|d| project(d)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("projection thread"))
            .collect()
    })
}

/// A dot product in eight fixed partial sums (vectorisable, the same order every run).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn mean_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let mut total = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        total += x
            .iter()
            .zip(y)
            .map(|(u, v)| (u - v).abs() as f64)
            .sum::<f64>()
            / x.len() as f64;
    }
    total / a.len() as f64
}

/// SWD x 1000 per pyramid level (finest first) between each pair of image sets, all sets of
/// the same size and image size: `pairs` names them by index into `sets`.
pub fn swd(sets: &[&Images], pairs: &[(usize, usize)], seed: u64) -> Vec<Vec<f64>> {
    assert!(sets
        .windows(2)
        .all(|w| w[0].n == w[1].n && w[0].size == w[1].size));
    let descs: Vec<Vec<Vec<f32>>> = sets
        .iter()
        .enumerate()
        .map(|(k, s)| descriptors(s, seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    let levels = descs[0].len();
    let mut out = vec![vec![0.0; levels]; pairs.len()];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for level in 0..levels {
        for _ in 0..REPEATS {
            let mut dirs = crate::train::normal(&mut rng, DIRECTIONS * DESC);
            for d in dirs.chunks_exact_mut(DESC) {
                let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
                d.iter_mut().for_each(|v| *v /= norm);
            }
            let proj: Vec<_> = descs
                .iter()
                .map(|d| sorted_projections(&d[level], &dirs))
                .collect();
            for (o, &(a, b)) in out.iter_mut().zip(pairs) {
                o[level] += mean_abs_diff(&proj[a], &proj[b]) * 1e3 / REPEATS as f64;
            }
        }
    }
    out
}

/// The pyramid's level sizes for images of `size`, finest first.
pub fn level_sizes(size: usize) -> Vec<usize> {
    let mut v = vec![size];
    while v.last().unwrap() / 2 >= MIN_LEVEL && v.last().unwrap().is_multiple_of(2) {
        v.push(v.last().unwrap() / 2);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smooth random images (a few low-frequency waves) or, with `checker`, the same with a
    /// one-pixel checkerboard added: the artefact of stride-2 transposed convolutions.
    fn images(n: usize, seed: u64, checker: bool) -> Images {
        let s = 32;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut data = Vec::new();
        for _ in 0..n {
            let (fx, fy, ph): (f32, f32, f32) = (
                rng.random_range(0.5..2.0),
                rng.random_range(0.5..2.0),
                rng.random_range(0.0..6.3),
            );
            for c in 0..3 {
                for y in 0..s {
                    for x in 0..s {
                        let t = (x as f32 * fx + y as f32 * fy) / s as f32 * 6.3 + ph + c as f32;
                        let chk = if checker && (x + y) % 2 == 0 {
                            0.3
                        } else {
                            0.0
                        };
                        data.push(0.6 * t.sin() + chk);
                    }
                }
            }
        }
        Images::new(data, n, s)
    }

    #[test]
    fn a_flat_image_has_empty_band_pass_levels_and_keeps_its_value_below() {
        let s = 64;
        let pyr = laplacian_pyramid(&vec![0.25; 3 * s * s], s);
        assert_eq!(
            pyr.iter().map(|l| l.1).collect::<Vec<_>>(),
            vec![64, 32, 16]
        );
        assert_eq!(level_sizes(64), vec![64, 32, 16]);
        for (level, _) in &pyr[..2] {
            assert!(
                level.iter().all(|v| v.abs() < 1e-6),
                "band-pass of a flat image"
            );
        }
        assert!(pyr[2].0.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn the_pyramid_adds_back_up_to_the_image() {
        let img = images(1, 3, true);
        let pyr = laplacian_pyramid(&img.data, img.size);
        let (mut acc, mut s) = (pyr.last().unwrap().0.clone(), pyr.last().unwrap().1);
        for (level, size) in pyr.iter().rev().skip(1) {
            let up = pyr_up(&acc, s);
            acc = level.iter().zip(up).map(|(l, u)| l + u).collect();
            s = *size;
        }
        for (a, b) in acc.iter().zip(&img.data) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn swd_is_zero_for_one_set_and_sees_a_checkerboard_that_sampling_noise_does_not() {
        let a = images(24, 1, false);
        let b = images(24, 2, false);
        let c = images(24, 3, true);
        let d = swd(&[&a, &b, &c], &[(0, 0), (0, 1), (0, 2)], 7);
        assert!(
            d[0].iter().all(|&v| v == 0.0),
            "a set against itself: {:?}",
            d[0]
        );
        // The checkerboard is a finest-level artefact; another draw of the same images is not.
        assert!(
            d[2][0] > 3.0 * d[1][0],
            "checkerboard {:?} vs resampled {:?}",
            d[2],
            d[1]
        );
        // Same seed, same numbers.
        assert_eq!(d, swd(&[&a, &b, &c], &[(0, 0), (0, 1), (0, 2)], 7));
    }
}
