// conv_io.wgsl: conv_common.wgsl's bindings for the kernels that may read a (VA = 1) or b
// (VB = 1) as vec4s (the row-window kernels, the whole-plane input gradient), where the host has
// checked that every group of four the kernel loads is a whole, 16-byte aligned vec4 inside
// one row of the tensor. On llvmpipe a storage
// load is a loop over the lanes, and a vec4 load takes one such loop for four values
// (BENCHMARKS.md "Four values a load").

//#include conv_params

//#if VA 0
@group(0) @binding(1) var<storage, read> a: array<f32>;
//#end
//#if VA 1
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
//#end
//#if VB 0
@group(0) @binding(2) var<storage, read> b: array<f32>;
//#end
//#if VB 1
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
//#end
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
