#!/bin/bash
# One call on a lent GPU machine (the device tool), most important first: adapter, the step
# benchmark, the real training run (until DEADLINE - RESERVE seconds), samples, a kernel sweep,
# the inference-fold lab, the GPU tests (ops and conv one test at a time), criterion if time is left.
# It expects, made on the development machine by benches/device/prepare.sh and carried: .gl/ (the Vulkan loader .debs),
# .dev/bin/*.xz (the release binary and test binaries, stripped and xz'd) and .dev/data (the
# 860 ISIC images with the labels CSV). Everything that comes back is under $OUT.
# Session 3's H200 figures came from this script in its first order (tests and sweep before
# the run; TEST_LIMIT=35 DEADLINE=215); it now trains first so that a lease always yields the run.
START=$(date +%s)
DEADLINE=${DEADLINE:-575}
TEST_LIMIT=${TEST_LIMIT:-120}
RESERVE=${RESERVE:-190}  # sweep (~50 s) and tests (~70 s) after the run; 4,200 iterations took ~315 s on an H200
el() { echo $(( $(date +%s) - START )); }
LOG=$OUT/log.txt
exec > >(tee -a "$LOG") 2>&1
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p $XDG_RUNTIME_DIR
mkdir -p /tmp/b && for f in .dev/bin/*.xz; do xz -dc $f > /tmp/b/$(basename $f .xz); done; chmod +x /tmp/b/*
B=/tmp/b
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
echo "== info $(el)s"; $B/dcgan info --model 2>&1 | head -40
echo "== bench $(el)s"
timeout 30 $B/dcgan bench --batch 128 --iterations 5
echo "== train $(el)s"
env timeout -s TERM -k 30 $(( DEADLINE - RESERVE - $(el) )) $B/dcgan train --data .dev/data \
  --labels .dev/data/ISBI2016_ISIC_Part3_Training_GroundTruth.csv --out runs/isic860-b128-gpu \
  --batch-size 128 --iterations 4200 --seed 2026 --preview-every 100 --checkpoint-every 500 \
  --eval-every 500
echo "train exit $? at $(el)s"
ck=$(ls runs/isic860-b128-gpu/checkpoints/*.safetensors | sort | tail -1)
$B/dcgan generate --checkpoint $ck --count 64 --out runs/isic860-b128-gpu/samples --seed 7 --grid
# Sample quality of the last checkpoint against all 860 images (SWD; quality.jsonl has the curve).
timeout 60 $B/dcgan eval --checkpoint $ck --data .dev/data | tee runs/isic860-b128-gpu/eval.txt
ls -la runs/isic860-b128-gpu runs/isic860-b128-gpu/checkpoints
tail -2 runs/isic860-b128-gpu/metrics.jsonl
echo "== sweep $(el)s"
for tile in default tiled rows 32x8 64x4 portable; do
  [ $(el) -gt $(( DEADLINE - 140 )) ] && break
  case $tile in
    default) envs="" ;;
    tiled) envs="DCGAN_CONV_TILED=1" ;; # the shared-memory kernels of all three conv primitives, unmeasured on a GPU so far
    rows) envs="DCGAN_CONV_ROWS=1" ;; # the row-window kernels (the default on lavapipe for long runs), unmeasured on a GPU
    portable) envs="DCGAN_PORTABLE=1" ;;
    *) envs="DCGAN_CONV_TILE=$tile" ;;
  esac
  echo "tile $tile: $(env $envs timeout 40 $B/dcgan bench --batch 128 --iterations 10 --json 2>/dev/null | tail -1)"
done
# Sampling with each batch norm in the conv epilogue against separate passes (session 18;
# measured on lavapipe only so far), alternated in one process.
if [ $(el) -lt $(( DEADLINE - 120 )) ]; then
  echo "== inference fold $(el)s"; timeout 30 $B/ab_infer 5 FOLD=1 FOLD=0
fi
echo "== tests $(el)s"
# On the H200 the ops and conv binaries stopped short (2/16 and 4/16 done in 35 s, none
# failed), and one hung kernel stalls every context on a GPU: run those two one test per
# process, each with its own limit, to name the test; the other binaries run whole.
for t in dcgan_shapes autodiff optim; do
  (timeout $TEST_LIMIT $B/$t --test-threads 8 > /tmp/test_$t.log 2>&1; echo "exit $?" >> /tmp/test_$t.log) &
done
for t in ops conv; do
  for name in $($B/$t --list 2>/dev/null | sed -n 's/: test$//p'); do
    [ $(el) -gt $(( DEADLINE - 25 )) ] && { echo "$name: not run (deadline)" >> /tmp/test_$t.log; continue; }
    timeout ${PER_TEST_LIMIT:-15} $B/$t --exact "$name" > /tmp/one.log 2>&1
    echo "$name: exit $? $(grep -Eo 'finished in [0-9.]+s' /tmp/one.log)" >> /tmp/test_$t.log
  done
done
# A plain `wait` would also wait for the tee of the exec above, which never ends.
wait $(jobs -p)
for t in ops conv dcgan_shapes autodiff optim; do echo "-- $t"; grep -E "test result|FAILED|panicked|failed|exit" /tmp/test_$t.log | head -40; done
if [ $(el) -lt $(( DEADLINE - 60 )) ]; then
  echo "== criterion $(el)s"
  timeout $(( DEADLINE - $(el) - 5 )) $B/kernels --bench --noplot --warm-up-time 0.3 --measurement-time 1 > $OUT/criterion.txt 2>&1
  grep -E "time:" -B1 $OUT/criterion.txt | head -150
fi
tar czf $OUT/run.tar.gz --exclude=checkpoints runs/isic860-b128-gpu
cp /tmp/test_*.log $OUT/ 2>/dev/null; cd $OUT && tar czf tests.tar.gz test_*.log && rm test_*.log
echo "done $(el)s"
