"""Bad inputs, table-driven, across the connection, the hook, the operators, the sensors and the triggers.

Each must end in a clear error: one of ours (or an Airflow exception), naming what was asked and what
DSS (or the check) said, without the API key, in bounded time. Never a bare traceback, a hang, or a
silent success. (An oversized log is not an error: it must come back bounded and flagged as cut.)
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dss_provider.emulator.seed import default_seed
from dss_provider.emulator.server import DSSEmulator
from dss_provider.hooks.dss import DSSHook
from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor
from dss_provider.triggers.events import exception_from_event
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger
from tests.fakes import FakeStateStore, make_context
from tests.tls_server import TLSServer

from .conftest import Recorder
from .helpers import API_KEY, collect_events, keep_context, unclear_reason

pytestmark = pytest.mark.timeout(30)

UNKNOWN_RUN = "2020-01-01-00-00-00-000"
#: A bad input must fail (or be handled) within this many seconds.
LIMIT = 15.0


class Env:
    def __init__(
        self, dss: DSSEmulator, rec: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        self.dss = dss
        self.rec = rec
        self.monkeypatch = monkeypatch
        self.tmp_path = tmp_path
        self.context = make_context(FakeStateStore())
        self._run_id: str | None = None
        self._tls: TLSServer | None = None

    def conn(self, conn_id: str, **fields: Any) -> str:
        """Define a connection; by default the emulator's, with the real key."""
        base: dict[str, Any] = {"conn_type": "dataiku_dss", "host": self.dss.url, "password": API_KEY}
        base.update(fields)
        base.setdefault("extra", {})
        base["extra"] = {"retries": 1, "timeout": 2, **base["extra"]}
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(base))
        return conn_id

    def hook(self, conn_id: str = "dataiku_dss_default") -> DSSHook:
        return DSSHook(conn_id)

    def run_id(self) -> str:
        """A finished run of DEMO.BUILD_SALES."""
        if self._run_id is None:
            self.rec.expect_runs(1)
            run = DSSHook().get_scenario("DEMO", "BUILD_SALES").run_and_wait(timeout=10, poll_interval=0.05)
            assert run is not None
            self._run_id = run.id
        return self._run_id

    @property
    def tls(self) -> TLSServer:
        if self._tls is None:
            self._tls = TLSServer(self.tmp_path).start()
        return self._tls

    def close(self) -> None:
        if self._tls is not None:
            self._tls.close()


@dataclass(frozen=True)
class Case:
    name: str
    layer: str
    action: Callable[[Env], Any]
    #: What the error must name (callables get the env: for run ids known only at run time).
    needles: tuple[Any, ...]
    #: For a case that must succeed in a bounded, flagged way: '' when the result is right, else why.
    check: Callable[[Any, Env], str] | None = None


