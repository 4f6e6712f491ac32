//! conv2d and conv_transpose2d on three implicit-GEMM primitives (forward, input gradient,
//! weight gradient): a transposed conv's forward is a conv's input gradient and vice versa.
//! The two forward-shaped primitives can apply an activation as they store each output.

use bytemuck::{Pod, Zeroable};

use super::elementwise::{activation_backward, Activation};
use super::linear::{tile_plan, KernelTiles};
use super::reduce::{channel_sum, sum_splits};
use crate::autodiff::{Function, Tape, Var};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

mod dense;
mod narrow;
mod planes;

/// Stride and per-side padding. For conv_transpose2d the padding is the cropping of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    pub stride: usize,
    /// [top, bottom, left, right]
    pub padding: [usize; 4],
}

impl Conv2dOptions {
    pub fn new(stride: usize, padding: [usize; 4]) -> Self {
        Conv2dOptions { stride, padding }
    }

    /// No padding.
    pub fn valid(stride: usize) -> Self {
        Conv2dOptions::new(stride, [0; 4])
    }

    /// MATLAB's (and TensorFlow's) "same" for a conv: output ceil(in / stride), total padding
    /// max((out - 1) * stride + k - in, 0), floor of half at top/left, the rest bottom/right.
    pub fn same(in_h: usize, in_w: usize, k: usize, stride: usize) -> Self {
        let split = |n: usize| {
            let out = n.div_ceil(stride);
            let total = ((out - 1) * stride + k).saturating_sub(n);
            (total / 2, total - total / 2)
        };
        let (t, b) = split(in_h);
        let (l, r) = split(in_w);
        Conv2dOptions::new(stride, [t, b, l, r])
    }

    /// MATLAB's "same" cropping for a transposed conv: output in * stride, total crop
    /// k - stride, floor of half at top/left.
    pub fn same_transposed(k: usize, stride: usize) -> Self {
        let total = k.saturating_sub(stride);
        let (a, b) = (total / 2, total - total / 2);
        Conv2dOptions::new(stride, [a, b, a, b])
    }

    /// Output size of a conv over an `h` x `w` input with a `kh` x `kw` kernel.
    pub fn conv_out(&self, h: usize, w: usize, kh: usize, kw: usize) -> Option<(usize, usize)> {
        let [t, b, l, r] = self.padding;
        let (ph, pw) = (h + t + b, w + l + r);
        (self.stride > 0 && ph >= kh && pw >= kw)
            .then(|| ((ph - kh) / self.stride + 1, (pw - kw) / self.stride + 1))
    }

    /// Output size of a transposed conv over an `h` x `w` input.
    pub fn transposed_out(
        &self,
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
    ) -> Option<(usize, usize)> {
        let [t, b, l, r] = self.padding;
        let full_h = (h.checked_sub(1)?) * self.stride + kh;
        let full_w = (w.checked_sub(1)?) * self.stride + kw;
        (self.stride > 0 && full_h > t + b && full_w > l + r)
            .then(|| (full_h - t - b, full_w - l - r))
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    batch: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_t: u32,
    pad_l: u32,
    has_bias: u32,
    split: u32,
    /// The forward epilogue's activation (`epilogue_code`), spliced into the kernel as the
    /// constant ACT.
    act: u32,
    slope: f32,
    cs_n: u32,
    cs_t: u32,
    cs_p: u32,
    /// `conv_rows.wgsl`'s input gradient: the stride phase of this dispatch (each has its own
    /// tap counts, spliced in as TX and TY).
    phase_x: u32,
    phase_y: u32,
    /// 1 where an inference-mode batch norm follows in the epilogue (the spliced constant NORM,
    /// `shaders/epilogue.wgsl`): the bias binding then holds the batch norm's statistics too.
    bn: u32,
}

/// What a forward-shaped primitive does to each output as it stores it: adds the bias, then
/// applies an inference-mode batch norm where one follows the conv, then the activation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Epilogue {
    /// A batch norm from running statistics after the bias: the bias argument is then
    /// `ops::batch_norm::inference_epilogue`'s table of the output's C channels, [5 * C]
    /// (conv bias, mean, 1 / sqrt(var + eps), gamma, beta). In training the batch statistics
    /// need the whole output first, so only inference can fold the batch norm in here.
    pub batch_norm: bool,
    pub act: Option<Activation>,
}

impl From<Option<Activation>> for Epilogue {
    fn from(act: Option<Activation>) -> Epilogue {
        Epilogue {
            batch_norm: false,
            act,
        }
    }
}

/// The shader's epilogue code and slope for an activation fused into a forward primitive.
/// relu and leaky_relu (slope >= 0) keep the sign of their input, so every fused activation
/// can be differentiated from the output alone.
fn epilogue_code(act: Option<Activation>) -> Result<(u32, f32)> {
    Ok(match act {
        None => (0, 0.0),
        Some(Activation::Relu) => (1, 0.0),
        Some(Activation::LeakyRelu(s)) if s >= 0.0 => (1, s),
        Some(Activation::Tanh) => (2, 0.0),
        Some(Activation::Sigmoid) => (3, 0.0),
        Some(a) => {
            return Err(Error::Shape(format!(
                "cannot fuse {a:?} into a conv epilogue"
            )))
        }
    })
}

/// `DCGAN_CONV_TILE=TMxTN` overrides the subgroup kernels' tile for tuning runs.
fn tile_override() -> Option<(u32, u32)> {
    static TILE: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    *TILE.get_or_init(|| super::env_dims("DCGAN_CONV_TILE"))
}

/// Which kernel file and tile shape serve a conv GEMM of `rows` output channels.
enum Plan {
    /// `conv.wgsl` and `conv_weight_grad.wgsl`: one subgroup per workgroup, TM rows (a
    /// multiple of SG) x TN columns a lane;
    /// `conv_rows.wgsl` takes up to `tn_rows` pixels a lane.
    Subgroup {
        sg: u32,
        tm: u32,
        tn: u32,
        tn_rows: u32,
        /// Reduction steps a loop iteration in the weight gradient (`Gpu::weight_grad_unroll`).
        ku: u32,
    },
    /// `conv_portable.wgsl`, for adapters without subgroups.
    Portable(KernelTiles),
}

impl Plan {
    fn new(gpu: &crate::gpu::Gpu, rows: usize) -> Plan {
        match gpu.subgroup_size() {
            Some(sg) => {
                // llvmpipe: big tiles amortise its per-lane loads (64 x 16 measured best at
                // the DCGAN shapes; the row windows run faster per kernel at 64 x 32, but
                // llvmpipe compiled them for more than 12 minutes, BENCHMARKS.md); GPUs: one
                // row per lane keeps register pressure low.
                let cpu = gpu.info().device_type == wgpu::DeviceType::Cpu;
                let (tm_max, tn, tn_rows) = match tile_override() {
                    Some((tm, tn)) => (tm, tn, tn),
                    None if cpu => (64, 16, 16),
                    None => (sg, 4, 4),
                };
                let tm = (rows as u32).next_multiple_of(sg).min(tm_max.max(sg));
                Plan::Subgroup {
                    sg,
                    tm,
                    tn,
                    tn_rows,
                    ku: gpu.weight_grad_unroll(),
                }
            }
            None => Plan::Portable(tile_plan(gpu, rows)),
        }
    }

    /// The subgroup tile with TN cut to spread `cols` columns evenly over the lanes of the
    /// workgroups they need. Every lane runs the whole tile, so columns past the end cost as
    /// much as real ones: the weight gradients of the 3-channel layers (75 columns, cin x 5 x 5)
    /// would use 75 of 128 at TN = 16, and use 75 of 80 at TN = 10. Each column still adds
    /// its products in the same order, so the result is the same bit for bit.
    fn balanced(self, cols: usize) -> Plan {
        match self {
            Plan::Subgroup {
                sg,
                tm,
                tn,
                tn_rows,
                ku,
            } => {
                let lanes = cols.div_ceil((sg * tn) as usize) * sg as usize;
                let tn = (cols.div_ceil(lanes.max(1)) as u32).clamp(1, tn);
                Plan::Subgroup {
                    sg,
                    tm,
                    tn,
                    tn_rows,
                    ku,
                }
            }
            portable => portable,
        }
    }

