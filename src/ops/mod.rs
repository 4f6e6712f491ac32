//! The ops: each file holds an op's forward kernels, its backward (`Function`), and its CPU
//! reference (`cpu` module) used by the tests and gradient checks.

pub mod batch_norm;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod gemm;
pub mod linear;
pub mod loss;
pub mod reduce;
pub mod scores;

pub use batch_norm::{batch_norm, batch_norm_activation};
pub use conv::{
    conv2d, conv2d_activation, conv2d_batch_norm_eval, conv_transpose2d,
    conv_transpose2d_activation, conv_transpose2d_batch_norm_eval, Conv2dOptions,
};
pub use dropout::dropout;
pub use elementwise::{leaky_relu, relu, sigmoid, tanh, Activation};
pub use linear::linear;
pub use loss::binary_cross_entropy_with_logits;
pub use reduce::{mean, sum};

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// The grid `[x, y, 1]` where both fit the adapter's workgroups per dimension; otherwise an
/// error that names `what` (the computation needing them).
pub(crate) fn grid_2d(
    gpu: &Gpu,
    x: usize,
    y: usize,
    what: impl FnOnce() -> String,
) -> Result<[u32; 3]> {
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    if x > max || y > max {
        return Err(Error::Shape(format!(
            "{} needs {x} x {y} workgroups; the adapter allows {max} per dimension",
            what()
        )));
    }
    Ok([x as u32, y as u32, 1])
}

/// The `AxB` value of the tuning variable `var` (a tile or block shape), when it is set and
/// well formed.
pub(crate) fn env_dims<T: std::str::FromStr>(var: &str) -> Option<(T, T)> {
    let v = std::env::var(var).ok()?;
    let (a, b) = v.split_once('x')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Elements per array entry for the kernels written over `vf` (elementwise, batch_norm,
/// reduce's channel_sum, adam): 4 (vec4) where `whole` (every run of elements a kernel treats
/// as a unit, a channel plane or the whole tensor, is a multiple of 4) and every tensor they
/// bind starts 16-byte aligned, else 1. On llvmpipe a storage load is a loop over the lanes,
/// and a vec4 load takes one such loop for four values (batch norm in 0.5 to 0.6 of its time,
/// BENCHMARKS.md "Four values a load"); elsewhere it is a plain vector load.
pub(crate) fn lanes(whole: bool, offsets: impl IntoIterator<Item = u64>) -> u32 {
    if whole && offsets.into_iter().all(|o| o.is_multiple_of(16)) {
        4
    } else {
        1
    }
}

/// Workgroups for `n` elements at `per_group` elements each, split over x/y.
pub(crate) fn grid_1d(gpu: &Gpu, n: usize, per_group: usize) -> [u32; 3] {
    gpu.grid(n.div_ceil(per_group) as u64)
}

struct ReshapeBackward {
    shape: Vec<usize>,
}

impl crate::autodiff::Function for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape_backward"
    }
    fn backward(
        &self,
        grad: &crate::tensor::Tensor,
        _needs: &[bool],
    ) -> crate::error::Result<Vec<Option<crate::tensor::Tensor>>> {
        Ok(vec![Some(grad.reshape(&self.shape)?)])
    }
}

/// The same data viewed with another shape (no copy).
pub fn reshape(
    tape: &crate::autodiff::Tape,
    x: &crate::autodiff::Var,
    shape: &[usize],
) -> crate::error::Result<crate::autodiff::Var> {
    let y = x.value.reshape(shape)?;
    let f = ReshapeBackward {
        shape: x.shape().to_vec(),
    };
    Ok(tape.record(&[x], y, f))
}
