//! Flush-to-zero for the threads a CPU adapter computes on: they inherit it from the thread
//! that opens the device.
//!
//! An x86 core takes a microcode assist for every denormal operand or result (values below
//! f32's smallest normal, 1.2e-38): a conv whose products fell below it ran 37 times slower on
//! lavapipe (BENCHMARKS.md, "Denormals"). Mesa flushes them in llvmpipe's rasterizer threads
//! but not in its compute thread pool, whose threads take the floating-point environment of
//! the thread that creates them (POSIX: a new thread inherits it), here the one that opens the
//! device. GPUs handle denormals in hardware or flush them, as Vulkan allows.

/// Runs `f` on a new thread with flush-to-zero and denormals-are-zero set, so that threads it
/// starts (a CPU adapter's workers) compute with them; the caller's own floating-point
/// environment stays as it was.
pub fn with_denormals_flushed<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            flush_denormals_in_this_thread();
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(target_arch = "x86_64")]
fn flush_denormals_in_this_thread() {
    // MXCSR bit 15 flushes denormal results to zero (FTZ), bit 6 reads denormal operands as
    // zero (DAZ).
    const FTZ_DAZ: u32 = 0x8040;
    let mut csr = 0u32;
    // SAFETY: stmxcsr stores the SSE control register to `csr` and ldmxcsr loads it back with
    // two mode bits set; both touch only that 4-byte value and the register.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        csr |= FTZ_DAZ;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn flush_denormals_in_this_thread() {}