    fn spec(&self, entry: &'static str) -> crate::gpu::KernelSpec {
        match *self {
            Plan::Subgroup { sg, tm, tn, ku, .. } => {
                let spec = if entry == "conv2d_weight_grad" {
                    crate::gpu::KernelSpec::new("conv_weight_grad", entry).with("KU", ku)
                } else {
                    crate::gpu::KernelSpec::new("conv", entry)
                        .with("ACT", 0)
                        .with("NORM", 0)
                };
                spec.with("SG", sg)
                    .with("TM", tm)
                    .with("TMS", tm / sg)
                    .with("TN", tn)
            }
            Plan::Portable(t) => t
                .spec("conv_portable", entry)
                .with("ACT", 0)
                .with("NORM", 0),
        }
    }

    /// `conv_rows.wgsl`'s spec and grid for a GEMM of `rows` channels over the `oh` x `ow`
    /// pixels of each image (the output, or one stride phase of the input), when the subgroup
    /// tile's TN pixels can be laid out as a BY x BX block of that grid. `dx_taps`: `None`
    /// for the forward, else the input gradient's taps in x and kernel rows for the stride
    /// phase of the dispatch.
    fn rows_spec(
        &self,
        gpu: &crate::gpu::Gpu,
        rows: usize,
        (oh, ow): (usize, usize),
        g: &Geometry,
        dx_taps: Option<DxTaps>,
        [aligned, w_aligned]: [bool; 2],
    ) -> Option<Result<(crate::gpu::KernelSpec, [u32; 3])>> {
        let Plan::Subgroup {
            sg,
            tm,
            tn_rows,
            ku,
            ..
        } = *self
        else {
            return None;
        };
        // The largest block of tn_rows, tn_rows / 2, ... (at least 4) pixels that tiles the
        // pixel grid: smaller blocks would share too few loads to pay for the extra lanes.
        let floor = tn_rows.min(4);
        let (tn, (bx, by)) = std::iter::successors(Some(tn_rows), |t| Some(t / 2))
            .take_while(|t| *t >= floor)
            .find_map(|t| Some((t, row_blocks(t, oh, ow)?)))?;
        let (s, kw) = (g.opts.stride as u32, g.kw as u32);
        let entry = match dx_taps {
            None => "conv2d_forward",
            Some(_) => "conv2d_input_grad",
        };
        let spec = crate::gpu::KernelSpec::new("conv_rows", entry)
            .with("ACT", 0)
            .with("NORM", 0)
            .with("SG", sg)
            .with("TM", tm)
            .with("TMS", tm / sg)
            .with("TN", tn)
            .with("BX", bx)
            .with("BY", by)
            .with("S", s)
            .with("KW", kw);
        // A block row's window: its length, its first position's column relative to the
        // block's first (mod 4 it is the same for every block whose first column is a multiple
        // of 4), and the width of a's rows.
        let (span, first, a_width) = match dx_taps {
            None => ((bx - 1) * s + kw, -(g.opts.padding[2] as i64), g.w),
            Some(t) => (bx + t.tx - 1, t.dxo - (t.tx as i64 - 1), g.ow),
        };
        // Each module holds one entry point: the input gradient's phases are parsed apart
        // from the forward (whose unrolled body they would otherwise carry).
        let spec = match dx_taps {
            None => {
                let (xlo, xhi) = g.window_inside(bx as usize);
                spec.with("DX", 0)
                    .with("FSPAN", span)
                    .with("XLO", xlo)
                    .with("XHI", xhi)
            }
            Some(t) => spec
                .with("DX", 1)
                .with("TX", t.tx)
                .with("TY", t.ty)
                .with("DSPAN", span),
        };
        // The window as vec4s (VA = 1) where blocks start at multiples of 4 and the rows of
        // `a` are whole vec4s.
        let spec = if aligned && bx.is_multiple_of(4) && a_width.is_multiple_of(4) {
            let (off, nq) = vec4_window(first, span);
            spec.with("VA", 1).with("OFF", off).with("NQ", nq)
        } else {
            spec.with("VA", 0)
        };
        // The forward's weights: a row's taps from two vec4s (kernels up to 5 wide), where the
        // weights are whole vec4s (a vec4 binding holds none of a partial last one).
        let whole = (g.cout * g.cin * g.kh * g.kw).is_multiple_of(4);
        let vb = dx_taps.is_none() && w_aligned && whole && kw <= 5;
        let spec = spec.with("VB", vb as u32);
        // One lane a block: the flat kernel's grid with TN pixels a lane.
        let flat = Plan::Subgroup {
            sg,
            tm,
            tn,
            tn_rows: tn,
            ku,
        };
        Some(
            flat.grid(gpu, rows, g.batch * oh * ow)
                .map(|grid| (spec, grid)),
        )
    }

    fn grid(&self, gpu: &crate::gpu::Gpu, rows: usize, cols: usize) -> Result<[u32; 3]> {
        match *self {
            Plan::Subgroup { sg, tm, tn, .. } => {
                let x = cols.div_ceil((sg * tn) as usize);
                let y = rows.div_ceil(tm as usize);
                super::grid_2d(gpu, x, y, || format!("a {rows} x {cols} conv GEMM"))
            }
            Plan::Portable(t) => t.grid(gpu, rows, cols),
        }
    }
}

/// A lane's `tn` pixels as a `by` x `bx` block of an `oh` x `ow` grid: `bx` = min(tn, ow)
/// dividing both tn and ow, `by` = tn / bx dividing oh, so no block straddles two rows (or two
/// images).
fn row_blocks(tn: u32, oh: usize, ow: usize) -> Option<(u32, u32)> {
    let bx = tn.min(ow as u32).max(1);
    let by = tn / bx;
    (tn.is_multiple_of(bx) && ow.is_multiple_of(bx as usize) && oh.is_multiple_of(by as usize))
        .then_some((bx, by))
}

/// Whether a run that pushes `images` images through a training step (iterations x batch)
/// should put the forward-shaped primitives on the row-window kernels (`Gpu::set_row_windows`).
/// On llvmpipe they save 3.7 to 7.9 s of a batch-128 step (0.03-0.06 s an image) but compile
/// longer: about 200 s where Mesa's shader cache does not hold them yet (a machine's first
/// such run), about 5 s after (session 17, BENCHMARKS.md "Compile time at every start"), so
/// they pay off after some 3,300 to 6,800 images on a cold cache and 80 to 160 on a warm one;
/// 8,192 covers the first run. On GPUs compiling is fast, but the row windows are not measured
/// there yet, so the flat kernels stay.
pub fn row_windows_pay_off(gpu: &crate::gpu::Gpu, images: u64) -> bool {
    gpu.info().device_type == wgpu::DeviceType::Cpu
        && gpu.subgroup_size().is_some()
        && images >= ROW_WINDOWS_MIN_IMAGES
}

/// See `row_windows_pay_off`.
pub const ROW_WINDOWS_MIN_IMAGES: u64 = 8192;

/// Which kernels serve the forward-shaped conv primitives of a run (`--conv-kernels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConvKernels {
    /// `DCGAN_CONV_ROWS` where it is set, else the row windows where they pay off.
    #[default]
    Auto,
    /// The flat register kernels.
    Flat,
    /// The row-window kernels wherever the shapes allow.
    RowWindows,
}

impl ConvKernels {
    /// Sets `gpu` up for a run that pushes `images` images through the training step; returns
    /// whether the row windows will run (they need subgroups: elsewhere the flat kernels do).
    pub fn apply(self, gpu: &crate::gpu::Gpu, images: u64) -> bool {
        let on = match self {
            ConvKernels::Flat => false,
            ConvKernels::RowWindows => true,
            ConvKernels::Auto => {
                crate::gpu::row_windows_env().unwrap_or_else(|| row_windows_pay_off(gpu, images))
            }
        };
        gpu.set_row_windows(on);
        row_windows_active(gpu)
    }
}

