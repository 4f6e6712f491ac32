// epilogue.wgsl: the activation a forward kernel applies as it stores each output, so that
// it costs no pass over memory of its own. The spliced constant ACT picks it (0 none, 1 leaky
// ReLU with p.slope, ReLU being slope 0, 2 tanh, 3 sigmoid), so that the driver sees only the
// one in use: a register tile inlines this at each of its up to 1,024 stores, and a run-time
// switch over all four made llvmpipe compile each conv kernel for seconds longer.

// NORM = 1: a batch norm in inference mode follows the conv, and is applied here as well,
// before the activation. `bias` then holds [conv bias | mean | invstd | gamma | beta], C values
// each for the output's C channels (`ops::batch_norm::inference_epilogue`), and each kernel
// loads its channel's four statistics into `bn` where it loads the bias (`bn_row`). The
// arithmetic is bn_apply's, in its order, so on an adapter that does not contract a multiply
// and an add into one rounding the fused conv stores the bits that the conv followed by
// batch_norm does. With NORM = 0 the driver sees exactly the code it saw before NORM existed.
//#if NORM 1
var<private> bn: vec4<f32>;

fn bn_row(c: u32, n: u32) -> vec4<f32> {
    return vec4<f32>(bias[n + c], bias[2u * n + c], bias[3u * n + c], bias[4u * n + c]);
}

fn epilogue(v: f32) -> f32 {
    return activation((v - bn.x) * bn.y * bn.z + bn.w);
}

fn activation(v: f32) -> f32 {
//#end
//#if NORM 0
fn epilogue(v: f32) -> f32 {
//#end
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
