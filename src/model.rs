//! The DCGAN of the MATLAB skin-lesion example (DESIGN §1): generator and discriminator.

use crate::autodiff::{Param, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::init::InitRng;
use crate::nn::{BatchNorm2d, Conv2d, ConvTranspose2d, Linear, Module};
use crate::ops::{self, Activation, Conv2dOptions};
use crate::tensor::Tensor;

pub const LATENT: usize = 100;
pub const IMAGE: usize = 64;
pub const CHANNELS: usize = 3;
pub const LEAK: f32 = 0.2;
pub const INPUT_DROPOUT: f32 = 0.5;

/// One row of a model summary: layer, output shape (without the batch), parameter count.
pub type SummaryRow = (String, Vec<usize>, usize);

fn count(m: &dyn Module) -> usize {
    m.params().iter().map(|p| p.value.numel()).sum()
}

pub struct Generator {
    pub fc: Linear,
    pub ct1: ConvTranspose2d,
    pub bn1: BatchNorm2d,
    pub ct2: ConvTranspose2d,
    pub bn2: BatchNorm2d,
    pub ct3: ConvTranspose2d,
    pub bn3: BatchNorm2d,
    pub ct4: ConvTranspose2d,
}

impl Generator {
    pub fn new(gpu: &Gpu, rng: &mut InitRng) -> Result<Generator> {
        let same = Conv2dOptions::same_transposed(5, 2);
        Ok(Generator {
            fc: Linear::new(gpu, "g.fc", LATENT, 512 * 4 * 4, rng)?,
            ct1: ConvTranspose2d::new(gpu, "g.ct1", 512, 256, 5, Conv2dOptions::valid(1), rng)?,
            bn1: BatchNorm2d::new(gpu, "g.bn1", 256)?,
            ct2: ConvTranspose2d::new(gpu, "g.ct2", 256, 128, 5, same, rng)?,
            bn2: BatchNorm2d::new(gpu, "g.bn2", 128)?,
            ct3: ConvTranspose2d::new(gpu, "g.ct3", 128, 64, 5, same, rng)?,
            bn3: BatchNorm2d::new(gpu, "g.bn3", 64)?,
            ct4: ConvTranspose2d::new(gpu, "g.ct4", 64, CHANNELS, 5, same, rng)?,
        })
    }

    /// z [B, 100] -> images [B, 3, 64, 64] in [-1, 1]. `training` selects batch statistics
    /// (and updates the running ones) or the running statistics.
    pub fn forward(&self, tape: &Tape, z: &Var, training: bool) -> Result<Var> {
        let b = z.shape()[0];
        let h = self.fc.forward(tape, z)?;
        let h = ops::reshape(tape, &h, &[b, 512, 4, 4])?;
        let relu = Some(Activation::Relu);
        let layer = |h: &Var, ct: &ConvTranspose2d, bn: &BatchNorm2d| -> Result<Var> {
            if training {
                let h = ct.forward(tape, h)?;
                bn.forward_activation(tape, &h, true, relu)
            } else {
                // Batch norm and ReLU in the transposed conv's epilogue where the device folds.
                ct.forward_batch_norm_eval(tape, h, bn, relu)
            }
        };
        let h = layer(&h, &self.ct1, &self.bn1)?;
        let h = layer(&h, &self.ct2, &self.bn2)?;
        let h = layer(&h, &self.ct3, &self.bn3)?;
        self.ct4
            .forward_activation(tape, &h, Some(Activation::Tanh))
    }

    pub fn summary(&self) -> Vec<SummaryRow> {
        vec![
            (
                "fc (project, reshape)".into(),
                vec![512, 4, 4],
                count(&self.fc),
            ),
            (
                "conv_transpose 5x5 s1".into(),
                vec![256, 8, 8],
                count(&self.ct1),
            ),
            (
                "batch_norm + relu".into(),
                vec![256, 8, 8],
                count(&self.bn1),
            ),
            (
                "conv_transpose 5x5 s2 same".into(),
                vec![128, 16, 16],
                count(&self.ct2),
            ),
            (
                "batch_norm + relu".into(),
                vec![128, 16, 16],
                count(&self.bn2),
            ),
            (
                "conv_transpose 5x5 s2 same".into(),
                vec![64, 32, 32],
                count(&self.ct3),
            ),
            (
                "batch_norm + relu".into(),
                vec![64, 32, 32],
                count(&self.bn3),
            ),
            (
                "conv_transpose 5x5 s2 same".into(),
                vec![3, 64, 64],
                count(&self.ct4),
            ),
            ("tanh".into(), vec![3, 64, 64], 0),
        ]
    }
}

impl Module for Generator {
    fn params(&self) -> Vec<&Param> {
        let mut v = self.fc.params();
        v.extend(self.ct1.params());
        v.extend(self.bn1.params());
        v.extend(self.ct2.params());
        v.extend(self.bn2.params());
        v.extend(self.ct3.params());
        v.extend(self.bn3.params());
        v.extend(self.ct4.params());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.fc.params_mut();
        v.extend(self.ct1.params_mut());
        v.extend(self.bn1.params_mut());
        v.extend(self.ct2.params_mut());
        v.extend(self.bn2.params_mut());
        v.extend(self.ct3.params_mut());
        v.extend(self.bn3.params_mut());
        v.extend(self.ct4.params_mut());
        v
    }
    fn buffers(&self) -> Vec<(String, &Tensor)> {
        let mut v = self.bn1.buffers();
        v.extend(self.bn2.buffers());
        v.extend(self.bn3.buffers());
        v
    }
}

pub struct Discriminator {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    pub conv3: Conv2d,
    pub bn3: BatchNorm2d,
    pub conv4: Conv2d,
    pub bn4: BatchNorm2d,
    pub conv5: Conv2d,
}

impl Discriminator {
    pub fn new(gpu: &Gpu, rng: &mut InitRng) -> Result<Discriminator> {
        let s = |n| Conv2dOptions::same(n, n, 5, 2);
        Ok(Discriminator {
            conv1: Conv2d::new(gpu, "d.conv1", CHANNELS, 64, 5, s(64), rng)?,
            conv2: Conv2d::new(gpu, "d.conv2", 64, 128, 5, s(32), rng)?,
            bn2: BatchNorm2d::new(gpu, "d.bn2", 128)?,
            conv3: Conv2d::new(gpu, "d.conv3", 128, 256, 5, s(16), rng)?,
            bn3: BatchNorm2d::new(gpu, "d.bn3", 256)?,
            conv4: Conv2d::new(gpu, "d.conv4", 256, 512, 5, s(8), rng)?,
            bn4: BatchNorm2d::new(gpu, "d.bn4", 512)?,
            conv5: Conv2d::new(gpu, "d.conv5", 512, 1, 4, Conv2dOptions::valid(1), rng)?,
        })
    }

    /// images `[B, 3, 64, 64]` -> logits `[B]`. Dropout on the input in training mode, with a mask
    /// drawn from `dropout_seed`.
    pub fn forward(&self, tape: &Tape, x: &Var, training: bool, dropout_seed: u32) -> Result<Var> {
        let b = x.shape()[0];
        let h = ops::dropout(tape, x, INPUT_DROPOUT, dropout_seed, training)?;
        let h = self
            .conv1
            .forward_activation(tape, &h, Some(Activation::LeakyRelu(LEAK)))?;
        let leaky = Some(Activation::LeakyRelu(LEAK));
        let layer = |h: &Var, conv: &Conv2d, bn: &BatchNorm2d| -> Result<Var> {
            if training {
                let h = conv.forward(tape, h)?;
                bn.forward_activation(tape, &h, true, leaky)
            } else {
                // Batch norm and leaky ReLU in the conv's epilogue where the device folds.
                conv.forward_batch_norm_eval(tape, h, bn, leaky)
            }
        };
        let h = layer(&h, &self.conv2, &self.bn2)?;
        let h = layer(&h, &self.conv3, &self.bn3)?;
        let h = layer(&h, &self.conv4, &self.bn4)?;
        let h = self.conv5.forward(tape, &h)?;
        ops::reshape(tape, &h, &[b])
    }

    pub fn summary(&self) -> Vec<SummaryRow> {
        vec![
            ("dropout 0.5".into(), vec![3, 64, 64], 0),
            (
                "conv 5x5 s2 same + leaky_relu".into(),
                vec![64, 32, 32],
                count(&self.conv1),
            ),
            (
                "conv 5x5 s2 same".into(),
                vec![128, 16, 16],
                count(&self.conv2),
            ),
            (
                "batch_norm + leaky_relu".into(),
                vec![128, 16, 16],
                count(&self.bn2),
            ),
            (
                "conv 5x5 s2 same".into(),
                vec![256, 8, 8],
                count(&self.conv3),
            ),
            (
                "batch_norm + leaky_relu".into(),
                vec![256, 8, 8],
                count(&self.bn3),
            ),
            (
                "conv 5x5 s2 same".into(),
                vec![512, 4, 4],
                count(&self.conv4),
            ),
            (
                "batch_norm + leaky_relu".into(),
                vec![512, 4, 4],
                count(&self.bn4),
            ),
            ("conv 4x4 valid".into(), vec![1, 1, 1], count(&self.conv5)),
        ]
    }
}

impl Module for Discriminator {
    fn params(&self) -> Vec<&Param> {
        let mut v = self.conv1.params();
        v.extend(self.conv2.params());
        v.extend(self.bn2.params());
        v.extend(self.conv3.params());
        v.extend(self.bn3.params());
        v.extend(self.conv4.params());
        v.extend(self.bn4.params());
        v.extend(self.conv5.params());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.conv1.params_mut();
        v.extend(self.conv2.params_mut());
        v.extend(self.bn2.params_mut());
        v.extend(self.conv3.params_mut());
        v.extend(self.bn3.params_mut());
        v.extend(self.conv4.params_mut());
        v.extend(self.bn4.params_mut());
        v.extend(self.conv5.params_mut());
        v
    }
    fn buffers(&self) -> Vec<(String, &Tensor)> {
        let mut v = self.bn2.buffers();
        v.extend(self.bn3.buffers());
        v.extend(self.bn4.buffers());
        v
    }
}
