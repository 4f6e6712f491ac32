//! A training run on disk: the run directory (config.json, metrics.jsonl, previews/,
//! scores.png, training.gif, checkpoints/), resume, progress and logging.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{self, Dataset};
use crate::gpu::Gpu;
use crate::model::IMAGE;
use crate::optim::AdamConfig;
use crate::quality::QualityLog;
use crate::tensor::Tensor;
use crate::train::{batch_plan, Gan, TrainConfig, STATS_RING};
use crate::viz;

/// How often at most a run reads its steps' reports (losses, scores) back from the GPU.
const READ_EVERY: Duration = Duration::from_secs(1);

/// Every option of a run, saved as config.json and inside each checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    pub data: PathBuf,
    pub labels: Option<PathBuf>,
    /// Total iterations; when `epochs` is set it is recomputed from the data once loaded.
    pub iterations: u64,
    pub epochs: Option<u64>,
    pub batch_size: usize,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub flip: f32,
    pub seed: u64,
    pub preview_every: u64,
    pub checkpoint_every: u64,
    /// Sample quality (SWD) every N iterations into quality.jsonl; 0: never.
    #[serde(default)]
    pub eval_every: u64,
    pub keep_checkpoints: usize,
    pub image_size: usize,
    pub resize_filter: String,
    pub adapter: String,
    /// The host's CPU (`gpu::host_cpu`): a CPU adapter's speed, and the images/s in
    /// metrics.jsonl, depend on it. Absent from runs made before it was recorded.
    #[serde(default)]
    pub host_cpu: String,
}

impl RunConfig {
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            batch: self.batch_size,
            adam: AdamConfig {
                lr: self.lr,
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
            },
            flip: self.flip,
            seed: self.seed,
        }
    }
}

#[derive(Serialize)]
struct MetricsLine {
    iteration: u64,
    epoch: u64,
    d_loss: f32,
    g_loss: f32,
    d_score: f32,
    g_score: f32,
    elapsed_s: f64,
    images_per_s: f64,
}

/// Errors a run reports in one line; `code` is the process exit status.
#[derive(Debug)]
pub struct RunError {
    pub code: i32,
    pub msg: String,
}

impl RunError {
    pub(crate) fn usage(msg: impl Into<String>) -> RunError {
        RunError {
            code: 2,
            msg: msg.into(),
        }
    }
    pub(crate) fn fail(msg: impl Into<String>) -> RunError {
        RunError {
            code: 1,
            msg: msg.into(),
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

pub(crate) fn io<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> RunError + '_ {
    move |e| RunError::fail(format!("{}: {e}", path.display()))
}

/// Loads the newest checkpoint under `dir` that reads back cleanly, reporting the ones that
/// do not.
fn load_latest(gan: &mut Gan, dir: &Path) -> Result<PathBuf, RunError> {
    let mut all = checkpoint::list(dir);
    while let Some(path) = all.pop() {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        match checkpoint::load_into(gan, &bytes) {
            Ok(_) => return Ok(path),
            Err(e) => eprintln!("warning: skipping {}: {e}", path.display()),
        }
    }
    Err(RunError::usage(format!(
        "{}: no usable checkpoint to resume from",
        dir.display()
    )))
}

/// What a run stopped by a fault leaves behind, for the end of its error line.
fn stopped_note(ckpt_dir: &Path, out: &Path) -> String {
    match checkpoint::list(ckpt_dir).pop() {
        Some(last) => format!(
            "stopped; the last checkpoint {} is intact, continue with --resume {}",
            last.display(),
            out.display()
        ),
        None => "stopped before the first checkpoint".to_string(),
    }
}

/// Faults the trainer can be told to inject, for the tests of its fault handling:
/// `DCGAN_FAULT=nan@N` puts a NaN into iteration N's real batch (as a corrupt input would),
/// `DCGAN_FAULT=device-lost@N` destroys the device before iteration N.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Nan(u64),
    DeviceLost(u64),
}

fn injected_fault() -> Option<Fault> {
    let v = std::env::var("DCGAN_FAULT").ok()?;
    let (kind, at) = v.split_once('@')?;
    let at = at.trim().parse().ok()?;
    match kind.trim() {
        "nan" => Some(Fault::Nan(at)),
        "device-lost" => Some(Fault::DeviceLost(at)),
        _ => None,
    }
}

/// Which of `cfg`'s options a resumed run takes from the command line instead of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    /// `--iterations` or `--epochs`: the new target.
    pub length: bool,
    /// `--eval-every`: it changes what is measured, not what is trained.
    pub eval_every: bool,
}

