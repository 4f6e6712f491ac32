// scores.wgsl: what a training step reports, written on the GPU into a ring of per-step
// records, so that the host reads many steps at once (at log intervals) instead of waiting
// for every step. Record `slot` of `out`: (d_loss, g_loss, d_score, g_score), with
// d_score = (mean sigmoid(real) + 1 - mean sigmoid(fake)) / 2 and g_score = mean sigmoid(fake).
// One 256-wide workgroup; fixed-order tree sums, no atomics.
// Bindings: 0 params, 1 real logits, 2 fake logits, 3 d_loss [1], 4 g_loss [1], 5 out (ring).

struct Params {
    n: u32, // logits of each kind
    slot: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> real: array<f32>;
@group(0) @binding(2) var<storage, read> fake: array<f32>;
@group(0) @binding(3) var<storage, read> d_loss: array<f32>;
@group(0) @binding(4) var<storage, read> g_loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> sum_real: array<f32, 256>;
var<workgroup> sum_fake: array<f32, 256>;

fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(256)
fn step_scores(@builtin(local_invocation_id) lid: vec3<u32>) {
    var r = 0.0;
    var f = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) {
        r += sigmoid(real[i]);
        f += sigmoid(fake[i]);
    }
    sum_real[lid.x] = r;
    sum_fake[lid.x] = f;
    for (var k = 128u; k > 0u; k = k >> 1u) {
        workgroupBarrier();
        if (lid.x < k) {
            sum_real[lid.x] = sum_real[lid.x] + sum_real[lid.x + k];
            sum_fake[lid.x] = sum_fake[lid.x] + sum_fake[lid.x + k];
        }
    }
    if (lid.x == 0u) {
        let real_score = sum_real[0] / f32(p.n);
        let fake_score = sum_fake[0] / f32(p.n);
        out[4u * p.slot] = d_loss[0];
        out[4u * p.slot + 1u] = g_loss[0];
        out[4u * p.slot + 2u] = (real_score + (1.0 - fake_score)) / 2.0;
        out[4u * p.slot + 3u] = fake_score;
    }
}
