//! Sample quality of a generator: `dcgan eval` on a checkpoint, and the same measurement during
//! training (`--eval-every`), written to the run's quality.jsonl. The distance itself
//! (sliced Wasserstein, per Laplacian-pyramid level) is `crate::eval`; this file draws the
//! real and generated image sets it compares.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::Dataset;
use crate::eval::{self, Images};
use crate::gpu::Gpu;
use crate::model::IMAGE;
use crate::run::{io, RunConfig, RunError};
use crate::tensor::Tensor;
use crate::train::Gan;

/// The model of a checkpoint written by `dcgan train`, ready to sample from.
pub fn load_generator(gpu: &Gpu, checkpoint_path: &Path) -> Result<Gan, RunError> {
    let bytes = std::fs::read(checkpoint_path).map_err(io(checkpoint_path))?;
    let meta = checkpoint::metadata(&bytes)
        .map_err(|e| RunError::usage(format!("{}: {e}", checkpoint_path.display())))?;
    let cfg: RunConfig = serde_json::from_str(meta.get("config").map(String::as_str).unwrap_or(""))
        .map_err(|e| RunError::usage(format!("{}: bad config ({e})", checkpoint_path.display())))?;
    let mut gan = Gan::new(gpu, cfg.train_config()).map_err(|e| RunError::fail(e.to_string()))?;
    checkpoint::load_into(&mut gan, &bytes)
        .map_err(|e| RunError::usage(format!("{}: {e}", checkpoint_path.display())))?;
    Ok(gan)
}

/// `count` images of G in inference mode from latents seeded by `seed`: planar
/// [count, 3, 64, 64] in [-1, 1].
pub fn sample(gan: &Gan, seed: u64, count: usize) -> Result<Vec<f32>, RunError> {
    let gpu = &gan.gpu;
    let z = Gan::latents(seed, count);
    let lat = crate::model::LATENT;
    // In chunks, so activations stay within one storage binding whatever the count.
    let mut images = Vec::with_capacity(count * 3 * IMAGE * IMAGE);
    for part in z.chunks(64 * lat) {
        let zt = Tensor::from_slice(gpu, part, &[part.len() / lat, lat])
            .map_err(|e| RunError::fail(e.to_string()))?;
        images.extend(
            gan.generate(&zt)
                .map_err(|e| RunError::fail(e.to_string()))?,
        );
    }
    Ok(images)
}

/// SWD x 1000 per pyramid level between two halves of the real images (the floor that
/// sampling noise reaches) and between generated and real images (the mean of the distances
/// to each half). One line of quality.jsonl, or what `dcgan eval` prints.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Quality {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub checkpoint: Option<PathBuf>,
    pub iteration: u64,
    /// Images in each set compared.
    pub images: usize,
    pub levels: Vec<usize>,
    pub swd_real_vs_real: Vec<f64>,
    pub swd_fake_vs_real: Vec<f64>,
    pub swd_real_vs_real_mean: f64,
    pub swd_fake_vs_real_mean: f64,
}

/// Two disjoint halves of `n` real images each, by a seeded shuffle, so that a folder sorted
/// by class or source does not make the halves differ.
pub fn real_halves(ds: &Dataset, n: usize, seed: u64) -> (Images, Images) {
    let mut order: Vec<usize> = (0..ds.len()).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], &mut crate::train::rng_for(seed, 5, 0));
    let half = |k: usize| {
        let idx = &order[k * n..(k + 1) * n];
        Images::new(ds.batch(idx, &vec![false; n]), n, IMAGE)
    };
    (half(0), half(1))
}

/// The measurement, on the CPU: generated images `fake` against the real halves.
pub fn compare(halves: &(Images, Images), fake: &Images, iteration: u64, seed: u64) -> Quality {
    let d = eval::swd(
        &[&halves.0, &halves.1, fake],
        &[(0, 1), (2, 0), (2, 1)],
        seed,
    );
    let fake_vs_real: Vec<f64> = d[1].iter().zip(&d[2]).map(|(x, y)| (x + y) / 2.0).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Quality {
        checkpoint: None,
        iteration,
        images: fake.n,
        levels: eval::level_sizes(IMAGE),
        swd_real_vs_real_mean: mean(&d[0]),
        swd_fake_vs_real_mean: mean(&fake_vs_real),
        swd_real_vs_real: d[0].clone(),
        swd_fake_vs_real: fake_vs_real,
    }
}

/// Real images in each half for `count` usable ones; an error below 2.
fn half_size(count: usize, what: impl FnOnce() -> String) -> Result<usize, RunError> {
    let n = count / 2;
    if n < 2 {
        return Err(RunError::usage(format!(
            "{}: eval compares two halves of at least 2 real images each",
            what()
        )));
    }
    Ok(n)
}

