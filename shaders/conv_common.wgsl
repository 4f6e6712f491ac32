// conv_common.wgsl: parameter block and bindings shared by the conv family: conv.wgsl and
// conv_weight_grad.wgsl (subgroups), conv_portable.wgsl, conv_tiled.wgsl and col2im.wgsl
// (conv_io.wgsl is their twin with vec4 forms, for conv_rows.wgsl,
// conv_weight_grad_rows.wgsl and conv_planes.wgsl).

//#include conv_params

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;


// input_grad's grid z enumerates the stride phases (ph_y, ph_x), and its grid x is sized for
// the largest, phase (0, 0). Returns (ph_y, ph_x, qh, qw): the phase and its pixel counts,
// iy = qy * s + ph_y for qy < qh (likewise x).
fn stride_phase(z: u32) -> vec4<u32> {
    let nphx = min(p.stride, p.w);
    let ph_y = z / nphx;
    let ph_x = z - ph_y * nphx;
    return vec4<u32>(ph_y, ph_x, (p.h - ph_y + p.stride - 1u) / p.stride, (p.w - ph_x + p.stride - 1u) / p.stride);
}
