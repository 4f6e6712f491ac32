//! Helpers shared by the integration tests: the adapter (a test fails, never skips, without
//! one), seeded data, tolerance checks and central finite differences.
#![allow(dead_code)]

use dcgan::{AdapterRequest, Gpu, Tape, Tensor, Var};

/// The adapter for GPU tests. Panics with the engine's own message when none is found. New
/// tensors start as NaN, so an output element a kernel never writes fails the comparison.
pub fn gpu() -> Gpu {
    match Gpu::new(&AdapterRequest::default()) {
        Ok(g) => {
            g.set_poison_uninit(true);
            g
        }
        Err(e) => panic!("these tests need a GPU adapter: {e}"),
    }
}

/// splitmix64: seeded, platform-independent test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// |got - want| <= atol + rtol * |want| everywhere, with the worst element named on failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let excess = (g as f64 - w).abs() - (atol + rtol * w.abs());
        assert!(g.is_finite(), "{what}: element {i} is {g}");
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    let (i, e) = worst;
    assert!(
        e <= 0.0,
        "{what}: element {i}: got {}, want {} (atol {atol}, rtol {rtol})",
        got[i],
        want[i]
    );
}

/// d/dx of sum(f(x) * r) by central differences (f in f64).
pub fn numeric_grad(f: impl Fn(&[f64]) -> Vec<f64>, x: &[f64], r: &[f64], h: f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + h;
            let up: f64 = f(&xp).iter().zip(r).map(|(a, b)| a * b).sum();
            xp[i] = x[i] - h;
            let down: f64 = f(&xp).iter().zip(r).map(|(a, b)| a * b).sum();
            xp[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

pub fn tensor(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(gpu, data, shape).unwrap()
}

/// Runs the tape backward from `out` seeded with `r` (so the loss is sum(out * r)) and
/// returns the gradients of `wrt` on the host.
pub fn grads(tape: &Tape, out: &Var, r: &[f32], wrt: &[&Var]) -> Vec<Vec<f32>> {
    let seed = Tensor::from_slice(out.value.gpu(), r, out.shape()).unwrap();
    let g = tape.backward_with(out, seed, wrt).unwrap();
    wrt.iter()
        .map(|v| g.get(v).expect("no gradient reached").to_vec().unwrap())
        .collect()
}

/// forward, input gradient and weight gradient of the conv `g`, in f64, by visiting every
/// (output pixel, tap) pair once.
pub fn conv_reference(
    g: &dcgan::ops::conv::Geometry,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
) -> [Vec<f64>; 3] {
    let (s, pt, pl) = (g.opts.stride, g.opts.padding[0], g.opts.padding[2]);
    let mut y = vec![0.0; g.batch * g.cout * g.oh * g.ow];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for n in 0..g.batch {
        for co in 0..g.cout {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let yi = ((n * g.cout + co) * g.oh + oy) * g.ow + ox;
                    let mut acc = 0.0;
                    for ci in 0..g.cin {
                        for ky in 0..g.kh {
                            let iy = (oy * s + ky) as isize - pt as isize;
                            if iy < 0 || iy >= g.h as isize {
                                continue;
                            }
                            for kx in 0..g.kw {
                                let ix = (ox * s + kx) as isize - pl as isize;
                                if ix < 0 || ix >= g.w as isize {
                                    continue;
                                }
                                let xi = ((n * g.cin + ci) * g.h + iy as usize) * g.w + ix as usize;
                                let wi = ((co * g.cin + ci) * g.kh + ky) * g.kw + kx;
                                acc += x[xi] * w[wi];
                                dx[xi] += dy[yi] * w[wi];
                                dw[wi] += dy[yi] * x[xi];
                            }
                        }
                    }
                    y[yi] = acc;
                }
            }
        }
    }
    [y, dx, dw]
}
