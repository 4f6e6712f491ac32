//! linear (fully connected): y = x W^T + b on one strided register-tiled matmul kernel.

use super::reduce::channel_sum;
use crate::autodiff::{Function, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::KernelSpec;
use crate::tensor::Tensor;

use super::gemm::Params;

/// Strides of a matrix operand: element (i, j) lives at i * s0 + j * s1.
#[derive(Clone, Copy, Debug)]
pub struct Strides(pub usize, pub usize);

pub enum Bias<'a> {
    None,
    PerColumn(&'a Tensor),
    PerRow(&'a Tensor),
}

/// Register tile sizes (rows x columns per invocation) and workgroup shape of the portable
/// kernels (adapters without subgroups): small row counts get small tiles so that no lane
/// computes mostly padding.
pub(crate) fn tile_plan(gpu: &crate::gpu::Gpu, rows: usize) -> KernelTiles {
    let (tm_max, tn) =
        tile_override().unwrap_or(if gpu.info().device_type == wgpu::DeviceType::Cpu {
            (16, 4)
        } else {
            (8, 4)
        });
    let tm = rows.clamp(1, tm_max) as u32;
    KernelTiles {
        tm,
        tn,
        wgx: 64,
        wgy: 1,
    }
}

/// `DCGAN_TILE=16x4` overrides the register tile (rows x columns) for tuning runs.
fn tile_override() -> Option<(usize, u32)> {
    static TILE: std::sync::OnceLock<Option<(usize, u32)>> = std::sync::OnceLock::new();
    *TILE.get_or_init(|| super::env_dims::<u32>("DCGAN_TILE").map(|(a, b)| (a as usize, b)))
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelTiles {
    pub tm: u32,
    pub tn: u32,
    pub wgx: u32,
    pub wgy: u32,
}

impl KernelTiles {
    pub fn spec(&self, file: &'static str, entry: &'static str) -> KernelSpec {
        KernelSpec::new(file, entry)
            .with("TM", self.tm)
            .with("TN", self.tn)
            .with("TN4", self.tn / 4)
            .with("WGX", self.wgx)
            .with("WGY", self.wgy)
    }
    pub fn grid(&self, gpu: &crate::gpu::Gpu, rows: usize, cols: usize) -> Result<[u32; 3]> {
        let x = cols.div_ceil((self.wgx * self.tn) as usize);
        let y = rows.div_ceil((self.wgy * self.tm) as usize);
        super::grid_2d(gpu, x, y, || format!("a {rows} x {cols} product"))
    }
}

/// C[m, n] = A(m, k) B(k, n) (+ bias), operands addressed through strides.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided(
    a: &Tensor,
    sa: Strides,
    b: &Tensor,
    sb: Strides,
    m: usize,
    n: usize,
    k: usize,
    bias: Bias,
) -> Result<Tensor> {
    matmul_split(a, sa, None, b, sb, None, m, n, k, bias)
}

/// Two tensor dimensions walked as one GEMM index: `Split(inner, outer_stride)` says index i
/// is at (i / inner) * outer_stride + (i % inner) * the usual stride.
#[derive(Clone, Copy, Debug)]
pub struct Split(pub usize, pub usize);

/// `matmul_strided` whose A rows and/or B columns run over two dimensions (e.g. the images and
/// pixels of an NCHW tensor), so no transpose is needed to make them one.
#[allow(clippy::too_many_arguments)]
pub fn matmul_split(
    a: &Tensor,
    sa: Strides,
    a_rows: Option<Split>,
    b: &Tensor,
    sb: Strides,
    b_cols: Option<Split>,
    m: usize,
    n: usize,
    k: usize,
    bias: Bias,
) -> Result<Tensor> {
    let gpu = a.gpu();
    let c = Tensor::uninit(gpu, &[m, n])?;
    let Split(rows_inner, sa_outer) = a_rows.unwrap_or(Split(m.max(1), 0));
    let Split(cols_inner, sb_outer) = b_cols.unwrap_or(Split(n.max(1), 0));
    let (bias_mode, bias_t) = match bias {
        Bias::None => (0, a),
        Bias::PerColumn(t) => (1, t),
        Bias::PerRow(t) => (2, t),
    };
    let p = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        sa_m: sa.0 as u32,
        sa_k: sa.1 as u32,
        sb_k: sb.0 as u32,
        sb_n: sb.1 as u32,
        bias_mode,
        rows_inner: rows_inner as u32,
        sa_outer: sa_outer as u32,
        cols_inner: cols_inner as u32,
        sb_outer: sb_outer as u32,
    };
    let bias_opt = (bias_mode != 0).then_some(bias_t);
    if super::gemm::try_gemm(a, b, bias_opt, &c, &p)? {
        return Ok(c);
    }
    let tiles = tile_plan(gpu, m);
    let mut binds = vec![(1, a.bind()), (2, b.bind())];
    // The shader reads bias only when bias_mode != 0, but the binding is always in its layout.
    binds.push((3, bias_t.bind()));
    binds.push((4, c.bind()));
    gpu.dispatch(
        &tiles.spec("matmul", "matmul").with("GV", 0),
        bytemuck::bytes_of(&p),
        &binds,
        tiles.grid(gpu, m, n)?,
    );
    Ok(c)
}

/// Plain row-major matmul: [m, k] x [k, n].
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (m, k, n) = (a.dim(0), a.dim(1), b.dim(1));
    if b.dim(0) != k {
        return Err(Error::Shape(format!(
            "matmul {:?} x {:?}",
            a.shape(),
            b.shape()
        )));
    }
    matmul_strided(a, Strides(k, 1), b, Strides(n, 1), m, n, k, Bias::None)
}

