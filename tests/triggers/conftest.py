"""Fixtures of the trigger tests (shared with the sensor tests, see tests/dss_support.py) and helpers."""

from __future__ import annotations

import asyncio
from typing import Any

from dss_provider.emulator.server import DSSEmulator
from tests.dss_support import dss_emulator, fire, wait_run_id

__all__ = ["collect", "counters", "dss_emulator", "fire", "run_state", "wait_run_id"]


def counters(dss: DSSEmulator, scenario_id: str) -> dict[str, Any]:
    return dict(dss.stats()["scenarios"].get(f"DEMO.{scenario_id}", {}))


def run_state(dss: DSSEmulator, scenario_id: str, run_id: str) -> tuple[bool, str]:
    """(finished, outcome) of a run, read from the emulator's model."""
    with dss.state.lock:
        sc = dss.state.catalog.projects["DEMO"].scenarios[scenario_id]
        dss.state.advance(sc)
        run = sc.runs[run_id]
        return run.finished, run.outcome


async def collect(trigger: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Drive ``trigger.run()`` to its end like the triggerer does; the event payloads."""

    async def drive() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    try:
        return await asyncio.wait_for(drive(), timeout)
    finally:
        await trigger.cleanup()
