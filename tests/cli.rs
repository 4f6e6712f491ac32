//! The `dcgan` binary's device handling and benchmark: `info` prints the adapter, a machine
//! without any usable driver gets the clear adapter message and exit code 2, and `bench --json`
//! reports the step with the keys and the one-submission invariants the speed issue names.

use std::process::Command;

fn dcgan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcgan"))
}

#[test]
fn info_prints_the_adapter_and_limits() {
    let out = dcgan().arg("info").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dcgan info failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for key in [
        "adapter:",
        "backend:",
        "device type:",
        "driver:",
        "host cpu:",
        "max storage binding:",
    ] {
        assert!(stdout.contains(key), "missing {key} in:\n{stdout}");
    }
}

#[test]
fn no_driver_gives_the_install_hint_and_exit_code_2() {
    // Point the Vulkan loader at no driver at all and forbid other backends.
    let out = dcgan()
        .args(["info", "--backend", "vulkan"])
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("no GPU adapter found"), "{stderr}");
    assert!(stderr.contains("tried backends vulkan"), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
}

#[test]
fn an_adapter_filter_that_matches_nothing_names_what_is_present() {
    let out = dcgan()
        .args(["info", "--adapter", "no-such-gpu-xyz"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("no-such-gpu-xyz"), "{stderr}");
    assert!(stderr.contains("present:"), "{stderr}");
}

#[test]
fn bench_reports_the_step_as_json_with_one_submit_and_no_new_bind_groups() {
    let out = dcgan()
        .args(["bench", "--batch", "2", "--iterations", "2", "--json"])
        .args(["--conv-kernels", "flat"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dcgan bench failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
    let num = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing or not a number in {line}"))
    };
    for key in ["adapter", "host_cpu"] {
        assert!(
            !v[key].as_str().unwrap_or_default().is_empty(),
            "{key}: {line}"
        );
    }
    assert_eq!(v["conv_kernels"], "flat", "{line}");
    assert_eq!(num("batch"), 2.0);
    let (min, med, max) = (
        num("step_ms_min"),
        num("step_ms_median"),
        num("step_ms_max"),
    );
    assert!(0.0 < min && min <= med && med <= max, "{line}");
    assert!((num("images_per_s") - 2.0 / (med / 1e3)).abs() < 1e-6 * num("images_per_s"));
    let (step, gemm) = (num("step_gflops"), num("gemm_gflops"));
    assert!(step > 0.0 && gemm > 0.0, "{line}");
    assert!((num("efficiency") - step / gemm).abs() < 1e-9, "{line}");
    // The whole step is one submission, replays cached bind groups, and the steps' reports
    // stay on the GPU until one read at the end.
    assert_eq!(num("submits_per_step"), 1.0, "{line}");
    assert_eq!(num("bind_groups_created_per_step"), 0.0, "{line}");
    assert_eq!(num("readbacks"), 1.0, "{line}");
    assert!(num("dispatches_per_step") >= 100.0, "{line}");
    assert!(num("peak_bytes") > 0.0 && num("peak_bytes") < (1u64 << 30) as f64);

    let bad = dcgan().args(["bench", "--batch", "0"]).output().unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("--batch"), "{err}");
}
