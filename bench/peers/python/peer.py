#!/usr/bin/env python3
"""Benchmark peer CSMS built the way a user of the `ocpp` library (mobilityhouse,
PyPI `ocpp==2.1.0`) would build one: `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`
subclasses with `@on` handlers, served by aiohttp.

One port (``--port``, 127.0.0.1 only) serves both
  * the station WebSocket   ws://127.0.0.1:P/ocpp/{stationId}  (ocpp1.6 / ocpp2.0.1)
  * the HTTP API            GET  /api/v1/stations
                            POST /api/v1/stations/{id}/trigger

Schema validation is left at the library default (on, and run through the default
thread-pool executor, as `ocpp.messages.ASYNC_VALIDATION = True` does by default).
uvloop is used when it is importable (set PEER_NO_UVLOOP=1 to force asyncio's loop).
"""

import argparse
import asyncio
import itertools
import logging
import os
import signal
import sys
import time
from datetime import datetime, timezone

from aiohttp import WSMsgType, web
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import AuthorizationStatusEnumType, RegistrationStatusEnumType

SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
DEFAULT_TIMEOUT_MS = 10_000

# No per-message logging: the benchmark runs 10k stations.
logging.basicConfig(level=logging.WARNING)
logging.getLogger("ocpp").setLevel(logging.CRITICAL)
logging.getLogger("aiohttp").setLevel(logging.ERROR)

stations: dict = {}  # station id -> connected ChargePoint
_transaction_ids = itertools.count(1)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ConnectionClosed(Exception):
    pass


class AiohttpConnection:
    """What ocpp's ChargePoint needs from a connection: async send(str) / recv() -> str."""

    def __init__(self, ws: web.WebSocketResponse):
        self._ws = ws

    async def send(self, message: str) -> None:
        await self._ws.send_str(message)

    async def recv(self) -> str:
        msg = await self._ws.receive()
        if msg.type == WSMsgType.TEXT:
            return msg.data
        if msg.type == WSMsgType.BINARY:
            return msg.data.decode("utf-8", errors="replace")
        raise ConnectionClosed(msg.type)


class Waiter:
    """A trigger waiting for the station's next CALL of `action` about its target."""

    __slots__ = ("action", "connector_id", "evse_id", "future")

    def __init__(self, action, connector_id=None, evse_id=None):
        self.action = action
        self.connector_id = connector_id
        self.evse_id = evse_id
        self.future = asyncio.get_running_loop().create_future()


class PeerMixin:
    """Per-station trigger bookkeeping shared by both versions."""

    def init_peer(self):
        self.waiters: list = []

    def offer(self, action: str, message_id: str, payload: dict) -> None:
        """Hand a received station CALL to the first matching pending trigger."""
        if not self.waiters:
            return
        for w in self.waiters:
            if w.action == action and not w.future.done() and self.matches(w, payload):
                self.waiters.remove(w)
                w.future.set_result(
                    {"action": action, "messageId": message_id,
                     "payload": snake_to_camel_case(payload)}
                )
                return

    def fail_waiters(self) -> None:
        for w in self.waiters:
            if not w.future.done():
                w.future.set_exception(ConnectionClosed("station disconnected"))
        self.waiters.clear()


