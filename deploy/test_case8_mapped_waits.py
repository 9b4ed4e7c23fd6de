"""Case 8: 50 mapped deferred waits at once under one triggerer: all succeed, no run is fired twice; the
triggerer's RSS and CPU and the DSS requests per run, by endpoint, are printed in the table."""

from __future__ import annotations

import time
from typing import Any

import pytest

from deploy.harness import Deployment, DeploymentError

pytestmark = pytest.mark.timeout(420)
DAG = "deploy_mapped_waits"
N = 50


@pytest.mark.case("8", f"{N} mapped deferred waits at once")
def test_mapped_deferred_waits(deployment: Deployment, figures: dict[str, Any]) -> None:
    run_id = deployment.trigger(DAG)
    sampler = deployment.sampler("triggerer")
    peak_deferred, all_deferred_at = 0, None
    started = time.monotonic()
    deadline = started + 360
    while True:
        sampler.sample()
        states = deployment.task_states(DAG, run_id)
        deferred = sum(1 for s in states.values() if s == "deferred")
        if deferred > peak_deferred:
            peak_deferred = deferred
            if deferred == N:
                all_deferred_at = time.monotonic() - started
        if deployment.dag_run(DAG, run_id)["state"] in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            raise DeploymentError(f"mapped DAG run still going: {states}")
        time.sleep(1)
    usage = sampler.result()
    result = deployment.result(DAG, run_id, timeout=30)
    stats = deployment.dss.stats()
    # project DEPLOY's requests only (an asset watcher of another test may be polling DEMO meanwhile)
    requests = stats.get("requests_by_project", {}).get("DEPLOY") or stats["requests"]
    per_run = {name: round(count / N, 1) for name, count in requests.items()}
    figures.update(
        peak_deferred_at_once=peak_deferred,
        all_deferred_after_s=all_deferred_at or -1,
        dag_run_s=time.monotonic() - started,
        triggerer_peak_rss_mib=usage.rss_mib,
        triggerer_cpu_s=usage.cpu_s,
        triggerer_cpu_pct_of_one_core=usage.cpu_percent,
        dss_requests_per_run=per_run,
    )
    assert result.state == "success", result.tasks
    assert result.tasks == {f"wait[{i}]": "success" for i in range(N)}
    for i in range(N):
        scenario = f"MAP_{i:02d}"
        c = deployment.counters(scenario, "DEPLOY")
        assert c["fires_accepted"] == c["runs_started"] == 1 and c["fires_cancelled"] == 0, (scenario, c)
        assert c["runs_by_outcome"] == {"SUCCESS": 1}, (scenario, c)
        run = result.xcom(f"wait[{i}]")
        assert (run["scenario_id"], run["outcome"], run["trigger_id"]) == (scenario, "SUCCESS", "manual")
    assert peak_deferred == N, f"only {peak_deferred} of {N} waits were deferred at the same time"
