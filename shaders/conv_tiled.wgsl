// conv_tiled.wgsl: the three conv primitives as classic shared-memory tiled implicit GEMMs,
// for GPUs, where workgroup memory is fast and a warp's loads coalesce; llvmpipe gains nothing
// from them (DESIGN §3a), which is why conv.wgsl keeps one subgroup per workgroup and no
// shared memory. Bindings and parameters are conv_common's, bound as for conv.wgsl's kernels.
//
//   forward      y[n,co,oy,ox] = sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy*s+ky-pt,ox*s+kx-pl]
//                rows = cout (A = w), columns = output pixels (B = the im2col view of x),
//                k = (ci, ky, kx). a = x, b = w. Grid: x = ceil(pixels / 64), y = ceil(cout / 64).
//   input_grad   per stride phase (grid z, as conv.wgsl): rows = cin (A = the phase's taps of
//                w), columns = the phase's input pixels, k = (co, the phase's ky, kx); B reads
//                dy where those taps land. a = dy, b = w. Grid x is sized for phase (0, 0).
//   weight_grad  rows = cout (A = dy), columns = (ci, ky, kx) (B = x at the tap's offset),
//                k = (image of split z, oy, ox); writes the split's partial dw, as conv_weight_grad.wgsl.
//                a = dy, b = x. Grid z = splits.
//
// A 16 x 16 workgroup computes a BM x BN = 64 x 64 output tile, each invocation 4 x 4 outputs
// spread 16 apart (rows lid.y + 16 i, columns lid.x + 16 j), so that neighbouring invocations
// store neighbouring pixels and read neighbouring shared-memory words. Every BK = 16 steps of k
// the workgroup stages a 64 x 16 slab of A and a 16 x 64 slab of B in shared memory, four
// values an invocation each. Summation order over k is fixed and there are no atomics:
// results are deterministic.

//#include conv_common
//#include epilogue

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

const FORWARD: u32 = 0u;
const INPUT_GRAD: u32 = 1u;
const WEIGHT_GRAD: u32 = 2u;

var<workgroup> a_tile: array<f32, 1024>; // [k][m], BK x BM
var<workgroup> b_tile: array<f32, 1024>; // [k][n], BK x BN

// The GEMM one workgroup works on. `kind` is a constant in each entry point, so the switches
// below fold away when the driver compiles it.
struct Gemm {
    kind: u32,
    m: u32, // rows
    n: u32, // columns
    k: u32, // depth
    // input_grad: the stride phase, its pixel counts, its first taps and taps per axis
    ph_y: u32,
    ph_x: u32,
    qh: u32,
    qw: u32,
    ky0: u32,
    kx0: u32,
    tkx: u32,
    // weight_grad: the split's first image
    n_first: u32,
}

// The input gradient's k = (co, jy, jx) as (co, ky, kx): the phase's taps are
// ky = ky0 + jy * s and kx = kx0 + jx * s.
fn phase_tap(g: Gemm, gk: u32) -> vec3<u32> {
    let taps = g.k / p.cout;
    let co = gk / taps;
    let t = gk - co * taps;
    let jy = t / g.tkx;
    return vec3<u32>(co, g.ky0 + jy * p.stride, g.kx0 + (t - jy * g.tkx) * p.stride);
}

// A[gm, gk], for gm < m and gk < k.
fn a_elem(g: Gemm, gm: u32, gk: u32) -> f32 {
    switch g.kind {
        case 1u: { // INPUT_GRAD: w[co, ci = gm, ky, kx]
            let tap = phase_tap(g, gk);
            return b[((tap.x * p.cin + gm) * p.kh + tap.y) * p.kw + tap.z];
        }
        case 2u: { // WEIGHT_GRAD: dy[n, co = gm, oy, ox]
            let ohw = p.oh * p.ow;
            let img = g.n_first + gk / ohw;
            return a[(img * p.cout + gm) * ohw + gk % ohw];
        }
        default: { // FORWARD: w[co = gm, (ci, ky, kx) = gk]
            return b[gm * g.k + gk];
        }
    }
}

