#!/usr/bin/env python3
"""Interop tests: the `ocpulse sim` simulator against a CSMS built on the `ocpp` library.

The CSMS below is written the way users of mobilityhouse/ocpp write one: a
`websockets.serve(...)` handler that picks the subprotocol the station asked for (and, as
the library's README does, closes a connection that negotiated none), then a
`ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint` subclass per connection with `@on`
handlers, and TriggerMessage / ExtendedTriggerMessage sent with the library's `call()`.
Schema validation stays on (the library's default): every CALL the simulator sends, every
answer it gives, is checked against the library's own copy of the OCA schemas. A frame
the library rejects becomes a CALLERROR from the CSMS; the CSMS records every frame it
writes, and any CALLERROR fails the test.

Each test starts `ocpulse sim` as a child process (stdout/stderr to files in the work
dir), waits for what the spec says the station must send, and stops it with a signal.

Usage: test_sim_python_csms.py --bin PATH/TO/ocpulse [--work-dir DIR] [--pid-file F] [-k NAME]
Prints one line per test and ends with "N passed, M failed"; exits 1 if any failed.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, List, Optional

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v16 import enums as enums16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201

# Upper bound of any single await (a CSMS call, a wait for the station's messages).
STEP = 15.0
# Upper bound of one whole test.
TEST_TIMEOUT = 60.0
# After the expected messages arrived, how long to keep listening for unexpected extras.
GRACE = 0.4
# Upper bound of the simulator's exit after a signal (or after --duration).
EXIT_TIMEOUT = 10.0
# The heartbeat interval the CSMS grants: long, so no unasked Heartbeat shows up in a test.
HEARTBEAT_INTERVAL = 300

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
SUPPORTED = [V16, V201]
# The CSMS serves every station at /ocpp/{id}; at /ocpp201/{id} it speaks 2.0.1 only.
ONLY_201_PATH = "/ocpp201"
CSR_BEGIN = "-----BEGIN CERTIFICATE REQUEST-----"
CSR_END = "-----END CERTIFICATE REQUEST-----"

# Handshake failures provoked on purpose (refused subprotocols) log here, nowhere.
QUIET = logging.getLogger("interop.quiet")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class TestFailure(AssertionError):
    """A failed expectation, with a message that says what was wrong."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise TestFailure(message)


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


async def bounded(awaitable, what: str, timeout: float = STEP):
    """Awaits with a deadline: a hang becomes a test failure that says what hung."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise TestFailure(f"timed out after {timeout:.0f}s: {what}") from None


def is_call(frame: Any, action: Optional[str] = None) -> bool:
    return (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2
            and (action is None or frame[2] == action))


# --------------------------------------------------------------------------------------
# The CSMS
# --------------------------------------------------------------------------------------


class Recorder:
    """Wire-level recording, mixed in before the library's ChargePoint so `_send` and
    `route_message` wrap the library's own: `received` is every frame the station wrote,
    `sent` every frame the CSMS (the library) wrote, `wire` both, in order."""

    subprotocol = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: List[Any] = []
        self.sent: List[Any] = []
        self.wire: List[tuple] = []  # ("station->csms" | "csms->station", frame)
        self.problems: List[str] = []
        self.arrived = asyncio.Event()

    async def _send(self, message):
        frame = json.loads(message)
        self.sent.append(frame)
        self.wire.append(("csms->station", frame))
        await super()._send(message)

    async def route_message(self, raw_msg):
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = raw_msg
            self.problems.append(f"the station sent a frame that is not JSON: {raw_msg!r}")
        self.received.append(frame)
        self.wire.append(("station->csms", frame))
        self.arrived.set()
        await super().route_message(raw_msg)

    # --- queries ------------------------------------------------------------------------

    def calls(self, action: Optional[str] = None, since: int = 0) -> List[list]:
        return [f for f in self.received[since:] if is_call(f, action)]

    def call_errors(self) -> List[list]:
        return [f for f in self.sent if isinstance(f, list) and f and f[0] == 4]

    def answered(self, message_id: str) -> Optional[list]:
        for f in self.sent:
            if isinstance(f, list) and len(f) >= 2 and f[0] in (3, 4) and f[1] == message_id:
                return f
        return None

    def index_of(self, message_type: int, message_id: str) -> int:
        for i, f in enumerate(self.received):
            if isinstance(f, list) and len(f) >= 2 and f[0] == message_type and f[1] == message_id:
                return i
        return -1

    def wire_tail(self, count: int = 12) -> str:
        lines = [f"    {d}: {json.dumps(f)[:400]}" for d, f in self.wire[-count:]]
        return "\n".join(lines) or "    (nothing)"

    # --- waiting ------------------------------------------------------------------------

    async def wait_calls(self, action: str, count: int, since: int = 0,
                         what: str = "", where: Callable[[list], bool] = lambda f: True,
                         timeout: float = STEP) -> List[list]:
        """Waits until the station sent at least `count` CALLs of `action` (matching
        `where`) after index `since` of `received`; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [f for f in self.calls(action, since) if where(f)]
            if len(got) >= count:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(
                    f"timed out after {timeout:.0f}s waiting for {count} {action} CALL(s)"
                    f"{' (' + what + ')' if what else ''}; got {len(got)}: {dumps(got)[:1500]}")
            self.arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    async def request(self, payload) -> tuple:
        """Sends a CALL with the library's call() (request and response validated against
        its schemas; a CALLERROR from the station raises). Returns (messageId, response)."""
        unique_id = str(uuid.uuid4())
        what = f"{self.id}: the station's answer to {type(payload).__name__} {payload}"
        try:
            response = await bounded(self.call(payload, suppress=False, unique_id=unique_id), what)
        except TestFailure:
            raise
        except Exception as e:  # noqa: BLE001 - the library's OCPPError subclasses, a timeout
            raise TestFailure(f"{what}: {type(e).__name__}: {e}") from None
        return unique_id, response