/// Whether the forward-shaped primitives run on the row windows: the device is set to them and
/// has the subgroups they need (elsewhere the flat kernels run).
pub fn row_windows_active(gpu: &crate::gpu::Gpu) -> bool {
    gpu.row_windows() && gpu.subgroup_size().is_some()
}

/// The geometry of one conv: x [batch, cin, h, w], w [cout, cin, kh, kw], y [batch, cout, oh, ow].
/// A transposed conv is described by the conv whose input gradient it is.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub opts: Conv2dOptions,
}

impl Geometry {
    /// The conv of an input of shape `x` with a weight of shape `w`.
    pub fn conv(x: &[usize], w: &[usize], opts: Conv2dOptions) -> Result<Geometry> {
        conv_geometry(x, w, opts)
    }

    /// The conv behind a transposed conv of input `x` with weight `w` [cin, cout, kh, kw].
    pub fn transposed(x: &[usize], w: &[usize], opts: Conv2dOptions) -> Result<Geometry> {
        transposed_geometry(x, w, opts)
    }

    /// Multiply-adds of one pass (each of the three primitives does this many useful ones,
    /// padding taps aside).
    pub fn macs(&self) -> u64 {
        (self.batch * self.cout * self.oh * self.ow * self.cin * self.kh * self.kw) as u64
    }

    /// The positions [lo, hi) of a row window (the (bx - 1) * S + KW inputs that a block of bx
    /// output columns reads in one kernel row) that lie inside the input, where a block spans
    /// the whole output width and so starts at column 0 and the positions are known when the
    /// kernel is built; (0, span) otherwise. The row-window kernels leave the others' loads
    /// and multiply-adds out: they multiply padding zeros (7.5% of the taps at 8 x 8 outputs,
    /// 15% at 4 x 4).
    fn window_inside(&self, bx: usize) -> (u32, u32) {
        let span = (bx - 1) * self.opts.stride + self.kw;
        if bx != self.ow {
            return (0, span as u32);
        }
        let pl = self.opts.padding[2];
        (pl.min(span) as u32, (self.w + pl).min(span) as u32)
    }

    /// The share of (output row, kernel row) pairs whose input row lies in the padding.
    fn padded_row_share(&self) -> f64 {
        let (s, pt) = (self.opts.stride, self.opts.padding[0]);
        let inside = (0..self.oh)
            .flat_map(|oy| (0..self.kh).map(move |ky| oy * s + ky))
            .filter(|&y| y >= pt && y < pt + self.h)
            .count();
        1.0 - inside as f64 / (self.oh * self.kh).max(1) as f64
    }

    /// `params` with a forward-shaped primitive's epilogue: bias when given, then the batch
    /// norm and the activation of `epi`.
    fn epilogue_params(&self, bias: Option<&Tensor>, epi: Epilogue) -> Result<Params> {
        let (act, slope) = epilogue_code(epi.act)?;
        Ok(Params {
            has_bias: bias.is_some() as u32,
            act,
            slope,
            bn: epi.batch_norm as u32,
            ..self.params()
        })
    }

    fn params(&self) -> Params {
        Params {
            batch: self.batch as u32,
            cin: self.cin as u32,
            h: self.h as u32,
            w: self.w as u32,
            cout: self.cout as u32,
            oh: self.oh as u32,
            ow: self.ow as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            stride: self.opts.stride as u32,
            pad_t: self.opts.padding[0] as u32,
            pad_l: self.opts.padding[2] as u32,
            ..Default::default()
        }
    }
}

/// Primitive 1: y = conv(x, w) + bias.
pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &Geometry) -> Result<Tensor> {
    forward_act(x, w, bias, None, g)
}

/// Primitive 1 with an activation fused into its epilogue: y = act(conv(x, w) + bias).
pub fn forward_act(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Activation>,
    g: &Geometry,
) -> Result<Tensor> {
    forward_with(x, w, bias, act, g, ForwardPath::Auto)
}

/// How primitive 1 is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardPath {
    /// `SharedTiles` where `DCGAN_CONV_TILED=1` asks for it, `RowWindows` where the device is
    /// set to them (`Gpu::set_row_windows`) and the output's shape allows it, else
    /// `Registers`. The shared-memory kernels are written for GPUs but not yet measured on one,
    /// so they are never picked unasked.
    Auto,
    /// The register-tiled kernel of the adapter's family (`conv.wgsl`, `conv_portable.wgsl`),
    /// each lane's pixels consecutive in (image, row, column) order.
    Registers,
    /// `conv.wgsl`'s tile with each lane's pixels a block of one image (`conv_rows.wgsl`), so
    /// that neighbouring taps reuse loaded inputs; subgroup adapters and block-divisible
    /// outputs only (an error otherwise).
    RowWindows,
    /// 64 x 64 output tiles with 16-deep slabs of both operands in workgroup memory
    /// (`conv_tiled.wgsl`).
    SharedTiles,
    /// The conv as a dense layer (`conv_dense.wgsl`): lanes split the reduction, vec4 loads;
    /// only where `Geometry::is_dense` holds (an error otherwise).
    Dense,
}

/// How primitive 3 is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightGradPath {
    /// `Dense` where the geometry is a dense layer, else `SharedTiles` where
    /// `DCGAN_CONV_TILED=1` asks for it, else `RowWindows` where the device is set to them
    /// (`Gpu::set_row_windows`) and the geometry allows it, else `Registers`.
    Auto,
    /// The register-tiled kernel of the adapter's family.
    Registers,
    /// `conv_tiled.wgsl`'s shared-memory tiles.
    SharedTiles,
    /// `conv_dense.wgsl` (dense-layer geometries only, an error otherwise).
    Dense,
    /// `conv_weight_grad_rows.wgsl`: whole kernel rows a lane, output columns in blocks, bit
    /// for bit the register kernel's result (subgroup adapters and an even output width, an
    /// error otherwise).
    RowWindows,
}

/// `DCGAN_CONV_TILED=1`: every conv primitive on the shared-memory kernels of
/// `conv_tiled.wgsl` (the input gradient where it would take the direct path).
fn tiled_requested() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("DCGAN_CONV_TILED").is_ok_and(|v| v == "1"))
}

/// The grid of a `conv_tiled.wgsl` GEMM: 64 x 64 output tiles, x along the columns.
fn tiled_grid(gpu: &crate::gpu::Gpu, rows: usize, cols: usize) -> Result<[u32; 3]> {
    let (x, y) = (cols.div_ceil(64), rows.div_ceil(64));
    super::grid_2d(gpu, x, y, || format!("a {rows} x {cols} conv GEMM"))
}

type SpecGrid = (crate::gpu::KernelSpec, [u32; 3]);

/// Primitive 1 on `conv_rows.wgsl`, where the plan and the output's shape allow it.
fn forward_rows(
    gpu: &crate::gpu::Gpu,
    plan: &Plan,
    g: &Geometry,
    aligned: [bool; 2],
) -> Option<Result<SpecGrid>> {
    plan.rows_spec(gpu, g.cout, (g.oh, g.ow), g, None, aligned)
}

/// A window of `span` values whose first lies `first` columns from a multiple of 4, as vec4s:
/// that value's component in the aligned group holding it (OFF) and the groups it spans (NQ).
fn vec4_window(first: i64, span: u32) -> (u32, u32) {
    let off = first.rem_euclid(4) as u32;
    (off, (span + off).div_ceil(4))
}

/// A row-window input-gradient phase's taps in x and kernel rows, and where its window starts:
/// a block at phase column qx0 reads dy columns from qx0 + dxo - (tx - 1) on.
#[derive(Clone, Copy)]
struct DxTaps {
    tx: u32,
    ty: u32,
    dxo: i64,
}

