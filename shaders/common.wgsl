// common.wgsl: helpers spliced in front of every kernel (after the compile-time constants).

// The host splits large 1-D dispatches over x and y (each capped per dimension); this
// rebuilds the flat workgroup index.
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}
