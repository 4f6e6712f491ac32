//! Lab: the conv weight gradient at the DCGAN shapes under several settings, alternated in one
//! process (each round runs every setting once, order rotated), so that a machine whose speed
//! drifts by 30% within minutes still gives a fair ratio. A setting is a KU (reduction steps a
//! loop iteration, `Gpu::set_weight_grad_unroll`); a kernel variant under test can be switched
//! the same way. Every setting's result is checked bit for bit against the first's.
//! `cargo run --release --example ab_wgrad -- ROUNDS KU...` (`SHAPES=32,16` picks layers by
//! input size).
use dcgan::ops::conv::{self, Conv2dOptions, Geometry, WeightGradPath};
use dcgan::{AdapterRequest, Gpu, Tensor};

fn filled(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::from_slice(gpu, &data, shape).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args[1].parse().unwrap();
    let settings: Vec<u32> = args[2..].iter().map(|s| s.parse().unwrap()).collect();
    let gpu = Gpu::new(&AdapterRequest::default()).unwrap();
    gpu.set_profiling(true);
    let same = |n| Conv2dOptions::same(n, n, 5, 2);
    let only = std::env::var("SHAPES").unwrap_or_default();
    for (cin, n, cout) in [(64, 32, 128), (128, 16, 256), (256, 8, 512)] {
        if !only.is_empty() && !only.split(',').any(|s| s == n.to_string()) {
            continue;
        }
        let g = Geometry::conv(&[128, cin, n, n], &[cout, cin, 5, 5], same(n)).unwrap();
        let x = filled(&gpu, &[g.batch, g.cin, g.h, g.w]);
        let dy = filled(&gpu, &[g.batch, g.cout, g.oh, g.ow]);
        let mut times = vec![Vec::new(); settings.len()];
        let mut reference: Option<Vec<f32>> = None;
        for r in 0..=rounds {
            for i in 0..settings.len() {
                let k = (i + r) % settings.len();
                gpu.set_weight_grad_unroll(settings[k]);
                let dw = conv::weight_grad_with(&dy, &x, &g, WeightGradPath::Registers).unwrap();
                let prof = gpu.take_profile();
                let ms: f64 = prof
                    .iter()
                    .filter(|(l, _)| l.contains("weight_grad"))
                    .map(|(_, p)| p.1)
                    .sum::<f64>()
                    / 1e6;
                if r == 0 {
                    // warm-up round: compile, and check every setting against the first
                    let v = dw.to_vec().unwrap();
                    gpu.take_profile();
                    match &reference {
                        None => reference = Some(v),
                        Some(want) => {
                            let bad = want
                                .iter()
                                .zip(&v)
                                .filter(|(a, b)| a.to_bits() != b.to_bits())
                                .count();
                            println!(
                                "{n}x{n} KU {}: {bad} values differ from the first setting",
                                settings[k]
                            );
                        }
                    }
                } else {
                    times[k].push(ms);
                }
            }
        }
        let med = |v: &Vec<f64>| {
            let mut v = v.clone();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        let gf = 2.0 * g.macs() as f64 / 1e9;
        for (k, ku) in settings.iter().enumerate() {
            let ratios: Vec<f64> = times[k].iter().zip(&times[0]).map(|(a, b)| a / b).collect();
            println!(
                "{cin}x{n}x{n}->{cout} KU {ku}: median {:.1} ms ({:.1} GFLOP/s), ratio to first {:.3} (rounds {:?})",
                med(&times[k]),
                gf / med(&times[k]) * 1e3,
                med(&ratios),
                times[k].iter().map(|t| t.round() as i64).collect::<Vec<_>>()
            );
        }
    }
}
