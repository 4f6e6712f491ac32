//! Checkpoints in safetensors (loadable by other tools): both networks' weights, batch-norm
//! running statistics, both Adam moments, the step, the fixed preview latents and the run's
//! config. Written atomically (temporary file, sync, rename).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::nn::Module;
use crate::tensor::Tensor;
use crate::train::Gan;

pub const FORMAT: &str = "dcgan-wgpu-checkpoint";
pub const VERSION: &str = "1";

fn entries(gan: &Gan) -> Vec<(String, Tensor)> {
    let mut v = Vec::new();
    for (net, moments) in [
        (&gan.g as &dyn Module, &gan.g_opt.moments),
        (&gan.d as &dyn Module, &gan.d_opt.moments),
    ] {
        for (p, m) in net.params().into_iter().zip(moments.iter()) {
            v.push((p.name.clone(), p.value.clone()));
            v.push((format!("adam.m.{}", p.name), m.m.clone()));
            v.push((format!("adam.v.{}", p.name), m.v.clone()));
        }
        for (name, t) in net.buffers() {
            v.push((name, t.clone()));
        }
    }
    v.push(("fixed_z".to_string(), gan.fixed_z.clone()));
    v
}

/// Serialises the whole training state; `config` is the run's config.json text.
pub fn to_bytes(gan: &Gan, config: &str) -> Result<Vec<u8>, String> {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = entries(gan)
        .into_iter()
        .map(|(n, t)| {
            let v = t.to_vec().map_err(|e| e.to_string())?;
            Ok((n, bytemuck::cast_slice(&v).to_vec(), t.shape().to_vec()))
        })
        .collect::<Result<_, String>>()?;
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(n, b, s)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, String>>()?;
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("step".to_string(), gan.step.to_string()),
        ("seed".to_string(), gan.cfg.seed.to_string()),
        ("config".to_string(), config.to_string()),
    ]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
    sorted_header(bytes)
}

/// safetensors writes the metadata in its HashMap's order, which changes from process to
/// process, so the same training state gave files that differed in their header. The header
/// is written again with every key sorted (serde_json's map is ordered): the same keys and
/// values, so the same length, and the offsets, relative to the data, are unchanged.
fn sorted_header(mut bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .filter(|&n| 8 + n <= bytes.len())
        .ok_or("safetensors wrote no header")?;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + len]).map_err(|e| e.to_string())?;
    let sorted = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    if sorted.len() > len {
        return Err(format!(
            "the sorted header is longer than safetensors' ({} > {len} bytes)",
            sorted.len()
        ));
    }
    // safetensors pads its header with spaces to an 8-byte boundary; so do we.
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..8 + len].fill(b' ');
    Ok(bytes)
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Saves `ckpt_<step>.safetensors` under `dir` and keeps the newest `keep`.
pub fn save(gan: &Gan, config: &str, dir: &Path, keep: usize) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("ckpt_{:06}.safetensors", gan.step));
    let bytes = to_bytes(gan, config)?;
    write_atomic(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut all = list(dir);
    while all.len() > keep {
        let old = all.remove(0);
        let _ = fs::remove_file(old);
    }
    Ok(path)
}

/// Checkpoints under `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ckpt_") && n.ends_with(".safetensors"))
        })
        .collect();
    v.sort();
    v
}

/// The metadata of a checkpoint file, after checking its format and version.
pub fn metadata(bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let m = meta.metadata().clone().unwrap_or_default();
    match (
        m.get("format").map(String::as_str),
        m.get("version").map(String::as_str),
    ) {
        (Some(FORMAT), Some(VERSION)) => Ok(m),
        (Some(FORMAT), v) => Err(format!(
            "checkpoint format version {v:?}, this build reads {VERSION}"
        )),
        _ => Err("not a dcgan-wgpu checkpoint".to_string()),
    }
}

/// Restores every tensor and the step into `gan` (whose architecture must match).
pub fn load_into(gan: &mut Gan, bytes: &[u8]) -> Result<HashMap<String, String>, String> {
    let meta = metadata(bytes)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("corrupt checkpoint ({e})"))?;
    for (name, t) in entries(gan) {
        let view = st
            .tensor(&name)
            .map_err(|_| format!("checkpoint lacks tensor {name}"))?;
        if view.dtype() != Dtype::F32 || view.shape() != t.shape() {
            return Err(format!(
                "tensor {name} is {:?} {:?} in the checkpoint, the model needs F32 {:?}",
                view.dtype(),
                view.shape(),
                t.shape()
            ));
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
        t.write(&data).map_err(|e| e.to_string())?;
    }
    gan.step = meta
        .get("step")
        .and_then(|s| s.parse().ok())
        .ok_or("checkpoint has no step")?;
    Ok(meta)
}
