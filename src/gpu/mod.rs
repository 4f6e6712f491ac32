//! The device layer: adapter, device and queue, buffer pool, pipeline cache, and a recorder
//! that batches many dispatches into one encoder and one submit.

pub mod adapter;
mod fpenv;
pub mod kernel;
pub mod pool;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use adapter::AdapterRequest;
pub use kernel::KernelSpec;
pub use pool::{Pool, Storage};

use crate::error::{Error, Result};

/// The host's CPU model and how many threads it offers this process: a CPU adapter such as
/// lavapipe runs on them, so its figures mean little without them (two 2-core machines of this
/// project measured 2x apart on the same code), and a GPU's step still records on them.
pub fn host_cpu() -> String {
    // Linux names the model in /proc/cpuinfo; elsewhere the architecture is what we know.
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {threads} threads")
}

/// Parameter blocks of all dispatches between two submits live in one uniform buffer.
const UNIFORM_CAPACITY: u64 = 1 << 20;
/// Longest we wait for the GPU before calling it hung (lavapipe has no watchdog);
/// `DCGAN_GPU_TIMEOUT` (seconds) overrides it.
const WAIT_TIMEOUT: Duration = Duration::from_secs(600);
/// The slices a wait is made of (see `Gpu::wait`).
const WAIT_SLICE: Duration = Duration::from_secs(5);

fn wait_timeout() -> Duration {
    std::env::var("DCGAN_GPU_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(WAIT_TIMEOUT, Duration::from_secs)
}
const MAX_TIMESTAMPS: u32 = 4096;

/// A storage buffer bound to one binding: the buffer and how many bytes of it the kernel sees.
#[derive(Clone, Copy)]
pub struct Bind<'a> {
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset of the view (a multiple of the adapter's storage offset alignment).
    pub offset: u64,
    pub bytes: u64,
}

/// What makes two dispatches' bind groups interchangeable: the kernel, the slot of its
/// parameter block in the uniform buffer, and each binding's buffer range. A training step
/// records the same dispatches into the same pooled buffers every iteration, so from the
/// second step on every bind group comes from this cache.
#[derive(PartialEq, Eq, Hash)]
struct BindKey {
    kernel: usize,
    uniform: (u64, u64),
    binds: Vec<(u32, wgpu::Buffer, u64, u64)>,
}

/// Bind groups kept at most; past this the cache starts over (a bound on memory when shapes
/// keep changing, as in the tests).
const BIND_CACHE_CAPACITY: usize = 4096;

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    uniforms: Vec<u8>,
    dispatches: u64,
    submits: u64,
    readbacks: u64,
    bind_groups_created: u64,
    /// The last command buffer submitted, for `Gpu::submit`.
    last_submission: Option<wgpu::SubmissionIndex>,
    bind_cache: HashMap<BindKey, wgpu::BindGroup>,
    profiling: bool,
    timestamps_used: u32,
    labels: Vec<String>,
}

struct Profiler {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
}

/// A point in the queue: the work submitted up to some moment (`Gpu::submit`).
pub struct Mark(Option<wgpu::SubmissionIndex>);

/// Totals since the last `reset_stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub dispatches: u64,
    pub submits: u64,
    /// Copies to the host (each one waits for the queue).
    pub readbacks: u64,
    /// Bind groups created (cache misses); the rest were reused.
    pub bind_groups_created: u64,
}

struct Inner {
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    pool: Pool,
    cache: Mutex<kernel::PipelineCache>,
    uniform: wgpu::Buffer,
    rec: Mutex<Recorder>,
    profiler: Option<Profiler>,
    profile: Mutex<BTreeMap<String, (u64, f64)>>,
    use_subgroups: std::sync::atomic::AtomicBool,
    row_windows: std::sync::atomic::AtomicBool,
    batch_norm_fold: std::sync::atomic::AtomicBool,
    weight_grad_unroll: std::sync::atomic::AtomicU32,
    poison_uninit: std::sync::atomic::AtomicBool,
    /// The first error the device reported on its own (loss, out of memory, validation),
    /// surfaced by the next `sync` or read instead of the default handler's panic.
    fault: Arc<Mutex<Option<Error>>>,
}

