// matmul_common.wgsl: parameter block, bindings and the epilogue shared by matmul.wgsl
// (portable) and gemm.wgsl (subgroups).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    sa_m: u32,
    sa_k: u32,
    sb_k: u32,
    sb_n: u32,
    bias_mode: u32, // 0 none, 1 bias[n], 2 bias[m]
    // Row r of A starts at (r / rows_inner) * sa_outer + (r % rows_inner) * sa_m, and column c
    // of B at (c / cols_inner) * sb_outer + (c % cols_inner) * sb_n: a GEMM whose rows (or
    // columns) run over two tensor dimensions, such as (image, pixel) of an NCHW tensor.
    rows_inner: u32,
    sa_outer: u32,
    cols_inner: u32,
    sb_outer: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// GV = 1 (gemm.wgsl only): A and B as vec4s, where the host has checked that A's rows run
// along k and B's columns along n in whole, aligned vec4s.
//#if GV 0
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#end
//#if GV 1
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#end
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn a_row(r: u32) -> u32 {
    let o = r / p.rows_inner;
    return o * p.sa_outer + (r - o * p.rows_inner) * p.sa_m;
}

fn b_col(c: u32) -> u32 {
    let o = c / p.cols_inner;
    return o * p.sb_outer + (c - o * p.cols_inner) * p.sb_n;
}

fn store(m: u32, n: u32, v: f32) {
    if (m < p.m && n < p.n) {
        var r = v;
        if (p.bias_mode == 1u) { r += bias[n]; }
        if (p.bias_mode == 2u) { r += bias[m]; }
        c[m * p.n + n] = r;
    }
}
