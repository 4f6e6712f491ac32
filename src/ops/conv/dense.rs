//! The conv primitives for a conv that is a dense layer (its kernel covers the whole unpadded
//! input: one output pixel), on `shaders/conv_dense.wgsl`. D's 1-logit layer is one.

use super::{Geometry, Params};
use crate::error::Error;
use crate::gpu::{Gpu, KernelSpec};
use crate::tensor::Tensor;
use crate::Result;

/// Lanes a workgroup, and images a workgroup (forward) or a lane (input gradient): 8 images
/// share each loaded weight.
const WG: usize = 64;
const NB: usize = 8;

impl Geometry {
    /// Whether the conv is a dense layer that `conv_dense.wgsl` serves: its kernel covers the
    /// whole unpadded input (one output pixel), with K = cin * kh * kw a multiple of 4 for the
    /// vec4 loads and grids within the adapter's limits.
    pub fn is_dense(&self, gpu: &Gpu) -> bool {
        let k = self.cin * self.kh * self.kw;
        let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
        (self.oh, self.ow, self.kh, self.kw) == (1, 1, self.h, self.w)
            && self.opts.padding == [0; 4]
            && k.is_multiple_of(4)
            && (k / 4).div_ceil(WG) <= max
            && self.cout <= max
            && self.batch.div_ceil(NB) <= max
    }
}

fn spec(entry: &'static str, nc: usize) -> KernelSpec {
    KernelSpec::new("conv_dense", entry)
        .with("ACT", 0)
        .with("NORM", 0)
        .with("WG", WG as u32)
        .with("NB", NB as u32)
        .with("NC", nc as u32)
}

/// Whether these tensors can be bound as vec4 arrays: byte offsets that are multiples of 16.
pub(super) fn vec4_aligned(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| t.bind().offset.is_multiple_of(16))
}

/// The error for a dense path asked of a geometry it cannot serve.
pub(super) fn refused(g: &Geometry, what: &str) -> Error {
    Error::Shape(format!(
        "no dense-layer kernel for the {what} of a {}x{}x{} -> {}x{}x{} conv with a {}x{} kernel \
         (it needs one output pixel, no padding and cin * kh * kw a multiple of 4)",
        g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.kh, g.kw
    ))
}

/// y [batch, cout] = x [batch, K] w^T (+ bias, epilogue), into `y`.
pub(super) fn forward(
    p: &Params,
    g: &Geometry,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    y: &Tensor,
) {
    x.gpu().dispatch(
        &spec("conv2d_forward", 1)
            .with("ACT", p.act)
            .with("NORM", p.bn),
        bytemuck::bytes_of(p),
        &[
            (6, x.bind()),
            (2, w.bind()),
            (3, bias.unwrap_or(w).bind()),
            (4, y.bind()),
        ],
        [g.batch.div_ceil(NB) as u32, g.cout as u32, 1],
    );
}

/// dx [batch, K] = dy [batch, cout] w (+ bias per input channel, epilogue).
pub(super) fn input_grad(
    p: &Params,
    g: &Geometry,
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let gpu = dy.gpu();
    let dx = Tensor::uninit(gpu, &[g.batch, g.cin, g.h, g.w])?;
    let k4 = g.cin * g.kh * g.kw / 4;
    gpu.dispatch(
        &spec("conv2d_input_grad", 1)
            .with("ACT", p.act)
            .with("NORM", p.bn),
        bytemuck::bytes_of(p),
        &[
            (1, dy.bind()),
            (2, w.bind()),
            (3, bias.unwrap_or(dy).bind()),
            (5, dx.bind()),
        ],
        [k4.div_ceil(WG) as u32, g.batch.div_ceil(NB) as u32, 1],
    );
    Ok(dx)
}

/// dw [cout, K] = dy^T [cout, batch] x [batch, K], the images added in order.
pub(super) fn weight_grad(p: &Params, g: &Geometry, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
    let gpu = dy.gpu();
    // Up to 4 output channels a lane share each loaded x.
    let nc = g.cout.min(4);
    let dw = Tensor::uninit(gpu, &[g.cout, g.cin, g.kh, g.kw])?;
    let k4 = g.cin * g.kh * g.kw / 4;
    gpu.dispatch(
        &spec("conv2d_weight_grad", nc),
        bytemuck::bytes_of(p),
        &[(1, dy.bind()), (2, x.bind()), (5, dw.bind())],
        [k4.div_ceil(WG) as u32, g.cout.div_ceil(nc) as u32, 1],
    );
    Ok(dw)
}
