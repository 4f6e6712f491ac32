//! The MATLAB training step (DESIGN §1) and the state it carries between steps.
//!
//! All randomness of iteration i (real batch order, flips, latents, label flips, dropout
//! masks) is drawn from generators seeded by (seed, i) or (seed, epoch), so a run stopped
//! and resumed from a checkpoint is bit-identical to one that never stopped.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::autodiff::{Param, Tape};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::{Discriminator, Generator, LATENT};
use crate::nn::init::InitRng;
use crate::nn::Module;
use crate::ops;
use crate::optim::{Adam, AdamConfig};
use crate::tensor::Tensor;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub batch: usize,
    pub adam: AdamConfig,
    /// Fraction of real labels flipped to 0 each iteration (exactly floor(flip * batch)).
    pub flip: f32,
    pub seed: u64,
}

/// A generator seeded by the run seed, a stream name and an index.
pub fn rng_for(seed: u64, stream: u64, index: u64) -> rand::rngs::StdRng {
    let mut z =
        seed ^ stream.wrapping_mul(0x9E3779B97F4A7C15) ^ index.wrapping_mul(0xD1B54A32D192ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    rand::rngs::StdRng::seed_from_u64(z ^ (z >> 31))
}

const STREAM_INIT: u64 = 1;
const STREAM_SHUFFLE: u64 = 2;
const STREAM_STEP: u64 = 3;
const STREAM_PREVIEW: u64 = 4;

/// Standard normal samples (Box-Muller), reproducible from the generator alone.
pub fn normal(rng: &mut impl RngExt, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}

/// Which samples make up the real batch of `iteration` (0-based), and their flips. Each epoch
/// is a fresh permutation; the last partial batch is dropped.
pub fn batch_plan(
    seed: u64,
    n: usize,
    batch: usize,
    iteration: u64,
) -> (Vec<usize>, Vec<bool>, u64) {
    let per_epoch = (n / batch).max(1) as u64;
    let epoch = iteration / per_epoch;
    let k = (iteration % per_epoch) as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(seed, STREAM_SHUFFLE, epoch));
    let idx = order[k * batch..(k + 1) * batch].to_vec();
    let mut r = rng_for(seed, STREAM_SHUFFLE, (1 << 40) + iteration);
    let flips = (0..batch).map(|_| r.random::<bool>()).collect();
    (idx, flips, epoch)
}

/// Steps whose reports the GPU holds before the host must read them (`Gan::read_stats`).
pub const STATS_RING: u64 = 256;

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    /// (mean sigmoid(real) + mean (1 - sigmoid(fake))) / 2, before label flipping.
    pub d_score: f32,
    /// mean sigmoid(fake).
    pub g_score: f32,
}

pub struct Gan {
    pub gpu: Gpu,
    pub g: Generator,
    pub d: Discriminator,
    pub g_opt: Adam,
    pub d_opt: Adam,
    /// Adam's step counter, shared by both networks; also the number of finished iterations.
    pub step: u64,
    /// The 25 latents of the preview grid, [25, 100].
    pub fixed_z: Tensor,
    /// BCE targets for the fakes: 0 in D's loss, 1 in G's (made once, not uploaded each step).
    zeros: Tensor,
    ones: Tensor,
    /// Each step's losses and scores, [STATS_RING, 4], record (step - 1) % STATS_RING: the
    /// host reads them at log intervals, not after every step.
    stats: Tensor,
    /// Steps recorded since `stats` was last read.
    stats_pending: u64,
    pub cfg: TrainConfig,
}

impl Gan {
    pub fn new(gpu: &Gpu, cfg: TrainConfig) -> Result<Gan> {
        let mut init = InitRng::new(cfg.seed);
        let mut g = Generator::new(gpu, &mut init)?;
        let mut d = Discriminator::new(gpu, &mut init)?;
        let g_opt = Adam::new(cfg.adam, g.params_mut())?;
        let d_opt = Adam::new(cfg.adam, d.params_mut())?;
        let z = normal(&mut rng_for(cfg.seed, STREAM_INIT, 0), 25 * LATENT);
        Ok(Gan {
            gpu: gpu.clone(),
            g,
            d,
            g_opt,
            d_opt,
            step: 0,
            fixed_z: Tensor::from_slice(gpu, &z, &[25, LATENT])?,
            zeros: Tensor::zeros(gpu, &[cfg.batch])?,
            ones: Tensor::full(gpu, 1.0, &[cfg.batch])?,
            stats: Tensor::zeros(gpu, &[STATS_RING as usize, ops::scores::RECORD])?,
            stats_pending: 0,
            cfg,
        })
    }

    /// One iteration on a real batch [B, 3, 64, 64] in [-1, 1], waiting for its report.
    pub fn train_step(&mut self, real: &Tensor) -> Result<StepStats> {
        self.record_step(real)?;
        let (_, last) = self.read_stats()?.pop().expect("the step just recorded");
        Ok(last)
    }