class Csms16(Recorder, ChargePoint16):
    """The CSMS side of one OCPP 1.6 connection."""

    subprotocol = V16

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.transactions: dict = {}  # transactionId -> StartTransaction payload (snake_case)

    @on(enums16.Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        return result16.BootNotification(current_time=now(), interval=HEARTBEAT_INTERVAL,
                                         status=enums16.RegistrationStatus.accepted)

    @on(enums16.Action.heartbeat)
    def on_heartbeat(self):
        return result16.Heartbeat(current_time=now())

    @on(enums16.Action.status_notification)
    def on_status_notification(self, connector_id, error_code, status, **kwargs):
        return result16.StatusNotification()

    @on(enums16.Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **kwargs):
        return result16.MeterValues()

    @on(enums16.Action.authorize)
    def on_authorize(self, id_tag):
        return result16.Authorize(
            id_tag_info=types16.IdTagInfo(status=enums16.AuthorizationStatus.accepted))

    @on(enums16.Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        transaction_id = 1000 + len(self.transactions) + 1
        self.transactions[transaction_id] = dict(connector_id=connector_id, id_tag=id_tag)
        return result16.StartTransaction(
            transaction_id=transaction_id,
            id_tag_info=types16.IdTagInfo(status=enums16.AuthorizationStatus.accepted))

    @on(enums16.Action.stop_transaction)
    def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        return result16.StopTransaction(
            id_tag_info=types16.IdTagInfo(status=enums16.AuthorizationStatus.accepted))

    @on(enums16.Action.firmware_status_notification)
    def on_firmware_status_notification(self, status):
        return result16.FirmwareStatusNotification()

    @on(enums16.Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status):
        return result16.DiagnosticsStatusNotification()

    @on(enums16.Action.log_status_notification)
    def on_log_status_notification(self, status, **kwargs):
        return result16.LogStatusNotification()

    @on(enums16.Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status, **kwargs):
        return result16.SignedFirmwareStatusNotification()

    @on(enums16.Action.security_event_notification)
    def on_security_event_notification(self, type, timestamp, **kwargs):
        return result16.SecurityEventNotification()

    @on(enums16.Action.sign_certificate)
    def on_sign_certificate(self, csr):
        return result16.SignCertificate(status=enums16.GenericStatus.accepted)

    @on(enums16.Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return result16.DataTransfer(status=enums16.DataTransferStatus.accepted)


class Csms201(Recorder, ChargePoint201):
    """The CSMS side of one OCPP 2.0.1 connection."""

    subprotocol = V201

    def _accepted_token(self):
        return types201.IdTokenInfoType(status=enums201.AuthorizationStatusEnumType.accepted)

    @on(enums201.Action.boot_notification)
    def on_boot_notification(self, charging_station, reason, **kwargs):
        return result201.BootNotification(current_time=now(), interval=HEARTBEAT_INTERVAL,
                                          status=enums201.RegistrationStatusEnumType.accepted)

    @on(enums201.Action.heartbeat)
    def on_heartbeat(self):
        return result201.Heartbeat(current_time=now())

    @on(enums201.Action.status_notification)
    def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **kwargs):
        return result201.StatusNotification()

    @on(enums201.Action.meter_values)
    def on_meter_values(self, evse_id, meter_value, **kwargs):
        return result201.MeterValues()

    @on(enums201.Action.authorize)
    def on_authorize(self, id_token, **kwargs):
        return result201.Authorize(id_token_info=self._accepted_token())

    @on(enums201.Action.transaction_event)
    def on_transaction_event(self, event_type, timestamp, trigger_reason, seq_no,
                             transaction_info, id_token=None, **kwargs):
        if id_token is not None:
            return result201.TransactionEvent(id_token_info=self._accepted_token())
        return result201.TransactionEvent()

    @on(enums201.Action.firmware_status_notification)
    def on_firmware_status_notification(self, status, **kwargs):
        return result201.FirmwareStatusNotification()

    @on(enums201.Action.log_status_notification)
    def on_log_status_notification(self, status, **kwargs):
        return result201.LogStatusNotification()

    @on(enums201.Action.security_event_notification)
    def on_security_event_notification(self, type, timestamp, **kwargs):
        return result201.SecurityEventNotification()

    @on(enums201.Action.sign_certificate)
    def on_sign_certificate(self, csr, **kwargs):
        return result201.SignCertificate(status=enums201.GenericStatusEnumType.accepted)

    @on(enums201.Action.publish_firmware_status_notification)
    def on_publish_firmware_status_notification(self, status, **kwargs):
        return result201.PublishFirmwareStatusNotification()

    @on(enums201.Action.notify_event)
    def on_notify_event(self, generated_at, seq_no, event_data, **kwargs):
        return result201.NotifyEvent()

    @on(enums201.Action.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return result201.DataTransfer(status=enums201.DataTransferStatusEnumType.accepted)


@dataclass(eq=False)
class Connection:
    """One WebSocket connection the CSMS accepted (or refused after the handshake)."""

    station_id: str
    path: str
    offered: Optional[str]
    subprotocol: Optional[str]
    ws: Any
    cp: Optional[Recorder] = None
    refused: bool = False
    problems: List[str] = field(default_factory=list)
    # Where check_healthy stopped: (len(cp.sent), len(cp.received), problem count).
    checked: tuple = (0, 0, 0)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def booted(self) -> bool:
        return self.cp is not None and bool(self.cp.calls("BootNotification"))

    def close_state(self) -> str:
        rcvd, sent = self.ws.protocol.close_rcvd, self.ws.protocol.close_sent
        return (f"close frame received: {rcvd.code if rcvd else None}, "
                f"sent: {sent.code if sent else None}")


def select_subprotocol(connection, offered):
    """websockets' hook: the first subprotocol this path supports that the station offers,
    else None (the handshake completes without Sec-WebSocket-Protocol and the handler
    closes the connection, as OCPP 2.0.1 Part 4 §3.1.2 and the ocpp library's README do)."""
    path = connection.request.path
    allowed = [V201] if path.startswith(ONLY_201_PATH + "/") else SUPPORTED
    for subprotocol in allowed:
        if subprotocol in offered:
            return subprotocol
    return None


class Csms:
    def __init__(self):
        self.port = 0
        self.server = None
        self.connections: List[Connection] = []
        self.changed = asyncio.Event()

    def url(self, path: str = "/ocpp") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self.server = await bounded(
            websockets.serve(self.on_connect, "127.0.0.1", 0, subprotocols=SUPPORTED,
                             select_subprotocol=select_subprotocol, logger=QUIET),
            "starting the CSMS")
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def on_connect(self, websocket) -> None:
        # The identity is the last path segment, taken as it comes (no percent-decoding),
        # like the ocpp README's `websocket.request.path.strip("/")`.
        path = websocket.request.path
        station_id = path.rstrip("/").rsplit("/", 1)[-1]
        conn = Connection(station_id=station_id, path=path,
                          offered=websocket.request.headers.get("Sec-WebSocket-Protocol"),
                          subprotocol=websocket.subprotocol, ws=websocket)
        self.connections.append(conn)
        self.changed.set()
        try:
            if not websocket.subprotocol:
                # websockets proceeds without a subprotocol when none matches: close.
                conn.refused = True
                await websocket.close()
                return
            cls = Csms16 if websocket.subprotocol == V16 else Csms201
            conn.cp = cls(station_id, websocket, response_timeout=STEP)
            await conn.cp.start()
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - recorded; the test reports it
            conn.problems.append(f"CSMS connection handler failed: {e!r}")
        finally:
            conn.closed.set()
            self.changed.set()

    def of(self, station_id: str) -> List[Connection]:
        return [c for c in self.connections if c.station_id == station_id]

    async def wait_booted(self, sim: "Sim", station_id: str, timeout: float = STEP) -> Connection:
        """The connection of `station_id` that sent a BootNotification."""
        deadline = time.monotonic() + timeout
        while True:
            for conn in reversed(self.of(station_id)):
                if conn.booted:
                    return conn
            if sim.process.poll() is not None:
                raise TestFailure(f"{sim.name} exited with code {sim.process.returncode} before "
                                  f"{station_id} booted:\n{sim.stderr_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"{station_id} did not send BootNotification within "
                                  f"{timeout:.0f}s; connections: {self.describe(station_id)}")
            self.changed.clear()
            waiters = [asyncio.ensure_future(self.changed.wait())]
            for conn in self.of(station_id):
                if conn.cp is not None:
                    conn.cp.arrived.clear()
                    waiters.append(asyncio.ensure_future(conn.cp.arrived.wait()))
            _, pending = await asyncio.wait(waiters, timeout=min(left, 0.5),
                                            return_when=asyncio.FIRST_COMPLETED)
            for w in pending:
                w.cancel()

    def describe(self, station_id: str) -> str:
        return "; ".join(
            f"{c.path} offered={c.offered!r} selected={c.subprotocol!r} "
            f"frames={len(c.cp.received) if c.cp else 0} closed={c.closed.is_set()}"
            for c in self.of(station_id)) or "none"


# --------------------------------------------------------------------------------------
# The simulator process
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the simulator's child process before exec: SIGTERM it if we die (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; run.sh's trap is the backstop
        pass


class Sim:
    """One `ocpulse sim` process. Its command line names its own directory under the work
    dir (via --report), which is how run.sh's trap knows the process is ours."""

    def __init__(self, ctx: "Context", name: str, args: List[str]):
        self.name = name
        self.dir = os.path.join(ctx.work_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.report_path = os.path.join(self.dir, "report.json")
        self.stdout_path = os.path.join(self.dir, "stdout")
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.argv = [ctx.binary, "sim", *args, "--report", self.report_path]
        self.pid_file = ctx.pid_file
        self.process: Optional[subprocess.Popen] = None

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def start(self) -> "Sim":
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=dict(os.environ, NO_COLOR="1"), start_new_session=True,
                preexec_fn=_die_with_parent)
        if self.pid_file:
            with open(self.pid_file, "a") as f:
                f.write(f"{self.process.pid}\n")
        return self

    async def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TestFailure(f"{self.name} did not exit within {timeout:.0f}s "
                                  f"({self.command})\n{self.stderr_tail()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    async def signal_and_wait(self, sig: int) -> int:
        check(self.process.poll() is None,
              f"{self.name} had already exited with code {self.process.returncode}:\n"
              f"{self.stderr_tail()}")
        self.process.send_signal(sig)
        return await self.wait_exit()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def stdout(self) -> str:
        with open(self.stdout_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr_tail(self, lines: int = 25) -> str:
        try:
            text = self.stderr()
        except OSError as e:
            return f"    (no stderr: {e})"
        tail = text.splitlines()[-lines:]
        return "\n".join(f"    {line}" for line in tail) or "    (stderr empty)"

    def report(self) -> dict:
        text = self.stdout()
        try:
            value = json.loads(text)
        except ValueError:
            raise TestFailure(f"{self.name} printed no JSON report on stdout: {text[-500:]!r}\n"
                              f"stderr:\n{self.stderr_tail()}") from None
        check(isinstance(value, dict), f"{self.name}'s report is not an object: {text[-500:]!r}")
        return value


def sim_args(csms_url: str, prefix: str, protocol: str, *extra: str) -> List[str]:
    return ["--url", csms_url, "--id-prefix", prefix, "--stations", "1",
            "--protocol", protocol, "--summary-secs", "0", *extra]


# --------------------------------------------------------------------------------------
# Test context and helpers
# --------------------------------------------------------------------------------------


@dataclass
class Session:
    """A running simulator and the CSMS connection of its one station."""

    sim: Sim
    conn: Connection
    accepted_triggers: int = 0

    @property
    def cp(self) -> Recorder:
        return self.conn.cp


class Context:
    def __init__(self, binary: str, work_dir: str, pid_file: Optional[str], csms: Csms):
        self.binary = binary
        self.work_dir = work_dir
        self.pid_file = pid_file
        self.csms = csms
        self.sims: List[Sim] = []
        self.v16: Optional[Session] = None
        self.v201: Optional[Session] = None
        # What a failure report shows: the sims and connections the current test touched.
        self.touched_sims: List[Sim] = []
        self.touched_conns: List[Connection] = []

    def sim(self, name: str, args: List[str]) -> Sim:
        sim = Sim(self, name, args).start()
        self.sims.append(sim)
        self.touched_sims.append(sim)
        return sim

    def require(self, name: str) -> Session:
        session = getattr(self, name)
        if session is None:
            raise TestFailure(f"the {name} simulator was not set up (see the boot test's failure)")
        self.touched_sims.append(session.sim)
        self.touched_conns.append(session.conn)
        check(session.sim.process.poll() is None,
              f"{session.sim.name} exited with code {session.sim.process.returncode}:\n"
              f"{session.sim.stderr_tail()}")
        check(not session.conn.closed.is_set(),
              f"{session.conn.station_id}'s connection is closed ({session.conn.close_state()})")
        return session

    def close(self) -> None:
        for sim in self.sims:
            sim.kill()

    def diagnostics(self) -> str:
        parts = []
        for sim in dict.fromkeys(self.touched_sims):
            parts.append(f"  --- {sim.name}: {sim.command}\n  stderr tail:\n{sim.stderr_tail()}")
        for conn in dict.fromkeys(self.touched_conns):
            if conn.cp is not None:
                parts.append(f"  --- last frames on {conn.station_id}'s connection:\n"
                             f"{conn.cp.wire_tail()}")
        return "\n".join(parts)


def check_healthy(conn: Connection, answered_upto: Optional[int] = None) -> None:
    """No CALLERROR from the CSMS (the library accepted every frame), every station CALL
    (among the first `answered_upto` frames received) answered, nothing odd recorded.
    Each finding is reported once: the next check starts where this one ended, so one
    bad frame fails one test, not every later test on the same connection."""
    cp = conn.cp
    sent_from, received_from, problems_from = conn.checked
    received_upto = len(cp.received) if answered_upto is None else answered_upto
    conn.checked = (len(cp.sent), received_upto, len(cp.problems) + len(conn.problems))
    errors = [f for f in cp.sent[sent_from:] if isinstance(f, list) and f and f[0] == 4]
    check(not errors, f"the ocpp library answered {conn.station_id} with CALLERROR (it rejected "
                      f"a frame the simulator sent): {dumps(errors)[:2000]}")
    unanswered = [f for f in cp.received[received_from:received_upto]
                  if is_call(f) and cp.answered(f[1]) is None]
    check(not unanswered, f"CALLs the CSMS library never answered: {dumps(unanswered)[:1000]}")
    problems = (cp.problems + conn.problems)[problems_from:]
    check(not problems, f"{conn.station_id}: {problems}")


async def settle(conn: Connection) -> None:
    """Lets the library answer what just arrived, and unexpected extras arrive."""
    await asyncio.sleep(GRACE)
    check_healthy(conn)


async def trigger(session: Session, request, action: Optional[str], count: int = 0, *,
                  status: str = "Accepted") -> List[list]:
    """Sends a TriggerMessage/ExtendedTriggerMessage with the library's call() and checks
    the spec's order: the station's CALLRESULT (with `status`) first, then exactly `count`
    new CALLs of `action` and nothing else (none when the trigger is not Accepted), each
    with a new messageId, each answered by the library without CALLERROR. Returns them."""
    cp = session.cp
    mark = len(cp.received)
    unique_id, response = await cp.request(request)
    check(response.status == status, f"{request} answered {response}, expected status {status}")
    if status == "Accepted":
        session.accepted_triggers += 1
    if count:
        await cp.wait_calls(action, count, since=mark, what=f"after {request}")
    await settle(session.conn)
    frames = cp.calls(action, since=mark) if action else []
    check(len(frames) == count,
          f"{len(frames)} {action} CALL(s) after {request}, expected {count}: {dumps(frames)[:2000]}")
    # The sessions are quiet (heartbeat every 300 s, no periodic meter reports), so
    # anything else the station sent now came from the trigger, unasked for.
    others = [f for f in cp.calls(since=mark) if f[2] != action]
    check(not others, f"CALLs other than {action} after {request}: {dumps(others)[:1000]}")
    result_at = cp.index_of(3, unique_id)
    for f in frames:
        at = cp.index_of(2, f[1])
        check(result_at != -1 and at > result_at,
              f"the {action} CALL {f[1]} arrived before the {type(request).__name__} CALLRESULT "
              f"(response first, then the message: 1.6 §5.17 / F06.FR.04)")
        check(f[1] != unique_id, f"the {action} CALL reuses the trigger's messageId {unique_id}")
    ids = [f[1] for f in frames]
    check(len(set(ids)) == len(ids), f"messageIds repeat: {ids}")
    return frames


def check_trigger_readings(frames: List[list]) -> None:
    for f in frames:
        meter_values = f[3].get("meterValue") or []
        check(meter_values, f"{f[2]} without meterValue: {dumps(f[3])}")
        for mv in meter_values:
            sampled = mv.get("sampledValue") or []
            check(sampled, f"meterValue without sampledValue: {dumps(f[3])}")
            contexts = {s.get("context") for s in sampled}
            check(contexts == {"Trigger"}, f"sampledValue contexts {contexts}, expected "
                                           f"only 'Trigger': {dumps(f[3])[:800]}")
            measurands = {s.get("measurand") for s in sampled}
            check("Energy.Active.Import.Register" in measurands,
                  f"no Energy.Active.Import.Register reading: {dumps(f[3])[:800]}")


def check_csr(frame: list, station_id: str, certificate_type: Optional[str]) -> None:
    payload = frame[3]
    csr = payload.get("csr")
    check(isinstance(csr, str) and csr.startswith(CSR_BEGIN),
          f"csr does not begin with {CSR_BEGIN}: {str(csr)[:120]!r}")
    body = csr.strip()
    check(body.endswith(CSR_END), f"csr does not end with {CSR_END}: {body[-80:]!r}")
    try:
        der = base64.b64decode("".join(body[len(CSR_BEGIN):-len(CSR_END)].split()), validate=True)
    except ValueError as e:
        raise TestFailure(f"the CSR's PEM body is not base64: {e}") from None
    check(der[:1] == b"\x30", "the CSR is not a DER SEQUENCE")
    check(station_id.encode() in der, f"the CSR does not name {station_id} (its CN)")
    if certificate_type is None:
        check("certificateType" not in payload,
              f"certificateType {payload.get('certificateType')!r}, expected none: {list(payload)}")
    else:
        check(payload.get("certificateType") == certificate_type,
              f"certificateType {payload.get('certificateType')!r}, expected {certificate_type!r}")


async def check_sigint_report(ctx: Context, session: Session, busy: bool = False) -> None:
    """SIGINT: exit 0, a JSON report (stdout and --report) that matches what the CSMS
    saw, and a WebSocket closed with a close frame. `busy`: the station may have a CALL
    in flight when the signal lands (its answer may then never be sent or counted)."""
    conn, cp, sim = session.conn, session.cp, session.sim
    await settle(conn)
    at_signal = len(cp.received)
    rc = await sim.signal_and_wait(signal.SIGINT)
    check(rc == 0, f"{sim.name} exited with code {rc} after SIGINT:\n{sim.stderr_tail()}")
    report = sim.report()
    check(report.get("booted") == 1, f"report booted {report.get('booted')!r}, expected 1: {report}")
    check(report.get("stations") == 1, f"report stations {report.get('stations')!r}: {report}")
    with open(sim.report_path) as f:
        check(json.load(f) == report, "the --report file differs from the report on stdout")
    await bounded(conn.closed.wait(), f"the CSMS seeing {conn.station_id}'s connection close", 5)
    check(conn.ws.protocol.close_rcvd is not None,
          f"the simulator dropped the connection without a close frame ({conn.close_state()})")
    check_healthy(conn, at_signal if busy else None)
    # The report's counters against the CSMS's own view of this connection.
    station_calls = len(cp.calls())
    answers = [cp.answered(f[1]) for f in cp.calls()]
    answered = len([a for a in answers if a is not None and a[0] == 3])
    call_errors = len([a for a in answers if a is not None and a[0] == 4])
    csms_calls = len([f for f in cp.sent if is_call(f)])
    expected = {"errors": call_errors, "callsSent": station_calls, "results": answered,
                "csmsCalls": csms_calls, "triggersAccepted": session.accepted_triggers}
    got = {k: report.get(k) for k in expected}
    if busy and got["results"] == answered - 1:
        # The CSMS's last answer crossed the station's close frame.
        got["results"] = answered
    check(got == expected, f"report counters {got}, but the CSMS saw {expected}: {report}")


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

TESTS: List[tuple] = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


@test
async def test_csms_library_schema_validation_is_on_for_both_versions(ctx: Context):
    """Negative control: the very CSMS classes under test answer a schema-violating CALL
    with a CALLERROR, so a bad simulator frame cannot pass unnoticed."""

    class Sink:
        def __init__(self):
            self.frames = []

        async def send(self, message):
            self.frames.append(json.loads(message))

        async def recv(self):
            await asyncio.sleep(3600)

    for cls, bad in (
        (Csms16, {"connectorId": 1, "errorCode": "NoError", "status": "Plugged"}),
        (Csms201, {"timestamp": now(), "connectorStatus": "Available", "evseId": 1}),
    ):
        probe = cls("probe", Sink(), logger=QUIET)
        for action, route in probe.route_map.items():
            check(not route.get("_skip_schema_validation"),
                  f"{cls.__name__} route {action} has schema validation off")
        sink = Sink()
        probe = cls("probe", sink, logger=QUIET)
        await bounded(probe.route_message(json.dumps([2, "probe-1", "StatusNotification", bad])),
                      "routing a malformed StatusNotification")
        check(len(sink.frames) == 1 and sink.frames[0][0] == 4,
              f"{cls.__name__} did not answer a malformed StatusNotification with CALLERROR: "
              f"{sink.frames}")
        check(probe.call_errors() == sink.frames, "the recorder missed the CALLERROR")


# --- OCPP 1.6 ---------------------------------------------------------------------------


@test
async def test_v16_sim_boots_and_reports_connectors_0_1_2(ctx: Context):
    sim = ctx.sim("sim16", sim_args(ctx.csms.url(), "SIXA", "1.6", "--evses", "2"))
    conn = await ctx.csms.wait_booted(sim, "SIXA0001")
    ctx.touched_conns.append(conn)
    check(conn.subprotocol == V16, f"selected subprotocol {conn.subprotocol!r}")
    check(conn.offered == V16, f"the simulator offered {conn.offered!r}, expected {V16!r}")
    cp = conn.cp
    frames = await cp.wait_calls("StatusNotification", 3, what="connectors 0, 1, 2 after boot")
    await settle(conn)
    boot = cp.calls("BootNotification")
    check(len(boot) == 1, f"{len(boot)} BootNotifications: {dumps(boot)}")
    check(cp.received.index(boot[0]) == 0, f"the first frame was not BootNotification: "
                                           f"{dumps(cp.received[:1])}")
    payload = boot[0][3]
    check(payload.get("chargePointVendor") and payload.get("chargePointModel"),
          f"BootNotification {dumps(payload)}")
    frames = cp.calls("StatusNotification")
    connectors = sorted(f[3]["connectorId"] for f in frames)
    check(connectors == [0, 1, 2], f"StatusNotification connectorIds {connectors}, expected [0, 1, 2]")
    check(all(f[3]["status"] == "Available" and f[3]["errorCode"] == "NoError" for f in frames),
          f"statuses {dumps([f[3] for f in frames])}")
    ctx.v16 = Session(sim, conn)


@test
async def test_v16_trigger_boot_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.boot_notification), "BootNotification", 1)
    payload = frames[0][3]
    check(payload.get("chargePointVendor") and payload.get("chargePointModel")
          and "reason" not in payload, f"BootNotification {dumps(payload)}")


@test
async def test_v16_trigger_diagnostics_status_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.diagnostics_status_notification),
        "DiagnosticsStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v16_trigger_firmware_status_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.firmware_status_notification),
        "FirmwareStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v16_trigger_heartbeat(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.heartbeat), "Heartbeat", 1)
    check(frames[0][3] == {}, f"payload {dumps(frames[0][3])}")


@test
async def test_v16_trigger_meter_values_without_connector_id_reports_connectors_1_2(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.meter_values), "MeterValues", 2)
    connectors = sorted(f[3]["connectorId"] for f in frames)
    check(connectors == [1, 2], f"connectorIds {connectors}, expected [1, 2]")
    check_trigger_readings(frames)


@test
async def test_v16_trigger_meter_values_for_connectors_0_1_2(ctx: Context):
    s = ctx.require("v16")
    for connector in (0, 1, 2):
        frames = await trigger(s, call16.TriggerMessage(
            requested_message=enums16.MessageTrigger.meter_values, connector_id=connector),
            "MeterValues", 1)
        check(frames[0][3]["connectorId"] == connector,
              f"asked for connector {connector}, got {dumps(frames[0][3])[:300]}")
        check_trigger_readings(frames)


@test
async def test_v16_trigger_status_notification_without_connector_id_reports_0_1_2(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.status_notification), "StatusNotification", 3)
    connectors = sorted(f[3]["connectorId"] for f in frames)
    check(connectors == [0, 1, 2], f"connectorIds {connectors}, expected [0, 1, 2]")


