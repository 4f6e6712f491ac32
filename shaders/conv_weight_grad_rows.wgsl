// conv_weight_grad_rows.wgsl: the weight-gradient primitive (conv_weight_grad.wgsl's) with each
// lane's columns R whole kernel rows (ci, ky; its KW taps each) and the reduction taken BX
// output columns at a time, so that the taps of a kernel row share their input loads: per
// block a kernel row needs FSPAN = (BX - 1) * S + KW consecutive input values, where the flat
// kernel loads KW x BX. Each accumulator takes the block's BX multiply-adds in a row (on
// llvmpipe the tile lives in stack slots), in the flat kernel's order: the result is its bit
// for bit.
//   dw[co,ci,ky,kx] = sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy*S+ky-pt,ox*S+kx-pl]
// Bindings: 0 params, 1 a = dy, 2 b = x, 4 out (read_write) = partial dw [splits, cout, cin,
// kh, KW]. Compile-time: SG, TM (TMS = TM / SG), R, KW, S, BX (dividing ow), FSPAN.
// Grid: x = ceil(cin * kh / (SG * R)), y = ceil(cout / TM), z = reduction splits.

//#include conv_common

@compute @workgroup_size(SG)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let nkr = p.cin * p.kh;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let co0 = wid.y * TM;
    let kr0 = (wid.x * SG + lid.x) * R;
    //#unroll r R
    let krc{r} = min(kr0 + {r}u, nkr - 1u);
    let ci{r} = krc{r} / p.kh;
    let xo{r} = i32(ci{r} * hw);
    let dky{r} = i32(krc{r} - ci{r} * p.kh) - i32(p.pad_t);
    //#end
    //#unroll t TMS
    let dyo{t} = min(co0 + {t}u * SG + lid.x, p.cout - 1u) * ohw;
    //#unroll l SG
    var acc_{t}_{l} = array<f32, R * KW>();
    //#end
    //#end
    // One loop over the blocks (image, output row, BX columns) of the split's images.
    let bpr = p.ow / BX;
    let k_end = min((wid.z + 1u) * p.split, p.batch) * p.oh * bpr;
    for (var k = wid.z * p.split * p.oh * bpr; k < k_end; k++) {
        let row = k / bpr;
        let ox0 = (k - row * bpr) * BX;
        let n = row / p.oh;
        let oy = row - n * p.oh;
        let o = n * p.cout * ohw + oy * p.ow + ox0;
        //#unroll t TMS
        //#unroll c BX
        let av{t}_{c} = a[o + dyo{t} + {c}u];
        //#end
        //#end
        let xn = i32(n * p.cin * hw);
        let ix0 = i32(ox0 * S) - i32(p.pad_l);
        let iy0 = i32(oy * S);
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
            v{r}[{f}] = select(0.0, b[select(0, rb + {f}i, yin && xin{f})], yin && xin{f});
            //#end
        }
        //#end
        //#unroll t TMS
        //#unroll l SG
        //#unroll c BX
        let d{t}_{l}_{c} = subgroupBroadcast(av{t}_{c}, {l}u);
        //#end
        //#unroll r R
        //#unroll kx KW
        //#unroll c BX
        acc_{t}_{l}[{({r} * KW + {kx})}] = fma(d{t}_{l}_{c}, v{r}[{({c} * S + {kx})}], acc_{t}_{l}[{({r} * KW + {kx})}]);
        //#end
        //#end
        //#end
        //#end
        //#end
    }
    let ncol = nkr * KW;
    let zofs = wid.z * p.cout * ncol;
    let cb = kr0 * KW;
    //#unroll r R
    let ok{r} = kr0 + {r}u < nkr;
    //#end
    //#unroll t TMS
    //#unroll l SG
    {
        let co = co0 + {t}u * SG + {l}u;
        if (co < p.cout) {
            let ob = zofs + co * ncol + cb;
            //#unroll r R
            if (ok{r}) {
                //#unroll kx KW
                out[ob + {({r} * KW + {kx})}] = acc_{t}_{l}[{({r} * KW + {kx})}];
                //#end
            }
            //#end
        }
    }
    //#end
    //#end
}
