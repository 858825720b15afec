#!/usr/bin/env python3
"""Interop tests: ocpulse against charging stations built on the `ocpp` Python library.

The stations below are written the way users of mobilityhouse/ocpp write them: a
`ChargePoint` subclass per OCPP version, `@on(Action.trigger_message)` answering the
TriggerMessage and an `@after(Action.trigger_message)` hook sending the requested
message with the library's `call()`. The library validates every frame the CSMS sends
(our TriggerMessage requests and our CALLRESULTs) against its own copy of the OCA JSON
schemas; a violation surfaces as a CALLERROR or an exception, and the test fails.

The stations also answer GetDiagnostics (1.6) and GetLog (2.0.1) and really upload a log
file with urllib to the one-time URL ocpulse hands out (a multipart POST, a raw PUT); the
API must then list the request as received and download the very bytes sent.

A charging 1.6 charge point answers RemoteStartTransaction / RemoteStopTransaction and
sends StartTransaction, MeterValues and StopTransaction: the session API must answer with
the session it started and stopped, with its energy.

Each test drives the server through its HTTP API (stdlib urllib) and compares what the
API returns with the exact frames the station wrote on the wire.

Usage: test_python_ocpp.py --bin PATH/TO/ocpulse [--work-dir DIR]
Prints one line per test and ends with "N passed, M failed"; exits 1 if any failed.
"""

import argparse
import asyncio
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
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, List, Optional

import websockets
from ocpp.messages import Call, CallResult, validate_payload
from ocpp.routing import after, on
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
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v21 import datatypes as types21
from ocpp.v21 import enums as enums21

# Upper bound of any single await (connect, call, HTTP round trip, event wait).
STEP = 15.0
# Upper bound of one whole test.
TEST_TIMEOUT = 60.0
# timeoutMs given to the trigger API: the server waits at most this long for the station.
TRIGGER_TIMEOUT_MS = 10_000
# Upper bound of the server's start-up (until GET /api/v1/stations answers).
STARTUP_TIMEOUT = 30.0

# The library logs (at ERROR, with a traceback) every frame it rejects; the negative
# control below provokes that on purpose, so its probe stations log here, nowhere.
QUIET = logging.getLogger("interop.quiet")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
V21 = "ocpp2.1"


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


# --------------------------------------------------------------------------------------
# Stations
# --------------------------------------------------------------------------------------


@dataclass
class TriggerRecord:
    """What a station did about one TriggerMessage it received."""

    request: dict
    # The CALL frames ([2, id, action, payload]) the station sent in response, as written.
    frames: List[list] = field(default_factory=list)
    error: Optional[BaseException] = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Recording:
    """Wire-level recording shared by both versions' stations (mixed in before the
    library's ChargePoint, so `_send` and `route_message` wrap the library's own)."""

    subprotocol = ""
    trigger_status = "Accepted"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: List[Any] = []  # every frame this station wrote, parsed
        self.received: List[Any] = []  # every frame it read, parsed
        self.triggers: dict = {}  # TriggerMessage unique id -> TriggerRecord
        self.upload_requests: List[dict] = []  # GetDiagnostics / GetLog payloads received
        self.upload_results: List[Any] = []  # (HTTP status, body) of each upload made
        self.problems: List[str] = []  # failures in hooks or the receive loop
        self.task: Optional[asyncio.Task] = None
        self.ws = None

    async def _send(self, message):
        self.sent.append(json.loads(message))
        await super()._send(message)

    async def route_message(self, raw_msg):
        try:
            self.received.append(json.loads(raw_msg))
        except ValueError:
            self.received.append(raw_msg)
        await super().route_message(raw_msg)

    def frame(self, unique_id: str, message_type: int = 2) -> list:
        for f in self.sent:
            if isinstance(f, list) and f[0] == message_type and f[1] == unique_id:
                return f
        raise TestFailure(f"{self.id}: sent no frame of type {message_type} with id {unique_id}")

    def log_text(self) -> bytes:
        """The log file this station uploads: unique per call, so a download proves it."""
        return f"{now()} {self.id} log line one\n{uuid.uuid4()} line two\n".encode()

    async def send_call(self, request) -> list:
        """Sends `request` with the library's call() (schema-validated both ways, a
        CALLERROR raises) and returns the CALL frame exactly as written to the socket."""
        unique_id = str(uuid.uuid4())
        await bounded(
            self.call(request, suppress=False, unique_id=unique_id),
            f"{self.id}: CSMS answer to {type(request).__name__}",
        )
        return self.frame(unique_id)

    def record_trigger(self, call_unique_id: str, **request) -> None:
        self.triggers[call_unique_id] = TriggerRecord(request=request)

    async def run_trigger(self, call_unique_id: str, requests: Callable[[], list]) -> None:
        record = self.triggers.get(call_unique_id)
        if record is None:
            record = self.triggers[call_unique_id] = TriggerRecord(request={})
        try:
            if self.trigger_status == "Accepted":
                for request in requests():
                    record.frames.append(await self.send_call(request))
        except Exception as e:  # noqa: BLE001 - recorded and reported by the test
            record.error = e
            self.problems.append(f"after TriggerMessage {call_unique_id}: {e!r}")
        finally:
            record.done.set()

    def outgoing_call_errors(self, since: int = 0) -> list:
        return [f for f in self.sent[since:] if isinstance(f, list) and f[0] == 4]

    def received_triggers(self, since: int = 0) -> list:
        return [
            f
            for f in self.received[since:]
            if isinstance(f, list) and f[0] == 2 and f[2] == "TriggerMessage"
        ]


