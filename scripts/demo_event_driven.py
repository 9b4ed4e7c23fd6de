"""``python scripts/demo.py --event-driven``: the event-driven example under a real triggerer.

``airflow dags test`` runs no asset watcher, so this demo stands up a small real deployment with the
real-deployment stage's harness (``deploy/harness.py``: a throwaway PostgreSQL, then ``api-server``,
``scheduler``, ``dag-processor`` and ``triggerer`` as separate processes on 127.0.0.1; about a minute)
with only ``example_dss_event_driven.py`` in its DAGs folder, and the DSS emulator (demo seed) in this
process. ``deploy/setup.sh`` installs PostgreSQL and its drivers first when they are missing.

Then DSS runs start the ways DSS itself starts them, none through Airflow:

1. ``alice`` runs ``TESTS_SMOKE`` from the DSS UI (the emulator's admin route ``ui-run``): SUCCESS;
2. a DSS time trigger (every minute, first in 3 s) runs ``QUALITY_CHECKS`` on the emulator's clock:
   WARNING;
3. ``bob`` runs ``NIGHTLY_EXPORT`` from the UI: FAILED, which the watcher filters out.

It prints which downstream ``dss_event_driven`` DAG run carried which DSS run, and what the watcher
cost DSS. Everything it started is stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_dags" / "example_dss_event_driven.py"


def _say(message: str) -> None:
    print(f"[event-driven demo] {message}", flush=True)


def run(speed: float = 1.0) -> int:
    """Run the demo; the exit code (0 when every DSS run was handled as expected)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    setup = subprocess.run(["bash", str(REPO / "deploy" / "setup.sh")], cwd=REPO, check=False)
    if setup.returncode != 0:
        _say("deploy/setup.sh failed: PostgreSQL is needed for a real triggerer")
        return setup.returncode
    from deploy.event_driven import TASK, delivered, timed_run, ui_run, wait_delivered, wait_watching
    from deploy.harness import Deployment
    from dss_provider.emulator import DSSEmulator

    dags = Path(tempfile.mkdtemp(prefix="dss-event-demo-dags-"))
    shutil.copy2(EXAMPLE, dags / EXAMPLE.name)
    dep = Deployment(dss=DSSEmulator(speed=speed), dag_dirs=[dags])
    try:
        _say("starting PostgreSQL, api-server, scheduler, dag-processor and triggerer (about a minute) ...")
        dep.start()
        _say(
            f"Airflow up in {dep.timings.get('startup_s', 0):.0f}s at {dep.api_url}; "
            f"DSS emulator at {dep.dss.url}"
        )
        wait_watching(dep)
        polls = dep.dss.stats()["requests_by_project"]["DEMO"]
        _say(f"the watcher polls DSS project DEMO every 5 s (so far: {polls})")
        since = time.time()
        started = []
        _say("alice runs DEMO.TESTS_SMOKE from the DSS UI ...")
        started.append(("TESTS_SMOKE", "UI (alice)", ui_run(dep, "TESTS_SMOKE", "alice")))
        _say("a DSS time trigger (every minute, first in 3 s) runs DEMO.QUALITY_CHECKS ...")
        started.append(("QUALITY_CHECKS", "DSS time trigger", timed_run(dep, "QUALITY_CHECKS")))
        _say("bob runs DEMO.NIGHTLY_EXPORT from the DSS UI ...")
        started.append(("NIGHTLY_EXPORT", "UI (bob)", ui_run(dep, "NIGHTLY_EXPORT", "bob")))
        expected = [run_id for scenario, _, run_id in started if scenario != "NIGHTLY_EXPORT"]
        _say("waiting for the downstream DAG runs ...")
        wait_delivered(dep, since, expected, timeout=180)
        time.sleep(15)  # a late duplicate, or the FAILED run, would show by now
        got = delivered(dep, since)
        print()
        print(f"{'DSS run':<44} {'started by':<18} {'outcome':<8} downstream DAG run (dss_event_driven)")
        ok = True
        for scenario, by, run_id in started:
            outcome = dep.dss_run(scenario, run_id).outcome
            carried = [dag_run for dag_run, _ in got.get(run_id, [])]
            want = 0 if outcome == "FAILED" else 1
            ok &= len(carried) == want
            where = ", ".join(carried) if carried else "none (filtered: outcome not in SUCCESS, WARNING)"
            name = f"DEMO.{scenario} {run_id}"
            print(f"{name:<44} {by:<18} {outcome:<8} {where}")
        for run_id in expected:
            dag_run, payload = got[run_id][0]
            print(f"\nrun dict in {dag_run} ({TASK} return value): {payload}")
        cost = dep.dss.stats()["requests_by_project"].get("DEMO", {})
        print(f"\nDSS requests for project DEMO since it started: {cost} (6 scenarios: 7 per poll)")
        _say("every DSS run scheduled exactly one DAG run (FAILED filtered)" if ok else "UNEXPECTED result")
        return 0 if ok else 1
    except KeyboardInterrupt:
        _say("interrupted; stopping")
        return 130
    except Exception as err:
        _say(f"failed: {type(err).__name__}: {err}")
        return 1
    finally:
        dep.stop()
        shutil.rmtree(dep.root, ignore_errors=True)
        shutil.rmtree(dags, ignore_errors=True)
        _say("deployment stopped")


if __name__ == "__main__":
    sys.exit(run())
