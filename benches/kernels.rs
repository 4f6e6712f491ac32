//! Kernel benchmarks at the DCGAN shapes (batch 128). Each is timed twice: `NAME` by wall clock
//! from recording to GPU completion, and, where the adapter offers timestamp queries,
//! `NAME/gpu` by the GPU's own timestamps around every dispatch of the op (no recording,
//! submission or readback in it). Throughput is reported in FLOP (2 per multiply-add), so
//! criterion's "elem/s" reads as FLOP/s; for batch norm and the `step` group (Adam, dropout,
//! channel sums, leaky ReLU backward), in values a second. The `inference` group times the
//! convs that a batch norm follows with it in their epilogue and apart (sampling).
//!
//! `cargo bench --bench kernels` (filter with a name fragment, e.g. `-- conv2d_input_grad`).
//! The shared-memory kernels' benchmarks (`..._shared_tiles`) run on GPUs, and on a CPU
//! adapter with `DCGAN_BENCH_SHARED_TILES=1`.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use dcgan::ops::conv::{self, Conv2dOptions, ForwardPath, Geometry, InputGradPath, WeightGradPath};
use dcgan::ops::linear;
use dcgan::{AdapterRequest, Gpu, Tape, Tensor};

const BATCH: usize = 128;

fn gpu() -> Gpu {
    Gpu::new(&AdapterRequest::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn filled(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::from_slice(gpu, &data, shape).unwrap()
}

/// Registers `op` under `name` (wall clock to GPU completion) and `name/gpu` (the summed GPU
/// timestamps of its dispatches) where the adapter has timestamp queries.
fn bench_op<F>(group: &mut BenchmarkGroup<WallTime>, gpu: &Gpu, name: &str, mut op: F)
where
    F: FnMut() -> Tensor,
{
    group.bench_function(name, |b| {
        b.iter(|| {
            let y = op();
            gpu.sync().unwrap();
            y
        })
    });
    bench_gpu_time(group, gpu, &format!("{name}/gpu"), |_| true, op);
}

/// Registers `name` timed by the summed GPU timestamps of the dispatches of `op` whose kernel
/// label `counts`, where the adapter has timestamp queries.
fn bench_gpu_time<F>(
    group: &mut BenchmarkGroup<WallTime>,
    gpu: &Gpu,
    name: &str,
    counts: impl Fn(&str) -> bool,
    mut op: F,
) where
    F: FnMut() -> Tensor,
{
    if !gpu.has_timestamps() {
        return;
    }
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            gpu.set_profiling(true);
            let mut ns = 0.0;
            for _ in 0..iters {
                let y = op();
                ns += gpu
                    .take_profile()
                    .iter()
                    .filter(|(label, _)| counts(label))
                    .map(|(_, p)| p.1)
                    .sum::<f64>();
                drop(y);
            }
            gpu.set_profiling(false);
            Duration::from_nanos(ns as u64)
        })
    });
}

/// (name, conv geometry, is the layer a transposed conv)
fn layers() -> Vec<(String, Geometry, bool)> {
    let same = |n| Conv2dOptions::same(n, n, 5, 2);
    let t = Conv2dOptions::same_transposed(5, 2);
    let b = BATCH;
    let mut v = Vec::new();
    // Generator: transposed convs, described by the conv they are the input gradient of.
    for (cin, n, cout, opts) in [
        (512, 4, 256, Conv2dOptions::valid(1)),
        (256, 8, 128, t),
        (128, 16, 64, t),
        (64, 32, 3, t),
    ] {
        let g = Geometry::transposed(&[b, cin, n, n], &[cin, cout, 5, 5], opts).unwrap();
        v.push((format!("{cin}x{n}x{n}_to_{cout}x{}x{}", g.h, g.w), g, true));
    }
    // Discriminator convs.
    for (cin, n, cout) in [(3, 64, 64), (64, 32, 128), (128, 16, 256), (256, 8, 512)] {
        let g = Geometry::conv(&[b, cin, n, n], &[cout, cin, 5, 5], same(n)).unwrap();
        v.push((
            format!("{cin}x{n}x{n}_to_{cout}x{}x{}", g.oh, g.ow),
            g,
            false,
        ));
    }
    let g = Geometry::conv(&[b, 512, 4, 4], &[1, 512, 4, 4], Conv2dOptions::valid(1)).unwrap();
    v.push(("512x4x4_to_1x1x1".into(), g, false));
    v
}