/// A row-window input-gradient dispatch: its kernel, grid and stride phase [x, y].
type PhaseDispatch = (SpecGrid, [u32; 2]);

/// Primitive 2 on `conv_rows.wgsl`, where the plan allows it and every stride phase has the
/// same, block-divisible shape (h and w multiples of the stride): a spec, grid and [x, y]
/// phase per dispatch, one dispatch for each stride phase, each built for its own taps in x
/// and kernel rows, so that no lane multiplies by a zero weight where a phase has fewer taps
/// than another (at 5 x 5, stride 2: 3 and 2; one kernel for all took 1.2 times the
/// multiply-adds, BENCHMARKS "Exact taps"), and every accumulator takes all of a phase's taps
/// an iteration (BENCHMARKS "Kernel rows of a phase together").
fn input_grad_rows(
    gpu: &crate::gpu::Gpu,
    plan: &Plan,
    g: &Geometry,
    aligned: [bool; 2],
) -> Option<Result<Vec<PhaseDispatch>>> {
    let s = g.opts.stride;
    if !g.h.is_multiple_of(s) || !g.w.is_multiple_of(s) {
        return None;
    }
    let taps = |k: usize, pad: usize, ph: usize| k.saturating_sub((ph + pad) % s).div_ceil(s);
    let mut out = Vec::new();
    for ph_y in 0..s.min(g.h) {
        // A phase with no kernel row (stride above the kernel height) runs no iteration.
        let ty = taps(g.kh, g.opts.padding[0], ph_y).max(1) as u32;
        for ph_x in 0..s.min(g.w) {
            // A phase with no tap in x (stride above the kernel width) keeps one, masked to 0.
            let tx = taps(g.kw, g.opts.padding[2], ph_x).max(1) as u32;
            // conv_rows.wgsl's xbase: (ph_x + pl - kx0) / S with kx0 = (ph_x + pl) % S.
            let dxo = ((ph_x + g.opts.padding[2]) / s) as i64;
            let dx_taps = Some(DxTaps { tx, ty, dxo });
            let spec = plan.rows_spec(gpu, g.cin, (g.h / s, g.w / s), g, dx_taps, aligned)?;
            out.push(spec.map(|(spec, grid)| ((spec, grid), [ph_x as u32, ph_y as u32])));
        }
    }
    Some(out.into_iter().collect())
}

/// Whether `ForwardPath::Auto` and `InputGradPath::Auto` pick the row-window kernels for
/// this geometry on this adapter (benchmarks compare those against the flat kernels).
pub fn row_windows_chosen(gpu: &crate::gpu::Gpu, g: &Geometry) -> (bool, bool) {
    if !gpu.row_windows() || tiled_requested() || g.is_dense(gpu) {
        return (false, false);
    }
    let fwd = forward_rows(gpu, &Plan::new(gpu, g.cout), g, [true; 2]).is_some();
    let dx = input_grad_auto(gpu, g) == InputGradPath::RowWindows
        && input_grad_rows(gpu, &Plan::new(gpu, g.cin), g, [true; 2]).is_some();
    (fwd, dx)
}

/// The path `InputGradPath::Auto` takes for this geometry on this adapter, for tensors at
/// 16-byte offsets (which the dense path needs); tests and benchmarks compare it with the
/// paths it replaces.
pub fn input_grad_auto(gpu: &crate::gpu::Gpu, g: &Geometry) -> InputGradPath {
    auto_input_grad(gpu, g, g.is_dense(gpu), true)
}

/// The path `InputGradPath::Auto` would take without the narrow and whole-plane kernels: the
/// one they replace where they are chosen (benchmarks time both).
pub fn input_grad_auto_general(gpu: &crate::gpu::Gpu, g: &Geometry) -> InputGradPath {
    auto_input_grad(gpu, g, g.is_dense(gpu), false)
}

/// `InputGradPath::Auto`'s choice; `dense` whether the geometry and the tensors fit the dense
/// path, `special` whether the narrow and whole-plane kernels may be chosen. `RowWindows` falls
/// back to `Direct` where the shapes do not allow it.
fn auto_input_grad(
    gpu: &crate::gpu::Gpu,
    g: &Geometry,
    dense: bool,
    special: bool,
) -> InputGradPath {
    if dense {
        InputGradPath::Dense
    } else if special && narrow::chosen(gpu, g) {
        InputGradPath::Narrow
    } else if special && planes::chosen(gpu, g) {
        InputGradPath::Planes
    } else if g.prefers_col2im(gpu) {
        InputGradPath::Col2im
    } else if tiled_requested() {
        InputGradPath::SharedTiles
    } else if gpu.row_windows() {
        InputGradPath::RowWindows
    } else {
        InputGradPath::Direct
    }
}

/// Primitive 1 on the chosen kernel.
pub fn forward_with(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Activation>,
    g: &Geometry,
    path: ForwardPath,
) -> Result<Tensor> {
    forward_epilogue(x, w, bias, act.into(), g, path)
}

/// Primitive 1 on the chosen kernel with the epilogue `epi` (with a batch norm, `bias` is
/// `batch_norm::inference_epilogue`'s table of the `cout` channels).
pub fn forward_epilogue(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    epi: Epilogue,
    g: &Geometry,
    path: ForwardPath,
) -> Result<Tensor> {
    check_batch_norm_table(bias, epi, g.cout)?;
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, &[g.batch, g.cout, g.oh, g.ow])?;
    let cols = g.batch * g.oh * g.ow;
    let auto = path == ForwardPath::Auto;
    // The dense kernels store four channels a lane and have no batch-norm epilogue; no
    // batch norm follows the one dense layer of the DCGAN (D's logit).
    let fits_dense = g.is_dense(gpu) && dense::vec4_aligned(&[x, w]) && !epi.batch_norm;
    let path = match path {
        ForwardPath::Auto if fits_dense => ForwardPath::Dense,
        ForwardPath::Dense if !fits_dense => return Err(dense::refused(g, "forward")),
        ForwardPath::Auto if tiled_requested() => ForwardPath::SharedTiles,
        ForwardPath::Auto if gpu.row_windows() => ForwardPath::RowWindows,
        ForwardPath::Auto => ForwardPath::Registers,
        p => p,
    };
    let plan = Plan::new(gpu, g.cout);
    let rows = (path == ForwardPath::RowWindows)
        .then(|| {
            forward_rows(
                gpu,
                &plan,
                g,
                [dense::vec4_aligned(&[x]), dense::vec4_aligned(&[w])],
            )
        })
        .flatten();
    if path == ForwardPath::Dense {
        let p = g.epilogue_params(bias, epi)?;
        dense::forward(&p, g, x, w, bias, &y);
        return Ok(y);
    }
    let (spec, grid) = match (path, rows) {
        (ForwardPath::SharedTiles, _) => (
            crate::gpu::KernelSpec::new("conv_tiled", "conv2d_forward")
                .with("ACT", 0)
                .with("NORM", 0),
            tiled_grid(gpu, g.cout, cols)?,
        ),
        (_, Some(rows)) => rows?,
        (ForwardPath::RowWindows, None) if !auto => {
            return Err(Error::Shape(format!(
                "no row-window kernel for a {}x{} output on this adapter",
                g.oh, g.ow
            )))
        }
        _ => (plan.spec("conv2d_forward"), plan.grid(gpu, g.cout, cols)?),
    };
    dispatch_with_epilogue(spec, g, x, w, bias, epi, &y, grid)?;
    Ok(y)
}

/// With a batch norm in the epilogue, `bias` must be its table for the `c` output channels.
fn check_batch_norm_table(bias: Option<&Tensor>, epi: Epilogue, c: usize) -> Result<()> {
    if epi.batch_norm && bias.map(|b| b.shape()) != Some(&[5 * c][..]) {
        return Err(Error::Shape(format!(
            "a batch norm in a conv's epilogue needs the [{}] table of \
             batch_norm::inference_epilogue in place of the bias, got {:?}",
            5 * c,
            bias.map(|b| b.shape().to_vec())
        )));
    }
    Ok(())
}

