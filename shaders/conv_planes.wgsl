// conv_planes.wgsl: the input-gradient primitive (a transposed conv's forward) for small
// planes (G's first layer, 512 x 4 x 4 -> 256 x 8 x 8; D's last conv, 256 x 8 x 8 <- 512 x 4 x 4).
// Each lane holds CT whole planes of one image in registers, as large as the full transposed
// conv's output (FH x FW: every tap of every dy pixel lands in it), and adds each dy value it
// loads into the KH x KW pixels it reaches: per output channel of the conv, OH x OW loads of dy
// and CT x KH x KW weights (shared across the subgroup) for CT x OH x OW x KH x KW
// multiply-adds. dx is the full plane cropped by the conv's padding (PAD_T rows on top, PAD_L
// columns on the left), so the taps that land in the cropped border are the only waste (none
// at G's first layer, which has no padding). (The per-phase kernels gather instead, and at G's
// first layer visit 4 times the taps that land; GEMM + col2im writes and re-reads a value per
// tap and pixel.)
// a = dy [batch, cout, OH, OW], b = w [cout, cin, KH, KW], out = dx [batch, cin, H, W].
// Compile-time (src/ops/conv/planes.rs): SG lanes, CT channels a lane, stride S, KH, KW, OH,
// OW, FH = (OH - 1) * S + KH, FW likewise, PAD_T, PAD_L, dx's H and W (FH >= PAD_T + H,
// FW >= PAD_L + W), NW = ceil(CT * KH * KW / SG) weights a lane loads.
// Grid: x = ceil(batch / SG) (a lane an image; lanes past the last take it and store
// nothing), y = ceil(cin / CT) channel groups. Each dx value adds its products over co in
// order, then over (ky, kx, oy, ox): deterministic.

//#include conv_common
//#include epilogue

@compute @workgroup_size(SG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n_raw = wid.x * SG + lid.x;
    let n = min(n_raw, p.batch - 1u);
    let c0 = wid.y * CT;
    //#unroll c CT
    var acc{c} = array<f32, FH * FW>();
    //#end
    let db = n * p.cout * OH * OW;
    for (var co = 0u; co < p.cout; co++) {
        // Lane l holds entries j * SG + l of this output channel's CT x KH x KW weights
        // (channels past cin repeat the last; their sums are not stored).
        var wv = array<f32, NW>();
        //#unroll j NW
        {
            let t = min({j}u * SG + lid.x, CT * KH * KW - 1u);
            let ci = min(c0 + t / (KH * KW), p.cin - 1u);
            wv[{j}] = b[(co * p.cin + ci) * KH * KW + t % (KH * KW)];
        }
        //#end
        let dco = db + co * OH * OW;
        var v = array<f32, OH * OW>();
        //#unroll q OHW
        v[{q}] = a[dco + {q}u];
        //#end
        //#unroll c CT
        //#unroll ky KH
        //#unroll kx KW
        {
            // Tap t = (c * KH + ky) * KW + kx is entry t / SG of lane t % SG.
            let wt = subgroupBroadcast(wv[{((({c} * KH + {ky}) * KW + {kx}) / SG)}], {((({c} * KH + {ky}) * KW + {kx}) % SG)});
            //#unroll oy OH
            //#unroll ox OW
            acc{c}[{(({oy} * S + {ky}) * FW + {ox} * S + {kx})}] = fma(wt, v[{({oy} * OW + {ox})}], acc{c}[{(({oy} * S + {ky}) * FW + {ox} * S + {kx})}]);
            //#end
            //#end
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
            let ob = (n * p.cin + ci) * H * W;
            //#unroll y H
            //#unroll x W
            out[ob + {({y} * W + {x})}] = epilogue(acc{c}[{(({y} + PAD_T) * FW + {x} + PAD_L)}] + bv);
            //#end
            //#end
        }
    }
    //#end
}