// B[gk, gn], for gk < k and gn < n.
fn b_elem(g: Gemm, gk: u32, gn: u32) -> f32 {
    switch g.kind {
        case 1u: { // INPUT_GRAD: dy at the pixel this phase's tap lands on, or 0 outside dy
            let tap = phase_tap(g, gk);
            let co = tap.x;
            let ky = tap.y;
            let kx = tap.z;
            let qhw = g.qh * g.qw;
            let img = gn / qhw;
            let qy = (gn - img * qhw) / g.qw;
            let qx = gn - img * qhw - qy * g.qw;
            // Exact divisions: ph + pad - k is a multiple of the stride for this phase's taps.
            let y = i32(qy) + (i32(g.ph_y + p.pad_t) - i32(ky)) / i32(p.stride);
            let x = i32(qx) + (i32(g.ph_x + p.pad_l) - i32(kx)) / i32(p.stride);
            let ok = y >= 0 && y < i32(p.oh) && x >= 0 && x < i32(p.ow);
            let at = ((img * p.cout + co) * p.oh + u32(max(y, 0))) * p.ow + u32(max(x, 0));
            return select(0.0, a[select(0u, at, ok)], ok);
        }
        case 2u: { // WEIGHT_GRAD: the im2col view of x, k = (image, output pixel), columns = taps
            let ohw = p.oh * p.ow;
            let kk = p.kh * p.kw;
            let ci = gn / kk;
            let at = im2col_at(g.n_first + gk / ohw, ci, gn - ci * kk, gk % ohw);
            return select(0.0, b[max(at, 0)], at >= 0);
        }
        default: { // FORWARD: the im2col view of x, k = taps, columns = output pixels
            let kk = p.kh * p.kw;
            let ohw = p.oh * p.ow;
            let ci = gk / kk;
            let img = gn / ohw;
            let at = im2col_at(img, ci, gk - ci * kk, gn - img * ohw);
            return select(0.0, a[max(at, 0)], at >= 0);
        }
    }
}

