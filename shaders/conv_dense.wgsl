// conv_dense.wgsl: the three conv primitives for a conv whose kernel covers its whole input
// (no padding, one output pixel), which is a dense layer: with k = (ci, ky, kx), both x [batch,
// K] and w [cout, K] are contiguous along k, K = cin * kh * kw, a multiple of 4 here.
//   conv2d_forward      y[n,co]  = sum_k w[co,k] * x[n,k] (+ bias[co], epilogue)
//   conv2d_input_grad   dx[n,k]  = sum_co dy[n,co] * w[co,k] (+ bias[ci], epilogue: the
//                                  transposed conv of a 1 x 1 input)
//   conv2d_weight_grad  dw[co,k] = sum_n dy[n,co] * x[n,k]
// D's 1-logit layer is one (K = 8192, cout = 1). The GEMM kernels of conv.wgsl give such a
// layer one workgroup (one output row) whose lanes each walk 16 images along k: one core on
// lavapipe, 8 of its 16 x 8 register tile idle. Here the lanes split k instead and read both
// operands as vec4 (llvmpipe loads a storage buffer lane by lane, so a vec4 load costs one
// lane's turn for four values), and the forward adds the lanes' partial sums in a fixed order
// in workgroup memory: no atomics, the same bits every run.
// Bindings: 0 params (conv_params); 1 a, a scalar operand (dy); 6 a4, a vec4 operand (the
// forward's x); 2 b4 (w, or the weight gradient's x); 3 bias (ignored unless has_bias); 4 out
// (the forward's y), 5 out4 (dx, dw). Each entry point binds only those it reads.

//#include conv_params
//#include epilogue

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4<f32>>;

var<workgroup> partial: array<f32, WG * NB>;

// a4 = x, b4 = w, out = y [batch, cout]. A workgroup computes NB images of one output channel.
// Grid: x = ceil(batch / NB), y = cout.
@compute @workgroup_size(WG)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let k4 = p.cin * p.kh * p.kw / 4u;
    let co = wid.y;
    let n0 = wid.x * NB;
    let wrow = co * k4;
    //#unroll j NB
    let xrow{j} = min(n0 + {j}u, p.batch - 1u) * k4;
    var acc{j} = vec4<f32>(0.0);
    //#end
    for (var i = lid.x; i < k4; i += WG) {
        let wv = b4[wrow + i];
        //#unroll j NB
        acc{j} = fma(a4[xrow{j} + i], wv, acc{j});
        //#end
    }
    //#unroll j NB
    partial[{j}u * WG + lid.x] = (acc{j}.x + acc{j}.y) + (acc{j}.z + acc{j}.w);
    //#end
    workgroupBarrier();
    let n = n0 + lid.x;
    if (lid.x < NB && n < p.batch) {
        var sum = 0.0;
        for (var l = 0u; l < WG; l++) {
            sum += partial[lid.x * WG + l];
        }
        if (p.has_bias != 0u) { sum += bias[co]; }
        out[n * p.cout + co] = epilogue(sum);
    }
}

// a = dy [batch, cout], b4 = w, out4 = dx [batch, K]. A lane computes 4 consecutive k of NB
// images. Grid: x = ceil(K / 4 / WG), y = ceil(batch / NB).
@compute @workgroup_size(WG)
fn conv2d_input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let k4 = p.cin * p.kh * p.kw / 4u;
    let i = wid.x * WG + lid.x;
    if (i >= k4) { return; }
    let n0 = wid.y * NB;
    //#unroll j NB
    let dyrow{j} = min(n0 + {j}u, p.batch - 1u) * p.cout;
    var acc{j} = vec4<f32>(0.0);
    //#end
    for (var co = 0u; co < p.cout; co++) {
        let wv = b4[co * k4 + i];
        //#unroll j NB
        acc{j} = fma(vec4<f32>(a[dyrow{j} + co]), wv, acc{j});
        //#end
    }
    var bv = vec4<f32>(0.0);
    if (p.has_bias != 0u) {
        let khw = p.kh * p.kw;
        let k = 4u * i;
        bv = vec4<f32>(bias[k / khw], bias[(k + 1u) / khw], bias[(k + 2u) / khw], bias[(k + 3u) / khw]);
    }
    //#unroll j NB
    if (n0 + {j}u < p.batch) {
        let v{j} = acc{j} + bv;
        out4[(n0 + {j}u) * k4 + i] = vec4<f32>(epilogue(v{j}.x), epilogue(v{j}.y), epilogue(v{j}.z), epilogue(v{j}.w));
    }
    //#end
}

// a = dy [batch, cout], b4 = x [batch, K], out4 = dw [cout, K]. A lane computes 4 consecutive
// k of NC output channels, adding the images in order. Grid: x = ceil(K / 4 / WG),
// y = ceil(cout / NC).
@compute @workgroup_size(WG)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let k4 = p.cin * p.kh * p.kw / 4u;
    let i = wid.x * WG + lid.x;
    if (i >= k4) { return; }
    let c0 = wid.y * NC;
    //#unroll c NC
    let co{c} = min(c0 + {c}u, p.cout - 1u);
    var acc{c} = vec4<f32>(0.0);
    //#end
    for (var n = 0u; n < p.batch; n++) {
        let xv = b4[n * k4 + i];
        //#unroll c NC
        acc{c} = fma(vec4<f32>(a[n * p.cout + co{c}]), xv, acc{c});
        //#end
    }
    //#unroll c NC
    if (c0 + {c}u < p.cout) {
        out4[co{c} * k4 + i] = acc{c};
    }
    //#end
}
