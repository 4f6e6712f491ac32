//! Adam as one fused kernel per parameter tensor (moments and weights updated in place).

use bytemuck::{Pod, Zeroable};

use crate::autodiff::Param;
use crate::error::{Error, Result};
use crate::gpu::KernelSpec;
use crate::ops::grid_1d;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    beta1: f32,
    beta2: f32,
    lr_t: f32,
    eps_t: f32,
    _pad: [u32; 3],
}

/// First and second moments of one parameter.
pub struct Moments {
    pub m: Tensor,
    pub v: Tensor,
}

impl Moments {
    pub fn zeros(p: &Param) -> Result<Moments> {
        let gpu = p.value.gpu();
        Ok(Moments {
            m: Tensor::zeros(gpu, p.value.shape())?,
            v: Tensor::zeros(gpu, p.value.shape())?,
        })
    }
}

/// One Adam update of `param` with gradient `grad` at step `t` (1-based).
pub fn adam_step(
    cfg: &AdamConfig,
    t: u64,
    param: &Param,
    grad: &Tensor,
    moments: &Moments,
) -> Result<()> {
    if grad.numel() != param.value.numel() || t == 0 {
        return Err(Error::Shape(format!(
            "Adam step {t} on {} with gradient {:?}",
            param.name,
            grad.shape()
        )));
    }
    // lr * mhat / (sqrt(vhat) + eps) == lr_t * m / (sqrt(v) + eps_t); the corrections are
    // computed in f64 so late steps lose nothing to 1 - beta^t rounding.
    let c1 = 1.0 - (cfg.beta1 as f64).powf(t as f64);
    let c2 = (1.0 - (cfg.beta2 as f64).powf(t as f64)).sqrt();
    let p = Params {
        n: grad.numel() as u32,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        lr_t: (cfg.lr as f64 * c2 / c1) as f32,
        eps_t: (cfg.eps as f64 * c2) as f32,
        _pad: [0; 3],
    };
    let gpu = grad.gpu();
    gpu.dispatch(
        &KernelSpec::new("adam", "adam"),
        bytemuck::bytes_of(&p),
        &[
            (1, grad.bind()),
            (2, param.value.bind()),
            (3, moments.m.bind()),
            (4, moments.v.bind()),
        ],
        grid_1d(gpu, grad.numel(), 256),
    );
    Ok(())
}