class CentralSystem16(PeerMixin, ChargePoint16):
    protocol = "ocpp1.6"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_peer()

    @staticmethod
    def matches(w, payload):
        if w.action in ("StatusNotification", "MeterValues") and w.connector_id is not None:
            return payload.get("connector_id") == w.connector_id
        return True

    def waiter_for(self, requested, body):
        connector_id = body.get("connectorId")
        if connector_id is None and isinstance(body.get("evse"), dict):
            connector_id = body["evse"].get("id")
        return Waiter(requested, connector_id=connector_id)

    def trigger_payload(self, requested, waiter):
        return call16.TriggerMessage(requested_message=requested, connector_id=waiter.connector_id)

    @on(Action16.boot_notification)
    def on_boot_notification(self, call_unique_id, **kwargs):
        self.offer("BootNotification", call_unique_id, kwargs)
        return result16.BootNotification(
            current_time=now_iso(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self, call_unique_id, **kwargs):
        self.offer("Heartbeat", call_unique_id, kwargs)
        return result16.Heartbeat(current_time=now_iso())

    @on(Action16.status_notification)
    def on_status_notification(self, call_unique_id, **kwargs):
        self.offer("StatusNotification", call_unique_id, kwargs)
        return result16.StatusNotification()

    @on(Action16.meter_values)
    def on_meter_values(self, call_unique_id, **kwargs):
        self.offer("MeterValues", call_unique_id, kwargs)
        return result16.MeterValues()

    @on(Action16.authorize)
    def on_authorize(self, id_tag, **kwargs):
        return result16.Authorize(id_tag_info=types16.IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action16.start_transaction)
    def on_start_transaction(self, **kwargs):
        return result16.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=types16.IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action16.stop_transaction)
    def on_stop_transaction(self, id_tag=None, **kwargs):
        if id_tag is None:
            return result16.StopTransaction()
        return result16.StopTransaction(
            id_tag_info=types16.IdTagInfo(status=AuthorizationStatus.accepted)
        )


class CentralSystem201(PeerMixin, ChargePoint201):
    protocol = "ocpp2.0.1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_peer()

    @staticmethod
    def matches(w, payload):
        if w.action == "StatusNotification" and w.evse_id is not None:
            if payload.get("evse_id") != w.evse_id:
                return False
            return w.connector_id is None or payload.get("connector_id") == w.connector_id
        if w.action == "MeterValues" and w.evse_id is not None:
            return payload.get("evse_id") == w.evse_id
        return True

    def waiter_for(self, requested, body):
        evse = body.get("evse")
        if isinstance(evse, dict):
            return Waiter(requested, evse_id=evse.get("id"), connector_id=evse.get("connectorId"))
        # 1.6-style body: connector n is EVSE n; a StatusNotification trigger must name
        # the connector too (F06.FR.13), and these peers assume one connector per EVSE.
        connector_id = body.get("connectorId")
        if connector_id is None:
            return Waiter(requested)
        return Waiter(requested, evse_id=connector_id,
                      connector_id=1 if requested == "StatusNotification" else None)

    def trigger_payload(self, requested, waiter):
        evse = None
        if waiter.evse_id is not None:
            evse = types201.EVSEType(id=waiter.evse_id, connector_id=waiter.connector_id)
        return call201.TriggerMessage(requested_message=requested, evse=evse)

    @on(Action201.boot_notification)
    def on_boot_notification(self, call_unique_id, **kwargs):
        self.offer("BootNotification", call_unique_id, kwargs)
        return result201.BootNotification(
            current_time=now_iso(), interval=300, status=RegistrationStatusEnumType.accepted
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, call_unique_id, **kwargs):
        self.offer("Heartbeat", call_unique_id, kwargs)
        return result201.Heartbeat(current_time=now_iso())

    @on(Action201.status_notification)
    def on_status_notification(self, call_unique_id, **kwargs):
        self.offer("StatusNotification", call_unique_id, kwargs)
        return result201.StatusNotification()

    @on(Action201.meter_values)
    def on_meter_values(self, call_unique_id, **kwargs):
        self.offer("MeterValues", call_unique_id, kwargs)
        return result201.MeterValues()

    @on(Action201.authorize)
    def on_authorize(self, id_token, **kwargs):
        return result201.Authorize(
            id_token_info=types201.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
        )

    @on(Action201.transaction_event)
    def on_transaction_event(self, id_token=None, **kwargs):
        if id_token is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(
            id_token_info=types201.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
        )


