//! batch_norm: training mode (batch statistics, running-statistics update with momentum) and
//! inference mode (running statistics); backward in closed form; optionally with a (leaky)
//! ReLU fused into the same kernels.

use bytemuck::{Pod, Zeroable};

use super::elementwise::Activation;
use super::grid_1d;
use crate::autodiff::{Function, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::KernelSpec;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    channels: u32,
    inner: u32,
    eps: f32,
    momentum: f32,
    update: u32,
    act: u32,
    slope: f32,
}

/// Running statistics and hyper-parameters of one batch-norm layer.
pub struct BatchNormState<'a> {
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub momentum: f32,
    pub eps: f32,
}

/// Elements a vf entry: 4 where every channel plane is a whole number of vec4s and the tensors
/// bound as vf arrays start 16-byte aligned, else 1.
fn lanes<'a>(p: &Params, ts: impl IntoIterator<Item = &'a Tensor>) -> u32 {
    super::lanes(
        p.inner.is_multiple_of(4),
        ts.into_iter().map(|t| t.bind().offset),
    )
}

fn spec(entry: &'static str, v: u32) -> KernelSpec {
    KernelSpec::new("batch_norm", entry)
        .with("V", v)
        .with("E", v)
        .with("EV", 1)
}

/// The element-wise kernel `entry` with E elements an invocation: the most of 8, 4, 2, 1 (at
/// least V) that divides inner.
fn elementwise(
    gpu: &crate::gpu::Gpu,
    entry: &'static str,
    p: &Params,
    v: u32,
) -> (KernelSpec, [u32; 3]) {
    // inner is a multiple of V, so E is at least V.
    let e = [8, 4, 2, 1]
        .into_iter()
        .find(|e| p.inner.is_multiple_of(*e))
        .unwrap_or(1);
    let n = (p.batch * p.channels * p.inner) as usize;
    (
        KernelSpec::new("batch_norm", entry)
            .with("V", v)
            .with("E", e)
            .with("EV", e / v),
        grid_1d(gpu, n / e as usize, 256),
    )
}

struct BatchNormBackward {
    x: Tensor,
    y: Tensor,
    gamma: Tensor,
    stats: Tensor,
    p: Params,
}

impl Function for BatchNormBackward {
    fn name(&self) -> &'static str {
        "batch_norm_backward"
    }
    fn backward(&self, dy: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gpu = dy.gpu();
        let c = self.p.channels as usize;
        let dgamma = Tensor::uninit(gpu, &[c])?;
        let dbeta = Tensor::uninit(gpu, &[c])?;
        let pb = bytemuck::bytes_of(&self.p);
        let dx = needs[0]
            .then(|| Tensor::uninit(gpu, self.x.shape()))
            .transpose()?;
        let v = lanes(&self.p, [&self.x, dy, &self.y].into_iter().chain(&dx));
        gpu.dispatch(
            &spec("bn_backward_reduce", v),
            pb,
            &[
                (1, self.x.bind()),
                (2, dy.bind()),
                (5, self.stats.bind()),
                (10, dgamma.bind()),
                (11, dbeta.bind()),
                (16, self.y.bind()),
            ],
            gpu.grid(c as u64),
        );
        let dx = if let Some(dx) = dx {
            let (dx_spec, grid) = elementwise(gpu, "bn_backward_dx", &self.p, v);
            gpu.dispatch(
                &dx_spec,
                pb,
                &[
                    (1, self.x.bind()),
                    (2, dy.bind()),
                    (3, self.gamma.bind()),
                    (5, self.stats.bind()),
                    (6, dx.bind()),
                    (12, dgamma.bind()),
                    (13, dbeta.bind()),
                    (16, self.y.bind()),
                ],
                grid,
            );
            Some(dx)
        } else {
            None
        };
        Ok(vec![dx, Some(dgamma), Some(dbeta)])
    }
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta per channel of x [N, C, ...]. In training
/// mode mean and var are the batch's (biased var) and the running statistics move by
/// `momentum` towards them (unbiased var, as PyTorch); in inference mode the running
/// statistics are used and left alone.
pub fn batch_norm(
    tape: &Tape,
    x: &Var,
    gamma: &Var,
    beta: &Var,
    state: &BatchNormState,
    training: bool,
) -> Result<Var> {
    batch_norm_activation(tape, x, gamma, beta, state, training, None)
}

