//! Reductions: per-channel sums (bias gradients) and sum / mean to a scalar, all fixed-order.

use bytemuck::{Pod, Zeroable};

use super::elementwise::broadcast_scalar;
use crate::autodiff::{Function, Tape, Var};
use crate::error::Result;
use crate::gpu::KernelSpec;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    alpha: f32,
}

/// x viewed as `[outer, channels, inner]` -> `[channels]`, summed over outer and inner.
pub fn channel_sum(x: &Tensor, outer: usize, channels: usize, inner: usize) -> Result<Tensor> {
    assert_eq!(outer * channels * inner, x.numel());
    let gpu = x.gpu();
    let out = Tensor::uninit(gpu, &[channels])?;
    let p = Params {
        outer: outer as u32,
        channels: channels as u32,
        inner: inner as u32,
        alpha: 1.0,
    };
    if inner == 1 && channels >= outer {
        // A dense layer's bias gradient (G's projection: 8,192 channels of 128 rows): a lane
        // a channel adding its rows in order beats a 256-lane tree over each channel's few
        // values (BENCHMARKS.md "Four values a load").
        return sum_splits(x, outer, &[channels]);
    }
    let v = super::lanes(inner.is_multiple_of(4), [x.bind().offset]);
    gpu.dispatch(
        &KernelSpec::new("reduce", "channel_sum").with("V", v),
        bytemuck::bytes_of(&p),
        &[(1, x.bind()), (2, out.bind())],
        gpu.grid(channels as u64),
    );
    Ok(out)
}

/// x viewed as `[splits, n]` -> `[n]` (with `shape`), summed over splits in order.
pub fn sum_splits(x: &Tensor, splits: usize, shape: &[usize]) -> Result<Tensor> {
    let gpu = x.gpu();
    let out = Tensor::uninit(gpu, shape)?;
    let n = out.numel();
    assert_eq!(splits * n, x.numel());
    let p = Params {
        outer: splits as u32,
        channels: n as u32,
        inner: 1,
        alpha: 1.0,
    };
    gpu.dispatch(
        &KernelSpec::new("reduce", "sum_splits").with("V", 1),
        bytemuck::bytes_of(&p),
        &[(1, x.bind()), (2, out.bind())],
        super::grid_1d(gpu, n, 256),
    );
    Ok(out)
}

/// alpha * sum(x) as a `[1]` tensor.
pub fn sum_all(x: &Tensor, alpha: f32) -> Result<Tensor> {
    let gpu = x.gpu();
    let out = Tensor::uninit(gpu, &[1])?;
    let p = Params {
        outer: x.numel() as u32,
        channels: 1,
        inner: 1,
        alpha,
    };
    gpu.dispatch(
        &KernelSpec::new("reduce", "sum_all").with("V", 1),
        bytemuck::bytes_of(&p),
        &[(1, x.bind()), (2, out.bind())],
        [1, 1, 1],
    );
    Ok(out)
}

struct SumBackward {
    alpha: f32,
    shape: Vec<usize>,
}

impl Function for SumBackward {
    fn name(&self) -> &'static str {
        "sum_backward"
    }
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(broadcast_scalar(grad, self.alpha, &self.shape)?)])
    }
}

/// sum(x) -> `[1]`.
pub fn sum(tape: &Tape, x: &Var) -> Result<Var> {
    let y = sum_all(&x.value, 1.0)?;
    let shape = x.shape().to_vec();
    Ok(tape.record(&[x], y, SumBackward { alpha: 1.0, shape }))
}

/// mean(x) -> `[1]`.
pub fn mean(tape: &Tape, x: &Var) -> Result<Var> {
    let alpha = 1.0 / x.value.numel() as f32;
    let y = sum_all(&x.value, alpha)?;
    let shape = x.shape().to_vec();
    Ok(tape.record(&[x], y, SumBackward { alpha, shape }))
}

pub mod cpu {
    /// x viewed as `[outer, channels, inner]` -> `[channels]`.
    pub fn channel_sum(x: &[f64], outer: usize, channels: usize, inner: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; channels];
        for o in 0..outer {
            for (c, acc) in out.iter_mut().enumerate() {
                for r in 0..inner {
                    *acc += x[(o * channels + c) * inner + r];
                }
            }
        }
        out.into_iter().collect()
    }
}
