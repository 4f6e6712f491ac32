// conv_weight_grad_rows.wgsl: the weight-gradient primitive (conv_weight_grad.wgsl's) with each
// lane's columns R whole kernel rows (ci, ky; its KW taps each) and the reduction taken BX
// output columns at a time, so that the taps of a kernel row share their input loads: per
// block a kernel row needs FSPAN = (BX - 1) * S + KW consecutive input values, where the flat
// kernel loads KW x BX. Each accumulator takes the block's BX multiply-adds in a row (on
// llvmpipe the tile lives in stack slots), in the flat kernel's order: the result is its bit
// for bit.
//   dw[co,ci,ky,kx] = sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy*S+ky-pt,ox*S+kx-pl]
// Padding taps are left out, which changes no bit (they add +-0 to sums that start at +0 and
// so are never -0; weights and dy finite): the window positions outside [XLO, XHI), which the
// host knows where a block spans the whole output width (conv_rows.wgsl), and with KYU = 1,
// where every lane of a workgroup takes the same kernel row ky (R consecutive channels a lane;
// cin a multiple of SG * R), the output rows whose input row is padding for that ky.
// Bindings: 0 params, 1 a = dy, 2 b = x, 4 out (read_write) = partial dw [splits, cout, cin,
// kh, KW]. Compile-time: SG, TM (TMS = TM / SG), R, KW, S, BX (dividing ow), FSPAN, XLO,
// XHI, KYU, and VA = VB (conv_io.wgsl: 1 where BX and w are multiples of 4 and dy and x
// start 16-byte aligned; then a block's BX dy values are BX4 vec4s, and a kernel row's window
// NQ vec4s from the aligned group holding its first position, OFF = ix0 mod 4, each group
// inside the row or outside it as a whole). The multiply-adds and their order are the same in
// both forms, so the results are the same bit for bit.
// Grid: x = ceil(cin * kh / (SG * R)) (KYU = 1: kh x cin / (SG * R), ky-major), y =
// ceil(cout / TM), z = reduction splits.

//#include conv_io