/// Puts `gpu` on the conv kernels that `kernels` picks for a run of `images` images and says
/// so on stderr where it matters: the row windows make the first step wait for their compile.
pub fn choose_conv_kernels(gpu: &Gpu, kernels: crate::ops::conv::ConvKernels, images: u64) {
    let rows = kernels.apply(gpu, images);
    if kernels == crate::ops::conv::ConvKernels::RowWindows && !rows {
        eprintln!("conv kernels: flat (the row windows need subgroups, which this adapter lacks)");
    } else if rows {
        eprintln!(
            "conv kernels: row windows (bit-identical to the flat ones and faster for a run this \
             long, but llvmpipe compiles them for longer first, about three minutes where its \
             shader cache does not hold them yet; --conv-kernels flat skips that)"
        );
    }
}

/// Trains from scratch into `out`, or continues the run in `out` when `resume` is set; a resumed
/// run keeps its own options but those in `given`.
pub fn train(
    gpu: &Gpu,
    mut cfg: RunConfig,
    out: &Path,
    resume: bool,
    given: Given,
    kernels: crate::ops::conv::ConvKernels,
) -> Result<(), RunError> {
    let ckpt_dir = out.join("checkpoints");
    let prev_dir = out.join("previews");
    if resume {
        let saved: RunConfig = serde_json::from_slice(
            &std::fs::read(out.join("config.json")).map_err(io(&out.join("config.json")))?,
        )
        .map_err(|e| RunError::usage(format!("{}: {e}", out.join("config.json").display())))?;
        let (iterations, epochs) = if given.length {
            (cfg.iterations, cfg.epochs)
        } else {
            (saved.iterations, saved.epochs)
        };
        let eval_every = if given.eval_every {
            cfg.eval_every
        } else {
            saved.eval_every
        };
        cfg = RunConfig {
            iterations,
            epochs,
            eval_every,
            adapter: gpu.describe(),
            host_cpu: crate::gpu::host_cpu(),
            ..saved
        };
    } else if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(RunError::usage(format!(
            "{}: run folder exists; pass --resume {0} to continue it, or choose another --out",
            out.display()
        )));
    }
    for dir in [&prev_dir, &ckpt_dir] {
        std::fs::create_dir_all(dir).map_err(|e| {
            RunError::usage(format!(
                "{}: cannot create the run folder here: {e}",
                dir.display()
            ))
        })?;
    }

    let (ds, report) = data::load(&cfg.data, cfg.labels.as_deref(), cfg.image_size)
        .map_err(|e| RunError::usage(e.to_string()))?;
    if !report.skipped.is_empty() {
        eprintln!("skipped {} unreadable images:", report.skipped.len());
        for (p, e) in report.skipped.iter().take(10) {
            eprintln!("  {}: {e}", p.display());
        }
    }
    if !report.labels_without_image.is_empty() {
        eprintln!(
            "{} label rows name images that are not in {} (e.g. {}); skipped",
            report.labels_without_image.len(),
            cfg.data.display(),
            report.labels_without_image[0]
        );
    }
    if ds.len() < cfg.batch_size {
        return Err(RunError::usage(
            data::DataError::TooFew {
                usable: ds.len(),
                batch: cfg.batch_size,
            }
            .to_string(),
        ));
    }
    if let Some(e) = cfg.epochs {
        cfg.iterations = e * (ds.len() / cfg.batch_size) as u64;
    }
    let config_text = serde_json::to_string_pretty(&cfg).expect("config serialises");
    let mut gan = Gan::new(gpu, cfg.train_config()).map_err(|e| RunError::fail(e.to_string()))?;
    if resume {
        let from = load_latest(&mut gan, &ckpt_dir)?;
        eprintln!("resuming from {} (iteration {})", from.display(), gan.step);
    }
    checkpoint::write_atomic(&out.join("config.json"), config_text.as_bytes())
        .map_err(io(&out.join("config.json")))?;
    eprintln!(
        "training on {} images from {} with {}, seed {}",
        ds.len(),
        cfg.data.display(),
        gpu.describe(),
        cfg.seed
    );
    let images = cfg.iterations.saturating_sub(gan.step) * cfg.batch_size as u64;
    choose_conv_kernels(gpu, kernels, images);

    // Metrics already written past the resumed step belong to a lost future: drop them.
    let metrics_path = out.join("metrics.jsonl");
    let (mut hist_i, mut hist_d, mut hist_g) = (Vec::new(), Vec::new(), Vec::new());
    let mut kept = String::new();
    if let Ok(text) = std::fs::read_to_string(&metrics_path) {
        for line in text.lines() {
            let Some((it, d, g)) = scores_of(line) else {
                continue;
            };
            if it <= gan.step {
                hist_i.push(it);
                hist_d.push(d);
                hist_g.push(g);
                kept += line;
                kept.push('\n');
            }
        }
    }
    checkpoint::write_atomic(&metrics_path, kept.as_bytes()).map_err(io(&metrics_path))?;
    let mut metrics = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(io(&metrics_path))?;

    let ds = Arc::new(ds);
    let mut quality = match cfg.eval_every {
        0 => None,
        _ => Some(QualityLog::open(out, &ds, cfg.seed, gan.step)?),
    };
    let batches = prefetch(
        ds.clone(),
        cfg.seed,
        cfg.batch_size,
        gan.step,
        cfg.iterations,
    );
    let per_epoch = (ds.len() / cfg.batch_size) as u64;
    let start = Instant::now();
    let first = gan.step;
    let progress = progress_bar(cfg.iterations, gan.step);
    let mut last_log = Instant::now();
    // When this process's first step finished: it carries the kernels' compiling (minutes on a
    // CPU adapter's first run), which images/s and the ETA leave out.
    let mut first_done: Option<f64> = None;
    let stop = stop_flag();
    let real = Tensor::uninit(gpu, &[cfg.batch_size, 3, IMAGE, IMAGE])
        .map_err(|e| RunError::fail(e.to_string()))?;
    let fault = injected_fault();
    let fail_at = |i: u64, e: crate::Error| {
        RunError::fail(format!(
            "iteration {i}: {e}; {}",
            stopped_note(&ckpt_dir, out)
        ))
    };
    // The host runs one step ahead: it submits a step, then waits for the one before, so the
    // GPU has the next step queued while the host records. The steps' reports stay on the GPU
    // until they are read, one readback for many steps, at most every READ_EVERY and whenever
    // the model itself is read (previews, checkpoints, the end, an interrupt).
    let mut in_flight: Option<(u64, crate::gpu::Mark)> = None;
    let mut finished_at: std::collections::VecDeque<f64> = Default::default();
    let mut last_read = Instant::now();
    while gan.step < cfg.iterations {
        let (it, mut data) = batches
            .recv()
            .map_err(|_| RunError::fail("batch loader stopped"))?;
        debug_assert_eq!(it, gan.step);
        let next = gan.step + 1;
        match fault {
            Some(Fault::Nan(n)) if n == next => data[0] = f32::NAN,
            Some(Fault::DeviceLost(n)) if n == next => gpu.simulate_device_loss(),
            _ => {}
        }
        let mark = real
            .write(&data)
            .and_then(|_| gan.record_step(&real))
            .map_err(|e| fail_at(next, e))?;
        if let Some((prev, m)) = in_flight.replace((next, mark)) {
            gpu.wait_for(&m).map_err(|e| fail_at(prev, e))?;
            finished_at.push_back(start.elapsed().as_secs_f64());
        }
        let i = gan.step;
        let interrupted = stop.load(std::sync::atomic::Ordering::Relaxed);
        let preview = i == 1 || i % cfg.preview_every == 0 || i == cfg.iterations;
        let checkpoint = (cfg.checkpoint_every > 0 && i % cfg.checkpoint_every == 0)
            || i == cfg.iterations
            || interrupted;
        let eval = cfg.eval_every > 0 && (i % cfg.eval_every == 0 || i == cfg.iterations);
        if !(preview
            || checkpoint
            || eval
            || gan.unread_stats() >= STATS_RING / 2
            || last_read.elapsed() >= READ_EVERY)
        {
            continue;
        }
        let reports = gan.read_stats().map_err(|e| fail_at(i, e))?;
        in_flight = None;
        finished_at.push_back(start.elapsed().as_secs_f64());
        last_read = Instant::now();
        for (j, s) in reports {
            let elapsed = finished_at.pop_front().expect("a finish time per step");
            let first_done = *first_done.get_or_insert(elapsed);
            if ![s.d_loss, s.g_loss, s.d_score, s.g_score]
                .iter()
                .all(|v| v.is_finite())
            {
                return Err(RunError::fail(format!(
                    "iteration {j}: loss is not finite (D {}, G {}); {}",
                    s.d_loss,
                    s.g_loss,
                    stopped_note(&ckpt_dir, out)
                )));
            }
            let ips = images_per_s(elapsed, first_done, j - first, cfg.batch_size);
            let line = MetricsLine {
                iteration: j,
                epoch: (j - 1) / per_epoch.max(1) + 1,
                d_loss: s.d_loss,
                g_loss: s.g_loss,
                d_score: s.d_score,
                g_score: s.g_score,
                elapsed_s: elapsed,
                images_per_s: ips,
            };
            writeln!(metrics, "{}", serde_json::to_string(&line).unwrap())
                .map_err(io(&metrics_path))?;
            hist_i.push(j);
            hist_d.push(s.d_score);
            hist_g.push(s.g_score);
            let msg = format!(
                "epoch {} D {:.3} G {:.3} {:.1} img/s",
                line.epoch, s.d_score, s.g_score, ips
            );
            match &progress {
                Some(pb) => {
                    pb.set_position(j);
                    pb.set_message(msg);
                }
                None if last_log.elapsed().as_secs_f64() >= 5.0 || j == cfg.iterations => {
                    let eta = eta(
                        elapsed,
                        first_done,
                        j - first,
                        cfg.iterations.saturating_sub(j),
                    )
                    .map_or("-:--:--".to_string(), clock);
                    eprintln!(
                        "iteration {j}/{} {msg} elapsed {} ETA {eta}",
                        cfg.iterations,
                        clock(elapsed),
                    );
                    last_log = Instant::now();
                }
                None => {}
            }
        }
        if preview {
            write_preview(&gan, &prev_dir, i)?;
            viz::save_scores(&hist_i, &hist_d, &hist_g, &out.join("scores.png"))
                .map_err(RunError::fail)?;
        }
        if checkpoint {
            checkpoint::save(&gan, &config_text, &ckpt_dir, cfg.keep_checkpoints)
                .map_err(RunError::fail)?;
        }
        if let Some(q) = &mut quality {
            let last = interrupted || i == cfg.iterations;
            let mut done = if eval {
                q.start(&gan)?
            } else {
                q.finish(false)?
            };
            if last {
                done.extend(q.finish(true)?);
            }
            for m in done {
                let line = format!(
                    "quality at iteration {}: SWD x 1e3 generated vs real {:.1} (real vs real {:.1})",
                    m.iteration, m.swd_fake_vs_real_mean, m.swd_real_vs_real_mean
                );
                match &progress {
                    Some(pb) => pb.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
        if interrupted {
            if let Some(pb) = &progress {
                pb.abandon();
            }
            return Err(RunError {
                code: 130,
                msg: format!(
                    "interrupted after iteration {i}; checkpoint written, continue with --resume {}",
                    out.display()
                ),
            });
        }
    }
    if let Some(pb) = progress {
        pb.finish();
    }
    eprintln!("done: {} iterations in {}", gan.step, out.display());
    Ok(())
}

/// Set by SIGINT or SIGTERM: the current step finishes, a checkpoint is written, and the run
/// exits so that `--resume` continues it. A second signal ends the process at once.
fn stop_flag() -> Arc<std::sync::atomic::AtomicBool> {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    #[cfg(unix)]
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag before this signal sets it: only a repeat exits.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
    flag
}

/// Seconds a step over the `done` steps this process has finished after its first, which
/// finished at `first_done` seconds and carries the compiling; `None` before there is one.
fn pace(elapsed: f64, first_done: f64, done: u64) -> Option<f64> {
    (done >= 2).then(|| (elapsed - first_done).max(1e-9) / (done - 1) as f64)
}

/// Images a second at `pace`, or over the first step alone while it is the only one.
fn images_per_s(elapsed: f64, first_done: f64, done: u64, batch: usize) -> f64 {
    let seconds = pace(elapsed, first_done, done).unwrap_or(elapsed.max(1e-9) / done.max(1) as f64);
    batch as f64 / seconds
}

/// Seconds left for `left` steps at `pace`; `None` while the pace is unknown.
fn eta(elapsed: f64, first_done: f64, done: u64, left: u64) -> Option<f64> {
    if left == 0 {
        return Some(0.0);
    }
    pace(elapsed, first_done, done).map(|p| p * left as f64)
}

/// Seconds as h:mm:ss, the way the progress bar shows its ETA.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn progress_bar(total: u64, at: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} iterations, ETA {eta} {msg}")
            .expect("valid template"),
    );
    pb.set_position(at);
    Some(pb)
}

