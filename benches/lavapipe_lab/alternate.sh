#!/usr/bin/env bash
# Alternates lab kernels so that each round sees the machine in the same state: on a shared
# machine the same kernel measures up to 1.9x apart between runs minutes away, so compare
# variants within rounds. Usage: alternate.sh ROUNDS "ENV KIND TM TN" ..., ENV being
# VAR=value pairs joined by ':' (or - for none), e.g.
#   bash benches/lavapipe_lab/alternate.sh 5 "KU=1 sgu 64 16" "KU=4 sgu 64 16" "KU=4:ORDER=k sgu 64 16"
# Prints, per round, each variant's best of gemm_lab's 3 timed runs in GFLOP/s.
source "$(dirname "$0")/lab_env.sh"
rounds=$1
shift
files=()
for v in "$@"; do
  read -r env kind tm tn <<<"$v"
  [ "$env" = - ] && env=""
  read -r file gx gy < <(env ${env//:/ } python3 "$here/gen_gemm.py" "$kind" "$tm" "$tn")
  files+=("$file $gx $gy")
done
for r in $(seq "$rounds"); do
  line="round $r:"
  for f in "${files[@]}"; do
    read -r file gx gy <<<"$f"
    best=$("$lab" "$file" "$gx" "$gy" 2>/dev/null | tail -1 | sed 's/.*best \([0-9.]*\).*/\1/')
    line="$line  ${file%.wgsl} $best"
  done
  echo "$line"
done
rm -rf "$work"
