#!/usr/bin/env bash
# The Debian package end to end, without systemd (docs/install.md): build it from the
# release build with cargo-deb, check its files, `dpkg -i` it, run the installed unit's
# ExecStart as the unit's User on a free loopback port, connect a simulated station, read
# /metrics (and have Prometheus scrape it when `prometheus` is installed), stop it with
# SIGTERM, check after a restart that the journal kept the station's disconnect, then remove
# and purge the package and check the machine is as it was. Run by .ci/run after
# `cargo build --release --locked -p ocpulse`; uses CARGO_TARGET_DIR like cargo does.
# Needs root or sudo, and refuses to run where an ocpulse package, user or directory exists.
set -euo pipefail
cd "$(dirname "$0")/.."
STARTED=$SECONDS
CARGO_DEB_VERSION=3.8.0
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

say() { echo "test-deb: $*"; }
fail() {
  echo "test-deb: FAILED: $*" >&2
  exit 1
}

# --- the machine must not have ocpulse already: this test installs and purges it --------
status="$(dpkg-query -W -f='${db:Status-Status}' ocpulse 2>/dev/null || true)"
if [ -n "$status" ] && [ "$status" != "not-installed" ]; then
  fail "the package ocpulse is already on this machine ($status); this test installs and purges it"
fi
if getent passwd ocpulse >/dev/null || getent group ocpulse >/dev/null; then
  fail "a user or group ocpulse already exists; this test creates and deletes it"
fi
for path in /var/lib/ocpulse /etc/ocpulse; do
  [ ! -e "$path" ] || fail "$path already exists; this test creates and deletes it"
done
for tool in dpkg-deb readelf curl setpriv; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

