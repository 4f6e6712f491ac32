// elementwise.wgsl: activations (forward and backward), add, scale, scalar broadcast.
// Bindings: 0 params, 1 a (read), 2 b (read), 3 out (read_write). One entry per invocation,
// 256 invocations per workgroup, 1-D grid split over x/y; p.n entries. Backward entries take
// a = the saved forward input (relu, leaky_relu) or output (tanh, sigmoid) and b = the
// incoming gradient. An entry is a vf of V elements: vec4<f32> where the host can (element
// count a multiple of 4, every tensor 16-byte aligned; on llvmpipe a storage load is a loop
// over the lanes, and a vec4 load takes one loop for four values), else f32. Every element is
// computed as in the scalar form.

struct Params {
    n: u32,
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
}

//#include vf

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vf>;
@group(0) @binding(2) var<storage, read> b: array<vf>;
@group(0) @binding(3) var<storage, read_write> out: array<vf>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return linear_workgroup(wid, nwg) * 256u + lid.x;
}

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = max(a[i], vf()); }
}

@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = select(vf(), b[i], a[i] > vf()); }
}

@compute @workgroup_size(256)
fn leaky_relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { let x = a[i]; out[i] = select(p.alpha * x, x, x > vf()); }
}

@compute @workgroup_size(256)
fn leaky_relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = select(p.alpha * b[i], b[i], a[i] > vf()); }
}

@compute @workgroup_size(256)
fn tanh_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = tanh(a[i]); }
}

@compute @workgroup_size(256)
fn tanh_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { let y = a[i]; out[i] = b[i] * (1.0 - y * y); }
}

// The two-branch form never evaluates exp of a large positive number.
fn stable_sigmoid(x: vf) -> vf {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vf());
}

@compute @workgroup_size(256)
fn sigmoid_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = stable_sigmoid(a[i]); }
}

@compute @workgroup_size(256)
fn sigmoid_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { let y = a[i]; out[i] = b[i] * y * (1.0 - y); }
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = p.alpha * a[i]; }
}

// out[i] = alpha * a[0]: the backward of a sum or mean, whose upstream gradient is a scalar
// (V = 1 only).
//#if V 1
@compute @workgroup_size(256)
fn broadcast_scalar(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = p.alpha * a[0]; }
}
//#end

// out[i] = alpha: a constant tensor made on the device, so that making one (the seed of a
// backward pass) does not end the command buffer being recorded, as an upload would.
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = index(wid, nwg, lid);
    if (i < p.n) { out[i] = vf(p.alpha); }
}
