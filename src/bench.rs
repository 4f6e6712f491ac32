//! `dcgan bench`: the full MATLAB training step on synthetic data, timed, with an analytic FLOP
//! count, the project's GEMM at 1024^3 on the same adapter for scale, dispatch count, peak
//! memory and (where timestamps are offered) a per-kernel breakdown of one step.

use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::model::{IMAGE, LATENT};
use crate::ops::conv::{Conv2dOptions, Geometry};
use crate::optim::AdamConfig;
use crate::tensor::Tensor;
use crate::train::{normal, rng_for, Gan, TrainConfig};

#[derive(Serialize, Debug)]
pub struct Summary {
    pub adapter: String,
    /// The host's CPU model and threads (`gpu::host_cpu`): what a CPU adapter runs on.
    pub host_cpu: String,
    pub batch: usize,
    /// "row windows" or "flat": the kernels of the forward-shaped conv primitives.
    pub conv_kernels: String,
    pub step_ms_median: f64,
    pub step_ms_min: f64,
    pub step_ms_max: f64,
    pub images_per_s: f64,
    pub step_gflops: f64,
    pub gemm_gflops: f64,
    pub efficiency: f64,
    pub dispatches_per_step: u64,
    /// Command buffers submitted in one step.
    pub submits_per_step: u64,
    /// Copies to the host over all timed steps: the steps' reports stay on the GPU and are read
    /// once at the end, as training reads them at log intervals.
    pub readbacks: u64,
    /// Bind groups created in one step; the rest came from the cache.
    pub bind_groups_created_per_step: u64,
    pub peak_bytes: u64,
    /// Multiply-adds counted for one step (FLOP = 2x).
    pub step_macs: u64,
}

/// Multiply-adds of one training step at batch `b`, from the layer geometries. A layer's
/// forward, input gradient and weight gradient each cost its forward multiply-adds. The step
/// runs D forward twice (reals, fakes) and G forward once; the D loss backward takes weight
/// gradients on both D passes and input gradients down to D's second layer; the G loss backward
/// takes input gradients through all of D on the fakes, then weight gradients of G and input
/// gradients down to G's first transposed conv. Batch norm, activations and Adam are left out.
pub fn step_macs(b: usize) -> u64 {
    let t = Conv2dOptions::same_transposed(5, 2);
    let g_layers: Vec<u64> = [
        (512, 4, 256, Conv2dOptions::valid(1)),
        (256, 8, 128, t),
        (128, 16, 64, t),
        (64, 32, 3, t),
    ]
    .iter()
    .map(|&(cin, n, cout, o)| {
        Geometry::transposed(&[b, cin, n, n], &[cin, cout, 5, 5], o)
            .expect("DCGAN shapes")
            .macs()
    })
    .collect();
    let mut d_layers: Vec<u64> = [(3, 64, 64), (64, 32, 128), (128, 16, 256), (256, 8, 512)]
        .iter()
        .map(|&(cin, n, cout)| {
            Geometry::conv(
                &[b, cin, n, n],
                &[cout, cin, 5, 5],
                Conv2dOptions::same(n, n, 5, 2),
            )
            .expect("DCGAN shapes")
            .macs()
        })
        .collect();
    d_layers.push((b * 512 * 16) as u64);
    let fc = (b * LATENT * 512 * 16) as u64;
    let g_fwd: u64 = fc + g_layers.iter().sum::<u64>();
    let d_fwd: u64 = d_layers.iter().sum();
    let d_igrad_all = d_fwd;
    let d_igrad_above_first = d_fwd - d_layers[0];
    let g_wgrad = g_fwd;
    let g_igrad = g_layers.iter().sum::<u64>(); // down to the fc output, not into z
    2 * d_fwd + g_fwd + 2 * (d_fwd + d_igrad_above_first) + d_igrad_all + g_wgrad + g_igrad
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The project's GEMM at 1024^3, best of three after a warm-up, in GFLOP/s.
pub fn gemm_gflops(gpu: &Gpu) -> Result<f64> {
    let n = 1024;
    let data: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let a = Tensor::from_slice(gpu, &data, &[n, n])?;
    let b = Tensor::from_slice(gpu, &data, &[n, n])?;
    crate::ops::linear::matmul(&a, &b)?;
    gpu.sync()?;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let c = crate::ops::linear::matmul(&a, &b)?;
        gpu.sync()?;
        drop(c);
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n * n * n) as f64 / best / 1e9)
}