WORK="$(mktemp -d)"
chmod 0755 "$WORK"
PIDS=()
INSTALLED=0
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do
    $SUDO kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$INSTALLED" = 1 ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive dpkg --purge ocpulse >/dev/null 2>&1
    getent passwd ocpulse >/dev/null && $SUDO userdel ocpulse
    getent group ocpulse >/dev/null && $SUDO groupdel ocpulse
    $SUDO rm -rf /var/lib/ocpulse /etc/ocpulse
  fi
  if [ "$rc" != 0 ]; then
    for log in "$WORK"/*.log; do
      [ -f "$log" ] && { echo "--- $log (last 40 lines)"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for a process this script started and forgets it (cleanup signals only live ones).
reap() {
  local pid=$1 keep=() p rc=0
  wait "$pid" || rc=$?
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return "$rc"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

# --- build --------------------------------------------------------------------------------
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
  say "installing cargo-deb $CARGO_DEB_VERSION (crates.io)"
  # Its own temporary target directory, not the project's.
  env -u CARGO_TARGET_DIR cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet
fi
# A no-op right after CI's release build; it keeps a local run from packaging a stale binary.
cargo build --release --locked -p ocpulse --quiet
# --fast: the same files with lighter compression (on a 2-core machine 46 s instead of 4 min,
# most of it xz over the 140 MB debug file); docs/install.md builds with the default.
cargo deb -p ocpulse --no-build --locked --fast --output "$WORK" >"$WORK/cargo-deb.log" 2>&1 ||
  fail "cargo deb failed: $(cat "$WORK/cargo-deb.log")"
DEB="$(ls "$WORK"/ocpulse_*.deb)"
DDEB="$(ls "$WORK"/ocpulse-dbgsym_*.ddeb)"

# --- what the package holds ---------------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{print $NF}' >"$WORK/contents"
UNIT_PATH=""
for wanted in ./usr/bin/ocpulse ./etc/ocpulse/ocpulse.toml ./usr/share/doc/ocpulse/copyright; do
  grep -qx "$wanted" "$WORK/contents" || fail "the package has no $wanted: $(cat "$WORK/contents")"
done
UNIT_PATH="$(grep -E '^\./(usr/)?lib/systemd/system/ocpulse\.service$' "$WORK/contents" | cut -c2-)" ||
  fail "the package has no systemd unit: $(cat "$WORK/contents")"
# (Outputs are read whole before grep -q: with pipefail, a writer cut off by an early
# `grep -q` would fail the pipeline.)
[ "$(dpkg-deb -f "$DEB" Package)" = ocpulse ] || fail "the package is not named ocpulse"
grep -qx /etc/ocpulse/ocpulse.toml <<<"$(dpkg-deb -I "$DEB" conffiles)" ||
  fail "/etc/ocpulse/ocpulse.toml is not a conffile"
for script in postinst postrm; do
  dpkg-deb -I "$DEB" "$script" >"$WORK/$script" || fail "the package has no $script"
done
grep -q useradd "$WORK/postinst" || fail "postinst does not create the user"

mkdir "$WORK/deb" "$WORK/ddeb"
dpkg-deb -x "$DEB" "$WORK/deb"
dpkg-deb -x "$DDEB" "$WORK/ddeb"
BIN="$WORK/deb/usr/bin/ocpulse"
SECTIONS="$(readelf -S --wide "$BIN")"
if grep -qE '\.(debug_[a-z]+|symtab) ' <<<"$SECTIONS"; then
  fail "the packaged binary is not stripped: $(grep -E 'debug|symtab' <<<"$SECTIONS")"
fi
BUILD_ID="$(readelf -n "$BIN" | awk '/Build ID/ {print $3}')"
[ -n "$BUILD_ID" ] || fail "the packaged binary has no build id to find its debug file by"
DEBUG_FILE="$WORK/ddeb/usr/lib/debug/.build-id/${BUILD_ID:0:2}/${BUILD_ID:2}.debug"
[ -f "$DEBUG_FILE" ] || fail "the dbgsym package has no debug file for build id $BUILD_ID: $(dpkg-deb -c "$DDEB")"
grep -q '\.debug_line ' <<<"$(readelf -S --wide "$DEBUG_FILE" 2>/dev/null)" || fail "the debug file has no line tables"
# (readelf complains that a debug-only file has no program interpreter; it is not meant to.)
[ "$(readelf -n "$DEBUG_FILE" 2>/dev/null | awk '/Build ID/ {print $3}')" = "$BUILD_ID" ] ||
  fail "the debug file's build id is not the binary's"
say "package $(stat -c %s "$DEB") bytes, binary $(stat -c %s "$BIN") bytes stripped" \
  "(release build $(stat -c %s "$TARGET/release/ocpulse")), dbgsym $(stat -c %s "$DDEB") bytes"

# --- install --------------------------------------------------------------------------------
INSTALLED=1
$SUDO env DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" >"$WORK/dpkg-install.log" 2>&1 ||
  fail "dpkg -i failed: $(cat "$WORK/dpkg-install.log")"
[ -f "$UNIT_PATH" ] || fail "$UNIT_PATH is not installed"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd ocpulse) || fail "no user ocpulse after install"
[ "$uid" -lt 1000 ] || fail "ocpulse is not a system user (uid $uid)"
[ "$home" = /var/lib/ocpulse ] || fail "ocpulse's home is $home"
case "$shell" in */nologin | */false) ;; *) fail "ocpulse has a login shell: $shell" ;; esac
[ "$(stat -c '%U:%G %a' /var/lib/ocpulse)" = "ocpulse:ocpulse 750" ] ||
  fail "/var/lib/ocpulse is $(stat -c '%U:%G %a' /var/lib/ocpulse), not ocpulse:ocpulse 750"
[ "$(stat -c '%U:%G %a' /etc/ocpulse/ocpulse.toml)" = "root:ocpulse 640" ] ||
  fail "/etc/ocpulse/ocpulse.toml is $(stat -c '%U:%G %a' /etc/ocpulse/ocpulse.toml), not root:ocpulse 640"
