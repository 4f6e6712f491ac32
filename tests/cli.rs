//! The `dcgan` binary's device handling: `info` prints the adapter, and a machine without any
//! usable driver gets the clear adapter message and exit code 2.

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
