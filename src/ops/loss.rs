//! binary_cross_entropy_with_logits: mean over samples, per-sample targets, softplus form.

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
    _pad: [u32; 3],
}

struct BceBackward {
    logits: Tensor,
    targets: Tensor,
}

impl Function for BceBackward {
    fn name(&self) -> &'static str {
        "bce_with_logits_backward"
    }
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gpu = grad.gpu();
        let n = self.logits.numel();
        let dx = Tensor::uninit(gpu, self.logits.shape())?;
        let p = Params {
            n: n as u32,
            _pad: [0; 3],
        };
        gpu.dispatch(
            &KernelSpec::new("loss", "bce_backward"),
            bytemuck::bytes_of(&p),
            &[
                (1, self.logits.bind()),
                (2, self.targets.bind()),
                (3, grad.bind()),
                (4, dx.bind()),
            ],
            grid_1d(gpu, n, 256),
        );
        Ok(vec![Some(dx)])
    }
}

/// `mean_i [softplus(x_i) - t_i x_i]` -> `[1]`, computed as max(x,0) - x t + log(1 + e^-|x|).
pub fn binary_cross_entropy_with_logits(
    tape: &Tape,
    logits: &Var,
    targets: &Tensor,
) -> Result<Var> {
    let n = logits.value.numel();
    if targets.numel() != n {
        return Err(Error::Shape(format!(
            "{n} logits but {} targets",
            targets.numel()
        )));
    }
    let gpu = logits.value.gpu();
    let out = Tensor::uninit(gpu, &[1])?;
    let p = Params {
        n: n as u32,
        _pad: [0; 3],
    };
    gpu.dispatch(
        &KernelSpec::new("loss", "bce_forward"),
        bytemuck::bytes_of(&p),
        &[
            (1, logits.value.bind()),
            (2, targets.bind()),
            (4, out.bind()),
        ],
        [1, 1, 1],
    );
    let f = BceBackward {
        logits: logits.value.clone(),
        targets: targets.clone(),
    };
    Ok(tape.record(&[logits], out, f))
}

pub mod cpu {
    pub fn bce_with_logits(x: &[f64], t: &[f64]) -> f64 {
        let s: f64 = x
            .iter()
            .zip(t)
            .map(|(&x, &t)| {
                let (x, t) = (x, t);
                x.max(0.0) - x * t + (1.0 + (-x.abs()).exp()).ln()
            })
            .sum();
        s / x.len() as f64
    }
}
