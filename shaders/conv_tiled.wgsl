// conv_tiled.wgsl: the conv forward primitive (conv2d forward, conv_transpose2d input gradient)
// as a classic shared-memory tiled implicit GEMM, for GPUs, where workgroup memory is fast and
// a warp's loads coalesce; llvmpipe gains nothing from it (DESIGN §3a), which is why conv.wgsl
// keeps one subgroup per workgroup and no shared memory.
//   y[n,co,oy,ox] = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
// GEMM: rows = cout (A = w, contiguous along k), columns = output pixels (B = the im2col view
// of x, computed on the fly: never stored), k = (ci, ky, kx).
// A 16 x 16 workgroup computes a BM x BN = 64 x 64 output tile, each invocation 4 x 4 outputs
// spread 16 apart (rows lid.y + 16 i, columns lid.x + 16 j), so that neighbouring invocations
// store neighbouring pixels and read neighbouring shared-memory words. Every BK = 16 steps of k
// the workgroup stages a 64 x 16 slab of w and a 16 x 64 slab of the im2col view in shared
// memory, four values an invocation each. Summation order over k is the same for every output,
// and there are no atomics: results are deterministic.
// Grid: x = ceil(pixels / 64), y = ceil(cout / 64).

//#include conv_common
//#include epilogue

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> a_tile: array<f32, 1024>; // [k][m], BK x BM
var<workgroup> b_tile: array<f32, 1024>; // [k][n], BK x BN

@compute @workgroup_size(16, 16)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let npix = p.batch * p.oh * p.ow;
    let ohw = p.oh * p.ow;
    let hw = p.h * p.w;
    let kk = p.kh * p.kw;
    let kdim = p.cin * kk;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    var acc = array<f32, 16>();
    for (var k0 = 0u; k0 < kdim; k0 += BK) {
        for (var r = 0u; r < 4u; r++) {
            // w slab: element e = (m, kq), kq fastest, so a warp reads runs of 16 along k.
            let e = li + 256u * r;
            let m = e / BK;
            let kq = e - m * BK;
            let gm = m0 + m;
            let gk = k0 + kq;
            let ok = gm < p.cout && gk < kdim;
            a_tile[kq * BM + m] = select(0.0, b[select(0u, gm * kdim + gk, ok)], ok);
        }
        for (var r = 0u; r < 4u; r++) {
            // im2col slab: element e = (kq, n), n fastest, so a warp reads neighbouring pixels.
            let e = li + 256u * r;
            let kq = e / BN;
            let n = e - kq * BN;
            let gk = k0 + kq;
            let gn = n0 + n;
            let ci = gk / kk;
            let t = gk - ci * kk;
            let ky = t / p.kw;
            let kx = t - ky * p.kw;
            let img = gn / ohw;
            let rem = gn - img * ohw;
            let oy = rem / p.ow;
            let ox = rem - oy * p.ow;
            let iy = i32(oy * p.stride + ky) - i32(p.pad_t);
            let ix = i32(ox * p.stride + kx) - i32(p.pad_l);
            let ok = gk < kdim && gn < npix && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
            let at = (img * p.cin + ci) * hw + u32(max(iy, 0)) * p.w + u32(max(ix, 0));
            b_tile[kq * BN + n] = select(0.0, a[select(0u, at, ok)], ok);
        }
        workgroupBarrier();
        for (var kq = 0u; kq < BK; kq++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) { av[i] = a_tile[kq * BM + lid.y + 16u * i]; }
            for (var j = 0u; j < 4u; j++) { bv[j] = b_tile[kq * BN + lid.x + 16u * j]; }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let co = m0 + lid.y + 16u * i;
        if (co < p.cout) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[co]; }
            for (var j = 0u; j < 4u; j++) {
                let pix = n0 + lid.x + 16u * j;
                if (pix < npix) {
                    let img = pix / ohw;
                    out[(img * p.cout + co) * ohw + pix - img * ohw] = epilogue(acc[i * 4u + j] + bv);
                }
            }
        }
    }
}
