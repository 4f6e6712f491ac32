// batch_norm.wgsl: per-channel batch normalisation, x viewed as [batch, channels, inner].
// stats holds [mean(C), invstd(C)]. All reductions are fixed-order tree sums (deterministic).
//   bn_stats           one workgroup per channel: batch mean and 1/sqrt(var + eps) (biased var),
//                      and when update != 0 the running statistics with momentum (unbiased var).
//   bn_running_stats   stats from the running statistics (inference mode).
//   bn_inference_epilogue  [conv bias | mean | invstd | gamma | beta] (C each) from the
//                      running statistics, for a conv that applies this batch norm in its
//                      epilogue (epilogue.wgsl, NORM = 1): invstd as bn_running_stats has it.
//   bn_apply           y = act((x - mean) * invstd * gamma + beta), E consecutive elements of
//                      one channel an invocation (E divides inner; EV = E / V entries).
//   bn_backward_reduce one workgroup per channel: dbeta = sum(dz), dgamma = sum(dz * xhat).
//   bn_backward_dx     dx = gamma * invstd * (dz - dbeta / M - xhat * dgamma / M), closed form
//                      (training, update != 0), or gamma * invstd * dz (inference).
// act is the identity (act = 0) or a leaky ReLU with slope p.slope (act = 1; relu is slope 0),
// fused so that the activation costs no pass of its own. Its derivative is read off the saved
// output y (y > 0 exactly where the pre-activation z > 0, for any slope >= 0), so the backward
// kernels form dz = dy * act'(y) on the fly instead of materialising it.
// On llvmpipe every storage load is a loop over the lanes and integer division is scalar, so
// the element-wise kernels look a channel's values up once for E elements, and the reductions
// step their (image, offset) index instead of dividing for every element; both add the same
// terms in the same order as one element an invocation would. And x, dy, out and y_saved are
// arrays of vf, V elements an entry: vec4<f32> where the host can (every channel plane a whole
// number of vec4s, the tensors 16-byte aligned), one storage-load loop for four values; f32
// otherwise. The element-wise kernels compute each element as the scalar form does; the
// reductions sum each lane's entries as vectors and the four components at the end.

struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    momentum: f32,
    update: u32,
    act: u32,
    slope: f32,
}

//#include vf

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vf>;
@group(0) @binding(2) var<storage, read> dy: array<vf>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<vf>;
@group(0) @binding(7) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(9) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(10) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(12) var<storage, read> dgamma_in: array<f32>;
@group(0) @binding(13) var<storage, read> dbeta_in: array<f32>;
@group(0) @binding(14) var<storage, read> running_mean_in: array<f32>;
@group(0) @binding(15) var<storage, read> running_var_in: array<f32>;
@group(0) @binding(16) var<storage, read> y_saved: array<vf>;
@group(0) @binding(17) var<storage, read> conv_bias: array<f32>;

fn activate(z: vf) -> vf {
    if (p.act == 0u) { return z; }
    return select(p.slope * z, z, z > vf());
}

// dy * act'(z), from the forward output at entry k.
fn pre_activation_grad(k: u32) -> vf {
    let g = dy[k];
    if (p.act == 0u) { return g; }
    return select(p.slope * g, g, y_saved[k] > vf());
}

var<workgroup> part_a: array<f32, 256>;
var<workgroup> part_b: array<f32, 256>;

fn tree_sum2(lid: u32) {
    for (var s = 128u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) {
            part_a[lid] = part_a[lid] + part_a[lid + s];
            part_b[lid] = part_b[lid] + part_b[lid + s];
        }
    }
    workgroupBarrier();
}

//#include channel_walk

