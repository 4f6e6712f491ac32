//! The `dcgan` command line: info, and (in later modules) train, generate, bench.

use clap::{Args, Parser, Subcommand};

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
    },
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Info { device } => {
            let gpu = device.open()?;
            let i = gpu.info();
            let l = gpu.limits();
            println!("adapter:        {}", i.name);
            println!("backend:        {:?}", i.backend);
            println!("device type:    {:?}", i.device_type);
            println!("driver:         {} {}", i.driver, i.driver_info);
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
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
