// conv_weight_grad.wgsl: the third convolution primitive as an implicit GEMM (no im2col
// buffer), for adapters with subgroups; conv.wgsl has the other two:
//   conv2d_weight_grad  dw[co,ci,ky,kx] = sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
// It serves the weight gradients of conv2d and conv_transpose2d. Its own file, so that the
// forward kernels' modules do not parse its KU-fold unrolled body at every process start,
// nor it theirs. Bindings: 0 params, 1 a = dy, 2 b = x, 4 out (read_write).
// A workgroup is one subgroup of SG lanes computing TM GEMM rows (output channels) for SG * TN
// columns (ci, ky, kx); each lane owns TN consecutive columns. The TM row values of each
// reduction step are loaded once across the subgroup (TMS = TM / SG a lane) and shared with
// subgroupBroadcast.
// Grid: x = ceil(columns / (SG * TN)), y = ceil(rows / TM), z = reduction splits.

//#include conv_common

// a = dy [batch, cout, oh, ow], b = x, out = partial dw [splits, cout, cin, kh, kw]: split z
// sums images [z * split, (z + 1) * split) in a fixed order; the host adds the splits up.
// GEMM rows = cout, columns = (ci, ky, kx).
@compute @workgroup_size(SG)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let kk = p.kh * p.kw;
    let ncol = p.cin * kk;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let co0 = wid.y * TM;
    let cb = (wid.x * SG + lid.x) * TN;
    //#unroll j TN
    let col{j} = min(cb + {j}u, ncol - 1u);
    let ci{j} = col{j} / kk;
    let ky{j} = (col{j} - ci{j} * kk) / p.kw;
    let xo{j} = i32(ci{j} * hw);
    let dky{j} = i32(ky{j}) - i32(p.pad_t);
    let dkx{j} = i32(col{j} - ci{j} * kk - ky{j} * p.kw) - i32(p.pad_l);
    //#end
    //#unroll t TMS
    let dyo{t} = min(co0 + {t}u * SG + lid.x, p.cout - 1u) * ohw;
    //#unroll l SG
    var acc_{t}_{l} = array<f32, TN>();
    //#end
    //#end
    // One loop over the reduction steps k = (image, output row, output column), KU steps an
    // iteration, each accumulator taking its KU multiply-adds in a row (as gemm.wgsl: on
    // llvmpipe the tile lives in stack slots). One loop, not one per image, row and column:
    // llvmpipe ran the nested form at 0.5 to 0.85 of this one's speed (BENCHMARKS "One loop over
    // the reduction"). Steps past the split's end load a clamped index and count 0; the
    // sums keep their order at any KU. KU: Gpu::weight_grad_unroll.
    let k_end = min((wid.z + 1u) * p.split, p.batch) * ohw;
    for (var k = wid.z * p.split * ohw; k < k_end; k += KU) {
        //#unroll u KU
        let live{u} = k + {u}u < k_end;
        let kc{u} = min(k + {u}u, k_end - 1u);
        let n{u} = kc{u} / ohw;
        let pix{u} = kc{u} - n{u} * ohw;
        let oy{u} = pix{u} / p.ow;
        let xn{u} = i32(n{u} * p.cin * hw);
        let iyb{u} = i32(oy{u} * p.stride);
        let ixb{u} = i32((pix{u} - oy{u} * p.ow) * p.stride);
        //#unroll t TMS
        let av{t}_{u} = select(0.0, a[n{u} * p.cout * ohw + pix{u} + dyo{t}], live{u});
        //#end
        //#unroll j TN
        let y{j}_{u} = iyb{u} + dky{j};
        let x{j}_{u} = ixb{u} + dkx{j};
        let in{j}_{u} = live{u} && y{j}_{u} >= 0 && y{j}_{u} < i32(p.h) && x{j}_{u} >= 0 && x{j}_{u} < i32(p.w);
        let v{j}_{u} = select(0.0, b[select(0, xn{u} + xo{j} + y{j}_{u} * i32(p.w) + x{j}_{u}, in{j}_{u})], in{j}_{u});
        //#end
        //#end
        //#unroll t TMS
        //#unroll l SG
        //#unroll u KU
        let r{t}_{l}_{u} = subgroupBroadcast(av{t}_{u}, {l}u);
        //#end
        //#unroll j TN
        //#unroll u KU
        acc_{t}_{l}[{j}] = fma(r{t}_{l}_{u}, v{j}_{u}, acc_{t}_{l}[{j}]);
        //#end
        //#end
        //#end
        //#end
    }
    let zofs = wid.z * p.cout * ncol;
    //#unroll j TN
    let ok{j} = cb + {j}u < ncol;
    //#end
    //#unroll t TMS
    //#unroll l SG
    {
        let co = co0 + {t}u * SG + {l}u;
        if (co < p.cout) {
            let ob = zofs + co * ncol + cb;
            //#unroll j TN
            if (ok{j}) { out[ob + {j}u] = acc_{t}_{l}[{j}]; }
            //#end
        }
    }
    //#end
    //#end
}
