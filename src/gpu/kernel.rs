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
        "gemm" => include_str!("../../shaders/gemm.wgsl"),
        "conv" => include_str!("../../shaders/conv.wgsl"),
        "conv_portable" => include_str!("../../shaders/conv_portable.wgsl"),
        "conv_tiled" => include_str!("../../shaders/conv_tiled.wgsl"),
        "conv_rows" => include_str!("../../shaders/conv_rows.wgsl"),
        "conv_common" => include_str!("../../shaders/conv_common.wgsl"),
        "conv_params" => include_str!("../../shaders/conv_params.wgsl"),
        "conv_dense" => include_str!("../../shaders/conv_dense.wgsl"),
        "conv_narrow" => include_str!("../../shaders/conv_narrow.wgsl"),
        "conv_planes" => include_str!("../../shaders/conv_planes.wgsl"),
        "matmul_common" => include_str!("../../shaders/matmul_common.wgsl"),
        "batch_norm" => include_str!("../../shaders/batch_norm.wgsl"),
        "dropout" => include_str!("../../shaders/dropout.wgsl"),
        "loss" => include_str!("../../shaders/loss.wgsl"),
        "adam" => include_str!("../../shaders/adam.wgsl"),
        "scores" => include_str!("../../shaders/scores.wgsl"),
        "col2im" => include_str!("../../shaders/col2im.wgsl"),
        "epilogue" => include_str!("../../shaders/epilogue.wgsl"),
        "channel_walk" => include_str!("../../shaders/channel_walk.wgsl"),
        other => panic!("unknown shader file {other}"),
    }
}

/// Appends `body`'s lines (but `enable` directives) to `out` with every `//#include NAME`
/// replaced by that shader file, itself expanded: the parameter blocks and bindings that a
/// subgroup kernel and its portable twin share.
fn include(body: &'static str, out: &mut Vec<&'static str>) {
    for l in body.lines().filter(|l| !l.starts_with("enable ")) {
        match l.trim().strip_prefix("//#include ") {
            Some(name) => include(source(name.trim()), out),
            None => out.push(l),
        }
    }
}

/// Expands `//#unroll VAR COUNT` ... `//#end` blocks (nestable; COUNT a number or one of the
/// spliced constants) by repeating the body with `{VAR}` replaced by 0..COUNT. Register tiles
/// are written this way because shader compilers (llvmpipe's among them) keep indexed local
/// arrays in memory unless every index is a constant, which loops do not guarantee.
pub fn unroll(src: &str, consts: &[(&'static str, u32)]) -> String {
    fn count(tok: &str, consts: &[(&'static str, u32)]) -> usize {
        tok.parse()
            .ok()
            .or_else(|| {
                consts
                    .iter()
                    .find(|(k, _)| *k == tok)
                    .map(|(_, v)| *v as usize)
            })
            .unwrap_or_else(|| panic!("unroll count {tok} is not a number or constant"))
    }
    fn expand(lines: &[&str], consts: &[(&'static str, u32)], out: &mut Vec<String>) {
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim();
            if let Some(rest) = t.strip_prefix("//#unroll ") {
                let mut it = rest.split_whitespace();
                let var = it.next().expect("unroll variable");
                let n = count(it.next().expect("unroll count"), consts);
                // Find the matching //#end.
                let (mut depth, mut j) = (1, i + 1);
                while depth > 0 {
                    let tj = lines[j].trim();
                    if tj.starts_with("//#unroll ") {
                        depth += 1;
                    } else if tj == "//#end" {
                        depth -= 1;
                    }
                    j += 1;
                }
                let body = &lines[i + 1..j - 1];
                let pat = format!("{{{var}}}");
                for k in 0..n {
                    let replaced: Vec<String> = body
                        .iter()
                        .map(|l| l.replace(&pat, &k.to_string()))
                        .collect();
                    let refs: Vec<&str> = replaced.iter().map(|s| s.as_str()).collect();
                    expand(&refs, consts, out);
                }
                i = j;
            } else {
                out.push(lines[i].to_string());
                i += 1;
            }
        }
    }
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    expand(&lines, consts, &mut out);
    out.join("\n") + "\n"
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
        let body = source(spec.file);
        let mut src = String::new();
        // `enable` directives must precede every declaration, the spliced constants included.
        for line in body.lines().filter(|l| l.starts_with("enable ")) {
            src += line;
            src += "\n";
        }
        for (k, v) in &spec.consts {
            src += &format!("const {k}: u32 = {v}u;\n");
        }
        src += COMMON;
        let mut rest = Vec::new();
        include(body, &mut rest);
        src += &unroll(&rest.join("\n"), &spec.consts);
        let label = spec.label();
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        };
        // SAFETY: our kernels clamp every index they compute from data-dependent values and
        // are tested against CPU references at odd shapes; the host checks every binding's
        // size against the shapes it passes. Without this, naga wraps each access, division
        // and loop in run-time guards that cost llvmpipe several times the arithmetic.
        let module = unsafe {
            device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
        };
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

#[cfg(test)]
mod tests {
    use super::unroll;

    #[test]
    fn unroll_repeats_nested_bodies() {
        let src = "a\n//#unroll i TM\nx{i}\n//#unroll j 2\ny{i}{j}\n//#end\n//#end\nb";
        let out = unroll(src, &[("TM", 2)]);
        assert_eq!(out, "a\nx0\ny00\ny01\nx1\ny10\ny11\nb\n");
    }
}
