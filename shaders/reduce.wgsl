// reduce.wgsl: deterministic sums (fixed tree order, no atomics).
// Bindings: 0 params, 1 x (read), 2 out (read_write).
// channel_sum: x viewed as [outer, channels, inner]; one 256-wide workgroup per channel (grid
//   split over x/y), out[c] = sum over outer and inner. Serves bias gradients. x is an array
//   of vf, V elements an entry: vec4<f32> where the host can (inner a multiple of 4, x
//   16-byte aligned; on llvmpipe one storage-load loop for four values), else f32; each lane
//   sums its entries as vectors and the four components at the end.
// sum_all: one workgroup; out[0] = alpha * sum(x).
// sum_splits: out[i] = sum over z < outer of x[z * channels + i], in order of z; one element
//   per invocation (adds up the split-reduction partials of a weight gradient, and serves
//   channel_sum's inner = 1 with more channels than rows: a dense layer's bias gradient).

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    alpha: f32,
}

//#include vf

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vf>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

//#include channel_walk

fn tree_sum(lid: u32) -> f32 {
    for (var s = 128u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    }
    workgroupBarrier();
    return partial[0];
}

@compute @workgroup_size(256)
fn channel_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = linear_workgroup(wid, nwg);
    if (c >= p.channels) { return; }
    let m = p.outer * p.inner / V;
    var s = vf();
    var w = walk_start(c, lid.x);
    for (var i = lid.x; i < m; i += 256u) {
        s += x[w.k];
        walk_next(&w);
    }
    partial[lid.x] = hsum(s);
    let total = tree_sum(lid.x);
    if (lid.x == 0u) { out[c] = p.alpha * total; }
}

// The scalar kernels (V = 1 only).
//#if V 1
@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_id) lid: vec3<u32>) {
    let m = p.outer;
    var s = 0.0;
    for (var i = lid.x; i < m; i += 256u) { s += x[i]; }
    partial[lid.x] = s;
    let total = tree_sum(lid.x);
    if (lid.x == 0u) { out[0] = p.alpha * total; }
}

@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid.x;
    if (i >= p.channels) { return; }
    var s = 0.0;
    for (var z = 0u; z < p.outer; z++) { s += x[z * p.channels + i]; }
    out[i] = s;
}
//#end
