// matmul.wgsl: C[M, N] = A(m, k) * B(k, n) (+ bias), any strides, so one kernel serves
// linear's forward (x * W^T), input gradient (dy * W) and weight gradient (dy^T * x).
// Bindings: 0 params, 1 a, 2 b, 3 bias (read; ignored when bias_mode = 0), 4 c (read_write).
// Constants: TM x TN outputs per invocation in registers; workgroup WGX x WGY invocations,
// lanes along n so neighbouring invocations read neighbouring columns.
// Grid: x = ceil(N / (WGX * TN)), y = ceil(M / (WGY * TM)).

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

@compute @workgroup_size(WGX, WGY)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = (wid.y * WGY + lid.y) * TM;
    let n0 = wid.x * WGX * TN + lid.x;
    var rows: array<u32, TM>;
    var cols: array<u32, TN>;
    // Out-of-range rows and columns compute on clamped (valid) indices and are not stored.
    for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.m - 1u) * p.sa_m; }
    for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * WGX, p.n - 1u) * p.sb_n; }
    var acc: array<f32, TM * TN>;
    for (var k = 0u; k < p.k; k++) {
        var av: array<f32, TM>;
        var bv: array<f32, TN>;
        for (var i = 0u; i < TM; i++) { av[i] = a[rows[i] + k * p.sa_k]; }
        for (var j = 0u; j < TN; j++) { bv[j] = b[cols[j] + k * p.sb_k]; }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        if (m >= p.m) { break; }
        for (var j = 0u; j < TN; j++) {
            let n = n0 + j * WGX;
            if (n < p.n) {
                var v = acc[i * TN + j];
                if (p.bias_mode == 1u) { v += bias[n]; }
                if (p.bias_mode == 2u) { v += bias[m]; }
                c[m * p.n + n] = v;
            }
        }
    }
}