/// Per kernel label: dispatches and GPU milliseconds in one step, slowest first.
pub type Breakdown = Vec<(String, u64, f64)>;

/// Runs `iterations` timed steps after one warm-up step; returns the summary and, where the
/// adapter has timestamps, the per-kernel breakdown of one more step.
pub fn run(gpu: &Gpu, batch: usize, iterations: usize) -> Result<(Summary, Breakdown)> {
    let cfg = TrainConfig {
        batch,
        adam: AdamConfig::default(),
        flip: 0.3,
        seed: 0,
    };
    let mut gan = Gan::new(gpu, cfg)?;
    let real_data: Vec<f32> = normal(&mut rng_for(0, 99, 0), batch * 3 * IMAGE * IMAGE)
        .into_iter()
        .map(|v| v.clamp(-1.0, 1.0))
        .collect();
    let real = Tensor::from_slice(gpu, &real_data, &[batch, 3, IMAGE, IMAGE])?;
    gan.train_step(&real)?; // compiles every kernel
    gpu.pool().reset_peak();
    gpu.reset_stats();
    // Back to back, as training runs them: each step is submitted while the one before it
    // runs, and timed from that one's completion to its own.
    let n = iterations.max(1);
    let mut times = Vec::new();
    let mut t = Instant::now();
    let mut previous = None;
    let mut reports = Vec::new();
    for _ in 0..n {
        if gan.unread_stats() >= crate::train::STATS_RING / 2 {
            reports.extend(gan.read_stats()?);
        }
        let mark = gan.record_step(&real)?;
        if let Some(m) = previous.replace(mark) {
            gpu.wait_for(&m)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            t = Instant::now();
        }
    }
    gpu.wait_for(&previous.expect("at least one step"))?;
    times.push(t.elapsed().as_secs_f64() * 1e3);
    reports.extend(gan.read_stats()?);
    if let Some((i, s)) = reports.iter().find(|(_, s)| !s.d_loss.is_finite()) {
        return Err(crate::Error::Gpu(format!(
            "bench step {i} computed a loss that is not finite ({s:?}): the kernels are wrong \
             on this adapter"
        )));
    }
    let st = gpu.stats();
    let per_step = |v: u64| v / n as u64;
    let peak = gpu.pool().peak_bytes();
    let mut breakdown = Vec::new();
    if gpu.has_timestamps() {
        gpu.set_profiling(true);
        gan.train_step(&real)?;
        gpu.set_profiling(false);
        breakdown = gpu
            .take_profile()
            .into_iter()
            .map(|(k, (n, ns))| (k, n, ns / 1e6))
            .collect();
        breakdown.sort_by(|a, b| b.2.total_cmp(&a.2));
    }
    let gemm = gemm_gflops(gpu)?;
    let macs = step_macs(batch);
    let (min, max) = (
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max),
    );
    let med = median(&mut times);
    let step_gflops = 2.0 * macs as f64 / (med / 1e3) / 1e9;
    Ok((
        Summary {
            adapter: gpu.describe(),
            host_cpu: crate::gpu::host_cpu(),
            batch,
            conv_kernels: if crate::ops::conv::row_windows_active(gpu) {
                "row windows"
            } else {
                "flat"
            }
            .into(),
            step_ms_median: med,
            step_ms_min: min,
            step_ms_max: max,
            images_per_s: batch as f64 / (med / 1e3),
            step_gflops,
            gemm_gflops: gemm,
            efficiency: step_gflops / gemm,
            dispatches_per_step: per_step(st.dispatches),
            submits_per_step: per_step(st.submits),
            readbacks: st.readbacks,
            bind_groups_created_per_step: per_step(st.bind_groups_created),
            peak_bytes: peak,
            step_macs: macs,
        },
        breakdown,
    ))
}
