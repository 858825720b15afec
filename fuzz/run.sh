#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, and fails if any
# finds a crash (its input is then in fuzz/artifacts/TARGET/). Needs a nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz --locked`). New inputs go to fuzz/work/TARGET, seeded
# from the committed corpus; `fuzz/run.sh --merge` minimizes them into fuzz/corpus/TARGET.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   or   fuzz/run.sh --merge [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"

TARGETS_ALL=(frame pipeline api csr)
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
# Builds share the machine: keep them in their own directory and out of everyone's way.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
FUZZ=(nice -n 19 cargo "+$TOOLCHAIN" fuzz)

merge=false
if [ "${1:-}" = "--merge" ]; then
  merge=true
  shift
fi
seconds=600
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${TARGETS_ALL[@]}"); fi
# Only the api target needs the server crate, the slowest build by far.
FEATURES=()
if [[ " ${targets[*]} " == *" api "* ]]; then FEATURES=(--features api); fi

"${FUZZ[@]}" build "${FEATURES[@]}" --target-dir "$TARGET_DIR"
failed=()
for target in "${targets[@]}"; do
  mkdir -p "work/$target" "corpus/$target"
  if $merge; then
    # The committed corpus and the new inputs, minimized to what covers the same.
    find "work/$target" -maxdepth 1 -type f -exec cp -n -t "corpus/$target" {} +
    "${FUZZ[@]}" cmin "${FEATURES[@]}" --target-dir "$TARGET_DIR" "$target" "corpus/$target"
    continue
  fi
  log="work/$target.log"
  echo "== $target: ${seconds}s (log: fuzz/$log)"
  if "${FUZZ[@]}" run "${FEATURES[@]}" --target-dir "$TARGET_DIR" "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -max_len=65536 -print_final_stats=1 \
    >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|#[0-9]+.*DONE' "$log" | tail -3 || true
  else
    echo "!! $target crashed or failed: see fuzz/$log and fuzz/artifacts/$target/"
    tail -30 "$log"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
