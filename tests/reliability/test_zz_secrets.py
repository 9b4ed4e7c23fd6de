"""Secrets: the API key never appears in task logs, exception text, XCom, rendered template fields, trigger
kwargs, the emulator's logs and counters, or the README's examples.

Every test of this suite (this module's too) hands its logs (DEBUG and up), captured stdout/stderr,
XComs, task state, exception texts, trigger kwargs and events to its ``rec`` fixture (autouse), which scans
them at teardown; ``tests/secret_scan.py`` sums those scans up over the whole session (across pytest-xdist
workers) and fails it when they had nothing to scan. This module checks what the scans cannot see
(serialized kwargs, sensor fields, wrong keys, the emulator's own surfaces, the docs and examples) and
scans every log line of its process at once after a run of its own: it checks real material in any order,
run alone, first, last or on one of several workers.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger
from tests.fakes import FakeStateStore, make_context

from .conftest import FIGURES, SECRET_FORMS, SINK, Recorder
from .helpers import API_KEY, REPO, call, keep_context, run_deferred

pytestmark = pytest.mark.timeout(60)


def test_key_is_distinctive() -> None:
    assert API_KEY.startswith("sk-test-") and len(API_KEY) > 30


def test_rendered_templates_trigger_kwargs_and_xcom_hold_no_key(
    dss_emulator: DSSEmulator, rec: Recorder
) -> None:
    """A deferred run with templated fields: render, run, resume; scan everything it produced."""
    op = DSSRunScenarioOperator(
        task_id="templated",
        project_key="{{ params.project }}",
        scenario_id="{{ params.scenario }}",
        trigger_params={"day": "{{ ds }}", "who": "reliability"},
        deferrable=True,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    context = make_context(FakeStateStore(), task_id="templated")
    context["params"] = {"project": "DEMO", "scenario": "BUILD_SALES"}
    from jinja2.sandbox import SandboxedEnvironment

    op.render_template_fields(context, jinja_env=SandboxedEnvironment())
    rendered = {field: getattr(op, field) for field in op.template_fields}
    assert rendered["project_key"] == "DEMO" and rendered["trigger_params"]["day"] == "2024-01-01"
    rec.expect_runs(1)
    result = run_deferred(op, context, rec)
    keep_context(rec, context, op)
    rec.keep("return value", result)
    rec.keep("rendered", rendered)
    texts = [json.dumps(result), json.dumps(context["ti"].xcoms), json.dumps(rendered), repr(op)]
    assert not any(form in text for form in SECRET_FORMS for text in texts)


def test_trigger_kwargs_never_hold_the_key(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    triggers = [
        DSSScenarioRunTrigger(
            "DEMO", "BUILD_SALES", run_id="r1", abort_on_kill=True, trigger_params={"a": 1}
        ),
        DSSTriggerFireTrigger("DEMO", "BUILD_SALES", "manual", "f1"),
    ]
    for trigger in triggers:
        classpath, kwargs = trigger.serialize()
        text = json.dumps(kwargs) + repr(trigger)
        rec.keep(f"{classpath} kwargs", text)
        assert API_KEY not in text
        assert not {"password", "api_key", "key", "headers", "auth"} & set(kwargs)


def test_sensor_fields_never_hold_the_key(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    sensor = DSSScenarioRunSensor(task_id="s", project_key="DEMO", scenario_id="BUILD_SALES", run_id="r")
    config = sensor.hook.config
    text = repr(config) + repr(sensor) + json.dumps({f: getattr(sensor, f) for f in sensor.template_fields})
    rec.keep("sensor", text)
    assert API_KEY not in text


def test_wrong_keys_are_not_echoed(
    dss_emulator: DSSEmulator, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong key is someone's key too: the 401 error and the logs do not quote it."""
    from dss_provider.hooks.dss import DSSHook

    wrong = "sk-wrong-4f0c1e7d9a"
    monkeypatch.setenv(
        "AIRFLOW_CONN_WRONG",
        json.dumps({"conn_type": "dataiku_dss", "host": dss_emulator.url, "password": wrong}),
    )
    _, err, _ = call(DSSHook("wrong", retries=0).fire_scenario, "DEMO", "BUILD_SALES", {})
    assert err is not None and "HTTP 401" in str(err)
    assert wrong not in f"{err}{err!r}"
    rec.keep("wrong-key error", f"{err}")


