// vf.wgsl: the entry type of the kernels written over V elements an array entry (elementwise,
// batch_norm, reduce's channel_sum, adam): vec4<f32> at V = 4, where the host has checked that
// the counts are whole vec4s and the tensors 16-byte aligned (on llvmpipe a storage load is a
// loop over the lanes, and a vec4 load takes one loop for four values), f32 at V = 1. hsum
// adds an entry's components, in a fixed order.
//#if V 4
alias vf = vec4<f32>;
fn hsum(v: vf) -> f32 { return (v.x + v.y) + (v.z + v.w); }
//#end
//#if V 1
alias vf = f32;
fn hsum(v: vf) -> f32 { return v; }
//#end