CHARGE_POINTS = {"ocpp1.6": CentralSystem16, "ocpp2.0.1": CentralSystem201}


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    station_id = request.match_info["station_id"]
    ws = web.WebSocketResponse(protocols=SUBPROTOCOLS)
    await ws.prepare(request)
    cls = CHARGE_POINTS.get(ws.ws_protocol)
    if cls is None:
        await ws.close(code=1002, message=b"unsupported subprotocol")
        return ws

    cp = cls(station_id, AiohttpConnection(ws))
    previous = stations.get(station_id)
    stations[station_id] = cp
    if previous is not None:
        await previous._connection._ws.close(code=1001, message=b"replaced by new connection")
    try:
        await cp.start()
    except (ConnectionClosed, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if stations.get(station_id) is cp:
            del stations[station_id]
        cp.fail_waiters()
        if not ws.closed:
            await ws.close()
    return ws


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_stations(request: web.Request) -> web.Response:
    return web.json_response({"connected": len(stations)})


async def trigger(request: web.Request) -> web.Response:
    started = time.monotonic()
    station_id = request.match_info["station_id"]
    cp = stations.get(station_id)
    if cp is None:
        return json_error(404, f"station {station_id!r} is not connected")
    try:
        body = await request.json()
    except ValueError:
        return json_error(400, "body must be JSON")
    if not isinstance(body, dict) or not isinstance(body.get("requestedMessage"), str):
        return json_error(400, 'requestedMessage is required, e.g. {"requestedMessage": "StatusNotification", "connectorId": 1}')
    requested = body["requestedMessage"]
    timeout_ms = body.get("timeoutMs", DEFAULT_TIMEOUT_MS)
    if not isinstance(timeout_ms, (int, float)) or isinstance(timeout_ms, bool) or timeout_ms <= 0:
        return json_error(400, "timeoutMs must be a positive number of milliseconds")
    timeout = timeout_ms / 1000.0
    deadline = started + timeout

    # Register before sending: the triggered CALL may arrive right behind the response.
    waiter = cp.waiter_for(requested, body)
    cp.waiters.append(waiter)
    try:
        try:
            response = await asyncio.wait_for(
                cp.call(cp.trigger_payload(requested, waiter), suppress=False), timeout
            )
        except asyncio.TimeoutError:
            return json_error(504, f"station {station_id!r} did not answer TriggerMessage within {timeout * 1000:.0f} ms")
        except OCPPError as e:
            return json_error(502, f"TriggerMessage failed: {e.__class__.__name__}: {e}")
        except ConnectionError:
            return json_error(404, f"station {station_id!r} disconnected")
        status = str(response.status)
        if status != "Accepted":
            return web.json_response({"stationId": station_id, "protocol": cp.protocol, "status": status, "messages": []})
        try:
            message = await asyncio.wait_for(waiter.future, max(deadline - time.monotonic(), 0))
        except asyncio.TimeoutError:
            return json_error(504, f"station {station_id!r} accepted the trigger but sent no {requested} within {timeout * 1000:.0f} ms")
        except ConnectionClosed:
            return json_error(404, f"station {station_id!r} disconnected")
        return web.json_response({"stationId": station_id, "protocol": cp.protocol, "status": status, "messages": [message]})
    finally:
        if waiter in cp.waiters:
            cp.waiters.remove(waiter)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ocpp/{station_id}", websocket_handler)
    app.router.add_get("/api/v1/stations", list_stations)
    app.router.add_post("/api/v1/stations/{station_id}/trigger", trigger)
    return app


async def serve(port: int, loop_name: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    print(f"peer-python (ocpp 2.1.0 + aiohttp, loop={loop_name}) listening on 127.0.0.1:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop = None
    if not os.environ.get("PEER_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            uvloop = None
    if uvloop is not None:
        uvloop.run(serve(args.port, "uvloop"))
    else:
        asyncio.run(serve(args.port, "asyncio"))


if __name__ == "__main__":
    sys.exit(main())
