//! Kernel lab: times one WGSL SGEMM file at 1024^3 on the Vulkan adapter, outside the engine,
//! to compare ways of feeding the multiply-adds (BENCHMARKS.md, "What limits lavapipe").
//! `benches/lavapipe_lab/gen_gemm.py KIND TM TN` writes a kernel and prints its grid; then
//! `cargo run --release --example gemm_lab -- FILE GX GY`. Bindings: 1 A, 2 B, 4 C (f32, row
//! major). `SMALL=1` binds only the first 64 KiB of A and B (the uniform-buffer variants),
//! `SMALL_A=1` only of A;
//! `TEX=1` / `TEX=4` bind them as r32float / rgba32float textures; `F16=1` stores A and B as
//! f16 (row major, the `h8` variant) and checks against the product of the rounded values.
//! Prints the largest error
//! against an f64 product at 2,000 points (meaningless for the wrapped `ubo` variants) and
//! the best and median of three timed runs.
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = &args[1];
    let gx: u32 = args[2].parse().unwrap();
    let gy: u32 = args[3].parse().unwrap();
    let src = std::fs::read_to_string(file).unwrap();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::VULKAN;
    let inst = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(inst.request_adapter(&Default::default())).unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: wgpu::Features::SUBGROUP,
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .unwrap();
    eprintln!(
        "max uniform binding {}",
        adapter.limits().max_uniform_buffer_binding_size
    );
    let n = 1024usize;
    let f16 = std::env::var("F16").is_ok();
    // With F16 the reference uses the rounded values, so the error shows the kernel's
    // accumulation only (storage rounding costs about 2^-11 relative per input).
    let round = |v: f32| if f16 { f16_to_f32(f32_to_f16(v)) } else { v };
    let a: Vec<f32> = (0..n * n)
        .map(|i| round(((i * 7919) % 1000) as f32 / 1000.0 - 0.5))
        .collect();
    let b: Vec<f32> = (0..n * n)
        .map(|i| round(((i * 104729) % 997) as f32 / 997.0 - 0.5))
        .collect();
    use wgpu::util::DeviceExt;
    let mk = |d: &[f32], usage| {
        let half: Vec<u16> = d.iter().map(|&v| f32_to_f16(v)).collect();
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: if f16 {
                bytemuck::cast_slice(&half)
            } else {
                bytemuck::cast_slice(d)
            },
            usage,
        })
    };
    let st =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_SRC;
    let ba = mk(&a, st);
    let bb = mk(&b, st);
    let bc = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&vec![0f32; n * n]),
        usage: st,
    });
    let rb = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (n * n * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let sm = unsafe {
        device.create_shader_module_trusted(
            wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(src.into()),
            },
            wgpu::ShaderRuntimeChecks::unchecked(),
        )
    };
    let pl = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &sm,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let small = std::env::var("SMALL").is_ok();
    let small_a = std::env::var("SMALL_A").is_ok();
    let tex = std::env::var("TEX").ok();
    let mktex = |d: &[f32]| {
        let (fmt, w) = if tex.as_deref() == Some("4") {
            (wgpu::TextureFormat::Rgba32Float, n as u32 / 4)
        } else {
            (wgpu::TextureFormat::R32Float, n as u32)
        };
        let t = device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width: w,
                height: n as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: fmt,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        queue.write_texture(
            t.as_image_copy(),
            bytemuck::cast_slice(d),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(n as u32 * 4),
                rows_per_image: None,
            },
            t.size(),
        );
        t.create_view(&Default::default())
    };
    let (ta, tb) = (mktex(&a), mktex(&b));
    let bg = if tex.is_some() {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pl.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&ta),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&tb),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: bc.as_entire_binding(),
                },
            ],
        })
    } else {
        // SMALL: only the first 64 KiB, the most a lavapipe uniform binding may hold.
        let operand = |buffer, is_a: bool| {
            if small || (small_a && is_a) {
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: 0,
                    size: std::num::NonZeroU64::new(65536),
                })
            } else {
                buffer.as_entire_binding()
            }
        };
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pl.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: operand(&ba, true),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: operand(&bb, false),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: bc.as_entire_binding(),
                },
            ],
        })
    };
    let run = |copy: bool| {
        let mut enc = device.create_command_encoder(&Default::default());
        {
            let mut p = enc.begin_compute_pass(&Default::default());
            p.set_pipeline(&pl);
            p.set_bind_group(0, &bg, &[]);
            p.dispatch_workgroups(gx, gy, 1);
        }
        if copy {
            enc.copy_buffer_to_buffer(&bc, 0, &rb, 0, (n * n * 4) as u64);
        }
        queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    };
    let t = Instant::now();
    run(true);
    eprintln!("first (compile+run) {:.2}s", t.elapsed().as_secs_f64());
    rb.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let c: Vec<f32> = bytemuck::cast_slice(&rb.slice(..).get_mapped_range().unwrap()).to_vec();
    rb.unmap();
    let mut maxerr = 0f64;
    for s in 0..2000 {
        let (i, j) = ((s * 37) % n, (s * 101 + s / 7) % n);
        let r: f64 = (0..n)
            .map(|k| a[i * n + k] as f64 * b[k * n + j] as f64)
            .sum();
        maxerr = maxerr.max((r - c[i * n + j] as f64).abs());
    }
    let mut ts = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        run(false);
        ts.push(t.elapsed().as_secs_f64());
    }
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{file}: maxerr {maxerr:.2e}  best {:.1} GFLOP/s  median {:.1}",
        2e-9 * (n * n * n) as f64 / ts[0],
        2e-9 * (n * n * n) as f64 / ts[1]
    );
}

/// f32 to IEEE half, round to nearest even; the lab's data is all zero or normal in f16.
fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if x == 0.0 {
        return sign;
    }
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    assert!((1..31).contains(&exp), "{x} is outside f16's normal range");
    let man = bits & 0x7f_ffff;
    let mut h = ((exp as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    sign | h as u16
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    if exp == 0 && man == 0 {
        return f32::from_bits(sign);
    }
    f32::from_bits(sign | ((exp + 127 - 15) << 23) | (man << 13))
}
