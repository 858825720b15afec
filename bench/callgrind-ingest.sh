#!/usr/bin/env bash
# Instructions the server executes per acknowledged MeterValues, counted by callgrind: the
# ingest twin of callgrind-trigger.sh, a figure that does not move with the machine's load.
#
#   bash bench/callgrind-ingest.sh [BINARY] [MESSAGES]   (needs valgrind and bench/peers/install.sh)
#
# Starts BINARY under callgrind on a fresh data dir; 4 OCPP 1.6 stations (a Python websockets
# client, bench/peers' venv) boot, warm up with 20 MeterValues each, the counters are zeroed,
# then each sends MESSAGES/4 MeterValues (4 samples each), one in flight per station as OCPP
# allows, and the server's user-space instructions per acknowledged message are printed.
set -euo pipefail
BIN="${1:-target/release/ocpulse}"
N="${2:-2000}"
PORT="${PORT:-18195}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="$HERE/peers/python/.venv/bin/python"
WORK="$(mktemp -d)"
trap 'kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do curl -fs -o /dev/null "localhost:$PORT/api/v1/stations" && break; sleep 1; done
drive() { # $1 = messages per station
    "$PY" - "$PORT" "$1" <<'PYEOF'
import asyncio, json, sys
import websockets
port, per = int(sys.argv[1]), int(sys.argv[2])
sample = [{"value": str(v), "measurand": m, "unit": u} for v, m, u in
          [(1200, "Energy.Active.Import.Register", "Wh"), (7000, "Power.Active.Import", "W"),
           (16, "Current.Import", "A"), (230, "Voltage", "V")]]
async def station(i):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CGI{i:04}", subprotocols=["ocpp1.6"]) as ws:
        async def call(n, action, payload):
            await ws.send(json.dumps([2, str(n), action, payload]))
            while True:
                msg = json.loads(await ws.recv())
                if msg[0] == 3 and msg[1] == str(n):
                    return
                if msg[0] == 2:  # a CSMS call: answer it empty
                    await ws.send(json.dumps([3, msg[1], {}]))
        await call(0, "BootNotification", {"chargePointVendor": "cg", "chargePointModel": "ingest"})
        for n in range(1, per + 1):
            await call(n, "MeterValues", {"connectorId": 1, "meterValue": [
                {"timestamp": "2026-12-04T12:00:00Z", "sampledValue": sample}]})
async def main():
    await asyncio.gather(*(station(i) for i in range(4)))
asyncio.run(main())
PYEOF
}
drive 20
callgrind_control -z "$SERVER" >/dev/null 2>&1
drive $((N / 4))
callgrind_control -d "$SERVER" >/dev/null 2>&1
sleep 1
DUMP="$(ls -t "$WORK"/cg.out* | head -1)"
TOTAL="$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
# Each drive also connects and boots 4 stations: a small share next to N messages.
echo "{\"metric\":\"server instructions per MeterValues (callgrind, 4 stations)\",\"value\":$((TOTAL / N)),\"messages\":$N}"