@test
async def test_v16_trigger_status_notification_for_connectors_0_1_2(ctx: Context):
    s = ctx.require("v16")
    for connector in (0, 1, 2):
        frames = await trigger(s, call16.TriggerMessage(
            requested_message=enums16.MessageTrigger.status_notification, connector_id=connector),
            "StatusNotification", 1)
        payload = frames[0][3]
        check(payload["connectorId"] == connector and payload["status"] == "Available",
              f"asked for connector {connector}, got {dumps(payload)}")


@test
async def test_v16_trigger_for_unknown_connector_is_rejected(ctx: Context):
    s = ctx.require("v16")
    await trigger(s, call16.TriggerMessage(
        requested_message=enums16.MessageTrigger.status_notification, connector_id=3),
        "StatusNotification", 0, status="Rejected")


@test
async def test_v16_extended_trigger_boot_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.boot_notification), "BootNotification", 1)
    check(frames[0][3].get("chargePointVendor"), f"BootNotification {dumps(frames[0][3])}")


@test
async def test_v16_extended_trigger_log_status_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.log_status_notification),
        "LogStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v16_extended_trigger_firmware_status_sends_signed_firmware_status(ctx: Context):
    s = ctx.require("v16")
    mark = len(s.cp.received)
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.firmware_status_notification),
        "SignedFirmwareStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")
    plain = s.cp.calls("FirmwareStatusNotification", since=mark)
    check(not plain, f"a plain FirmwareStatusNotification came too: {dumps(plain)}")