/// One dispatch of a forward-shaped conv kernel (conv_common.wgsl's bindings: a, b, bias, out)
/// with its epilogue: bias when given (b is bound in its place otherwise, unread), then the
/// batch norm and activation of `epi`.
#[allow(clippy::too_many_arguments)]
fn dispatch_with_epilogue(
    spec: crate::gpu::KernelSpec,
    g: &Geometry,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    epi: Epilogue,
    out: &Tensor,
    grid: [u32; 3],
) -> Result<()> {
    dispatch_params(spec, g.epilogue_params(bias, epi)?, a, b, bias, out, grid);
    Ok(())
}

/// Records one conv-family dispatch with its parameter block `p` (the activation in
/// `p.act`, the batch norm in `p.bn`).
fn dispatch_params(
    spec: crate::gpu::KernelSpec,
    p: Params,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
    grid: [u32; 3],
) {
    a.gpu().dispatch(
        &spec.with("ACT", p.act).with("NORM", p.bn),
        bytemuck::bytes_of(&p),
        &[
            (1, a.bind()),
            (2, b.bind()),
            (3, bias.unwrap_or(b).bind()),
            (4, out.bind()),
        ],
        grid,
    );
}

/// Primitive 2: dx = conv's input gradient of dy (+ bias per input channel), one dispatch with
/// a grid slice per stride phase (or one per x phase, GEMM + col2im, ...: see `InputGradPath`).
pub fn input_grad(dy: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &Geometry) -> Result<Tensor> {
    input_grad_act(dy, w, bias, None, g)
}

/// How primitive 2 is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputGradPath {
    /// `Dense` where the geometry is a dense layer; on CPU adapters `Narrow` where the dx has
    /// at most 4 channels and `Planes` where its kernel applies; `Col2im` where `Direct` would
    /// waste most of its work, else `Direct`, or in its place
    /// `SharedTiles` when `DCGAN_CONV_TILED=1` or `RowWindows` when the device is set to them
    /// (and the shapes allow it).
    Auto,
    /// One implicit-GEMM dispatch, a grid z slice per stride phase, each input pixel gathering
    /// its taps.
    Direct,
    /// `Direct` with each lane's pixels a block of one phase of one image (`conv_rows.wgsl`),
    /// neighbouring taps reusing loaded values, one dispatch per stride phase built for that
    /// phase's taps; subgroup adapters, and input sizes that are multiples of the stride
    /// with block-divisible phases, only (an error otherwise).
    RowWindows,
    /// A GEMM of the weights with dy over (image, output pixel), then a gather of the taps
    /// that reach each input pixel.
    Col2im,
    /// `Direct`'s phases and taps on `conv_tiled.wgsl`'s shared-memory tiles.
    SharedTiles,
    /// `conv_dense.wgsl`: an outer product of dy and w (dense-layer geometries only, an error
    /// otherwise).
    Dense,
    /// `conv_narrow.wgsl`: for a dx of at most 4 channels, each lane computes every channel
    /// and stride phase of a block of dx; subgroup adapters and block-divisible dx only (an
    /// error otherwise).
    Narrow,
    /// `conv_planes.wgsl`: for small planes, each lane holds the full transposed conv's planes
    /// (every tap lands in them) for a few channels, adds each dy value into the pixels it
    /// reaches, and stores their crop that is dx; subgroup adapters and planes that fit a
    /// lane only (an error otherwise).
    Planes,
}

impl Geometry {
    /// Bytes of the col2im path's intermediate: a value per (image, input channel, tap,
    /// output pixel).
    fn col_bytes(&self) -> u64 {
        4 * (self.batch * self.cin * self.kh * self.kw * self.oh * self.ow) as u64
    }

    /// The direct input-gradient kernel pays for every tap of its phase whether or not it
    /// lands inside dy: useful / visited = oh * ow * s^2 / (h * w). It is 1 for the DCGAN's
    /// stride-2 layers and 1/4 for its 4 x 4 -> 8 x 8 stride-1 transposed conv. With fewer
    /// input channels than a subgroup, most of its register tile is idle as well. col2im pays
    /// instead for writing and re-reading its intermediate, which only a deep GEMM (many
    /// output channels to sum over) outweighs: for D's 1-logit layer (one output channel) it
    /// measured 10 times slower than the direct kernel's wasted taps.
    fn prefers_col2im(&self, gpu: &crate::gpu::Gpu) -> bool {
        let s = self.opts.stride;
        let useful = (self.oh * self.ow * s * s) as f64 / (self.h * self.w) as f64;
        let fits = self.col_bytes() <= gpu.limits().max_storage_buffer_binding_size;
        fits && self.cout >= 16 && (self.cin < 8 || useful < 0.5)
    }
}

/// Primitive 2 with an activation fused into its epilogue (conv_transpose2d's forward).
pub fn input_grad_act(
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Activation>,
    g: &Geometry,
) -> Result<Tensor> {
    input_grad_with(dy, w, bias, act, g, InputGradPath::Auto)
}

/// Primitive 2 by the chosen path (tests compare the two).
pub fn input_grad_with(
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Activation>,
    g: &Geometry,
    path: InputGradPath,
) -> Result<Tensor> {
    input_grad_epilogue(dy, w, bias, act.into(), g, path)
}

/// Primitive 2 by the chosen path with the epilogue `epi` (with a batch norm, `bias` is
/// `batch_norm::inference_epilogue`'s table of the `cin` channels of dx).
pub fn input_grad_epilogue(
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    epi: Epilogue,
    g: &Geometry,
    path: InputGradPath,
) -> Result<Tensor> {
    check_batch_norm_table(bias, epi, g.cin)?;
    let gpu = dy.gpu();
    let auto = path == InputGradPath::Auto;
    let fits_dense = g.is_dense(gpu) && dense::vec4_aligned(&[w]) && !epi.batch_norm;
    let path = match path {
        InputGradPath::Auto => auto_input_grad(gpu, g, fits_dense, true),
        InputGradPath::Dense if !fits_dense => return Err(dense::refused(g, "input gradient")),
        p => p,
    };
    if path == InputGradPath::Col2im {
        return input_grad_col2im(dy, w, bias, epi, g);
    }
    if path == InputGradPath::Dense {
        let p = g.epilogue_params(bias, epi)?;
        return dense::input_grad(&p, g, dy, w, bias);
    }
    let dx = Tensor::uninit(gpu, &[g.batch, g.cin, g.h, g.w])?;
    let own_kernel = match path {
        InputGradPath::Narrow => Some(narrow::spec(gpu, g).ok_or_else(|| narrow::refused(g))),
        InputGradPath::Planes => Some(
            planes::spec(gpu, g, dense::vec4_aligned(&[dy, w])).ok_or_else(|| planes::refused(g)),
        ),
        _ => None,
    };
    if let Some(found) = own_kernel {
        let (spec, grid) = found??;
        dispatch_with_epilogue(spec, g, dy, w, bias, epi, &dx, grid)?;
        return Ok(dx);
    }
    let s = g.opts.stride;
    // One dispatch for all s x s phases (grid z), x sized for phase (0, 0), the largest.
    let cols = g.batch * g.h.div_ceil(s) * g.w.div_ceil(s);
    let plan = Plan::new(gpu, g.cin);
    let rows = (path == InputGradPath::RowWindows)
        .then(|| {
            input_grad_rows(
                gpu,
                &plan,
                g,
                [dense::vec4_aligned(&[dy]), dense::vec4_aligned(&[w])],
            )
        })
        .flatten();
    if let Some(phases) = rows {
        let p = g.epilogue_params(bias, epi)?;
        for ((spec, grid), [phase_x, phase_y]) in phases? {
            let p = Params {
                phase_x,
                phase_y,
                ..p
            };
            dispatch_params(spec, p, dy, w, bias, &dx, grid);
        }
        return Ok(dx);
    }
    let (spec, mut grid) = match path {
        InputGradPath::SharedTiles => (
            crate::gpu::KernelSpec::new("conv_tiled", "conv2d_input_grad")
                .with("ACT", 0)
                .with("NORM", 0),
            tiled_grid(gpu, g.cin, cols)?,
        ),
        InputGradPath::RowWindows if !auto => {
            return Err(Error::Shape(format!(
                "no row-window kernel for a {}x{} stride-{s} input gradient on this adapter",
                g.h, g.w
            )))
        }
        _ => (plan.spec("conv2d_input_grad"), plan.grid(gpu, g.cin, cols)?),
    };
    grid[2] = (s.min(g.h) * s.min(g.w)) as u32;
    dispatch_with_epilogue(spec, g, dy, w, bias, epi, &dx, grid)?;
    Ok(dx)
}

