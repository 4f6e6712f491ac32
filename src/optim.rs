//! Adam as one fused kernel: `Adam` keeps a network's parameters, gradients and both moments
//! in four arenas so that one dispatch updates every parameter; `adam_step` is the same kernel
//! on a single tensor.

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

/// The Adam state of one network: its parameters live in one arena (each `Param`'s value is a
/// view of it), gradients are gathered into a second, and the moments fill two more, so a step
/// is a few buffer copies and a single dispatch whatever the number of parameter tensors.
pub struct Adam {
    pub cfg: AdamConfig,
    weights: Tensor,
    grads: Tensor,
    grad_views: Vec<Tensor>,
    m: Tensor,
    v: Tensor,
    /// Per parameter, views of the two moment arenas (what checkpoints save and restore).
    pub moments: Vec<Moments>,
}

impl Adam {
    /// Moves `params` into a fresh arena (values copied, each `Param` now a view) and starts
    /// both moments at zero.
    pub fn new(cfg: AdamConfig, params: Vec<&mut Param>) -> Result<Adam> {
        let Some(first) = params.first() else {
            return Err(Error::Shape("Adam over no parameters".into()));
        };
        let gpu = first.value.gpu().clone();
        let shapes: Vec<Vec<usize>> = params.iter().map(|p| p.value.shape().to_vec()).collect();
        let (weights, views) = Tensor::arena(&gpu, &shapes)?;
        for (p, view) in params.into_iter().zip(views) {
            view.copy_from(&p.value)?;
            p.value = view;
        }
        let (grads, grad_views) = Tensor::arena(&gpu, &shapes)?;
        let (m, m_views) = Tensor::arena(&gpu, &shapes)?;
        let (v, v_views) = Tensor::arena(&gpu, &shapes)?;
        let moments = m_views
            .into_iter()
            .zip(v_views)
            .map(|(m, v)| Moments { m, v })
            .collect();
        Ok(Adam {
            cfg,
            weights,
            grads,
            grad_views,
            m,
            v,
            moments,
        })
    }

    /// One update at step `t` (1-based) from one gradient per parameter, in `new`'s order.
    pub fn step(&self, t: u64, grads: &[Tensor]) -> Result<()> {
        if grads.len() != self.grad_views.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.grad_views.len()
            )));
        }
        for (slot, g) in self.grad_views.iter().zip(grads) {
            slot.copy_from(g)?;
        }
        // The arena's gaps hold zero gradients and zero moments, so the update leaves them 0.
        dispatch(&self.cfg, t, &self.weights, &self.grads, &self.m, &self.v)
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
    dispatch(cfg, t, &param.value, grad, &moments.m, &moments.v)
}

fn dispatch(
    cfg: &AdamConfig,
    t: u64,
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
) -> Result<()> {
    if t == 0 {
        return Err(Error::Shape("Adam steps count from 1".into()));
    }
    // lr * mhat / (sqrt(vhat) + eps) == lr_t * m / (sqrt(v) + eps_t); the corrections are
    // computed in f64 so late steps lose nothing to 1 - beta^t rounding.
    let c1 = 1.0 - (cfg.beta1 as f64).powf(t as f64);
    let c2 = (1.0 - (cfg.beta2 as f64).powf(t as f64)).sqrt();
    let n = g.numel();
    let lanes = crate::ops::lanes(
        n.is_multiple_of(4),
        [g, w, m, v].iter().map(|t| t.bind().offset),
    ) as usize;
    let p = Params {
        n: (n / lanes) as u32,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        lr_t: (cfg.lr as f64 * c2 / c1) as f32,
        eps_t: (cfg.eps as f64 * c2) as f32,
        _pad: [0; 3],
    };
    let gpu = g.gpu();
    gpu.dispatch(
        &KernelSpec::new("adam", "adam").with("V", lanes as u32),
        bytemuck::bytes_of(&p),
        &[(1, g.bind()), (2, w.bind()), (3, m.bind()), (4, v.bind())],
        grid_1d(gpu, n / lanes, 256),
    );
    Ok(())
}
