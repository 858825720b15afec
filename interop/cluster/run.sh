#!/usr/bin/env bash
# The cluster under faults (issue 19): three `ocpulse serve` nodes on one PostgreSQL schema
# and their own NATS (a nats-server this script starts on a free port, never the machine's
# shared one), behind a real HAProxy (WebSocket-aware, health-checked on /health/ready),
# with simulated stations of both versions connecting through it. test_cluster.py then
# checks routing, kill -9 of the leader under MeterValues load, a 1 s schedule, an SSE
# client moved between nodes, a NATS restart and a drain.
#
#   OCPULSE_BIN=path/to/ocpulse bash interop/cluster/run.sh
#   CLUSTER_STATIONS=3000 (default; half 1.6, half 2.0.1)
#
# Needs haproxy and nats-server (Debian packages; installed here when missing and apt is
# usable), psql and PostgreSQL at OCPULSE_TEST_POSTGRES_URL (default
# postgres://root@127.0.0.1:5432/test), and interop/.venv (made as interop/run.sh makes it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INTEROP="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$INTEROP/.." && pwd)"
VENV="$INTEROP/.venv"

missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v nats-server >/dev/null 2>&1 || [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$VENV/bin/python" -c 'import websockets' >/dev/null 2>&1; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$INTEROP/requirements.txt"
fi

if [[ -z "${OCPULSE_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release -p ocpulse)
  TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
  [[ "$TARGET" = /* ]] || TARGET="$REPO/$TARGET"
  OCPULSE_BIN="$TARGET/release/ocpulse"
fi
export OCPULSE_BIN
export OCPULSE_TEST_POSTGRES_URL="${OCPULSE_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}"
export NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"

# Stations hold a socket each, and HAProxy two per station.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A hard ceiling on top of the script's own bounded waits.
exec timeout --kill-after=30 900 "$VENV/bin/python" "$HERE/test_cluster.py"
