#!/usr/bin/env python3
"""Smoke test for the benchmark peers (bench/peers/{python,node}).

For each peer: start it on a free port, connect one OCPP 1.6 and one OCPP 2.0.1
station (plain `websockets` clients), check the answers to the station CALLs the
benchmark sends, drive the trigger endpoint for both stations, check the error
paths (404, 504) and then connect a fleet of 1000 stations (500 + 500) and check
that GET /api/v1/stations counts them all.

Run with the peers' venv (it has `websockets`):
    bench/peers/python/.venv/bin/python bench/peers/smoke_test.py [--peer python|node|all]
Prints `N passed, M failed` and exits non-zero on any failure.
"""

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from websockets.asyncio.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = {
    "python": [os.path.join(HERE, "python", ".venv", "bin", "python"), os.path.join(HERE, "python", "peer.py")],
    "node": ["node", os.path.join(HERE, "node", "peer.js")],
}

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")
    return ok


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"} if data else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


async def ahttp(*args, **kwargs):
    return await asyncio.to_thread(http, *args, **kwargs)


class Station:
    """A minimal OCPP-J station: sends CALLs, answers TriggerMessage."""

    _ids = itertools.count(1)

    def __init__(self, port, station_id, protocol, answer_triggers=True):
        self.url = f"ws://127.0.0.1:{port}/ocpp/{station_id}"
        self.id = station_id
        self.protocol = protocol
        self.answer_triggers = answer_triggers
        self.pending = {}
        self.triggered = []  # (messageId, action, payload) of CALLs sent because of a trigger
        self.ws = None
        self.reader = None

    async def connect(self):
        self.ws = await connect(self.url, subprotocols=[self.protocol], compression=None,
                                ping_interval=None, open_timeout=30)
        self.reader = asyncio.create_task(self._read())
        return self.ws.subprotocol

    async def close(self):
        await self.ws.close()
        if self.reader:
            self.reader.cancel()

    async def call(self, action, payload, timeout=10):
        msg_id = f"{self.id}-{next(self._ids)}"
        fut = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        await self.ws.send(json.dumps([2, msg_id, action, payload]))
        return await asyncio.wait_for(fut, timeout)

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg[0] in (3, 4):
                    fut = self.pending.pop(msg[1], None)
                    if fut and not fut.done():
                        fut.set_result(msg)
                elif msg[0] == 2 and msg[2] == "TriggerMessage":
                    await self._on_trigger(msg[1], msg[3])
                elif msg[0] == 2:
                    await self.ws.send(json.dumps([4, msg[1], "NotImplemented", "", {}]))
        except Exception:
            pass

    async def _on_trigger(self, msg_id, payload):
        await self.ws.send(json.dumps([3, msg_id, {"status": "Accepted"}]))
        if not self.answer_triggers or payload.get("requestedMessage") != "StatusNotification":
            return
        if self.protocol == "ocpp1.6":
            sn = {"connectorId": payload.get("connectorId", 0), "errorCode": "NoError",
                  "status": "Available", "timestamp": now_iso()}
        else:
            evse = payload.get("evse", {})
            sn = {"timestamp": now_iso(), "connectorStatus": "Available",
                  "evseId": evse.get("id", 1), "connectorId": evse.get("connectorId", 1)}
        sn_id = f"{self.id}-sn-{next(self._ids)}"
        self.triggered.append((sn_id, "StatusNotification", sn))
        self.pending[sn_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps([2, sn_id, "StatusNotification", sn]))


def boot_payload(protocol):
    if protocol == "ocpp1.6":
        return {"chargePointVendor": "smoke", "chargePointModel": "test"}
    return {"reason": "PowerUp", "chargingStation": {"vendorName": "smoke", "model": "test"}}


def is_result(msg):
    return isinstance(msg, list) and msg[0] == 3


