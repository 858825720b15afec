"""The cluster under faults (issue 19), run by interop/cluster/run.sh.

Three nodes, one PostgreSQL schema, a NATS of our own, HAProxy in front, simulated
stations of both versions through HAProxy, and Python probe stations that record every
MeterValues the CSMS acknowledged. In order:

1. every simulated station is triggered through one node's API (two thirds routed to the
   node holding the station) and every trigger is Completed;
2. an SSE client reads the whole cluster's events from one node, then resumes on another
   with Last-Event-ID (and again after the kill): every id once, none missing;
3. a 1 s schedule and a long bulk job run on the leader; the leader is killed with
   SIGKILL under MeterValues load: its stations reconnect through HAProxy, triggers keep
   working, the job completes on the new leader, the schedule fires at most once per slot
   before and after;
4. NATS is killed and restarted under load: the cluster recovers by itself;
5. a node is drained while triggers run through another: zero failed triggers;
6. every MeterValues a probe station saw acknowledged is in the journal.

Everything listens on 127.0.0.1; every wait is bounded.
"""

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import websockets

BIN = os.environ["OCPULSE_BIN"]
PG = os.environ["OCPULSE_TEST_POSTGRES_URL"]
NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")
STATIONS = int(os.environ.get("CLUSTER_STATIONS", "3000"))
PROBES = 6
WORK = tempfile.mkdtemp(prefix="ocpulse-cluster.")
SCHEMA = f"ocpulse_cluster_{os.getpid()}"
PROCS = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, args):
    out = open(os.path.join(WORK, f"{name}.log"), "ab")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    PROCS.append(proc)
    return proc


def stop(proc, sig=signal.SIGTERM, wait=15):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def http(port, method, path, body=None, timeout=60, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as e:
        return 0, str(e)


def until(what, check, timeout=60, every=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last})")


