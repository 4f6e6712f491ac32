//! Seeded weight initialisation (Glorot uniform, MATLAB's default for these layers).

use rand::{RngExt, SeedableRng};

use crate::error::Result;
use crate::gpu::Gpu;
use crate::tensor::Tensor;

pub struct InitRng(rand::rngs::StdRng);

impl InitRng {
    pub fn new(seed: u64) -> InitRng {
        InitRng(rand::rngs::StdRng::seed_from_u64(seed))
    }

    /// U(-b, b) with b = sqrt(6 / (fan_in + fan_out)).
    pub fn glorot(
        &mut self,
        gpu: &Gpu,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
    ) -> Result<Tensor> {
        let bound = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.0.random_range(-bound..bound)).collect();
        Tensor::from_slice(gpu, &data, shape)
    }
}