class Station16(Recording, ChargePoint16):
    """An OCPP 1.6 charge point with connectors 0 (the charge point), 1 and 2."""

    subprotocol = V16
    connectors = (0, 1, 2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status = {c: enums16.ChargePointStatus.available for c in self.connectors}
        self.energy_wh = 1000

    def status_notification(self, connector_id: int):
        return call16.StatusNotification(
            connector_id=connector_id,
            error_code=enums16.ChargePointErrorCode.no_error,
            status=self.status[connector_id],
            timestamp=now(),
        )

    def meter_values(self, connector_id: int):
        self.energy_wh += 125
        return call16.MeterValues(
            connector_id=connector_id,
            meter_value=[
                types16.MeterValue(
                    timestamp=now(),
                    sampled_value=[
                        types16.SampledValue(
                            value=str(self.energy_wh),
                            context=enums16.ReadingContext.trigger,
                            measurand=enums16.Measurand.energy_active_import_register,
                            unit=enums16.UnitOfMeasure.wh,
                        )
                    ],
                )
            ],
        )

    def boot_notification(self):
        return call16.BootNotification(
            charge_point_model="Interop-16",
            charge_point_vendor="ocpp-python",
            firmware_version="2.1.0",
        )

    def requests_for(self, requested_message: str, connector_id: Optional[int]) -> list:
        M = enums16.MessageTrigger
        if requested_message == M.status_notification:
            targets = self.connectors if connector_id is None else (connector_id,)
            return [self.status_notification(c) for c in targets]
        if requested_message == M.meter_values:
            targets = [c for c in self.connectors if c > 0] if connector_id is None else [connector_id]
            return [self.meter_values(c) for c in targets]
        if requested_message == M.heartbeat:
            return [call16.Heartbeat()]
        if requested_message == M.boot_notification:
            return [self.boot_notification()]
        return []

    @on(enums16.Action.trigger_message)
    def on_trigger_message(self, requested_message, call_unique_id, connector_id=None, **kwargs):
        self.record_trigger(
            call_unique_id, requested_message=requested_message, connector_id=connector_id
        )
        if self.trigger_status == "Accepted" and not self.requests_for(requested_message, connector_id):
            return result16.TriggerMessage(status=enums16.TriggerMessageStatus.not_implemented)
        return result16.TriggerMessage(status=self.trigger_status)

    @after(enums16.Action.trigger_message)
    async def after_trigger_message(
        self, requested_message, call_unique_id, connector_id=None, **kwargs
    ):
        await self.run_trigger(
            call_unique_id, lambda: self.requests_for(requested_message, connector_id)
        )


    # GetDiagnostics: a real upload with the stdlib (multipart/form-data POST, as 1.6
    # stations commonly send it), then DiagnosticsStatusNotification Uploaded/UploadFailed.
    @on(enums16.Action.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        self.upload_requests.append({"location": location, **kwargs})
        return result16.GetDiagnostics(file_name=f"diagnostics-{self.id}.txt")

    @after(enums16.Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **kwargs):
        try:
            await self.send_call(
                call16.DiagnosticsStatusNotification(status=enums16.DiagnosticsStatus.uploading)
            )
            ok = await asyncio.to_thread(
                upload_file, location, self.log_text(), f"diagnostics-{self.id}.txt", True
            )
            status = (enums16.DiagnosticsStatus.uploaded if ok
                      else enums16.DiagnosticsStatus.upload_failed)
            await self.send_call(call16.DiagnosticsStatusNotification(status=status))
        except BaseException as e:  # surfaced by the test through station.problems
            self.problems.append(f"GetDiagnostics upload: {e!r}")


class ConfiguredStation16(Station16):
    """A 1.6 charge point with a configuration: GetConfiguration reports it (all or the
    keys asked), ChangeConfiguration sets a key (RebootRequired for WebSocketPingInterval,
    Rejected for a read-only key, NotSupported for an unknown one), as real ones do."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = {
            "HeartbeatInterval": ["300", False],
            "MeterValueSampleInterval": ["60", False],
            "WebSocketPingInterval": ["0", False],
            "SupportedFeatureProfiles": ["Core,RemoteTrigger", True],
        }
        self.changes = []

    @on(enums16.Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        wanted = key if key else list(self.config)
        known = [{"key": k, "readonly": self.config[k][1], "value": self.config[k][0]}
                 for k in wanted if k in self.config]
        unknown = [k for k in wanted if k not in self.config]
        return result16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(enums16.Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        self.changes.append((key, value))
        S = enums16.ConfigurationStatus
        if key not in self.config:
            return result16.ChangeConfiguration(status=S.not_supported)
        if self.config[key][1]:
            return result16.ChangeConfiguration(status=S.rejected)
        self.config[key][0] = value
        return result16.ChangeConfiguration(
            status=S.reboot_required if key == "WebSocketPingInterval" else S.accepted)


class RejectingStation16(Station16):
    """A 1.6 charge point whose TriggerMessage handler answers Rejected."""

    trigger_status = enums16.TriggerMessageStatus.rejected


class ChargingStation16(Station16):
    """A 1.6 charge point that charges when asked: RemoteStartTransaction is answered
    (Accepted unless `remote_start_status` says otherwise), then StartTransaction, two
    MeterValues naming the transactionId (energy rising), and on RemoteStopTransaction a
    StopTransaction with reason Remote, each through the library's call()."""

    remote_start_status = enums16.RemoteStartStopStatus.accepted

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.remote_starts: List[dict] = []
        self.remote_stops: List[dict] = []
        self.transaction_id: Optional[int] = None
        self.meter_wh = 5000

    def reading(self, power_w: int):
        return types16.MeterValue(
            timestamp=now(),
            sampled_value=[
                types16.SampledValue(
                    value=str(self.meter_wh),
                    measurand=enums16.Measurand.energy_active_import_register,
                    unit=enums16.UnitOfMeasure.wh,
                ),
                types16.SampledValue(
                    value=str(power_w),
                    measurand=enums16.Measurand.power_active_import,
                    unit=enums16.UnitOfMeasure.w,
                ),
            ],
        )

    @on(enums16.Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag, connector_id=None, **kwargs):
        self.remote_starts.append({"id_tag": id_tag, "connector_id": connector_id, **kwargs})
        return result16.RemoteStartTransaction(status=self.remote_start_status)

    @after(enums16.Action.remote_start_transaction)
    async def after_remote_start_transaction(self, id_tag, connector_id=None, **kwargs):
        if self.remote_start_status != enums16.RemoteStartStopStatus.accepted:
            return
        try:
            connector = connector_id or 1
            answer = await bounded(
                self.call(call16.StartTransaction(connector_id=connector, id_tag=id_tag,
                                                  meter_start=self.meter_wh, timestamp=now()),
                          suppress=False),
                f"{self.id}: StartTransaction answer")
            self.transaction_id = answer.transaction_id
            for _ in range(2):
                self.meter_wh += 250
                await self.send_call(call16.MeterValues(
                    connector_id=connector, transaction_id=self.transaction_id,
                    meter_value=[self.reading(7400)]))
        except BaseException as e:  # surfaced by the test through station.problems
            self.problems.append(f"after RemoteStartTransaction: {e!r}")

    @on(enums16.Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, **kwargs):
        self.remote_stops.append({"transaction_id": transaction_id, **kwargs})
        ok = transaction_id == self.transaction_id
        return result16.RemoteStopTransaction(
            status=enums16.RemoteStartStopStatus.accepted if ok
            else enums16.RemoteStartStopStatus.rejected)

    @after(enums16.Action.remote_stop_transaction)
    async def after_remote_stop_transaction(self, transaction_id, **kwargs):
        if transaction_id != self.transaction_id:
            return
        try:
            self.meter_wh += 100
            await self.send_call(call16.StopTransaction(
                meter_stop=self.meter_wh, timestamp=now(), transaction_id=transaction_id,
                reason=enums16.Reason.remote, transaction_data=[self.reading(0)]))
            self.transaction_id = None
        except BaseException as e:  # surfaced by the test through station.problems
            self.problems.append(f"after RemoteStopTransaction: {e!r}")


class RefusingChargingStation16(ChargingStation16):
    """A 1.6 charge point that answers RemoteStartTransaction Rejected."""

    remote_start_status = enums16.RemoteStartStopStatus.rejected


class Station201(Recording, ChargePoint201):
    """An OCPP 2.0.1 charging station with one EVSE (id 1) of one connector (id 1)."""

    subprotocol = V201
    evses = {1: (1,)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status = {
            (e, c): enums201.ConnectorStatusEnumType.available
            for e, cs in self.evses.items()
            for c in cs
        }
        self.energy_wh = 5000.5

    def status_notification(self, evse_id: int, connector_id: int):
        return call201.StatusNotification(
            timestamp=now(),
            connector_status=self.status[(evse_id, connector_id)],
            evse_id=evse_id,
            connector_id=connector_id,
        )

    def meter_values(self, evse_id: int):
        self.energy_wh += 250.25
        return call201.MeterValues(
            evse_id=evse_id,
            meter_value=[
                types201.MeterValueType(
                    timestamp=now(),
                    sampled_value=[
                        types201.SampledValueType(
                            value=self.energy_wh,
                            context=enums201.ReadingContextEnumType.trigger,
                            measurand=enums201.MeasurandEnumType.energy_active_import_register,
                            unit_of_measure=types201.UnitOfMeasureType(unit="Wh"),
                        )
                    ],
                )
            ],
        )

    def boot_notification(self, reason):
        return call201.BootNotification(
            charging_station=types201.ChargingStationType(
                vendor_name="ocpp-python", model="Interop-201", firmware_version="2.1.0"
            ),
            reason=reason,
        )

    def requests_for(self, requested_message: str, evse: Optional[dict]) -> list:
        M = enums201.MessageTriggerEnumType
        if requested_message == M.status_notification:
            if evse is not None and evse.get("connector_id") is not None:
                targets = [(evse["id"], evse["connector_id"])]
            elif evse is not None:
                targets = [(evse["id"], c) for c in self.evses.get(evse["id"], ())]
            else:
                targets = list(self.status)
            return [self.status_notification(e, c) for e, c in targets]
        if requested_message == M.meter_values:
            targets = [evse["id"]] if evse is not None else list(self.evses)
            return [self.meter_values(e) for e in targets]
        if requested_message == M.heartbeat:
            return [call201.Heartbeat()]
        if requested_message == M.boot_notification:
            return [self.boot_notification(enums201.BootReasonEnumType.triggered)]
        return []

    @on(enums201.Action.trigger_message)
    def on_trigger_message(self, requested_message, call_unique_id, evse=None, **kwargs):
        self.record_trigger(call_unique_id, requested_message=requested_message, evse=evse)
        if self.trigger_status == "Accepted" and not self.requests_for(requested_message, evse):
            return result201.TriggerMessage(
                status=enums201.TriggerMessageStatusEnumType.not_implemented
            )
        return result201.TriggerMessage(status=self.trigger_status)

    @after(enums201.Action.trigger_message)
    async def after_trigger_message(self, requested_message, call_unique_id, evse=None, **kwargs):
        await self.run_trigger(call_unique_id, lambda: self.requests_for(requested_message, evse))


    # GetLog: a raw PUT of the file to log.remoteLocation, with LogStatusNotification
    # (requestId) before and after.
    @on(enums201.Action.get_log)
    def on_get_log(self, log, log_type, request_id, **kwargs):
        self.upload_requests.append({"log": log, "log_type": log_type, "request_id": request_id})
        return result201.GetLog(status=enums201.LogStatusEnumType.accepted,
                                filename=f"{log_type}-{self.id}.txt")

    @after(enums201.Action.get_log)
    async def after_get_log(self, log, log_type, request_id, **kwargs):
        try:
            await self.send_call(call201.LogStatusNotification(
                status=enums201.UploadLogStatusEnumType.uploading, request_id=request_id))
            ok = await asyncio.to_thread(
                upload_file, log["remote_location"], self.log_text(), None, False
            )
            status = (enums201.UploadLogStatusEnumType.uploaded if ok
                      else enums201.UploadLogStatusEnumType.upload_failure)
            await self.send_call(call201.LogStatusNotification(status=status, request_id=request_id))
        except BaseException as e:
            self.problems.append(f"GetLog upload: {e!r}")


class RejectingStation201(Station201):
    """A 2.0.1 charging station whose TriggerMessage handler answers Rejected."""

    trigger_status = enums201.TriggerMessageStatusEnumType.rejected


class Station21(Recording, ChargePoint21):
    """An OCPP 2.1 charging station (the library's `ocpp.v21`) with one EVSE of one
    connector, and one custom trigger (`com.example.heartbeat`, which sends a Heartbeat)."""

    subprotocol = V21
    custom_triggers = {"com.example.heartbeat": lambda: call21.Heartbeat()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connector_status = enums21.ConnectorStatusEnumType.available

    def status_notification(self):
        return call21.StatusNotification(
            timestamp=now(), connector_status=self.connector_status, evse_id=1, connector_id=1
        )

    def boot_notification(self, reason):
        return call21.BootNotification(
            charging_station=types21.ChargingStationType(
                vendor_name="ocpp-python", model="Interop-21", firmware_version="2.1.0"
            ),
            reason=reason,
        )

    def requests_for(self, requested_message: str, custom_trigger: Optional[str]) -> list:
        M = enums21.MessageTriggerEnumType
        if requested_message == M.status_notification:
            return [self.status_notification()]
        if requested_message == M.heartbeat:
            return [call21.Heartbeat()]
        if requested_message == M.custom_trigger and custom_trigger in self.custom_triggers:
            return [self.custom_triggers[custom_trigger]()]
        return []

    @on(enums21.Action.trigger_message)
    def on_trigger_message(self, requested_message, call_unique_id, evse=None,
                           custom_trigger=None, **kwargs):
        self.record_trigger(call_unique_id, requested_message=requested_message, evse=evse,
                            custom_trigger=custom_trigger)
        if not self.requests_for(requested_message, custom_trigger):
            return result21.TriggerMessage(
                status=enums21.TriggerMessageStatusEnumType.not_implemented
            )
        return result21.TriggerMessage(status=enums21.TriggerMessageStatusEnumType.accepted)

    @after(enums21.Action.trigger_message)
    async def after_trigger_message(self, requested_message, call_unique_id,
                                    custom_trigger=None, **kwargs):
        await self.run_trigger(
            call_unique_id, lambda: self.requests_for(requested_message, custom_trigger)
        )


# --------------------------------------------------------------------------------------
# The server and its HTTP API
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the server's child process before exec: SIGTERM it if we die (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; run.sh's trap is the backstop
        pass


# No proxy for 127.0.0.1, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(method: str, url: str, body: Any, timeout: float):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


UPLOADED: dict = {}  # upload URL -> the bytes a station sent there


def upload_file(url: str, data: bytes, file_name: Optional[str], multipart: bool) -> bool:
    """Uploads `data` to `url` with urllib (the CSMS's one-time URL): multipart/form-data
    POST or raw PUT. Returns whether the server took it (2xx)."""
    if multipart:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{file_name}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    else:
        request = urllib.request.Request(url, data=data, method="PUT",
                                         headers={"Content-Type": "text/plain"})
    try:
        with _OPENER.open(request, timeout=STEP) as response:
            ok = 200 <= response.status < 300
    except urllib.error.HTTPError:
        ok = False
    if ok:
        UPLOADED[url] = data
    return ok


def _http_raw(url: str, timeout: float):
    try:
        with _OPENER.open(urllib.request.Request(url), timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


class Server:
    def __init__(self, binary: str, work_dir: str, pid_file: Optional[str]):
        self.binary = binary
        self.work_dir = work_dir
        self.pid_file = pid_file
        self.process: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(work_dir, "ocpulse.log")
        self.port = 0

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{station_id}"

    def start(self) -> None:
        last_error = ""
        for attempt in range(3):
            self.port = free_port()
            data_dir = tempfile.mkdtemp(prefix="data-", dir=self.work_dir)
            log = open(self.log_path, "ab")
            log.write(f"--- attempt {attempt + 1}: port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", data_dir],
                stdin=subprocess.DEVNULL, env=dict(os.environ, NO_COLOR="1"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            log.close()
            if self.pid_file:
                with open(self.pid_file, "a") as f:
                    f.write(f"{self.process.pid}\n")
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    last_error = f"ocpulse exited with code {self.process.returncode} at start-up"
                    break
                try:
                    status, _ = _http("GET", f"{self.http_base}/api/v1/stations", None, 2.0)
                    if status == 200:
                        return
                    last_error = f"GET /api/v1/stations answered {status}"
                except OSError as e:
                    last_error = f"GET /api/v1/stations: {e}"
                time.sleep(0.1)
            else:
                last_error = f"not answering after {STARTUP_TIMEOUT:.0f}s ({last_error})"
            self.stop()
        raise RuntimeError(f"ocpulse did not start: {last_error}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError as e:
            return f"(no server log: {e})"
        return "\n".join(text.splitlines()[-lines:])

    async def api(self, method: str, path: str, body: Any = None):
        """One HTTP request, in a worker thread so the stations' event loop keeps running."""
        timeout = TRIGGER_TIMEOUT_MS / 1000 + STEP
        return await bounded(
            asyncio.to_thread(_http, method, self.http_base + path, body, timeout),
            f"HTTP {method} {path}",
            timeout + 5,
        )


# --------------------------------------------------------------------------------------
# Test context and helpers
# --------------------------------------------------------------------------------------


class Context:
    def __init__(self, server: Server):
        self.server = server
        self.stations: List[Recording] = []
        self.cp16: Optional[Station16] = None
        self.cp201: Optional[Station201] = None
        self.cp21: Optional[Station21] = None

    def require(self, name: str):
        station = getattr(self, name)
        if station is None:
            raise TestFailure(f"station {name} was not set up (see the boot test's failure)")
        check(station.task is not None and not station.task.done(),
              f"{station.id}: the station's connection is gone: {station_task_state(station)}")
        return station

    async def connect(self, cls, station_id: str) -> Recording:
        """Connects a station the way the library's users do and starts its receive loop."""
        ws = await bounded(
            websockets.connect(
                self.server.ws_url(station_id),
                subprotocols=[cls.subprotocol],
                open_timeout=STEP,
                close_timeout=2,
            ),
            f"WebSocket connect of {station_id}",
        )
        station = cls(station_id, ws, response_timeout=STEP)
        station.ws = ws
        self.stations.append(station)
        check(ws.subprotocol == cls.subprotocol,
              f"{station_id}: server selected subprotocol {ws.subprotocol!r}, expected {cls.subprotocol!r}")
        station.task = asyncio.create_task(station.start(), name=f"station {station_id}")
        return station

    async def close(self) -> None:
        for station in self.stations:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(station.ws.close(), 3)
            if station.task is not None:
                station.task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(station.task, 3)


def station_task_state(station: Recording) -> str:
    if station.task is None:
        return "never started"
    if not station.task.done():
        return "running"
    if station.task.cancelled():
        return "cancelled"
    return f"ended: {station.task.exception()!r}"


def check_station_healthy(station: Recording, since_sent: int = 0) -> None:
    errors = station.outgoing_call_errors(since_sent)
    check(not errors, f"{station.id} answered the CSMS with CALLERROR (the ocpp library "
                      f"rejected a CSMS frame): {errors}")
    check(not station.problems, f"{station.id}: {station.problems}")
    check(station.task is not None and not station.task.done(),
          f"{station.id}: connection lost: {station_task_state(station)}")


async def boot16(station: Station16) -> None:
    response = await bounded(
        station.call(station.boot_notification(), suppress=False), "1.6 BootNotification"
    )
    check(response.status == enums16.RegistrationStatus.accepted,
          f"BootNotification answered {response}")
    check(isinstance(response.interval, int) and response.interval > 0,
          f"BootNotification interval {response.interval!r}")
    for c in station.connectors:
        await station.send_call(station.status_notification(c))


async def boot201(station: Station201) -> None:
    response = await bounded(
        station.call(
            station.boot_notification(enums201.BootReasonEnumType.power_up), suppress=False
        ),
        "2.0.1 BootNotification",
    )
    check(response.status == enums201.RegistrationStatusEnumType.accepted,
          f"BootNotification answered {response}")
    check(isinstance(response.interval, int) and response.interval > 0,
          f"BootNotification interval {response.interval!r}")
    for (e, c) in station.status:
        await station.send_call(station.status_notification(e, c))


@dataclass
class TriggerOutcome:
    response: dict
    record: TriggerRecord
    trigger_id: str
    messages: List[dict]


async def trigger(ctx: Context, station: Recording, body: dict, *, expect_status: str = "Accepted",
                  expect_count: Optional[int] = None) -> TriggerOutcome:
    """POSTs a trigger and checks everything every trigger must satisfy:

    - HTTP 200, the expected status, the station's protocol;
    - `sent` is exactly the TriggerMessage the station received on the wire, and the
      station answered it with a CALLRESULT (the library accepted our payload);
    - `messages` are exactly the CALLs the station's after-hook wrote, in order, with
      identical messageId, action and payload (the wire JSON after the library's
      snake_case -> camelCase serialization);
    - no CALLERROR from the station, no failure in its hooks (the library also validated
      the CSMS's CALLRESULT to each triggered message)."""
    mark_sent, mark_received = len(station.sent), len(station.received)
    body = dict(body, timeoutMs=TRIGGER_TIMEOUT_MS)
    status, response = await ctx.server.api("POST", f"/api/v1/stations/{station.id}/trigger", body)
    check(status == 200, f"POST trigger {dumps(body)} answered HTTP {status}: {response}")
    check(isinstance(response, dict), f"trigger answered a non-object: {response!r}")
    check(response.get("status") == expect_status,
          f"status {response.get('status')!r}, expected {expect_status!r}: {response}")
    check(response.get("protocol") == station.subprotocol,
          f"protocol {response.get('protocol')!r}, expected {station.subprotocol!r}")
    sent = response.get("sent") or {}
    check(sent.get("action") == "TriggerMessage", f"sent.action {sent.get('action')!r}")

    received = station.received_triggers(mark_received)
    check(len(received) == 1, f"{station.id} received {len(received)} TriggerMessage CALLs: {received}")
    trigger_frame = received[0]
    trigger_id = trigger_frame[1]
    check(trigger_frame[3] == sent.get("payload"),
          f"the API reports sent payload {dumps(sent.get('payload'))} but the station received "
          f"{dumps(trigger_frame[3])}")

    record = station.triggers.get(trigger_id)
    check(record is not None, f"{station.id}'s TriggerMessage handler never ran for {trigger_id} "
                              f"(frames sent: {station.sent[mark_sent:]})")
    reply = station.frame(trigger_id, 3)
    check(reply[2] == {"status": expect_status},
          f"{station.id} answered TriggerMessage with {dumps(reply[2])}")
    await bounded(record.done.wait(), f"{station.id}'s after-TriggerMessage hook")
    check(record.error is None, f"{station.id}'s triggered call failed: {record.error!r}")

    messages = response.get("messages")
    check(isinstance(messages, list), f"messages is {messages!r}")
    expected = [{"action": f[2], "messageId": f[1], "payload": f[3]} for f in record.frames]
    got = [{k: m.get(k) for k in ("action", "messageId", "payload")} for m in messages]
    check(got == expected,
          f"the API returned messages {dumps(got)}\nbut the station sent {dumps(expected)}")
    if expect_count is not None:
        check(len(messages) == expect_count,
              f"{len(messages)} messages, expected {expect_count}: {dumps(got)}")
    if expect_status == "Accepted":
        check(response.get("complete") is True, f"complete is {response.get('complete')!r}")
        for m in messages:
            check(isinstance(m.get("receivedAt"), str) and m["receivedAt"],
                  f"message without receivedAt: {m}")
    check_station_healthy(station, mark_sent)
    return TriggerOutcome(response, record, trigger_id, messages)


async def journal(ctx: Context, station_id: str, action: str, want: Callable[[list], bool],
                  limit: int = 50) -> list:
    """Polls the journal (it may commit a moment after the API answers) until `want`."""
    deadline = time.monotonic() + STEP
    while True:
        status, page = await ctx.server.api(
            "GET", f"/api/v1/stations/{station_id}/messages?action={action}&limit={limit}")
        check(status == 200, f"GET messages answered HTTP {status}: {page}")
        entries = page.get("items") if isinstance(page, dict) else None
        check(isinstance(entries, list), f"messages is not a page of items: {page!r}")
        if want(entries) or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

TESTS: List[tuple] = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


@test
async def test_library_schema_validation_is_on_for_both_station_versions(ctx: Context):
    """Negative control: the very classes under test reject a malformed TriggerMessage
    with a CALLERROR, so a CSMS payload the schemas forbid cannot pass unnoticed."""

    class Sink:
        def __init__(self):
            self.frames = []

        async def send(self, message):
            self.frames.append(json.loads(message))

        async def recv(self):
            await asyncio.sleep(3600)

    for cls, bad in (
        (Station16, {"requestedMessage": "StatusNotification", "connectorId": "one"}),
        (Station201, {"requestedMessage": "StatusNotification", "evse": {"connectorId": 1}}),
    ):
        for route in cls("probe", Sink(), logger=QUIET).route_map.values():
            check(not route.get("_skip_schema_validation"),
                  f"{cls.__name__} has a route with schema validation off: {route}")
        sink = Sink()
        station = cls("probe", sink, logger=QUIET)
        await bounded(station.route_message(json.dumps([2, "probe-1", "TriggerMessage", bad])),
                      "routing a malformed TriggerMessage")
        check(len(sink.frames) == 1 and sink.frames[0][0] == 4,
              f"{cls.__name__} did not answer a malformed TriggerMessage with CALLERROR: {sink.frames}")
        check(not station.triggers, f"{cls.__name__}'s handler ran for a malformed payload")
    # And a CSMS CALLRESULT is validated too: a Heartbeat result without currentTime fails.
    for version, action in (("1.6", "Heartbeat"), ("2.0.1", "Heartbeat")):
        raised = False
        try:
            await validate_payload(CallResult("x", {}, action=action), version)
        except Exception:  # noqa: BLE001 - the library raises its own OCPPError subclasses
            raised = True
        check(raised, f"ocpp {version} accepted a Heartbeat CALLRESULT without currentTime")
    await validate_payload(Call("x", "Heartbeat", {}), "1.6")


@test
async def test_v16_station_boots_accepted_and_reports_connectors_0_1_2(ctx: Context):
    station = await ctx.connect(Station16, "PY16")
    await boot16(station)
    ctx.cp16 = station
    status, view = await ctx.server.api("GET", "/api/v1/stations/PY16")
    check(status == 200, f"GET station answered HTTP {status}: {view}")
    check(view.get("connected") is True, f"connected is {view.get('connected')!r}")
    check(view.get("protocol") == V16, f"protocol {view.get('protocol')!r}")
    check(view.get("registrationStatus") == "Accepted",
          f"registrationStatus {view.get('registrationStatus')!r}")
    connectors = sorted(c.get("connectorId") for c in view.get("connectors", []))
    check(connectors == [0, 1, 2], f"connectors {connectors}, expected [0, 1, 2]")
    check_station_healthy(station)


async def log_upload_round_trip(ctx: Context, station: Recording, action: str, body: dict):
    """Asks for the station's log through the API (waiting), checks the station got the
    one-time URL and uploaded with urllib, then downloads the file through the API."""
    before = len(station.upload_requests)
    status, log = await ctx.server.api(
        "POST", f"/api/v1/stations/{station.id}/logs", {**body, "wait": True, "timeoutMs": 10000})
    check(status == 200, f"POST logs answered HTTP {status}: {log}")
    check(log.get("status") == "received", f"status {log.get('status')!r}: {dumps(log)}")
    check(log.get("action") == action, f"action {log.get('action')!r}")
    check(len(station.upload_requests) == before + 1,
          f"the station got {len(station.upload_requests) - before} {action} calls")
    asked = station.upload_requests[-1]
    url = asked.get("location") or asked.get("log", {}).get("remote_location")
    check(url in UPLOADED, f"the station's upload to {url!r} is not recorded as taken")
    if action == "GetLog":
        check(asked.get("request_id") == log.get("requestId"),
              f"requestId {asked.get('request_id')} vs the API's {log.get('requestId')}")
    code, content_type, data = await bounded(asyncio.to_thread(
        _http_raw, ctx.server.http_base + f"/api/v1/logs/{log['id']}/content", STEP), "download")
    check(code == 200, f"GET content answered HTTP {code}: {data[:200]!r}")
    check(data == UPLOADED[url], f"downloaded {data!r}, the station sent {UPLOADED[url]!r}")
    check(content_type == "text/plain", f"content type {content_type!r}")
    # The station's Uploaded notification arrives after the file: the request stays received.
    for _ in range(50):
        status, now_log = await ctx.server.api("GET", f"/api/v1/logs/{log['id']}")
        if any(p.get("status") == "Uploaded" for p in now_log.get("progress", [])):
            break
        await asyncio.sleep(0.1)
    check(now_log.get("status") == "received", f"then {dumps(now_log)}")
    check([p.get("status") for p in now_log.get("progress", [])] == ["Uploading", "Uploaded"],
          f"progress {now_log.get('progress')}")
    status, listed = await ctx.server.api("GET", f"/api/v1/logs?station={station.id}")
    check(status == 200 and listed["items"][0]["id"] == log["id"], f"list {dumps(listed)}")
    check_station_healthy(station)


@test
async def test_v16_get_diagnostics_station_posts_multipart_and_the_api_downloads_it(ctx: Context):
    await log_upload_round_trip(ctx, ctx.require("cp16"), "GetDiagnostics", {})


@test
async def test_v16_targeted_status_notification_trigger_returns_the_station_message(ctx: Context):
    station = ctx.require("cp16")
    station.status[1] = enums16.ChargePointStatus.preparing
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification", "connectorId": 1},
                        expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "StatusNotification", "connectorId": 1},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    payload = out.messages[0]["payload"]
    check(out.messages[0]["action"] == "StatusNotification", f"action {out.messages[0]['action']!r}")
    check(payload.get("connectorId") == 1 and payload.get("status") == "Preparing",
          f"payload {dumps(payload)}")
    _, view = await ctx.server.api("GET", "/api/v1/stations/PY16")
    by_id = {c.get("connectorId"): c for c in view.get("connectors", [])}
    check(by_id.get(1, {}).get("status") == "Preparing",
          f"station view connector 1: {by_id.get(1)}")


@test
async def test_v16_untargeted_status_notification_trigger_returns_connectors_0_1_2(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification"}, expect_count=3)
    check(out.response["sent"]["payload"] == {"requestedMessage": "StatusNotification"},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    connectors = [m["payload"].get("connectorId") for m in out.messages]
    check(connectors == [0, 1, 2], f"connectorIds {connectors}, expected [0, 1, 2]")


@test
async def test_v16_meter_values_trigger_returns_trigger_context_readings(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "MeterValues", "connectorId": 2},
                        expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "MeterValues", "connectorId": 2},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    payload = out.messages[0]["payload"]
    check(payload.get("connectorId") == 2, f"payload {dumps(payload)}")
    sampled = payload["meterValue"][0]["sampledValue"][0]
    check(sampled.get("context") == "Trigger" and sampled.get("value") == str(station.energy_wh),
          f"sampledValue {dumps(sampled)}")


@test
async def test_v16_untargeted_meter_values_trigger_returns_connectors_1_2(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "MeterValues"}, expect_count=2)
    connectors = [m["payload"].get("connectorId") for m in out.messages]
    check(connectors == [1, 2], f"connectorIds {connectors}, expected [1, 2]")


@test
async def test_v16_heartbeat_trigger_returns_the_station_heartbeat(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "Heartbeat"}, expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "Heartbeat"},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    check(out.messages[0]["action"] == "Heartbeat" and out.messages[0]["payload"] == {},
          f"message {dumps(out.messages[0])}")


@test
async def test_v16_boot_notification_trigger_returns_the_station_boot(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "BootNotification"}, expect_count=1)
    payload = out.messages[0]["payload"]
    check(out.messages[0]["action"] == "BootNotification"
          and payload.get("chargePointModel") == "Interop-16"
          and payload.get("chargePointVendor") == "ocpp-python",
          f"message {dumps(out.messages[0])}")


@test
async def test_v16_journal_records_the_triggered_call_as_inbound(ctx: Context):
    station = ctx.require("cp16")
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification", "connectorId": 2},
                        expect_count=1)
    message = out.messages[0]
    wire = out.record.frames[0]
    entries = await journal(ctx, station.id, "StatusNotification",
                            lambda es: any(e.get("messageId") == message["messageId"] for e in es))
    mine = [e for e in entries if e.get("messageId") == message["messageId"] and e.get("type") == "CALL"]
    check(len(mine) == 1, f"journal has {len(mine)} CALL entries for {message['messageId']}: {entries[:5]}")
    check(mine[0].get("direction") == "in", f"journal direction {mine[0].get('direction')!r}")
    check(mine[0].get("action") == "StatusNotification", f"journal action {mine[0].get('action')!r}")
    check(mine[0].get("payload") == wire[3],
          f"journal payload {dumps(mine[0].get('payload'))} != wire {dumps(wire[3])}")
    entries = await journal(ctx, station.id, "TriggerMessage",
                            lambda es: any(e.get("messageId") == out.trigger_id for e in es))
    sent = [e for e in entries if e.get("messageId") == out.trigger_id and e.get("type") == "CALL"]
    check(len(sent) == 1 and sent[0].get("direction") == "out"
          and sent[0].get("payload") == out.response["sent"]["payload"],
          f"journal TriggerMessage CALL entries for {out.trigger_id}: {sent}")


@test
async def test_v16_rejected_trigger_returns_rejected_without_messages(ctx: Context):
    station = await ctx.connect(RejectingStation16, "PY16-REJECT")
    await boot16(station)
    mark = len(station.sent)
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification", "connectorId": 1},
                        expect_status="Rejected", expect_count=0)
    check(out.response.get("messages") == [], f"messages {out.response.get('messages')!r}")
    await asyncio.sleep(0.5)
    calls = [f for f in station.sent[mark:] if f[0] == 2]
    check(not calls, f"the rejecting station sent CALLs anyway: {calls}")


@test
async def test_v201_station_boots_accepted_and_reports_evse_1_connector_1(ctx: Context):
    station = await ctx.connect(Station201, "PY201")
    await boot201(station)
    ctx.cp201 = station
    status, view = await ctx.server.api("GET", "/api/v1/stations/PY201")
    check(status == 200, f"GET station answered HTTP {status}: {view}")
    check(view.get("connected") is True, f"connected is {view.get('connected')!r}")
    check(view.get("protocol") == V201, f"protocol {view.get('protocol')!r}")
    check(view.get("registrationStatus") == "Accepted",
          f"registrationStatus {view.get('registrationStatus')!r}")
    check(view.get("boot", {}).get("reason") == "PowerUp", f"boot {view.get('boot')}")
    connectors = [(c.get("evseId"), c.get("connectorId")) for c in view.get("connectors", [])]
    check(connectors == [(1, 1)], f"connectors {connectors}, expected [(1, 1)]")
    check_station_healthy(station)


@test
async def test_v201_get_log_station_puts_its_log_and_the_api_downloads_it(ctx: Context):
    await log_upload_round_trip(ctx, ctx.require("cp201"), "GetLog", {"logType": "SecurityLog"})


@test
async def test_v201_targeted_status_notification_trigger_fills_connector_and_returns_message(ctx: Context):
    station = ctx.require("cp201")
    station.status[(1, 1)] = enums201.ConnectorStatusEnumType.occupied
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification", "evse": {"id": 1}},
                        expect_count=1)
    check(out.response["sent"]["payload"]
          == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
          f"sent payload {dumps(out.response['sent']['payload'])} (F06.FR.13 wants evse.connectorId)")
    check(out.record.request.get("evse") == {"id": 1, "connector_id": 1},
          f"the library handed the hook evse={out.record.request.get('evse')!r}")
    payload = out.messages[0]["payload"]
    check(payload.get("evseId") == 1 and payload.get("connectorId") == 1
          and payload.get("connectorStatus") == "Occupied", f"payload {dumps(payload)}")


@test
async def test_v201_untargeted_status_notification_trigger_names_the_only_connector(ctx: Context):
    station = ctx.require("cp201")
    station.status[(1, 1)] = enums201.ConnectorStatusEnumType.available
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification"}, expect_count=1)
    check(out.response["sent"]["payload"]
          == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    payload = out.messages[0]["payload"]
    check(payload.get("connectorStatus") == "Available", f"payload {dumps(payload)}")


@test
async def test_v201_meter_values_trigger_for_evse_returns_the_station_message(ctx: Context):
    station = ctx.require("cp201")
    out = await trigger(ctx, station, {"requestedMessage": "MeterValues", "evse": {"id": 1}},
                        expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "MeterValues", "evse": {"id": 1}},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    payload = out.messages[0]["payload"]
    sampled = payload["meterValue"][0]["sampledValue"][0]
    check(payload.get("evseId") == 1 and sampled.get("context") == "Trigger"
          and sampled.get("value") == station.energy_wh, f"payload {dumps(payload)}")


@test
async def test_v201_untargeted_meter_values_trigger_returns_every_evse(ctx: Context):
    station = ctx.require("cp201")
    out = await trigger(ctx, station, {"requestedMessage": "MeterValues"}, expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "MeterValues"},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    check(out.messages[0]["payload"].get("evseId") == 1, f"message {dumps(out.messages[0])}")


@test
async def test_v201_heartbeat_trigger_returns_the_station_heartbeat(ctx: Context):
    station = ctx.require("cp201")
    out = await trigger(ctx, station, {"requestedMessage": "Heartbeat"}, expect_count=1)
    check(out.response["sent"]["payload"] == {"requestedMessage": "Heartbeat"},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    check(out.messages[0]["action"] == "Heartbeat" and out.messages[0]["payload"] == {},
          f"message {dumps(out.messages[0])}")


@test
async def test_v201_boot_notification_trigger_returns_reason_triggered(ctx: Context):
    station = ctx.require("cp201")
    out = await trigger(ctx, station, {"requestedMessage": "BootNotification"}, expect_count=1)
    payload = out.messages[0]["payload"]
    check(out.messages[0]["action"] == "BootNotification" and payload.get("reason") == "Triggered"
          and payload.get("chargingStation", {}).get("model") == "Interop-201",
          f"message {dumps(out.messages[0])}")


@test
async def test_v201_journal_records_the_triggered_call_as_inbound(ctx: Context):
    station = ctx.require("cp201")
    out = await trigger(ctx, station, {"requestedMessage": "MeterValues", "evse": {"id": 1}},
                        expect_count=1)
    message = out.messages[0]
    wire = out.record.frames[0]
    entries = await journal(ctx, station.id, "MeterValues",
                            lambda es: any(e.get("messageId") == message["messageId"] for e in es))
    mine = [e for e in entries if e.get("messageId") == message["messageId"] and e.get("type") == "CALL"]
    check(len(mine) == 1, f"journal has {len(mine)} CALL entries for {message['messageId']}: {entries[:5]}")
    check(mine[0].get("direction") == "in", f"journal direction {mine[0].get('direction')!r}")
    check(mine[0].get("payload") == wire[3],
          f"journal payload {dumps(mine[0].get('payload'))} != wire {dumps(wire[3])}")
    entries = await journal(ctx, station.id, "TriggerMessage",
                            lambda es: any(e.get("messageId") == out.trigger_id for e in es))
    sent = [e for e in entries if e.get("messageId") == out.trigger_id and e.get("type") == "CALL"]
    check(len(sent) == 1 and sent[0].get("direction") == "out"
          and sent[0].get("payload") == out.response["sent"]["payload"],
          f"journal TriggerMessage CALL entries for {out.trigger_id}: {sent}")


@test
async def test_v201_rejected_trigger_returns_rejected_without_messages(ctx: Context):
    station = await ctx.connect(RejectingStation201, "PY201-REJECT")
    await boot201(station)
    mark = len(station.sent)
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification",
                                       "evse": {"id": 1, "connectorId": 1}},
                        expect_status="Rejected", expect_count=0)
    check(out.response.get("messages") == [], f"messages {out.response.get('messages')!r}")
    await asyncio.sleep(0.5)
    calls = [f for f in station.sent[mark:] if f[0] == 2]
    check(not calls, f"the rejecting station sent CALLs anyway: {calls}")


@test
async def test_blocked_id_token_is_refused_to_both_versions_and_others_follow_the_policy(ctx: Context):
    # The server runs in loopback development mode (--authorization accept-all): a token
    # not in the registry is accepted, a registered Blocked one is refused all the same.
    status, entry = await ctx.server.api("PUT", "/api/v1/id-tokens/PYBLOCKED", {"status": "Blocked"})
    check(status in (200, 201), f"PUT id-token answered HTTP {status}: {entry}")
    cp16 = await ctx.connect(Station16, "PY16-AUTH")
    await boot16(cp16)
    blocked = await bounded(cp16.call(call16.Authorize(id_tag="pyblocked"), suppress=False),
                            "1.6 Authorize of a blocked tag")
    check(blocked.id_tag_info.get("status") == "Blocked",
          f"1.6 Authorize of a blocked tag answered {blocked}")
    other = await bounded(cp16.call(call16.Authorize(id_tag="PYANYONE"), suppress=False),
                          "1.6 Authorize of an unknown tag")
    check(other.id_tag_info.get("status") == "Accepted", f"1.6 Authorize answered {other}")
    started = await bounded(
        cp16.call(call16.StartTransaction(connector_id=1, id_tag="PYBLOCKED", meter_start=0,
                                          timestamp=now()), suppress=False),
        "1.6 StartTransaction of a blocked tag")
    check(started.id_tag_info.get("status") == "Blocked" and isinstance(started.transaction_id, int),
          f"1.6 StartTransaction of a blocked tag answered {started}")
    cp201 = await ctx.connect(Station201, "PY201-AUTH")
    await boot201(cp201)
    blocked = await bounded(
        cp201.call(call201.Authorize(id_token={"id_token": "PYBLOCKED", "type": "ISO14443"}),
                   suppress=False),
        "2.0.1 Authorize of a blocked token")
    check(blocked.id_token_info.get("status") == "Blocked",
          f"2.0.1 Authorize of a blocked token answered {blocked}")
    check_station_healthy(cp16)
    check_station_healthy(cp201)


@test
async def test_v16_session_started_and_stopped_through_the_api_with_its_energy(ctx: Context):
    station = await ctx.connect(ChargingStation16, "PY16-CHARGE")
    await boot16(station)
    status, session = await ctx.server.api(
        "POST", "/api/v1/stations/PY16-CHARGE/sessions",
        {"evseId": 2, "idToken": "PYDRIVER", "timeoutMs": 10000})
    check(status == 201, f"POST sessions answered HTTP {status}: {session}")
    check(station.remote_starts == [{"id_tag": "PYDRIVER", "connector_id": 2}],
          f"the station was asked {station.remote_starts}")
    start = next((f for f in station.sent if isinstance(f, list) and f[0] == 2
                  and f[2] == "StartTransaction"), None)
    check(start is not None, "the station sent no StartTransaction")
    check(session.get("transactionId") == str(station.transaction_id),
          f"transactionId {session.get('transactionId')!r}, the station got {station.transaction_id}")
    check(session.get("connectorId") == 2 and session.get("idToken") == "PYDRIVER"
          and session.get("active") is True and session.get("meterStartWh") == 5000,
          f"session {dumps(session)}")
    # The two MeterValues after the start: 500 Wh so far, 7.4 kW now.
    for _ in range(50):
        status, now_session = await ctx.server.api("GET", f"/api/v1/sessions/{session['id']}")
        if now_session.get("energyWh") == 500:
            break
        await asyncio.sleep(0.1)
    check(now_session.get("energyWh") == 500 and now_session.get("powerW") == 7400,
          f"after two readings: {dumps(now_session)}")
    status, ended = await ctx.server.api(
        "POST", f"/api/v1/sessions/{session['id']}/stop", {"timeoutMs": 10000})
    check(status == 200, f"POST stop answered HTTP {status}: {ended}")
    check(station.remote_stops and station.remote_stops[-1]["transaction_id"]
          == int(session["transactionId"]), f"the station was asked {station.remote_stops}")
    check(ended.get("active") is False and ended.get("stopReason") == "Remote"
          and ended.get("energyWh") == 600 and ended.get("powerW") == 0,
          f"ended session {dumps(ended)}")
    check_station_healthy(station)


@test
async def test_v16_configuration_read_drift_and_apply_through_the_api(ctx: Context):
    station = await ctx.connect(ConfiguredStation16, "PY16-CONFIG")
    await boot16(station)
    status, profile = await ctx.server.api(
        "PUT", "/api/v1/config/profiles/py16",
        {"protocol": "ocpp1.6", "selector": {"stationIds": ["PY16-CONFIG"]},
         "settings": {"HeartbeatInterval": "120", "MeterValueSampleInterval": "60",
                      "WebSocketPingInterval": "20", "SupportedFeatureProfiles": "Core"}})
    check(status == 201, f"PUT profile answered HTTP {status}: {profile}")
    status, snap = await ctx.server.api(
        "POST", "/api/v1/stations/PY16-CONFIG/configuration/read", {})
    check(status == 200 and snap.get("source") == "GetConfiguration",
          f"read answered HTTP {status}: {snap}")
    check(snap["entries"]["SupportedFeatureProfiles"] == {"readonly": True, "value": "Core,RemoteTrigger"},
          f"entries {dumps(snap['entries'])}")
    status, report = await ctx.server.api("GET", "/api/v1/config/drift?profile=py16")
    items = {i["key"]: i for i in report["stations"][0]["items"]}
    check(status == 200 and report["stations"][0]["standing"] == "drifting"
          and sorted(items) == ["HeartbeatInterval", "SupportedFeatureProfiles", "WebSocketPingInterval"]
          and items["HeartbeatInterval"]["actual"] == "300"
          and items["SupportedFeatureProfiles"]["kind"] == "readOnly", f"drift {dumps(report)}")
    status, job = await ctx.server.api("POST", "/api/v1/config/apply", {"profile": "py16"})
    check(status == 200, f"apply answered HTTP {status}: {job}")
    result = job["stations"][0]
    answers = {r["key"]: r["status"] for r in result["results"]}
    check(answers == {"HeartbeatInterval": "Accepted", "SupportedFeatureProfiles": "Rejected",
                      "WebSocketPingInterval": "RebootRequired"}, f"answers {answers}")
    check(result["outcome"] == "partial", f"outcome {result['outcome']!r}")
    check(sorted(station.changes) == [("HeartbeatInterval", "120"), ("SupportedFeatureProfiles", "Core"),
                                      ("WebSocketPingInterval", "20")],
          f"the station was asked {station.changes}")
    check([i["key"] for i in result["remaining"]] == ["SupportedFeatureProfiles"],
          f"remaining {result['remaining']}")
    check_station_healthy(station)


@test
async def test_v16_station_refusing_a_remote_start_is_409_with_its_answer(ctx: Context):
    station = await ctx.connect(RefusingChargingStation16, "PY16-REFUSE")
    await boot16(station)
    status, body = await ctx.server.api(
        "POST", "/api/v1/stations/PY16-REFUSE/sessions", {"idToken": "PYDRIVER", "timeoutMs": 5000})
    check(status == 409 and body.get("error") == "start_rejected"
          and body.get("response", {}).get("status") == "Rejected", f"HTTP {status}: {body}")
    check(len(station.remote_starts) == 1, f"the station was asked {station.remote_starts}")
    check_station_healthy(station)


@test
async def test_v21_station_negotiates_ocpp21_boots_and_answers_a_status_trigger(ctx: Context):
    station = await ctx.connect(Station21, "PY21")
    response = await bounded(
        station.call(station.boot_notification(enums21.BootReasonEnumType.power_up),
                     suppress=False),
        "2.1 BootNotification",
    )
    check(response.status == enums21.RegistrationStatusEnumType.accepted,
          f"BootNotification answered {response}")
    await station.send_call(station.status_notification())
    ctx.cp21 = station
    status, view = await ctx.server.api("GET", "/api/v1/stations/PY21")
    check(status == 200 and view.get("protocol") == V21, f"station view {view}")
    station.connector_status = enums21.ConnectorStatusEnumType.occupied
    out = await trigger(ctx, station, {"requestedMessage": "StatusNotification"}, expect_count=1)
    check(out.response["sent"]["payload"]
          == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
          f"sent payload {dumps(out.response['sent']['payload'])}")
    check(out.messages[0]["payload"].get("connectorStatus") == "Occupied",
          f"message {dumps(out.messages[0])}")


@test
async def test_v21_custom_trigger_reaches_the_station_with_its_name(ctx: Context):
    station = ctx.require("cp21")
    mark_sent, mark_received = len(station.sent), len(station.received)
    body = {"requestedMessage": "CustomTrigger", "customTrigger": "com.example.heartbeat",
            "timeoutMs": TRIGGER_TIMEOUT_MS}
    status, response = await ctx.server.api("POST", "/api/v1/stations/PY21/trigger", body)
    check(status == 200, f"POST trigger answered HTTP {status}: {response}")
    check(response.get("status") == "Accepted" and response.get("outcome") == "Completed",
          f"answer {response}")
    check(response.get("messages") == [], "a vendor-defined message is never claimed: "
                                          f"{response.get('messages')}")
    received = station.received_triggers(mark_received)
    check(len(received) == 1 and received[0][3] == {"requestedMessage": "CustomTrigger",
                                                    "customTrigger": "com.example.heartbeat"},
          f"the station received {received}")
    record = station.triggers.get(received[0][1])
    check(record is not None and record.request.get("custom_trigger") == "com.example.heartbeat",
          f"the library handed the handler {record and record.request}")
    await bounded(record.done.wait(), "the custom trigger's Heartbeat")
    check_station_healthy(station, mark_sent)


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------


RESULTS = {"passed": 0, "failed": 0}


async def run_all(server: Server, selected: Optional[str]) -> None:
    ctx = Context(server)
    try:
        for name, fn in TESTS:
            if selected and selected not in name:
                continue
            started = time.monotonic()
            try:
                await asyncio.wait_for(fn(ctx), TEST_TIMEOUT)
            except asyncio.TimeoutError:
                RESULTS["failed"] += 1
                print(f"FAIL {name}: timed out after {TEST_TIMEOUT:.0f}s", flush=True)
            except TestFailure as e:
                RESULTS["failed"] += 1
                print(f"FAIL {name}: {e}", flush=True)
            except Exception:  # noqa: BLE001 - any other error fails this test only
                RESULTS["failed"] += 1
                print(f"FAIL {name}: unexpected error\n{traceback.format_exc()}", flush=True)
            else:
                RESULTS["passed"] += 1
                print(f"PASS {name} ({time.monotonic() - started:.2f}s)", flush=True)
    finally:
        await ctx.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="path to the ocpulse binary")
    parser.add_argument("--work-dir", help="scratch directory (default: a new temp dir)")
    parser.add_argument("--pid-file", help="append the server's pid here (for run.sh's trap)")
    parser.add_argument("-k", dest="select", help="run only tests whose name contains this")
    args = parser.parse_args()

    # Anything the library logs at WARNING or above (a rejected frame, a CALLERROR it
    # received) is shown next to the failing test.
    logging.basicConfig(level=logging.WARNING, format="    [%(name)s] %(levelname)s %(message)s")
    # SIGTERM (run.sh's trap, CI) unwinds through the finally below like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="ocpulse-interop-")
    os.makedirs(work_dir, exist_ok=True)
    server = Server(os.path.abspath(args.bin), work_dir, args.pid_file)
    finished = False
    try:
        print(f"ocpulse: {server.binary}", flush=True)
        try:
            server.start()
        except Exception as e:  # noqa: BLE001
            RESULTS["failed"] += 1
            print(f"FAIL server_start: {e}\n--- server log tail ---\n{server.log_tail()}", flush=True)
            finished = True
            return 1
        print(f"server on 127.0.0.1:{server.port}; data under {work_dir}", flush=True)
        asyncio.run(run_all(server, args.select))
        if RESULTS["passed"] + RESULTS["failed"] == 0:
            RESULTS["failed"] += 1
            print("FAIL no test matched", flush=True)
        finished = True
        return 1 if RESULTS["failed"] else 0
    finally:
        if not finished:
            # Interrupted (signal, Ctrl-C) or crashed: the run as a whole failed.
            RESULTS["failed"] += 1
            print("FAIL run interrupted before every test finished", flush=True)
        if RESULTS["failed"]:
            print(f"--- server log tail ({server.log_path}) ---\n{server.log_tail()}\n"
                  "--- end of server log ---", flush=True)
        server.stop()
        summary = f"{RESULTS['passed']} passed, {RESULTS['failed']} failed"
        if args.work_dir:
            with contextlib.suppress(OSError), open(os.path.join(work_dir, "summary"), "w") as f:
                f.write(summary + "\n")
        print(summary, flush=True)


if __name__ == "__main__":
    sys.exit(main())
