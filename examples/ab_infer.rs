//! Lab: G and D in inference mode at batch 128 (sampling, previews, `dcgan eval`) with each
//! batch norm in the epilogue of the conv before it (`FOLD=1`, as GPUs sample) and as
//! separate passes (`FOLD=0`, as CPU adapters sample: `Gpu::set_batch_norm_fold`), both on a
//! tape that records nothing, alternated in one process as ab_conv does. Prints whether each
//! setting's images and logits differ in their bits from the first setting's, and the median
//! GPU time (timestamps) of a round with its per-round ratio to the first.
//! `cargo run --release --example ab_infer -- ROUNDS FOLD=1 FOLD=0` (`G_ONLY=1` in the
//! environment: the generator alone, as `dcgan generate` runs it; `LAB_KERNELS=1`: each
//! round's GPU time per kernel too).
use dcgan::model::{Discriminator, Generator, LATENT};
use dcgan::nn::init::InitRng;
use dcgan::{AdapterRequest, Gpu, Tape, Tensor};

#[path = "lab_shared/settings.rs"]
mod lab;
use lab::{Reference, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args[1].parse().unwrap();
    let settings = Settings::new(args[2..].to_vec());
    let gpu = Gpu::new(&AdapterRequest::default()).unwrap();
    let mut init = InitRng::new(1);
    let (g, d) = (
        Generator::new(&gpu, &mut init).unwrap(),
        Discriminator::new(&gpu, &mut init).unwrap(),
    );
    let zs: Vec<f32> = (0..128 * LATENT)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let z = Tensor::from_slice(&gpu, &zs, &[128, LATENT]).unwrap();
    // A training-mode pass moves the running statistics off 0 and 1.
    let tape = Tape::new();
    let fake = g
        .forward(&tape, &tape.leaf(z.clone(), false), true)
        .unwrap();
    d.forward(&tape, &fake, true, 0).unwrap();
    drop(tape);
    gpu.sync().unwrap();
    gpu.set_profiling(true);
    let g_only = std::env::var("G_ONLY").as_deref() == Ok("1");
    let mut reference = Reference::default();
    let times = settings.alternate(
        rounds,
        |_, _| {},
        |k, warm_up| {
            gpu.set_batch_norm_fold(std::env::var("FOLD").as_deref() == Ok("1"));
            let tape = Tape::no_grad();
            gpu.sync().unwrap();
            gpu.take_profile();
            let images = g
                .forward(&tape, &tape.leaf(z.clone(), false), false)
                .unwrap();
            let logits = if g_only {
                images.clone()
            } else {
                d.forward(&tape, &images, false, 0).unwrap()
            };
            gpu.sync().unwrap();
            let prof = gpu.take_profile();
            if std::env::var_os("LAB_KERNELS").is_some() {
                for (label, (n, ns)) in &prof {
                    println!("  [{}] {:9.2} ms {n}x {label}", settings.list[k], ns / 1e6);
                }
            }
            if warm_up {
                let mut all = images.value.to_vec().unwrap();
                all.extend(logits.value.to_vec().unwrap());
                reference.check(&settings.list[k], all);
            }
            prof.values().map(|p| p.1).sum::<f64>() / 1e6
        },
    );
    lab::report(&settings, &times);
}
