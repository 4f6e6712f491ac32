//! Adapter choice: a hardware GPU first, then a CPU Vulkan driver (lavapipe), then GL.

use crate::error::{Error, Result};

/// What the user asked for; empty fields mean "best available".
#[derive(Clone, Debug, Default)]
pub struct AdapterRequest {
    /// Backend name: vulkan, metal, dx12 or gl (also read from `DCGAN_BACKEND`, then `WGPU_BACKEND`).
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name (also read from `DCGAN_ADAPTER`).
    pub name: Option<String>,
}

impl AdapterRequest {
    /// Flags win over the environment, so a script can still override a user's shell.
    pub fn with_env(mut self) -> Self {
        if self.backend.is_none() {
            self.backend = std::env::var("DCGAN_BACKEND")
                .ok()
                .or_else(|| std::env::var("WGPU_BACKEND").ok())
                .filter(|s| !s.is_empty());
        }
        if self.name.is_none() {
            self.name = std::env::var("DCGAN_ADAPTER")
                .ok()
                .filter(|s| !s.is_empty());
        }
        self
    }

    pub fn backends(&self) -> Result<wgpu::Backends> {
        match &self.backend {
            None => Ok(wgpu::Backends::VULKAN
                | wgpu::Backends::METAL
                | wgpu::Backends::DX12
                | wgpu::Backends::GL),
            Some(list) => {
                let b = wgpu::Backends::from_comma_list(list);
                if b.is_empty() {
                    Err(Error::NoAdapter {
                        tried: format!("unknown backend {list:?}"),
                    })
                } else {
                    Ok(b)
                }
            }
        }
    }
}

/// Lower is better: real GPUs before CPU drivers, and any Vulkan/Metal/DX12 before GL,
/// because GL lacks f16, subgroups and timestamp queries.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let api = u8::from(info.backend == wgpu::Backend::Gl);
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    (api, kind)
}

pub fn choose(instance: &wgpu::Instance, req: &AdapterRequest) -> Result<wgpu::Adapter> {
    let backends = req.backends()?;
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let found: Vec<String> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({:?})", i.name, i.backend)
        })
        .collect();
    if let Some(name) = &req.name {
        let needle = name.to_lowercase();
        adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
    }
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters.into_iter().next().ok_or_else(|| {
        let names: Vec<&str> = [
            (wgpu::Backends::VULKAN, "vulkan"),
            (wgpu::Backends::METAL, "metal"),
            (wgpu::Backends::DX12, "dx12"),
            (wgpu::Backends::GL, "gl"),
        ]
        .into_iter()
        .filter(|(b, _)| backends.contains(*b))
        .map(|(_, n)| n)
        .collect();
        let mut tried = format!("backends {}", names.join(", "));
        if let Some(name) = &req.name {
            tried += &format!(", adapter name containing {name:?}");
        }
        if !found.is_empty() {
            tried += &format!("; present: {}", found.join(", "));
        }
        Error::NoAdapter { tried }
    })
}
