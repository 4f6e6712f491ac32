//! The input-gradient primitive for a dx of few channels on `shaders/conv_narrow.wgsl`: each
//! lane computes every channel and stride phase of a block of dx (the 3-channel layers).

use super::{Geometry, SpecGrid};
use crate::error::Error;
use crate::gpu::{Gpu, KernelSpec};
use crate::Result;

/// Most dx channels the kernel takes: a lane holds CIN x RY x RX accumulators.
pub(super) const MAX_CIN: usize = 4;

/// Blocks of dx a lane may take, BX x BY pixels of each stride phase, largest first. 4 x 4
/// (8 x 8 pixels at stride 2, 192 accumulators for 3 channels) loads a 6 x 6 window of dy per
/// output channel for 1,200 multiply-adds at k5 s2; on lavapipe it ran as fast as 8 x 4 and
/// 8 x 8 and compiles in a fraction of their time (BENCHMARKS.md).
const BLOCKS: [(usize, usize); 5] = [(4, 4), (4, 2), (2, 2), (2, 1), (1, 1)];

/// `DCGAN_NARROW_BLOCK=BXxBY` puts that block first, for tuning runs.
fn block_override() -> Option<(usize, usize)> {
    static BLOCK: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *BLOCK.get_or_init(|| crate::ops::env_dims("DCGAN_NARROW_BLOCK"))
}

/// `TY(k)` of the shader's header for a kernel extent `k`, padding `pad` and stride `s`: the
/// window row (plus `k`) from which tap `t` reaches phase row 0 of its phase.
fn reach(t: usize, k: usize, pad: usize, s: usize) -> usize {
    let ph = (t + s * k - pad) % s;
    (ph + pad + s * k - t) / s
}

/// (least, greatest) `reach` over the taps.
fn reach_range(k: usize, pad: usize, s: usize) -> (usize, usize) {
    let r = (0..k).map(|t| reach(t, k, pad, s));
    (r.clone().min().unwrap_or(0), r.max().unwrap_or(0))
}

/// (subgroup size, BX, BY) where the kernel applies: subgroups, at most `MAX_CIN` dx channels,
/// and a block that tiles dx.
fn block(gpu: &Gpu, g: &Geometry) -> Option<(usize, usize, usize)> {
    let sg = gpu.subgroup_size()? as usize;
    let s = g.opts.stride;
    let (pt, pl) = (g.opts.padding[0], g.opts.padding[2]);
    if g.cin > MAX_CIN || g.cout == 0 || s == 0 || pt >= s * g.kh || pl >= s * g.kw {
        return None;
    }
    let (bx, by) = block_override()
        .iter()
        .chain(&BLOCKS)
        .copied()
        .find(|(bx, by)| g.w.is_multiple_of(s * bx) && g.h.is_multiple_of(s * by))?;
    Some((sg, bx, by))
}

/// One lane a block.
fn grid(gpu: &Gpu, g: &Geometry, (sg, bx, by): (usize, usize, usize)) -> Result<[u32; 3]> {
    let s = g.opts.stride;
    let blocks = g.batch * (g.h / (s * by)) * (g.w / (s * bx));
    crate::ops::grid_2d(gpu, blocks.div_ceil(sg), 1, || {
        format!("a {}x{}x{} input gradient", g.cin, g.h, g.w)
    })
}

/// The kernel and grid for `g`'s input gradient, where it applies (`block`).
pub(super) fn spec(gpu: &Gpu, g: &Geometry) -> Option<Result<SpecGrid>> {
    let (sg, bx, by) = block(gpu, g)?;
    let s = g.opts.stride;
    let (pt, pl) = (g.opts.padding[0], g.opts.padding[2]);
    let (ymin, ymax) = reach_range(g.kh, pt, s);
    let (xmin, xmax) = reach_range(g.kw, pl, s);
    let taps = g.cin * g.kh * g.kw;
    let spec = KernelSpec::new("conv_narrow", "conv2d_input_grad")
        .with("ACT", 0)
        .with("NORM", 0)
        .with("SG", sg as u32)
        .with("CIN", g.cin as u32)
        .with("S", s as u32)
        .with("KH", g.kh as u32)
        .with("KW", g.kw as u32)
        .with("PAD_T", pt as u32)
        .with("PAD_L", pl as u32)
        .with("BY", by as u32)
        .with("BX", bx as u32)
        .with("RY", (s * by) as u32)
        .with("RX", (s * bx) as u32)
        .with("NW", taps.div_ceil(sg) as u32)
        .with("TMIN_Y", ymin as u32)
        .with("TMIN_X", xmin as u32)
        .with("WY", (by + ymax - ymin) as u32)
        .with("WX", (bx + xmax - xmin) as u32);
    Some(grid(gpu, g, (sg, bx, by)).map(|grid| (spec, grid)))
}

/// Whether `InputGradPath::Auto` takes this kernel for `g`: where it applies and its grid fits,
/// on CPU adapters. On lavapipe it runs the 3-channel layers' input gradient at 2.4 to 2.6
/// times the speed of the GEMM + col2im path it replaces (BENCHMARKS.md). A GPU would get one
/// lane per 8 x 8 block, 8,192 lanes at batch 128, too few to fill it, so GPUs keep col2im
/// until the kernel is measured on one. (No kernel spec is built here: this runs at every
/// dispatch of an input gradient.)
pub(super) fn chosen(gpu: &Gpu, g: &Geometry) -> bool {
    gpu.info().device_type == wgpu::DeviceType::Cpu
        && block(gpu, g).is_some_and(|b| grid(gpu, g, b).is_ok())
}

/// The error for the narrow path asked of a geometry it cannot serve.
pub(super) fn refused(g: &Geometry) -> Error {
    Error::Shape(format!(
        "no narrow input-gradient kernel for a {}x{}x{} dx (it needs subgroups, at most {MAX_CIN} \
         channels, and a height and width that are multiples of the stride)",
        g.cin, g.h, g.w
    ))
}
