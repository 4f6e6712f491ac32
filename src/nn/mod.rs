//! Layers with parameters: Linear, Conv2d, ConvTranspose2d, BatchNorm2d, each a thin owner of
//! `Param`s over the ops in `crate::ops`.

pub mod init;

use crate::autodiff::{Param, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::{self, batch_norm::BatchNormState, Conv2dOptions};
use crate::tensor::Tensor;
use init::InitRng;

/// Anything that owns parameters, listed in a fixed order (checkpoints and Adam rely on it).
pub trait Module {
    fn params(&self) -> Vec<&Param>;
    /// The same parameters, in the same order, mutably (Adam moves them into one arena).
    fn params_mut(&mut self) -> Vec<&mut Param>;
    /// Non-trainable state saved with the weights (batch-norm running statistics).
    fn buffers(&self) -> Vec<(String, &Tensor)> {
        Vec::new()
    }
}

/// A Glorot-uniform weight of `shape` and a zero bias of `outputs`, named `<name>.weight` and
/// `<name>.bias` (the names checkpoints use).
fn weight_and_bias(
    gpu: &Gpu,
    name: &str,
    shape: &[usize],
    (fan_in, fan_out): (usize, usize),
    outputs: usize,
    rng: &mut InitRng,
) -> Result<(Param, Param)> {
    Ok((
        Param::new(
            format!("{name}.weight"),
            rng.glorot(gpu, shape, fan_in, fan_out)?,
        ),
        Param::new(format!("{name}.bias"), Tensor::zeros(gpu, &[outputs])?),
    ))
}

pub struct Linear {
    pub weight: Param,
    pub bias: Param,
}

impl Linear {
    pub fn new(gpu: &Gpu, name: &str, inf: usize, outf: usize, rng: &mut InitRng) -> Result<Self> {
        let (weight, bias) = weight_and_bias(gpu, name, &[outf, inf], (inf, outf), outf, rng)?;
        Ok(Linear { weight, bias })
    }
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        ops::linear(
            tape,
            x,
            &tape.param(&self.weight),
            Some(&tape.param(&self.bias)),
        )
    }
}

impl Module for Linear {
    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
}

pub struct Conv2d {
    pub weight: Param,
    pub bias: Param,
    pub opts: Conv2dOptions,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        opts: Conv2dOptions,
        rng: &mut InitRng,
    ) -> Result<Self> {
        let fans = (cin * k * k, cout * k * k);
        let (weight, bias) = weight_and_bias(gpu, name, &[cout, cin, k, k], fans, cout, rng)?;
        Ok(Conv2d { weight, bias, opts })
    }
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        self.forward_activation(tape, x, None)
    }
    /// `act(self(x))` with the activation in the conv's epilogue.
    pub fn forward_activation(
        &self,
        tape: &Tape,
        x: &Var,
        act: Option<ops::Activation>,
    ) -> Result<Var> {
        let (w, b) = (tape.param(&self.weight), tape.param(&self.bias));
        ops::conv2d_activation(tape, x, &w, Some(&b), self.opts, act)
    }

    /// `act(bn(self(x)))` in inference mode, the batch norm and activation in the conv's
    /// epilogue; on a tape that records (the separate ops have backwards) or where the device
    /// does not fold (`Gpu::batch_norm_fold`), the conv and `bn` as separate ops.
    pub fn forward_batch_norm_eval(
        &self,
        tape: &Tape,
        x: &Var,
        bn: &BatchNorm2d,
        act: Option<ops::Activation>,
    ) -> Result<Var> {
        bn.after_conv_eval(
            tape,
            act,
            &self.bias.value,
            || self.forward(tape, x),
            |table| ops::conv2d_batch_norm_eval(tape, x, &self.weight.value, table, self.opts, act),
        )
    }
}

impl Module for Conv2d {
    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
}

pub struct ConvTranspose2d {
    pub weight: Param,
    pub bias: Param,
    pub opts: Conv2dOptions,
}

