//! Times naga, wgpu's shader translator, on WGSL files (`DCGAN_DUMP_WGSL=DIR` writes every
//! kernel a run builds): its WGSL front end, validator and SPIR-V writer apart, and with
//! `--spv DIR` the SPIR-V it writes, to compare two naga builds (third_party/README.md).
//!
//! `cargo run --release --example naga_parse -- [--spv OUT_DIR] FILE.wgsl...`

use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut spv_dir: Option<PathBuf> = None;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        if a == "--spv" {
            spv_dir = Some(args.next().expect("--spv needs a folder").into());
        } else {
            files.push(a);
        }
    }
    if files.is_empty() {
        eprintln!("usage: naga_parse [--spv OUT_DIR] FILE.wgsl...");
        std::process::exit(2);
    }
    let mut total = [0.0f64; 3];
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        let t0 = Instant::now();
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{f}: {}", e.emit_to_string(&src)));
        let t1 = Instant::now();
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{f}: {e:?}"));
        let t2 = Instant::now();
        let options = naga::back::spv::Options::default();
        let words = naga::back::spv::write_vec(&module, &info, &options, None)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let t3 = Instant::now();
        let times = [t1 - t0, t2 - t1, t3 - t2].map(|d| d.as_secs_f64());
        for (t, d) in total.iter_mut().zip(times) {
            *t += d;
        }
        println!(
            "{f}: {} bytes, parse {:.3} s, validate {:.3} s, SPIR-V {:.3} s ({} words)",
            src.len(),
            times[0],
            times[1],
            times[2],
            words.len()
        );
        if let Some(dir) = &spv_dir {
            let name = Path::new(f).file_name().unwrap().to_string_lossy();
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{name}.spv")), bytes).unwrap();
        }
    }
    println!(
        "{} files: parse {:.3} s, validate {:.3} s, SPIR-V {:.3} s",
        files.len(),
        total[0],
        total[1],
        total[2]
    );
}