/// `dcgan eval`: the checkpoint's samples against the real images in `data_dir` (`count` of
/// them, all when not given), split into two halves; as many samples as a half holds.
pub fn evaluate(
    gpu: &Gpu,
    checkpoint_path: &Path,
    data_dir: &Path,
    count: Option<usize>,
    seed: u64,
) -> Result<Quality, RunError> {
    let gan = load_generator(gpu, checkpoint_path)?;
    let (ds, report) =
        crate::data::load(data_dir, None, IMAGE).map_err(|e| RunError::usage(e.to_string()))?;
    if !report.skipped.is_empty() {
        eprintln!(
            "skipped {} unreadable images (e.g. {})",
            report.skipped.len(),
            report.skipped[0].0.display()
        );
    }
    let n = half_size(count.unwrap_or(ds.len()).min(ds.len()), || match count {
        Some(c) if c < ds.len() => format!("--count {c}"),
        _ => format!("{}: {} usable images", data_dir.display(), ds.len()),
    })?;
    let halves = real_halves(&ds, n, seed);
    let fake = Images::new(sample(&gan, seed, n)?, n, IMAGE);
    let mut q = compare(&halves, &fake, gan.step, seed);
    q.checkpoint = Some(checkpoint_path.to_path_buf());
    Ok(q)
}

/// Quality measured while training runs: at each eval iteration the samples are drawn on the
/// GPU (the same latents every time), and the distance is computed on a worker thread while
/// training goes on; its line is appended to quality.jsonl when done. One measurement at a
/// time: a new one first waits for the last.
pub struct QualityLog {
    halves: Arc<(Images, Images)>,
    seed: u64,
    path: PathBuf,
    file: std::fs::File,
    pending: Option<std::thread::JoinHandle<Quality>>,
    /// Every measurement of the run so far, for quality.png.
    history: Vec<Quality>,
}

/// The measurements in a quality.jsonl, in order; for a line that is not one, its 1-based
/// number.
fn read_lines(text: &str) -> Vec<Result<Quality, usize>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| serde_json::from_str(l).map_err(|_| n + 1))
        .collect()
}

/// quality.png beside quality.jsonl: each level's SWD and the real-vs-real floor against
/// iteration.
fn draw(history: &[Quality], path: &Path) -> Result<(), String> {
    let Some(first) = history.first() else {
        return Ok(());
    };
    let iters: Vec<u64> = history.iter().map(|q| q.iteration).collect();
    let swd: Vec<Vec<f64>> = (0..first.levels.len())
        .map(|l| history.iter().map(|q| q.swd_fake_vs_real[l]).collect())
        .collect();
    let floor: Vec<f64> = history.iter().map(|q| q.swd_real_vs_real_mean).collect();
    crate::viz::save_quality(&iters, &first.levels, &swd, &floor, path)
}

/// `dcgan plot`: redraws RUN/quality.png from RUN/quality.jsonl when the run measured quality;
/// the number of measurements drawn.
pub fn plot(run: &Path) -> Result<Option<usize>, RunError> {
    let path = run.join("quality.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let history = read_lines(&text)
        .into_iter()
        .collect::<Result<Vec<_>, usize>>()
        .map_err(|n| RunError::usage(format!("{}:{n}: not a quality line", path.display())))?;
    draw(&history, &run.join("quality.png")).map_err(RunError::fail)?;
    Ok(Some(history.len()))
}

/// Real images used for quality during training, at most (split into two halves).
pub const TRAINING_EVAL_IMAGES: usize = 512;

impl QualityLog {
    /// Opens `out/quality.jsonl`, keeping only the lines up to `step` (a resumed run drops
    /// what was measured past its checkpoint).
    pub fn open(out: &Path, ds: &Dataset, seed: u64, step: u64) -> Result<QualityLog, RunError> {
        let n = half_size(ds.len().min(TRAINING_EVAL_IMAGES), || {
            format!("--eval-every with {} images", ds.len())
        })?;
        let path = out.join("quality.jsonl");
        let mut kept = String::new();
        let history: Vec<Quality> = std::fs::read_to_string(&path)
            .map(|text| read_lines(&text))
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .filter(|q| q.iteration <= step)
            .collect();
        for q in &history {
            kept += &serde_json::to_string(q).unwrap();
            kept.push('\n');
        }
        checkpoint::write_atomic(&path, kept.as_bytes()).map_err(io(&path))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(QualityLog {
            halves: Arc::new(real_halves(ds, n, seed)),
            seed,
            path,
            file,
            pending: None,
            history,
        })
    }

    /// Draws the samples of `gan` now and starts measuring them.
    pub fn start(&mut self, gan: &Gan) -> Result<Vec<Quality>, RunError> {
        let done = self.finish(true)?;
        let n = self.halves.0.n;
        let fake = Images::new(sample(gan, self.seed, n)?, n, IMAGE);
        let (halves, seed, iteration) = (self.halves.clone(), self.seed, gan.step);
        self.pending = Some(std::thread::spawn(move || {
            compare(&halves, &fake, iteration, seed)
        }));
        Ok(done)
    }

    /// The measurement that has finished (all, with `wait`), written to quality.jsonl.
    pub fn finish(&mut self, wait: bool) -> Result<Vec<Quality>, RunError> {
        match self.pending.take() {
            Some(h) if wait || h.is_finished() => {
                let q = h.join().expect("quality worker");
                writeln!(self.file, "{}", serde_json::to_string(&q).unwrap())
                    .map_err(io(&self.path))?;
                self.history.push(q.clone());
                draw(&self.history, &self.path.with_file_name("quality.png"))
                    .map_err(RunError::fail)?;
                Ok(vec![q])
            }
            other => {
                self.pending = other;
                Ok(Vec::new())
            }
        }
    }
}