@compute @workgroup_size(256)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = linear_workgroup(wid, nwg);
    if (c >= p.channels) { return; }
    let m = p.batch * p.inner;
    let mv = m / V;
    var s = vf();
    var w = walk_start(c, lid.x);
    for (var i = lid.x; i < mv; i += 256u) { s += x[w.k]; walk_next(&w); }
    part_a[lid.x] = hsum(s);
    part_b[lid.x] = 0.0;
    tree_sum2(lid.x);
    let mean = part_a[0] / f32(m);
    workgroupBarrier();
    // Two passes over the data: sum((x - mean)^2) keeps precision that E[x^2] - mean^2 loses.
    var q = vf();
    w = walk_start(c, lid.x);
    for (var i = lid.x; i < mv; i += 256u) { let d = x[w.k] - mean; q += d * d; walk_next(&w); }
    part_a[lid.x] = hsum(q);
    tree_sum2(lid.x);
    if (lid.x == 0u) {
        let var_b = part_a[0] / f32(m);
        stats_out[c] = mean;
        stats_out[p.channels + c] = inverseSqrt(var_b + p.eps);
        if (p.update != 0u) {
            let var_u = part_a[0] / f32(max(m, 2u) - 1u);
            running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
            running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * var_u;
        }
    }
}

@compute @workgroup_size(64)
fn bn_running_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c < p.channels) {
        stats_out[c] = running_mean_in[c];
        stats_out[p.channels + c] = inverseSqrt(running_var_in[c] + p.eps);
    }
}

@compute @workgroup_size(64)
fn bn_inference_epilogue(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let n = p.channels;
    if (c < n) {
        stats_out[c] = conv_bias[c];
        stats_out[n + c] = running_mean_in[c];
        stats_out[2u * n + c] = inverseSqrt(running_var_in[c] + p.eps);
        stats_out[3u * n + c] = gamma[c];
        stats_out[4u * n + c] = beta[c];
    }
}

@compute @workgroup_size(256)
fn bn_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i0 = (linear_workgroup(wid, nwg) * 256u + lid.x) * E;
    if (i0 >= p.batch * p.channels * p.inner) { return; }
    let c = (i0 / p.inner) % p.channels;
    let mean = stats[c];
    let invstd = stats[p.channels + c];
    let g = gamma[c];
    let b = beta[c];
    let k0 = i0 / V;
    //#unroll e EV
    out[k0 + {e}u] = activate((x[k0 + {e}u] - mean) * invstd * g + b);
    //#end
}

@compute @workgroup_size(256)
fn bn_backward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = linear_workgroup(wid, nwg);
    if (c >= p.channels) { return; }
    let m = p.batch * p.inner;
    let mean = stats[c];
    let invstd = stats[p.channels + c];
    var sa = vf();
    var sb = vf();
    var w = walk_start(c, lid.x);
    for (var i = lid.x; i < m / V; i += 256u) {
        let k = w.k;
        let g = pre_activation_grad(k);
        sa += g * (x[k] - mean) * invstd;
        sb += g;
        walk_next(&w);
    }
    part_a[lid.x] = hsum(sa);
    part_b[lid.x] = hsum(sb);
    tree_sum2(lid.x);
    if (lid.x == 0u) {
        dgamma[c] = part_a[0];
        dbeta[c] = part_b[0];
    }
}

@compute @workgroup_size(256)
fn bn_backward_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i0 = (linear_workgroup(wid, nwg) * 256u + lid.x) * E;
    if (i0 >= p.batch * p.channels * p.inner) { return; }
    let c = (i0 / p.inner) % p.channels;
    let m = f32(p.batch * p.inner);
    let invstd = stats[p.channels + c];
    let gi = gamma[c] * invstd;
    if (p.update == 0u) {
        // Inference mode: the statistics are constants, not functions of x.
        //#unroll e EV
        out[i0 / V + {e}u] = gi * pre_activation_grad(i0 / V + {e}u);
        //#end
        return;
    }
    let mean = stats[c];
    let db = dbeta_in[c] / m;
    let dg = dgamma_in[c];
    let k0 = i0 / V;
    //#unroll e EV
    out[k0 + {e}u] = gi * (pre_activation_grad(k0 + {e}u) - db - (x[k0 + {e}u] - mean) * invstd * dg / m);
    //#end
}
