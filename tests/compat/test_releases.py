"""What differs between Airflow 3.0, 3.1, 3.2 and 3.3, checked on the release this session runs on.

``make test`` runs these on 3.3.2; ``make test-releases`` on 3.0.6, 3.1.8 and 3.2.2. Each test asserts
this release's side of a feature (see the README's feature-by-release table), asking
``dss_provider.compat`` which side that is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

from dss_provider import compat
from dss_provider.emulator.server import DSSEmulator
from dss_provider.get_provider_info import get_provider_info
from dss_provider.hooks.dss import DSSHook
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from tests.dss_support import dss_emulator, wait_run_id
from tests.fakes import FakeStateStore, make_context

__all__ = ["dss_emulator"]

DURABLE_NOTE = "durable=True needs the task state store of Airflow 3.3"
ON_KILL_NOTE = "does not call a trigger's on_kill (3.3)"


def _op(scenario: str = "BUILD_SALES", **kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return DSSRunScenarioOperator(task_id="run", project_key="DEMO", scenario_id=scenario, **kwargs)


class _Said:
    """The task log lines containing a text: Airflow's task and trigger loggers go to the stdlib logging
    on some releases and straight to stdout (structlog) on others (3.1), so both are read."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.caplog, self.capsys, self.out = caplog, capsys, ""
        caplog.set_level(logging.INFO)

    def __call__(self, text: str) -> list[str]:
        captured = self.capsys.readouterr()
        self.out += captured.out + captured.err
        logged = [r.getMessage() for r in self.caplog.records if text in r.getMessage()]
        printed = [line for line in self.out.splitlines() if text in line]
        return logged if len(logged) >= len(printed) else printed


@pytest.fixture
def said(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> _Said:
    return _Said(caplog, capsys)


def _counters(dss: DSSEmulator, scenario_id: str) -> dict[str, Any]:
    return dict(dss.stats()["scenarios"].get(f"DEMO.{scenario_id}", {}))


def _run(dss: DSSEmulator, scenario: str, run_id: str) -> Any:
    with dss.state.lock:
        dss.state.advance_all()
        return dss.state.catalog.projects["DEMO"].scenarios[scenario].runs[run_id]


# --- the connection form -------------------------------------------------------------------------

_HOOK_META = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    meta = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "dataiku_dss"]
ours = [str(w.message) for w in caught if "DSSHook" in str(w.message) or "dss_provider" in str(w.filename)]
smtp = [m.model_dump(mode="json") for m in HookMetaService.hook_meta_data() if m.connection_type == "smtp"]
print(json.dumps({"meta": [m.model_dump(mode="json") for m in meta], "warnings": ours, "smtp": smtp}))
"""


def _draws_provider_fields_without_fab() -> bool:
    """Airflow 3.0 builds provider form fields only with WTForms/FAB installed (the FAB provider); 3.1
    stands in for them. Asked of the API server's own code, not of a version."""
    import importlib.util
    import inspect

    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    fab = importlib.util.find_spec("flask_appbuilder") is not None
    return fab or "MagicMock" in inspect.getsource(HookMetaService._get_hooks_with_mocked_fab)


def test_connection_form_shows_the_dss_fields_without_deprecation_warnings() -> None:
    """The API server's connection-form metadata (what the UI draws), in a fresh process as it builds
    it: declarative conn-fields on 3.2+, the hook methods before; no deprecation warning either way."""
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    out = subprocess.run(
        [sys.executable, "-c", _HOOK_META], capture_output=True, text=True, env=env, timeout=120, check=True
    ).stdout
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["warnings"] == []
    (meta,) = answer["meta"]
    assert meta["hook_name"] == "Dataiku DSS" and meta["hook_class_name"] == "dss_provider.hooks.dss.DSSHook"
    if not _draws_provider_fields_without_fab():
        # Airflow 3.0 without the FAB provider: no provider's fields (Airflow's own SMTP hook neither).
        assert meta["extra_fields"] is None and meta["standard_fields"] is None
        assert [m["extra_fields"] for m in answer["smtp"]] == [None]
        return
    declared = get_provider_info()["connection-types"][0]
    extra = meta["extra_fields"]
    assert set(extra) == set(declared["conn-fields"])
    for name, spec in declared["conn-fields"].items():
        assert extra[name]["schema"]["title"] == spec["label"], name
    assert extra["auth_method"]["schema"].get("enum") == ["basic", "bearer"]
    assert extra["verify_ssl"]["value"] is True
    standard = meta["standard_fields"]
    assert standard["host"]["title"] == "DSS URL" and standard["password"]["title"] == "API key"
    assert standard["host"]["placeholder"] == "https://dss.example.com:11200"
    assert all(standard[name]["hidden"] for name in ("login", "port", "url_schema"))