/// Primitive 2 as GEMM + col2im. The GEMM is oriented so that its longer side runs along the
/// columns (the lanes): (image, output pixel) when there are fewer taps than output pixels
/// (few input channels), else (input channel, tap).
fn input_grad_col2im(
    dy: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    epi: Epilogue,
    g: &Geometry,
) -> Result<Tensor> {
    use super::linear::{matmul_split, Bias, Split, Strides};
    let gpu = dy.gpu();
    let taps = g.cin * g.kh * g.kw;
    let ohw = g.oh * g.ow;
    let pixels = g.batch * ohw;
    // w [cout, taps] read as W^T [taps, cout]; dy [batch, cout, ohw].
    let (col, cs_n, cs_t, cs_p) = if taps <= pixels / g.batch.max(1) {
        // col [taps, (n, p)] = W^T [taps, cout] x dy [cout, (n, p)]
        let c = matmul_split(
            w,
            Strides(1, taps),
            None,
            dy,
            Strides(ohw, 1),
            Some(Split(ohw, g.cout * ohw)),
            taps,
            pixels,
            g.cout,
            Bias::None,
        )?;
        (c, ohw, pixels, 1)
    } else {
        // col [(n, p), taps] = dy^T [(n, p), cout] x W [cout, taps]
        let c = matmul_split(
            dy,
            Strides(1, ohw),
            Some(Split(ohw, g.cout * ohw)),
            w,
            Strides(taps, 1),
            None,
            pixels,
            taps,
            g.cout,
            Bias::None,
        )?;
        (c, ohw * taps, 1, taps)
    };
    let mut p = g.epilogue_params(bias, epi)?;
    (p.cs_n, p.cs_t, p.cs_p) = (cs_n as u32, cs_t as u32, cs_p as u32);
    let dx = Tensor::uninit(gpu, &[g.batch, g.cin, g.h, g.w])?;
    gpu.dispatch(
        &crate::gpu::KernelSpec::new("col2im", "col2im")
            .with("ACT", p.act)
            .with("NORM", p.bn),
        bytemuck::bytes_of(&p),
        &[
            (1, col.bind()),
            (3, bias.unwrap_or(&col).bind()),
            (4, dx.bind()),
        ],
        super::grid_1d(gpu, dx.numel(), 256),
    );
    Ok(dx)
}

/// The row-window weight gradient's kernel and grid for `g`, where it applies: subgroups, and
/// output rows that divide into blocks of 8, 4 or 2 columns. A lane takes up to 4 kernel rows
/// (0.95 of the time of 3 on lavapipe), fewer where that would leave lanes of the last
/// workgroup idle: 2 at the 3-channel layers (15 kernel rows), where 4 took 1.43 times the flat
/// kernel's time.
fn weight_grad_rows(
    gpu: &crate::gpu::Gpu,
    g: &Geometry,
    aligned: bool,
) -> Option<Result<SpecGrid>> {
    const R_MAX: usize = 4;
    let Plan::Subgroup { sg, tm, .. } = Plan::new(gpu, g.cout) else {
        return None;
    };
    // Blocks of 8 output columns where the width allows: each kernel row's 19 loaded inputs
    // then serve 40 taps and each accumulator takes 8 multiply-adds a visit; 0.92 to 0.95 of
    // the time of blocks of 4 (BENCHMARKS "Exact taps in the row-window input gradient"), for
    // a second module.
    let bx = [8, 4, 2].into_iter().find(|b| g.ow.is_multiple_of(*b))?;
    let nkr = g.cin * g.kh;
    let lanes = nkr.div_ceil(sg as usize * R_MAX) * sg as usize;
    let (r, s) = (nkr.div_ceil(lanes.max(1)).max(1), g.opts.stride);
    let spec = crate::gpu::KernelSpec::new("conv_weight_grad_rows", "conv2d_weight_grad")
        .with("SG", sg)
        .with("TM", tm)
        .with("TMS", tm / sg)
        .with("R", r as u32)
        .with("KW", g.kw as u32)
        .with("S", s as u32)
        .with("BX", bx as u32)
        .with("FSPAN", ((bx - 1) * s + g.kw) as u32);
    // Every lane of a workgroup on one kernel row ky, so that the loop can leave out the
    // output rows whose inputs lie in the padding for it: where those are at least 1/16 of
    // the (row, ky) pairs. At 16 x 16 outputs (3.75%) the 32 channels a workgroup then reads
    // at once sit 4 KiB apart and share cache sets: 1.0 to 1.05 times the time of the
    // channel-major order (BENCHMARKS "Padding taps left out").
    let ky_uniform = g.cin.is_multiple_of(sg as usize * r) && g.padded_row_share() >= 1.0 / 16.0;
    let (xlo, xhi) = g.window_inside(bx);
    let spec = spec
        .with("XLO", xlo)
        .with("XHI", xhi)
        .with("KYU", ky_uniform as u32);
    // dy and x as vec4s where a block's dy values and the input rows are whole, aligned vec4s.
    let spec = if aligned && bx.is_multiple_of(4) && g.w.is_multiple_of(4) {
        let span = ((bx - 1) * s + g.kw) as u32;
        let (off, nq) = vec4_window(-(g.opts.padding[2] as i64), span);
        spec.with("VA", 1)
            .with("VB", 1)
            .with("OFF", off)
            .with("BX4", bx as u32 / 4)
            .with("NQ", nq)
    } else {
        spec.with("VA", 0).with("VB", 0)
    };
    let grid = super::grid_2d(
        gpu,
        nkr.div_ceil(sg as usize * r),
        g.cout.div_ceil(tm as usize),
        || {
            format!(
                "a {} x {} conv weight gradient",
                g.cout,
                g.cin * g.kh * g.kw
            )
        },
    );
    Some(grid.map(|grid| (spec, grid)))
}

/// A kernel's compile-time constants, as spliced into its source.
pub type KernelConstants = Vec<(&'static str, u32)>;

/// The three conv primitives, as the row-window kernels serve them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowWindowPass {
    Forward,
    InputGrad,
    WeightGrad,
}

/// The compile-time constants of the whole-plane input-gradient kernel for `g` on this adapter
/// (tensors at 16-byte offsets), `None` where it does not apply. Tests hold its vec4 forms to
/// the shapes that select them.
pub fn planes_constants(gpu: &crate::gpu::Gpu, g: &Geometry) -> Option<Result<KernelConstants>> {
    planes::spec(gpu, g, true).map(|r| r.map(|(spec, _)| spec.consts))
}

/// The compile-time constants of the row-window kernels that `pass` dispatches for `g` on
/// this adapter, one list per dispatch (the input gradient's stride phases, y-major), `None`
/// where the row windows do not apply. Tests hold the taps each is built for to the geometry.
pub fn row_window_constants(
    gpu: &crate::gpu::Gpu,
    g: &Geometry,
    pass: RowWindowPass,
) -> Option<Result<Vec<KernelConstants>>> {
    let specs = match pass {
        RowWindowPass::Forward => {
            forward_rows(gpu, &Plan::new(gpu, g.cout), g, [true; 2])?.map(|s| vec![s])
        }
        RowWindowPass::InputGrad => input_grad_rows(gpu, &Plan::new(gpu, g.cin), g, [true; 2])?
            .map(|v| v.into_iter().map(|(s, _)| s).collect()),
        RowWindowPass::WeightGrad => weight_grad_rows(gpu, g, true)?.map(|s| vec![s]),
    };
    Some(specs.map(|v| v.into_iter().map(|(spec, _)| spec.consts).collect()))
}

