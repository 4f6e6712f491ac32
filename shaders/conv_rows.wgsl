// conv_rows.wgsl: conv.wgsl's forward and input-gradient primitives with each lane's TN
// pixels laid out as a BY x BX block of one image, so that neighbouring kernel taps reuse the
// input values already loaded: per (channel, kernel row) a lane loads BY rows of FSPAN input
// values once, where conv.wgsl loads KW x TN values (one per tap and pixel). The taps of a
// kernel row are unrolled so that every window index is a constant; that makes the loop body
// KW times the flat kernel's, and llvmpipe's compile time grows with it (see
// ForwardPath::RowWindows). On llvmpipe every
// storage-buffer load is a loop over the lanes with bounds checks, so loads, not
// multiply-adds, set the speed there (BENCHMARKS.md "What limits lavapipe").
// Compile-time: SG lanes, TM rows (TMS = TM / SG a lane), BX, BY (TN = BX * BY), stride S,
// kernel width KW, DX (0: the module holds conv2d_forward, 1: conv2d_input_grad; one entry
// point a module, so that naga parses neither's unrolled body for the other), and for
// input_grad TX and TY, the taps in x and the kernel rows of the dispatch's stride phase (at
// least 1).
// FSPAN = (BX - 1) * S + KW (forward) and DSPAN = BX + TX - 1 (input_grad) input values a
// block row. The forward loads and multiplies only window positions XLO <= t < XHI: where a
// block spans the whole output width the host knows which positions fall in the left and right
// padding and leaves them out (0 and FSPAN otherwise). A padding tap adds w * 0 = +-0 to a sum
// that starts at +0 and so is never -0: leaving it out changes no bit (for finite weights).
// input_grad has no such bounds (at D's 32 x 32 layer about 4% of its taps read dy's padding,
// and leaving them out measured level).
// The host picks this file only when BX divides the output width and BY its height (for
// input_grad: of every stride phase, which needs h and w multiples of S), so a block never
// straddles rows or images.
// VA (conv_io.wgsl) = 1 where BX and the width of a's rows are multiples of 4 and a starts
// 16-byte aligned: a block row's window is then read as NQ vec4s from the aligned group that
// holds its first position (OFF = that position mod 4, the same in every block), each group
// inside the row or outside it as a whole. The same values reach the same multiply-adds, so
// the result is VA = 0's bit for bit.

//#include conv_io
//#include epilogue

// The block of lane `blk_raw` in a grid_h x grid_w pixel grid of every image: (image, first
// row, first column, blocks in all). Lanes past the last block take the last one and store
// nothing.
fn lane_block(grid_h: u32, grid_w: u32, blk_raw: u32) -> vec4<u32> {
    let bpr = grid_w / BX;
    let bpi = (grid_h / BY) * bpr;
    let nblk = p.batch * bpi;
    let blk = min(blk_raw, nblk - 1u);
    let n = blk / bpi;
    let rem = blk - n * bpi;
    let by = rem / bpr;
    return vec4<u32>(n, by * BY, (rem - by * bpr) * BX, nblk);
}

