// epilogue.wgsl: the activation a forward kernel applies as it stores each output, so that
// it costs no pass over memory of its own. Needs p.act (0 none, 1 leaky ReLU with p.slope,
// ReLU being slope 0, 2 tanh, 3 sigmoid) and p.slope in the including kernel's parameters.

fn epilogue(v: f32) -> f32 {
    switch p.act {
        case 1u: { return select(p.slope * v, v, v > 0.0); }
        case 2u: { return tanh(v); }
        case 3u: {
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
        }
        default: { return v; }
    }
}