cmp -s /etc/ocpulse/ocpulse.toml packaging/ocpulse.toml || fail "the installed config is not packaging/ocpulse.toml"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$UNIT_PATH" >"$WORK/verify.log" 2>&1 ||
    fail "systemd-analyze verify $UNIT_PATH: $(cat "$WORK/verify.log")"
  say "systemd-analyze verify: clean"
else
  say "systemd-analyze is not installed; the unit is not verified"
fi

# --- the unit's command as the unit's user ------------------------------------------------
unit_value() { sed -n "s/^$1=//p" "$UNIT_PATH" | tail -n 1; }
EXEC_START="$(unit_value ExecStart)"
SERVICE_USER="$(unit_value User)"
WORKING_DIR="$(unit_value WorkingDirectory)"
[ "$SERVICE_USER" = ocpulse ] || fail "the unit runs as '$SERVICE_USER', not ocpulse"
STOP_TIMEOUT="$(unit_value TimeoutStopSec)"
[ -n "$EXEC_START" ] && [ -n "$STOP_TIMEOUT" ] || fail "the unit has no ExecStart or TimeoutStopSec"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
say "running '$EXEC_START' as $SERVICE_USER in ${WORKING_DIR:-/} on 127.0.0.1:$PORT"

SERVER_PID=""
start_server() {
  # What systemd would do, minus the sandbox: the user, no capabilities, a clean environment.
  # OCPULSE_LISTEN moves it to a free port (the environment wins over the config file).
  # shellcheck disable=SC2086 # ExecStart is a command line, split as systemd splits it.
  $SUDO env -i --chdir="${WORKING_DIR:-/}" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    OCPULSE_LISTEN="127.0.0.1:$PORT" \
    setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all $EXEC_START >>"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local waited=0
  until curl -fsS "$BASE/health/ready" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited at start"
    [ "$waited" -lt 300 ] || fail "the server was not ready within 30 s"
    sleep 0.1
    waited=$((waited + 1))
  done
}
stop_server() {
  local began=$SECONDS waited=0 rc=0
  kill -TERM "$SERVER_PID"
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    [ "$waited" -lt $((STOP_TIMEOUT * 10)) ] || fail "the server did not stop within TimeoutStopSec=$STOP_TIMEOUT"
    sleep 0.1
    waited=$((waited + 1))
  done
  reap "$SERVER_PID" || rc=$?
  [ "$rc" = 0 ] || fail "the server exited with status $rc on SIGTERM"
  say "SIGTERM: exited 0 after $((SECONDS - began)) s"
}

start_server
if [ -z "$SUDO" ]; then
  owner="$(stat -c %U "/proc/$SERVER_PID")"
  [ "$owner" = ocpulse ] || fail "the server runs as $owner"
fi
others="$($SUDO find /var/lib/ocpulse ! -user ocpulse)"
[ -z "$others" ] || fail "files in /var/lib/ocpulse not owned by ocpulse: $others"
$SUDO test -f /var/lib/ocpulse/ocpulse.sqlite3 ||
  fail "no database in /var/lib/ocpulse: $($SUDO ls -la /var/lib/ocpulse)"

# --- a station, its metrics, a Prometheus scrape --------------------------------------------
/usr/bin/ocpulse sim --url "ws://127.0.0.1:$PORT/ocpp" --id-prefix PKG --summary-secs 0 >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
waited=0
until grep -qE '^ocpulse_stations_connected\{protocol="ocpp1\.6"\} 1(\.0)?$' <<<"$(curl -fsS "$BASE/metrics" 2>/dev/null)"; do
  kill -0 "$SIM_PID" 2>/dev/null || fail "the simulator exited"
  [ "$waited" -lt 300 ] || fail "/metrics did not show the station within 30 s: $(curl -sS "$BASE/metrics" | grep stations_connected)"
  sleep 0.1
  waited=$((waited + 1))
done
say "/metrics: ocpulse_stations_connected{protocol=\"ocpp1.6\"} 1"

