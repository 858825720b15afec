#!/usr/bin/env bash
# Instructions the server executes per trigger-and-await, counted by callgrind: a figure that
# does not move with the machine's load (the wall-clock benchmark varies ±25% run to run on a
# shared 2-core VM), for comparing two builds of the trigger path.
#
#   bash bench/callgrind-trigger.sh [BINARY] [TRIGGERS]    (needs valgrind: apt-get install valgrind)
#
# Starts BINARY (default target/release/ocpulse) under callgrind on a fresh data dir, connects
# two simulated 1.6 stations, warms up with 20 triggers, zeroes the counters, runs TRIGGERS
# (default 200) sequential StatusNotification triggers through the HTTP API and prints the
# server's user-space instructions per trigger. Sequential triggers get no group commit, so the
# SQLite share is larger than under concurrent load; kernel work is not counted.
set -euo pipefail
BIN="${1:-target/release/ocpulse}"
N="${2:-200}"
PORT="${PORT:-18194}"
WORK="$(mktemp -d)"
trap 'kill "${SIM:-}" "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 120); do curl -fs -o /dev/null "localhost:$PORT/api/v1/stations" && break; sleep 1; done
"$BIN" sim --url "ws://127.0.0.1:$PORT/ocpp" --stations 2 --protocol 1.6 --id-prefix CG >"$WORK/sim.log" 2>&1 &
SIM=$!
trigger() {
    curl -fs -o /dev/null -X POST "localhost:$PORT/api/v1/stations/CG0001/trigger" \
        -H 'content-type: application/json' -d '{"requestedMessage":"StatusNotification","connectorId":1}'
}
for _ in $(seq 60); do trigger && break; sleep 1; done
for _ in $(seq 20); do trigger; done
callgrind_control -z "$SERVER" >/dev/null 2>&1
for _ in $(seq "$N"); do trigger; done
callgrind_control -d "$SERVER" >/dev/null 2>&1
sleep 1
DUMP="$(ls -t "$WORK"/cg.out* | head -1)"
TOTAL="$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
echo "{\"metric\":\"server instructions per trigger (callgrind, sequential)\",\"value\":$((TOTAL / N)),\"triggers\":$N}"
