//! The register-tiled matmul with general strides that serves linear and the conv family's
//! GEMM-shaped work: on adapters with subgroups the row operand is loaded once per subgroup
//! and broadcast (`shaders/gemm.wgsl`); elsewhere the portable kernel (`shaders/matmul.wgsl`).

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::gpu::{Gpu, KernelSpec};
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
pub struct Params {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub sa_m: u32,
    pub sa_k: u32,
    pub sb_k: u32,
    pub sb_n: u32,
    pub bias_mode: u32,
    /// Rows of A split as (r / rows_inner, r % rows_inner), strides sa_outer and sa_m.
    pub rows_inner: u32,
    pub sa_outer: u32,
    /// Columns of B split as (c / cols_inner, c % cols_inner), strides sb_outer and sb_n.
    pub cols_inner: u32,
    pub sb_outer: u32,
}

/// Tile sizes (TM, TN). `DCGAN_GEMM_TILE=TMxTN` overrides for tuning runs.
fn plan(gpu: &Gpu, sg: u32) -> (u32, u32) {
    static OVERRIDE: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    let o = *OVERRIDE.get_or_init(|| super::env_dims("DCGAN_GEMM_TILE"));
    // llvmpipe: 64 x 16 measured best at 1024^3 (12.5 GFLOP/s against 3.8 for 16 x 4);
    // GPUs: one row per lane keeps register pressure low.
    let (tm, tn) = o.unwrap_or(if gpu.info().device_type == wgpu::DeviceType::Cpu {
        (64, 16)
    } else {
        (sg, 4)
    });
    // The kernel holds 4 columns an accumulator vector.
    (tm.div_ceil(sg) * sg, tn.next_multiple_of(4))
}

/// Steps of k a loop iteration. `DCGAN_GEMM_KU=N` (1 to 16) overrides for tuning runs.
fn k_unroll(gpu: &Gpu) -> u32 {
    static OVERRIDE: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let o = *OVERRIDE.get_or_init(|| crate::gpu::unroll_env("DCGAN_GEMM_KU"));
    // llvmpipe keeps the accumulators in stack slots: 4 multiply-adds per accumulator visit
    // took 0.59 of the time of one at 64 x 16 (8: 0.64, and 4.5 s more to compile cold). GPUs
    // hold the tile in registers, where the order does not matter.
    o.unwrap_or(if gpu.info().device_type == wgpu::DeviceType::Cpu {
        4
    } else {
        1
    })
}

/// Whether the GEMM may read A and B as vec4s: A's rows contiguous along k and B's columns
/// along n, every row and column start a multiple of 4 (so that no vec4 straddles B's split
/// of columns either; n and k not 0), 4 steps of k an iteration, and both tensors at 16-byte
/// offsets.
pub fn vec4_operands(offsets: [u64; 2], p: &Params, ku: u32) -> bool {
    let m4 = |v: u32| v.is_multiple_of(4);
    ku == 4
        && p.n > 0
        && p.k > 0
        && p.sa_k == 1
        && p.sb_n == 1
        && [
            p.k,
            p.sa_m,
            p.sa_outer,
            p.n,
            p.sb_k,
            p.cols_inner,
            p.sb_outer,
        ]
        .into_iter()
        .all(m4)
        && offsets.iter().all(|o| o.is_multiple_of(16))
}

/// Records C[m, n] = A(m, k) B(k, n) (+ bias) into `c`; false when this adapter has no
/// subgroups (the caller then uses the portable kernel).
pub fn try_gemm(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    c: &Tensor,
    p: &Params,
) -> Result<bool> {
    let gpu = a.gpu();
    let Some(sg) = gpu.subgroup_size() else {
        return Ok(false);
    };
    let (tm, tn) = plan(gpu, sg);
    let ku = k_unroll(gpu);
    // As many row blocks as the largest tile needs, each as small as that allows: 75 rows
    // take two blocks of 40, not 64 + 11 padded to 128.
    let blocks = p.m.max(1).div_ceil(tm);
    let tm = p.m.max(1).div_ceil(blocks).next_multiple_of(sg);
    let spec = KernelSpec::new("gemm", "gemm")
        .with("SG", sg)
        .with("TM", tm)
        .with("TMS", tm / sg)
        .with("TN", tn)
        .with("TN4", tn / 4)
        .with("KU", ku)
        .with(
            "GV",
            vec4_operands([a.bind().offset, b.bind().offset], p, ku) as u32,
        );
    let grid = super::grid_2d(
        gpu,
        p.n.div_ceil(sg * tn) as usize,
        p.m.div_ceil(tm) as usize,
        || format!("a {} x {} GEMM", p.m, p.n),
    )?;
    gpu.dispatch(
        &spec,
        bytemuck::bytes_of(p),
        &[
            (1, a.bind()),
            (2, b.bind()),
            (3, bias.unwrap_or(a).bind()),
            (4, c.bind()),
        ],
        grid,
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec4_operands_need_rows_and_columns_in_whole_vec4s() {
        // A 68 x 260 by 260 x 132 product, both row-major.
        let p = Params {
            m: 68,
            n: 132,
            k: 260,
            sa_m: 260,
            sa_k: 1,
            sb_k: 132,
            sb_n: 1,
            rows_inner: 68,
            sa_outer: 0,
            cols_inner: 132,
            sb_outer: 0,
            ..Default::default()
        };
        assert!(vec4_operands([0, 256], &p, 4));
        assert!(!vec4_operands([0, 4], &p, 4), "misaligned B");
        assert!(!vec4_operands([0, 0], &p, 1), "one step of k an iteration");
        assert!(
            !vec4_operands([0, 0], &Params { n: 0, ..p }, 4),
            "no columns"
        );
        let odd_k = Params { k: 259, ..p };
        assert!(!vec4_operands([0, 0], &odd_k, 4));
        let transposed_a = Params {
            sa_m: 1,
            sa_k: 68,
            ..p
        };
        assert!(!vec4_operands([0, 0], &transposed_a, 4));
        // Columns split as (image, pixel) with 6 pixels an image: a vec4 would straddle images.
        let split = Params {
            cols_inner: 6,
            sb_outer: 8,
            ..p
        };
        assert!(!vec4_operands([0, 0], &split, 4));
    }
}
