//! WGSL sources and the pipeline cache: one compute pipeline per (file, entry point, constants).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A compute kernel: which WGSL file and entry point, and the compile-time constants spliced in
/// front of the source (tile sizes are a per-adapter choice; `ACT` picks the epilogue's
/// activation). The bind group layout is the one the shader implies for that entry point:
/// binding 0 is the uniform parameter block, the others are the storage buffers the entry
/// point uses.
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
    /// Sets a constant, replacing an earlier value of it.
    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        match self.consts.iter_mut().find(|(k, _)| *k == name) {
            Some(c) => c.1 = value,
            None => self.consts.push((name, value)),
        }
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
        "conv_weight_grad" => include_str!("../../shaders/conv_weight_grad.wgsl"),
        "conv_weight_grad_rows" => include_str!("../../shaders/conv_weight_grad_rows.wgsl"),
        "conv_portable" => include_str!("../../shaders/conv_portable.wgsl"),
        "conv_tiled" => include_str!("../../shaders/conv_tiled.wgsl"),
        "conv_rows" => include_str!("../../shaders/conv_rows.wgsl"),
        "conv_common" => include_str!("../../shaders/conv_common.wgsl"),
        "conv_io" => include_str!("../../shaders/conv_io.wgsl"),
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
        "vf" => include_str!("../../shaders/vf.wgsl"),
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
/// `//#when A OP B` ... `//#end` keeps its body only where the comparison of two integer
/// expressions holds (`holds`), which lets a gather unroll only the terms that exist.
/// `//#if NAME VALUE` ... `//#end` keeps its body only where the spliced constant NAME is
/// VALUE: code the driver should never see (the epilogue's other activations, inlined at every
/// store of a register tile, took llvmpipe seconds to compile and drop). Then every `{(EXPR)}`
/// left is folded to a literal (`fold_indices`).
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
            .unwrap_or_else(|| panic!("{tok} is not a number or a spliced constant of the kernel"))
    }
    fn expand(lines: &[&str], consts: &[(&'static str, u32)], out: &mut Vec<String>) {
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim();
            let when = t.strip_prefix("//#when ");
            let (unroll, cond) = (t.strip_prefix("//#unroll "), t.strip_prefix("//#if "));
            if let Some(rest) = unroll.or(cond).or(when) {
                // Find the matching //#end.
                let (mut depth, mut j) = (1, i + 1);
                while depth > 0 {
                    let tj = lines
                        .get(j)
                        .unwrap_or_else(|| panic!("no //#end for `{t}`"))
                        .trim();
                    if ["//#unroll ", "//#if ", "//#when "]
                        .iter()
                        .any(|d| tj.starts_with(d))
                    {
                        depth += 1;
                    } else if tj == "//#end" {
                        depth -= 1;
                    }
                    j += 1;
                }
                let body = &lines[i + 1..j - 1];
                if when.is_some() {
                    if holds(rest, consts) {
                        expand(body, consts, out);
                    }
                    i = j;
                    continue;
                }
                let mut it = rest.split_whitespace();
                let var = it.next().expect("unroll variable or condition constant");
                let value = count(it.next().expect("unroll count or condition value"), consts);
                if cond.is_some() {
                    if count(var, consts) == value {
                        expand(body, consts, out);
                    }
                    i = j;
                    continue;
                }
                let pat = format!("{{{var}}}");
                for k in 0..value {
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
    let out: Vec<String> = out.iter().map(|l| fold_indices(l, consts)).collect();
    out.join("\n") + "\n"
}

/// Whether the condition of a `//#when A OP B` line holds: A and B integer expressions as in
/// `{(EXPR)}` (after the enclosing unrolls' substitutions), OP one of `== != <= >= < >`.
fn holds(cond: &str, consts: &[(&'static str, u32)]) -> bool {
    let ops = ["==", "!=", "<=", ">=", "<", ">"];
    let (at, op) = ops
        .iter()
        .filter_map(|op| cond.find(op).map(|at| (at, *op)))
        .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
        .unwrap_or_else(|| panic!("no comparison in //#when {cond}"));
    let eval = |expr: &str| {
        let toks = tokens(expr);
        let mut pos = 0;
        let v = sum(&toks, &mut pos, consts, expr);
        assert!(pos == toks.len(), "bad expression in //#when {cond}");
        v
    };
    let (a, b) = (eval(&cond[..at]), eval(&cond[at + op.len()..]));
    match op {
        "==" => a == b,
        "!=" => a != b,
        "<=" => a <= b,
        ">=" => a >= b,
        "<" => a < b,
        _ => a > b,
    }
}

/// Replaces each `{(EXPR)}` in `line` by its value as a WGSL `u32` literal: EXPR is integer
/// arithmetic (`+ - * / %`, parentheses) on numbers and spliced constants, for the constant
/// register indices of unrolled lines. naga would fold them too, but its constant evaluator
/// made the whole-plane kernel (1,600 unrolled lines with two such indices each) take 1.5 s
/// to parse at every process start.
fn fold_indices(line: &str, consts: &[(&'static str, u32)]) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{(") {
        let len = rest[start..]
            .find(")}")
            .unwrap_or_else(|| panic!("unclosed {{( in kernel line: {line}"));
        let expr = &rest[start + 2..start + len];
        let toks = tokens(expr);
        let mut pos = 0;
        let v = sum(&toks, &mut pos, consts, expr);
        assert!(
            pos == toks.len() && v >= 0,
            "bad index expression {{({expr})}}"
        );
        out += &rest[..start];
        out += &format!("{v}u");
        rest = &rest[start + len + 2..];
    }
    out + rest
}

/// Numbers, names and single-character operators of a `{(EXPR)}`.
fn tokens(expr: &str) -> Vec<String> {
    let mut toks: Vec<String> = Vec::new();
    let mut word = false;
    for c in expr.chars() {
        let w = c.is_ascii_alphanumeric() || c == '_';
        match toks.last_mut() {
            Some(t) if w && word => t.push(c),
            _ if c.is_whitespace() => {}
            _ => toks.push(c.to_string()),
        }
        word = w;
    }
    toks
}

/// A sum of products, from `toks[*pos]` on (recursive descent).
fn sum(toks: &[String], pos: &mut usize, consts: &[(&'static str, u32)], expr: &str) -> i64 {
    let mut v = product(toks, pos, consts, expr);
    while let Some(op @ ("+" | "-")) = toks.get(*pos).map(|t| t.as_str()) {
        *pos += 1;
        let r = product(toks, pos, consts, expr);
        v = if op == "+" { v + r } else { v - r };
    }
    v
}

fn product(toks: &[String], pos: &mut usize, consts: &[(&'static str, u32)], expr: &str) -> i64 {
    let mut v = atom(toks, pos, consts, expr);
    while let Some(op @ ("*" | "/" | "%")) = toks.get(*pos).map(|t| t.as_str()) {
        *pos += 1;
        let r = atom(toks, pos, consts, expr);
        v = match op {
            "*" => v * r,
            "/" => v.div_euclid(r),
            _ => v.rem_euclid(r),
        };
    }
    v
}

fn atom(toks: &[String], pos: &mut usize, consts: &[(&'static str, u32)], expr: &str) -> i64 {
    let t = toks
        .get(*pos)
        .unwrap_or_else(|| panic!("{{({expr})}} ends early"));
    *pos += 1;
    if t == "(" {
        let v = sum(toks, pos, consts, expr);
        assert_eq!(
            toks.get(*pos).map(|t| t.as_str()),
            Some(")"),
            "unbalanced {{({expr})}}"
        );
        *pos += 1;
        return v;
    }
    t.parse().unwrap_or_else(|_| {
        let c = consts.iter().find(|(k, _)| k == t);
        c.unwrap_or_else(|| panic!("{t} in {{({expr})}} is not a spliced constant"))
            .1 as i64
    })
}

/// A shader module's source: the file and the constants spliced into it.
type ModuleKey = (&'static str, Vec<(&'static str, u32)>);

/// Pipelines by kernel spec, and the shader modules they come from by (file, constants).
/// The entry points of one source (conv.wgsl's two primitives) share one parse where their
/// constants agree: a fully unrolled register tile is hundreds of kB of WGSL (about 0.1 s for
/// naga's front end since third_party/naga's fix, seconds before it).
#[derive(Default)]
pub struct PipelineCache {
    map: HashMap<KernelSpec, Arc<Kernel>>,
    modules: HashMap<ModuleKey, wgpu::ShaderModule>,
}

impl PipelineCache {
    pub fn get(&mut self, device: &wgpu::Device, spec: &KernelSpec) -> Arc<Kernel> {
        if let Some(k) = self.map.get(spec) {
            return k.clone();
        }
        let log = std::env::var_os("DCGAN_LOG_COMPILE").is_some();
        let label = spec.label();
        let t0 = std::time::Instant::now();
        let module = self
            .modules
            .entry((spec.file, spec.consts.clone()))
            .or_insert_with(|| create_module(device, spec, &label))
            .clone();
        let t1 = std::time::Instant::now();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: None,
            module: &module,
            entry_point: Some(spec.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        if log {
            // DCGAN_LOG_COMPILE: where a process start's compile time goes (module: WGSL
            // parsing and validation, 0 when shared; pipeline: the driver).
            eprintln!(
                "compile {label}: module {:.3} s, pipeline {:.3} s",
                (t1 - t0).as_secs_f64(),
                t1.elapsed().as_secs_f64()
            );
        }
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

/// The shader module of `spec`'s file (`wgsl`).
fn create_module(device: &wgpu::Device, spec: &KernelSpec, label: &str) -> wgpu::ShaderModule {
    let src = wgsl(spec);
    if let Some(dir) = std::env::var_os("DCGAN_DUMP_WGSL") {
        dump_wgsl(Path::new(&dir), label, &src);
    }
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    };
    // SAFETY: our kernels clamp every index they compute from data-dependent values and
    // are tested against CPU references at odd shapes; the host checks every binding's
    // size against the shapes it passes. Without this, naga wraps each access, division
    // and loop in run-time guards that cost llvmpipe several times the arithmetic.
    unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
}

/// DCGAN_DUMP_WGSL=DIR: each module's generated WGSL as DIR/NNN.wgsl (in creation order, its
/// label on the first line), to read or to time naga on (`examples/naga_parse.rs`). A debugging
/// aid, so a failure to write is a warning, not an error.
fn dump_wgsl(dir: &Path, label: &str, src: &str) {
    let _ = std::fs::create_dir_all(dir);
    let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let path = dir.join(format!("{n:03}.wgsl"));
    if let Err(e) = std::fs::write(&path, format!("// {label}\n{src}")) {
        eprintln!("DCGAN_DUMP_WGSL: cannot write {}: {e}", path.display());
    }
}

/// The WGSL source of `spec`'s file with its constants spliced in and its includes, `//#if`
/// and `//#unroll` blocks expanded.
fn wgsl(spec: &KernelSpec) -> String {
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
    src
}

#[cfg(test)]
mod tests {
    use super::{dump_wgsl, unroll};

    #[test]
    fn dumped_modules_are_numbered_in_creation_order_with_their_label() {
        let dir = std::env::temp_dir().join(format!("dcgan-dump-wgsl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dump_wgsl(&dir, "gemm::gemm SG=8", "fn a() {}");
        dump_wgsl(&dir, "conv::conv2d_forward", "fn b() {}");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("000.wgsl"), "// gemm::gemm SG=8\nfn a() {}");
        assert_eq!(read("001.wgsl"), "// conv::conv2d_forward\nfn b() {}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unroll_repeats_nested_bodies() {
        let src = "a\n//#unroll i TM\nx{i}\n//#unroll j 2\ny{i}{j}\n//#end\n//#end\nb";
        let out = unroll(src, &[("TM", 2)]);
        assert_eq!(out, "a\nx0\ny00\ny01\nx1\ny10\ny11\nb\n");
    }

    #[test]
    fn if_keeps_the_body_of_the_matching_value_only() {
        let src =
            "a\n//#if ACT 1\none\n//#unroll i 2\nu{i}\n//#end\n//#end\n//#if ACT 2\ntwo\n//#end\nb";
        assert_eq!(unroll(src, &[("ACT", 1)]), "a\none\nu0\nu1\nb\n");
        assert_eq!(unroll(src, &[("ACT", 2)]), "a\ntwo\nb\n");
        assert_eq!(unroll(src, &[("ACT", 0)]), "a\nb\n");
    }

    #[test]
    fn index_arithmetic_is_folded_to_literals() {
        let src = "//#unroll y 2\nacc[{(({y} + 1) * FW + 3 % 2 - 1)}] = v[{( {y} )}];\n//#end";
        assert_eq!(
            unroll(src, &[("FW", 11)]),
            "acc[11u] = v[0u];\nacc[22u] = v[1u];\n"
        );
    }

    #[test]
    fn when_keeps_bodies_whose_comparison_holds() {
        let src = "//#unroll y 4\n//#when ({y} - 1) % S == 0\n//#when {y} - 1 >= 0\nk{y}\n//#end\n//#end\n//#when {y} < 2\nlow{y}\n//#end\n//#end";
        assert_eq!(unroll(src, &[("S", 2)]), "low0\nk1\nlow1\nk3\n");
        assert_eq!(
            unroll("//#when 3 != 3\nx\n//#end\n//#when 2 <= 2\ny\n//#end", &[]),
            "y\n"
        );
    }

    #[test]
    #[should_panic(expected = "ACT is not a number or a spliced constant")]
    fn if_on_a_constant_the_kernel_lacks_is_a_bug() {
        unroll("//#if ACT 1\nx\n//#end", &[]);
    }

    #[test]
    #[should_panic(expected = "no //#end for `//#if V 1`")]
    fn an_unclosed_block_is_named() {
        unroll("//#if V 1\n//#unroll j 2\nx{j}\n//#end", &[("V", 1)]);
    }
}
