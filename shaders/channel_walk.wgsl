// channel_walk.wgsl: the flat indices of one channel's elements in x viewed as [outer,
// channels, inner], visited by a lane of a 256-wide workgroup as the reductions over a channel
// do (elements lid, lid + 256, ... of the channel), without an integer division per element:
// llvmpipe divides vectors one lane at a time. Needs p.channels and p.inner in the including
// kernel's parameters (batch_norm.wgsl, reduce.wgsl).

// Element i of the channel is at (i / inner, c, i % inner). A step of 256 elements is q whole
// rows of the outer dimension and a remainder dj, carried into the next row when it overflows.
struct Walk {
    k: u32,
    j: u32,
    dk: u32,
    dj: u32,
}

fn walk_start(c: u32, lid: u32) -> Walk {
    let o = lid / p.inner;
    let j = lid - o * p.inner;
    let q = 256u / p.inner;
    let dj = 256u - q * p.inner;
    return Walk((o * p.channels + c) * p.inner + j, j, q * p.channels * p.inner + dj, dj);
}

fn walk_next(w: ptr<function, Walk>) {
    (*w).k += (*w).dk;
    (*w).j += (*w).dj;
    if ((*w).j >= p.inner) {
        (*w).j -= p.inner;
        (*w).k += (p.channels - 1u) * p.inner;
    }
}
