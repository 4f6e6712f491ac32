//! WGSL sources and the pipeline cache: one compute pipeline per (file, entry point, constants).

use std::collections::HashMap;
use std::sync::Arc;

/// A compute kernel: which WGSL file and entry point, the compile-time constants spliced in
/// front of the source (tile sizes are a per-adapter choice). The bind group layout is the one
/// the shader implies for that entry point: binding 0 is the uniform parameter block, the
/// others are the storage buffers the entry point uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelSpec {
    pub file: &'static str,
    pub entry: &'static str,
    pub consts: Vec<(&'static str, u32)>,
}

impl KernelSpec {
    pub fn new(file: &'static str, entry: &'static str) -> Self {
        KernelSpec {
            file,
            entry,
            consts: Vec::new(),
        }
    }
    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.consts.push((name, value));
        self
    }
    pub fn label(&self) -> String {
        let mut s = format!("{}::{}", self.file, self.entry);
        for (k, v) in &self.consts {
            s += &format!(" {k}={v}");
        }
        s
    }
}

pub struct Kernel {
    pub spec: KernelSpec,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

const COMMON: &str = include_str!("../../shaders/common.wgsl");

fn source(file: &str) -> &'static str {
    match file {
        "elementwise" => include_str!("../../shaders/elementwise.wgsl"),
        "reduce" => include_str!("../../shaders/reduce.wgsl"),
        "matmul" => include_str!("../../shaders/matmul.wgsl"),
        "conv" => include_str!("../../shaders/conv.wgsl"),
        "batch_norm" => include_str!("../../shaders/batch_norm.wgsl"),
        "dropout" => include_str!("../../shaders/dropout.wgsl"),
        "loss" => include_str!("../../shaders/loss.wgsl"),
        "adam" => include_str!("../../shaders/adam.wgsl"),
        other => panic!("unknown shader file {other}"),
    }
}

#[derive(Default)]
pub struct PipelineCache {
    map: HashMap<KernelSpec, Arc<Kernel>>,
}

impl PipelineCache {
    pub fn get(&mut self, device: &wgpu::Device, spec: &KernelSpec) -> Arc<Kernel> {
        if let Some(k) = self.map.get(spec) {
            return k.clone();
        }
        let mut src = String::new();
        for (k, v) in &spec.consts {
            src += &format!("const {k}: u32 = {v}u;\n");
        }
        src += COMMON;
        src += source(spec.file);
        let label = spec.label();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: None,
            module: &module,
            entry_point: Some(spec.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let k = Arc::new(Kernel {
            spec: spec.clone(),
            pipeline,
            layout,
        });
        self.map.insert(spec.clone(), k.clone());
        k
    }
}
