// adam.wgsl: one fused Adam step over a parameter tensor, in place:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w -= lr_t * m / (sqrt(v) + eps_t)
// with the bias corrections folded into lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t) and
// eps_t = eps * sqrt(1 - b2^t) on the host (in f64), which equals lr * mhat / (sqrt(vhat) + eps).
// Bindings: 0 params, 1 grad (read), 2 w, 3 m, 4 v (read_write). One entry per invocation, p.n
// entries; an entry is a vf of V elements (vec4<f32> where the host can: the element count a
// multiple of 4 and every tensor 16-byte aligned; f32 otherwise), each element updated as in
// the scalar form.

struct Params {
    n: u32,
    beta1: f32,
    beta2: f32,
    lr_t: f32,
    eps_t: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

//#include vf

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<vf>;
@group(0) @binding(2) var<storage, read_write> w: array<vf>;
@group(0) @binding(3) var<storage, read_write> m: array<vf>;
@group(0) @binding(4) var<storage, read_write> v: array<vf>;

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid.x;
    if (i >= p.n) { return; }
    let gi = g[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - p.lr_t * mi / (sqrt(vi) + p.eps_t);
}
