// conv_portable.wgsl: the conv primitives for adapters without subgroups (GL); same contract as conv.wgsl,
// they serve all six passes of conv2d and conv_transpose2d:
//   conv2d_forward      y[n,co,oy,ox]  = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
//   conv2d_input_grad   dx[n,ci,iy,ix] = sum_{co,ky,kx} w[co,ci,ky,kx] * dy[n,co,oy,ox]
//                        over taps with iy+pt-ky = oy*s (the conv_transpose2d forward)
//   conv2d_weight_grad  dw[co,ci,ky,kx]= sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
// Shapes: x [batch, cin, h, w], w [cout, cin, kh, kw], y / dy [batch, cout, oh, ow].
// Bindings: 0 params, 1 a, 2 b, 3 bias (read; ignored unless has_bias), 4 out (read_write).
// Each invocation keeps TM rows x TN columns of the output GEMM in registers; a workgroup is
// WGX (columns) x WGY (rows) invocations; columns of one invocation are WGX apart so that
// neighbouring lanes touch neighbouring pixels. Grid: x = column groups, y = row groups.
// input_grad does each stride phase (ph_y, ph_x) in its own grid z slice: every pixel of a
// workgroup has the same valid taps, so no multiply by an inserted zero is ever done.

//#include conv_common
//#include epilogue

// a = x, b = w, out = y [batch, cout, oh, ow]. GEMM rows = cout, columns = output pixels.
@compute @workgroup_size(WGX, WGY)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let npix = p.batch * p.oh * p.ow;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let kk = p.kh * p.kw;
    let co0 = (wid.y * WGY + lid.y) * TM;
    let px0 = wid.x * WGX * TN + lid.x;
    var xbase: array<i32, TN>;
    var iy0: array<i32, TN>;
    var ix0: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
        let pix = min(px0 + j * WGX, npix - 1u);
        let n = pix / ohw;
        let r = pix - n * ohw;
        let oy = r / p.ow;
        let ox = r - oy * p.ow;
        xbase[j] = i32(n * p.cin * hw);
        iy0[j] = i32(oy * p.stride) - i32(p.pad_t);
        ix0[j] = i32(ox * p.stride) - i32(p.pad_l);
    }
    var wrow: array<u32, TM>;
    for (var i = 0u; i < TM; i++) { wrow[i] = min(co0 + i, p.cout - 1u) * p.cin * kk; }
    var acc: array<f32, TM * TN>;
    for (var ci = 0u; ci < p.cin; ci++) {
        let cofs = i32(ci * hw);
        for (var ky = 0u; ky < p.kh; ky++) {
            for (var kx = 0u; kx < p.kw; kx++) {
                let k = ci * kk + ky * p.kw + kx;
                var wv: array<f32, TM>;
                for (var i = 0u; i < TM; i++) { wv[i] = b[wrow[i] + k]; }
                var xv: array<f32, TN>;
                for (var j = 0u; j < TN; j++) {
                    let iy = iy0[j] + i32(ky);
                    let ix = ix0[j] + i32(kx);
                    let inb = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
                    let v = a[select(0, xbase[j] + cofs + iy * i32(p.w) + ix, inb)];
                    xv[j] = select(0.0, v, inb);
                }
                for (var i = 0u; i < TM; i++) {
                    for (var j = 0u; j < TN; j++) {
                        acc[i * TN + j] = fma(wv[i], xv[j], acc[i * TN + j]);
                    }
                }
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let co = co0 + i;
        if (co >= p.cout) { break; }
        var bv = 0.0;
        if (p.has_bias != 0u) { bv = bias[co]; }
        //#if NORM 1
        bn = bn_row(co, p.cout);
        //#end
        for (var j = 0u; j < TN; j++) {
            let pix = px0 + j * WGX;
            if (pix < npix) {
                let n = pix / ohw;
                let r = pix - n * ohw;
                out[(n * p.cout + co) * ohw + r] = epilogue(acc[i * TN + j] + bv);
            }
        }
    }
}

// a = dy [batch, cout, oh, ow], b = w, out = dx [batch, cin, h, w]. Workgroup z does the pixels
// of stride phase (ph_y, ph_x): iy = qy * s + ph_y for qy < qh. GEMM rows = cin, columns = those
// pixels. One dispatch covers every phase, so a GPU sees one grid s * s times larger than a
// phase's.
@compute @workgroup_size(WGX, WGY)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let phase = stride_phase(wid.z);
    let ph_y = phase.x;
    let ph_x = phase.y;
    let qh = phase.z;
    let qw = phase.w;
    let npix = p.batch * qh * qw;
    if (wid.x * WGX * TN >= npix) { return; } // this phase has fewer pixels than the largest
    let qhw = qh * qw;
    let ohw = p.oh * p.ow;
    let kk = p.kh * p.kw;
    let s = p.stride;
    let ci0 = (wid.y * WGY + lid.y) * TM;
    let px0 = wid.x * WGX * TN + lid.x;
    var dybase: array<i32, TN>;
    var qy: array<i32, TN>;
    var qx: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
        let pix = min(px0 + j * WGX, npix - 1u);
        let n = pix / qhw;
        let r = pix - n * qhw;
        let y = r / qw;
        dybase[j] = i32(n * p.cout * ohw);
        qy[j] = i32(y);
        qx[j] = i32(r - y * qw);
    }
    var wofs: array<u32, TM>;
    for (var i = 0u; i < TM; i++) { wofs[i] = min(ci0 + i, p.cin - 1u) * kk; }
    // Taps that reach this phase: ky = (ph_y + pt) mod s, then every s-th.
    let ky0 = (ph_y + p.pad_t) % s;
    let kx0 = (ph_x + p.pad_l) % s;
    var acc: array<f32, TM * TN>;
    for (var co = 0u; co < p.cout; co++) {
        let wco = co * p.cin * kk;
        let dco = i32(co * ohw);
        for (var ky = ky0; ky < p.kh; ky += s) {
            // Exact division: ph_y + pt - ky is a multiple of s.
            let dyo = (i32(ph_y + p.pad_t) - i32(ky)) / i32(s);
            for (var kx = kx0; kx < p.kw; kx += s) {
                let dxo = (i32(ph_x + p.pad_l) - i32(kx)) / i32(s);
                var wv: array<f32, TM>;
                for (var i = 0u; i < TM; i++) { wv[i] = b[wco + wofs[i] + ky * p.kw + kx]; }
                var gv: array<f32, TN>;
                for (var j = 0u; j < TN; j++) {
                    let oy = qy[j] + dyo;
                    let ox = qx[j] + dxo;
                    let inb = oy >= 0 && oy < i32(p.oh) && ox >= 0 && ox < i32(p.ow);
                    let v = a[select(0, dybase[j] + dco + oy * i32(p.ow) + ox, inb)];
                    gv[j] = select(0.0, v, inb);
                }
                for (var i = 0u; i < TM; i++) {
                    for (var j = 0u; j < TN; j++) {
                        acc[i * TN + j] = fma(wv[i], gv[j], acc[i * TN + j]);
                    }
                }
            }
        }
    }
    let hw = p.h * p.w;
    for (var i = 0u; i < TM; i++) {
        let ci = ci0 + i;
        if (ci >= p.cin) { break; }
        var bv = 0.0;
        if (p.has_bias != 0u) { bv = bias[ci]; }
        //#if NORM 1
        bn = bn_row(ci, p.cin);
        //#end
        for (var j = 0u; j < TN; j++) {
            let pix = px0 + j * WGX;
            let iy = u32(qy[j]) * s + ph_y;
            let ix = u32(qx[j]) * s + ph_x;
            if (pix < npix && iy < p.h && ix < p.w) {
                let n = pix / qhw;
                out[(n * p.cin + ci) * hw + iy * p.w + ix] = epilogue(acc[i * TN + j] + bv);
            }
        }
    }
}

