"""Case 15: event-driven DAGs under a real triggerer. The example DAG ``dss_event_driven`` is scheduled on an
asset watched by :class:`~dss_provider.triggers.run_events.DSSScenarioRunEventTrigger` (every scenario of
DEMO, SUCCESS and WARNING, polled every 5 s):

* a run started from the DSS UI and a run started by a DSS time trigger each give exactly one downstream
  DAG run carrying the right run dict; a WARNING run passes and a FAILED run is filtered out;
* a triggerer restart between two runs neither replays the first nor loses the second (cursor in the
  asset state store);
* 100 watchers on one project make the same DSS requests per poll interval as one (within 10%).
"""

from __future__ import annotations

import signal
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from deploy.harness import Deployment, parse_time, wait_until
from tests.dss_support import RUN_KEYS

pytestmark = pytest.mark.timeout(600)
DAG = "dss_event_driven"
TASK = "process_dss_runs"
WATCH_INTERVAL = 5


def delivered(dep: Deployment, since: float) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """DSS run id -> [(DAG run id, run dict)] over the event-driven DAG runs finished since ``since``."""
    runs = dep.api("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 1000})["dag_runs"]
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for dr in runs:
        created = parse_time(dr.get("run_after") or dr.get("queued_at")) or 0.0
        if created < since or dr["state"] not in ("success", "failed"):
            continue
        assert dr["state"] == "success", dr
        for run in dep.xcom(DAG, dr["dag_run_id"], TASK) or []:
            out.setdefault(run["run_id"], []).append((dr["dag_run_id"], run))
    return out


def ui_run(dep: Deployment, scenario: str, user: str = "alice") -> str:
    """Start a run as ``user`` from the DSS UI; its run id once it has finished."""
    fire = dep.dss.run_as_user("DEMO", scenario, user=user)

    def finished() -> str | None:
        for run in dep.dss_runs(scenario):
            if run.fire.trigger_run_id == fire["runId"] and run.finished:
                return run.run_id
        return None

    return str(wait_until(finished, 60, f"the UI run of {scenario}", interval=0.2))


def wait_delivered(dep: Deployment, since: float, run_ids: list[str], timeout: float = 120) -> Any:
    return wait_until(
        lambda: (d := delivered(dep, since)) and all(r in d for r in run_ids) and d,
        timeout,
        f"downstream DAG runs carrying {run_ids}",
        interval=1,
    )


def settle(dep: Deployment) -> None:
    """Long enough for a late duplicate to show: two polls plus scheduling and the task."""
    time.sleep(2 * WATCH_INTERVAL + 10)


def check_payload(dep: Deployment, scenario: str, run_id: str, payload: dict[str, Any]) -> None:
    run = dep.dss_run(scenario, run_id)
    assert set(payload) == RUN_KEYS, payload
    assert payload["project_key"] == "DEMO" and payload["scenario_id"] == scenario
    assert payload["run_id"] == run_id and payload["outcome"] == run.outcome
    assert payload["trigger_run_id"] == run.fire.trigger_run_id
    assert payload["url"].endswith(f"/projects/DEMO/scenarios/{scenario}/runs/list/{run_id}")
    assert parse_time(payload["end"]) == pytest.approx(run.end, abs=0.01)


@pytest.mark.case("15", "DSS runs (UI, time trigger) schedule one DAG run each; FAILED filtered")
def test_runs_started_by_dss_schedule_one_dag_run_each(
    deployment: Deployment, figures: dict[str, Any]
) -> None:
    dep = deployment
    since = time.time()
    smoke = ui_run(dep, "TESTS_SMOKE")  # SUCCESS, started from the UI
    failed = ui_run(dep, "NIGHTLY_EXPORT")  # FAILED: filtered out
    # A DSS time trigger: every minute from 3 s from now, on the emulator's clock (QUALITY_CHECKS: WARNING).
    start = datetime.fromtimestamp(time.time() + 3, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    trigger = {"id": "every_minute", "type": "temporal", "name": "Every minute", "active": True, "delay": 0,
               "params": {"frequency": "Minutely", "repeatFrequency": 1, "startingFrom": start}}  # fmt: skip
    with dep.dss.state.lock:
        sc = dep.dss.state.get_scenario("DEMO", "QUALITY_CHECKS")
        sc.settings["active"] = True
        sc.settings["triggers"] = [trigger]
    dep.dss.time_triggers = True
    try:
        timed = wait_until(
            lambda: [r for r in dep.dss_runs("QUALITY_CHECKS") if r.finished], 60, "the timed run"
        )
    finally:
        dep.dss.time_triggers = False
    (timed_run,) = timed
    assert timed_run.fire.trigger["type"] == "temporal"
    t_end = timed_run.end
    got = wait_delivered(dep, since, [smoke, timed_run.run_id])
    figures["event_to_dag_run_done_s"] = time.time() - t_end
    settle(dep)
    got = delivered(dep, since)
    assert len(got[smoke]) == 1, got[smoke]
    assert len(got[timed_run.run_id]) == 1, got[timed_run.run_id]
    assert failed not in got, "the FAILED run was filtered out"
    check_payload(dep, "TESTS_SMOKE", smoke, got[smoke][0][1])
    check_payload(dep, "QUALITY_CHECKS", timed_run.run_id, got[timed_run.run_id][0][1])
    assert got[timed_run.run_id][0][1]["outcome"] == "WARNING"
    assert got[smoke][0][1]["trigger_id"] == "manual"
    assert got[timed_run.run_id][0][1]["trigger_id"] == "every_minute"
    figures["dag_runs"] = len({dr for runs in got.values() for dr, _ in runs})


@pytest.mark.case("15", "triggerer restart between two DSS runs: no replay, no loss")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_triggerer_restart_between_two_runs(
    deployment: Deployment, figures: dict[str, Any], sig: int
) -> None:
    dep = deployment
    since = time.time()
    first = ui_run(dep, "TESTS_SMOKE")
    wait_delivered(dep, since, [first])
    time.sleep(WATCH_INTERVAL + 1)  # the cursor has moved past the first run
    dep.stop_triggerer(sig)
    second = ui_run(dep, "TESTS_SMOKE")  # finishes while no triggerer runs the watcher
    down = time.monotonic()
    dep.start_triggerer()
    figures["triggerer_down_s"] = time.monotonic() - down
    wait_delivered(dep, since, [second], timeout=150)
    settle(dep)
    got = delivered(dep, since)
    assert len(got[first]) == 1, f"the first run was replayed: {got[first]}"
    assert len(got[second]) == 1, got[second]
    check_payload(dep, "TESTS_SMOKE", second, got[second][0][1])


# --- 100 watchers, one poll ------------------------------------------------------------------------

DEPLOY_SCENARIOS = ["WAIT_8S", "WAIT_20S", "WAIT_30S", "WAIT_120S", "WAIT_120S_B"] + [
    f"MAP_{i:02d}" for i in range(50)
]


def watchers_dag(dag_id: str, n: int) -> str:
    """A DAG scheduled on ``n`` assets, each with its own watcher on project DEPLOY (distinct kwargs, so
    Airflow keeps ``n`` triggers; watcher 0 watches every scenario, the others one scenario each)."""
    return textwrap.dedent(
        f'''
        """{n} DSS watchers on project DEPLOY (generated by deploy/test_event_driven.py)."""
        from datetime import datetime

        from airflow.providers.common.compat.sdk import DAG, task
        from airflow.sdk import Asset, AssetWatcher

        from dss_provider.triggers.run_events import DSSScenarioRunEventTrigger

        SCENARIOS = {DEPLOY_SCENARIOS!r}


        def trigger(i):
            ids = None if i == 0 else [SCENARIOS[(i - 1) % len(SCENARIOS)]]
            outcomes = ["SUCCESS", "WARNING"] if (i - 1) // len(SCENARIOS) == 0 else ["FAILED"]
            return DSSScenarioRunEventTrigger(
                project_key="DEPLOY", scenario_ids=ids, outcomes=outcomes, poll_interval={WATCH_INTERVAL}
            )


        ASSETS = [
            Asset(f"{dag_id}_{{i}}", watchers=[AssetWatcher(name=f"{dag_id}_w{{i}}", trigger=trigger(i))])
            for i in range({n})
        ]

        with DAG(dag_id="{dag_id}", schedule=ASSETS, start_date=datetime(2025, 1, 1), catchup=False):

            @task
            def noop():
                return None

            noop()
        '''
    )


def poll_cost(dep: Deployment, project: str, polls: int) -> dict[str, float]:
    """DSS requests for ``project`` over exactly ``polls`` poll intervals (one list call per poll)."""

    def counts() -> dict[str, int]:
        return dict(dep.dss.stats()["requests_by_project"].get(project, {}))

    def boundary(after: int) -> dict[str, int]:
        wait_until(
            lambda: counts().get("list_scenarios", 0) >= after, 120, f"poll {after} of {project}", 0.05
        )
        time.sleep(1.0)  # that poll's per-scenario requests are done (they take milliseconds)
        return counts()

    first = boundary(counts().get("list_scenarios", 0) + 1)
    t0 = time.monotonic()
    sampler = dep.sampler("triggerer")
    last = boundary(first["list_scenarios"] + polls)
    wall = time.monotonic() - t0
    usage = sampler.result()
    total = sum(last.values()) - sum(first.values())
    return {
        "requests_per_poll": total / polls,
        "requests_per_min": total * 60 / wall,
        "triggerer_cpu_pct": usage.cpu_percent,
    }


@pytest.mark.case("15", "100 watchers on one project: the same DSS requests as one")
def test_hundred_watchers_cost_what_one_costs(deployment: Deployment, figures: dict[str, Any]) -> None:
    dep = deployment
    files: list[Path] = []
    try:
        measured: dict[int, dict[str, float]] = {}
        for n in (1, 100):
            dag_id = f"deploy_event_watchers_{n}"
            path = dep.dags_folder / f"{dag_id}.py"
            path.write_text(watchers_dag(dag_id, n), encoding="utf-8")
            files.append(path)
            dep.wait_dags([dag_id], timeout=180)
            time.sleep(15)  # the triggerer loads the new watchers
            measured[n] = poll_cost(dep, "DEPLOY", polls=8)
            figures[f"{n}_watchers"] = {k: round(v, 1) for k, v in measured[n].items()}
        one, hundred = measured[1], measured[100]
        # Every scenario of DEPLOY (55) + the list call, per poll, for 1 watcher or 100.
        assert one["requests_per_poll"] == pytest.approx(len(DEPLOY_SCENARIOS) + 1, rel=0.02), one
        assert hundred["requests_per_poll"] == pytest.approx(one["requests_per_poll"], rel=0.10), measured
        assert hundred["requests_per_min"] == pytest.approx(one["requests_per_min"], rel=0.10), measured
    finally:
        for path in files:
            path.unlink(missing_ok=True)
