#!/usr/bin/env bash
# The dashboard in a real browser: `ocpulse demo --login` (a server on a temporary data
# directory with a simulated mixed fleet) driven by Debian's chromium through playwright-core,
# checked with axe-core (both from npm, pinned in package-lock.json; no browser is downloaded).
# Screenshots (1280x800) go to interop/dashboard/out/ (docs/screenshots/ holds three of them,
# from a run with DASHBOARD_WARMUP_SECS=90). Needs: OCPULSE_BIN (default
# target/debug/ocpulse), node >= 18, /usr/bin/chromium (or CHROMIUM=path).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${OCPULSE_BIN:-$HERE/../../target/debug/ocpulse}"
OUT="$HERE/out"
mkdir -p "$OUT"
rm -f "$OUT"/*.png

if [ ! -d "$HERE/node_modules/playwright-core" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$BIN" demo --login --listen "127.0.0.1:$PORT" --stations-16 3 --stations-201 2 >"$OUT/demo.out" 2>"$OUT/demo.log" &
DEMO=$!
stop() {
  # Ctrl-C as a user would: the demo stops its fleet and server and deletes its data.
  kill -INT "$DEMO" 2>/dev/null || true
  wait "$DEMO" 2>/dev/null || true
}
trap stop EXIT

TOKEN=""
for _ in $(seq 1 300); do
  TOKEN="$(sed -n 's/^Log in with the API token: //p' "$OUT/demo.out")"
  [ -n "$TOKEN" ] && break
  if ! kill -0 "$DEMO" 2>/dev/null; then
    echo "dashboard: ocpulse demo exited early" >&2
    cat "$OUT/demo.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$TOKEN" ] || { echo "dashboard: ocpulse demo printed no token" >&2; exit 1; }

# For the docs' screenshots: let the fleet charge and the overview's chart fill first.
sleep "${DASHBOARD_WARMUP_SECS:-0}"
node "$HERE/test_dashboard.mjs" "http://127.0.0.1:$PORT" "$TOKEN" "$OUT"