impl ConvTranspose2d {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        opts: Conv2dOptions,
        rng: &mut InitRng,
    ) -> Result<Self> {
        // PyTorch's [in, out, kh, kw] layout; fans as seen from the transposed direction.
        let fans = (cout * k * k, cin * k * k);
        let (weight, bias) = weight_and_bias(gpu, name, &[cin, cout, k, k], fans, cout, rng)?;
        Ok(ConvTranspose2d { weight, bias, opts })
    }
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        self.forward_activation(tape, x, None)
    }
    /// `act(self(x))` with the activation in the transposed conv's epilogue.
    pub fn forward_activation(
        &self,
        tape: &Tape,
        x: &Var,
        act: Option<ops::Activation>,
    ) -> Result<Var> {
        let (w, b) = (tape.param(&self.weight), tape.param(&self.bias));
        ops::conv_transpose2d_activation(tape, x, &w, Some(&b), self.opts, act)
    }

    /// `act(bn(self(x)))` in inference mode, as `Conv2d::forward_batch_norm_eval`.
    pub fn forward_batch_norm_eval(
        &self,
        tape: &Tape,
        x: &Var,
        bn: &BatchNorm2d,
        act: Option<ops::Activation>,
    ) -> Result<Var> {
        bn.after_conv_eval(
            tape,
            act,
            &self.bias.value,
            || self.forward(tape, x),
            |table| {
                let w = &self.weight.value;
                ops::conv_transpose2d_batch_norm_eval(tape, x, w, table, self.opts, act)
            },
        )
    }
}

impl Module for ConvTranspose2d {
    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
}

pub struct BatchNorm2d {
    pub name: String,
    pub weight: Param,
    pub bias: Param,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm2d {
    /// MATLAB's defaults: scale 1, offset 0, epsilon 1e-5, running-statistic momentum 0.1.
    pub fn new(gpu: &Gpu, name: &str, c: usize) -> Result<Self> {
        Ok(BatchNorm2d {
            name: name.to_string(),
            weight: Param::new(format!("{name}.weight"), Tensor::full(gpu, 1.0, &[c])?),
            bias: Param::new(format!("{name}.bias"), Tensor::zeros(gpu, &[c])?),
            running_mean: Tensor::zeros(gpu, &[c])?,
            running_var: Tensor::full(gpu, 1.0, &[c])?,
            momentum: 0.1,
            eps: 1e-5,
        })
    }
    pub fn forward(&self, tape: &Tape, x: &Var, training: bool) -> Result<Var> {
        self.forward_activation(tape, x, training, None)
    }
    /// `act(self(x))` with the (leaky) ReLU fused into the batch-norm kernels.
    pub fn forward_activation(
        &self,
        tape: &Tape,
        x: &Var,
        training: bool,
        act: Option<ops::Activation>,
    ) -> Result<Var> {
        let (g, b) = (tape.param(&self.weight), tape.param(&self.bias));
        ops::batch_norm_activation(tape, x, &g, &b, &self.state(), training, act)
    }

    fn state(&self) -> BatchNormState<'_> {
        BatchNormState {
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            momentum: self.momentum,
            eps: self.eps,
        }
    }

    /// This layer in inference mode after a conv with bias `conv_bias`: on a tape that records
    /// (the separate ops have backwards) or where the device does not fold
    /// (`Gpu::batch_norm_fold`), `conv()` and then this layer as separate ops; otherwise `fused`
    /// given the table from which the conv applies this layer in its epilogue
    /// (`ops::batch_norm::inference_epilogue`).
    fn after_conv_eval(
        &self,
        tape: &Tape,
        act: Option<ops::Activation>,
        conv_bias: &Tensor,
        conv: impl FnOnce() -> Result<Var>,
        fused: impl FnOnce(&Tensor) -> Result<Var>,
    ) -> Result<Var> {
        if tape.is_recording() || !conv_bias.gpu().batch_norm_fold() {
            return self.forward_activation(tape, &conv()?, false, act);
        }
        let table = ops::batch_norm::inference_epilogue(
            Some(conv_bias),
            &self.weight.value,
            &self.bias.value,
            &self.state(),
        )?;
        fused(&table)
    }
}

impl Module for BatchNorm2d {
    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
    fn buffers(&self) -> Vec<(String, &Tensor)> {
        vec![
            (format!("{}.running_mean", self.name), &self.running_mean),
            (format!("{}.running_var", self.name), &self.running_var),
        ]
    }
}