@test
async def test_v16_extended_trigger_heartbeat(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.heartbeat), "Heartbeat", 1)
    check(frames[0][3] == {}, f"payload {dumps(frames[0][3])}")


@test
async def test_v16_extended_trigger_meter_values(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.meter_values), "MeterValues", 2)
    check(sorted(f[3]["connectorId"] for f in frames) == [1, 2],
          f"connectorIds {[f[3]['connectorId'] for f in frames]}, expected [1, 2]")
    check_trigger_readings(frames)
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.meter_values, connector_id=2), "MeterValues", 1)
    check(frames[0][3]["connectorId"] == 2, f"payload {dumps(frames[0][3])[:300]}")
    check_trigger_readings(frames)


@test
async def test_v16_extended_trigger_sign_charge_point_certificate(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.sign_charge_point_certificate),
        "SignCertificate", 1)
    check_csr(frames[0], s.conn.station_id, None)
    check(set(frames[0][3]) == {"csr"}, f"SignCertificate fields {sorted(frames[0][3])}")


@test
async def test_v16_extended_trigger_status_notification(ctx: Context):
    s = ctx.require("v16")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.status_notification), "StatusNotification", 3)
    check(sorted(f[3]["connectorId"] for f in frames) == [0, 1, 2],
          f"connectorIds {[f[3]['connectorId'] for f in frames]}, expected [0, 1, 2]")
    frames = await trigger(s, call16.ExtendedTriggerMessage(
        requested_message=enums16.MessageTrigger.status_notification, connector_id=1),
        "StatusNotification", 1)
    check(frames[0][3]["connectorId"] == 1, f"payload {dumps(frames[0][3])}")


