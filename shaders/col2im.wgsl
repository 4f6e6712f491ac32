// col2im.wgsl: the gather half of a conv's input gradient computed as GEMM + col2im.
// The GEMM has produced, for every image n, input channel ci, tap (ky, kx) and output pixel
// (oy, ox) of the conv, the product col = sum_co w[co, ci, ky, kx] * dy[n, co, oy, ox], at
// col[n * cs_n + (ci * kh * kw + ky * kw + kx) * cs_t + (oy * ow + ox) * cs_p]. Each input pixel
// then sums the taps that reach it (iy = oy * s + ky - pad_t), adds the bias and applies the
// epilogue. Used where the direct kernel would waste most of its work: few input channels
// (3-row GEMMs) or a stride-1 conv whose output is much smaller than its input.
// Bindings (conv_common): 1 a = col (read), 3 bias (read; ignored unless has_bias), 4 out.

//#include conv_common
//#include epilogue

@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid.x;
    let hw = p.h * p.w;
    if (i >= p.batch * p.cin * hw) { return; }
    let n = i / (p.cin * hw);
    let ci = (i / hw) % p.cin;
    let iy = (i % hw) / p.w;
    let ix = i % p.w;
    let s = p.stride;
    var acc = 0.0;
    if (p.has_bias != 0u) { acc = bias[ci]; }
    //#if NORM 1
    bn = bn_row(ci, p.cin);
    //#end
    let base = n * p.cs_n + ci * p.kh * p.kw * p.cs_t;
    // Taps with (iy + pad_t - ky) a non-negative multiple of s below oh * s.
    for (var ky = (iy + p.pad_t) % s; ky < p.kh && ky <= iy + p.pad_t; ky += s) {
        let oy = (iy + p.pad_t - ky) / s;
        if (oy >= p.oh) { continue; }
        for (var kx = (ix + p.pad_l) % s; kx < p.kw && kx <= ix + p.pad_l; kx += s) {
            let ox = (ix + p.pad_l - kx) / s;
            if (ox >= p.ow) { continue; }
            acc += a[base + (ky * p.kw + kx) * p.cs_t + (oy * p.ow + ox) * p.cs_p];
        }
    }
    out[i] = epilogue(acc);
}