struct LinearBackward {
    x: Tensor,
    w: Tensor,
}

impl Function for LinearBackward {
    fn name(&self) -> &'static str {
        "linear_backward"
    }
    fn backward(&self, dy: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (batch, inf) = (self.x.dim(0), self.x.dim(1));
        let outf = self.w.dim(0);
        // dx [B, In] = dy [B, Out] * W [Out, In]
        let dx = needs[0]
            .then(|| {
                matmul_strided(
                    dy,
                    Strides(outf, 1),
                    &self.w,
                    Strides(inf, 1),
                    batch,
                    inf,
                    outf,
                    Bias::None,
                )
            })
            .transpose()?;
        // dW [Out, In] = dy^T [Out, B] * x [B, In]
        let dw = needs[1]
            .then(|| {
                matmul_strided(
                    dy,
                    Strides(1, outf),
                    &self.x,
                    Strides(inf, 1),
                    outf,
                    inf,
                    batch,
                    Bias::None,
                )
            })
            .transpose()?;
        let db = needs
            .get(2)
            .copied()
            .unwrap_or(false)
            .then(|| channel_sum(dy, batch, outf, 1))
            .transpose()?;
        Ok(vec![dx, dw, db])
    }
}

/// y [B, Out] = x [B, In] W^T + b, with W [Out, In] (PyTorch's layout).
pub fn linear(tape: &Tape, x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
    let (batch, inf) = (x.shape()[0], x.shape()[1]);
    let outf = w.shape()[0];
    if x.shape().len() != 2 || w.shape() != [outf, inf] {
        return Err(Error::Shape(format!(
            "linear: x {:?}, weight {:?}",
            x.shape(),
            w.shape()
        )));
    }
    let bias = match b {
        Some(b) => Bias::PerColumn(&b.value),
        None => Bias::None,
    };
    let y = matmul_strided(
        &x.value,
        Strides(inf, 1),
        &w.value,
        Strides(1, inf),
        batch,
        outf,
        inf,
        bias,
    )?;
    let f = LinearBackward {
        x: x.value.clone(),
        w: w.value.clone(),
    };
    Ok(match b {
        Some(b) => tape.record(&[x, w, b], y, f),
        None => tape.record(&[x, w], y, f),
    })
}

pub mod cpu {
    /// y [B, Out] = x [B, In] W^T + b.
    pub fn linear(x: &[f64], w: &[f64], b: Option<&[f64]>, batch: usize, inf: usize) -> Vec<f64> {
        let outf = w.len() / inf;
        let mut y = vec![0.0f64; batch * outf];
        for i in 0..batch {
            for o in 0..outf {
                let mut s = b.map_or(0.0, |b| b[o]);
                for k in 0..inf {
                    s += x[i * inf + k] * w[o * inf + k];
                }
                y[i * outf + o] = s;
            }
        }
        y
    }

    pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for t in 0..k {
                    s += a[i * k + t] * b[t * n + j];
                }
                c[i * n + j] = s;
            }
        }
        c
    }
}
