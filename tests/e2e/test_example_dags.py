"""Every example DAG, run for real with ``dag.test()`` against the embedded DSS emulator.

Deferred tasks run their triggers inline (``dag.test()`` does that). Each test asserts the DAG run
state, every task's state, the XCom run dicts, and what the emulator saw: exactly one run per fired
task, and aborted runs ABORTED.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.dss_support import RUN_KEYS

pytestmark = pytest.mark.timeout(240)

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"

EXAMPLE_DAG_IDS = {
    "dss_run_and_wait",
    "dss_run_deferred",
    "dss_fire_and_sense",
    "dss_timeout_and_abort",
    "dss_failure_log_and_report",
    "dss_mapped_scenarios",
    "dss_event_driven",
}

RUN_ID = re.compile(r"^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3}$")

#: The outcome of each scenario ``dss_mapped_scenarios`` maps over, in map order.
MAPPED_OUTCOMES = {"PY_SCORING": "SUCCESS", "TESTS_SMOKE": "SUCCESS", "QUALITY_CHECKS": "WARNING"}

#: dag id -> the state of each task once a run ends (``task[i]`` for mapped instances): the same under
#: ``dag.test()`` here and under the scheduler in the deployment stage (deploy/test_case1_example_dags.py).
TASK_STATES: dict[str, dict[str, str]] = {
    "dss_run_and_wait": {"build_sales": "success", "quality_checks": "success", "summarize": "success"},
    "dss_run_deferred": {"build_sales": "success", "check_params": "success"},
    "dss_fire_and_sense": {
        "fire": "success",
        "run_started": "success",
        "run_finished": "success",
        "report": "success",
    },
    "dss_timeout_and_abort": {
        "refresh_with_timeout": "failed",
        "start_refresh": "success",
        "refresh_started": "success",
        "abort_refresh": "success",
    },
    "dss_failure_log_and_report": {
        "nightly_export": "failed",
        "failing_step": "success",
        "fetch_step_log": "success",
        "fetch_junit_report": "success",
        "surface": "failed",
    },
    "dss_mapped_scenarios": {
        "scenarios_to_run": "success",
        **{f"run_scenario[{i}]": "success" for i in range(len(MAPPED_OUTCOMES))},
        "outcomes": "success",
    },
    "dss_event_driven": {"process_dss_runs": "success"},
}

#: dag id -> the DSS runs one run of it makes: scenario -> outcome -> count.
DSS_RUNS: dict[str, dict[str, dict[str, int]]] = {
    "dss_run_and_wait": {"BUILD_SALES": {"SUCCESS": 1}, "QUALITY_CHECKS": {"WARNING": 1}},
    "dss_run_deferred": {"BUILD_SALES": {"SUCCESS": 1}},
    "dss_fire_and_sense": {"BUILD_SALES": {"SUCCESS": 1}},
    "dss_timeout_and_abort": {"LONG_REFRESH": {"ABORTED": 2}},
    "dss_failure_log_and_report": {"NIGHTLY_EXPORT": {"FAILED": 1}},
    "dss_mapped_scenarios": {s: {o: 1} for s, o in MAPPED_OUTCOMES.items()},
    "dss_event_driven": {},
}


def _counters(dss: Any, scenario: str, project: str = "DEMO") -> dict[str, Any]:
    return dss.stats()["scenarios"].get(f"{project}.{scenario}", {})


def _assert_runs(dss: Any, expected: dict[str, dict[str, int]]) -> None:
    """Exactly the expected runs (per scenario: outcome -> count), one per fire, nothing cancelled."""
    seen = {
        name.split(".", 1)[1]: c
        for name, c in dss.stats()["scenarios"].items()
        if c["fires_accepted"] or c["runs_started"]
    }
    assert set(seen) == set(expected), seen
    for scenario, outcomes in expected.items():
        c = seen[scenario]
        runs = sum(outcomes.values())
        assert c["fires_accepted"] == runs, (scenario, c)
        assert c["runs_started"] == runs, (scenario, c)
        assert c["fires_cancelled"] == 0, (scenario, c)
        assert c["runs_by_outcome"] == outcomes, (scenario, c)


def _emulated_run(dss: Any, scenario: str, run_id: str) -> Any:
    sc = dss.state.get_scenario("DEMO", scenario)
    with dss.state.lock:
        return sc.runs[run_id]


def _assert_run_dict(result: Any, task: str, dss: Any, scenario: str, outcome: str) -> dict[str, Any]:
    """The task's ``return_value`` is a finished run dict matching the emulator's run and the id XComs."""
    run = result.xcom(task)
    assert isinstance(run, dict) and set(run) == RUN_KEYS, run
    assert run["project_key"] == "DEMO" and run["scenario_id"] == scenario
    assert run["outcome"] == outcome
    assert RUN_ID.match(run["run_id"]) and RUN_ID.match(run["trigger_run_id"])
    assert run["trigger_id"] == "manual"
    assert run["duration"] is not None and run["duration"] >= 0 and run["start"] and run["end"]
    assert run["url"] == f"{dss.url}/projects/DEMO/scenarios/{scenario}/runs/list/{run['run_id']}"
    assert run["steps"] and all(s["outcome"] for s in run["steps"])
    # pushed as soon as known, and consistent with the returned dict
    assert result.xcom(task, "run_id") == run["run_id"]
    assert result.xcom(task, "trigger_id") == run["trigger_id"]
    assert result.xcom(task, "trigger_run_id") == run["trigger_run_id"]
    assert result.xcom(task, "run_url") == run["url"]
    emulated = _emulated_run(dss, scenario, run["run_id"])
    assert emulated.finished and emulated.outcome == outcome
    assert emulated.fire.trigger_run_id == run["trigger_run_id"]
    return run


# --- parsing and hygiene --------------------------------------------------------------------------


def test_every_example_parses_without_import_errors(example_dagbag: Any) -> None:
    assert example_dagbag.import_errors == {}
    assert set(example_dagbag.dag_ids) == EXAMPLE_DAG_IDS
    for dag_id in EXAMPLE_DAG_IDS:
        dag = example_dagbag.get_dag(dag_id)
        assert dag.doc_md or dag.description, dag_id
        assert "dataiku" in dag.tags
        for t in dag.tasks:
            conn_id = getattr(t, "dss_conn_id", None)
            assert conn_id in (None, "dataiku_dss_default"), (dag_id, t.task_id, conn_id)


def test_airflow_cli_lists_no_import_errors(example_dagbag: Any) -> None:
    """What a user runs: ``airflow dags list-import-errors`` (exits 1 when there are any)."""
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run(
        [str(airflow), "dags", "list-import-errors", "-l", "-o", "plain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "example_dss" not in proc.stdout


SECRET_PATTERNS = [
    re.compile(r"(?i)\b(password|passwd|api_?key|secret|token)\b\s*[=:]\s*['\"][^'\"{]+['\"]"),
    re.compile(r"(?i)AIRFLOW_CONN_\w+\s*=\s*\S"),
    re.compile(r"://[^/\s:@'\"]*:[^/\s@'\"]+@"),  # credentials inside a URL
    re.compile(r"(?i)authorization"),
    # long random-looking tokens: letters of both cases and digits
    re.compile(r"(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])\b[\w-]{24,}\b"),
]


def test_examples_hold_no_secret(dss_emulator: Any) -> None:
    files = sorted(EXAMPLES.glob("*.py"))
    assert len(files) >= len(EXAMPLE_DAG_IDS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert dss_emulator.api_key not in text, path.name
        assert dss_emulator.admin_key not in text, path.name
        for pattern in SECRET_PATTERNS:
            found = pattern.search(text)
            assert found is None, f"{path.name}: {found.group(0) if found else ''!r}"
        assert "127.0.0.1" not in text and "localhost" not in text, path.name


# --- the example DAGs, run --------------------------------------------------------------------------


def test_run_and_wait(dss_emulator: Any, run_dag: Any) -> None:
    result = run_dag("dss_run_and_wait")
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_run_and_wait"]
    build = _assert_run_dict(result, "build_sales", dss_emulator, "BUILD_SALES", "SUCCESS")
    assert [s["outcome"] for s in build["steps"]] == ["SUCCESS"] * 3
    checks = _assert_run_dict(result, "quality_checks", dss_emulator, "QUALITY_CHECKS", "WARNING")
    assert [s["outcome"] for s in checks["steps"]] == ["SUCCESS", "WARNING"]
    assert result.xcom("summarize") == {"build_outcome": "SUCCESS", "checks_outcome": "WARNING"}
    _assert_runs(dss_emulator, DSS_RUNS["dss_run_and_wait"])


def test_run_deferred_with_templated_trigger_params(dss_emulator: Any, run_dag: Any) -> None:
    result = run_dag("dss_run_deferred", conf={"region": "EMEA"})
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_run_deferred"]
    run = _assert_run_dict(result, "build_sales", dss_emulator, "BUILD_SALES", "SUCCESS")
    params = run["trigger_params"]
    assert params["region"] == "EMEA"
    assert params["airflow_run_id"] == result.run_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", params["run_date"])
    # DSS received exactly those params with the fire
    assert _emulated_run(dss_emulator, "BUILD_SALES", run["run_id"]).fire.params == params
    assert result.xcom("check_params") == params
    _assert_runs(dss_emulator, DSS_RUNS["dss_run_deferred"])


def test_fire_then_sensors_chained_over_xcom(dss_emulator: Any, run_dag: Any) -> None:
    result = run_dag("dss_fire_and_sense")
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_fire_and_sense"]
    fired = result.xcom("fire")
    assert set(fired) == RUN_KEYS
    assert fired["run_id"] is None and fired["outcome"] is None and fired["steps"] == []
    assert RUN_ID.match(fired["trigger_run_id"]) and fired["trigger_id"] == "manual"
    run_id = result.xcom("run_started")
    assert RUN_ID.match(run_id)
    finished = result.xcom("run_finished")
    assert finished["run_id"] == run_id and finished["trigger_run_id"] == fired["trigger_run_id"]
    assert finished["outcome"] == "SUCCESS" and len(finished["steps"]) == 3
    assert _emulated_run(dss_emulator, "BUILD_SALES", run_id).fire.trigger_run_id == fired["trigger_run_id"]
    assert result.xcom("report") == "SUCCESS"
    _assert_runs(dss_emulator, DSS_RUNS["dss_fire_and_sense"])


def test_timeout_aborts_the_run_and_abort_task(dss_emulator: Any, run_dag: Any) -> None:
    # LONG_REFRESH takes 120 s: well past the example's 10 s timeout and the whole DAG run, also where
    # dag.test() starts each task slowly (about 10 s a task on Airflow 3.1 on a busy 2-core machine).
    dss_emulator.speed = 0.5
    started = time.monotonic()
    result = run_dag("dss_timeout_and_abort")
    took = time.monotonic() - started
    assert result.tasks == TASK_STATES["dss_timeout_and_abort"]
    assert result.state == "success"  # the leaf (abort_refresh) succeeded
    assert took < 120, took  # nobody waited for the 120 s runs
    timed_out_run = result.xcom("refresh_with_timeout", "run_id")
    assert RUN_ID.match(timed_out_run)
    assert result.xcom("refresh_with_timeout") is None  # failed: no run dict returned
    run = _emulated_run(dss_emulator, "LONG_REFRESH", timed_out_run)
    assert run.finished and run.outcome == "ABORTED"
    assert 8 <= run.end - run.start < 20  # aborted when the 10 s timeout passed

    started_run = result.xcom("refresh_started")
    assert RUN_ID.match(started_run) and started_run != timed_out_run
    abort = result.xcom("abort_refresh")
    assert abort["run_id"] == started_run and abort["aborted"] is True and abort["outcome"] == "ABORTED"
    assert _emulated_run(dss_emulator, "LONG_REFRESH", started_run).outcome == "ABORTED"

    _assert_runs(dss_emulator, DSS_RUNS["dss_timeout_and_abort"])
    assert _counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 2


def _seed_with_test_export() -> dict[str, Any]:
    """The demo seed, with NIGHTLY_EXPORT marked as a test scenario (so it has JUnit reports)."""
    from dss_provider.emulator.seed import default_seed

    seed = default_seed()
    for project in seed["projects"]:
        for scenario in project.get("scenarios", []):
            if project["key"] == "DEMO" and scenario["id"] == "NIGHTLY_EXPORT":
                scenario["markedAsTest"] = True
    return seed


@pytest.mark.dss_seed(_seed_with_test_export())
def test_failure_fetches_failing_step_log_and_junit_report(
    dss_emulator: Any, run_dag: Any, tmp_path: Path
) -> None:
    result = run_dag("dss_failure_log_and_report", conf={"output_dir": str(tmp_path)})
    assert result.tasks == TASK_STATES["dss_failure_log_and_report"]
    assert result.state == "failed"
    run_id = result.xcom("nightly_export", "run_id")
    assert RUN_ID.match(run_id) and result.xcom("nightly_export") is None
    assert result.xcom("nightly_export", "run_url").endswith(f"/runs/list/{run_id}")
    assert _emulated_run(dss_emulator, "NIGHTLY_EXPORT", run_id).outcome == "FAILED"

    assert result.xcom("failing_step") == "build_0_true_d_EXPORT_S3"
    log = result.xcom("fetch_step_log")
    assert log["run_id"] == run_id and log["step_id"] == "build_0_true_d_EXPORT_S3"
    log_path = Path(log["path"])
    assert log_path.is_file() and log_path.is_relative_to(tmp_path)
    assert log_path.stat().st_size == log["size"] > 0
    report = result.xcom("fetch_junit_report")
    assert report["run_id"] == run_id
    assert report["tests"] == 2 and report["failures"] == 1 and report["errors"] == 0
    report_path = Path(report["path"])
    assert report_path.is_file() and report_path.parent == log_path.parent
    xml = report_path.read_text(encoding="utf-8")
    assert "<testsuite" in xml and "access denied" in xml
    _assert_runs(dss_emulator, DSS_RUNS["dss_failure_log_and_report"])


def test_mapped_scenarios(dss_emulator: Any, run_dag: Any) -> None:
    result = run_dag("dss_mapped_scenarios")
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_mapped_scenarios"]
    expected = MAPPED_OUTCOMES
    for i, scenario in enumerate(["PY_SCORING", "TESTS_SMOKE", "QUALITY_CHECKS"]):
        _assert_run_dict(result, f"run_scenario[{i}]", dss_emulator, scenario, expected[scenario])
    assert result.xcom("outcomes") == expected
    _assert_runs(dss_emulator, DSS_RUNS["dss_mapped_scenarios"])


def test_event_driven_by_hand_reports_no_dss_run(dss_emulator: Any, run_dag: Any) -> None:
    """``dags test`` runs no watcher (no triggerer): the DAG says so; the real trigger runs in deploy/."""
    result = run_dag("dss_event_driven")
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_event_driven"]
    assert result.xcom("process_dss_runs") == []
    _assert_runs(dss_emulator, DSS_RUNS["dss_event_driven"])