/// Primitive 3: dw = sum over the batch of dy correlated with x. With subgroup kernels the
/// batch is split into enough parts to keep every core busy; the partial sums are then added
/// in a fixed order, so the result is the same on every run.
pub fn weight_grad(dy: &Tensor, x: &Tensor, g: &Geometry) -> Result<Tensor> {
    weight_grad_with(dy, x, g, WeightGradPath::Auto)
}

/// Primitive 3 on the chosen kernel.
pub fn weight_grad_with(
    dy: &Tensor,
    x: &Tensor,
    g: &Geometry,
    path: WeightGradPath,
) -> Result<Tensor> {
    let gpu = dy.gpu();
    let shape = [g.cout, g.cin, g.kh, g.kw];
    let cols = g.cin * g.kh * g.kw;
    let fits_dense = g.is_dense(gpu) && dense::vec4_aligned(&[x]);
    let aligned = dense::vec4_aligned(&[dy, x]);
    // Auto takes the row windows in runs on them (long runs, on CPU adapters): 0.74 to 0.84 of
    // the flat kernel's time on lavapipe, but a larger module to compile.
    let rows = match path {
        WeightGradPath::RowWindows => weight_grad_rows(gpu, g, aligned),
        WeightGradPath::Auto if gpu.row_windows() && !fits_dense && !tiled_requested() => {
            weight_grad_rows(gpu, g, aligned)
        }
        _ => None,
    };
    let path = match path {
        WeightGradPath::Auto if fits_dense => WeightGradPath::Dense,
        WeightGradPath::Dense if !fits_dense => return Err(dense::refused(g, "weight gradient")),
        WeightGradPath::Auto if tiled_requested() => WeightGradPath::SharedTiles,
        WeightGradPath::Auto if rows.is_some() => WeightGradPath::RowWindows,
        WeightGradPath::Auto => WeightGradPath::Registers,
        p => p,
    };
    if path == WeightGradPath::Dense {
        return dense::weight_grad(&g.params(), g, dy, x);
    }
    // The flat subgroup kernel's workgroups decide how the batch is split, for the row
    // windows too: the split sets the order of the sums, so the two give the same bits at any
    // subgroup size (each kernel's own grid split them alike at 8 lanes, not at 16).
    let flat_plan = Plan::new(gpu, g.cout).balanced(cols);
    let flat_grid = flat_plan.grid(gpu, g.cout, cols)?;
    let (spec, mut grid, split_batch) = if path == WeightGradPath::RowWindows {
        let (spec, grid) = rows.ok_or_else(|| {
            Error::Shape(format!(
                "no row-window weight gradient for a {}x{}x{} output (it needs subgroups and \
                 an even output width)",
                g.cout, g.oh, g.ow
            ))
        })??;
        (spec, grid, true)
    } else if path == WeightGradPath::SharedTiles {
        (
            crate::gpu::KernelSpec::new("conv_tiled", "conv2d_weight_grad")
                .with("ACT", 0)
                .with("NORM", 0),
            tiled_grid(gpu, g.cout, cols)?,
            true,
        )
    } else {
        let split = matches!(flat_plan, Plan::Subgroup { .. });
        (flat_plan.spec("conv2d_weight_grad"), flat_grid, split)
    };
    let mut p = g.params();
    let splits = if split_batch {
        let split_by = if path == WeightGradPath::SharedTiles {
            grid
        } else {
            flat_grid
        };
        let groups = (split_by[0] * split_by[1]) as usize;
        let want: usize = if gpu.info().device_type == wgpu::DeviceType::Cpu {
            16
        } else {
            512
        };
        let per = g.batch.div_ceil(want.div_ceil(groups).clamp(1, g.batch));
        p.split = per as u32;
        g.batch.div_ceil(per)
    } else {
        1
    };
    grid[2] = splits as u32;
    let dw = Tensor::uninit(gpu, &[splits * g.cout, g.cin, g.kh, g.kw])?;
    gpu.dispatch(
        &spec,
        bytemuck::bytes_of(&p),
        &[(1, dy.bind()), (2, x.bind()), (4, dw.bind())],
        grid,
    );
    if splits == 1 {
        return dw.reshape(&shape);
    }
    sum_splits(&dw, splits, &shape)
}

fn check4(what: &str, t: &[usize]) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(t)
        .map_err(|_| Error::Shape(format!("{what}: expected 4 dimensions, got {t:?}")))
}

fn conv_geometry(x: &[usize], w: &[usize], opts: Conv2dOptions) -> Result<Geometry> {
    let [batch, cin, h, wd] = check4("conv2d input", x)?;
    let [cout, wcin, kh, kw] = check4("conv2d weight", w)?;
    let (oh, ow) = opts
        .conv_out(h, wd, kh, kw)
        .filter(|_| wcin == cin)
        .ok_or_else(|| Error::Shape(format!("conv2d of {x:?} with weight {w:?}, {opts:?}")))?;
    Ok(Geometry {
        batch,
        cin,
        h,
        w: wd,
        cout,
        oh,
        ow,
        kh,
        kw,
        opts,
    })
}

/// For a transposed conv, the geometry of the conv it is the input gradient of.
fn transposed_geometry(x: &[usize], w: &[usize], opts: Conv2dOptions) -> Result<Geometry> {
    let [batch, cin, h, wd] = check4("conv_transpose2d input", x)?;
    let [wcin, cout, kh, kw] = check4("conv_transpose2d weight", w)?;
    let (oh, ow) = opts
        .transposed_out(h, wd, kh, kw)
        .filter(|_| wcin == cin)
        .ok_or_else(|| {
            Error::Shape(format!(
                "conv_transpose2d of {x:?} with weight {w:?}, {opts:?}"
            ))
        })?;
    Ok(Geometry {
        batch,
        cin: cout,
        h: oh,
        w: ow,
        cout: cin,
        oh: h,
        ow: wd,
        kh,
        kw,
        opts,
    })
}

struct Conv2dBackward {
    x: Tensor,
    w: Tensor,
    g: Geometry,
}

impl Function for Conv2dBackward {
    fn name(&self) -> &'static str {
        "conv2d_backward"
    }
    fn backward(&self, dy: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = &self.g;
        let dx = needs[0]
            .then(|| input_grad(dy, &self.w, None, g))
            .transpose()?;
        let dw = needs[1].then(|| weight_grad(dy, &self.x, g)).transpose()?;
        let db = (needs.get(2) == Some(&true))
            .then(|| channel_sum(dy, g.batch, g.cout, g.oh * g.ow))
            .transpose()?;
        Ok(vec![dx, dw, db])
    }
}

/// `y [N, Cout, OH, OW] = conv2d(x [N, Cin, H, W], w [Cout, Cin, KH, KW]) + b [Cout]`.
pub fn conv2d(tape: &Tape, x: &Var, w: &Var, b: Option<&Var>, opts: Conv2dOptions) -> Result<Var> {
    conv2d_activation(tape, x, w, b, opts, None)
}

/// act(conv2d(x, w) + b) with the activation applied in the conv's epilogue.
pub fn conv2d_activation(
    tape: &Tape,
    x: &Var,
    w: &Var,
    b: Option<&Var>,
    opts: Conv2dOptions,
    act: Option<Activation>,
) -> Result<Var> {
    let g = conv_geometry(x.shape(), w.shape(), opts)?;
    let y = forward_act(&x.value, &w.value, b.map(|b| &b.value), act, &g)?;
    let f = Conv2dBackward {
        x: x.value.clone(),
        w: w.value.clone(),
        g,
    };
    Ok(record(tape, x, w, b, y, f, act))
}

