// loss.wgsl: binary cross-entropy with logits, per-sample targets, mean over samples, in the
// stable form max(x, 0) - x * t + log(1 + exp(-|x|)).
// bce_forward: one 256-wide workgroup, fixed-order tree sum into out[0].
// bce_backward: dx = (sigmoid(x) - t) * g / n, with g = grad[0] the upstream scalar gradient.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn bce_forward(@builtin(local_invocation_id) lid: vec3<u32>) {
    var s = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) {
        let x = logits[i];
        s += max(x, 0.0) - x * targets[i] + log(1.0 + exp(-abs(x)));
    }
    partial[lid.x] = s;
    for (var k = 128u; k > 0u; k = k >> 1u) {
        workgroupBarrier();
        if (lid.x < k) { partial[lid.x] = partial[lid.x] + partial[lid.x + k]; }
    }
    if (lid.x == 0u) { out[0] = partial[0] / f32(p.n); }
}

@compute @workgroup_size(256)
fn bce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid.x;
    if (i < p.n) {
        let x = logits[i];
        let e = exp(-abs(x));
        let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
        out[i] = (sig - targets[i]) * grad[0] / f32(p.n);
    }
}
