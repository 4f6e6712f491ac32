// matmul.wgsl: C[M, N] = A(m, k) * B(k, n) (+ bias), any strides, so one kernel serves
// linear's forward (x * W^T), input gradient (dy * W) and weight gradient (dy^T * x).
// Bindings: 0 params, 1 a, 2 b, 3 bias (read; ignored when bias_mode = 0), 4 c (read_write).
// Constants: TM rows x TN (= 4 * TN4) columns per invocation, held in TM * TN4 vec4 registers
// (the //#unroll blocks are expanded by the host); WGX invocations per workgroup, all on the
// same TM rows. Rows depend on the workgroup id alone, so A's loads are uniform across the
// workgroup: one load and a broadcast on SIMD-on-CPU drivers (llvmpipe), where per-lane
// loads are what limits speed, and broadcast-friendly on GPUs.
// Grid: x = ceil(N / (WGX * TN)), y = ceil(M / TM).

//#include matmul_common

@compute @workgroup_size(WGX)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = wid.y * TM;
    let n0 = (wid.x * WGX + lid.x) * TN;
    // Out-of-range rows and columns compute on clamped (valid) indices and are not stored.
    //#unroll i TM
    let row{i} = a_row(min(m0 + {i}u, p.m - 1u));
    //#unroll q TN4
    var acc{i}_{q} = vec4<f32>();
    //#end
    //#end
    //#unroll q TN4
    let col{q}_0 = b_col(min(n0 + 4u * {q}u + 0u, p.n - 1u));
    let col{q}_1 = b_col(min(n0 + 4u * {q}u + 1u, p.n - 1u));
    let col{q}_2 = b_col(min(n0 + 4u * {q}u + 2u, p.n - 1u));
    let col{q}_3 = b_col(min(n0 + 4u * {q}u + 3u, p.n - 1u));
    //#end
    for (var k = 0u; k < p.k; k++) {
        let ka = k * p.sa_k;
        let kb = k * p.sb_k;
        //#unroll q TN4
        let b{q} = vec4<f32>(b[col{q}_0 + kb], b[col{q}_1 + kb], b[col{q}_2 + kb], b[col{q}_3 + kb]);
        //#end
        //#unroll i TM
        let a{i} = vec4<f32>(a[row{i} + ka]);
        //#unroll q TN4
        acc{i}_{q} += a{i} * b{q};
        //#end
        //#end
    }
    //#unroll i TM
    //#unroll q TN4
    store(m0 + {i}u, n0 + 4u * {q}u + 0u, acc{i}_{q}.x);
    store(m0 + {i}u, n0 + 4u * {q}u + 1u, acc{i}_{q}.y);
    store(m0 + {i}u, n0 + 4u * {q}u + 2u, acc{i}_{q}.z);
    store(m0 + {i}u, n0 + 4u * {q}u + 3u, acc{i}_{q}.w);
    //#end
    //#end
}
