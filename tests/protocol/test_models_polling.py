"""Typed reading of DSS JSON, run summaries, polling schedule, and the sans-IO procedures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dss_provider.exceptions import DSSConfigurationError, DSSNotFoundError
from dss_provider.protocol import models, procedures
from dss_provider.protocol.endpoints import ApiRequest
from dss_provider.protocol.polling import PollSchedule, check_positive

FAILED_STEP = {
    "step": {"id": "build_0", "name": "Build X", "type": "build_flowitem"},
    "start": 1_700_000_000_000,
    "end": 1_700_000_001_000,
    "result": {
        "outcome": "FAILED",
        "thrown": {"clazz": "java.io.IOException", "message": "disk full"},
    },
    "additionalReportItems": [
        {"type": "JOB_EXECUTED", "jobId": "Build_X_1", "outcome": "FAILED"},
        {"type": "BUILT_DATASET", "jobId": "ignored"},
    ],
}
WARN_STEP = {
    "step": {"id": "check_1", "name": "Checks"},
    "result": {"outcome": "WARNING"},
    "additionalReportItems": [
        {
            "type": "JOB_EXECUTED",
            "jobId": "J2",
            "outcome": "FAILED",
            "thrown": {"clazz": "E", "message": "job"},
        }
    ],
}


def test_ms_to_datetime() -> None:
    assert models.ms_to_datetime(0) is None
    assert models.ms_to_datetime(None) is None
    assert models.ms_to_datetime(True) is None
    assert models.ms_to_datetime("junk") is None
    value = models.ms_to_datetime(1_700_000_000_500)
    assert value == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)
    assert value is not None and value.tzinfo is not None


def test_outcome_parse() -> None:
    assert models.RunOutcome.parse("warning") is models.RunOutcome.WARNING
    with pytest.raises(ValueError, match="unknown DSS outcome 'MEH'"):
        models.RunOutcome.parse("MEH")


def test_run_state_helpers() -> None:
    running = {"runId": "R", "start": 1_000, "end": 0}
    done = {"runId": "R", "start": 1_000, "end": 4_500, "result": {"outcome": "WARNING"}}
    assert not models.run_is_finished(running) and models.run_outcome(running) is None
    assert models.run_is_finished(done) and models.run_outcome(done) == "WARNING"
    assert models.run_outcome({"result": {"type": "SCENARIO_DONE"}}) == "UNKNOWN"
    assert models.run_duration(done) == 3.5
    now = datetime.fromtimestamp(11, tz=timezone.utc)
    assert models.run_duration(running, now=now) == 10.0
    assert models.run_duration({"start": 0}) is None


def test_step_helpers_and_first_error() -> None:
    assert models.step_id(FAILED_STEP) == "build_0"
    assert models.step_outcome(FAILED_STEP) == "FAILED"
    assert models.step_job_ids(FAILED_STEP) == ["Build_X_1"]
    assert models.step_first_error(FAILED_STEP) == {"clazz": "java.io.IOException", "message": "disk full"}
    # A WARNING step's error comes from its first failed report item.
    assert models.step_first_error(WARN_STEP) == {"clazz": "E", "message": "job"}
    details = {
        "scenarioRun": {},
        "stepRuns": [{"step": {"id": "ok"}, "result": {"outcome": "SUCCESS"}}, FAILED_STEP],
    }
    first = models.first_error_details(details)
    assert first == {
        "clazz": "java.io.IOException",
        "message": "disk full",
        "step_id": "build_0",
        "step_name": "Build X",
    }
    assert models.describe_error(first) == "step 'Build X' (build_0): java.io.IOException: disk full"
    assert models.describe_error(None) == "DSS gave no error details"
    run_level = {
        "scenarioRun": {"result": {"outcome": "FAILED", "thrown": {"message": "boom"}}},
        "stepRuns": [],
    }
    assert models.first_error_details(run_level) == {"message": "boom"}
    assert models.describe_error({"message": "boom"}) == "error: boom"


def test_run_url() -> None:
    assert (
        models.run_url("https://dss/", "K", "S", "R-1") == "https://dss/projects/K/scenarios/S/runs/list/R-1"
    )
    assert models.run_url("https://dss", "K", "S", None) == "https://dss/projects/K/scenarios/S/runs/list/"
    assert models.run_url(None, "K", "S", "R") is None


def test_summarize_run_from_details() -> None:
    fire = {"trigger": {"id": "manual"}, "runId": "TR", "params": {"p": 1}}
    details = {
        "scenarioRun": {
            "runId": "R",
            "start": 1_000,
            "end": 3_000,
            "result": {"outcome": "FAILED"},
            "trigger": fire,
        },
        "stepRuns": [FAILED_STEP],
    }
    summary = models.summarize_run(project_key="K", scenario_id="S", base_url="https://d", details=details)
    assert (
        summary["run_id"] == "R" and summary["trigger_run_id"] == "TR" and summary["trigger_id"] == "manual"
    )
    assert summary["outcome"] == "FAILED" and summary["duration"] == 2.0
    assert summary["trigger_params"] == {"p": 1}
    assert summary["url"] == "https://d/projects/K/scenarios/S/runs/list/R"
    assert summary["steps"][0]["id"] == "build_0" and summary["steps"][0]["job_ids"] == ["Build_X_1"]
    assert summary["steps"][0]["error"] == {"clazz": "java.io.IOException", "message": "disk full"}
    only_fire = models.summarize_run(
        project_key="K", scenario_id="S", base_url=None, fire=fire, trigger_params={}
    )
    assert only_fire["run_id"] is None and only_fire["outcome"] is None and only_fire["trigger_params"] == {}


def test_check_positive() -> None:
    assert check_positive(2, "x") == 2.0
    assert check_positive(timedelta(seconds=3), "x") == 3.0
    assert check_positive(None, "x", allow_none=True) is None
    for bad in (0, -1, float("nan"), float("inf"), True, "5", None):
        with pytest.raises(DSSConfigurationError, match="poll_interval must be"):
            check_positive(bad, "poll_interval")


def test_poll_schedule() -> None:
    plain = PollSchedule(poll_interval=2, max_interval=30)
    assert plain.next_delay(0) == 2
    assert plain.next_delay(100) == 10
    assert plain.next_delay(10_000) == 30
    expected = PollSchedule(poll_interval=2, max_interval=60, expected_duration=100)
    assert expected.next_delay(0) == 2  # early: never more than half the time waited
    assert expected.next_delay(20) == 10
    assert expected.next_delay(60) == 10  # half-way to the window (80 s .. 120 s)
    assert expected.next_delay(85) == 2  # inside the window: short interval
    assert expected.next_delay(119) == 2
    assert expected.next_delay(170) == 7  # late: grows again past the window
    assert PollSchedule(poll_interval=5, max_interval=1).max_interval == 5
    with pytest.raises(DSSConfigurationError):
        PollSchedule(poll_interval=0)


def _official_wait(run_length: float) -> tuple[int, float]:
    """The official client's loop: 200 ms growing 1.1x to 15 s, sleeping after every request."""
    elapsed, attempt, requests = 0.0, 0, 0
    while True:
        requests += 1
        finished = elapsed >= run_length
        elapsed += min(0.2 * 1.1**attempt, 15.0)
        attempt += 1
        if finished:
            return requests, elapsed - run_length


