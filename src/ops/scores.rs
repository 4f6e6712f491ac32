//! step_scores: a training step's losses and D/G scores, written on the GPU into one record
//! of a ring, so that the host reads many steps at once instead of waiting for every step.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::gpu::KernelSpec;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    slot: u32,
    _pad: [u32; 2],
}

/// Values a record holds, in order.
pub const RECORD: usize = 4;

/// Writes record `slot` of `ring` ([slots * RECORD]): d_loss, g_loss, then the D score
/// (mean sigmoid(real) + 1 - mean sigmoid(fake)) / 2 and the G score mean sigmoid(fake), the
/// scores taken before any label flipping.
pub fn step_scores(
    real: &Tensor,
    fake: &Tensor,
    d_loss: &Tensor,
    g_loss: &Tensor,
    ring: &Tensor,
    slot: usize,
) -> Result<()> {
    let n = real.numel();
    if fake.numel() != n || n == 0 || d_loss.numel() != 1 || g_loss.numel() != 1 {
        return Err(Error::Shape(format!(
            "step_scores: {n} real and {} fake logits, losses of {} and {} values",
            fake.numel(),
            d_loss.numel(),
            g_loss.numel()
        )));
    }
    if (slot + 1) * RECORD > ring.numel() {
        return Err(Error::Shape(format!(
            "step_scores: record {slot} is past a ring of {} values",
            ring.numel()
        )));
    }
    let p = Params {
        n: n as u32,
        slot: slot as u32,
        _pad: [0; 2],
    };
    real.gpu().dispatch(
        &KernelSpec::new("scores", "step_scores"),
        bytemuck::bytes_of(&p),
        &[
            (1, real.bind()),
            (2, fake.bind()),
            (3, d_loss.bind()),
            (4, g_loss.bind()),
            (5, ring.bind()),
        ],
        [1, 1, 1],
    );
    Ok(())
}

pub mod cpu {
    /// The record `step_scores` writes, in f64.
    pub fn step_scores(real: &[f64], fake: &[f64], d_loss: f64, g_loss: f64) -> [f64; 4] {
        let sig = |x: &f64| 1.0 / (1.0 + (-x).exp());
        let r = real.iter().map(sig).sum::<f64>() / real.len() as f64;
        let f = fake.iter().map(sig).sum::<f64>() / fake.len() as f64;
        [d_loss, g_loss, (r + 1.0 - f) / 2.0, f]
    }
}