fn bench_conv(c: &mut Criterion) {
    let gpu = gpu();
    let shared_tiles = gpu.info().device_type != wgpu::DeviceType::Cpu
        || std::env::var_os("DCGAN_BENCH_SHARED_TILES").is_some();
    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    for (name, g, transposed) in layers() {
        let x = filled(&gpu, &[g.batch, g.cin, g.h, g.w]);
        let w = filled(&gpu, &[g.cout, g.cin, g.kh, g.kw]);
        let dy = filled(&gpu, &[g.batch, g.cout, g.oh, g.ow]);
        let bias_out = filled(&gpu, &[g.cout]);
        let bias_in = filled(&gpu, &[g.cin]);
        group.throughput(Throughput::Elements(2 * g.macs()));
        let b = g.batch;
        // Which primitive serves which pass of the layer.
        let (fwd, dx, dw) = if transposed {
            (
                "conv_transpose2d",
                "conv_transpose2d_input_grad",
                "conv_transpose2d_weight_grad",
            )
        } else {
            ("conv2d", "conv2d_input_grad", "conv2d_weight_grad")
        };
        // Each pass on the kernels the engine picks; where those are the row windows
        // (DCGAN_CONV_ROWS=1), the forward-shaped passes also on the flat register kernels
        // they replace (`_flat`), and likewise every pass of a dense layer (D's logit layer,
        // `conv_dense.wgsl` by default); then (on
        // GPUs, or when asked) on the shared-memory tiles written for GPUs: on a CPU adapter
        // those run 18x slower than the register kernels and would add half an hour.
        let variants = [
            (
                "",
                ForwardPath::Auto,
                InputGradPath::Auto,
                Some(WeightGradPath::Auto),
            ),
            (
                "_flat",
                ForwardPath::Registers,
                InputGradPath::Direct,
                Some(WeightGradPath::Registers),
            ),
            (
                "_shared_tiles",
                ForwardPath::SharedTiles,
                InputGradPath::SharedTiles,
                Some(WeightGradPath::SharedTiles),
            ),
        ];
        for (suffix, fp, ip, wp) in variants {
            if (suffix == "_shared_tiles" && !shared_tiles)
                || (suffix == "_flat" && gpu.subgroup_size().is_none())
            {
                continue;
            }
            let forward = |bias| conv::forward_with(&x, &w, bias, None, &g, fp).unwrap();
            let input_grad = |bias| conv::input_grad_with(&dy, &w, bias, None, &g, ip).unwrap();
            // The flat twins only where the engine's choice is the row-window or the dense
            // kernel.
            let dense = g.is_dense(&gpu);
            let (rows_fwd, rows_dx) = conv::row_windows_chosen(&gpu, &g);
            let (fwd_rows, dx_rows) = if transposed {
                (rows_dx || dense, rows_fwd || dense)
            } else {
                (rows_fwd || dense, rows_dx || dense)
            };
            if suffix != "_flat" || fwd_rows {
                bench_op(
                    &mut group,
                    &gpu,
                    &format!("{fwd}_b{b}_{name}{suffix}"),
                    || {
                        if transposed {
                            input_grad(Some(&bias_in))
                        } else {
                            forward(Some(&bias_out))
                        }
                    },
                );
            }
            if suffix != "_flat" || dx_rows {
                bench_op(
                    &mut group,
                    &gpu,
                    &format!("{dx}_b{b}_{name}{suffix}"),
                    || {
                        if transposed {
                            forward(None)
                        } else {
                            input_grad(None)
                        }
                    },
                );
            }
            // Where the engine's input gradient is the narrow or the whole-plane kernel, also
            // the path it replaces (GEMM + col2im, the row windows or the flat kernel), which
            // GPUs take.
            let auto = conv::input_grad_auto(&gpu, &g);
            let general = conv::input_grad_auto_general(&gpu, &g);
            if suffix.is_empty() && auto != general {
                let replaced = || {
                    let bias = transposed.then_some(&bias_in);
                    conv::input_grad_with(&dy, &w, bias, None, &g, general).unwrap()
                };
                let tag = match general {
                    InputGradPath::Col2im => "_col2im",
                    InputGradPath::RowWindows => "_rows",
                    _ => "_flat",
                };
                let pass = if transposed { fwd } else { dx };
                bench_op(
                    &mut group,
                    &gpu,
                    &format!("{pass}_b{b}_{name}{tag}"),
                    replaced,
                );
            }
            // Where the engine keeps col2im (GPUs), the narrow and whole-plane kernels as
            // twins wherever they apply, so that a GPU run measures them too.
            for (path, tag) in [
                (InputGradPath::Narrow, "_narrow"),
                (InputGradPath::Planes, "_planes"),
            ] {
                let twin = || {
                    let bias = transposed.then_some(&bias_in);
                    conv::input_grad_with(&dy, &w, bias, None, &g, path).unwrap()
                };
                let applies = conv::input_grad_with(&dy, &w, None, None, &g, path).is_ok();
                if suffix.is_empty() && applies && conv::input_grad_auto(&gpu, &g) != path {
                    let pass = if transposed { fwd } else { dx };
                    bench_op(&mut group, &gpu, &format!("{pass}_b{b}_{name}{tag}"), twin);
                }
            }
            // The weight gradient's flat twin where the row windows replace it too.
            if let Some(wp) = wp.filter(|_| suffix != "_flat" || dense || gpu.row_windows()) {
                bench_op(
                    &mut group,
                    &gpu,
                    &format!("{dw}_b{b}_{name}{suffix}"),
                    || conv::weight_grad_with(&dy, &x, &g, wp).unwrap(),
                );
            }
        }
    }
    group.finish();
}