@test
async def test_checks_catch_the_simulators_injected_trigger_faults(ctx: Context):
    """Negative control against the real binary: the simulator's own fault injection
    breaks the rules trigger() checks (response first, exactly the asked-for messages,
    no CALLERROR, the right status), and trigger() must notice every time."""
    sim = ctx.sim("faults16", sim_args(
        ctx.csms.url(), "FAULTY", "1.6", "--evses", "2",
        "--fault", "Heartbeat=before-response", "--fault", "StatusNotification=twice",
        "--fault", "DiagnosticsStatusNotification=callerror:GenericError",
        "--fault", "FirmwareStatusNotification=not-implemented"))
    conn = await ctx.csms.wait_booted(sim, "FAULTY0001")
    ctx.touched_conns.append(conn)
    conn.cp.logger = QUIET  # the library logs the injected CALLERROR at WARNING
    await conn.cp.wait_calls("StatusNotification", 3, what="connectors 0, 1, 2 after boot")
    await settle(conn)
    session = Session(sim, conn)
    M = enums16.MessageTrigger
    cases = [
        (call16.TriggerMessage(requested_message=M.heartbeat), "Heartbeat",
         "arrived before the TriggerMessage CALLRESULT"),
        (call16.TriggerMessage(requested_message=M.status_notification, connector_id=1),
         "StatusNotification", "2 StatusNotification CALL(s)"),
        (call16.TriggerMessage(requested_message=M.diagnostics_status_notification),
         "DiagnosticsStatusNotification", "GenericError"),
        (call16.TriggerMessage(requested_message=M.firmware_status_notification),
         "FirmwareStatusNotification", "expected status Accepted"),
    ]
    for request, action, needle in cases:
        try:
            await trigger(session, request, action, 1)
        except TestFailure as e:
            check(needle in str(e), f"{request}: caught, but not for the injected fault "
                                    f"(expected {needle!r} in the failure): {e}")
        else:
            raise TestFailure(f"trigger() passed despite the fault injected for {request}")
    rc = await sim.signal_and_wait(signal.SIGINT)
    check(rc == 0, f"{sim.name} exited with code {rc} after SIGINT:\n{sim.stderr_tail()}")


