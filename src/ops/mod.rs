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
    conv2d, conv2d_activation, conv_transpose2d, conv_transpose2d_activation, Conv2dOptions,
};
pub use dropout::dropout;
pub use elementwise::{leaky_relu, relu, sigmoid, tanh, Activation};
pub use linear::linear;
pub use loss::binary_cross_entropy_with_logits;
pub use reduce::{mean, sum};

use crate::gpu::Gpu;

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
