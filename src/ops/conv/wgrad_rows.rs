//! The weight-gradient primitive on `shaders/conv_wgrad_rows.wgsl`: each lane owns whole kernel
//! rows (one input channel and tap row, all its taps), so that the taps share the input values
//! a block of output pixels loads.

use super::{Geometry, SpecGrid};
use crate::error::Error;
use crate::gpu::{Gpu, KernelSpec};
use crate::Result;

/// Kernel rows a lane may own (R): 3 at k5 is 15 columns, the flat kernel's 16 on lavapipe.
const MAX_ROWS: usize = 3;

/// Output pixels a block (BX), largest first: the first that divides the output width.
const BLOCKS: [usize; 2] = [4, 2];

/// `DCGAN_WGRAD_ROWS=RxBX` sets the kernel rows a lane and the block width, for tuning runs.
fn tile_override() -> Option<(usize, usize)> {
    static TILE: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *TILE.get_or_init(|| crate::ops::env_dims("DCGAN_WGRAD_ROWS"))
}

/// (subgroup size, TM, R, BX) where the kernel applies: subgroups and a block width that
/// divides the output width. R is spread evenly over the lanes the kernel rows need, as the
/// flat kernel's `Plan::balanced` does with its columns.
fn tile(gpu: &Gpu, g: &Geometry) -> Option<(usize, usize, usize, usize)> {
    let sg = gpu.subgroup_size()? as usize;
    let (tm, _) = super::Plan::new(gpu, g.cout).subgroup_tile()?;
    let krows = g.cin * g.kh;
    if krows == 0 || g.cout == 0 || g.kw == 0 || g.opts.stride == 0 {
        return None;
    }
    let (max_rows, bx) = match tile_override() {
        Some((r, bx)) => (r.max(1), Some(bx.max(1))),
        None => (MAX_ROWS, None),
    };
    let bx = match bx {
        Some(bx) => g.ow.is_multiple_of(bx).then_some(bx)?,
        None => BLOCKS.into_iter().find(|b| g.ow.is_multiple_of(*b))?,
    };
    let lanes = krows.div_ceil(sg * max_rows) * sg;
    let r = krows.div_ceil(lanes);
    Some((sg, tm, r, bx))
}

/// Lanes along the kernel rows, workgroups of TM output channels along y.
fn grid(gpu: &Gpu, g: &Geometry, (sg, tm, r, _): (usize, usize, usize, usize)) -> Result<[u32; 3]> {
    let x = (g.cin * g.kh).div_ceil(sg * r);
    crate::ops::grid_2d(gpu, x, g.cout.div_ceil(tm), || {
        format!("a {}x{}x{}x{} weight gradient", g.cout, g.cin, g.kh, g.kw)
    })
}

/// The kernel and grid (one split; the caller sets grid z) for `g`'s weight gradient, where it
/// applies (`tile`).
pub(super) fn spec(gpu: &Gpu, g: &Geometry) -> Option<Result<SpecGrid>> {
    let t @ (sg, tm, r, bx) = tile(gpu, g)?;
    let (s, kw) = (g.opts.stride, g.kw);
    let spec = KernelSpec::new("conv_wgrad_rows", "conv2d_weight_grad")
        .with("SG", sg as u32)
        .with("TM", tm as u32)
        .with("TMS", (tm / sg) as u32)
        .with("R", r as u32)
        .with("TN", (r * kw) as u32)
        .with("BX", bx as u32)
        .with("S", s as u32)
        .with("KW", kw as u32)
        .with("FSPAN", ((bx - 1) * s + kw) as u32);
    Some(grid(gpu, g, t).map(|grid| (spec, grid)))
}

/// Whether `WeightGradPath::Auto` takes this kernel: where the run is on the row windows
/// (`Gpu::set_row_windows`: a long run on a CPU adapter, which pays their compile time anyway)
/// and the kernel applies with a grid that fits.
pub(super) fn chosen(gpu: &Gpu, g: &Geometry) -> bool {
    super::row_windows_active(gpu) && tile(gpu, g).is_some_and(|t| grid(gpu, g, t).is_ok())
}

/// The error for the row-window path asked of a geometry it cannot serve.
pub(super) fn refused(g: &Geometry) -> Error {
    Error::Shape(format!(
        "no row-window weight-gradient kernel for a {}x{}x{}x{} weight over a {}x{} output (it \
         needs subgroups and an output width that is a multiple of {:?})",
        g.cout, g.cin, g.kh, g.kw, g.oh, g.ow, BLOCKS
    ))
}
