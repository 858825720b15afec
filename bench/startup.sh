#!/usr/bin/env bash
# Start-up time on a large journal: builds a data directory with the startup_fixture
# example (default 10,000 stations, 10,000,000 entries, snapshots 50,000 entries behind
# the end, as a kill -9 at the worst moment of a background round leaves them), then starts
# `ocpulse serve` on it RUNS times and prints how long each took until /api/v1/health
# answered, with the server's own account of the rebuild. Each run is ended with SIGKILL
# right away, so the next finds the same directory.
#
# bash bench/startup.sh [STATIONS] [ENTRIES] [TAIL] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
STATIONS=${1:-10000}
ENTRIES=${2:-10000000}
TAIL=${3:-50000}
RUNS=${4:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p ocpulse --bin ocpulse --example startup_fixture
BIN="$CARGO_TARGET_DIR/release/ocpulse"
DIR=$(mktemp -d /var/tmp/ocpulse-startup.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
"$CARGO_TARGET_DIR/release/examples/startup_fixture" "$DIR" --stations "$STATIONS" --entries "$ENTRIES" --tail "$TAIL"
echo "database: $(du -sh "$DIR" | cut -f1)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for run in $(seq "$RUNS"); do
  LOG="$DIR/serve-$run.log"
  START=$(date +%s%N)
  RUST_LOG=info NO_COLOR=1 "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DIR" >"$LOG" 2>&1 &
  PID=$!
  until curl -fs "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1; do
    if ! kill -0 "$PID" 2>/dev/null; then echo "server exited:"; cat "$LOG"; exit 1; fi
    sleep 0.02
  done
  END=$(date +%s%N)
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true
  echo "run $run: ready in $(( (END - START) / 1000000 )) ms"
  grep -E 'integrity check|station state rebuilt' "$LOG" | sed 's/^/    /'
done
