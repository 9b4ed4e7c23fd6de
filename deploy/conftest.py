"""The real-deployment stage's fixtures: one deployment per session, the emulator reset before each test,
and the table of cases and figures printed (and written to ``.cache/deploy-results.md``) at the end.

Fixtures:

* ``deployment`` (session, started once; see :class:`deploy.harness.Deployment` for its methods). Before
  each test that uses it, the emulator is reset to the stage's seed (:func:`deploy.harness.deploy_seed`:
  the demo seed plus project ``DEPLOY``) and the triggerer is (re)started if a test left it stopped.
* ``figures``: a dict the test fills with its measured figures; they go into the table's row.

Mark a test with ``@pytest.mark.case("8", "50 mapped deferred waits")`` to name its row in the table.
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.harness import Deployment, deploy_seed
from dss_provider.emulator.server import DSSEmulator

RESULTS = Path(__file__).resolve().parents[1] / ".cache" / "deploy-results.md"
_ROWS: dict[str, dict[str, Any]] = {}
_STAGE: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "case(number, title): the issue's case a test proves (table row)")
    _STAGE["started"] = time.monotonic()

    def _interrupt(signum: int, frame: Any) -> None:  # SIGTERM/SIGHUP: tear down like Ctrl-C
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


@pytest.fixture(scope="session")
def _deployment() -> Iterator[Deployment]:
    dss = DSSEmulator(seed=deploy_seed(), speed=1.0)
    dep = Deployment(dss=dss, keep_files=os.environ.get("DSS_DEPLOY_KEEP") == "1")
    atexit.register(dep.stop)
    try:
        dep.start()
        _STAGE["timings"] = dict(dep.timings)
        print(f"\ndeployment up in {dep.timings.get('startup_s', 0):.0f}s: {dep.api_url}, home {dep.home}")
        yield dep
    finally:
        dep.keep_files = dep.keep_files or bool(_STAGE.get("failed"))
        if dep.keep_files:
            print(f"\nkeeping the deployment's files (logs, AIRFLOW_HOME) in {dep.root}")
        dep.stop()


@pytest.fixture
def deployment(_deployment: Deployment, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """The running deployment, with the emulator reset and a triggerer running; DAG runs a test leaves
    unfinished are failed afterwards, so that they cannot touch the next test's emulator state."""
    _deployment.dss.reset()
    if not _deployment.processes["triggerer"].alive:
        _deployment.start_triggerer()
    first = len(_deployment.triggered)
    yield _deployment
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        _STAGE["failed"] = True
        print(f"\nDAG runs of this test (home {_deployment.home}):")
        print(_deployment.diagnose(_deployment.triggered[first:]))
    _deployment.fail_unfinished_runs()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    row = _ROWS.setdefault(request.node.nodeid, {"figures": {}})
    figs: dict[str, Any] = row["figures"]
    return figs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
    row = _ROWS.setdefault(item.nodeid, {"figures": {}})
    marker = item.get_closest_marker("case")
    row["case"] = str(marker.args[0]) if marker else "-"
    row["title"] = str(marker.args[1]) if marker and len(marker.args) > 1 else item.name
    callspec = getattr(item, "callspec", None)
    if marker and callspec is not None:
        row["title"] += f" [{callspec.id}]"
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        row["result"] = report.outcome
        row["seconds"] = row.get("seconds", 0.0) + report.duration
    elif report.when == "teardown" and report.outcome == "failed":
        row["result"] = "error"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def results_table() -> str:
    lines = ["| case | what | result | time (s) | figures |", "|---|---|---|---|---|"]

    def order(item: tuple[str, dict[str, Any]]) -> tuple[int, str, str]:
        case = str(item[1].get("case", "-"))
        return (int(case) if case.isdigit() else 0, case, item[0])

    for _nodeid, row in sorted(_ROWS.items(), key=order):
        if "result" not in row or (row.get("case", "-") == "-" and row["result"] == "passed"):
            continue  # unmarked helper checks appear only when they fail
        figs = "; ".join(f"{k}: {_fmt(v)}" for k, v in row["figures"].items())
        lines.append(
            f"| {row['case']} | {row['title']} | {row['result']} | {row.get('seconds', 0):.0f} | {figs} |"
        )
    timings = _STAGE.get("timings", {})
    total = time.monotonic() - _STAGE.get("started", time.monotonic())
    lines.append("")
    lines.append(
        "Set-up: PostgreSQL {pg:.0f} s, `airflow db migrate` {mig:.0f} s, deployment up (4 processes, "
        "DAGs parsed) {up:.0f} s; whole stage {total:.0f} s.".format(
            pg=timings.get("postgres_s", 0),
            mig=timings.get("db_migrate_s", 0),
            up=timings.get("startup_s", 0),
            total=total,
        )
    )
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    table = results_table()
    terminalreporter.write_sep("=", "real-deployment stage: cases and figures")
    terminalreporter.write_line(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n", encoding="utf-8")
    terminalreporter.write_line(f"(table written to {RESULTS})")
