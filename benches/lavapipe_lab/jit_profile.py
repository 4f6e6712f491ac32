#!/usr/bin/env python3
"""Where llvmpipe's compiled kernels spend their time: runs a command, waits for its kernels to
be compiled, copies the executable anonymous mappings (llvmpipe's JIT code) out of the process,
samples it with `perf record`, disassembles the copies with `objdump` and prints the sampled
instruction mix (BENCHMARKS.md, "What limits lavapipe"). Needs perf (Debian: linux-perf),
objdump (binutils) and the right to read the process's memory (root, or ptrace_scope 0).

  python3 benches/lavapipe_lab/jit_profile.py [--wait S] [--seconds S] -- COMMAND...

for example, the row-window forward at D's 64x32x32 -> 128 layer:

  SHAPES=32 python3 benches/lavapipe_lab/jit_profile.py -- \\
      target/release/examples/ab_conv forward 300 -
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time


def jit_regions(pid):
    """(start, bytes) of every executable mapping with no file behind it."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if "x" in parts[1] and len(parts) < 6:
                a, b = (int(x, 16) for x in parts[0].split("-"))
                out.append((a, b - a))
    return out


def disassemble(path, start):
    """{address: (mnemonic, operands)} of a raw x86-64 code dump loaded at `start`."""
    text = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-mi386:x86-64", f"--adjust-vma={start:#x}", path],
        capture_output=True, text=True, check=True,
    ).stdout
    ins = {}
    for line in text.splitlines():
        m = re.match(r"\s+([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(\S+)\s*(.*)", line)
        if m:
            ins[int(m.group(1), 16)] = (m.group(2), m.group(3))
    return ins


def kind(op, args):
    """A coarse class of one instruction: what a multiply-add, a load loop or a spill costs."""
    if op in ("vmulps", "vaddps", "vfmadd231ps", "vfmadd213ps", "vfmadd132ps"):
        return "arithmetic (" + op + ")"
    if op.startswith("vmov") and "rsp" in args:
        return "stack traffic (accumulators, spills)"
    if op == "vblendvps":
        return "execution-mask blends"
    if op == "vpermps":
        return "subgroupBroadcast"
    return "other (mostly the per-lane storage-load loops)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wait", type=float, default=15.0, help="seconds before sampling")
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds of sampling")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        sys.exit("usage: jit_profile.py [--wait S] [--seconds S] -- COMMAND...")
    work = tempfile.mkdtemp()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(a.wait)
        if proc.poll() is not None:
            sys.exit("the command ended before sampling; give it more work or a shorter --wait")
        code = {}
        with open(f"/proc/{proc.pid}/mem", "rb") as mem:
            for start, size in jit_regions(proc.pid):
                mem.seek(start)
                path = os.path.join(work, f"jit_{start:x}.bin")
                with open(path, "wb") as f:
                    f.write(mem.read(size))
                code.update(disassemble(path, start))
        data = os.path.join(work, "perf.data")
        subprocess.run(
            ["perf", "record", "-q", "-F", "1999", "-p", str(proc.pid), "-o", data,
             "--", "sleep", str(a.seconds)],
            check=True,
        )
    finally:
        proc.kill()
    ips = subprocess.run(
        ["perf", "script", "-i", data, "-F", "ip"], capture_output=True, text=True, check=True
    ).stdout.split()
    by_kind, by_op = collections.Counter(), collections.Counter()
    for ip in ips:
        hit = code.get(int(ip, 16))
        if hit is None:
            by_kind["outside the JIT code"] += 1
            continue
        by_kind[kind(*hit)] += 1
        by_op[hit[0]] += 1
    n = max(len(ips), 1)
    print(f"{len(ips)} samples")
    for k, v in by_kind.most_common():
        print(f"  {100 * v / n:5.1f}%  {k}")
    print("instructions (samples are attributed with some skid):")
    for k, v in by_op.most_common(15):
        print(f"  {100 * v / n:5.1f}%  {k}")
    static = collections.Counter(op for op, _ in code.values())
    print(f"compiled code: {len(code)} instructions; multiplies {static['vmulps']}, adds "
          f"{static['vaddps']}, fused multiply-adds "
          f"{sum(static[o] for o in ('vfmadd231ps', 'vfmadd213ps', 'vfmadd132ps'))}")


if __name__ == "__main__":
    main()
