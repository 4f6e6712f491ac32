//! Lab: one conv primitive at D's four conv layers' shapes (batch 128) under several
//! environment settings, alternated in one process (each round runs every setting once, order
//! rotated), so that a machine whose speed drifts by 30% within minutes still gives a fair
//! ratio. A setting is `VAR=VALUE[,...]` set in this process before each call (`-` for none);
//! `DCGAN_WGRAD_KU` goes to `Gpu::set_weight_grad_unroll`, `DCGAN_CONV_ROWS` to
//! `Gpu::set_row_windows`. Every setting's result is checked bit for bit against the first's.
//! Row windows are on unless a setting turns them off.
//! `cargo run --release --example ab_conv -- forward|input_grad|weight_grad ROUNDS SETTING...`
//! (`SHAPES=32,16` picks D's layers by input size; 64 is the 3-channel first).
use dcgan::nn::init::InitRng;
use dcgan::ops::conv::{self, Conv2dOptions, Geometry};
use dcgan::{AdapterRequest, Gpu};

#[path = "lab_shared/settings.rs"]
mod lab;
use lab::{median, ratio_to_first, Reference, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pass = args[1].clone();
    let rounds: usize = args[2].parse().unwrap();
    let settings: Vec<String> = args[3..].to_vec();
    let gpu = Gpu::new(&AdapterRequest::default()).unwrap();
    gpu.set_row_windows(true);
    gpu.set_profiling(true);
    let settings = Settings::new(settings);
    let mut hook = |name: &str, v: &str| {
        if name == "DCGAN_WGRAD_KU" {
            gpu.set_weight_grad_unroll(v.parse().unwrap());
        }
        if name == "DCGAN_CONV_ROWS" {
            gpu.set_row_windows(v == "1");
        }
    };
    let same = |n| Conv2dOptions::same(n, n, 5, 2);
    let only = std::env::var("SHAPES").unwrap_or_default();
    for (cin, n, cout) in [(3, 64, 64), (64, 32, 128), (128, 16, 256), (256, 8, 512)] {
        if !only.is_empty() && !only.split(',').any(|s| s == n.to_string()) {
            continue;
        }
        let g = Geometry::conv(&[128, cin, n, n], &[cout, cin, 5, 5], same(n)).unwrap();
        // Values of the scale of a DCGAN's (Glorot bounds); the timing does not depend on them.
        let mut rng = InitRng::new(n as u64);
        let mut random = |shape: &[usize]| rng.glorot(&gpu, shape, cin * 25, cout * 25).unwrap();
        let x = random(&[g.batch, g.cin, g.h, g.w]);
        let w = random(&[g.cout, g.cin, g.kh, g.kw]);
        let dy = random(&[g.batch, g.cout, g.oh, g.ow]);
        let run = || match pass.as_str() {
            "forward" => conv::forward(&x, &w, None, &g).unwrap(),
            "input_grad" => conv::input_grad(&dy, &w, None, &g).unwrap(),
            "weight_grad" => conv::weight_grad(&dy, &x, &g).unwrap(),
            other => panic!("unknown pass {other}"),
        };
        let mut labels = vec![String::new(); settings.list.len()];
        let mut reference = Reference::default();
        let times = settings.alternate(rounds, &mut hook, |k, warm_up| {
            let out = run();
            let prof = gpu.take_profile();
            if warm_up {
                // Compiles, and checks every setting against the first.
                labels[k] = prof.keys().cloned().collect::<Vec<_>>().join(" + ");
                reference.check(
                    &format!("{n}x{n} {}", settings.list[k]),
                    out.to_vec().unwrap(),
                );
                gpu.take_profile();
            }
            prof.iter()
                .filter(|(l, _)| l.contains(pass.as_str()))
                .map(|(_, p)| p.1)
                .sum::<f64>()
                / 1e6
        });
        let gf = 2.0 * g.macs() as f64 / 1e9;
        for (k, s) in settings.list.iter().enumerate() {
            println!(
                "{pass} {cin}x{n}x{n}->{cout} [{s}] {}: median {:.1} ms ({:.1} GFLOP/s), ratio to first {:.3}, rounds {:?}",
                labels[k],
                median(&times[k]),
                gf / median(&times[k]) * 1e3,
                ratio_to_first(&times, k),
                times[k].iter().map(|t| t.round() as i64).collect::<Vec<_>>()
            );
        }
    }
}
