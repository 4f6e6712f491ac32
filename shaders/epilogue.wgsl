// epilogue.wgsl: the activation a forward kernel applies as it stores each output, so that
// it costs no pass over memory of its own. The spliced constant ACT picks it (0 none, 1 leaky
// ReLU with p.slope, ReLU being slope 0, 2 tanh, 3 sigmoid), so that the driver sees only the
// one in use: a register tile inlines this at each of its up to 1,024 stores, and a run-time
// switch over all four made llvmpipe compile each conv kernel for seconds longer.

fn epilogue(v: f32) -> f32 {
    //#if ACT 0
    return v;
    //#end
    //#if ACT 1
    return select(p.slope * v, v, v > 0.0);
    //#end
    //#if ACT 2
    return tanh(v);
    //#end
    //#if ACT 3
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
    //#end
}