/// Records a conv whose epilogue may hold an activation: the backward first turns dy into
/// the gradient before the activation, from the saved output.
fn record(
    tape: &Tape,
    x: &Var,
    w: &Var,
    b: Option<&Var>,
    y: Tensor,
    f: impl Function + 'static,
    act: Option<Activation>,
) -> Var {
    let inputs: Vec<&Var> = match b {
        Some(b) => vec![x, w, b],
        None => vec![x, w],
    };
    match act {
        None => tape.record(&inputs, y, f),
        Some(act) => {
            let saved = y.clone();
            tape.record(
                &inputs,
                y,
                ActivatedBackward {
                    inner: f,
                    act,
                    y: saved,
                },
            )
        }
    }
}

struct ActivatedBackward<F> {
    inner: F,
    act: Activation,
    y: Tensor,
}

impl<F: Function> Function for ActivatedBackward<F> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn backward(&self, dy: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let dz = activation_backward(&self.y, dy, self.act)?;
        self.inner.backward(&dz, needs)
    }
}

struct ConvTranspose2dBackward {
    x: Tensor,
    w: Tensor,
    g: Geometry,
}

impl Function for ConvTranspose2dBackward {
    fn name(&self) -> &'static str {
        "conv_transpose2d_backward"
    }
    fn backward(&self, dy: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        // In the conv's terms, our input x plays dy and our output gradient plays x.
        let g = &self.g;
        let dx = needs[0]
            .then(|| forward(dy, &self.w, None, g))
            .transpose()?;
        let dw = needs[1].then(|| weight_grad(&self.x, dy, g)).transpose()?;
        let db = (needs.get(2) == Some(&true))
            .then(|| channel_sum(dy, g.batch, g.cin, g.h * g.w))
            .transpose()?;
        Ok(vec![dx, dw, db])
    }
}

/// `y [N, Cout, OH, OW] = conv_transpose2d(x [N, Cin, H, W], w [Cin, Cout, KH, KW]) + b [Cout]`,
/// OH = (H - 1) * stride + KH - crop_top - crop_bottom (the padding fields are the cropping).
pub fn conv_transpose2d(
    tape: &Tape,
    x: &Var,
    w: &Var,
    b: Option<&Var>,
    opts: Conv2dOptions,
) -> Result<Var> {
    conv_transpose2d_activation(tape, x, w, b, opts, None)
}

/// act(conv_transpose2d(x, w) + b) with the activation applied in the epilogue.
pub fn conv_transpose2d_activation(
    tape: &Tape,
    x: &Var,
    w: &Var,
    b: Option<&Var>,
    opts: Conv2dOptions,
    act: Option<Activation>,
) -> Result<Var> {
    let g = transposed_geometry(x.shape(), w.shape(), opts)?;
    let y = input_grad_act(&x.value, &w.value, b.map(|b| &b.value), act, &g)?;
    let f = ConvTranspose2dBackward {
        x: x.value.clone(),
        w: w.value.clone(),
        g,
    };
    Ok(record(tape, x, w, b, y, f, act))
}

/// Inference only: `act(batch_norm(conv2d(x, w) + b))` with the batch norm (running
/// statistics) and the activation in the conv's epilogue, one pass over the output where the
/// separate batch norm takes another. `table` is `batch_norm::inference_epilogue(b, ...)`.
/// Nothing is recorded, so `x` must not need a gradient (a `Tape::no_grad` tape).
pub fn conv2d_batch_norm_eval(
    tape: &Tape,
    x: &Var,
    w: &Tensor,
    table: &Tensor,
    opts: Conv2dOptions,
    act: Option<Activation>,
) -> Result<Var> {
    batch_norm_eval(tape, x, w, table, opts, act, false)
}

/// Inference only: `act(batch_norm(conv_transpose2d(x, w) + b))` with the batch norm and the
/// activation in the transposed conv's epilogue (as `conv2d_batch_norm_eval`).
pub fn conv_transpose2d_batch_norm_eval(
    tape: &Tape,
    x: &Var,
    w: &Tensor,
    table: &Tensor,
    opts: Conv2dOptions,
    act: Option<Activation>,
) -> Result<Var> {
    batch_norm_eval(tape, x, w, table, opts, act, true)
}

/// The two fused inference ops. They have no backward: an input that needs a gradient is a
/// caller's mistake (training takes the separate ops).
fn batch_norm_eval(
    tape: &Tape,
    x: &Var,
    w: &Tensor,
    table: &Tensor,
    opts: Conv2dOptions,
    act: Option<Activation>,
    transposed: bool,
) -> Result<Var> {
    if x.requires_grad {
        return Err(Error::Shape(format!(
            "{}_batch_norm_eval is for inference and has no backward, but its input needs a \
             gradient",
            if transposed {
                "conv_transpose2d"
            } else {
                "conv2d"
            }
        )));
    }
    let epi = Epilogue {
        batch_norm: true,
        act,
    };
    let y = if transposed {
        let g = transposed_geometry(x.shape(), w.shape(), opts)?;
        input_grad_epilogue(&x.value, w, Some(table), epi, &g, InputGradPath::Auto)?
    } else {
        let g = conv_geometry(x.shape(), w.shape(), opts)?;
        forward_epilogue(&x.value, w, Some(table), epi, &g, ForwardPath::Auto)?
    };
    Ok(tape.leaf(y, false))
}

/// Direct loops in f64, written from the definitions (not from the kernels' index algebra).
pub mod cpu {
    use super::Conv2dOptions;

    /// x [n, cin, h, w], w [cout, cin, kh, kw] -> [n, cout, oh, ow].
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        b: Option<&[f64]>,
        opts: Conv2dOptions,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, cin, h, wd] = xs;
        let [cout, _, kh, kw] = ws;
        let (oh, ow) = opts.conv_out(h, wd, kh, kw).unwrap();
        let (pt, pl, s) = (
            opts.padding[0] as isize,
            opts.padding[2] as isize,
            opts.stride,
        );
        let mut y = vec![0.0f64; n * cout * oh * ow];
        for bi in 0..n {
            for co in 0..cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = b.map_or(0.0, |b| b[co]);
                        for ci in 0..cin {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * s) as isize + ky as isize - pt;
                                    let ix = (ox * s) as isize + kx as isize - pl;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xv =
                                        x[((bi * cin + ci) * h + iy as usize) * wd + ix as usize];
                                    let wv = w[((co * cin + ci) * kh + ky) * kw + kx];
                                    acc += xv * wv;
                                }
                            }
                        }
                        y[((bi * cout + co) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        (y, [n, cout, oh, ow])
    }

    /// The scatter definition: each input pixel adds w * x into a (stride-spaced) window of the
    /// full output, which is then cropped. x [n, cin, h, w], w [cin, cout, kh, kw].
    pub fn conv_transpose2d(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        b: Option<&[f64]>,
        opts: Conv2dOptions,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, cin, h, wd] = xs;
        let [_, cout, kh, kw] = ws;
        let s = opts.stride;
        let (fh, fw) = ((h - 1) * s + kh, (wd - 1) * s + kw);
        let mut full = vec![0.0f64; n * cout * fh * fw];
        for bi in 0..n {
            for ci in 0..cin {
                for iy in 0..h {
                    for ix in 0..wd {
                        let xv = x[((bi * cin + ci) * h + iy) * wd + ix];
                        for co in 0..cout {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let wv = w[((ci * cout + co) * kh + ky) * kw + kx];
                                    full[((bi * cout + co) * fh + iy * s + ky) * fw
                                        + ix * s
                                        + kx] += xv * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
        let [t, bo, l, r] = opts.padding;
        let (oh, ow) = (fh - t - bo, fw - l - r);
        let mut y = vec![0.0f64; n * cout * oh * ow];
        for bi in 0..n {
            for co in 0..cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let v = full[((bi * cout + co) * fh + oy + t) * fw + ox + l];
                        y[((bi * cout + co) * oh + oy) * ow + ox] = v + b.map_or(0.0, |b| b[co]);
                    }
                }
            }
        }
        (y, [n, cout, oh, ow])
    }
}
