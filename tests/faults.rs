//! Interruptions and damaged checkpoints, through the real binary: SIGTERM finishes the step and
//! checkpoints, SIGKILL mid-checkpoint loses nothing complete, a truncated checkpoint is skipped
//! on resume, and a foreign or damaged file is refused by `generate`.

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

fn start(out: &Path, iterations: &str, every: &str) -> Child {
    bin()
        .args([
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
        .arg(out)
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
