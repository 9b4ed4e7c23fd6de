"""No attribute of ours may share a name with one Airflow keeps on its triggers, operators or sensors.

Airflow's triggerer assigns ``trigger.trigger_id`` (the trigger's DB row id) before ``run()``; a trigger
that kept DSS's trigger id in that attribute sent the row id to DSS. This test reads every
``self.<name> = ...`` our classes write (their source, through the MRO up to Airflow's base class) and
fails on any name the Airflow base class owns, either as a class attribute or as an attribute its
``__init__`` sets, except the base's own constructor parameters (which we hand back to ``super()``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Iterator

import pytest
from airflow.sdk import BaseOperator, BaseSensorOperator
from airflow.triggers.base import BaseTrigger

import dss_provider.triggers.scenario as triggers
from dss_provider.get_provider_info import get_provider_info


def _public_classes(kind: str, base: type) -> list[type]:
    """The public subclasses of ``base`` in the modules ``get_provider_info()`` lists under ``kind``."""
    found: set[type] = set()
    for entry in get_provider_info()[kind]:
        for module_name in entry["python-modules"]:
            module = importlib.import_module(module_name)
            found.update(
                obj
                for name in dir(module)
                if not name.startswith("_")
                and isinstance(obj := getattr(module, name), type)
                and issubclass(obj, base)
                and obj is not base
                and obj.__module__.startswith("dss_provider.")
            )
    return sorted(found, key=lambda cls: cls.__qualname__)


def _assigned_names(cls: type, base: type) -> Iterator[tuple[str, str]]:
    """``(attribute, where)`` for each ``self.<attribute> = ...`` in our classes of ``cls``'s MRO."""
    for klass in cls.__mro__:
        if klass is base or not klass.__module__.startswith("dss_provider."):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if (
                        isinstance(leaf, ast.Attribute)
                        and isinstance(leaf.value, ast.Name)
                        and leaf.value.id == "self"
                        and isinstance(leaf.ctx, ast.Store)
                    ):
                        yield leaf.attr, f"{klass.__qualname__} line {leaf.lineno}"


def _airflow_owned(base: type, instance: object) -> set[str]:
    """Names the Airflow base class owns: class attributes along its MRO and what its __init__ sets."""
    owned: set[str] = set(vars(instance))
    for klass in base.__mro__:
        if klass is not object:
            owned.update(vars(klass))
    return owned


def _constructor_params(base: type) -> set[str]:
    params: set[str] = set()
    for klass in base.__mro__:
        init = vars(klass).get("__init__")
        if init is not None:
            params.update(inspect.signature(init).parameters)
    return params


class _PlainTrigger(BaseTrigger):
    def serialize(self):  # type: ignore[no-untyped-def]
        return "x", {}

    async def run(self):  # type: ignore[no-untyped-def]
        yield None


TRIGGERS = _public_classes("triggers", BaseTrigger)
OPERATORS = _public_classes("operators", BaseOperator)
SENSORS = _public_classes("sensors", BaseSensorOperator)
#: The wait triggers take a DSS trigger fire; the check below builds each from one.
FIRE_TRIGGERS = [c for c in TRIGGERS if "trigger_run_id" in inspect.signature(c).parameters]


def test_the_scan_finds_our_classes() -> None:
    assert {c.__name__ for c in TRIGGERS} >= {"DSSTriggerFireTrigger", "DSSScenarioRunTrigger"}
    assert {c.__name__ for c in SENSORS} >= {"DSSTriggerFireSensor", "DSSScenarioRunSensor"}
    assert {c.__name__ for c in OPERATORS} >= {"DSSRunScenarioOperator", "DSSAbortScenarioOperator"}
    # The scan sees what it must: a trigger's own fields and the triggerer's trigger_id.
    names = {name for name, _ in _assigned_names(triggers.DSSScenarioRunTrigger, BaseTrigger)}
    assert {"project_key", "dss_trigger_id", "abort_on_kill"} <= names
    assert "trigger_id" in _airflow_owned(BaseTrigger, _PlainTrigger())


@pytest.mark.parametrize("cls", TRIGGERS, ids=lambda c: c.__name__)
def test_trigger_attributes_do_not_clash_with_base_trigger(cls: type) -> None:
    owned = _airflow_owned(BaseTrigger, _PlainTrigger())
    clashes = sorted({(name, where) for name, where in _assigned_names(cls, BaseTrigger) if name in owned})
    assert not clashes, f"{cls.__name__} writes attributes Airflow's BaseTrigger owns: {clashes}"


@pytest.mark.parametrize(
    ("cls", "base"),
    [(c, BaseSensorOperator) for c in SENSORS] + [(c, BaseOperator) for c in OPERATORS if c not in SENSORS],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_operator_attributes_do_not_clash_with_airflow_base(cls: type, base: type) -> None:
    sample = BaseSensorOperator if base is BaseSensorOperator else BaseOperator
    owned = _airflow_owned(base, sample(task_id="probe")) - _constructor_params(base)
    clashes = sorted({(name, where) for name, where in _assigned_names(cls, base) if name in owned})
    assert not clashes, f"{cls.__name__} writes attributes Airflow's {base.__name__} owns: {clashes}"


@pytest.mark.parametrize("cls", FIRE_TRIGGERS, ids=lambda c: c.__name__)
def test_triggerer_assignments_do_not_change_what_a_trigger_asks_dss(cls: type) -> None:
    """What the triggerer sets before run() leaves the DSS ids, the kwargs and the events alone."""
    trigger = cls(project_key="DEMO", scenario_id="BUILD_SALES", trigger_id="manual", trigger_run_id="fire-1")
    before = trigger.serialize()
    trigger.trigger_id = 7  # as the triggerer does
    trigger.task_id = "some_task"
    assert trigger.serialize() == before
    assert before[1]["trigger_id"] == "manual"
    assert trigger._target().trigger_id == "manual"
    assert trigger._event("finished", "done")["trigger_id"] == "manual"