/// Assembles the real batches of iterations [from, to) on a worker thread, two ahead.
fn prefetch(
    ds: Arc<Dataset>,
    seed: u64,
    batch: usize,
    from: u64,
    to: u64,
) -> mpsc::Receiver<(u64, Vec<f32>)> {
    let (tx, rx) = mpsc::sync_channel(2);
    std::thread::spawn(move || {
        for it in from..to {
            let (idx, flips, _) = batch_plan(seed, ds.len(), batch, it);
            if tx.send((it, ds.batch(&idx, &flips))).is_err() {
                return;
            }
        }
    });
    rx
}

fn write_preview(gan: &Gan, dir: &Path, iteration: u64) -> Result<(), RunError> {
    let images = gan.preview().map_err(|e| RunError::fail(e.to_string()))?;
    let grid = viz::grid(&images, 25, IMAGE, 5);
    viz::save_png(&grid, &dir.join(format!("iter_{iteration:06}.png"))).map_err(RunError::fail)?;
    // The animation is rebuilt from every saved grid, so it survives resumes.
    let mut frames = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(img) = image::open(&p) {
            frames.push(img.to_rgb8());
        }
    }
    let gif = dir.parent().unwrap_or(dir).join("training.gif");
    viz::save_gif(&frames, &gif).map_err(RunError::fail)
}

