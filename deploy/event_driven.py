"""Driving and reading the event-driven example (``dss_event_driven``) in a :class:`Deployment`: start DSS
runs the ways DSS itself does (a user in the UI, a time trigger) and read which downstream DAG runs
carried which DSS run. Used by ``deploy/test_event_driven.py`` and ``scripts/demo.py --event-driven``."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from deploy.harness import Deployment, DeploymentError, parse_time, wait_until

DAG = "dss_event_driven"
TASK = "process_dss_runs"


def delivered(
    dep: Deployment, since: float, dag_id: str = DAG
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """DSS run id -> [(DAG run id, run dict)] over the event-driven DAG runs finished since ``since``."""
    runs = dep.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000})["dag_runs"]
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for dr in runs:
        created = parse_time(dr.get("run_after") or dr.get("queued_at")) or 0.0
        if created < since or dr["state"] not in ("success", "failed"):
            continue
        if dr["state"] != "success":
            raise DeploymentError(f"DAG run {dr['dag_run_id']} of {dag_id} failed: {dr}")
        for run in dep.xcom(dag_id, dr["dag_run_id"], TASK) or []:
            out.setdefault(run["run_id"], []).append((dr["dag_run_id"], run))
    return out


def wait_delivered(dep: Deployment, since: float, run_ids: list[str], timeout: float = 120) -> Any:
    """Wait until every DSS run of ``run_ids`` was carried by a finished downstream DAG run."""
    return wait_until(
        lambda: (d := delivered(dep, since)) and all(r in d for r in run_ids) and d,
        timeout,
        f"downstream DAG runs carrying {run_ids}",
        interval=1,
    )


def wait_watching(dep: Deployment, project: str = "DEMO", polls: int = 2) -> None:
    """Wait until the watcher has polled ``project`` since the emulator's reset (its cursor is set):
    runs that finish before a watcher's first poll are history, not events."""
    wait_until(
        lambda: dep.dss.stats()["requests_by_project"].get(project, {}).get("list_scenarios", 0) >= polls,
        120,
        f"the watcher to poll {project}",
        interval=0.5,
    )


def ui_run(dep: Deployment, scenario: str, user: str = "alice", project: str = "DEMO") -> str:
    """Start a run as ``user`` would from the DSS UI; its run id once it has finished."""
    fire = dep.dss.run_as_user(project, scenario, user=user)

    def finished() -> str | None:
        for run in dep.dss_runs(scenario, project):
            if run.fire.trigger_run_id == fire["runId"] and run.finished:
                return run.run_id
        return None

    return str(wait_until(finished, 120, f"the UI run of {project}.{scenario}", interval=0.2))


def timed_run(dep: Deployment, scenario: str, in_seconds: float = 3.0, project: str = "DEMO") -> str:
    """Give ``scenario`` a DSS time trigger (every minute, first in ``in_seconds``), let the emulator run
    time triggers until it has fired once, then switch them off; the run id once it has finished."""
    start = datetime.fromtimestamp(time.time() + in_seconds, tz=timezone.utc)
    trigger = {
        "id": "every_minute",
        "type": "temporal",
        "name": "Every minute",
        "active": True,
        "delay": 0,
        "params": {
            "frequency": "Minutely",
            "repeatFrequency": 1,
            "startingFrom": start.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        },
    }
    with dep.dss.state.lock:
        sc = dep.dss.state.get_scenario(project, scenario)
        sc.settings["active"] = True
        sc.settings["triggers"] = [trigger]
    dep.dss.time_triggers = True
    try:
        runs = wait_until(
            lambda: [
                r
                for r in dep.dss_runs(scenario, project)
                if r.finished and r.fire.trigger["type"] == "temporal"
            ],
            in_seconds + 120,
            f"the time-triggered run of {project}.{scenario}",
            interval=0.2,
        )
    finally:
        dep.dss.time_triggers = False
    return str(runs[0].run_id)
