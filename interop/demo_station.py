"""A tiny OCPP 1.6 station for trying the trigger API by hand (until `ocpulse sim` exists).

Usage: interop/.venv/bin/python interop/demo_station.py [ws://127.0.0.1:8180/ocpp] [CP001]
(`bash interop/run.sh` creates the venv.) It boots, reports connectors 0-2 and answers every
TriggerMessage for StatusNotification, MeterValues, Heartbeat and BootNotification.
"""
import asyncio
import json
import sys
import uuid
from datetime import datetime, timezone

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8180/ocpp"
ID = sys.argv[2] if len(sys.argv) > 2 else "CP001"
STATUS = {0: "Available", 1: "Charging", 2: "Available"}


def now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def main():
    async with websockets.connect(f"{URL}/{ID}", subprotocols=["ocpp1.6"]) as ws:
        pending = {}

        async def call(action, payload):
            mid = str(uuid.uuid4())
            fut = asyncio.get_running_loop().create_future()
            pending[mid] = fut
            await ws.send(json.dumps([2, mid, action, payload]))
            return await fut

        def status(c):
            return {"connectorId": c, "errorCode": "NoError", "status": STATUS[c], "timestamp": now()}

        async def triggered(msg, connector):
            if msg == "StatusNotification":
                for c in [connector] if connector is not None else sorted(STATUS):
                    await call("StatusNotification", status(c))
            elif msg == "MeterValues":
                for c in [connector] if connector is not None else [1, 2]:
                    await call("MeterValues", {"connectorId": c, "meterValue": [{"timestamp": now(), "sampledValue": [
                        {"value": "12345", "context": "Trigger", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})
            elif msg == "Heartbeat":
                await call("Heartbeat", {})
            elif msg == "BootNotification":
                await call("BootNotification", {"chargePointVendor": "Demo", "chargePointModel": "Demo-1"})

        async def reader():
            async for text in ws:
                frame = json.loads(text)
                if frame[0] in (3, 4) and frame[1] in pending:
                    pending.pop(frame[1]).set_result(frame)
                elif frame[0] == 2 and frame[2] == "TriggerMessage":
                    msg, connector = frame[3]["requestedMessage"], frame[3].get("connectorId")
                    ok = msg in ("StatusNotification", "MeterValues", "Heartbeat", "BootNotification")
                    await ws.send(json.dumps([3, frame[1], {"status": "Accepted" if ok else "NotImplemented"}]))
                    if ok:
                        asyncio.create_task(triggered(msg, connector))
                elif frame[0] == 2:
                    await ws.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))

        task = asyncio.create_task(reader())
        await call("BootNotification", {"chargePointVendor": "Demo", "chargePointModel": "Demo-1", "firmwareVersion": "1.0.0"})
        for c in sorted(STATUS):
            await call("StatusNotification", status(c))
        print(f"{ID} connected to {URL}; Ctrl-C to stop", flush=True)
        await task


asyncio.run(main())
