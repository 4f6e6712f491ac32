// gemm.wgsl: C[M, N] = A(m, k) * B(k, n) (+ bias), any strides, on adapters with subgroups.
// A workgroup is one subgroup of SG lanes. Every lane computes the same TM rows for its own TN
// columns; the TM row values of A at each k are loaded once across the subgroup (lane l loads
// rows l, l + SG, ...) and handed to every lane by subgroupBroadcast. On llvmpipe, where each
// load costs a per-lane loop, this cuts A's loads SG-fold; on GPUs it is a register broadcast.
// Bindings: 0 params, 1 a, 2 b, 3 bias (read; ignored when bias_mode = 0), 4 c (read_write).
// Constants: SG (subgroup size), TM (multiple of SG), TMS = TM / SG, TN (multiple of 4),
// TN4 = TN / 4, KU (steps of k a loop iteration), GV (1: A and B read as vec4s, KU = 4: a
// row's 4 values of k and a k's 4 columns a load; on llvmpipe a storage load is a loop over
// the lanes, and a vec4 load takes one loop for four values. The same products in the same
// order: the result is GV = 0's bit for bit).
// Grid: x = ceil(N / (SG * TN)), y = ceil(M / TM).

//#include matmul_common

@compute @workgroup_size(SG)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let m0 = wid.y * TM;
    let n0 = (wid.x * SG + lid.x) * TN;
    //#unroll s TMS
    let arow{s} = a_row(min(m0 + {s}u * SG + lid.x, p.m - 1u));
    //#end
    //#if GV 0
    //#unroll q TN4
    //#unroll e 4
    let col{q}_{e} = b_col(min(n0 + {q}u * 4u + {e}u, p.n - 1u));
    //#end
    //#end
    //#end
    //#if GV 1
    // Columns past n take the last vec4 (their results are not stored).
    //#unroll q TN4
    let colq{q} = b_col(min(n0 + {q}u * 4u, p.n - 4u)) / 4u;
    //#end
    //#end
    // Four columns an accumulator vector: the same multiply-adds (llvmpipe splits vectors into
    // lanes anyway) in a quarter of the expressions, which naga parses at every process start
    // (in time that grew faster than their count before third_party/naga's fix).
    //#unroll s TMS
    //#unroll l SG
    var acc_{s}_{l} = array<vec4<f32>, TN4>();
    //#end
    //#end
    // KU steps of k an iteration, each accumulator taking its KU multiply-adds in a row: on
    // llvmpipe the tile's accumulators live in stack slots, and this order loads and stores
    // each once per KU multiply-adds instead of once per one (0.59 of the time at KU = 4 and
    // 64 x 16, BENCHMARKS "Accumulator-major order"). Steps past p.k load a clamped index and count 0.
    for (var k = 0u; k < p.k; k += KU) {
        //#if GV 1
        let kq = k / 4u;
        //#unroll s TMS
        let aq{s} = a[arow{s} / 4u + kq];
        //#end
        //#unroll u KU
        //#unroll s TMS
        let av{s}_{u} = aq{s}[{u}];
        //#end
        let kb{u} = (k + {u}u) * (p.sb_k / 4u);
        //#unroll q TN4
        let b{q}_{u} = b[colq{q} + kb{u}];
        //#end
        //#end
        //#end
        //#if GV 0
        //#unroll u KU
        let in{u} = k + {u}u < p.k;
        let kc{u} = min(k + {u}u, p.k - 1u);
        //#unroll s TMS
        let av{s}_{u} = select(0.0, a[arow{s} + kc{u} * p.sa_k], in{u});
        //#end
        let kb{u} = kc{u} * p.sb_k;
        //#unroll q TN4
        let b{q}_{u} = select(vec4<f32>(), vec4<f32>(b[col{q}_0 + kb{u}], b[col{q}_1 + kb{u}], b[col{q}_2 + kb{u}], b[col{q}_3 + kb{u}]), in{u});
        //#end
        //#end
        //#end
        //#unroll s TMS
        //#unroll l SG
        //#unroll u KU
        let a{s}_{l}_{u} = vec4<f32>(subgroupBroadcast(av{s}_{u}, {l}u));
        //#end
        //#unroll q TN4
        //#unroll u KU
        acc_{s}_{l}[{q}] = fma(a{s}_{l}_{u}, b{q}_{u}, acc_{s}_{l}[{q}]);
        //#end
        //#end
        //#end
        //#end
    }
    // The stores with their bounds and bias resolved once per column and row, not inside
    // each of the TM x TN unrolled stores: per-store branches made llvmpipe take seconds to
    // compile this kernel at every process start. Adding the unused bias as 0.0 can turn a
    // -0.0 result into +0.0, nothing else.
    //#unroll j TN
    let cn{j} = n0 + {j}u;
    let ok{j} = cn{j} < p.n;
    var bn{j} = 0.0;
    if (p.bias_mode == 1u) { bn{j} = bias[min(cn{j}, p.n - 1u)]; }
    let cb{j} = bn{j};
    //#end
    //#unroll s TMS
    //#unroll l SG
    {
        let m = m0 + {s}u * SG + {l}u;
        if (m < p.m) {
            var bm = 0.0;
            if (p.bias_mode == 2u) { bm = bias[m]; }
            let rb = bm;
            let row = m * p.n;
            //#unroll j TN
            if (ok{j}) { c[row + cn{j}] = acc_{s}_{l}[{({j} / 4)}][{({j} % 4)}] + cb{j} + rb; }
            //#end
        }
    }
    //#end
    //#end
}
