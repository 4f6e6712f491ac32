//! Lab: the project's GEMM at 1024^3 (the `dcgan bench` figure) under several environment
//! settings, alternated in one process (each round runs every setting once, order rotated;
//! a setting's time is the best of 3 calls), so that a machine whose speed drifts within
//! minutes still gives a fair ratio. A setting is `VAR=VALUE[,...]` (`-` for none); every
//! setting's result is checked bit for bit against the first's.
//! `cargo run --release --example ab_gemm -- ROUNDS SETTING...`
use dcgan::tensor::Tensor;
use dcgan::{AdapterRequest, Gpu};

#[path = "lab_shared/settings.rs"]
mod lab;
use lab::{median, ratio_to_first, Reference, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args[1].parse().unwrap();
    let settings = Settings::new(args[2..].to_vec());
    let gpu = Gpu::new(&AdapterRequest::default()).unwrap();
    let n = 1024;
    // The operands `dcgan bench` uses.
    let data: Vec<f32> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let a = Tensor::from_slice(&gpu, &data, &[n, n]).unwrap();
    let b = Tensor::from_slice(&gpu, &data, &[n, n]).unwrap();
    let mut reference = Reference::default();
    let times = settings.alternate(
        rounds,
        |_, _| {},
        |k, warm_up| {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                let c = dcgan::ops::linear::matmul(&a, &b).unwrap();
                gpu.sync().unwrap();
                best = best.min(t.elapsed().as_secs_f64() * 1e3);
                if warm_up {
                    reference.check(&settings.list[k], c.to_vec().unwrap());
                    break;
                }
            }
            best
        },
    );
    let gf = 2.0 * (n * n * n) as f64 / 1e9;
    for (k, s) in settings.list.iter().enumerate() {
        println!(
            "gemm 1024^3 [{s}]: median {:.1} ms ({:.1} GFLOP/s), ratio to first {:.3}, rounds {:?}",
            median(&times[k]),
            gf / median(&times[k]) * 1e3,
            ratio_to_first(&times, k),
            times[k]
                .iter()
                .map(|t| t.round() as i64)
                .collect::<Vec<_>>()
        );
    }
}
