// conv_planes.wgsl: the input-gradient primitive (a transposed conv's forward) for small
// planes (G's first layer, 512 x 4 x 4 -> 256 x 8 x 8; D's last convs' dx, 256 x 8 x 8 <-
// 512 x 4 x 4 and 128 x 16 x 16 <- 256 x 8 x 8, and G's transposed convs of those shapes).
// Each lane holds CT whole dx planes of one image in registers and, per output channel of the
// conv, loads the OH x OW dy values of its image and CT x KH x KW weights (shared across the
// subgroup), then gathers: every dx pixel takes the taps that reach it, a compile-time list
// (`//#when`), in (ky, kx) order, so each accumulator is loaded and stored once per output
// channel instead of once per tap (llvmpipe keeps the tile in stack slots). The sums are the
// scatter's (each dy value into the KH x KW pixels it reaches, tap by tap) bit for bit: a
// pixel gets at most one term per tap, in the same order. No work lands in the padding the
// conv crops. (The per-phase kernels gather per tap and visit 4 times the taps that land at G's
// first layer; GEMM + col2im writes and re-reads a value per tap and pixel.)
// a = dy [batch, cout, OH, OW], b = w [cout, cin, KH, KW], out = dx [batch, cin, H, W].
// Compile-time (src/ops/conv/planes.rs): SG lanes, CT channels a lane, stride S, KH, KW, OH,
// OW, PAD_T, PAD_L, dx's H and W (every dx pixel inside the full transposed conv's plane),
// NW = ceil(CT * KH * KW / SG) weights a lane loads (VB = 1: rounded up to a multiple of 4,
// read as NW4 = NW / 4 vec4s, where cin x KH x KW and CT x KH x KW are multiples of 4 and w
// starts 16-byte aligned), VA (conv_io.wgsl; 1: dy read as
// OHW / 4 vec4s, where OHW is a multiple of 4 and dy starts 16-byte aligned; the same values,
// so the same sums bit for bit).
// Grid: x = ceil(batch / SG) (a lane an image; lanes past the last take it and store
// nothing), y = ceil(cin / CT) channel groups. Each dx value adds its products over co in
// order, then over (ky, kx): deterministic.

//#include conv_io
//#include epilogue

@compute @workgroup_size(SG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n_raw = wid.x * SG + lid.x;
    let n = min(n_raw, p.batch - 1u);
    let c0 = wid.y * CT;
    //#unroll c CT
    var acc{c} = array<f32, H * W>();
    //#end
    let db = n * p.cout * OH * OW;
    for (var co = 0u; co < p.cout; co++) {
        // Lane l holds entries j * SG + l of this output channel's CT x KH x KW weights
        // (channels past cin repeat the last; their sums are not stored).
        //#if VB 0
        var wv = array<f32, NW>();
        //#unroll j NW
        {
            let t = min({j}u * SG + lid.x, CT * KH * KW - 1u);
            let ci = min(c0 + t / (KH * KW), p.cin - 1u);
            wv[{j}] = b[(co * p.cin + ci) * KH * KW + t % (KH * KW)];
        }
        //#end
        //#end
        //#if VB 1
        // VB = 1: lane l holds entries l * NW to l * NW + NW - 1 (NW a multiple of 4 here),
        // NW / 4 vec4s; entries past the group's, or past the buffer (clamped), are never
        // stored.
        var wq = array<vec4<f32>, NW4>();
        let wb = (co * p.cin + c0) * KH * KW / 4u + lid.x * NW4;
        let wend = arrayLength(&b) - 1u;
        //#unroll j NW4
        wq[{j}] = b[min(wb + {j}u, wend)];
        //#end
        //#end
        let dco = db + co * OH * OW;
        var v = array<f32, OH * OW>();
        //#if VA 0
        //#unroll q OHW
        v[{q}] = a[dco + {q}u];
        //#end
        //#end
        //#if VA 1
        //#unroll j OHW4
        {
            let q = a[dco / 4u + {j}u];
            //#unroll e 4
            v[{({j} * 4 + {e})}] = q[{e}];
            //#end
        }
        //#end
        //#end
        // Tap t = (c * KH + ky) * KW + kx is entry t / SG of lane t % SG (VB = 1: entry t % NW
        // of lane t / NW).
        //#unroll c CT
        //#unroll ky KH
        //#unroll kx KW
        //#if VB 0
        let wt{c}_{ky}_{kx} = subgroupBroadcast(wv[{((({c} * KH + {ky}) * KW + {kx}) / SG)}], {((({c} * KH + {ky}) * KW + {kx}) % SG)});
        //#end
        //#if VB 1
        let wt{c}_{ky}_{kx} = subgroupBroadcast(wq[{(((({c} * KH + {ky}) * KW + {kx}) % NW) / 4)}][{(((({c} * KH + {ky}) * KW + {kx}) % NW) % 4)}], {((({c} * KH + {ky}) * KW + {kx}) / NW)});
        //#end
        //#end
        //#end
        //#end
        // dx pixel (y, x) is full-plane pixel (y + PAD_T, x + PAD_L); tap (ky, kx) reaches it
        // from dy pixel ((y + PAD_T - ky) / S, (x + PAD_L - kx) / S) where that divides and lies
        // in the OH x OW plane.
        //#unroll c CT
        //#unroll y H
        //#unroll x W
        {
            var s = acc{c}[{({y} * W + {x})}];
            //#unroll ky KH
            //#when ({y} + PAD_T - {ky}) % S == 0
            //#when {y} + PAD_T - {ky} >= 0
            //#when {y} + PAD_T - {ky} <= (OH - 1) * S
            //#unroll kx KW
            //#when ({x} + PAD_L - {kx}) % S == 0
            //#when {x} + PAD_L - {kx} >= 0
            //#when {x} + PAD_L - {kx} <= (OW - 1) * S
            s = fma(wt{c}_{ky}_{kx}, v[{((({y} + PAD_T - {ky}) / S) * OW + ({x} + PAD_L - {kx}) / S)}], s);
            //#end
            //#end
            //#end
            //#end
            //#end
            //#end
            //#end
            //#end
            acc{c}[{({y} * W + {x})}] = s;
        }
        //#end
        //#end
        //#end
    }
    if (n_raw >= p.batch) { return; }
    //#unroll c CT
    {
        let ci = c0 + {c}u;
        if (ci < p.cin) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[ci]; }
            //#if NORM 1
            bn = bn_row(ci, p.cin);
            //#end
            let ob = (n * p.cin + ci) * H * W;
            //#unroll y H
            //#unroll x W
            out[ob + {({y} * W + {x})}] = epilogue(acc{c}[{({y} * W + {x})}] + bv);
            //#end
            //#end
        }
    }
    //#end
}