@compute @workgroup_size(SG)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nkr = p.cin * p.kh;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let co0 = wid.y * TM;
    //#if KYU 0
    let kr0 = (wid.x * SG + lid.x) * R;
    //#unroll r R
    let krc{r} = min(kr0 + {r}u, nkr - 1u);
    let ci{r} = krc{r} / p.kh;
    let ok{r} = kr0 + {r}u < nkr;
    let dky{r} = i32(krc{r} - ci{r} * p.kh) - i32(p.pad_t);
    //#end
    let oy_lo = 0u;
    let oy_n = p.oh;
    //#end
    //#if KYU 1
    // Every lane of the workgroup takes kernel row ky of R channels, so the output rows whose
    // inputs lie in the padding for that ky are the same for all, and the loop leaves them out.
    let wpk = p.cin / (SG * R);
    let ky = wid.x / wpk;
    let cib = (wid.x - ky * wpk) * SG * R + lid.x * R;
    //#unroll r R
    let ci{r} = cib + {r}u;
    let krc{r} = ci{r} * p.kh + ky;
    let ok{r} = true;
    let dky{r} = i32(ky) - i32(p.pad_t);
    //#end
    // Output rows oy with 0 <= oy * S + ky - pad_t < h.
    let lo_num = i32(p.pad_t) - i32(ky);
    let hi_num = i32(p.h) - 1 + i32(p.pad_t) - i32(ky);
    let oy_lo = u32(max(0, (lo_num + i32(S) - 1) / i32(S)));
    let oy_hi = select(0u, min(p.oh, u32(hi_num) / S + 1u), hi_num >= 0);
    let oy_n = select(0u, oy_hi - oy_lo, oy_hi > oy_lo);
    //#end
    //#unroll r R
    let xo{r} = i32(ci{r} * hw);
    //#end
    //#unroll t TMS
    let dyo{t} = min(co0 + {t}u * SG + lid.x, p.cout - 1u) * ohw;
    //#unroll l SG
    var acc_{t}_{l} = array<f32, R * KW>();
    //#end
    //#end
    // One loop over the blocks (image, output row, BX columns) of the split's images.
    let bpr = p.ow / BX;
    let n0 = wid.z * p.split;
    let n1 = min(n0 + p.split, p.batch);
    let k_end = select(0u, (n1 - n0) * oy_n * bpr, n1 > n0);
    for (var k = 0u; k < k_end; k++) {
        let row = k / bpr;
        let ox0 = (k - row * bpr) * BX;
        let ni = row / oy_n;
        let n = n0 + ni;
        let oy = oy_lo + row - ni * oy_n;
        let o = n * p.cout * ohw + oy * p.ow + ox0;
        let xn = i32(n * p.cin * hw);
        let ix0 = i32(ox0 * S) - i32(p.pad_l);
        let iy0 = i32(oy * S);
        //#if VA 0
        //#unroll t TMS
        //#unroll c BX
        let av{t}_{c} = a[o + dyo{t} + {c}u];
        //#end
        //#end
        //#end
        //#if VB 0
        //#unroll f FSPAN
        let xin{f} = ix0 + {f}i >= 0 && ix0 + {f}i < i32(p.w);
        //#end
        //#unroll r R
        var v{r} = array<f32, FSPAN>();
        {
            let y = iy0 + dky{r};
            let yin = y >= 0 && y < i32(p.h);
            let rb = xn + xo{r} + y * i32(p.w) + ix0;
            //#unroll f FSPAN
            //#when {f} >= XLO
            //#when {f} < XHI
            v{r}[{f}] = select(0.0, b[select(0, rb + {f}i, yin && xin{f})], yin && xin{f});
            //#end
            //#end
            //#end
        }
        //#end
        //#end
        //#if VA 1
        //#unroll t TMS
        var aq{t} = array<vec4<f32>, BX4>();
        //#unroll j BX4
        aq{t}[{j}] = a[(o + dyo{t}) / 4u + {j}u];
        //#end
        //#unroll c BX
        let av{t}_{c} = aq{t}[{({c} / 4)}][{({c} % 4)}];
        //#end
        //#end
        //#end
        //#if VB 1
        // Window position f sits in component (f + OFF) % 4 of vec4 (f + OFF) / 4, counted
        // from the aligned group holding ix0; only the groups that hold a position in
        // [XLO, XHI) are loaded.
        let ixa = ix0 - i32(OFF);
        //#unroll j NQ
        //#when {j} * 4 + 3 >= XLO + OFF
        //#when {j} * 4 < XHI + OFF
        let xin{j} = ixa + {j}i * 4 >= 0 && ixa + {j}i * 4 < i32(p.w);
        //#end
        //#end
        //#end
        //#unroll r R
        var v{r} = array<f32, FSPAN>();
        {
            let y = iy0 + dky{r};
            let yin = y >= 0 && y < i32(p.h);
            let rq = (xn + xo{r} + y * i32(p.w) + ixa) / 4;
            var q = array<vec4<f32>, NQ>();
            //#unroll j NQ
            //#when {j} * 4 + 3 >= XLO + OFF
            //#when {j} * 4 < XHI + OFF
            q[{j}] = select(vec4<f32>(), b[select(0, rq + {j}i, yin && xin{j})], yin && xin{j});
            //#end
            //#end
            //#end
            //#unroll f FSPAN
            //#when {f} >= XLO
            //#when {f} < XHI
            v{r}[{f}] = q[{(({f} + OFF) / 4)}][{(({f} + OFF) % 4)}];
            //#end
            //#end
            //#end
        }
        //#end
        //#end
        //#unroll t TMS
        //#unroll l SG
        //#unroll c BX
        let d{t}_{l}_{c} = subgroupBroadcast(av{t}_{c}, {l}u);
        //#end
        //#unroll r R
        //#unroll kx KW
        //#unroll c BX
        //#when {c} * S + {kx} >= XLO
        //#when {c} * S + {kx} < XHI
        acc_{t}_{l}[{({r} * KW + {kx})}] = fma(d{t}_{l}_{c}, v{r}[{({c} * S + {kx})}], acc_{t}_{l}[{({r} * KW + {kx})}]);
        //#end
        //#end
        //#end
        //#end
        //#end
        //#end
        //#end
    }
    let ncol = nkr * KW;
    let zofs = wid.z * p.cout * ncol;
    //#unroll t TMS
    //#unroll l SG
    {
        let co = co0 + {t}u * SG + {l}u;
        if (co < p.cout) {
            let ob = zofs + co * ncol;
            //#unroll r R
            if (ok{r}) {
                //#unroll kx KW
                out[ob + krc{r} * KW + {kx}u] = acc_{t}_{l}[{({r} * KW + {kx})}];
                //#end
            }
            //#end
        }
    }
    //#end
    //#end
}