async def station_checks(port, protocol, sid):
    v16 = protocol == "ocpp1.6"
    st = Station(port, sid, protocol)
    sub = await st.connect()
    check(f"{protocol}: subprotocol negotiated", sub == protocol, f"got {sub!r}")

    r = await st.call("BootNotification", boot_payload(protocol))
    p = r[2] if is_result(r) else {}
    check(f"{protocol}: BootNotification Accepted/300/currentTime",
          p.get("status") == "Accepted" and p.get("interval") == 300 and isinstance(p.get("currentTime"), str), r)

    r = await st.call("Heartbeat", {})
    check(f"{protocol}: Heartbeat currentTime", is_result(r) and isinstance(r[2].get("currentTime"), str), r)

    sn = ({"connectorId": 1, "errorCode": "NoError", "status": "Available"} if v16 else
          {"timestamp": now_iso(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
    r = await st.call("StatusNotification", sn)
    check(f"{protocol}: StatusNotification {{}}", is_result(r) and r[2] == {}, r)

    sv = [{"timestamp": now_iso(), "sampledValue": [{"value": "1234" if v16 else 1234}]}]
    r = await st.call("MeterValues", {"connectorId": 1, "meterValue": sv} if v16 else {"evseId": 1, "meterValue": sv})
    check(f"{protocol}: MeterValues {{}}", is_result(r) and r[2] == {}, r)

    if v16:
        r = await st.call("Authorize", {"idTag": "TAG1"})
        check(f"{protocol}: Authorize Accepted", is_result(r) and r[2].get("idTagInfo", {}).get("status") == "Accepted", r)
        r = await st.call("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": now_iso()})
        ok = is_result(r) and isinstance(r[2].get("transactionId"), int) and r[2].get("idTagInfo", {}).get("status") == "Accepted"
        check(f"{protocol}: StartTransaction transactionId/Accepted", ok, r)
        tx = r[2].get("transactionId", 1) if ok else 1
        r = await st.call("StopTransaction", {"transactionId": tx, "meterStop": 10, "timestamp": now_iso(), "idTag": "TAG1"})
        check(f"{protocol}: StopTransaction", is_result(r), r)
        bad = {"chargePointModel": "no vendor"}
    else:
        tok = {"idToken": "TAG1", "type": "ISO14443"}
        r = await st.call("Authorize", {"idToken": tok})
        check(f"{protocol}: Authorize Accepted", is_result(r) and r[2].get("idTokenInfo", {}).get("status") == "Accepted", r)
        te = {"eventType": "Started", "timestamp": now_iso(), "triggerReason": "Authorized", "seqNo": 0,
              "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 1, "connectorId": 1}}
        r = await st.call("TransactionEvent", te)
        check(f"{protocol}: TransactionEvent", is_result(r) and isinstance(r[2], dict), r)
        bad = {"reason": "PowerUp"}
    r = await st.call("BootNotification", bad)
    check(f"{protocol}: schema validation rejects an invalid BootNotification with CALLERROR",
          isinstance(r, list) and r[0] == 4, r)
    return st


async def trigger_checks(port, st, body):
    t0 = time.monotonic()
    status, resp = await ahttp(port, "POST", f"/api/v1/stations/{st.id}/trigger", body)
    ms = (time.monotonic() - t0) * 1000
    ok = check(f"{st.protocol}: trigger -> 200 Accepted ({ms:.0f} ms)",
               status == 200 and isinstance(resp, dict) and resp.get("status") == "Accepted", (status, resp))
    if not ok:
        return
    msgs = resp.get("messages")
    if not check(f"{st.protocol}: trigger returned exactly one message", isinstance(msgs, list) and len(msgs) == 1, resp):
        return
    sent_id, action, payload = st.triggered[-1] if st.triggered else (None, None, None)
    m = msgs[0]
    check(f"{st.protocol}: returned message is the triggered StatusNotification",
          m.get("action") == action and m.get("messageId") == sent_id and m.get("payload") == payload,
          f"got {m}, sent {(sent_id, action, payload)}")


async def run_fleet(port, n):
    half = n // 2
    stations = [Station(port, f"fleet16-{i}", "ocpp1.6") for i in range(half)]
    stations += [Station(port, f"fleet201-{i}", "ocpp2.0.1") for i in range(n - half)]
    sem = asyncio.Semaphore(200)

    async def bring_up(st):
        async with sem:
            await st.connect()
            r = await st.call("BootNotification", boot_payload(st.protocol), timeout=60)
            return is_result(r) and r[2].get("status") == "Accepted"

    t0 = time.monotonic()
    results = await asyncio.gather(*(bring_up(st) for st in stations), return_exceptions=True)
    elapsed = time.monotonic() - t0
    booted = sum(1 for r in results if r is True)
    errors = [r for r in results if isinstance(r, BaseException)]
    check(f"fleet: {n} stations connected and booted ({elapsed:.1f} s)", booted == n,
          f"booted {booted}; first error: {errors[0]!r}" if errors else f"booted {booted}")
    deadline = time.monotonic() + 30
    connected = None
    while time.monotonic() < deadline:
        status, body = await ahttp(port, "GET", "/api/v1/stations")
        connected = body.get("connected") if status == 200 and isinstance(body, dict) else None
        if connected == n:
            break
        await asyncio.sleep(0.2)
    check(f"fleet: GET /api/v1/stations reports {n}", connected == n, f"got {connected}")
    await asyncio.gather(*(st.close() for st in stations if st.ws is not None), return_exceptions=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = await ahttp(port, "GET", "/api/v1/stations")
        connected = body.get("connected") if status == 200 else None
        if connected == 0:
            break
        await asyncio.sleep(0.2)
    check("fleet: count drops to 0 after the fleet disconnects", connected == 0, f"got {connected}")


async def test_peer(name, fleet):
    print(f"== {name}")
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(PEERS[name] + ["--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = await ahttp(port, "GET", "/api/v1/stations", timeout=2)
                up = status == 200 and body == {"connected": 0}
                if up:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.2)
        if not check(f"{name}: starts and answers GET /api/v1/stations with {{\"connected\": 0}}", up):
            return
        log.seek(0)
        print(f"  ({log.readline().strip()})")

        st16 = await station_checks(port, "ocpp1.6", "smoke-16")
        st201 = await station_checks(port, "ocpp2.0.1", "smoke-201")
        status, body = await ahttp(port, "GET", "/api/v1/stations")
        check("GET /api/v1/stations counts 2", status == 200 and body == {"connected": 2}, (status, body))

        await trigger_checks(port, st16, {"requestedMessage": "StatusNotification", "connectorId": 1})
        await trigger_checks(port, st201, {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
        # The other form of the body is translated to the station's version.
        await trigger_checks(port, st16, {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}})
        check("ocpp1.6: evse-form body sent as connectorId 2", st16.triggered[-1][2].get("connectorId") == 2, st16.triggered[-1])
        await trigger_checks(port, st201, {"requestedMessage": "StatusNotification", "connectorId": 2})
        check("ocpp2.0.1: connectorId-form body sent as evse {id: 2, connectorId: 1}",
              (st201.triggered[-1][2].get("evseId"), st201.triggered[-1][2].get("connectorId")) == (2, 1), st201.triggered[-1])

        status, body = await ahttp(port, "POST", "/api/v1/stations/nope/trigger",
                                   {"requestedMessage": "StatusNotification", "connectorId": 1})
        check("unknown station -> 404 {error}", status == 404 and isinstance(body, dict) and "error" in body, (status, body))

        mute = Station(port, "smoke-mute", "ocpp2.0.1", answer_triggers=False)
        await mute.connect()
        await mute.call("BootNotification", boot_payload("ocpp2.0.1"))
        t0 = time.monotonic()
        status, body = await ahttp(port, "POST", "/api/v1/stations/smoke-mute/trigger",
                                   {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}, "timeoutMs": 500})
        ms = (time.monotonic() - t0) * 1000
        check(f"accepted but no message -> 504 after timeoutMs ({ms:.0f} ms)",
              status == 504 and isinstance(body, dict) and "error" in body and 400 < ms < 3000, (status, body))
        await mute.close()

        await st16.close()
        await st201.close()
        await asyncio.sleep(0.3)
        status, body = await ahttp(port, "POST", "/api/v1/stations/smoke-16/trigger",
                                   {"requestedMessage": "StatusNotification", "connectorId": 1})
        check("disconnected station -> 404", status == 404, (status, body))

        await run_fleet(port, fleet)
        check(f"{name}: still running", proc.poll() is None, f"exit {proc.returncode}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        lines = log.read().splitlines()
        if len(lines) > 1:
            print(f"  peer output ({len(lines)} lines), last ones:")
            for line in lines[-15:]:
                print(f"    | {line}")
        log.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", choices=["python", "node", "all"], default="all")
    ap.add_argument("--fleet", type=int, default=1000)
    args = ap.parse_args()
    names = ["python", "node"] if args.peer == "all" else [args.peer]
    for name in names:
        try:
            await test_peer(name, args.fleet)
        except Exception as e:  # a crash in one peer's checks must not hide the other's
            check(f"{name}: checks ran to the end", False, repr(e))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
