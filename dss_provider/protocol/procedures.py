"""Multi-request flows written once, as generators that yield requests and receive answers (sans-IO).

``DSSHook.run_procedure`` drives them with requests in the worker; ``DSSAsyncHook.run_procedure`` with
aiohttp in the triggerer. A procedure yields an :class:`ApiRequest`, gets the decoded answer back, and
``return``s its result.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

from dss_provider.exceptions import DSSNotFoundError, DSSTarget
from dss_provider.protocol import endpoints
from dss_provider.protocol.endpoints import ApiRequest
from dss_provider.protocol.models import run_is_finished

Procedure = Generator[ApiRequest, Any, Any]

FireStatus = Literal["run", "cancelled", "pending"]


@dataclass(frozen=True)
class FireState:
    """Where a trigger fire stands: it became ``run``, was ``cancelled``, or is still ``pending``."""

    status: FireStatus
    run: dict[str, Any] | None = None
    fire: dict[str, Any] | None = None


def resolve_fire(
    project_key: str, scenario_id: str, trigger_id: str, trigger_run_id: str
) -> Generator[ApiRequest, Any, FireState]:
    """Look up the run a fire started; when there is none yet, check whether DSS cancelled the fire."""
    answer = yield endpoints.get_run_for_trigger(project_key, scenario_id, trigger_id, trigger_run_id)
    run = answer.get("scenarioRun") if isinstance(answer, dict) else None
    if run:
        return FireState("run", run=run)
    fire = yield endpoints.get_trigger_fire(project_key, scenario_id, trigger_id, trigger_run_id)
    if isinstance(fire, dict) and fire.get("cancelled"):
        return FireState("cancelled", fire=fire)
    # A fire can become a run between the two requests: look once more before saying "pending".
    answer = yield endpoints.get_run_for_trigger(project_key, scenario_id, trigger_id, trigger_run_id)
    run = answer.get("scenarioRun") if isinstance(answer, dict) else None
    return FireState("run", run=run) if run else FireState("pending", fire=fire)


def abort_run(project_key: str, scenario_id: str, run_id: str) -> Generator[ApiRequest, Any, bool]:
    """Abort exactly one run (never another one of the same scenario). True if an abort was sent.

    DSS aborts one run through its future; when DSS does not report the future, the scenario-level
    abort is used only if this run is the scenario's current run.
    """
    details = yield endpoints.get_run_details(project_key, scenario_id, run_id)
    run = (details or {}).get("scenarioRun") or {}
    if run_is_finished(run):
        return False
    future_id = run.get("futureId")
    if future_id:
        try:
            target = DSSTarget(project_key=project_key, scenario_id=scenario_id, run_id=run_id)
            yield endpoints.abort_future(str(future_id), target)
        except DSSNotFoundError:
            return False  # the future ended between the two requests
        return True
    current = yield endpoints.get_last_runs(project_key, scenario_id, limit=1, only_finished_runs=False)
    if current and current[0].get("runId") == run_id and not run_is_finished(current[0]):
        yield endpoints.abort_scenario(project_key, scenario_id)
        return True
    return False


def find_fired_run(
    project_key: str, scenario_id: str, params: dict[str, Any], since_ms: int, known: frozenset[str]
) -> Generator[ApiRequest, Any, dict[str, Any] | None]:
    """After a run request whose answer was lost: the run it started, if any.

    The run is matched by manual trigger, fire time and trigger params, so the hook does not fire a
    second one.
    """
    runs = yield endpoints.get_last_runs(project_key, scenario_id, limit=10, only_finished_runs=False)
    for run in runs or []:
        fire = run.get("trigger") or {}
        if run.get("runId") in known or (fire.get("trigger") or {}).get("type") != "manual":
            continue
        if int(fire.get("timestamp") or 0) >= since_ms and (fire.get("params") or {}) == params:
            return dict(run)
    return None