/// Iteration, D score and G score of one metrics.jsonl line (None for a line that is not one).
fn scores_of(line: &str) -> Option<(u64, f32, f32)> {
    let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
    Some((
        v["iteration"].as_u64()?,
        v["d_score"].as_f64()? as f32,
        v["g_score"].as_f64()? as f32,
    ))
}

/// Redraws a run folder's scores.png from its metrics.jsonl (after a change to the plot, or
/// for a run whose metrics were copied from another machine).
pub fn plot(run: &Path) -> Result<(), RunError> {
    let path = run.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        RunError::usage(format!(
            "{}: {e} (is {} a run folder?)",
            path.display(),
            run.display()
        ))
    })?;
    let (mut iters, mut d, mut g) = (Vec::new(), Vec::new(), Vec::new());
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (i, ds, gs) = scores_of(line).ok_or_else(|| {
            RunError::usage(format!(
                "{}:{}: not a metrics line (iteration, d_score, g_score)",
                path.display(),
                n + 1
            ))
        })?;
        iters.push(i);
        d.push(ds);
        g.push(gs);
    }
    if iters.is_empty() {
        return Err(RunError::usage(format!(
            "{}: no iterations to plot",
            path.display()
        )));
    }
    let out = run.join("scores.png");
    viz::save_scores(&iters, &d, &g, &out).map_err(RunError::fail)?;
    println!("wrote {} ({} iterations)", out.display(), iters.len());
    if let Some(n) = crate::quality::plot(run)? {
        println!(
            "wrote {} ({n} measurements)",
            run.join("quality.png").display()
        );
    }
    Ok(())
}

