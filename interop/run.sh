#!/usr/bin/env bash
# Interop tests against third-party OCPP libraries, in five suites:
#   test_python_ocpp.py     `ocpulse serve` vs. charging stations built on PyPI `ocpp`;
#   test_correlation_python.py  issue 17's correlation rules vs. PyPI `ocpp` stations that
#                           mark triggered messages and stations that do not;
#   test_security_python.py `ocpulse serve` over TLS (security profiles 1-3, SignCertificate,
#                           password rotation) vs. PyPI `ocpp` stations over wss://;
#   test_sim_python_csms.py `ocpulse sim` vs. a CSMS built on PyPI `ocpp`;
#   node/test_ocpp_rpc.js   both directions with npm `ocpp-rpc`: `ocpulse serve` vs. its
#                           RPCClient stations, `ocpulse sim` vs. its RPCServer CSMS.
#
#   bash interop/run.sh                 # builds ocpulse (release) and runs every test
#   OCPULSE_BIN=path/to/ocpulse bash interop/run.sh [-k NAME]   # use a given binary
#
# -k NAME runs only the tests whose name contains NAME (a suite with no such test is
# skipped). Creates interop/.venv on first use and installs the pinned
# interop/requirements.txt, and interop/node/node_modules from its package-lock.json (the
# only network access: PyPI through pip, the npm registry through npm ci). Ends with ONE
# combined "N passed, M failed" line and exits non-zero if any test failed. The server,
# the simulators and every station live only as long as this script: the trap below
# stops them whatever way it ends.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
# The whole run's scratch space: server data dirs, its log, the pid list for the trap.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ocpulse-interop.XXXXXX")"
TEST_PID=""

stop_pid() { # pid: TERM, up to 5 s of grace, then KILL
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$TEST_PID" ]]; then
    stop_pid "$TEST_PID"
  fi
  # Servers the test script started (it stops them itself; this is the backstop). Only
  # a process whose command line names this run's scratch dir is ours to stop.
  if [[ -f "$WORK/pids" ]]; then
    while read -r pid; do
      [[ "$pid" =~ ^[0-9]+$ ]] || continue
      if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$WORK/"; then
        stop_pid "$pid"
      fi
    done <"$WORK/pids"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Arguments ---------------------------------------------------------------------------
SELECT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -k)
      [[ $# -ge 2 ]] || { echo "interop: -k needs a NAME" >&2; exit 2; }
      SELECT="$2"
      shift 2
      ;;
    *)
      echo "usage: [OCPULSE_BIN=path] bash interop/run.sh [-k NAME]" >&2
      exit 2
      ;;
  esac
done

# --- Python environment -------------------------------------------------------------
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "interop: python3 >= 3.11 is required (the ocpp package needs it); found $(python3 --version 2>&1)" >&2
  exit 2
fi
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$WANT" >"$STAMP"
fi

# --- Node environment (npm ocpp-rpc) -----------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "interop: node and npm (Node.js >= 18) are required for the ocpp-rpc suite" >&2
  exit 2
fi
NODE_STAMP="$HERE/node/node_modules/.package-lock.sha256"
NODE_WANT="$(sha256sum "$HERE/node/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$NODE_STAMP" 2>/dev/null || true)" != "$NODE_WANT" ]]; then
  (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$NODE_WANT" >"$NODE_STAMP"
fi

# --- The server under test ------------------------------------------------------------
if [[ -n "${OCPULSE_BIN:-}" ]]; then
  BIN="$OCPULSE_BIN"
else
  (cd "$REPO" && cargo build --release -p ocpulse)
  TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
  [[ "$TARGET" = /* ]] || TARGET="$REPO/$TARGET"
  BIN="$TARGET/release/ocpulse"
fi
if [[ ! -x "$BIN" ]]; then
  echo "interop: no executable ocpulse binary at $BIN" >&2
  exit 2
fi

# --- Tests (a hard ceiling on top of the per-test timeouts inside) ---------------------
SUITES=(test_python_ocpp.py test_correlation_python.py test_security_python.py test_sim_python_csms.py node/test_ocpp_rpc.js)
if [[ -n "$SELECT" ]]; then
  # Only the suites that have a test whose name contains NAME (all of them if none has:
  # each then reports "no test matched").
  MATCHING=()
  for suite in "${SUITES[@]}"; do
    if grep -oE "^async def test_[A-Za-z0-9_]+|^test\('[A-Za-z0-9_]+'" "$HERE/$suite" | grep -qF -- "$SELECT"; then
      MATCHING+=("$suite")
    fi
  done
  [[ ${#MATCHING[@]} -eq 0 ]] || SUITES=("${MATCHING[@]}")
fi

PASSED=0
FAILED=0
RC=0
for suite in "${SUITES[@]}"; do
  name="$(basename "${suite%.*}")"
  case "$suite" in
    *.py) RUNNER=("$VENV/bin/python" -u) ;;
    *.js) RUNNER=(node) ;;
  esac
  mkdir -p "$WORK/$name"
  echo "=== $suite"
  set +e
  timeout --kill-after=15 900 "${RUNNER[@]}" "$HERE/$suite" \
    --bin "$BIN" --work-dir "$WORK/$name" --pid-file "$WORK/pids" ${SELECT:+-k "$SELECT"} &
  TEST_PID=$!
  wait "$TEST_PID"
  suite_rc=$?
  set -e
  TEST_PID=""
  summary="$(cat "$WORK/$name/summary" 2>/dev/null || true)"
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1]))
    FAILED=$((FAILED + BASH_REMATCH[2]))
    if [[ $suite_rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then
      # A clean summary but a failing exit: count it, never hide it.
      echo "interop: $suite exited $suite_rc after reporting no failure" >&2
      FAILED=$((FAILED + 1))
    fi
  else
    # The script died before printing its own summary (killed, crashed on import, ...).
    echo "interop: $suite ended (exit $suite_rc) without a summary" >&2
    FAILED=$((FAILED + 1))
  fi
  [[ $suite_rc -eq 0 ]] || RC=$suite_rc
done
[[ $FAILED -eq 0 || $RC -ne 0 ]] || RC=1
echo "$PASSED passed, $FAILED failed"
exit "$RC"
