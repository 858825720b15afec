#!/usr/bin/env bash
# Installs the benchmark peers' dependencies (idempotent; safe to re-run):
#   python/.venv    ocpp==2.1.0 + aiohttp (+ uvloop, websockets) from python/requirements.txt
#   node/node_modules  ocpp-rpc 2.2.1 from node/package-lock.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
if [ ! -x python/.venv/bin/python ]; then
    "$PYTHON" -m venv python/.venv
fi
python/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements.txt

if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm not found; the node peer needs Node.js >= 18 with npm" >&2
    exit 1
fi
(
    cd node
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    else
        npm install --no-audit --no-fund --loglevel=error
    fi
)
echo "bench/peers: python venv and node_modules ready"
