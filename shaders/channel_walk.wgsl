// channel_walk.wgsl: the flat indices of one channel's entries in x viewed as [outer,
// channels, inner / V] (V elements an entry: 1, or 4 where x is an array of vec4), visited by a
// lane of a 256-wide workgroup as the reductions over a channel do (entries lid, lid + 256, ...
// of the channel), without an integer division per entry: llvmpipe divides vectors one lane at
// a time. Needs p.channels and p.inner in the including kernel's parameters and its constant V
// (batch_norm.wgsl, reduce.wgsl).

// Element i of the channel is at (i / inner, c, i % inner). A step of 256 elements is q whole
// rows of the outer dimension and a remainder dj, carried into the next row when it overflows.
struct Walk {
    k: u32,
    j: u32,
    dk: u32,
    dj: u32,
}

fn walk_start(c: u32, lid: u32) -> Walk {
    let iv = p.inner / V;
    let o = lid / iv;
    let j = lid - o * iv;
    let q = 256u / iv;
    let dj = 256u - q * iv;
    return Walk((o * p.channels + c) * iv + j, j, q * p.channels * iv + dj, dj);
}

fn walk_next(w: ptr<function, Walk>) {
    let iv = p.inner / V;
    (*w).k += (*w).dk;
    (*w).j += (*w).dj;
    if ((*w).j >= iv) {
        (*w).j -= iv;
        (*w).k += (p.channels - 1u) * iv;
    }
}
