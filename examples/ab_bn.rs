//! Lab: batch norm (forward and backward, leaky ReLU fused) at the DCGAN's batch-norm shapes
//! (batch 128: 512 x 4 x 4 to 64 x 32 x 32) under several environment settings, alternated in
//! one process as ab_conv does: a setting is `VAR=VALUE[,...]` set before each call (`-` for
//! none), for temporary switches in the code under test. Prints how many output and input-
//! gradient values of each setting differ in their bits from the first setting's, and the
//! median GPU time (timestamps) of a round with its per-round ratio to the first.
//! `cargo run --release --example ab_bn -- ROUNDS SETTING...`
use dcgan::ops::batch_norm::BatchNormState;
use dcgan::ops::{self, Activation};
use dcgan::{AdapterRequest, Gpu, Tape, Tensor};

#[path = "lab_shared/settings.rs"]
mod lab;
use lab::{Reference, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args[1].parse().unwrap();
    let settings: Vec<String> = args[2..].to_vec();
    let gpu = Gpu::new(&AdapterRequest::default()).unwrap();
    gpu.set_profiling(true);
    let settings = Settings::new(settings);
    let shapes = [(512usize, 4usize), (256, 8), (128, 16), (64, 32)];
    let mut reference = Reference::default();
    let times = settings.alternate(
        rounds,
        |_, _| {},
        |k, warm_up| {
            let mut all = Vec::new();
            for &(c, n) in &shapes {
                let len = 128 * c * n * n;
                let xs: Vec<f32> = (0..len)
                    .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                    .collect();
                let tape = Tape::new();
                let x = tape.leaf(
                    Tensor::from_slice(&gpu, &xs, &[128, c, n, n]).unwrap(),
                    true,
                );
                let g = tape.leaf(Tensor::from_slice(&gpu, &vec![1.1; c], &[c]).unwrap(), true);
                let b = tape.leaf(Tensor::from_slice(&gpu, &vec![0.1; c], &[c]).unwrap(), true);
                let rm = Tensor::from_slice(&gpu, &vec![0.0; c], &[c]).unwrap();
                let rv = Tensor::from_slice(&gpu, &vec![1.0; c], &[c]).unwrap();
                let state = BatchNormState {
                    running_mean: &rm,
                    running_var: &rv,
                    momentum: 0.1,
                    eps: 1e-5,
                };
                gpu.sync().unwrap();
                gpu.take_profile();
                let y = ops::batch_norm_activation(
                    &tape,
                    &x,
                    &g,
                    &b,
                    &state,
                    true,
                    Some(Activation::LeakyRelu(0.2)),
                )
                .unwrap();
                let seed = Tensor::from_slice(&gpu, &xs, &[128, c, n, n]).unwrap();
                let grads = tape.backward_with(&y, seed, &[&x]).unwrap();
                let dx = grads.get(&x).unwrap();
                if warm_up {
                    all.extend(y.value.to_vec().unwrap());
                    all.extend(dx.to_vec().unwrap());
                }
                gpu.sync().unwrap();
            }
            let prof = gpu.take_profile();
            if warm_up {
                println!(
                    "{}: {:?}",
                    settings.list[k],
                    prof.keys().collect::<Vec<_>>()
                );
                reference.check(&settings.list[k], all);
            }
            prof.values().map(|p| p.1).sum::<f64>() / 1e6
        },
    );
    lab::report(&settings, &times);
}
