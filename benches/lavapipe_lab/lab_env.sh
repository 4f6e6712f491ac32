# lab_env.sh: sourced by run.sh and alternate.sh. Builds examples/gemm_lab, sets $here (this
# folder) and $lab (the binary), and enters a scratch folder $work for the generated kernels.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
cargo build --release --example gemm_lab -q
lab=$PWD/target/release/examples/gemm_lab
work=$(mktemp -d)
cd "$work"
