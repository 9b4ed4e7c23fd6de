"""Case 8: 50 mapped deferred waits at once under one triggerer: all succeed, no run is fired twice; the
triggerer's RSS and CPU and the DSS requests per run, by endpoint, are printed in the table."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.harness import Deployment
from deploy.mapped_waits import assert_one_run_each, follow, requests_per_run

pytestmark = pytest.mark.timeout(420)
DAG = "deploy_mapped_waits"
N = 50


@pytest.mark.case("8", f"{N} mapped deferred waits at once")
def test_mapped_deferred_waits(deployment: Deployment, figures: dict[str, Any]) -> None:
    run_id = deployment.trigger(DAG)
    seen = follow(deployment, DAG, run_id, N, timeout=360)
    result = deployment.result(DAG, run_id, timeout=30)
    figures.update(seen.figures(), dss_requests_per_run=requests_per_run(deployment, N))
    assert_one_run_each(deployment, result, [f"MAP_{i:02d}" for i in range(N)])
    assert seen.peak_deferred == N, f"only {seen.peak_deferred} of {N} waits were deferred at the same time"