def psql(sql):
    subprocess.run(["psql", PG, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


# --- The cluster --------------------------------------------------------------------------

class Cluster:
    def __init__(self):
        self.nats_port = free_port()
        self.nats_dir = os.path.join(WORK, "nats")
        self.nats = None
        self.ports = {f"n{i}": free_port() for i in (1, 2, 3)}
        self.nodes = {}
        self.lb_port = free_port()
        psql(f"CREATE SCHEMA {SCHEMA}")
        sep = "&" if "?" in PG else "?"
        self.db = f"{PG}{sep}options=-c%20search_path%3D{SCHEMA}"

    def start_nats(self):
        self.nats = start("nats", [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.nats_port),
                                   "-js", "-sd", self.nats_dir])
        until("NATS listening", lambda: port_open(self.nats_port), 15)

    def start_node(self, node):
        port = self.ports[node]
        self.nodes[node] = start(node, [
            BIN, "serve", "--listen", f"127.0.0.1:{port}",
            "--data-dir", os.path.join(WORK, node),
            "--database-url", self.db,
            "--cluster-url", f"nats://127.0.0.1:{self.nats_port}",
            "--node-id", node, "--cluster-name", "faults",
            "--drain-time", "4", "--resume-delay", "2", "--heartbeat-interval", "60",
        ])

    def start_haproxy(self):
        servers = "\n".join(
            f"  server {n} 127.0.0.1:{p} check" for n, p in self.ports.items())
        cfg = f"""
global
  maxconn 9000
defaults
  mode http
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout http-request 10s
  option redispatch
  retries 3
frontend stations
  bind 127.0.0.1:{self.lb_port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 500 fall 2 rise 2
{servers}
"""
        path = os.path.join(WORK, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.haproxy = start("haproxy", ["haproxy", "-db", "-f", path])
        until("HAProxy listening", lambda: port_open(self.lb_port), 15)

    def alive(self):
        return [n for n, p in self.nodes.items() if p.poll() is None]

    def view(self, node):
        code, body = http(self.ports[node], "GET", "/api/v1/cluster", timeout=10)
        return body if code == 200 else None


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- Probe stations: MeterValues with every acknowledgement recorded ----------------------

class Probe:
    def __init__(self, ident, url):
        self.ident = ident
        self.url = f"{url}/{ident}"
        self.acked = set()
        self.stop = False
        self.next = 0

    async def run(self):
        while not self.stop:
            try:
                async with websockets.connect(self.url, subprotocols=["ocpp1.6"],
                                              open_timeout=5, ping_interval=None) as ws:
                    await self.session(ws)
            except Exception:
                pass
            if not self.stop:
                await asyncio.sleep(0.3)

    async def call(self, ws, action, payload):
        self.next += 1
        mid = f"{self.ident}-{self.next}"
        await ws.send(json.dumps([2, mid, action, payload]))
        deadline = time.time() + 10
        while time.time() < deadline:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame[0] == 3 and frame[1] == mid:
                return mid
            if frame[0] == 4 and frame[1] == mid:
                return None
            if frame[0] == 2:
                # Any CSMS CALL (a trigger): not supported by a probe.
                await ws.send(json.dumps([4, frame[1], "NotSupported", "probe", {}]))
        return None

    async def session(self, ws):
        await self.call(ws, "BootNotification",
                        {"chargePointVendor": "Probe", "chargePointModel": "P"})
        n = 0
        while not self.stop:
            n += 1
            mid = await self.call(ws, "MeterValues", {
                "connectorId": 1,
                "meterValue": [{"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "sampledValue": [{"value": str(n)}]}]})
            if mid is not None:
                self.acked.add(mid)
            await asyncio.sleep(0.1)


def run_probes(url):
    probes = [Probe(f"PROBE{i}", url) for i in range(1, PROBES + 1)]
    loop = asyncio.new_event_loop()

    def main():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asyncio.gather(*(p.run() for p in probes)))

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    return probes, thread


# --- Server-Sent Events across nodes -------------------------------------------------------

class Events:
    """Reads the event stream of one node at a time, resuming on the next with
    Last-Event-ID whenever asked to move (or when a node goes away)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.ids = []
        self.moves = 0
        self.move = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        last = None
        turn = 0
        while not self.done.is_set():
            nodes = self.cluster.alive()
            if not nodes:
                time.sleep(0.2)
                continue
            node = nodes[turn % len(nodes)]
            turn += 1
            headers = {"accept": "text/event-stream"}
            if last is not None:
                headers["last-event-id"] = str(last)
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.cluster.ports[node]}/api/v1/events", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    for raw in r:
                        line = raw.decode().rstrip("\n")
                        if line.startswith("id:"):
                            last = int(line[3:].strip())
                            self.ids.append(last)
                        if self.done.is_set():
                            return
                        if self.move.is_set():
                            self.move.clear()
                            self.moves += 1
                            break
            except Exception:
                time.sleep(0.2)


# --- Checks --------------------------------------------------------------------------------

def trigger(port, station, message="Heartbeat"):
    code, body = http(port, "POST", f"/api/v1/stations/{station}/trigger",
                      {"requestedMessage": message, "timeoutMs": 15000}, timeout=60)
    ok = code == 200 and isinstance(body, dict) and body.get("outcome") == "Completed"
    return ok, code, body


def trigger_all(port, stations, threads=32):
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda s: (s, trigger(port, s)), stations))
    return [(s, r[1], r[2]) for s, r in results if not r[0]]


def holders(cluster, api):
    """Every station's node, as node `api` lists them."""
    where = {}
    after = None
    while True:
        q = "/api/v1/stations?limit=1000" + (f"&after={after}" if after else "")
        code, page = http(cluster.ports[api], "GET", q, timeout=60)
        assert code == 200, page
        for s in page["items"]:
            where[s["id"]] = s.get("node") if s.get("connected") else None
        after = page.get("next")
        if not after:
            return where


def schedule_runs(port, sid):
    code, body = http(port, "GET", f"/api/v1/schedules/{sid}", timeout=10)
    assert code == 200, body
    return body["runs"] + body["skipped"], time.time()


def main():
    cluster = Cluster()
    sims = []
    try:
        cluster.start_nats()
        for node in ("n1", "n2", "n3"):
            cluster.start_node(node)
        for node in ("n1", "n2", "n3"):
            until(f"{node} ready", lambda n=node: http(cluster.ports[n], "GET", "/health/ready",
                                                      timeout=5)[0] == 200, 60)
        until("three nodes and a leader", lambda: (v := cluster.view("n1")) and
              len(v["nodes"]) == 3 and v["leader"], 30)
        cluster.start_haproxy()
        url = f"ws://127.0.0.1:{cluster.lb_port}/ocpp"
        half = STATIONS // 2
        for prefix, version, count in (("A", "1.6", half), ("B", "2.0.1", STATIONS - half)):
            sims.append(start(f"sim-{prefix}", [
                BIN, "sim", "--url", url, "--stations", str(count), "--protocol", version,
                "--id-prefix", prefix, "--transactions", "--idle-secs", "1",
                "--session-secs", "3600", "--meter-interval-secs", "5",
                "--reconnect-min-ms", "300", "--reconnect-max-ms", "3000", "--ramp", "400"]))
        sim_ids = [f"A{i:04d}" for i in range(1, half + 1)] + \
                  [f"B{i:04d}" for i in range(1, STATIONS - half + 1)]
        probes, probe_thread = run_probes(url)
        total = STATIONS + PROBES
        t0 = time.time()
        view = until(f"{total} stations connected", lambda: (v := cluster.view("n1")) and
                     v["stations"] == total and v, 180, 1)
        log(f"{total} stations connected through HAProxy in {time.time() - t0:.1f} s: " +
            ", ".join(f"{n['id']}={n['stations']}" for n in view["nodes"]))
        assert all(n["stations"] > 0 for n in view["nodes"]), view

        leader = view["leader"]
        api = next(n for n in ("n1", "n2", "n3") if n != leader)
        port = cluster.ports[api]

        # 1. Every station triggered through one node's API.
        where = holders(cluster, api)
        routed = sum(1 for s in sim_ids if where[s] != api)
        t0 = time.time()
        failed = trigger_all(port, sim_ids)
        log(f"1. {len(sim_ids)} triggers through {api} ({routed} routed to another node) in "
            f"{time.time() - t0:.1f} s: {len(failed)} not Completed")
        assert not failed, failed[:5]
        assert routed >= len(sim_ids) // 2, f"only {routed} routed"

        # 2. Events from one node, then another.
        events = Events(cluster)
        events.thread.start()
        time.sleep(3)
        events.move.set()
        time.sleep(3)

        # 3. A 1 s schedule and a long job on the leader, then SIGKILL of the leader.
        code, sched = http(port, "POST", "/api/v1/schedules", {
            "name": "every second", "selector": {"stationIds": ["A0001"]},
            "trigger": {"requestedMessage": "Heartbeat", "timeoutMs": 800},
            "everySeconds": 1, "jitterSeconds": 0, "retries": 0})
        assert code == 201, sched
        sid = sched["scheduleId"]
        before, t_before = schedule_runs(port, sid)
        time.sleep(6)
        after, t_after = schedule_runs(port, sid)
        fired = after - before
        assert 1 <= fired <= (t_after - t_before) + 2, \
            f"{fired} firings in {t_after - t_before:.1f} s before the kill"
        code, job = http(port, "POST", "/api/v1/trigger-jobs", {
            "selector": {"stationIds": sim_ids}, "trigger": {"requestedMessage": "Heartbeat"},
            "concurrency": 4, "ratePerSecond": 100})
        assert code == 202, job
        job_id = job["jobId"]
        time.sleep(3)
        code, progress = http(port, "GET", f"/api/v1/trigger-jobs/{job_id}?results=none")
        assert code == 200 and progress["status"] == "running", progress
        log(f"3. job {job_id} running on leader {leader}: {progress.get('counts')}; "
            f"schedule fired {fired} times in {t_after - t_before:.1f} s; killing {leader}")
        killed_at = time.time()
        stop(cluster.nodes[leader], signal.SIGKILL)
        survivors = [n for n in ("n1", "n2", "n3") if n != leader]
        until("the survivors hold every station", lambda: (v := cluster.view(api)) and
              len(v["nodes"]) == 2 and v["stations"] == total, 90, 0.5)
        back = time.time() - killed_at
        view = until("a new leader", lambda: (v := cluster.view(api)) and v["leader"] and v,
                     60, 0.5)
        log(f"   every station back on {survivors} {back:.1f} s after the kill; new leader "
            f"{view['leader']} after {time.time() - killed_at:.1f} s")
        sample = random.sample(sim_ids, 200)
        failed = trigger_all(port, sample, 16)
        assert not failed, failed[:5]
        done = until("the job completes on the new leader", lambda: (
            r := http(port, "GET", f"/api/v1/trigger-jobs/{job_id}?results=none"))[0] == 200
            and r[1]["status"] == "completed" and r[1], 240, 1)
        log(f"   job completed after the kill: {done.get('counts')}")
        if done["counts"] != {"Completed": len(sim_ids)}:
            failed = http(port, "GET", f"/api/v1/trigger-jobs/{job_id}?results=failed")[1]
            raise AssertionError(f"not every station Completed: {failed}")
        before, t_before = schedule_runs(port, sid)
        time.sleep(6)
        after, t_after = schedule_runs(port, sid)
        fired = after - before
        assert 1 <= fired <= (t_after - t_before) + 2, \
            f"{fired} firings in {t_after - t_before:.1f} s after the kill"
        log(f"   200 triggers Completed after the kill; schedule fired {fired} times in "
            f"{t_after - t_before:.1f} s")

        # 4. NATS killed and restarted under load.
        stop(cluster.nats, signal.SIGKILL)
        time.sleep(2)
        cluster.start_nats()
        restarted = time.time()
        until("the cluster recovers from the NATS restart", lambda: (v := cluster.view(api))
              and len(v["nodes"]) == 2 and v["leader"] and v["stations"] == total, 60, 0.5)
        failed = trigger_all(port, random.sample(sim_ids, 200), 16)
        assert not failed, failed[:5]
        log(f"4. recovered {time.time() - restarted:.1f} s after NATS came back; 200 triggers "
            "Completed")

        # 5. Drain the other survivor while triggers run through the API node.
        other = next(n for n in survivors if n != api)
        where = holders(cluster, api)
        on_other = [s for s in sim_ids if where.get(s) == other][:300]
        stop_loop = threading.Event()
        outcomes = []

        def loop():
            while not stop_loop.is_set():
                s = random.choice(on_other or sim_ids)
                outcomes.append((s,) + trigger(port, s))

        workers = [threading.Thread(target=loop) for _ in range(8)]
        for w in workers:
            w.start()
        time.sleep(1)
        code, body = http(port, "POST", f"/api/v1/cluster/nodes/{other}/drain", {})
        assert code == 202, body
        until(f"{other} drains and stops", lambda: cluster.nodes[other].poll() is not None,
              60, 0.5)
        until("every station on the last node", lambda: (v := cluster.view(api)) and
              v["stations"] == total and v, 60, 0.5)
        time.sleep(2)
        stop_loop.set()
        for w in workers:
            w.join(60)
        bad = [o for o in outcomes if not o[1]]
        log(f"5. drained {other}: {len(outcomes)} triggers during the drain, {len(bad)} failed")
        assert not bad, bad[:5]

        # 2 (again). The event stream: every id once, none missing.
        events.done.set()
        events.thread.join(15)
        ids = events.ids
        assert ids, "no events"
        assert len(ids) == len(set(ids)), "an event came twice"
        missing = set(range(ids[0], ids[-1] + 1)) - set(ids)
        log(f"2. events: {len(ids)} ids from {ids[0]} to {ids[-1]} over {events.moves + 1}+ "
            f"connections, {len(missing)} missing")
        assert not missing, sorted(missing)[:10]

        # 6. Every acknowledged MeterValues is in the journal.
        for p in probes:
            p.stop = True
        probe_thread.join(20)
        lost = 0
        acked = 0
        for p in probes:
            journaled = set()
            after = None
            while True:
                q = f"/api/v1/stations/{p.ident}/messages?action=MeterValues&limit=500"
                if after:
                    q += f"&after={after}"
                code, page = http(port, "GET", q)
                assert code == 200, page
                for e in page["items"]:
                    if e["type"] == "CALL":
                        journaled.add(e["messageId"])
                after = page.get("next")
                if not after:
                    break
            acked += len(p.acked)
            lost += len(p.acked - journaled)
        log(f"6. {acked} MeterValues acknowledged to {PROBES} probe stations, {lost} missing "
            "from the journal")
        assert acked > 0 and lost == 0
        log("cluster: all checks passed")
    finally:
        for p in sims:
            stop(p)
        for p in reversed(PROCS):
            stop(p, wait=10)
        try:
            psql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        except Exception as e:  # noqa: BLE001
            log(f"could not drop {SCHEMA}: {e}")
        if os.environ.get("CLUSTER_KEEP_LOGS"):
            log(f"logs kept in {WORK}")
        else:
            shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except AssertionError as e:
        log(f"cluster: FAILED: {e}")
        sys.exit(1)