def _our_wait(run_length: float, schedule: PollSchedule) -> tuple[int, float]:
    elapsed, requests = 0.0, 0
    while True:
        requests += 1
        if elapsed >= run_length:
            return requests, elapsed - run_length
        elapsed += schedule.next_delay(elapsed)


@pytest.mark.parametrize("nominal", [10.0, 60.0, 600.0])
def test_adaptive_schedule_halves_requests_at_a_better_p95_delay(nominal: float) -> None:
    """The benchmark's polling target, by schedule arithmetic: runs within +/-20% of the average."""
    lengths = [nominal * (0.8 + 0.4 * i / 199) for i in range(200)]
    ours = [_our_wait(n, PollSchedule(expected_duration=nominal)) for n in lengths]
    theirs = [_official_wait(n) for n in lengths]

    def p95(results: list[tuple[int, float]]) -> float:
        return sorted(d for _, d in results)[int(0.95 * len(results))]

    def mean_requests(results: list[tuple[int, float]]) -> float:
        return sum(r for r, _ in results) / len(results)

    assert mean_requests(ours) <= 0.5 * mean_requests(theirs)
    assert p95(ours) <= p95(theirs)


def drive(procedure: Any, answers: dict[str, Any]) -> tuple[Any, list[ApiRequest]]:
    """Run a procedure with canned answers by request name (an exception instance is thrown in)."""
    sent: list[ApiRequest] = []
    try:
        request = next(procedure)
        while True:
            sent.append(request)
            answer = answers[request.name]
            throw = isinstance(answer, Exception)
            request = procedure.throw(answer) if throw else procedure.send(answer)
    except StopIteration as stop:
        return stop.value, sent