/// `DCGAN_MAX_MEMORY`: a cap on the buffer pool, in bytes or with a KiB/MiB/GiB suffix, for
/// sharing a GPU with other work.
fn memory_budget() -> Result<Option<u64>> {
    let Ok(v) = std::env::var("DCGAN_MAX_MEMORY") else {
        return Ok(None);
    };
    let t = v.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => 0,
    };
    match num.trim().parse::<u64>() {
        Ok(n) if mult > 0 && n > 0 => Ok(Some(n * mult)),
        _ => Err(Error::Device(format!(
            "DCGAN_MAX_MEMORY={v}: expected a size such as 512MiB or 2GiB"
        ))),
    }
}

/// The reduction steps a loop iteration that the tuning variable `var` (`DCGAN_GEMM_KU`,
/// `DCGAN_WGRAD_KU`) asks for, when it is set to 1 to 16: more would unroll kernels past what
/// the shader compilers take in reasonable time.
pub fn unroll_env(var: &str) -> Option<u32> {
    std::env::var(var)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|v| (1..=16).contains(v))
}

/// `DCGAN_BN_FOLD`: `1` or `0` when the environment decides whether inference-mode batch
/// norm runs in the conv epilogues (`Gpu::set_batch_norm_fold`).
pub fn batch_norm_fold_env() -> Option<bool> {
    env_switch("DCGAN_BN_FOLD")
}