def test_the_legacy_form_and_the_declarative_one_say_the_same() -> None:
    declared = get_provider_info()["connection-types"][0]
    behaviour = DSSHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": declared["ui-field-behaviour"]["hidden-fields"],
        "relabeling": declared["ui-field-behaviour"]["relabeling"],
        "placeholders": declared["ui-field-behaviour"]["placeholders"],
    }


# --- durable (task state store, Airflow 3.3) -----------------------------------------------------


def test_durable_needs_no_parse_time_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        op = _op(durable=True)
    assert [str(w.message) for w in caught if "durable" in str(w.message)] == []
    assert op.durable is True


def test_durable_where_there_is_no_task_state_store_says_so_once_and_fires_again(
    dss_emulator: DSSEmulator, said: _Said
) -> None:
    store = FakeStateStore()
    first = _op().execute(make_context(store))
    assert len(said(DURABLE_NOTE)) == (0 if compat.HAS_TASK_STATE_STORE else 1)
    second = _op().execute(make_context(store))
    if compat.HAS_TASK_STATE_STORE:  # the retry reports the first try's run
        assert (
            second["run_id"] == first["run_id"]
            and _counters(dss_emulator, "BUILD_SALES")["runs_started"] == 1
        )
    else:  # no state store to resume from: a new run, and the note once per try
        assert (
            second["run_id"] != first["run_id"]
            and _counters(dss_emulator, "BUILD_SALES")["runs_started"] == 2
        )
        assert len(said(DURABLE_NOTE)) == 2


def test_durable_false_says_nothing(dss_emulator: DSSEmulator, said: _Said) -> None:
    _op(durable=False).execute(make_context())
    assert said(DURABLE_NOTE) == []


# --- a user's kill of a deferred task (trigger on_kill, Airflow 3.3) ------------------------------


@pytest.mark.parametrize("abort_on_kill", [True, False])
def test_deferring_says_how_a_kill_is_handled(
    dss_emulator: DSSEmulator, hook: DSSHook, said: _Said, abort_on_kill: bool
) -> None:
    context = make_context()
    with pytest.raises(compat.TaskDeferred):
        _op("LONG_REFRESH", deferrable=True, abort_on_kill=abort_on_kill).execute(context)
    expected = 1 if abort_on_kill and not compat.HAS_TRIGGER_ON_KILL else 0
    assert len(said(ON_KILL_NOTE)) == expected
    hook.abort_run("DEMO", "LONG_REFRESH", context["ti"].xcoms["run_id"])


def _states(state: str | None, task_id: str = "run", run_id: str = "manual__1") -> Any:
    def get_task_states(**query: Any) -> dict[str, Any]:
        assert query["dag_id"] == "dag" and query["task_ids"] == [task_id] and query["run_ids"] == [run_id]
        return {run_id: {task_id: state}}

    return get_task_states


async def _cancel_while_waiting(hook: DSSHook, abort_on_kill: bool) -> str:
    """Fire LONG_REFRESH, wait for its run in a trigger started like the triggerer does, then cancel the
    trigger like the triggerer does when it lets go of it; the run id."""
    run_id = wait_run_id(hook, "LONG_REFRESH", hook.fire_scenario("DEMO", "LONG_REFRESH").get_raw())
    trigger = DSSScenarioRunTrigger(
        "DEMO", "LONG_REFRESH", run_id=run_id, poll_interval=0.05, abort_on_kill=abort_on_kill
    )
    trigger.task_instance = SimpleNamespace(dag_id="dag", task_id="run", run_id="manual__1", map_index=-1)
    waiting = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await trigger.cleanup()
    return run_id


