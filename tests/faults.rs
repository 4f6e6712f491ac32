//! Interruptions, faults and damaged checkpoints, through the real binary: SIGTERM finishes the
//! step and checkpoints (a second signal exits at once), SIGKILL mid-checkpoint loses nothing
//! complete, a NaN, a lost device and running out of memory stop with a clear line and leave
//! the last checkpoint whole, a truncated checkpoint is skipped on resume, and a foreign,
//! damaged or wrongly shaped file is refused by `generate`.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dcgan"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dcgan-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// `dcgan train` at batch 4 into `out`, for `iterations`, checkpointing every `every`.
fn trainer(out: &Path, iterations: &str, every: &str) -> Command {
    let mut c = bin();
    c.args([
        "train",
        "--batch-size",
        "4",
        "--seed",
        "5",
        "--preview-every",
        "1000",
    ])
    .args([
        "--iterations",
        iterations,
        "--checkpoint-every",
        every,
        "--out",
    ])
    .arg(out);
    c
}

fn start(out: &Path, iterations: &str, every: &str) -> Child {
    trainer(out, iterations, every)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

fn wait_for_lines(child: &mut Child, out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while lines(out) < n {
        assert!(Instant::now() < deadline, "trainer made no progress");
        assert!(child.try_wait().unwrap().is_none(), "trainer exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn resume(out: &Path, iterations: &str) -> std::process::Output {
    bin()
        .args(["train", "--iterations", iterations, "--resume"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn sigterm_finishes_the_step_writes_a_checkpoint_and_resume_continues() {
    let out = scratch("term");
    let mut child = start(&out, "100", "1000");
    wait_for_lines(&mut child, &out, 2);
    signal(&child, "-TERM");
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted after iteration"), "{err}");
    let done = lines(&out);
    assert!(out
        .join(format!("checkpoints/ckpt_{done:06}.safetensors"))
        .exists());
    let next = (done + 1).to_string();
    let r = resume(&out, &next);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(lines(&out), done + 1);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn sigkill_while_checkpointing_every_step_leaves_a_resumable_run() {
    let out = scratch("kill");
    let mut child = start(&out, "100", "1");
    wait_for_lines(&mut child, &out, 2);
    // Every step ends with a checkpoint write: kill somewhere in the next one or two.
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, "-KILL");
    let _ = child.wait();
    let r = resume(&out, &(lines(&out) + 1).to_string());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("resuming from"), "{err}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_truncated_checkpoint_is_skipped_and_a_foreign_file_is_refused() {
    let out = scratch("trunc");
    let mut child = start(&out, "2", "1");
    let status = child.wait().unwrap();
    assert!(status.success());
    let newest = out.join("checkpoints/ckpt_000002.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let r = resume(&out, "3");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("skipping") && err.contains("ckpt_000002"),
        "{err}"
    );
    assert!(
        err.contains("iteration 1)"),
        "resumed from the older one: {err}"
    );

    // generate refuses a damaged file and a safetensors file that is not ours, with exit 2.
    let foreign = out.join("foreign.safetensors");
    let t =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0u8; 4]).unwrap();
    std::fs::write(&foreign, safetensors::serialize([("w", t)], None).unwrap()).unwrap();
    for (file, needle) in [
        (foreign, "not a dcgan-wgpu checkpoint"),
        (out.join("config.json"), "not a safetensors file"),
    ] {
        let g = bin()
            .args(["generate", "--count", "1", "--out"])
            .arg(out.join("samples"))
            .arg("--checkpoint")
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&g.stderr);
        assert_eq!(g.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
    let _ = std::fs::remove_dir_all(out);
}

/// A short run at batch 4 with a fault injected (`DCGAN_FAULT`, `DCGAN_MAX_MEMORY`).
fn run_with(out: &Path, iterations: &str, every: &str, env: (&str, &str)) -> std::process::Output {
    trainer(out, iterations, every)
        .env(env.0, env.1)
        .output()
        .unwrap()
}

fn no_panic(err: &str) {
    assert!(
        !err.contains("panicked"),
        "a panic, not an error line: {err}"
    );
}

#[test]
fn a_nan_stops_training_at_its_iteration_and_resume_continues_from_the_last_checkpoint() {
    let out = scratch("nan");
    let r = run_with(&out, "6", "2", ("DCGAN_FAULT", "nan@3"));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    no_panic(&err);
    assert!(err.contains("iteration 3: loss is not finite"), "{err}");
    assert!(err.contains("ckpt_000002.safetensors is intact"), "{err}");
    assert_eq!(lines(&out), 2, "the NaN iteration is not recorded");
    assert!(!out.join("checkpoints/ckpt_000003.safetensors").exists());

    // A resume that contradicts the run's options is refused before anything is touched.
    let clash = bin()
        .args(["train", "--batch-size", "8", "--resume"])
        .arg(&out)
        .output()
        .unwrap();
    let cerr = String::from_utf8_lossy(&clash.stderr);
    assert_eq!(clash.status.code(), Some(2), "{cerr}");
    assert!(cerr.contains("--batch-size 8 (the run has 4)"), "{cerr}");

    let r = resume(&out, "3");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("ckpt_000002") && err.contains("iteration 2)"),
        "{err}"
    );
    assert_eq!(lines(&out), 3);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_lost_device_is_one_clear_line_and_the_checkpoint_before_it_resumes() {
    let out = scratch("lost");
    let r = run_with(&out, "6", "2", ("DCGAN_FAULT", "device-lost@3"));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    no_panic(&err);
    assert!(
        err.contains("iteration 3: the GPU device was lost"),
        "{err}"
    );
    assert!(err.contains("ckpt_000002.safetensors is intact"), "{err}");
    let r = resume(&out, "3");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(lines(&out), 3);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn running_out_of_gpu_memory_suggests_a_smaller_batch() {
    let out = scratch("oom");
    let r = run_with(&out, "2", "1", ("DCGAN_MAX_MEMORY", "40MiB"));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    no_panic(&err);
    assert!(err.contains("out of GPU memory allocating"), "{err}");
    assert!(err.contains("use a smaller --batch-size"), "{err}");
    let bad = run_with(&out, "2", "1", ("DCGAN_MAX_MEMORY", "lots"));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("DCGAN_MAX_MEMORY=lots"), "{err}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_second_signal_exits_at_once() {
    let out = scratch("twice");
    let mut child = start(&out, "100", "1000");
    wait_for_lines(&mut child, &out, 1);
    signal(&child, "-INT");
    // Two SIGINTs that arrive before the handler has run for the first are one pending signal
    // (POSIX does not queue them), and that one only asks for a graceful stop: give the first
    // time to be taken, as a user's second Ctrl-C would.
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "-INT");
    let t = Instant::now();
    let res = child.wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(130));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_checkpoint_of_another_shape_or_format_version_is_refused() {
    let out = scratch("shape");
    let mut child = start(&out, "1", "1");
    assert!(child.wait().unwrap().success());
    let path = out.join("checkpoints/ckpt_000001.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    // Same bytes, other shape: what a checkpoint of a differently built model looks like.
    let victim = tensors
        .iter_mut()
        .find(|(n, s, _)| n.ends_with("weight") && s.len() == 4)
        .unwrap();
    let name = victim.0.clone();
    victim.1 = vec![victim.1.iter().product()];
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d);
            (n.clone(), v.unwrap())
        })
        .collect();
    let reshaped = out.join("reshaped.safetensors");
    let data = safetensors::serialize(views, meta.metadata().clone()).unwrap();
    std::fs::write(&reshaped, data).unwrap();
    // And the original tensors under another format version.
    let mut future = meta.metadata().clone().unwrap();
    future.insert("version".into(), "999".into());
    let original: Vec<_> = st.tensors();
    let versioned = out.join("version999.safetensors");
    std::fs::write(
        &versioned,
        safetensors::serialize(original, Some(future)).unwrap(),
    )
    .unwrap();
    for (file, needle) in [
        (&reshaped, format!("tensor {name} is")),
        (&versioned, "checkpoint format version".to_string()),
    ] {
        let g = bin()
            .args(["generate", "--count", "1", "--out"])
            .arg(out.join("samples"))
            .arg("--checkpoint")
            .arg(file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&g.stderr);
        assert_eq!(g.status.code(), Some(2), "{err}");
        assert!(err.contains(&needle), "{err}");
    }
    assert!(
        !out.join("samples").exists()
            || std::fs::read_dir(out.join("samples")).unwrap().count() == 0
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_run_suspended_longer_than_the_gpu_timeout_continues() {
    let out = scratch("suspend");
    let mut child = trainer(&out, "5", "1000")
        .env("DCGAN_GPU_TIMEOUT", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Past iteration 1's preview (CPU work): from here the trainer spends its time waiting
    // on the GPU, which is where a suspension used to count against the timeout.
    wait_for_lines(&mut child, &out, 2);
    std::thread::sleep(Duration::from_millis(300));
    // Suspended (as a sleeping laptop would be) for longer than the GPU wait timeout: that
    // time is not the GPU hanging.
    signal(&child, "-STOP");
    std::thread::sleep(Duration::from_secs(25));
    signal(&child, "-CONT");
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert_eq!(lines(&out), 5);
    let _ = std::fs::remove_dir_all(out);
}
