//! dropout: inverted scaling (kept values x 1/(1-p)), mask a pure function of (seed, index).

use bytemuck::{Pod, Zeroable};

use super::grid_1d;
use crate::autodiff::{Function, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::KernelSpec;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    seed: u32,
    p_drop: f32,
    scale: f32,
}

fn apply(x: &Tensor, p: Params) -> Result<Tensor> {
    let gpu = x.gpu();
    let y = Tensor::uninit(gpu, x.shape())?;
    gpu.dispatch(
        &KernelSpec::new("dropout", "dropout"),
        bytemuck::bytes_of(&p),
        &[(1, x.bind()), (2, y.bind())],
        grid_1d(gpu, x.numel(), 256),
    );
    Ok(y)
}

struct DropoutBackward {
    p: Params,
}

impl Function for DropoutBackward {
    fn name(&self) -> &'static str {
        "dropout_backward"
    }
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(apply(grad, self.p)?)])
    }
}

/// Zeroes each element with probability `p` and scales the rest by 1 / (1 - p); identity when
/// not training. The same seed gives the same mask.
pub fn dropout(tape: &Tape, x: &Var, p: f32, seed: u32, training: bool) -> Result<Var> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Shape(format!(
            "dropout probability {p} is outside [0, 1)"
        )));
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    let params = Params {
        n: x.value.numel() as u32,
        seed,
        p_drop: p,
        scale: 1.0 / (1.0 - p),
    };
    let y = apply(&x.value, params)?;
    Ok(tape.record(&[x], y, DropoutBackward { p: params }))
}

pub mod cpu {
    fn pcg(v: u32) -> u32 {
        let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
        let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
        (word >> 22) ^ word
    }

    /// Whether element i is kept; the same hash as the shader.
    pub fn keep(i: u32, seed: u32, p: f32) -> bool {
        let u = (pcg(pcg(i) ^ seed) >> 8) as f32 * (1.0 / 16777216.0);
        u >= p
    }

    pub fn dropout(x: &[f64], p: f32, seed: u32) -> Vec<f64> {
        let scale = 1.0 / (1.0 - p as f64);
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if keep(i as u32, seed, p) {
                    v * scale
                } else {
                    0.0
                }
            })
            .collect()
    }
}
