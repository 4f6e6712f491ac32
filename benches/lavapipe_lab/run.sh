#!/usr/bin/env bash
# Runs the kernel-lab table of BENCHMARKS.md ("What limits lavapipe"): each 1024^3 SGEMM
# variant of gen_gemm.py, timed by examples/gemm_lab.rs on the Vulkan adapter. Run it alone:
# another lavapipe process on the same cores slows both far more than twofold.
source "$(dirname "$0")/lab_env.sh"
run() { # ENV KIND TM TN
  local env=$1; shift
  read -r file gx gy < <(python3 "$here/gen_gemm.py" "$@")
  env $env "$lab" "$file" "$gx" "$gy" 2>/dev/null | tail -1
}
run "" ssbo 8 8
run "" ssbo 32 16
run "" sg 32 16
run "" sg 64 16
run "" alu 8 8
run "" alu 32 16
run SMALL=1 ubo_a 8 8
run SMALL=1 ubo 8 8
run SMALL=1 ubo 16 16
run SMALL=1 ubo 32 16
run TEX=1 tex 32 8
run TEX=4 tex4 32 8
run "" ssbo4 32 8
run "" sg 64 16
run F16=1 h8 32 16
run F16=1 h8 64 16
run F16=1 h8 128 16
run KU=1 sgu 64 16
run KU=4 sgu 64 16
run "KU=4 ORDER=k" sgu 64 16
run KU=8 sgu 64 16
rm -rf "$work"