@pytest.mark.parametrize(
    ("state", "killed"),
    [("failed", True), ("success", True), (None, True), ("deferred", False)],
    ids=["marked-failed", "marked-success", "cleared", "triggerer-restart"],
)
async def test_a_cancelled_trigger_aborts_the_run_only_when_a_user_killed_the_task(
    dss_emulator: DSSEmulator, hook: DSSHook, monkeypatch: pytest.MonkeyPatch, state: str | None, killed: bool
) -> None:
    """Before 3.3 the cancel reads the task's state and aborts the run when the task was killed; on 3.3
    a cancel never aborts (Airflow calls on_kill itself, and not on a restart)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(_states(state)), raising=False)
    run_id = await _cancel_while_waiting(hook, abort_on_kill=True)
    aborted = _run(dss_emulator, "LONG_REFRESH", run_id).aborted_at is not None
    assert aborted is (killed and not compat.HAS_TRIGGER_ON_KILL)
    if not aborted:
        hook.abort_run("DEMO", "LONG_REFRESH", run_id)  # tidy up


async def test_a_cancelled_trigger_that_cannot_read_its_task_state_aborts_nothing(
    dss_emulator: DSSEmulator, hook: DSSHook, monkeypatch: pytest.MonkeyPatch, said: _Said
) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    def gone(**_: Any) -> Any:
        raise ConnectionResetError("supervisor closed the connection")

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(gone), raising=False)
    run_id = await _cancel_while_waiting(hook, abort_on_kill=True)
    assert _run(dss_emulator, "LONG_REFRESH", run_id).aborted_at is None
    lines = said("could not read its task's state")
    assert len(lines) == (0 if compat.HAS_TRIGGER_ON_KILL else 1)
    if lines:
        assert "ConnectionResetError: supervisor closed the connection" in lines[0] and run_id in lines[0]
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


async def test_abort_on_kill_false_never_asks(
    dss_emulator: DSSEmulator, hook: DSSHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    def asked(**_: Any) -> Any:
        raise AssertionError("the task state was read although abort_on_kill=False")

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(asked), raising=False)
    run_id = await _cancel_while_waiting(hook, abort_on_kill=False)
    assert _run(dss_emulator, "LONG_REFRESH", run_id).aborted_at is None
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


# --- the floor -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.11.0", "2.10.5rc1", "1.10.15"])
def test_below_airflow_3_importing_the_provider_says_what_to_do(version: str) -> None:
    """With an older Airflow loaded (as in every Airflow process), ``import dss_provider`` raises."""
    fake = f"sys.modules['airflow'] = types.SimpleNamespace(__version__={version!r})"
    code = f"import sys, types; {fake}; import dss_provider"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"RuntimeError: airflow-provider-dataiku 0.1.0 needs Apache Airflow 3.0.0 or later; this environment "
        f"has Apache Airflow {version}. Upgrade Airflow (pip install 'apache-airflow>=3.0'), or use a "
        "provider release made for Airflow 2."
    )


@pytest.mark.parametrize("version", ["3.0.0", "3.0.6", "3.1.0rc1", "3.3.2", "4.0.0"])
def test_airflow_3_and_later_pass_the_floor(version: str) -> None:
    from dss_provider import check_airflow_version

    check_airflow_version(version)


def test_the_release_under_test_is_the_one_the_probes_describe() -> None:
    """One probe per feature; on each release they agree with its version (so the table is true)."""
    major, minor = (int(p) for p in compat.AIRFLOW_VERSION.split(".")[:2])
    assert compat.HAS_TASK_STATE_STORE is ((major, minor) >= (3, 3))
    assert compat.HAS_TRIGGER_ON_KILL is ((major, minor) >= (3, 3))
    assert compat.HAS_DECLARATIVE_CONN_FIELDS is ((major, minor) >= (3, 2))
