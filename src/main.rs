//! The `dcgan` command line: info, and (in later modules) train, generate, bench.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use dcgan::run::{RunConfig, RunError};
use dcgan::{AdapterRequest, Gpu};

#[derive(Parser)]
#[command(
    name = "dcgan",
    version,
    about = "Train a DCGAN on skin-lesion images on any GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct DeviceArgs {
    /// Backend: vulkan, metal, dx12 or gl (default: best available; env DCGAN_BACKEND)
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (env DCGAN_ADAPTER)
    #[arg(long, global = true)]
    adapter: Option<String>,
}

/// `dcgan train`'s length without `--iterations` or `--epochs`: MATLAB's 600 epochs of 900
/// images at batch 128.
const DEFAULT_ITERATIONS: u64 = 4200;

/// `--conv-kernels`: which kernels serve the forward-shaped conv primitives.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
enum ConvKernelsArg {
    /// Row windows on CPU adapters when the run is long enough to repay their compile time
    /// (env DCGAN_CONV_ROWS=1/0 decides instead when set), else flat
    #[default]
    Auto,
    /// The flat register kernels
    Flat,
    /// The row-window kernels (faster on llvmpipe; minutes to compile there)
    Rows,
}

impl From<ConvKernelsArg> for dcgan::ops::conv::ConvKernels {
    fn from(a: ConvKernelsArg) -> Self {
        match a {
            ConvKernelsArg::Auto => Self::Auto,
            ConvKernelsArg::Flat => Self::Flat,
            ConvKernelsArg::Rows => Self::RowWindows,
        }
    }
}