//#if DX 0
// a = x, b = w, out = y [batch, cout, oh, ow]. GEMM rows = cout, columns = output pixels.
@compute @workgroup_size(SG)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk_raw = wid.x * SG + lid.x;
    let blk = lane_block(p.oh, p.ow, blk_raw);
    let n = blk.x;
    let oy0 = blk.y;
    let ox0 = blk.z;
    let nblk = blk.w;
    let hw = p.h * p.w;
    let kk = p.kh * KW;
    let xb = i32(n * p.cin * hw);
    let ix0 = i32(ox0 * S) - i32(p.pad_l);
    //#if VA 0
    //#unroll t FSPAN
    let xin{t} = ix0 + {t}i >= 0 && ix0 + {t}i < i32(p.w);
    //#end
    //#end
    //#if VA 1
    let ixa = ix0 - i32(OFF);
    //#unroll j NQ
    let xq{j} = ixa + {j}i * 4 >= 0 && ixa + {j}i * 4 < i32(p.w);
    //#end
    //#end
    let co0 = wid.y * TM;
    //#if VB 1
    let wlast = arrayLength(&b) - 1u;
    //#end
    //#unroll s TMS
    let wrow{s} = min(co0 + {s}u * SG + lid.x, p.cout - 1u) * p.cin * kk;
    //#unroll l SG
    var acc_{s}_{l} = array<f32, TN>();
    //#end
    //#end
    // One loop over the kernel rows (ci, ky), not one per ci and ky: llvmpipe ran the nested
    // form at 0.79 to 0.92 of this one's speed (BENCHMARKS "One loop over the reduction").
    for (var kr = 0u; kr < p.cin * p.kh; kr++) {
        let ci = kr / p.kh;
        let ky = kr - ci * p.kh;
        let cofs = xb + i32(ci * hw);
        let k0 = ci * kk + ky * KW;
        //#unroll s TMS
        var av{s} = array<f32, KW>();
        //#if VB 0
        //#unroll kx KW
        av{s}[{kx}] = b[wrow{s} + k0 + {kx}u];
        //#end
        //#end
        //#if VB 1
        {
            // The row's KW (<= 5) taps lie in the two vec4s from the one holding the first,
            // starting at its component sh: each tap picks its component among 4 by sh.
            let e = wrow{s} + k0;
            let sh = e % 4u;
            let q = array<vec4<f32>, 2>(b[e / 4u], b[min(e / 4u + 1u, wlast)]);
            //#unroll kx KW
            av{s}[{kx}] = select(select(select(q[{({kx} / 4)}][{({kx} % 4)}], q[{(({kx} + 1) / 4)}][{(({kx} + 1) % 4)}], sh == 1u), q[{(({kx} + 2) / 4)}][{(({kx} + 2) % 4)}], sh == 2u), q[{(({kx} + 3) / 4)}][{(({kx} + 3) % 4)}], sh == 3u);
            //#end
        }
        //#end
        //#end
        //#unroll r BY
        var v{r} = array<f32, FSPAN>();
        {
            let y = i32((oy0 + {r}u) * S + ky) - i32(p.pad_t);
            let yin = y >= 0 && y < i32(p.h);
            //#if VA 0
            let rb = cofs + y * i32(p.w) + ix0;
            //#unroll t FSPAN
            //#when {t} >= XLO
            //#when {t} < XHI
            v{r}[{t}] = select(0.0, a[select(0, rb + {t}i, yin && xin{t})], yin && xin{t});
            //#end
            //#end
            //#end
            //#end
            //#if VA 1
            let rq = (cofs + y * i32(p.w) + ixa) / 4;
            var q = array<vec4<f32>, NQ>();
            // Only the groups that hold a position in [XLO, XHI).
            //#unroll j NQ
            //#when {j} * 4 + 3 >= XLO + OFF
            //#when {j} * 4 < XHI + OFF
            q[{j}] = select(vec4<f32>(), a[select(0, rq + {j}i, yin && xq{j})], yin && xq{j});
            //#end
            //#end
            //#end
            //#unroll t FSPAN
            //#when {t} >= XLO
            //#when {t} < XHI
            v{r}[{t}] = q[{(({t} + OFF) / 4)}][{(({t} + OFF) % 4)}];
            //#end
            //#end
            //#end
            //#end
        }
        //#end
        // Accumulator-major: each accumulator takes its KW taps in a row, so that llvmpipe,
        // which keeps the tile in stack slots, loads and stores it once per KW multiply-adds.
        //#unroll s TMS
        //#unroll l SG
        //#unroll kx KW
        let w{s}_{l}_{kx} = subgroupBroadcast(av{s}[{kx}], {l}u);
        //#end
        //#unroll r BY
        //#unroll c BX
        //#unroll kx KW
        //#when {c} * S + {kx} >= XLO
        //#when {c} * S + {kx} < XHI
        acc_{s}_{l}[{({r} * BX + {c})}] = fma(w{s}_{l}_{kx}, v{r}[{({c} * S + {kx})}], acc_{s}_{l}[{({r} * BX + {c})}]);
        //#end
        //#end
        //#end
        //#end
        //#end
        //#end
        //#end
    }
    if (blk_raw >= nblk) { return; }
    let ohw = p.oh * p.ow;
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
            let ob = (n * p.cout + co) * ohw + oy0 * p.ow + ox0;
            //#unroll r BY
            //#unroll c BX
            out[ob + {r}u * p.ow + {c}u] = epilogue(acc_{s}_{l}[{({r} * BX + {c})}] + bv);
            //#end
            //#end
        }
    }
    //#end
    //#end
}
//#end

