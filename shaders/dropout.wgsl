// dropout.wgsl: inverted dropout with a counter-based hash, so the mask is a pure function of
// (seed, index) and the backward pass recomputes it instead of storing it.
// Bindings: 0 params, 1 x (read), 2 out (read_write). One element per invocation.

struct Params {
    n: u32,
    seed: u32,
    p_drop: f32,
    scale: f32, // 1 / (1 - p_drop)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// PCG-style integer hash (Jarzynski & Olano 2020).
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn keep(i: u32) -> bool {
    let u = f32(pcg(pcg(i) ^ p.seed) >> 8u) * (1.0 / 16777216.0);
    return u >= p.p_drop;
}

// Used for both directions: the backward of y = mask * x * scale is dx = mask * dy * scale.
@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid.x;
    if (i < p.n) { out[i] = select(0.0, x[i] * p.scale, keep(i)); }
}
