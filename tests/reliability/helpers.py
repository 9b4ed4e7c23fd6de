"""Helpers of the reliability suite: the distinctive key, connections, what a task leaves behind,
running triggers inline, and the "clear error" check (the task's context is ``tests.fakes.make_context``)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowException

from dss_provider.emulator.server import DSSEmulator

REPO = Path(__file__).resolve().parents[2]
#: Distinctive, random: any occurrence in a log, an error, an XCom... is a leak.
API_KEY = f"sk-test-{uuid.uuid4()}"
CONN_ID = "dataiku_dss_default"
#: Retries of one request in the worker (the connection's ``retries`` extra) and the request timeout.
RETRIES = 3
REQUEST_TIMEOUT = 1.0


def connection_json(dss: DSSEmulator, **extra: Any) -> str:
    """The emulator's connection (JSON form) with a small retry budget and request timeout."""
    options: dict[str, Any] = {"retries": RETRIES, "timeout": REQUEST_TIMEOUT}
    options.update(extra)
    return dss.connection_json(**options)


def fired(dss: DSSEmulator, scenario: str = "DEMO.BUILD_SALES") -> int:
    return int(dss.stats()["scenarios"].get(scenario, {}).get("fires_accepted", 0))


def counters(dss: DSSEmulator, scenario: str) -> dict[str, Any]:
    return dict(dss.stats()["scenarios"].get(scenario) or {})


def aborted_runs(dss: DSSEmulator) -> list[str]:
    """``K.S/run_id`` of every run the emulator aborted (from its model, not through the provider)."""
    with dss.state.lock:
        dss.state.advance_all()
        return sorted(
            f"{project.key}.{scenario.id}/{run.run_id}"
            for project in dss.state.catalog.projects.values()
            for scenario in project.scenarios.values()
            for run in scenario.runs.values()
            if run.aborted_at is not None
        )


def keep_context(rec: Any, context: dict[str, Any], op: Any = None) -> None:
    """Hand what a task leaves behind to the secrets scan: XComs, state store, rendered fields."""
    rec.keep("xcom", context["ti"].pushes)
    rec.keep("task state store", context["task_state_store"].data)
    if op is not None:
        rec.keep("template fields", {f: getattr(op, f, None) for f in op.template_fields})
        rec.keep("operator repr", repr(op))


# --- triggers ------------------------------------------------------------------------------------


async def collect_events(trigger: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run a trigger inline until it returns; its event payloads."""
    events: list[dict[str, Any]] = []

    async def go() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    await asyncio.wait_for(go(), timeout)
    return events


def rebuild(trigger: Any) -> Any:
    """A trigger as a triggerer rebuilds it: from its serialized classpath and kwargs."""
    import importlib

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**json.loads(json.dumps(kwargs)))


def run_deferred(
    op: Any, context: dict[str, Any], rec: Any = None, max_hops: int = 5, on_defer: Any = None
) -> Any:
    """``execute`` an operator; when it defers, run the (rebuilt) trigger inline and resume it.
    ``on_defer()`` is called once the task deferred, before the trigger runs (to inject faults)."""
    from airflow.sdk.exceptions import TaskDeferred

    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        exc = deferred
    for _ in range(max_hops):
        if rec is not None:
            rec.keep("trigger kwargs", exc.trigger.serialize())
        if on_defer is not None:
            on_defer()
            on_defer = None
        events = asyncio.run(collect_events(rebuild(exc.trigger)))
        assert len(events) == 1, events
        if rec is not None:
            rec.keep("trigger event", events[0])
        method = getattr(op, exc.method_name or "execute_complete")
        try:
            return method(context, event=events[0], **(exc.kwargs or {}))
        except TaskDeferred as again:
            exc = again
    raise AssertionError(f"{op.task_id} deferred more than {max_hops} times")


# --- clear errors --------------------------------------------------------------------------------


def unclear_reason(err: BaseException | None, needles: Iterable[str], elapsed: float, limit: float) -> str:
    """Why an error is not a clear one ('' when it is): ours, names what was asked and what DSS said,
    never holds the key, came in bounded time."""
    if err is None:
        return "no error (a silent success)"
    if not isinstance(err, AirflowException):
        return f"not a provider/Airflow error: {type(err).__name__}: {err}"
    text = f"{err}"
    if API_KEY in text or API_KEY in repr(err):
        return "the message holds the API key"
    if not text.strip():
        return f"{type(err).__name__} without a message"
    if "Traceback (most recent call last)" in text:
        return "the message is a traceback"
    missing = [n for n in needles if n.lower() not in text.lower()]
    if missing:
        return f"the message lacks {missing}: {text[:400]}"
    if elapsed > limit:
        return f"took {elapsed:.1f}s (limit {limit:.0f}s)"
    return ""


def call(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None, float]:
    """``fn(*args, **kwargs)``: (result, exception, seconds)."""
    started = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except Exception as err:
        return None, err, time.monotonic() - started
    return result, None, time.monotonic() - started


#: Every fault kind the emulator injects, with what the error must name when it does not clear.
KINDS: dict[str, tuple[dict[str, Any], str]] = {
    "500": ({"kind": "status", "status": 500}, "HTTP 500"),
    "502": ({"kind": "status", "status": 502}, "HTTP 502"),
    "503": ({"kind": "status", "status": 503}, "HTTP 503"),
    "504": ({"kind": "status", "status": 504}, "HTTP 504"),
    "429": ({"kind": "status", "status": 429, "retry_after": 1}, "HTTP 429"),
    "reset": ({"kind": "drop"}, "Could not get an answer"),
    "html": ({"kind": "html", "status": 502}, "HTML"),
    "truncated": ({"kind": "truncated"}, "not valid JSON"),
    "non_json": ({"kind": "non_json"}, "not valid JSON"),
    "slow": ({"kind": "latency", "latency": 1.4}, "timed out"),
}