    /// One iteration, submitted but not waited for: the GPU may still be running it when this
    /// returns (`Gpu::submit`'s mark says when it is done). Its report stays on the GPU until
    /// `read_stats`, which must come at least every `STATS_RING` steps.
    pub fn record_step(&mut self, real: &Tensor) -> Result<crate::gpu::Mark> {
        assert!(
            self.stats_pending < STATS_RING,
            "{STATS_RING} step reports unread: read_stats first"
        );
        let gpu = self.gpu.clone();
        let b = self.cfg.batch;
        let it = self.step;
        let mut rng = rng_for(self.cfg.seed, STREAM_STEP, it);
        let z = Tensor::from_slice(&gpu, &normal(&mut rng, b * LATENT), &[b, LATENT])?;
        let (seed_real, seed_fake): (u32, u32) = (rng.random(), rng.random());
        // Exactly floor(flip * B) reals, chosen at random, get target 0.
        let n_flip = (self.cfg.flip as f64 * b as f64).floor() as usize;
        let mut order: Vec<usize> = (0..b).collect();
        order.shuffle(&mut rng);
        let mut t_real = vec![1f32; b];
        for &i in &order[..n_flip] {
            t_real[i] = 0.0;
        }
        let t_real = Tensor::from_slice(&gpu, &t_real, &[b])?;

        let tape = Tape::new();
        let x = tape.leaf(real.clone(), false);
        let logits_real = self.d.forward(&tape, &x, true, seed_real)?;
        let zv = tape.leaf(z, false);
        let fake = self.g.forward(&tape, &zv, true)?;
        let logits_fake = self.d.forward(&tape, &fake, true, seed_fake)?;

        let d_real = ops::binary_cross_entropy_with_logits(&tape, &logits_real, &t_real)?;
        let d_fake = ops::binary_cross_entropy_with_logits(&tape, &logits_fake, &self.zeros)?;
        let d_loss = ops::elementwise::add_vars(&tape, &d_real, &d_fake)?;
        let g_loss = ops::binary_cross_entropy_with_logits(&tape, &logits_fake, &self.ones)?;

        let d_vars: Vec<_> = self.d.params().iter().map(|p| tape.param(p)).collect();
        let g_vars: Vec<_> = self.g.params().iter().map(|p| tape.param(p)).collect();
        let d_refs: Vec<_> = d_vars.iter().collect();
        let g_refs: Vec<_> = g_vars.iter().collect();
        let mut d_grads = tape.backward(&d_loss, &d_refs)?;
        let mut g_grads = tape.backward(&g_loss, &g_refs)?;

        self.step += 1;
        let t = self.step;
        let take = |params: Vec<&Param>,
                    vars: &[crate::autodiff::Var],
                    grads: &mut crate::autodiff::Grads|
         -> Result<Vec<Tensor>> {
            params
                .iter()
                .zip(vars)
                .map(|(p, v)| {
                    grads
                        .take(v)
                        .ok_or_else(|| Error::Shape(format!("no gradient reached {}", p.name)))
                })
                .collect()
        };
        self.d_opt
            .step(t, &take(self.d.params(), &d_vars, &mut d_grads)?)?;
        self.g_opt
            .step(t, &take(self.g.params(), &g_vars, &mut g_grads)?)?;

        ops::scores::step_scores(
            &logits_real.value,
            &logits_fake.value,
            &d_loss.value,
            &g_loss.value,
            &self.stats,
            ((t - 1) % STATS_RING) as usize,
        )?;
        self.stats_pending += 1;
        let mark = gpu.submit();
        gpu.check()?;
        Ok(mark)
    }

    /// Steps recorded since the last `read_stats`.
    pub fn unread_stats(&self) -> u64 {
        self.stats_pending
    }

    /// The reports of the steps since the last call, oldest first, as (iteration, stats): one
    /// readback, which waits for every step recorded so far.
    pub fn read_stats(&mut self) -> Result<Vec<(u64, StepStats)>> {
        if self.stats_pending == 0 {
            return Ok(Vec::new());
        }
        let ring = self.stats.to_vec()?;
        let out = (self.step + 1 - self.stats_pending..=self.step)
            .map(|i| {
                let r = &ring[((i - 1) % STATS_RING) as usize * ops::scores::RECORD..];
                let stats = StepStats {
                    d_loss: r[0],
                    g_loss: r[1],
                    d_score: r[2],
                    g_score: r[3],
                };
                (i, stats)
            })
            .collect();
        self.stats_pending = 0;
        Ok(out)
    }

    /// G in inference mode on the fixed latents: [25, 3, 64, 64] in [-1, 1].
    pub fn preview(&self) -> Result<Vec<f32>> {
        self.generate(&self.fixed_z)
    }

    /// G in inference mode (running statistics) on latents [n, 100].
    pub fn generate(&self, z: &Tensor) -> Result<Vec<f32>> {
        let tape = Tape::no_grad();
        let zv = tape.leaf(z.clone(), false);
        self.g.forward(&tape, &zv, false)?.value.to_vec()
    }

    /// `count` latents for `generate`, from a seed: [count, 100] on the host, uploaded by the
    /// caller in as many parts as it generates in.
    pub fn latents(seed: u64, count: usize) -> Vec<f32> {
        normal(&mut rng_for(seed, STREAM_PREVIEW, 0), count * LATENT)
    }
}
