//! The input-gradient primitive for small planes on `shaders/conv_planes.wgsl`: each lane holds
//! whole dx planes and gathers into each pixel the taps that reach it (G's first two layers,
//! D's last two convs' dx).

use super::{Geometry, SpecGrid};
use crate::error::Error;
use crate::gpu::{Gpu, KernelSpec};
use crate::Result;

/// Accumulators a lane may hold (CT x H x W), and dy values it loads per output channel.
/// Where the run has chosen the row windows (a long run, which pays their longer compile
/// anyway) the lane takes up to 1,024: 4 channels of the 16 x 16 layers, 0.81 of the time of
/// 2 on lavapipe, but about 10 s longer to compile where llvmpipe's shader cache is cold, and
/// the tests and short runs start many processes (BENCHMARKS.md).
const MAX_ACC: usize = 256;
const MAX_ACC_LONG_RUN: usize = 1024;
const MAX_DY: usize = 64;

/// Whether every dx pixel lies inside the full transposed conv's plane (the conv's top and
/// left padding at most its border) and the dy plane fits a lane.
fn fits(g: &Geometry) -> bool {
    let s = g.opts.stride;
    let (pt, pl) = (g.opts.padding[0], g.opts.padding[2]);
    if s == 0 || g.oh == 0 || g.ow == 0 || g.oh * g.ow > MAX_DY {
        return false;
    }
    let (fh, fw) = ((g.oh - 1) * s + g.kh, (g.ow - 1) * s + g.kw);
    fh >= pt + g.h && fw >= pl + g.w
}

/// The channels a lane: the most of 8, 4, 2, 1 whose dx planes fit the accumulators allowed.
fn tile(gpu: &Gpu, g: &Geometry) -> Option<usize> {
    if !fits(g) || g.cin == 0 || g.cout == 0 {
        return None;
    }
    let max_acc = if gpu.row_windows() {
        MAX_ACC_LONG_RUN
    } else {
        MAX_ACC
    };
    [8, 4, 2, 1].into_iter().find(|c| c * g.h * g.w <= max_acc)
}

/// A lane an image and `ct` channels.
fn grid(gpu: &Gpu, g: &Geometry, sg: usize, ct: usize) -> Result<[u32; 3]> {
    let (x, y) = (g.batch.div_ceil(sg), g.cin.div_ceil(ct));
    crate::ops::grid_2d(gpu, x, y, || {
        format!("a {}x{}x{} input gradient", g.cin, g.h, g.w)
    })
}

/// The kernel and grid for `g`'s input gradient, where it applies (subgroup adapters);
/// `aligned`: dy and w start 16-byte aligned.
pub(super) fn spec(gpu: &Gpu, g: &Geometry, aligned: bool) -> Option<Result<SpecGrid>> {
    let sg = gpu.subgroup_size()? as usize;
    let ct = tile(gpu, g)?;
    let grid = grid(gpu, g, sg, ct);
    let spec = KernelSpec::new("conv_planes", "conv2d_input_grad")
        .with("ACT", 0)
        .with("NORM", 0)
        .with("SG", sg as u32)
        .with("CT", ct as u32)
        .with("S", g.opts.stride as u32)
        .with("KH", g.kh as u32)
        .with("KW", g.kw as u32)
        .with("OH", g.oh as u32)
        .with("OW", g.ow as u32)
        .with("OHW", (g.oh * g.ow) as u32)
        .with("OHW4", (g.oh * g.ow / 4) as u32)
        .with("PAD_T", g.opts.padding[0] as u32)
        .with("PAD_L", g.opts.padding[2] as u32)
        .with("H", g.h as u32)
        .with("W", g.w as u32)
        .with("VA", (aligned && (g.oh * g.ow).is_multiple_of(4)) as u32);
    // The weights as vec4s where a channel group's are whole vec4s.
    let kk = g.kh * g.kw;
    let nw = (ct * kk).div_ceil(sg);
    let spec = if aligned && (g.cin * kk).is_multiple_of(4) && (ct * kk).is_multiple_of(4) {
        let nw = nw.next_multiple_of(4);
        spec.with("VB", 1)
            .with("NW", nw as u32)
            .with("NW4", nw as u32 / 4)
    } else {
        spec.with("VB", 0).with("NW", nw as u32)
    };
    Some(grid.map(|grid| (spec, grid)))
}

/// Whether `InputGradPath::Auto` takes this kernel for `g`: where it applies and its grid
/// fits, on CPU adapters (a lane per image and 4 channels is 8,192 lanes for G's first layer at
/// batch 128, too few for a GPU; GPUs keep col2im until the kernel is measured on one). At the
/// 16 x 16 layers even the scatter form at one channel a lane took 0.65 to 0.71 of the row
/// windows' time on lavapipe (BENCHMARKS.md). No kernel spec is built here: this runs at every
/// input-gradient dispatch.
pub(super) fn chosen(gpu: &Gpu, g: &Geometry) -> bool {
    let Some(sg) = gpu.subgroup_size() else {
        return false;
    };
    gpu.info().device_type == wgpu::DeviceType::Cpu
        && tile(gpu, g).is_some_and(|ct| grid(gpu, g, sg as usize, ct).is_ok())
}

/// The error for the planes path asked of a geometry it cannot serve.
pub(super) fn refused(g: &Geometry) -> Error {
    Error::Shape(format!(
        "no whole-plane input-gradient kernel for a {}x{}x{} dx from a {}x{} dy (it needs \
         subgroups, every dx pixel inside the full transposed conv's plane, at most {MAX_DY} dy \
         pixels and {MAX_ACC} dx pixels, {MAX_ACC_LONG_RUN} in a run on the row windows)",
        g.cin, g.h, g.w, g.oh, g.ow
    ))
}