/// Writes `count` samples of the checkpoint's generator (inference mode) as PNGs.
pub fn generate(
    gpu: &Gpu,
    checkpoint_path: &Path,
    count: usize,
    out: &Path,
    seed: u64,
    grid: bool,
) -> Result<(), RunError> {
    let gan = crate::quality::load_generator(gpu, checkpoint_path)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let images = crate::quality::sample(&gan, seed, count)?;
    let per = 3 * IMAGE * IMAGE;
    for i in 0..count {
        let img = viz::to_rgb(&images[i * per..(i + 1) * per], IMAGE);
        viz::save_png(&img, &out.join(format!("sample_{i:05}.png"))).map_err(RunError::fail)?;
    }
    if grid {
        let cols = (count as f64).sqrt().ceil() as usize;
        viz::save_png(
            &viz::grid(&images, count, IMAGE, cols),
            &out.join("grid.png"),
        )
        .map_err(RunError::fail)?;
    }
    eprintln!("wrote {count} samples to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_formats_hours_minutes_seconds() {
        assert_eq!(super::clock(0.0), "0:00:00");
        assert_eq!(super::clock(59.6), "0:01:00");
        assert_eq!(super::clock(3725.0), "1:02:05");
        assert_eq!(super::clock(-3.0), "0:00:00");
    }

    #[test]
    fn eta_leaves_out_the_first_step() {
        // The first step took 400 s (compiling), the next four 10 s each: 16 left take 160 s.
        assert_eq!(super::eta(440.0, 400.0, 5, 16), Some(160.0));
        assert_eq!(super::eta(400.0, 400.0, 1, 19), None);
        assert_eq!(super::eta(400.0, 400.0, 1, 0), Some(0.0));
    }

    #[test]
    fn images_per_s_leaves_out_the_first_step() {
        // Four steps of 8 images in the 40 s after the first.
        assert_eq!(super::images_per_s(440.0, 400.0, 5, 8), 0.8);
        assert_eq!(super::images_per_s(400.0, 400.0, 1, 8), 0.02);
    }
}