fn bench_gemm(c: &mut Criterion) {
    let gpu = gpu();
    let n = 1024;
    let a = filled(&gpu, &[n, n]);
    let b = filled(&gpu, &[n, n]);
    let mut group = c.benchmark_group("gemm");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    bench_op(&mut group, &gpu, "matmul_1024x1024x1024", || {
        linear::matmul(&a, &b).unwrap()
    });
    group.finish();
}

/// Batch norm at the DCGAN's batch-norm layers (batch 128; D runs its layers once on the real
/// and once on the fake batch): the training forward with the fused leaky ReLU (`bn_stats`,
/// `bn_apply`), and its backward (`bn_backward_reduce`, `bn_backward_dx`), the latter timed
/// by timestamps only, since each run needs a forward first. Throughput in activations.
fn bench_batch_norm(c: &mut Criterion) {
    use dcgan::ops::batch_norm::BatchNormState;
    use dcgan::ops::{batch_norm_activation, Activation};
    let gpu = gpu();
    let mut group = c.benchmark_group("batch_norm");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    for (ch, n) in [(512, 4), (256, 8), (128, 16), (64, 32)] {
        let shape = [BATCH, ch, n, n];
        let x = filled(&gpu, &shape);
        let dy = filled(&gpu, &shape);
        let (gamma, beta) = (filled(&gpu, &[ch]), filled(&gpu, &[ch]));
        let (rm, rv) = (filled(&gpu, &[ch]), filled(&gpu, &[ch]));
        let state = BatchNormState {
            running_mean: &rm,
            running_var: &rv,
            momentum: 0.1,
            eps: 1e-5,
        };
        let act = Some(Activation::LeakyRelu(0.2));
        let run = |backward: bool| {
            let tape = Tape::new();
            let xv = tape.leaf(x.clone(), true);
            let gv = tape.leaf(gamma.clone(), true);
            let bv = tape.leaf(beta.clone(), true);
            let y = batch_norm_activation(&tape, &xv, &gv, &bv, &state, true, act).unwrap();
            if backward {
                drop(
                    tape.backward_with(&y, dy.clone(), &[&xv, &gv, &bv])
                        .unwrap(),
                );
            }
            y.value.clone()
        };
        group.throughput(Throughput::Elements((BATCH * ch * n * n) as u64));
        let name = format!("b{BATCH}_{ch}x{n}x{n}");
        bench_op(&mut group, &gpu, &format!("batch_norm_{name}"), || {
            run(false)
        });
        bench_gpu_time(
            &mut group,
            &gpu,
            &format!("batch_norm_backward_{name}/gpu"),
            |label| label.contains("bn_backward"),
            || run(true),
        );
    }
    group.finish();
}

