"""The opt-in scale case the README shows (``make test-deploy-scale``) is wired as it says.

Running it takes minutes and a deployment, so ``make test`` checks what the target runs and that the case
is skipped, not failed, when its variable is unset (as in ``make test-deploy``, which CI runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_deploy_scale_runs_the_scale_case_with_200_waits_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_DEPLOY_")}
    plan = subprocess.run(
        ["make", "-n", "test-deploy-scale"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "DSS_DEPLOY_SCALE_WAITS=${DSS_DEPLOY_SCALE_WAITS:-200}" in plan
    assert "DSS_DEPLOY_PARALLELISM=${DSS_DEPLOY_PARALLELISM:-24}" in plan
    assert "deploy/test_case8_scale.py" in plan
    assert "bash deploy/setup.sh" in plan


def test_the_scale_case_is_skipped_without_its_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_DEPLOY_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "deploy/test_case8_scale.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "DSS_DEPLOY_SCALE_WAITS" in done.stdout  # the skip reason says how to run it
