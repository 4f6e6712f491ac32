// conv.wgsl: the first two convolution primitives as implicit GEMMs (no im2col buffer), for
// adapters with subgroups; conv_weight_grad.wgsl has the third. Together they serve all six
// passes of conv2d and conv_transpose2d:
//   conv2d_forward      y[n,co,oy,ox]  = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
//   conv2d_input_grad   dx[n,ci,iy,ix] = sum_{co,ky,kx} w[co,ci,ky,kx] * dy[n,co,oy,ox]
//                        over taps with iy+pt-ky = oy*s (the conv_transpose2d forward)
// Shapes: x [batch, cin, h, w], w [cout, cin, kh, kw], y / dy [batch, cout, oh, ow].
// Bindings: 0 params, 1 a, 2 b, 3 bias (read; ignored unless has_bias), 4 out (read_write).
// A workgroup is one subgroup of SG lanes computing TM GEMM rows (channels) for SG * TN
// columns; each lane owns TN consecutive columns. At every reduction step the TM row values
// are loaded once across the subgroup (lane l loads rows l, l + SG, ...; TMS = TM / SG loads a
// lane) and shared with subgroupBroadcast, so per-lane loads are TMS + TN instead of TM + TN.
// Grid: x = ceil(columns / (SG * TN)), y = ceil(rows / TM), z = stride phases (input_grad).
// input_grad does each stride phase (ph_y, ph_x) in its own grid z slice: every pixel of a
// workgroup has the same valid taps, so no multiply by an inserted zero is ever done.

//#include conv_common
//#include epilogue

// a = x, b = w, out = y [batch, cout, oh, ow]. GEMM rows = cout, columns = output pixels.
@compute @workgroup_size(SG)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let npix = p.batch * p.oh * p.ow;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let kk = p.kh * p.kw;
    let co0 = wid.y * TM;
    let px0 = (wid.x * SG + lid.x) * TN;
    //#unroll j TN
    let pix{j} = min(px0 + {j}u, npix - 1u);
    let n{j} = pix{j} / ohw;
    let oy{j} = (pix{j} - n{j} * ohw) / p.ow;
    let xb{j} = i32(n{j} * p.cin * hw);
    let iy{j} = i32(oy{j} * p.stride) - i32(p.pad_t);
    let ix{j} = i32((pix{j} - n{j} * ohw - oy{j} * p.ow) * p.stride) - i32(p.pad_l);
    //#end
    //#unroll s TMS
    let wrow{s} = min(co0 + {s}u * SG + lid.x, p.cout - 1u) * p.cin * kk;
    //#unroll l SG
    var acc_{s}_{l} = array<f32, TN>();
    //#end
    //#end
    // One loop over the reduction (ci, ky, kx), not one per ci, ky and kx: llvmpipe ran the
    // nested form at 0.80 to 0.91 of this one's speed (BENCHMARKS "One loop over the
    // reduction").
    for (var k = 0u; k < p.cin * kk; k++) {
        let ci = k / kk;
        let ky = (k - ci * kk) / p.kw;
        let kx = k - ci * kk - ky * p.kw;
        let cofs = i32(ci * hw);
        //#unroll s TMS
        let av{s} = b[wrow{s} + k];
        //#end
        //#unroll j TN
        let y{j} = iy{j} + i32(ky);
        let x{j} = ix{j} + i32(kx);
        let in{j} = y{j} >= 0 && y{j} < i32(p.h) && x{j} >= 0 && x{j} < i32(p.w);
        let v{j} = select(0.0, a[select(0, xb{j} + cofs + y{j} * i32(p.w) + x{j}, in{j})], in{j});
        //#end
        //#unroll s TMS
        //#unroll l SG
        let r{s}_{l} = subgroupBroadcast(av{s}, {l}u);
        //#unroll j TN
        acc_{s}_{l}[{j}] = fma(r{s}_{l}, v{j}, acc_{s}_{l}[{j}]);
        //#end
        //#end
        //#end
    }
    // Each pixel's offset and validity once, not at each of the TM x TN stores: the stores are
    // unrolled, and their expressions dominated naga's parse time at every process start
    // (quadratic in a function's expression count before third_party/naga's fix).
    //#unroll j TN
    let ob{j} = n{j} * p.cout * ohw + pix{j} - n{j} * ohw;
    let ok{j} = px0 + {j}u < npix;
    //#end
    //#unroll s TMS
    //#unroll l SG
    {
        let co = co0 + {s}u * SG + {l}u;
        if (co < p.cout) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[co]; }
            //#if NORM 1
            bn = bn_row(co, p.cout);
            //#end
            let bv0 = bv;
            let coo = co * ohw;
            //#unroll j TN
            if (ok{j}) { out[ob{j} + coo] = epilogue(acc_{s}_{l}[{j}] + bv0); }
            //#end
        }
    }
    //#end
    //#end
}