def _op(**kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("project_key", "DEMO")
    kwargs.setdefault("scenario_id", "BUILD_SALES")
    kwargs.setdefault("poll_interval", 0.05)
    return DSSRunScenarioOperator(task_id="bad_input", **kwargs)


def _complete(event: Any) -> Callable[[Env], Any]:
    return lambda env: _op().execute_complete(env.context, event=event)


def _trigger_event(trigger: Any) -> Any:
    """Run a trigger; raise the error its event stands for (as the operator would)."""
    got = asyncio.run(collect_events(trigger, timeout=LIMIT))
    if got[0]["status"] == "error":
        raise exception_from_event(got[0])
    return got[0]


def _oversized_seed() -> dict[str, Any]:
    seed = copy.deepcopy(default_seed())
    demo = next(p for p in seed["projects"] if p["key"] == "DEMO")
    smoke = next(s for s in demo["scenarios"] if s["id"] == "TESTS_SMOKE")
    smoke["params"]["steps"][0]["params"]["emulator"] = {"duration": 0.5, "log_size": 3_000_000}
    return seed


def _oversized_log(env: Env) -> Any:
    env.dss.reset(_oversized_seed())
    env.rec.expect_runs(1)
    run = DSSHook().get_scenario("DEMO", "TESTS_SMOKE").run_and_wait(timeout=10, poll_interval=0.05)
    assert run is not None
    op = DSSGetScenarioRunLogOperator(
        task_id="log", project_key="DEMO", scenario_id="TESTS_SMOKE", run_id=run.id, max_xcom_chars=20_000
    )
    return op.execute(env.context)


def _check_oversized(result: Any, env: Env) -> str:
    if not isinstance(result, dict):
        return f"unexpected result {type(result).__name__}"
    if result.get("size", 0) < 3_000_000:
        return f"the log was not oversized: {result.get('size')} bytes"
    if not result.get("truncated") or len(result.get("content") or "") > 20_000:
        return "an oversized log went to XCom without being cut and flagged"
    return ""


def _sensor_poke(**kwargs: Any) -> Callable[[Env], Any]:
    def go(env: Env) -> Any:
        sensor = DSSScenarioRunSensor(
            task_id="sensor", project_key="DEMO", scenario_id="BUILD_SALES", **kwargs
        )
        return sensor.poke(env.context)

    return go


CASES: list[Case] = [
    # --- the hook: ids DSS does not know --------------------------------------------------------
    Case(
        "unknown project",
        "hook",
        lambda e: e.hook().fire_scenario("NOPE", "BUILD_SALES"),
        ("NOPE", "HTTP 404", "Project does not exist"),
    ),
    Case(
        "unknown scenario",
        "hook",
        lambda e: e.hook().fire_scenario("DEMO", "NOPE_SCENARIO"),
        ("NOPE_SCENARIO", "HTTP 404", "Scenario does not exist"),
    ),
    Case(
        "unknown run id",
        "hook",
        lambda e: e.hook().get_run_details("DEMO", "BUILD_SALES", UNKNOWN_RUN),
        (UNKNOWN_RUN, "HTTP 404", "does not exist"),
    ),
    Case(
        "unknown step id",
        "hook",
        lambda e: e.hook().get_run_log("DEMO", "BUILD_SALES", e.run_id(), "no_step"),
        ("no_step", lambda e: e.run_id(), "HTTP 404", "has no step"),
    ),
    Case(
        "run id of another scenario",
        "hook",
        lambda e: e.hook().get_run_details("DEMO", "QUALITY_CHECKS", e.run_id()),
        ("QUALITY_CHECKS", lambda e: e.run_id(), "HTTP 404", "does not exist"),
    ),
    Case(
        "invalid project key",
        "hook",
        lambda e: e.hook().fire_scenario("DE MO", "BUILD_SALES"),
        ("project_key", "DE MO", "not a valid DSS identifier"),
    ),
    # --- the connection -------------------------------------------------------------------------
    Case(
        "wrong API key",
        "connection",
        lambda e: e.hook(e.conn("wrong_key", password="sk-wrong-0000")).fire_scenario("DEMO", "BUILD_SALES"),
        ("BUILD_SALES", "HTTP 401", "Unknown API Key"),
    ),
    Case(
        "key without access to the project",
        "connection",
        lambda e: e.hook(e.conn("scoped", password="other-project-only-key")).fire_scenario(
            "DEMO", "BUILD_SALES"
        ),
        ("DEMO", "HTTP 403", "may not access project DEMO"),
    ),
    Case(
        "malformed host URL",
        "connection",
        lambda e: e.hook(e.conn("bad_url", host="http://exa mple.com:99999")).config,
        ("bad_url", "not a valid URL"),
    ),
    Case(
        "host with another scheme",
        "connection",
        lambda e: e.hook(e.conn("ftp_url", host="ftp://dss.example.com")).config,
        ("ftp_url", "http or https", "ftp"),
    ),
    Case(
        "http to an https port",
        "connection",
        lambda e: e.hook(e.conn("plain_to_tls", host=f"http://127.0.0.1:{e.tls.port}")).list_scenarios(
            "DEMO"
        ),
        ("DEMO", "Could not get an answer", "http vs https"),
    ),
    Case(
        "https to an http port",
        "connection",
        lambda e: e.hook(e.conn("tls_to_plain", host=f"https://127.0.0.1:{e.dss.port}")).list_scenarios(
            "DEMO"
        ),
        ("DEMO", "TLS error", "http vs https"),
    ),
    Case(
        "TLS verification failure",
        "connection",
        lambda e: e.hook(e.conn("self_signed", host=f"https://127.0.0.1:{e.tls.port}")).list_scenarios(
            "DEMO"
        ),
        ("DEMO", "TLS error", "CERTIFICATE_VERIFY_FAILED", "ca_bundle"),
    ),
    Case(
        "missing connection",
        "connection",
        lambda e: e.hook("no_such_conn").config,
        ("no_such_conn", "AIRFLOW_CONN_NO_SUCH_CONN"),
    ),
    Case(
        "connection of another type",
        "connection",
        lambda e: e.hook(e.conn("http_conn", conn_type="http")).config,
        ("http_conn", "'http'", "dataiku_dss"),
    ),
    Case(
        "connection without a key",
        "connection",
        lambda e: e.hook(e.conn("no_key", password="")).config,
        ("no_key", "no API key"),
    ),
    Case(
        "unknown auth_method",
        "connection",
        lambda e: e.hook(e.conn("digest", extra={"auth_method": "digest"})).config,
        ("auth_method", "digest"),
    ),
    Case(
        "verify_ssl not a boolean",
        "connection",
        lambda e: e.hook(e.conn("maybe", extra={"verify_ssl": "maybe"})).config,
        ("verify_ssl", "maybe"),
    ),
    Case(
        "zero request timeout",
        "connection",
        lambda e: e.hook(e.conn("t0", extra={"timeout": 0})).config,
        ("timeout", "0"),
    ),
    Case(
        "negative retries",
        "connection",
        lambda e: e.hook(e.conn("r_neg", extra={"retries": -1})).config,
        ("retries", "-1"),
    ),
    Case(
        "test_connection with a wrong key",
        "connection",
        lambda e: _raise_if_false(e.hook(e.conn("wrong_key2", password="sk-wrong-1111")).test_connection()),
        ("HTTP 401", "Unknown API Key"),
    ),
    # --- the operators --------------------------------------------------------------------------
    Case(
        "trigger_params not an object",
        "operator",
        lambda e: _op(trigger_params=[1, 2]),
        ("trigger_params", "JSON object", "list"),
    ),
    Case(
        "trigger_params not serialisable",
        "operator",
        lambda e: _op(trigger_params={"when": object()}),
        ("trigger_params", "not JSON-serialisable"),
    ),
    Case(
        "trigger_params string not JSON",
        "operator",
        lambda e: _render_then_execute(e, _op(trigger_params="{oops: {{ 1 }}"), "{oops: 1"),
        ("trigger_params", "not JSON"),
    ),
    Case("negative poll_interval", "operator", lambda e: _op(poll_interval=-1), ("poll_interval", "-1")),
    Case("zero timeout", "operator", lambda e: _op(timeout=0), ("timeout", "0")),
    Case(
        "unknown if_already_running",
        "operator",
        lambda e: _op(if_already_running="sometimes"),
        ("if_already_running", "sometimes", "wait"),
    ),
    Case("empty dss_conn_id", "operator", lambda e: _op(dss_conn_id=""), ("dss_conn_id",)),
    Case(
        "run operator, unknown scenario",
        "operator",
        lambda e: _op(scenario_id="NOPE_SCENARIO").execute(e.context),
        ("NOPE_SCENARIO", "HTTP 404", "Scenario does not exist"),
    ),
    Case(
        "run operator, scenario key without access",
        "operator",
        lambda e: _op(dss_conn_id=e.conn("scoped2", password="other-project-only-key")).execute(e.context),
        ("DEMO", "HTTP 403"),
    ),
    Case(
        "abort operator, unknown run",
        "operator",
        lambda e: DSSAbortScenarioOperator(
            task_id="abort", project_key="DEMO", scenario_id="BUILD_SALES", run_id=UNKNOWN_RUN
        ).execute(e.context),
        (UNKNOWN_RUN, "HTTP 404", "does not exist"),
    ),
    Case(
        "log operator, run of another scenario",
        "operator",
        lambda e: DSSGetScenarioRunLogOperator(
            task_id="log", project_key="DEMO", scenario_id="NIGHTLY_EXPORT", run_id=e.run_id()
        ).execute(e.context),
        ("NIGHTLY_EXPORT", lambda e: e.run_id(), "HTTP 404"),
    ),
    Case(
        "report of a scenario that is not a test",
        "operator",
        lambda e: DSSGetScenarioRunReportOperator(
            task_id="report", project_key="DEMO", scenario_id="BUILD_SALES", run_id=e.run_id()
        ).execute(e.context),
        ("BUILD_SALES", "not marked as a test"),
    ),
    Case("oversized log", "operator", _oversized_log, (), check=_check_oversized),
    Case("event without status", "operator", _complete({"run_id": "x"}), ("bad_input", "no status")),
    Case(
        "event with unknown status",
        "operator",
        _complete({"status": "exploded"}),
        ("bad_input", "unknown status 'exploded'"),
    ),
    Case("no event at all", "operator", _complete(None), ("bad_input", "without a valid event")),
    Case(
        "finished event without run",
        "operator",
        _complete({"status": "finished", "outcome": "SUCCESS"}),
        ("bad_input", "'finished'", "run_id"),
    ),
    # --- the sensors ----------------------------------------------------------------------------
    Case(
        "sensor, zero poll_interval", "sensor", _sensor_poke(run_id="x", poll_interval=0), ("poll_interval",)
    ),
    Case(
        "sensor, zero max_consecutive_failures",
        "sensor",
        _sensor_poke(run_id="x", max_consecutive_failures=0),
        ("max_consecutive_failures", "0"),
    ),
    Case(
        "sensor, unknown outcome",
        "sensor",
        _sensor_poke(run_id="x", success_outcomes=["GREAT"]),
        ("success_outcomes", "GREAT"),
    ),
    Case("sensor, unknown run", "sensor", _sensor_poke(run_id=UNKNOWN_RUN), (UNKNOWN_RUN, "HTTP 404")),
    Case(
        "sensor, event with unknown status",
        "sensor",
        lambda e: DSSTriggerFireSensor(
            task_id="fire_sensor",
            project_key="DEMO",
            scenario_id="BUILD_SALES",
            trigger_id="manual",
            trigger_run_id=UNKNOWN_RUN,
        ).execute_complete(e.context, event={"status": "finished"}),
        ("fire_sensor", "unknown status 'finished'"),
    ),
    # --- the triggers ---------------------------------------------------------------------------
    Case(
        "trigger, zero poll_interval",
        "trigger",
        lambda e: DSSScenarioRunTrigger("DEMO", "BUILD_SALES", run_id="x", poll_interval=0),
        ("poll_interval",),
    ),
    Case(
        "trigger, negative end_time",
        "trigger",
        lambda e: DSSScenarioRunTrigger("DEMO", "BUILD_SALES", run_id="x", end_time=-5),
        ("end_time", "-5"),
    ),
    Case(
        "trigger, fire id without its run id",
        "trigger",
        lambda e: DSSScenarioRunTrigger("DEMO", "BUILD_SALES", trigger_id="manual"),
        ("trigger_run_id",),
    ),
    Case(
        "trigger, unknown option value",
        "trigger",
        lambda e: DSSScenarioRunTrigger("DEMO", "BUILD_SALES", run_id="x", abort_on_kill="yes"),
        ("abort_on_kill", "yes"),
    ),
    Case(
        "trigger, unknown run",
        "trigger",
        lambda e: _trigger_event(DSSScenarioRunTrigger("DEMO", "BUILD_SALES", run_id=UNKNOWN_RUN)),
        (UNKNOWN_RUN, "HTTP 404", "does not exist"),
    ),
    Case(
        "fire trigger, unknown fire",
        "trigger",
        lambda e: _trigger_event(DSSTriggerFireTrigger("DEMO", "BUILD_SALES", "manual", UNKNOWN_RUN)),
        (UNKNOWN_RUN, "HTTP 404"),
    ),
]


def _raise_if_false(answer: tuple[bool, str]) -> Any:
    ok, message = answer
    if not ok:
        from dss_provider.exceptions import DSSError

        raise DSSError(message)  # what the UI's "Test" button shows
    return answer


def _render_then_execute(env: Env, op: DSSRunScenarioOperator, rendered: str) -> Any:
    op.trigger_params = rendered  # what Jinja produced
    return op.execute(env.context)


@pytest.fixture
def env(
    dss_emulator: DSSEmulator, rec: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Env]:
    e = Env(dss_emulator, rec, monkeypatch, tmp_path)
    yield e
    e.close()


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 25
    assert {c.layer for c in CASES} == {"hook", "connection", "operator", "sensor", "trigger"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.layer}: {c.name}" for c in CASES])
def test_bad_input_gives_a_clear_error(env: Env, rec: Recorder, case: Case) -> None:
    import time

    started = time.monotonic()
    result: Any = None
    err: BaseException | None = None
    try:
        result = case.action(env)
    except Exception as caught:
        err = caught
    elapsed = time.monotonic() - started
    keep_context(rec, env.context)
    if err is not None:
        rec.keep("exception", f"{err}\n{err!r}")
    if case.check is not None:
        why = f"failed: {type(err).__name__}: {err}" if err is not None else case.check(result, env)
        if not why and elapsed > LIMIT:
            why = f"took {elapsed:.1f}s"
    else:
        needles = [n(env) if callable(n) else n for n in case.needles]
        why = unclear_reason(err, needles, elapsed, LIMIT)
    rec.bad_input(f"{case.layer}: {case.name}", not why, why)
    assert not why, f"{case.layer}: {case.name}: {why}"
