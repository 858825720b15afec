#!/usr/bin/env python3
"""Interop tests of issue 17's correlation rules: ocpulse against PyPI `ocpp` stations that
mark triggered messages (sampledValue.context / triggerReason = "Trigger") and stations
that do not, both OCPP versions.

Each station plays a scenario when triggered: routine traffic first (periodic samples,
status transitions, a new transaction), then (or never) the triggered message. The test
checks what the trigger API returned and why (`matchedBy`).

Usage: test_correlation_python.py --bin PATH/TO/ocpulse [--work-dir DIR]
Shares the server, context and runner of test_python_ocpp.py.
"""

import asyncio
import sys
import time
from typing import Awaitable, Callable, Optional

import test_python_ocpp as base
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v16 import enums as enums16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201

check = base.check
# "Promptly": far below the trigger's timeout (base.TRIGGER_TIMEOUT_MS), with room for
# the server's quiet period while a station's marking habit is unknown (750 ms).
PROMPT = 3.0

Scenario = Callable[["Scripted", dict], Awaitable[None]]


class Scripted:
    """Mixed in before a station class: answers TriggerMessage Accepted and then plays the
    test's scenario (a coroutine given the station and the request)."""

    marks = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scenario: Optional[Scenario] = None

    async def play(self, request: dict) -> None:
        try:
            if self.scenario is not None:
                await self.scenario(self, request)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.problems.append(f"scenario: {e!r}")


class Station16(Scripted, base.Station16):
    def sample(self, connector_id: int, triggered: bool):
        """A MeterValues: marked `Trigger` only when triggered and the station marks."""
        self.energy_wh += 125
        context = (enums16.ReadingContext.trigger if triggered and self.marks
                   else enums16.ReadingContext.sample_periodic)
        return call16.MeterValues(
            connector_id=connector_id,
            meter_value=[types16.MeterValue(timestamp=base.now(), sampled_value=[
                types16.SampledValue(value=str(self.energy_wh), context=context)])],
        )

    @on(enums16.Action.trigger_message)
    def on_trigger_message(self, requested_message, call_unique_id, connector_id=None, **kwargs):
        return result16.TriggerMessage(status=enums16.TriggerMessageStatus.accepted)

    @after(enums16.Action.trigger_message)
    async def after_trigger_message(self, requested_message, call_unique_id, connector_id=None,
                                    **kwargs):
        await self.play({"requestedMessage": requested_message, "connectorId": connector_id})