// a = dy [batch, cout, oh, ow], b = w, out = dx [batch, cin, h, w]. Workgroup z does the pixels
// of stride phase (ph_y, ph_x): iy = qy * s + ph_y for qy < qh. GEMM rows = cin, columns = those
// pixels. One dispatch covers every phase, so a GPU sees one grid s * s times larger than a
// phase's.
@compute @workgroup_size(SG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let phase = stride_phase(wid.z);
    let ph_y = phase.x;
    let ph_x = phase.y;
    let qh = phase.z;
    let qw = phase.w;
    let npix = p.batch * qh * qw;
    if (wid.x * SG * TN >= npix) { return; } // this phase has fewer pixels than the largest
    let qhw = qh * qw;
    let ohw = p.oh * p.ow;
    let kk = p.kh * p.kw;
    let s = p.stride;
    let ci0 = wid.y * TM;
    let px0 = (wid.x * SG + lid.x) * TN;
    //#unroll j TN
    let pix{j} = min(px0 + {j}u, npix - 1u);
    let n{j} = pix{j} / qhw;
    let qy{j} = (pix{j} - n{j} * qhw) / qw;
    let qx{j} = pix{j} - n{j} * qhw - qy{j} * qw;
    let db{j} = i32(n{j} * p.cout * ohw);
    //#end
    //#unroll t TMS
    let wofs{t} = min(ci0 + {t}u * SG + lid.x, p.cin - 1u) * kk;
    //#unroll l SG
    var acc_{t}_{l} = array<f32, TN>();
    //#end
    //#end
    // Taps that reach this phase: ky = (ph_y + pt) mod s, then every s-th.
    let ky0 = (ph_y + p.pad_t) % s;
    let kx0 = (ph_x + p.pad_l) % s;
    // One loop over (co, and the phase's taps (ky, kx)), as in the forward (0.68 and 0.76 of
    // the nested form's time). Taps ky0, ky0 + s, ... below kh (none where ky0 >= kh).
    let nky = select(0u, (p.kh - ky0 + s - 1u) / s, ky0 < p.kh);
    let nkx = select(0u, (p.kw - kx0 + s - 1u) / s, kx0 < p.kw);
    let ntap = nky * nkx;
    for (var k = 0u; k < p.cout * ntap; k++) {
        let co = k / ntap;
        let my = (k - co * ntap) / nkx;
        let ky = ky0 + my * s;
        let kx = kx0 + (k - co * ntap - my * nkx) * s;
        let wco = co * p.cin * kk;
        let dco = i32(co * ohw);
        // Exact division: ph_y + pt - ky is a multiple of s.
        let dyo = (i32(ph_y + p.pad_t) - i32(ky)) / i32(s);
        let dxo = (i32(ph_x + p.pad_l) - i32(kx)) / i32(s);
        let tap = wco + ky * p.kw + kx;
        //#unroll t TMS
        let av{t} = b[tap + wofs{t}];
        //#end
        //#unroll j TN
        let y{j} = i32(qy{j}) + dyo;
        let x{j} = i32(qx{j}) + dxo;
        let in{j} = y{j} >= 0 && y{j} < i32(p.oh) && x{j} >= 0 && x{j} < i32(p.ow);
        let v{j} = select(0.0, a[select(0, db{j} + dco + y{j} * i32(p.ow) + x{j}, in{j})], in{j});
        //#end
        //#unroll t TMS
        //#unroll l SG
        let r{t}_{l} = subgroupBroadcast(av{t}, {l}u);
        //#unroll j TN
        acc_{t}_{l}[{j}] = fma(r{t}_{l}, v{j}, acc_{t}_{l}[{j}]);
        //#end
        //#end
        //#end
    }
    let hw = p.h * p.w;
    // Each pixel's offset and validity once (see conv2d_forward).
    //#unroll j TN
    let iy{j} = qy{j} * s + ph_y;
    let ix{j} = qx{j} * s + ph_x;
    let ob{j} = n{j} * p.cin * hw + iy{j} * p.w + ix{j};
    let ok{j} = px0 + {j}u < npix && iy{j} < p.h && ix{j} < p.w;
    //#end
    //#unroll t TMS
    //#unroll l SG
    {
        let ci = ci0 + {t}u * SG + {l}u;
        if (ci < p.cin) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[ci]; }
            //#if NORM 1
            bn = bn_row(ci, p.cin);
            //#end
            let bv0 = bv;
            let cio = ci * hw;
            //#unroll j TN
            if (ok{j}) { out[ob{j} + cio] = epilogue(acc_{t}_{l}[{j}] + bv0); }
            //#end
        }
    }
    //#end
    //#end
}