impl DeviceArgs {
    fn open(&self) -> dcgan::Result<Gpu> {
        Gpu::new(&AdapterRequest {
            backend: self.backend.clone(),
            name: self.adapter.clone(),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter in use and the limits the engine relies on
    Info {
        #[command(flatten)]
        device: DeviceArgs,
        /// Also print every layer's output shape and parameter count
        #[arg(long)]
        model: bool,
    },
    /// Train the DCGAN (defaults: the MATLAB example's)
    Train(Box<TrainArgs>),
    /// Time the full training step on synthetic data and compare it with the GEMM
    Bench {
        #[command(flatten)]
        device: DeviceArgs,
        /// Batch size of the timed step
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Timed steps (after one warm-up step)
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        /// Print the summary as one JSON object
        #[arg(long)]
        json: bool,
        /// Conv kernels; auto picks what `dcgan train` at this batch for its default 4,200
        /// iterations would
        #[arg(long, value_enum, default_value_t = ConvKernelsArg::Auto)]
        conv_kernels: ConvKernelsArg,
    },
    /// Write samples of a trained generator
    Generate {
        #[command(flatten)]
        device: DeviceArgs,
        /// A checkpoint written by `dcgan train`
        #[arg(long)]
        checkpoint: PathBuf,
        /// How many images
        #[arg(long, default_value_t = 25)]
        count: usize,
        /// Output folder for sample_NNNNN.png
        #[arg(long)]
        out: PathBuf,
        /// Seed for the latents
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also write grid.png with all samples
        #[arg(long)]
        grid: bool,
    },
    /// Sample quality of a checkpoint: sliced Wasserstein distance (x 1000) between its samples
    /// and real images per Laplacian-pyramid level, beside the distance between two halves of
    /// the real images (what sampling noise alone gives). Lower is better.
    Eval {
        #[command(flatten)]
        device: DeviceArgs,
        /// A checkpoint written by `dcgan train`
        #[arg(long)]
        checkpoint: PathBuf,
        /// Folder of real images (default: the shipped data in data/)
        #[arg(long)]
        data: Option<PathBuf>,
        /// Real images to use, split into two halves (default: all); as many samples as a half
        #[arg(long)]
        count: Option<usize>,
        /// Seed for the latents, the halves, the patches and the directions
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Redraw a run folder's scores.png from its metrics.jsonl
    Plot {
        /// The run folder
        run: PathBuf,
    },
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Folder of JPEG/PNG images, searched recursively (default: the shipped sample)
    #[arg(long)]
    data: Option<PathBuf>,
    /// ISIC labels CSV (image,label); only images it names are used
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Run folder (default: runs/run-<unix time>)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Iterations to train (default 4200, MATLAB's 600 epochs of 900 images)
    #[arg(long, conflicts_with = "epochs")]
    iterations: Option<u64>,
    /// Epochs to train instead (drop-last batches per epoch)
    #[arg(long)]
    epochs: Option<u64>,
    /// Images per batch
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    batch_size: i64,
    /// Adam learning rate
    #[arg(long, default_value_t = 2e-4, allow_negative_numbers = true)]
    lr: f32,
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// Fraction of real labels flipped each iteration
    #[arg(long, default_value_t = 0.3)]
    flip: f32,
    /// Random seed (drawn and printed when not given)
    #[arg(long)]
    seed: Option<u64>,
    /// Preview grid every N iterations (and at iteration 1)
    #[arg(long, default_value_t = 100)]
    preview_every: u64,
    /// Checkpoint every N iterations (and at the end)
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Measure sample quality (SWD, as `dcgan eval`) every N iterations (and at the end) into
    /// quality.jsonl, on a worker thread while training goes on; 0: never. A resumed run takes
    /// a new value.
    #[arg(long, default_value_t = 0)]
    eval_every: u64,
    /// Continue the run in this folder
    #[arg(long, conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Conv kernels (results are bit-identical; only speed and compile time differ)
    #[arg(long, value_enum, default_value_t = ConvKernelsArg::Auto)]
    conv_kernels: ConvKernelsArg,
}

/// The shipped sample data, found beside the binary's source tree or the working directory.
fn default_data() -> (PathBuf, Option<PathBuf>) {
    let candidates = [
        PathBuf::from("data/isic2016"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/isic2016"),
    ];
    let dir = candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone());
    let labels = dir.join("labels.csv");
    (dir, labels.exists().then_some(labels))
}

fn canonical(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Refuses options given with `--resume` that differ from the run's saved configuration
/// (the run keeps its own; only its length may change).
fn check_resume_options(
    out: &std::path::Path,
    cfg: &RunConfig,
    given: &[String],
) -> Result<(), RunError> {
    let path = out.join("config.json");
    let Ok(text) = std::fs::read(&path) else {
        return Ok(()); // run::train reports the missing file
    };
    let Ok(saved) = serde_json::from_slice::<RunConfig>(&text) else {
        return Ok(());
    };
    let pairs: [(&str, &str, String, String); 8] = [
        (
            "batch_size",
            "--batch-size",
            cfg.batch_size.to_string(),
            saved.batch_size.to_string(),
        ),
        ("lr", "--lr", cfg.lr.to_string(), saved.lr.to_string()),
        (
            "beta1",
            "--beta1",
            cfg.beta1.to_string(),
            saved.beta1.to_string(),
        ),
        (
            "beta2",
            "--beta2",
            cfg.beta2.to_string(),
            saved.beta2.to_string(),
        ),
        (
            "flip",
            "--flip",
            cfg.flip.to_string(),
            saved.flip.to_string(),
        ),
        (
            "seed",
            "--seed",
            cfg.seed.to_string(),
            saved.seed.to_string(),
        ),
        (
            "data",
            "--data",
            canonical(&cfg.data),
            canonical(&saved.data),
        ),
        (
            "labels",
            "--labels",
            format!("{:?}", cfg.labels),
            format!("{:?}", saved.labels),
        ),
    ];
    let clashes: Vec<String> = pairs
        .iter()
        .filter(|(id, _, now, then)| given.iter().any(|g| g == id) && now != then)
        .map(|(_, flag, now, then)| format!("{flag} {now} (the run has {then})"))
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(RunError {
        code: 2,
        msg: format!(
            "{}: a resumed run keeps its options; {} differ from its config.json. Resume without \
             them, or start a new run with --out",
            out.display(),
            clashes.join(", ")
        ),
    })
}

fn train(a: TrainArgs, given: &[String]) -> Result<(), RunError> {
    let usage = |m: String| RunError { code: 2, msg: m };
    if a.batch_size <= 0 {
        return Err(usage(format!(
            "--batch-size must be positive, got {}",
            a.batch_size
        )));
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(usage(format!("--lr must be positive, got {}", a.lr)));
    }
    if !(0.0..1.0).contains(&a.beta1) || !(0.0..1.0).contains(&a.beta2) {
        return Err(usage("--beta1 and --beta2 must lie in [0, 1)".into()));
    }
    if !(0.0..=1.0).contains(&a.flip) {
        return Err(usage(format!("--flip must lie in [0, 1], got {}", a.flip)));
    }
    if a.preview_every == 0 {
        return Err(usage("--preview-every must be positive".into()));
    }
    if a.iterations == Some(0) || a.epochs == Some(0) {
        return Err(usage("nothing to do: zero iterations".into()));
    }
    let gpu = a.device.open().map_err(|e| usage(e.to_string()))?;
    let (default_dir, default_labels) = default_data();
    let (data, labels) = match a.data {
        Some(d) => (d, a.labels),
        None => (default_dir, a.labels.or(default_labels)),
    };
    // A resumed run keeps the seed in its config.json: nothing to draw or announce then.
    let seed = a.seed.unwrap_or_else(|| {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            % 1_000_000_007;
        if a.resume.is_none() {
            eprintln!("seed {s} (pass --seed {s} to repeat this run)");
        }
        s
    });
    let batch = a.batch_size as usize;
    let iterations = a.iterations.unwrap_or(DEFAULT_ITERATIONS);
    let (out, resume) = match a.resume {
        Some(dir) => (dir, true),
        None => (
            a.out.unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                PathBuf::from(format!("runs/run-{t}"))
            }),
            false,
        ),
    };
    let cfg = RunConfig {
        data,
        labels,
        iterations,
        epochs: a.epochs,
        batch_size: batch,
        lr: a.lr,
        beta1: a.beta1,
        beta2: a.beta2,
        eps: 1e-8,
        flip: a.flip,
        seed,
        preview_every: a.preview_every,
        checkpoint_every: a.checkpoint_every,
        eval_every: a.eval_every,
        keep_checkpoints: 3,
        image_size: dcgan::model::IMAGE,
        resize_filter: dcgan::data::RESIZE_FILTER.to_string(),
        adapter: gpu.describe(),
        host_cpu: dcgan::gpu::host_cpu(),
    };
    let given_now = dcgan::run::Given {
        length: a.iterations.is_some() || a.epochs.is_some(),
        eval_every: given.iter().any(|g| g == "eval_every"),
    };
    if resume {
        check_resume_options(&out, &cfg, given)?;
    }
    dcgan::run::train(&gpu, cfg, &out, resume, given_now, a.conv_kernels.into())
}

fn print_summary(name: &str, rows: &[dcgan::model::SummaryRow]) -> usize {
    println!("{name}");
    let mut total = 0;
    for (layer, shape, params) in rows {
        let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        println!("  {:<34} {:>12} {:>10}", layer, s.join("x"), params);
        total += params;
    }
    println!("  {:<34} {:>12} {:>10}", "total", "", total);
    total
}

fn run(cli: Cli, given: &[String]) -> Result<(), RunError> {
    let usage = |e: dcgan::Error| RunError {
        code: 2,
        msg: e.to_string(),
    };
    match cli.command {
        Command::Train(a) => return train(*a, given),
        Command::Bench {
            device,
            batch,
            iterations,
            json,
            conv_kernels,
        } => {
            if batch == 0 || iterations == 0 {
                return Err(RunError {
                    code: 2,
                    msg: "--batch and --iterations must be positive".into(),
                });
            }
            let gpu = device.open().map_err(usage)?;
            let fail = |e: dcgan::Error| RunError {
                code: 1,
                msg: e.to_string(),
            };
            // As a default-length training run at this batch would run.
            dcgan::run::choose_conv_kernels(
                &gpu,
                conv_kernels.into(),
                batch as u64 * DEFAULT_ITERATIONS,
            );
            let (s, breakdown) = dcgan::bench::run(&gpu, batch, iterations).map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string(&s).expect("summary serialises"));
                return Ok(());
            }
            println!("adapter:             {}", s.adapter);
            println!("host cpu:            {}", s.host_cpu);
            println!("batch:               {}", s.batch);
            println!("conv kernels:        {}", s.conv_kernels);
            println!(
                "step:                {:.1} ms median ({:.1} min, {:.1} max over {iterations})",
                s.step_ms_median, s.step_ms_min, s.step_ms_max
            );
            println!("images/s:            {:.2}", s.images_per_s);
            println!(
                "step FLOP:           {:.1} GFLOP (2 x {} multiply-adds, convs and fc only)",
                2.0 * s.step_macs as f64 / 1e9,
                s.step_macs
            );
            println!("step GFLOP/s:        {:.2}", s.step_gflops);
            println!("GEMM 1024^3 GFLOP/s: {:.2}", s.gemm_gflops);
            println!("efficiency:          {:.2} (step / GEMM)", s.efficiency);
            println!("dispatches/step:     {}", s.dispatches_per_step);
            println!("submits/step:        {}", s.submits_per_step);
            println!(
                "readbacks:           {} in {} steps (reports stay on the GPU until read)",
                s.readbacks, iterations
            );
            println!(
                "bind groups/step:    {} created, {} reused",
                s.bind_groups_created_per_step,
                s.dispatches_per_step
                    .saturating_sub(s.bind_groups_created_per_step)
            );
            println!(
                "peak GPU memory:     {:.1} MiB",
                s.peak_bytes as f64 / 1048576.0
            );
            if breakdown.is_empty() {
                println!("(no timestamp queries on this adapter: no per-kernel breakdown)");
            } else {
                let total: f64 = breakdown.iter().map(|b| b.2).sum();
                println!("\nper kernel, one step ({total:.1} ms of GPU time):");
                for (k, n, ms) in breakdown {
                    println!("  {ms:>9.2} ms {:>5.1}% {n:>4}x  {k}", 100.0 * ms / total);
                }
            }
            return Ok(());
        }
        Command::Generate {
            device,
            checkpoint,
            count,
            out,
            seed,
            grid,
        } => {
            let gpu = device.open().map_err(usage)?;
            return dcgan::run::generate(&gpu, &checkpoint, count, &out, seed, grid);
        }
        Command::Plot { run } => return dcgan::run::plot(&run),
        Command::Eval {
            device,
            checkpoint,
            data,
            count,
            seed,
            json,
        } => {
            let gpu = device.open().map_err(usage)?;
            let data = data.unwrap_or_else(|| default_data().0);
            let q = dcgan::quality::evaluate(&gpu, &checkpoint, &data, count, seed)?;
            if json {
                println!("{}", serde_json::to_string(&q).expect("result serialises"));
                return Ok(());
            }
            println!(
                "checkpoint: {} (iteration {})",
                checkpoint.display(),
                q.iteration
            );
            println!(
                "images:     {} generated; real: {} in two halves of {}, from {}",
                q.images,
                2 * q.images,
                q.images,
                data.display()
            );
            println!("SWD x 1e3   real vs real   generated vs real");
            for (i, size) in q.levels.iter().enumerate() {
                println!(
                    "  {:<9} {:>12.2} {:>19.2}",
                    format!("{size}x{size}"),
                    q.swd_real_vs_real[i],
                    q.swd_fake_vs_real[i]
                );
            }
            println!(
                "  {:<9} {:>12.2} {:>19.2}",
                "mean", q.swd_real_vs_real_mean, q.swd_fake_vs_real_mean
            );
            return Ok(());
        }
        Command::Info { device, model } => {
            let gpu = device.open().map_err(usage)?;
            let i = gpu.info();
            let l = gpu.limits();
            println!("adapter:        {}", i.name);
            println!("backend:        {:?}", i.backend);
            println!("device type:    {:?}", i.device_type);
            println!("driver:         {} {}", i.driver, i.driver_info);
            println!("host cpu:       {}", dcgan::gpu::host_cpu());
            println!(
                "max storage binding: {} MiB",
                l.max_storage_buffer_binding_size >> 20
            );
            println!("max buffer:     {} MiB", l.max_buffer_size >> 20);
            println!("workgroups/dim: {}", l.max_compute_workgroups_per_dimension);
            println!(
                "workgroup size: {} invocations, {} KiB shared",
                l.max_compute_invocations_per_workgroup,
                l.max_compute_workgroup_storage_size >> 10
            );
            println!(
                "subgroup size:  {}..{}",
                gpu.adapter().get_info().subgroup_min_size,
                gpu.adapter().get_info().subgroup_max_size
            );
            println!("timestamps:     {}", gpu.has_timestamps());
            println!(
                "f16:            {}",
                gpu.features().contains(wgpu::Features::SHADER_F16)
            );
            if model {
                let mut rng = dcgan::nn::init::InitRng::new(0);
                let g = dcgan::model::Generator::new(&gpu, &mut rng).map_err(usage)?;
                let d = dcgan::model::Discriminator::new(&gpu, &mut rng).map_err(usage)?;
                println!();
                print_summary("generator (input: 100 latent values)", &g.summary());
                print_summary("discriminator (input: 3x64x64 image)", &d.summary());
            }
        }
    }
    Ok(())
}

/// The Vulkan loader prints an error on every instance when XDG_RUNTIME_DIR is unset or
/// invalid (common in containers and CI); give it a private directory before any thread starts.
fn ensure_runtime_dir() {
    let ok = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if !ok {
        let dir = std::env::temp_dir().join("dcgan-runtime");
        if std::fs::create_dir_all(&dir).is_ok() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
            }
            // SAFETY: called first thing in main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}

fn main() {
    ensure_runtime_dir();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Options typed on the command line (not defaults): a resumed run refuses those that
    // contradict its saved configuration.
    let given: Vec<String> = matches
        .subcommand_matches("train")
        .map(|m| {
            m.ids()
                .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                .map(|id| id.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Err(e) = run(cli, &given) {
        eprintln!("error: {e}");
        std::process::exit(e.code);
    }
}
