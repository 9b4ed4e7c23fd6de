"""The first import paths keep working after the modules were renamed for what they hold.

Users' DAGs import from them, and Airflow's metadata DB holds trigger classpaths written with them.
"""

from __future__ import annotations

import importlib

import pytest

from dss_provider.compat import BaseTrigger

OLD_TO_NEW = {
    "dss_provider.operators.scenario": {
        "DSSRunScenarioOperator": "dss_provider.operators.run_scenario",
        "DSSAbortScenarioOperator": "dss_provider.operators.abort",
        "DSSGetScenarioRunLogOperator": "dss_provider.operators.run_log_report",
        "DSSGetScenarioRunReportOperator": "dss_provider.operators.run_log_report",
    },
    "dss_provider.sensors.scenario": {
        "DSSTriggerFireSensor": "dss_provider.sensors.trigger_fire",
        "DSSScenarioRunSensor": "dss_provider.sensors.scenario_run",
    },
    "dss_provider.triggers.scenario": {
        "DSSTriggerFireTrigger": "dss_provider.triggers.trigger_fire",
        "DSSScenarioRunTrigger": "dss_provider.triggers.scenario_run",
    },
    "dss_provider.links.scenario": {"DSSScenarioRunLink": "dss_provider.links.run_link"},
    "dss_provider.handles.scenario": {"DSSScenario": "dss_provider.handles.scenario_handle"},
}


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [(old, name, new) for old, names in OLD_TO_NEW.items() for name, new in names.items()],
)
def test_an_old_path_gives_the_class_of_its_new_home(old: str, name: str, new: str) -> None:
    cls = getattr(importlib.import_module(old), name)
    assert cls is getattr(importlib.import_module(new), name)
    assert cls.__module__ == new  # what a serialized task or trigger records from now on


@pytest.mark.parametrize(
    "name", ["endpoints", "errors", "models", "polling", "procedures", "retry", "run_ref", "verdict"]
)
def test_dss_provider_api_modules_are_the_protocol_modules(name: str) -> None:
    old = importlib.import_module(f"dss_provider.api.{name}")
    assert old is importlib.import_module(f"dss_provider.protocol.{name}")


def test_from_dss_provider_api_import_a_module() -> None:
    from dss_provider.api import endpoints, polling
    from dss_provider.protocol import endpoints as new_endpoints
    from dss_provider.protocol import polling as new_polling

    assert (endpoints, polling) == (new_endpoints, new_polling)


@pytest.mark.parametrize(
    ("classpath", "kwargs"),
    [
        (
            "dss_provider.triggers.scenario.DSSScenarioRunTrigger",
            {"project_key": "P", "scenario_id": "S", "run_id": "r1", "dss_conn_id": "dss"},
        ),
        (
            "dss_provider.triggers.scenario.DSSTriggerFireTrigger",
            {"project_key": "P", "scenario_id": "S", "trigger_id": "manual", "trigger_run_id": "f1"},
        ),
    ],
)
def test_a_trigger_stored_with_its_old_classpath_is_rebuilt(classpath: str, kwargs: dict[str, str]) -> None:
    """The triggerer rebuilds a deferred task's trigger from the classpath in the DB, as Airflow does."""
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    assert isinstance(trigger, BaseTrigger)
    new_classpath, new_kwargs = trigger.serialize()
    assert new_classpath.rpartition(".")[2] == name
    assert new_classpath != classpath
    assert {k: new_kwargs[k] for k in kwargs if k in new_kwargs} == {
        k: v for k, v in kwargs.items() if k in new_kwargs
    }
