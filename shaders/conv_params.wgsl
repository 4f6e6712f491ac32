// conv_params.wgsl: the conv family's parameter block (`Params` in src/ops/conv/mod.rs), shared
// by conv_common.wgsl's kernels and conv_dense.wgsl, whose storage bindings are vec4 arrays.

struct Params {
    batch: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_t: u32,
    pad_l: u32,
    has_bias: u32,
    split: u32, // weight_grad: images per reduction split
    act: u32,   // the forward epilogue's activation: kernels get it as the spliced constant ACT
    slope: f32,
    cs_n: u32,  // col2im: strides of the GEMM result per image, tap and output pixel
    cs_t: u32,
    cs_p: u32,
    phase_x: u32, // conv_rows input_grad: this dispatch's x stride phase
    phase_y: u32, // conv_rows input_grad: its first y stride phase (grid z adds)
    bn: u32,      // 1: an inference batch norm in the epilogue (the spliced constant NORM)
}

@group(0) @binding(0) var<uniform> p: Params;
