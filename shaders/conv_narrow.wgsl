// conv_narrow.wgsl: the input-gradient primitive for a dx of few channels (the 3-channel
// layers: G's last transposed conv, D's first conv's input gradient). Each lane computes every
// channel and every stride phase of an RY x RX block of dx, so each dy value it loads serves
// all the taps that reach the block: per output channel of the conv a lane loads one WY x WX
// window of dy and CIN x KH x KW weights (shared across the subgroup) for
// CIN x KH x KW x BY x BX multiply-adds. The per-phase kernels instead give each lane one
// channel row of a subgroup tile that few channels leave mostly idle, and the GEMM + col2im
// path writes and re-reads a value per (tap, pixel).
// a = dy [batch, cout, oh, ow], b = w [cout, CIN, KH, KW], out = dx [batch, CIN, h, w].
// Compile-time (src/ops/conv/narrow.rs): SG lanes; CIN, S, KH, KW, PAD_T, PAD_L; the block
// RY = S * BY rows x RX = S * BX columns (dividing h and w); NW = ceil(CIN * KH * KW / SG)
// weights a lane loads; and the window: tap ky reaches dx row y0 + phy + S * qy from dy row
// y0 / S + qy + TY(ky) - KH, where phy = (ky - PAD_T) mod S and
// TY(ky) = (phy + PAD_T + S * KH - ky) / S (kept non-negative by the S * KH terms); TMIN_Y is
// the least TY, WY = BY + max TY - TMIN_Y the window's rows (likewise x). Every index below is
// a constant expression once the host has unrolled the taps and the block.
// Grid: x = ceil(blocks / SG), one lane a block; lanes past the last block take the last one
// and store nothing. Each dx value adds its products over co in order, then over its taps in
// (ci, ky, kx) order: deterministic.

//#include conv_common
//#include epilogue

@compute @workgroup_size(SG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bpr = p.w / RX;
    let bpi = (p.h / RY) * bpr;
    let nblk = p.batch * bpi;
    let blk_raw = wid.x * SG + lid.x;
    let blk = min(blk_raw, nblk - 1u);
    let n = blk / bpi;
    let rem = blk - n * bpi;
    let by = rem / bpr;
    let y0 = by * RY;
    let x0 = (rem - by * bpr) * RX;
    // dy row and column of window entry (0, 0).
    let wy0 = i32(y0 / S + TMIN_Y) - i32(KH);
    let wx0 = i32(x0 / S + TMIN_X) - i32(KW);
    //#unroll r WY
    let yin{r} = wy0 + {r}i >= 0 && wy0 + {r}i < i32(p.oh);
    //#end
    //#unroll c WX
    let xin{c} = wx0 + {c}i >= 0 && wx0 + {c}i < i32(p.ow);
    //#end
    //#unroll ci CIN
    var acc{ci} = array<f32, RY * RX>();
    //#end
    let ohw = p.oh * p.ow;
    let db = i32(n * p.cout * ohw) + wy0 * i32(p.ow) + wx0;
    for (var co = 0u; co < p.cout; co++) {
        // Lane l holds taps j * SG + l of this output channel's CIN x KH x KW weights.
        let wb = co * CIN * KH * KW;
        var wv = array<f32, NW>();
        //#unroll j NW
        wv[{j}] = b[wb + min({j}u * SG + lid.x, CIN * KH * KW - 1u)];
        //#end
        let dco = db + i32(co * ohw);
        var v = array<f32, WY * WX>();
        //#unroll r WY
        //#unroll c WX
        v[{r} * WX + {c}] = select(0.0, a[select(0, dco + {r}i * i32(p.ow) + {c}i, yin{r} && xin{c})], yin{r} && xin{c});
        //#end
        //#end
        //#unroll ci CIN
        //#unroll ky KH
        //#unroll kx KW
        {
            const t = ({ci}u * KH + {ky}u) * KW + {kx}u;
            const phy = ({ky}u + S * KH - PAD_T) % S;
            const phx = ({kx}u + S * KW - PAD_L) % S;
            const ry = (phy + PAD_T + S * KH - {ky}u) / S - TMIN_Y;
            const rx = (phx + PAD_L + S * KW - {kx}u) / S - TMIN_X;
            const ab = phy * RX + phx;
            const vb = ry * WX + rx;
            let wt = subgroupBroadcast(wv[t / SG], t % SG);
            //#unroll qy BY
            //#unroll qx BX
            acc{ci}[ab + {(S * {qy} * RX + S * {qx})}] = fma(wt, v[vb + {({qy} * WX + {qx})}], acc{ci}[ab + {(S * {qy} * RX + S * {qx})}]);
            //#end
            //#end
        }
        //#end
        //#end
        //#end
    }
    if (blk_raw >= nblk) { return; }
    let hw = p.h * p.w;
    //#unroll ci CIN
    {
        var bv = 0.0;
        if (p.has_bias != 0u) { bv = bias[{ci}u]; }
        //#if NORM 1
        bn = bn_row({ci}u, CIN);
        //#end
        let ob = (n * CIN + {ci}u) * hw + y0 * p.w + x0;
        //#unroll py RY
        //#unroll px RX
        out[ob + {py}u * p.w + {px}u] = epilogue(acc{ci}[{({py} * RX + {px})}] + bv);
        //#end
        //#end
    }
    //#end
}