//#if DX 1
// a = dy [batch, cout, oh, ow], b = w, out = dx [batch, cin, h, w]. A dispatch is one stride
// phase (p.phase_y, p.phase_x), built for its own taps: TY kernel rows of TX taps. Every phase
// has (h / S) x (w / S) pixels here. For the taps of a phase, pixel qx reads dy column
// qx + dxo0 - tx at its tx-th tap, so the BX pixels of a block row read BX + TX - 1
// consecutive columns in all.
@compute @workgroup_size(SG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ph_y = p.phase_y;
    let ph_x = p.phase_x;
    let blk_raw = wid.x * SG + lid.x;
    let blk = lane_block(p.h / S, p.w / S, blk_raw);
    let n = blk.x;
    let qy0 = blk.y;
    let qx0 = blk.z;
    let nblk = blk.w;
    let ohw = p.oh * p.ow;
    let kk = p.kh * KW;
    let db = i32(n * p.cout * ohw);
    let ky0 = (ph_y + p.pad_t) % S;
    let kx0 = (ph_x + p.pad_l) % S;
    // Exact division: ph_x + pl - kx0 is a multiple of S.
    let xbase = i32(qx0) + (i32(ph_x + p.pad_l) - i32(kx0)) / i32(S) - i32(TX - 1u);
    //#if VA 0
    //#unroll t DSPAN
    let xin{t} = xbase + {t}i >= 0 && xbase + {t}i < i32(p.ow);
    //#end
    //#end
    //#if VA 1
    let xba = xbase - i32(OFF);
    //#unroll j NQ
    let xq{j} = xba + {j}i * 4 >= 0 && xba + {j}i * 4 < i32(p.ow);
    //#end
    //#end
    //#unroll tx TX
    let tap{tx} = kx0 + {tx}u * S < KW;
    let kxt{tx} = min(kx0 + {tx}u * S, KW - 1u);
    //#end
    let ci0 = wid.y * TM;
    //#unroll s TMS
    let wofs{s} = min(ci0 + {s}u * SG + lid.x, p.cin - 1u) * kk;
    //#unroll l SG
    var acc_{s}_{l} = array<f32, TN>();
    //#end
    //#end
    // The phase's TY kernel rows ky0, ky0 + S, ... (none where ky0 >= kh, possible only when
    // S > KH: TY = 1 then and the loop runs no iteration) in every iteration, so that each
    // accumulator takes TY x TX multiply-adds a visit: llvmpipe loads and stores it at every
    // visit, and one kernel row an iteration (2 or 3 taps at 5 x 5, stride 2) took 1.2 times
    // as long (BENCHMARKS "Kernel rows of a phase together").
    let nco = select(0u, p.cout, ky0 < p.kh);
    for (var co = 0u; co < nco; co++) {
        let wco = co * p.cin * kk;
        let dco = db + i32(co * ohw);
        //#unroll ty TY
        let ky{ty} = ky0 + {ty}u * S;
        // Exact division: ph_y + pt - ky is a multiple of S.
        let dyo{ty} = (i32(ph_y + p.pad_t) - i32(ky{ty})) / i32(S);
        let k0{ty} = wco + ky{ty} * KW;
        //#unroll s TMS
        var av{s}_{ty} = array<f32, TX>();
        //#unroll tx TX
        av{s}_{ty}[{tx}] = select(0.0, b[k0{ty} + kxt{tx} + wofs{s}], tap{tx});
        //#end
        //#end
        //#unroll r BY
        var v{ty}_{r} = array<f32, DSPAN>();
        {
            let y = i32(qy0 + {r}u) + dyo{ty};
            let yin = y >= 0 && y < i32(p.oh);
            //#if VA 0
            let rb = dco + y * i32(p.ow) + xbase;
            //#unroll t DSPAN
            v{ty}_{r}[{t}] = select(0.0, a[select(0, rb + {t}i, yin && xin{t})], yin && xin{t});
            //#end
            //#end
            //#if VA 1
            let rq = (dco + y * i32(p.ow) + xba) / 4;
            var q = array<vec4<f32>, NQ>();
            //#unroll j NQ
            q[{j}] = select(vec4<f32>(), a[select(0, rq + {j}i, yin && xq{j})], yin && xq{j});
            //#end
            //#unroll t DSPAN
            v{ty}_{r}[{t}] = q[{(({t} + OFF) / 4)}][{(({t} + OFF) % 4)}];
            //#end
            //#end
        }
        //#end
        //#end
        // Accumulator-major, as in the forward: each accumulator takes its TY x TX taps in a
        // row, in the order of the kernel rows and then of the taps in x (the flat kernel's).
        // TX is this phase's own count, so every tap is real, except in a phase with no tap in
        // x at all (S > KW), whose one tap is masked to a zero weight: that adds +0 to a sum
        // that is never -0, the flat kernel's result bit for bit (dy finite).
        //#unroll s TMS
        //#unroll l SG
        //#unroll ty TY
        //#unroll tx TX
        let w{s}_{l}_{ty}_{tx} = subgroupBroadcast(av{s}_{ty}[{tx}], {l}u);
        //#end
        //#end
        //#unroll r BY
        //#unroll c BX
        //#unroll ty TY
        //#unroll tx TX
        acc_{s}_{l}[{({r} * BX + {c})}] = fma(w{s}_{l}_{ty}_{tx}, v{ty}_{r}[{({c} + TX - 1 - {tx})}], acc_{s}_{l}[{({r} * BX + {c})}]);
        //#end
        //#end
        //#end
        //#end
        //#end
        //#end
    }
    if (blk_raw >= nblk) { return; }
    let hw = p.h * p.w;
    //#unroll s TMS
    //#unroll l SG
    {
        let ci = ci0 + {s}u * SG + {l}u;
        if (ci < p.cin) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[ci]; }
            //#if NORM 1
            bn = bn_row(ci, p.cin);
            //#end
            let ob = (n * p.cin + ci) * hw + ph_y * p.w + ph_x;
            //#unroll r BY
            //#unroll c BX
            out[ob + (qy0 + {r}u) * S * p.w + (qx0 + {c}u) * S] = epilogue(acc_{s}_{l}[{({r} * BX + {c})}] + bv);
            //#end
            //#end
        }
    }
    //#end
    //#end
}
//#end
