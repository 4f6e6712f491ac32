#!/bin/bash
# Makes what benches/device/gpu_run.sh needs carried to the GPU machine, in the repository root:
# .gl/ (the Vulkan loader and GL .debs, per the device tool's README), .dev/bin/*.xz (the release
# binary, the inference-fold lab and GPU test binaries, stripped and xz'd to fit the transfer limit) and .dev/data (the
# training images). Usage: bash benches/device/prepare.sh [IMAGE_DIR] (default
# ../shared/data/isic2016-256). Then run `bash benches/device/gpu_run.sh` there, carrying .gl and
# .dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/isic2016-256}
grep -qx '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
grep -qx '/.dev/' .git/info/exclude || echo /.dev/ >> .git/info/exclude
if [ ! -d .gl ]; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
cargo build --release
cargo test --release --no-run
cargo bench --no-run
cargo build --release --example ab_infer
rm -rf .dev && mkdir -p .dev/bin
cp target/release/dcgan target/release/examples/ab_infer .dev/bin/
for t in ops conv dcgan_shapes autodiff optim kernels; do
  cp "$(ls -t target/release/deps/$t-* | grep -v '\.d$' | head -1)" .dev/bin/$t
done
strip .dev/bin/* && xz -9 -T2 .dev/bin/*
cp -r "$data" .dev/data
du -sh .gl .dev