def test_resolve_fire_run_cancelled_pending() -> None:
    run = {"runId": "R"}
    state, sent = drive(
        procedures.resolve_fire("K", "S", "manual", "TR"), {"get_run_for_trigger": {"scenarioRun": run}}
    )
    assert state.status == "run" and state.run == run and len(sent) == 1
    state, _ = drive(
        procedures.resolve_fire("K", "S", "manual", "TR"),
        {"get_run_for_trigger": {}, "trigger_fire": {"cancelled": True, "runId": "TR"}},
    )
    assert state.status == "cancelled" and state.fire == {"cancelled": True, "runId": "TR"}
    state, sent = drive(
        procedures.resolve_fire("K", "S", "manual", "TR"),
        {"get_run_for_trigger": {}, "trigger_fire": {"cancelled": False}},
    )
    assert state.status == "pending" and [r.name for r in sent] == [
        "get_run_for_trigger",
        "trigger_fire",
        "get_run_for_trigger",
    ]


def test_abort_run_uses_the_future_not_the_scenario() -> None:
    details = {"scenarioRun": {"runId": "R", "futureId": "f1"}}
    done, sent = drive(procedures.abort_run("K", "S", "R"), {"run_details": details, "abort_future": ""})
    assert done is True
    assert [r.name for r in sent] == ["run_details", "abort_future"]
    assert sent[1].path == "/futures/f1" and sent[1].target.run_id == "R"


def test_abort_run_of_a_finished_run_sends_nothing() -> None:
    details = {"scenarioRun": {"runId": "R", "result": {"outcome": "SUCCESS"}}}
    done, sent = drive(procedures.abort_run("K", "S", "R"), {"run_details": details})
    assert done is False and len(sent) == 1


def test_abort_run_future_gone_between_requests() -> None:
    details = {"scenarioRun": {"runId": "R", "futureId": "f1"}}
    done, _ = drive(
        procedures.abort_run("K", "S", "R"),
        {"run_details": details, "abort_future": DSSNotFoundError("gone", http_status=404)},
    )
    assert done is False


def test_abort_run_without_future_aborts_the_scenario_only_if_it_is_the_current_run() -> None:
    details = {"scenarioRun": {"runId": "R"}}
    done, sent = drive(
        procedures.abort_run("K", "S", "R"),
        {"run_details": details, "last_runs": [{"runId": "R"}], "abort": {}},
    )
    assert done is True and sent[-1].name == "abort"
    done, sent = drive(
        procedures.abort_run("K", "S", "R"),
        {"run_details": details, "last_runs": [{"runId": "OTHER"}]},
    )
    assert done is False and "abort" not in [r.name for r in sent]


def test_find_fired_run_matches_manual_trigger_time_and_params() -> None:
    def run(run_id: str, ts: int, params: dict[str, Any], kind: str = "manual") -> dict[str, Any]:
        return {"runId": run_id, "trigger": {"trigger": {"type": kind}, "timestamp": ts, "params": params}}

    runs = [
        run("A", 5_000, {"x": 1}, "temporal"),
        run("B", 5_000, {"x": 2}),
        run("C", 1_000, {"x": 1}),
        run("D", 5_000, {"x": 1}),
    ]
    found, _ = drive(procedures.find_fired_run("K", "S", {"x": 1}, 4_000, frozenset()), {"last_runs": runs})
    assert found is not None and found["runId"] == "D"
    found, _ = drive(
        procedures.find_fired_run("K", "S", {"x": 1}, 4_000, frozenset({"D"})), {"last_runs": runs}
    )
    assert found is None
