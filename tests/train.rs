//! The trainer through the real binary on the shipped data at a tiny batch: the run folder,
//! resume equivalence, generation, refusals, and the model's parameter counts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dcgan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcgan"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "dcgan failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dcgan-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--batch-size",
        "4",
        "--seed",
        "11",
        "--preview-every",
        "2",
        "--checkpoint-every",
        "2",
    ];
    args.extend_from_slice(extra);
    let o = out.to_str().unwrap();
    if !extra.contains(&"--resume") {
        args.extend_from_slice(&["--out", o]);
    }
    dcgan(&args)
}

/// The metrics without the wall-clock columns.
fn metrics(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {} {} {} {}",
                v["iteration"], v["epoch"], v["d_loss"], v["g_loss"], v["d_score"], v["g_score"]
            )
        })
        .collect()
}

fn checkpoint_tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_run_writes_every_file_and_resumes_bit_identically() {
    // Quality is measured during the straight run only: the resumed run below, which has
    // none, must still match it bit for bit (the measurement leaves training untouched).
    let straight = scratch("straight");
    let run = train(&straight, &["--iterations", "4", "--eval-every", "2"]);
    ok(&run);
    // Not a terminal: plain progress lines, the last one at the final iteration with an ETA.
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(
        log.lines()
            .any(|l| l.starts_with("iteration 4/4 epoch") && l.ends_with("ETA 0:00:00")),
        "no final progress line in:\n{log}"
    );

    // config.json: every option, the seed and the adapter.
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(straight.join("config.json")).unwrap()).unwrap();
    for key in [
        "batch_size",
        "lr",
        "beta1",
        "beta2",
        "flip",
        "seed",
        "adapter",
        "host_cpu",
        "resize_filter",
    ] {
        assert!(!cfg[key].is_null(), "config.json lacks {key}");
    }
    assert_eq!(cfg["seed"], 11);
    // metrics.jsonl: one parseable line per iteration with every column.
    let text = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 4);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "iteration",
            "epoch",
            "d_loss",
            "g_loss",
            "d_score",
            "g_score",
            "elapsed_s",
            "images_per_s",
        ] {
            assert!(v[key].is_number(), "metrics line lacks {key}: {line}");
        }
    }
    // Previews at iteration 1 and every 2: a 5 x 5 grid of 64 px tiles with 2 px gaps.
    for it in [1, 2, 4] {
        let img = image::open(straight.join(format!("previews/iter_{it:06}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (332, 332));
    }
    // quality.jsonl: SWD at iterations 2 and 4, each level finite, announced in the log.
    let text_q = std::fs::read_to_string(straight.join("quality.jsonl")).unwrap();
    let q: Vec<serde_json::Value> = text_q
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        q.iter()
            .map(|v| v["iteration"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 4]
    );
    for v in &q {
        assert_eq!(v["levels"], serde_json::json!([64, 32, 16]));
        for key in ["swd_real_vs_real", "swd_fake_vs_real"] {
            let levels = v[key].as_array().unwrap();
            assert!(
                levels.iter().all(|x| x.as_f64().unwrap() > 0.0),
                "{key}: {v}"
            );
        }
    }
    assert!(log.contains("quality at iteration 4: SWD"), "{log}");
    let plot = image::open(straight.join("scores.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (900, 450));
    // `dcgan plot` redraws the same plot from metrics.jsonl alone; a bad line names itself.
    let drawn = std::fs::read(straight.join("scores.png")).unwrap();
    let quality_png = image::open(straight.join("quality.png")).unwrap();
    assert_eq!((quality_png.width(), quality_png.height()), (900, 450));
    let drawn_q = std::fs::read(straight.join("quality.png")).unwrap();
    ok(&dcgan(&["plot", straight.to_str().unwrap()]));
    assert!(drawn == std::fs::read(straight.join("scores.png")).unwrap());
    assert!(drawn_q == std::fs::read(straight.join("quality.png")).unwrap());
    let bad = scratch("bad-metrics");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("metrics.jsonl"),
        format!("{}\n{{\"iteration\": 2}}\n", text.lines().next().unwrap()),
    )
    .unwrap();
    let out = dcgan(&["plot", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.jsonl:2"));
    assert!(!bad.join("scores.png").exists());
    let _ = std::fs::remove_dir_all(bad);
    let gif = std::fs::read(straight.join("training.gif")).unwrap();
    assert_eq!(&gif[..6], b"GIF89a");
    let ckpts: Vec<_> = std::fs::read_dir(straight.join("checkpoints"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(ckpts.len(), 2, "checkpoints at 2 and 4");
    // The header's keys in sorted order, so that the same state gives the same bytes in every
    // process (safetensors writes its metadata map in a per-process random order).
    let bytes = std::fs::read(straight.join("checkpoints/ckpt_000004.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let at = |key: &str| {
        header
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("no {key} in the header"))
    };
    let keys = ["config", "format", "seed", "step", "version"];
    assert!(
        keys.windows(2).all(|k| at(k[0]) < at(k[1])),
        "metadata keys out of order: {}",
        &header[..header.len().min(300)]
    );
    // Tensor names sort after "__metadata__" (lower case after '_').
    assert!(
        header.starts_with("{\"__metadata__\":{\"config\":"),
        "{}",
        &header[..40]
    );

    // Stop at 2, resume to 4: the same metrics and the same final state, bit for bit.
    let resumed = scratch("resumed");
    ok(&train(&resumed, &["--iterations", "2"]));
    // Only the new length is given: the run's own batch size, intervals and seed carry on, and
    // the seed announced is the run's, not a freshly drawn one.
    let cont = dcgan(&[
        "train",
        "--resume",
        resumed.to_str().unwrap(),
        "--iterations",
        "4",
    ]);
    ok(&cont);
    let log = String::from_utf8_lossy(&cont.stderr);
    assert!(
        log.contains("seed 11") && !log.contains("pass --seed"),
        "a resumed run announces its own seed: {log}"
    );
    assert_eq!(metrics(&straight), metrics(&resumed));
    let a = checkpoint_tensors(&straight.join("checkpoints/ckpt_000004.safetensors"));
    let b = checkpoint_tensors(&resumed.join("checkpoints/ckpt_000004.safetensors"));
    assert_eq!(a.len(), b.len());
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(da == db, "tensor {na} differs after resume");
    }

    // generate: N valid 64 x 64 PNGs (and a grid).
    let samples = scratch("samples");
    let ck = straight.join("checkpoints/ckpt_000004.safetensors");
    ok(&dcgan(&[
        "generate",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--count",
        "7",
        "--out",
        samples.to_str().unwrap(),
        "--grid",
    ]));
    for i in 0..7 {
        let img = image::open(samples.join(format!("sample_{i:05}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (64, 64));
    }
    assert!(samples.join("grid.png").exists());

    // eval: SWD per pyramid level, generated vs real beside real vs real, on the shipped data.
    let q = dcgan(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--count",
        "8",
        "--json",
    ]);
    ok(&q);
    let q: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(q["iteration"], 4);
    assert_eq!(q["images"], 4);
    assert_eq!(q["levels"], serde_json::json!([64, 32, 16]));
    for key in ["swd_real_vs_real", "swd_fake_vs_real"] {
        let v = q[key].as_array().unwrap();
        assert_eq!(v.len(), 3, "{key}");
        assert!(v.iter().all(|x| x.as_f64().unwrap() > 0.0), "{key}: {v:?}");
    }
    // Four steps of training are far from the data: further than two sets of real images.
    assert!(
        q["swd_fake_vs_real_mean"].as_f64().unwrap() > q["swd_real_vs_real_mean"].as_f64().unwrap(),
        "{q}"
    );
    let few = dcgan(&["eval", "--checkpoint", ck.to_str().unwrap(), "--count", "3"]);
    assert_eq!(few.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&few.stderr).contains("two halves"));

    // An existing run folder is never overwritten without --resume.
    let again = train(&straight, &["--iterations", "1"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    assert_eq!(
        text,
        std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap()
    );

    for d in [straight, resumed, samples] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn info_model_prints_the_matlab_parameter_counts() {
    let out = dcgan(&["info", "--model"]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let totals: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("total"))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(totals, ["5134339", "4316545"], "{text}");
    assert!(text.contains("256x8x8") && text.contains("3x64x64"));
}

#[test]
fn bad_options_are_refused_with_exit_code_2() {
    for (args, needle) in [
        (vec!["train", "--batch-size", "0"], "--batch-size"),
        (vec!["train", "--batch-size", "-3"], "--batch-size"),
        (vec!["train", "--lr", "0"], "--lr"),
        (vec!["train", "--iterations", "0"], "zero iterations"),
        (
            vec!["train", "--data", "/nonexistent/images"],
            "/nonexistent/images",
        ),
    ] {
        let out = dcgan(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // An output folder that cannot be created (here: below a regular file).
    let file = scratch("plain-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let run = file.join("run");
    let out = dcgan(&["train", "--batch-size", "4", "--out", run.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot create the run folder"), "{err}");
    assert!(err.contains(run.to_str().unwrap()), "{err}");
    let _ = std::fs::remove_file(file);
}