@test
async def test_v16_sim_stops_on_sigint_with_a_report_matching_the_csms_view(ctx: Context):
    s = ctx.require("v16")
    ctx.v16 = None
    await check_sigint_report(ctx, s)


# --- OCPP 2.0.1 -------------------------------------------------------------------------


@test
async def test_v201_sim_boots_reports_connectors_and_starts_transactions(ctx: Context):
    sim = ctx.sim("sim201", sim_args(
        ctx.csms.url(), "TWOA", "2.0.1", "--evses", "2", "--transactions", "--idle-secs", "0",
        "--session-secs", "3600", "--meter-interval-secs", "3600"))
    conn = await ctx.csms.wait_booted(sim, "TWOA0001")
    ctx.touched_conns.append(conn)
    check(conn.subprotocol == V201 and conn.offered == V201,
          f"offered {conn.offered!r}, selected {conn.subprotocol!r}")
    cp = conn.cp
    started = await cp.wait_calls("TransactionEvent", 2, what="Started on EVSEs 1 and 2",
                                  where=lambda f: f[3].get("eventType") == "Started")
    await settle(conn)
    boot = cp.calls("BootNotification")
    check(len(boot) == 1 and boot[0][3].get("reason") == "PowerUp",
          f"BootNotifications {dumps(boot)}")
    check(cp.received.index(boot[0]) == 0, "the first frame was not BootNotification")
    statuses = {(f[3]["evseId"], f[3]["connectorId"]) for f in cp.calls("StatusNotification")}
    check(statuses == {(1, 1), (2, 1)}, f"StatusNotification evse/connector {sorted(statuses)}, "
                                        "expected (1, 1) and (2, 1)")
    evses = sorted(f[3]["evse"]["id"] for f in started)
    check(evses == [1, 2], f"transactions started on EVSEs {evses}, expected [1, 2]")
    for f in started:
        check(f[3].get("seqNo") == 0 and f[3].get("idToken"),
              f"TransactionEvent Started {dumps(f[3])}")
    ctx.v201 = Session(sim, conn)


def transactions_of(session: Session) -> dict:
    """EVSE id -> (transactionId, last seqNo) from every TransactionEvent seen so far."""
    out = {}
    for f in session.cp.calls("TransactionEvent"):
        p = f[3]
        out[p["evse"]["id"]] = (p["transactionInfo"]["transactionId"], p["seqNo"])
    return out


@test
async def test_v201_trigger_boot_notification_is_rejected_once_accepted(ctx: Context):
    s = ctx.require("v201")
    await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.boot_notification),
        "BootNotification", 0, status="Rejected")


@test
async def test_v201_trigger_heartbeat(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.heartbeat), "Heartbeat", 1)
    check(frames[0][3] == {}, f"payload {dumps(frames[0][3])}")


@test
async def test_v201_trigger_log_status_notification(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.log_status_notification),
        "LogStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v201_trigger_firmware_status_notification(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.firmware_status_notification),
        "FirmwareStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v201_trigger_publish_firmware_status_notification(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.publish_firmware_status_notification),
        "PublishFirmwareStatusNotification", 1)
    check(frames[0][3] == {"status": "Idle"}, f"payload {dumps(frames[0][3])}")


@test
async def test_v201_trigger_sign_charging_station_certificate(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.sign_charging_station_certificate),
        "SignCertificate", 1)
    check_csr(frames[0], s.conn.station_id, "ChargingStationCertificate")


@test
async def test_v201_trigger_sign_v2g_certificate(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.sign_v2g_certificate),
        "SignCertificate", 1)
    check_csr(frames[0], s.conn.station_id, "V2GCertificate")


@test
async def test_v201_trigger_sign_combined_certificate(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.sign_combined_certificate),
        "SignCertificate", 1)
    check_csr(frames[0], s.conn.station_id, None)


@test
async def test_v201_trigger_meter_values_for_evses_1_2(ctx: Context):
    s = ctx.require("v201")
    for evse in (1, 2):
        frames = await trigger(s, call201.TriggerMessage(
            requested_message=enums201.MessageTriggerEnumType.meter_values,
            evse=types201.EVSEType(id=evse)), "MeterValues", 1)
        check(frames[0][3]["evseId"] == evse, f"asked for EVSE {evse}: {dumps(frames[0][3])[:300]}")
        check_trigger_readings(frames)


@test
async def test_v201_trigger_meter_values_without_evse_reports_every_evse(ctx: Context):
    s = ctx.require("v201")
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.meter_values), "MeterValues", 2)
    check(sorted(f[3]["evseId"] for f in frames) == [1, 2],
          f"evseIds {[f[3]['evseId'] for f in frames]}, expected [1, 2]")
    check_trigger_readings(frames)


@test
async def test_v201_trigger_status_notification_for_evse_and_connector(ctx: Context):
    s = ctx.require("v201")
    for evse in (1, 2):
        frames = await trigger(s, call201.TriggerMessage(
            requested_message=enums201.MessageTriggerEnumType.status_notification,
            evse=types201.EVSEType(id=evse, connector_id=1)), "StatusNotification", 1)
        payload = frames[0][3]
        check(payload["evseId"] == evse and payload["connectorId"] == 1
              and payload["connectorStatus"] == "Occupied",
              f"asked for EVSE {evse} connector 1 (charging): {dumps(payload)}")


@test
async def test_v201_trigger_status_notification_without_connector_id_is_rejected(ctx: Context):
    s = ctx.require("v201")
    await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.status_notification),
        "StatusNotification", 0, status="Rejected")
    await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.status_notification,
        evse=types201.EVSEType(id=1)), "StatusNotification", 0, status="Rejected")


@test
async def test_v201_trigger_transaction_event_for_each_evse(ctx: Context):
    s = ctx.require("v201")
    for evse in (1, 2):
        before = transactions_of(s)
        frames = await trigger(s, call201.TriggerMessage(
            requested_message=enums201.MessageTriggerEnumType.transaction_event,
            evse=types201.EVSEType(id=evse)), "TransactionEvent", 1)
        check_triggered_transaction_event(frames[0], evse, before)