def test_emulator_logs_counters_and_admin_routes_hold_no_key(
    dss_emulator: DSSEmulator, rec: Recorder
) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 503, "count": 1})
    request = urllib.request.Request(
        f"{dss_emulator.url}/__emulator__/stats", headers={"X-DSS-Emulator-Admin-Key": dss_emulator.admin_key}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        stats_over_http = answer.read().decode()
    rules = json.dumps([r.to_dict() for r in dss_emulator.faults.rules()])
    texts = {
        "stats": json.dumps(dss_emulator.stats()),
        "stats over http": stats_over_http,
        "faults": rules,
        "repr": repr(dss_emulator),
    }
    for where, text in texts.items():
        rec.keep(f"emulator {where}", text)
        assert API_KEY not in text, where


# --- docs and examples ---------------------------------------------------------------------------------

#: A literal value given to something that holds a credential (``password="..."``, ``"api_key": "..."``).
_CREDENTIAL = re.compile(
    r"""(?ix)
    \b(password|api[_-]?key|apikey|secret|token)\b["']?\s*[:=]\s*   # the name, then = or :
    (?P<q>["'])(?P<value>[^"'\n]*)(?P=q)                             # a quoted literal
    """
)
#: A key in a connection URI: ``dataiku-dss://:KEY@host``.
_URI_KEY = re.compile(r"dataiku[-_]dss://[^:/@\s]*:(?P<value>[^@\s]+)@")
_BASIC = re.compile(r"Authorization:\s*(Basic|Bearer)\s+(?P<value>[A-Za-z0-9+/=._-]{8,})")


def _placeholder(value: str) -> bool:
    """An obvious stand-in: empty, <...>, ..., a Jinja or env reference, a variable lookup."""
    v = value.strip()
    return (
        not v
        or (v.startswith("<") and v.endswith(">"))
        or "..." in v
        or "{{" in v
        or v.startswith("$")
        or v.lower() in {"xxx", "changeme", "your-key", "your_api_key"}
    )


def _doc_files() -> list[Any]:
    files = [REPO / "README.md"]
    examples = REPO / "example_dags"
    if examples.is_dir():
        files += sorted(examples.rglob("*.py"))
    return [f for f in files if f.is_file()]


def test_docs_and_examples_hold_no_credentials(rec: Recorder) -> None:
    files = _doc_files()
    assert files, "README.md is missing"
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        rec.keep(str(path.relative_to(REPO)), text)
        assert API_KEY not in text
        for pattern in (_CREDENTIAL, _URI_KEY, _BASIC):
            for match in pattern.finditer(text):
                if not _placeholder(match.group("value")):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{path.relative_to(REPO)}:{line}: {match.group(0)}")
    assert not found, "literal credentials in docs/examples:\n" + "\n".join(found)


def test_whole_session_scan(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    """Every log line of this process (DEBUG and up, from the first test on), once more, at once.

    The test first runs a deferred scenario run and a failing one of its own, so that the lines hold real
    material (requests with the key in their headers, polls, a DSS error) even when the test runs alone
    or first on a pytest-xdist worker.
    """
    op = DSSRunScenarioOperator(
        task_id="whole",
        project_key="DEMO",
        scenario_id="BUILD_SALES",
        deferrable=True,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    context = make_context(FakeStateStore(), task_id="whole")
    rec.expect_runs(1)
    rec.keep("return value", run_deferred(op, context, rec))
    keep_context(rec, context, op)
    missing = DSSRunScenarioOperator(task_id="missing", project_key="DEMO", scenario_id="NOPE")
    _, err, _ = call(missing.execute, make_context(FakeStateStore(), task_id="missing"))
    assert err is not None, "a run of a scenario DSS does not have must fail"
    rec.failed("missing", err)
    everything = "\n".join(SINK.lines)
    rec.keep("all log lines of the session", everything)
    assert "BUILD_SALES" in everything and "NOPE" in everything, "the scan has nothing real to scan"
    assert not any(form in everything for form in SECRET_FORMS)
    assert not FIGURES.leaks, FIGURES.leaks
