// conv_wgrad_rows.wgsl: conv.wgsl's weight-gradient primitive with each lane's columns laid out
// as R whole kernel rows (a kernel row: one input channel ci and tap row ky, its KW taps), so
// that the taps of a row share loads: for a block of BX consecutive output pixels of one image
// row, a lane loads per kernel row the FSPAN = (BX - 1) * S + KW input values that all BX x KW
// products read, where conv.wgsl loads one value per tap and pixel (KW x BX). At k5 s2 and
// BX = 4 that is 11 loads instead of 20. On llvmpipe every storage-buffer load is a loop over
// the lanes with bounds checks, so loads, not multiply-adds, set the speed there (BENCHMARKS.md
// "What limits lavapipe").
// Each product is added in the order conv.wgsl adds it (image, row, column), so the result is
// conv.wgsl's bit for bit.
// Compile-time: SG lanes, TM rows (output channels; TMS = TM / SG a lane), R kernel rows a
// lane (TN = R * KW columns), BX pixels a block (it divides the output width), stride S,
// kernel width KW, FSPAN.
// a = dy [batch, cout, oh, ow], b = x, out = partial dw [splits, cout, cin, kh, kw]: split z
// sums images [z * split, (z + 1) * split) as conv.wgsl does. GEMM rows = cout, columns =
// (ci, ky, kx), kernel row q = ci * kh + ky owning columns q * KW .. q * KW + KW - 1.

//#include conv_common

@compute @workgroup_size(SG)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nrow = p.cin * p.kh;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let co0 = wid.y * TM;
    let qb = (wid.x * SG + lid.x) * R;
    //#unroll r R
    let q{r} = min(qb + {r}u, nrow - 1u);
    let ci{r} = q{r} / p.kh;
    let xo{r} = i32(ci{r} * hw);
    let dky{r} = i32(q{r} - ci{r} * p.kh) - i32(p.pad_t);
    //#end
    //#unroll t TMS
    let dyo{t} = min(co0 + {t}u * SG + lid.x, p.cout - 1u) * ohw;
    //#unroll l SG
    var acc_{t}_{l} = array<f32, TN>();
    //#end
    //#end
    let n_end = min((wid.z + 1u) * p.split, p.batch);
    for (var n = wid.z * p.split; n < n_end; n++) {
        let dyn_ = n * p.cout * ohw;
        let xn = i32(n * p.cin * hw);
        for (var oy = 0u; oy < p.oh; oy++) {
            let iyb = i32(oy * S);
            let dyr = dyn_ + oy * p.ow;
            for (var ox0 = 0u; ox0 < p.ow; ox0 += BX) {
                let ix0 = i32(ox0 * S) - i32(p.pad_l);
                //#unroll u FSPAN
                let xin{u} = ix0 + {u}i >= 0 && ix0 + {u}i < i32(p.w);
                //#end
                //#unroll r R
                var v{r} = array<f32, FSPAN>();
                {
                    let y = iyb + dky{r};
                    let yin = y >= 0 && y < i32(p.h);
                    let rb = xn + xo{r} + y * i32(p.w) + ix0;
                    //#unroll u FSPAN
                    v{r}[{u}] = select(0.0, b[select(0, rb + {u}i, yin && xin{u})], yin && xin{u});
                    //#end
                }
                //#end
                //#unroll c BX
                {
                    let o = dyr + ox0 + {c}u;
                    //#unroll t TMS
                    let av{t} = a[o + dyo{t}];
                    //#unroll l SG
                    let d{t}_{l} = subgroupBroadcast(av{t}, {l}u);
                    //#unroll r R
                    //#unroll kx KW
                    acc_{t}_{l}[{r} * KW + {kx}] = fma(d{t}_{l}, v{r}[{c} * S + {kx}], acc_{t}_{l}[{r} * KW + {kx}]);
                    //#end
                    //#end
                    //#end
                    //#end
                }
                //#end
            }
        }
    }
    let ncol = nrow * KW;
    let zofs = wid.z * p.cout * ncol;
    //#unroll t TMS
    //#unroll l SG
    {
        let co = co0 + {t}u * SG + {l}u;
        if (co < p.cout) {
            //#unroll r R
            if (qb + {r}u < nrow) {
                let ob = zofs + co * ncol + (qb + {r}u) * KW;
                //#unroll kx KW
                out[ob + {kx}u] = acc_{t}_{l}[{r} * KW + {kx}];
                //#end
            }
            //#end
        }
    }
    //#end
    //#end
}