def check_triggered_transaction_event(frame: list, evse: int, before: dict) -> None:
    p = frame[3]
    check(p.get("eventType") == "Updated" and p.get("triggerReason") == "Trigger",
          f"eventType {p.get('eventType')!r}, triggerReason {p.get('triggerReason')!r}: "
          f"{dumps(p)[:600]}")
    check(p.get("evse", {}).get("id") == evse, f"evse {p.get('evse')}, expected id {evse}")
    tx_id, seq = before[evse]
    check(p["transactionInfo"].get("transactionId") == tx_id,
          f"transactionId {p['transactionInfo'].get('transactionId')!r}, the running one is {tx_id!r}")
    check(p.get("seqNo") == seq + 1, f"seqNo {p.get('seqNo')}, expected {seq + 1}")
    if "meterValue" in p:
        check_trigger_readings([frame])


@test
async def test_v201_trigger_transaction_event_without_evse_reports_every_evse(ctx: Context):
    s = ctx.require("v201")
    before = transactions_of(s)
    frames = await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.transaction_event),
        "TransactionEvent", 2)
    check(sorted(f[3]["evse"]["id"] for f in frames) == [1, 2],
          f"EVSEs {[f[3]['evse'] for f in frames]}, expected ids [1, 2]")
    for f in frames:
        check_triggered_transaction_event(f, f[3]["evse"]["id"], before)


@test
async def test_v201_trigger_for_unknown_evse_is_rejected(ctx: Context):
    s = ctx.require("v201")
    await trigger(s, call201.TriggerMessage(
        requested_message=enums201.MessageTriggerEnumType.meter_values,
        evse=types201.EVSEType(id=3)), "MeterValues", 0, status="Rejected")


@test
async def test_v201_sim_stops_on_sigint_with_a_report_matching_the_csms_view(ctx: Context):
    s = ctx.require("v201")
    ctx.v201 = None
    await check_sigint_report(ctx, s)


# --- Transactions -------------------------------------------------------------------------


@test
async def test_v16_sim_transactions_start_sample_and_stop(ctx: Context):
    sim = ctx.sim("tx16", sim_args(
        ctx.csms.url(), "TXSIX", "1.6", "--evses", "2", "--transactions", "--idle-secs", "0",
        "--session-secs", "2", "--meter-interval-secs", "1"))
    conn = await ctx.csms.wait_booted(sim, "TXSIX0001")
    ctx.touched_conns.append(conn)
    cp = conn.cp
    stops = await cp.wait_calls("StopTransaction", 2, what="both connectors' first session")
    await check_sigint_report(ctx, Session(sim, conn), busy=True)
    starts = cp.calls("StartTransaction")
    by_connector = {}
    for f in starts:
        by_connector.setdefault(f[3]["connectorId"], f)
    check(sorted(by_connector) == [1, 2], f"StartTransaction connectorIds {sorted(by_connector)}")
    assigned = {tid: info["connector_id"] for tid, info in cp.transactions.items()}
    stopped = [f[3].get("transactionId") for f in stops[:2]]
    check(all(tid in assigned for tid in stopped) and len(set(stopped)) == 2,
          f"StopTransaction transactionIds {stopped}; the CSMS assigned {assigned}")
    sampled = [f for f in cp.calls("MeterValues")
               if any(s.get("context") == "Sample.Periodic"
                      for mv in f[3]["meterValue"] for s in mv["sampledValue"])]
    check(sampled, "no periodic MeterValues during the sessions")
    for f in sampled:
        check(f[3].get("transactionId") in assigned,
              f"periodic MeterValues without a known transactionId: {dumps(f[3])[:300]}")
    statuses = [f[3]["status"] for f in cp.calls("StatusNotification") if f[3]["connectorId"] == 1]
    check(statuses[:4] == ["Available", "Preparing", "Charging", "Finishing"],
          f"connector 1 statuses {statuses}, expected Available, Preparing, Charging, Finishing, ...")


@test
async def test_v201_sim_transactions_started_updated_ended(ctx: Context):
    sim = ctx.sim("tx201", sim_args(
        ctx.csms.url(), "TXTWO", "2.0.1", "--evses", "2", "--transactions", "--idle-secs", "0",
        "--session-secs", "2", "--meter-interval-secs", "1"))
    conn = await ctx.csms.wait_booted(sim, "TXTWO0001")
    ctx.touched_conns.append(conn)
    cp = conn.cp
    await cp.wait_calls("TransactionEvent", 2, what="both EVSEs' first session ending",
                        where=lambda f: f[3].get("eventType") == "Ended")
    await check_sigint_report(ctx, Session(sim, conn), busy=True)
    events = {}
    for f in cp.calls("TransactionEvent"):
        events.setdefault(f[3]["transactionInfo"]["transactionId"], []).append(f[3])
    ended = [tx for tx, evs in events.items() if evs[-1]["eventType"] == "Ended"]
    check(len(ended) >= 2, f"{len(ended)} transactions ended: {list(events)}")
    for tx in ended:
        evs = events[tx]
        kinds = [e["eventType"] for e in evs]
        check(kinds[0] == "Started" and kinds[-1] == "Ended"
              and all(k == "Updated" for k in kinds[1:-1]) and len(kinds) >= 3,
              f"transaction {tx}: eventTypes {kinds}, expected Started, Updated..., Ended")
        seqs = [e["seqNo"] for e in evs]
        check(seqs == list(range(len(seqs))), f"transaction {tx}: seqNos {seqs}")
        check(len({e["evse"]["id"] for e in evs}) == 1, f"transaction {tx} changed EVSE")
        check(evs[-1]["transactionInfo"].get("stoppedReason"),
              f"transaction {tx}: Ended without stoppedReason: {dumps(evs[-1])[:400]}")
        periodic = [e for e in evs if e["triggerReason"] == "MeterValuePeriodic"]
        check(periodic, f"transaction {tx}: no MeterValuePeriodic update")


# --- Refusals and signals -------------------------------------------------------------


async def check_refused(sim: Sim, *needles: str) -> str:
    rc = await sim.wait_exit()
    err = sim.stderr()
    lines = [line for line in err.splitlines() if line.strip()]
    check(rc != 0, f"{sim.name} exited with code 0; stderr:\n{sim.stderr_tail()}")
    check(lines and lines[-1].startswith("error: "),
          f"the last stderr line is not an 'error: ...' message:\n{sim.stderr_tail()}")
    for needle in needles:
        check(needle.lower() in lines[-1].lower(),
              f"the error message does not mention {needle!r}: {lines[-1]!r}")
    check(not sim.stdout().strip(), f"{sim.name} printed a report anyway: {sim.stdout()[:300]!r}")
    return lines[-1]


@test
async def test_sim_exits_nonzero_with_a_clear_message_on_a_closed_port(ctx: Context):
    port = free_port()
    sim = ctx.sim("closed-port", sim_args(f"ws://127.0.0.1:{port}/ocpp", "CLOSED", "1.6"))
    await check_refused(sim, f"ws://127.0.0.1:{port}/ocpp/CLOSED0001", "cannot connect", "refused")