class Station201(Scripted, base.Station201):
    evses = {1: (1,), 2: (1,), 3: (1,)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seq = 0

    def tx_event(self, event_type, reason, tx_id: str, evse_id: Optional[int] = None):
        self.seq += 1
        return call201.TransactionEvent(
            event_type=event_type, timestamp=base.now(), trigger_reason=reason, seq_no=self.seq,
            transaction_info=types201.TransactionType(transaction_id=tx_id),
            evse=None if evse_id is None else types201.EVSEType(id=evse_id, connector_id=1),
        )

    def triggered_update(self, tx_id: str):
        reason = (enums201.TriggerReasonEnumType.trigger if self.marks
                  else enums201.TriggerReasonEnumType.meter_value_periodic)
        return self.tx_event(enums201.TransactionEventEnumType.updated, reason, tx_id)

    def periodic_update(self, tx_id: str):
        return self.tx_event(enums201.TransactionEventEnumType.updated,
                             enums201.TriggerReasonEnumType.meter_value_periodic, tx_id)

    @on(enums201.Action.trigger_message)
    def on_trigger_message(self, requested_message, call_unique_id, evse=None, **kwargs):
        return result201.TriggerMessage(status=enums201.TriggerMessageStatusEnumType.accepted)

    @after(enums201.Action.trigger_message)
    async def after_trigger_message(self, requested_message, call_unique_id, evse=None, **kwargs):
        await self.play({"requestedMessage": requested_message, "evse": evse})


async def connect(ctx, cls, name: str, marks: bool):
    station = await ctx.connect(cls, f"{name}{'M' if marks else 'U'}")
    station.marks = marks
    if cls is Station16:
        await base.boot16(station)
    else:
        await base.boot201(station)
    return station


async def post_trigger(ctx, station, body: dict, timeout_ms: int = base.TRIGGER_TIMEOUT_MS):
    started = time.monotonic()
    status, answer = await ctx.server.api(
        "POST", f"/api/v1/stations/{station.id}/trigger", dict(body, timeoutMs=timeout_ms))
    return status, answer, time.monotonic() - started


def matched_by(answer: dict) -> list:
    return [m.get("matchedBy") for m in answer.get("messages") or []]


@base.test
async def test_v201_untargeted_transaction_event_returns_each_running_transaction(ctx):
    for marks in (True, False):
        station = await connect(ctx, Station201, "PYTX", marks)
        tx = {1: f"{station.id}-A", 2: f"{station.id}-B"}
        for evse, tx_id in tx.items():
            await station.send_call(station.tx_event(
                enums201.TransactionEventEnumType.started,
                enums201.TriggerReasonEnumType.authorized, tx_id, evse))

        async def answer(st, request):
            # SAP's simulator case: routine traffic around the triggered Updated events.
            await st.send_call(st.periodic_update(tx[1]))
            await st.send_call(st.tx_event(enums201.TransactionEventEnumType.started,
                                           enums201.TriggerReasonEnumType.authorized,
                                           f"{st.id}-C", 3))
            for tx_id in tx.values():
                await st.send_call(st.triggered_update(tx_id))
            await st.send_call(st.periodic_update(tx[2]))

        station.scenario = answer
        status, body, took = await post_trigger(ctx, station,
                                                {"requestedMessage": "TransactionEvent"})
        check(status == 200, f"HTTP {status}: {body}")
        check(body.get("outcome") == "Completed" and body.get("complete") is True, f"{body}")
        check(took < PROMPT, f"took {took:.2f}s: {body}")
        messages = body["messages"]
        ids = sorted(m["payload"]["transactionInfo"]["transactionId"] for m in messages)
        check(ids == sorted(tx.values()), f"exactly the running transactions: {ids}")
        check(all(m["payload"]["eventType"] == "Updated" for m in messages), f"{messages}")
        if marks:
            check(all(m["payload"]["triggerReason"] == "Trigger" for m in messages), f"{messages}")
            check(matched_by(body) == ["marker", "marker"], f"{matched_by(body)}")
        else:
            # Unmarked: the first event of each running transaction after the trigger.
            check(matched_by(body) == ["transaction", "transaction"], f"{matched_by(body)}")
        base.check_station_healthy(station)


@base.test
async def test_v201_untargeted_transaction_event_without_transactions_ends_at_once(ctx):
    for marks in (True, False):
        station = await connect(ctx, Station201, "PYIDLE", marks)
        station.scenario = None  # accepts, has nothing to send
        status, body, took = await post_trigger(ctx, station,
                                                {"requestedMessage": "TransactionEvent"})
        check(status == 200, f"HTTP {status}: {body}")
        check(body.get("status") == "Accepted" and body.get("messages") == [], f"{body}")
        check(took < PROMPT, f"took {took:.2f}s: {body}")


@base.test
async def test_v16_periodic_samples_during_the_wait_are_not_the_answer(ctx):
    for marks in (True, False):
        station = await connect(ctx, Station16, "PYMV", marks)

        async def answer(st, request):
            c = request["connectorId"]
            await st.send_call(st.sample(2 if c == 1 else 1, triggered=False))  # another one's
            await st.send_call(st.sample(c, triggered=False))  # periodic, this connector
            await asyncio.sleep(0.1)
            await st.send_call(st.sample(c, triggered=True))
            await st.send_call(st.sample(c, triggered=False))  # a later periodic sample

        station.scenario = answer
        # The first trigger teaches the server the station's habit, the second relies on it.
        for round_ in range(2):
            status, body, took = await post_trigger(
                ctx, station, {"requestedMessage": "MeterValues", "connectorId": 1})
            check(status == 200, f"round {round_}: HTTP {status}: {body}")
            messages = body["messages"]
            check(len(messages) == 1, f"one message for connector 1: {messages}")
            check(messages[0]["payload"]["connectorId"] == 1, f"{messages}")
            context = messages[0]["payload"]["meterValue"][0]["sampledValue"][0].get("context")
            if marks:
                check(context == "Trigger", f"round {round_}: the marked one: {messages}")
                check(matched_by(body) == ["marker"], f"{matched_by(body)}")
            else:
                check(matched_by(body) == ["target"], f"{matched_by(body)}")
            check(not body.get("unmatched"), f"{body}")
        base.check_station_healthy(station)


@base.test
async def test_v16_finishing_to_available_elsewhere_is_not_a_wrong_target(ctx):
    for marks in (True, False):
        station = await connect(ctx, Station16, "PYST", marks)

        async def routine(st, request):
            for status in (enums16.ChargePointStatus.finishing, enums16.ChargePointStatus.available):
                st.status[2] = status
                await st.send_call(st.status_notification(2))

        station.scenario = routine
        status, body, took = await post_trigger(
            ctx, station, {"requestedMessage": "StatusNotification", "connectorId": 1}, 1500)
        check(status == 504 and body.get("error") == "message_timeout", f"HTTP {status}: {body}")
        _, record = await ctx.server.api("GET", f"/api/v1/triggers/{body['triggerId']}")
        check(not record.get("unmatched") and not record.get("messages"), f"{record}")
        base.check_station_healthy(station)


if __name__ == "__main__":
    # Only this file's tests run (the import registered test_python_ocpp's as well).
    mine = [t for t in base.TESTS if t[1].__module__ == __name__]
    base.TESTS[:] = mine
    sys.exit(base.main())
