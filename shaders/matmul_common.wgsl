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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn store(m: u32, n: u32, v: f32) {
    if (m < p.m && n < p.n) {
        var r = v;
        if (p.bias_mode == 1u) { r += bias[n]; }
        if (p.bias_mode == 2u) { r += bias[m]; }
        c[m * p.n + n] = r;
    }
}