/// The step's remaining kernels at their DCGAN shapes (throughput in values a second): Adam
/// over each network's parameter count, D's input dropout, the bias gradients' channel sums
/// over the largest conv outputs, and the leaky ReLU backward of D's first conv (the one
/// activation not fused into batch norm).
fn bench_step_kernels(c: &mut Criterion) {
    use dcgan::ops::elementwise::activation_backward;
    use dcgan::ops::reduce::channel_sum;
    use dcgan::ops::{dropout, Activation};
    use dcgan::optim::{Adam, AdamConfig};
    use dcgan::Param;
    let gpu = gpu();
    let mut group = c.benchmark_group("step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    for (net, n) in [("generator", 5_134_339), ("discriminator", 4_316_545)] {
        let mut w = Param::new("w", filled(&gpu, &[n]));
        let adam = Adam::new(AdamConfig::default(), vec![&mut w]).unwrap();
        let grad = filled(&gpu, &[n]);
        let mut t = 0;
        group.throughput(Throughput::Elements(n as u64));
        bench_op(&mut group, &gpu, &format!("adam_{net}_{n}"), || {
            t += 1;
            adam.step(t, std::slice::from_ref(&grad)).unwrap();
            w.value.clone()
        });
    }
    let shape = [BATCH, 3, 64, 64];
    let x = filled(&gpu, &shape);
    group.throughput(Throughput::Elements((BATCH * 3 * 64 * 64) as u64));
    bench_op(&mut group, &gpu, "dropout_b128_3x64x64", || {
        let tape = Tape::new();
        let xv = tape.leaf(x.clone(), false);
        dropout(&tape, &xv, 0.5, 7, true).unwrap().value.clone()
    });
    for (ch, n) in [(3, 64), (64, 32)] {
        let dy = filled(&gpu, &[BATCH, ch, n, n]);
        group.throughput(Throughput::Elements((BATCH * ch * n * n) as u64));
        bench_op(
            &mut group,
            &gpu,
            &format!("channel_sum_b128_{ch}x{n}x{n}"),
            || channel_sum(&dy, BATCH, ch, n * n).unwrap(),
        );
    }
    let (y, dy) = (
        filled(&gpu, &[BATCH, 64, 32, 32]),
        filled(&gpu, &[BATCH, 64, 32, 32]),
    );
    group.throughput(Throughput::Elements((BATCH * 64 * 32 * 32) as u64));
    bench_op(
        &mut group,
        &gpu,
        "leaky_relu_backward_b128_64x32x32",
        || activation_backward(&y, &dy, Activation::LeakyRelu(0.2)).unwrap(),
    );
    group.finish();
}

/// Inference (sampling): each conv that a batch norm follows, with the batch norm (running
/// statistics) and the activation in the conv's epilogue (`NAME_bn_eval/fused`) and as the
/// conv followed by batch norm's own passes (`NAME_bn_eval/separate`), at batch 128.
fn bench_inference(c: &mut Criterion) {
    use dcgan::ops::batch_norm::{inference_epilogue, BatchNormState};
    use dcgan::ops::conv::Epilogue;
    use dcgan::ops::{batch_norm_activation, Activation};
    let gpu = gpu();
    let mut group = c.benchmark_group("inference");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4));
    // G's first three transposed convs and D's three middle convs (`layers()` lists G's four,
    // then D's five).
    let all = layers();
    let normed = all[..3].iter().chain(&all[5..8]);
    for (name, g, transposed) in normed {
        let (c_out, act, op) = if *transposed {
            (g.cin, Activation::Relu, "conv_transpose2d")
        } else {
            (g.cout, Activation::LeakyRelu(0.2), "conv2d")
        };
        // A transposed conv is the input gradient of `g`: its input has g's output shape.
        let input = if *transposed {
            filled(&gpu, &[g.batch, g.cout, g.oh, g.ow])
        } else {
            filled(&gpu, &[g.batch, g.cin, g.h, g.w])
        };
        let w = filled(&gpu, &[g.cout, g.cin, g.kh, g.kw]);
        let (bias, gamma, beta, mean) = (
            filled(&gpu, &[c_out]),
            filled(&gpu, &[c_out]),
            filled(&gpu, &[c_out]),
            filled(&gpu, &[c_out]),
        );
        let var = Tensor::full(&gpu, 0.8, &[c_out]).unwrap();
        let state = BatchNormState {
            running_mean: &mean,
            running_var: &var,
            momentum: 0.1,
            eps: 1e-5,
        };
        let conv = |b: Option<&Tensor>, epi: Epilogue| {
            if *transposed {
                conv::input_grad_epilogue(&input, &w, b, epi, g, InputGradPath::Auto)
            } else {
                conv::forward_epilogue(&input, &w, b, epi, g, ForwardPath::Auto)
            }
            .unwrap()
        };
        group.throughput(Throughput::Elements(2 * g.macs()));
        let full = format!("{op}_b{BATCH}_{name}_bn_eval");
        bench_op(&mut group, &gpu, &format!("{full}/fused"), || {
            let table = inference_epilogue(Some(&bias), &gamma, &beta, &state).unwrap();
            let epi = Epilogue {
                batch_norm: true,
                act: Some(act),
            };
            conv(Some(&table), epi)
        });
        bench_op(&mut group, &gpu, &format!("{full}/separate"), || {
            let tape = Tape::no_grad();
            let y = tape.leaf(conv(Some(&bias), None.into()), false);
            let (gv, bv) = (
                tape.leaf(gamma.clone(), false),
                tape.leaf(beta.clone(), false),
            );
            batch_norm_activation(&tape, &y, &gv, &bv, &state, false, Some(act))
                .unwrap()
                .value
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_gemm,
    bench_conv,
    bench_batch_norm,
    bench_step_kernels,
    bench_inference
);
criterion_main!(benches);