/// `Some(true)` or `Some(false)` where the variable `var` is `1` or `0`, else `None`.
fn env_switch(var: &str) -> Option<bool> {
    match std::env::var(var).ok()?.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// `DCGAN_CONV_ROWS`: `1` or `0` when the environment decides for the row-window kernels
/// (`Gpu::set_row_windows`), `None` when it leaves them to the program.
pub fn row_windows_env() -> Option<bool> {
    env_switch("DCGAN_CONV_ROWS")
}

/// The GPU context. Cheap to clone; every tensor holds one.
#[derive(Clone)]
pub struct Gpu(Arc<Inner>);

impl Gpu {
    /// Opens the best adapter that matches `req` (flags, then environment, then ranking).
    pub fn new(req: &AdapterRequest) -> Result<Gpu> {
        let req = req.clone().with_env();
        // Opened on a thread of its own that flushes denormals, so that a CPU adapter's worker
        // threads, started here, inherit that (src/gpu/fpenv.rs).
        let (adapter, features, device, queue) = fpenv::with_denormals_flushed(|| {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            desc.backends = req.backends()?;
            let instance = wgpu::Instance::new(desc);
            let adapter = adapter::choose(&instance, &req)?;
            // The optional features the engine uses where the adapter offers them.
            let features = adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::SHADER_F16
                    | wgpu::Features::SUBGROUP);
            let (device, queue) =
                pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                    label: Some("dcgan"),
                    required_features: features,
                    // Limits::default() caps buffers far below what lavapipe and real GPUs
                    // allow.
                    required_limits: adapter.limits(),
                    experimental_features: wgpu::ExperimentalFeatures::disabled(),
                    memory_hints: wgpu::MemoryHints::Performance,
                    trace: wgpu::Trace::Off,
                }))
                .map_err(|e| Error::Device(e.to_string()))?;
            Ok::<_, Error>((adapter, features, device, queue))
        })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let fault: Arc<Mutex<Option<Error>>> = Arc::default();
        let f = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = f.lock().unwrap();
            if slot.is_none() {
                *slot = Some(match e {
                    wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory {
                        what: "a GPU operation".into(),
                        bytes: 0,
                    },
                    other => Error::Gpu(other.to_string()),
                });
            }
        }));
        let f = fault.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut slot = f.lock().unwrap();
            if !matches!(*slot, Some(Error::DeviceLost(_))) {
                let why = format!("{reason:?}").to_lowercase();
                *slot = Some(Error::DeviceLost(if msg.is_empty() {
                    why
                } else {
                    format!("{why}: {msg}")
                }));
            }
        });
        let budget = memory_budget()?;
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: UNIFORM_CAPACITY,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let profiler = features
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Profiler {
                queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: MAX_TIMESTAMPS,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: MAX_TIMESTAMPS as u64 * 8,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
            });
        // llvmpipe keeps a lane's tile in stack slots: 4 steps an accumulator visit took 0.58
        // to 0.70 of the time of 1 in the weight gradient. GPUs hold it in registers.
        let wgrad_ku =
            unroll_env("DCGAN_WGRAD_KU").unwrap_or(if info.device_type == wgpu::DeviceType::Cpu {
                4
            } else {
                1
            });
        // Folding batch norm into the conv epilogues saves memory passes that a GPU pays for;
        // on a CPU adapter it measured level and doubles the conv kernels llvmpipe compiles at
        // a first run (3 minutes more on Mesa 25, BENCHMARKS.md).
        let bn_fold = batch_norm_fold_env().unwrap_or(info.device_type != wgpu::DeviceType::Cpu);
        Ok(Gpu(Arc::new(Inner {
            pool: Pool::new(device.clone(), budget),
            fault,
            adapter,
            device,
            queue,
            info,
            limits,
            features,
            cache: Mutex::default(),
            uniform,
            rec: Mutex::new(Recorder {
                encoder: None,
                pass: None,
                uniforms: Vec::new(),
                dispatches: 0,
                submits: 0,
                readbacks: 0,
                bind_groups_created: 0,
                last_submission: None,
                bind_cache: HashMap::new(),
                profiling: false,
                timestamps_used: 0,
                labels: Vec::new(),
            }),
            profiler,
            profile: Mutex::default(),
            use_subgroups: std::sync::atomic::AtomicBool::new(
                std::env::var_os("DCGAN_PORTABLE").is_none(),
            ),
            row_windows: std::sync::atomic::AtomicBool::new(row_windows_env() == Some(true)),
            batch_norm_fold: std::sync::atomic::AtomicBool::new(bn_fold),
            weight_grad_unroll: std::sync::atomic::AtomicU32::new(wgrad_ku),
            poison_uninit: std::sync::atomic::AtomicBool::new(
                std::env::var_os("DCGAN_POISON_UNINIT").is_some(),
            ),
        })))
    }

    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }
    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }
    pub fn features(&self) -> wgpu::Features {
        self.0.features
    }
    pub fn device(&self) -> &wgpu::Device {
        &self.0.device
    }
    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.0.adapter
    }
    pub fn pool(&self) -> &Pool {
        &self.0.pool
    }
    /// Subgroup size when the adapter offers subgroup operations with one fixed size (the
    /// register-tiled kernels then share loads across lanes).
    pub fn subgroup_size(&self) -> Option<u32> {
        let i = &self.0.info;
        (self
            .0
            .use_subgroups
            .load(std::sync::atomic::Ordering::Relaxed)
            && self.0.features.contains(wgpu::Features::SUBGROUP)
            && i.subgroup_min_size == i.subgroup_max_size
            && i.subgroup_min_size >= 4)
            .then_some(i.subgroup_min_size)
    }

    /// Turns the subgroup kernels off (or back on), so the portable kernels can be tested and
    /// compared on an adapter that has both. `DCGAN_PORTABLE=1` starts with them off.
    pub fn set_subgroups(&self, on: bool) {
        self.0
            .use_subgroups
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Puts the forward-shaped conv primitives on the row-window kernels (`conv_rows.wgsl`)
    /// wherever their shapes allow, or back on the flat ones. The two give bit-identical
    /// results; the row windows run faster on llvmpipe but compile longer there, so the
    /// trainer decides per run (`ops::conv::row_windows_pay_off`). `DCGAN_CONV_ROWS=1` starts
    /// with them on.
    pub fn set_row_windows(&self, on: bool) {
        self.0
            .row_windows
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn row_windows(&self) -> bool {
        self.0
            .row_windows
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether inference-mode batch norm (and its activation) runs in the epilogue of the conv
    /// before it (`nn::Conv2d::forward_batch_norm_eval`) or as its own pass after it. Both give
    /// the same bits; the fold saves a pass over each activation and costs a second build of
    /// every conv kernel that precedes a batch norm. On by default on GPUs, off on CPU
    /// adapters; `DCGAN_BN_FOLD=1` or `0` sets the start.
    pub fn set_batch_norm_fold(&self, on: bool) {
        self.0
            .batch_norm_fold
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn batch_norm_fold(&self) -> bool {
        self.0
            .batch_norm_fold
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reduction steps (image, output pixel) a loop iteration of the subgroup weight-gradient
    /// kernel, each accumulator taking them in a row; the sums keep their order, so every
    /// setting gives the same result bit for bit. 4 on CPU adapters, 1 on GPUs, unless
    /// `DCGAN_WGRAD_KU` (1 to 16) says otherwise (BENCHMARKS.md "One loop over the
    /// reduction").
    pub fn set_weight_grad_unroll(&self, ku: u32) {
        self.0
            .weight_grad_unroll
            .store(ku.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn weight_grad_unroll(&self) -> u32 {
        self.0
            .weight_grad_unroll
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fills every new uninitialised tensor with NaN (or stops doing so): tests turn it on so
    /// that an output a kernel forgets to write cannot pass as zero or stale data.
    /// `DCGAN_POISON_UNINIT=1` starts with it on.
    pub fn set_poison_uninit(&self, on: bool) {
        self.0
            .poison_uninit
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn poisons_uninit(&self) -> bool {
        self.0
            .poison_uninit
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn has_timestamps(&self) -> bool {
        self.0.profiler.is_some()
    }

    /// One line: name, backend, device type, driver.
    pub fn describe(&self) -> String {
        let i = &self.0.info;
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        )
    }

    /// Allocates an uninitialised buffer from the pool, refusing sizes the adapter can't bind.
    pub fn alloc(&self, bytes: u64, what: &str) -> Result<Storage> {
        let limit = self
            .0
            .limits
            .max_storage_buffer_binding_size
            .min(self.0.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
            });
        }
        if let Some(s) = self.0.pool.alloc(bytes) {
            return Ok(s);
        }
        // Give back what the pool holds idle (and the cached bind groups that keep those
        // buffers alive), then try once more.
        self.0.rec.lock().unwrap().bind_cache.clear();
        self.0.pool.trim();
        self.0.pool.alloc(bytes).ok_or_else(|| Error::OutOfMemory {
            what: what.to_string(),
            bytes,
        })
    }

    /// The error the device reported on its own since it opened, if any; a lost device stays
    /// lost, so this keeps failing.
    pub fn check(&self) -> Result<()> {
        match &*self.0.fault.lock().unwrap() {
            None => Ok(()),
            Some(Error::DeviceLost(m)) => Err(Error::DeviceLost(m.clone())),
            Some(Error::OutOfMemory { what, bytes }) => Err(Error::OutOfMemory {
                what: what.clone(),
                bytes: *bytes,
            }),
            Some(e) => Err(Error::Gpu(e.to_string())),
        }
    }

    /// Destroys the device as a driver reset would: for the fault-injection tests of the
    /// trainer's device-loss handling (`DCGAN_FAULT=device-lost@N`).
    pub fn simulate_device_loss(&self) {
        self.flush();
        self.0.device.destroy();
    }

    pub fn kernel(&self, spec: &KernelSpec) -> Arc<kernel::Kernel> {
        self.0.cache.lock().unwrap().get(&self.0.device, spec)
    }

    /// Splits a 1-D workgroup count over x and y, since each dimension is capped
    /// (65,535 on most adapters). Kernels rebuild the index with `linear_workgroup`.
    pub fn grid(&self, workgroups: u64) -> [u32; 3] {
        let max = self.0.limits.max_compute_workgroups_per_dimension as u64;
        let x = workgroups.clamp(1, max);
        let y = workgroups.div_ceil(x).max(1);
        assert!(y <= max, "dispatch of {workgroups} workgroups is too large");
        [x as u32, y as u32, 1]
    }

    /// Records one dispatch. `params` is the kernel's uniform block (any length; padded to 16);
    /// `binds` pairs each storage binding number the entry point uses with its buffer.
    pub fn dispatch(
        &self,
        spec: &KernelSpec,
        params: &[u8],
        binds: &[(u32, Bind)],
        groups: [u32; 3],
    ) {
        if groups.contains(&0) {
            return;
        }
        let kernel = self.kernel(spec);
        let inner = &self.0;
        let mut rec = inner.rec.lock().unwrap();
        let align = inner.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let size = params.len().max(16).next_multiple_of(16);
        let mut offset = rec.uniforms.len().next_multiple_of(align);
        let out_of_timestamps = rec.profiling && rec.timestamps_used + 2 > MAX_TIMESTAMPS;
        if (offset + size) as u64 > UNIFORM_CAPACITY || out_of_timestamps {
            self.flush_locked(&mut rec);
            offset = 0;
        }
        rec.uniforms.resize(offset, 0);
        rec.uniforms.extend_from_slice(params);
        rec.uniforms.resize(offset + size, 0);

        let key = BindKey {
            kernel: Arc::as_ptr(&kernel) as usize,
            uniform: (offset as u64, size as u64),
            binds: binds
                .iter()
                .map(|(i, b)| {
                    (
                        *i,
                        b.buffer.clone(),
                        b.offset,
                        b.bytes.max(4).next_multiple_of(4),
                    )
                })
                .collect(),
        };
        let bind_group = match rec.bind_cache.get(&key) {
            Some(g) => g.clone(),
            None => {
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &inner.uniform,
                        offset: offset as u64,
                        size: wgpu::BufferSize::new(size as u64),
                    }),
                }];
                for (i, buffer, off, bytes) in &key.binds {
                    entries.push(wgpu::BindGroupEntry {
                        binding: *i,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset: *off,
                            size: wgpu::BufferSize::new(*bytes),
                        }),
                    });
                }
                let g = inner.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &kernel.layout,
                    entries: &entries,
                });
                if rec.bind_cache.len() >= BIND_CACHE_CAPACITY {
                    rec.bind_cache.clear();
                }
                rec.bind_cache.insert(key, g.clone());
                rec.bind_groups_created += 1;
                g
            }
        };

        if rec.encoder.is_none() {
            rec.encoder = Some(inner.device.create_command_encoder(&Default::default()));
        }
        if rec.profiling {
            // A pass per dispatch, so each kernel gets its own begin/end timestamps.
            rec.pass = None;
            let p = inner.profiler.as_ref().unwrap();
            let i = rec.timestamps_used;
            rec.timestamps_used += 2;
            rec.labels.push(spec.label());
            let enc = rec.encoder.as_mut().unwrap();
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &p.queries,
                    beginning_of_pass_write_index: Some(i),
                    end_of_pass_write_index: Some(i + 1),
                }),
            });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        } else {
            if rec.pass.is_none() {
                let enc = rec.encoder.as_mut().unwrap();
                rec.pass = Some(
                    enc.begin_compute_pass(&Default::default())
                        .forget_lifetime(),
                );
            }
            let pass = rec.pass.as_mut().unwrap();
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        rec.dispatches += 1;
    }

    /// Records a buffer-to-buffer copy in order with the dispatches around it.
    pub fn copy(&self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.copy_range(src, 0, dst, 0, bytes)
    }

    /// Records a copy between byte ranges (offsets and length multiples of 4).
    pub fn copy_range(
        &self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) {
        let mut rec = self.0.rec.lock().unwrap();
        rec.pass = None;
        if rec.encoder.is_none() {
            rec.encoder = Some(self.0.device.create_command_encoder(&Default::default()));
        }
        rec.encoder.as_mut().unwrap().copy_buffer_to_buffer(
            src,
            src_offset,
            dst,
            dst_offset,
            bytes.next_multiple_of(4),
        );
    }

    /// Records zero-filling the first `bytes` of a buffer.
    pub fn clear(&self, dst: &wgpu::Buffer, offset: u64, bytes: u64) {
        let mut rec = self.0.rec.lock().unwrap();
        rec.pass = None;
        if rec.encoder.is_none() {
            rec.encoder = Some(self.0.device.create_command_encoder(&Default::default()));
        }
        rec.encoder
            .as_mut()
            .unwrap()
            .clear_buffer(dst, offset, Some(bytes.next_multiple_of(4)));
    }

    /// Submits everything recorded so far as one command buffer.
    pub fn flush(&self) {
        let mut rec = self.0.rec.lock().unwrap();
        self.flush_locked(&mut rec);
    }

    fn flush_locked(&self, rec: &mut Recorder) {
        rec.pass = None;
        let Some(mut enc) = rec.encoder.take() else {
            return;
        };
        let inner = &self.0;
        let n_ts = rec.timestamps_used;
        if n_ts > 0 {
            let p = inner.profiler.as_ref().unwrap();
            enc.resolve_query_set(&p.queries, 0..n_ts, &p.resolve, 0);
        }
        if !rec.uniforms.is_empty() {
            inner.queue.write_buffer(&inner.uniform, 0, &rec.uniforms);
            rec.uniforms.clear();
        }
        let staging = (n_ts > 0).then(|| {
            let s = inner.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps readback"),
                size: n_ts as u64 * 8,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let p = inner.profiler.as_ref().unwrap();
            enc.copy_buffer_to_buffer(&p.resolve, 0, &s, 0, n_ts as u64 * 8);
            s
        });
        rec.last_submission = Some(inner.queue.submit([enc.finish()]));
        rec.submits += 1;
        if let Some(s) = staging {
            let bytes = self
                .map_read(&s, n_ts as u64 * 8)
                .expect("timestamp readback");
            let ts: &[u64] = bytemuck::cast_slice(&bytes);
            let period = inner.queue.get_timestamp_period() as f64;
            let mut prof = inner.profile.lock().unwrap();
            for (i, label) in rec.labels.drain(..).enumerate() {
                let ns = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * period;
                let e = prof.entry(label).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += ns;
            }
            rec.timestamps_used = 0;
        }
    }

    /// Blocks until the queue is idle (after a flush), with a timeout instead of a hang.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.wait()?;
        self.check()
    }

    /// Submits everything recorded so far and returns a mark for exactly that much work, so
    /// that the host can record more while the GPU runs it and wait for it later.
    pub fn submit(&self) -> Mark {
        let mut rec = self.0.rec.lock().unwrap();
        self.flush_locked(&mut rec);
        Mark(rec.last_submission.clone())
    }

    /// Blocks until the work up to `mark` has finished (later submissions may still run), with
    /// `sync`'s timeout and device-loss check.
    pub fn wait_for(&self, mark: &Mark) -> Result<()> {
        if let Some(index) = &mark.0 {
            self.wait_until(Some(index.clone()))?;
        }
        self.check()
    }

    fn wait(&self) -> Result<()> {
        self.wait_until(None)
    }

    /// Waits for the queue (or one submission) in slices, counting only time the process was
    /// running: a slice that overran its length by far means the process was suspended
    /// (SIGSTOP, a sleeping laptop), and that time says nothing about the GPU hanging.
    fn wait_until(&self, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
        let limit = wait_timeout();
        let slice = WAIT_SLICE.min(limit / 4);
        let mut waited = Duration::ZERO;
        loop {
            let t = Instant::now();
            match self.0.device.poll(wgpu::PollType::Wait {
                submission_index: submission.clone(),
                timeout: Some(slice),
            }) {
                Ok(_) => return Ok(()),
                Err(wgpu::PollError::Timeout) => {
                    let e = t.elapsed();
                    if e < 2 * slice {
                        waited += e;
                    }
                    if waited >= limit {
                        return Err(self.check().err().unwrap_or(Error::Readback(format!(
                            "the GPU did not finish within {} s",
                            limit.as_secs()
                        ))));
                    }
                }
                // The submission never reached the GPU (a lost device refuses them): wait for
                // what did, which also runs the callbacks that record why.
                Err(wgpu::PollError::WrongSubmissionIndex(..)) if submission.is_some() => {
                    self.wait_until(None)?;
                    return Err(self
                        .check()
                        .err()
                        .unwrap_or(Error::Gpu("a command submission failed".into())));
                }
                // A failed wait on a lost device is the loss, not a readback problem.
                Err(e) => return Err(self.check().err().unwrap_or(Error::Readback(e.to_string()))),
            }
        }
    }

    fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv_timeout(Duration::from_secs(1))
            .map_err(|_| Error::Readback("buffer map never completed".into()))?
            .map_err(|e| Error::Readback(e.to_string()))?;
        let data = staging
            .get_mapped_range(0..bytes)
            .map_err(|e| Error::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Copies `bytes` from a device buffer to the host, after everything recorded before it.
    pub fn read(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        Ok(self.read_many(&[(src, offset, bytes)])?.remove(0))
    }

    /// Copies several byte ranges to the host through one staging buffer: one submit and one
    /// wait, however many tensors a step reports.
    pub fn read_many(&self, ranges: &[(&wgpu::Buffer, u64, u64)]) -> Result<Vec<Vec<u8>>> {
        let padded: Vec<u64> = ranges
            .iter()
            .map(|r| r.2.max(4).next_multiple_of(4))
            .collect();
        let total: u64 = padded.iter().sum();
        let staging = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut at = 0;
        for ((src, offset, _), len) in ranges.iter().zip(&padded) {
            self.copy_range(src, *offset, &staging, at, *len);
            at += len;
        }
        self.flush();
        self.0.rec.lock().unwrap().readbacks += 1;
        let data = self
            .map_read(&staging, total.max(4))
            .and_then(|d| self.check().map(|_| d))
            .map_err(|e| self.check().err().unwrap_or(e))?;
        let mut out = Vec::with_capacity(ranges.len());
        let mut at = 0usize;
        for (r, len) in ranges.iter().zip(&padded) {
            out.push(data[at..at + r.2 as usize].to_vec());
            at += *len as usize;
        }
        Ok(out)
    }

    /// Writes host data into a device buffer, ordered after everything recorded so far. The
    /// pending commands are submitted first, because queue writes land before the next submit
    /// and the buffer may be a pooled one that those commands still read.
    pub fn write(&self, dst: &wgpu::Buffer, offset: u64, data: &[u8]) {
        self.flush();
        if data.len().is_multiple_of(4) {
            self.0.queue.write_buffer(dst, offset, data);
        } else {
            let mut padded = data.to_vec();
            padded.resize(data.len().next_multiple_of(4), 0);
            self.0.queue.write_buffer(dst, offset, &padded);
        }
    }

    /// Turns per-kernel timestamp profiling on or off (a no-op where timestamps are not offered).
    pub fn set_profiling(&self, on: bool) {
        let mut rec = self.0.rec.lock().unwrap();
        self.flush_locked(&mut rec);
        rec.profiling = on && self.0.profiler.is_some();
    }

    /// Per kernel label: (dispatches, total GPU nanoseconds) since the last call.
    pub fn take_profile(&self) -> BTreeMap<String, (u64, f64)> {
        self.flush();
        std::mem::take(&mut *self.0.profile.lock().unwrap())
    }

    pub fn stats(&self) -> Stats {
        let rec = self.0.rec.lock().unwrap();
        Stats {
            dispatches: rec.dispatches,
            submits: rec.submits,
            readbacks: rec.readbacks,
            bind_groups_created: rec.bind_groups_created,
        }
    }

    pub fn reset_stats(&self) {
        let mut rec = self.0.rec.lock().unwrap();
        rec.dispatches = 0;
        rec.submits = 0;
        rec.readbacks = 0;
        rec.bind_groups_created = 0;
    }
}