if command -v prometheus >/dev/null; then
  PROM_PORT="$(free_port)"
  cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: ocpulse
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
  PROM_PID=$!
  PIDS+=("$PROM_PID")
  query() { curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null; }
  waited=0
  until grep -q '"value":\[[0-9.]*,"1"\]' <<<"$(query 'up{job="ocpulse"}')" &&
    grep -q '"value":\[[0-9.]*,"1"\]' <<<"$(query 'sum(ocpulse_stations_connected)')"; do
    kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
    [ "$waited" -lt 300 ] || fail "Prometheus found no up==1 or connected station within 30 s: $(query 'up')"
    sleep 0.1
    waited=$((waited + 1))
  done
  say "prometheus: up{job=\"ocpulse\"} 1, sum(ocpulse_stations_connected) 1"
  kill -TERM "$PROM_PID"
  reap "$PROM_PID" || true
else
  say "prometheus is not installed; /metrics was read with curl only"
fi

# --- stop, restart, the journal keeps the disconnect -----------------------------------------
stop_server
grep -q "shutting down" "$WORK/serve.log" || fail "the log does not say it shut down"
kill -TERM "$SIM_PID"
reap "$SIM_PID" || true
start_server
OCPULSE_SERVER="$BASE" /usr/bin/ocpulse export journal --station PKG0001 --format jsonl >"$WORK/journal.jsonl" ||
  fail "ocpulse export journal failed"
{ grep '"type":"EVENT"' "$WORK/journal.jsonl" || true; } |
  { grep -oE '"action":"Station(Connected|Disconnected)"' || true; } | cut -d'"' -f4 >"$WORK/events"
[ "$(tr '\n' ' ' <"$WORK/events")" = "StationConnected StationDisconnected " ] ||
  fail "the station's journal events are [$(tr '\n' ' ' <"$WORK/events")], not one connect and one disconnect"
LAST="$(tail -n 1 "$WORK/journal.jsonl")"
grep -q '"action":"StationDisconnected"' <<<"$LAST" || fail "the journal does not end with the disconnect: $LAST"
grep -q 'shutting down' <<<"$LAST" || fail "the disconnect does not give the stop as its reason: $LAST"
say "journal after the restart: the station's last entry is $(grep -o '"action":"[A-Za-z]*"' <<<"$LAST") $(grep -o '"payload":{[^}]*}' <<<"$LAST")"
stop_server

# --- remove keeps the data, purge removes everything ---------------------------------------
$SUDO env DEBIAN_FRONTEND=noninteractive dpkg -r ocpulse >"$WORK/dpkg-remove.log" 2>&1 ||
  fail "dpkg -r failed: $(cat "$WORK/dpkg-remove.log")"
[ ! -e /usr/bin/ocpulse ] && [ ! -e "$UNIT_PATH" ] || fail "dpkg -r left the binary or the unit"
getent passwd ocpulse >/dev/null || fail "dpkg -r removed the user"
$SUDO test -f /var/lib/ocpulse/ocpulse.sqlite3 || fail "dpkg -r removed the data"
[ -f /etc/ocpulse/ocpulse.toml ] || fail "dpkg -r removed the configuration"
$SUDO env DEBIAN_FRONTEND=noninteractive dpkg --purge ocpulse >"$WORK/dpkg-purge.log" 2>&1 ||
  fail "dpkg --purge failed: $(cat "$WORK/dpkg-purge.log")"
INSTALLED=0
status="$(dpkg-query -W -f='${db:Status-Status}' ocpulse 2>/dev/null || true)"
[ -z "$status" ] || [ "$status" = "not-installed" ] || fail "after purge the package is $status"
! getent passwd ocpulse >/dev/null || fail "purge left the user ocpulse"
! getent group ocpulse >/dev/null || fail "purge left the group ocpulse"
for path in /var/lib/ocpulse /etc/ocpulse /usr/bin/ocpulse "$UNIT_PATH"; do
  [ ! -e "$path" ] || fail "purge left $path"
done
say "passed in $((SECONDS - STARTED)) s (installed, served, scraped, stopped, purged)"
