"""``make demo`` (after its bootstrap step): the example DAG runs, warnings are shown whole, and
nothing stays in the temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.user_testing.readme_project import ROOT


def test_demo_runs_shows_warnings_whole_and_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DSS_PROVIDER_"))}
    env["TMPDIR"] = str(tmpdir)
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    # The check's message, whole (the demo seed's QUALITY_CHECKS step), in the step line and the run line.
    message = "Check 'row count in range' returned WARNING: 12034 rows (expected <= 12000)"
    warnings = [line for line in out.splitlines() if line.startswith("   | WARNING: ")]
    assert len(warnings) == 2 and all(message in line for line in warnings), out
    assert "(fail_on_warning=False: the task passes)" in warnings[1]
    assert "DAG dss_run_and_wait: success" in out
    assert f"Full log: {ROOT / '.demo' / 'demo.log'}" in out
    assert sorted(os.listdir(tmpdir)) == []