// Where the im2col view of x [batch, cin, h, w] reads for image img, input channel ci, tap
// t = ky * kw + kx and output pixel r = oy * ow + ox: an index into x, or -1 in the padding.
fn im2col_at(img: u32, ci: u32, t: u32, r: u32) -> i32 {
    let ky = t / p.kw;
    let oy = r / p.ow;
    let iy = i32(oy * p.stride + ky) - i32(p.pad_t);
    let ix = i32((r - oy * p.ow) * p.stride + t - ky * p.kw) - i32(p.pad_l);
    let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    return select(-1, i32(((img * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)), ok);
}

// This invocation's 4 x 4 outputs of the workgroup's tile (rows m0 + lid.y + 16 i, columns
// n0 + lid.x + 16 j), summed over all of k in slabs of BK.
fn tile_product(g: Gemm, m0: u32, n0: u32, lid: vec3<u32>, li: u32) -> array<f32, 16> {
    var acc = array<f32, 16>();
    for (var k0 = 0u; k0 < g.k; k0 += BK) {
        for (var r = 0u; r < 4u; r++) {
            // A slab: element e = (m, kq), kq fastest, so a warp reads runs of 16 along k.
            let e = li + 256u * r;
            let m = e / BK;
            let kq = e - m * BK;
            let ok = m0 + m < g.m && k0 + kq < g.k;
            a_tile[kq * BM + m] = select(0.0, a_elem(g, min(m0 + m, g.m - 1u), min(k0 + kq, g.k - 1u)), ok);
        }
        for (var r = 0u; r < 4u; r++) {
            // B slab: element e = (kq, n), n fastest, so a warp reads neighbouring columns.
            let e = li + 256u * r;
            let kq = e / BN;
            let n = e - kq * BN;
            let ok = k0 + kq < g.k && n0 + n < g.n;
            b_tile[kq * BN + n] = select(0.0, b_elem(g, min(k0 + kq, g.k - 1u), min(n0 + n, g.n - 1u)), ok);
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
    return acc;
}

// Where output (row, col) of a forward or input-gradient GEMM goes in `out`.
fn out_index(g: Gemm, row: u32, col: u32) -> u32 {
    if (g.kind == INPUT_GRAD) {
        // row = ci, col = (image, qy, qx) of the phase, at iy = qy * s + ph_y (likewise x)
        let qhw = g.qh * g.qw;
        let img = col / qhw;
        let qy = (col - img * qhw) / g.qw;
        let qx = col - img * qhw - qy * g.qw;
        return ((img * p.cin + row) * p.h + qy * p.stride + g.ph_y) * p.w + qx * p.stride + g.ph_x;
    }
    // row = co, col = (image, output pixel)
    let ohw = p.oh * p.ow;
    let img = col / ohw;
    return (img * p.cout + row) * ohw + col - img * ohw;
}

// Stores this invocation's outputs of a forward or input-gradient GEMM with the bias of their
// row and the epilogue.
fn store_activated(g: Gemm, acc: array<f32, 16>, m0: u32, n0: u32, lid: vec3<u32>) {
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + lid.y + 16u * i;
        if (row < g.m) {
            var bv = 0.0;
            if (p.has_bias != 0u) { bv = bias[row]; }
            //#if NORM 1
            bn = bn_row(row, g.m);
            //#end
            for (var j = 0u; j < 4u; j++) {
                let col = n0 + lid.x + 16u * j;
                if (col < g.n) { out[out_index(g, row, col)] = epilogue(acc[i * 4u + j] + bv); }
            }
        }
    }
}

fn gemm_of(kind: u32) -> Gemm {
    return Gemm(kind, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 1u, 0u);
}

@compute @workgroup_size(16, 16)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let ohw = p.oh * p.ow;
    var g = gemm_of(FORWARD);
    g.m = p.cout;
    g.n = p.batch * ohw;
    g.k = p.cin * p.kh * p.kw;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    store_activated(g, tile_product(g, m0, n0, lid, li), m0, n0, lid);
}

@compute @workgroup_size(16, 16)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let phase = stride_phase(wid.z);
    let s = p.stride;
    var g = gemm_of(INPUT_GRAD);
    g.ph_y = phase.x;
    g.ph_x = phase.y;
    g.qh = phase.z;
    g.qw = phase.w;
    g.m = p.cin;
    g.n = p.batch * g.qh * g.qw;
    let n0 = wid.x * BN;
    // A smaller phase than (0, 0) leaves the end of the grid idle: the whole workgroup
    // returns, before any barrier.
    if (n0 >= g.n) { return; }
    // Taps that reach this phase: ky = (ph_y + pt) mod s, then every s-th (likewise x).
    g.ky0 = (g.ph_y + p.pad_t) % s;
    g.kx0 = (g.ph_x + p.pad_l) % s;
    let tky = select(0u, (p.kh - g.ky0 + s - 1u) / s, g.ky0 < p.kh);
    g.tkx = select(0u, (p.kw - g.kx0 + s - 1u) / s, g.kx0 < p.kw);
    g.k = p.cout * tky * g.tkx;
    let m0 = wid.y * BM;
    var acc = array<f32, 16>();
    if (g.k > 0u) { acc = tile_product(g, m0, n0, lid, li); }
    store_activated(g, acc, m0, n0, lid);
}

@compute @workgroup_size(16, 16)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    var g = gemm_of(WEIGHT_GRAD);
    g.m = p.cout;
    g.n = p.cin * p.kh * p.kw;
    g.n_first = wid.z * p.split;
    g.k = (min(g.n_first + p.split, p.batch) - g.n_first) * p.oh * p.ow;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let acc = tile_product(g, m0, n0, lid, li);
    let zofs = wid.z * p.cout * g.n;
    for (var i = 0u; i < 4u; i++) {
        let co = m0 + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + lid.x + 16u * j;
            if (co < p.cout && col < g.n) { out[zofs + co * g.n + col] = acc[i * 4u + j]; }
        }
    }
}