@test
async def test_sim_exits_nonzero_when_the_csms_path_refuses_its_subprotocol(ctx: Context):
    """The Python CSMS at /ocpp201/{id} speaks 2.0.1 only: for a 1.6 station it completes
    the handshake without Sec-WebSocket-Protocol and closes (OCPP 2.0.1 Part 4 §3.1.2)."""
    url = ctx.csms.url(ONLY_201_PATH)
    sim = ctx.sim("refused-path-16", sim_args(url, "REFSIX", "1.6"))
    await check_refused(sim, f"{url}/REFSIX0001", "subprotocol", V16)
    conns = ctx.csms.of("REFSIX0001")
    check(conns and all(c.refused and c.cp is None for c in conns),
          f"the CSMS did not refuse REFSIX0001: {ctx.csms.describe('REFSIX0001')}")
    # Control: the same path takes a 2.0.1 station, which boots and stops after --duration.
    sim = ctx.sim("path-201", sim_args(url, "REFTWO", "2.0.1", "--duration", "2"))
    conn = await ctx.csms.wait_booted(sim, "REFTWO0001")
    ctx.touched_conns.append(conn)
    rc = await sim.wait_exit(EXIT_TIMEOUT + 2)
    check(rc == 0, f"the 2.0.1 sim exited with code {rc} after --duration:\n{sim.stderr_tail()}")
    check(sim.report().get("booted") == 1, f"report {sim.report()}")
    check_healthy(conn)


@test
async def test_sim_exits_nonzero_when_a_websockets_server_refuses_its_subprotocol(ctx: Context):
    """A plain `websockets.serve(..., subprotocols=["ocpp2.0.1"])`: for a 1.6 station,
    websockets refuses the handshake itself (HTTP 400, "invalid subprotocol")."""
    handled = []

    async def handler(websocket):
        handled.append(websocket.subprotocol)
        await websocket.close()

    server = await bounded(websockets.serve(handler, "127.0.0.1", 0, subprotocols=[V201],
                                            logger=QUIET), "starting a 2.0.1-only server")
    try:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ocpp"
        sim = ctx.sim("refused-201-only", sim_args(url, "WSSIX", "1.6"))
        await check_refused(sim, f"{url}/WSSIX0001", "subprotocol")
        check(not handled, f"the 2.0.1-only server accepted the 1.6 station: {handled}")
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


@test
async def test_sim_does_not_percent_encode_unreserved_characters_of_its_id(ctx: Context):
    """RFC 3986 §2.3: "-", ".", "_" and "~" are unreserved; a URI producer should not
    percent-encode them. A CSMS that takes the identity from the raw path (the ocpp
    README does) must see the station id as configured."""
    prefix = "ID-A_B.C"
    sim = ctx.sim("id-encoding", sim_args(ctx.csms.url(), prefix, "1.6"))
    deadline = time.monotonic() + STEP
    while not [c for c in ctx.csms.connections if c.path.startswith("/ocpp/ID")]:
        check(sim.process.poll() is None,
              f"{sim.name} exited with code {sim.process.returncode}:\n{sim.stderr_tail()}")
        check(time.monotonic() < deadline, f"no connection from {sim.name} within {STEP:.0f}s")
        await asyncio.sleep(0.05)
    paths = sorted({c.path for c in ctx.csms.connections if c.path.startswith("/ocpp/ID")})
    rc = await sim.signal_and_wait(signal.SIGINT)
    check(rc == 0, f"{sim.name} exited with code {rc} after SIGINT:\n{sim.stderr_tail()}")
    check(paths == [f"/ocpp/{prefix}0001"],
          f"request path(s) {paths}, expected /ocpp/{prefix}0001 (unreserved characters "
          "percent-encoded: a CSMS reading the raw path sees another identity)")


@test
async def test_sim_stops_on_sigterm_with_a_report(ctx: Context):
    sim = ctx.sim("sigterm", sim_args(ctx.csms.url(), "TERM", "1.6"))
    conn = await ctx.csms.wait_booted(sim, "TERM0001")
    ctx.touched_conns.append(conn)
    await conn.cp.wait_calls("StatusNotification", 2, what="connectors 0 and 1")
    await settle(conn)
    rc = await sim.signal_and_wait(signal.SIGTERM)
    check(rc == 0, f"{sim.name} exited with code {rc} after SIGTERM (expected 0 and a JSON report, "
                   f"as after SIGINT); stdout {sim.stdout()[:200]!r}\n{sim.stderr_tail()}")
    report = sim.report()
    check(report.get("booted") == 1, f"report {report}")


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------


RESULTS = {"passed": 0, "failed": 0}


async def run_all(ctx: Context, selected: Optional[str]) -> None:
    await ctx.csms.start()
    print(f"CSMS (ocpp {V16}/{V201}) on {ctx.csms.url()}; work dir {ctx.work_dir}", flush=True)
    try:
        for name, fn in TESTS:
            if selected and selected not in name:
                continue
            ctx.touched_sims, ctx.touched_conns = [], []
            started = time.monotonic()
            failure = None
            try:
                await asyncio.wait_for(fn(ctx), TEST_TIMEOUT)
            except asyncio.TimeoutError:
                failure = f"timed out after {TEST_TIMEOUT:.0f}s"
            except TestFailure as e:
                failure = str(e)
            except Exception:  # noqa: BLE001 - any other error fails this test only
                failure = f"unexpected error\n{traceback.format_exc()}"
            if failure is None:
                RESULTS["passed"] += 1
                print(f"PASS {name} ({time.monotonic() - started:.2f}s)", flush=True)
            else:
                RESULTS["failed"] += 1
                try:
                    details = ctx.diagnostics()
                except Exception:  # noqa: BLE001 - never lose the failure over its details
                    details = f"  (no diagnostics: {traceback.format_exc()})"
                print(f"FAIL {name}: {failure}\n{details}", flush=True)
    finally:
        ctx.close()
        await ctx.csms.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="path to the ocpulse binary")
    parser.add_argument("--work-dir", help="scratch directory (default: a new temp dir)")
    parser.add_argument("--pid-file", help="append each simulator's pid here (for run.sh's trap)")
    parser.add_argument("-k", dest="select", help="run only tests whose name contains this")
    args = parser.parse_args()

    # Anything the library logs at WARNING or above (a frame it rejected, a CALLERROR it
    # received) is shown next to the failing test.
    logging.basicConfig(level=logging.WARNING, format="    [%(name)s] %(levelname)s %(message)s")
    # SIGTERM (run.sh's trap, CI) unwinds through the finally below like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="ocpulse-interop-sim-"))
    os.makedirs(work_dir, exist_ok=True)
    binary = os.path.abspath(args.bin)
    ctx = Context(binary, work_dir, args.pid_file, Csms())
    finished = False
    try:
        print(f"ocpulse: {binary}", flush=True)
        asyncio.run(run_all(ctx, args.select))
        if RESULTS["passed"] + RESULTS["failed"] == 0:
            RESULTS["failed"] += 1
            print("FAIL no test matched", flush=True)
        finished = True
        return 1 if RESULTS["failed"] else 0
    finally:
        ctx.close()
        if not finished:
            # Interrupted (signal, Ctrl-C) or crashed: the run as a whole failed.
            RESULTS["failed"] += 1
            print("FAIL run interrupted before every test finished", flush=True)
        summary = f"{RESULTS['passed']} passed, {RESULTS['failed']} failed"
        if args.work_dir:
            with contextlib.suppress(OSError), open(os.path.join(work_dir, "summary"), "w") as f:
                f.write(summary + "\n")
        print(summary, flush=True)


if __name__ == "__main__":
    sys.exit(main())