/// `act(batch_norm(x))` for act a relu or leaky_relu, in the passes batch_norm alone takes:
/// the activation is applied as the normalised value is written and differentiated inside
/// the backward reductions. `None` is plain batch_norm.
pub fn batch_norm_activation(
    tape: &Tape,
    x: &Var,
    gamma: &Var,
    beta: &Var,
    state: &BatchNormState,
    training: bool,
    act: Option<Activation>,
) -> Result<Var> {
    let (act, slope) = match act {
        None => (0, 0.0),
        Some(Activation::Relu) => (1, 0.0),
        Some(Activation::LeakyRelu(s)) if s >= 0.0 => (1, s),
        Some(other) => {
            return Err(Error::Shape(format!(
                "batch_norm fuses relu and leaky_relu with a slope >= 0, not {other:?}"
            )))
        }
    };
    let shape = x.shape();
    if shape.len() < 2 || gamma.shape() != [shape[1]] || beta.shape() != [shape[1]] {
        return Err(Error::Shape(format!(
            "batch_norm of {shape:?} with scale {:?} and offset {:?}",
            gamma.shape(),
            beta.shape()
        )));
    }
    let gpu = x.value.gpu();
    let c = shape[1];
    let p = Params {
        batch: shape[0] as u32,
        channels: c as u32,
        inner: shape[2..].iter().product::<usize>() as u32,
        eps: state.eps,
        momentum: state.momentum,
        update: training as u32,
        act,
        slope,
    };
    let pb = bytemuck::bytes_of(&p);
    let stats = Tensor::uninit(gpu, &[2 * c])?;
    let y = Tensor::uninit(gpu, shape)?;
    let v = lanes(&p, [&x.value, &y]);
    if training {
        gpu.dispatch(
            &spec("bn_stats", v),
            pb,
            &[
                (1, x.value.bind()),
                (7, stats.bind()),
                (8, state.running_mean.bind()),
                (9, state.running_var.bind()),
            ],
            gpu.grid(c as u64),
        );
    } else {
        gpu.dispatch(
            &spec("bn_running_stats", 1),
            pb,
            &[
                (7, stats.bind()),
                (14, state.running_mean.bind()),
                (15, state.running_var.bind()),
            ],
            [c.div_ceil(64) as u32, 1, 1],
        );
    }
    let (apply, grid) = elementwise(gpu, "bn_apply", &p, v);
    gpu.dispatch(
        &apply,
        pb,
        &[
            (1, x.value.bind()),
            (3, gamma.value.bind()),
            (4, beta.value.bind()),
            (5, stats.bind()),
            (6, y.bind()),
        ],
        grid,
    );
    let f = BatchNormBackward {
        x: x.value.clone(),
        y: y.clone(),
        gamma: gamma.value.clone(),
        stats,
        p,
    };
    Ok(tape.record(&[x, gamma, beta], y, f))
}

/// The table from which a conv applies this batch norm, in inference mode, in its epilogue
/// (`ops::conv::Epilogue::batch_norm`): [conv bias | running mean | 1 / sqrt(running var +
/// eps) | gamma | beta], C values each (a zero bias where the conv has none). The inverse
/// square root is computed as `batch_norm`'s inference mode computes it, so a conv with the
/// table in its epilogue can store the bits that the conv followed by `batch_norm` stores.
pub fn inference_epilogue(
    conv_bias: Option<&Tensor>,
    gamma: &Tensor,
    beta: &Tensor,
    state: &BatchNormState,
) -> Result<Tensor> {
    let c = gamma.numel();
    let shapes_agree = [beta, state.running_mean, state.running_var]
        .into_iter()
        .chain(conv_bias)
        .all(|t| t.shape() == [c]);
    if gamma.shape() != [c] || !shapes_agree {
        return Err(Error::Shape(format!(
            "batch_norm's epilogue table: scale {:?}, offset {:?}, running statistics {:?} and \
             {:?}, conv bias {:?} must all be [C]",
            gamma.shape(),
            beta.shape(),
            state.running_mean.shape(),
            state.running_var.shape(),
            conv_bias.map(|b| b.shape())
        )));
    }
    let gpu = gamma.gpu();
    let zeros;
    let conv_bias = match conv_bias {
        Some(b) => b,
        None => {
            zeros = Tensor::zeros(gpu, &[c])?;
            &zeros
        }
    };
    let p = Params {
        batch: 1,
        channels: c as u32,
        inner: 1,
        eps: state.eps,
        momentum: state.momentum,
        update: 0,
        act: 0,
        slope: 0.0,
    };
    let table = Tensor::uninit(gpu, &[5 * c])?;
    gpu.dispatch(
        &spec("bn_inference_epilogue", 1),
        bytemuck::bytes_of(&p),
        &[
            (3, gamma.bind()),
            (4, beta.bind()),
            (7, table.bind()),
            (14, state.running_mean.bind()),
            (15, state.running_var.bind()),
            (17, conv_bias.bind()),
        ],
        [c.div_ceil(64) as u32, 1, 1],
    );
    Ok(table)
}

pub mod cpu {
    /// Training-mode forward on x [n, c, inner]: returns (y, batch mean, biased batch var).
    pub fn batch_norm_train(
        x: &[f64],
        n: usize,
        c: usize,
        inner: usize,
        gamma: &[f64],
        beta: &[f64],
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = (n * inner) as f64;
        let at = |b: usize, ch: usize, i: usize| (b * c + ch) * inner + i;
        let mut y = vec![0.0f64; x.len()];
        let (mut means, mut vars) = (vec![0.0; c], vec![0.0; c]);
        for ch in 0..c {
            let mut s = 0.0;
            for b in 0..n {
                for i in 0..inner {
                    s += x[at(b, ch, i)];
                }
            }
            let mean = s / m;
            let mut q = 0.0;
            for b in 0..n {
                for i in 0..inner {
                    q += (x[at(b, ch, i)] - mean).powi(2);
                }
            }
            let var = q / m;
            for b in 0..n {
                for i in 0..inner {
                    let k = at(b, ch, i);
                    y[k] = (x[k] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch];
                }
            }
            means[ch] = mean;
            vars[ch] = var;
        }
        (y, means, vars)
    }

    /// Inference-mode forward from running statistics.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_eval(
        x: &[f64],
        c: usize,
        inner: usize,
        gamma: &[f64],
        beta: &[f64],
        rmean: &[f64],
        rvar: &[f64],
        eps: f64,
    ) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(k, &v)| {
                let ch = (k / inner) % c;
                (v - rmean[ch]) / (rvar[ch] + eps).sqrt() * gamma[ch] + beta[ch]
            })
            .collect()
    }
}