// a = dy [batch, cout, oh, ow], b = x, out = dw [cout, cin, kh, kw]. GEMM rows = cout,
// columns = (ci, ky, kx), reduction over every output pixel of the batch in a fixed order.
@compute @workgroup_size(WGX, WGY)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let kk = p.kh * p.kw;
    let ncol = p.cin * kk;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let co0 = (wid.y * WGY + lid.y) * TM;
    let col0 = wid.x * WGX * TN + lid.x;
    var xofs: array<i32, TN>;
    var dky: array<i32, TN>;
    var dkx: array<i32, TN>;
    for (var j = 0u; j < TN; j++) {
        let col = min(col0 + j * WGX, ncol - 1u);
        let ci = col / kk;
        let r = col - ci * kk;
        let ky = r / p.kw;
        xofs[j] = i32(ci * hw);
        dky[j] = i32(ky) - i32(p.pad_t);
        dkx[j] = i32(r - ky * p.kw) - i32(p.pad_l);
    }
    var dyofs: array<u32, TM>;
    for (var i = 0u; i < TM; i++) { dyofs[i] = min(co0 + i, p.cout - 1u) * ohw; }
    var acc: array<f32, TM * TN>;
    for (var n = 0u; n < p.batch; n++) {
        let dyn_ = n * p.cout * ohw;
        let xn = i32(n * p.cin * hw);
        for (var oy = 0u; oy < p.oh; oy++) {
            for (var ox = 0u; ox < p.ow; ox++) {
                let o = dyn_ + oy * p.ow + ox;
                var gv: array<f32, TM>;
                for (var i = 0u; i < TM; i++) { gv[i] = a[o + dyofs[i]]; }
                var xv: array<f32, TN>;
                for (var j = 0u; j < TN; j++) {
                    let iy = i32(oy * p.stride) + dky[j];
                    let ix = i32(ox * p.stride) + dkx[j];
                    let inb = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
                    let v = b[select(0, xn + xofs[j] + iy * i32(p.w) + ix, inb)];
                    xv[j] = select(0.0, v, inb);
                }
                for (var i = 0u; i < TM; i++) {
                    for (var j = 0u; j < TN; j++) {
                        acc[i * TN + j] = fma(gv[i], xv[j], acc[i * TN + j]);
                    }
                }
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let co = co0 + i;
        if (co >= p.cout) { break; }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + j * WGX;
            if (col < ncol) { out[co * ncol + col] = acc[i * TN + j]; }
        }
    }
}
