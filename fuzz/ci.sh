#!/usr/bin/env bash
# CI's fuzz step: build every target and run each for a short fixed budget
# on its committed corpus (fuzz/corpus/<target>); a crash, a leak or a
# hang fails the step. New inputs go to a scratch directory, not the repo.
#
#   fuzz/ci.sh [SECONDS_PER_TARGET]     (default 10)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tc-ovs/fuzz-target}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
# cargo-fuzz lives in the shared CARGO_HOME: built once, reused.
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

cargo +nightly fuzz build
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is under fuzz/artifacts/$target (replay: cargo +nightly fuzz run $target <file>)"
    exit 1
  fi
  echo "$target: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
done
