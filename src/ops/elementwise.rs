//! Element-wise ops: relu, leaky_relu, tanh, sigmoid (forward and backward), add, scale.

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
    alpha: f32,
    _pad: [u32; 2],
}

fn launch(entry: &'static str, a: &Tensor, b: Option<&Tensor>, alpha: f32) -> Result<Tensor> {
    launch_shaped(entry, a, b, alpha, a.shape())
}

fn launch_shaped(
    entry: &'static str,
    a: &Tensor,
    b: Option<&Tensor>,
    alpha: f32,
    shape: &[usize],
) -> Result<Tensor> {
    let gpu = a.gpu();
    let out = Tensor::uninit(gpu, shape)?;
    let n = out.numel();
    let mut binds = vec![(1, a.bind())];
    if let Some(b) = b {
        if b.numel() != n {
            return Err(Error::Shape(format!(
                "{entry}: {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        binds.push((2, b.bind()));
    }
    binds.push((3, out.bind()));
    // broadcast_scalar reads one scalar: its arrays stay f32.
    let whole = entry != "broadcast_scalar" && n.is_multiple_of(4);
    let v = super::lanes(whole, binds.iter().map(|(_, b)| b.offset)) as usize;
    let p = Params {
        n: (n / v) as u32,
        alpha,
        _pad: [0; 2],
    };
    gpu.dispatch(
        &KernelSpec::new("elementwise", entry).with("V", v as u32),
        bytemuck::bytes_of(&p),
        &binds,
        grid_1d(gpu, n / v, 256),
    );
    Ok(out)
}

/// a + b (same element count).
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    launch("add", a, Some(b), 0.0)
}

/// alpha * a.
pub fn scale(a: &Tensor, alpha: f32) -> Result<Tensor> {
    launch("scale", a, None, alpha)
}

/// A tensor of the given shape filled with `alpha * g[0]`.
pub fn broadcast_scalar(g: &Tensor, alpha: f32, shape: &[usize]) -> Result<Tensor> {
    launch_shaped("broadcast_scalar", g, None, alpha, shape)
}

struct AddBackward;

impl Function for AddBackward {
    fn name(&self) -> &'static str {
        "add_backward"
    }
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.clone()), Some(grad.clone())])
    }
}

/// a + b on the tape (same shapes).
pub fn add_vars(tape: &Tape, a: &Var, b: &Var) -> Result<Var> {
    if a.shape() != b.shape() {
        return Err(Error::Shape(format!(
            "add {:?} + {:?}",
            a.shape(),
            b.shape()
        )));
    }
    Ok(tape.record(&[a, b], add(&a.value, &b.value)?, AddBackward))
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    fn entries(self) -> (&'static str, &'static str) {
        match self {
            Activation::Relu => ("relu_forward", "relu_backward"),
            Activation::LeakyRelu(_) => ("leaky_relu_forward", "leaky_relu_backward"),
            Activation::Tanh => ("tanh_forward", "tanh_backward"),
            Activation::Sigmoid => ("sigmoid_forward", "sigmoid_backward"),
        }
    }
    fn alpha(self) -> f32 {
        match self {
            Activation::LeakyRelu(s) => s,
            _ => 0.0,
        }
    }
    /// tanh and sigmoid differentiate from their output, the others from their input.
    fn saves_output(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }
}

pub fn activation_forward(x: &Tensor, act: Activation) -> Result<Tensor> {
    launch(act.entries().0, x, None, act.alpha())
}

/// `saved` is the forward input (relu, leaky_relu) or output (tanh, sigmoid).
pub fn activation_backward(saved: &Tensor, dy: &Tensor, act: Activation) -> Result<Tensor> {
    launch(act.entries().1, saved, Some(dy), act.alpha())
}

struct ActivationBackward {
    act: Activation,
    saved: Tensor,
}

impl Function for ActivationBackward {
    fn name(&self) -> &'static str {
        self.act.entries().1
    }
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(activation_backward(
            &self.saved,
            grad,
            self.act,
        )?)])
    }
}

pub fn activation(tape: &Tape, x: &Var, act: Activation) -> Result<Var> {
    let y = activation_forward(&x.value, act)?;
    let saved = if act.saves_output() {
        y.clone()
    } else {
        x.value.clone()
    };
    Ok(tape.record(&[x], y, ActivationBackward { act, saved }))
}

pub fn relu(tape: &Tape, x: &Var) -> Result<Var> {
    activation(tape, x, Activation::Relu)
}
pub fn leaky_relu(tape: &Tape, x: &Var, negative_slope: f32) -> Result<Var> {
    activation(tape, x, Activation::LeakyRelu(negative_slope))
}
pub fn tanh(tape: &Tape, x: &Var) -> Result<Var> {
    activation(tape, x, Activation::Tanh)
}
pub fn sigmoid(tape: &Tape, x: &Var) -> Result<Var> {
    activation(tape, x, Activation::Sigmoid)
}

/// Plain-loop references in f64.
pub mod cpu {
    use super::Activation;

    pub fn forward(x: &[f64], act: Activation) -> Vec<f64> {
        x.iter()
            .map(|&v| match act {
                Activation::Relu => v.max(0.0),
                Activation::LeakyRelu(s) => {
                    if v > 0.0 {
                        v
                    } else {
                        s as f64 * v
                    }
                }
                Activation::Tanh => v.tanh(),
                Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            })
            .collect()
    }
}
