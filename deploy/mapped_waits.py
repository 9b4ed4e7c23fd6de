"""Following a DAG run of many mapped deferred waits, one DSS scenario each (case 8, and case 8 at scale
in ``deploy/test_case8_scale.py``): how many waits were deferred at once and when all of them were, the
triggerer's RSS and CPU meanwhile, the DSS requests per run by endpoint, each task's end after its DSS
run's end, and the checks that every wait succeeded on exactly one run of its own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from benchmarks._common import median, percentile
from deploy.harness import DagRunResult, Deployment, DeploymentError, Usage


@dataclass
class MappedRun:
    """What :func:`follow` saw of a DAG run of mapped deferred waits while it ran."""

    #: the most waits deferred at the same time (REST task states, sampled once a second)
    peak_deferred: int
    #: seconds from the trigger until all ``n`` waits were deferred at once (None: never all at once)
    all_deferred_after_s: float | None
    #: seconds from the trigger until the DAG run was success or failed
    dag_run_s: float
    #: the triggerer's peak RSS and CPU over the DAG run
    triggerer: Usage
    #: the REST reads of the watch that timed out (a busy api-server; the watch reads again a second later)
    reads_timed_out: int = 0

    def figures(self) -> dict[str, Any]:
        """The stage table's figures of what was seen (``all_deferred_after_s`` -1: never all at once)."""
        out = {
            "peak_deferred_at_once": self.peak_deferred,
            "all_deferred_after_s": self.all_deferred_after_s or -1,
            "dag_run_s": self.dag_run_s,
            "triggerer_peak_rss_mib": self.triggerer.rss_mib,
            "triggerer_cpu_s": self.triggerer.cpu_s,
            "triggerer_cpu_pct_of_one_core": self.triggerer.cpu_percent,
        }
        if self.reads_timed_out:
            out["rest_reads_timed_out"] = self.reads_timed_out
        return out


def follow(deployment: Deployment, dag_id: str, run_id: str, n: int, timeout: float) -> MappedRun:
    """Watch a triggered DAG run of ``n`` mapped deferred waits once a second until it finishes."""
    sampler = deployment.sampler("triggerer")
    peak_deferred, all_deferred_at, timed_out = 0, None, 0
    states: dict[str, str | None] = {}
    started = time.monotonic()
    deadline = started + timeout
    while True:
        sampler.sample()
        try:
            states = deployment.task_states(dag_id, run_id)
            finished = deployment.dag_run(dag_id, run_id)["state"] in ("success", "failed")
        except requests.Timeout:  # counted and printed; the deadline still bounds the watch
            timed_out, finished = timed_out + 1, False
        deferred = sum(1 for s in states.values() if s == "deferred")
        if deferred > peak_deferred:
            peak_deferred = deferred
            if deferred == n:
                all_deferred_at = time.monotonic() - started
        if finished:
            break
        if time.monotonic() > deadline:
            raise DeploymentError(f"mapped DAG run still going: {states}")
        time.sleep(1)
    elapsed = time.monotonic() - started
    return MappedRun(peak_deferred, all_deferred_at, elapsed, sampler.result(), timed_out)


def requests_per_run(deployment: Deployment, runs: int, project: str = "DEPLOY") -> dict[str, float]:
    """The emulator's requests of ``project`` per run, by endpoint (every project's when it has none)."""
    stats = deployment.dss.stats()
    # project DEPLOY's requests only (an asset watcher of another test may be polling DEMO meanwhile)
    requests = stats.get("requests_by_project", {}).get(project) or stats["requests"]
    return {name: count / runs for name, count in requests.items()}


def end_lags(
    deployment: Deployment, result: DagRunResult, scenarios: list[str], task: str = "wait"
) -> dict[str, float]:
    """p50, p95 and max over the mapped tasks of (task end - its DSS run's end), in seconds."""
    lags = []
    for i, scenario in enumerate(scenarios):
        run = deployment.dss_runs(scenario, "DEPLOY")[0]
        lags.append((result.ended(f"{task}[{i}]") or 0.0) - run.end)
    return {"p50": median(lags) or 0.0, "p95": percentile(lags, 95) or 0.0, "max": max(lags)}


def assert_one_run_each(
    deployment: Deployment,
    result: DagRunResult,
    scenarios: list[str],
    task: str = "wait",
    others: tuple[str, ...] = (),
) -> None:
    """The DAG run succeeded, and with it every mapped task (and the ``others``), each on one run of its
    own scenario, fired once, none cancelled."""
    assert result.state == "success", result.tasks
    expected = {name: "success" for name in others}
    expected.update({f"{task}[{i}]": "success" for i in range(len(scenarios))})
    assert result.tasks == expected
    for i, scenario in enumerate(scenarios):
        c = deployment.counters(scenario, "DEPLOY")
        assert c["fires_accepted"] == c["runs_started"] == 1 and c["fires_cancelled"] == 0, (scenario, c)
        assert c["runs_by_outcome"] == {"SUCCESS": 1}, (scenario, c)
        run = result.xcom(f"{task}[{i}]")
        assert (run["scenario_id"], run["outcome"], run["trigger_id"]) == (scenario, "SUCCESS", "manual")
